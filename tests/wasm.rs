//! The verifier as wasm in headless Chromium (wasm-bindgen-test): the same vectors as the
//! native tests, through the JS-facing exports, plus wrong JS types that must never trap.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Reflect, JSON};
use jwt_keeper::bindings::{decode_jwt, verify_jwt};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const FIXTURES: &str = include_str!("fixtures/jose-tokens.json");
const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

fn js_json(text: &str) -> JsValue {
    JSON::parse(text).unwrap()
}

/// `verifyJwt` as a result: its JSON answer's payload, or its error as an `Error` with `code`
/// (this build has the RSA arithmetic too, so no signature is ever left to the caller).
fn vj(token: JsValue, key: JsValue, options: JsValue) -> Result<String, JsValue> {
    let answer: Value = serde_json::from_str(&verify_jwt(token, key, options)).unwrap();
    assert!(answer["verify"].is_null(), "a signature was left unchecked");
    match answer["error"].as_object() {
        None => Ok(answer["payload"].as_str().unwrap().to_string()),
        Some(e) => {
            let err = js_sys::Error::new(e["message"].as_str().unwrap());
            Reflect::set(&err, &"code".into(), &e["code"].as_str().unwrap().into()).unwrap();
            Err(err.into())
        }
    }
}

/// The `code` of a thrown error, or "ok".
fn outcome(r: Result<String, JsValue>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => {
            assert!(
                e.is_instance_of::<js_sys::Error>(),
                "errors must be Error objects"
            );
            Reflect::get(&e, &"code".into())
                .unwrap()
                .as_string()
                .expect("every error has a string code")
        }
    }
}

#[wasm_bindgen_test]
fn rfc7515_a3_in_the_browser() {
    let key = js_json(A3_JWK);
    let ok = vj(A3.into(), key.clone(), js_json(r#"{"now":1300819000}"#)).unwrap();
    assert!(ok.contains("\"iss\":\"joe\""));
    assert_eq!(outcome(vj(A3.into(), key, JsValue::UNDEFINED)), "expired");
}

#[wasm_bindgen_test]
fn every_jose_fixture_gives_the_expected_result() {
    let fixtures: Value = serde_json::from_str(FIXTURES).unwrap();
    let mut count = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let key = &fixtures["keys"][case["key"].as_str().unwrap()];
        let key = match key {
            Value::String(pem) => JsValue::from_str(pem),
            other => js_json(&other.to_string()),
        };
        let options = case
            .get("options")
            .map_or(JsValue::UNDEFINED, |o| js_json(&o.to_string()));
        let got = outcome(vj(case["token"].as_str().unwrap().into(), key, options));
        assert_eq!(got, case["expect"].as_str().unwrap(), "{}", case["name"]);
        count += 1;
    }
    assert!(count > 100);
}

#[wasm_bindgen_test]
fn wrong_js_types_give_typed_errors() {
    let key = js_json(A3_JWK);
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    let garbage: Vec<JsValue> = vec![
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::TRUE,
        JsValue::from_f64(42.0),
        JsValue::from_f64(f64::NAN),
        Array::new().into(),
        Object::new().into(),
        cyclic.into(),
        js_sys::Symbol::for_("x").into(),
        js_sys::Function::new_no_args("return 1").into(),
        JsValue::from_str(""),
        JsValue::from_str("\u{fffd}.\u{fffd}.\u{fffd}"),
        JsValue::from_str(&"a.".repeat(40_000)),
    ];
    for g in &garbage {
        assert_eq!(outcome(decode_jwt(g.clone())), "malformed");
        assert_eq!(
            outcome(vj(g.clone(), key.clone(), JsValue::UNDEFINED)),
            "malformed"
        );
        let as_key = outcome(vj(A3.into(), g.clone(), js_json(r#"{"now":1300819000}"#)));
        assert!(
            as_key == "bad_key" || as_key == "no_matching_key",
            "{as_key}"
        );
        // undefined, null and {} are valid "no options".
        let empty_object = JSON::stringify(g)
            .ok()
            .and_then(|s| s.as_string())
            .as_deref()
            == Some("{}")
            && !g.is_function();
        if !(g.is_undefined() || g.is_null() || empty_object) {
            assert_eq!(outcome(vj(A3.into(), key.clone(), g.clone())), "malformed");
        }
    }
    // Still works afterwards.
    assert!(vj(A3.into(), key, js_json(r#"{"now":1300819000}"#)).is_ok());
}

#[wasm_bindgen_test]
fn decode_returns_header_and_payload() {
    let text = decode_jwt(A3.into()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["header"]["alg"], "ES256");
    assert_eq!(v["payload"]["exp"], 1300819380);
}
