//! Randomized simulation of the session machine against a model auth server.
//!
//! A simulated real clock drives one or two tabs (each a `Session` with a thin fake driver), a
//! refresh server that rotates refresh tokens (with a grace window for the previous one, so a
//! response lost after rotation can be retried), an API that answers 401 for expired or revoked
//! access tokens, and a world that injects faults: network errors, 5xx, 429 with Retry-After,
//! hanging requests (reported as timeouts), responses dropped after rotation, access tokens
//! that fail verification, definitive rejections, offline periods, wall-clock jumps both ways,
//! sleep, throttled timers, concurrent callers, logouts and logins.
//!
//! Invariants, checked after every step:
//! - a resolved token was issued by the server, is not a forged one, and its real expiry
//!   (server time) has not passed; a `fetch` replay never gets the token the API refused;
//! - a tab has at most one refresh request outstanding;
//! - every call is answered exactly once, and a call only waits while a refresh is out;
//! - `logout` comes only from a user logout, a definitive rejection, a peer logout, or (for
//!   sessions that cannot refresh) expiry / an API 401, and exactly once per session;
//! - a transient fault never ends the session nor drops the refresh token, and a tab never
//!   sends a refresh token older than the newest it has adopted;
//! - refresh requests per token lifetime are bounded: per tab and lifetime,
//!   `requests <= 1 + failed attempts`, and a retry never follows the failure it retries by
//!   less than `MIN_RETRY_DELAY_MS` of real time unless an `online` event, a forward clock jump
//!   or a sleep came in between;
//! - the wake timer never spins (no repeated zero-delay wake-ups that do nothing);
//! - the server never sees a refresh token two rotations old that was retired within its
//!   grace window (a tab ignored a rotation it had been told about).
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic
)] // a failing test should stop loudly

use std::collections::{BTreeMap, HashMap, HashSet};

use jwt_keeper::error::{Error, ErrorCode};
use jwt_keeper::session::{
    Action, Broadcast, CallId, Config, Event, Input, LogoutReason, Now, RefreshId, RefreshOutcome,
    Session, Tokens, MIN_RETRY_DELAY_MS,
};

const SEC: u64 = 1_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
/// Real time at the start (server clock = real clock).
const START: u64 = 1_700_000_000_000;
/// The fake driver's fetch timeout (`refresh.timeoutMs` default).
const TIMEOUT_MS: u64 = 10_000;
/// The server accepts the previous refresh token this long after rotating it.
const GRACE_MS: u64 = 2 * HOUR;
/// Verification leeway of the fake driver (the `leeway` default).
const LEEWAY_S: u64 = 30;
/// Possible access-token lifetimes, seconds (short ones dominate to get many lifetimes).
const LIFETIMES_S: [u64; 8] = [5, 8, 15, 30, 60, 120, 300, 900];

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    seed: u64,
    tabs: usize,
    cookie: bool,
    /// Logins hand out a refresh token (or the refresh cookie).
    refreshable: bool,
    /// The driver passes `performance.now()`.
    monotonic: bool,
    /// The wall clock is sometimes set back (needs `monotonic` to be safe while idle).
    backward_jumps: bool,
    /// Probability that a refresh request meets a fault.
    fault_rate: f64,
    /// The server rotates refresh tokens.
    rotate: bool,
    margin_ms: u64,
    lifetimes: u64,
}

#[derive(Clone, Debug)]
enum Fate {
    Ok,
    NetworkBefore,
    Status5xx,
    TooMany(u64),
    HangBefore,
    HangAfter,
    DropAfter,
    Forged,
    Revoke,
}

#[derive(Clone, Debug)]
enum Resp {
    Tokens {
        at: String,
        rt: Option<String>,
        exp_s: u64,
        iat_s: Option<u64>,
        date_s: Option<u64>,
        expires_in_s: Option<u64>,
    },
    Forged {
        rt: Option<String>,
    },
    Transient(ErrorCode, Option<u64>),
    Rejected,
}

#[derive(Clone, Debug)]
enum Ev {
    App(usize),
    Get(usize),
    Timer(usize, u64),
    Arrive {
        tab: usize,
        id: RefreshId,
        rt: Option<String>,
        fate: Fate,
        sent: u64,
    },
    Done {
        tab: usize,
        id: RefreshId,
        resp: Resp,
    },
    Api {
        tab: usize,
        token: String,
        replay: bool,
    },
    Api401 {
        tab: usize,
        token: String,
    },
    Peer(usize, Broadcast),
    /// The lock holder's hold time after its request ended is over.
    LockFree,
    Login(usize),
    World,
    Online,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallKind {
    Get,
    Fetch,
    Replay,
    Force,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputKind {
    Logout,
    Rejected,
    PeerLoggedOut,
    Unauthorized,
    Other,
}

#[derive(Default)]
struct Server {
    family: u64,
    current: Option<String>,
    previous: Option<(String, u64)>,
    /// Valid access tokens ever issued -> real expiry (ms).
    issued: HashMap<String, u64>,
    revoked: HashSet<String>,
    /// Refresh token -> real time it was rotated away.
    retired: HashMap<String, u64>,
    n: u64,
    lifetimes: u64,
}

struct Tab {
    s: Session,
    perf_base: u64,
    perf_paused: u64,
    has_session: bool,
    unrefreshable: bool,
    outstanding: Option<RefreshId>,
    cancelled: HashSet<RefreshId>,
    pending: HashMap<CallId, CallKind>,
    /// The token a `fetch` replay call is answering for.
    replay_of: HashMap<CallId, String>,
    latest_rt: Option<String>,
    life_token: String,
    sends_this_life: u32,
    failures_this_life: u32,
    last_failure: Option<u64>,
    excused: bool,
    timer_gen: u64,
    timer_at: Option<u64>,
    idle_wakes: u32,
}

#[derive(Default, Debug)]
struct Stats {
    lifetimes: u64,
    steps: u64,
    refreshes: u64,
    faults: u64,
    logouts: HashMap<&'static str, u64>,
    revocations: u64,
    stale_rejections: u64,
    resolves: u64,
    rejects: u64,
    api_401: u64,
    api_gave_up: u64,
    jumps: u64,
    sleeps: u64,
    max_sends_per_life: u32,
}

struct World {
    v: Variant,
    rng: Rng,
    t: u64,
    /// Wall clock minus real clock (shared by the tabs of one machine).
    skew: i64,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    server: Server,
    tabs: Vec<Tab>,
    cookie: Option<String>,
    offline_until: u64,
    next_call: u64,
    /// Lifetime of the last issued token: the app's call rate follows it.
    life_ms: u64,
    winding_down: bool,
    stats: Stats,
    /// The cross-tab refresh lock (the driver's Web Lock): the tab and request holding it.
    lock: Option<(usize, RefreshId)>,
    /// Requests waiting for the lock, in order, with the refresh token each would send.
    lock_queue: std::collections::VecDeque<(usize, RefreshId, Option<String>)>,
}

fn add(a: u64, d: i64) -> u64 {
    if d >= 0 {
        a + d as u64
    } else {
        a - d.unsigned_abs()
    }
}

impl World {
    fn new(v: Variant) -> Self {
        let mut rng = Rng::new(v.seed);
        let tabs = (0..v.tabs)
            .map(|i| {
                let config = Config {
                    refresh_margin_ms: v.margin_ms,
                    refresh_token_in_cookie: v.cookie,
                    ..Config::default()
                };
                Tab {
                    s: Session::new(config, rng.next() ^ i as u64),
                    perf_base: START,
                    perf_paused: 0,
                    has_session: false,
                    unrefreshable: false,
                    outstanding: None,
                    cancelled: HashSet::new(),
                    pending: HashMap::new(),
                    replay_of: HashMap::new(),
                    latest_rt: None,
                    life_token: String::new(),
                    sends_this_life: 0,
                    failures_this_life: 0,
                    last_failure: None,
                    excused: false,
                    timer_gen: 0,
                    timer_at: None,
                    idle_wakes: 0,
                }
            })
            .collect();
        let mut w = World {
            v,
            rng,
            t: START,
            skew: 0,
            queue: BTreeMap::new(),
            seq: 0,
            server: Server::default(),
            tabs,
            cookie: None,
            offline_until: 0,
            next_call: 0,
            life_ms: MIN,
            winding_down: false,
            stats: Stats::default(),
            lock: None,
            lock_queue: std::collections::VecDeque::new(),
        };
        w.at(0, Ev::Login(0));
        for i in 0..v.tabs {
            w.at(10, Ev::App(i));
        }
        w.at(MIN, Ev::World);
        w
    }

    fn at(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.t + delay, self.seq), ev);
    }

    fn local(&self) -> u64 {
        add(self.t, self.skew)
    }

    fn server_s(&self) -> u64 {
        self.t / SEC
    }

    fn pick_life(&mut self) -> u64 {
        LIFETIMES_S[self.rng.below(LIFETIMES_S.len() as u64) as usize]
    }

    // ---- the server ----

    fn issue(&mut self) -> (String, u64, u64) {
        self.server.n += 1;
        self.server.lifetimes += 1;
        let at = format!("at{}.{}", self.server.family, self.server.n);
        let iat = self.server_s();
        let life = self.pick_life();
        self.life_ms = life * SEC;
        let exp = iat + life;
        self.server.issued.insert(at.clone(), exp * SEC);
        (at, iat, exp)
    }

    fn new_rt(&mut self) -> String {
        self.server.n += 1;
        format!("rt{}.{}", self.server.family, self.server.n)
    }

    fn login(&mut self, tab: usize) {
        self.server.family += 1;
        self.server.previous = None;
        let rt = self.new_rt();
        self.server.current = Some(rt.clone());
        let (at, iat, exp) = self.issue();
        let rt = if !self.v.refreshable {
            self.server.current = None;
            None
        } else if self.v.cookie {
            self.cookie = Some(rt);
            None
        } else {
            Some(rt)
        };
        let tokens = Tokens {
            access_token: at,
            refresh_token: rt,
            exp_s: exp,
            iat_s: Some(iat),
            expires_in_s: Some(exp - iat),
            received_at_ms: self.local(),
            server_date_s: None,
        };
        let t = &mut self.tabs[tab];
        t.has_session = true;
        t.unrefreshable = !self.v.refreshable;
        self.feed(tab, Input::SetSession(tokens), InputKind::Other);
    }

    /// The server handles a refresh request that reached it.
    fn process(&mut self, rt: Option<&str>, forged: bool) -> Resp {
        let t = self.t;
        let known = match (rt, &self.server.current, &self.server.previous) {
            (Some(rt), Some(cur), _) if rt == cur => Some(true),
            (Some(rt), _, Some((prev, until))) if rt == prev && t < *until => Some(false),
            _ => None,
        };
        let Some(is_current) = known else {
            self.stats.stale_rejections += 1;
            if let (Some(rt), Some(_), false) = (rt, &self.server.current, self.v.cookie) {
                // Older than the previous token, yet rotated away within the grace window: a tab
                // missed a rotation it had been told about. (Cookie jars are the browser's:
                // a late response can put an older token back, no machine can prevent that.)
                let retired = self.server.retired.get(rt).copied().unwrap_or(0);
                assert!(
                    t >= retired + GRACE_MS,
                    "{}: sent a refresh token two rotations old",
                    self.v.name
                );
            }
            return Resp::Rejected;
        };
        let new_rt = if is_current && self.v.rotate {
            let old = self.server.current.take().unwrap_or_default();
            self.server.retired.insert(old.clone(), t);
            self.server.previous = Some((old, t + GRACE_MS));
            let n = self.new_rt();
            self.server.current = Some(n.clone());
            Some(n)
        } else if is_current {
            None
        } else {
            // A retry with the previous token (its answer was lost): send the current one.
            self.server.current.clone()
        };
        if forged {
            return Resp::Forged { rt: new_rt };
        }
        let (at, iat, exp) = self.issue();
        // At least one time fact always comes (otherwise a wrong local clock is undetectable).
        let (mut iat_s, date_s, mut expires_in_s) = (
            self.rng.chance(0.7).then_some(iat),
            self.rng.chance(0.5).then_some(iat),
            self.rng.chance(0.5).then_some(exp - iat),
        );
        if iat_s.is_none() && date_s.is_none() && expires_in_s.is_none() {
            if self.rng.chance(0.5) {
                iat_s = Some(iat);
            } else {
                expires_in_s = Some(exp - iat);
            }
        }
        Resp::Tokens {
            at,
            rt: new_rt,
            exp_s: exp,
            iat_s,
            date_s,
            expires_in_s,
        }
    }

    // ---- the fake driver ----

    fn now_for(&self, tab: usize) -> Now {
        let t = &self.tabs[tab];
        Now {
            wall_ms: self.local(),
            monotonic_ms: self
                .v
                .monotonic
                .then(|| self.t - t.perf_base - t.perf_paused),
        }
    }

    fn feed(&mut self, tab: usize, input: Input, kind: InputKind) {
        let now = self.now_for(tab);
        let actions = self.tabs[tab].s.handle(now, input);
        self.stats.steps += 1;
        let mut did_something = false;
        for a in actions {
            did_something = true;
            self.perform(tab, kind, a);
        }
        self.check(tab);
        self.arm_timer(tab, did_something);
    }

    fn arm_timer(&mut self, tab: usize, did_something: bool) {
        let local = self.local();
        let Some(wake) = self.tabs[tab].s.next_wake_ms() else {
            self.tabs[tab].timer_at = None;
            return;
        };
        let delay = wake.saturating_sub(local);
        let tb = &mut self.tabs[tab];
        if delay == 0 && !did_something {
            tb.idle_wakes += 1;
            assert!(
                tb.idle_wakes < 3,
                "{}: the wake timer spins at {local}",
                self.v.name
            );
        } else {
            tb.idle_wakes = 0;
        }
        // Hidden tabs run timers late, sometimes by a minute.
        let late = match self.rng.below(100) {
            0..=79 => 0,
            80..=97 => self.rng.below(2 * SEC),
            _ => self.rng.below(MIN),
        };
        let at = self.t + delay + late;
        let tb = &mut self.tabs[tab];
        if tb.timer_at == Some(at) {
            return;
        }
        tb.timer_gen += 1;
        tb.timer_at = Some(at);
        let generation = tb.timer_gen;
        self.at(delay + late, Ev::Timer(tab, generation));
    }

    fn perform(&mut self, tab: usize, kind: InputKind, action: Action) {
        let name = self.v.name;
        let t = self.t;
        match action {
            Action::SendRefresh { id, refresh_token } => {
                let tb = &mut self.tabs[tab];
                assert!(
                    tb.outstanding.is_none(),
                    "{name}: two refreshes out in tab {tab}"
                );
                tb.outstanding = Some(id);
                // Like the driver: one tab at a time under the cross-tab lock.
                if self.lock.is_some() {
                    self.lock_queue.push_back((tab, id, refresh_token));
                } else {
                    self.lock = Some((tab, id));
                    self.start_send(tab, id, refresh_token);
                }
            }
            Action::CancelRefresh { id } => {
                let tb = &mut self.tabs[tab];
                assert_eq!(
                    tb.outstanding,
                    Some(id),
                    "{name}: cancel of an unknown request"
                );
                tb.outstanding = None;
                tb.cancelled.insert(id);
            }
            Action::Resolve { call, access_token } => {
                self.stats.resolves += 1;
                let kind = self.tabs[tab].pending.remove(&call);
                let kind = kind.unwrap_or_else(|| panic!("{name}: {call:?} answered twice"));
                let exp = self.server.issued.get(&access_token).copied();
                let exp = exp.unwrap_or_else(|| panic!("{name}: resolved a token never issued"));
                assert!(
                    exp > t,
                    "{name}: handed out a token expired {} ms ago",
                    t - exp
                );
                match kind {
                    CallKind::Fetch => {
                        let d = self.rng.range(5, 500);
                        self.at(
                            d,
                            Ev::Api {
                                tab,
                                token: access_token,
                                replay: false,
                            },
                        );
                    }
                    CallKind::Replay => {
                        let refused = self.tabs[tab].replay_of.remove(&call);
                        assert_ne!(
                            refused,
                            Some(access_token.clone()),
                            "{name}: replay with the refused token"
                        );
                        let d = self.rng.range(5, 500);
                        self.at(
                            d,
                            Ev::Api {
                                tab,
                                token: access_token,
                                replay: true,
                            },
                        );
                    }
                    CallKind::Get | CallKind::Force => {}
                }
            }
            Action::Reject { call, error } => {
                self.stats.rejects += 1;
                let tb = &mut self.tabs[tab];
                assert!(
                    tb.pending.remove(&call).is_some(),
                    "{name}: {call:?} answered twice"
                );
                tb.replay_of.remove(&call);
                // Only causes a caller can act on; never the machine's internal fallback.
                let allowed = [
                    ErrorCode::NotAuthenticated,
                    ErrorCode::RefreshRejected,
                    ErrorCode::Network,
                    ErrorCode::Timeout,
                    ErrorCode::BadResponse,
                    ErrorCode::BadSignature,
                ];
                assert!(
                    allowed.contains(&error.code()),
                    "{name}: rejected with {error}"
                );
            }
            Action::Emit(Event::Logout { reason }) => {
                let tb = &mut self.tabs[tab];
                assert!(
                    tb.has_session,
                    "{name}: logout without a session ({reason:?})"
                );
                let ok = match reason {
                    LogoutReason::User => kind == InputKind::Logout,
                    LogoutReason::RefreshRejected => kind == InputKind::Rejected,
                    LogoutReason::Peer => kind == InputKind::PeerLoggedOut,
                    LogoutReason::SessionExpired => tb.unrefreshable,
                    LogoutReason::InvalidToken => {
                        kind == InputKind::Unauthorized && tb.unrefreshable
                    }
                };
                assert!(ok, "{name}: logout {reason:?} after {kind:?}");
                tb.has_session = false;
                *self.stats.logouts.entry(reason.as_str()).or_default() += 1;
                let d = self.rng.range(SEC, 30 * SEC);
                self.at(d, Ev::Login(tab));
            }
            Action::Emit(Event::Error { will_retry, .. }) => {
                let tb = &mut self.tabs[tab];
                assert!(will_retry, "{name}: a failure the machine gives up on");
                tb.failures_this_life += 1;
                tb.last_failure = Some(t);
                tb.excused = false;
            }
            Action::Emit(Event::Refresh { .. }) | Action::ClearPersist => {}
            Action::Persist(tokens) => {
                let tb = &mut self.tabs[tab];
                if !self.v.cookie {
                    tb.latest_rt = tokens.refresh_token.clone();
                } else {
                    assert_eq!(tokens.refresh_token, None, "{name}: refresh token in JS");
                }
                if tokens.access_token != tb.life_token {
                    tb.life_token = tokens.access_token;
                    tb.sends_this_life = 0;
                    tb.failures_this_life = 0;
                    tb.last_failure = None;
                }
            }
            Action::Broadcast(msg) => {
                for other in 0..self.tabs.len() {
                    if other != tab {
                        // BroadcastChannel: faster than any request round trip.
                        let d = self.rng.range(0, 3);
                        self.at(d, Ev::Peer(other, msg.clone()));
                    }
                }
            }
        }
    }

    fn check(&self, tab: usize) {
        let name = self.v.name;
        let tb = &self.tabs[tab];
        assert_eq!(
            tb.has_session,
            tb.s.is_authenticated(),
            "{name}: session ended silently"
        );
        assert_eq!(
            tb.pending.len(),
            tb.s.pending_calls(),
            "{name}: call bookkeeping"
        );
        assert_eq!(
            tb.outstanding,
            tb.s.refresh_in_flight(),
            "{name}: request bookkeeping"
        );
        if !tb.pending.is_empty() {
            assert!(tb.outstanding.is_some(), "{name}: calls wait for nothing");
        }
        if tb.has_session && !tb.unrefreshable && !self.v.cookie {
            let rt = tb.s.tokens().and_then(|t| t.refresh_token.as_ref());
            assert!(rt.is_some(), "{name}: the refresh token was dropped");
        }
    }

    fn fate(&mut self) -> Fate {
        if self.t < self.offline_until {
            return Fate::NetworkBefore;
        }
        if self.winding_down || !self.rng.chance(self.v.fault_rate) {
            return if self.rng.chance(0.001) {
                Fate::Revoke
            } else {
                Fate::Ok
            };
        }
        self.stats.faults += 1;
        match self.rng.below(100) {
            0..=24 => Fate::NetworkBefore,
            25..=39 => Fate::Status5xx,
            40..=49 => Fate::TooMany(self.rng.range(SEC, 20 * SEC)),
            50..=54 => Fate::HangBefore,
            55..=59 => Fate::HangAfter,
            60..=79 => Fate::DropAfter,
            80..=97 => Fate::Forged,
            _ => Fate::Revoke,
        }
    }

    /// The request `id` of `tab` leaves (it holds the lock).
    fn start_send(&mut self, tab: usize, id: RefreshId, refresh_token: Option<String>) {
        let name = self.v.name;
        let t = self.t;
        self.stats.refreshes += 1;
        let tb = &mut self.tabs[tab];
        if !self.v.cookie {
            assert!(refresh_token.is_some(), "{name}: refresh without a token");
            assert_eq!(
                refresh_token, tb.latest_rt,
                "{name}: stale refresh token sent"
            );
        } else {
            assert_eq!(refresh_token, None);
        }
        tb.sends_this_life += 1;
        assert!(
            tb.sends_this_life <= 1 + tb.failures_this_life,
            "{name}: {} requests for one lifetime with {} failures",
            tb.sends_this_life,
            tb.failures_this_life
        );
        if let (Some(f), false) = (tb.last_failure, tb.excused) {
            assert!(
                t >= f + MIN_RETRY_DELAY_MS,
                "{name}: retry {} ms after failure",
                t - f
            );
        }
        tb.last_failure = None;
        self.stats.max_sends_per_life = self.stats.max_sends_per_life.max(tb.sends_this_life);
        let rt = if self.v.cookie {
            self.cookie.clone()
        } else {
            refresh_token
        };
        let fate = self.fate();
        self.send(tab, id, rt, fate);
    }

    /// The lock is free: the first waiting request that is still wanted takes it; the others
    /// (made moot by another tab's result) end without a request, as in the driver.
    fn lock_free(&mut self) {
        while let Some((tab, id, rt)) = self.lock_queue.pop_front() {
            let wanted =
                self.tabs[tab].outstanding == Some(id) && self.tabs[tab].s.refresh_wanted(id);
            if wanted {
                // The refresh token may have changed while waiting (a peer's rotation).
                let current = self.tabs[tab]
                    .s
                    .tokens()
                    .and_then(|t| t.refresh_token.clone());
                let rt = if rt.is_some() { current } else { rt };
                self.lock = Some((tab, id));
                self.start_send(tab, id, rt);
                return;
            }
            if self.tabs[tab].outstanding == Some(id) {
                self.done(tab, id, Resp::Transient(ErrorCode::Network, None));
            }
        }
    }

    fn send(&mut self, tab: usize, id: RefreshId, rt: Option<String>, fate: Fate) {
        match fate {
            Fate::NetworkBefore => {
                let d = self.rng.range(1, 300);
                self.at(
                    d,
                    Ev::Done {
                        tab,
                        id,
                        resp: Resp::Transient(ErrorCode::Network, None),
                    },
                );
            }
            Fate::HangBefore => {
                self.at(
                    TIMEOUT_MS,
                    Ev::Done {
                        tab,
                        id,
                        resp: Resp::Transient(ErrorCode::Timeout, None),
                    },
                );
            }
            fate => {
                let d = self.rng.range(5, 800);
                let sent = self.t;
                self.at(
                    d,
                    Ev::Arrive {
                        tab,
                        id,
                        rt,
                        fate,
                        sent,
                    },
                );
            }
        }
    }

    fn arrive(&mut self, tab: usize, id: RefreshId, rt: Option<String>, fate: Fate, sent: u64) {
        let back = self.rng.range(5, 800);
        let resp = match fate {
            Fate::Status5xx => Resp::Transient(ErrorCode::BadResponse, None),
            Fate::TooMany(after) => Resp::Transient(ErrorCode::BadResponse, Some(after)),
            Fate::Revoke => {
                self.stats.revocations += 1;
                self.server.current = None;
                self.server.previous = None;
                Resp::Rejected
            }
            Fate::Forged => self.process(rt.as_deref(), true),
            Fate::Ok | Fate::DropAfter | Fate::HangAfter => {
                let resp = self.process(rt.as_deref(), false);
                match fate {
                    Fate::DropAfter => Resp::Transient(ErrorCode::Network, None),
                    Fate::HangAfter => {
                        let d = (sent + TIMEOUT_MS).saturating_sub(self.t);
                        self.at(
                            d,
                            Ev::Done {
                                tab,
                                id,
                                resp: Resp::Transient(ErrorCode::Timeout, None),
                            },
                        );
                        return;
                    }
                    _ => resp,
                }
            }
            Fate::NetworkBefore | Fate::HangBefore => unreachable!(),
        };
        self.at(back, Ev::Done { tab, id, resp });
    }

    /// The response reached the tab: the browser stores cookies, the driver verifies.
    fn done(&mut self, tab: usize, id: RefreshId, resp: Resp) {
        if self.lock == Some((tab, id)) {
            self.lock = None;
            // Held a little longer, so the result reaches the other tabs first.
            self.at(150, Ev::LockFree);
        }
        if self.tabs[tab].cancelled.remove(&id) && self.rng.chance(0.5) {
            return; // aborted: nothing arrives
        }
        if self.v.cookie {
            if let Resp::Tokens { rt: Some(rt), .. } | Resp::Forged { rt: Some(rt), .. } = &resp {
                self.cookie = Some(rt.clone());
            }
        }
        let local = self.local();
        let outcome = match resp {
            Resp::Tokens {
                at,
                rt,
                exp_s,
                iat_s,
                date_s,
                expires_in_s,
            } => {
                let tokens = Tokens {
                    access_token: at,
                    refresh_token: rt.clone(),
                    exp_s,
                    iat_s,
                    expires_in_s,
                    received_at_ms: local,
                    server_date_s: date_s,
                };
                let vnow = self.tabs[tab].s.verification_now_s(&tokens);
                if exp_s + LEEWAY_S <= vnow {
                    RefreshOutcome::Invalid {
                        error: Error::new(ErrorCode::Expired, "expired"),
                        refresh_token: rt,
                    }
                } else {
                    RefreshOutcome::Success(tokens)
                }
            }
            Resp::Forged { rt, .. } => RefreshOutcome::Invalid {
                error: Error::new(ErrorCode::BadSignature, "bad signature"),
                refresh_token: rt,
            },
            Resp::Transient(code, retry_after_ms) => RefreshOutcome::Transient {
                error: Error::new(code, "transient"),
                retry_after_ms,
            },
            Resp::Rejected => RefreshOutcome::Rejected {
                error: Error::new(ErrorCode::RefreshRejected, "invalid_grant"),
            },
        };
        let kind = if matches!(outcome, RefreshOutcome::Rejected { .. }) {
            InputKind::Rejected
        } else {
            InputKind::Other
        };
        if self.tabs[tab].outstanding == Some(id) {
            self.tabs[tab].outstanding = None;
        }
        let had_session = self.tabs[tab].has_session;
        let transient = !matches!(
            outcome,
            RefreshOutcome::Success(_) | RefreshOutcome::Rejected { .. }
        );
        self.feed(tab, Input::RefreshDone { id, outcome }, kind);
        if transient && had_session {
            assert!(
                self.tabs[tab].has_session,
                "{}: a transient fault ended the session",
                self.v.name
            );
        }
    }

    fn call(&mut self, tab: usize, kind: CallKind) -> CallId {
        self.next_call += 1;
        let call = CallId(self.next_call);
        self.tabs[tab].pending.insert(call, kind);
        call
    }

    fn app(&mut self, tab: usize) {
        if self.winding_down {
            return;
        }
        match self.rng.below(1000) {
            0..=499 => {
                let call = self.call(tab, CallKind::Get);
                self.feed(tab, Input::GetToken { call }, InputKind::Other);
            }
            500..=849 => {
                let call = self.call(tab, CallKind::Fetch);
                self.feed(tab, Input::GetToken { call }, InputKind::Other);
            }
            850..=879 => {
                let call = self.call(tab, CallKind::Force);
                self.feed(tab, Input::ForceRefresh { call }, InputKind::Other);
            }
            880..=979 => self.feed(tab, Input::Wake, InputKind::Other),
            980..=989 => {
                // The API revokes the access token in use.
                if let Some(at) = self.tabs[tab].s.access_token() {
                    self.server.revoked.insert(at.to_owned());
                }
            }
            990..=993 => self.feed(tab, Input::Logout, InputKind::Logout),
            _ => {
                // A burst of concurrent callers.
                for _ in 0..self.rng.range(2, 6) {
                    let d = self.rng.range(0, 200);
                    self.at(d, Ev::Get(tab));
                }
            }
        }
        let mean = self.life_ms / 3;
        let d = self.rng.range(1, mean.max(2));
        self.at(d, Ev::App(tab));
    }

    fn api(&mut self, tab: usize, token: String, replay: bool) {
        let expired = self.server.issued.get(&token).is_none_or(|e| *e <= self.t);
        if !(expired || self.server.revoked.contains(&token)) {
            return;
        }
        self.stats.api_401 += 1;
        if replay {
            self.stats.api_gave_up += 1; // the app gets the 401: no loop
        } else {
            let d = self.rng.range(5, 500);
            self.at(d, Ev::Api401 { tab, token });
        }
    }

    fn world(&mut self) {
        if self.winding_down {
            return;
        }
        match self.rng.below(6) {
            0 => {
                // Wall clock set ahead.
                self.stats.jumps += 1;
                self.skew += self.rng.range(MIN, 3 * HOUR) as i64;
                self.excuse();
            }
            1 if self.v.backward_jumps => {
                self.stats.jumps += 1;
                self.skew -= self.rng.range(MIN, 3 * HOUR) as i64;
            }
            2 => self.sleep(),
            3 => {
                let d = self.rng.range(10 * SEC, 10 * MIN);
                self.offline_until = self.t + d;
                self.at(d, Ev::Online);
            }
            _ => {
                for tab in 0..self.tabs.len() {
                    self.feed(tab, Input::Wake, InputKind::Other);
                }
            }
        }
        let d = self.rng.range(MIN, 20 * MIN);
        self.at(d, Ev::World);
    }

    fn excuse(&mut self) {
        for tb in &mut self.tabs {
            tb.excused = true;
        }
    }

    /// The machine sleeps: nothing runs, requests in flight fail on resume.
    fn sleep(&mut self) {
        self.stats.sleeps += 1;
        // Closing the lid hides the page first (visibilitychange): the machine reads the clocks
        // just before the sleep. Without that reading, a wall clock set back earlier plus a
        // monotonic clock that stops in sleep would hide up to min(set back, sleep) of real time.
        for tab in 0..self.tabs.len() {
            self.feed(tab, Input::Wake, InputKind::Other);
        }
        let d = self.rng.range(MIN, 3 * HOUR);
        let perf_stops = self.rng.chance(0.5);
        let queue = std::mem::take(&mut self.queue);
        for ((at, seq), ev) in queue {
            let ev = match ev {
                Ev::Arrive { tab, id, .. } | Ev::Done { tab, id, .. } => Ev::Done {
                    tab,
                    id,
                    resp: Resp::Transient(ErrorCode::Network, None),
                },
                ev => ev,
            };
            self.queue.insert((at + d, seq), ev);
        }
        if self.offline_until > self.t {
            self.offline_until += d;
        }
        self.t += d;
        for tb in &mut self.tabs {
            if perf_stops {
                tb.perf_paused += d;
            }
            tb.timer_at = None;
        }
        self.excuse();
        for tab in 0..self.tabs.len() {
            self.feed(tab, Input::Wake, InputKind::Other);
        }
    }

    fn step(&mut self) -> bool {
        let Some(((at, _), ev)) = self.queue.pop_first() else {
            return false;
        };
        self.t = self.t.max(at);
        match ev {
            Ev::App(tab) => self.app(tab),
            Ev::Get(tab) => {
                let call = self.call(tab, CallKind::Get);
                self.feed(tab, Input::GetToken { call }, InputKind::Other);
            }
            Ev::Timer(tab, generation) => {
                if self.tabs[tab].timer_gen == generation {
                    self.tabs[tab].timer_at = None;
                    self.feed(tab, Input::Wake, InputKind::Other);
                }
            }
            Ev::Arrive {
                tab,
                id,
                rt,
                fate,
                sent,
            } => self.arrive(tab, id, rt, fate, sent),
            Ev::Done { tab, id, resp } => self.done(tab, id, resp),
            Ev::Api { tab, token, replay } => self.api(tab, token, replay),
            Ev::Api401 { tab, token } => {
                let call = self.call(tab, CallKind::Replay);
                self.tabs[tab].replay_of.insert(call, token.clone());
                self.feed(
                    tab,
                    Input::ApiUnauthorized { call, token },
                    InputKind::Unauthorized,
                );
            }
            Ev::Peer(tab, msg) => {
                let (input, kind) = match msg {
                    Broadcast::Session(t) => {
                        self.tabs[tab].has_session = true;
                        self.tabs[tab].unrefreshable = !self.v.refreshable;
                        (Input::PeerSession(t), InputKind::Other)
                    }
                    Broadcast::Refreshed(t) => (Input::PeerRefreshed(t), InputKind::Other),
                    Broadcast::LoggedOut => (Input::PeerLoggedOut, InputKind::PeerLoggedOut),
                };
                self.feed(tab, input, kind);
            }
            Ev::Login(tab) => {
                if !self.winding_down && self.tabs.iter().all(|t| !t.has_session) {
                    self.login(tab);
                }
            }
            Ev::World => self.world(),
            Ev::LockFree => self.lock_free(),
            Ev::Online => {
                for tb in &mut self.tabs {
                    tb.excused = true;
                }
                for tab in 0..self.tabs.len() {
                    self.feed(tab, Input::Online, InputKind::Other);
                }
            }
        }
        true
    }

    fn run(mut self) -> Stats {
        while self.server.lifetimes < self.v.lifetimes {
            assert!(self.step(), "{}: the simulation stalled", self.v.name);
        }
        // Wind down: no new callers or faults; every waiting call must get its answer.
        self.winding_down = true;
        self.offline_until = 0;
        let mut budget = 100_000;
        while self.tabs.iter().any(|t| !t.pending.is_empty()) {
            assert!(self.step(), "{}: calls left waiting", self.v.name);
            budget -= 1;
            assert!(budget > 0, "{}: calls never answered", self.v.name);
        }
        for tab in 0..self.tabs.len() {
            self.feed(tab, Input::Logout, InputKind::Logout);
        }
        while self.step() {}
        for (i, tb) in self.tabs.iter().enumerate() {
            assert!(
                tb.pending.is_empty(),
                "{}: tab {i} has unanswered calls",
                self.v.name
            );
            assert!(!tb.s.is_authenticated());
        }
        self.stats.lifetimes = self.server.lifetimes;
        self.stats
    }
}

fn variants() -> Vec<Variant> {
    let base = Variant {
        name: "",
        seed: 0,
        tabs: 1,
        cookie: false,
        refreshable: true,
        monotonic: true,
        backward_jumps: true,
        fault_rate: 0.2,
        rotate: true,
        margin_ms: 60_000,
        lifetimes: 14_000,
    };
    vec![
        Variant {
            name: "one tab, faults 20%",
            seed: 1,
            ..base
        },
        Variant {
            name: "two tabs, faults 20%",
            seed: 2,
            tabs: 2,
            ..base
        },
        Variant {
            name: "two tabs, faults 60%",
            seed: 3,
            tabs: 2,
            fault_rate: 0.6,
            ..base
        },
        Variant {
            name: "cookie style, two tabs",
            seed: 4,
            tabs: 2,
            cookie: true,
            ..base
        },
        Variant {
            name: "no rotation, no faults",
            seed: 5,
            rotate: false,
            fault_rate: 0.0,
            ..base
        },
        Variant {
            name: "no performance.now(), forward jumps only",
            seed: 6,
            monotonic: false,
            backward_jumps: false,
            ..base
        },
        Variant {
            name: "no refresh token",
            seed: 7,
            refreshable: false,
            lifetimes: 8_000,
            ..base
        },
        Variant {
            name: "margin 5 s, faults 40%",
            seed: 8,
            margin_ms: 5_000,
            fault_rate: 0.4,
            ..base
        },
    ]
}

#[test]
fn randomized_session_simulation() {
    let started = std::time::Instant::now();
    let mut total = Stats::default();
    let mut lifetimes = 0;
    for v in variants() {
        let world = World::new(v);
        let stats = world.run();
        lifetimes += stats.lifetimes;
        total.steps += stats.steps;
        total.refreshes += stats.refreshes;
        total.faults += stats.faults;
        total.resolves += stats.resolves;
        total.rejects += stats.rejects;
        total.api_401 += stats.api_401;
        total.api_gave_up += stats.api_gave_up;
        total.jumps += stats.jumps;
        total.sleeps += stats.sleeps;
        total.max_sends_per_life = total.max_sends_per_life.max(stats.max_sends_per_life);
        total.revocations += stats.revocations;
        total.stale_rejections += stats.stale_rejections;
        for (k, n) in stats.logouts {
            *total.logouts.entry(k).or_default() += n;
        }
    }
    assert!(lifetimes >= 100_000);
    let mut logouts: Vec<_> = total
        .logouts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    logouts.sort();
    eprintln!(
        "session sim: {lifetimes} lifetimes, {} refreshes ({} faults injected, at most {} \
         requests in one lifetime), logouts: {}; {} calls resolved, {} rejected; {} API 401s \
         ({} given to the app after the replay); {} sessions revoked, {} stale refresh tokens \
         rejected; {} clock jumps, {} sleeps; {} steps in {:.1?}",
        total.refreshes,
        total.faults,
        total.max_sends_per_life,
        logouts.join(", "),
        total.resolves,
        total.rejects,
        total.api_401,
        total.api_gave_up,
        total.revocations,
        total.stale_rejections,
        total.jumps,
        total.sleeps,
        total.steps,
        started.elapsed()
    );
}
