//! The pure client core behind `createAuthClient`: it owns the key set, the claim and time
//! checks and the [`Session`], admits raw inputs (token text, an HTTP answer, a message from
//! another tab, stored text, a lock granted or refused, a timer) and returns I/O effects only
//! ([`protocol`]). Every decision is made here and tested natively; the shell that runs it in
//! a browser translates between the platform and [`Core::handle`].
//!
//! Trust: a token is adopted only after its signature and claims verified against the
//! client's keys and its times were judged against the session's estimate of the server
//! clock ([`Session::judge`]), wherever it comes from: `setSession`, a refresh answer,
//! storage, another tab.

pub mod dpop;
pub mod options;
pub mod protocol;
pub mod record;
pub mod remote;
#[cfg(feature = "dpop")]
pub mod resource;
pub mod signatures;
pub mod signin;

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::json::{Obj, Value};
use crate::key::KeySet;
use crate::refresh::{self, Classified, Style, MAX_EXPIRES_IN_S};
use crate::session::{
    self, Action, Broadcast, CallId, Config, Now, RefreshId, RefreshOutcome, Session, Tokens,
};
use crate::token::DEFAULT_MAX_TOKEN_BYTES;
use crate::verify::{verify_untimed_with, Checks, VerifiedToken};
use alloc::rc::Rc;
use dpop::Dpop;
use remote::{Fetched, KeySource, Metadata, Remote};
use signatures::Signatures;
use signin::{Callback, LoginRequest, Transaction};

pub use options::{ClientOptions, Persist, RefreshOptions};
pub use protocol::{Effect, EndSession, Input, SessionValues, Verdict};
pub use record::{Message, Record};

/// How many verified tokens' claims are remembered for `claims` and `user` (current and
/// recent access and ID tokens).
const CLAIMS_CACHE: usize = 8;

/// How much longer than a refresh request may take (`refresh.timeoutMs`) a tab waits for the
/// cross-tab lock before taking it: beyond that, the holder is frozen or gone.
pub const LOCK_WAIT_SLACK_MS: u64 = 5_000;

/// How long the lock is kept after a refresh, so the result (posted on the BroadcastChannel)
/// reaches the other tabs before the next one takes the lock and re-checks.
pub const LOCK_HOLD_AFTER_MS: u64 = 150;

/// Requests to learn the server's clock for one `setSession` whose token looked expired
/// (the local clock may be hours off): the first answer teaches the clock, the second is
/// judged with it.
pub const MAX_CLOCK_PROBES: u32 = 2;

/// Longest answer body read (in UTF-16 units, as the shell cuts it): a token response is a
/// few KB; more is refused as `bad_response`.
pub const MAX_BODY_CHARS: u64 = 256 * 1024;

const DOUBTFUL_SUPERSEDED: Error = Error::new(
    ErrorCode::NotAuthenticated,
    "another setSession replaced this one",
);
const BODY_TOO_LONG: Error = Error::new(ErrorCode::BadResponse, "the refresh response is too long");
const INVALID_STATE: Error = Error::new(
    ErrorCode::InvalidState,
    "no sign-in of this tab waits for this callback (unknown, used or forged state)",
);
const STALE_STATE: Error = Error::new(
    ErrorCode::InvalidState,
    "the sign-in began more than 10 minutes ago",
);
const PROVIDER_REFUSED: Error = Error::new(
    ErrorCode::LoginFailed,
    "the provider answered the sign-in with an error",
);
const EXCHANGE_FAILED: Error = Error::new(
    ErrorCode::LoginFailed,
    "the provider refused the code exchange",
);
const NO_DPOP_KEY: Error = Error::new(
    ErrorCode::Unsupported,
    "dpop: the browser's DPoP key is not available",
);
const UNBOUND: Error = Error::new(
    ErrorCode::ClaimMismatch,
    "the access token is not bound to this browser's DPoP key (cnf.jkt)",
);
const NO_DISCOVERY: Error = Error::new(
    ErrorCode::Network,
    "the provider's endpoints could not be read (discovery failed)",
);

/// How long a logout waits for the revocation answer before navigating to the provider's
/// end-session page (the request is `keepalive`, so it is not cut off by the navigation).
pub const REVOKE_TIMEOUT_MS: u64 = 5_000;

/// What a request in flight is for.
#[derive(Debug, Clone)]
enum Purpose {
    /// The session's refresh `rid`, holding the cross-tab lock `lock` if any.
    Refresh {
        rid: RefreshId,
        sent: Option<String>,
        lock: Option<u64>,
    },
    /// A refresh learning the server's clock for a doubtful `setSession`.
    Probe,
    /// `refresh.logoutUrl`: its answer does not matter.
    Logout,
    /// The sign-in's code exchange.
    Login,
    /// RFC 7009 revocation at logout; then `navigate`, then settle `call`.
    Revoke {
        call: Option<CallId>,
        navigate: Option<String>,
    },
}

/// A sign-in callback being exchanged, or done: every callback with its `state` shares it,
/// so the code is exchanged once however often the callback is handled.
#[derive(Debug, Clone)]
struct Login {
    tx: Transaction,
    /// Calls waiting for the outcome.
    calls: Vec<CallId>,
    /// The outcome once known: `{"appState":…}` (JSON text) or why not.
    result: Option<core::result::Result<String, Failure>>,
}

/// Why a sign-in failed, with the provider's own `error` and `error_description` if it gave
/// them.
#[derive(Debug, Clone)]
struct Failure {
    error: Error,
    provider: Option<(String, Option<String>)>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            error,
            provider: None,
        }
    }
}

/// Which grant a token endpoint's answer is for.
#[derive(Debug, Clone, Copy)]
enum Grant<'a> {
    /// A refresh: the ID token, if any, keeps the session's subject.
    Refresh,
    /// A code exchange: an ID token with this `nonce` is required when one was asked for.
    Code { nonce: Option<&'a str> },
}

/// A `setSession` whose token looked expired by the estimated server clock while it carries
/// a way to refresh: settled after a refresh tells the server's time.
#[derive(Debug, Clone)]
struct Probe {
    call: CallId,
    request: u64,
    refresh_token: Option<String>,
    attempts: u32,
    /// The judgement of the app's token (`expired`), the answer unless the server's clock
    /// proves otherwise.
    verdict: Error,
    /// `getAccessToken()` calls made meanwhile: they wait for the outcome.
    waiting: Vec<CallId>,
}

/// A cross-tab lock asked for the session's refresh `rid` (`None` once cancelled).
#[derive(Debug, Clone, Copy)]
struct LockFor {
    id: u64,
    rid: Option<RefreshId>,
    held: bool,
}

/// How often one input may be held back for answers (discovery, JWKS, signatures) before the
/// ones it still lacks count as unavailable (each round answers every question it reached).
const MAX_HOLD_ROUNDS: u32 = 6;

/// One client's core. See the [module docs](self) and [`protocol`] for the shell's contract.
///
/// Signatures are checked outside ([`Effect::Verify`]): an input that reaches a signature not
/// yet checked is undone (the core goes back to its state before it), held back with every
/// input after it, and run again once the answers are in. So every decision is taken with
/// verified facts only, and in the order the inputs came.
#[derive(Debug, Clone)]
pub struct Core {
    opts: Rc<ClientOptions>,
    /// The keys and endpoints: given, or read from the provider.
    remote: Remote,
    sigs: Signatures,
    /// The monotonic clock (ms) of the input being run, for the key cache.
    clock_ms: u64,
    /// Requests that could not be sent (no endpoint known yet): they fail once the input ran.
    unsent: Vec<u64>,
    /// A stored session that could not be checked at start (keys unreadable): kept, and
    /// restored on the next call or wake.
    unrestored: Option<String>,
    /// Inputs held back for signature answers, oldest first, with the rounds they waited.
    held: Vec<(Input, u32)>,
    session: Session,
    key: String,
    channel_open: bool,
    requests: Vec<(u64, Purpose)>,
    locks: Vec<LockFor>,
    next_id: u64,
    /// (access token, verified payload JSON), newest last.
    claims: Vec<(String, String)>,
    probe: Option<Probe>,
    /// The last sign-in callback handled.
    login: Option<Login>,
    /// Inputs an input left to run after it (the provider side of a logout).
    followups: Vec<Input>,
    /// With `dpop: true`, the key the shell signs proofs with (from [`Input::Start`]).
    dpop: Option<Dpop>,
    /// Token requests with a DPoP proof, as sent: one is sent again with the server's nonce.
    #[cfg(feature = "dpop")]
    dpop_sent: Vec<DpopSent>,
    last_state: Option<Effect>,
    disposed: bool,
}

impl Core {
    /// A core for the options (JSON text, without `publicKey`) and the verification keys.
    /// `seed` seeds the retry jitter.
    pub fn new(options_json: &[u8], keys: KeySet, seed: u64) -> Result<Self> {
        Self::with_source(options_json, KeySource::Given(keys), seed)
    }

    /// A core whose keys come from `source`: given, a JWKS URL, or (absent) discovery.
    pub fn with_source(options_json: &[u8], source: KeySource, seed: u64) -> Result<Self> {
        // `dpop: true` in a build without DPoP: no key can be had, so no token is adopted
        // (`unsupported`); the shell loads the DPoP build for it.
        let mut opts = ClientOptions::from_json(options_json)?;
        let remote = Remote::new(source, opts.metadata.clone(), opts.checks.issuer.as_deref())?;
        opts.resolve_refresh(remote.awaits_discovery())?;
        let config = Config {
            refresh_margin_ms: opts.refresh_margin_s.saturating_mul(1000),
            can_refresh: opts.refresh.is_some(),
            refresh_token_in_cookie: in_cookie(&opts),
            leeway_s: opts.checks.leeway_s,
            ..Config::default()
        };
        Ok(Self {
            key: storage_key(&opts),
            session: Session::new(config, seed),
            opts: Rc::new(opts),
            remote,
            sigs: Signatures::default(),
            clock_ms: 0,
            unsent: Vec::new(),
            unrestored: None,
            held: Vec::new(),
            channel_open: false,
            requests: Vec::new(),
            locks: Vec::new(),
            next_id: 1,
            claims: Vec::new(),
            probe: None,
            login: None,
            followups: Vec::new(),
            dpop: None,
            #[cfg(feature = "dpop")]
            dpop_sent: Vec::new(),
            last_state: None,
            disposed: false,
        })
    }

    /// Which storage (under which key) and which BroadcastChannel the shell opens, and which
    /// keys (JWK texts) it checks at creation.
    pub fn setup_json(&self) -> String {
        let o = match self.opts.persist {
            Persist::Memory => Obj::new().null("storage"),
            Persist::Session => Obj::new().str("storage", "session"),
            Persist::Local => Obj::new().str("storage", "local"),
        }
        .str("key", &self.key)
        .str("transaction", &{
            let mut k = self.key.clone();
            k.push_str(":signin");
            k
        })
        // A single key is checked on the curve at creation (WebCrypto's import); a JWKS
        // entry when a token picks it.
        .raw(
            "keys",
            &crate::json::array(match self.remote.fixed() {
                Some(KeySet::Single { key, .. }) => {
                    let mut text = String::new();
                    crate::json::push_string(&mut text, &key.jwk_json());
                    vec![text]
                }
                _ => Vec::new(),
            }),
        );
        // The IndexedDB name of this configuration's DPoP key, shared by the tabs.
        #[cfg(feature = "dpop")]
        let o = if self.opts.dpop {
            let mut k = self.key.clone();
            k.push_str(":dpop");
            o.str("dpop", &k)
        } else {
            o
        };
        if self.opts.cross_tab {
            o.str("channel", &self.key)
        } else {
            o.null("channel")
        }
        .finish()
    }

    /// The session machine, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// [`Core::handle`] on JSON text: the effects as a JSON array. An unreadable input (the
    /// shell's bug) does nothing.
    pub fn handle_json(&mut self, now: Now, input: &str) -> String {
        match Input::from_json(input) {
            Ok(input) => protocol::effects_json(&self.handle(now, input)),
            Err(_) => String::from("[]"),
        }
    }

    /// Feeds one input; returns the effects to perform, in order.
    pub fn handle(&mut self, now: Now, input: Input) -> Vec<Effect> {
        match input {
            Input::Signature { id, verdict } => {
                self.sigs.answer(id, verdict);
                self.release(now)
            }
            Input::Answer {
                id, status, body, ..
            } if self.remote.is_fetch(id) => {
                let fetched = Fetched::Answer { status, body };
                self.remote.answered(id, fetched, clock_ms(now));
                self.release(now)
            }
            Input::Failed { id, timeout, .. } if self.remote.is_fetch(id) => {
                self.remote
                    .answered(id, Fetched::Failed { timeout }, clock_ms(now));
                self.release(now)
            }
            Input::Dispose => {
                self.held.clear();
                self.sigs.clear_asked();
                let mut fx: Vec<Effect> = self
                    .remote
                    .abandon()
                    .map(|id| Effect::Abort { id })
                    .into_iter()
                    .collect();
                fx.extend(self.run(now, Input::Dispose));
                fx
            }
            input if !self.held.is_empty() || self.waiting() => {
                self.held.push((input, 0));
                Vec::new()
            }
            input => self.attempt(now, input, 0),
        }
    }

    /// [`Core::handle`] with every [`Effect::Verify`] answered at once by the verifier: for native
    /// drivers (tests, the simulation). The effects returned hold no `Verify`.
    #[cfg(feature = "verifier")]
    pub fn handle_checked(&mut self, now: Now, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut pending = self.handle(now, input);
        while !pending.is_empty() {
            let mut next = Vec::new();
            for e in pending {
                match e {
                    Effect::Verify {
                        id,
                        alg,
                        jwk,
                        data,
                        sig,
                    } => {
                        let verdict =
                            match crate::verify::signature_verdict(alg.name(), &jwk, &data, &sig) {
                                "valid" => Verdict::Valid,
                                "invalid" => Verdict::Invalid,
                                _ => Verdict::BadKey,
                            };
                        next.extend(self.handle(now, Input::Signature { id, verdict }));
                    }
                    e => out.push(e),
                }
            }
            pending = next;
        }
        out
    }

    /// Questions are out: inputs wait.
    fn waiting(&self) -> bool {
        self.sigs.waiting() || self.remote.waiting()
    }

    /// Once every question is answered, runs the held inputs again, in order.
    fn release(&mut self, now: Now) -> Vec<Effect> {
        if self.waiting() {
            return Vec::new();
        }
        let mut fx = Vec::new();
        for (input, rounds) in core::mem::take(&mut self.held) {
            if self.held.is_empty() {
                fx.extend(self.attempt(now, input, rounds + 1));
            } else {
                self.held.push((input, rounds));
            }
        }
        if self.held.is_empty() {
            self.sigs.forget_unavailable();
        }
        fx
    }

    /// Runs `input` (see [`Core::attempt_one`]), then what it left to run after it.
    fn attempt(&mut self, now: Now, input: Input, rounds: u32) -> Vec<Effect> {
        let mut fx = self.attempt_one(now, input, rounds);
        for next in core::mem::take(&mut self.followups) {
            if !self.held.is_empty() || self.waiting() {
                self.held.push((next, 0));
            } else {
                fx.extend(self.attempt(now, next, 0));
            }
        }
        fx
    }

    /// Runs `input`; if it reached questions not yet answered (a signature, the provider's
    /// keys or endpoints), undoes it, holds it back and asks them.
    fn attempt_one(&mut self, now: Now, input: Input, rounds: u32) -> Vec<Effect> {
        // Only these carry token text (a session, a refresh answer, storage, another tab); the
        // others never reach a signature, so they run without the undo copy.
        let carries_tokens = matches!(
            input,
            Input::Start { .. }
                | Input::SetSession { .. }
                | Input::Answer { .. }
                | Input::Failed { .. }
                | Input::Lock { .. }
                | Input::Peer(_)
        );
        // Until discovery named the token endpoint, any input may need it for a refresh; a
        // session not restored yet is restored by the next input.
        if !carries_tokens && !self.remote.awaits_discovery() && self.unrestored.is_none() {
            return self.run(now, input);
        }
        let before = self.clone();
        let fx = self.run(now, input.clone());
        let mut wanted = self.sigs.take_wanted();
        let fetch = self.remote.take_wanted();
        if wanted.is_empty() && fetch.is_none() {
            return fx;
        }
        let sigs = core::mem::take(&mut self.sigs);
        let remote = self.remote.clone();
        *self = before;
        self.sigs = sigs;
        self.remote = remote;
        if rounds >= MAX_HOLD_ROUNDS {
            // Never more than a handful of questions per input; this only guards against a loop.
            for e in &wanted {
                if let Effect::Verify { id, .. } = e {
                    self.sigs.answer(*id, Verdict::Unavailable);
                }
            }
            if let Some((kind, _)) = fetch {
                self.remote.sent(0, kind, clock_ms(now));
                self.remote
                    .answered(0, Fetched::Failed { timeout: false }, clock_ms(now));
            }
            let fx = self.run(now, input);
            self.sigs.take_wanted();
            self.remote.take_wanted();
            self.sigs.forget_unavailable();
            return fx;
        }
        self.held.push((input, rounds));
        if let Some((kind, url)) = fetch {
            let id = self.new_id();
            self.remote.sent(id, kind, clock_ms(now));
            wanted.push(Effect::Send {
                id,
                method: "GET",
                url,
                headers: vec![("Accept".into(), "application/json".into())],
                body: String::new(),
                include_credentials: false,
                timeout_ms: remote::FETCH_TIMEOUT_MS,
                keepalive: false,
                dpop: None,
            });
        }
        wanted
    }

    fn run(&mut self, now: Now, input: Input) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.disposed {
            // A lock granted after `dispose()` is given back at once; nothing else happens.
            if let Input::Lock {
                id, granted: true, ..
            } = input
            {
                fx.push(Effect::Unlock { id, after_ms: 0 });
            }
            return fx;
        }
        self.session.observe(now);
        self.clock_ms = clock_ms(now);
        // A stored session not checked at start: restored first, then the input runs.
        let wants_session = matches!(
            input,
            Input::GetToken { .. } | Input::Refresh { .. } | Input::Wake | Input::Online
        );
        if wants_session && !self.session.is_authenticated() {
            if let Some(text) = self.unrestored.take() {
                self.restore(now, text, &mut fx);
            }
        }
        match input {
            Input::Start {
                stored,
                channel,
                dpop,
            } => {
                if self.opts.dpop {
                    self.dpop = Dpop::from_value(&dpop);
                }
                self.start(now, stored, channel, &mut fx);
            }
            Input::SetSession { call, values } => self.set_session(now, call, &values, &mut fx),
            Input::GetToken { call } => match self.probe.as_mut() {
                Some(p) => p.waiting.push(call),
                None => self.feed(now, session::Input::GetToken { call }, &mut fx),
            },
            Input::Refresh { call, in_listener } => self.feed(
                now,
                session::Input::ForceRefresh {
                    call,
                    chained: in_listener,
                },
                &mut fx,
            ),
            Input::Unauthorized { call, token } => self.feed(
                now,
                session::Input::ApiUnauthorized { call, token },
                &mut fx,
            ),
            #[cfg(feature = "dpop")]
            Input::Proof {
                call,
                method,
                url,
                token,
            } => fx.push(settle(call, self.resource_proof(&method, &url, &token))),
            #[cfg(feature = "dpop")]
            Input::Resource {
                call,
                url,
                status,
                challenge,
                nonce,
                nonce_done,
                refresh_done,
            } => {
                let learned = match (self.dpop.as_mut(), nonce.as_deref()) {
                    (Some(d), Some(n)) => d.learn_nonce(&url, n) || d.nonce(&url) == Some(n),
                    _ => false,
                };
                let step = resource::step(
                    status,
                    challenge.as_deref(),
                    self.dpop.is_some(),
                    learned,
                    nonce_done,
                    refresh_done,
                );
                fx.push(settle(call, Ok(Some(step.as_str().into()))));
            }
            Input::Logout { call, return_to } => self.logout(now, call, return_to, &mut fx),
            Input::Login {
                call,
                options,
                random,
                origin,
            } => self.begin_login(now, call, &options, &random, origin.as_deref(), &mut fx),
            Input::Callback {
                call,
                url,
                address,
                transaction,
            } => self.callback(now, call, &url, address.as_deref(), transaction, &mut fx),
            Input::EndSession(e) => self.end_session(e, &mut fx),
            Input::Dispose => return self.dispose(),
            Input::Wake => self.feed(now, session::Input::Wake, &mut fx),
            Input::Online => self.feed(now, session::Input::Online, &mut fx),
            Input::Answer {
                id,
                status,
                retry_after,
                date,
                dpop_nonce,
                body,
                stored,
            } => {
                if !self.dpop_retry(id, status, date.as_deref(), dpop_nonce, &body, &mut fx) {
                    let answer = Answer::Http {
                        status,
                        retry_after,
                        date,
                        body,
                    };
                    self.answered(now, id, answer, stored, &mut fx);
                }
            }
            Input::Failed {
                id,
                timeout,
                stored,
            } => self.answered(now, id, Answer::None { timeout }, stored, &mut fx),
            Input::Lock {
                id,
                granted,
                stored,
            } => self.locked(now, id, granted, stored, &mut fx),
            Input::Peer(data) => self.peer_message(now, &data, &mut fx),
            // Answered in `handle`.
            Input::Signature { .. } => {}
        }
        while let Some(id) = self.unsent.pop() {
            let failed = Answer::None { timeout: false };
            self.answered(now, id, failed, None, &mut fx);
        }
        self.finish(&mut fx);
        fx
    }

    // ---- inputs ----

    fn start(&mut self, now: Now, stored: Option<String>, channel: bool, fx: &mut Vec<Effect>) {
        self.channel_open = channel && self.opts.cross_tab;
        let Some(text) = stored else { return };
        self.restore(now, text, fx);
    }

    /// Restores a stored session. It is checked like any other: a tampered or
    /// expired-beyond-repair store is refused and cleared. One that cannot be checked now
    /// (the provider's keys unreadable) is kept, and tried again on the next call or wake.
    fn restore(&mut self, now: Now, text: String, fx: &mut Vec<Effect>) {
        let Some(record) = Record::from_json(&text) else {
            return fx.push(Effect::Clear);
        };
        let tokens = match self.admit(Offered::record(&record)) {
            Err(e) if e.code() == ErrorCode::Network => {
                self.unrestored = Some(text);
                return;
            }
            Err(_) => None,
            Ok(t) => Some(t),
        };
        let usable = tokens
            .as_ref()
            .is_some_and(|t| self.session.judge(t).is_ok() || self.session.could_refresh(t));
        match tokens {
            Some(tokens) if usable => {
                let peers_asked = self.channel_open;
                if peers_asked {
                    fx.push(Effect::Post(Message::Hello.to_json()));
                }
                self.feed(
                    now,
                    session::Input::Restore {
                        tokens,
                        peers_asked,
                    },
                    fx,
                );
            }
            _ => fx.push(Effect::Clear),
        }
    }

    fn set_session(
        &mut self,
        now: Now,
        call: CallId,
        values: &SessionValues,
        fx: &mut Vec<Effect>,
    ) {
        let tokens = match self.session_tokens(values) {
            Ok(t) => t,
            Err(e) => return fx.push(settle(call, Err(e))),
        };
        if let Some(old) = self.probe.take() {
            self.abort(old.request, fx);
            fx.push(settle(old.call, Err(DOUBTFUL_SUPERSEDED)));
            self.release_probe_waiters(now, old.waiting, fx);
        }
        match self.session.judge(&tokens) {
            Ok(()) => {
                self.unrestored = None;
                self.feed(now, session::Input::SetSession(tokens), fx);
                fx.push(settle(call, Ok(None)));
            }
            // Expired by our estimate of the server clock, but the estimate may be what is
            // wrong (a first sign-in on a clock hours fast): ask the server (a refresh) rather
            // than adopt the token on trust. Not when the estimate was measured, nor while a
            // session judged by it is running: then the verdict stands.
            Err(e)
                if e.code() == ErrorCode::Expired
                    && self.session.could_refresh(&tokens)
                    && !self.session.clock_from_date()
                    && !self.session.is_authenticated() =>
            {
                let request = self.send(tokens.refresh_token.as_deref(), Purpose::Probe, fx);
                self.probe = Some(Probe {
                    call,
                    request,
                    refresh_token: tokens.refresh_token,
                    attempts: 1,
                    verdict: e,
                    waiting: Vec::new(),
                });
            }
            Err(e) => fx.push(settle(call, Err(e))),
        }
    }

    /// Reads and verifies `setSession`'s values (as given by the app).
    fn session_tokens(&mut self, values: &SessionValues) -> Result<Tokens> {
        let access = values
            .access_token
            .as_str()
            .ok_or(Error::malformed("accessToken must be a string"))?;
        let text = |v: &Value, err: &'static str| match v {
            Value::Null => Ok(None),
            Value::String(s) if s.len() <= DEFAULT_MAX_TOKEN_BYTES => Ok(Some(s.clone())),
            _ => Err(Error::malformed(err)),
        };
        let refresh = text(&values.refresh_token, "refreshToken must be a string")?;
        let id_token = text(&values.id_token, "idToken must be a string")?;
        let expires_in = match &values.expires_in {
            Value::Null => None,
            v => Some(
                v.as_whole(MAX_EXPIRES_IN_S)
                    .ok_or(Error::malformed("expiresIn must be a number of seconds"))?,
            ),
        };
        let expires_by_s = self.expires_by(expires_in);
        self.admit(Offered {
            access_token: access,
            refresh_token: refresh,
            expires_by_s,
            id_token: id_token.as_deref(),
            fresh: true,
            sub: None,
            nonce: None,
        })
    }

    fn logout(&mut self, now: Now, call: Option<CallId>, return_to: Value, fx: &mut Vec<Effect>) {
        let refresh_token = self.refresh_token_now();
        let id_token = self.session.tokens().and_then(|t| t.id_token.clone());
        self.unrestored = None;
        if let Some(p) = self.probe.take() {
            self.abort(p.request, fx);
            fx.push(settle(p.call, Err(DOUBTFUL_SUPERSEDED)));
            self.release_probe_waiters(now, p.waiting, fx);
        }
        // Cookie style: the server must forget the HttpOnly cookie, or it keeps minting tokens.
        let logout_url = self
            .opts
            .refresh
            .as_ref()
            .filter(|r| r.style == Style::Cookie)
            .and_then(|r| r.logout_url.clone());
        if let Some(url) = logout_url {
            self.send_to(url, None, Purpose::Logout, fx);
        }
        self.feed(now, session::Input::Logout, fx);
        // The session has ended here and in the other tabs; the provider's side comes after.
        let return_to = match return_to {
            Value::Null => None,
            Value::String(s) if remote::is_http_url(&s) => Some(s),
            _ => {
                const BAD: Error = Error::malformed("returnTo must be an absolute http(s) URL");
                if let Some(call) = call {
                    fx.push(settle(call, Err(BAD)));
                }
                return;
            }
        };
        self.followups.push(Input::EndSession(EndSession {
            call,
            refresh_token,
            id_token,
            return_to,
        }));
    }

    /// The provider's side of a logout: RFC 7009 revocation of the refresh token when the
    /// provider has a `revocation_endpoint`, then, with `returnTo`, its `end_session_endpoint`
    /// (or `returnTo` itself when it has none).
    fn end_session(&mut self, e: EndSession, fx: &mut Vec<Effect>) {
        let needed = e.refresh_token.is_some() || e.return_to.is_some();
        let meta = match self.provider(needed) {
            Ok(Some(meta)) => meta,
            // Held back for discovery.
            Ok(None) => return,
            // Discovery failed: what can be done without it is done.
            Err(_) => Metadata::default(),
        };
        let client_id = self.opts.client_id.as_deref();
        let navigate = e.return_to.map(|to| match &meta.end_session_endpoint {
            Some(end) => signin::end_session_url(end, e.id_token.as_deref(), client_id, &to),
            None => to,
        });
        match (meta.revocation_endpoint, e.refresh_token) {
            (Some(url), Some(token)) => {
                let request = signin::revocation_request(&token, client_id);
                let purpose = Purpose::Revoke {
                    call: e.call,
                    navigate,
                };
                self.post(url, request, purpose, REVOKE_TIMEOUT_MS, fx);
            }
            _ => ended(e.call, navigate, fx),
        }
    }

    /// The provider's endpoints, reading discovery first when it is still to be read and
    /// `needed`: `Ok(None)` while it is asked for (the input is held back for it), `network`
    /// when it could not be read.
    fn provider(&mut self, needed: bool) -> Result<Option<Metadata>> {
        if needed && self.remote.awaits_discovery() {
            self.remote.want_discovery(self.clock_ms);
            if self.remote.fetch_wanted() {
                return Ok(None);
            }
            return Err(NO_DISCOVERY);
        }
        Ok(Some(self.remote.metadata().clone()))
    }

    /// `loginWithRedirect`: the transaction is stored, then the browser goes to the provider.
    fn begin_login(
        &mut self,
        now: Now,
        call: CallId,
        options: &Value,
        random: &Value,
        origin: Option<&str>,
        fx: &mut Vec<Effect>,
    ) {
        match self.authorization(now, options, random, origin) {
            Ok(Some((tx, url))) => {
                fx.push(Effect::Transaction(Some(tx.to_json())));
                fx.push(Effect::Navigate(url));
                fx.push(settle(call, Ok(None)));
            }
            Ok(None) => {}
            Err(e) => fx.push(settle(call, Err(e))),
        }
    }

    fn authorization(
        &mut self,
        now: Now,
        options: &Value,
        random: &Value,
        origin: Option<&str>,
    ) -> Result<Option<(Transaction, String)>> {
        let client = self.client_id()?;
        let opts = Rc::clone(&self.opts);
        let req = LoginRequest::from_value(
            options,
            opts.redirect_uri.as_deref(),
            opts.scope.as_deref(),
            origin,
        )?;
        let bytes = random_bytes(random);
        let Some(meta) = self.provider(true)? else {
            return Ok(None);
        };
        let endpoint = meta.authorization_endpoint.ok_or(Error::malformed(
            "the provider has no authorization_endpoint (give issuer for discovery, or metadata)",
        ))?;
        let tx = Transaction::new(&bytes, &req, now.wall_ms)?;
        let url = tx.authorize_url(&endpoint, &client, &req);
        Ok(Some((tx, url)))
    }

    fn client_id(&self) -> Result<String> {
        self.opts
            .client_id
            .clone()
            .ok_or(Error::malformed("clientId is required to sign in"))
    }

    /// `handleRedirectCallback`: checks the callback against this tab's transaction, then
    /// exchanges the code, once.
    fn callback(
        &mut self,
        now: Now,
        call: CallId,
        url: &str,
        address: Option<&str>,
        stored: Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let cb = Callback::read(url);
        // The same callback again (React StrictMode, a second handler): the same outcome.
        if let Some(login) = self
            .login
            .as_mut()
            .filter(|l| cb.state.as_deref() == Some(l.tx.state.as_str()))
        {
            match &login.result {
                Some(result) => fx.push(login_settle(call, result.clone())),
                None => login.calls.push(call),
            }
            return;
        }
        // A forged or unknown state leaves this tab's own transaction in place.
        let Some(tx) = stored
            .as_deref()
            .and_then(Transaction::from_json)
            .filter(|t| cb.state.as_deref() == Some(t.state.as_str()) && !cb.repeated)
        else {
            return fx.push(settle(call, Err(INVALID_STATE)));
        };
        let checked = self.check_callback(now, &cb, &tx);
        if matches!(checked, Ok(None)) {
            // Held back for discovery.
            return;
        }
        // From here the transaction is spent: a code is exchanged once.
        fx.push(Effect::Transaction(None));
        if address == Some(url) {
            fx.push(Effect::Address(cb.clean_url.clone()));
        }
        let mut login = Login {
            tx,
            calls: vec![call],
            result: None,
        };
        match checked {
            Ok(Some((code, endpoint, client))) => {
                let request = login.tx.code_request(&code, &client);
                let timeout = options::DEFAULT_REFRESH_TIMEOUT_MS;
                self.post(endpoint, request, Purpose::Login, timeout, fx);
            }
            Ok(None) => {}
            Err(f) => {
                fx.push(login_settle(call, Err(f.clone())));
                login.result = Some(Err(f));
            }
        }
        self.login = Some(login);
    }

    /// The callback's verdict before any exchange: its code and where to exchange it
    /// (`Ok(None)`: held back for discovery). RFC 9207: an `iss` must name the provider,
    /// and must be there when the provider says it sends one.
    fn check_callback(
        &mut self,
        now: Now,
        cb: &Callback,
        tx: &Transaction,
    ) -> core::result::Result<Option<(String, String, String)>, Failure> {
        if tx.expired(now.wall_ms) {
            return Err(STALE_STATE.into());
        }
        if let Some(error) = &cb.error {
            return Err(Failure {
                error: PROVIDER_REFUSED,
                provider: Some((error.clone(), cb.error_description.clone())),
            });
        }
        let client = self.client_id()?;
        let Some(meta) = self.provider(true)? else {
            return Ok(None);
        };
        let issuer = meta
            .issuer
            .clone()
            .or_else(|| self.opts.checks.issuer.clone());
        let iss_ok = match (&cb.iss, &issuer) {
            (Some(iss), Some(ours)) => iss == ours,
            (None, _) => !meta.iss_parameter,
            (Some(_), None) => true,
        };
        if !iss_ok {
            return Err(Error::new(
                ErrorCode::LoginFailed,
                "the callback's iss is not this provider (RFC 9207)",
            )
            .into());
        }
        let code = cb.code.clone().filter(|c| !c.is_empty()).ok_or(Error::new(
            ErrorCode::LoginFailed,
            "the callback has no code",
        ))?;
        let endpoint = meta
            .token_endpoint
            .or_else(|| {
                self.opts
                    .refresh
                    .as_ref()
                    .filter(|r| r.style == Style::OAuth2 && !r.url.is_empty())
                    .map(|r| r.url.clone())
            })
            .ok_or(Error::malformed("the provider has no token_endpoint"))?;
        Ok(Some((code, endpoint, client)))
    }

    /// The code exchange answered: the session is adopted as `setSession` adopts one, and
    /// every call waiting for this callback settles.
    fn login_answered(&mut self, now: Now, answer: Answer, fx: &mut Vec<Effect>) {
        let Some(mut login) = self.login.take() else {
            return;
        };
        let nonce = login.tx.nonce.clone();
        let (outcome, _) = self.outcome(
            now,
            answer,
            Grant::Code {
                nonce: nonce.as_deref(),
            },
        );
        let result = match outcome {
            RefreshOutcome::Success(tokens) => {
                self.unrestored = None;
                self.feed(now, session::Input::SetSession(tokens), fx);
                let o = Obj::new();
                Ok(match &login.tx.app_state {
                    Some(a) => o.raw("appState", a),
                    None => o,
                }
                .finish())
            }
            RefreshOutcome::Invalid { error, .. } | RefreshOutcome::Unchecked { error, .. } => {
                Err(error.into())
            }
            RefreshOutcome::Transient { error, .. }
                if matches!(error.code(), ErrorCode::Network | ErrorCode::Timeout) =>
            {
                Err(error.into())
            }
            RefreshOutcome::Transient { .. }
            | RefreshOutcome::Rejected { .. }
            | RefreshOutcome::Moot => Err(EXCHANGE_FAILED.into()),
        };
        for c in core::mem::take(&mut login.calls) {
            fx.push(login_settle(c, result.clone()));
        }
        login.result = Some(result);
        self.login = Some(login);
    }

    fn dispose(&mut self) -> Vec<Effect> {
        self.disposed = true;
        #[cfg(feature = "dpop")]
        self.dpop_sent.clear();
        let mut fx: Vec<Effect> = self
            .requests
            .drain(..)
            .map(|(id, _)| Effect::Abort { id })
            .collect();
        for l in self.locks.drain(..).filter(|l| l.held) {
            fx.push(Effect::Unlock {
                id: l.id,
                after_ms: 0,
            });
        }
        fx.push(Effect::Wake(None));
        fx
    }

    fn peer_message(&mut self, now: Now, data: &Value, fx: &mut Vec<Effect>) {
        let input = match Message::from_value(data) {
            Some(Message::Session(r)) => self.tokens_from(r).map(session::Input::PeerSession),
            Some(Message::Refreshed(r)) => self.tokens_from(r).map(session::Input::PeerRefreshed),
            Some(Message::LoggedOut) => Some(session::Input::PeerLoggedOut),
            Some(Message::Hello) => Some(session::Input::PeerHello),
            None => None,
        };
        if let Some(input) = input {
            self.feed(now, input, fx);
        }
    }

    /// The cross-tab lock for a refresh was granted or refused.
    fn locked(
        &mut self,
        now: Now,
        id: u64,
        granted: bool,
        stored: Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(at) = self.locks.iter().position(|l| l.id == id && !l.held) else {
            if granted {
                fx.push(Effect::Unlock { id, after_ms: 0 });
            }
            return;
        };
        let Some(rid) = self.locks.get(at).and_then(|l| l.rid) else {
            self.locks.remove(at);
            if granted {
                fx.push(Effect::Unlock { id, after_ms: 0 });
            }
            return;
        };
        if !granted {
            // No Web Locks here (or refused): each tab refreshes for itself, if still wanted.
            self.locks.remove(at);
            if self.session.refresh_wanted(rid) {
                let token = self.refresh_token_now();
                self.send_refresh(rid, token, None, fx);
            } else {
                let outcome = RefreshOutcome::Moot;
                self.feed(now, session::Input::RefreshDone { id: rid, outcome }, fx);
            }
            return;
        }
        if let Some(l) = self.locks.get_mut(at) {
            l.held = true;
        }
        // While we waited, another tab may have rotated the session (its broadcast, or its
        // record in shared storage): then this request is moot.
        let sent = self.refresh_token_now();
        if let Some(t) = self.peer_rotation(stored.as_deref(), sent.as_deref()) {
            self.feed(now, session::Input::PeerRefreshed(t), fx);
        }
        if self.session.refresh_wanted(rid) {
            let token = self.refresh_token_now();
            self.send_refresh(rid, token, Some(id), fx);
        } else {
            self.unlock(id, 0, fx);
            let outcome = RefreshOutcome::Moot;
            self.feed(now, session::Input::RefreshDone { id: rid, outcome }, fx);
        }
    }

    fn answered(
        &mut self,
        now: Now,
        id: u64,
        answer: Answer,
        stored: Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(at) = self.requests.iter().position(|(i, _)| *i == id) else {
            return;
        };
        let (_, purpose) = self.requests.remove(at);
        self.dpop_done(id);
        match purpose {
            Purpose::Logout => {}
            Purpose::Login => self.login_answered(now, answer, fx),
            Purpose::Revoke { call, navigate } => ended(call, navigate, fx),
            Purpose::Probe => self.probe_answered(now, id, answer, fx),
            Purpose::Refresh { rid, sent, lock } => {
                let (outcome, _) = self.outcome(now, answer, Grant::Refresh);
                // Before a rejection ends the session: did another tab rotate it meanwhile?
                if matches!(outcome, RefreshOutcome::Rejected { .. }) {
                    if let Some(t) = self.peer_rotation(stored.as_deref(), sent.as_deref()) {
                        self.feed(now, session::Input::PeerRefreshed(t), fx);
                    }
                }
                self.feed(now, session::Input::RefreshDone { id: rid, outcome }, fx);
                if let Some(lock) = lock {
                    self.unlock(lock, LOCK_HOLD_AFTER_MS, fx);
                }
            }
        }
    }

    fn probe_answered(&mut self, now: Now, id: u64, answer: Answer, fx: &mut Vec<Effect>) {
        let Some(mut probe) = self.probe.take().filter(|p| p.request == id) else {
            return;
        };
        // Whatever goes wrong with the probe, the verdict on the app's token stands: expired.
        let verdict = probe.verdict;
        let (outcome, learned) = self.outcome(now, answer, Grant::Refresh);
        let result = match outcome {
            RefreshOutcome::Success(mut tokens) => {
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = probe.refresh_token.take();
                }
                self.feed(now, session::Input::SetSession(tokens), fx);
                Ok(None)
            }
            RefreshOutcome::Invalid {
                error,
                refresh_token,
            } => {
                if refresh_token.is_some() {
                    probe.refresh_token = refresh_token;
                }
                if learned
                    && error.code() == ErrorCode::Expired
                    && probe.attempts < MAX_CLOCK_PROBES
                {
                    probe.attempts += 1;
                    probe.request = self.send(probe.refresh_token.as_deref(), Purpose::Probe, fx);
                    self.probe = Some(probe);
                    return;
                }
                Err(verdict)
            }
            RefreshOutcome::Transient { .. }
            | RefreshOutcome::Unchecked { .. }
            | RefreshOutcome::Rejected { .. }
            | RefreshOutcome::Moot => Err(verdict),
        };
        fx.push(settle(probe.call, result));
        self.release_probe_waiters(now, probe.waiting, fx);
    }

    fn release_probe_waiters(&mut self, now: Now, waiting: Vec<CallId>, fx: &mut Vec<Effect>) {
        for call in waiting {
            self.feed(now, session::Input::GetToken { call }, fx);
        }
    }

    // ---- trust ----

    /// `expires_in` seconds from now on the estimated server clock.
    fn expires_by(&self, expires_in_s: Option<u64>) -> Option<u64> {
        let server_now_s = self.session.server_now_s();
        expires_in_s.map(|e| server_now_s.saturating_add(e))
    }

    /// Verifies `token`'s signature and claims against the provider's keys (not its times).
    fn verified(&mut self, token: &str, checks: &Checks) -> Result<VerifiedToken> {
        let keys = self.remote.keys(self.clock_ms)?;
        let sigs = &mut self.sigs;
        let v = verify_untimed_with(
            token,
            &keys,
            checks,
            DEFAULT_MAX_TOKEN_BYTES,
            &mut |key, alg, data, _, sig| sigs.check(key, alg, data, sig),
        );
        match v {
            // A kid the set read does not know: the provider may have rotated its keys.
            Err(e) if e.code() == ErrorCode::NoMatchingKey => {
                self.remote.unknown_kid(self.clock_ms)?;
                Err(e)
            }
            v => v,
        }
    }

    /// Verifies a token set and makes it [`Tokens`] (times are judged by the session). The
    /// access token's signature and claims, unless `accessTokenFormat` is `'opaque'` (then
    /// its life is `expires_by_s`, required). The ID token, if any, as OpenID Connect says
    /// (`aud` = `clientId`, `azp`), and its `exp` when it is `fresh` (just issued, not from
    /// storage or another tab); `sub`, if given, is the subject it must keep (a refresh).
    fn admit(&mut self, given: Offered<'_>) -> Result<Tokens> {
        let (exp_s, iat_s, nbf_s) = if self.opts.opaque {
            let exp = given.expires_by_s.ok_or(Error::malformed(
                "an opaque access token needs expiresIn (expires_in)",
            ))?;
            if given.access_token.is_empty() || given.access_token.len() > DEFAULT_MAX_TOKEN_BYTES {
                return Err(Error::malformed("accessToken must be a non-empty string"));
            }
            (exp, None, None)
        } else {
            let checks = Rc::clone(&self.opts);
            let v = self.verified(given.access_token, &checks.checks)?;
            // With DPoP a JWT access token is bound to this browser's key (RFC 9449 §6.1).
            if self.opts.dpop {
                match &self.dpop {
                    Some(d) if d.binds(v.claims()) => {}
                    Some(_) => return Err(UNBOUND),
                    None => return Err(NO_DPOP_KEY),
                }
            }
            self.remember(given.access_token, v.payload_json());
            (v.exp_s(), v.iat_s(), v.nbf_s())
        };
        // A stored or shared ID token whose key the provider has since withdrawn costs the
        // `user`, not the session; a fresh one that fails refuses the answer.
        let id_token = match given.id_token {
            None => None,
            Some(id) => match self.check_id_token(id, given.fresh, given.sub, given.nonce) {
                Ok(()) => Some(id),
                Err(e)
                    if !given.fresh
                        && !matches!(e.code(), ErrorCode::Network | ErrorCode::Internal) =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
        };
        Ok(Tokens {
            access_token: given.access_token.into(),
            refresh_token: if in_cookie(&self.opts) {
                None
            } else {
                given.refresh_token
            },
            exp_s,
            iat_s,
            nbf_s,
            expires_by_s: given.expires_by_s,
            id_token: id_token.map(String::from),
        })
    }

    /// OpenID Connect Core §3.1.3.7: signature, `iss`, `aud` containing `clientId`, `azp` =
    /// `clientId` when present (required with several audiences), a `sub`; `exp` when fresh;
    /// on a refresh, the same `sub` (§12.2); after a sign-in, its `nonce`.
    fn check_id_token(
        &mut self,
        id: &str,
        fresh: bool,
        sub: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<()> {
        const AZP: Error = Error::new(
            ErrorCode::ClaimMismatch,
            "the ID token's azp is not this client",
        );
        let client = self.opts.client_id.clone().ok_or(Error::malformed(
            "clientId is required to verify an ID token",
        ))?;
        let mut checks = self.opts.checks.clone();
        checks.audience = vec![client.clone()];
        let v = self.verified(id, &checks)?;
        let claims = v.claims();
        let audiences = match claims.get("aud") {
            Some(Value::Array(a)) => a.len(),
            _ => 1,
        };
        match claims.get("azp") {
            None if audiences == 1 => {}
            Some(Value::String(azp)) if *azp == client => {}
            _ => return Err(AZP),
        }
        let Some(Value::String(own)) = claims.get("sub") else {
            return Err(Error::new(
                ErrorCode::ClaimMismatch,
                "the ID token has no sub",
            ));
        };
        if let Some(n) = nonce {
            if claims.get("nonce").and_then(Value::as_str) != Some(n) {
                return Err(Error::new(
                    ErrorCode::ClaimMismatch,
                    "the ID token's nonce is not the one this sign-in sent",
                ));
            }
        }
        if sub.is_some_and(|s| s != own) {
            return Err(Error::new(
                ErrorCode::ClaimMismatch,
                "the refreshed ID token names another subject",
            ));
        }
        if nonce.is_some() && v.iat_s().is_none() {
            return Err(Error::new(
                ErrorCode::ClaimMismatch,
                "the ID token of a sign-in has no iat",
            ));
        }
        if fresh {
            let leeway = self.opts.checks.leeway_s;
            match v.check_time(self.session.server_now_s(), leeway) {
                // A sign-in's ID token was issued in the answer to this tab's own code
                // exchange (its nonce says so): where no Date header told the server's time,
                // its iat does (a clock hours off still signs in), then its times are judged.
                Err(e)
                    if nonce.is_some()
                        && matches!(e.code(), ErrorCode::Expired | ErrorCode::NotYetValid)
                        && self.session.learn_iat(v.iat_s(), true) =>
                {
                    v.check_time(self.session.server_now_s(), leeway)?
                }
                checked => checked?,
            }
        }
        self.remember(id, v.payload_json());
        Ok(())
    }

    /// The `sub` of the current session's ID token, if it has one.
    fn current_sub(&self) -> Option<String> {
        let id = self.session.tokens()?.id_token.as_deref()?;
        let (_, payload) = self.claims.iter().rev().find(|(t, _)| t == id)?;
        let obj = crate::json::parse_object(payload.as_bytes(), "").ok()?;
        obj.get("sub").and_then(Value::as_str).map(String::from)
    }

    /// Tokens from a stored or shared record, verified again. Its times are judged by the
    /// session when it decides to adopt them.
    fn tokens_from(&mut self, r: Record) -> Option<Tokens> {
        self.admit(Offered::record(&r)).ok()
    }

    /// Turns an answer of the refresh endpoint into the session's outcome, learning the server
    /// clock from it. The bool: the clock estimate moved because of a refused token.
    fn outcome(&mut self, now: Now, answer: Answer, grant: Grant<'_>) -> (RefreshOutcome, bool) {
        let transient = |code, message| RefreshOutcome::Transient {
            error: Error::new(code, message),
            retry_after_ms: None,
        };
        let (status, retry_after, date, body) = match answer {
            Answer::None { timeout: true } => {
                return (
                    transient(ErrorCode::Timeout, "the refresh request timed out"),
                    false,
                )
            }
            Answer::None { timeout: false } => {
                return (
                    transient(
                        ErrorCode::Network,
                        "the refresh request failed on the network",
                    ),
                    false,
                )
            }
            Answer::Http {
                status,
                retry_after,
                date,
                body,
            } => (status, retry_after, date, body),
        };
        if let Some(d) = date.as_deref().and_then(refresh::parse_http_date) {
            self.session.learn_date(d);
        }
        // UTF-16 units, counted on the UTF-8 bytes: one per lead byte, two for a 4-byte one.
        let units: usize = body
            .bytes()
            .map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
            .sum();
        if units as u64 > MAX_BODY_CHARS {
            return (
                RefreshOutcome::Transient {
                    error: BODY_TOO_LONG,
                    retry_after_ms: None,
                },
                false,
            );
        }
        let style = match grant {
            Grant::Code { .. } => Style::OAuth2,
            Grant::Refresh => self
                .opts
                .refresh
                .as_ref()
                .map_or(Style::OAuth2, |r| r.style),
        };
        let classified = refresh::classify(
            style,
            self.opts.dpop,
            status,
            retry_after.as_deref(),
            now.wall_ms,
            &body,
        );
        match classified {
            Classified::Transient {
                error,
                retry_after_ms,
            } => (
                RefreshOutcome::Transient {
                    error,
                    retry_after_ms,
                },
                false,
            ),
            Classified::Rejected { error } => (RefreshOutcome::Rejected { error }, false),
            Classified::Tokens(tr) => {
                let rt = tr.refresh_token.clone();
                // A refresh answer without an ID token keeps the one the session has; with
                // one, it must name the same subject (OpenID Connect Core §12.2). A sign-in
                // that asked for one (a nonce) must get one, with that nonce (§3.1.3.7).
                let (current, sub, nonce) = match grant {
                    Grant::Refresh => (
                        self.session.tokens().and_then(|t| t.id_token.clone()),
                        self.current_sub(),
                        None,
                    ),
                    Grant::Code { nonce } => (None, None, nonce),
                };
                if nonce.is_some() && tr.id_token.is_none() {
                    let error = Error::new(
                        ErrorCode::ClaimMismatch,
                        "the sign-in answer has no ID token (scope openid)",
                    );
                    let refresh_token = rt;
                    return (
                        RefreshOutcome::Invalid {
                            error,
                            refresh_token,
                        },
                        false,
                    );
                }
                let offered = Offered {
                    access_token: &tr.access_token,
                    refresh_token: tr.refresh_token,
                    expires_by_s: self.expires_by(tr.expires_in_s),
                    id_token: tr.id_token.as_deref(),
                    fresh: true,
                    sub: sub.as_deref(),
                    nonce,
                };
                let admitted = self.admit(offered).map(|mut t| {
                    t.id_token = t.id_token.or(current);
                    t
                });
                match admitted {
                    // The signature could not be checked here and now: not the answer's fault.
                    Err(error) if error.code() == ErrorCode::Network => (
                        RefreshOutcome::Unchecked {
                            error,
                            refresh_token: rt,
                        },
                        false,
                    ),
                    Err(error) => (
                        RefreshOutcome::Invalid {
                            error,
                            refresh_token: rt,
                        },
                        false,
                    ),
                    Ok(tokens) => {
                        let judged = self.session.judge(&tokens);
                        let learned = self.session.learn_iat(tokens.iat_s, judged.is_err());
                        match judged {
                            Ok(()) => (RefreshOutcome::Success(tokens), learned),
                            Err(error) => (
                                RefreshOutcome::Invalid {
                                    error,
                                    refresh_token: rt,
                                },
                                learned,
                            ),
                        }
                    }
                }
            }
        }
    }

    /// A newer session another tab left in shared storage (`persist: 'local'`): the refresh
    /// token `sent` was rotated by that tab.
    fn peer_rotation(&mut self, stored: Option<&str>, sent: Option<&str>) -> Option<Tokens> {
        if self.opts.persist != Persist::Local {
            return None;
        }
        let record = Record::from_json(stored?)?;
        let current = self.session.access_token();
        let rotated = match sent {
            Some(sent) => record.refresh_token.as_deref().is_some_and(|r| r != sent),
            None => current.is_some_and(|c| c != record.access_token),
        };
        if !rotated || current == Some(record.access_token.as_str()) {
            return None;
        }
        self.tokens_from(record)
    }

    fn remember(&mut self, token: &str, payload: &str) {
        if self.claims.iter().any(|(t, _)| t == token) {
            return;
        }
        if self.claims.len() >= CLAIMS_CACHE {
            self.claims.remove(0);
        }
        self.claims.push((token.into(), payload.into()));
    }

    // ---- actions into effects ----

    fn feed(&mut self, now: Now, input: session::Input, fx: &mut Vec<Effect>) {
        for action in self.session.handle(now, input) {
            self.perform(action, fx);
        }
    }

    fn perform(&mut self, action: Action, fx: &mut Vec<Effect>) {
        match action {
            Action::SendRefresh { id, refresh_token } => {
                if self.opts.cross_tab {
                    let lock = self.new_id();
                    self.locks.push(LockFor {
                        id: lock,
                        rid: Some(id),
                        held: false,
                    });
                    let wait = self.opts.refresh.as_ref().map_or(0, |r| r.timeout_ms);
                    let mut name = self.key.clone();
                    name.push_str(":refresh");
                    fx.push(Effect::Lock {
                        id: lock,
                        name,
                        wait_ms: wait.saturating_add(LOCK_WAIT_SLACK_MS),
                    });
                } else {
                    self.send_refresh(id, refresh_token, None, fx);
                }
            }
            Action::CancelRefresh { id } => {
                for l in self
                    .locks
                    .iter_mut()
                    .filter(|l| l.rid == Some(id) && !l.held)
                {
                    l.rid = None;
                }
                let found = self.requests.iter().find_map(|(req, p)| match p {
                    Purpose::Refresh { rid, lock, .. } if *rid == id => Some((*req, *lock)),
                    _ => None,
                });
                if let Some((req, lock)) = found {
                    self.abort(req, fx);
                    if let Some(lock) = lock {
                        self.unlock(lock, LOCK_HOLD_AFTER_MS, fx);
                    }
                }
            }
            Action::Resolve { call, access_token } => fx.push(settle(call, Ok(Some(access_token)))),
            Action::Reject { call, error } => fx.push(settle(call, Err(error))),
            Action::Emit(event) => fx.push(Effect::Emit(event)),
            // With `persist: 'memory'` the shell keeps the record in its own memory (setup says
            // no storage): a core restarted after a trap restores the session from it.
            Action::Persist(t) => fx.push(Effect::Store(self.record(t).to_json())),
            Action::ClearPersist => fx.push(Effect::Clear),
            Action::Broadcast(b) => {
                if self.channel_open {
                    let message = match b {
                        Broadcast::Session(t) => Message::Session(self.record(t)),
                        Broadcast::Refreshed(t) => Message::Refreshed(self.record(t)),
                        Broadcast::LoggedOut => Message::LoggedOut,
                    };
                    fx.push(Effect::Post(message.to_json()));
                }
            }
        }
    }

    /// What is stored and shared of a token set: never a refresh token in cookie style.
    fn record(&self, t: Tokens) -> Record {
        Record {
            access_token: t.access_token,
            refresh_token: if in_cookie(&self.opts) {
                None
            } else {
                t.refresh_token
            },
            expires_by_s: t.expires_by_s,
            id_token: t.id_token,
        }
    }

    fn refresh_token_now(&self) -> Option<String> {
        if in_cookie(&self.opts) {
            return None;
        }
        self.session.tokens().and_then(|t| t.refresh_token.clone())
    }

    fn send_refresh(
        &mut self,
        rid: RefreshId,
        token: Option<String>,
        lock: Option<u64>,
        fx: &mut Vec<Effect>,
    ) {
        let purpose = Purpose::Refresh {
            rid,
            sent: token.clone(),
            lock,
        };
        self.send(token.as_deref(), purpose, fx);
    }

    /// Sends a refresh request with `token` to the refresh endpoint.
    /// Sends a refresh request with `token` to the refresh endpoint: `refresh.url`, else the
    /// provider's `token_endpoint`. While that is not known (discovery pending or failed),
    /// the request fails at once as a network failure: retried on the backoff.
    fn send(&mut self, token: Option<&str>, purpose: Purpose, fx: &mut Vec<Effect>) -> u64 {
        let given = self.opts.refresh.as_ref().map(|r| r.url.clone());
        let url = given
            .filter(|u| !u.is_empty())
            .or_else(|| self.remote.metadata().token_endpoint.clone());
        match url {
            Some(url) => self.send_to(url, token, purpose, fx),
            None => {
                self.remote.want_discovery(self.clock_ms);
                let id = self.new_id();
                self.requests.push((id, purpose));
                self.unsent.push(id);
                id
            }
        }
    }

    fn send_to(
        &mut self,
        url: String,
        token: Option<&str>,
        purpose: Purpose,
        fx: &mut Vec<Effect>,
    ) -> u64 {
        let (style, client_id, timeout_ms) = match &self.opts.refresh {
            Some(r) => (r.style, r.client_id.as_deref(), r.timeout_ms),
            None => (Style::OAuth2, None, options::DEFAULT_REFRESH_TIMEOUT_MS),
        };
        let request = match purpose {
            Purpose::Logout => refresh::request(Style::Cookie, None, None),
            _ => refresh::request(style, token, client_id),
        };
        self.post(url, request, purpose, timeout_ms, fx)
    }

    /// POSTs `request` to `url` with `refresh.headers`; the answer goes to `purpose`.
    fn post(
        &mut self,
        url: String,
        request: refresh::Request,
        purpose: Purpose,
        timeout_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> u64 {
        let id = self.new_id();
        let mut headers = vec![
            ("Content-Type".into(), String::from(request.content_type)),
            ("Accept".into(), "application/json".into()),
        ];
        if let Some(r) = &self.opts.refresh {
            headers.extend(r.headers.iter().cloned());
        }
        // A logout's requests must reach the server even when the page navigates away.
        let keepalive = matches!(purpose, Purpose::Logout | Purpose::Revoke { .. });
        // Token requests (refresh, code exchange) carry a DPoP proof (RFC 9449 §5).
        let token_request = matches!(
            purpose,
            Purpose::Refresh { .. } | Purpose::Probe | Purpose::Login
        );
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut send = Effect::Send {
            id,
            method: "POST",
            url,
            headers,
            body: request.body,
            include_credentials: request.with_credentials,
            timeout_ms,
            keepalive,
            dpop: None,
        };
        #[cfg(feature = "dpop")]
        if token_request && self.dpop.is_some() {
            self.sign_later(&mut send);
            self.dpop_sent.push(DpopSent {
                send: send.clone(),
                retried: false,
            });
        }
        #[cfg(not(feature = "dpop"))]
        let _ = token_request;
        fx.push(send);
        self.requests.push((id, purpose));
        id
    }

    /// Puts a fresh DPoP proof (its signing input) on a token request: `iat` on the estimated
    /// server clock, the server's latest nonce.
    #[cfg(feature = "dpop")]
    fn sign_later(&mut self, send: &mut Effect) {
        let iat = self.session.server_now_s();
        if let (Some(d), Effect::Send { url, dpop, .. }) = (self.dpop.as_mut(), send) {
            *dpop = Some(d.proof("POST", url, iat, None));
        }
    }

    /// Without DPoP in the build there is nothing to send again.
    #[cfg(not(feature = "dpop"))]
    #[allow(clippy::unused_self)]
    fn dpop_retry(
        &mut self,
        _: u64,
        _: u16,
        _: Option<&str>,
        _: Option<String>,
        _: &str,
        _: &mut Vec<Effect>,
    ) -> bool {
        false
    }

    /// A request ended or was aborted: its DPoP copy goes.
    #[cfg_attr(not(feature = "dpop"), allow(clippy::unused_self))]
    fn dpop_done(&mut self, _id: u64) {
        #[cfg(feature = "dpop")]
        self.dpop_sent.retain(|s| s.send_id() != _id);
    }

    /// A token request with a DPoP proof ended with an answer: the server's `DPoP-Nonce` is
    /// kept for the next proofs, and a `use_dpop_nonce` refusal (RFC 9449 §8) is sent again
    /// once, with a new proof carrying that nonce (true: sent again, the answer is spent).
    #[cfg(feature = "dpop")]
    fn dpop_retry(
        &mut self,
        id: u64,
        status: u16,
        date: Option<&str>,
        nonce: Option<String>,
        body: &str,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let Some(at) = self.dpop_sent.iter().position(|s| s.send_id() == id) else {
            return false;
        };
        let mut sent = self.dpop_sent.remove(at);
        let (Some(d), Effect::Send { url, .. }) = (self.dpop.as_mut(), &sent.send) else {
            return false;
        };
        let usable = nonce.filter(|n| dpop::is_nonce(n));
        if let Some(n) = usable.as_deref() {
            d.learn_nonce(url, n);
        }
        let demanded = (400..500).contains(&status)
            && crate::json::parse_object(body.as_bytes(), "")
                .ok()
                .is_some_and(|o| o.get("error").and_then(Value::as_str) == Some("use_dpop_nonce"));
        if !demanded || usable.is_none() || sent.retried {
            return false;
        }
        // The answer tells the server's time too: the new proof's iat uses it.
        if let Some(d) = date.and_then(refresh::parse_http_date) {
            self.session.learn_date(d);
        }
        self.sign_later(&mut sent.send);
        sent.retried = true;
        fx.push(sent.send.clone());
        self.dpop_sent.push(sent);
        true
    }

    /// `client.fetch` with DPoP: the signing input of the proof for its request (`ath` of
    /// `token`, the resource server's nonce).
    #[cfg(feature = "dpop")]
    fn resource_proof(&mut self, method: &str, url: &str, token: &str) -> Result<Option<String>> {
        let iat = self.session.server_now_s();
        let d = self.dpop.as_mut().ok_or(NO_DPOP_KEY)?;
        let method_ok = !method.is_empty()
            && method.len() <= 32
            && method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !method_ok || !remote::is_http_url(url) || token.is_empty() {
            return Err(Error::malformed(
                "fetch needs an http(s) URL, a method and a token for a DPoP proof",
            ));
        }
        Ok(Some(d.proof(method, url, iat, Some(token))))
    }

    fn abort(&mut self, id: u64, fx: &mut Vec<Effect>) {
        self.dpop_done(id);
        if let Some(at) = self.requests.iter().position(|(i, _)| *i == id) {
            self.requests.remove(at);
            fx.push(Effect::Abort { id });
        }
    }

    fn unlock(&mut self, id: u64, after_ms: u64, fx: &mut Vec<Effect>) {
        if let Some(at) = self.locks.iter().position(|l| l.id == id) {
            self.locks.remove(at);
            fx.push(Effect::Unlock { id, after_ms });
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// After every input: what the getters say, the fast path, the timer.
    fn finish(&mut self, fx: &mut Vec<Effect>) {
        let token = self.session.access_token();
        let known = |t: Option<&str>| {
            let t = t?;
            self.claims
                .iter()
                .rev()
                .find(|(c, _)| c == t)
                .map(|(_, p)| p.clone())
        };
        let state = Effect::State {
            authenticated: self.session.is_authenticated(),
            claims: known(token),
            user: known(self.session.tokens().and_then(|t| t.id_token.as_deref())),
            expires_at_ms: self.session.expires_at_ms(),
        };
        if self.last_state.as_ref() != Some(&state) {
            self.last_state = Some(state.clone());
            fx.push(state);
        }
        let for_ms = if self.probe.is_some() {
            0
        } else {
            self.session.fresh_for_ms()
        };
        fx.push(Effect::Fresh {
            token: token.filter(|_| for_ms > 0).unwrap_or_default().into(),
            for_ms,
        });
        fx.push(Effect::Wake(self.session.next_wake_ms()));
    }
}

/// A token set offered to the client (by the app, a refresh answer, storage, another tab),
/// not verified yet.
struct Offered<'a> {
    access_token: &'a str,
    refresh_token: Option<String>,
    /// The end `expires_in` gives, on the estimated server clock.
    expires_by_s: Option<u64>,
    id_token: Option<&'a str>,
    /// Just issued: the ID token's `exp` is checked too.
    fresh: bool,
    /// The subject a refreshed ID token must keep.
    sub: Option<&'a str>,
    /// The `nonce` the ID token of a sign-in must carry.
    nonce: Option<&'a str>,
}

impl<'a> Offered<'a> {
    fn record(r: &'a Record) -> Self {
        Self {
            access_token: &r.access_token,
            refresh_token: r.refresh_token.clone(),
            expires_by_s: r.expires_by_s,
            id_token: r.id_token.as_deref(),
            fresh: false,
            sub: None,
            nonce: None,
        }
    }
}

/// A token request sent with a DPoP proof, kept until it ends.
#[derive(Debug, Clone)]
#[cfg(feature = "dpop")]
struct DpopSent {
    /// The [`Effect::Send`] as sent.
    send: Effect,
    /// Already sent again with the server's nonce.
    retried: bool,
}

#[cfg(feature = "dpop")]
impl DpopSent {
    fn send_id(&self) -> u64 {
        match self.send {
            Effect::Send { id, .. } => id,
            _ => 0,
        }
    }
}

/// How a request ended, before any interpretation.
#[derive(Debug, Clone)]
enum Answer {
    Http {
        status: u16,
        retry_after: Option<String>,
        date: Option<String>,
        body: String,
    },
    None {
        timeout: bool,
    },
}

/// The clock the key cache counts in: monotonic where the shell has it.
fn clock_ms(now: Now) -> u64 {
    now.monotonic_ms.unwrap_or(now.wall_ms)
}

fn settle(call: CallId, result: core::result::Result<Option<String>, Error>) -> Effect {
    Effect::Settle { call, result }
}

/// Settles a sign-in callback: `{"appState":…}`, or why not.
fn login_settle(call: CallId, result: core::result::Result<String, Failure>) -> Effect {
    match result {
        Ok(value) => settle(call, Ok(Some(value))),
        Err(Failure {
            error,
            provider: Some((provider_error, provider_description)),
        }) => Effect::Refused {
            call,
            error,
            provider_error,
            provider_description,
        },
        Err(f) => settle(call, Err(f.error)),
    }
}

/// The end of a logout's provider side: navigate, then settle.
fn ended(call: Option<CallId>, navigate: Option<String>, fx: &mut Vec<Effect>) {
    if let Some(url) = navigate {
        fx.push(Effect::Navigate(url));
    }
    if let Some(call) = call {
        fx.push(settle(call, Ok(None)));
    }
}

/// The shell's random bytes (an array of byte values); empty when they are not that.
pub(crate) fn random_bytes(v: &Value) -> Vec<u8> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .map(|b| b.as_whole(255).and_then(|b| u8::try_from(b).ok()))
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_default()
}

fn in_cookie(opts: &ClientOptions) -> bool {
    opts.refresh
        .as_ref()
        .is_some_and(|r| r.style == Style::Cookie)
}

/// Tabs of one origin with the same configuration share one stored session and one channel.
fn storage_key(opts: &ClientOptions) -> String {
    let mut id = String::new();
    for part in [
        opts.refresh.as_ref().map(|r| r.url.as_str()),
        opts.refresh.as_ref().and_then(|r| r.client_id.as_deref()),
        opts.checks.issuer.as_deref(),
    ] {
        id.push_str(part.unwrap_or_default());
        id.push('\n');
    }
    for a in &opts.checks.audience {
        id.push_str(a);
        id.push('\n');
    }
    // DPoP-bound and bearer sessions are never mixed.
    if opts.dpop {
        id.push_str("dpop\n");
    }
    let digest = crate::sha256::sha256(id.as_bytes());
    let mut key = String::from("jwt-keeper:");
    key.push_str(&crate::base64url::encode(
        digest.get(..12).unwrap_or_default(),
    ));
    key
}

#[cfg(test)]
mod tests;
