//! Signature checks the core asks the shell for. The core has no curve arithmetic: it checks
//! everything else itself (structure, algorithm, key selection, the shape of `r‖s`), then
//! asks for the ECDSA arithmetic with [`crate::client::Effect::Verify`]. Answers are kept per
//! (key, signed bytes, signature), so a token is checked once however often it comes back
//! (storage, another tab, a replayed input). Only inputs that carry token text can reach a
//! check: the core runs the others without its undo copy.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::client::protocol::{Effect, Verdict};
use crate::error::{Error, ErrorCode, Result};
use crate::key::PublicKey;

/// How many answers are remembered: the current token, its successor, a few from other tabs.
const KNOWN: usize = 8;

/// The verdict of a check that has not been answered yet; the input that needed it is run
/// again once it has.
pub const PENDING: Error = Error::new(ErrorCode::Internal, "signature check pending");

const INVALID: Error = Error::new(ErrorCode::BadSignature, "signature does not verify");
const BAD_KEY: Error = Error::bad_key("public key point is not on the P-256 curve");
const UNAVAILABLE: Error = Error::new(
    ErrorCode::Network,
    "the signature could not be checked: no WebCrypto and the verifier module did not load",
);

/// What a verdict is about: the key's `x‖y`, then `data.sig`, compared whole (no hash: a
/// token is a few KB at most, and a comparison costs less than hashing it).
type Digest = Vec<u8>;

fn digest(key: &PublicKey, data: &str, sig: &str) -> Digest {
    let mut all = Vec::with_capacity(64 + data.len() + 1 + sig.len());
    all.extend_from_slice(key.x());
    all.extend_from_slice(key.y());
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
    pub fn check(&mut self, key: &PublicKey, data: &str, sig: &str) -> Result<()> {
        let d = digest(key, data, sig);
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
