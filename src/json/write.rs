//! The one JSON writer: objects built member by member, strings escaped, numbers written
//! without `core::fmt` (which would add its formatting code to the wasm).

#[allow(unused_imports)]
use crate::prelude::*;

/// One JSON object under construction: `Obj::new().str("a", "x").num("n", 5).finish()`.
/// Names are the core's own constants and are written as given.
#[derive(Debug, Clone)]
#[must_use]
pub struct Obj(String);

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    /// `{`.
    pub fn new() -> Self {
        Self(String::from("{"))
    }

    fn name(&mut self, name: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    /// A string member.
    pub fn str(mut self, name: &str, value: &str) -> Self {
        self.name(name);
        push_string(&mut self.0, value);
        self
    }

    /// A string member, left out when `None`.
    pub fn opt_str(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(name, v),
            None => self,
        }
    }

    /// A whole-number member (values above 2^53 lose precision in JS; callers stay below).
    pub fn num(mut self, name: &str, value: u64) -> Self {
        self.name(name);
        push_u64(&mut self.0, value);
        self
    }

    /// A number member, left out when `None`.
    pub fn opt_num(self, name: &str, value: Option<u64>) -> Self {
        match value {
            Some(v) => self.num(name, v),
            None => self,
        }
    }

    /// A boolean member.
    pub fn bool(mut self, name: &str, value: bool) -> Self {
        self.name(name);
        self.0.push_str(if value { "true" } else { "false" });
        self
    }

    /// A member whose value is JSON text already (a verified payload, a nested object).
    pub fn raw(mut self, name: &str, json: &str) -> Self {
        self.name(name);
        self.0.push_str(json);
        self
    }

    /// `null` for a member.
    pub fn null(mut self, name: &str) -> Self {
        self.name(name);
        self.0.push_str("null");
        self
    }

    /// `}`: the text.
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A JSON array of JSON texts.
pub fn array<I: IntoIterator<Item = String>>(items: I) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// Appends `value` as a JSON string literal (control characters escaped; the rest as is,
/// which RFC 8259 allows and `JSON.parse` reads).
pub fn push_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                out.push_str("\\u00");
                let n = u32::from(c);
                out.push(char::from_digit(n >> 4, 16).unwrap_or('0'));
                out.push(char::from_digit(n & 15, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a parsed value as JSON text (numbers as their source text).
pub fn push_value(out: &mut String, value: &super::Value) {
    use super::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, v);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            out.push('{');
            for (i, (k, v)) in obj.members().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, k);
                out.push(':');
                push_value(out, v);
            }
            out.push('}');
        }
    }
}

/// Decimal digits of `v`, without `core::fmt`.
pub fn push_u64(s: &mut String, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    for d in digits.iter().skip(i) {
        s.push(char::from(*d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_read_back_with_the_strict_reader() {
        let text = Obj::new()
            .str("s", "q\"\\\n\u{1}é")
            .num("n", 0)
            .num("big", u64::MAX)
            .opt_num("none", None)
            .bool("b", true)
            .raw("o", &Obj::new().str("x", "y").finish())
            .null("z")
            .finish();
        assert_eq!(
            text,
            "{\"s\":\"q\\\"\\\\\\u000a\\u0001é\",\"n\":0,\"big\":18446744073709551615,\"b\":true,\"o\":{\"x\":\"y\"},\"z\":null}"
        );
        let back = crate::json::parse_object(text.as_bytes(), "").unwrap();
        assert_eq!(
            back.get("s").and_then(|v| v.as_str()),
            Some("q\"\\\n\u{1}é")
        );
        assert_eq!(Obj::new().finish(), "{}");
        assert_eq!(array(["1".into(), "{}".into()]), "[1,{}]");
        assert_eq!(array(Vec::<String>::new()), "[]");
    }

    #[test]
    fn a_parsed_value_is_written_back_as_read() {
        let text = r#"{"a":[1,-2.5e3,true,false,null],"b":{"c":"d\"\u0001"},"e":[]}"#;
        let v = crate::json::parse(text.as_bytes(), "").unwrap();
        let mut out = String::new();
        push_value(&mut out, &v);
        assert_eq!(
            out,
            r#"{"a":[1,-2.5e3,true,false,null],"b":{"c":"d\"\u0001"},"e":[]}"#
        );
        assert_eq!(crate::json::parse(out.as_bytes(), "").unwrap(), v);
    }
}
