//! `createAuthClient` options, read from JSON text (pure).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::client::remote::Metadata;
use crate::error::{Error, Result};
use crate::json::{self, Value};
use crate::refresh::Style;
use crate::verify::Checks;

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
    /// `refresh.logoutUrl` (cookie style): POSTed with credentials on `logout()` so the server
    /// clears its HttpOnly cookie.
    pub logout_url: Option<String>,
}

/// All options of `createAuthClient` but the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The refresh endpoint, if any.
    pub refresh: Option<RefreshOptions>,
    /// `algorithms`, `typ`, `issuer`, `audience`, `leeway`: the same checks as `verifyJwt`.
    pub checks: Checks,
    /// `refreshMargin` in seconds (default 60).
    pub refresh_margin_s: u64,
    /// `persist` (default memory).
    pub persist: Persist,
    /// `crossTab` (default true).
    pub cross_tab: bool,
    /// `clientId`: the OAuth client (refresh, sign-in, ID-token audience).
    pub client_id: Option<String>,
    /// `metadata`: the provider's endpoints given directly (override discovery).
    pub metadata: Metadata,
    /// `accessTokenFormat: 'opaque'`: access tokens are not read (their life is
    /// `expires_in`); identity comes from the verified ID token.
    pub opaque: bool,
    /// `redirectUri`: where sign-in returns (default `location.origin`).
    pub redirect_uri: Option<String>,
    /// `scope`: what sign-in asks for (default `openid offline_access`).
    pub scope: Option<String>,
    /// `dpop: true`: tokens bound to a key of this browser (RFC 9449).
    pub dpop: bool,
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
            checks: Checks::default(),
            refresh_margin_s: DEFAULT_REFRESH_MARGIN_S,
            persist: Persist::Memory,
            cross_tab: true,
            client_id: None,
            metadata: Metadata::default(),
            opaque: false,
            redirect_uri: None,
            scope: None,
            dpop: false,
        };
        for (name, v) in obj.members() {
            if *v == Value::Null || o.checks.read(name, v)? {
                continue;
            }
            match name {
                "refresh" => o.refresh = Some(refresh_options(v)?),
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
                "clientId" => {
                    o.client_id = Some(
                        v.as_str()
                            .filter(|s| !s.is_empty())
                            .ok_or(bad("options.clientId must be a string"))?
                            .into(),
                    )
                }
                "accessTokenFormat" => {
                    o.opaque = match v.as_str() {
                        Some("jwt") => false,
                        Some("opaque") => true,
                        _ => {
                            return Err(bad("options.accessTokenFormat must be 'jwt' or 'opaque'"))
                        }
                    }
                }
                "metadata" => {
                    const BAD: Error =
                        bad("options.metadata must be an object of endpoint URLs (http or https)");
                    o.metadata = Metadata::from_object(v.as_object().ok_or(BAD)?, BAD)?;
                }
                "redirectUri" => {
                    o.redirect_uri = Some(
                        v.as_str()
                            .filter(|s| crate::client::remote::is_http_url(s))
                            .ok_or(bad("options.redirectUri must be an absolute http(s) URL"))?
                            .into(),
                    )
                }
                "scope" => {
                    o.scope = Some(
                        v.as_str()
                            .filter(|s| !s.is_empty())
                            .ok_or(bad("options.scope must be a string"))?
                            .into(),
                    )
                }
                "dpop" => {
                    o.dpop = match v {
                        Value::Bool(b) => *b,
                        _ => return Err(bad("options.dpop must be a boolean")),
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

    /// Settles the refresh endpoint once the key source is known: `refresh.url`, else the
    /// `token_endpoint` of `metadata` or of discovery (`discovering`), else none (`refresh`
    /// given without a URL and none to find is refused). `clientId` and `refresh.clientId`
    /// stand in for each other.
    pub fn resolve_refresh(&mut self, discovering: bool) -> Result<()> {
        let endpoint = self.metadata.token_endpoint.is_some() || discovering;
        if self.refresh.is_none() && endpoint {
            self.refresh = Some(RefreshOptions::default());
        }
        if let Some(r) = self.refresh.as_mut() {
            if r.url.is_empty() && !endpoint {
                return Err(bad("options.refresh.url is required"));
            }
            if r.client_id.is_none() {
                r.client_id.clone_from(&self.client_id);
            } else if self.client_id.is_none() {
                self.client_id.clone_from(&r.client_id);
            }
        }
        Ok(())
    }
}

impl Default for RefreshOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            style: Style::OAuth2,
            client_id: None,
            headers: Vec::new(),
            timeout_ms: DEFAULT_REFRESH_TIMEOUT_MS,
            logout_url: None,
        }
    }
}

fn refresh_options(v: &Value) -> Result<RefreshOptions> {
    let obj = v
        .as_object()
        .ok_or(bad("options.refresh must be an object"))?;
    let mut r = RefreshOptions::default();
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
            "logoutUrl" => {
                r.logout_url = Some(
                    v.as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or(bad("options.refresh.logoutUrl must be a URL string"))?
                        .into(),
                )
            }
            _ => {
                return Err(bad(
                    "unknown option in options.refresh (url, style, clientId, headers, timeoutMs, logoutUrl)",
                ))
            }
        }
    }
    Ok(r)
}

fn headers(v: &Value) -> Result<Vec<(String, String)>> {
    const BAD: Error = bad("options.refresh.headers must be an object of string values");
    let mut out = Vec::new();
    for (k, v) in v.as_object().ok_or(BAD)?.members() {
        out.push((k.to_owned(), v.as_str().ok_or(BAD)?.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn algorithms_and_typ_are_read_as_verify_jwt_reads_them() {
        let o = ClientOptions::from_json(br#"{"algorithms":["PS256"],"typ":"at+jwt"}"#).unwrap();
        assert_eq!(o.checks.algorithms, [crate::key::Alg::Ps256]);
        assert_eq!(o.checks.typ.as_deref(), Some("at+jwt"));
        assert_eq!(
            ClientOptions::from_json(b"{}").unwrap().checks.algorithms,
            crate::key::Alg::ALL
        );
        for bad in [
            &br#"{"algorithms":[]}"#[..],
            br#"{"algorithms":["HS256"]}"#,
            br#"{"algorithms":"RS256"}"#,
            br#"{"typ":""}"#,
        ] {
            assert_eq!(
                ClientOptions::from_json(bad).unwrap_err().code(),
                ErrorCode::Malformed
            );
        }
    }

    #[test]
    fn defaults_and_full_options() {
        let o = ClientOptions::from_json(b"{}").unwrap();
        assert_eq!(
            (
                o.refresh,
                o.checks.leeway_s,
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
                o.checks.issuer.as_deref(),
                o.checks.audience.len(),
                o.checks.leeway_s,
                o.refresh_margin_s
            ),
            (Some("i"), 2, 0, 120)
        );
        assert_eq!((o.persist, o.cross_tab), (Persist::Local, false));
    }

    #[test]
    fn refuses_wrong_options_by_name() {
        for bad in [
            &br#"{"refresh":{"url":"/t","style":"saml"}}"#[..],
            br#"{"refresh":{"url":""}}"#,
            br#"{"clientId":5}"#,
            br#"{"metadata":{"token_endpoint":"/relative"}}"#,
            br#"{"metadata":"https://idp.test"}"#,
            br#"{"refresh":{"url":"/t","timeoutMs":-1}}"#,
            br#"{"refresh":{"url":"/t","headers":{"a":1}}}"#,
            br#"{"refresh":{"url":"/t","retry":1}}"#,
            br#"{"persist":"cookie"}"#,
            br#"{"crossTab":"yes"}"#,
            br#"{"redirectUri":"/cb"}"#,
            br#"{"scope":["openid"]}"#,
            br#"{"leeway":301}"#,
            br#"{"refreshMargin":"60"}"#,
            br#"{"refreshMargin":"Infinity"}"#,
            br#"{"leeway":"NaN"}"#,
            br#"{"audiance":"x"}"#,
            b"[]",
        ] {
            assert_eq!(
                ClientOptions::from_json(bad).unwrap_err().code(),
                ErrorCode::Malformed
            );
        }
    }
}
