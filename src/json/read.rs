//! A small, strict JSON reader (RFC 8259 with the I-JSON restrictions of RFC 7493) for
//! untrusted token headers, payloads, keys and refresh responses.
//!
//! Why not `serde_json`: it costs ~34 KB gzip of wasm. This reader is a few KB, and is stricter
//! where JWT security needs it: duplicate member names are rejected (a JOSE header with two
//! `alg` members must not be read two ways), lone surrogate escapes are rejected, nesting is
//! capped so a hostile `[[[[...` cannot exhaust the stack. Numbers are kept as their text;
//! only the claims that need a value are converted ([`Value::as_numeric_date`]).

use crate::error::{Error, Result};
#[allow(unused_imports)]
use crate::prelude::*;

/// Deepest nesting of arrays/objects accepted; real JWTs and JWKS use 3 or 4 levels.
pub const MAX_DEPTH: usize = 64;

/// Most members one object may have: bounds the duplicate-name check (quadratic) on hostile
/// input; a JWT or JWKS has a few dozen.
pub const MAX_MEMBERS: usize = 1024;

/// Largest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later is a mistake or an attack.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, kept as its (validated) source text.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; member names are unique.
    Object(Object),
}

/// A JSON object with unique member names, in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// The member named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The member `name` if it is a string; `Ok(None)` if absent; `Err(err)` if of another type.
    pub fn get_str(&self, name: &str, err: Error) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(err),
        }
    }

    /// All members, in source order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Value {
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Reads a NumericDate (RFC 7519 §2): a non-negative JSON number, fractions truncated,
    /// at most [`MAX_NUMERIC_DATE`]. `None` for anything else (strings, `1e400`, `-1`, `2^64`).
    pub fn as_numeric_date(&self) -> Option<u64> {
        self.as_whole(MAX_NUMERIC_DATE)
    }

    /// A non-negative JSON number truncated to a whole number, if it is at most `max`.
    pub fn as_whole(&self, max: u64) -> Option<u64> {
        match self {
            Value::Number(text) => whole_number(text).filter(|n| *n <= max),
            _ => None,
        }
    }
}

/// Parses one JSON document that must be an object.
pub fn parse_object(input: &[u8], err: &'static str) -> Result<Object> {
    match parse(input, err)? {
        Value::Object(o) => Ok(o),
        _ => Err(Error::malformed(err)),
    }
}

/// Parses one JSON document. Every syntax error is `malformed` with the message `err`.
pub fn parse(input: &[u8], err: &'static str) -> Result<Value> {
    let text = core::str::from_utf8(input).map_err(|_| Error::malformed(err))?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0).ok_or(Error::malformed(err))?;
    p.ws();
    if p.i != p.s.len() {
        return Err(Error::malformed(err));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Option<Value> {
        let end = self.i.checked_add(word.len())?;
        if self.s.get(self.i..end)? == word {
            self.i = end;
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            _ => self.number(),
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b']') {
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.bump()? {
                b',' => continue,
                b']' => return Some(Value::Array(items)),
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                // Compared after unescaping, so "a" and "\u0061" collide. Quadratic, hence the
                // member cap; a sort would cost more wasm than this loop.
                if members.len() >= MAX_MEMBERS || members.iter().any(|(k, _)| *k == key) {
                    return None;
                }
                self.ws();
                if !self.eat(b':') {
                    return None;
                }
                let v = self.value(depth)?;
                members.push((key, v));
                self.ws();
                match self.bump()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        Some(Value::Object(Object(members)))
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = char::from(self.bump()?).to_digit(16)?;
            v = v * 16 + d;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            // The input is valid UTF-8 and we stopped at an ASCII byte, so this is a char boundary.
            out.push_str(core::str::from_utf8(self.s.get(start..self.i)?).ok()?);
            match self.bump()? {
                b'"' => return Some(out),
                b'\\' => {
                    let c = match self.bump()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    out.push(c);
                }
                _ => return None, // a raw control character
            }
        }
    }

    /// After `\u`: one code point; a surrogate must be a complete pair (I-JSON, RFC 7493 §2.1).
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return None;
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
        } else {
            char::from_u32(hi) // None for a lone low surrogate
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = core::str::from_utf8(self.s.get(start..self.i)?).ok()?;
        Some(Value::Number(text.into()))
    }
}

/// Truncates a validated, non-negative JSON number to a whole number, without floating point.
/// Byte by byte: `str` searching, trimming and parsing would link their generic code.
fn whole_number(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.first() == Some(&b'-') {
        return None;
    }
    let e_at = b
        .iter()
        .position(|c| matches!(c, b'e' | b'E'))
        .unwrap_or(b.len());
    let (mantissa, exp) = b.split_at(e_at);
    // |exponent|, saturated far beyond any text length: past it the value is 0 or too large
    // either way.
    let mut exp10: i64 = 0;
    for c in exp.iter().filter(|c| c.is_ascii_digit()) {
        exp10 = (exp10 * 10 + i64::from(c - b'0')).min(1 << 48);
    }
    if exp.get(1) == Some(&b'-') {
        exp10 = -exp10;
    }
    // value = digits × 10^(exp − frac_len), the digits of both parts without leading zeros
    let digits = || mantissa.iter().filter(|c| c.is_ascii_digit());
    let lead = digits().take_while(|c| **c == b'0').count();
    let significant = digits().count() - lead;
    if significant == 0 {
        return Some(0);
    }
    let frac_len = mantissa
        .iter()
        .position(|c| *c == b'.')
        .map_or(0, |at| mantissa.len() - at - 1);
    let int_len = i64::try_from(significant).ok()? + exp10 - i64::try_from(frac_len).ok()?;
    // u64::MAX has 20 digits.
    if int_len > 20 {
        return None;
    }
    if int_len <= 0 {
        return Some(0);
    }
    let mut ds = digits().skip(lead);
    let mut value: u64 = 0;
    for _ in 0..int_len {
        let d = ds.next().map_or(0, |c| u64::from(c - b'0'));
        value = value.checked_mul(10)?.checked_add(d)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Value {
        parse(s.as_bytes(), "bad").unwrap()
    }

    fn bad(s: &str) {
        assert!(
            parse(s.as_bytes(), "bad").is_err(),
            "{s:?} must be rejected"
        );
    }

    #[test]
    fn parses_ordinary_documents() {
        let v = ok(r#" {"a": [1, -2.5e3, true, false, null, "x\"\u00e9\ud83d\ude00"], "b": {}} "#);
        let o = v.as_object().unwrap();
        match o.get("a").unwrap() {
            Value::Array(items) => {
                assert_eq!(items.len(), 6);
                assert_eq!(items[5], Value::String("x\"é😀".into()));
            }
            _ => panic!(),
        }
        assert_eq!(o.get("b"), Some(&Value::Object(Object::default())));
    }

    #[test]
    fn rejects_what_is_not_strict_json() {
        for s in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{'a':1}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "-",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "[1] [2]",
            "{\"a\":1}x",
            "\u{feff}{}",
            "\"\\u12\"",
        ] {
            bad(s);
        }
        assert!(parse(b"\"\xff\"", "bad").is_err());
    }

    #[test]
    fn rejects_duplicate_names_even_when_escaped() {
        bad(r#"{"a":1,"a":2}"#);
        bad(r#"{"a":1,"\u0061":2}"#);
        bad(r#"{"x":{"b":1,"b":1}}"#);
        bad(r#"[{"b":1,"c":0,"b":1}]"#);
        ok(r#"{"a":1,"A":2,"b":{"a":3}}"#);
    }

    #[test]
    fn caps_nesting_without_recursing_deeply() {
        let deep_ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        ok(&deep_ok);
        bad(&("[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1)));
        bad(&"[".repeat(100_000));
        bad(&"{\"a\":".repeat(100_000));
    }

    #[test]
    fn numeric_dates() {
        let nd = |s: &str| ok(s).as_numeric_date();
        assert_eq!(nd("1300819380"), Some(1_300_819_380));
        assert_eq!(nd("1300819380.999"), Some(1_300_819_380));
        assert_eq!(nd("1.30081938e9"), Some(1_300_819_380));
        assert_eq!(nd("13008193800e-1"), Some(1_300_819_380));
        assert_eq!(nd("0"), Some(0));
        assert_eq!(nd("0.5"), Some(0));
        assert_eq!(nd("5e-99999999999999999999999"), Some(0));
        assert_eq!(nd("253402300799"), Some(MAX_NUMERIC_DATE));
        assert_eq!(nd("1.5E+1"), Some(15));
        assert_eq!(nd("123.456e1"), Some(1234));
        assert_eq!(nd("1e-0"), Some(1));
        assert_eq!(nd("0e5"), Some(0));
        assert_eq!(nd("0.00000000000000000000000000001e30"), Some(10));
        for bad_date in [
            "-1",
            "-0",
            "253402300800",
            "1e400",
            "18446744073709551616",
            "1e99999999999999999999",
            "\"1\"",
            "null",
            "true",
            "{}",
            "[]",
        ] {
            assert_eq!(nd(bad_date), None, "{bad_date}");
        }
    }
}
