//! The session state machine behind `AuthClient`: token deadlines, refresh decisions, retry
//! backoff, logout. It is pure: it does no I/O, reads no clock and draws no randomness of its
//! own. The browser driver feeds it [`Input`]s with the current local time and performs the
//! [`Action`]s it returns, so every timing and failure can be replayed in a plain `cargo test`.
//!
//! # Driver protocol
//!
//! - Keep one [`Session`]. Call [`Session::handle`] for every input with the time as a [`Now`]
//!   (`Date.now()` and `performance.now()`) and perform the returned actions in order:
//!   - [`Action::SendRefresh`]: send the request; when it ends (success, error or the driver's
//!     own timeout) classify and, for a token response, verify it, then feed
//!     [`Input::RefreshDone`] with the same id. Exactly one result per request.
//!   - [`Action::CancelRefresh`]: abort that request; a late result is ignored anyway.
//!   - [`Action::Resolve`] / [`Action::Reject`]: settle the call's promise.
//!   - [`Action::Emit`]: dispatch to listeners. [`Action::Persist`] / [`Action::ClearPersist`]:
//!     write / clear storage. [`Action::Broadcast`]: post to the other tabs, which feed the
//!     matching `Peer*` input.
//! - After every `handle`, (re)arm ONE timer for [`Session::next_wake_ms`] (cancel it on
//!   `None`) and feed [`Input::Wake`] when it fires. Also feed `Wake` on `visibilitychange`
//!   (both ways: going hidden records the time before a possible sleep), `pageshow` and
//!   `focus`, and [`Input::Online`] on `online`. Timers only wake the machine early;
//!   correctness never depends on them firing on time.
//! - Verify every token before handing it over. The `now` to verify with is
//!   [`Session::verification_now_s`] (or [`Session::server_now_s`] for `setSession()`), not
//!   `Date.now()`: the local clock may be hours off.
//!   The machine then places the expiry on its own time line; a token that turns out already
//!   expired on arrival is never handed out.
//! - Each call gets exactly one `Resolve` or `Reject`, possibly many inputs later. Only an
//!   outstanding refresh keeps calls waiting, so a result must always be reported.
//!
//! # Time
//!
//! Deadlines live on a monotonic time line built from the driver's readings ([`Now`]): a wall
//! clock set back does not move them, a jump forward (sleep) counts as elapsed time. Expiry is
//! computed at receipt from `expires_in` and/or `exp` read against a measured server time
//! (`iat`, `Date`), so a wrong local clock neither expires tokens early nor keeps them late.

mod backoff;
mod clock;
mod deadline;
mod types;

pub use backoff::{
    BACKOFF_BASE_MS, DEFAULT_MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS, MIN_RETRY_DELAY_MS,
};
pub use clock::Now;
pub use deadline::{DEFAULT_REFRESH_MARGIN_MS, MIN_REFRESH_MARGIN_MS, MIN_REMAINING_VALIDITY_MS};
pub use types::{
    Action, Broadcast, CallId, Config, Event, Input, LogoutReason, RefreshId, RefreshOutcome,
    Source, Tokens,
};

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, ErrorCode};
use backoff::Rng;
use clock::{add_signed, Clock};
use deadline::Deadlines;

const NOT_AUTHENTICATED: Error = Error::new(ErrorCode::NotAuthenticated, "there is no session");
const CANNOT_REFRESH: Error = Error::new(
    ErrorCode::NotAuthenticated,
    "this session cannot be refreshed: no refresh token or no refresh url",
);
const INVALID_NO_REFRESH: Error = Error::new(
    ErrorCode::NotAuthenticated,
    "the API rejected the access token and the session cannot be refreshed",
);
const EXPIRED_ON_ARRIVAL: Error = Error::new(
    ErrorCode::BadResponse,
    "the refreshed access token was already expired when it arrived",
);
const NOT_REFRESHED_YET: Error = Error::new(
    ErrorCode::Expired,
    "the access token expired and has not been refreshed yet",
);

/// What a waiting call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A usable token (`getAccessToken()`, a `fetch` replay).
    Token,
    /// The result of a refresh (`refresh()`).
    Refresh,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    call: CallId,
    want: Want,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: RefreshId,
    /// Another tab's tokens were adopted after it was sent: its result is no longer awaited,
    /// only adopted if it is newer still.
    superseded: bool,
}

#[derive(Debug, Clone)]
struct Current {
    /// As adopted, with the effective refresh token (the last rotated one).
    tokens: Tokens,
    deadlines: Deadlines,
    /// The API called this token invalid: it is not handed out again.
    invalidated: bool,
}

/// The session state machine. See the [module docs](self) for the driver protocol.
#[derive(Debug, Clone)]
pub struct Session {
    config: Config,
    clock: Clock,
    rng: Rng,
    current: Option<Current>,
    /// Last measured server time minus monotonic time.
    offset: Option<i64>,
    inflight: Option<InFlight>,
    next_refresh_id: u64,
    waiters: Vec<Waiter>,
    /// Consecutive failed refreshes (transient or invalid) since the last adoption.
    failures: u32,
    /// No request before this time (monotonic), unless `Online` says the network is back.
    retry_at: Option<u64>,
    last_error: Option<Error>,
    /// The last failure may have been the network: one `Online` may skip the wait.
    online_retry_armed: bool,
    /// The last attempt got no answer (network, timeout): the server may have rotated the
    /// refresh token, so it is retried on the backoff even before the token is due.
    lost_answer: bool,
}

impl Session {
    /// A session machine without a session. `rng_seed` seeds the retry jitter (any value; the
    /// driver can use `Math.random()`, tests a constant).
    pub fn new(config: Config, rng_seed: u64) -> Self {
        let config = Config {
            refresh_margin_ms: config.refresh_margin_ms.max(MIN_REFRESH_MARGIN_MS),
            max_backoff_ms: config.max_backoff_ms.max(BACKOFF_BASE_MS),
            ..config
        };
        Self {
            config,
            clock: Clock::default(),
            rng: Rng::new(rng_seed),
            current: None,
            offset: None,
            inflight: None,
            next_refresh_id: 1,
            waiters: Vec::new(),
            failures: 0,
            retry_at: None,
            last_error: None,
            online_retry_armed: false,
            lost_answer: false,
        }
    }

    /// Feeds one input and returns what to do, in order. `now` is `Date.now()` (a `u64`), or
    /// better a [`Now`] with `performance.now()` too, which keeps time counting right when the
    /// wall clock is set back while the tab is idle.
    pub fn handle(&mut self, now: impl Into<Now>, input: Input) -> Vec<Action> {
        let now = self.clock.observe(now.into());
        let mut out = Vec::new();
        match input {
            Input::SetSession(t) => self.start(t, Source::SelfTab, &mut out),
            Input::PeerSession(t) => self.start(t, Source::Peer, &mut out),
            Input::GetToken { call } => self.waiters.push(Waiter {
                call,
                want: Want::Token,
            }),
            Input::ForceRefresh { call } => {
                self.waiters.push(Waiter {
                    call,
                    want: Want::Refresh,
                });
            }
            Input::ApiUnauthorized { call, token } => self.unauthorized(call, &token, &mut out),
            Input::Wake => {}
            Input::Online => {
                if self.online_retry_armed && self.retry_at.is_some() {
                    self.retry_at = None;
                    self.online_retry_armed = false;
                }
            }
            Input::RefreshDone { id, outcome } => self.refresh_done(now, id, outcome, &mut out),
            Input::Logout => {
                if !self.end(LogoutReason::User, &NOT_AUTHENTICATED, &mut out) {
                    // No session here, but maybe stale storage or another tab: clear anyway.
                    out.push(Action::ClearPersist);
                    out.push(Action::Broadcast(Broadcast::LoggedOut));
                }
            }
            Input::PeerRefreshed(t) => self.adopt_if_newer(now, t, Source::Peer, &mut out),
            Input::PeerLoggedOut => {
                self.end(LogoutReason::Peer, &NOT_AUTHENTICATED, &mut out);
            }
        }
        self.step(now, &mut out);
        out
    }

    /// Whether there is a session (its token may be due for refresh; `getAccessToken()` tells).
    pub fn is_authenticated(&self) -> bool {
        self.current.is_some()
    }

    /// The current access token, whatever its state. For a token to use, send
    /// [`Input::GetToken`].
    pub fn access_token(&self) -> Option<&str> {
        self.current
            .as_ref()
            .map(|c| c.tokens.access_token.as_str())
    }

    /// The current tokens as adopted (with the latest refresh token), e.g. for `claims`.
    pub fn tokens(&self) -> Option<&Tokens> {
        self.current.as_ref().map(|c| &c.tokens)
    }

    /// The access token's expiry on the local clock (ms since epoch, as of the last input):
    /// `expiresAt`. `None` without a session.
    pub fn expires_at_ms(&self) -> Option<u64> {
        let c = self.current.as_ref()?;
        Some(self.clock.local_of(c.deadlines.expires_at))
    }

    /// When the driver's timer should feed [`Input::Wake`], on the local clock (ms since epoch,
    /// as of the last input; may be in the past: then wake at once). `None`: no timer needed
    /// (no session, or a refresh is outstanding and its result will come as an input).
    pub fn next_wake_ms(&self) -> Option<u64> {
        if self.inflight.is_some() {
            return None;
        }
        let c = self.current.as_ref()?;
        let at = if self.can_refresh() {
            self.next_attempt()?
        } else {
            c.deadlines.usable_until
        };
        Some(self.clock.local_of(at))
    }

    /// The estimated server time (seconds) at local time `now_ms`: the local clock corrected by
    /// the last measured server offset; the local clock itself until one was measured.
    pub fn server_now_s(&self, now_ms: u64) -> u64 {
        match self.offset {
            Some(off) => add_signed(self.clock.peek(now_ms), off) / 1_000,
            None => now_ms / 1_000,
        }
    }

    /// The `now` (seconds) to verify freshly received tokens with. `t` is built from the
    /// response and the token's payload as decoded before verification (the signature check
    /// covers `exp` and `iat`, so trusting them for this choice is safe).
    ///
    /// The freshest server time wins: the response's `Date`, else the token's `iat`, else
    /// `exp - expires_in` (when the server issued it), else [`Session::server_now_s`] at
    /// receipt. An estimate runs ahead after the local clock was set ahead, and a fresh token
    /// verified against it would fail as expired on every retry. Whether the token is still
    /// good on arrival is then decided by the machine, which never hands out an expired one.
    ///
    /// For tokens from `setSession()` there is no response: use [`Session::server_now_s`].
    pub fn verification_now_s(&self, t: &Tokens) -> u64 {
        t.server_date_s
            .or(t.iat_s)
            .or_else(|| t.expires_in_s.map(|e| t.exp_s.saturating_sub(e)))
            .unwrap_or_else(|| self.server_now_s(t.received_at_ms))
    }

    /// How many calls are waiting for an answer (all of them wait for the outstanding refresh).
    pub fn pending_calls(&self) -> usize {
        self.waiters.len()
    }

    /// The outstanding refresh request, if any.
    pub fn refresh_in_flight(&self) -> Option<RefreshId> {
        self.inflight.map(|f| f.id)
    }

    /// For how many ms from the last input `access_token` may be handed out without asking
    /// the machine: until its refresh is due, if it is the current token and nothing is
    /// pending (no request out, no failure). 0 otherwise. Lets the JS layer answer
    /// `getAccessToken()` on its fast path, checking this deadline on every call.
    pub fn fresh_for_ms(&self, access_token: &str) -> u64 {
        match &self.current {
            Some(c)
                if c.tokens.access_token == access_token
                    && !c.invalidated
                    && self.inflight.is_none()
                    && self.failures == 0
                    && !self.lost_answer =>
            {
                let due = c.deadlines.refresh_due.min(c.deadlines.usable_until);
                due.saturating_sub(self.clock.now())
            }
            _ => 0,
        }
    }

    /// Whether the request `id` is still worth sending: it is the outstanding one and no other
    /// tab's tokens have made it moot. A driver that waited (for a cross-tab lock) asks this
    /// before sending; if not, it reports any result for `id`, which is then ignored.
    pub fn refresh_wanted(&self, id: RefreshId) -> bool {
        self.inflight.is_some_and(|f| f.id == id && !f.superseded)
    }

    // ---- inputs ----

    /// A new session, from `setSession()` here or in another tab.
    fn start(&mut self, tokens: Tokens, source: Source, out: &mut Vec<Action>) {
        if source == Source::Peer && self.access_token() == Some(tokens.access_token.as_str()) {
            return; // already ours
        }
        if let Some(f) = self.inflight.take() {
            out.push(Action::CancelRefresh { id: f.id });
        }
        self.clear_failures();
        let tokens = self.sanitize(tokens);
        let deadlines = self.deadlines(&tokens);
        self.offset = deadlines.offset.or(self.offset);
        self.current = Some(Current {
            tokens: tokens.clone(),
            deadlines,
            invalidated: false,
        });
        out.push(Action::Persist(tokens.clone()));
        if source == Source::SelfTab {
            out.push(Action::Broadcast(Broadcast::Session(tokens.clone())));
        }
        // Listeners learn of every adoption, `setSession` in this tab included.
        out.push(Action::Emit(Event::Refresh {
            access_token: tokens.access_token,
            expires_at_ms: self.clock.local_of(deadlines.expires_at),
            source,
        }));
        self.resolve_refresh_waiters(out);
    }

    fn unauthorized(&mut self, call: CallId, token: &str, out: &mut Vec<Action>) {
        self.waiters.push(Waiter {
            call,
            want: Want::Token,
        });
        let can_refresh = self.can_refresh();
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if cur.tokens.access_token != token {
            // Refreshed meanwhile: the replay gets the current token (see `step`).
            return;
        }
        if can_refresh {
            cur.invalidated = true;
        } else {
            self.end(LogoutReason::InvalidToken, &INVALID_NO_REFRESH, out);
        }
    }

    fn refresh_done(
        &mut self,
        now: u64,
        id: RefreshId,
        outcome: RefreshOutcome,
        out: &mut Vec<Action>,
    ) {
        let Some(f) = self.inflight.filter(|f| f.id == id) else {
            return;
        };
        self.inflight = None;
        if f.superseded {
            // Another tab's tokens are current. A success here may still be newer; a failure
            // concerns a refresh token that is no longer ours.
            if let RefreshOutcome::Success(t) = outcome {
                self.adopt_if_newer(now, t, Source::SelfTab, out);
            }
            return;
        }
        match outcome {
            RefreshOutcome::Success(t) => {
                let t = self.sanitize(t);
                let d = self.deadlines(&t);
                if now < d.usable_until {
                    self.adopt(t, d, Source::SelfTab, out);
                } else {
                    self.fail(now, EXPIRED_ON_ARRIVAL, None, false, out);
                }
            }
            RefreshOutcome::Transient {
                error,
                retry_after_ms,
            } => {
                self.lost_answer = matches!(error.code(), ErrorCode::Network | ErrorCode::Timeout);
                self.fail(now, error, retry_after_ms, true, out);
            }
            RefreshOutcome::Invalid {
                error,
                refresh_token,
            } => {
                self.take_refresh_token(refresh_token, true, out);
                self.fail(now, error, None, false, out);
            }
            RefreshOutcome::Rejected { error } => {
                let error = if error.code() == ErrorCode::RefreshRejected {
                    error
                } else {
                    Error::new(ErrorCode::RefreshRejected, error.message())
                };
                self.end(LogoutReason::RefreshRejected, &error, out);
            }
        }
    }

    // ---- transitions ----

    /// Adopts `t` if it is another token than ours and newer (tabs and late results race).
    fn adopt_if_newer(&mut self, now: u64, t: Tokens, source: Source, out: &mut Vec<Action>) {
        let t = self.sanitize(t);
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        if t.access_token == cur.tokens.access_token {
            self.take_refresh_token(t.refresh_token, source == Source::SelfTab, out);
            return;
        }
        if !is_newer(&t, &cur.tokens) {
            return;
        }
        let d = self.deadlines(&t);
        if now < d.usable_until {
            self.adopt(t, d, source, out);
        } else {
            // Too old to hand out (e.g. the clock jumped while it travelled between tabs), but
            // its refresh token is the newest: ours was rotated away.
            self.take_refresh_token(t.refresh_token, source == Source::SelfTab, out);
        }
    }

    /// Makes `t` the current tokens of the running session.
    fn adopt(&mut self, mut t: Tokens, d: Deadlines, source: Source, out: &mut Vec<Action>) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if t.refresh_token.is_none() {
            // Not rotated: the one we have stays valid.
            t.refresh_token = cur.tokens.refresh_token.take();
        }
        *cur = Current {
            tokens: t.clone(),
            deadlines: d,
            invalidated: false,
        };
        self.offset = d.offset.or(self.offset);
        self.clear_failures();
        if source == Source::Peer {
            if let Some(f) = self.inflight.as_mut() {
                f.superseded = true;
            }
        }
        out.push(Action::Persist(t.clone()));
        if source == Source::SelfTab {
            out.push(Action::Broadcast(Broadcast::Refreshed(t.clone())));
        }
        out.push(Action::Emit(Event::Refresh {
            access_token: t.access_token,
            expires_at_ms: self.clock.local_of(d.expires_at),
            source,
        }));
        self.resolve_refresh_waiters(out);
    }

    /// Keeps a rotated refresh token that came without a new access token to adopt.
    fn take_refresh_token(&mut self, rt: Option<String>, broadcast: bool, out: &mut Vec<Action>) {
        if self.config.refresh_token_in_cookie {
            return;
        }
        let (Some(rt), Some(cur)) = (rt, self.current.as_mut()) else {
            return;
        };
        if cur.tokens.refresh_token.as_deref() == Some(rt.as_str()) {
            return;
        }
        cur.tokens.refresh_token = Some(rt);
        out.push(Action::Persist(cur.tokens.clone()));
        if broadcast {
            out.push(Action::Broadcast(Broadcast::Refreshed(cur.tokens.clone())));
        }
    }

    /// A refresh failed without ending the session: back off and tell.
    fn fail(
        &mut self,
        now: u64,
        error: Error,
        retry_after_ms: Option<u64>,
        network: bool,
        out: &mut Vec<Action>,
    ) {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff::retry_delay(
            self.failures,
            self.config.max_backoff_ms,
            retry_after_ms,
            &mut self.rng,
        );
        self.retry_at = Some(now.saturating_add(delay));
        self.last_error = Some(error);
        self.online_retry_armed = network;
        // `refresh()` callers asked for this refresh; it failed.
        let mut kept = Vec::with_capacity(self.waiters.len());
        for w in core::mem::take(&mut self.waiters) {
            match w.want {
                Want::Refresh => out.push(Action::Reject {
                    call: w.call,
                    error,
                }),
                Want::Token => kept.push(w),
            }
        }
        self.waiters = kept;
        let next = self.next_attempt();
        out.push(Action::Emit(Event::Error {
            error,
            will_retry: next.is_some(),
            retry_in_ms: next.map(|t| t.saturating_sub(now)),
        }));
    }

    /// Ends the session, if there is one: returns whether there was.
    fn end(&mut self, reason: LogoutReason, waiter_error: &Error, out: &mut Vec<Action>) -> bool {
        if self.current.take().is_none() {
            return false;
        }
        if let Some(f) = self.inflight.take() {
            out.push(Action::CancelRefresh { id: f.id });
        }
        self.clear_failures();
        out.push(Action::ClearPersist);
        if reason != LogoutReason::Peer {
            out.push(Action::Broadcast(Broadcast::LoggedOut));
        }
        out.push(Action::Emit(Event::Logout { reason }));
        for w in core::mem::take(&mut self.waiters) {
            out.push(Action::Reject {
                call: w.call,
                error: *waiter_error,
            });
        }
        true
    }

    /// After every input: end an expired session that cannot be refreshed, start a refresh
    /// that is due, answer every call that can be answered.
    fn step(&mut self, now: u64, out: &mut Vec<Action>) {
        let can_refresh = self.can_refresh();
        let Some(cur) = self.current.as_ref() else {
            for w in core::mem::take(&mut self.waiters) {
                out.push(Action::Reject {
                    call: w.call,
                    error: NOT_AUTHENTICATED,
                });
            }
            return;
        };
        let d = cur.deadlines;
        let invalidated = cur.invalidated;
        if !can_refresh && now >= d.usable_until {
            self.end(LogoutReason::SessionExpired, &NOT_AUTHENTICATED, out);
            return;
        }
        // A lost answer is retried (on the backoff) even before the token is due: see
        // `next_attempt`.
        let wanted = can_refresh
            && (invalidated
                || self.lost_answer
                || now >= d.refresh_due
                || self.waiters.iter().any(|w| w.want == Want::Refresh));
        let backing_off = self.retry_at.is_some_and(|t| now < t);
        if wanted && self.inflight.is_none() && !backing_off {
            let id = RefreshId(self.next_refresh_id);
            self.next_refresh_id = self.next_refresh_id.wrapping_add(1);
            self.inflight = Some(InFlight {
                id,
                superseded: false,
            });
            let refresh_token = if self.config.refresh_token_in_cookie {
                None
            } else {
                cur.tokens.refresh_token.clone()
            };
            out.push(Action::SendRefresh { id, refresh_token });
        }
        if self.waiters.is_empty() {
            return;
        }
        let fresh = !invalidated && now < d.refresh_due;
        let usable = !invalidated && now < d.usable_until;
        let in_flight = self.inflight.is_some();
        let failure = self.last_error;
        let token = cur.tokens.access_token.clone();
        let mut kept = Vec::new();
        for w in core::mem::take(&mut self.waiters) {
            let answer = match w.want {
                Want::Token if fresh || (usable && !in_flight) => Ok(token.clone()),
                _ if in_flight => {
                    kept.push(w);
                    continue;
                }
                Want::Token => Err(failure.unwrap_or(NOT_REFRESHED_YET)),
                Want::Refresh if !can_refresh => Err(CANNOT_REFRESH),
                Want::Refresh => Err(failure.unwrap_or(NOT_REFRESHED_YET)),
            };
            out.push(match answer {
                Ok(access_token) => Action::Resolve {
                    call: w.call,
                    access_token,
                },
                Err(error) => Action::Reject {
                    call: w.call,
                    error,
                },
            });
        }
        self.waiters = kept;
    }

    // ---- helpers ----

    fn resolve_refresh_waiters(&mut self, out: &mut Vec<Action>) {
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        let mut kept = Vec::with_capacity(self.waiters.len());
        for w in core::mem::take(&mut self.waiters) {
            match w.want {
                Want::Refresh => out.push(Action::Resolve {
                    call: w.call,
                    access_token: cur.tokens.access_token.clone(),
                }),
                Want::Token => kept.push(w),
            }
        }
        self.waiters = kept;
    }

    fn can_refresh(&self) -> bool {
        self.config.can_refresh
            && (self.config.refresh_token_in_cookie
                || self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.tokens.refresh_token.is_some()))
    }

    /// When the machine will next send a refresh by itself (monotonic), if it will.
    fn next_attempt(&self) -> Option<u64> {
        let c = self.current.as_ref()?;
        if !self.can_refresh() {
            return None;
        }
        // After a lost answer the retry follows the backoff, even when the token is not due
        // yet: the request may have rotated the refresh token at the server, and only a prompt
        // retry is answered from the server's grace window.
        let due = if c.invalidated || self.lost_answer {
            0
        } else {
            c.deadlines.refresh_due
        };
        Some(due.max(self.retry_at.unwrap_or(0)))
    }

    fn clear_failures(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.last_error = None;
        self.online_retry_armed = false;
        self.lost_answer = false;
    }

    fn deadlines(&self, t: &Tokens) -> Deadlines {
        let received = self.clock.mono_of_local(t.received_at_ms);
        let assumed = self.offset.unwrap_or(self.clock.local_minus_mono());
        Deadlines::of(t, received, self.config.refresh_margin_ms, assumed)
    }

    /// In cookie style no refresh token is ever kept in memory.
    fn sanitize(&self, mut t: Tokens) -> Tokens {
        if self.config.refresh_token_in_cookie {
            t.refresh_token = None;
        }
        t
    }
}

/// Whether token set `a` was issued after `b` (tabs and late results race). The server's issue
/// time decides; within the same second (or without one), the later local receipt does (one
/// machine clock for all tabs). Expiry does not: lifetimes may change between tokens.
fn is_newer(a: &Tokens, b: &Tokens) -> bool {
    match (issued_s(a), issued_s(b)) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a.received_at_ms > b.received_at_ms,
    }
}

/// The server time a token set was issued at, as far as it tells.
fn issued_s(t: &Tokens) -> Option<u64> {
    match (t.iat_s, t.server_date_s) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a
            .or(b)
            .or_else(|| t.expires_in_s.map(|e| t.exp_s.saturating_sub(e))),
    }
}

#[cfg(test)]
mod tests;
