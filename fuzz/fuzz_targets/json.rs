//! `json::parse` on arbitrary bytes.
//!
//! Invariants:
//! - never panics; every failure is `malformed` with the given message;
//! - deterministic: parsing the same bytes twice gives equal values;
//! - `parse_object` agrees with `parse` (Ok exactly for objects);
//! - an accepted value nests at most 64 deep, and the cap is exact: wrapping the input in
//!   arrays up to depth 64 is accepted, one more level is refused;
//! - accepted objects have unique member names (after unescaping) and at most 1024 members;
//! - differential against serde_json: whatever is accepted, serde_json accepts too (unless a
//!   number overflows f64, which serde_json refuses) and reads to the same structure, strings
//!   and numbers; whatever serde_json accepts is accepted unless it nests deeper than 64 or has
//!   a duplicate member name or more than 1024 members in an object.
#![no_main]

use jwt_keeper::json::{self, Value, MAX_DEPTH, MAX_MEMBERS};
use jwt_keeper::ErrorCode;
use jwt_keeper_fuzz::{ref_depth, ref_has_dup_or_wide, ref_json, RefNumber, RefValue};
use libfuzzer_sys::fuzz_target;

const MSG: &str = "fuzz input is not JSON";

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.members().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_objects(v: &Value) {
    match v {
        Value::Array(items) => items.iter().for_each(check_objects),
        Value::Object(o) => {
            let names: Vec<&str> = o.members().map(|(k, _)| k).collect();
            assert!(names.len() <= MAX_MEMBERS, "object with {} members accepted", names.len());
            let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
            assert_eq!(unique.len(), names.len(), "duplicate member name accepted: {names:?}");
            for (name, member) in o.members() {
                assert_eq!(o.get(name), Some(member), "get() does not find the member {name:?}");
                check_objects(member);
            }
        }
        _ => {}
    }
}

/// Whether a number's text overflows f64 (serde_json refuses those; we keep the text).
fn overflows_f64(v: &Value) -> bool {
    match v {
        Value::Number(text) => text.parse::<f64>().map_or(true, |f| f.is_infinite()),
        Value::Array(items) => items.iter().any(overflows_f64),
        Value::Object(o) => o.members().any(|(_, v)| overflows_f64(v)),
        _ => false,
    }
}

fn same_as_reference(ours: &Value, reference: &RefValue) {
    match (ours, reference) {
        (Value::Null, RefValue::Null) => {}
        (Value::Bool(a), RefValue::Bool(b)) => assert_eq!(a, b),
        (Value::String(a), RefValue::String(b)) => assert_eq!(a, b),
        (Value::Number(text), RefValue::Number(n)) => {
            let agrees = match n {
                RefNumber::U(u) => text.parse::<u64>() == Ok(*u),
                RefNumber::I(i) => text.parse::<i64>() == Ok(*i),
                RefNumber::F(f) => text.parse::<f64>() == Ok(*f),
            };
            assert!(agrees, "number {text:?} read as {n:?} by the reference");
        }
        (Value::Array(a), RefValue::Array(b)) => {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).for_each(|(x, y)| same_as_reference(x, y));
        }
        (Value::Object(a), RefValue::Object(b)) => {
            let a: Vec<(&str, &Value)> = a.members().collect();
            assert_eq!(a.len(), b.len());
            for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                assert_eq!(ka, kb);
                same_as_reference(va, vb);
            }
        }
        _ => panic!("structure differs: ours {ours:?}, reference {reference:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = json::parse(data, MSG);
    let object = json::parse_object(data, MSG);
    let reference = ref_json(data);
    match &parsed {
        Ok(v) => {
            assert_eq!(&json::parse(data, MSG).expect("parse must be deterministic"), v);
            match (v, &object) {
                (Value::Object(o), Ok(p)) => assert_eq!(o, p),
                (Value::Object(_), Err(e)) => panic!("parse_object refused an object: {e}"),
                (_, Ok(_)) => panic!("parse_object accepted a non-object"),
                (_, Err(e)) => assert_eq!((e.code(), e.message()), (ErrorCode::Malformed, MSG)),
            }
            let d = depth(v);
            assert!(d <= MAX_DEPTH, "value nested {d} deep accepted");
            check_objects(v);
            // The cap is exact: wrap the input in arrays up to depth 64, then 65.
            let text = std::str::from_utf8(data).expect("accepted input is UTF-8");
            let wrap = |levels: usize| format!("{}{}{}", "[".repeat(levels), text, "]".repeat(levels));
            let at_cap = json::parse(wrap(MAX_DEPTH - d).as_bytes(), MSG).expect("depth 64 must be accepted");
            assert_eq!(depth(&at_cap), MAX_DEPTH);
            assert!(json::parse(wrap(MAX_DEPTH - d + 1).as_bytes(), MSG).is_err(), "depth 65 accepted");
            match &reference {
                Some(r) => same_as_reference(v, r),
                None => assert!(overflows_f64(v), "accepted, but serde_json refuses it"),
            }
        }
        Err(e) => {
            assert_eq!((e.code(), e.message()), (ErrorCode::Malformed, MSG));
            assert!(json::parse(data, MSG).is_err(), "parse must be deterministic");
            assert!(object.is_err());
            if let Some(r) = &reference {
                assert!(
                    ref_depth(r) > MAX_DEPTH || ref_has_dup_or_wide(r, MAX_MEMBERS),
                    "serde_json accepts {r:?}, refused here"
                );
            }
        }
    }
});
