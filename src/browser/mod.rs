//! The thin browser shell around the [`Session`] machine, and the only code that touches the
//! web platform: `fetch`, timers, wake-up events, storage. It reads everything through
//! `globalThis`, so it runs in a window and in a Web Worker alike.
//!
//! Every token is verified here before the machine sees it. Nothing in this module decides
//! anything about time or retries: it turns platform events into [`Input`]s and performs the
//! [`Action`]s that come back.

mod env;
mod locks;
mod net;
mod store;
mod tabs;
mod timer;

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;

use crate::error::{Error, ErrorCode, Result};
use crate::key::KeySet;
use crate::options::{push_u64, ClientOptions, Record};
use crate::refresh::{self, Classified, Style};
use crate::session::{
    Action, Broadcast, CallId, Config, Event, Input, Now, RefreshId, RefreshOutcome, Session,
    Tokens,
};
use crate::token::DEFAULT_MAX_TOKEN_BYTES;
use crate::verify::{verify_untimed, VerifiedToken, VerifyOptions};

use env::{Listener, WAKE_EVENTS};
use timer::Timeout;

/// How many verified tokens' claims are remembered for `claims` (current and previous).
const CLAIMS_CACHE: usize = 4;

use crate::bindings::to_js as js_error;

struct State {
    session: Session,
    keys: KeySet,
    /// The client's claim checks, fixed at creation.
    verify_opts: VerifyOptions,
    opts: ClientOptions,
    /// The cross-tab refresh lock of this configuration.
    lock_name: String,
    store: store::Store,
    /// Waiting calls: id, resolve, reject.
    calls: Vec<(u64, Function, Function)>,
    next_call: u64,
    emit: Function,
    wake: Option<Timeout>,
    /// The refresh request out, and the cross-tab lock it holds (released when it ends).
    inflight: Option<(RefreshId, net::InFlight, Option<Function>)>,
    /// (access token, verified payload JSON), newest last.
    verified: Vec<(String, String)>,
    listeners: Vec<Listener>,
    tabs: Option<tabs::Tabs>,
    disposed: bool,
}

/// One `AuthClient`'s state and its platform hooks.
pub struct Driver {
    state: Rc<RefCell<State>>,
}

impl Driver {
    /// A client with `opts`, verifying with `keys`, reporting events through
    /// `emit(type, detailJson)`. Resumes a stored session (verified again) when `persist` has one.
    pub fn new(opts: ClientOptions, keys: KeySet, emit: Function) -> Self {
        let config = Config {
            refresh_margin_ms: opts.refresh_margin_s.saturating_mul(1000),
            can_refresh: opts.refresh.is_some(),
            refresh_token_in_cookie: opts
                .refresh
                .as_ref()
                .is_some_and(|r| r.style == Style::Cookie),
            ..Config::default()
        };
        let key = storage_key(&opts);
        let verify_opts = VerifyOptions {
            issuer: opts.issuer.clone(),
            audience: opts.audience.clone(),
            leeway_s: opts.leeway_s,
            now_s: 0, // time is checked separately, against the machine's server clock
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        };
        let tabs_wanted = opts.cross_tab;
        let store = store::Store::new(opts.persist, key.clone());
        let state = Rc::new(RefCell::new(State {
            session: Session::new(config, env::seed()),
            keys,
            verify_opts,
            opts,
            lock_name: key.clone() + ":refresh",
            store,
            calls: Vec::new(),
            next_call: 1,
            emit,
            wake: None,
            inflight: None,
            verified: Vec::new(),
            listeners: Vec::new(),
            tabs: None,
            disposed: false,
        }));
        let listeners = WAKE_EVENTS
            .iter()
            .filter_map(|kind| {
                let weak = Rc::downgrade(&state);
                let input = if *kind == "online" {
                    || Input::Online
                } else {
                    || Input::Wake
                };
                Listener::global(kind, move || feed(&weak, input()))
            })
            .collect();
        let tabs = if tabs_wanted {
            let weak = Rc::downgrade(&state);
            tabs::Tabs::join(&key, move |message| from_peer(&weak, message))
        } else {
            None
        };
        if let Ok(mut s) = state.try_borrow_mut() {
            s.listeners = listeners;
            s.tabs = tabs;
        }
        let driver = Self { state };
        driver.resume();
        driver
    }

    fn resume(&self) {
        let Ok(mut s) = self.state.try_borrow_mut() else {
            return;
        };
        let Some(text) = s.store.load() else { return };
        // A stored token is checked like any other: a tampered store is refused and cleared.
        match Record::from_json(&text).and_then(|record| s.tokens_from(record)) {
            Some(tokens) => {
                drop(s);
                feed(&Rc::downgrade(&self.state), Input::SetSession(tokens));
            }
            None => s.store.clear(),
        }
    }

    /// `setSession`: verifies `access_token` (throws its error, leaving the session as it was),
    /// then adopts it. `expires_in_s` (the login response's `expires_in`) places the token on
    /// the server's clock; without it the local clock (or the offset measured by an earlier
    /// refresh) decides whether the token is still valid.
    pub fn set_session(
        &self,
        access_token: String,
        refresh_token: Option<String>,
        expires_in_s: Option<u64>,
    ) -> Result<()> {
        let now = env::now();
        let tokens = {
            let mut s = self.state.try_borrow_mut().map_err(|_| busy())?;
            let v = s.verify(&access_token)?;
            let in_cookie = s.session_in_cookie();
            let tokens = Tokens {
                access_token,
                refresh_token: if in_cookie { None } else { refresh_token },
                exp_s: v.exp_s(),
                iat_s: v.iat_s(),
                expires_in_s,
                received_at_ms: now.wall_ms,
                server_date_s: None,
            };
            let now_s = match expires_in_s {
                Some(_) => s.session.verification_now_s(&tokens),
                None => s.session.server_now_s(now.wall_ms),
            };
            v.check_time(now_s, s.opts.leeway_s)?;
            s.remember(&tokens.access_token, v.payload_json().to_owned());
            tokens
        };
        feed(&Rc::downgrade(&self.state), Input::SetSession(tokens));
        Ok(())
    }

    /// A promise answered by the machine: `make` turns the call id into the input.
    pub fn call(&self, make: impl FnOnce(CallId) -> Input) -> Promise {
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        let Some((resolve, reject)) = settle else {
            return promise;
        };
        let id = {
            let Ok(mut s) = self.state.try_borrow_mut() else {
                let _ = reject.call1(&JsValue::UNDEFINED, &js_error(busy()));
                return promise;
            };
            if s.disposed {
                let _ = reject.call1(&JsValue::UNDEFINED, &js_error(disposed()));
                return promise;
            }
            let id = s.next_call;
            s.next_call += 1;
            s.calls.push((id, resolve, reject));
            id
        };
        feed(&Rc::downgrade(&self.state), make(CallId(id)));
        promise
    }

    /// `logout()`.
    pub fn logout(&self) {
        feed(&Rc::downgrade(&self.state), Input::Logout);
    }

    /// `isAuthenticated`.
    pub fn is_authenticated(&self) -> bool {
        self.state
            .try_borrow()
            .is_ok_and(|s| s.session.is_authenticated())
    }

    /// `claims`, as the verified payload's JSON text.
    pub fn claims_json(&self) -> Option<String> {
        let s = self.state.try_borrow().ok()?;
        let token = s.session.access_token()?;
        s.verified
            .iter()
            .rev()
            .find(|(t, _)| t == token)
            .map(|(_, p)| p.clone())
    }

    /// For how many ms `token` may be handed out without asking the machine (0: ask it).
    pub fn fresh_for_ms(&self, token: &str) -> u64 {
        self.state
            .try_borrow()
            .map_or(0, |s| s.session.fresh_for_ms(token))
    }

    /// `expiresAt` (ms since epoch, local clock).
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.state.try_borrow().ok()?.session.expires_at_ms()
    }

    /// `dispose()`: timers, listeners and the request in flight stop; waiting calls are rejected
    /// (`not_authenticated`); no event fires afterwards.
    pub fn dispose(&self) {
        let Ok(mut s) = self.state.try_borrow_mut() else {
            return;
        };
        s.disposed = true;
        s.wake = None;
        s.listeners.clear();
        s.tabs = None;
        if let Some((_, inflight, release)) = s.inflight.take() {
            inflight.cancel();
            if let Some(release) = release {
                locks::release_soon(release);
            }
        }
        for (_, _, reject) in core::mem::take(&mut s.calls) {
            let _ = reject.call1(&JsValue::UNDEFINED, &js_error(disposed()));
        }
    }
}

const fn busy() -> Error {
    Error::new(ErrorCode::Internal, "the client is busy (re-entrant call)")
}

const fn disposed() -> Error {
    Error::new(ErrorCode::NotAuthenticated, "the client was disposed")
}

impl State {
    fn session_in_cookie(&self) -> bool {
        self.opts
            .refresh
            .as_ref()
            .is_some_and(|r| r.style == Style::Cookie)
    }

    /// Verifies a token's signature and claims with the client's key and checks, but not
    /// `exp`/`nbf`: the `now` for those comes from the machine's view of the server clock.
    fn verify(&self, token: &str) -> Result<VerifiedToken> {
        verify_untimed(token, &self.keys, &self.verify_opts)
    }

    fn remember(&mut self, token: &str, payload: String) {
        if self.verified.len() >= CLAIMS_CACHE {
            self.verified.remove(0);
        }
        self.verified.push((token.to_owned(), payload));
    }

    /// What is stored and shared of a token set: never a refresh token in cookie style.
    fn record(&self, tokens: Tokens) -> Record {
        Record {
            access_token: tokens.access_token,
            refresh_token: if self.session_in_cookie() {
                None
            } else {
                tokens.refresh_token
            },
            received_at_ms: tokens.received_at_ms,
            expires_in_s: tokens.expires_in_s,
            server_date_s: tokens.server_date_s,
        }
    }

    /// Tokens from a stored or shared record, verified again (signature and claims; an
    /// expired token is fine, the machine refreshes it). `None` for a record that fails.
    fn tokens_from(&mut self, record: Record) -> Option<Tokens> {
        let v = self.verify(&record.access_token).ok()?;
        self.remember(&record.access_token, v.payload_json().to_owned());
        let in_cookie = self.session_in_cookie();
        Some(Tokens {
            access_token: record.access_token,
            refresh_token: if in_cookie {
                None
            } else {
                record.refresh_token
            },
            exp_s: v.exp_s(),
            iat_s: v.iat_s(),
            expires_in_s: record.expires_in_s,
            received_at_ms: record.received_at_ms,
            server_date_s: record.server_date_s,
        })
    }

    /// Sends the refresh request `id`; `release` frees the cross-tab lock when it ends.
    fn send(
        &mut self,
        weak: &Weak<RefCell<State>>,
        id: RefreshId,
        token: Option<String>,
        release: Option<Function>,
    ) {
        let weak = weak.clone();
        let started = self
            .opts
            .refresh
            .as_ref()
            .and_then(|opts| net::send(opts, token.as_deref()));
        match started {
            Some((inflight, answer)) => {
                self.inflight = Some((id, inflight, release));
                wasm_bindgen_futures::spawn_local(async move {
                    let answer = answer.await;
                    answered(&weak, id, token, answer);
                });
            }
            None => {
                if let Some(release) = release {
                    locks::release_soon(release);
                }
                wasm_bindgen_futures::spawn_local(async move {
                    answered(&weak, id, token, net::Answer::Network)
                });
            }
        }
    }

    /// Tokens another tab left in shared storage (`persist: 'local'`) that are newer than
    /// what was sent: the refresh token `sent` was rotated by that tab.
    fn peer_tokens_in_store(&mut self, sent: Option<&str>) -> Option<Tokens> {
        if self.opts.persist != crate::options::Persist::Local {
            return None;
        }
        let record = Record::from_json(&self.store.load()?)?;
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

    fn take_call(&mut self, id: CallId) -> Option<(Function, Function)> {
        let at = self.calls.iter().position(|(c, _, _)| *c == id.0)?;
        let (_, resolve, reject) = self.calls.remove(at);
        Some((resolve, reject))
    }

    /// Turns an answer of the refresh endpoint into the machine's outcome.
    fn outcome(&mut self, answer: net::Answer, now: Now) -> Option<RefreshOutcome> {
        let transient = |code, message| RefreshOutcome::Transient {
            error: Error::new(code, message),
            retry_after_ms: None,
        };
        Some(match answer {
            net::Answer::Cancelled => return None,
            net::Answer::Network => transient(
                ErrorCode::Network,
                "the refresh request failed on the network",
            ),
            net::Answer::Timeout => transient(ErrorCode::Timeout, "the refresh request timed out"),
            net::Answer::Response {
                status,
                retry_after,
                date_s,
                body,
            } => {
                let style = self
                    .opts
                    .refresh
                    .as_ref()
                    .map_or(Style::OAuth2, |r| r.style);
                match refresh::classify(style, status, retry_after.as_deref(), now.wall_ms, &body) {
                    Classified::Transient {
                        error,
                        retry_after_ms,
                    } => RefreshOutcome::Transient {
                        error,
                        retry_after_ms,
                    },
                    Classified::Rejected { error } => RefreshOutcome::Rejected { error },
                    Classified::Tokens(t) => {
                        let verified = self.verify(&t.access_token).and_then(|v| {
                            let tokens = Tokens {
                                access_token: t.access_token.clone(),
                                refresh_token: t.refresh_token.clone(),
                                exp_s: v.exp_s(),
                                iat_s: v.iat_s(),
                                expires_in_s: t.expires_in_s,
                                received_at_ms: now.wall_ms,
                                server_date_s: date_s,
                            };
                            v.check_time(
                                self.session.verification_now_s(&tokens),
                                self.opts.leeway_s,
                            )?;
                            Ok((tokens, v))
                        });
                        match verified {
                            Ok((tokens, v)) => {
                                self.remember(&tokens.access_token, v.payload_json().to_owned());
                                RefreshOutcome::Success(tokens)
                            }
                            Err(error) => RefreshOutcome::Invalid {
                                error,
                                refresh_token: t.refresh_token,
                            },
                        }
                    }
                }
            }
        })
    }

    /// Performs one action. Returns an input to feed next, if any.
    fn perform(&mut self, weak: &Weak<RefCell<State>>, action: Action) {
        match action {
            Action::SendRefresh { id, refresh_token } => {
                if self.opts.cross_tab {
                    let name = self.lock_name.clone();
                    let weak = weak.clone();
                    let sent = refresh_token.clone();
                    let wait = self.opts.refresh.as_ref().map_or(0, |r| r.timeout_ms);
                    if locks::with_lock(name, wait, move |release| locked(&weak, id, sent, release))
                    {
                        return;
                    }
                }
                self.send(weak, id, refresh_token, None);
            }
            Action::CancelRefresh { id } => {
                if self.inflight.as_ref().is_some_and(|(i, _, _)| *i == id) {
                    if let Some((_, inflight, release)) = self.inflight.take() {
                        inflight.cancel();
                        if let Some(release) = release {
                            locks::release_soon(release);
                        }
                    }
                }
            }
            Action::Resolve { call, access_token } => {
                if let Some((resolve, _)) = self.take_call(call) {
                    let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::from_str(&access_token));
                }
            }
            Action::Reject { call, error } => {
                if let Some((_, reject)) = self.take_call(call) {
                    let _ = reject.call1(&JsValue::UNDEFINED, &js_error(error));
                }
            }
            Action::Emit(event) => {
                let (kind, detail) = event_json(&event);
                let _ = self.emit.call2(
                    &JsValue::UNDEFINED,
                    &JsValue::from_str(kind),
                    &JsValue::from_str(&detail),
                );
            }
            Action::Persist(tokens) => {
                let record = self.record(tokens);
                self.store.save(record.to_json());
            }
            Action::ClearPersist => self.store.clear(),
            Action::Broadcast(b) => {
                let message = match b {
                    Broadcast::Session(t) => tabs::Message::Session(self.record(t)),
                    Broadcast::Refreshed(t) => tabs::Message::Refreshed(self.record(t)),
                    Broadcast::LoggedOut => tabs::Message::LoggedOut,
                };
                if let Some(tabs) = &self.tabs {
                    tabs.post(&message);
                }
            }
        }
    }
}

/// A message from another tab: verified, then fed to the machine.
fn from_peer(weak: &Weak<RefCell<State>>, message: tabs::Message) {
    let input = {
        let Some(state) = weak.upgrade() else { return };
        let Ok(mut s) = state.try_borrow_mut() else {
            return;
        };
        match message {
            tabs::Message::Session(r) => s.tokens_from(r).map(Input::PeerSession),
            tabs::Message::Refreshed(r) => s.tokens_from(r).map(Input::PeerRefreshed),
            tabs::Message::LoggedOut => Some(Input::PeerLoggedOut),
        }
    };
    if let Some(input) = input {
        feed(weak, input);
    }
}

/// The cross-tab lock for request `id` is ours: send it, unless another tab's refresh (its
/// broadcast, or its record in shared storage) made it moot.
fn locked(weak: &Weak<RefCell<State>>, id: RefreshId, token: Option<String>, release: Function) {
    let peer = {
        let Some(state) = weak.upgrade() else {
            return locks::release_soon(release);
        };
        let Ok(mut s) = state.try_borrow_mut() else {
            return locks::release_soon(release);
        };
        s.peer_tokens_in_store(token.as_deref())
    };
    if let Some(tokens) = peer {
        feed(weak, Input::PeerRefreshed(tokens));
    }
    let Some(state) = weak.upgrade() else {
        return locks::release_soon(release);
    };
    let Ok(mut s) = state.try_borrow_mut() else {
        return locks::release_soon(release);
    };
    if s.session.refresh_wanted(id) {
        // The refresh token may have changed while waiting (another tab's rotation).
        let token = token.and_then(|_| s.session.tokens().and_then(|t| t.refresh_token.clone()));
        s.send(weak, id, token, Some(release));
    } else {
        // Moot: report it (the machine ignores it) so every request has its one result.
        drop(s);
        locks::release_soon(release);
        feed(
            weak,
            Input::RefreshDone {
                id,
                outcome: RefreshOutcome::Transient {
                    error: Error::new(ErrorCode::Network, "superseded"),
                    retry_after_ms: None,
                },
            },
        );
    }
}

/// A refresh request ended.
fn answered(weak: &Weak<RefCell<State>>, id: RefreshId, sent: Option<String>, answer: net::Answer) {
    let now = env::now();
    let (outcome, peer, release) = {
        let Some(state) = weak.upgrade() else { return };
        let Ok(mut s) = state.try_borrow_mut() else {
            return;
        };
        let release = match s.inflight.take() {
            Some((i, _, release)) if i == id => release,
            other => {
                s.inflight = other;
                None
            }
        };
        let outcome = s.outcome(answer, now);
        // Before a rejection ends the session: did another tab rotate the token meanwhile?
        let peer = match outcome {
            Some(RefreshOutcome::Rejected { .. }) => s.peer_tokens_in_store(sent.as_deref()),
            _ => None,
        };
        (outcome, peer, release)
    };
    if let Some(tokens) = peer {
        feed(weak, Input::PeerRefreshed(tokens));
    }
    if let Some(outcome) = outcome {
        feed(weak, Input::RefreshDone { id, outcome });
    }
    // Held a little longer so the broadcast result reaches the other tabs first.
    if let Some(release) = release {
        locks::release_soon(release);
    }
}

/// Feeds one input and performs what the machine answers, then re-arms the wake timer.
/// Never holds the state across a call into app code: events are delivered by the JS layer
/// in a later microtask, promise callbacks run later by definition.
fn feed(weak: &Weak<RefCell<State>>, input: Input) {
    let Some(state) = weak.upgrade() else { return };
    let Ok(mut s) = state.try_borrow_mut() else {
        // Re-entered (a synchronous callback fed an input): run it after the current one.
        let weak = weak.clone();
        wasm_bindgen_futures::spawn_local(async move { feed(&weak, input) });
        return;
    };
    if s.disposed {
        return;
    }
    let now = env::now();
    let actions = s.session.handle(now, input);
    for action in actions {
        s.perform(weak, action);
    }
    s.wake = s.session.next_wake_ms().map(|at| {
        let weak = weak.clone();
        Timeout::new(at.saturating_sub(now.wall_ms), move || {
            feed(&weak, Input::Wake)
        })
    });
}

/// The event's type and its detail as JSON (the JS layer makes `error` an `AuthError`).
fn event_json(event: &Event) -> (&'static str, String) {
    let mut d = String::from("{");
    let kind = match event {
        Event::Refresh {
            access_token,
            expires_at_ms,
            source,
        } => {
            d.push_str("\"accessToken\":");
            refresh::push_json_string(&mut d, access_token);
            d.push_str(",\"expiresAt\":");
            push_u64(&mut d, *expires_at_ms);
            d.push_str(",\"source\":\"");
            d.push_str(source.as_str());
            d.push('"');
            "refresh"
        }
        Event::Logout { reason } => {
            d.push_str("\"reason\":\"");
            d.push_str(reason.as_str());
            d.push('"');
            "logout"
        }
        Event::Error {
            error,
            will_retry,
            retry_in_ms,
        } => {
            d.push_str("\"code\":\"");
            d.push_str(error.code().as_str());
            d.push_str("\",\"message\":");
            refresh::push_json_string(&mut d, error.message());
            d.push_str(",\"willRetry\":");
            d.push_str(if *will_retry { "true" } else { "false" });
            if let Some(ms) = retry_in_ms {
                d.push_str(",\"retryInMs\":");
                push_u64(&mut d, *ms);
            }
            "error"
        }
    };
    d.push('}');
    (kind, d)
}

/// Tabs of one origin with the same configuration share one stored session.
fn storage_key(opts: &ClientOptions) -> String {
    let mut id = String::new();
    for part in [
        opts.refresh.as_ref().map(|r| r.url.as_str()),
        opts.refresh.as_ref().and_then(|r| r.client_id.as_deref()),
        opts.issuer.as_deref(),
    ] {
        id.push_str(part.unwrap_or_default());
        id.push('\n');
    }
    for a in &opts.audience {
        id.push_str(a);
        id.push('\n');
    }
    let digest = crate::sha256::sha256(id.as_bytes());
    let mut key = String::from("jwt-keeper:");
    key.push_str(&crate::base64url::encode(
        digest.get(..12).unwrap_or_default(),
    ));
    key
}
