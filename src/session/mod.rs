//! The session state machine inside the client core: token deadlines, refresh decisions,
//! retry backoff, logout, the estimate of the server's clock. It is pure: it does no I/O, reads
//! no clock and draws no randomness of its own. The client core ([`crate::client`]) feeds it
//! [`Input`]s with the current local time and turns the [`Action`]s it returns into effects,
//! so every timing and failure can be replayed in a plain `cargo test`.
//!
//! # Time: a token is never judged by its own word
//!
//! Deadlines live on a monotonic time line built from the readings ([`Now`]): a wall clock set
//! back does not move them, a jump forward (sleep) counts as elapsed time. The server's clock
//! is estimated as the local clock plus an offset learned only from answers to this client's
//! own requests: a readable `Date` header sets it; the `iat` of a token in such an answer
//! raises it (the server issued the token, so its clock had reached `iat`), and lowers it only
//! when the token it came with was refused as expired (the clocks disagree: the next answer is
//! judged with the corrected estimate, the refused token never adopted). A token's expiry is
//! its signed `exp` (or the shorter `expires_in` of its answer) read against that estimate.

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
use clock::{add_signed, signed_diff, Clock};
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
const API_KEEPS_REJECTING: Error = Error::new(
    ErrorCode::NotAuthenticated,
    "the API rejected a freshly refreshed access token too",
);
const NOT_REFRESHED_YET: Error = Error::new(
    ErrorCode::Expired,
    "the access token expired and has not been refreshed yet",
);
const EXPIRED: Error = Error::new(ErrorCode::Expired, "token has expired (exp)");
const NOT_YET_VALID: Error = Error::new(ErrorCode::NotYetValid, "token is not valid yet (nbf)");

/// After an API's `401 invalid_token` led to a refresh, further 401s within this time do not
/// refresh again: an API that rejects every token costs one refresh per cooldown, not per call.
pub const API_REFRESH_COOLDOWN_MS: u64 = 30_000;

/// A session whose token has expired ends (`logout{reason:'invalid_token'}`) after this many
/// consecutive refresh answers carrying tokens that fail verification.
pub const MAX_INVALID_ANSWERS: u32 = 3;

/// How long a tab that restored a stored session waits for the other tabs' answer before it
/// may refresh with the stored (possibly rotated) refresh token. BroadcastChannel round trips
/// take a few ms.
pub const PEER_ANSWER_WAIT_MS: u64 = 300;

/// A `Date` header has whole seconds: the server's clock was up to 1 s past it.
const DATE_ROUNDING_MS: i64 = 500;

/// What a waiting call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A usable token (`getAccessToken()`, a `fetch` replay).
    Token,
    /// The result of a refresh (`refresh()`).
    Refresh,
    /// The result of the next refresh, without forcing one (`refresh()` from a listener).
    NextRefresh,
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
    /// When it was received (time line).
    received: u64,
    /// The API called this token invalid: it is not handed out again.
    invalidated: bool,
}

/// The session state machine. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Session {
    config: Config,
    clock: Clock,
    rng: Rng,
    current: Option<Current>,
    /// Server time minus time-line time, once learned from an answer.
    offset: Option<i64>,
    /// The offset came from a `Date` header (then `iat` no longer moves it).
    /// The clock's jump count when a `Date` set it: a jump since then voids it.
    offset_from_date: Option<u64>,
    /// The largest lower bound of the offset learned from the `iat` of tokens in our answers,
    /// with the clock's jump count when it was learned.
    iat_floor: Option<(i64, u64)>,
    inflight: Option<InFlight>,
    next_refresh_id: u64,
    waiters: Vec<Waiter>,
    /// Consecutive failed refreshes (transient or invalid) since the last adoption.
    failures: u32,
    /// Consecutive answers whose tokens failed verification.
    invalid_answers: u32,
    /// No request before this time (time line), unless `Online` says the network is back.
    retry_at: Option<u64>,
    last_error: Option<Error>,
    /// The last failure was the network: one `Online` may skip the wait.
    online_retry_armed: bool,
    /// The last attempt got no answer (network, timeout): the server may have rotated the
    /// refresh token, so it is retried on the backoff even before the token is due.
    lost_answer: bool,
    /// When an API's 401 last led to a refresh (time line).
    api_refresh_at: Option<u64>,
    /// No refresh before this (a restored session waiting for the other tabs).
    hold_until: Option<u64>,
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
            offset_from_date: None,
            iat_floor: None,
            inflight: None,
            next_refresh_id: 1,
            waiters: Vec::new(),
            failures: 0,
            invalid_answers: 0,
            retry_at: None,
            last_error: None,
            online_retry_armed: false,
            lost_answer: false,
            api_refresh_at: None,
            hold_until: None,
        }
    }

    /// Records the clocks' reading without an input (the core does this before judging the
    /// tokens of an input). Feeding the same reading to [`Session::handle`] afterwards is
    /// harmless.
    pub fn observe(&mut self, now: impl Into<Now>) {
        self.clock.observe(now.into());
    }

    /// Feeds one input and returns what to do, in order. `now` is `Date.now()` (a `u64`), or
    /// better a [`Now`] with `performance.now()` too, which keeps time counting right when the
    /// wall clock is set back while the tab is idle.
    pub fn handle(&mut self, now: impl Into<Now>, input: Input) -> Vec<Action> {
        let now = self.clock.observe(now.into());
        let mut out = Vec::new();
        match input {
            Input::SetSession(t) => {
                self.note_floor(t.iat_s);
                self.start(now, t, Source::SelfTab, &mut out)
            }
            Input::Restore {
                tokens,
                peers_asked,
            } => {
                if peers_asked {
                    self.hold_until = Some(now.saturating_add(PEER_ANSWER_WAIT_MS));
                }
                self.start(now, tokens, Source::Restored, &mut out)
            }
            Input::PeerSession(t) => {
                let newer = self
                    .current
                    .as_ref()
                    .is_none_or(|c| is_newer(&t, &c.tokens));
                if newer && self.judge(&t).is_ok() {
                    self.start(now, t, Source::Peer, &mut out);
                }
            }
            Input::PeerHello => {
                if let Some(c) = &self.current {
                    out.push(Action::Broadcast(Broadcast::Refreshed(c.tokens.clone())));
                }
            }
            Input::GetToken { call } => self.waiters.push(Waiter {
                call,
                want: Want::Token,
            }),
            Input::ForceRefresh { call, chained } => self.waiters.push(Waiter {
                call,
                want: if chained {
                    Want::NextRefresh
                } else {
                    Want::Refresh
                },
            }),
            Input::ApiUnauthorized { call, token } => {
                self.unauthorized(now, call, &token, &mut out)
            }
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

    // ---- the server clock ----

    /// The estimated server time now (ms): the local clock as first read, advanced by the time
    /// line, until an answer taught better.
    pub fn server_now_ms(&self) -> u64 {
        // The time line starts on the local clock and never follows it backwards: a wall
        // clock set back does not make tokens younger.
        add_signed(self.clock.now(), self.offset.unwrap_or(0))
    }

    /// The estimated server time now, in seconds.
    pub fn server_now_s(&self) -> u64 {
        self.server_now_ms() / 1_000
    }

    /// Learns the server's clock from the `Date` header of an answer to our own request,
    /// received now.
    pub fn learn_date(&mut self, date_s: u64) {
        let server_ms = date_s.saturating_mul(1_000);
        let off = signed_diff(server_ms, self.clock.now()).saturating_add(DATE_ROUNDING_MS);
        self.offset = Some(off);
        self.offset_from_date = Some(self.clock.jumps());
    }

    /// Learns from the `iat` of a verified token in an answer to our own request, received
    /// now, after the token was judged (`refused`: judged expired). Without a `Date`, `iat`
    /// raises the estimate, and lowers it only when the token was refused: the clocks
    /// disagree, and the next answer is judged with the correction.
    pub fn learn_iat(&mut self, iat_s: Option<u64>, refused: bool) -> bool {
        let Some(iat) = iat_s else { return false };
        if self.clock_from_date() {
            return false;
        }
        let now = self.clock.now();
        // The server's clock had reached `iat` before the answer came: every such `iat` is a
        // lower bound of the offset, and the largest one seen is the floor the estimate never
        // goes under (a stale token's old `iat` cannot drag it below a fresher one's).
        let bound = signed_diff(iat.saturating_mul(1_000), now);
        // A floor learned before a jump of the time line the monotonic clock did not see (a
        // wall clock set ahead) no longer holds.
        let floor = match self.iat_floor {
            Some((f, jumps)) if jumps == self.clock.jumps() => f.max(bound),
            _ => bound,
        };
        self.iat_floor = Some((floor, self.clock.jumps()));
        let current = signed_diff(self.server_now_ms(), now);
        let target = if refused { floor } else { floor.max(current) };
        if target != current {
            self.offset = Some(target);
            return true;
        }
        false
    }

    /// Keeps a signed-in token's `iat` as a floor for later corrections, without moving the
    /// estimate: a stale answer's older `iat` then cannot make that token outlive its `exp`.
    fn note_floor(&mut self, iat_s: Option<u64>) {
        let Some(iat) = iat_s else { return };
        let bound = signed_diff(iat.saturating_mul(1_000), self.clock.now());
        let jumps = self.clock.jumps();
        self.iat_floor = Some(match self.iat_floor {
            Some((f, j)) if j == jumps => (f.max(bound), jumps),
            _ => (bound, jumps),
        });
    }

    /// Judges a verified token's times against the estimated server clock, with the leeway:
    /// `expired` once `exp` (or `expires_by_s`) + leeway has passed, `not_yet_valid` before
    /// `nbf` − leeway.
    pub fn judge(&self, t: &Tokens) -> Result<(), Error> {
        let now_s = self.server_now_s();
        let leeway = self.config.leeway_s;
        if t.exp_s.saturating_add(leeway) <= now_s || t.expires_by_s.is_some_and(|e| e <= now_s) {
            return Err(EXPIRED);
        }
        if t.nbf_s
            .is_some_and(|nbf| nbf > now_s.saturating_add(leeway))
        {
            return Err(NOT_YET_VALID);
        }
        Ok(())
    }

    /// Whether the server's clock was learned from a `Date` header (else a refused token may
    /// be the clocks disagreeing, worth one more request).
    pub fn clock_from_date(&self) -> bool {
        // A wall clock set ahead since (a jump the monotonic clock did not see) voids it.
        self.offset_from_date == Some(self.clock.jumps())
    }

    // ---- queries ----

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

    /// Whether the machine can refresh (an endpoint, and a refresh token or a cookie).
    pub fn can_refresh(&self) -> bool {
        self.config.can_refresh
            && (self.config.refresh_token_in_cookie
                || self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.tokens.refresh_token.is_some()))
    }

    /// Whether a session with these tokens could be refreshed (for a doubtful `setSession`).
    pub fn could_refresh(&self, t: &Tokens) -> bool {
        self.config.can_refresh
            && (self.config.refresh_token_in_cookie || t.refresh_token.is_some())
    }

    /// The access token's expiry on the local clock (ms since epoch, as of the last input):
    /// `expiresAt`. `None` without a session.
    pub fn expires_at_ms(&self) -> Option<u64> {
        let c = self.current.as_ref()?;
        Some(self.clock.local_of(self.deadlines(c).expires_at))
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
            self.deadlines(c).usable_until
        };
        Some(self.clock.local_of(at))
    }

    /// How many calls are waiting for an answer (all of them wait for the outstanding refresh).
    pub fn pending_calls(&self) -> usize {
        self.waiters.len()
    }

    /// The outstanding refresh request, if any.
    pub fn refresh_in_flight(&self) -> Option<RefreshId> {
        self.inflight.map(|f| f.id)
    }

    /// For how many ms from the last input the current access token may be handed out without
    /// asking the machine: until its refresh is due, if nothing is pending (no request out, no
    /// failure). 0 otherwise. Lets the shell answer `getAccessToken()` on its fast path.
    pub fn fresh_for_ms(&self) -> u64 {
        match &self.current {
            Some(c)
                if !c.invalidated
                    && self.inflight.is_none()
                    && self.failures == 0
                    && !self.lost_answer =>
            {
                let d = self.deadlines(c);
                d.refresh_due
                    .min(d.usable_until)
                    .saturating_sub(self.clock.now())
            }
            _ => 0,
        }
    }

    /// Whether the request `id` is still worth sending: it is the outstanding one and no other
    /// tab's tokens have made it moot. Asked after waiting for the cross-tab lock; if not, the
    /// request is reported [`RefreshOutcome::Moot`].
    pub fn refresh_wanted(&self, id: RefreshId) -> bool {
        self.inflight.is_some_and(|f| f.id == id && !f.superseded)
    }

    // ---- inputs ----

    /// A new session: from `setSession()` here, storage, or another tab.
    fn start(&mut self, now: u64, tokens: Tokens, source: Source, out: &mut Vec<Action>) {
        if source == Source::Peer && self.access_token() == Some(tokens.access_token.as_str()) {
            return; // already ours
        }
        if let Some(f) = self.inflight.take() {
            out.push(Action::CancelRefresh { id: f.id });
        }
        self.clear_failures();
        self.api_refresh_at = None;
        let tokens = self.sanitize(tokens);
        let current = Current {
            tokens: tokens.clone(),
            received: now,
            invalidated: false,
        };
        let expires_at = self.deadlines(&current).expires_at;
        self.current = Some(current);
        if source != Source::Restored {
            out.push(Action::Persist(tokens.clone()));
        }
        if source == Source::SelfTab {
            out.push(Action::Broadcast(Broadcast::Session(tokens.clone())));
        }
        // Listeners learn of every adoption, `setSession` in this tab included.
        out.push(Action::Emit(Event::Refresh {
            access_token: tokens.access_token,
            expires_at_ms: self.clock.local_of(expires_at),
            source: if source == Source::Peer {
                Source::Peer
            } else {
                Source::SelfTab
            },
        }));
        self.resolve_refresh_waiters(out);
    }

    fn unauthorized(&mut self, now: u64, call: CallId, token: &str, out: &mut Vec<Action>) {
        let can_refresh = self.can_refresh();
        let cooling = self
            .api_refresh_at
            .is_some_and(|t| now.saturating_sub(t) < API_REFRESH_COOLDOWN_MS);
        let Some(cur) = self.current.as_mut() else {
            self.waiters.push(Waiter {
                call,
                want: Want::Token,
            });
            return;
        };
        if cur.tokens.access_token != token {
            // Refreshed meanwhile: the replay gets the current token (see `step`).
            self.waiters.push(Waiter {
                call,
                want: Want::Token,
            });
            return;
        }
        if !can_refresh {
            self.waiters.push(Waiter {
                call,
                want: Want::Token,
            });
            self.end(LogoutReason::InvalidToken, &INVALID_NO_REFRESH, out);
        } else if cur.invalidated {
            // Its refresh is already wanted or in flight: the replay joins it.
            self.waiters.push(Waiter {
                call,
                want: Want::Token,
            });
        } else if cooling {
            // A token refreshed for a 401 was refused again: no second refresh yet.
            out.push(Action::Reject {
                call,
                error: API_KEEPS_REJECTING,
            });
        } else {
            cur.invalidated = true;
            self.api_refresh_at = Some(now);
            self.waiters.push(Waiter {
                call,
                want: Want::Token,
            });
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
        if f.superseded || outcome == RefreshOutcome::Moot {
            // Another tab's tokens are current. A success here may still be newer; a failure
            // concerns a refresh token that is no longer ours.
            if let RefreshOutcome::Success(t) = outcome {
                self.adopt_if_newer(now, t, Source::SelfTab, out);
            }
            return;
        }
        match outcome {
            RefreshOutcome::Success(t) => {
                self.invalid_answers = 0;
                self.adopt(now, t, Source::SelfTab, out);
            }
            RefreshOutcome::Transient {
                error,
                retry_after_ms,
            } => {
                let no_answer = matches!(error.code(), ErrorCode::Network | ErrorCode::Timeout);
                // A 5xx after a lost answer says nothing about the rotation that answer may
                // have carried: the prompt retry goes on until an answer about the token.
                self.lost_answer |= no_answer;
                self.fail(now, error, retry_after_ms, no_answer, out);
            }
            RefreshOutcome::Unchecked {
                error,
                refresh_token,
            } => {
                self.lost_answer = false;
                self.take_refresh_token(refresh_token, true, out);
                self.fail(now, error, None, false, out);
            }
            RefreshOutcome::Invalid {
                error,
                refresh_token,
            } => {
                self.invalid_answers = self.invalid_answers.saturating_add(1);
                self.lost_answer = false;
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
            RefreshOutcome::Moot => {}
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
        if self.judge(&t).is_ok() {
            self.adopt(now, t, source, out);
        } else {
            // Too old to hand out (e.g. the clock jumped while it travelled between tabs), but
            // its refresh token is the newest: ours was rotated away.
            self.take_refresh_token(t.refresh_token, source == Source::SelfTab, out);
        }
    }

    /// Makes `t` the current tokens of the running session.
    fn adopt(&mut self, now: u64, t: Tokens, source: Source, out: &mut Vec<Action>) {
        let mut t = self.sanitize(t);
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if t.refresh_token.is_none() {
            // Not rotated: the one we have stays valid.
            t.refresh_token = cur.tokens.refresh_token.take();
        }
        *cur = Current {
            tokens: t.clone(),
            received: now,
            invalidated: false,
        };
        let expires_at = self
            .current
            .as_ref()
            .map_or(0, |c| self.deadlines(c).expires_at);
        self.clear_failures();
        self.hold_until = None;
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
            expires_at_ms: self.clock.local_of(expires_at),
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
        // Only a failure of the network itself is worth retrying when it comes back; a server
        // that answered 5xx/429 (maybe with Retry-After) keeps its wait.
        self.online_retry_armed = network;
        // `refresh()` callers asked for this refresh; it failed.
        let mut kept = Vec::with_capacity(self.waiters.len());
        for w in core::mem::take(&mut self.waiters) {
            match w.want {
                Want::Refresh | Want::NextRefresh => out.push(Action::Reject {
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
        self.hold_until = None;
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

    /// After every input: end an expired session that cannot be refreshed (or whose endpoint
    /// keeps answering with unusable tokens), start a refresh that is due, answer every call
    /// that can be answered.
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
        let d = self.deadlines(cur);
        let invalidated = cur.invalidated;
        if now >= d.usable_until {
            if !can_refresh {
                self.end(LogoutReason::SessionExpired, &NOT_AUTHENTICATED, out);
                return;
            }
            if self.invalid_answers >= MAX_INVALID_ANSWERS && self.inflight.is_none() {
                let error = self.last_error.unwrap_or(NOT_REFRESHED_YET);
                self.end(LogoutReason::InvalidToken, &error, out);
                return;
            }
        }
        // A lost answer is retried (on the backoff) even before the token is due: see
        // `next_attempt`.
        let wanted = can_refresh
            && (invalidated
                || self.lost_answer
                || now >= d.refresh_due
                || self.waiters.iter().any(|w| w.want == Want::Refresh));
        let waiting =
            self.retry_at.is_some_and(|t| now < t) || self.hold_until.is_some_and(|t| now < t);
        if wanted && self.inflight.is_none() && !waiting {
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
        let held = self.hold_until.is_some_and(|t| now < t);
        let failure = self.last_error;
        let token = cur.tokens.access_token.clone();
        let mut kept = Vec::new();
        for w in core::mem::take(&mut self.waiters) {
            let answer = match w.want {
                Want::Token if fresh || (usable && !in_flight) => Ok(token.clone()),
                _ if in_flight || held => {
                    kept.push(w);
                    continue;
                }
                Want::NextRefresh if can_refresh => {
                    kept.push(w);
                    continue;
                }
                Want::Token => Err(failure.unwrap_or(NOT_REFRESHED_YET)),
                Want::Refresh | Want::NextRefresh if !can_refresh => Err(CANNOT_REFRESH),
                Want::Refresh | Want::NextRefresh => Err(failure.unwrap_or(NOT_REFRESHED_YET)),
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
        // A token adopted within the leeway but past its usable time is no answer to
        // `refresh()`: those calls then wait for a usable token like `getAccessToken()`.
        let usable = self.clock.now() < self.deadlines(cur).usable_until;
        let mut kept = Vec::with_capacity(self.waiters.len());
        for w in core::mem::take(&mut self.waiters) {
            match w.want {
                Want::Refresh | Want::NextRefresh if usable => out.push(Action::Resolve {
                    call: w.call,
                    access_token: cur.tokens.access_token.clone(),
                }),
                Want::Refresh | Want::NextRefresh => kept.push(Waiter {
                    call: w.call,
                    want: Want::Token,
                }),
                Want::Token => kept.push(w),
            }
        }
        self.waiters = kept;
    }

    /// When the machine will next send a refresh by itself (time line), if it will.
    fn next_attempt(&self) -> Option<u64> {
        let c = self.current.as_ref()?;
        if !self.can_refresh() {
            return None;
        }
        // After a lost answer the retry follows the backoff, even when the token is not due
        // yet: the request may have rotated the refresh token at the server, and only a prompt
        // retry is answered from the server's grace window.
        let forced = self.waiters.iter().any(|w| w.want == Want::Refresh);
        let due = if c.invalidated || self.lost_answer || forced {
            0
        } else {
            self.deadlines(c).refresh_due
        };
        Some(
            due.max(self.retry_at.unwrap_or(0))
                .max(self.hold_until.unwrap_or(0)),
        )
    }

    fn clear_failures(&mut self) {
        self.failures = 0;
        self.invalid_answers = 0;
        self.retry_at = None;
        self.last_error = None;
        self.online_retry_armed = false;
        self.lost_answer = false;
    }

    /// The deadlines of the current tokens, with the server clock as now estimated.
    fn deadlines(&self, c: &Current) -> Deadlines {
        let off = signed_diff(self.server_now_ms(), self.clock.now());
        let dies_ms = c.tokens.dies_at_s().saturating_mul(1_000);
        let expires_at = add_signed(dies_ms, off.saturating_neg());
        Deadlines::of(expires_at, c.received, self.config.refresh_margin_ms)
    }

    /// In cookie style no refresh token is ever kept in memory.
    fn sanitize(&self, mut t: Tokens) -> Tokens {
        if self.config.refresh_token_in_cookie {
            t.refresh_token = None;
        }
        t
    }
}

/// Whether token set `a` may replace `b`: it was not issued before it (tabs and late results
/// race, restored tabs hold old sessions). Only signed facts decide: `iat`, then `exp`. Tokens
/// issued in the same second with the same lifetime count as newer: they come from a refresh
/// that rotated the refresh token, and keeping the old one would send it again.
pub fn is_newer(a: &Tokens, b: &Tokens) -> bool {
    match (a.iat_s, b.iat_s) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a.exp_s >= b.exp_s,
    }
}

#[cfg(test)]
mod tests;
