//! `KeySet::from_json` and `KeySet::from_pem` on arbitrary input, then `select` with a
//! fuzzed `kid`. Input layout: `kid 0x00 document`; without a 0x00 byte the whole input is
//! the document and the token has no `kid`.
//!
//! Invariants:
//! - never panics; import failures are `bad_key`, selection failures `no_matching_key` or
//!   `bad_key`; selection is deterministic;
//! - a single JWK: its key is the point given by its `x`/`y`, `kty` EC, `crv` P-256, no `d`;
//!   `select(None)` and `select(own kid)` give it, another `kid` is `no_matching_key` when the
//!   JWK has a `kid`, and is ignored when it has none;
//! - a JWKS: `select` succeeds only when exactly one ES256 candidate carries the `kid` (or,
//!   without `kid`, when there is exactly one candidate), and gives that candidate's point;
//! - a PEM: only the canonical base64 of the DER SPKI of an uncompressed P-256 point is
//!   accepted, and any `kid` selects the key;
//! - the formats agree: a key re-exported as a canonical JWK and as a canonical PEM imports
//!   to the same key.
#![no_main]

use jwt_keeper::json::{self, Object, Value};
use jwt_keeper::key::{Alg, PublicKey};
use jwt_keeper::{ErrorCode, KeySet};
use jwt_keeper_fuzz::{ref_b64url, ref_b64url_decode, ref_encode, STD_ALPHABET};
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::VerifyingKey;

const SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, // SEQUENCE, 89 bytes
    0x30, 0x13, // SEQUENCE, 19 bytes: AlgorithmIdentifier
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // OID 1.2.840.10045.2.1 id-ecPublicKey
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // OID 1.2.840.10045.3.1.7 prime256v1
    0x03, 0x42, 0x00, // BIT STRING, 66 bytes, no unused bits
    0x04, // uncompressed point
];

fn point(key: &VerifyingKey) -> Vec<u8> {
    let sec1 = key.to_sec1_point(false);
    let bytes = sec1.as_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 4);
    bytes[1..].to_vec()
}

fn canonical_der(key: &VerifyingKey) -> Vec<u8> {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(&point(key));
    der
}

fn canonical_pem(key: &VerifyingKey) -> String {
    let b64 = ref_encode(&canonical_der(key), STD_ALPHABET, true);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ASCII")).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

fn canonical_jwk(key: &VerifyingKey) -> String {
    let p = point(key);
    format!(r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#, ref_b64url(&p[..32]), ref_b64url(&p[32..]))
}

/// The P-256 key inside, if it is one (this target models the EC keys in full; RSA keys are
/// checked for their type and public parts only).
fn ec_of(key: &PublicKey) -> Option<&VerifyingKey> {
    match key {
        PublicKey::Ec(k) => Some(k.verifying_key()),
        PublicKey::Rsa(_) => None,
    }
}

fn ec(key: &PublicKey) -> &VerifyingKey {
    ec_of(key).expect("an ES256 selection gave an RSA key")
}

/// The same key must come back through both canonical encodings.
fn formats_agree(key: &VerifyingKey) {
    let via_jwk = KeySet::from_json(canonical_jwk(key).as_bytes()).expect("canonical JWK must import");
    assert_eq!(ec(&via_jwk.select(None, Alg::Es256).expect("single key")), key);
    let via_pem = KeySet::from_pem(&canonical_pem(key)).expect("canonical PEM must import");
    assert_eq!(ec(&via_pem.select(None, Alg::Es256).expect("single key")), key);
}

const RSA_PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn coordinates_of(jwk: &Object) -> Vec<u8> {
    let coordinate = |name: &str| {
        let text = jwk.get(name).and_then(Value::as_str).expect("accepted JWK without x/y string");
        ref_b64url_decode(text.as_bytes()).expect("accepted JWK coordinate is not strict base64url")
    };
    let mut xy = coordinate("x");
    xy.extend(coordinate("y"));
    xy
}

fn str_member<'o>(o: &'o Object, name: &str) -> Option<&'o str> {
    o.get(name).and_then(Value::as_str)
}

fn check_selection(set: &KeySet, kid: Option<&str>) {
    let first = set.select(kid, Alg::Es256);
    let again = set.select(kid, Alg::Es256);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("select is not deterministic"),
    }
    if let Err(e) = &first {
        assert!(matches!(e.code(), ErrorCode::NoMatchingKey | ErrorCode::BadKey), "select failed with {e}");
    }
    if let Ok(key) = &first {
        formats_agree(ec(key));
    }
}

fn check_json(doc: &[u8], kid: Option<&str>) {
    let set = match KeySet::from_json(doc) {
        Ok(set) => set,
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::BadKey, "from_json failed with {e}");
            return;
        }
    };
    let obj = json::parse_object(doc, "k").expect("an accepted key document is a JSON object");
    check_selection(&set, kid);
    check_selection(&set, None);
    match &set {
        KeySet::Single { key: PublicKey::Rsa(_), .. } => {
            assert_eq!(str_member(&obj, "kty"), Some("RSA"));
            assert!(RSA_PRIVATE.iter().all(|m| obj.get(m).is_none()), "an RSA JWK with a private part was accepted");
            assert!(obj.get("use").is_none() || str_member(&obj, "use") == Some("sig"));
        }
        KeySet::Single { kid: own, key, .. } => {
            let key = ec(key);
            assert_eq!(str_member(&obj, "kty"), Some("EC"));
            assert_eq!(str_member(&obj, "crv"), Some("P-256"));
            assert!(obj.get("d").is_none(), "a JWK with a private part was accepted");
            assert!(obj.get("alg").is_none() || str_member(&obj, "alg") == Some("ES256"));
            assert!(obj.get("use").is_none() || str_member(&obj, "use") == Some("sig"));
            match obj.get("key_ops") {
                None => {}
                Some(Value::Array(ops)) => assert!(ops.iter().any(|op| op.as_str() == Some("verify"))),
                Some(other) => panic!("key_ops {other:?} accepted"),
            }
            assert_eq!(own.as_deref(), str_member(&obj, "kid"));
            assert_eq!(point(key), coordinates_of(&obj), "imported key is not the JWK's point");
            assert_eq!(ec(&set.select(None, Alg::Es256).expect("single key, no kid")), key);
            if let Some(own) = own {
                assert_eq!(ec(&set.select(Some(own), Alg::Es256).expect("single key, own kid")), key);
            }
            let selected = set.select(kid, Alg::Es256);
            match (own, kid) {
                (Some(own), Some(kid)) if own != kid => {
                    assert_eq!(selected.expect_err("another kid must not match").code(), ErrorCode::NoMatchingKey);
                }
                _ => assert_eq!(ec(&selected.expect("kid must match")), key),
            }
        }
        KeySet::Set(candidates) => {
            assert!(obj.get("kty").is_none());
            assert!(matches!(obj.get("keys"), Some(Value::Array(_))));
            for c in candidates {
                match str_member(c, "kty") {
                    Some("EC") => {
                        assert_eq!(str_member(c, "crv"), Some("P-256"));
                        assert!(c.get("alg").is_none() || str_member(c, "alg") == Some("ES256"));
                    }
                    Some("RSA") => assert!(c.get("alg").is_none() || matches!(str_member(c, "alg"), Some("RS256" | "PS256"))),
                    other => panic!("a JWKS candidate of kty {other:?}"),
                }
                assert!(c.get("use").is_none() || str_member(c, "use") == Some("sig"));
            }
            // ES256 selection looks at the EC candidates only.
            let ec_candidates: Vec<&Object> = candidates.iter().filter(|c| str_member(c, "kty") == Some("EC")).collect();
            for kid in [kid, None] {
                let matching: Vec<&Object> =
                    ec_candidates.iter().copied().filter(|c| kid.is_none() || str_member(c, "kid") == kid).collect();
                match (set.select(kid, Alg::Es256), matching.as_slice()) {
                    (Ok(key), [only]) => assert_eq!(point(ec(&key)), coordinates_of(only)),
                    (Ok(_), _) => panic!("select chose one of {} matching keys", matching.len()),
                    (Err(e), [_]) => assert_eq!(e.code(), ErrorCode::BadKey, "{e}"),
                    (Err(e), _) => assert_eq!(e.code(), ErrorCode::NoMatchingKey, "{e}"),
                }
            }
        }
    }
}

fn check_pem(pem: &str, kid: Option<&str>) {
    let set = match KeySet::from_pem(pem) {
        Ok(set) => set,
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::BadKey, "from_pem failed with {e}");
            return;
        }
    };
    let KeySet::Single { kid: None, key, .. } = &set else {
        panic!("a PEM gave a key set or a kid");
    };
    // RSA PEMs (SPKI and PKCS#1) are strict DER too; this target models the P-256 ones.
    let Some(key) = ec_of(key) else { return };
    let body: String = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|rest| rest.strip_suffix("-----END PUBLIC KEY-----"))
        .expect("accepted PEM without its armour")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    assert_eq!(body, ref_encode(&canonical_der(key), STD_ALPHABET, true), "non-canonical PEM body accepted");
    assert_eq!(ec(&set.select(kid, Alg::Es256).expect("a PEM key matches any kid")), key);
    check_selection(&set, kid);
}

fuzz_target!(|data: &[u8]| {
    let (kid, doc) = match data.iter().position(|&b| b == 0) {
        Some(at) => match std::str::from_utf8(&data[..at]) {
            Ok(kid) => (Some(kid), &data[at + 1..]),
            Err(_) => return,
        },
        None => (None, data),
    };
    check_json(doc, kid);
    if let Ok(pem) = std::str::from_utf8(doc) {
        check_pem(pem, kid);
    }
});
