//! Behaviour of the session machine, one rule per test, as an app would notice it.
//!
//! The harness plays the client core's part: it issues token sets on a server clock of its
//! own (`skew` from the local clock), and hands refresh answers to the machine the way the core
//! does — the answer's `Date` (if any) and the token's `iat` are learned, the token is judged on
//! the estimated server clock, and a token judged expired arrives as `Invalid`, never as
//! `Success`.

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
    /// How far the wall clock was set ahead of real time.
    ahead: u64,
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
        let mut s = Session::new(config, 7);
        // The core records the clocks' reading before it judges anything.
        s.observe(T0);
        Self {
            s,
            now: T0,
            ahead: 0,
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
            nbf_s: None,
            expires_by_s: None,
            id_token: None,
        }
    }

    /// Feeds with both clocks: the monotonic one follows the wall clock except where the wall
    /// clock was set ahead ([`H::set_ahead`]).
    fn feed(&mut self, input: Input) -> Vec<Action> {
        let now = Now {
            wall_ms: self.now,
            monotonic_ms: Some(self.now.saturating_sub(self.ahead)),
        };
        self.s.handle(now, input)
    }

    /// The wall clock set ahead by `ms` (no time passes: the monotonic clock does not move).
    fn set_ahead(&mut self, ms: u64) {
        self.now += ms;
        self.ahead += ms;
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
        (
            call,
            self.feed(Input::ForceRefresh {
                call,
                chained: false,
            }),
        )
    }

    /// `refresh()` called from a `refresh` listener.
    fn chained(&mut self) -> (CallId, Vec<Action>) {
        let call = self.call();
        (
            call,
            self.feed(Input::ForceRefresh {
                call,
                chained: true,
            }),
        )
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

    /// A token answer for request `id`, received now, handed over as the core does: the
    /// server's `Date` (when `date`) and the token's `iat` are learned, then the token is judged.
    fn answer(&mut self, id: RefreshId, t: Tokens, date: bool) -> Vec<Action> {
        self.s.observe(self.now);
        if date {
            self.s.learn_date(self.server_s());
        }
        let judged = self.s.judge(&t);
        self.s.learn_iat(t.iat_s, judged.is_err());
        let outcome = match judged {
            Ok(()) => RefreshOutcome::Success(t),
            Err(error) => RefreshOutcome::Invalid {
                error,
                refresh_token: t.refresh_token,
            },
        };
        self.done(id, outcome)
    }

    /// A fresh token answer (no `Date`), living `life_s`.
    fn succeed(&mut self, id: RefreshId, rt: Option<&str>, life_s: u64) -> (Tokens, Vec<Action>) {
        let t = self.issue(rt, life_s);
        let a = self.answer(id, t.clone(), false);
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

fn timeout() -> RefreshOutcome {
    RefreshOutcome::Transient {
        error: Error::new(ErrorCode::Timeout, "timed out"),
        retry_after_ms: None,
    }
}

/// A 5xx or 429 (`bad_response`), with the server's `Retry-After` if any.
fn unavailable(retry_after_ms: Option<u64>) -> RefreshOutcome {
    RefreshOutcome::Transient {
        error: Error::new(ErrorCode::BadResponse, "503"),
        retry_after_ms,
    }
}

fn rejected() -> RefreshOutcome {
    RefreshOutcome::Rejected {
        error: Error::new(ErrorCode::RefreshRejected, "invalid_grant"),
    }
}

fn invalid(rt: Option<&str>) -> RefreshOutcome {
    RefreshOutcome::Invalid {
        error: Error::new(ErrorCode::BadSignature, "bad signature"),
        refresh_token: rt.map(Into::into),
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

/// Runs the clock to the next wake time and returns the request sent then.
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
    let (c, a) = h.chained();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    let (c, a) = h.unauthorized("x");
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    assert!(!h.s.is_authenticated());
    assert_eq!(h.s.next_wake_ms(), None);
    assert!(logouts(&h.feed(Input::Wake)).is_empty());
    assert!(h.feed(Input::PeerHello).is_empty(), "nothing to tell");
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
    // 10 s of 5 s tokens refreshed near half-life (their `exp` is on whole server seconds):
    // a handful of refreshes, not 100.
    assert!((4..=5).contains(&requests), "{requests} refreshes");
}

#[test]
#[ignore = "bug: `Deadlines::of` halves the life left at receipt, not the token's lifetime: a \
            token adopted late in its life is handed out to its last seconds (measuring from \
            the whole-second `iat` instead made short tokens refresh early)"]
fn a_token_adopted_late_in_its_life_is_not_handed_out_in_its_last_seconds() {
    let mut h = H::new();
    h.login();
    // Another tab's 15 s token, delivered with 2 s left (this tab was frozen meanwhile).
    let mut late = h.issue(Some("rt2"), 15);
    late.iat_s = late.iat_s.map(|i| i + 60);
    h.now += 73 * SEC;
    late.exp_s = h.server_s() + 2;
    late.iat_s = Some(late.exp_s - 15);
    h.feed(Input::PeerRefreshed(late.clone()));
    assert_eq!(h.s.access_token(), Some(late.access_token.as_str()));
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c),
        None,
        "a token with 2 s left of its 15 s is handed out (the API may get it expired)"
    );
}

#[test]
fn a_client_clock_hours_ahead_learns_the_server_clock_from_a_date_and_neither_loops_nor_expires_early(
) {
    let mut h = H::new();
    h.skew = -5 * HOUR as i64; // local clock 5 h ahead of the server
    let t = h.issue(Some("rt1"), 3_600);
    // By the local clock this token died four hours ago: the core would not adopt it on trust.
    assert_eq!(h.s.judge(&t).map_err(|e| e.code()), Err(ErrorCode::Expired));
    // The answer to its own request (here the core's clock probe) had a `Date`.
    h.s.observe(h.now);
    h.s.learn_date(h.server_s());
    assert!(h.s.clock_from_date());
    assert!(h.s.judge(&t).is_ok());
    h.feed(Input::SetSession(t));
    let expires = h.s.expires_at_ms().expect("a session");
    assert!(
        expires.abs_diff(h.now + HOUR) <= SEC,
        "on the local clock: {expires}"
    );
    assert!(h.s.server_now_s().abs_diff(h.server_s()) <= 1);
    for _ in 0..50 {
        let (c, a) = h.get();
        assert!(resolved(&a, c).is_some());
        assert_eq!(sent(&a), None);
        h.now += MIN;
    }
    assert!(
        h.wake_local()
            .abs_diff(T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS)
            <= SEC,
        "as on a right clock"
    );
    assert!(sent(&h.wait(9 * MIN)).is_some());
}

#[test]
fn a_client_clock_hours_behind_is_corrected_by_the_iat_of_its_first_answer() {
    let mut h = H::new();
    h.skew = 3 * HOUR as i64; // local clock 3 h behind
    h.login();
    // Nothing taught the machine yet: it reads the token on the local clock (a token is
    // never judged by its own word, so its `iat` teaches nothing).
    assert_eq!(h.s.expires_at_ms(), Some(T0 + 4 * HOUR));
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    h.now += SEC;
    h.succeed(id, Some("rt2"), 3_600);
    assert_eq!(
        h.s.server_now_s(),
        h.server_s(),
        "raised by the answer's iat"
    );
    let expires = h.s.expires_at_ms().expect("a session");
    assert!(expires.abs_diff(h.now + HOUR) <= SEC, "{expires}");
    h.now += HOUR; // the new token is dead on the server now
    let (c, a) = h.get();
    assert!(!answered(&a, c), "never handed out");
    assert!(sent(&a).is_some());
}

#[test]
fn expires_by_shortens_the_life_never_extends_it() {
    let mut h = H::new();
    let mut t = h.issue(Some("rt1"), 3_600);
    t.expires_by_s = Some(h.server_s() + 600);
    h.feed(Input::SetSession(t.clone()));
    assert_eq!(h.s.expires_at_ms(), Some(T0 + 600 * SEC));
    assert_eq!(t.dies_at_s(), T0 / SEC + 600);
    let mut t = h.issue(Some("rt1"), 300);
    t.expires_by_s = Some(h.server_s() + 3_600);
    h.feed(Input::SetSession(t.clone()));
    assert_eq!(h.s.expires_at_ms(), Some(T0 + 300 * SEC), "exp wins");
    assert_eq!(t.dies_at_s(), t.exp_s);
}

// ---- a token is never judged by its own word ----

#[test]
fn judge_refuses_an_expired_exp_whatever_expires_by_says() {
    let mut h = H::new();
    let mut t = h.issue(None, 600);
    t.exp_s = h.server_s() - 3_600;
    t.iat_s = Some(t.exp_s - 600);
    t.expires_by_s = Some(h.server_s() + 3_600);
    assert_eq!(h.s.judge(&t).map_err(|e| e.code()), Err(ErrorCode::Expired));
    // Leeway edges: `exp + leeway == now` is expired, one second more is not.
    let now_s = h.s.server_now_s();
    let leeway = Config::default().leeway_s;
    t.expires_by_s = None;
    t.exp_s = now_s - leeway;
    assert_eq!(h.s.judge(&t).map_err(|e| e.code()), Err(ErrorCode::Expired));
    t.exp_s += 1;
    assert!(h.s.judge(&t).is_ok());
    // `expires_by` is the server's own "expires in" placed at receipt: no leeway on it.
    t.expires_by_s = Some(now_s);
    assert_eq!(h.s.judge(&t).map_err(|e| e.code()), Err(ErrorCode::Expired));
    // `nbf` beyond the leeway is not valid yet.
    let mut t = h.issue(None, 600);
    t.nbf_s = Some(now_s + leeway + 1);
    assert_eq!(
        h.s.judge(&t).map_err(|e| e.code()),
        Err(ErrorCode::NotYetValid)
    );
    t.nbf_s = Some(now_s + leeway);
    assert!(h.s.judge(&t).is_ok());
}

#[test]
fn the_rfc7515_a3_token_given_with_a_generous_expires_by_is_expired() {
    // exp 1300819380 (2011), whatever the record that came with it claims.
    let h = H::new();
    let t = Tokens {
        access_token: "a3".into(),
        refresh_token: None,
        exp_s: 1_300_819_380,
        iat_s: None,
        nbf_s: None,
        expires_by_s: Some(T0 / SEC + 3_600),
        id_token: None,
    };
    assert_eq!(h.s.judge(&t).map_err(|e| e.code()), Err(ErrorCode::Expired));
}

#[test]
fn learn_iat_raises_the_estimate_and_lowers_it_only_when_refused() {
    let mut h = H::new();
    h.s.observe(T0);
    assert_eq!(h.s.server_now_ms(), T0, "the local clock at first");
    // A token issued ten minutes "ahead": the server's clock had reached it.
    assert!(h.s.learn_iat(Some(T0 / SEC + 600), false));
    assert_eq!(h.s.server_now_s(), T0 / SEC + 600);
    // An older iat, not refused: the answer may simply have been slow. Nothing moves.
    assert!(!h.s.learn_iat(Some(T0 / SEC + 60), false));
    assert_eq!(h.s.server_now_s(), T0 / SEC + 600);
    assert!(!h.s.learn_iat(None, true), "no iat, nothing to learn");
    // A refused token's older iat cannot drag the estimate below the largest iat seen.
    assert!(!h.s.learn_iat(Some(T0 / SEC + 60), true));
    assert_eq!(h.s.server_now_s(), T0 / SEC + 600);
    assert!(!h.s.clock_from_date());

    // A local clock two hours fast: the first answer's token looks expired; refused, its iat
    // lowers the estimate, and the next answer is judged with the correction.
    let mut h = H::new();
    h.s.observe(T0);
    assert!(h.s.learn_iat(Some(T0 / SEC - 7_200), true));
    assert_eq!(h.s.server_now_s(), T0 / SEC - 7_200);
    // The estimate moves with the time line.
    h.s.observe(T0 + 10 * SEC);
    assert_eq!(h.s.server_now_s(), T0 / SEC - 7_190);
}

#[test]
fn learn_date_sets_the_estimate_either_way_and_iat_no_longer_moves_it() {
    let mut h = H::new();
    h.s.observe(T0);
    h.s.learn_date(T0 / SEC - 7_200);
    assert!(h.s.clock_from_date());
    assert!(
        h.s.server_now_ms().abs_diff(T0 - 7_200 * SEC) <= SEC,
        "set back by two hours"
    );
    assert!(!h.s.learn_iat(Some(T0 / SEC), false), "a Date outranks iat");
    assert!(!h.s.learn_iat(Some(T0 / SEC - 9_000), true));
    assert!(h.s.server_now_ms().abs_diff(T0 - 7_200 * SEC) <= SEC);
    h.s.learn_date(T0 / SEC + 3_600);
    assert!(h.s.server_now_ms().abs_diff(T0 + 3_600 * SEC) <= SEC);
}

#[test]
fn an_aged_token_keeps_its_real_exp_and_teaches_no_lower_offset() {
    let mut h = H::new();
    let now_s = h.server_s();
    let aged = Tokens {
        access_token: "aged".into(),
        refresh_token: Some("rt1".into()),
        exp_s: now_s + 600,
        iat_s: Some(now_s - 3_000),
        nbf_s: None,
        expires_by_s: None,
        id_token: None,
    };
    assert!(h.s.judge(&aged).is_ok());
    h.feed(Input::SetSession(aged.clone()));
    assert_eq!(
        h.s.expires_at_ms(),
        Some((now_s + 600) * SEC),
        "the real exp, not iat + some lifetime"
    );
    // Even as an answer to our own request it moves nothing: it was judged fresh.
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    let mut again = aged;
    again.access_token = "aged2".into();
    h.answer(id, again, false);
    assert_eq!(h.s.server_now_s(), now_s, "no lower offset learned");
    assert_eq!(h.s.expires_at_ms(), Some((now_s + 600) * SEC));
    // A token that expired 1000 s ago is still expired.
    let mut old = h.issue(None, 600);
    old.exp_s = now_s - 1_000;
    assert_eq!(
        h.s.judge(&old).map_err(|e| e.code()),
        Err(ErrorCode::Expired)
    );
}

#[test]
fn after_the_clock_is_set_ahead_one_refused_answer_corrects_the_estimate() {
    let mut h = H::new();
    h.login();
    h.set_ahead(3 * HOUR); // not slept: the estimate is now 3 h fast
    h.skew -= 3 * HOUR as i64;
    h.s.observe(Now {
        wall_ms: h.now,
        monotonic_ms: Some(h.now - h.ahead),
    });
    assert!(h.s.server_now_s() > h.server_s() + 2 * 3_600);
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("the token looks dead: refresh");
    assert!(!answered(&a, c));
    // The fresh answer (no Date) looks expired by the fast estimate: refused, clock corrected.
    let (first, a) = h.succeed(id, Some("rt2"), 600);
    assert!(refresh_events(&a).is_empty(), "never adopted on trust");
    assert_eq!(errors(&a)[0].0, ErrorCode::Expired);
    assert_eq!(h.s.server_now_s(), h.server_s(), "corrected by its iat");
    assert_ne!(h.s.access_token(), Some(first.access_token.as_str()));
    // No real time passed: by the corrected estimate the current token still has its hour.
    assert_eq!(resolved(&a, c).as_deref(), Some("at1"));
    assert!(h
        .s
        .expires_at_ms()
        .is_some_and(|e| e.abs_diff(h.now + HOUR) <= SEC));
    // The next refresh comes at the usual point, with the rotated refresh token, and its
    // answer is judged with the corrected estimate.
    let (id, rt) = until_refresh(&mut h);
    assert_eq!(
        rt.as_deref(),
        Some("rt2"),
        "the rotated refresh token was kept"
    );
    let (fresh, a) = h.succeed(id, Some("rt3"), 600);
    assert_eq!(
        refresh_events(&a),
        vec![(fresh.access_token.clone(), Source::SelfTab)]
    );
}

/// A wall clock set ahead after the session already had answers: the time line counts the
/// jump as elapsed, so the estimate runs ahead, and the answers of the server are judged on it.
fn answered_then_set_ahead(h: &mut H) {
    h.login();
    let (id, _) = until_refresh(h);
    h.succeed(id, Some("rt2"), 3_600);
    h.now += 10 * MIN;
    h.feed(Input::Wake);
    h.set_ahead(3 * HOUR); // not slept
    h.skew -= 3 * HOUR as i64;
}

/// Refreshes until the session adopts a token or ends; returns the refused answers.
fn refresh_until_adopted(h: &mut H) -> (u32, Vec<Action>) {
    let (_, a) = h.get();
    let mut all = a.clone();
    let mut id = sent(&a).expect("the token looks dead: refresh").0;
    let mut refused = 0;
    loop {
        let (t, a) = h.succeed(id, Some("rtN"), 600);
        all.extend(a.clone());
        if h.s.access_token() == Some(t.access_token.as_str()) || !h.s.is_authenticated() {
            return (refused, all);
        }
        refused += 1;
        let Some(wake) = h.s.next_wake_ms() else {
            return (refused, all);
        };
        let a = h.wait(wake.saturating_sub(h.now));
        all.extend(a.clone());
        match sent(&a) {
            Some((next, _)) => id = next,
            None => return (refused, all),
        }
    }
}

#[test]
fn a_clock_set_ahead_after_answers_is_corrected_by_the_next_refused_answer() {
    let mut h = H::new();
    answered_then_set_ahead(&mut h);
    let (refused, all) = refresh_until_adopted(&mut h);
    assert!(
        logouts(&all).is_empty(),
        "a valid session logged out after {refused} valid answers: {:?}",
        logouts(&all)
    );
    assert!(refused <= 1, "{refused} valid answers refused");
}

#[test]
fn a_clock_set_ahead_after_a_date_is_corrected_by_answers_without_one() {
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    let t = h.issue(Some("rt2"), 3_600);
    h.answer(id, t, true); // this answer had a readable Date
    assert!(h.s.clock_from_date());
    h.set_ahead(3 * HOUR); // not slept
    h.skew -= 3 * HOUR as i64;
    let (refused, all) = refresh_until_adopted(&mut h);
    assert!(
        logouts(&all).is_empty(),
        "a valid session logged out after {refused} valid answers: {:?}",
        logouts(&all)
    );
    assert!(refused <= 1, "{refused} valid answers refused");
}

#[test]
fn a_newer_peer_token_too_old_to_use_still_hands_over_its_refresh_token() {
    let mut h = H::new();
    h.login();
    h.now += 10 * MIN;
    // Issued after ours (a later iat), but expired by now (it was a short one, and the message
    // travelled while this tab was frozen).
    let t = Tokens {
        access_token: "peer".into(),
        refresh_token: Some("rt2".into()),
        exp_s: T0 / SEC + 70,
        iat_s: Some(T0 / SEC + 60),
        nbf_s: None,
        expires_by_s: None,
        id_token: None,
    };
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

#[test]
fn a_learned_offset_survives_a_wall_clock_set_back() {
    let mut h = H::new();
    h.skew = HOUR as i64; // the server is an hour ahead
    let now = |wall_ms, perf_ms| Now {
        wall_ms,
        monotonic_ms: Some(perf_ms),
    };
    h.s.observe(now(T0, 0));
    h.s.learn_date(h.server_s());
    let before = h.s.server_now_ms();
    // The wall clock is set back two hours while a minute passes.
    h.s.observe(now(T0 - 2 * HOUR + MIN, MIN));
    assert_eq!(h.s.server_now_ms(), before + MIN);
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
    let a = h.done(id, timeout());
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
    let a = h.done(id, unavailable(Some(30 * SEC)));
    assert!(errors(&a)[0].2.expect("retry time") >= 30 * SEC);
    assert_eq!(sent(&h.wait(30 * SEC - 1)), None);
    let id = sent(&h.wait(MIN)).expect("retry").0;
    let a = h.done(id, unavailable(Some(24 * HOUR)));
    assert_eq!(errors(&a)[0].2, Some(MAX_RETRY_AFTER_MS));
}

#[test]
fn online_retries_a_network_failure_at_once_but_only_once() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    h.done(id, network());
    let (id, _) = sent(&h.feed(Input::Online)).expect("retry now");
    h.done(id, timeout());
    assert!(
        sent(&h.feed(Input::Online)).is_some(),
        "a timeout is the network too; one per failure"
    );
    assert_eq!(
        sent(&h.feed(Input::Online)),
        None,
        "a request is already out"
    );
}

#[test]
fn online_after_a_5xx_or_429_keeps_the_backoff() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let a = h.done(id, unavailable(None));
    let retry_in = errors(&a)[0].2.expect("a retry time");
    assert_eq!(
        sent(&h.feed(Input::Online)),
        None,
        "the server answered: coming online changes nothing"
    );
    let id = sent(&h.wait(retry_in)).expect("retry on the backoff").0;
    let a = h.done(id, unavailable(Some(20 * SEC)));
    assert!(errors(&a)[0].2.expect("a retry time") >= 20 * SEC);
    assert_eq!(sent(&h.feed(Input::Online)), None, "Retry-After is kept");
    assert_eq!(sent(&h.wait(10 * SEC)), None);
    assert!(sent(&h.wait(10 * SEC + MIN_RETRY_DELAY_MS + 4 * SEC)).is_some());
}

#[test]
fn online_without_a_pending_failure_does_nothing() {
    let mut h = H::new();
    h.login();
    let a = h.feed(Input::Online);
    assert_eq!(sent(&a), None);
    let (id, _) = until_refresh(&mut h);
    h.done(id, invalid(None));
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
    let a = h.done(id, invalid(Some("rt2")));
    assert_eq!(
        resolved(&a, c).as_deref(),
        Some("at1"),
        "the old token while it lasts"
    );
    assert_eq!(errors(&a)[0].0, ErrorCode::BadSignature);
    assert!(errors(&a)[0].1);
    assert!(refresh_events(&a).is_empty());
    assert_eq!(h.s.access_token(), Some("at1"));
    // The rotated refresh token is kept (and shared): the server already retired rt1.
    assert_eq!(
        persisted(&a).and_then(|t| t.refresh_token).as_deref(),
        Some("rt2")
    );
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Broadcast(Broadcast::Refreshed(t)) if t.refresh_token.as_deref() == Some("rt2")
    )));
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
    let a = h.answer(id, t, false);
    assert_eq!(rejection(&a, c), Some(ErrorCode::Expired));
    assert!(refresh_events(&a).is_empty());
    assert_eq!(h.s.access_token(), Some("at1"));
    assert_eq!(sent(&a), None, "backoff, not a loop");
}

#[test]
fn an_expired_token_answered_without_date_never_makes_the_current_token_outlive_its_exp() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let (current, _) = h.succeed(id, Some("rt2"), 600); // from our own answer: iat is a fact
    let (id, _) = until_refresh(&mut h);
    // The answer carries a token that expired two hours ago (no Date header).
    let mut stale = h.issue(Some("rt3"), 600);
    stale.iat_s = Some(h.server_s() - 2 * 3_600 - 600);
    stale.exp_s = h.server_s() - 2 * 3_600;
    let a = h.answer(id, stale, false);
    assert_eq!(errors(&a)[0].0, ErrorCode::Expired, "refused, not adopted");
    let fell_by_s = current
        .iat_s
        .unwrap_or(0)
        .saturating_sub(h.s.server_now_s());
    // Past the current token's real exp it is never handed out.
    h.now = current.exp_s * SEC + SEC;
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c),
        None,
        "handed out a token expired on the server (the estimate fell {fell_by_s} s below \
         the iat of that token)"
    );
}

#[test]
fn a_stale_first_answer_never_makes_the_signed_in_token_outlive_its_exp() {
    let mut h = H::new();
    let current = h.login(); // setSession: iat T0, exp T0 + 1 h
    let (id, _) = until_refresh(&mut h);
    let mut stale = h.issue(Some("rt2"), 600);
    stale.iat_s = Some(h.server_s() - 2 * 3_600 - 600);
    stale.exp_s = h.server_s() - 2 * 3_600;
    let a = h.answer(id, stale, false);
    assert_eq!(errors(&a)[0].0, ErrorCode::Expired, "refused, not adopted");
    h.now = current.exp_s * SEC + SEC;
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c),
        None,
        "handed out a token expired on the server (the estimate is {} s behind)",
        h.server_s().saturating_sub(h.s.server_now_s())
    );
}

#[test]
#[ignore = "bug: a wall clock set ahead voids the iat floor instead of moving it back by the jump; \
            a long-expired token answered next (no Date) then drags the estimate down by its age \
            and the current token is handed out past its exp"]
fn a_stale_answer_after_a_clock_set_ahead_never_makes_the_current_token_outlive_its_exp() {
    let mut h = H::new();
    h.login();
    let (id, _) = until_refresh(&mut h);
    let (current, _) = h.succeed(id, Some("rt2"), 3_600); // the floor: its iat
    h.now += 10 * MIN;
    h.feed(Input::Wake);
    h.set_ahead(2 * HOUR); // not slept: the monotonic clock does not move
    h.skew -= 2 * HOUR as i64;
    let (_, a) = h.get();
    let (id, _) = sent(&a).expect("the token looks dead: refresh");
    // A stale answer: a token that died an hour ago, no Date.
    let mut stale = h.issue(Some("rt3"), 600);
    stale.iat_s = Some(h.server_s() - 3_600 - 600);
    stale.exp_s = h.server_s() - 3_600;
    h.answer(id, stale, false);
    assert!(
        h.s.server_now_s() + 60 >= current.iat_s.unwrap_or(0) + 600,
        "the estimate ({}) fell below what the server's clock had already reached ({})",
        h.s.server_now_s(),
        current.iat_s.unwrap_or(0) + 600
    );
    h.now = add_signed(current.exp_s * SEC + SEC, -h.skew);
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c),
        None,
        "handed out a token expired on the server"
    );
}

#[test]
fn invalid_answers_after_the_token_expired_end_the_session_as_invalid_token_once() {
    let mut h = H::new();
    h.login();
    // While the token is valid, unusable answers are retried and the session kept.
    let (mut id, _) = until_refresh(&mut h);
    for _ in 0..MAX_INVALID_ANSWERS {
        let a = h.done(id, invalid(None));
        assert!(logouts(&a).is_empty());
        id = until_refresh(&mut h).0;
    }
    assert!(h.s.is_authenticated(), "the token still lasts");
    // A good answer resets the count.
    h.succeed(id, None, 600);
    h.now += HOUR; // expired
    let (c, a) = h.get();
    let (mut id, _) = sent(&a).expect("refresh");
    let mut all = Vec::new();
    let mut answers = 0;
    while h.s.is_authenticated() {
        answers += 1;
        assert!(answers <= MAX_INVALID_ANSWERS, "never an endless session");
        all.extend(h.done(id, invalid(None)));
        if h.s.is_authenticated() {
            let wake = h.wake_local();
            let a = h.wait(wake - h.now);
            id = sent(&a).expect("a retry").0;
            all.extend(a);
        }
    }
    assert_eq!(answers, MAX_INVALID_ANSWERS);
    assert_eq!(logouts(&all), vec![LogoutReason::InvalidToken]);
    assert_eq!(rejection(&all, c), Some(ErrorCode::BadSignature));
    assert!(all.contains(&Action::ClearPersist));
    assert!(logouts(&h.wait(HOUR)).is_empty());
    assert_eq!(h.s.next_wake_ms(), None);
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
    // The rejected token is not handed out any more.
    let (c3, a) = h.get();
    assert!(!answered(&a, c3));
    assert_eq!(sent(&a), None);
    assert_eq!(h.s.fresh_for_ms(), 0);
    let (t, a) = h.succeed(id, None, 3_600);
    for c in [c1, c3] {
        assert_eq!(resolved(&a, c), Some(t.access_token.clone()));
    }
    // A late 401 for the old token: replay with the current one, no refresh.
    let (c4, a) = h.unauthorized("at1");
    assert_eq!(resolved(&a, c4), Some(t.access_token.clone()));
    assert_eq!(sent(&a), None);
}

#[test]
fn concurrent_api_401s_for_the_same_token_share_one_refresh() {
    let mut h = H::new();
    h.login();
    h.now += MIN;
    let (c1, a) = h.unauthorized("at1");
    let (id, _) = sent(&a).expect("one refresh");
    // A second request failed with the same token meanwhile (parallel API calls): it joins.
    h.now += 20;
    let (c2, a) = h.unauthorized("at1");
    assert_eq!(sent(&a), None, "no second refresh");
    assert!(!answered(&a, c2), "waits for the refresh in flight: {a:?}");
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c1), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c2), Some(t.access_token));
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
    assert!(rejection(&a, c).is_some());
    let (c, a) = h.get();
    assert_eq!(rejection(&a, c), Some(ErrorCode::Network));
    // The retry comes by itself, although the token is far from its expiry.
    let retry = h.wake_local();
    assert!(retry < h.now + 2 * SEC);
    assert!(sent(&h.wait(retry - h.now)).is_some());
}

#[test]
fn an_api_that_always_says_401_costs_at_most_one_refresh_per_cooldown() {
    let mut h = H::new();
    h.login();
    let mut requests = 0u64;
    let mut replays_refused = 0;
    let start = h.now;
    for _ in 0..600 {
        h.now += SEC;
        let (c, a) = h.get();
        let mut a = a;
        if let Some((id, _)) = sent(&a) {
            requests += 1;
            a.extend(h.succeed(id, None, 3_600).1);
        }
        let Some(token) = resolved(&a, c) else {
            continue;
        };
        // The API refuses whatever it gets.
        let (c, a) = h.unauthorized(&token);
        let mut a = a;
        if let Some((id, _)) = sent(&a) {
            requests += 1;
            a.extend(h.succeed(id, None, 3_600).1);
        }
        if rejection(&a, c).is_some() {
            replays_refused += 1;
        } else {
            assert!(resolved(&a, c).is_some(), "every call settles: {a:?}");
        }
    }
    let minutes = (h.now - start) / MIN;
    let bound = 1 + (h.now - start) / API_REFRESH_COOLDOWN_MS;
    assert!(
        requests <= bound,
        "{requests} refreshes in {minutes} min (bound {bound})"
    );
    assert!(requests >= 2, "it does try again after the cooldown");
    assert!(replays_refused > 500, "the app gets the 401s");
    assert!(h.s.is_authenticated(), "a 401 is not a logout");
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
    assert!(again.contains(&Action::Broadcast(Broadcast::LoggedOut)));
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
    assert!(!h.s.can_refresh());
    h.now += HOUR - 30 * SEC;
    let (c, a) = h.get();
    assert_eq!(
        resolved(&a, c).as_deref(),
        Some("at1"),
        "nothing better to offer"
    );
    let (c, a) = h.force();
    assert_eq!(rejection(&a, c), Some(ErrorCode::NotAuthenticated));
    let (c, a) = h.chained();
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
    assert!(!h.s.could_refresh(&t));
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
    h.succeed(id, None, 3_600);
    let (id, rt) = until_refresh(&mut h);
    assert_eq!(rt, None);
    // An unusable answer's refresh token is not kept either.
    let a = h.done(id, invalid(Some("leaked-again")));
    assert_eq!(persisted(&a), None);
    assert_eq!(h.s.tokens().map(|t| t.refresh_token.clone()), Some(None));
    // A peer's record never brings one in.
    let mut t = h.issue(Some("from-peer"), 3_600);
    t.iat_s = t.iat_s.map(|i| i + 1);
    h.feed(Input::PeerRefreshed(t));
    assert_eq!(h.s.tokens().map(|t| t.refresh_token.clone()), Some(None));
}

#[test]
fn cookie_style_drops_a_refresh_token_in_a_refresh_result() {
    let mut h = H::with(Config {
        refresh_token_in_cookie: true,
        ..Config::default()
    });
    h.login();
    let (id, _) = until_refresh(&mut h);
    let (_, a) = h.succeed(id, Some("also-leaked"), 3_600);
    assert_eq!(persisted(&a).map(|t| t.refresh_token), Some(None));
    assert_eq!(h.s.tokens().map(|t| t.refresh_token.clone()), Some(None));
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
    let (c3, a) = h.chained();
    assert_eq!(sent(&a), None);
    let (t, a) = h.succeed(id, None, 3_600);
    assert_eq!(resolved(&a, c1), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c2), Some(t.access_token.clone()));
    assert_eq!(resolved(&a, c3), Some(t.access_token));
}

#[test]
fn refresh_never_resolves_with_a_token_already_expired() {
    let mut h = H::new();
    h.login();
    let (c, a) = h.force();
    let (id, _) = sent(&a).expect("forced");
    // The answer's token died 20 s ago (a replayed answer, a slow path): within the leeway.
    let mut t = h.issue(Some("rt2"), 600);
    t.exp_s = h.server_s() - 20;
    t.iat_s = Some(t.exp_s - 600);
    assert!(h.s.judge(&t).is_ok(), "within the leeway");
    let a = h.answer(id, t.clone(), false);
    assert_ne!(
        resolved(&a, c).as_deref(),
        Some(t.access_token.as_str()),
        "refresh() handed out a token that expired 20 s ago"
    );
    let (g, a) = h.get();
    assert_ne!(resolved(&a, g).as_deref(), Some(t.access_token.as_str()));
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

#[test]
fn refresh_from_a_listener_sends_nothing_itself_and_resolves_at_the_next_natural_refresh() {
    let mut h = H::new();
    h.login();
    let (c, a) = h.chained();
    assert_eq!(sent(&a), None, "no request of its own");
    assert!(!answered(&a, c));
    assert_eq!(
        h.wake_local(),
        T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS,
        "the timer is not moved"
    );
    let (id, _) = until_refresh(&mut h);
    let (t, a) = h.succeed(id, Some("rt2"), 3_600);
    assert_eq!(resolved(&a, c), Some(t.access_token));
    // A listener that calls refresh() on every refresh event: one refresh per lifetime.
    let mut requests = 0;
    for _ in 0..5 {
        let (_, a) = h.chained();
        assert_eq!(sent(&a), None);
        let (id, _) = until_refresh(&mut h);
        requests += 1;
        let (_, a) = h.succeed(id, None, 3_600);
        assert_eq!(refresh_events(&a).len(), 1);
    }
    assert_eq!(requests, 5);
    assert_eq!(h.now, T0 + 6 * (HOUR - DEFAULT_REFRESH_MARGIN_MS));
}

#[test]
fn refresh_from_a_listener_is_rejected_when_the_next_refresh_fails() {
    let mut h = H::new();
    h.login();
    let (c, _) = h.chained();
    let (id, _) = until_refresh(&mut h);
    let a = h.done(id, unavailable(None));
    assert_eq!(rejection(&a, c), Some(ErrorCode::BadResponse));
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
fn an_older_peer_session_is_ignored() {
    // A tab restored with an old stored session announces it: the live session stays.
    let mut h = H::new();
    let old = h.issue(Some("rt0"), 3_600);
    h.now += MIN;
    let ours = h.login();
    let a = h.feed(Input::PeerSession(old));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(h.s.tokens(), Some(&ours));
    // A newer one replaces ours (another login).
    h.now += MIN;
    let newer = h.issue(Some("rtB"), 3_600);
    let a = h.feed(Input::PeerSession(newer.clone()));
    assert_eq!(
        refresh_events(&a),
        vec![(newer.access_token.clone(), Source::Peer)]
    );
    assert_eq!(h.s.tokens(), Some(&newer));
}

#[test]
fn newer_means_a_later_iat_else_a_later_exp() {
    let mut h = H::new();
    let a = h.issue(None, 60);
    let mut b = a.clone();
    b.exp_s += 1;
    assert!(is_newer(&b, &a) && !is_newer(&a, &b));
    // The same times may replace: they come from a refresh that rotated the refresh token.
    assert!(is_newer(&a, &a));
    let mut c = a.clone();
    c.iat_s = c.iat_s.map(|i| i + 1);
    c.exp_s = a.exp_s - 30;
    assert!(
        is_newer(&c, &b),
        "issued later, although it dies sooner: {c:?}"
    );
    c.iat_s = None;
    assert!(!is_newer(&c, &b), "without both iats, exp decides");
    let mut older = a.clone();
    older.iat_s = older.iat_s.map(|i| i - 1);
    older.exp_s += 3_600;
    assert!(
        !is_newer(&older, &a),
        "issued earlier, although it lives longer"
    );
}

#[test]
fn a_newer_peer_token_with_a_shorter_lifetime_is_adopted_when_issued_later() {
    let mut h = H::new();
    h.login(); // one hour
    h.now += 300; // same server second: same iat, shorter exp: not newer
    let same_second = h.issue(Some("rtX"), 60);
    assert!(h.feed(Input::PeerRefreshed(same_second)).is_empty());
    h.now += 2 * SEC;
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
    assert!(!h.s.refresh_wanted(id), "moot now");
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
fn a_request_made_moot_while_waiting_for_the_lock_ends_quietly() {
    let mut h = H::new();
    h.login();
    h.now += HOUR - 30 * SEC;
    let (c, a) = h.get();
    let (id, _) = sent(&a).expect("refresh (the core now waits for the lock)");
    assert!(h.s.refresh_wanted(id));
    assert!(!h.s.refresh_wanted(RefreshId(id.get() + 1)));
    h.now += SEC;
    let t = h.issue(Some("rt2"), 3_600);
    h.feed(Input::PeerRefreshed(t.clone()));
    assert!(!h.s.refresh_wanted(id));
    let a = h.done(id, RefreshOutcome::Moot);
    assert!(errors(&a).is_empty() && logouts(&a).is_empty(), "{a:?}");
    assert_eq!(sent(&a), None);
    assert_eq!(h.s.refresh_in_flight(), None);
    let (c2, a) = h.get();
    assert_eq!(resolved(&a, c2), Some(t.access_token.clone()));
    let _ = c;
}

#[test]
fn our_superseded_refresh_is_adopted_if_it_is_newer_still() {
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, _) = sent(&a).expect("refresh");
    h.now += SEC;
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
    assert_eq!(
        h.s.tokens()
            .and_then(|t| t.refresh_token.clone())
            .as_deref(),
        Some("rt3")
    );
}

#[test]
#[ignore = "bug: a superseded refresh result that is not newer than the peer's tokens is dropped \
            whole (`adopt_if_newer` returns early), its rotated refresh token included, although \
            the server rotated the refresh token this request sent"]
fn a_superseded_result_that_is_not_newer_keeps_its_rotated_refresh_token() {
    // Tokens of one session with different lifetimes: a server that caps `exp` at the
    // session's end, or that changed its TTL.
    let mut h = H::new();
    h.login();
    h.now += 10 * SEC;
    let (_, a) = h.force();
    let (id, sent_rt) = sent(&a).expect("refresh");
    assert_eq!(sent_rt.as_deref(), Some("rt1"));
    // Another tab's result arrives first: issued this second, an hour long, still with rt1.
    let peer = h.issue(Some("rt1"), 3_600);
    h.feed(Input::PeerRefreshed(peer.clone()));
    assert_eq!(h.s.access_token(), Some(peer.access_token.as_str()));
    // Our answer: the server rotated rt1 -> rt2; its token, of the same second, is shorter.
    let (_, a) = h.succeed(id, Some("rt2"), 600);
    assert!(refresh_events(&a).is_empty(), "the peer's token stays");
    assert_eq!(
        h.s.tokens()
            .and_then(|t| t.refresh_token.clone())
            .as_deref(),
        Some("rt2"),
        "rt1 was retired by this very request"
    );
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
fn an_expired_peer_session_is_not_adopted() {
    let mut h = H::new();
    let mut t = h.issue(Some("rt1"), 600);
    t.exp_s = h.server_s() - 3_600;
    t.iat_s = Some(t.exp_s - 600);
    t.expires_by_s = Some(h.server_s() + 3_600);
    assert!(h.feed(Input::PeerSession(t)).is_empty());
    assert!(!h.s.is_authenticated());
}

#[test]
fn a_peer_hello_is_answered_with_our_session() {
    let mut h = H::new();
    let t = h.login();
    let a = h.feed(Input::PeerHello);
    assert_eq!(a, vec![Action::Broadcast(Broadcast::Refreshed(t))]);
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

// ---- restored sessions ----

#[test]
fn a_restored_session_keeps_its_age_and_is_neither_stored_nor_announced() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    // Reload 50 minutes later: a new machine, the stored record.
    h.now += 50 * MIN;
    h.s = Session::new(Config::default(), 1);
    let a = h.feed(Input::Restore {
        tokens: t,
        peers_asked: false,
    });
    assert_eq!(persisted(&a), None, "it came from storage");
    assert!(!a.iter().any(|x| matches!(x, Action::Broadcast(_))));
    assert_eq!(refresh_events(&a).len(), 1, "listeners learn of it");
    assert_eq!(refresh_events(&a)[0].1, Source::SelfTab);
    assert_eq!(h.s.expires_at_ms(), Some(T0 + HOUR));
    assert_eq!(h.wake_local(), T0 + HOUR - DEFAULT_REFRESH_MARGIN_MS);
}

#[test]
fn a_restored_expired_session_refreshes_instead_of_logging_out() {
    let mut h = H::new();
    let t = h.issue(Some("rt1"), 3_600);
    h.now += 5 * HOUR;
    h.s = Session::new(Config::default(), 1);
    let a = h.feed(Input::Restore {
        tokens: t,
        peers_asked: false,
    });
    assert!(logouts(&a).is_empty());
    assert_eq!(sent(&a).and_then(|s| s.1).as_deref(), Some("rt1"));
}

#[test]
fn a_restored_session_waits_for_the_other_tabs_and_a_newer_answer_replaces_it() {
    let mut h = H::new();
    let stored = h.issue(Some("rt-old"), 600);
    h.now += HOUR; // the stored session is long expired; a live tab rotated it since
    h.s = Session::new(Config::default(), 1);
    let a = h.feed(Input::Restore {
        tokens: stored,
        peers_asked: true,
    });
    assert_eq!(sent(&a), None, "no refresh before the other tabs answered");
    assert_eq!(h.wake_local(), h.now + PEER_ANSWER_WAIT_MS);
    let (c, a) = h.get();
    assert!(!answered(&a, c), "an expired token is not handed out");
    assert_eq!(sent(&a), None);
    let (f, a) = h.force();
    assert_eq!(sent(&a), None, "not even for refresh()");
    let a = h.wait(PEER_ANSWER_WAIT_MS / 2);
    assert_eq!(sent(&a), None);
    // A live tab answers with its session.
    let live = h.issue(Some("rt-new"), 600);
    let a = h.feed(Input::PeerRefreshed(live.clone()));
    assert_eq!(resolved(&a, c), Some(live.access_token.clone()));
    assert_eq!(resolved(&a, f), Some(live.access_token.clone()));
    assert_eq!(sent(&a), None);
    let mut all = Vec::new();
    for _ in 0..20 {
        all.extend(h.wait(PEER_ANSWER_WAIT_MS));
    }
    let (_, rt) = until_refresh(&mut h);
    assert_eq!(rt.as_deref(), Some("rt-new"));
    assert!(
        !all.iter().any(|x| matches!(
            x,
            Action::SendRefresh { refresh_token: Some(rt), .. } if rt == "rt-old"
        )),
        "the stored refresh token is never sent"
    );
}

#[test]
fn a_restored_session_refreshes_itself_when_no_tab_answers() {
    let mut h = H::new();
    let stored = h.issue(Some("rt1"), 600);
    h.now += HOUR;
    h.s = Session::new(Config::default(), 1);
    h.feed(Input::Restore {
        tokens: stored,
        peers_asked: true,
    });
    let (c, _) = h.get();
    assert_eq!(sent(&h.wait(PEER_ANSWER_WAIT_MS - 1)), None);
    let (id, rt) = sent(&h.wait(1)).expect("after the wait, with the stored token");
    assert_eq!(rt.as_deref(), Some("rt1"));
    let (t, a) = h.succeed(id, Some("rt2"), 600);
    assert_eq!(resolved(&a, c), Some(t.access_token));
}

#[test]
fn a_fresh_restored_session_serves_its_token_while_it_waits_for_the_other_tabs() {
    let mut h = H::new();
    let stored = h.issue(Some("rt1"), 3_600);
    h.now += MIN;
    h.s = Session::new(Config::default(), 1);
    h.feed(Input::Restore {
        tokens: stored.clone(),
        peers_asked: true,
    });
    let (c, a) = h.get();
    assert_eq!(resolved(&a, c), Some(stored.access_token));
}

#[test]
fn margins_are_clamped_and_documented_defaults_hold() {
    let c = Config::default();
    assert_eq!(c.refresh_margin_ms, 60_000);
    assert!(c.can_refresh && !c.refresh_token_in_cookie);
    assert_eq!(c.max_backoff_ms, DEFAULT_MAX_BACKOFF_MS);
    assert_eq!(c.leeway_s, 30);
    let mut h = H::with(Config {
        refresh_margin_ms: 0,
        max_backoff_ms: 0,
        ..Config::default()
    });
    h.login();
    assert_eq!(h.wake_local(), T0 + HOUR - MIN_REFRESH_MARGIN_MS);
    assert_eq!(LogoutReason::RefreshRejected.as_str(), "refresh_rejected");
    assert_eq!(LogoutReason::InvalidToken.as_str(), "invalid_token");
    assert_eq!(Source::SelfTab.as_str(), "self");
    assert_eq!(Source::Restored.as_str(), "self");
    assert_eq!(Source::Peer.as_str(), "peer");
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
fn a_lost_answer_stays_lost_until_an_answer_tells_what_the_server_did() {
    let mut h = H::new();
    h.login();
    let (_, a) = h.force();
    let (id, rt1) = sent(&a).expect("a refresh request");
    // The server may have rotated rt1; the answer was lost.
    let a = h.done(id, network());
    let retry_in = errors(&a)[0].2.expect("a retry time");
    let id = sent(&h.wait(retry_in)).expect("a prompt retry").0;
    // The retry meets a 503: it says nothing about rt1.
    let a = h.done(id, unavailable(None));
    let (_, will_retry, retry_in) = errors(&a)[0];
    assert!(will_retry);
    let retry_in = retry_in.expect("a retry time");
    assert!(
        retry_in <= 5 * SEC,
        "retried on the backoff, not in {} min at the refresh point",
        retry_in / MIN
    );
    let a = h.wait(retry_in);
    assert_eq!(sent(&a).map(|(_, rt)| rt), Some(rt1));
}

#[test]
fn the_fast_path_window_ends_at_the_refresh_point_and_closes_on_any_doubt() {
    let mut h = H::new();
    h.login();
    let fresh = h.s.fresh_for_ms();
    assert_eq!(fresh, HOUR - DEFAULT_REFRESH_MARGIN_MS);
    h.now += MIN;
    h.feed(Input::Wake);
    assert_eq!(h.s.fresh_for_ms(), fresh - MIN, "counts down");
    let a = h.wait(fresh - MIN);
    let (id, _) = sent(&a).expect("the refresh starts when due");
    assert_eq!(h.s.fresh_for_ms(), 0, "a request is out");
    h.done(id, network());
    assert_eq!(h.s.fresh_for_ms(), 0, "after a failure");
    h.feed(Input::Logout);
    assert_eq!(h.s.fresh_for_ms(), 0);
}
