//! Signature checks the core asks the shell for. The core has no curve or RSA arithmetic: it
//! checks everything else itself (structure, algorithm, key selection, the signature's shape),
//! then asks for the arithmetic with [`crate::client::Effect::Verify`]. Answers are kept per
//! (algorithm, key, signed bytes, signature), so a token is checked once however often it comes back
//! (storage, another tab, a replayed input). Only inputs that carry token text can reach a
//! check: the core runs the others without its undo copy.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::client::protocol::{Effect, Verdict};
use crate::error::{Error, ErrorCode, Result};
use crate::key::{Alg, PublicKey};

/// How many answers are remembered: the current token, its successor, a few from other tabs.
const KNOWN: usize = 8;

/// The verdict of a check that has not been answered yet; the input that needed it is run
/// again once it has.
pub const PENDING: Error = Error::new(ErrorCode::Internal, "signature check pending");

const INVALID: Error = Error::new(ErrorCode::BadSignature, "signature does not verify");
const BAD_KEY: Error = Error::bad_key("public key does not import (WebCrypto refused it)");
const UNAVAILABLE: Error = Error::new(
    ErrorCode::Network,
    "the signature could not be checked: no WebCrypto and the verifier module did not load",
);

/// What a verdict is about: the algorithm's name, the key (`x‖y`, or the length of `n`, `n`
/// and `e`), then `data.sig`, compared whole (no hash: a token is a few KB at most, and a
/// comparison costs less than hashing it).
type Digest = Vec<u8>;

fn digest(key: &PublicKey, alg: Alg, data: &str, sig: &str) -> Digest {
    let mut all = Vec::with_capacity(8 + 1030 + data.len() + 1 + sig.len());
    all.extend_from_slice(alg.name().as_bytes());
    match key {
        PublicKey::Ec(k) => all.extend_from_slice(k.xy()),
        PublicKey::Rsa(k) => {
            // The length first, so that no (n, e) pair reads as another one.
            all.extend_from_slice(&(k.n().len() as u32).to_be_bytes());
            all.extend_from_slice(k.n());
            all.extend_from_slice(k.e());
        }
    }
    all.extend_from_slice(data.as_bytes());
    all.push(b'.');
    all.extend_from_slice(sig.as_bytes());
    all
}

/// The answers known and the questions out.
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    known: Vec<(Digest, Verdict)>,
    /// Asked, not answered: (effect id, what).
    asked: Vec<(u64, Digest)>,
    /// Found missing while an input ran: effects not yet sent.
    wanted: Vec<Effect>,
    next_id: u64,
}

impl Signatures {
    /// The verdict for this signature if known; otherwise asks for it and says [`PENDING`].
    pub fn check(&mut self, key: &PublicKey, alg: Alg, data: &str, sig: &str) -> Result<()> {
        let d = digest(key, alg, data, sig);
        if let Some((_, v)) = self.known.iter().find(|(k, _)| *k == d) {
            return match v {
                Verdict::Valid => Ok(()),
                Verdict::Invalid => Err(INVALID),
                Verdict::BadKey => Err(BAD_KEY),
                Verdict::Unavailable => Err(UNAVAILABLE),
            };
        }
        if !self.asked.iter().any(|(_, k)| *k == d) {
            self.next_id += 1;
            self.asked.push((self.next_id, d));
            self.wanted.push(Effect::Verify {
                id: self.next_id,
                alg,
                jwk: key.jwk_json(),
                data: data.into(),
                sig: sig.into(),
            });
        }
        Err(PENDING)
    }

    /// The requests found missing since the last call.
    pub fn take_wanted(&mut self) -> Vec<Effect> {
        core::mem::take(&mut self.wanted)
    }

    /// Records an answer; unknown ids (a shell's bug, a restarted core) are ignored.
    pub fn answer(&mut self, id: u64, verdict: Verdict) {
        let Some(at) = self.asked.iter().position(|(i, _)| *i == id) else {
            return;
        };
        let (_, d) = self.asked.remove(at);
        if self.known.len() >= KNOWN {
            self.known.remove(0);
        }
        self.known.push((d, verdict));
    }

    /// Some answers are still out.
    pub fn waiting(&self) -> bool {
        !self.asked.is_empty()
    }

    /// Forgets `unavailable` answers once the inputs that asked have run: the next token
    /// asks again (the verifier module may load next time).
    pub fn forget_unavailable(&mut self) {
        self.known.retain(|(_, v)| *v != Verdict::Unavailable);
    }

    /// Forgets the questions out (dispose).
    pub fn clear_asked(&mut self) {
        self.asked.clear();
        self.wanted.clear();
    }
}
