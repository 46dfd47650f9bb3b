//! Public keys: a JWK, a JWKS, or an SPKI PEM, turned into [`PublicKey`]s: P-256 for ES256
//! ([`ec`]), RSA for RS256 and PS256 ([`rsa`]).
//!
//! Every parameter is checked here. For P-256, the coordinates are checked to be below the
//! field prime; whether the point is on the curve is checked by whoever does the arithmetic:
//! with the `verifier` feature (p256) when the key is imported; in the client core, which has
//! no curve arithmetic, by WebCrypto's `importKey` (or the lazily loaded verifier module).
//! RSA keys are checked whole here (sizes, parity, exponent range).
//!
//! Only the key configured by the application is ever used. Header parameters that name
//! or carry keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored: trusting them lets an attacker
//! choose the key (RFC 8725 §3.10), and fetching them is a request an attacker controls.

#[allow(unused_imports)]
use crate::prelude::*;

mod der;
pub mod ec;
pub mod rsa;

pub use self::ec::EcKey;
pub use self::rsa::RsaKey;
pub use crate::alg::Alg;

use crate::base64url;
use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Object, Value};

/// Largest key document accepted (JWK, JWKS or PEM text); a provider JWKS is a few KB.
pub const MAX_KEY_BYTES: usize = 256 * 1024;

/// JWK members that belong to a private key (RFC 7518 §6.2.2, §6.3.2): a JWK holding one is
/// refused, since a leaked private key is not something to verify with quietly.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// A verification key of a supported type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// P-256, for ES256.
    Ec(EcKey),
    /// RSA, for RS256 and PS256.
    Rsa(RsaKey),
}

impl PublicKey {
    /// Whether this key's type serves `alg`: P-256 ↔ ES256, RSA ↔ RS256/PS256.
    pub fn fits(&self, alg: Alg) -> bool {
        matches!(self, Self::Rsa(_)) == alg.is_rsa()
    }

    /// The key as a public JWK (JSON text, without `alg`), as WebCrypto's
    /// `importKey('jwk', …)` takes it.
    pub fn jwk_json(&self) -> String {
        match self {
            Self::Ec(k) => k.jwk_json(),
            Self::Rsa(k) => k.jwk_json(),
        }
    }
}

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";
const PKCS1_BEGIN: &str = "-----BEGIN RSA PUBLIC KEY-----";
const PKCS1_END: &str = "-----END RSA PUBLIC KEY-----";

/// The key material a verifier is configured with.
#[derive(Debug, Clone)]
pub enum KeySet {
    /// One key, from a JWK (with its `kid` and `alg`, if any) or a PEM (neither).
    Single {
        /// The JWK's `kid`; a token naming another `kid` is refused.
        kid: Option<String>,
        /// The JWK's `alg`: the one algorithm this key may verify.
        alg: Option<Alg>,
        /// The imported key.
        key: PublicKey,
    },
    /// A JWKS: the entries that could be verification keys of a supported type, imported
    /// when a token selects one.
    Set(Vec<Object>),
}

const NO_MATCH: Error = Error::new(
    ErrorCode::NoMatchingKey,
    "no single key matches the token's kid and alg",
);

impl KeySet {
    /// Parses a PEM string: `-----BEGIN PUBLIC KEY-----` (SPKI: P-256 or `rsaEncryption`) or
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1). Fails `bad_key`.
    pub fn from_pem(pem: &str) -> Result<Self> {
        if pem.len() > MAX_KEY_BYTES {
            return Err(Error::bad_key("key is too large"));
        }
        let pem = pem.trim();
        let unwrap = |begin: &str, end: &str| pem.strip_prefix(begin)?.strip_suffix(end);
        let (body, pkcs1) = match unwrap(PEM_BEGIN, PEM_END) {
            Some(body) => (body, false),
            None => (
                unwrap(PKCS1_BEGIN, PKCS1_END).ok_or(Error::bad_key(
                    "PEM must be one '-----BEGIN PUBLIC KEY-----' block (SPKI)",
                ))?,
                true,
            ),
        };
        let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let der =
            base64url::decode_standard(&b64).ok_or(Error::bad_key("PEM body is not base64"))?;
        let key = match (pkcs1, EcKey::from_spki_point(&der)) {
            (false, Some(ec)) => PublicKey::Ec(ec?),
            (false, None) => {
                let (n, e) = der::rsa_spki(&der)?;
                PublicKey::Rsa(RsaKey::from_components(n, e)?)
            }
            (true, _) => {
                let (n, e) = der::rsa_public_key(&der)?;
                PublicKey::Rsa(RsaKey::from_components(n, e)?)
            }
        };
        Ok(Self::Single {
            kid: None,
            alg: None,
            key,
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
                    if is_candidate(k) {
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
        let (key, alg) = import_jwk(&obj)?;
        Ok(Self::Single { kid, alg, key })
    }

    /// Picks the one key for a token with header `kid` (or none) and algorithm `alg`.
    ///
    /// The key's type must serve `alg` (P-256 ↔ ES256, RSA ↔ RS256/PS256) and a JWK's own
    /// `alg`, when present, must equal it. A single key with a `kid` refuses a token naming
    /// another `kid`. In a JWKS exactly one such key must carry the token's `kid`; a token
    /// without `kid` needs a JWKS with exactly one key for `alg`. Anything else is
    /// `no_matching_key` (a key of the wrong type too, as jose's JWKS selection answers).
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Result<PublicKey> {
        match self {
            Self::Single {
                kid: own,
                alg: bound,
                key,
            } => {
                let kid_fits = match (own, kid) {
                    (Some(own), Some(kid)) => own == kid,
                    _ => true,
                };
                if kid_fits && key.fits(alg) && bound.is_none_or(|b| b == alg) {
                    Ok(key.clone())
                } else {
                    Err(NO_MATCH)
                }
            }
            Self::Set(candidates) => {
                let mut matching = candidates.iter().filter(|k| {
                    (kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
                        && candidate_fits(k, alg)
                });
                match (matching.next(), matching.next()) {
                    (Some(only), None) => import_jwk(only).map(|(key, _)| key),
                    _ => Err(NO_MATCH),
                }
            }
        }
    }
}

/// A JWKS entry that could be a verification key of a supported type; others (OKP, P-384,
/// `use: enc`, other algorithms, no `verify` in `key_ops`) are skipped so that one odd entry
/// does not break the set. A candidate that then fails to import is `bad_key` when chosen.
fn is_candidate(k: &Object) -> bool {
    let is = |name: &str, want: &str| k.get(name).and_then(Value::as_str) == Some(want);
    let alg = k.get("alg").and_then(Value::as_str);
    let type_fits = if is("kty", "EC") && is("crv", "P-256") {
        matches!(alg, None | Some("ES256"))
    } else if is("kty", "RSA") {
        matches!(alg, None | Some("RS256" | "PS256"))
    } else {
        false
    };
    let ops_fit = match k.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
        Some(_) => false,
    };
    type_fits && ops_fit && (k.get("use").is_none() || is("use", "sig"))
}

/// Whether candidate `k` (see [`is_candidate`]) may verify a token of `alg`.
fn candidate_fits(k: &Object, alg: Alg) -> bool {
    let kty = if alg.is_rsa() { "RSA" } else { "EC" };
    k.get("kty").and_then(Value::as_str) == Some(kty)
        && k.get("alg").is_none_or(|a| a.as_str() == Some(alg.name()))
}

fn jwk_kid(jwk: &Object) -> Result<Option<&str>> {
    jwk.get_str("kid", Error::bad_key("JWK kid must be a string"))
}

/// Imports one JWK as a verifying key with its `alg` binding, checking every parameter that
/// constrains it.
fn import_jwk(jwk: &Object) -> Result<(PublicKey, Option<Alg>)> {
    let field = |name: &str| jwk.get_str(name, Error::bad_key("JWK member has the wrong type"));
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
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
        return Err(Error::bad_key(
            "JWK holds a private key (d, p, q, ...); give only the public key",
        ));
    }
    jwk_kid(jwk)?;
    let alg = match field("alg")? {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or(Error::bad_key(
            "JWK alg must be ES256, RS256 or PS256 when present",
        ))?),
    };
    let bytes = |name: &str| -> Result<Vec<u8>> {
        let text = field(name)?.ok_or(Error::bad_key("JWK is missing a key parameter"))?;
        base64url::decode(text.as_bytes(), "")
            .map_err(|_| Error::bad_key("JWK key parameters must be strict base64url"))
    };
    let key = match field("kty")? {
        Some("EC") => {
            if field("crv")? != Some("P-256") {
                return Err(Error::bad_key("JWK crv must be \"P-256\""));
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(Error::bad_key("JWK x and y must be exactly 32 bytes"));
            }
            PublicKey::Ec(EcKey::from_coordinates(&x, &y)?)
        }
        Some("RSA") => PublicKey::Rsa(RsaKey::from_components(&bytes("n")?, &bytes("e")?)?),
        _ => return Err(Error::bad_key("JWK kty must be \"EC\" or \"RSA\"")),
    };
    if alg.is_some_and(|a| !key.fits(a)) {
        return Err(Error::bad_key("JWK alg does not fit the key type"));
    }
    Ok((key, alg))
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
            .select(None, Alg::Es256)
            .unwrap();
        let b = KeySet::from_pem(A3_PEM)
            .unwrap()
            .select(Some("any"), Alg::Es256)
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
            with(r#""crv":"P-256""#, r#""crv":"P-256","alg":"RS256""#),
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
        assert!(set.select(Some("a"), Alg::Es256).is_ok());
        assert_eq!(
            set.select(Some("b"), Alg::Es256).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        assert_eq!(
            set.select(Some("c"), Alg::Es256).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        assert_eq!(
            set.select(None, Alg::Es256).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
        let one = KeySet::from_json(format!(r#"{{"keys":[{}]}}"#, jwk("a")).as_bytes()).unwrap();
        assert!(one.select(None, Alg::Es256).is_ok());
        let single = KeySet::from_json(jwk("a").as_bytes()).unwrap();
        assert!(
            single.select(Some("a"), Alg::Es256).is_ok() && single.select(None, Alg::Es256).is_ok()
        );
        assert_eq!(
            single.select(Some("z"), Alg::Es256).unwrap_err().code(),
            ErrorCode::NoMatchingKey
        );
    }

    use crate::test_rsa::*;

    fn rsa_jwk_with(extra: &str) -> String {
        RSA2048_JWK.replacen('{', &format!("{{{extra},"), 1)
    }

    #[test]
    fn rsa_jwk_spki_and_pkcs1_pem_give_the_same_key() {
        let a = KeySet::from_json(RSA2048_JWK.as_bytes()).unwrap();
        let b = KeySet::from_pem(RSA2048_PEM).unwrap();
        let c = KeySet::from_pem(RSA2048_PKCS1_PEM).unwrap();
        let key = a.select(None, Alg::Rs256).unwrap();
        assert!(matches!(&key, PublicKey::Rsa(k) if k.size() == 256 && k.e() == [1, 0, 1]));
        assert_eq!(key, b.select(None, Alg::Ps256).unwrap());
        assert_eq!(key, c.select(Some("x"), Alg::Rs256).unwrap());
        // The JWK the shell imports is the key itself, without alg.
        assert_eq!(
            KeySet::from_json(key.jwk_json().as_bytes())
                .unwrap()
                .select(None, Alg::Rs256)
                .unwrap(),
            key
        );
    }

    #[test]
    fn rejects_rsa_keys_that_do_not_fit() {
        let n = RSA2048_JWK.split('"').nth(7).unwrap();
        let n_bytes = base64url::decode(n.as_bytes(), "").unwrap();
        let with_n = |bytes: &[u8]| RSA2048_JWK.replace(n, &base64url::encode(bytes));
        let mut even = n_bytes.clone();
        *even.last_mut().unwrap() &= 0xfe;
        let mut bits_2047 = n_bytes.clone();
        bits_2047[0] = 0x7f;
        bits_2047[255] |= 1;
        let with_e = |e: &str| RSA2048_JWK.replace(r#""e":"AQAB""#, &format!(r#""e":"{e}""#));
        for (bad, why) in [
            (RSA1024_JWK.to_string(), "1024 bits"),
            (with_n(&[&[0][..], &n_bytes].concat()), "leading zero in n"),
            (with_n(&even), "even n"),
            (with_n(&bits_2047), "2047 bits"),
            (with_n(&[0xff; 1025]), "8200 bits"),
            (with_e("AQAA"), "even e"),
            (with_e("AQ"), "e = 1"),
            (with_e("Ag"), "e = 2"),
            (with_e("AAEAAQ"), "leading zero in e"),
            (with_e("AgAAAAE"), "e = 2^33 + 1"),
            (with_e(""), "empty e"),
            (with_e("AQAB="), "padded e"),
            (RSA2048_JWK.replace('-', "+"), "+ in n"),
            (rsa_jwk_with(r#""d":"AQAB""#), "private d"),
            (rsa_jwk_with(r#""p":"AQAB""#), "private p"),
            (rsa_jwk_with(r#""qi":"AQAB""#), "private qi"),
            (rsa_jwk_with(r#""use":"enc""#), "use enc"),
            (
                rsa_jwk_with(r#""key_ops":["encrypt"]"#),
                "key_ops without verify",
            ),
            (rsa_jwk_with(r#""alg":"ES256""#), "alg of another key type"),
            (rsa_jwk_with(r#""alg":"RS384""#), "unsupported alg"),
            (rsa_jwk_with(r#""alg":"RSA-OAEP""#), "encryption alg"),
            (RSA2048_JWK.replace(r#","e":"AQAB""#, ""), "no e"),
        ] {
            assert_eq!(
                code(KeySet::from_json(bad.as_bytes())),
                ErrorCode::BadKey,
                "{why}"
            );
        }
        assert!(KeySet::from_json(with_e("Aw").as_bytes()).is_ok(), "e = 3");
        assert!(
            KeySet::from_json(with_e("Af____8").as_bytes()).is_ok(),
            "e = 2^33 - 1"
        );
        assert!(
            KeySet::from_json(rsa_jwk_with(r#""key_ops":["verify"],"use":"sig""#).as_bytes())
                .is_ok()
        );
        assert_eq!(code(KeySet::from_pem(RSA1024_PEM)), ErrorCode::BadKey);
        // Trailing bytes after the SPKI, and a PKCS#1 body under the SPKI label.
        let body: String = RSA2048_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut der = base64url::decode_standard(body.as_bytes()).unwrap();
        der.push(0);
        let pem = |label: &str, der: &[u8]| {
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                crate::base64url::encode(der)
                    .replace('-', "+")
                    .replace('_', "/")
            )
        };
        let padded = |p: String| {
            let body = p.lines().nth(1).unwrap().to_string();
            let pad = "=".repeat((4 - body.len() % 4) % 4);
            p.replace(&body, &format!("{body}{pad}"))
        };
        assert_eq!(
            code(KeySet::from_pem(&padded(pem("PUBLIC KEY", &der)))),
            ErrorCode::BadKey
        );
        der.pop();
        assert!(KeySet::from_pem(&padded(pem("PUBLIC KEY", &der))).is_ok());
        let pkcs1_body: String = RSA2048_PKCS1_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let pkcs1_under_spki =
            format!("-----BEGIN PUBLIC KEY-----\n{pkcs1_body}\n-----END PUBLIC KEY-----");
        assert_eq!(code(KeySet::from_pem(&pkcs1_under_spki)), ErrorCode::BadKey);
    }

    #[test]
    fn selection_takes_the_alg_into_account() {
        let no_match = |r: Result<PublicKey>| r.unwrap_err().code() == ErrorCode::NoMatchingKey;
        let ec = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        assert!(no_match(ec.select(None, Alg::Rs256)));
        assert!(no_match(ec.select(None, Alg::Ps256)));
        let rsa = KeySet::from_json(RSA2048_JWK.as_bytes()).unwrap();
        assert!(no_match(rsa.select(None, Alg::Es256)));
        assert!(rsa.select(None, Alg::Ps256).is_ok());
        let rs_only = KeySet::from_json(rsa_jwk_with(r#""alg":"RS256""#).as_bytes()).unwrap();
        assert!(rs_only.select(None, Alg::Rs256).is_ok());
        assert!(no_match(rs_only.select(None, Alg::Ps256)));

        // A JWKS: one kid for an EC and an RSA key, picked by the token's alg; a PS256-only
        // RSA key; two RSA keys of one kid; an RSA key for encryption (skipped).
        let set = format!(
            r#"{{"keys":[{},{},{},{},{},{}]}}"#,
            A3_JWK.replacen('{', r#"{"kid":"k","#, 1),
            rsa_jwk_with(r#""kid":"k""#),
            rsa_jwk_with(r#""kid":"ps","alg":"PS256""#),
            rsa_jwk_with(r#""kid":"two""#),
            rsa_jwk_with(r#""kid":"two""#),
            rsa_jwk_with(r#""kid":"enc","use":"enc""#),
        );
        let set = KeySet::from_json(set.as_bytes()).unwrap();
        assert!(matches!(
            set.select(Some("k"), Alg::Es256),
            Ok(PublicKey::Ec(_))
        ));
        assert!(matches!(
            set.select(Some("k"), Alg::Rs256),
            Ok(PublicKey::Rsa(_))
        ));
        assert!(set.select(Some("ps"), Alg::Ps256).is_ok());
        assert!(no_match(set.select(Some("ps"), Alg::Rs256)));
        assert!(no_match(set.select(Some("two"), Alg::Rs256)));
        assert!(no_match(set.select(Some("enc"), Alg::Rs256)));
        // Without a kid: exactly one EC key serves ES256; several RSA keys are ambiguous.
        assert!(set.select(None, Alg::Es256).is_ok());
        assert!(no_match(set.select(None, Alg::Rs256)));
    }
}
