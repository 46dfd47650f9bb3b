//! Interop: every token in tests/fixtures/jose-tokens.json (made by npm `jose` and node:crypto,
//! see tests/fixtures/gen.mjs) gets exactly the expected result from the Rust verifier.

use jwt_keeper::{verify, KeySet, VerifyOptions};
use serde_json::Value;

fn key_set(key: &Value) -> Result<KeySet, jwt_keeper::Error> {
    match key {
        Value::String(pem) => KeySet::from_pem(pem),
        other => KeySet::from_json(other.to_string().as_bytes()),
    }
}

#[test]
fn jose_tokens_give_the_expected_result() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jose-tokens.json"
    ))
    .unwrap();
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    let keys = &fixtures["keys"];
    let cases = fixtures["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let options = case
            .get("options")
            .map_or("{}".to_string(), Value::to_string);
        let got = VerifyOptions::from_json(options.as_bytes(), 0).and_then(|opts| {
            let keys = key_set(&keys[case["key"].as_str().unwrap()])?;
            verify(case["token"].as_str().unwrap(), &keys, &opts)
        });
        let outcome = match &got {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        };
        if outcome != expect {
            failures.push(format!(
                "{name}: expected {expect}, got {outcome} ({:?})",
                got.err().map(|e| e.message())
            ));
        } else if let (Ok(t), Some(payload)) = (&got, case.get("payload")) {
            let ours: Value = serde_json::from_str(t.payload_json()).unwrap();
            if !same_json(&ours, payload) {
                failures.push(format!("{name}: payload differs"));
            }
        }
    }
    eprintln!(
        "{} jose fixture cases, {} disagree",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// JSON equality where numbers compare by value (`1.7e9` equals `1700000000`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}
