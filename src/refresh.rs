//! The refresh request and the classification of its answer, for the three styles, as pure
//! functions: the browser driver sends what [`request`] says and feeds what came back to
//! [`classify`], whose answer decides between adopting, retrying and ending the session.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, ErrorCode};
use crate::json::{self, Object, Value};

pub use crate::session::MAX_RETRY_AFTER_MS;

/// Largest `expires_in` believed (one year); beyond that the token's own `exp` decides.
pub const MAX_EXPIRES_IN_S: u64 = 365 * 24 * 3600;

/// How the refresh endpoint is spoken to (`refresh.style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// RFC 6749 §6: form POST `grant_type=refresh_token&refresh_token=…(&client_id=…)`,
    /// answer `{access_token, refresh_token?, expires_in?, token_type}`.
    OAuth2,
    /// JSON POST `{"refreshToken":…}`, answer `{accessToken, refreshToken?, expiresIn?}`.
    Json,
    /// POST with credentials; the refresh token is an HttpOnly cookie, never in JS or wasm.
    /// Answer `{accessToken, expiresIn?}`.
    Cookie,
}

impl Style {
    /// Reads `refresh.style`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "oauth2" => Some(Self::OAuth2),
            "json" => Some(Self::Json),
            "cookie" => Some(Self::Cookie),
            _ => None,
        }
    }
}

/// The body and content type of one refresh request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The request body.
    pub body: String,
    /// Send cookies (`credentials: 'include'`): only the cookie style needs them.
    pub with_credentials: bool,
}

/// The refresh request for `style`. `refresh_token` is ignored in cookie style.
pub fn request(style: Style, refresh_token: Option<&str>, client_id: Option<&str>) -> Request {
    let token = refresh_token.unwrap_or_default();
    match style {
        Style::OAuth2 => {
            let mut body = String::from("grant_type=refresh_token&refresh_token=");
            form_encode(&mut body, token);
            if let Some(id) = client_id {
                body.push_str("&client_id=");
                form_encode(&mut body, id);
            }
            Request {
                content_type: "application/x-www-form-urlencoded",
                body,
                with_credentials: false,
            }
        }
        Style::Json => Request {
            content_type: "application/json",
            body: json::Obj::new().str("refreshToken", token).finish(),
            with_credentials: false,
        },
        Style::Cookie => Request {
            content_type: "application/json",
            body: "{}".into(),
            with_credentials: true,
        },
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(
                HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
            ));
            out.push(char::from(
                HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
            ));
        }
    }
}

/// A usable token response, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The new access token (verify it before use).
    pub access_token: String,
    /// A rotated refresh token, if the server sent one (never in cookie style).
    pub refresh_token: Option<String>,
    /// `expires_in` / `expiresIn`, if given.
    pub expires_in_s: Option<u64>,
    /// `id_token` / `idToken` (OpenID Connect), if given (verify it before use).
    pub id_token: Option<String>,
}

/// What an answer of the refresh endpoint means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// 2xx with a token response.
    Tokens(TokenResponse),
    /// Try again later (network, 5xx, 429, 408, other 4xx, unreadable 2xx): the session stays.
    Transient {
        /// `bad_response` (or `network`/`timeout` from the driver).
        error: Error,
        /// `Retry-After`, if the server gave one.
        retry_after_ms: Option<u64>,
    },
    /// A definitive no: `invalid_grant`, `invalid_client`, `unauthorized_client`, or 401/403.
    Rejected {
        /// `refresh_rejected`.
        error: Error,
    },
}

const REJECTED: Error = Error::new(
    ErrorCode::RefreshRejected,
    "the refresh endpoint rejected the refresh token",
);

fn bad_response(message: &'static str) -> Classified {
    Classified::Transient {
        error: Error::new(ErrorCode::BadResponse, message),
        retry_after_ms: None,
    }
}

/// Classifies the refresh endpoint's answer: `status`, the `Retry-After` header, the body, and
/// the local time (for a `Retry-After` given as an HTTP date).
pub fn classify(
    style: Style,
    dpop: bool,
    status: u16,
    retry_after: Option<&str>,
    now_ms: u64,
    body: &str,
) -> Classified {
    if (200..300).contains(&status) {
        return match json::parse_object(body.as_bytes(), "") {
            Ok(obj) => token_response(style, dpop, &obj),
            Err(_) => bad_response("the refresh response is not a JSON object"),
        };
    }
    let error_code = json::parse_object(body.as_bytes(), "")
        .ok()
        .and_then(|o| o.get("error").and_then(Value::as_str).map(String::from));
    // Only a 4xx is an answer about the token: a 5xx or 429 is transient whatever its body says.
    let definitive = (400..500).contains(&status)
        && status != 429
        && matches!(
            error_code.as_deref(),
            Some("invalid_grant" | "invalid_client" | "unauthorized_client")
        );
    // A DPoP nonce or proof refused (RFC 9449 §8, §5): about the proof, never the grant; the
    // next proof (a new nonce, a corrected clock) may pass.
    let proof = matches!(
        error_code.as_deref(),
        Some("use_dpop_nonce" | "invalid_dpop_proof")
    );
    if !proof && (definitive || status == 401 || status == 403) {
        return Classified::Rejected { error: REJECTED };
    }
    let message = match status {
        429 => "the refresh endpoint is rate limiting (429)",
        500..=599 => "the refresh endpoint failed (5xx)",
        _ => "the refresh endpoint answered an unexpected status",
    };
    let retry_after_ms = retry_after.and_then(|v| parse_retry_after(v, now_ms));
    Classified::Transient {
        error: Error::new(ErrorCode::BadResponse, message),
        retry_after_ms,
    }
}

fn token_response(style: Style, dpop: bool, obj: &Object) -> Classified {
    let (access, refresh, expires, id) = match style {
        Style::OAuth2 => ("access_token", "refresh_token", "expires_in", "id_token"),
        Style::Json | Style::Cookie => ("accessToken", "refreshToken", "expiresIn", "idToken"),
    };
    let Some(Value::String(access_token)) = obj.get(access) else {
        return bad_response("the refresh response has no access token");
    };
    if style == Style::OAuth2 {
        // RFC 6749 §5.1 requires token_type: Bearer (absent is read as Bearer), or with DPoP
        // exactly DPoP (RFC 9449 §5): a server that did not bind the token says Bearer.
        let token_type = obj.get("token_type").and_then(Value::as_str);
        if dpop && !token_type.is_some_and(|t| t.eq_ignore_ascii_case("dpop")) {
            return bad_response("the token response's token_type is not DPoP");
        }
        if !dpop && !token_type.is_none_or(|t| t.eq_ignore_ascii_case("bearer")) {
            return bad_response("the refresh response's token_type is not Bearer");
        }
    }
    let refresh_token = match (style, obj.get(refresh)) {
        (Style::Cookie, _) | (_, None | Some(Value::Null)) => None,
        (_, Some(Value::String(t))) if !t.is_empty() => Some(t.clone()),
        _ => return bad_response("the refresh response's refresh token is not a string"),
    };
    let expires_in_s = match obj.get(expires) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_numeric_date() {
            Some(s) => Some(s.min(MAX_EXPIRES_IN_S)),
            None => return bad_response("the refresh response's expires_in is not a number"),
        },
    };
    let id_token = match obj.get(id) {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        _ => return bad_response("the refresh response's id_token is not a string"),
    };
    Classified::Tokens(TokenResponse {
        access_token: access_token.clone(),
        refresh_token,
        expires_in_s,
        id_token,
    })
}

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER_MS`].
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    let ms = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digit by digit, saturating: leading zeros and absurd lengths read right.
        value
            .bytes()
            .fold(0u64, |n, b| {
                n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            })
            .saturating_mul(1000)
    } else {
        parse_http_date(value)?
            .saturating_mul(1000)
            .saturating_sub(now_ms)
    };
    Some(ms.min(MAX_RETRY_AFTER_MS))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as seconds since the
/// epoch. The obsolete formats are not accepted. Read by position (a weekday without spaces,
/// then a fixed-width tail), without `str` splitting and parsing.
pub fn parse_http_date(value: &str) -> Option<u64> {
    const SHAPE: &[u8; 25] = b" 00 ___ 0000 00:00:00 GMT";
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let v = value.trim().as_bytes();
    let (weekday, tail) = v.split_at(v.len().checked_sub(SHAPE.len())?);
    let shaped = tail.iter().zip(SHAPE).all(|(c, s)| match s {
        b'0' => c.is_ascii_digit(),
        b'_' => true,
        _ => c == s,
    });
    // A loop, not `contains`: that links a 0.4 KB memchr for these few bytes.
    if !shaped || !weekday.iter().all(|c| *c != b' ') {
        return None;
    }
    let month = tail.get(4..7)?;
    let month = MONTHS.iter().position(|m| m.as_slice() == month)? as u64 + 1;
    let num = |at: usize, len: usize| {
        tail.get(at..at + len)?
            .iter()
            .try_fold(0u64, |n, b| Some(n * 10 + u64::from(b.checked_sub(b'0')?)))
    };
    let (day, year) = (num(1, 2)?, num(8, 4)?);
    let (h, m, s) = (num(13, 2)?, num(16, 2)?, num(19, 2)?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies() {
        let r = request(Style::OAuth2, Some("a b+c/é"), Some("my app"));
        assert_eq!(
            r.body,
            "grant_type=refresh_token&refresh_token=a+b%2Bc%2F%C3%A9&client_id=my+app"
        );
        assert_eq!(r.content_type, "application/x-www-form-urlencoded");
        assert!(!r.with_credentials);
        let r = request(Style::Json, Some("q\"\\\n"), None);
        assert_eq!(r.body, r#"{"refreshToken":"q\"\\\u000a"}"#);
        let r = request(Style::Cookie, Some("never sent"), None);
        assert!(r.with_credentials && !r.body.contains("never"));
    }

    #[test]
    fn token_responses() {
        let ok = classify(
            Style::OAuth2,
            false,
            200,
            None,
            0,
            r#"{"access_token":"A","refresh_token":"R","expires_in":300,"token_type":"bearer"}"#,
        );
        assert_eq!(
            ok,
            Classified::Tokens(TokenResponse {
                access_token: "A".into(),
                refresh_token: Some("R".into()),
                expires_in_s: Some(300),
                id_token: None,
            })
        );
        let json = classify(Style::Json, false, 200, None, 0, r#"{"accessToken":"A"}"#);
        assert!(matches!(
            json,
            Classified::Tokens(TokenResponse {
                refresh_token: None,
                expires_in_s: None,
                ..
            })
        ));
        let cookie = classify(
            Style::Cookie,
            false,
            200,
            None,
            0,
            r#"{"accessToken":"A","refreshToken":"leak"}"#,
        );
        assert!(
            matches!(
                cookie,
                Classified::Tokens(TokenResponse {
                    refresh_token: None,
                    ..
                })
            ),
            "cookie style never keeps one"
        );
        for body in [
            "",
            "nope",
            "[]",
            r#"{"token":"x"}"#,
            r#"{"access_token":5}"#,
            r#"{"access_token":"A","token_type":"DPoP"}"#,
            r#"{"access_token":"A","expires_in":"300"}"#,
        ] {
            let c = classify(Style::OAuth2, false, 200, None, 0, body);
            assert!(
                matches!(c, Classified::Transient { error, .. } if error.code() == ErrorCode::BadResponse),
                "{body}"
            );
        }
    }

    #[test]
    fn dpop_token_responses() {
        // With DPoP the server must say it bound the token; a Bearer answer is not used.
        let dpop = |body| classify(Style::OAuth2, true, 200, None, 0, body);
        assert!(matches!(
            dpop(r#"{"access_token":"A","token_type":"DPoP"}"#),
            Classified::Tokens(_)
        ));
        assert!(matches!(
            dpop(r#"{"access_token":"A","token_type":"dpop"}"#),
            Classified::Tokens(_)
        ));
        for body in [
            r#"{"access_token":"A","token_type":"Bearer"}"#,
            r#"{"access_token":"A"}"#,
            r#"{"access_token":"A","token_type":5}"#,
        ] {
            assert!(
                matches!(dpop(body), Classified::Transient { error, .. } if error.code() == ErrorCode::BadResponse),
                "{body}"
            );
        }
        // A refused proof or a nonce demanded is never a rejection of the grant, whatever
        // the status.
        for status in [400, 401, 403] {
            for body in [
                r#"{"error":"use_dpop_nonce"}"#,
                r#"{"error":"invalid_dpop_proof"}"#,
            ] {
                assert!(
                    matches!(
                        classify(Style::OAuth2, true, status, None, 0, body),
                        Classified::Transient { .. }
                    ),
                    "{status} {body}"
                );
            }
        }
    }

    #[test]
    fn only_definitive_answers_reject() {
        for (status, body) in [
            (400, r#"{"error":"invalid_grant"}"#),
            (400, r#"{"error":"invalid_client"}"#),
            (400, r#"{"error":"unauthorized_client"}"#),
            (401, ""),
            (403, "forbidden"),
        ] {
            assert!(
                matches!(
                    classify(Style::OAuth2, false, status, None, 0, body),
                    Classified::Rejected { .. }
                ),
                "{status} {body}"
            );
        }
        // A 5xx or 429 is transient even when its body says invalid_grant.
        for (status, body) in [
            (400, r#"{"error":"invalid_request"}"#),
            (404, ""),
            (408, ""),
            (429, r#"{"error":"invalid_grant"}"#),
            (500, r#"{"error":"invalid_grant"}"#),
            (503, ""),
        ] {
            let c = classify(Style::OAuth2, false, status, None, 0, body);
            assert!(matches!(c, Classified::Transient { .. }), "{status}");
        }
    }

    #[test]
    fn retry_after() {
        let c = classify(Style::Json, false, 429, Some("7"), 0, "");
        assert!(matches!(
            c,
            Classified::Transient {
                retry_after_ms: Some(7000),
                ..
            }
        ));
        assert_eq!(
            parse_retry_after("99999999999999", 0),
            Some(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(parse_retry_after("-1", 0), None);
        // Leading zeros do not shrink the value; one cap for the header and the backoff.
        assert_eq!(parse_retry_after("0000000005", 0), Some(5_000));
        assert_eq!(parse_retry_after("000000000120", 0), Some(120_000));
        assert_eq!(MAX_RETRY_AFTER_MS, crate::session::MAX_RETRY_AFTER_MS);
        let now_ms = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap() * 1000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now_ms),
            Some(30_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now_ms),
            Some(0)
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Mon, 23 Nov 2026 13:28:12 GMT"),
            Some(1_795_440_492)
        );
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            // Not the fixed-width time: once read leniently by splitting at ':'.
            "Sun, 06 Nov 1994 08:49:3: GMT",
            "Sun, 06 Nov 1994 8:4:9:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
