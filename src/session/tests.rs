//! Behaviour of the session machine, one rule per test, as an app would notice it.

use super::*;

/// Local time at the start of every test (the server clock agrees unless a test says not).
const T0: u64 = 1_700_000_000_000;
const SEC: u64 = 1_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

struct H {
    s: Session,
    /// Local clock.
    now: u64,
    /// Server clock minus local clock.
    skew: i64,
    calls: u64,
    issued: u64,
}

impl H {
    fn new() -> Self {
        Self::with(Config::default())
    }

    fn with(config: Config) -> Self {
        Self {
            s: Session::new(config, 7),
            now: T0,
            skew: 0,
            calls: 0,
            issued: 0,
        }
    }

    fn server_s(&self) -> u64 {
        add_signed(self.now, self.skew) / SEC
    }

    /// A token set the server issues now, living `life_s`.
    fn issue(&mut self, rt: Option<&str>, life_s: u64) -> Tokens {
        self.issued += 1;
        let iat = self.server_s();
        Tokens {
            access_token: format!("at{}", self.issued),
            refresh_token: rt.map(Into::into),
            exp_s: iat + life_s,
            iat_s: Some(iat),
            expires_in_s: None,
            received_at_ms: self.now,
            server_date_s: None,
        }
    }

    fn feed(&mut self, input: Input) -> Vec<Action> {
        self.s.handle(self.now, input)
    }

    fn wait(&mut self, ms: u64) -> Vec<Action> {
        self.now += ms;
        self.feed(Input::Wake)
    }

    /// Logs in with a one-hour token and refresh token `rt1`.
    fn login(&mut self) -> Tokens {
        let t = self.issue(Some("rt1"), 3_600);
        self.feed(Input::SetSession(t.clone()));
        t
    }

    fn call(&mut self) -> CallId {
        self.calls += 1;
        CallId(self.calls)
    }

    fn get(&mut self) -> (CallId, Vec<Action>) {
        let call = self.call();
        (call, self.feed(Input::GetToken { call }))
    }

    fn force(&mut self) -> (CallId, Vec<Action>) {
        let call = self.call();
        (call, self.feed(Input::ForceRefresh { call }))
    }

    fn unauthorized(&mut self, token: &str) -> (CallId, Vec<Action>) {
        let call = self.call();
        (
            call,
            self.feed(Input::ApiUnauthorized {
                call,
                token: token.into(),
            }),
        )
    }

    fn done(&mut self, id: RefreshId, outcome: RefreshOutcome) -> Vec<Action> {
        self.feed(Input::RefreshDone { id, outcome })
    }

    fn succeed(&mut self, id: RefreshId, rt: Option<&str>, life_s: u64) -> (Tokens, Vec<Action>) {
        let t = self.issue(rt, life_s);
        let a = self.done(id, RefreshOutcome::Success(t.clone()));
        (t, a)
    }

    fn wake_local(&self) -> u64 {
        self.s.next_wake_ms().expect("a wake time")
    }
}

fn network() -> RefreshOutcome {
    RefreshOutcome::Transient {
        error: Error::new(ErrorCode::Network, "offline"),
        retry_after_ms: None,
    }
}

fn rejected() -> RefreshOutcome {
    RefreshOutcome::Rejected {
        error: Error::new(ErrorCode::RefreshRejected, "invalid_grant"),
    }
}

/// The one refresh request among the actions, if any (never more than one).
fn sent(a: &[Action]) -> Option<(RefreshId, Option<String>)> {
    let all: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::SendRefresh { id, refresh_token } => Some((*id, refresh_token.clone())),
            _ => None,
        })
        .collect();
    assert!(all.len() <= 1, "more than one request at once: {a:?}");
    all.into_iter().next()
}

fn resolved(a: &[Action], call: CallId) -> Option<String> {
    a.iter().find_map(|x| match x {
        Action::Resolve {
            call: c,
            access_token,
        } if *c == call => Some(access_token.clone()),
        _ => None,
    })
}

fn rejection(a: &[Action], call: CallId) -> Option<ErrorCode> {
    a.iter().find_map(|x| match x {
        Action::Reject { call: c, error } if *c == call => Some(error.code()),
        _ => None,
    })
}

fn answered(a: &[Action], call: CallId) -> bool {
    resolved(a, call).is_some() || rejection(a, call).is_some()
}

fn logouts(a: &[Action]) -> Vec<LogoutReason> {
    a.iter()
        .filter_map(|x| match x {
            Action::Emit(Event::Logout { reason }) => Some(*reason),
            _ => None,
        })
        .collect()
}

fn errors(a: &[Action]) -> Vec<(ErrorCode, bool, Option<u64>)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Emit(Event::Error {
                error,
                will_retry,
                retry_in_ms,
            }) => Some((error.code(), *will_retry, *retry_in_ms)),
            _ => None,
        })
        .collect()
}

fn refresh_events(a: &[Action]) -> Vec<(String, Source)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Emit(Event::Refresh {
                access_token,
                source,
                ..
            }) => Some((access_token.clone(), *source)),
            _ => None,
        })
        .collect()
}

fn persisted(a: &[Action]) -> Option<Tokens> {
    a.iter().rev().find_map(|x| match x {
        Action::Persist(t) => Some(t.clone()),
        _ => None,
    })
}

/// Runs the clock to the refresh due time of a one-hour token and returns the request.
fn until_refresh(h: &mut H) -> (RefreshId, Option<String>) {
    let due = h.wake_local();
    let a = h.wait(due - h.now);
    sent(&a).expect("a refresh at the due time")
}

// ---- no session ----

#[test]
fn without_a_session_calls_are_rejected_not_authenticated() {
    let mut h = H::new();
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    let (c, a) = h.force();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    let (c, a) = h.unauthorized("x");
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(!h.s.is_authenticated());
    assert_eq!(h.s.next_wake_ms(), None);
    assert!(logouts(&h.feed(Input::Wake)).is_empty());
}

// ---- deadlines ----

#[test]
fn a_fresh_token_is_returned_at_once_without_a_request() {
    let mut h = H::new();
    let t = h.login();
    assert!(h.s.is_authenticated());
    assert_eq!(h.s.expires_at_ms(), Some(T0 + HOUR));
    h.now += 30 * MIN;
    let (c, a) = h.get();
    assert_eq!(resolved(&a, c).as_deref(), Some(t.access_token.as_str()));
    assert_eq!(sent(&a), None);
}

#[test]
fn set_session_persists_tells_other_tabs_and_emits_one_refresh_event() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    let a = h.feed(Input::SetSession(t.clone()));
    assert_eq!(persisted(&a), Some(t.clone()));
    assert!(a.contains(&Action::Broadcast(Broadcast::Session(t))));
    // A state layer (React, Vue) learns of the new session from the event.
    assert_eq!(refresh_events(&a).len(), 1);
}

#[test]
fn the_timer_wakes_at_the_margin_and_the_refresh_happens_before_expiry() {
    let mut h = H::new();
    h.login();
    assert_eq!(h.wake_local(), T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS);
    assert_eq!(
        sent(&h.wait(HOUR - DEFAULT_REFRESH_MARGIN_MS - 1)),
        None,
        "not a ms early"
    );
    let (id, rt) = sent(&h.wait(1)).expect("refresh at the due time");
    assert_eq!(rt.as_deref(), Some("rt1"));
    assert_eq!(h.s.next_wake_ms(), None, "the result is the next wake-up");
    let (t, a) = h.succeed(id, Some("rt2"), 3_600);
    assert_eq!(
        refresh_events(&a),
        vec![(t.access_token.clone(), Source::SelfTab)]
    );
    assert_eq!(
        persisted(&a).and_then(|p| p.refresh_token).as_deref(),
        Some("rt2")
    );
    assert!(a.contains(&Action::Broadcast(Broadcast::Refreshed(t))));
    assert_eq!(h.wake_local(), h.now + HOUR - DEFAULT_REFRESH_MARGIN_MS);
}

#[test]
fn within_the_margin_callers_share_one_refresh_and_get_the_new_token() {
    let mut h = H::new();
    h.login();
    h.now += HOUR - 30 * SEC; // timer never fired (hidden tab)
    let (c1, a1) = h.get();
    let (id, _) = sent(&a1).expect("one refresh");
    assert!(
        !answered(&a1, c1),
        "a token within the margin is not handed out"
    );
    let (c2, a2) = h.get();
    let (c3, a3) = h.force();
    assert_eq!(sent(&a2), None);
    assert_eq!(sent(&a3), None);
    assert_eq!(h.s.pending_calls(), 3);
    let (t, a) = h.succeed(id, None, 3_600);
    for c in [c1, c2, c3] {
        assert_eq!(resolved(&a, c).as_deref(), Some(t.access_token.as_str()));
    }
    assert_eq!(h.s.pending_calls(), 0);
}

#[test]
fn a_five_second_token_is_refreshed_at_half_life_not_in_a_storm() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 5);
    h.feed(Input::SetSession(t));
    assert_eq!(h.wake_local(), T0 + 2_500);
    let mut requests = 0;
    for _ in 0..100 {
        let a = h.wait(100);
        if let Some((id, _)) = sent(&a) {
            requests += 1;
            h.succeed(id, None, 5);
        }
    }
    // 10 s of 5 s tokens refreshed at half-life: 4 refreshes, not 100.
    assert_eq!(requests, 4);
}

#[test]
fn a_client_clock_hours_ahead_neither_loops_nor_expires_early() {
    let mut h = H::new();
    h.skew = -5 * HOUR as i64; // local clock 5 h ahead of the server
    h.login();
    assert_eq!(h.s.expires_at_ms(), Some(h.now + HOUR));
    assert_eq!(h.s.server_now_s(h.now), h.server_s());
    for _ in 0..50 {
        let (c, a) = h.get();
        assert!(resolved(&a, c).is_some());
        assert_eq!(sent(&a), None);
        h.now += MIN;
    }
    assert_eq!(
        h.wake_local(),
        T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS,
        "as on a right clock"
    );
    assert!(sent(&h.wait(9 * MIN)).is_some());
}

#[test]
fn a_client_clock_hours_behind_never_hands_out_an_expired_token() {
    let mut h = H::new();
    h.skew = 3 * HOUR as i64; // local clock 3 h behind
    h.login();
    h.now += HOUR; // the token is dead on the server now
    let (c, a) = h.get();
    assert!(!answered(&a, c));
    assert!(sent(&a).is_some());
}

#[test]
fn expires_in_counts_from_receipt() {
    let mut h = H::new();
    h.skew = 2 * HOUR as i64;
    let mut t = h.issue(Some("rt1"), 600);
    t.iat_s = None;
    t.expires_in_s = Some(600);
    h.feed(Input::SetSession(t));
    assert_eq!(h.s.expires_at_ms(), Some(T0 + 600 * SEC));
    assert_eq!(
        h.s.server_now_s(h.now),
        h.server_s(),
        "exp - expires_in measures the server"
    );
}

#[test]
fn verification_uses_the_freshest_server_time() {
    let mut h = H::new();
    assert_eq!(h.s.server_now_s(T0), T0 / SEC, "the local clock at first");
    h.skew = HOUR as i64;
    h.login();
    assert_eq!(h.s.server_now_s(h.now), h.server_s());
    let mut t = h.issue(None, 600);
    t.iat_s = Some(9);
    t.server_date_s = Some(5);
    t.expires_in_s = Some(100);
    assert_eq!(h.s.verification_now_s(&t), 5, "Date first");
    t.server_date_s = None;
    assert_eq!(h.s.verification_now_s(&t), 9, "then iat");
    t.iat_s = None;
    assert_eq!(
        h.s.verification_now_s(&t),
        t.exp_s - 100,
        "then exp - expires_in"
    );
    t.expires_in_s = None;
    assert_eq!(
        h.s.verification_now_s(&t),
        h.server_s(),
        "then the estimate"
    );
}

#[test]
fn after_the_clock_is_set_ahead_fresh_tokens_without_iat_or_date_still_verify() {
    let mut h = H::new();
    let mut t = h.issue(Some("rt1"), 600);
    t.iat_s = None;
    t.expires_in_s = Some(600);
    h.feed(Input::SetSession(t));
    h.now += 3 * HOUR; // set ahead, not slept: the estimate is now 3 h fast
    h.skew -= 3 * HOUR as i64;
    assert!(h.s.server_now_s(h.now) > h.server_s() + 2 * 3_600);
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let mut fresh = h.issue(None, 600);
    fresh.iat_s = None;
    fresh.expires_in_s = Some(600);
    assert!(h.s.verification_now_s(&fresh) < fresh.exp_s, "it verifies");
    let a = h.done(id, RefreshOutcome::Success(fresh.clone()));
    assert_eq!(resolved(&a, c), Some(fresh.access_token));
    assert_eq!(
        h.s.server_now_s(h.now),
        h.server_s(),
        "and the estimate is right again"
    );
}

#[test]
fn a_newer_peer_token_too_old_to_use_still_hands_over_its_refresh_token() {
    let mut h = H::new();
    h.login();
    h.now += MIN;
    let mut t = h.issue(Some("rt2"), 3_600);
    t.received_at_ms -= 2 * HOUR; // the clock jumped ahead while it travelled
    let a = h.feed(Input::PeerRefreshed(t));
    assert!(refresh_events(&a).is_empty());
    assert_eq!(h.s.access_token(), Some("at1"));
    let (_, rt) = until_refresh(&mut h);
    assert_eq!(
        rt.as_deref(),
        Some("rt2"),
        "rt1 was rotated away by the other tab"
    );
}

// ---- clock jumps ----

#[test]
fn after_sleeping_past_expiry_the_old_token_is_never_handed_out_and_one_refresh_starts() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR; // laptop lid
    let (c1, a1) = h.get();
    let (c2, a2) = h.get();
    let a3 = h.feed(Input::Wake);
    assert!(!answered(&a1, c1) && !answered(&a2, c2));
    let (id, _) = sent(&a1).expect("one refresh");
    assert_eq!(sent(&a2), None);
    assert_eq!(sent(&a3), None);
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c1), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c2), Some(t.access_token));
}

#[test]
fn a_clock_set_back_causes_no_refresh_loop_and_no_early_logout() {
    let mut h = H::new();
    h.login();
    h.now += 10 * MIN;
    h.get();
    h.now -= 3 * HOUR; // clock set back
    assert!(h.feed(Input::Wake).is_empty());
    for _ in 0..20 {
        let a = h.wait(SEC);
        assert_eq!(sent(&a), None);
        assert!(logouts(&a).is_empty());
    }
    let (c, a) = h.get();
    assert_eq!(resolved(&a, c).as_deref(), Some("at1"));
    // Real time still counts: 49m40s remain before the refresh is due.
    assert_eq!(
        h.wake_local(),
        h.now + 50 * MIN - 20 * SEC - DEFAULT_REFRESH_MARGIN_MS
    );
    assert_eq!(h.s.expires_at_ms(), Some(h.now + 50 * MIN - 20 * SEC));
    let a = h.wait(50 * MIN - 20 * SEC - DEFAULT_REFRESH_MARGIN_MS);
    assert!(sent(&a).is_some(), "refreshed on time, by elapsed time");
}

#[test]
fn a_clock_set_back_while_idle_does_not_keep_an_expired_token_alive() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    let now = |wall_ms, perf_ms| Now {
        wall_ms,
        monotonic_ms: Some(perf_ms),
    };
    h.s.handle(now(T0, 1_000), Input::SetSession(t));
    // Set back two hours, then an hour and a half of real time without any input.
    let wall = T0 - 2 * HOUR + 90 * MIN;
    let a = h.s.handle(
        now(wall, 1_000 + 90 * MIN),
        Input::GetToken { call: CallId(1) },
    );
    assert!(
        !answered(&a, CallId(1)),
        "the token is dead, whatever the wall clock shows"
    );
    assert!(sent(&a).is_some());
}

// ---- transient failures ----

#[test]
fn a_transient_failure_with_a_valid_token_serves_it_and_retries_with_backoff() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let (c, _) = h.get();
    let a = h.done(id, network());
    assert_eq!(
        resolved(&a, c).as_deref(),
        Some("at1"),
        "still valid for a minute"
    );
    let errs = errors(&a);
    assert_eq!(errs.len(), 1);
    let (code, will_retry, retry_in) = errs[0];
    assert_eq!((code, will_retry), (ErrorCode::Network, true));
    let retry_in = retry_in.expect("retry time");
    assert!((MIN_RETRY_DELAY_MS..=MIN_RETRY_DELAY_MS + BACKOFF_BASE_MS).contains(&retry_in));
    assert!(logouts(&a).is_empty());
    assert_eq!(h.wake_local(), h.now + retry_in);
    // Callers during the backoff get the old token without a request.
    let (c, a) = h.get();
    assert_eq!(resolved(&a, c).as_deref(), Some("at1"));
    assert_eq!(sent(&a), None);
    // The retry goes when the backoff ends, with the same refresh token.
    let a = h.wait(retry_in);
    assert_eq!(sent(&a).and_then(|s| s.1).as_deref(), Some("rt1"));
}

#[test]
fn an_expired_token_and_a_failing_refresh_reject_with_that_error_and_keep_the_session() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let a = h.done(
        id,
        RefreshOutcome::Transient {
            error: Error::new(ErrorCode::Timeout, "timed out"),
            retry_after_ms: None,
        },
    );
    assert_eq!(rejection(&a, c), Some(ErrorCode::Timeout));
    assert!(logouts(&a).is_empty());
    assert!(h.s.is_authenticated());
    // During the backoff: rejected at once, no new request.
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::Timeout));
    assert_eq!(sent(&a), None);
    // Once the backoff has passed, a caller starts the retry and gets its result.
    h.now = h.wake_local();
    let (c, a) = h.get();
    let (id, rt) = sent(&a).expect("retry");
    assert_eq!(
        rt.as_deref(),
        Some("rt1"),
        "a transient fault never drops the refresh token"
    );
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c), Some(t.access_token));
}

#[test]
fn the_backoff_grows_with_full_jitter_up_to_the_cap() {
    let mut h = H::with(Config {
        max_backoff_ms: 8_000,
        ..Config::default()
    });
    h.login();
    let (mut id, _) = until_refresh(&mut h);
    let mut delays = Vec::new();
    for _ in 0..30 {
        let a = h.done(id, network());
        let delay = errors(&a)[0].2.expect("retry time");
        delays.push(delay);
        // Wake, focus and visibility events never shorten the wait.
        assert_eq!(sent(&h.wait(delay - 1)), None);
        assert_eq!(sent(&h.feed(Input::Wake)), None);
        id = sent(&h.wait(1)).expect("retry at the backoff time").0;
    }
    for (i, d) in delays.iter().enumerate() {
        let ceiling = (BACKOFF_BASE_MS << i.min(20)).min(8_000);
        assert!(
            *d >= MIN_RETRY_DELAY_MS && *d <= MIN_RETRY_DELAY_MS + ceiling,
            "{i}: {d}"
        );
    }
    let late = &delays[5..];
    assert!(
        late.iter().any(|d| *d < 4_000) && late.iter().any(|d| *d > 5_000),
        "{late:?}"
    );
    assert!(h.s.is_authenticated(), "failures never log out: {delays:?}");
}

#[test]
fn retry_after_is_honoured_up_to_a_cap() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let a = h.done(
        id,
        RefreshOutcome::Transient {
            error: Error::new(ErrorCode::BadResponse, "429"),
            retry_after_ms: Some(30 * SEC),
        },
    );
    assert!(errors(&a)[0].2.expect("retry time") >= 30 * SEC);
    assert_eq!(sent(&h.wait(30 * SEC - 1)), None);
    let id = sent(&h.wait(MIN)).expect("retry").0;
    let a = h.done(
        id,
        RefreshOutcome::Transient {
            error: Error::new(ErrorCode::BadResponse, "429"),
            retry_after_ms: Some(24 * HOUR),
        },
    );
    assert_eq!(errors(&a)[0].2, Some(MAX_RETRY_AFTER_MS));
}

#[test]
fn online_retries_a_network_failure_at_once_but_only_once() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    h.done(id, network());
    let (id, _) = sent(&h.feed(Input::Online)).expect("retry now");
    h.done(id, network());
    assert!(sent(&h.feed(Input::Online)).is_some(), "one per failure");
    assert_eq!(
        sent(&h.feed(Input::Online)),
        None,
        "a request is already out"
    );
}

#[test]
fn online_without_a_pending_failure_does_nothing() {
    let mut h = H::new();
    h.login();
    let a = h.feed(Input::Online);
    assert_eq!(sent(&a), None);
    let (id, _) = until_refresh(&mut h);
    h.done(
        id,
        RefreshOutcome::Invalid {
            error: Error::new(ErrorCode::BadSignature, "x"),
            refresh_token: None,
        },
    );
    assert_eq!(
        sent(&h.feed(Input::Online)),
        None,
        "going online does not fix a bad token"
    );
}

// ---- terminal rejection ----

#[test]
fn a_rejected_refresh_logs_out_exactly_once_and_rejects_every_waiter() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c1, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let (c2, _) = h.force();
    let a = h.done(id, rejected());
    assert_eq!(logouts(&a), vec![LogoutReason::RefreshRejected]);
    assert!(a.contains(&Action::ClearPersist));
    assert!(a.contains(&Action::Broadcast(Broadcast::LoggedOut)));
    assert_eq!(rejection(&a, c1), Some(ErrorCode::RefreshRejected));
    assert_eq!(rejection(&a, c2), Some(ErrorCode::RefreshRejected));
    assert!(!h.s.is_authenticated());
    // Nothing more happens to the ended session.
    assert!(logouts(&h.done(id, rejected())).is_empty());
    assert!(logouts(&h.feed(Input::Logout)).is_empty());
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(logouts(&a).is_empty());
}

#[test]
fn a_rejection_is_reported_with_the_refresh_rejected_code() {
    let mut h = H::new();
    h.login();
    let (c, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    let a = h.done(
        id,
        RefreshOutcome::Rejected {
            error: Error::new(ErrorCode::BadResponse, "403"),
        },
    );
    assert_eq!(rejection(&a, c), Some(ErrorCode::RefreshRejected));
}

// ---- invalid refreshed tokens ----

#[test]
fn an_invalid_refreshed_token_is_never_adopted_and_is_retried() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let (c, _) = h.get();
    let a = h.done(
        id,
        RefreshOutcome::Invalid {
            error: Error::new(ErrorCode::BadSignature, "bad signature"),
            refresh_token: Some("rt2".into()),
        },
    );
    assert_eq!(
        resolved(&a, c).as_deref(),
        Some("at1"),
        "the old token while it lasts"
    );
    assert_eq!(errors(&a)[0].0, ErrorCode::BadSignature);
    assert!(errors(&a)[0].1);
    assert!(refresh_events(&a).is_empty());
    assert_eq!(h.s.access_token(), Some("at1"));
    // The rotated refresh token is kept: the server already retired rt1.
    assert_eq!(
        persisted(&a).and_then(|t| t.refresh_token).as_deref(),
        Some("rt2")
    );
    let a = h.wait(h.wake_local() - h.now);
    assert_eq!(sent(&a).and_then(|s| s.1).as_deref(), Some("rt2"));
}

#[test]
fn a_refreshed_token_already_expired_on_arrival_is_not_adopted() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let mut t = h.issue(None, 0);
    t.exp_s -= 100;
    let a = h.done(id, RefreshOutcome::Success(t));
    assert_eq!(rejection(&a, c), Some(ErrorCode::BadResponse));
    assert_eq!(h.s.access_token(), Some("at1"));
    assert_eq!(sent(&a), None, "backoff, not a loop");
}

// ---- rotation ----

#[test]
fn a_rotated_refresh_token_replaces_the_old_one_which_is_never_sent_again() {
    let mut h = H::new();
    h.login();
    let (id, rt) = until_refresh(&mut h);
    assert_eq!(rt.as_deref(), Some("rt1"));
    h.succeed(id, Some("rt2"), 3_600);
    let (id, rt) = until_refresh(&mut h);
    assert_eq!(rt.as_deref(), Some("rt2"));
    // No refresh token in the answer: the current one stays.
    let (_, a) = h.succeed(id, None, 3_600);
    assert_eq!(
        persisted(&a).and_then(|t| t.refresh_token).as_deref(),
        Some("rt2")
    );
    let (_, rt) = until_refresh(&mut h);
    assert_eq!(rt.as_deref(), Some("rt2"));
}

// ---- API 401 ----

#[test]
fn an_api_401_refreshes_once_and_the_replay_gets_the_new_token() {
    let mut h = H::new();
    h.login();
    h.now += MIN;
    let (c1, a) = h.unauthorized("at1");
    let (id, _) = sent(&a).expect("one refresh");
    assert!(!answered(&a, c1));
    // A second request failed with the same token meanwhile: it joins.
    let (c2, a) = h.unauthorized("at1");
    assert_eq!(sent(&a), None);
    // The rejected token is not handed out any more.
    let (c3, a) = h.get();
    assert!(!answered(&a, c3));
    let (t, a) = h.succeed(id, None, 3_600);
    for c in [c1, c2, c3] {
        assert_eq!(resolved(&a, c), Some(t.access_token.clone()));
    }
    // A late 401 for the old token: replay with the current one, no refresh.
    let (c4, a) = h.unauthorized("at1");
    assert_eq!(resolved(&a, c4), Some(t.access_token.clone()));
    assert_eq!(sent(&a), None);
}

#[test]
fn an_api_401_while_refreshing_fails_gives_the_app_the_response() {
    let mut h = H::new();
    h.login();
    let (c, a) = h.unauthorized("at1");
    let (id, _) = sent(&a).expect("refresh");
    let a = h.done(id, network());
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network), "no replay");
    assert!(logouts(&a).is_empty());
    // The same token fails again during the backoff: no second request, no token.
    let (c, a) = h.unauthorized("at1");
    assert_eq!(sent(&a), None);
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network));
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network));
    // The retry comes by itself, although the token is far from its expiry.
    let retry = h.wake_local();
    assert!(retry < h.now + 2 * SEC);
    assert!(sent(&h.wait(retry - h.now)).is_some());
}

#[test]
fn an_api_401_without_a_way_to_refresh_ends_the_session_as_invalid_token() {
    let mut h = H::new();
    let t = h.issue(None, 3_600);
    h.feed(Input::SetSession(t));
    let (c, a) = h.unauthorized("at1");
    assert_eq!(logouts(&a), vec![LogoutReason::InvalidToken]);
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert_eq!(sent(&a), None);
}

// ---- user logout ----

#[test]
fn logout_ends_the_session_once_and_a_late_refresh_result_is_ignored() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let a = h.feed(Input::Logout);
    assert_eq!(logouts(&a), vec![LogoutReason::User]);
    assert!(a.contains(&Action::CancelRefresh { id }));
    assert!(a.contains(&Action::ClearPersist));
    assert!(a.contains(&Action::Broadcast(Broadcast::LoggedOut)));
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    let (_, late) = h.succeed(id, Some("rt2"), 3_600);
    assert!(late.is_empty(), "{late:?}");
    assert!(!h.s.is_authenticated());
    let again = h.feed(Input::Logout);
    assert!(logouts(&again).is_empty());
    assert!(again.contains(&Action::ClearPersist));
    // A new session starts cleanly.
    let t = h.login();
    let (c, a) = h.get();
    assert_eq!(resolved(&a, c), Some(t.access_token));
}

// ---- sessions that cannot refresh ----

#[test]
fn without_refresh_the_token_is_served_to_its_end_then_the_session_expires_once() {
    let mut h = H::with(Config {
        can_refresh: false,
        ..Config::default()
    });
    h.login();
    h.now += HOUR - 30 * SEC;
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c).as_deref(),
        Some("at1"),
        "nothing better to offer"
    );
    let (c, a) = h.force();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(logouts(&a).is_empty());
    assert_eq!(h.wake_local(), T0 + HOUR - MIN_REMAINING_VALIDITY_MS);
    let a = h.wait(h.wake_local() - h.now);
    assert_eq!(logouts(&a), vec![LogoutReason::SessionExpired]);
    assert!(a.contains(&Action::ClearPersist));
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(logouts(&a).is_empty());
    assert!(logouts(&h.wait(HOUR)).is_empty());
}

#[test]
fn without_a_refresh_token_a_caller_after_expiry_sees_one_logout() {
    let mut h = H::new();
    let t = h.issue(None, 600);
    h.feed(Input::SetSession(t));
    h.now += HOUR;
    let (c, a) = h.get();
    assert_eq!(logouts(&a), vec![LogoutReason::SessionExpired]);
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert_eq!(sent(&a), None);
}

#[test]
fn cookie_style_refreshes_without_ever_holding_a_refresh_token() {
    let mut h = H::with(Config {
        refresh_token_in_cookie: true,
        ..Config::default()
    });
    let t = h.issue(Some("leaked"), 3_600);
    let a = h.feed(Input::SetSession(t));
    assert_eq!(persisted(&a).map(|t| t.refresh_token), Some(None));
    let (id, rt) = until_refresh(&mut h);
    assert_eq!(rt, None);
    let (_, a) = h.succeed(id, Some("also-leaked"), 3_600);
    assert_eq!(persisted(&a).map(|t| t.refresh_token), Some(None));
    assert_eq!(h.s.tokens().map(|t| t.refresh_token.clone()), Some(None));
    let (_, rt) = until_refresh(&mut h);
    assert_eq!(rt, None);
}

// ---- refresh() ----

#[test]
fn refresh_forces_one_request_and_joins_one_in_flight() {
    let mut h = H::new();
    h.login();
    let (c1, a) = h.force();
    let (id, _) = sent(&a).expect("forced");
    let (c2, a) = h.force();
    assert_eq!(sent(&a), None);
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c1), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c2), Some(t.access_token));
}

#[test]
fn refresh_during_backoff_is_rejected_with_the_last_error_without_a_request() {
    let mut h = H::new();
    h.login();
    let (c, a) = h.force();
    let (id, _) = sent(&a).expect("forced");
    let a = h.done(id, network());
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network));
    // Even with a fresh token the failed attempt is retried on the backoff (the server may
    // have rotated the refresh token before the answer was lost), and the event says when.
    let retry_in = errors(&a)[0].2.expect("a retry time");
    assert!(retry_in <= 2_000, "retry in {retry_in} ms");
    let (c, a) = h.force();
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network));
    assert_eq!(sent(&a), None);
    h.now += 2 * MIN;
    let (_, a) = h.force();
    assert!(
        sent(&a).is_some(),
        "after the backoff, refresh() works again"
    );
}

// ---- other tabs ----

#[test]
fn a_newer_peer_result_is_adopted_with_source_peer() {
    let mut h = H::new();
    h.login();
    h.now += 50 * MIN;
    let t = h.issue(Some("rt2"), 3_600);
    let a = h.feed(Input::PeerRefreshed(t.clone()));
    assert_eq!(
        refresh_events(&a),
        vec![(t.access_token.clone(), Source::Peer)]
    );
    assert!(
        !a.iter().any(|x| matches!(x, Action::Broadcast(_))),
        "no echo"
    );
    assert_eq!(h.s.access_token(), Some(t.access_token.as_str()));
    let (_, rt) = until_refresh(&mut h);
    assert_eq!(rt.as_deref(), Some("rt2"));
}

#[test]
fn an_older_or_repeated_peer_result_is_ignored() {
    let mut h = H::new();
    let old = h.issue(Some("rt0"), 3_600);
    h.now += MIN;
    h.login();
    assert!(h.feed(Input::PeerRefreshed(old)).is_empty());
    let same = h.s.tokens().cloned().expect("tokens");
    assert!(h.feed(Input::PeerRefreshed(same)).is_empty());
}

#[test]
fn a_newer_peer_token_with_a_shorter_lifetime_is_still_newer() {
    let mut h = H::new();
    h.login(); // one hour
    h.now += 300; // same server second
    let t = h.issue(Some("rt2"), 60);
    let a = h.feed(Input::PeerRefreshed(t.clone()));
    assert_eq!(refresh_events(&a), vec![(t.access_token, Source::Peer)]);
    assert_eq!(
        h.s.tokens()
            .and_then(|t| t.refresh_token.clone())
            .as_deref(),
        Some("rt2")
    );
}

#[test]
fn a_peer_result_during_our_refresh_wins_and_our_rejection_is_ignored() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c1, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let (c2, _) = h.force();
    let t = h.issue(Some("rt2"), 3_600);
    let a = h.feed(Input::PeerRefreshed(t.clone()));
    assert_eq!(resolved(&a, c1), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c2), Some(t.access_token.clone()));
    // Our request used rt1, which the other tab rotated away: its rejection means nothing.
    let a = h.done(id, rejected());
    assert!(logouts(&a).is_empty(), "{a:?}");
    assert!(h.s.is_authenticated());
    assert_eq!(sent(&a), None);
    assert_eq!(
        h.s.tokens()
            .and_then(|t| t.refresh_token.clone())
            .as_deref(),
        Some("rt2")
    );
}

#[test]
fn our_superseded_refresh_is_adopted_if_it_is_newer_still() {
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    let peer = h.issue(Some("rt2"), 3_600);
    h.feed(Input::PeerRefreshed(peer));
    h.now += SEC;
    let (c, a) = h.force();
    assert_eq!(sent(&a), None, "still one request outstanding");
    let (t, a) = h.succeed(id, Some("rt3"), 3_600);
    assert_eq!(
        refresh_events(&a),
        vec![(t.access_token.clone(), Source::SelfTab)]
    );
    assert_eq!(resolved(&a, c), Some(t.access_token));
}

#[test]
fn a_stale_superseded_result_leaves_pending_refresh_calls_to_a_new_request() {
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    h.now += SEC;
    let peer = h.issue(Some("rt2"), 3_600);
    h.feed(Input::PeerRefreshed(peer));
    let (c, _) = h.force();
    let a = h.done(id, network());
    assert!(errors(&a).is_empty(), "not our refresh token any more");
    let (id, rt) = sent(&a).expect("a new request for the waiting refresh()");
    assert_eq!(rt.as_deref(), Some("rt2"));
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c), Some(t.access_token));
}

#[test]
fn a_peer_refresh_never_logs_a_logged_out_tab_back_in() {
    let mut h = H::new();
    h.login();
    h.feed(Input::Logout);
    let t = h.issue(Some("rt2"), 3_600);
    assert!(h.feed(Input::PeerRefreshed(t)).is_empty());
    assert!(!h.s.is_authenticated());
}

#[test]
fn a_peer_login_is_adopted_and_a_peer_logout_ends_the_session_without_echo() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    let a = h.feed(Input::PeerSession(t.clone()));
    assert_eq!(
        refresh_events(&a),
        vec![(t.access_token.clone(), Source::Peer)]
    );
    assert!(h.s.is_authenticated());
    assert!(
        h.feed(Input::PeerSession(t)).is_empty(),
        "a repeated message changes nothing"
    );
    let (c, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    let a = h.feed(Input::PeerLoggedOut);
    assert_eq!(logouts(&a), vec![LogoutReason::Peer]);
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(a.contains(&Action::CancelRefresh { id }));
    assert!(!a.contains(&Action::Broadcast(Broadcast::LoggedOut)));
    assert!(logouts(&h.feed(Input::PeerLoggedOut)).is_empty());
}

#[test]
fn set_session_replaces_the_session_and_drops_its_refresh() {
    let mut h = H::new();
    h.login();
    h.now += 2 * HOUR;
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh");
    let t = h.issue(Some("other"), 3_600);
    let a = h.feed(Input::SetSession(t.clone()));
    assert!(a.contains(&Action::CancelRefresh { id }));
    assert!(logouts(&a).is_empty());
    assert_eq!(resolved(&a, c), Some(t.access_token.clone()));
    let (_, late) = h.succeed(id, Some("rt2"), 3_600);
    assert!(late.is_empty());
    assert_eq!(h.s.access_token(), Some(t.access_token.as_str()));
}

#[test]
fn a_restored_session_keeps_its_age() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    // Reload 50 minutes later: a new machine, the stored record.
    h.now += 50 * MIN;
    h.s = Session::new(Config::default(), 1);
    h.feed(Input::SetSession(t));
    assert_eq!(h.s.expires_at_ms(), Some(T0 + HOUR));
    assert_eq!(h.wake_local(), T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS);
}

#[test]
fn a_restored_expired_session_refreshes_instead_of_logging_out() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    h.now += 5 * HOUR;
    h.s = Session::new(Config::default(), 1);
    let a = h.feed(Input::SetSession(t));
    assert!(logouts(&a).is_empty());
    assert!(sent(&a).is_some());
}

#[test]
fn margins_are_clamped_and_documented_defaults_hold() {
    let c = Config::default();
    assert_eq!(c.refresh_margin_ms, 60_000);
    assert!(c.can_refresh && !c.refresh_token_in_cookie);
    assert_eq!(c.max_backoff_ms, DEFAULT_MAX_BACKOFF_MS);
    let mut h = H::with(Config {
        refresh_margin_ms: 0,
        max_backoff_ms: 0,
        ..Config::default()
    });
    h.login();
    assert_eq!(h.wake_local(), T0 + HOUR - MIN_REFRESH_MARGIN_MS);
    assert_eq!(LogoutReason::RefreshRejected.as_str(), "refresh_rejected");
    assert_eq!(Source::SelfTab.as_str(), "self");
}

#[test]
fn a_failed_forced_refresh_is_retried_on_the_backoff_not_at_the_refresh_point() {
    // The answer may have been lost after the server rotated the refresh token: only a prompt
    // retry reaches the server's grace window; waiting for the normal refresh point would
    // present a retired token and end the session.
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, sent_rt) = sent(&a).expect("a refresh request");
    let a = h.done(id, network());
    let (code, will_retry, retry_in) = errors(&a)[0];
    assert_eq!(code, ErrorCode::Network);
    assert!(will_retry);
    let retry_in = retry_in.expect("a retry time");
    assert!(
        retry_in <= 2_000,
        "retry in {retry_in} ms, not at the refresh point"
    );
    let a = h.wait(retry_in);
    assert_eq!(
        sent(&a).map(|(_, rt)| rt),
        Some(sent_rt),
        "the same refresh token, promptly"
    );
}

#[test]
fn the_fast_path_window_ends_at_the_refresh_point_and_closes_on_any_doubt() {
    let mut h = H::new();
    let t = h.login();
    let fresh = h.s.fresh_for_ms(&t.access_token);
    assert_eq!(fresh, HOUR - DEFAULT_REFRESH_MARGIN_MS);
    assert_eq!(h.s.fresh_for_ms("another token"), 0);
    let a = h.wait(fresh);
    let (id, _) = sent(&a).expect("the refresh starts when due");
    assert_eq!(h.s.fresh_for_ms(&t.access_token), 0, "a request is out");
    h.done(id, network());
    assert_eq!(h.s.fresh_for_ms(&t.access_token), 0, "after a failure");
    h.feed(Input::Logout);
    assert_eq!(h.s.fresh_for_ms(&t.access_token), 0);
}
