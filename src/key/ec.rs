//! P-256 public keys (ES256): affine coordinates below the field prime, and (with the
//! `verifier` feature) on the curve.

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "verifier")]
use p256::ecdsa::VerifyingKey;
#[cfg(feature = "verifier")]
use p256::elliptic_curve::point::AffineCoordinates;
#[cfg(feature = "verifier")]
use p256::{AffinePoint, FieldBytes};

use crate::base64url;
use crate::error::{Error, Result};
use crate::json;

/// DER of an SPKI header for an uncompressed P-256 point (`id-ecPublicKey`, `prime256v1`),
/// followed by the 65-byte point. DER is canonical, so a byte comparison is a strict parse.
pub(crate) const SPKI_P256_UNCOMPRESSED: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The P-256 field prime p, big-endian: coordinates must be below it.
const FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

const NOT_ON_CURVE: Error = Error::bad_key("public key point is not on the P-256 curve");

/// A P-256 public key: affine coordinates `x‖y`, each 32 bytes big-endian and below p.
/// With the `verifier` feature it was also checked to be on the curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcKey {
    xy: [u8; 64],
    #[cfg(feature = "verifier")]
    key: VerifyingKey,
}

impl EcKey {
    /// The key from 32-byte big-endian affine coordinates. Refuses coordinates ≥ p and (with
    /// the `verifier` feature) points not on the curve: invalid-curve attacks.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Self> {
        let below_p = |c: &[u8]| c.len() == 32 && c < FIELD_PRIME.as_slice();
        if !below_p(x) || !below_p(y) {
            return Err(NOT_ON_CURVE);
        }
        let mut xy = [0u8; 64];
        let (left, right) = xy.split_at_mut(32);
        left.copy_from_slice(x);
        right.copy_from_slice(y);
        Ok(Self {
            #[cfg(feature = "verifier")]
            key: key_from_coordinates(x, y)?,
            xy,
        })
    }

    /// The key from the 64-byte point of an SPKI (after the `0x04` tag).
    pub(crate) fn from_spki_point(der: &[u8]) -> Option<Result<Self>> {
        // Compressed points (rare in SPKI) are refused: decompression would add a square root.
        let point = der
            .strip_prefix(&SPKI_P256_UNCOMPRESSED)?
            .strip_prefix(&[0x04])
            .filter(|p| p.len() == 64);
        Some(match point {
            Some(p) => {
                let (x, y) = p.split_at(32);
                Self::from_coordinates(x, y)
            }
            None => Err(Error::bad_key(
                "PEM is not an uncompressed P-256 (prime256v1) SPKI public key",
            )),
        })
    }

    /// `x‖y`, 64 bytes.
    pub fn xy(&self) -> &[u8] {
        &self.xy
    }

    /// `x`, 32 bytes big-endian.
    pub fn x(&self) -> &[u8] {
        self.xy.get(..32).unwrap_or_default()
    }

    /// `y`, 32 bytes big-endian.
    pub fn y(&self) -> &[u8] {
        self.xy.get(32..).unwrap_or_default()
    }

    /// The key as a public JWK (JSON text), as WebCrypto's `importKey('jwk', …)` takes it.
    pub fn jwk_json(&self) -> String {
        json::Obj::new()
            .str("kty", "EC")
            .str("crv", "P-256")
            .str("x", &base64url::encode(self.x()))
            .str("y", &base64url::encode(self.y()))
            .finish()
    }

    /// The p256 verifying key.
    #[cfg(feature = "verifier")]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// A p256 verifying key from 32-byte big-endian affine coordinates. Refuses points not on the
/// curve (invalid-curve attacks); the identity has no affine coordinates.
#[cfg(feature = "verifier")]
fn key_from_coordinates(x: &[u8], y: &[u8]) -> Result<VerifyingKey> {
    let x = FieldBytes::try_from(x).map_err(|_| NOT_ON_CURVE)?;
    let y = FieldBytes::try_from(y).map_err(|_| NOT_ON_CURVE)?;
    let point =
        Option::<AffinePoint>::from(AffinePoint::from_coordinates(&x, &y)).ok_or(NOT_ON_CURVE)?;
    VerifyingKey::from_affine(point).map_err(|_| NOT_ON_CURVE)
}
