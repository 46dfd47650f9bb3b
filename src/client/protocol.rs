//! What crosses between the client core and the shell that runs it in a browser: raw
//! [`Input`]s in, I/O [`Effect`]s out, both as JSON text so the boundary needs no glue of its
//! own. The shell translates only: it reads platform facts into inputs and performs effects.
//!
//! # The shell's contract
//!
//! - One core per client. Every input goes through `handle(wall_ms, monotonic_ms, input)`
//!   (`Date.now()`, `performance.now()`), which returns the effects to perform, in order.
//! - Ask `setup()` first: `{"storage":"local"|"session"|null,"key":…,"transaction":…,"keys":[…],
//!   "channel":…|null}` says which storage to use under which key, the `sessionStorage` key of
//!   the sign-in transaction, which BroadcastChannel to join (`null`: none),
//!   and which keys (JWK texts) to import at once: one that does not import is `bad_key`.
//!   Then feed [`Input::Start`] with what storage holds (`null` if nothing) and whether the
//!   channel could be opened.
//! - [`Effect::Send`]: `fetch` it with its `method` (a `GET` has no body) (`AbortController`,
//!   abort after `timeoutMs`), then feed
//!   [`Input::Answer`] (any HTTP status) or [`Input::Failed`] (network error, or `timeout`
//!   when the timer aborted it). Exactly one of them per request, unless [`Effect::Abort`]
//!   came first: then feed nothing. Read storage again when it ends (`stored`).
//! - [`Effect::Lock`]: request the Web Lock `name`, waiting at most `waitMs` and then asking
//!   again with `steal: true`. Feed [`Input::Lock`] `granted: true` when its callback runs
//!   (hold the lock until [`Effect::Unlock`] for that id), `granted: false` when there are no
//!   Web Locks or the request is refused (sandboxed frame, opaque origin). Exactly one input
//!   per lock effect.
//! - [`Effect::Unlock`]: release the lock of that id after `afterMs`.
//! - [`Effect::Store`] / [`Effect::Clear`]: write / remove the storage record; where setup
//!   named no storage, or storage fails, keep it in the shell's memory, and give it back in
//!   [`Input::Start`] when a core is restarted (after a trap).
//! - [`Effect::Post`]: post `data` on the BroadcastChannel; feed each message received as
//!   [`Input::Peer`].
//! - [`Effect::Emit`]: deliver to the app's listeners; [`Effect::Settle`]: settle the call's
//!   promise. [`Effect::State`]: what the client's getters answer from now on.
//!   [`Effect::Fresh`]: `getAccessToken()` may answer `token` without asking until both
//!   clocks pass `forMs` from now.
//! - [`Effect::Verify`]: check a signature of `alg` whose shape the core already checked:
//!   `crypto.subtle.importKey('jwk', jwk, params)` (import each (alg, jwk) once and keep it),
//!   `crypto.subtle.verify(params, key, sig, data)`, with `params` per `alg`: `ES256`
//!   `{name:'ECDSA',namedCurve:'P-256',hash:'SHA-256'}`; `RS256`
//!   `{name:'RSASSA-PKCS1-v1_5',hash:'SHA-256'}`; `PS256`
//!   `{name:'RSA-PSS',hash:'SHA-256',saltLength:32}`. Where `crypto.subtle` is missing, the
//!   verifier module's `signatureVerdict(alg, jwk, data, sig)`. Feed
//!   [`Input::Signature`]: `valid`, `invalid`, `bad_key` (the key did not import: e.g. not on
//!   the curve) or `unavailable` (no way to check). Exactly one per effect. Until the answers
//!   come, the core holds back every input (an input that needs a signature is run again
//!   once the answers are in, at the time of the last one).
//! - [`Effect::Send`] with `keepalive`: `fetch` with `keepalive: true` (a logout's requests
//!   outlive a navigation).
//! - [`Effect::Transaction`]: write or remove the sign-in transaction in `sessionStorage` under
//!   setup's `transaction` key (memory where it fails); pass what it holds in
//!   [`Input::Callback`]. [`Effect::Navigate`]: `location.assign(url)`. [`Effect::Address`]:
//!   `history.replaceState(history.state, '', url)`. [`Effect::Refused`] settles a call like a
//!   failed [`Effect::Settle`], and the `AuthError` gets `error` and `errorDescription`.
//! - [`Effect::Wake`]: (re)arm the one timer to feed [`Input::Wake`] at local time `at`
//!   (`null`: no timer). Feed `Wake` on `visibilitychange`, `pageshow`, `focus` too, and
//!   [`Input::Online`] on `online`.
//!
//! Every value is read as given: the shell passes the app's values (own properties only)
//! without judging them; non-finite numbers arrive as strings and are refused here.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Obj, Object, Value};
use crate::key::Alg;
use crate::session::{CallId, Event};

/// Largest JSON number an input may carry exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// One raw fact from the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The client starts: `{"t":"start","stored":text|null,"channel":bool,"dpop":…}`; with
    /// `dpop: true`, `dpop` is `{"jwk":{…},"random":[32 bytes]}`: the public JWK of the key
    /// the shell keeps and signs proofs with, and random bytes for the proofs' `jti`.
    Start {
        /// The storage record, if any.
        stored: Option<String>,
        /// A BroadcastChannel to the other tabs exists.
        channel: bool,
        /// The DPoP key (`Null` without DPoP).
        dpop: Value,
    },
    /// `setSession(...)`: `{"t":"set","call":n,"accessToken":…,"refreshToken":…,"expiresIn":…,
    /// "idToken":…}` with the app's values as given (absent members are `undefined`).
    SetSession {
        /// The call to settle.
        call: CallId,
        /// The values.
        values: SessionValues,
    },
    /// `getAccessToken()`: `{"t":"get","call":n}`.
    GetToken {
        /// The call to settle.
        call: CallId,
    },
    /// `refresh()`: `{"t":"refresh","call":n,"inListener":bool}`; `inListener` when called
    /// while a `refresh` event is being delivered.
    Refresh {
        /// The call to settle.
        call: CallId,
        /// Called from a `refresh` listener.
        in_listener: bool,
    },
    /// `client.fetch` got `401` `Bearer error="invalid_token"`:
    /// `{"t":"unauthorized","call":n,"token":…}`. Settled with a token to replay with, or
    /// rejected (then the 401 goes to the app).
    Unauthorized {
        /// The call to settle.
        call: CallId,
        /// The access token the request carried.
        token: String,
    },
    /// `logout(options)`: `{"t":"logout","call":n|null,"returnTo":…}`; the call settles once
    /// the provider side is done (revocation answered, navigation begun).
    Logout {
        /// The call to settle, if any.
        call: Option<CallId>,
        /// `returnTo` as given (`Null` when absent).
        return_to: Value,
    },
    /// `loginWithRedirect(options)`: `{"t":"login","call":n,"options":…,"random":[64 bytes]|null,
    /// "origin":s|null}` with `crypto.getRandomValues` bytes and `location.origin`.
    Login {
        /// The call to settle.
        call: CallId,
        /// The app's options as given (`Null` when absent).
        options: Value,
        /// The random bytes (`Null` without `crypto.getRandomValues`).
        random: Value,
        /// `location.origin`, if there is one.
        origin: Option<String>,
    },
    /// `handleRedirectCallback(url)`: `{"t":"callback","call":n,"url":s,"address":s|null,
    /// "transaction":s|null}` with `location.href` and the stored transaction.
    Callback {
        /// The call to settle (with `{"appState":…}`).
        call: CallId,
        /// The callback URL.
        url: String,
        /// `location.href`: when it is the callback URL, the address bar is cleaned.
        address: Option<String>,
        /// The transaction text in `sessionStorage`, if any.
        transaction: Option<String>,
    },
    /// `client.fetch` with DPoP needs a proof for its request:
    /// `{"t":"proof","call":n,"method":s,"url":s,"token":s}`. Settled with the proof's signing
    /// input (`header.payload`) for the shell to sign with the DPoP key. (DPoP builds only.)
    #[cfg(feature = "dpop")]
    Proof {
        /// The call to settle.
        call: CallId,
        /// The request's method.
        method: String,
        /// The request's URL (absolute, as `Request.url` has it).
        url: String,
        /// The access token it carries (`ath`).
        token: String,
    },
    /// `client.fetch` got an answer the core decides on (a `401`, or one carrying
    /// `DPoP-Nonce`): `{"t":"resource","call":n,"url":s,"status":n,"challenge":s|null,
    /// "nonce":s|null,"nonceDone":bool,"refreshDone":bool}` with `WWW-Authenticate` and
    /// `DPoP-Nonce`, and which replays this fetch already made. Settled with `"done"` (give
    /// the answer to the app), `"nonce"` (replay with a new proof) or `"refresh"` (feed
    /// [`Input::Unauthorized`], replay with its token). (DPoP builds only: without DPoP the
    /// shell sends [`Input::Unauthorized`] on `Bearer error="invalid_token"` itself.)
    #[cfg(feature = "dpop")]
    Resource {
        /// The call to settle.
        call: CallId,
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// `WWW-Authenticate`, if readable.
        challenge: Option<String>,
        /// `DPoP-Nonce`, if readable.
        nonce: Option<String>,
        /// This fetch was already replayed with a nonce.
        nonce_done: bool,
        /// This fetch was already replayed after a refresh.
        refresh_done: bool,
    },
    /// The provider side of a logout (never from the shell): revocation, then end-session.
    #[doc(hidden)]
    EndSession(EndSession),
    /// `dispose()`: `{"t":"dispose"}`. Nothing is sent or emitted afterwards.
    Dispose,
    /// The wake timer, `visibilitychange`, `pageshow`, `focus`: `{"t":"wake"}`.
    Wake,
    /// `online`: `{"t":"online"}`.
    Online,
    /// A request ended with an HTTP answer: `{"t":"answer","id":n,"status":n,"retryAfter":s|null,
    /// "date":s|null,"dpopNonce":s|null,"body":s,"stored":s|null}`.
    Answer {
        /// From [`Effect::Send`].
        id: u64,
        /// HTTP status.
        status: u16,
        /// The `Retry-After` header, if readable.
        retry_after: Option<String>,
        /// The `Date` header, if readable (cross-origin only with `Access-Control-Expose-Headers`).
        date: Option<String>,
        /// The `DPoP-Nonce` header, if readable.
        dpop_nonce: Option<String>,
        /// The body text.
        body: String,
        /// The storage record now.
        stored: Option<String>,
    },
    /// A request ended without an answer: `{"t":"failed","id":n,"timeout":bool,"stored":s|null}`.
    Failed {
        /// From [`Effect::Send`].
        id: u64,
        /// The shell's timeout aborted it (else: a network error).
        timeout: bool,
        /// The storage record now.
        stored: Option<String>,
    },
    /// A lock request ended: `{"t":"lock","id":n,"granted":bool,"stored":s|null}`.
    Lock {
        /// From [`Effect::Lock`].
        id: u64,
        /// Held now (else: no Web Locks, or refused).
        granted: bool,
        /// The storage record now.
        stored: Option<String>,
    },
    /// A message from another tab: `{"t":"peer","data":…}` (any JSON value as received).
    Peer(Value),
    /// The answer to [`Effect::Verify`]: `{"t":"signature","id":n,"result":…}`.
    Signature {
        /// From [`Effect::Verify`].
        id: u64,
        /// What the check said.
        verdict: Verdict,
    },
}

/// What a logout leaves to do at the provider once the session ended here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSession {
    /// The `logout()` call, if any.
    pub call: Option<CallId>,
    /// The refresh token to revoke.
    pub refresh_token: Option<String>,
    /// The ID token, for `id_token_hint`.
    pub id_token: Option<String>,
    /// Where to return to (`returnTo`).
    pub return_to: Option<String>,
}

/// `setSession`'s values as the app gave them (`Null` when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionValues {
    /// `accessToken`.
    pub access_token: Value,
    /// `refreshToken`.
    pub refresh_token: Value,
    /// `expiresIn`.
    pub expires_in: Value,
    /// `idToken`.
    pub id_token: Value,
}

/// What a signature check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `valid`: the signature verifies.
    Valid,
    /// `invalid`: it does not.
    Invalid,
    /// `bad_key`: the key did not import (a point not on the curve).
    BadKey,
    /// `unavailable`: nothing could check it (no WebCrypto, the verifier module did not load).
    Unavailable,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `fetch(url, {method, headers, body, credentials})`, aborted after `timeout_ms`.
    Send {
        /// Report with this id.
        id: u64,
        /// `POST` (token requests) or `GET` (JWKS, discovery: no body).
        method: &'static str,
        /// The URL.
        url: String,
        /// Header name/value pairs.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
        /// `credentials: 'include'` (else `'same-origin'`).
        include_credentials: bool,
        /// Abort after this long and report `timeout`.
        timeout_ms: u64,
        /// `keepalive: true`: the request outlives the page (a revocation before navigating).
        keepalive: bool,
        /// A DPoP proof's signing input: sign it with the DPoP key and send the proof in the
        /// `DPoP` header.
        dpop: Option<String>,
    },
    /// Abort request `id`; report nothing for it.
    Abort {
        /// The request.
        id: u64,
    },
    /// Request the Web Lock `name` for `id`: wait at most `wait_ms`, then steal.
    Lock {
        /// Report with this id.
        id: u64,
        /// The lock's name.
        name: String,
        /// Longest wait before stealing.
        wait_ms: u64,
    },
    /// Release the lock held for `id` after `after_ms`.
    Unlock {
        /// The lock.
        id: u64,
        /// Delay, so a result posted to the other tabs reaches them first.
        after_ms: u64,
    },
    /// Write the storage record.
    Store(String),
    /// Remove the storage record.
    Clear,
    /// Write (`Some`) or remove the sign-in transaction in `sessionStorage` under setup's
    /// `transaction` key.
    Transaction(Option<String>),
    /// `location.assign(url)`: to the provider (sign-in, logout) or to `returnTo`.
    Navigate(String),
    /// `history.replaceState(history.state, '', url)`: the callback's parameters leave the
    /// address bar.
    Address(String),
    /// Post on the BroadcastChannel (JSON text of the message object).
    Post(String),
    /// An event for the listeners.
    Emit(Event),
    /// Settle a call: a token (`None` for `setSession`, which resolves with nothing), or an
    /// error.
    Settle {
        /// The call.
        call: CallId,
        /// Its result.
        result: core::result::Result<Option<String>, Error>,
    },
    /// Reject a call with `error` and the provider's OAuth `error` code and description
    /// (`AuthError.error`, `AuthError.errorDescription`).
    Refused {
        /// The call.
        call: CallId,
        /// The error (`login_failed`).
        error: Error,
        /// The provider's `error`.
        provider_error: String,
        /// The provider's `error_description`.
        provider_description: Option<String>,
    },
    /// The getters' answers: `isAuthenticated`, `claims` and `user` (JSON text), `expiresAt`.
    State {
        /// `isAuthenticated`.
        authenticated: bool,
        /// `claims`: the verified payload's JSON text.
        claims: Option<String>,
        /// `user`: the verified ID token's claims (JSON text).
        user: Option<String>,
        /// `expiresAt`, ms since epoch on the local clock.
        expires_at_ms: Option<u64>,
    },
    /// `getAccessToken()` may answer `token` without asking for `for_ms` (0: ask).
    Fresh {
        /// The token.
        token: String,
        /// For how long.
        for_ms: u64,
    },
    /// Arm the timer for local time `at` ms, or none.
    Wake(Option<u64>),
    /// Check an ES256, RS256 or PS256 signature (see the module docs); report
    /// [`Input::Signature`].
    Verify {
        /// Report with this id.
        id: u64,
        /// The algorithm (the JSON member `alg`: `"ES256"`, `"RS256"` or `"PS256"`).
        alg: Alg,
        /// The public key as a JWK without `alg` (JSON text, sent as a string: with `alg`,
        /// the shell's cache key).
        jwk: String,
        /// The signed bytes (`header.payload`, ASCII).
        data: String,
        /// The signature, base64url: 64 bytes `r‖s` (ES256) or the modulus length (RSA).
        sig: String,
    },
}

const BAD_INPUT: Error = Error::new(ErrorCode::Internal, "the shell sent an unreadable input");

fn id_of(obj: &Object, name: &str) -> Result<u64> {
    obj.get(name)
        .and_then(|v| v.as_whole(MAX_SAFE_INTEGER))
        .ok_or(BAD_INPUT)
}

fn opt_text(obj: &Object, name: &str) -> Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(BAD_INPUT),
    }
}

fn status(obj: &Object) -> Result<u16> {
    obj.get("status")
        .and_then(|v| v.as_whole(999))
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(BAD_INPUT)
}

fn flag(obj: &Object, name: &str) -> bool {
    matches!(obj.get(name), Some(Value::Bool(true)))
}

impl Input {
    /// Reads one input. An unreadable one is the shell's bug: `internal`.
    pub fn from_json(text: &str) -> Result<Self> {
        let obj = json::parse_object(text.as_bytes(), "the shell sent an unreadable input")
            .map_err(|_| BAD_INPUT)?;
        let call = || id_of(&obj, "call").map(CallId);
        let member = |name: &str| obj.get(name).cloned().unwrap_or(Value::Null);
        Ok(
            match obj.get("t").and_then(Value::as_str).ok_or(BAD_INPUT)? {
                "start" => Self::Start {
                    stored: opt_text(&obj, "stored")?,
                    channel: flag(&obj, "channel"),
                    dpop: member("dpop"),
                },
                "set" => Self::SetSession {
                    call: call()?,
                    values: SessionValues {
                        access_token: member("accessToken"),
                        refresh_token: member("refreshToken"),
                        expires_in: member("expiresIn"),
                        id_token: member("idToken"),
                    },
                },
                "get" => Self::GetToken { call: call()? },
                "refresh" => Self::Refresh {
                    call: call()?,
                    in_listener: flag(&obj, "inListener"),
                },
                "unauthorized" => Self::Unauthorized {
                    call: call()?,
                    token: opt_text(&obj, "token")?.unwrap_or_default(),
                },
                "logout" => Self::Logout {
                    call: match obj.get("call") {
                        None | Some(Value::Null) => None,
                        Some(_) => Some(call()?),
                    },
                    return_to: member("returnTo"),
                },
                "login" => Self::Login {
                    call: call()?,
                    options: member("options"),
                    random: member("random"),
                    origin: opt_text(&obj, "origin")?,
                },
                "callback" => Self::Callback {
                    call: call()?,
                    url: opt_text(&obj, "url")?.unwrap_or_default(),
                    address: opt_text(&obj, "address")?,
                    transaction: opt_text(&obj, "transaction")?,
                },
                #[cfg(feature = "dpop")]
                "proof" => Self::Proof {
                    call: call()?,
                    method: opt_text(&obj, "method")?.ok_or(BAD_INPUT)?,
                    url: opt_text(&obj, "url")?.ok_or(BAD_INPUT)?,
                    token: opt_text(&obj, "token")?.unwrap_or_default(),
                },
                #[cfg(feature = "dpop")]
                "resource" => Self::Resource {
                    call: call()?,
                    url: opt_text(&obj, "url")?.unwrap_or_default(),
                    status: status(&obj)?,
                    challenge: opt_text(&obj, "challenge")?,
                    nonce: opt_text(&obj, "nonce")?,
                    nonce_done: flag(&obj, "nonceDone"),
                    refresh_done: flag(&obj, "refreshDone"),
                },
                "dispose" => Self::Dispose,
                "wake" => Self::Wake,
                "online" => Self::Online,
                "answer" => Self::Answer {
                    id: id_of(&obj, "id")?,
                    status: status(&obj)?,
                    retry_after: opt_text(&obj, "retryAfter")?,
                    date: opt_text(&obj, "date")?,
                    dpop_nonce: opt_text(&obj, "dpopNonce")?,
                    body: opt_text(&obj, "body")?.unwrap_or_default(),
                    stored: opt_text(&obj, "stored")?,
                },
                "failed" => Self::Failed {
                    id: id_of(&obj, "id")?,
                    timeout: flag(&obj, "timeout"),
                    stored: opt_text(&obj, "stored")?,
                },
                "lock" => Self::Lock {
                    id: id_of(&obj, "id")?,
                    granted: flag(&obj, "granted"),
                    stored: opt_text(&obj, "stored")?,
                },
                "peer" => Self::Peer(member("data")),
                "signature" => Self::Signature {
                    id: id_of(&obj, "id")?,
                    verdict: match obj.get("result").and_then(Value::as_str) {
                        Some("valid") => Verdict::Valid,
                        Some("invalid") => Verdict::Invalid,
                        Some("bad_key") => Verdict::BadKey,
                        Some("unavailable") => Verdict::Unavailable,
                        _ => return Err(BAD_INPUT),
                    },
                },
                _ => return Err(BAD_INPUT),
            },
        )
    }
}

fn error_json(e: &Error) -> String {
    Obj::new()
        .str("code", e.code().as_str())
        .str("message", e.message())
        .finish()
}

impl Effect {
    /// The effect as a JSON object, as the shell reads it.
    pub fn to_json(&self) -> String {
        match self {
            Self::Send {
                id,
                method,
                url,
                headers,
                body,
                include_credentials,
                timeout_ms,
                keepalive,
                dpop,
            } => Obj::new()
                .str("t", "send")
                .num("id", *id)
                .str("method", method)
                .str("url", url)
                .raw(
                    "headers",
                    &json::array(headers.iter().map(|(k, v)| {
                        let mut pair = String::from("[");
                        json::push_string(&mut pair, k);
                        pair.push(',');
                        json::push_string(&mut pair, v);
                        pair.push(']');
                        pair
                    })),
                )
                .str("body", body)
                .str(
                    "credentials",
                    if *include_credentials {
                        "include"
                    } else {
                        "same-origin"
                    },
                )
                .num("timeoutMs", *timeout_ms)
                .bool("keepalive", *keepalive)
                .opt_str("dpop", dpop.as_deref()),
            Self::Abort { id } => Obj::new().str("t", "abort").num("id", *id),
            Self::Lock { id, name, wait_ms } => Obj::new()
                .str("t", "lock")
                .num("id", *id)
                .str("name", name)
                .num("waitMs", *wait_ms),
            Self::Unlock { id, after_ms } => Obj::new()
                .str("t", "unlock")
                .num("id", *id)
                .num("afterMs", *after_ms),
            Self::Store(text) => Obj::new().str("t", "store").str("text", text),
            Self::Clear => Obj::new().str("t", "clear"),
            Self::Transaction(text) => {
                let o = Obj::new().str("t", "transaction");
                match text {
                    Some(t) => o.str("text", t),
                    None => o.null("text"),
                }
            }
            Self::Navigate(url) => Obj::new().str("t", "navigate").str("url", url),
            Self::Address(url) => Obj::new().str("t", "address").str("url", url),
            Self::Refused {
                call,
                error,
                provider_error,
                provider_description,
            } => {
                let e = Obj::new()
                    .str("code", error.code().as_str())
                    .str("message", error.message())
                    .str("error", provider_error)
                    .opt_str("errorDescription", provider_description.as_deref())
                    .finish();
                Obj::new()
                    .str("t", "settle")
                    .num("call", call.0)
                    .raw("error", &e)
            }
            Self::Post(data) => Obj::new().str("t", "post").raw("data", data),
            Self::Emit(event) => {
                let (kind, detail) = event_json(event);
                Obj::new()
                    .str("t", "emit")
                    .str("type", kind)
                    .raw("detail", &detail)
            }
            Self::Settle { call, result } => {
                let o = Obj::new().str("t", "settle").num("call", call.0);
                match result {
                    Ok(Some(token)) => o.str("value", token),
                    Ok(None) => o.null("value"),
                    Err(e) => o.raw("error", &error_json(e)),
                }
            }
            Self::State {
                authenticated,
                claims,
                user,
                expires_at_ms,
            } => {
                let o = Obj::new()
                    .str("t", "state")
                    .bool("authenticated", *authenticated);
                let o = match claims {
                    Some(c) => o.raw("claims", c),
                    None => o.null("claims"),
                };
                let o = match user {
                    Some(c) => o.raw("user", c),
                    None => o.null("user"),
                };
                match expires_at_ms {
                    Some(at) => o.num("expiresAt", *at),
                    None => o.null("expiresAt"),
                }
            }
            Self::Fresh { token, for_ms } => Obj::new()
                .str("t", "fresh")
                .str("token", token)
                .num("forMs", *for_ms),
            Self::Verify {
                id,
                alg,
                jwk,
                data,
                sig,
            } => Obj::new()
                .str("t", "verify")
                .num("id", *id)
                .str("alg", alg.name())
                .str("jwk", jwk)
                .str("data", data)
                .str("sig", sig),
            Self::Wake(at) => {
                let o = Obj::new().str("t", "wake");
                match at {
                    Some(at) => o.num("at", *at),
                    None => o.null("at"),
                }
            }
        }
        .finish()
    }
}

/// An event's type and its `detail` object (`error` carries `{code, message}`, which the shell
/// turns into an `AuthError`).
fn event_json(event: &Event) -> (&'static str, String) {
    match event {
        Event::Refresh {
            access_token,
            expires_at_ms,
            source,
        } => (
            "refresh",
            Obj::new()
                .str("accessToken", access_token)
                .num("expiresAt", *expires_at_ms)
                .str("source", source.as_str())
                .finish(),
        ),
        Event::Logout { reason } => ("logout", Obj::new().str("reason", reason.as_str()).finish()),
        Event::Error {
            error,
            will_retry,
            retry_in_ms,
        } => (
            "error",
            Obj::new()
                .raw("error", &error_json(error))
                .bool("willRetry", *will_retry)
                .opt_num("retryInMs", *retry_in_ms)
                .finish(),
        ),
    }
}

/// A whole list of effects as the JSON array `handle` returns.
pub fn effects_json(effects: &[Effect]) -> String {
    json::array(effects.iter().map(Effect::to_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_and_refuse() {
        assert_eq!(
            Input::from_json(r#"{"t":"get","call":3}"#).unwrap(),
            Input::GetToken { call: CallId(3) }
        );
        assert!(matches!(
            Input::from_json(r#"{"t":"set","call":1,"accessToken":"a","expiresIn":"NaN"}"#)
                .unwrap(),
            Input::SetSession {
                values: SessionValues {
                    expires_in: Value::String(_),
                    refresh_token: Value::Null,
                    id_token: Value::Null,
                    ..
                },
                ..
            }
        ));
        // logout as older shells send it, and with a call and returnTo.
        assert_eq!(
            Input::from_json(r#"{"t":"logout"}"#).unwrap(),
            Input::Logout {
                call: None,
                return_to: Value::Null
            }
        );
        assert!(matches!(
            Input::from_json(r#"{"t":"logout","call":4,"returnTo":"https://a.test/"}"#).unwrap(),
            Input::Logout {
                call: Some(CallId(4)),
                return_to: Value::String(_)
            }
        ));
        assert!(matches!(
            Input::from_json(r#"{"t":"login","call":5,"options":{"prompt":"login"},"random":[1,2],"origin":"https://a.test"}"#).unwrap(),
            Input::Login { call: CallId(5), options: Value::Object(_), random: Value::Array(_), origin: Some(_) }
        ));
        assert!(matches!(
            Input::from_json(r#"{"t":"callback","call":6,"url":"https://a.test/?code=c","address":null,"transaction":null}"#).unwrap(),
            Input::Callback { call: CallId(6), address: None, transaction: None, .. }
        ));
        for bad in [
            "",
            "[]",
            r#"{"t":"nope"}"#,
            r#"{"t":"login","options":null}"#,
            r#"{"t":"callback","call":1,"url":5}"#,
            r#"{"t":"logout","call":"x"}"#,
            r#"{"t":"get"}"#,
            r#"{"t":"get","call":-1}"#,
            r#"{"t":"answer","id":1,"status":1000,"body":""}"#,
        ] {
            assert_eq!(
                Input::from_json(bad).unwrap_err().code(),
                ErrorCode::Internal,
                "{bad}"
            );
        }
    }

    #[test]
    fn effects_are_json_the_strict_reader_reads() {
        let all = [
            Effect::Send {
                id: 1,
                method: "GET",
                url: "u".into(),
                headers: vec![("a".into(), "b\"".into())],
                body: "x".into(),
                include_credentials: true,
                timeout_ms: 5,
                keepalive: false,
                dpop: Some("h.p".into()),
            },
            Effect::Transaction(None),
            Effect::Refused {
                call: CallId(3),
                error: Error::new(ErrorCode::LoginFailed, "m"),
                provider_error: "access_denied".into(),
                provider_description: Some("d\"".into()),
            },
            Effect::Post(Obj::new().str("t", "o").finish()),
            Effect::Settle {
                call: CallId(2),
                result: Err(Error::malformed("m")),
            },
            Effect::Settle {
                call: CallId(2),
                result: Ok(None),
            },
            Effect::State {
                authenticated: true,
                claims: Some("{\"sub\":\"a\"}".into()),
                user: None,
                expires_at_ms: Some(9),
            },
            Effect::Wake(None),
        ];
        let text = effects_json(&all);
        let v = json::parse(text.as_bytes(), "").unwrap();
        assert!(matches!(v, Value::Array(ref a) if a.len() == all.len()));
    }
}
