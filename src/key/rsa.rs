//! RSA public keys (RS256, PS256): the modulus and exponent checked against the limits below,
//! and (with the `verifier` feature) imported into the `rsa` crate.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::base64url;
use crate::error::{Error, Result};
use crate::json;

/// Smallest modulus accepted, in bits: RFC 7518 §3.3 requires 2048; 1024-bit keys are within
/// reach of factoring.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest modulus accepted, in bits: the `rsa` crate's own ceiling, and a bound on what one
/// verification of a key from a JWKS costs.
pub const MAX_RSA_BITS: usize = 8192;

/// Smallest public exponent: 1 is no encryption at all, and even exponents are not RSA.
pub const MIN_RSA_EXPONENT: u64 = 3;

/// Largest public exponent, 2³³ − 1: the `rsa` crate refuses larger ones (their verification
/// cost is a denial of service), and BoringSSL (Chromium's WebCrypto) caps exponents at 33 bits.
pub const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// An RSA public key: `n` and `e` big-endian without leading zeros, `n` odd and of
/// [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`] bits, `e` odd in
/// [`MIN_RSA_EXPONENT`]..=[`MAX_RSA_EXPONENT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    #[cfg(feature = "rsa-verifier")]
    key: ::rsa::PublicKey,
}

impl RsaKey {
    /// The key from big-endian `n` and `e` (as JWK and DER give them). Fails `bad_key`: a
    /// leading zero byte, a modulus outside the size limits or even, an exponent out of range
    /// or even.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self> {
        // One message for every limit: each is named in it.
        const BAD: Error =
            Error::bad_key("RSA key must have a minimal odd n of 2048-8192 bits and a minimal odd e from 3 to 2^33-1");
        let bits = match n {
            [first, ..] if *first != 0 => n.len() * 8 - first.leading_zeros() as usize,
            _ => return Err(BAD),
        };
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(BAD);
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(BAD);
        }
        let exponent = match e {
            [first, ..] if *first != 0 && e.len() <= 8 => {
                e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
            }
            _ => return Err(BAD),
        };
        if !(MIN_RSA_EXPONENT..=MAX_RSA_EXPONENT).contains(&exponent) || exponent & 1 == 0 {
            return Err(BAD);
        }
        Ok(Self {
            #[cfg(feature = "rsa-verifier")]
            key: rsa_key(n, e)?,
            n: n.into(),
            e: e.into(),
        })
    }

    /// The modulus, big-endian without leading zeros.
    pub fn n(&self) -> &[u8] {
        &self.n
    }

    /// The public exponent, big-endian without leading zeros.
    pub fn e(&self) -> &[u8] {
        &self.e
    }

    /// The modulus length in bytes: the length of every signature by this key.
    pub fn size(&self) -> usize {
        self.n.len()
    }

    /// The key as a public JWK (JSON text), as WebCrypto's `importKey('jwk', …)` takes it
    /// (no `alg`: the caller names the algorithm at import).
    pub fn jwk_json(&self) -> String {
        json::Obj::new()
            .str("kty", "RSA")
            .str("n", &base64url::encode(&self.n))
            .str("e", &base64url::encode(&self.e))
            .finish()
    }

    /// The `rsa` crate's key.
    #[cfg(feature = "rsa-verifier")]
    pub fn verifying_key(&self) -> &::rsa::PublicKey {
        &self.key
    }
}

#[cfg(feature = "rsa-verifier")]
fn rsa_key(n: &[u8], e: &[u8]) -> Result<::rsa::PublicKey> {
    use ::rsa::BoxedUint;
    ::rsa::PublicKey::new_with_size_limits(
        BoxedUint::from_be_slice_vartime(n),
        BoxedUint::from_be_slice_vartime(e),
        MIN_RSA_BITS..=MAX_RSA_BITS,
    )
    .map_err(|_| Error::bad_key("RSA key is not valid"))
}
