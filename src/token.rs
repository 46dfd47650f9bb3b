//! [`UntrustedToken`]: a compact JWS split and decoded, with nothing about it trusted yet.
//! This checks shape only (size, three parts, strict base64url, strict JSON objects).
//! It does NOT check the algorithm, the signature or any claim: see [`crate::verify`].

use crate::base64url;
use crate::error::{Error, Result};
use crate::json::{self, Object};
#[allow(unused_imports)]
use crate::prelude::*;

/// Default cap on a token's length, checked before anything is decoded; real access tokens
/// are 0.5–4 KB, so 16 KiB leaves room for large claim sets while bounding work and memory.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Largest `maxTokenBytes` a caller may set: larger tokens do not fit in HTTP headers anyway.
pub const MAX_TOKEN_BYTES_LIMIT: usize = 1024 * 1024;

/// A token split into its parts and decoded, not verified.
#[derive(Debug, Clone)]
pub struct UntrustedToken<'a> {
    signing_input: &'a str,
    header_json: String,
    payload_json: String,
    header: Object,
    payload: Object,
    signature: Vec<u8>,
    signature_text: &'a str,
}

impl<'a> UntrustedToken<'a> {
    /// Splits and decodes `token`. Fails `malformed` if it is longer than `max_bytes`, not three
    /// dot-separated strict base64url parts, or if the header or payload is not a JSON object
    /// (duplicate member names, lone surrogates and deep nesting are rejected).
    pub fn parse(token: &'a str, max_bytes: usize) -> Result<Self> {
        Self::parse_checking_header(token, max_bytes, |_| Ok(()))
    }

    /// [`UntrustedToken::parse`], running `check_header` on the header before the payload is
    /// decoded, so a token with a refused header is refused for that reason first.
    pub fn parse_checking_header(
        token: &'a str,
        max_bytes: usize,
        check_header: impl FnOnce(&Object) -> Result<()>,
    ) -> Result<Self> {
        if token.len() > max_bytes {
            return Err(Error::malformed("token is longer than maxTokenBytes"));
        }
        // Split at the dots by byte position (ASCII, so each part is a `str` slice).
        let mut dots = token
            .bytes()
            .enumerate()
            .filter(|(_, c)| *c == b'.')
            .map(|(i, _)| i);
        let parts = match (dots.next(), dots.next(), dots.next()) {
            (Some(a), Some(b), None) => (token.get(..a), token.get(a + 1..b), token.get(b + 1..)),
            _ => (None, None, None),
        };
        let (Some(h), Some(p), Some(s)) = parts else {
            return Err(Error::malformed(
                "token must have three dot-separated parts",
            ));
        };
        let signing_input = token.get(..h.len() + 1 + p.len()).ok_or(Error::malformed(
            "token must have three dot-separated parts",
        ))?;
        let header_bytes = base64url::decode(h.as_bytes(), "header is not strict base64url")?;
        let header = json::parse_object(&header_bytes, "header is not a strict JSON object")?;
        check_header(&header)?;
        let payload_bytes = base64url::decode(p.as_bytes(), "payload is not strict base64url")?;
        let payload = json::parse_object(&payload_bytes, "payload is not a strict JSON object")?;
        let signature = base64url::decode(s.as_bytes(), "signature is not strict base64url")?;
        // Both parsed as JSON, so both are valid UTF-8.
        let header_json =
            String::from_utf8(header_bytes).map_err(|_| Error::malformed("header is not UTF-8"))?;
        let payload_json = String::from_utf8(payload_bytes)
            .map_err(|_| Error::malformed("payload is not UTF-8"))?;
        Ok(Self {
            signing_input,
            header_json,
            payload_json,
            header,
            payload,
            signature,
            signature_text: s,
        })
    }

    /// The JOSE header.
    pub fn header(&self) -> &Object {
        &self.header
    }

    /// The claims, unverified.
    pub fn payload(&self) -> &Object {
        &self.payload
    }

    /// The header as its decoded JSON text.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// The payload as its decoded JSON text.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// [`UntrustedToken::signing_input`] as text (it is ASCII).
    pub fn signing_input_str(&self) -> &'a str {
        self.signing_input
    }

    /// The signature as it stands in the token (strict base64url).
    pub fn signature_text(&self) -> &'a str {
        self.signature_text
    }

    /// The decoded signature bytes (any length).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    pub(crate) fn into_parts(self) -> (String, String, Object) {
        (self.header_json, self.payload_json, self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    #[test]
    fn splits_rfc7515_a3() {
        let t = UntrustedToken::parse(A3, DEFAULT_MAX_TOKEN_BYTES).unwrap();
        assert_eq!(t.header_json(), r#"{"alg":"ES256"}"#);
        assert_eq!(t.payload().get("iss").and_then(|v| v.as_str()), Some("joe"));
        assert_eq!(t.signature().len(), 64);
        assert_eq!(t.signing_input().len(), A3.rfind('.').unwrap());
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "eyJhbGciOiJFUzI1NiJ9..",
            "é.é.é",
        ] {
            let e = UntrustedToken::parse(bad, DEFAULT_MAX_TOKEN_BYTES).unwrap_err();
            assert_eq!(e.code(), crate::error::ErrorCode::Malformed, "{bad:?}");
        }
        let e = UntrustedToken::parse(A3, 100).unwrap_err();
        assert_eq!(e.message(), "token is longer than maxTokenBytes");
    }
}
