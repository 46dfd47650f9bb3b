//! Shared pieces of the fuzz targets: the fixture tokens and keys (compiled in from
//! `tests/fixtures/jose-tokens.json`), reference base64 codecs written independently of the
//! crate under test, the high-S twin of a signature, and a reference JSON reader (serde_json
//! with objects kept as ordered member lists, so duplicate names stay visible).

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use jwt_keeper::{verify, KeySet, VerifyOptions};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

const FIXTURES_JSON: &str = include_str!("../../tests/fixtures/jose-tokens.json");

/// Fixture tokens longer than this are left out of the mutation targets (they only slow down
/// each execution; the size limit has tests of its own).
pub const MAX_FIXTURE_TOKEN: usize = 4096;

/// A fixture token that verifies, with the key set and options it verifies under.
pub struct OkCase {
    /// Fixture case name.
    pub name: String,
    /// The token text.
    pub token: String,
    /// The key set of the case.
    pub keys: KeySet,
    /// The options of the case.
    pub opts: VerifyOptions,
}

/// Everything the targets take from the fixture file.
pub struct Fixtures {
    /// `now` of the fixture file.
    pub now: u64,
    /// The `main` JWK (kid `main-1`) as a key set.
    pub main_keys: KeySet,
    /// Fixture cases whose expected result is `ok`, each checked to verify at start-up.
    pub ok: Vec<OkCase>,
    /// `header.payload` of every token in the fixture file: no other signing input can carry
    /// a valid signature by a fixture key.
    pub signing_inputs: HashSet<String>,
    /// Every token of the fixture file with a 64-byte signature, and its high-S twin: the only
    /// tokens that can carry a valid signature by a fixture key.
    pub signed_tokens: HashSet<String>,
}

fn options_of(case: &serde_json::Value) -> VerifyOptions {
    let text = case.get("options").map_or_else(|| "{}".to_string(), |o| o.to_string());
    VerifyOptions::from_json(text.as_bytes(), 0).expect("fixture options must parse")
}

fn key_set_of(key: &serde_json::Value) -> Option<KeySet> {
    match key {
        serde_json::Value::String(pem) => KeySet::from_pem(pem).ok(),
        other => KeySet::from_json(other.to_string().as_bytes()).ok(),
    }
}

/// The fixtures, parsed once per process.
pub static FIXTURES: LazyLock<Fixtures> = LazyLock::new(|| {
    let doc: serde_json::Value = serde_json::from_str(FIXTURES_JSON).expect("fixture file must be JSON");
    let now = doc["now"].as_u64().expect("fixture now");
    let keys = &doc["keys"];
    let main_keys = key_set_of(&keys["main"]).expect("fixture key main must import");
    let mut ok = Vec::new();
    let mut signing_inputs = HashSet::new();
    let mut signed_tokens = HashSet::new();
    for case in doc["cases"].as_array().expect("fixture cases") {
        let token = case["token"].as_str().expect("case token").to_string();
        if let Some((signing_input, sig)) = token.rsplit_once('.') {
            signing_inputs.insert(signing_input.to_string());
            if let Some(twin) = high_s_twin(&lenient_decode(sig)).filter(|_| sig.len() == 86) {
                signed_tokens.insert(token.clone());
                signed_tokens.insert(format!("{signing_input}.{}", ref_b64url(&twin)));
            }
        }
        // The verify target edits ES256 tokens (64-byte r||s, the high-S twin); RSA cases are
        // covered by the key target and the native and browser fixture runs.
        let es256 = token.starts_with("eyJhbGciOiJFUzI1NiI");
        if case["expect"] != "ok" || token.len() > MAX_FIXTURE_TOKEN || !es256 {
            continue;
        }
        let name = case["name"].as_str().unwrap_or("?").to_string();
        let key_set = key_set_of(&keys[case["key"].as_str().expect("case key")]).expect("case key must import");
        let opts = options_of(case);
        if let Err(e) = verify(&token, &key_set, &opts) {
            panic!("fixture case {name:?} must verify, got {e}");
        }
        ok.push(OkCase { name, token, keys: key_set, opts });
    }
    assert!(!ok.is_empty(), "the fixture file has no verifying token");
    Fixtures { now, main_keys, ok, signing_inputs, signed_tokens }
});

/// The base64url alphabet (RFC 4648 §5).
pub const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// The standard base64 alphabet (RFC 4648 §4).
pub const STD_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Reference encoder: `alphabet`, with `=` padding if `pad`.
pub fn ref_encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let sym = |v: u32| char::from(alphabet[(v & 63) as usize]);
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        if chunk.len() > 1 {
            out.push(sym(n >> 6));
        } else if pad {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(sym(n));
        } else if pad {
            out.push('=');
        }
    }
    out
}

/// Unpadded base64url, the only form JWS allows.
pub fn ref_b64url(data: &[u8]) -> String {
    ref_encode(data, URL_ALPHABET, false)
}

/// Reference strict base64url decoder: `Some` exactly when `text` is the canonical unpadded
/// base64url encoding of some bytes.
pub fn ref_b64url_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = URL_ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // The bits left over must be zero (no stray bits).
    (acc == 0).then_some(out)
}

/// Lenient decoder for mutation: any base64/base64url alphabet, padding and other bytes skipped,
/// stray bits dropped. Used only to get at the bytes of a (possibly already mutated) segment.
pub fn lenient_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => continue,
        };
        acc = ((acc << 6) | u32::from(v)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The P-256 group order n, big-endian.
pub const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `a - b` on 256-bit big-endian numbers (wrapping).
pub fn sub256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// The high-S twin `r || (n - s)` of a 64-byte ES256 signature: the one other signature
/// that is valid for the same message and key (ECDSA malleability).
pub fn high_s_twin(sig: &[u8]) -> Option<Vec<u8>> {
    let (r, s) = sig.split_at_checked(32)?;
    let s: [u8; 32] = s.try_into().ok()?;
    let mut twin = r.to_vec();
    twin.extend_from_slice(&sub256(&P256_N, &s));
    Some(twin)
}

/// A JSON number as serde_json reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum RefNumber {
    /// Non-negative integer that fits u64.
    U(u64),
    /// Negative integer that fits i64.
    I(i64),
    /// Anything else, as the nearest f64.
    F(f64),
}

/// A JSON value read by serde_json, objects kept as ordered member lists (duplicates included).
#[derive(Debug, Clone, PartialEq)]
pub enum RefValue {
    /// `null`
    Null,
    /// `true`/`false`
    Bool(bool),
    /// A number.
    Number(RefNumber),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<RefValue>),
    /// An object, members in source order.
    Object(Vec<(String, RefValue)>),
}

struct RefVisitor;

impl<'de> Visitor<'de> for RefVisitor {
    type Value = RefValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<RefValue, E> {
        Ok(RefValue::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RefValue, E> {
        Ok(RefValue::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RefValue, E> {
        Ok(RefValue::Number(RefNumber::U(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RefValue, E> {
        Ok(RefValue::Number(RefNumber::I(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RefValue, E> {
        Ok(RefValue::Number(RefNumber::F(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<RefValue, E> {
        Ok(RefValue::String(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RefValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<RefValue>()? {
            items.push(v);
        }
        Ok(RefValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RefValue, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, RefValue>()? {
            members.push((k, v));
        }
        Ok(RefValue::Object(members))
    }
}

impl<'de> Deserialize<'de> for RefValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

/// Parses with the reference reader (serde_json: RFC 8259, lone surrogates refused, numbers
/// beyond f64 refused, nesting capped at 128, duplicate names kept).
pub fn ref_json(bytes: &[u8]) -> Option<RefValue> {
    serde_json::from_slice(bytes).ok()
}

/// Nesting depth of a reference value (a scalar is 0, `[]` is 1).
pub fn ref_depth(v: &RefValue) -> usize {
    match v {
        RefValue::Array(items) => 1 + items.iter().map(ref_depth).max().unwrap_or(0),
        RefValue::Object(members) => 1 + members.iter().map(|(_, v)| ref_depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether any object in `v` has two members with the same name, or more than `max_members`.
pub fn ref_has_dup_or_wide(v: &RefValue, max_members: usize) -> bool {
    match v {
        RefValue::Array(items) => items.iter().any(|i| ref_has_dup_or_wide(i, max_members)),
        RefValue::Object(members) => {
            let names: HashSet<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            names.len() != members.len()
                || members.len() > max_members
                || members.iter().any(|(_, v)| ref_has_dup_or_wide(v, max_members))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_codecs() {
        assert_eq!(ref_encode(b"foobar", STD_ALPHABET, true), "Zm9vYmFy");
        assert_eq!(ref_encode(b"fo", STD_ALPHABET, true), "Zm8=");
        assert_eq!(ref_encode(b"f", STD_ALPHABET, true), "Zg==");
        assert_eq!(ref_b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(ref_b64url_decode(b"-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(ref_b64url_decode(b"-_9"), None);
        assert_eq!(ref_b64url_decode(b"A"), None);
        assert_eq!(ref_b64url_decode(b"AA=="), None);
        assert_eq!(lenient_decode("Zm8="), b"fo");
    }

    #[test]
    fn twin_of_twin_is_the_signature() {
        let sig: Vec<u8> = (0u8..64).collect();
        let twin = high_s_twin(&sig).unwrap();
        assert_eq!(high_s_twin(&twin).unwrap(), sig);
        assert_eq!(sub256(&P256_N, &P256_N), [0u8; 32]);
    }

    #[test]
    fn fixtures_load() {
        assert!(FIXTURES.ok.len() > 10);
        assert!(FIXTURES.now > 0);
    }
}
