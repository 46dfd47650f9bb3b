//! Where the client's keys and endpoints come from: a key given by the app, a JWKS URL that
//! is read and re-read, or OpenID Connect discovery (`${issuer}/.well-known/openid-configuration`).
//!
//! Pure: it decides what to fetch and when, and reads what came back; the core sends the
//! requests ([`crate::client::Effect::Send`] with `GET`) and holds back the inputs that need
//! the answers, as it does for signatures. Rules (SPEC §2 "Keys rotate"):
//! - a token whose `kid` is not in the set read causes one re-read, at most one per
//!   [`JWKS_COOLDOWN_MS`]; more such tokens meanwhile are `no_matching_key` at once;
//! - a set older than [`JWKS_MAX_AGE_MS`] is read again before it is used; if that fails, the
//!   old set is used (its keys were the provider's a few minutes ago);
//! - a failed read is transient (`network`): never a reason to end a session.
//!
//! Trust: the discovery document is the provider's only if its `issuer` is exactly the
//! configured one (OpenID Connect Discovery §4.3, RFC 8414 §3.3); JWKS and discovery are read
//! as strict JSON; header `jku`/`x5u` are never fetched (only the configured URLs are).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Value};
use crate::key::KeySet;
use alloc::rc::Rc;

/// At most one re-read of the JWKS per 30 s for unknown `kid`s: a key rotation needs one, a
/// stream of forged `kid`s must not turn into a stream of requests.
pub const JWKS_COOLDOWN_MS: u64 = 30_000;

/// The set is read again after 10 minutes: a key the provider withdrew stops being trusted.
pub const JWKS_MAX_AGE_MS: u64 = 600_000;

/// Timeout of a JWKS or discovery request: the inputs waiting for it wait no longer.
pub const FETCH_TIMEOUT_MS: u64 = 10_000;

/// The path of the discovery document under the issuer (OpenID Connect Discovery §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The `publicKey` option as the shell passes it.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWK, JWKS or PEM given by the app.
    Given(KeySet),
    /// The URL of a JWKS (a string starting with `https://` or `http://`, or a `URL`).
    Url(String),
    /// No key: from discovery (needs `issuer`) or `metadata.jwks_uri`.
    Absent,
}

impl KeySource {
    /// A key string: a JWKS URL if it starts with `https://` or `http://`, else a PEM.
    pub fn from_text(text: &str) -> Result<Self> {
        if is_http_url(text) {
            Ok(Self::Url(text.into()))
        } else {
            KeySet::from_pem(text).map(Self::Given)
        }
    }
}

/// An absolute `https://` or `http://` URL (http for local and development providers).
pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.contains('#')
            && r.bytes().all(|b| b > b' ' && b < 0x7f)
    })
}

/// The provider's endpoints: given (`metadata`) or discovered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `issuer` (discovery only).
    pub issuer: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `token_endpoint`: the refresh URL unless `refresh.url` is given.
    pub token_endpoint: Option<String>,
    /// `authorization_endpoint` (sign-in).
    pub authorization_endpoint: Option<String>,
    /// `end_session_endpoint` (logout at the provider).
    pub end_session_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): the sign-in callback must
    /// carry `iss`.
    pub iss_parameter: bool,
}

impl Metadata {
    /// Reads the endpoints of a metadata object (the `metadata` option or a discovery
    /// document); other members are ignored. Each must be an http(s) URL string when present.
    pub fn from_object(obj: &json::Object, err: Error) -> Result<Self> {
        let url = |name: &str| -> Result<Option<String>> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if is_http_url(s) => Ok(Some(s.clone())),
                Some(_) => Err(err),
            }
        };
        Ok(Self {
            issuer: obj.get_str("issuer", err)?.map(String::from),
            jwks_uri: url("jwks_uri")?,
            token_endpoint: url("token_endpoint")?,
            authorization_endpoint: url("authorization_endpoint")?,
            end_session_endpoint: url("end_session_endpoint")?,
            revocation_endpoint: url("revocation_endpoint")?,
            iss_parameter: match obj.get("authorization_response_iss_parameter_supported") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(err),
            },
        })
    }

    /// Fills what `self` lacks from `other`.
    fn or(self, other: &Self) -> Self {
        let pick = |a: Option<String>, b: &Option<String>| a.or_else(|| b.clone());
        Self {
            issuer: pick(self.issuer, &other.issuer),
            jwks_uri: pick(self.jwks_uri, &other.jwks_uri),
            token_endpoint: pick(self.token_endpoint, &other.token_endpoint),
            authorization_endpoint: pick(
                self.authorization_endpoint,
                &other.authorization_endpoint,
            ),
            end_session_endpoint: pick(self.end_session_endpoint, &other.end_session_endpoint),
            revocation_endpoint: pick(self.revocation_endpoint, &other.revocation_endpoint),
            iss_parameter: self.iss_parameter || other.iss_parameter,
        }
    }
}

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The discovery document.
    Discovery,
    /// The JWKS.
    Jwks,
}

/// How a fetch ended, as the shell reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// An HTTP answer.
    Answer {
        /// Status.
        status: u16,
        /// Body text.
        body: String,
    },
    /// No answer (network error, `timeout`).
    Failed {
        /// The timeout aborted it.
        timeout: bool,
    },
}

/// The state of the keys and endpoints. Cheap to clone (the key set is shared).
#[derive(Debug, Clone)]
pub struct Remote {
    /// A key the app gave: nothing is fetched.
    fixed: Option<Rc<KeySet>>,
    /// The discovery URL, when the endpoints come from discovery.
    discovery_url: Option<String>,
    /// The configured issuer the discovery document must name.
    issuer: Option<String>,
    /// Given endpoints (`metadata`, a JWKS URL), then the discovered ones.
    metadata: Metadata,
    discovered: bool,
    /// The JWKS read last, and when (monotonic ms).
    set: Option<(Rc<KeySet>, u64)>,
    /// When a fetch was last started, per kind (monotonic ms).
    tried_discovery: Option<u64>,
    tried_jwks: Option<u64>,
    /// When an unknown `kid` last caused a re-read (monotonic ms): the cooldown counts from
    /// there, so a rotation right after the first read is still seen at once.
    reread: Option<u64>,
    /// Why the last fetch failed, if it did.
    failure: Option<Error>,
    /// The fetch in flight: (request id, kind).
    fetching: Option<(u64, Fetch)>,
    /// A fetch found needed while an input ran.
    wanted: Option<Fetch>,
}

const NO_KEYS: Error = Error::new(
    ErrorCode::Network,
    "the provider's keys could not be read (JWKS or discovery request failed)",
);

impl Remote {
    /// The key state for `source`, the `metadata` option and `issuer`. Fails `bad_key` when
    /// there is no way to get a key (no key, no `metadata.jwks_uri`, no `issuer`).
    pub fn new(source: KeySource, metadata: Metadata, issuer: Option<&str>) -> Result<Self> {
        let mut r = Self {
            fixed: None,
            discovery_url: None,
            issuer: issuer.map(String::from),
            metadata,
            discovered: false,
            set: None,
            tried_discovery: None,
            tried_jwks: None,
            reread: None,
            failure: None,
            fetching: None,
            wanted: None,
        };
        match source {
            KeySource::Given(set) => r.fixed = Some(Rc::new(set)),
            KeySource::Url(url) => r.metadata.jwks_uri = Some(url),
            KeySource::Absent if r.metadata.jwks_uri.is_some() => {}
            KeySource::Absent => {
                let Some(iss) = issuer else {
                    return Err(Error::bad_key(
                        "publicKey is required (a JWK, JWKS, PEM or JWKS URL), or issuer for discovery",
                    ));
                };
                if !is_http_url(iss) {
                    return Err(Error::malformed(
                        "options.issuer must be an https URL for discovery",
                    ));
                }
                let mut url = String::from(iss.strip_suffix('/').unwrap_or(iss));
                url.push_str(DISCOVERY_PATH);
                r.discovery_url = Some(url);
            }
        }
        Ok(r)
    }

    /// The key the app gave, if it gave one.
    pub fn fixed(&self) -> Option<&KeySet> {
        self.fixed.as_deref()
    }

    /// The endpoints known now (given, then discovered).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// A fetch was found needed by the input being run (it will be held back for it).
    pub fn fetch_wanted(&self) -> bool {
        self.wanted.is_some()
    }

    /// Discovery is configured and its document not read yet.
    pub fn awaits_discovery(&self) -> bool {
        self.discovery_url.is_some() && !self.discovered
    }

    /// A fetch is in flight: inputs wait for it.
    pub fn waiting(&self) -> bool {
        self.fetching.is_some()
    }

    /// Whether `id` is the fetch in flight.
    pub fn is_fetch(&self, id: u64) -> bool {
        self.fetching.is_some_and(|(f, _)| f == id)
    }

    /// The fetch needed since the last call, if any: `(kind, url)`.
    pub fn take_wanted(&mut self) -> Option<(Fetch, String)> {
        let kind = self.wanted.take()?;
        let url = match kind {
            Fetch::Discovery => self.discovery_url.clone(),
            Fetch::Jwks => self.metadata.jwks_uri.clone(),
        }?;
        Some((kind, url))
    }

    /// The fetch of `kind` was sent as request `id` at `now_ms`.
    pub fn sent(&mut self, id: u64, kind: Fetch, now_ms: u64) {
        self.fetching = Some((id, kind));
        *self.tried(kind) = Some(now_ms);
    }

    /// Forgets the fetch in flight (dispose, or the rounds ran out): its id, to abort.
    pub fn abandon(&mut self) -> Option<u64> {
        self.wanted = None;
        self.fetching.take().map(|(id, _)| id)
    }

    fn tried(&mut self, kind: Fetch) -> &mut Option<u64> {
        match kind {
            Fetch::Discovery => &mut self.tried_discovery,
            Fetch::Jwks => &mut self.tried_jwks,
        }
    }

    fn may_fetch(&self, kind: Fetch, now_ms: u64) -> bool {
        let tried = match kind {
            Fetch::Discovery => self.tried_discovery,
            Fetch::Jwks => self.tried_jwks,
        };
        self.fetching.is_none()
            && tried.is_none_or(|t| now_ms.saturating_sub(t) >= JWKS_COOLDOWN_MS)
    }

    /// The discovery document is needed (to send a refresh): wants it if it is still to be
    /// read and a read is allowed now (none failed within the cooldown).
    pub fn want_discovery(&mut self, now_ms: u64) {
        if self.awaits_discovery() && self.may_fetch(Fetch::Discovery, now_ms) {
            self.wanted = Some(Fetch::Discovery);
        }
    }

    /// The key set to verify a token with at `now_ms`, or why there is none yet:
    /// [`crate::client::signatures::PENDING`] when a fetch is wanted (the input is held back
    /// until it answers), `network` when the keys cannot be read now.
    pub fn keys(&mut self, now_ms: u64) -> Result<Rc<KeySet>> {
        if let Some(set) = &self.fixed {
            return Ok(Rc::clone(set));
        }
        if self.fetching.is_some() {
            return Err(crate::client::signatures::PENDING);
        }
        if self.awaits_discovery() {
            if self.may_fetch(Fetch::Discovery, now_ms) {
                self.wanted = Some(Fetch::Discovery);
                return Err(crate::client::signatures::PENDING);
            }
            return Err(self.failure.unwrap_or(NO_KEYS));
        }
        match &self.set {
            Some((set, read)) if now_ms.saturating_sub(*read) < JWKS_MAX_AGE_MS => {
                Ok(Rc::clone(set))
            }
            // Stale or never read: read it (again) first, if allowed now.
            stale => {
                if self.may_fetch(Fetch::Jwks, now_ms) {
                    self.wanted = Some(Fetch::Jwks);
                    return Err(crate::client::signatures::PENDING);
                }
                match stale {
                    Some((set, _)) => Ok(Rc::clone(set)),
                    None => Err(self.failure.unwrap_or(NO_KEYS)),
                }
            }
        }
    }

    /// A token's `kid` matched no key of the set read: re-read it once, if allowed now
    /// ([`crate::client::signatures::PENDING`]: the input waits for it). `network` when the
    /// last read failed (the set may be outdated: not the token's fault); `Ok` when the set
    /// is current, so the key is truly not the provider's.
    pub fn unknown_kid(&mut self, now_ms: u64) -> Result<()> {
        if self.fixed.is_some() {
            return Ok(());
        }
        let cooled = self
            .reread
            .is_none_or(|t| now_ms.saturating_sub(t) >= JWKS_COOLDOWN_MS);
        if self.fetching.is_none() && cooled {
            self.reread = Some(now_ms);
            self.wanted = Some(Fetch::Jwks);
            return Err(crate::client::signatures::PENDING);
        }
        self.failure.map_or(Ok(()), Err)
    }

    /// Reads the answer to the fetch `id` at `now_ms`. A failure keeps what was known.
    pub fn answered(&mut self, id: u64, fetched: Fetched, now_ms: u64) {
        let Some((_, kind)) = self.fetching.take().filter(|(f, _)| *f == id) else {
            return;
        };
        let result = match fetched {
            Fetched::Failed { timeout: true } => Err(Error::new(
                ErrorCode::Network,
                "the JWKS or discovery request timed out",
            )),
            Fetched::Failed { timeout: false } => Err(NO_KEYS),
            Fetched::Answer { status: 200, body } => match kind {
                Fetch::Jwks => read_jwks(&body).map(|set| {
                    self.set = Some((Rc::new(set), now_ms));
                }),
                Fetch::Discovery => self.read_discovery(&body),
            },
            Fetched::Answer { .. } => Err(Error::new(
                ErrorCode::Network,
                "the JWKS or discovery endpoint did not answer 200",
            )),
        };
        self.failure = result.err();
    }

    fn read_discovery(&mut self, body: &str) -> Result<()> {
        const BAD: Error = Error::new(
            ErrorCode::Network,
            "the discovery document is not a JSON object with http(s) endpoint URLs",
        );
        let obj = json::parse_object(body.as_bytes(), "discovery").map_err(|_| BAD)?;
        let doc = Metadata::from_object(&obj, BAD)?;
        if doc.issuer.is_none() || doc.issuer != self.issuer {
            return Err(Error::new(
                ErrorCode::Network,
                "the discovery document names another issuer",
            ));
        }
        if doc.jwks_uri.is_none() && self.metadata.jwks_uri.is_none() {
            return Err(Error::new(
                ErrorCode::Network,
                "the discovery document has no jwks_uri",
            ));
        }
        self.metadata = core::mem::take(&mut self.metadata).or(&doc);
        self.discovered = true;
        // Read the keys at once on the next need.
        self.tried_jwks = None;
        Ok(())
    }
}

/// A JWKS answer: strict JSON with a `keys` array (a bare JWK is not a JWKS).
fn read_jwks(body: &str) -> Result<KeySet> {
    const BAD: Error = Error::new(
        ErrorCode::Network,
        "the JWKS is not a JSON object with a keys array",
    );
    let obj = json::parse_object(body.as_bytes(), "jwks").map_err(|_| BAD)?;
    if !matches!(obj.get("keys"), Some(Value::Array(_))) || obj.get("kty").is_some() {
        return Err(BAD);
    }
    KeySet::from_json(body.as_bytes()).map_err(|_| BAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::signatures::PENDING;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn url_source() -> Remote {
        Remote::new(
            KeySource::Url("https://idp.test/jwks".into()),
            Metadata::default(),
            None,
        )
        .unwrap()
    }

    fn fetch(r: &mut Remote, now: u64) -> (Fetch, String) {
        let w = r.take_wanted().expect("a fetch is wanted");
        r.sent(7, w.0, now);
        w
    }

    #[test]
    fn urls() {
        for ok in [
            "https://a.test/x",
            "http://127.0.0.1:8787/.well-known/jwks.json",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "https://",
            "ftp://a",
            "https:///x",
            "https://a b",
            "https://a/#x",
            "/jwks",
            "-----BEGIN",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert!(matches!(
            KeySource::from_text("https://a.test/k").unwrap(),
            KeySource::Url(_)
        ));
        assert_eq!(
            KeySource::from_text("hello").unwrap_err().code(),
            ErrorCode::BadKey
        );
    }

    #[test]
    fn reads_the_set_once_then_uses_it_until_it_is_stale() {
        let mut r = url_source();
        assert_eq!(r.keys(0).unwrap_err(), PENDING);
        assert_eq!(
            fetch(&mut r, 0),
            (Fetch::Jwks, "https://idp.test/jwks".into())
        );
        assert_eq!(
            r.keys(1).unwrap_err(),
            PENDING,
            "waits while the fetch is out"
        );
        r.answered(
            7,
            Fetched::Answer {
                status: 200,
                body: JWKS.into(),
            },
            100,
        );
        assert!(r.keys(200).is_ok());
        assert!(r.take_wanted().is_none());
        // Stale after 10 minutes: read again first; if that fails, the old set serves.
        assert_eq!(r.keys(100 + JWKS_MAX_AGE_MS).unwrap_err(), PENDING);
        fetch(&mut r, 100 + JWKS_MAX_AGE_MS);
        r.answered(7, Fetched::Failed { timeout: false }, 100 + JWKS_MAX_AGE_MS);
        assert!(r.keys(101 + JWKS_MAX_AGE_MS).is_ok());
    }

    #[test]
    fn unknown_kids_cost_one_read_per_cooldown() {
        let mut r = url_source();
        r.keys(0).unwrap_err();
        fetch(&mut r, 0);
        r.answered(
            7,
            Fetched::Answer {
                status: 200,
                body: JWKS.into(),
            },
            0,
        );
        // Right after the first read, a rotation is seen at once: one re-read...
        assert_eq!(r.unknown_kid(1_000), Err(PENDING));
        fetch(&mut r, 1_000);
        let jwks = || Fetched::Answer {
            status: 200,
            body: JWKS.into(),
        };
        r.answered(7, jwks(), 1_000);
        // ...then none for the cooldown, however many unknown kids come.
        for t in 1..5 {
            assert_eq!(r.unknown_kid(1_000 + t * 1000), Ok(()));
        }
        assert_eq!(r.unknown_kid(JWKS_COOLDOWN_MS + 999), Ok(()));
        // After a failed re-read, an unknown kid is `network`, not the token's fault.
        assert_eq!(r.unknown_kid(2 * JWKS_COOLDOWN_MS), Err(PENDING));
        fetch(&mut r, 2 * JWKS_COOLDOWN_MS);
        r.answered(7, Fetched::Failed { timeout: true }, 2 * JWKS_COOLDOWN_MS);
        assert_eq!(
            r.unknown_kid(2 * JWKS_COOLDOWN_MS + 1).unwrap_err().code(),
            ErrorCode::Network
        );
    }

    #[test]
    fn a_failed_read_is_network_and_retried_after_the_cooldown() {
        let mut r = url_source();
        r.keys(0).unwrap_err();
        fetch(&mut r, 0);
        r.answered(
            7,
            Fetched::Answer {
                status: 503,
                body: String::new(),
            },
            0,
        );
        assert_eq!(r.keys(10).unwrap_err().code(), ErrorCode::Network);
        assert_eq!(r.keys(JWKS_COOLDOWN_MS).unwrap_err(), PENDING);
        fetch(&mut r, JWKS_COOLDOWN_MS);
        // A bare JWK, bad JSON, duplicate members: not a JWKS.
        for bad in [&JWKS[9..JWKS.len() - 2], "{", r#"{"keys":[],"keys":[]}"#] {
            r.fetching = Some((7, Fetch::Jwks));
            r.answered(
                7,
                Fetched::Answer {
                    status: 200,
                    body: bad.into(),
                },
                0,
            );
            assert_eq!(
                r.failure.map(|e| e.code()),
                Some(ErrorCode::Network),
                "{bad}"
            );
        }
    }

    #[test]
    fn discovery_names_the_issuer_exactly_then_gives_the_jwks_uri() {
        let mut r = Remote::new(
            KeySource::Absent,
            Metadata::default(),
            Some("https://idp.test/"),
        )
        .unwrap();
        assert!(r.awaits_discovery());
        assert_eq!(r.keys(0).unwrap_err(), PENDING);
        assert_eq!(
            fetch(&mut r, 0),
            (
                Fetch::Discovery,
                "https://idp.test/.well-known/openid-configuration".into()
            )
        );
        let doc = |iss: &str| {
            format!(
                r#"{{"issuer":"{iss}","jwks_uri":"https://idp.test/keys","token_endpoint":"https://idp.test/token","scopes_supported":["openid"]}}"#
            )
        };
        r.answered(
            7,
            Fetched::Answer {
                status: 200,
                body: doc("https://idp.test"),
            },
            0,
        );
        assert_eq!(
            r.keys(1).unwrap_err().code(),
            ErrorCode::Network,
            "issuer without the slash is another issuer"
        );
        r.fetching = Some((8, Fetch::Discovery));
        r.answered(
            8,
            Fetched::Answer {
                status: 200,
                body: doc("https://idp.test/"),
            },
            0,
        );
        assert!(!r.awaits_discovery());
        assert_eq!(
            r.metadata().token_endpoint.as_deref(),
            Some("https://idp.test/token")
        );
        assert_eq!(r.keys(2).unwrap_err(), PENDING);
        assert_eq!(
            r.take_wanted(),
            Some((Fetch::Jwks, "https://idp.test/keys".into()))
        );
    }

    #[test]
    fn given_metadata_overrides_discovery() {
        let given = Metadata {
            token_endpoint: Some("https://mine.test/token".into()),
            ..Metadata::default()
        };
        let mut r = Remote::new(KeySource::Absent, given, Some("https://idp.test")).unwrap();
        r.keys(0).unwrap_err();
        fetch(&mut r, 0);
        let doc = r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","token_endpoint":"https://idp.test/token"}"#;
        r.answered(
            7,
            Fetched::Answer {
                status: 200,
                body: doc.into(),
            },
            0,
        );
        assert_eq!(
            r.metadata().token_endpoint.as_deref(),
            Some("https://mine.test/token")
        );
        assert_eq!(
            r.metadata().jwks_uri.as_deref(),
            Some("https://idp.test/keys")
        );
        assert!(Remote::new(KeySource::Absent, Metadata::default(), None).is_err());
    }
}
