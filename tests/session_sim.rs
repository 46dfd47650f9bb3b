//! Randomized simulation of the REAL client core (`jwt_keeper::client::Core`, one per tab) in a
//! simulated browser and against a simulated auth server. Nothing of the core's rules is copied
//! here: the world only performs the core's effects and feeds it raw inputs, as the browser
//! shell does.
//!
//! - **Server**: issues real ES256 tokens signed with a P-256 key; rotates refresh tokens with
//!   reuse detection after a grace window (like `www/server/auth-server.mjs`: within the window
//!   a rotated token gets the same answer again, after it the whole family is revoked); faults:
//!   5xx with `Retry-After`, 429, network errors, hanging requests (timeouts), answers dropped
//!   after rotation, tokens signed by another key, expired tokens, unreadable bodies,
//!   revocation; a `Date` header or none (cross-origin); its clock may be skewed.
//! - **World**: real time with the machine's wall clock (jumps of up to ±2 h, sleeps of up to
//!   3 h during which `performance.now()` may stop) and a per-tab monotonic clock; tabs with a
//!   BroadcastChannel (messages delivered to the other tabs), a shared localStorage string and
//!   per-tab sessionStorage, Web Locks with wait and steal (or refused requests), hidden-tab
//!   timer throttling, offline periods, the API the app calls, tab close, `dispose()` and tab
//!   restore with an OLD stored session.
//!
//! Invariants, checked after every step:
//! - a token handed out (`getAccessToken`, the shell's fast path, a `fetch` replay) was issued
//!   by the server (it verified) and is not expired by the server's true clock; one adopted is
//!   not expired beyond the leeway. The only excuse: a tab that has not had a single answer of
//!   its own yet and started on a wall clock behind the server's (it cannot know), and only by
//!   that much. (A stored session is restored to be refreshed even when its token died.)
//! - no tab adopts another tab's or storage's session older (by `iat`, then `exp`) than its own;
//! - one request in flight per tab; with Web Locks, refresh requests are sent only while the
//!   tab holds the lock, and never two under the lock across tabs;
//! - every call settles exactly once, and waits only while a request or a lock of its tab is
//!   outstanding (or a restored tab waits for the other tabs' answer; `refresh()` from a
//!   listener waits for the next refresh the session makes by itself);
//! - `logout` comes once per session end and only for a definitive reason (user, rejection,
//!   peer, an unrefreshable session's expiry or API 401, `MAX_INVALID_ANSWERS` answers whose
//!   tokens really were unusable); a session never ends silently nor loses its refresh token;
//!   a fresh login is never refused as expired when its clock probes got the server's answers;
//! - refresh requests per token lifetime and tab are at most `1 + failures`, and a retry never
//!   follows its failure by less than `MIN_RETRY_DELAY_MS` unless an `online` event, a forward
//!   clock jump or a sleep came in between; with an API that answers 401 to everything, a tab
//!   makes at most two refreshes per `API_REFRESH_COOLDOWN_MS` (plus one per failure);
//! - a tab never sends a refresh token older than one it was handed (by its own answer, another
//!   tab, its login or its stored record), and reuse detection never fires because a tab sent a
//!   refresh token while an open tab held a newer one (a restored tab with an old stored
//!   session included);
//! - the wake timer never spins; nothing but lock releases comes after `dispose()`.
//!
//! Known bugs of the core are each shown by an ignored test; the default run counts the dropped
//! rotations it meets in its figures (the ignored `strict_simulation_fails_on_the_known_bugs`
//! fails on them) and keeps long-expired answers out where answers lack a `Date`.
//!
//! Environment: `SIM_LIFETIMES` token lifetimes per variant (default [`DEFAULT_LIFETIMES`], about
//! 12 s in debug on two cores), `SIM_SEED` shifts every seed, `SIM_ONLY` runs the variants whose
//! name contains it, `SIM_TRACE[=lines]` keeps the last inputs and effects and prints them when an
//! invariant fails (`SIM_DUMP` prints them anyway).
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic
)] // a failing simulation should stop loudly

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use jwt_keeper::client::{Core, Effect, Input, Message, Record};
use jwt_keeper::json::{self, Obj};
use jwt_keeper::session::{
    CallId, Event, LogoutReason, Now, API_REFRESH_COOLDOWN_MS, MAX_INVALID_ANSWERS,
    MIN_REMAINING_VALIDITY_MS, MIN_RETRY_DELAY_MS, PEER_ANSWER_WAIT_MS,
};
use jwt_keeper::{Error, ErrorCode, KeySet};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

const SEC: u64 = 1_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
/// Real time at the start.
const START: u64 = 1_800_000_000_000;
/// `refresh.timeoutMs` given to every core.
const TIMEOUT_MS: u64 = 10_000;
/// `leeway` given to every core (the default).
const LEEWAY_S: u64 = 30;
/// Access-token lifetimes, seconds (short ones dominate to get many lifetimes).
const LIFETIMES_S: [u64; 8] = [5, 8, 15, 30, 60, 120, 300, 900];
/// Longer ones, for the variant whose API refuses everything (natural refreshes stay rare).
const LONG_LIFETIMES_S: [u64; 3] = [300, 600, 900];
/// One way of a request (and of its answer).
const MAX_LATENCY_MS: u64 = 800;
/// How far behind the server's clock an estimate taught by `iat` may be: the answer's latency
/// plus the second `iat` is rounded down to (adoption allows the leeway plus this).
const ESTIMATE_SLACK_MS: u64 = MAX_LATENCY_MS + SEC;
const REFRESH_URL: &str = "https://as.test/token";
const CLIENT_ID: &str = "spa";

// ---- randomness ----

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
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn add(a: u64, d: i64) -> u64 {
    if d >= 0 {
        a + d as u64
    } else {
        a.saturating_sub(d.unsigned_abs())
    }
}

// ---- variants ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    OAuth2,
    Json,
    Cookie,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persist {
    Memory,
    Session,
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dates {
    /// Every answer has a readable `Date` (same origin, or exposed).
    Always,
    /// None (cross-origin without `Access-Control-Expose-Headers: Date`).
    Never,
    Sometimes,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    seed: u64,
    /// Tabs open at the start.
    tabs: usize,
    /// Tabs open at most (tabs close and reopen when `close_tabs`).
    max_tabs: usize,
    style: Style,
    persist: Persist,
    cross_tab: bool,
    /// Every Web Lock request is refused (sandboxed frame, opaque origin).
    locks_refused: bool,
    /// Logins hand out a refresh token (or cookie).
    refreshable: bool,
    /// The shell passes `performance.now()`.
    monotonic: bool,
    /// The wall clock is sometimes set back.
    backward_jumps: bool,
    /// The wall clock is sometimes set ahead (without real time passing: the tabs count it as
    /// elapsed). Sleeps happen in every variant.
    forward_jumps: bool,
    /// Probability that a refresh request meets a fault.
    fault_rate: f64,
    /// Among the faults: tokens that expired long ago (a stale or cached answer).
    stale_answers: bool,
    rotate: bool,
    /// How long a rotated refresh token gets the same answer again.
    grace_ms: u64,
    dates: Dates,
    /// Server clock minus real time.
    server_skew_ms: i64,
    margin_s: u64,
    /// The API answers 401 `invalid_token` to everything.
    api_always_401: bool,
    /// Tabs close (some after `dispose()`) and are restored with their stored session.
    close_tabs: bool,
    /// Each token of a session gets a lifetime of its own (else the login's, as a server with
    /// a fixed TTL does).
    varying_ttl: bool,
    /// Count (instead of failing on) the known bugs shown by the ignored tests and the known
    /// limits of frozen tabs (see the figures).
    tolerate_known_bugs: bool,
    lifetimes: u64,
}

impl Variant {
    fn options(&self) -> String {
        let style = match self.style {
            Style::OAuth2 => "oauth2",
            Style::Json => "json",
            Style::Cookie => "cookie",
        };
        let refresh = Obj::new()
            .str("url", REFRESH_URL)
            .str("style", style)
            .str("clientId", CLIENT_ID)
            .num("timeoutMs", TIMEOUT_MS)
            .finish();
        Obj::new()
            .raw("refresh", &refresh)
            .str(
                "persist",
                match self.persist {
                    Persist::Memory => "memory",
                    Persist::Session => "session",
                    Persist::Local => "local",
                },
            )
            .bool("crossTab", self.cross_tab)
            .num("refreshMargin", self.margin_s)
            .num("leeway", LEEWAY_S)
            .finish()
    }
}

// ---- the simulated auth server ----

/// What a refresh request meets (drawn when it is sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// Fails on the network before reaching the server.
    NetworkBefore,
    /// Never reaches the server; the shell's timeout ends it.
    HangBefore,
    /// 503, maybe with `Retry-After` (seconds).
    Unavailable(Option<u64>),
    /// 429 with `Retry-After` (seconds).
    TooMany(u64),
    /// 200 with a body that is not JSON.
    BadJson,
    /// Processed (rotated), then the connection dies: a network error.
    DropAfter,
    /// Processed (rotated), then no answer: the shell's timeout.
    HangAfter,
    /// A token signed by another key; with `rotate`, after a real rotation (the answer carries
    /// the new refresh token), else without touching the refresh token.
    Forged {
        rotate: bool,
    },
    /// A genuine token that expired an hour ago (no rotation).
    Expired,
    /// The session is revoked server-side: `invalid_grant`.
    Revoke,
}

#[derive(Clone, Debug)]
struct Grant {
    access_token: String,
    refresh_token: String,
    expires_in: Option<u64>,
}

#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    retry_after: Option<String>,
    date: Option<String>,
    body: String,
    set_cookie: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Issued {
    iat_s: u64,
    exp_s: u64,
}

#[derive(Clone, Debug)]
struct RtRec {
    family: usize,
    generation: u32,
    /// Server time of its rotation, and the answer given then.
    rotated: Option<(u64, Grant)>,
}

enum Redeem {
    Rotated(Grant),
    Grace(Grant),
    Reuse,
    Unknown,
}

#[derive(Default, Debug, Clone)]
struct ServerStats {
    lifetimes: u64,
    logins: u64,
    rotations: u64,
    grace_reuses: u64,
    reuse_detections: u64,
    unknown_tokens: u64,
    revocations: u64,
}

struct Server {
    key: SigningKey,
    forger: SigningKey,
    skew_ms: i64,
    grace_ms: u64,
    rotate: bool,
    style: Style,
    revoked_families: Vec<bool>,
    /// The access-token lifetime of each family (fixed TTL), unless `varying_ttl`.
    family_life_s: Vec<u64>,
    varying_ttl: bool,
    rts: HashMap<String, RtRec>,
    issued: HashMap<String, Issued>,
    api_revoked: HashSet<String>,
    n: u64,
    stats: ServerStats,
}

impl Server {
    fn new(v: &Variant) -> Self {
        Self {
            key: SigningKey::from_slice(&[7u8; 32]).unwrap(),
            forger: SigningKey::from_slice(&[9u8; 32]).unwrap(),
            skew_ms: v.server_skew_ms,
            grace_ms: v.grace_ms,
            rotate: v.rotate,
            style: v.style,
            revoked_families: Vec::new(),
            family_life_s: Vec::new(),
            varying_ttl: v.varying_ttl,
            rts: HashMap::new(),
            issued: HashMap::new(),
            api_revoked: HashSet::new(),
            n: 0,
            stats: ServerStats::default(),
        }
    }

    /// The public JWK the clients verify with.
    fn jwk(&self) -> String {
        let point = self.key.verifying_key().to_sec1_point(false);
        Obj::new()
            .str("kty", "EC")
            .str("crv", "P-256")
            .str("x", &jwt_keeper::base64url::encode(point.x().unwrap()))
            .str("y", &jwt_keeper::base64url::encode(point.y().unwrap()))
            .finish()
    }

    fn now_ms(&self, t: u64) -> u64 {
        add(t, self.skew_ms)
    }

    fn sign(&mut self, iat_s: u64, exp_s: u64, forged: bool) -> String {
        self.n += 1;
        let header = jwt_keeper::base64url::encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = Obj::new()
            .str("sub", "alice")
            .num("iat", iat_s)
            .num("exp", exp_s)
            .num("jti", self.n)
            .finish();
        let input = [header, jwt_keeper::base64url::encode(payload.as_bytes())].join(".");
        let key = if forged { &self.forger } else { &self.key };
        let sig: Signature = key.sign_prehash(&Sha256::digest(input.as_bytes())).unwrap();
        let token = [input, jwt_keeper::base64url::encode(&sig.to_bytes())].join(".");
        if !forged {
            self.issued.insert(token.clone(), Issued { iat_s, exp_s });
        }
        token
    }

    fn grant(&mut self, t: u64, life_s: u64, rt: String, rng: &mut Rng) -> Grant {
        let iat = self.now_ms(t) / SEC;
        let access_token = self.sign(iat, iat + life_s, false);
        self.stats.lifetimes += 1;
        // `expires_in`: mostly the lifetime; sometimes absent, shorter, or (wrongly) longer.
        let expires_in = match rng.below(10) {
            0 => None,
            1 => Some(life_s / 2),
            2 => Some(life_s * 10),
            _ => Some(life_s),
        };
        Grant {
            access_token,
            refresh_token: rt,
            expires_in,
        }
    }

    fn new_rt(&mut self, family: usize, generation: u32) -> String {
        self.n += 1;
        let rt = format!("rt{family}.{generation}.{}", self.n);
        self.rts.insert(
            rt.clone(),
            RtRec {
                family,
                generation,
                rotated: None,
            },
        );
        rt
    }

    fn login(&mut self, t: u64, life_s: u64, rng: &mut Rng) -> Grant {
        self.stats.logins += 1;
        let family = self.revoked_families.len();
        self.revoked_families.push(false);
        self.family_life_s.push(life_s);
        let rt = self.new_rt(family, 0);
        self.grant(t, life_s, rt, rng)
    }

    fn redeem(&mut self, t: u64, presented: Option<&str>, life_s: u64, rng: &mut Rng) -> Redeem {
        let now = self.now_ms(t);
        let Some(rec) = presented.and_then(|p| self.rts.get(p)).cloned() else {
            self.stats.unknown_tokens += 1;
            return Redeem::Unknown;
        };
        if self.revoked_families[rec.family] {
            self.stats.unknown_tokens += 1;
            return Redeem::Unknown;
        }
        let life_s = if self.varying_ttl {
            life_s
        } else {
            self.family_life_s[rec.family]
        };
        if let Some((at, grant)) = rec.rotated {
            if now <= at + self.grace_ms {
                self.stats.grace_reuses += 1;
                return Redeem::Grace(grant);
            }
            self.revoked_families[rec.family] = true;
            self.stats.reuse_detections += 1;
            return Redeem::Reuse;
        }
        let presented = presented.unwrap_or_default().to_string();
        if !self.rotate {
            return Redeem::Rotated(self.grant(t, life_s, presented, rng));
        }
        self.stats.rotations += 1;
        let rt = self.new_rt(rec.family, rec.generation + 1);
        let grant = self.grant(t, life_s, rt, rng);
        if let Some(r) = self.rts.get_mut(&presented) {
            r.rotated = Some((now, grant.clone()));
        }
        Redeem::Rotated(grant)
    }

    fn body(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
        expires_in: Option<u64>,
    ) -> String {
        match self.style {
            Style::OAuth2 => Obj::new()
                .str("access_token", access_token)
                .opt_str("refresh_token", refresh_token)
                .opt_num("expires_in", expires_in)
                .str("token_type", "Bearer")
                .finish(),
            Style::Json => Obj::new()
                .str("accessToken", access_token)
                .opt_str("refreshToken", refresh_token)
                .opt_num("expiresIn", expires_in)
                .finish(),
            Style::Cookie => Obj::new()
                .str("accessToken", access_token)
                .opt_num("expiresIn", expires_in)
                .finish(),
        }
    }

    fn ok(&self, g: &Grant, send_rt: bool) -> Reply {
        let cookie = self.style == Style::Cookie;
        let rt = (send_rt && !cookie).then_some(g.refresh_token.as_str());
        Reply {
            status: 200,
            retry_after: None,
            date: None,
            body: self.body(&g.access_token, rt, g.expires_in),
            set_cookie: cookie.then(|| g.refresh_token.clone()),
        }
    }

    fn error(status: u16, error: &str, retry_after: Option<u64>) -> Reply {
        Reply {
            status,
            retry_after: retry_after.map(|s| s.to_string()),
            date: None,
            body: Obj::new().str("error", error).finish(),
            set_cookie: None,
        }
    }

    /// The server handles a refresh request that reached it.
    fn refresh(
        &mut self,
        t: u64,
        presented: Option<&str>,
        fault: Fault,
        life_s: u64,
        rng: &mut Rng,
    ) -> (Reply, bool) {
        let now_s = self.now_ms(t) / SEC;
        let rejected = |style| {
            if style == Style::Cookie {
                Self::error(401, "invalid_grant", None)
            } else {
                Self::error(400, "invalid_grant", None)
            }
        };
        let reply = match fault {
            Fault::Unavailable(ra) => Self::error(503, "temporarily_unavailable", ra),
            Fault::TooMany(ra) => Self::error(429, "slow_down", Some(ra)),
            Fault::BadJson => Reply {
                status: 200,
                retry_after: None,
                date: None,
                body: "<html>maintenance</html>".into(),
                set_cookie: None,
            },
            Fault::Revoke => {
                if let Some(rec) = presented.and_then(|p| self.rts.get(p)) {
                    self.revoked_families[rec.family] = true;
                }
                self.stats.revocations += 1;
                rejected(self.style)
            }
            Fault::Forged { rotate: false } => {
                let at = self.sign(now_s, now_s + life_s, true);
                Reply {
                    status: 200,
                    retry_after: None,
                    date: None,
                    body: self.body(&at, None, Some(life_s)),
                    set_cookie: None,
                }
            }
            Fault::Expired => {
                let exp = now_s - HOUR / SEC;
                let at = self.sign(exp - life_s, exp, false);
                Reply {
                    status: 200,
                    retry_after: None,
                    date: None,
                    body: self.body(&at, None, Some(life_s)),
                    set_cookie: None,
                }
            }
            _ => match self.redeem(t, presented, life_s, rng) {
                Redeem::Unknown => rejected(self.style),
                Redeem::Reuse => return (rejected(self.style), true),
                Redeem::Rotated(g) | Redeem::Grace(g) => {
                    let mut reply = self.ok(&g, self.rotate || rng.chance(0.3));
                    if let Fault::Forged { rotate: true } = fault {
                        let forged = self.sign(now_s, now_s + life_s, true);
                        let rt = (self.style != Style::Cookie).then_some(g.refresh_token.as_str());
                        reply.body = self.body(&forged, rt, Some(life_s));
                    }
                    reply
                }
            },
        };
        (reply, false)
    }
}

/// IMF-fixdate of `s` seconds since the epoch.
fn http_date(s: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = s / 86_400;
    let rem = s % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "Mon, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---- the simulated browser ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallKind {
    Get,
    /// `client.fetch`: the token goes to the API.
    Fetch,
    /// The `fetch` replay after a 401 (`unauthorized`).
    Replay,
    Refresh,
    /// `refresh()` from a `refresh` listener.
    Chained,
    /// `setSession` (a login).
    Set,
}

#[derive(Clone, Debug)]
struct Call {
    kind: CallKind,
    /// For a replay: the token the API refused; for a login: its token.
    refused: Option<String>,
}

/// What the input being fed is, for the checks of its effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Start,
    Set,
    Call,
    Unauthorized,
    Logout,
    Dispose,
    Wake,
    Online,
    Answer {
        req: u64,
        rejected: bool,
        /// A 200 whose access token the server issued and is alive by its clock.
        good: bool,
    },
    Failed {
        req: u64,
    },
    Lock {
        id: u64,
        granted: bool,
    },
    PeerLoggedOut,
    /// Another tab's login (`Message::Session`).
    PeerSession,
    Peer,
}

/// A request sent by a tab (the world's number for it is its key in `World::reqs`).
#[derive(Clone, Debug)]
struct Req {
    uid: u64,
    id: u64,
    presented: Option<String>,
    fault: Fault,
    /// Still expecting exactly one `answer`/`failed` input.
    live: bool,
    /// Bumped when a sleep kills it: events of earlier epochs are void.
    epoch: u32,
    under_lock: Option<u64>,
    probe: bool,
    /// When sent, an open tab already held a newer refresh token of the same family.
    newer_elsewhere: bool,
    /// Sent by a restored tab with the refresh token of its stored record.
    from_restored_record: bool,
    /// A request (of any tab) with this refresh token reached the server, but its answer was
    /// lost: the server may have rotated it, and no tab knows the successor.
    after_lost: bool,
    /// The tab had been handed a newer refresh token of the family and dropped it.
    dropped_rotation: bool,
    /// Sent under a lock that had been stolen from the (frozen) tab.
    after_steal: bool,
    reply: Option<Reply>,
    /// When the server answered (real time).
    answered_at: u64,
}

struct Tab {
    core: Core,
    opened_at: u64,
    perf_paused: u64,
    /// The browser froze the tab (a background tab): its events wait until then.
    frozen_until: u64,
    session_store: Option<String>,
    pending: BTreeMap<u64, Call>,
    /// Live requests: the core's id -> the world's number.
    reqs: BTreeMap<u64, u64>,
    lock_wait: BTreeSet<u64>,
    /// The access token held when each pending lock was asked for.
    lock_token: HashMap<u64, Option<String>>,
    locks_held: BTreeSet<u64>,
    timer_gen: u64,
    timer_at: Option<u64>,
    /// The `getAccessToken()` fast path: token, wall and monotonic deadlines.
    fresh: Option<(String, u64, u64)>,
    authenticated: bool,
    /// `(iat, exp)` of the token it holds.
    held: Option<(u64, u64)>,
    disposed: bool,
    /// Has had an answer of its own that taught the server's clock.
    taught: bool,
    /// Server clock minus wall clock when the tab started (> 0: the tab's clock is behind).
    start_err_ms: i64,
    life_token: Option<String>,
    sends_this_life: u32,
    failures_this_life: u32,
    last_failure: Option<u64>,
    excused: bool,
    restored_rt: Option<String>,
    invalid_streak: u32,
    idle_wakes: u32,
    unrefreshable: bool,
    /// The login in progress sent a clock probe; one of them met a fault (then a refusal may
    /// stand).
    probed: bool,
    probe_faulted: bool,
    /// The true life left of each token when this tab adopted it.
    adopted_left_ms: HashMap<String, u64>,
    /// How late (beyond the latency) the tab read the last answer that taught its clock.
    stale_lesson_ms: u64,
    /// The newest refresh-token generation of each family this tab was handed (its own
    /// answers, peer messages, its login, its stored record).
    handed: HashMap<usize, u32>,
    /// Refresh requests and failures of the last cooldown (for the 401-storm bound).
    recent_sends: VecDeque<u64>,
    recent_failures: VecDeque<u64>,
}

impl Tab {
    /// How far past `exp` (server clock) a token it hands out may be: only what a tab that
    /// never had an answer of its own cannot know.
    fn allowance_ms(&self) -> u64 {
        if self.taught {
            0
        } else {
            self.start_err_ms.max(0) as u64
        }
    }
}

#[derive(Default)]
struct Locks {
    holder: Option<(u64, u64)>,
    queue: VecDeque<(u64, u64)>,
}

#[derive(Clone, Debug)]
enum Ev {
    App(u64),
    Get(u64),
    Listener(u64),
    Timer(u64, u64),
    Arrive(u64, u32),
    Back(u64, u32),
    Fail(u64, u32, bool),
    ShellTimeout(u64, u32),
    Api {
        uid: u64,
        token: String,
        replay: bool,
    },
    Api401 {
        uid: u64,
        token: String,
    },
    Peer(u64, String),
    LockAnswer(u64, u64, bool),
    Steal(u64, u64),
    Release(u64, u64),
    Login(u64),
    Close(u64),
    World,
    Online,
}

#[derive(Default, Debug, Clone)]
struct Stats {
    steps: u64,
    refreshes: u64,
    probes: u64,
    faults: u64,
    jumps: u64,
    sleeps: u64,
    offline: u64,
    restored_tabs: u64,
    closed_tabs: u64,
    disposed_tabs: u64,
    refused_locks: u64,
    locks_granted: u64,
    steals: u64,
    freezes: u64,
    resolves: u64,
    fast_path: u64,
    rejects: u64,
    errors: u64,
    excused_handouts: u64,
    api_calls: u64,
    api_401: u64,
    api_expired: u64,
    api_gave_up: u64,
    listener_refreshes: u64,
    logouts: BTreeMap<&'static str, u64>,
    reuse_unavoidable: u64,
    reuse_restored_unavoidable: u64,
    abandoned_calls: u64,
    restored_expired: u64,
    misjudged_answers: u64,
    failed_logins: u64,
    reuse_after_lost: u64,
    reuse_cookie: u64,
    reuse_after_steal: u64,
    known_dropped_rotations: u64,
    known_dropped_reuses: u64,
    known_expired_refresh: u64,
    known_after_steal: u64,
    known_late_adoption: u64,
    known_stale_lesson: u64,
    max_sends_per_life: u32,
    server: ServerStats,
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            steps,
            refreshes,
            probes,
            faults,
            jumps,
            sleeps,
            offline,
            restored_tabs,
            closed_tabs,
            disposed_tabs,
            refused_locks,
            locks_granted,
            steals,
            freezes,
            resolves,
            fast_path,
            rejects,
            errors,
            excused_handouts,
            api_calls,
            api_401,
            api_expired,
            api_gave_up,
            listener_refreshes,
            reuse_unavoidable,
            reuse_restored_unavoidable,
            abandoned_calls,
            restored_expired,
            misjudged_answers,
            failed_logins,
            reuse_after_lost,
            reuse_cookie,
            reuse_after_steal,
            known_dropped_rotations,
            known_dropped_reuses,
            known_expired_refresh,
            known_after_steal,
            known_late_adoption,
            known_stale_lesson
        );
        self.max_sends_per_life = self.max_sends_per_life.max(o.max_sends_per_life);
        for (k, n) in &o.logouts {
            *self.logouts.entry(k).or_default() += n;
        }
        let (s, x) = (&mut self.server, &o.server);
        s.lifetimes += x.lifetimes;
        s.logins += x.logins;
        s.rotations += x.rotations;
        s.grace_reuses += x.grace_reuses;
        s.reuse_detections += x.reuse_detections;
        s.unknown_tokens += x.unknown_tokens;
        s.revocations += x.revocations;
    }
}

struct World {
    v: Variant,
    rng: Rng,
    /// Real time.
    t: u64,
    /// The machine's wall clock minus real time.
    wall_skew: i64,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    server: Server,
    keys: KeySet,
    options: String,
    tabs: BTreeMap<u64, Tab>,
    next_uid: u64,
    /// sessionStorage of closed tabs, for "reopen closed tab".
    closed: Vec<Option<String>>,
    local: Option<String>,
    /// The browser's cookie jar (cookie style).
    jar: Option<String>,
    locks: Locks,
    reqs: HashMap<u64, Req>,
    /// Refresh tokens presented in requests the server processed whose answers were lost.
    lost_rts: HashSet<String>,
    /// Refresh tokens handed to some tab.
    known_rts: HashSet<String>,
    /// Locks (tab, id) another tab stole.
    stolen: HashSet<(u64, u64)>,
    /// When the last message from one tab to another is delivered.
    channel_last: HashMap<(u64, u64), u64>,
    next_req: u64,
    next_call: u64,
    offline_until: u64,
    life_s: u64,
    winding_down: bool,
    stats: Stats,
    /// With `SIM_TRACE`: the last inputs and effects, printed when an invariant fails.
    trace: Option<VecDeque<String>>,
}

/// How many trace lines are kept.
const TRACE_LINES: usize = 400;

impl World {
    fn new(v: Variant) -> Self {
        let server = Server::new(&v);
        let keys = KeySet::from_json(server.jwk().as_bytes()).unwrap();
        let mut w = World {
            rng: Rng::new(v.seed),
            t: START,
            wall_skew: 0,
            queue: BTreeMap::new(),
            seq: 0,
            server,
            keys,
            options: v.options(),
            tabs: BTreeMap::new(),
            next_uid: 1,
            closed: Vec::new(),
            local: None,
            jar: None,
            locks: Locks::default(),
            reqs: HashMap::new(),
            lost_rts: HashSet::new(),
            channel_last: HashMap::new(),
            known_rts: HashSet::new(),
            stolen: HashSet::new(),
            next_req: 1,
            next_call: 1,
            offline_until: 0,
            life_s: 60,
            winding_down: false,
            stats: Stats::default(),
            trace: std::env::var_os("SIM_TRACE").map(|_| VecDeque::new()),
            v,
        };
        for _ in 0..v.tabs {
            w.open_tab(None, false);
        }
        let first = *w.tabs.keys().next().unwrap();
        w.at(5, Ev::Login(first));
        w.at(MIN, Ev::World);
        w
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            let keep = std::env::var("SIM_TRACE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TRACE_LINES);
            if trace.len() >= keep {
                trace.pop_front();
            }
            let t = self.t - START;
            trace.push_back(format!("{}.{:03} {}", t / SEC, t % SEC, line()));
        }
    }

    /// The trace with every token replaced by a short label.
    fn print_trace(&self) {
        let Some(trace) = &self.trace else { return };
        let mut labels: HashMap<&str, String> = HashMap::new();
        let base = (START / SEC) as i64;
        for (tok, info) in &self.server.issued {
            let (iat, exp) = (info.iat_s as i64 - base, info.exp_s as i64 - base);
            labels.insert(tok.as_str(), format!("AT[iat {iat} exp {exp}]"));
        }
        for line in trace {
            let mut out = String::new();
            let mut rest = line.as_str();
            while let Some(at) = rest.find("eyJ") {
                out.push_str(&rest[..at]);
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                    })
                    .unwrap_or(tail.len());
                let tok = &tail[..end];
                out.push_str(labels.get(tok).map_or("FORGED", |l| l.as_str()));
                rest = &tail[end..];
            }
            out.push_str(rest);
            eprintln!("{out}");
        }
        eprintln!("(times: seconds of real time since the start)");
    }

    fn at(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.t + delay, self.seq), ev);
    }

    fn wall(&self) -> u64 {
        add(self.t, self.wall_skew)
    }

    fn server_now(&self) -> u64 {
        self.server.now_ms(self.t)
    }

    fn perf(&self, tab: &Tab) -> u64 {
        self.t - tab.opened_at - tab.perf_paused
    }

    fn now_for(&self, uid: u64) -> Now {
        let tab = &self.tabs[&uid];
        Now {
            wall_ms: self.wall(),
            monotonic_ms: self.v.monotonic.then(|| self.perf(tab)),
        }
    }

    fn pick_life(&mut self) -> u64 {
        let life = if self.v.api_always_401 {
            self.rng.pick(&LONG_LIFETIMES_S)
        } else {
            self.rng.pick(&LIFETIMES_S)
        };
        self.life_s = life;
        life
    }

    /// What the shell reads as "the storage record now": localStorage, or the tab's own
    /// sessionStorage or (`persist: 'memory'`) in-memory record.
    fn stored_for(&self, uid: u64) -> Option<String> {
        match self.v.persist {
            Persist::Memory | Persist::Session => {
                self.tabs.get(&uid).and_then(|t| t.session_store.clone())
            }
            Persist::Local => self.local.clone(),
        }
    }

    fn name(&self) -> &'static str {
        self.v.name
    }

    // ---- tabs ----

    fn open_tab(&mut self, session_store: Option<String>, restored: bool) {
        let uid = self.next_uid;
        self.next_uid += 1;
        let seed = self.rng.next();
        let core = Core::new(self.options.as_bytes(), self.keys.clone(), seed).unwrap();
        let start_err_ms = self.server_now() as i64 - self.wall() as i64;
        let tab = Tab {
            core,
            opened_at: self.t,
            perf_paused: 0,
            frozen_until: 0,
            session_store,
            pending: BTreeMap::new(),
            reqs: BTreeMap::new(),
            lock_wait: BTreeSet::new(),
            lock_token: HashMap::new(),
            locks_held: BTreeSet::new(),
            timer_gen: 0,
            timer_at: None,
            fresh: None,
            authenticated: false,
            held: None,
            disposed: false,
            taught: false,
            start_err_ms,
            life_token: None,
            sends_this_life: 0,
            failures_this_life: 0,
            last_failure: None,
            excused: false,
            restored_rt: None,
            invalid_streak: 0,
            idle_wakes: 0,
            unrefreshable: !self.v.refreshable,
            recent_sends: VecDeque::new(),
            recent_failures: VecDeque::new(),
            handed: HashMap::new(),
            adopted_left_ms: HashMap::new(),
            stale_lesson_ms: 0,
            probed: false,
            probe_faulted: false,
        };
        self.tabs.insert(uid, tab);
        let stored = self.stored_for(uid);
        let restored_rt = stored
            .as_deref()
            .and_then(Record::from_json)
            .and_then(|r| r.refresh_token);
        self.hand(uid, restored_rt.as_deref());
        self.tabs.get_mut(&uid).unwrap().restored_rt = restored_rt;
        if restored {
            self.stats.restored_tabs += 1;
        }
        self.feed(
            uid,
            Input::Start {
                dpop: json::Value::Null,
                stored,
                channel: self.v.cross_tab,
            },
            Cause::Start,
        );
        let d = self.rng.range(1, 50);
        self.at(d, Ev::App(uid));
    }

    /// The tab goes away: its requests are abandoned (they may still reach the server), its
    /// locks released by the browser, its sessionStorage kept for a restore.
    fn close_tab(&mut self, uid: u64) {
        let Some(tab) = self.tabs.remove(&uid) else {
            return;
        };
        self.stats.closed_tabs += 1;
        self.stats.abandoned_calls += tab.pending.len() as u64;
        for g in tab.reqs.values() {
            if let Some(r) = self.reqs.get_mut(g) {
                r.live = false;
            }
        }
        for id in tab.locks_held.iter().chain(tab.lock_wait.iter()) {
            self.release(uid, *id);
        }
        if let Some((h, id)) = self.locks.holder {
            if h == uid {
                self.release(uid, id);
            }
        }
        self.locks.queue.retain(|(h, _)| *h != uid);
        if self.v.persist == Persist::Session {
            self.closed.push(tab.session_store);
        }
    }

    // ---- feeding the core and performing its effects ----

    fn feed(&mut self, uid: u64, input: Input, cause: Cause) {
        if !self.tabs.contains_key(&uid) {
            return;
        }
        let now = self.now_for(uid);
        let tab = self.tabs.get_mut(&uid).unwrap();
        let was_auth = tab.authenticated;
        let disposed = tab.disposed;
        let wall = now.wall_ms;
        self.log(|| format!("tab{uid} <- {input:?} (wall {wall})"));
        let tab = self.tabs.get_mut(&uid).unwrap();
        let fx = tab.core.handle_checked(now, input);
        self.stats.steps += 1;
        if self.trace.is_some() {
            for e in &fx {
                if !matches!(e, Effect::Fresh { .. } | Effect::State { .. }) {
                    self.log(|| format!("tab{uid}    -> {e:?}"));
                }
            }
        }
        if disposed {
            for e in &fx {
                match e {
                    Effect::Unlock { id, .. } => {
                        let id = *id;
                        self.at(0, Ev::Release(uid, id));
                    }
                    other => panic!("{}: {other:?} after dispose()", self.name()),
                }
            }
            return;
        }
        if cause == Cause::Dispose {
            for e in fx {
                match e {
                    Effect::Abort { id } => self.abort(uid, id),
                    Effect::Unlock { id, .. } => self.at(0, Ev::Release(uid, id)),
                    Effect::Wake(None) => {}
                    other => panic!("{}: dispose() did {other:?}", self.name()),
                }
            }
            let tab = self.tabs.get_mut(&uid).unwrap();
            tab.disposed = true;
            tab.timer_gen += 1;
            self.stats.abandoned_calls += tab.pending.len() as u64;
            tab.pending.clear();
            return;
        }
        let mut logged_out = false;
        let mut did = false;
        for e in fx {
            match e {
                Effect::Send { id, body, .. } => {
                    did = true;
                    self.on_send(uid, id, &body, cause);
                }
                Effect::Abort { id } => {
                    did = true;
                    self.abort(uid, id);
                }
                Effect::Lock { id, wait_ms, .. } => {
                    did = true;
                    self.on_lock(uid, id, wait_ms);
                }
                Effect::Unlock { id, after_ms } => self.at(after_ms, Ev::Release(uid, id)),
                Effect::Store(text) => self.store(uid, Some(text)),
                Effect::Clear => self.store(uid, None),
                Effect::Post(data) => self.post(uid, data),
                Effect::Emit(Event::Refresh { access_token, .. }) => {
                    did = true;
                    self.on_adopt(uid, &access_token, cause);
                }
                Effect::Emit(Event::Logout { reason }) => {
                    did = true;
                    logged_out = true;
                    self.on_logout(uid, reason, cause, was_auth);
                }
                Effect::Emit(Event::Error {
                    error, will_retry, ..
                }) => {
                    did = true;
                    self.on_error(uid, error, will_retry, cause);
                }
                Effect::Settle { call, result } => {
                    did = true;
                    self.on_settle(uid, call, result);
                }
                Effect::State { authenticated, .. } => {
                    let tab = self.tabs.get_mut(&uid).unwrap();
                    assert!(
                        !tab.authenticated || authenticated || logged_out,
                        "{}: the session of tab {uid} ended silently ({cause:?})",
                        self.v.name
                    );
                    tab.authenticated = authenticated;
                }
                Effect::Fresh { token, for_ms } => {
                    let wall = self.wall();
                    let tab = &self.tabs[&uid];
                    let perf = self.perf(tab);
                    let fresh = (for_ms > 0 && !token.is_empty() && self.v.monotonic)
                        .then(|| (token, wall + for_ms, perf + for_ms));
                    self.tabs.get_mut(&uid).unwrap().fresh = fresh;
                }
                Effect::Wake(at) => self.arm(uid, at, did),
                // `handle_checked` answers these at once.
                Effect::Verify { .. } => {}
                Effect::Transaction(_)
                | Effect::Navigate(_)
                | Effect::Address(_)
                | Effect::Refused { .. } => {
                    panic!("{}: no sign-in happens in the simulation", self.v.name)
                }
            }
        }
        self.after(uid, cause);
    }

    fn after(&mut self, uid: u64, cause: Cause) {
        let name = self.v.name;
        let wall = self.wall();
        let refreshable = self.v.refreshable;
        let style = self.v.style;
        let tab = self.tabs.get_mut(&uid).unwrap();
        let s = tab.core.session();
        assert_eq!(
            tab.authenticated,
            s.is_authenticated(),
            "{name}: getters out of date"
        );
        // `refresh()` from a listener waits for the next refresh the session makes by itself.
        let waiting = tab.pending.values().any(|c| c.kind != CallKind::Chained);
        let chained = tab.pending.values().any(|c| c.kind == CallKind::Chained);
        if waiting || (chained && s.next_wake_ms().is_none()) {
            let holding = s
                .next_wake_ms()
                .is_some_and(|at| at <= wall + PEER_ANSWER_WAIT_MS);
            assert!(
                !tab.reqs.is_empty() || !tab.lock_wait.is_empty() || holding,
                "{name}: tab {uid} has calls waiting for nothing after {cause:?}: {:?}",
                tab.pending
            );
        }
        let rt_held = s.tokens().map(|t| t.refresh_token.is_some());
        if tab.authenticated && refreshable && style != Style::Cookie {
            assert_eq!(rt_held, Some(true), "{name}: the refresh token was dropped");
        }
        let current = s.access_token().map(String::from);
        if current != tab.life_token {
            tab.life_token = current;
            tab.sends_this_life = 0;
            tab.failures_this_life = 0;
            tab.last_failure = None;
        }
        tab.unrefreshable = !refreshable || (style != Style::Cookie && rt_held == Some(false));
    }

    fn on_send(&mut self, uid: u64, id: u64, body: &str, cause: Cause) {
        let name = self.v.name;
        let t = self.t;
        let tab = &self.tabs[&uid];
        assert!(
            tab.reqs.is_empty(),
            "{name}: two requests in flight in tab {uid}"
        );
        let presented = match self.v.style {
            Style::Cookie => {
                assert_eq!(body, "{}", "{name}: a refresh token in a cookie-style body");
                self.jar.clone()
            }
            Style::OAuth2 => body
                .split('&')
                .find_map(|kv| kv.strip_prefix("refresh_token="))
                .filter(|s| !s.is_empty())
                .map(String::from),
            Style::Json => json::parse_object(body.as_bytes(), "")
                .ok()
                .and_then(|o| {
                    o.get("refreshToken")
                        .and_then(|v| v.as_str().map(String::from))
                })
                .filter(|s| !s.is_empty()),
        };
        let probe = match cause {
            Cause::Set => true,
            Cause::Answer { req, .. } | Cause::Failed { req } => {
                self.reqs.get(&req).is_some_and(|r| r.probe)
                    && tab.pending.values().any(|c| c.kind == CallKind::Set)
            }
            _ => false,
        };
        let mut under_lock = match cause {
            Cause::Lock { id, granted: true } => Some(id),
            _ => None,
        };
        // A grant that reached a frozen tab after another tab stole the lock: the core cannot
        // tell (known: it sends anyway; see the figures).
        let after_steal = under_lock.is_some_and(|l| self.stolen.contains(&(uid, l)));
        if after_steal {
            assert!(
                self.v.tolerate_known_bugs,
                "{name}: tab {uid} sent a refresh under a lock stolen while it was frozen"
            );
            self.stats.known_after_steal += 1;
            under_lock = None;
        }
        if self.v.cross_tab && !probe {
            assert!(
                matches!(cause, Cause::Lock { .. }),
                "{name}: a refresh sent without asking for the lock ({cause:?})"
            );
        }
        if let Some(lock) = under_lock {
            assert_eq!(
                self.locks.holder,
                Some((uid, lock)),
                "{name}: a refresh sent under a lock the tab does not hold"
            );
            let others = self
                .reqs
                .values()
                .filter(|r| r.live && r.uid != uid && r.under_lock.is_some())
                .count();
            assert_eq!(others, 0, "{name}: two refreshes under the lock at once");
        }
        if !probe {
            self.stats.refreshes += 1;
            if self.v.style != Style::Cookie {
                let current = tab
                    .core
                    .session()
                    .tokens()
                    .and_then(|t| t.refresh_token.clone());
                assert!(presented.is_some(), "{name}: a refresh without a token");
                assert_eq!(presented, current, "{name}: not the current refresh token");
            }
        } else {
            self.stats.probes += 1;
        }
        let from_restored_record = presented.is_some() && presented == tab.restored_rt;
        // A refresh sent after a refused lock for a token another tab has replaced meanwhile.
        let moot = match cause {
            Cause::Lock { id, granted: false } => {
                tab.lock_token.get(&id).cloned().flatten().as_deref()
                    != tab.core.session().access_token()
            }
            _ => false,
        };
        assert!(
            !moot,
            "{name}: tab {uid} sent a refresh after a refused lock although another tab's token \
             replaced the one it was for"
        );
        let dropped_rotation = !probe
            && presented
                .as_deref()
                .and_then(|p| self.server.rts.get(p))
                .is_some_and(|rec| {
                    tab.handed
                        .get(&rec.family)
                        .is_some_and(|g| *g > rec.generation)
                });
        if dropped_rotation {
            assert!(
                self.v.tolerate_known_bugs,
                "{name}: tab {uid} sent refresh token {} although it had been handed a newer one \
                 of the same session (by its own answer or another tab) and dropped it",
                presented.as_deref().unwrap_or_default()
            );
            self.stats.known_dropped_rotations += 1;
        }
        let after_lost = presented
            .as_ref()
            .is_some_and(|p| self.lost_rts.contains(p));
        let newer_elsewhere = self.newer_held(presented.as_deref());
        let tab = self.tabs.get_mut(&uid).unwrap();
        if !probe && !moot && tab.authenticated {
            tab.sends_this_life += 1;
            assert!(
                tab.sends_this_life <= 1 + tab.failures_this_life,
                "{name}: {} refreshes for one token lifetime with {} failures in tab {uid}",
                tab.sends_this_life,
                tab.failures_this_life
            );
            self.stats.max_sends_per_life = self.stats.max_sends_per_life.max(tab.sends_this_life);
            if let (Some(f), false) = (tab.last_failure, tab.excused) {
                assert!(
                    t >= f + MIN_RETRY_DELAY_MS,
                    "{name}: retry {} ms after the failure",
                    t - f
                );
            }
            tab.last_failure = None;
            if self.v.api_always_401 {
                tab.recent_sends.push_back(t);
                while tab
                    .recent_sends
                    .front()
                    .is_some_and(|s| *s + API_REFRESH_COOLDOWN_MS <= t)
                {
                    tab.recent_sends.pop_front();
                }
                while tab
                    .recent_failures
                    .front()
                    .is_some_and(|s| *s + API_REFRESH_COOLDOWN_MS <= t)
                {
                    tab.recent_failures.pop_front();
                }
                assert!(
                    tab.recent_sends.len() <= 2 + tab.recent_failures.len(),
                    "{name}: {} refreshes within one API cooldown ({} failures)",
                    tab.recent_sends.len(),
                    tab.recent_failures.len()
                );
            }
        }
        let g = self.next_req;
        self.next_req += 1;
        tab.reqs.insert(id, g);
        let fault = self.fault();
        if probe {
            let tab = self.tabs.get_mut(&uid).unwrap();
            tab.probed = true;
            tab.probe_faulted |= fault != Fault::None;
        }
        self.reqs.insert(
            g,
            Req {
                uid,
                id,
                presented,
                fault,
                live: true,
                epoch: 0,
                under_lock,
                probe,
                newer_elsewhere,
                from_restored_record,
                after_lost,
                dropped_rotation,
                after_steal,
                reply: None,
                answered_at: 0,
            },
        );
        match fault {
            Fault::NetworkBefore => {
                let d = self.rng.range(1, 300);
                self.at(d, Ev::Fail(g, 0, false));
            }
            Fault::HangBefore => {}
            _ => {
                let d = self.rng.range(5, MAX_LATENCY_MS);
                self.at(d, Ev::Arrive(g, 0));
            }
        }
        self.at(TIMEOUT_MS, Ev::ShellTimeout(g, 0));
    }

    /// The tab was handed refresh token `rt` (by its own answer, a peer, its login or storage).
    fn hand(&mut self, uid: u64, rt: Option<&str>) {
        let Some(rec) = rt.and_then(|rt| self.server.rts.get(rt)) else {
            return;
        };
        let (family, generation) = (rec.family, rec.generation);
        self.known_rts.insert(rt.unwrap_or_default().to_string());
        if let Some(tab) = self.tabs.get_mut(&uid) {
            let g = tab.handed.entry(family).or_insert(generation);
            *g = (*g).max(generation);
        }
    }

    /// Whether an open tab holds a refresh token of `rt`'s family issued after it.
    fn newer_held(&self, rt: Option<&str>) -> bool {
        let Some(rec) = rt.and_then(|rt| self.server.rts.get(rt)) else {
            return false;
        };
        self.tabs.values().any(|tab| {
            tab.core
                .session()
                .tokens()
                .and_then(|t| t.refresh_token.as_deref())
                .and_then(|held| self.server.rts.get(held))
                .is_some_and(|h| h.family == rec.family && h.generation > rec.generation)
        })
    }

    fn fault(&mut self) -> Fault {
        if self.t < self.offline_until {
            return Fault::NetworkBefore;
        }
        if self.winding_down || !self.rng.chance(self.v.fault_rate) {
            return if self.rng.chance(0.001) && !self.winding_down {
                Fault::Revoke
            } else {
                Fault::None
            };
        }
        self.stats.faults += 1;
        match self.rng.below(100) {
            0..=19 => Fault::NetworkBefore,
            20..=31 => Fault::Unavailable(self.rng.chance(0.5).then(|| self.rng.range(1, 20))),
            32..=41 => Fault::TooMany(self.rng.range(1, 20)),
            42..=45 => Fault::HangBefore,
            46..=49 => Fault::HangAfter,
            50..=64 => Fault::DropAfter,
            65..=74 => Fault::Forged {
                rotate: self.rng.chance(0.5),
            },
            75..=82 if self.v.stale_answers => Fault::Expired,
            75..=82 => Fault::Forged { rotate: true },
            83..=92 => Fault::BadJson,
            93..=98 => Fault::DropAfter,
            _ => Fault::Revoke,
        }
    }

    fn abort(&mut self, uid: u64, id: u64) {
        let name = self.v.name;
        let tab = self.tabs.get_mut(&uid).unwrap();
        let g = tab
            .reqs
            .remove(&id)
            .unwrap_or_else(|| panic!("{name}: abort of an unknown request"));
        if let Some(r) = self.reqs.get_mut(&g) {
            r.live = false;
        }
    }

    fn on_lock(&mut self, uid: u64, id: u64, wait_ms: u64) {
        let tab = self.tabs.get_mut(&uid).unwrap();
        tab.lock_wait.insert(id);
        let held = tab.core.session().access_token().map(String::from);
        tab.lock_token.insert(id, held);
        if self.v.locks_refused {
            self.stats.refused_locks += 1;
            let d = self.rng.range(0, 2);
            self.at(d, Ev::LockAnswer(uid, id, false));
        } else if self.locks.holder.is_none() && self.locks.queue.is_empty() {
            self.grant(uid, id);
        } else {
            self.locks.queue.push_back((uid, id));
            self.at(wait_ms, Ev::Steal(uid, id));
        }
    }

    fn grant(&mut self, uid: u64, id: u64) {
        self.locks.holder = Some((uid, id));
        self.stats.locks_granted += 1;
        let d = self.rng.range(0, 2);
        self.at(d, Ev::LockAnswer(uid, id, true));
    }

    fn release(&mut self, uid: u64, id: u64) {
        if let Some(tab) = self.tabs.get_mut(&uid) {
            tab.locks_held.remove(&id);
        }
        if self.locks.holder == Some((uid, id)) {
            self.locks.holder = None;
            if let Some((u, i)) = self.locks.queue.pop_front() {
                self.grant(u, i);
            }
        } else {
            self.locks.queue.retain(|q| *q != (uid, id));
        }
    }

    fn steal(&mut self, uid: u64, id: u64) {
        let Some(at) = self.locks.queue.iter().position(|q| *q == (uid, id)) else {
            return;
        };
        self.locks.queue.remove(at);
        if let Some((h, hid)) = self.locks.holder {
            self.stats.steals += 1;
            self.stolen.insert((h, hid));
            if let Some(tab) = self.tabs.get_mut(&h) {
                tab.locks_held.remove(&hid);
            }
            // The old holder's request (if any) is no longer under the lock.
            for r in self.reqs.values_mut() {
                if r.uid == h && r.under_lock == Some(hid) {
                    r.under_lock = None;
                }
            }
        }
        self.grant(uid, id);
    }

    fn store(&mut self, uid: u64, text: Option<String>) {
        match self.v.persist {
            Persist::Memory | Persist::Session => {
                self.tabs.get_mut(&uid).unwrap().session_store = text
            }
            Persist::Local => self.local = text,
        }
    }

    fn post(&mut self, uid: u64, data: String) {
        let name = self.v.name;
        assert!(self.v.cross_tab, "{name}: posted without crossTab");
        let v = json::parse(data.as_bytes(), "").unwrap();
        let message = Message::from_value(&v).expect("a message the core reads back");
        if let Message::Session(r) | Message::Refreshed(r) = &message {
            assert!(
                self.server.issued.contains_key(&r.access_token),
                "{name}: shared a token the server never issued"
            );
            if self.v.style == Style::Cookie {
                assert_eq!(r.refresh_token, None, "{name}: a refresh token posted");
            }
        }
        let others: Vec<u64> = self.tabs.keys().copied().filter(|u| *u != uid).collect();
        for other in others {
            // BroadcastChannel keeps the order of one sender's messages.
            let last = self.channel_last.get(&(uid, other)).copied().unwrap_or(0);
            let at = (self.t + self.rng.range(0, 3)).max(last);
            self.channel_last.insert((uid, other), at);
            self.at(at - self.t, Ev::Peer(other, data.clone()));
        }
    }

    /// `slack_ms`: how long past `exp` still counts (the leeway, for adoption only).
    fn check_alive(&mut self, uid: u64, token: &str, what: &str, slack_ms: u64) {
        let name = self.v.name;
        let server_now = self.server_now();
        let info =
            *self.server.issued.get(token).unwrap_or_else(|| {
                panic!("{name}: {what} a token the server never issued (forged)")
            });
        let exp_ms = info.exp_s * SEC + slack_ms;
        if exp_ms > server_now {
            return;
        }
        let tab = &self.tabs[&uid];
        if exp_ms + tab.allowance_ms() > server_now {
            self.stats.excused_handouts += 1;
            return;
        }
        if slack_ms == 0 && self.v.tolerate_known_bugs {
            // Known bug: adopted with less life left than the core's own minimum.
            let late = tab
                .adopted_left_ms
                .get(token)
                .is_some_and(|left| *left < MIN_REMAINING_VALIDITY_MS + ESTIMATE_SLACK_MS);
            if late {
                self.stats.known_late_adoption += 1;
                return;
            }
            // Known limit: the clock was taught by an answer the (frozen) tab read late.
            if exp_ms + tab.stale_lesson_ms + ESTIMATE_SLACK_MS > server_now {
                self.stats.known_stale_lesson += 1;
                return;
            }
        }
        panic!(
            "{name}: tab {uid} {what} a token expired {} ms ago by the server's clock (its \
             estimate is {} ms behind; taught: {})",
            server_now - exp_ms,
            server_now as i64 - tab.core.session().server_now_ms() as i64,
            tab.taught
        );
    }

    fn on_adopt(&mut self, uid: u64, token: &str, cause: Cause) {
        let name = self.v.name;
        if let Some(i) = self.server.issued.get(token) {
            let left = (i.exp_s * SEC) as i64 - self.server_now() as i64;
            if let Some(tab) = self.tabs.get_mut(&uid) {
                tab.adopted_left_ms
                    .insert(token.to_string(), left.max(0) as u64);
            }
        }
        let refreshable = self.v.refreshable;
        if cause == Cause::Start && refreshable {
            // A stored session is kept to be refreshed even when its token died meanwhile (it
            // is never handed out: see `check_alive` on every handout).
            let info = self.server.issued.get(token).copied();
            let dead = info.is_none_or(|i| i.exp_s * SEC <= self.server_now());
            if dead {
                self.stats.restored_expired += 1;
            }
        } else {
            self.check_alive(uid, token, "adopted", LEEWAY_S * SEC + ESTIMATE_SLACK_MS);
        }
        let info = self.server.issued[token];
        let login = match cause {
            Cause::Set => true,
            Cause::Answer { req, .. } => self.reqs.get(&req).is_some_and(|r| r.probe),
            _ => false,
        };
        let tab = self.tabs.get_mut(&uid).unwrap();
        // Only another tab's (or storage's) session is judged by its times: our own answers
        // are the newest by construction.
        let from_peer = matches!(cause, Cause::Peer | Cause::PeerSession | Cause::Start);
        if let (Some((iat, exp)), true) = (tab.held, from_peer && !login) {
            let newer = info.iat_s > iat || (info.iat_s == iat && info.exp_s >= exp);
            assert!(
                newer,
                "{name}: tab {uid} adopted an older session (iat {} < {iat}) after {cause:?}",
                info.iat_s
            );
        }
        tab.held = Some((info.iat_s, info.exp_s));
        tab.invalid_streak = 0;
        if login || cause == Cause::PeerSession {
            // A new session: its own API cooldown.
            tab.recent_sends.clear();
            tab.recent_failures.clear();
        }
        if !self.winding_down && !self.v.api_always_401 && self.rng.chance(0.2) {
            self.at(0, Ev::Listener(uid));
        }
    }

    fn on_logout(&mut self, uid: u64, reason: LogoutReason, cause: Cause, was_auth: bool) {
        let name = self.v.name;
        let tab = self.tabs.get_mut(&uid).unwrap();
        assert!(was_auth, "{name}: logout without a session ({reason:?})");
        let ok = match reason {
            LogoutReason::User => cause == Cause::Logout,
            LogoutReason::RefreshRejected => {
                matches!(cause, Cause::Answer { rejected: true, .. })
            }
            LogoutReason::Peer => cause == Cause::PeerLoggedOut,
            LogoutReason::SessionExpired => tab.unrefreshable,
            LogoutReason::InvalidToken => {
                (tab.unrefreshable && cause == Cause::Unauthorized)
                    || tab.invalid_streak >= MAX_INVALID_ANSWERS
            }
        };
        assert!(
            ok,
            "{name}: logout {reason:?} after {cause:?} (streak {})",
            tab.invalid_streak
        );
        tab.held = None;
        tab.invalid_streak = 0;
        *self.stats.logouts.entry(reason.as_str()).or_default() += 1;
        let d = self.rng.range(SEC, 30 * SEC);
        self.at(d, Ev::Login(uid));
    }

    fn on_error(&mut self, uid: u64, error: Error, will_retry: bool, cause: Cause) {
        let name = self.v.name;
        let t = self.t;
        self.stats.errors += 1;
        let tab = self.tabs.get_mut(&uid).unwrap();
        assert!(
            will_retry,
            "{name}: a failure the client gives up on: {error}"
        );
        tab.failures_this_life += 1;
        tab.last_failure = Some(t);
        tab.excused = false;
        tab.recent_failures.push_back(t);
        let unusable = !matches!(
            error.code(),
            ErrorCode::Network | ErrorCode::Timeout | ErrorCode::BadResponse
        );
        match cause {
            // A valid token refused: the tab's clock estimate was off (after a forward jump it
            // runs ahead; the refusal corrects it). It never counts towards `invalid_token`.
            Cause::Answer { good: true, .. } if unusable => self.stats.misjudged_answers += 1,
            Cause::Answer { .. } if unusable => tab.invalid_streak += 1,
            _ => {}
        }
    }

    fn on_settle(&mut self, uid: u64, call: CallId, result: Result<Option<String>, Error>) {
        let name = self.v.name;
        let c = self
            .tabs
            .get_mut(&uid)
            .unwrap()
            .pending
            .remove(&call.0)
            .unwrap_or_else(|| panic!("{name}: {call:?} settled twice or never made"));
        match (c.kind, result) {
            (CallKind::Set, Ok(None)) => {}
            (CallKind::Set, Err(e)) => {
                // A login whose token looked expired and whose clock probe failed.
                assert!(
                    !matches!(e.code(), ErrorCode::Internal | ErrorCode::Malformed),
                    "{name}: setSession failed with {e}"
                );
                let server_now = self.server_now();
                let alive = c
                    .refused
                    .as_ref()
                    .and_then(|t| self.server.issued.get(t))
                    .is_some_and(|i| i.exp_s * SEC > server_now);
                let clean_probe = self.tabs[&uid].probed && !self.tabs[&uid].probe_faulted;
                assert!(
                    !(alive && clean_probe && e.code() == ErrorCode::Expired),
                    "{name}: tab {uid} refused a fresh login as expired although its clock probes \
                     got the server's answers (estimate {} ms ahead of the server)",
                    self.tabs[&uid].core.session().server_now_ms() as i64 - server_now as i64
                );
                self.stats.failed_logins += 1;
                let d = self.rng.range(SEC, 10 * SEC);
                self.at(d, Ev::Login(uid));
            }
            (kind, Ok(Some(token))) => {
                assert_ne!(kind, CallKind::Set, "{name}: setSession resolved a token");
                self.stats.resolves += 1;
                let within_leeway = self.server.issued.get(&token).is_some_and(|i| {
                    let exp = i.exp_s * SEC;
                    exp <= self.server_now() && exp + LEEWAY_S * SEC > self.server_now()
                });
                if within_leeway && matches!(kind, CallKind::Refresh | CallKind::Chained) {
                    // Known bug: refresh() resolves with the token it adopted, whatever its
                    // deadlines (see session::tests::refresh_never_resolves_with_a_token_already_expired).
                    assert!(
                        self.v.tolerate_known_bugs,
                        "{name}: refresh() in tab {uid} resolved with a token already expired"
                    );
                    self.stats.known_expired_refresh += 1;
                } else {
                    self.check_alive(uid, &token, "handed out", 0);
                }
                match kind {
                    CallKind::Fetch => {
                        let d = self.rng.range(5, 500);
                        self.at(
                            d,
                            Ev::Api {
                                uid,
                                token,
                                replay: false,
                            },
                        );
                    }
                    CallKind::Replay => {
                        assert_ne!(
                            c.refused.as_deref(),
                            Some(token.as_str()),
                            "{name}: a replay with the refused token"
                        );
                        let d = self.rng.range(5, 500);
                        self.at(
                            d,
                            Ev::Api {
                                uid,
                                token,
                                replay: true,
                            },
                        );
                    }
                    _ => {}
                }
            }
            (kind, Ok(None)) => panic!("{name}: a {kind:?} call resolved with nothing"),
            (_, Err(e)) => {
                self.stats.rejects += 1;
                assert!(
                    !matches!(e.code(), ErrorCode::Internal | ErrorCode::Malformed),
                    "{name}: a call rejected with {e}"
                );
            }
        }
    }

    fn arm(&mut self, uid: u64, at: Option<u64>, did: bool) {
        let name = self.v.name;
        let wall = self.wall();
        let late = match self.rng.below(100) {
            0..=79 => 0,
            80..=97 => self.rng.below(2 * SEC),
            _ => self.rng.below(MIN),
        };
        let tab = self.tabs.get_mut(&uid).unwrap();
        let Some(at) = at else {
            tab.timer_at = None;
            tab.timer_gen += 1;
            return;
        };
        if tab.timer_at == Some(at) {
            return;
        }
        let delay = at.saturating_sub(wall);
        if delay == 0 && !did {
            tab.idle_wakes += 1;
            assert!(tab.idle_wakes < 3, "{name}: the wake timer spins");
        } else {
            tab.idle_wakes = 0;
        }
        tab.timer_gen += 1;
        tab.timer_at = Some(at);
        let generation = tab.timer_gen;
        self.at(delay + late, Ev::Timer(uid, generation));
    }

    fn call(&mut self, uid: u64, kind: CallKind, refused: Option<String>) -> CallId {
        let call = self.next_call;
        self.next_call += 1;
        self.tabs
            .get_mut(&uid)
            .unwrap()
            .pending
            .insert(call, Call { kind, refused });
        CallId(call)
    }

    // ---- requests ----

    fn arrive(&mut self, g: u64, epoch: u32) {
        let Some(r) = self.reqs.get(&g) else { return };
        if r.epoch != epoch {
            return;
        }
        // An aborted request may or may not have left the browser.
        if !r.live && self.rng.chance(0.5) {
            return;
        }
        let (presented, fault) = (r.presented.clone(), r.fault);
        let life = self.pick_life();
        let t = self.t;
        let (mut reply, reuse) =
            self.server
                .refresh(t, presented.as_deref(), fault, life, &mut self.rng);
        if reuse {
            self.reuse_detected(g);
        }
        let date = match self.v.dates {
            Dates::Always => true,
            Dates::Never => false,
            Dates::Sometimes => self.rng.chance(0.5),
        };
        if date {
            reply.date = Some(http_date(self.server_now() / SEC));
        }
        let t = self.t;
        let r = self.reqs.get_mut(&g).unwrap();
        r.reply = Some(reply);
        r.answered_at = t;
        let d = self.rng.range(5, MAX_LATENCY_MS);
        match fault {
            Fault::DropAfter => self.at(d, Ev::Fail(g, epoch, false)),
            Fault::HangAfter => {}
            _ => self.at(d, Ev::Back(g, epoch)),
        }
    }

    fn reuse_detected(&mut self, g: u64) {
        let name = self.v.name;
        let r = &self.reqs[&g];
        if self.v.style == Style::Cookie {
            // The cookie jar is the browser's: a late answer can put an older cookie back.
            self.stats.reuse_unavoidable += 1;
            self.stats.reuse_cookie += 1;
            return;
        }
        if r.dropped_rotation {
            self.stats.known_dropped_reuses += 1;
            return;
        }
        if r.after_steal {
            self.stats.reuse_after_steal += 1;
            return;
        }
        assert!(
            !r.newer_elsewhere,
            "{name}: reuse detected: tab {} sent a refresh token while an open tab held a newer \
             one (from its restored record: {})",
            r.uid, r.from_restored_record
        );
        self.stats.reuse_unavoidable += 1;
        if r.from_restored_record {
            self.stats.reuse_restored_unavoidable += 1;
        }
        // No open tab knew the successor: its answer is lost or still on its way (a hung
        // request), or only closed tabs had it.
        let successor = r
            .presented
            .as_ref()
            .and_then(|p| self.server.rts.get(p))
            .and_then(|rec| rec.rotated.as_ref())
            .map(|(_, g)| g.refresh_token.clone());
        if r.after_lost || successor.is_some_and(|s| !self.known_rts.contains(&s)) {
            self.stats.reuse_after_lost += 1;
        }
    }

    fn back(&mut self, g: u64, epoch: u32) {
        let Some(r) = self.reqs.get(&g) else { return };
        if r.epoch != epoch {
            return;
        }
        let reply = r.reply.clone().unwrap();
        // The browser stores the cookie whoever reads the answer.
        if let Some(c) = &reply.set_cookie {
            self.jar = Some(c.clone());
        }
        if !r.live {
            // Aborted (or its tab closed) after the server got it: nobody reads the answer.
            if let Some(p) = r.presented.clone() {
                self.lost_rts.insert(p);
            }
            return;
        }
        let (uid, id) = (r.uid, r.id);
        self.end_req(g);
        let answered_at = self.reqs[&g].answered_at;
        if reply.date.is_some() || (reply.status == 200 && self.genuine_token_in(&reply.body)) {
            let late = (self.t - answered_at).saturating_sub(MAX_LATENCY_MS);
            if let Some(tab) = self.tabs.get_mut(&uid) {
                tab.taught = true;
                tab.stale_lesson_ms = late;
            }
        }
        if reply.status == 200 {
            let rt = json::parse_object(reply.body.as_bytes(), "")
                .ok()
                .and_then(|o| {
                    ["refresh_token", "refreshToken"]
                        .iter()
                        .find_map(|k| o.get(k).and_then(|v| v.as_str().map(String::from)))
                });
            self.hand(uid, rt.as_deref());
        }
        let rejected = matches!(reply.status, 400 | 401 | 403);
        let good = reply.status == 200 && self.alive_token_in(&reply.body);
        let stored = self.stored_for(uid);
        self.feed(
            uid,
            Input::Answer {
                dpop_nonce: None,
                id,
                status: reply.status,
                retry_after: reply.retry_after,
                date: reply.date,
                body: reply.body,
                stored,
            },
            Cause::Answer {
                req: g,
                rejected,
                good,
            },
        );
    }

    /// Whether the body carries an access token the server issued that is alive by its clock.
    fn alive_token_in(&self, body: &str) -> bool {
        let server_now = self.server_now();
        let Ok(o) = json::parse_object(body.as_bytes(), "") else {
            return false;
        };
        ["access_token", "accessToken"].iter().any(|k| {
            o.get(k)
                .and_then(|v| v.as_str())
                .and_then(|t| self.server.issued.get(t))
                .is_some_and(|i| i.exp_s * SEC > server_now)
        })
    }

    fn genuine_token_in(&self, body: &str) -> bool {
        let Ok(o) = json::parse_object(body.as_bytes(), "") else {
            return false;
        };
        ["access_token", "accessToken"].iter().any(|k| {
            o.get(k)
                .and_then(|v| v.as_str())
                .is_some_and(|t| self.server.issued.contains_key(t))
        })
    }

    fn end_req(&mut self, g: u64) {
        let r = self.reqs.get_mut(&g).unwrap();
        r.live = false;
        let (uid, id) = (r.uid, r.id);
        if let Some(tab) = self.tabs.get_mut(&uid) {
            tab.reqs.remove(&id);
        }
    }

    fn fail(&mut self, g: u64, epoch: u32, timeout: bool) {
        let Some(r) = self.reqs.get(&g) else { return };
        if r.epoch != epoch || !r.live {
            return;
        }
        let (uid, id) = (r.uid, r.id);
        let processed = r.reply.is_some();
        let presented = r.presented.clone();
        self.end_req(g);
        if let (true, Some(p)) = (processed, presented) {
            self.lost_rts.insert(p);
        }
        let stored = self.stored_for(uid);
        self.feed(
            uid,
            Input::Failed {
                id,
                timeout,
                stored,
            },
            Cause::Failed { req: g },
        );
    }

    // ---- the app and the world ----

    fn app(&mut self, uid: u64) {
        let Some(tab) = self.tabs.get(&uid) else {
            return;
        };
        if self.winding_down || tab.disposed {
            return;
        }
        match self.rng.below(1000) {
            // With an API that refuses everything, every token goes to it.
            0..=449 if self.v.api_always_401 => self.get(uid, CallKind::Fetch),
            0..=449 => self.get(uid, CallKind::Get),
            450..=749 => self.get(uid, CallKind::Fetch),
            750..=779 if !self.v.api_always_401 => {
                let call = self.call(uid, CallKind::Refresh, None);
                self.feed(
                    uid,
                    Input::Refresh {
                        call,
                        in_listener: false,
                    },
                    Cause::Call,
                );
            }
            780..=879 => self.feed(uid, Input::Wake, Cause::Wake),
            880..=889 => {
                // The API revokes the access token in use.
                if let Some(at) = tab.core.session().access_token() {
                    self.server.api_revoked.insert(at.to_owned());
                }
            }
            890..=893 => self.feed(
                uid,
                Input::Logout {
                    call: None,
                    return_to: jwt_keeper::json::Value::Null,
                },
                Cause::Logout,
            ),
            894..=895 => {
                // Another login while a session runs (another user, or the same again).
                self.login(uid);
            }
            896..=919 => {
                for _ in 0..self.rng.range(2, 6) {
                    let d = self.rng.range(0, 200);
                    self.at(d, Ev::Get(uid));
                }
            }
            _ => {}
        }
        let mean = if self.v.api_always_401 {
            3 * SEC
        } else {
            (self.life_s * SEC / 3).min(5 * MIN)
        };
        let d = self.rng.range(1, mean.max(2));
        self.at(d, Ev::App(uid));
    }

    fn get(&mut self, uid: u64, kind: CallKind) {
        let wall = self.wall();
        let Some(tab) = self.tabs.get(&uid) else {
            return;
        };
        if tab.disposed {
            return;
        }
        // The shell's fast path: a token the core said is fresh until both clocks pass.
        if let Some((token, wall_dl, mono_dl)) = tab.fresh.clone() {
            if wall < wall_dl && self.perf(tab) < mono_dl {
                self.stats.fast_path += 1;
                self.stats.resolves += 1;
                self.check_alive(uid, &token, "handed out (fast path)", 0);
                if kind == CallKind::Fetch {
                    let d = self.rng.range(5, 500);
                    self.at(
                        d,
                        Ev::Api {
                            uid,
                            token,
                            replay: false,
                        },
                    );
                }
                return;
            }
        }
        self.tabs.get_mut(&uid).unwrap().fresh = None;
        let call = self.call(uid, kind, None);
        self.feed(uid, Input::GetToken { call }, Cause::Call);
    }

    fn login(&mut self, uid: u64) {
        if self.winding_down || self.tabs.get(&uid).is_none_or(|t| t.disposed) {
            return;
        }
        let life = self.pick_life();
        let t = self.t;
        let g = self.server.login(t, life, &mut self.rng);
        let rt = match (self.v.refreshable, self.v.style) {
            (false, _) => None,
            (true, Style::Cookie) => {
                self.jar = Some(g.refresh_token.clone());
                None
            }
            (true, _) => Some(g.refresh_token.as_str()),
        };
        let handed = g.refresh_token.clone();
        self.hand(uid, Some(&handed));
        let call = self.call(uid, CallKind::Set, Some(g.access_token.clone()));
        let tab = self.tabs.get_mut(&uid).unwrap();
        tab.probed = false;
        tab.probe_faulted = false;
        let text = Obj::new()
            .str("t", "set")
            .num("call", call.0)
            .str("accessToken", &g.access_token)
            .opt_str("refreshToken", rt)
            .opt_num("expiresIn", g.expires_in)
            .finish();
        self.feed(uid, Input::from_json(&text).unwrap(), Cause::Set);
    }

    fn api(&mut self, uid: u64, token: String, replay: bool) {
        self.stats.api_calls += 1;
        let server_now = self.server_now();
        let alive = self
            .server
            .issued
            .get(&token)
            .is_some_and(|i| i.exp_s * SEC > server_now);
        if alive && !self.v.api_always_401 && !self.server.api_revoked.contains(&token) {
            return;
        }
        self.stats.api_401 += 1;
        if !alive {
            self.stats.api_expired += 1;
        }
        if replay {
            self.stats.api_gave_up += 1; // the app gets the 401: no loop
        } else {
            let d = self.rng.range(5, 300);
            self.at(d, Ev::Api401 { uid, token });
        }
    }

    fn world(&mut self) {
        if self.winding_down {
            return;
        }
        let open = self.tabs.len();
        match self.rng.below(9) {
            0 if self.v.forward_jumps => {
                self.stats.jumps += 1;
                self.wall_skew += self.rng.range(MIN, 2 * HOUR) as i64;
                self.excuse();
            }
            1 if self.v.backward_jumps => {
                self.stats.jumps += 1;
                self.wall_skew -= self.rng.range(MIN, 2 * HOUR) as i64;
            }
            2 => self.sleep(),
            3 => {
                self.stats.offline += 1;
                let d = self.rng.range(10 * SEC, 10 * MIN);
                self.offline_until = self.t + d;
                self.at(d, Ev::Online);
            }
            4 | 5 if self.v.close_tabs && open > 1 => {
                let uids: Vec<u64> = self.tabs.keys().copied().collect();
                let uid = self.rng.pick(&uids);
                if self.rng.chance(0.3) {
                    self.stats.disposed_tabs += 1;
                    self.feed(uid, Input::Dispose, Cause::Dispose);
                    // Late inputs still reach the disposed client for a while.
                    let d = self.rng.range(0, 20 * SEC);
                    self.at(d, Ev::Close(uid));
                } else {
                    self.close_tab(uid);
                }
            }
            6 | 7 if self.v.close_tabs && open < self.v.max_tabs => {
                // Reopen a closed tab (its sessionStorage, maybe long out of date) or open one.
                if !self.closed.is_empty() && self.rng.chance(0.8) {
                    let i = self.rng.below(self.closed.len() as u64) as usize;
                    let store = self.closed.swap_remove(i);
                    self.open_tab(store, true);
                } else {
                    self.open_tab(None, self.v.persist == Persist::Local);
                }
            }
            8 if open > 1 => {
                // The browser freezes a background tab (it may hold the lock).
                self.stats.freezes += 1;
                let uids: Vec<u64> = self.tabs.keys().copied().collect();
                let uid = self.rng.pick(&uids);
                let until = self.t + self.rng.range(5 * SEC, MIN);
                self.tabs.get_mut(&uid).unwrap().frozen_until = until;
            }
            _ => {
                let uids: Vec<u64> = self.tabs.keys().copied().collect();
                for uid in uids {
                    self.feed(uid, Input::Wake, Cause::Wake);
                }
            }
        }
        if self.tabs.values().all(|t| t.disposed) {
            self.open_tab(None, self.v.persist == Persist::Local);
        }
        if self.tabs.values().all(|t| !t.authenticated) {
            let first = *self.tabs.keys().next().unwrap();
            let d = self.rng.range(SEC, 10 * SEC);
            self.at(d, Ev::Login(first));
        }
        let d = self.rng.range(MIN, 20 * MIN);
        self.at(d, Ev::World);
    }

    /// A forward clock jump, a sleep or `online`: a retry may come early, every tab may find
    /// its token due at once.
    fn excuse(&mut self) {
        for tab in self.tabs.values_mut() {
            tab.excused = true;
            tab.recent_sends.clear();
            tab.recent_failures.clear();
        }
    }

    /// The machine sleeps: nothing runs, requests in flight fail on resume.
    fn sleep(&mut self) {
        self.stats.sleeps += 1;
        // Closing the lid hides the pages first (visibilitychange).
        let uids: Vec<u64> = self.tabs.keys().copied().collect();
        for uid in &uids {
            self.feed(*uid, Input::Wake, Cause::Wake);
        }
        let d = self.rng.range(MIN, 3 * HOUR);
        let perf_stops = self.rng.chance(0.5);
        let queue = std::mem::take(&mut self.queue);
        for ((at, seq), ev) in queue {
            self.queue.insert((at + d, seq), ev);
        }
        for at in self.channel_last.values_mut() {
            *at += d;
        }
        if self.offline_until > self.t {
            self.offline_until += d;
        }
        self.t += d;
        let mut dead = Vec::new();
        for (g, r) in self.reqs.iter_mut() {
            if r.live {
                r.epoch += 1;
                dead.push((*g, r.epoch));
            }
        }
        dead.sort_unstable();
        for (g, epoch) in dead {
            let d = self.rng.range(1, 100);
            self.at(d, Ev::Fail(g, epoch, false));
        }
        for tab in self.tabs.values_mut() {
            if perf_stops {
                tab.perf_paused += d;
            }
            if tab.frozen_until > self.t - d {
                tab.frozen_until += d;
            }
        }
        self.excuse();
        for uid in &uids {
            self.feed(*uid, Input::Wake, Cause::Wake);
        }
    }

    /// The tab an event runs in, if it runs in one (the network and the lock manager do not).
    fn target(&self, ev: &Ev) -> Option<u64> {
        match ev {
            Ev::App(uid)
            | Ev::Get(uid)
            | Ev::Listener(uid)
            | Ev::Timer(uid, _)
            | Ev::Peer(uid, _)
            | Ev::LockAnswer(uid, _, _)
            | Ev::Login(uid)
            | Ev::Api401 { uid, .. } => Some(*uid),
            Ev::Back(g, _) | Ev::Fail(g, _, _) | Ev::ShellTimeout(g, _) => {
                self.reqs.get(g).map(|r| r.uid)
            }
            _ => None,
        }
    }

    fn step(&mut self) -> bool {
        let Some(((at, seq), ev)) = self.queue.pop_first() else {
            return false;
        };
        self.t = self.t.max(at);
        // A frozen tab runs nothing; its events keep their order for when it thaws.
        let frozen = self
            .target(&ev)
            .and_then(|uid| self.tabs.get(&uid))
            .map_or(0, |t| t.frozen_until);
        if frozen > self.t {
            self.queue.insert((frozen, seq), ev);
            return true;
        }
        match ev {
            Ev::App(uid) => self.app(uid),
            Ev::Get(uid) => {
                if !self.winding_down {
                    let kind = if self.v.api_always_401 {
                        CallKind::Fetch
                    } else {
                        CallKind::Get
                    };
                    self.get(uid, kind);
                }
            }
            Ev::Listener(uid) => {
                if self.tabs.get(&uid).is_some_and(|t| !t.disposed) {
                    self.stats.listener_refreshes += 1;
                    let call = self.call(uid, CallKind::Chained, None);
                    self.feed(
                        uid,
                        Input::Refresh {
                            call,
                            in_listener: true,
                        },
                        Cause::Call,
                    );
                }
            }
            Ev::Timer(uid, generation) => {
                let fire = self
                    .tabs
                    .get(&uid)
                    .is_some_and(|t| t.timer_gen == generation && !t.disposed);
                if fire {
                    self.tabs.get_mut(&uid).unwrap().timer_at = None;
                    self.feed(uid, Input::Wake, Cause::Wake);
                }
            }
            Ev::Arrive(g, e) => self.arrive(g, e),
            Ev::Back(g, e) => self.back(g, e),
            Ev::Fail(g, e, timeout) => self.fail(g, e, timeout),
            Ev::ShellTimeout(g, e) => self.fail(g, e, true),
            Ev::Api { uid, token, replay } => self.api(uid, token, replay),
            Ev::Api401 { uid, token } => {
                if self.tabs.get(&uid).is_some_and(|t| !t.disposed) {
                    let call = self.call(uid, CallKind::Replay, Some(token.clone()));
                    self.feed(
                        uid,
                        Input::Unauthorized { call, token },
                        Cause::Unauthorized,
                    );
                }
            }
            Ev::Peer(uid, data) => {
                let v = json::parse(data.as_bytes(), "").unwrap();
                let message = Message::from_value(&v);
                let cause = match &message {
                    Some(Message::LoggedOut) => Cause::PeerLoggedOut,
                    Some(Message::Session(_)) => Cause::PeerSession,
                    _ => Cause::Peer,
                };
                // A tab with a session is told the other tab's refresh token (without one, a
                // refresh message is rightly ignored).
                if let Some(Message::Refreshed(r)) = &message {
                    if self.tabs.get(&uid).is_some_and(|t| t.authenticated) {
                        self.hand(uid, r.refresh_token.as_deref());
                    }
                }
                if let Some(Message::Session(r)) = &message {
                    self.hand(uid, r.refresh_token.as_deref());
                }
                self.feed(uid, Input::Peer(v), cause);
            }
            Ev::LockAnswer(uid, id, granted) => {
                let Some(tab) = self.tabs.get_mut(&uid) else {
                    if granted {
                        self.release(uid, id);
                    }
                    return true;
                };
                tab.lock_wait.remove(&id);
                if granted {
                    tab.locks_held.insert(id);
                }
                let stored = self.stored_for(uid);
                self.feed(
                    uid,
                    Input::Lock {
                        id,
                        granted,
                        stored,
                    },
                    Cause::Lock { id, granted },
                );
                let freeze = granted && !self.winding_down && self.rng.chance(0.02);
                let until = self.t + self.rng.range(5 * SEC, MIN);
                if let Some(tab) = self.tabs.get_mut(&uid) {
                    tab.lock_token.remove(&id);
                    if freeze {
                        // Frozen while it holds the lock: the others wait, then steal it.
                        tab.frozen_until = until;
                        self.stats.freezes += 1;
                    }
                }
            }
            Ev::Steal(uid, id) => self.steal(uid, id),
            Ev::Release(uid, id) => self.release(uid, id),
            Ev::Login(uid) => {
                let someone = self.tabs.values().any(|t| t.authenticated);
                if !someone && self.tabs.contains_key(&uid) {
                    self.login(uid);
                }
            }
            Ev::Close(uid) => self.close_tab(uid),
            Ev::World => self.world(),
            Ev::Online => {
                self.excuse();
                let uids: Vec<u64> = self.tabs.keys().copied().collect();
                for uid in uids {
                    self.feed(uid, Input::Online, Cause::Online);
                }
            }
        }
        true
    }

    fn run(mut self) -> Stats {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner()));
        match result {
            Ok(()) => {
                if std::env::var_os("SIM_DUMP").is_some() {
                    self.print_trace();
                }
                self.stats.server = self.server.stats.clone();
                self.stats
            }
            Err(e) => {
                eprintln!("--- {} (seed {}) failed; trace:", self.v.name, self.v.seed);
                self.print_trace();
                std::panic::resume_unwind(e)
            }
        }
    }

    fn run_inner(&mut self) {
        let name = self.v.name;
        let mut last = (0, self.t, self.stats.steps);
        while self.server.stats.lifetimes < self.v.lifetimes {
            assert!(self.step(), "{name}: the simulation stalled");
            if self.server.stats.lifetimes != last.0 {
                last = (self.server.stats.lifetimes, self.t, self.stats.steps);
            }
            assert!(
                self.t < last.1 + 30 * 24 * HOUR && self.stats.steps < last.2 + 5_000,
                "{name}: no token issued for 30 days or 5 000 steps"
            );
        }
        // Wind down: no new callers, faults or world events; every waiting call must settle.
        self.winding_down = true;
        self.offline_until = 0;
        let mut budget = 20_000;
        while self.tabs.values().any(|t| !t.pending.is_empty()) {
            assert!(self.step(), "{name}: calls left waiting");
            budget -= 1;
            assert!(budget > 0, "{name}: calls never settled");
        }
        let uids: Vec<u64> = self.tabs.keys().copied().collect();
        for uid in uids {
            if !self.tabs[&uid].disposed {
                self.feed(
                    uid,
                    Input::Logout {
                        call: None,
                        return_to: jwt_keeper::json::Value::Null,
                    },
                    Cause::Logout,
                );
            }
        }
        let mut budget = 20_000;
        while self.step() {
            budget -= 1;
            assert!(budget > 0, "{name}: the queue never drains after logout");
        }
        for (uid, tab) in &self.tabs {
            assert!(
                tab.pending.is_empty(),
                "{name}: tab {uid} has unsettled calls"
            );
            assert!(!tab.core.session().is_authenticated() || tab.disposed);
        }
    }
}

fn variants(lifetimes: u64, seed: u64) -> Vec<Variant> {
    let base = Variant {
        name: "",
        seed,
        tabs: 1,
        max_tabs: 1,
        style: Style::OAuth2,
        persist: Persist::Local,
        cross_tab: true,
        locks_refused: false,
        refreshable: true,
        monotonic: true,
        backward_jumps: true,
        forward_jumps: true,
        fault_rate: 0.2,
        // Only where every answer has a Date: see the ignored
        // `simulation_with_stale_answers_clocks_set_ahead_and_no_date`.
        stale_answers: false,
        rotate: true,
        grace_ms: 2 * SEC,
        dates: Dates::Sometimes,
        server_skew_ms: 0,
        margin_s: 60,
        api_always_401: false,
        close_tabs: false,
        varying_ttl: false,
        tolerate_known_bugs: true,
        lifetimes,
    };
    vec![
        Variant {
            name: "one tab, no crossTab, faults 20%",
            seed: seed + 1,
            cross_tab: false,
            ..base
        },
        Variant {
            name: "three tabs, localStorage, Date, tabs close and reopen",
            seed: seed + 2,
            tabs: 3,
            max_tabs: 4,
            dates: Dates::Always,
            stale_answers: true,
            close_tabs: true,
            ..base
        },
        Variant {
            name: "three tabs, sessionStorage, restored with old sessions, no Date",
            seed: seed + 3,
            tabs: 3,
            max_tabs: 4,
            persist: Persist::Session,
            dates: Dates::Never,
            close_tabs: true,
            fault_rate: 0.3,
            ..base
        },
        Variant {
            name: "two tabs, Web Locks refused, json style, grace 2 h, varying TTL",
            seed: seed + 4,
            tabs: 2,
            max_tabs: 3,
            style: Style::Json,
            locks_refused: true,
            grace_ms: 2 * HOUR,
            // A server that caps `exp` at the session's end: tokens of one session differ.
            varying_ttl: true,
            close_tabs: true,
            ..base
        },
        Variant {
            name: "cookie style, two tabs, Date",
            seed: seed + 5,
            tabs: 2,
            max_tabs: 3,
            style: Style::Cookie,
            dates: Dates::Always,
            stale_answers: true,
            close_tabs: true,
            ..base
        },
        Variant {
            name: "server clock 2 h behind, no Date",
            seed: seed + 6,
            tabs: 2,
            max_tabs: 2,
            dates: Dates::Never,
            server_skew_ms: -2 * HOUR as i64,
            ..base
        },
        Variant {
            name: "server clock 90 min ahead, Date",
            seed: seed + 7,
            tabs: 2,
            max_tabs: 3,
            dates: Dates::Always,
            stale_answers: true,
            server_skew_ms: 90 * MIN as i64,
            close_tabs: true,
            ..base
        },
        Variant {
            name: "no refresh token",
            seed: seed + 8,
            tabs: 2,
            max_tabs: 2,
            refreshable: false,
            // Without a refresh token nothing teaches a clock set ahead: every login is refused
            // `expired` (as documented), which would leave nothing else to simulate.
            forward_jumps: false,
            ..base
        },
        Variant {
            name: "API answers 401 to everything",
            seed: seed + 9,
            tabs: 2,
            max_tabs: 2,
            api_always_401: true,
            fault_rate: 0.1,
            ..base
        },
        Variant {
            name: "no performance.now(), forward jumps only, Date, margin 5 s, faults 50%, no rotation",
            seed: seed + 10,
            monotonic: false,
            backward_jumps: false,
            dates: Dates::Always,
            stale_answers: true,
            margin_s: 5,
            fault_rate: 0.5,
            rotate: false,
            persist: Persist::Memory,
            ..base
        },
    ]
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs the variants (one thread each; `SIM_ONLY` keeps those whose name contains it) and
/// prints the figures.
fn simulate(title: &str, variants: Vec<Variant>) -> Stats {
    let started = std::time::Instant::now();
    let only = std::env::var("SIM_ONLY").unwrap_or_default();
    let variants: Vec<Variant> = variants
        .into_iter()
        .filter(|v| v.name.contains(only.as_str()))
        .collect();
    let wanted: u64 = variants.iter().map(|v| v.lifetimes).sum();
    let results: Vec<(Variant, Stats)> = std::thread::scope(|s| {
        let handles: Vec<_> = variants
            .into_iter()
            .map(|v| s.spawn(move || (v, World::new(v).run())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Stats::default();
    eprintln!("{title}:");
    for (v, s) in &results {
        eprintln!(
            "  {:<78} {:>6} lifetimes {:>6} refreshes {:>5} faults",
            v.name, s.server.lifetimes, s.refreshes, s.faults
        );
        total.merge(s);
    }
    let all = total.server.lifetimes;
    assert!(all >= wanted, "{all} lifetimes of {wanted}");
    let logouts: Vec<String> = total
        .logouts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let s = &total.server;
    eprintln!(
        "  {all} token lifetimes; {} refreshes + {} clock probes, {} faults injected, at most {} \
         requests in one lifetime\n  \
         {} clock jumps, {} sleeps, {} offline periods; {} tabs restored, {} closed ({} after \
         dispose), {} frozen for a while; {} locks granted, {} refused, {} stolen\n  \
         logouts: {}\n  \
         {} calls resolved ({} on the fast path, {} on a clock no answer had taught yet), {} \
         rejected; {} refresh() from listeners; {} API calls, {} 401s ({} for expired tokens, \
         {} given to the app after the replay)\n  \
         {} valid answers refused on a clock estimate running ahead, {} logins refused\n  \
         server: {} logins, {} rotations, {} grace reuses, {} reuse detections ({} with the successor \
         lost or on its way, {} by restored tabs with no newer session open, {} of an old cookie put \
         back by a late answer); {} revocations; {} restored \
         sessions already expired\n  \
         KNOWN BUG (a rotated refresh token dropped): {} refreshes sent a refresh token older \
         than one the tab had been handed, {} of them met reuse detection\n  \
         KNOWN BUG (refresh() resolved with a token already expired, within the leeway): {}\n  \
         KNOWN LIMIT (a refresh sent under a lock stolen while its tab was frozen): {}, {} of \
         them met reuse detection\n  \
         KNOWN BUG (a token adopted late in its life handed out in its last moments, expired at \
         the API): {}\n  \
         KNOWN LIMIT (an expired token handed out on a clock taught by an answer a frozen tab read \
         late): {}\n  \
         {} steps in {:.1?}",
        total.refreshes,
        total.probes,
        total.faults,
        total.max_sends_per_life,
        total.jumps,
        total.sleeps,
        total.offline,
        total.restored_tabs,
        total.closed_tabs,
        total.disposed_tabs,
        total.freezes,
        total.locks_granted,
        total.refused_locks,
        total.steals,
        logouts.join(", "),
        total.resolves,
        total.fast_path,
        total.excused_handouts,
        total.rejects,
        total.listener_refreshes,
        total.api_calls,
        total.api_401,
        total.api_expired,
        total.api_gave_up,
        total.misjudged_answers,
        total.failed_logins,
        s.logins,
        s.rotations,
        s.grace_reuses,
        s.reuse_detections,
        total.reuse_after_lost,
        total.reuse_restored_unavoidable,
        total.reuse_cookie,
        s.revocations,
        total.restored_expired,
        total.known_dropped_rotations,
        total.known_dropped_reuses,
        total.known_expired_refresh,
        total.known_after_steal,
        total.reuse_after_steal,
        total.known_late_adoption,
        total.known_stale_lesson,
        total.steps,
        started.elapsed()
    );
    total
}

/// Token lifetimes per variant (`SIM_LIFETIMES`) and the seed shift (`SIM_SEED`).
fn scale() -> (u64, u64) {
    (
        env_u64("SIM_LIFETIMES").unwrap_or(DEFAULT_LIFETIMES),
        env_u64("SIM_SEED").unwrap_or(0),
    )
}

/// Token lifetimes per variant by default: about 12 s for all of them in debug on two cores.
const DEFAULT_LIFETIMES: u64 = 200;

#[test]
fn randomized_session_simulation() {
    let (lifetimes, seed) = scale();
    simulate("session sim", variants(lifetimes, seed));
}

/// The default variants, longer, failing on what the default run only counts (see its
/// figures): rotations dropped by `adopt_if_newer` (announced with an older access token: after a
/// wall clock set ahead one tab's estimate runs ahead of another's; or a superseded own result
/// that is not newer: tokens of one session with different lifetimes), `refresh()` resolved with
/// a token that expired within the leeway, a token adopted late in its life handed out in its
/// last moments, and the limits of frozen tabs (a lock stolen meanwhile, a Date read late).
#[test]
#[ignore = "bugs: rotations dropped (a_rotation_announced_with_an_older_access_token_is_kept, \
            session::tests::a_superseded_result_that_is_not_newer_keeps_its_rotated_refresh_token), \
            session::tests::refresh_never_resolves_with_a_token_already_expired, \
            session::tests::a_token_adopted_late_in_its_life_is_not_handed_out_in_its_last_seconds; \
            limits of frozen tabs"]
fn strict_simulation_fails_on_the_known_bugs() {
    let (lifetimes, seed) = scale();
    let variants = variants(lifetimes.max(1_000), seed + 1_000)
        .into_iter()
        .filter(|v| v.cross_tab && v.refreshable && v.style != Style::Cookie)
        .map(|v| Variant {
            tolerate_known_bugs: false,
            ..v
        })
        .collect();
    simulate("strict rotations", variants);
}

/// Cross-origin endpoints (no readable `Date`) that sometimes answer with a long-expired token
/// (a stale cache, a server bug), and wall clocks set ahead.
#[test]
#[ignore = "bug: a wall clock set ahead voids the iat floor; a long-expired token answered next \
            without a Date drags the estimate down by its age, and the current token is handed \
            out past its exp (see session::tests::\
            a_stale_answer_after_a_clock_set_ahead_never_makes_the_current_token_outlive_its_exp)"]
fn simulation_with_stale_answers_clocks_set_ahead_and_no_date() {
    let (lifetimes, seed) = scale();
    let variants = variants(lifetimes.max(600), seed + 5_000)
        .into_iter()
        .filter(|v| v.dates != Dates::Always && v.refreshable)
        .map(|v| Variant {
            stale_answers: true,
            fault_rate: 0.4,
            tolerate_known_bugs: true,
            ..v
        })
        .collect();
    simulate("stale answers, no Date", variants);
}

/// Two real cores (tabs) and the sequence that drops a rotation, step by step:
///
/// 1. tab A signs in (`AT0`, `rt0`); tab B adopts it from the channel;
/// 2. the wall clock jumps two hours ahead (both tabs count it as elapsed time);
/// 3. A refreshes: the answer has a `Date`, A learns the server's clock and adopts `AT1` +
///    `rt1`, and tells B;
/// 4. B, whose estimate still runs two hours ahead, finds `AT1` expired: it keeps only `rt1`,
///    and refreshes itself (its `AT0` looks expired too) with `rt1`;
/// 5. B's answer carries `rt2` (the server rotated `rt1`) with an access token that fails
///    verification: B keeps `rt2` and announces (`AT0`, `rt2`);
/// 6. A holds the newer `AT1`, so it ignores the whole message, `rt2` included.
///
/// Expected: A's next refresh presents `rt2`. Got: A presents `rt1`, which the server retired
/// in step 5 (past its grace window that is reuse detection: the whole session is revoked).
#[test]
#[ignore = "bug: `adopt_if_newer` drops a peer's rotated refresh token when the access token that \
            comes with it is older than ours"]
fn a_rotation_announced_with_an_older_access_token_is_kept() {
    let v = variants(1, 0)
        .into_iter()
        .find(|v| v.persist == Persist::Local && v.cross_tab)
        .unwrap();
    let mut server = Server::new(&v);
    let keys = KeySet::from_json(server.jwk().as_bytes()).unwrap();
    let options = Variant {
        persist: Persist::Memory,
        ..v
    }
    .options();
    let mut a = Core::new(options.as_bytes(), keys.clone(), 1).unwrap();
    let mut b = Core::new(options.as_bytes(), keys, 2).unwrap();
    let mut wall = START;
    let mut mono = 0;
    let now = |wall: u64, mono: u64| Now {
        wall_ms: wall,
        monotonic_ms: Some(mono),
    };
    let posts = |fx: &[Effect]| -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Post(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    };
    let peer = |d: &str| Input::Peer(json::parse(d.as_bytes(), "").unwrap());
    let lock = |fx: &[Effect]| {
        fx.iter()
            .find_map(|e| match e {
                Effect::Lock { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a lock request")
    };
    let send = |fx: &[Effect]| {
        fx.iter()
            .find_map(|e| match e {
                Effect::Send { id, body, .. } => Some((*id, body.clone())),
                _ => None,
            })
            .expect("a refresh request")
    };
    let start = Input::Start {
        dpop: json::Value::Null,
        stored: None,
        channel: true,
    };
    a.handle_checked(now(wall, mono), start.clone());
    b.handle_checked(now(wall, mono), start);
    // 1. Sign in.
    let iat = START / SEC;
    let at0 = server.sign(iat, iat + 600, false);
    let set = Obj::new()
        .str("t", "set")
        .num("call", 1)
        .str("accessToken", &at0)
        .str("refreshToken", "rt0")
        .finish();
    let fx = a.handle_checked(now(wall, mono), Input::from_json(&set).unwrap());
    for d in posts(&fx) {
        b.handle_checked(now(wall, mono), peer(&d));
    }
    assert_eq!(b.session().access_token(), Some(at0.as_str()));
    // 2. Two hours ahead (a minute of real time).
    wall += 2 * HOUR + MIN;
    mono += MIN;
    // 3. A refreshes and learns the server's clock from the answer's Date.
    let fx = a.handle_checked(
        now(wall, mono),
        Input::Refresh {
            call: CallId(2),
            in_listener: false,
        },
    );
    let fx = a.handle_checked(
        now(wall, mono),
        Input::Lock {
            id: lock(&fx),
            granted: true,
            stored: None,
        },
    );
    let (id, body) = send(&fx);
    assert!(body.contains("rt0"));
    let server_s = iat + 60;
    let at1 = server.sign(server_s, server_s + 600, false);
    let answer = |id: u64, date: Option<String>, access: &str, rt: &str| Input::Answer {
        dpop_nonce: None,
        id,
        status: 200,
        retry_after: None,
        date,
        body: Obj::new()
            .str("access_token", access)
            .str("refresh_token", rt)
            .str("token_type", "Bearer")
            .finish(),
        stored: None,
    };
    let fx = a.handle_checked(
        now(wall, mono),
        answer(id, Some(http_date(server_s)), &at1, "rt1"),
    );
    assert_eq!(a.session().access_token(), Some(at1.as_str()));
    // 4. B keeps rt1 only, and refreshes itself with it.
    let mut fx_b = Vec::new();
    for d in posts(&fx) {
        fx_b.extend(b.handle_checked(now(wall, mono), peer(&d)));
    }
    assert_eq!(b.session().access_token(), Some(at0.as_str()));
    let fx = b.handle_checked(
        now(wall, mono),
        Input::Lock {
            id: lock(&fx_b),
            granted: true,
            stored: None,
        },
    );
    let (id, body) = send(&fx);
    assert!(body.contains("rt1"), "{body}");
    // 5. The server rotated rt1 -> rt2; the access token fails verification.
    let forged = server.sign(server_s, server_s + 600, true);
    let fx = b.handle_checked(now(wall, mono), answer(id, None, &forged, "rt2"));
    assert_eq!(
        b.session()
            .tokens()
            .and_then(|t| t.refresh_token.as_deref()),
        Some("rt2")
    );
    // 6. A is told.
    for d in posts(&fx) {
        a.handle_checked(now(wall, mono), peer(&d));
    }
    assert_eq!(
        a.session()
            .tokens()
            .and_then(|t| t.refresh_token.as_deref()),
        Some("rt2"),
        "A dropped the rotation B announced; its next refresh presents the retired rt1"
    );
}

/// One real core with the channel, where Web Locks are refused:
///
/// 1. signed in with a two-minute token (`AT1`, `rt1`);
/// 2. a minute later the refresh is due: the core asks for the lock;
/// 3. before the refusal comes back, another tab's refreshed session (`AT2`, `rt2`) arrives and
///    is adopted: the refresh is moot now;
/// 4. the lock request is refused.
///
/// Nothing is sent (as when the lock is granted: the request is reported moot). It used to be
/// sent anyway, with `rt2`: a second request for `AT2`'s lifetime, a rotation nobody asked for.
#[test]
fn a_refresh_made_moot_while_a_refused_lock_was_pending_is_not_sent() {
    let v = variants(1, 0)
        .into_iter()
        .find(|v| v.locks_refused)
        .unwrap();
    let mut server = Server::new(&v);
    let keys = KeySet::from_json(server.jwk().as_bytes()).unwrap();
    let mut core = Core::new(v.options().as_bytes(), keys, 1).unwrap();
    let mut wall = START;
    let at = |wall: u64| Now {
        wall_ms: wall,
        monotonic_ms: Some(wall - START),
    };
    core.handle_checked(
        at(wall),
        Input::Start {
            dpop: json::Value::Null,
            stored: None,
            channel: true,
        },
    );
    let iat = START / SEC;
    let at1 = server.sign(iat, iat + 120, false);
    let set = Obj::new()
        .str("t", "set")
        .num("call", 1)
        .str("accessToken", &at1)
        .str("refreshToken", "rt1")
        .finish();
    core.handle_checked(at(wall), Input::from_json(&set).unwrap());
    wall += 61 * SEC;
    let fx = core.handle_checked(at(wall), Input::GetToken { call: CallId(2) });
    let lock = fx
        .iter()
        .find_map(|e| match e {
            Effect::Lock { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the refresh asks for the lock");
    let at2 = server.sign(iat + 61, iat + 181, false);
    let message = Message::Refreshed(Record {
        access_token: at2.clone(),
        refresh_token: Some("rt2".into()),
        expires_by_s: None,
        id_token: None,
    });
    let data = json::parse(message.to_json().as_bytes(), "").unwrap();
    core.handle_checked(at(wall), Input::Peer(data));
    assert_eq!(core.session().access_token(), Some(at2.as_str()));
    let fx = core.handle_checked(
        at(wall),
        Input::Lock {
            id: lock,
            granted: false,
            stored: None,
        },
    );
    let sent: Vec<&Effect> = fx
        .iter()
        .filter(|e| matches!(e, Effect::Send { .. }))
        .collect();
    assert!(sent.is_empty(), "a moot refresh was sent: {sent:?}");
}
