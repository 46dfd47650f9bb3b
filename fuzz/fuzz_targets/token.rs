//! `UntrustedToken::parse` and `verify` (with the fixture key `main`) on arbitrary text.
//!
//! Invariants:
//! - parsing is deterministic: a parsed token re-parses to the same parts;
//! - an accepted token is exactly three strict base64url segments: re-encoding the decoded
//!   header, payload and signature gives back the input, and `signing_input` is `h.p`;
//! - the size cap holds: accepted only if `len <= max_bytes`, refused one byte below;
//! - every parse failure is `malformed`;
//! - `verify` never accepts what `parse` refuses, and its failures carry a verification code;
//! - a verified token (or one refused only at the claim stage, which runs after the
//!   signature) has `alg` exactly ES256, no `crit`/`b64`, a 64-byte signature valid for the
//!   key, and a `header.payload` that a fixture key really signed;
//! - a verified token's JSON and claims equal the parsed ones, and its time check passes.
#![no_main]

use jwt_keeper::json::{self, Value};
use jwt_keeper::key::Alg;
use jwt_keeper::token::DEFAULT_MAX_TOKEN_BYTES;
use jwt_keeper::{verify, ErrorCode, UntrustedToken};
use jwt_keeper_fuzz::{ref_b64url, FIXTURES};
use libfuzzer_sys::fuzz_target;

/// Messages of `malformed` errors raised after the signature has verified.
const CLAIM_STAGE_MALFORMED: [&str; 3] = [
    "exp, nbf and iat must be non-negative numbers",
    "iss must be a string",
    "aud must be a string or a non-empty array of strings",
];

fn same_token(a: &UntrustedToken<'_>, b: &UntrustedToken<'_>) {
    assert_eq!(a.header(), b.header());
    assert_eq!(a.payload(), b.payload());
    assert_eq!(a.header_json(), b.header_json());
    assert_eq!(a.payload_json(), b.payload_json());
    assert_eq!(a.signing_input(), b.signing_input());
    assert_eq!(a.signature(), b.signature());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fixtures = &*FIXTURES;
    let max = DEFAULT_MAX_TOKEN_BYTES;

    let parsed = UntrustedToken::parse(text, max);
    match &parsed {
        Ok(t) => {
            assert!(text.len() <= max);
            same_token(t, &UntrustedToken::parse(text, max).expect("an accepted token must re-parse"));
            let parts: Vec<&str> = text.split('.').collect();
            assert_eq!(parts.len(), 3, "accepted token without exactly three parts");
            assert_eq!(ref_b64url(t.header_json().as_bytes()), parts[0], "header segment not canonical");
            assert_eq!(ref_b64url(t.payload_json().as_bytes()), parts[1], "payload segment not canonical");
            assert_eq!(ref_b64url(t.signature()), parts[2], "signature segment not canonical");
            assert_eq!(t.signing_input(), format!("{}.{}", parts[0], parts[1]).as_bytes());
            assert_eq!(&json::parse_object(t.header_json().as_bytes(), "h").expect("header JSON"), t.header());
            assert_eq!(&json::parse_object(t.payload_json().as_bytes(), "p").expect("payload JSON"), t.payload());
            // The cap is inclusive and exact.
            same_token(t, &UntrustedToken::parse(text, text.len()).expect("len == max must pass"));
            let below = UntrustedToken::parse(text, text.len() - 1).expect_err("len > max must fail");
            assert_eq!(below.code(), ErrorCode::Malformed);
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::Malformed, "parse failed with {e}"),
    }

    let opts = jwt_keeper::VerifyOptions::at(fixtures.now);
    let result = verify(text, &fixtures.main_keys, &opts);
    let signature_checked = match &result {
        Ok(_) => true,
        Err(e) => {
            assert!(
                matches!(
                    e.code(),
                    ErrorCode::Malformed
                        | ErrorCode::UnsupportedAlg
                        | ErrorCode::NoMatchingKey
                        | ErrorCode::BadSignature
                        | ErrorCode::Expired
                        | ErrorCode::NotYetValid
                        | ErrorCode::ClaimMismatch
                ),
                "verify failed with an unexpected code: {e}"
            );
            if parsed.is_err() {
                assert!(
                    matches!(e.code(), ErrorCode::Malformed | ErrorCode::UnsupportedAlg),
                    "unparseable token refused for a later reason: {e}"
                );
            }
            matches!(e.code(), ErrorCode::Expired | ErrorCode::NotYetValid | ErrorCode::ClaimMismatch)
                || (e.code() == ErrorCode::Malformed && CLAIM_STAGE_MALFORMED.contains(&e.message()))
        }
    };
    if signature_checked {
        let t = parsed.as_ref().expect("a token past the signature check must parse");
        assert_eq!(t.header().get("alg").and_then(Value::as_str), Some("ES256"));
        assert!(t.header().get("crit").is_none() && t.header().get("b64").is_none());
        assert_eq!(t.signature().len(), 64);
        let key = fixtures
            .main_keys
            .select(t.header().get("kid").and_then(Value::as_str), Alg::Es256)
            .expect("the key that verified must be selectable");
        jwt_keeper::verify::verify_signature(&key, Alg::Es256, t.signing_input(), t.signature())
            .expect("the signature that verified must verify again");
        let signing_input = std::str::from_utf8(t.signing_input()).expect("ASCII");
        assert!(
            fixtures.signing_inputs.contains(signing_input),
            "a signing input no fixture key signed passed the signature check"
        );
    }
    if let Ok(v) = &result {
        let t = parsed.as_ref().expect("checked above");
        assert_eq!(v.header_json(), t.header_json());
        assert_eq!(v.payload_json(), t.payload_json());
        assert_eq!(v.claims(), t.payload());
        assert_eq!(t.payload().get("exp").and_then(Value::as_numeric_date), Some(v.exp_s()));
        assert_eq!(t.payload().get("nbf").and_then(Value::as_numeric_date), v.nbf_s());
        assert_eq!(t.payload().get("iat").and_then(Value::as_numeric_date), v.iat_s());
        v.check_time(opts.now_s, opts.checks.leeway_s).expect("a verified token passes its time check");
    }
});
