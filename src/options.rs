//! `createAuthClient` options and the persisted session record, read from JSON text (pure).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, Result};
use crate::json::{self, Object, Value};
use crate::refresh::Style;
use crate::verify::MAX_LEEWAY_S;

/// Default `refresh.timeoutMs`: a refresh that takes longer is aborted and retried.
pub const DEFAULT_REFRESH_TIMEOUT_MS: u64 = 10_000;

/// Default `refreshMargin`, in seconds.
pub const DEFAULT_REFRESH_MARGIN_S: u64 = 60;

/// Largest `refreshMargin` accepted (one day): more is a mistake (seconds vs ms).
pub const MAX_REFRESH_MARGIN_S: u64 = 86_400;

/// Largest `refresh.timeoutMs`: a user waits for a refresh no longer than this.
pub const MAX_REFRESH_TIMEOUT_MS: u64 = 120_000;

/// Where a session survives a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Nowhere (default): a reload needs a new `setSession`.
    Memory,
    /// `sessionStorage`: survives reloads of this tab.
    Session,
    /// `localStorage`: survives reloads and is shared by the origin's tabs.
    Local,
}

/// The refresh endpoint (`refresh.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOptions {
    /// `refresh.url`.
    pub url: String,
    /// `refresh.style` (default `oauth2`).
    pub style: Style,
    /// `refresh.clientId`, sent as `client_id` in `oauth2` style.
    pub client_id: Option<String>,
    /// `refresh.headers`, added to every refresh request.
    pub headers: Vec<(String, String)>,
    /// `refresh.timeoutMs` (default 10 000).
    pub timeout_ms: u64,
}

/// All options of `createAuthClient` but the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The refresh endpoint, if any.
    pub refresh: Option<RefreshOptions>,
    /// `issuer`.
    pub issuer: Option<String>,
    /// `audience`.
    pub audience: Vec<String>,
    /// `leeway` in seconds (default 30).
    pub leeway_s: u64,
    /// `refreshMargin` in seconds (default 60).
    pub refresh_margin_s: u64,
    /// `persist` (default memory).
    pub persist: Persist,
    /// `crossTab` (default true).
    pub cross_tab: bool,
}

const fn bad(message: &'static str) -> Error {
    Error::malformed(message)
}

fn number(v: &Value, max: u64, err: Error) -> Result<u64> {
    v.as_numeric_date().filter(|n| *n <= max).ok_or(err)
}

impl ClientOptions {
    /// Reads the options (without `publicKey`, which the caller takes out). Unknown names and
    /// wrong types are refused with `malformed`, naming the option.
    pub fn from_json(text: &[u8]) -> Result<Self> {
        let obj = json::parse_object(text, "options must be an object")?;
        let mut o = Self {
            refresh: None,
            issuer: None,
            audience: Vec::new(),
            leeway_s: crate::verify::DEFAULT_LEEWAY_S,
            refresh_margin_s: DEFAULT_REFRESH_MARGIN_S,
            persist: Persist::Memory,
            cross_tab: true,
        };
        for (name, v) in obj.members() {
            if *v == Value::Null {
                continue;
            }
            match name {
                "refresh" => o.refresh = Some(refresh_options(v)?),
                "issuer" => {
                    o.issuer = Some(
                        v.as_str()
                            .ok_or(bad("options.issuer must be a string"))?
                            .into(),
                    )
                }
                "audience" => {
                    o.audience = match v {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(a) if !a.is_empty() => a
                            .iter()
                            .map(|x| x.as_str().map(String::from))
                            .collect::<Option<_>>()
                            .ok_or(bad(
                                "options.audience must be a string or an array of strings",
                            ))?,
                        _ => {
                            return Err(bad(
                                "options.audience must be a string or an array of strings",
                            ))
                        }
                    }
                }
                "leeway" => {
                    o.leeway_s = number(
                        v,
                        MAX_LEEWAY_S,
                        bad("options.leeway must be seconds from 0 to 300"),
                    )?
                }
                "refreshMargin" => {
                    o.refresh_margin_s = number(
                        v,
                        MAX_REFRESH_MARGIN_S,
                        bad("options.refreshMargin must be seconds from 0 to 86400"),
                    )?
                }
                "persist" => {
                    o.persist = match v.as_str() {
                        Some("memory") => Persist::Memory,
                        Some("session") => Persist::Session,
                        Some("local") => Persist::Local,
                        _ => {
                            return Err(bad(
                                "options.persist must be 'memory', 'session' or 'local'",
                            ))
                        }
                    }
                }
                "crossTab" => {
                    o.cross_tab = match v {
                        Value::Bool(b) => *b,
                        _ => return Err(bad("options.crossTab must be a boolean")),
                    }
                }
                _ => return Err(bad("unknown option (see createAuthClient options)")),
            }
        }
        Ok(o)
    }
}

fn refresh_options(v: &Value) -> Result<RefreshOptions> {
    let obj = v
        .as_object()
        .ok_or(bad("options.refresh must be an object"))?;
    let mut r = RefreshOptions {
        url: String::new(),
        style: Style::OAuth2,
        client_id: None,
        headers: Vec::new(),
        timeout_ms: DEFAULT_REFRESH_TIMEOUT_MS,
    };
    for (name, v) in obj.members() {
        if *v == Value::Null {
            continue;
        }
        match name {
            "url" => {
                r.url = v
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or(bad("options.refresh.url must be a URL string"))?
                    .into()
            }
            "style" => {
                r.style = v.as_str().and_then(Style::parse).ok_or(bad(
                    "options.refresh.style must be 'oauth2', 'json' or 'cookie'",
                ))?
            }
            "clientId" => {
                r.client_id = Some(
                    v.as_str()
                        .ok_or(bad("options.refresh.clientId must be a string"))?
                        .into(),
                )
            }
            "headers" => r.headers = headers(v)?,
            "timeoutMs" => {
                r.timeout_ms = number(
                    v,
                    MAX_REFRESH_TIMEOUT_MS,
                    bad("options.refresh.timeoutMs must be ms from 1 to 120000"),
                )?
                .max(1)
            }
            _ => {
                return Err(bad(
                    "unknown option in options.refresh (url, style, clientId, headers, timeoutMs)",
                ))
            }
        }
    }
    if r.url.is_empty() {
        return Err(bad("options.refresh.url is required"));
    }
    Ok(r)
}

fn headers(v: &Value) -> Result<Vec<(String, String)>> {
    const BAD: Error = bad("options.refresh.headers must be an object of string values");
    v.as_object()
        .ok_or(BAD)?
        .members()
        .map(|(k, v)| Ok((k.to_owned(), v.as_str().ok_or(BAD)?.to_owned())))
        .collect()
}

/// What is stored for `persist: 'session' | 'local'`: only what is needed to resume. The
/// access token is verified again when read back; a refresh token is stored only in the
/// styles that keep one in JS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The access token.
    pub access_token: String,
    /// The refresh token (not in cookie style).
    pub refresh_token: Option<String>,
    /// Local receipt time (ms).
    pub received_at_ms: u64,
    /// `expires_in` at receipt, if given.
    pub expires_in_s: Option<u64>,
    /// The response's `Date`, if read.
    pub server_date_s: Option<u64>,
}

/// Largest integer a JS number holds exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Version tag of the stored record; a record of another version is ignored.
const RECORD_VERSION: &str = "1";

impl Record {
    /// JSON text for storage.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"v\":");
        s.push_str(RECORD_VERSION);
        push_str_member(&mut s, "at", &self.access_token);
        if let Some(rt) = &self.refresh_token {
            push_str_member(&mut s, "rt", rt);
        }
        push_num_member(&mut s, "received", Some(self.received_at_ms));
        push_num_member(&mut s, "expiresIn", self.expires_in_s);
        push_num_member(&mut s, "date", self.server_date_s);
        s.push('}');
        s
    }

    /// Reads a stored record; `None` for anything that is not one (tampered, other version).
    pub fn from_json(text: &str) -> Option<Self> {
        Self::from_object(&json::parse_object(text.as_bytes(), "").ok()?)
    }

    /// [`Record::from_json`] from a parsed object.
    pub fn from_object(obj: &Object) -> Option<Self> {
        if obj.get("v").and_then(|v| match v {
            Value::Number(n) => Some(n.as_str()),
            _ => None,
        }) != Some(RECORD_VERSION)
        {
            return None;
        }
        let opt_num = |name: &str| match obj.get(name) {
            None => Some(None),
            Some(v) => v.as_numeric_date().map(Some),
        };
        Some(Self {
            access_token: obj.get("at")?.as_str()?.into(),
            refresh_token: match obj.get("rt") {
                None => None,
                Some(v) => Some(v.as_str()?.into()),
            },
            received_at_ms: obj.get("received")?.as_whole(MAX_SAFE_INTEGER)?,
            expires_in_s: opt_num("expiresIn")?,
            server_date_s: opt_num("date")?,
        })
    }
}

fn push_str_member(s: &mut String, name: &str, value: &str) {
    s.push_str(",\"");
    s.push_str(name);
    s.push_str("\":");
    crate::refresh::push_json_string(s, value);
}

fn push_num_member(s: &mut String, name: &str, value: Option<u64>) {
    if let Some(v) = value {
        s.push_str(",\"");
        s.push_str(name);
        s.push_str("\":");
        push_u64(s, v);
    }
}

/// Decimal digits of `v`, without `core::fmt`.
pub(crate) fn push_u64(s: &mut String, v: u64) {
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
    use crate::error::ErrorCode;

    #[test]
    fn defaults_and_full_options() {
        let o = ClientOptions::from_json(b"{}").unwrap();
        assert_eq!(
            (
                o.refresh,
                o.leeway_s,
                o.refresh_margin_s,
                o.persist,
                o.cross_tab
            ),
            (None, 30, 60, Persist::Memory, true)
        );
        let o = ClientOptions::from_json(
            br#"{"refresh":{"url":"/t","style":"json","clientId":"c","headers":{"X-A":"1"},"timeoutMs":500},
                "issuer":"i","audience":["a","b"],"leeway":0,"refreshMargin":120,"persist":"local","crossTab":false}"#,
        )
        .unwrap();
        let r = o.refresh.unwrap();
        assert_eq!(
            (
                r.url.as_str(),
                r.style,
                r.client_id.as_deref(),
                r.timeout_ms
            ),
            ("/t", Style::Json, Some("c"), 500)
        );
        assert_eq!(r.headers, vec![("X-A".to_string(), "1".to_string())]);
        assert_eq!(
            (
                o.issuer.as_deref(),
                o.audience.len(),
                o.leeway_s,
                o.refresh_margin_s
            ),
            (Some("i"), 2, 0, 120)
        );
        assert_eq!((o.persist, o.cross_tab), (Persist::Local, false));
    }

    #[test]
    fn refuses_wrong_options_by_name() {
        for bad in [
            &br#"{"refresh":{}}"#[..],
            br#"{"refresh":{"url":"/t","style":"saml"}}"#,
            br#"{"refresh":{"url":"/t","timeoutMs":-1}}"#,
            br#"{"refresh":{"url":"/t","headers":{"a":1}}}"#,
            br#"{"refresh":{"url":"/t","retry":1}}"#,
            br#"{"persist":"cookie"}"#,
            br#"{"crossTab":"yes"}"#,
            br#"{"leeway":301}"#,
            br#"{"refreshMargin":"60"}"#,
            br#"{"audiance":"x"}"#,
            b"[]",
        ] {
            assert_eq!(
                ClientOptions::from_json(bad).unwrap_err().code(),
                ErrorCode::Malformed
            );
        }
    }

    #[test]
    fn record_round_trip_and_tampering() {
        let r = Record {
            access_token: "a.b.c".into(),
            refresh_token: Some("r\"x".into()),
            received_at_ms: 1_700_000_000_123,
            expires_in_s: Some(300),
            server_date_s: None,
        };
        assert_eq!(Record::from_json(&r.to_json()), Some(r.clone()));
        let no_rt = Record {
            refresh_token: None,
            ..r
        };
        assert_eq!(Record::from_json(&no_rt.to_json()), Some(no_rt));
        for bad in [
            "",
            "{}",
            r#"{"v":2,"at":"x","received":1}"#,
            r#"{"v":1,"at":5,"received":1}"#,
            r#"{"v":1,"at":"x"}"#,
        ] {
            assert_eq!(Record::from_json(bad), None, "{bad}");
        }
    }

    #[test]
    fn digits() {
        for v in [0, 7, 10, 1_700_000_000_123, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
