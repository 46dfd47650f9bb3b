//! Sign-in with the authorization code flow and PKCE (RFC 6749 §4.1, RFC 7636 S256, OpenID
//! Connect Core §3.1), and logout at the provider (RFC 7009, OpenID Connect RP-Initiated
//! Logout 1.0), as pure functions: the authorization request, the transaction kept across
//! the redirect, the callback's parameters, the code exchange and the logout URLs. The
//! [`super::Core`] decides when each is used; the shell stores, navigates and fetches.
//!
//! What this does NOT check: the tokens the exchange returns (the core verifies them, the ID
//! token with the transaction's `nonce`).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::base64url;
use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Obj, Value};
use crate::refresh::{form_encode, Request};
use crate::sha256::sha256;

use super::remote::is_http_url;

/// How long a transaction waits for its callback: a sign-in takes minutes, an authorization
/// code lives about one (RFC 6749 §4.1.2 says at most ten).
pub const TRANSACTION_MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// Random bytes the shell passes to start a sign-in (`crypto.getRandomValues`): 32 for the
/// PKCE verifier (RFC 7636 §7.1: 256 bits), 16 each for `state` and `nonce`.
pub const RANDOM_BYTES: usize = 64;

/// The scope asked for when neither `loginWithRedirect` nor the options give one: an ID token
/// and a refresh token.
pub const DEFAULT_SCOPE: &str = "openid offline_access";

/// Largest `appState` kept (JSON text): it rides in `sessionStorage` through the redirect.
pub const MAX_APP_STATE_CHARS: usize = 16 * 1024;

/// Parameters of the authorization request that the library sets itself.
const RESERVED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// The callback's parameters, removed from the address bar once read.
const CALLBACK_PARAMS: [&str; 7] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "session_state",
];

const NO_RANDOM: Error = Error::new(
    ErrorCode::Unsupported,
    "sign-in needs crypto.getRandomValues",
);

/// A `loginWithRedirect` request, read from the app's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Where the provider sends the browser back.
    pub redirect_uri: String,
    /// The scope asked for.
    pub scope: String,
    /// More parameters of the authorization request (`audience`, `prompt`, `login_hint`,
    /// `extraParams`), in order.
    pub params: Vec<(String, String)>,
    /// `appState` as JSON text, given back by the callback.
    pub app_state: Option<String>,
}

fn text_of(v: &Value, err: Error) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
        _ => Err(err),
    }
}

impl LoginRequest {
    /// Reads `loginWithRedirect`'s options (`Null`: none) over the client's `redirectUri` and
    /// `scope`; the redirect URI defaults to `origin` (the page's `location.origin`).
    pub fn from_value(
        v: &Value,
        redirect_uri: Option<&str>,
        scope: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Self> {
        const BAD: Error = Error::malformed(
            "loginWithRedirect options must be an object (redirectUri, scope, audience, prompt, loginHint, appState, extraParams)",
        );
        const BAD_URI: Error =
            Error::malformed("redirectUri must be an absolute http(s) URL without a fragment");
        let mut req = Self {
            redirect_uri: String::new(),
            scope: String::from(scope.unwrap_or(DEFAULT_SCOPE)),
            params: Vec::new(),
            app_state: None,
        };
        let mut uri = redirect_uri.map(String::from);
        let empty = json::Object::default();
        let obj = match v {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err(BAD),
        };
        for (name, v) in obj.members() {
            match name {
                "redirectUri" => uri = text_of(v, BAD_URI)?.or(uri),
                "scope" => {
                    if let Some(s) = text_of(v, Error::malformed("scope must be a string"))? {
                        req.scope = s;
                    }
                }
                "audience" | "prompt" | "loginHint" => {
                    let param = match name {
                        "loginHint" => "login_hint",
                        other => other,
                    };
                    let err = Error::malformed("audience, prompt and loginHint must be strings");
                    if let Some(s) = text_of(v, err)? {
                        req.params.push((param.into(), s));
                    }
                }
                "appState" => {
                    let mut text = String::new();
                    json::push_value(&mut text, v);
                    if text.len() > MAX_APP_STATE_CHARS {
                        return Err(Error::malformed("appState is too large (16 KB of JSON)"));
                    }
                    req.app_state = Some(text);
                }
                "extraParams" => {
                    const EXTRA: Error = Error::malformed(
                        "extraParams must be an object of strings that does not set the library's own parameters",
                    );
                    match v {
                        Value::Null => {}
                        Value::Object(extra) => {
                            for (k, v) in extra.members() {
                                let Value::String(s) = v else {
                                    return Err(EXTRA);
                                };
                                if k.is_empty() || RESERVED.contains(&k) {
                                    return Err(EXTRA);
                                }
                                req.params.push((k.into(), s.clone()));
                            }
                        }
                        _ => return Err(EXTRA),
                    }
                }
                _ => return Err(BAD),
            }
        }
        req.redirect_uri = uri
            .or_else(|| origin.map(String::from))
            .filter(|u| is_http_url(u))
            .ok_or(BAD_URI)?;
        Ok(req)
    }

    /// Whether an ID token is asked for (OpenID Connect): the scope has `openid`.
    pub fn openid(&self) -> bool {
        self.scope.split(' ').any(|s| s == "openid")
    }
}

/// What a sign-in keeps in `sessionStorage` across the redirect: single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The PKCE `code_verifier` (43 characters).
    pub verifier: String,
    /// The `state` sent, which the callback must bring back.
    pub state: String,
    /// The OpenID Connect `nonce` the ID token must carry (`None` without `openid`).
    pub nonce: Option<String>,
    /// The `redirect_uri` sent: the code exchange repeats it.
    pub redirect_uri: String,
    /// `appState` (JSON text).
    pub app_state: Option<String>,
    /// When the sign-in began (wall clock, ms: it survives the page change).
    pub created_ms: u64,
}

impl Transaction {
    /// A new transaction from [`RANDOM_BYTES`] random bytes (`unsupported` without them).
    pub fn new(random: &[u8], req: &LoginRequest, now_ms: u64) -> Result<Self> {
        if random.len() != RANDOM_BYTES || random.iter().all(|b| *b == 0) {
            return Err(NO_RANDOM);
        }
        let (verifier, rest) = random.split_at(32);
        let (state, nonce) = rest.split_at(16);
        Ok(Self {
            verifier: base64url::encode(verifier),
            state: base64url::encode(state),
            nonce: req.openid().then(|| base64url::encode(nonce)),
            redirect_uri: req.redirect_uri.clone(),
            app_state: req.app_state.clone(),
            created_ms: now_ms,
        })
    }

    /// The authorization request URL at `endpoint` (RFC 6749 §4.1.1, RFC 7636 §4.3).
    pub fn authorize_url(&self, endpoint: &str, client_id: &str, req: &LoginRequest) -> String {
        let challenge = base64url::encode(&sha256(self.verifier.as_bytes()));
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &req.scope),
            ("state", &self.state),
        ];
        if let Some(n) = &self.nonce {
            params.push(("nonce", n));
        }
        params.push(("code_challenge", &challenge));
        params.push(("code_challenge_method", "S256"));
        params.extend(req.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        with_query(endpoint, &params)
    }

    /// The code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5): a public client names itself.
    pub fn code_request(&self, code: &str, client_id: &str) -> Request {
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("client_id", client_id),
            ("code_verifier", &self.verifier),
        ]);
        Request {
            content_type: "application/x-www-form-urlencoded",
            body,
            with_credentials: false,
        }
    }

    /// Older than [`TRANSACTION_MAX_AGE_MS`] at `now_ms`, or from the future (a clock set
    /// back by more than that: the transaction cannot be dated).
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.created_ms) > TRANSACTION_MAX_AGE_MS
            || self.created_ms.saturating_sub(now_ms) > TRANSACTION_MAX_AGE_MS
    }

    /// The stored text.
    pub fn to_json(&self) -> String {
        let o = Obj::new()
            .str("v", &self.verifier)
            .str("s", &self.state)
            .opt_str("n", self.nonce.as_deref())
            .str("r", &self.redirect_uri)
            .num("t", self.created_ms);
        match &self.app_state {
            Some(a) => o.raw("a", a),
            None => o,
        }
        .finish()
    }

    /// Reads stored text; `None` for anything else.
    pub fn from_json(text: &str) -> Option<Self> {
        let obj = json::parse_object(text.as_bytes(), "").ok()?;
        let text = |name: &str| obj.get(name).and_then(Value::as_str).map(String::from);
        Some(Self {
            verifier: text("v")?,
            state: text("s")?,
            nonce: match obj.get("n") {
                None => None,
                Some(v) => Some(v.as_str()?.into()),
            },
            redirect_uri: text("r")?,
            app_state: obj.get("a").map(|v| {
                let mut s = String::new();
                json::push_value(&mut s, v);
                s
            }),
            created_ms: obj.get("t")?.as_whole(u64::MAX)?,
        })
    }
}

/// What a callback URL carries (RFC 6749 §4.1.2, RFC 9207), read from its query, or from its
/// fragment when the query has none of it (`response_mode=fragment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Callback {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// A parameter came twice (RFC 6749 §3.1: MUST NOT): the callback is refused.
    pub repeated: bool,
    /// The URL without the callback's parameters, for the address bar.
    pub clean_url: String,
}

impl Callback {
    /// Reads a callback URL.
    pub fn read(url: &str) -> Self {
        let (base, fragment) = match url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (url, None),
        };
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut cb = Self::default();
        let from_query = query.is_some_and(|q| cb.take(q));
        let mut kept_fragment = fragment.map(String::from);
        if !from_query {
            if let Some(f) = fragment {
                if cb.take(f) {
                    kept_fragment = Some(without_callback_params(f));
                }
            }
        }
        let mut clean = String::from(path);
        let kept_query = query.map(without_callback_params).unwrap_or_default();
        if !kept_query.is_empty() {
            clean.push('?');
            clean.push_str(&kept_query);
        }
        if let Some(f) = kept_fragment.filter(|f| !f.is_empty()) {
            clean.push('#');
            clean.push_str(&f);
        }
        cb.clean_url = clean;
        cb
    }

    /// Reads the callback's parameters of `part`; false when it has none.
    fn take(&mut self, part: &str) -> bool {
        let mut found = false;
        for pair in part.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "code" => &mut self.code,
                "state" => &mut self.state,
                "iss" => &mut self.iss,
                "error" => &mut self.error,
                "error_description" => &mut self.error_description,
                _ => continue,
            };
            found = true;
            if slot.is_some() {
                self.repeated = true;
            }
            *slot = Some(form_decode(v));
        }
        found
    }
}

fn without_callback_params(part: &str) -> String {
    let mut out = String::new();
    for pair in part.split('&').filter(|p| !p.is_empty()) {
        let k = pair.split_once('=').map_or(pair, |(k, _)| k);
        if CALLBACK_PARAMS.contains(&k) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(pair);
    }
    out
}

/// The end-session URL (OpenID Connect RP-Initiated Logout 1.0 §2).
pub fn end_session_url(
    endpoint: &str,
    id_token: Option<&str>,
    client_id: Option<&str>,
    return_to: &str,
) -> String {
    let mut params = Vec::new();
    if let Some(t) = id_token {
        params.push(("id_token_hint", t));
    }
    if let Some(c) = client_id {
        params.push(("client_id", c));
    }
    params.push(("post_logout_redirect_uri", return_to));
    with_query(endpoint, &params)
}

/// The revocation request (RFC 7009 §2.1) for a refresh token.
pub fn revocation_request(refresh_token: &str, client_id: Option<&str>) -> Request {
    let mut params = vec![
        ("token", refresh_token),
        ("token_type_hint", "refresh_token"),
    ];
    if let Some(c) = client_id {
        params.push(("client_id", c));
    }
    Request {
        content_type: "application/x-www-form-urlencoded",
        body: form(&params),
        with_credentials: false,
    }
}

fn form(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        form_encode(&mut out, k);
        out.push('=');
        form_encode(&mut out, v);
    }
    out
}

/// `endpoint` with `params` added to its query (an endpoint may have one: OpenID Connect
/// Discovery §3 lets it, and it is kept).
fn with_query(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut url = String::from(endpoint);
    if !endpoint.contains('?') {
        url.push('?');
    } else if !endpoint.ends_with('?') && !endpoint.ends_with('&') {
        url.push('&');
    }
    url.push_str(&form(params));
    url
}

/// `application/x-www-form-urlencoded` decoding of one value; a broken escape or a byte
/// sequence that is not UTF-8 is kept as written.
fn form_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| String::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random() -> Vec<u8> {
        (1..=64).collect()
    }

    fn request() -> LoginRequest {
        LoginRequest::from_value(&Value::Null, None, None, Some("https://app.test")).unwrap()
    }

    #[test]
    fn rfc7636_appendix_b_challenge() {
        // RFC 7636 Appendix B: this verifier has this S256 challenge.
        let tx = Transaction {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            state: "s".into(),
            nonce: None,
            redirect_uri: "https://app.test/cb".into(),
            app_state: None,
            created_ms: 0,
        };
        let url = tx.authorize_url("https://idp.test/authorize", "c", &request());
        assert!(
            url.contains("code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"),
            "{url}"
        );
    }

    #[test]
    fn authorization_request_carries_pkce_state_and_nonce() {
        let opts = json::parse(
            br#"{"audience":"api","loginHint":"a b@c","appState":{"to":"/x","n":[1,2]},"extraParams":{"ui_locales":"fr"}}"#,
            "",
        )
        .unwrap();
        let req =
            LoginRequest::from_value(&opts, Some("https://app.test/cb?x=1"), None, None).unwrap();
        let tx = Transaction::new(&random(), &req, 5).unwrap();
        assert_eq!(tx.verifier.len(), 43);
        assert_eq!(
            (tx.state.len(), tx.nonce.as_deref().map(str::len)),
            (22, Some(22))
        );
        let url = tx.authorize_url("https://idp.test/auth?tenant=t", "my app", &req);
        let expected = [
            "https://idp.test/auth?tenant=t&response_type=code&client_id=my+app",
            "&redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Fx%3D1&scope=openid+offline_access",
        ];
        assert!(url.starts_with(&expected.concat()), "{url}");
        assert!(url.contains(&["&state=", &tx.state, "&nonce="].concat()));
        assert!(
            url.ends_with("&audience=api&login_hint=a+b%40c&ui_locales=fr"),
            "{url}"
        );
        assert_eq!(tx.app_state.as_deref(), Some(r#"{"to":"/x","n":[1,2]}"#));
        // Stored and read back whole.
        assert_eq!(Transaction::from_json(&tx.to_json()), Some(tx.clone()));
        // Without openid, no nonce.
        let opts = json::parse(br#"{"scope":"api:read"}"#, "").unwrap();
        let plain =
            LoginRequest::from_value(&opts, None, None, Some("http://127.0.0.1:1")).unwrap();
        let tx = Transaction::new(&random(), &plain, 5).unwrap();
        assert_eq!(tx.nonce, None);
        assert!(!tx
            .authorize_url("https://i/a", "c", &plain)
            .contains("nonce="));
    }

    #[test]
    fn login_options_are_refused_by_name() {
        for bad in [
            &br#"{"redirectUri":"/relative"}"#[..],
            br#"{"redirectUri":"https://app.test/#frag"}"#,
            br#"{"scope":5}"#,
            br#"{"prompt":true}"#,
            br#"{"extraParams":{"state":"mine"}}"#,
            br#"{"extraParams":{"code_challenge":"x"}}"#,
            br#"{"extraParams":{"a":1}}"#,
            br#"{"redirect_uri":"https://x.test"}"#,
            b"[]",
        ] {
            let v = json::parse(bad, "").unwrap();
            let e = LoginRequest::from_value(&v, None, None, Some("https://app.test")).unwrap_err();
            assert_eq!(
                e.code(),
                ErrorCode::Malformed,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // No redirect URI at all (no location.origin: a worker).
        assert!(LoginRequest::from_value(&Value::Null, None, None, None).is_err());
        let big = ["{\"appState\":\"", &"x".repeat(MAX_APP_STATE_CHARS), "\"}"].concat();
        let v = json::parse(big.as_bytes(), "").unwrap();
        assert!(LoginRequest::from_value(&v, None, None, Some("https://a.test")).is_err());
    }

    #[test]
    fn no_randomness_is_unsupported() {
        let req = request();
        for bad in [vec![], vec![0u8; RANDOM_BYTES], vec![1u8; 63]] {
            assert_eq!(
                Transaction::new(&bad, &req, 0).unwrap_err().code(),
                ErrorCode::Unsupported
            );
        }
    }

    #[test]
    fn callbacks_are_read_and_cleaned() {
        let cb = Callback::read(
            "https://app.test/cb?x=1&code=a%2Bb+c&state=S&iss=https%3A%2F%2Fidp.test#top",
        );
        assert_eq!(cb.code.as_deref(), Some("a+b c"));
        assert_eq!(cb.state.as_deref(), Some("S"));
        assert_eq!(cb.iss.as_deref(), Some("https://idp.test"));
        assert!(!cb.repeated);
        assert_eq!(cb.clean_url, "https://app.test/cb?x=1#top");
        let cb = Callback::read(
            "https://app.test/?error=access_denied&error_description=no%20way&state=S",
        );
        assert_eq!(
            (cb.error.as_deref(), cb.error_description.as_deref()),
            (Some("access_denied"), Some("no way"))
        );
        assert_eq!(cb.clean_url, "https://app.test/");
        // response_mode=fragment
        let cb = Callback::read("https://app.test/p?keep=1#code=c&state=S&view=2");
        assert_eq!(
            (cb.code.as_deref(), cb.clean_url.as_str()),
            (Some("c"), "https://app.test/p?keep=1#view=2")
        );
        assert!(Callback::read("https://app.test/?state=a&state=b").repeated);
        let none = Callback::read("https://app.test/page");
        assert_eq!(
            (none.state, none.code, none.clean_url.as_str()),
            (None, None, "https://app.test/page")
        );
        // Broken escapes and non-UTF-8 are kept as written.
        assert_eq!(
            Callback::read("https://a/?state=%zz%").state.as_deref(),
            Some("%zz%")
        );
        assert_eq!(
            Callback::read("https://a/?state=%ff").state.as_deref(),
            Some("%ff")
        );
    }

    #[test]
    fn code_exchange_and_logout_requests() {
        let tx = Transaction::new(&random(), &request(), 0).unwrap();
        let r = tx.code_request("the code", "c");
        assert_eq!(
            r.body,
            [
                "grant_type=authorization_code&code=the+code&redirect_uri=https%3A%2F%2Fapp.test",
                "&client_id=c&code_verifier=",
                &tx.verifier
            ]
            .concat()
        );
        assert_eq!(
            revocation_request("r/t", Some("c")).body,
            "token=r%2Ft&token_type_hint=refresh_token&client_id=c"
        );
        assert_eq!(
            end_session_url("https://idp.test/end", Some("i.d.t"), Some("c"), "https://app.test/bye"),
            "https://idp.test/end?id_token_hint=i.d.t&client_id=c&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2Fbye"
        );
    }

    #[test]
    fn transactions_expire_both_ways_and_refuse_junk() {
        let tx = Transaction::new(&random(), &request(), 1_000_000_000).unwrap();
        assert!(!tx.expired(1_000_000_000 + TRANSACTION_MAX_AGE_MS));
        assert!(tx.expired(1_000_000_001 + TRANSACTION_MAX_AGE_MS));
        assert!(tx.expired(1_000_000_000 - TRANSACTION_MAX_AGE_MS - 1));
        for junk in [
            "",
            "{}",
            "[]",
            r#"{"v":"a","s":"b","r":"c"}"#,
            r#"{"v":1,"s":"b","r":"c","t":1}"#,
        ] {
            assert_eq!(Transaction::from_json(junk), None, "{junk}");
        }
    }
}
