//! `base64url::decode` / `encode` against an independent reference codec.
//!
//! Invariants:
//! - round trip: `decode(encode(x)) == x`, and `encode(x)` is the reference encoding
//!   (unpadded, URL alphabet);
//! - strictness: the input is accepted exactly when the reference strict decoder accepts it,
//!   with the same bytes, and an accepted input re-encodes to itself (no padding, no `+`/`/`,
//!   no whitespace, no stray bits, no impossible length);
//! - failures are `malformed` with the caller's message.
#![no_main]

use jwt_keeper::base64url::{decode, encode};
use jwt_keeper::ErrorCode;
use jwt_keeper_fuzz::{ref_b64url, ref_b64url_decode};
use libfuzzer_sys::fuzz_target;

const WHAT: &str = "fuzz input is not strict base64url";

fuzz_target!(|data: &[u8]| {
    let encoded = encode(data);
    assert_eq!(encoded, ref_b64url(data), "encode differs from the reference");
    assert_eq!(decode(encoded.as_bytes(), WHAT).expect("encode output must decode"), data);

    let decoded = decode(data, WHAT);
    match (&decoded, ref_b64url_decode(data)) {
        (Ok(bytes), Some(reference)) => {
            assert_eq!(bytes, &reference, "decoded bytes differ from the reference");
            assert_eq!(encode(bytes).as_bytes(), data, "accepted input does not re-encode to itself");
        }
        (Ok(bytes), None) => panic!("non-canonical input accepted, decoded to {bytes:?}"),
        (Err(e), Some(reference)) => panic!("canonical input refused ({e}), reference decodes {reference:?}"),
        (Err(e), None) => assert_eq!((e.code(), e.message()), (ErrorCode::Malformed, WHAT)),
    }
});
