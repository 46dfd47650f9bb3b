//! A sign-in callback as the client core reads it (`client::signin`, `Core`): arbitrary bytes
//! as the callback URL (the address bar an attacker can craft) and as the stored transaction
//! (sessionStorage another script may have written). Input layout: `url 0x00 transaction`.
//!
//! Invariants:
//! - never panics;
//! - the cleaned address keeps none of the callback's parameters where it found them, and is
//!   never longer than the URL; a transaction read back from its own text is the same;
//! - the core exchanges a code only for a callback whose `state` is the stored transaction's,
//!   once, at the token endpoint with that transaction's verifier; a callback that does not
//!   match leaves the transaction in place and settles `invalid_state`; every callback settles.
#![no_main]

use jwt_keeper::client::protocol::{Effect, Input};
use jwt_keeper::client::signin::{Callback, Transaction};
use jwt_keeper::client::Core;
use jwt_keeper::session::{CallId, Now};
use jwt_keeper::{ErrorCode, KeySet};
use libfuzzer_sys::fuzz_target;

const JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const OPTIONS: &str = r#"{"issuer":"https://idp.test","clientId":"spa","crossTab":false,"metadata":{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/authorize","token_endpoint":"https://idp.test/token"}}"#;
const NOW_MS: u64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    let (url, tx) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(url), Ok(stored)) = (std::str::from_utf8(url), std::str::from_utf8(tx)) else { return };

    let cb = Callback::read(url);
    assert!(cb.clean_url.len() <= url.len());
    if !url.contains('?') && !url.contains('#') {
        assert_eq!(cb.clean_url, url);
    }
    let query = cb.clean_url.split('#').next().unwrap_or_default();
    if let Some((_, q)) = query.split_once('?') {
        for pair in q.split('&') {
            let k = pair.split_once('=').map_or(pair, |(k, _)| k);
            assert!(!matches!(k, "code" | "state" | "iss" | "error"), "{k} left in {}", cb.clean_url);
        }
    }
    let parsed = Transaction::from_json(stored);
    if let Some(t) = &parsed {
        assert_eq!(Transaction::from_json(&t.to_json()).as_ref(), Some(t));
    }

    let keys = KeySet::from_json(JWK.as_bytes()).expect("the key");
    let mut core = Core::new(OPTIONS.as_bytes(), keys, 1).expect("the options");
    let now = Now { wall_ms: NOW_MS, monotonic_ms: Some(1) };
    core.handle(now, Input::Start { stored: None, channel: false, dpop: jwt_keeper::json::Value::Null });
    let input = |call| Input::Callback {
        call: CallId(call),
        url: url.into(),
        address: Some(url.into()),
        transaction: Some(stored.into()),
    };
    let fx = core.handle(now, input(1));
    let matches = parsed.as_ref().is_some_and(|t| cb.state.as_deref() == Some(t.state.as_str()) && !cb.repeated);
    let sends: Vec<&Effect> = fx.iter().filter(|e| matches!(e, Effect::Send { .. })).collect();
    let settled = fx.iter().any(|e| matches!(e, Effect::Settle { call: CallId(1), .. } | Effect::Refused { call: CallId(1), .. }));
    assert!(settled || sends.len() == 1, "the callback neither settled nor exchanged: {fx:?}");
    if !matches {
        assert!(sends.is_empty(), "a code exchanged for another state: {fx:?}");
        assert!(!fx.contains(&Effect::Transaction(None)), "a foreign callback spent the transaction");
        assert!(fx.iter().any(|e| matches!(e, Effect::Settle { call: CallId(1), result: Err(e) } if e.code() == ErrorCode::InvalidState)));
        return;
    }
    assert!(fx.contains(&Effect::Transaction(None)));
    let t = parsed.expect("matched");
    for s in &sends {
        let Effect::Send { url, body, method, .. } = s else { unreachable!() };
        assert_eq!((*method, url.as_str()), ("POST", "https://idp.test/token"));
        let mut verifier = String::new();
        jwt_keeper::refresh::form_encode(&mut verifier, &t.verifier);
        assert!(body.ends_with(&["&code_verifier=", &verifier].concat()), "{body}");
    }
    // The same callback again: no second exchange.
    let fx = core.handle(now, input(2));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Send { .. })), "a second exchange: {fx:?}");
});
