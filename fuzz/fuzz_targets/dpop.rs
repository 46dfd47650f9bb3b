//! What a server's headers and the shell's key do to the DPoP parts of the client core
//! (`client::resource`, `client::dpop`): arbitrary bytes as `WWW-Authenticate`, as
//! `DPoP-Nonce`, and as the key input. Input layout: `challenge 0x00 nonce 0x00 key`.
//!
//! Invariants:
//! - never panics;
//! - every challenge read has a non-empty scheme of token characters;
//! - a nonce is kept only if it is `1*NQCHAR` of at most 512 bytes, and then it is in the
//!   next proof (whose signing input is two base64url parts of JSON objects);
//! - a non-401 is always `done`; `nonce` only with DPoP, a usable nonce, and no nonce replay yet.
#![no_main]

use jwt_keeper::client::dpop::{self, Dpop};
use jwt_keeper::client::resource::{self, Step};
use jwt_keeper::json;
use libfuzzer_sys::fuzz_target;

const KEY: &str = r#"{"jwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},"random":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32]}"#;

fn part(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (challenge, rest) = part(data);
    let (nonce, key) = part(rest);
    let challenge = String::from_utf8_lossy(challenge);
    let nonce = String::from_utf8_lossy(nonce);

    for c in resource::challenges(&challenge) {
        assert!(!c.scheme.is_empty());
        assert!(c.scheme.bytes().all(|b| b.is_ascii_graphic() && b != b',' && b != b'='));
    }
    for status in [200u16, 401] {
        for (dpop, given, done) in [(true, true, false), (true, false, false), (false, true, false), (true, true, true)] {
            let step = resource::step(status, Some(&challenge), dpop, given, done, false);
            if status != 401 {
                assert_eq!(step, Step::Done);
            }
            if step == Step::Nonce {
                assert!(dpop && given && !done);
            }
        }
    }

    // The key input: arbitrary JSON is refused or read, never a panic.
    if let Ok(v) = json::parse(key, "") {
        let _ = Dpop::from_value(&v);
    }
    let mut d = Dpop::from_value(&json::parse(KEY.as_bytes(), "").unwrap()).unwrap();
    let learned = d.learn_nonce("https://as.test/token", &nonce);
    assert_eq!(learned, dpop::is_nonce(&nonce));
    let proof = d.proof("POST", "https://as.test/token", 1_800_000_000, Some(&challenge));
    let (h, p) = proof.split_once('.').unwrap();
    for segment in [h, p] {
        let bytes = jwt_keeper::base64url::decode(segment.as_bytes(), "").unwrap();
        let claims = json::parse_object(&bytes, "").unwrap();
        if segment == p {
            let got = claims.get("nonce").and_then(json::Value::as_str);
            if learned {
                assert_eq!(got, Some(&*nonce));
            } else {
                assert_eq!(got, None);
            }
        }
    }
});
