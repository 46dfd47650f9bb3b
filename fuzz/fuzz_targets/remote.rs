//! The provider's documents as the client core reads them (`client::remote`): arbitrary bytes
//! as the answer to a discovery request and then to a JWKS request, with a fuzzed status.
//! Input layout: `status_byte discovery_body 0x00 jwks_body`.
//!
//! Invariants:
//! - never panics; a failed read is `network` and changes nothing that was known;
//! - a discovery document is taken only when its `issuer` is exactly the configured one, and
//!   then `jwks_uri` (and `token_endpoint` when given) are http(s) URLs from that document;
//! - after a 200 JWKS answer that is a JSON object with a `keys` array, keys are available;
//!   after any other answer, none are (the first read failed) and the error is `network`.
#![no_main]

use jwt_keeper::client::remote::{is_http_url, Fetch, Fetched, KeySource, Metadata, Remote};
use jwt_keeper::json::{self, Value};
use jwt_keeper::ErrorCode;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://idp.test";

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else { return };
    let status = if status < 128 { 200 } else { u16::from(status) + 300 };
    let (doc, jwks) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let (Ok(doc), Ok(jwks)) = (std::str::from_utf8(doc), std::str::from_utf8(jwks)) else { return };

    let mut r = Remote::new(KeySource::Absent, Metadata::default(), Some(ISSUER)).expect("discovery configured");
    assert!(r.keys(0).is_err());
    let (kind, url) = r.take_wanted().expect("discovery wanted first");
    assert_eq!((kind, url.as_str()), (Fetch::Discovery, "https://idp.test/.well-known/openid-configuration"));
    r.sent(1, kind, 0);
    r.answered(1, Fetched::Answer { status, body: doc.into() }, 0);

    let parsed = json::parse_object(doc.as_bytes(), "d").ok();
    let issuer_ok = parsed.as_ref().and_then(|o| o.get("issuer")).and_then(Value::as_str) == Some(ISSUER);
    if r.awaits_discovery() {
        assert_eq!(r.keys(1).expect_err("no keys without discovery").code(), ErrorCode::Network);
        return;
    }
    assert!(status == 200 && issuer_ok, "a document was taken with status {status} or another issuer");
    let meta = r.metadata().clone();
    let jwks_uri = meta.jwks_uri.clone().expect("a taken document names jwks_uri");
    assert!(is_http_url(&jwks_uri));
    assert!(meta.token_endpoint.as_deref().is_none_or(is_http_url));

    assert!(r.keys(2).is_err());
    let (kind, url) = r.take_wanted().expect("the JWKS is wanted next");
    assert_eq!((kind, url), (Fetch::Jwks, jwks_uri));
    r.sent(2, kind, 2);
    r.answered(2, Fetched::Answer { status, body: jwks.into() }, 2);
    let is_set = json::parse_object(jwks.as_bytes(), "j").ok().is_some_and(|o| {
        matches!(o.get("keys"), Some(Value::Array(_))) && o.get("kty").is_none()
    });
    match r.keys(3) {
        Ok(_) => assert!(status == 200 && is_set, "keys from status {status} or a non-JWKS"),
        Err(e) => {
            assert!(status != 200 || !is_set || e.code() == ErrorCode::Network, "{e}");
            assert_eq!(e.code(), ErrorCode::Network);
        }
    }
});
