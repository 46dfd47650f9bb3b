//! Public keys: a P-256 JWK, a JWKS, or an SPKI PEM, turned into ES256 [`PublicKey`]s.
//!
//! Every parameter is checked here, and the coordinates are checked to be below the field
//! prime. Whether the point is on the curve is checked by whoever does the arithmetic: with
//! the `verifier` feature (p256) when the key is imported; in the client core, which has no
//! curve arithmetic, by WebCrypto's `importKey` (or the lazily loaded verifier module).
//!
//! Only the key configured by the application is ever used. Header parameters that name
//! or carry keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored: trusting them lets an attacker
//! choose the key (RFC 8725 §3.10), and fetching them is a request an attacker controls.

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "verifier")]
use p256::ecdsa::VerifyingKey;
#[cfg(feature = "verifier")]
use p256::elliptic_curve::point::AffineCoordinates;
#[cfg(feature = "verifier")]
use p256::{AffinePoint, FieldBytes};

use crate::base64url;
use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Object, Value};

/// Largest key document accepted (JWK, JWKS or PEM text); a provider JWKS is a few KB.
pub const MAX_KEY_BYTES: usize = 256 * 1024;

/// DER of an SPKI header for an uncompressed P-256 point (`id-ecPublicKey`, `prime256v1`),
/// followed by the 65-byte point. DER is canonical, so a byte comparison is a strict parse.
const SPKI_P256_UNCOMPRESSED: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The P-256 field prime p, big-endian: coordinates must be below it.
const FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// A P-256 public key: affine coordinates `x‖y`, each 32 bytes big-endian and below p.
/// With the `verifier` feature it was also checked to be on the curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    xy: [u8; 64],
    #[cfg(feature = "verifier")]
    key: VerifyingKey,
}

impl PublicKey {
    /// The key from 32-byte big-endian affine coordinates. Refuses coordinates ≥ p and (with
    /// the `verifier` feature) points not on the curve: invalid-curve attacks.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Self> {
        const NOT_ON_CURVE: Error = Error::bad_key("public key point is not on the P-256 curve");
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

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// The key material a verifier is configured with.
#[derive(Debug, Clone)]
pub enum KeySet {
    /// One key, from a JWK (with its `kid`, if any) or a PEM (no `kid`).
    Single {
        /// The JWK's `kid`; a token naming another `kid` is refused.
        kid: Option<String>,
        /// The imported key.
        key: PublicKey,
    },
    /// A JWKS: the usable ES256 candidates, imported when a token selects one.
    Set(Vec<Object>),
}

impl KeySet {
    /// Parses a PEM string (`-----BEGIN PUBLIC KEY-----`, P-256 SPKI). Fails `bad_key`.
    pub fn from_pem(pem: &str) -> Result<Self> {
        if pem.len() > MAX_KEY_BYTES {
            return Err(Error::bad_key("key is too large"));
        }
        let body = pem
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or(Error::bad_key(
                "PEM must be one '-----BEGIN PUBLIC KEY-----' block (SPKI)",
            ))?;
        let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let der =
            base64url::decode_standard(&b64).ok_or(Error::bad_key("PEM body is not base64"))?;
        // Compressed points (rare in SPKI) are refused: decompression would add a square root.
        let point = der
            .strip_prefix(&SPKI_P256_UNCOMPRESSED)
            .and_then(|p| p.strip_prefix(&[0x04]))
            .filter(|p| p.len() == 64)
            .ok_or(Error::bad_key(
                "PEM is not an uncompressed P-256 (prime256v1) SPKI public key",
            ))?;
        let (x, y) = point.split_at(32);
        Ok(Self::Single {
            kid: None,
            key: PublicKey::from_coordinates(x, y)?,
        })
    }

    /// Parses JSON text holding a JWK or a JWKS (`{"keys":[...]}`). Fails `bad_key`.
    pub fn from_json(text: &[u8]) -> Result<Self> {
        if text.len() > MAX_KEY_BYTES {
            return Err(Error::bad_key("key is too large"));
        }
        let obj = json::parse_object(text, "key must be a JWK or JWKS object")
            .map_err(|e| Error::bad_key(e.message()))?;
        if obj.get("kty").is_none() {
            if let Some(Value::Array(keys)) = obj.get("keys") {
                let mut candidates = Vec::new();
                for k in keys.iter().filter_map(Value::as_object) {
                    if is_es256_candidate(k) {
                        candidates.push(k.clone());
                    }
                }
                return Ok(Self::Set(candidates));
            }
            return Err(Error::bad_key(
                "key must be a JWK (with kty) or a JWKS (with a keys array)",
            ));
        }
        let kid = jwk_kid(&obj)?.map(String::from);
        Ok(Self::Single {
            kid,
            key: import_jwk(&obj)?,
        })
    }

    /// Picks the one key for a token with header `kid` (or none).
    ///
    /// A single key with a `kid` refuses a token naming another `kid`. In a JWKS exactly one
    /// candidate must carry the token's `kid`; a token without `kid` needs a JWKS with exactly
    /// one candidate. Anything else is `no_matching_key`.
    pub fn select(&self, kid: Option<&str>) -> Result<PublicKey> {
        const NO_MATCH: Error = Error::new(
            ErrorCode::NoMatchingKey,
            "no single key matches the token's kid",
        );
        match self {
            Self::Single { kid: own, key } => match (own, kid) {
                (Some(own), Some(kid)) if own != kid => Err(NO_MATCH),
                _ => Ok(key.clone()),
            },
            Self::Set(candidates) => {
                let mut matching = candidates
                    .iter()
                    .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid);
                match (matching.next(), matching.next()) {
                    (Some(only), None) => import_jwk(only),
                    _ => Err(NO_MATCH),
                }
            }
        }
    }
}

/// A JWKS entry that could be an ES256 verification key; others (RSA, OKP, `use: enc`,
/// other algorithms) are skipped so that one odd entry does not break the set.
fn is_es256_candidate(k: &Object) -> bool {
    let is = |name: &str, want: &str| k.get(name).and_then(Value::as_str) == Some(want);
    let absent_or = |name: &str, want: &str| k.get(name).is_none() || is(name, want);
    is("kty", "EC") && is("crv", "P-256") && absent_or("use", "sig") && absent_or("alg", "ES256")
}

fn jwk_kid(jwk: &Object) -> Result<Option<&str>> {
    jwk.get_str("kid", Error::bad_key("JWK kid must be a string"))
}

/// Imports one JWK as an ES256 verifying key, checking every parameter that constrains it.
fn import_jwk(jwk: &Object) -> Result<PublicKey> {
    let field = |name: &str| jwk.get_str(name, Error::bad_key("JWK member has the wrong type"));
    if field("kty")? != Some("EC") {
        return Err(Error::bad_key("JWK kty must be \"EC\""));
    }
    if field("crv")? != Some("P-256") {
        return Err(Error::bad_key("JWK crv must be \"P-256\""));
    }
    if !matches!(field("alg")?, None | Some("ES256")) {
        return Err(Error::bad_key("JWK alg must be \"ES256\" when present"));
    }
    if !matches!(field("use")?, None | Some("sig")) {
        return Err(Error::bad_key("JWK use must be \"sig\" when present"));
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => {
            return Err(Error::bad_key(
                "JWK key_ops must include \"verify\" when present",
            ))
        }
    }
    if jwk.get("d").is_some() {
        return Err(Error::bad_key(
            "JWK holds a private key (d); give only the public key",
        ));
    }
    jwk_kid(jwk)?;
    let coordinate = |name: &str| -> Result<Vec<u8>> {
        let text = field(name)?.ok_or(Error::bad_key("JWK x and y are required"))?;
        let bytes = base64url::decode(text.as_bytes(), "")
            .map_err(|_| Error::bad_key("JWK x and y must be strict base64url"))?;
        if bytes.len() != 32 {
            return Err(Error::bad_key("JWK x and y must be exactly 32 bytes"));
        }
        Ok(bytes)
    };
    PublicKey::from_coordinates(&coordinate("x")?, &coordinate("y")?)
}

/// A p256 verifying key from 32-byte big-endian affine coordinates. Refuses points not on the
/// curve (invalid-curve attacks); the identity has no affine coordinates.
#[cfg(feature = "verifier")]
fn key_from_coordinates(x: &[u8], y: &[u8]) -> Result<VerifyingKey> {
    const NOT_ON_CURVE: Error = Error::bad_key("public key point is not on the P-256 curve");
    let x = FieldBytes::try_from(x).map_err(|_| NOT_ON_CURVE)?;
    let y = FieldBytes::try_from(y).map_err(|_| NOT_ON_CURVE)?;
    let point =
        Option::<AffinePoint>::from(AffinePoint::from_coordinates(&x, &y)).ok_or(NOT_ON_CURVE)?;
    VerifyingKey::from_affine(point).map_err(|_| NOT_ON_CURVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const A3_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8T\nus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n-----END PUBLIC KEY-----\n";

    fn code(r: Result<KeySet>) -> ErrorCode {
        r.unwrap_err().code()
    }

    #[test]
    fn jwk_and_pem_give_the_same_key() {
        let a = KeySet::from_json(A3_JWK.as_bytes())
            .unwrap()
            .select(None)
            .unwrap();
        let b = KeySet::from_pem(A3_PEM)
            .unwrap()
            .select(Some("any"))
            .unwrap();
        assert_eq!(a, b);
        let crlf = A3_PEM.replace('\n', "\r\n");
        assert!(KeySet::from_pem(&crlf).is_ok());
    }

    #[test]
    fn rejects_keys_that_do_not_fit() {
        let with = |from: &str, to: &str| A3_JWK.replace(from, to);
        for bad in [
            with(r#""kty":"EC""#, r#""kty":"RSA""#),
            with(r#""crv":"P-256""#, r#""crv":"P-384""#),
            with(r#""crv":"P-256""#, r#""crv":"P-256","alg":"ES384""#),
            with(r#""crv":"P-256""#, r#""crv":"P-256","use":"enc""#),
            with(r#""crv":"P-256""#, r#""crv":"P-256","key_ops":["sign"]"#),
            with(r#""crv":"P-256""#, r#""crv":"P-256","d":"AAAA""#),
            with(r#""crv":"P-256""#, r#""crv":"P-256","kid":5"#),
            // 31 and 33 byte coordinates
            with(
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA",
            ),
            with(
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "AH_NzidA9sRdQYPLbm-1LXgHMzV76e8Tus9uPHvRVEUA",
            ),
            // off the curve
            with(
                "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4",
            ),
            // x = p (not canonical)
            with(
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "_____wAAAAEAAAAAAAAAAAAAAAD_______________8",
            ),
            r#"{"keys":5}"#.into(),
            "[]".into(),
            "{}".into(),
        ] {
            assert_eq!(
                code(KeySet::from_json(bad.as_bytes())),
                ErrorCode::BadKey,
                "{bad}"
            );
        }
        for bad in [
            "",
            "MFkw",
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----",
        ] {
            assert_eq!(code(KeySet::from_pem(bad)), ErrorCode::BadKey);
        }
    }

    #[test]
    fn jwks_selects_exactly_one_key_by_kid() {
        let jwk = |kid: &str| A3_JWK.replace('{', &format!("{{\"kid\":\"{kid}\","));
        let set = format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"a","n":"x","e":"AQAB"}},{},{},{}]}}"#,
            jwk("a"),
            jwk("b"),
            jwk("b")
        );
        let set = KeySet::from_json(set.as_bytes()).unwrap();
        assert!(set.select(Some("a")).is_ok());
        assert_eq!(
            set.select(Some("b")).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        assert_eq!(
            set.select(Some("c")).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        assert_eq!(
            set.select(None).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        let one = KeySet::from_json(format!(r#"{{"keys":[{}]}}"#, jwk("a")).as_bytes()).unwrap();
        assert!(one.select(None).is_ok());
        let single = KeySet::from_json(jwk("a").as_bytes()).unwrap();
        assert!(single.select(Some("a")).is_ok() && single.select(None).is_ok());
        assert_eq!(
            single.select(Some("z")).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
    }
}
