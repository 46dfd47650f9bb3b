//! Native tests of the client core: the trust rules (a token is never judged by its own word),
//! tabs and storage, locks, storms, disposal — each driven through raw inputs as the shell
//! feeds them.

use super::*;
use crate::json;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};

const NOW_S: u64 = 1_800_000_000;
const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fn signer() -> SigningKey {
    SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn jwk() -> String {
    let point = signer().verifying_key().to_sec1_point(false);
    Obj::new()
        .str("kty", "EC")
        .str("crv", "P-256")
        .str("x", &crate::base64url::encode(point.x().unwrap()))
        .str("y", &crate::base64url::encode(point.y().unwrap()))
        .finish()
}

/// An ES256 token with `iat`/`exp` (seconds) signed by [`signer`].
fn token(iat: Option<u64>, exp: u64, jti: u64) -> String {
    let header = crate::base64url::encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let payload = Obj::new()
        .str("sub", "alice")
        .opt_num("iat", iat)
        .num("exp", exp)
        .num("jti", jti)
        .finish();
    let input = [header, crate::base64url::encode(payload.as_bytes())].join(".");
    let sig: Signature = signer()
        .sign_prehash(&crate::sha256::sha256(input.as_bytes()))
        .unwrap();
    [input, crate::base64url::encode(&sig.to_bytes())].join(".")
}

/// A test rig: one core and a clock (wall and monotonic move together unless told).
struct Rig {
    core: Core,
    wall: u64,
    mono: u64,
    next_call: u64,
}

const OAUTH: &str =
    r#"{"refresh":{"url":"https://as.test/token","clientId":"c"},"crossTab":false}"#;
const TABS: &str = r#"{"refresh":{"url":"https://as.test/token","clientId":"c"}}"#;

impl Rig {
    fn new(options: &str, key: &str) -> Self {
        let keys = KeySet::from_json(key.as_bytes()).unwrap();
        Self {
            core: Core::new(options.as_bytes(), keys, 1).unwrap(),
            wall: NOW_S * 1000,
            mono: 1_000,
            next_call: 1,
        }
    }

    fn now(&self) -> Now {
        Now {
            wall_ms: self.wall,
            monotonic_ms: Some(self.mono),
        }
    }

    fn input(&mut self, json_text: &str) -> Vec<Effect> {
        let input = Input::from_json(json_text).unwrap();
        let now = self.now();
        self.core.handle_checked(now, input)
    }

    fn start(&mut self, stored: Option<&str>, channel: bool) -> Vec<Effect> {
        let stored = stored.map_or("null".into(), |s| {
            let mut q = String::new();
            json::push_string(&mut q, s);
            q
        });
        self.input(&format!(
            r#"{{"t":"start","stored":{stored},"channel":{channel}}}"#
        ))
    }

    fn call(&mut self) -> u64 {
        self.next_call += 1;
        self.next_call
    }

    fn set(
        &mut self,
        access: &str,
        refresh: Option<&str>,
        expires_in: Option<u64>,
    ) -> (u64, Vec<Effect>) {
        let call = self.call();
        (
            call,
            self.input(&set_input(call, access, refresh, expires_in)),
        )
    }

    fn get(&mut self) -> (u64, Vec<Effect>) {
        let call = self.call();
        (call, self.input(&format!(r#"{{"t":"get","call":{call}}}"#)))
    }

    fn answer(&mut self, id: u64, status: u16, date: Option<&str>, body: &str) -> Vec<Effect> {
        self.input(&answer_input(id, status, date, body))
    }

    /// Moves the clocks a second at a time (at most 40 s), calling `getAccessToken()` each
    /// time, until a refresh goes out; its requests.
    fn advance_until_sent(&mut self) -> Vec<(u64, String)> {
        for _ in 0..40 {
            self.advance(1_000);
            let (_, fx) = self.get();
            let sent = sends(&fx);
            if !sent.is_empty() {
                return sent;
            }
        }
        Vec::new()
    }

    fn advance(&mut self, ms: u64) {
        self.wall += ms;
        self.mono += ms;
    }
}

/// An `answer` input as the shell sends it.
fn answer_input(id: u64, status: u16, date: Option<&str>, body: &str) -> String {
    Obj::new()
        .str("t", "answer")
        .num("id", id)
        .num("status", u64::from(status))
        .opt_str("date", date)
        .str("body", body)
        .finish()
}

/// A `setSession` input as the shell sends it.
fn set_input(call: u64, access: &str, refresh: Option<&str>, expires_in: Option<u64>) -> String {
    Obj::new()
        .str("t", "set")
        .num("call", call)
        .str("accessToken", access)
        .opt_str("refreshToken", refresh)
        .opt_num("expiresIn", expires_in)
        .finish()
}

fn settled(fx: &[Effect], call: u64) -> Option<core::result::Result<Option<String>, ErrorCode>> {
    fx.iter().find_map(|e| match e {
        Effect::Settle { call: c, result } if c.0 == call => {
            Some(result.clone().map_err(|e| e.code()))
        }
        _ => None,
    })
}

fn sends(fx: &[Effect]) -> Vec<(u64, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { id, body, .. } => Some((*id, body.clone())),
            _ => None,
        })
        .collect()
}

fn oauth_body(access: &str, refresh: &str, expires_in: u64) -> String {
    Obj::new()
        .str("access_token", access)
        .str("refresh_token", refresh)
        .num("expires_in", expires_in)
        .str("token_type", "Bearer")
        .finish()
}

fn http_date(s: u64) -> String {
    // Only the seconds matter to the parser; build an IMF-fixdate for `s`.
    let days = s / 86_400;
    let rem = s % 86_400;
    let (y, m, d) = civil(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "Mon, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[test]
fn the_http_date_helper_reads_back() {
    assert_eq!(refresh::parse_http_date(&http_date(NOW_S)), Some(NOW_S));
}

// ---- a token is never judged by its own word ----

#[test]
fn an_expired_token_with_a_generous_expires_in_is_refused() {
    let mut r = Rig::new("{}", A3_JWK);
    r.start(None, false);
    let (call, fx) = r.set(A3, None, Some(3600));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Expired)));
    assert!(!r.core.session().is_authenticated(), "nothing adopted");
    // Also with a refresh endpoint but no refresh token: nothing to learn the clock with.
    let mut r = Rig::new(OAUTH, A3_JWK);
    r.start(None, false);
    let (call, fx) = r.set(A3, None, Some(3600));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Expired)));
    let (call, fx) = r.get();
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::NotAuthenticated)));
}

#[test]
fn an_aged_token_keeps_its_real_exp_and_teaches_no_offset() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let aged = token(Some(NOW_S - 3000), NOW_S + 600, 1);
    let (call, fx) = r.set(&aged, Some("rt1"), None);
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    let expires = r.core.session().expires_at_ms().unwrap();
    assert!(
        expires.abs_diff((NOW_S + 600) * 1000) < 2_000,
        "expiresAt {expires} is the real exp, not iat + lifetime"
    );
    // A token that expired 1000 s ago is refused: nothing was learned from the aged one.
    let old = token(Some(NOW_S - 4000), NOW_S - 1000, 2);
    let (call, fx) = r.set(&old, None, Some(3600));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Expired)));
}

#[test]
fn expires_in_shortens_never_extends() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 300, 1);
    r.set(&t, Some("rt"), Some(3600));
    let at = r.core.session().expires_at_ms().unwrap();
    assert!(at <= (NOW_S + 300) * 1000 + 1000, "cut to exp: {at}");
    let t = token(Some(NOW_S), NOW_S + 3600, 2);
    r.set(&t, Some("rt"), Some(100));
    let at = r.core.session().expires_at_ms().unwrap();
    assert!(
        at <= (NOW_S + 100) * 1000 + 1000,
        "expires_in shortens: {at}"
    );
}

/// Signs in with a fresh token and returns the refresh request sent when it is due.
fn signed_in_and_due(r: &mut Rig) -> u64 {
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 120, 1);
    let (call, fx) = r.set(&t, Some("rt1"), Some(120));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    r.advance(61_000);
    let (_, fx) = r.get();
    let s = sends(&fx);
    assert_eq!(s.len(), 1, "one refresh when due: {fx:?}");
    s[0].0
}

#[test]
fn a_refresh_answer_without_date_carrying_an_expired_token_is_refused() {
    let mut r = Rig::new(OAUTH, &jwk());
    let id = signed_in_and_due(&mut r);
    let expired = token(Some(NOW_S - 7200), NOW_S - 3600, 9);
    let fx = r.answer(id, 200, None, &oauth_body(&expired, "rt2", 3600));
    let adopted = fx
        .iter()
        .any(|e| matches!(e, Effect::Emit(session::Event::Refresh { .. })));
    assert!(!adopted, "the expired token is not adopted: {fx:?}");
    assert!(fx.iter().any(|e| matches!(e, Effect::Emit(session::Event::Error { error, .. }) if error.code() == ErrorCode::Expired)));
    assert_ne!(r.core.session().access_token(), Some(expired.as_str()));
    // The rotated refresh token is kept (the server retired the old one).
    assert_eq!(
        r.core
            .session()
            .tokens()
            .and_then(|t| t.refresh_token.as_deref()),
        Some("rt2")
    );
}

#[test]
fn a_fast_client_clock_learns_the_server_time_from_its_own_request_instead_of_trusting() {
    // The local clock is 2 h fast; the login response's token looks expired by it.
    let mut r = Rig::new(OAUTH, &jwk());
    r.wall += 7_200_000;
    r.start(None, false);
    let login = token(Some(NOW_S), NOW_S + 600, 1);
    let (call, fx) = r.set(&login, Some("rt1"), Some(600));
    assert_eq!(settled(&fx, call), None, "not settled on trust");
    let probe = sends(&fx);
    assert_eq!(probe.len(), 1, "a refresh asks the server's clock");
    // getAccessToken meanwhile waits.
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), None);
    r.advance(100);
    let fresh = token(Some(NOW_S), NOW_S + 600, 2);
    let fx = r.answer(
        probe[0].0,
        200,
        Some(&http_date(NOW_S)),
        &oauth_body(&fresh, "rt2", 600),
    );
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    assert_eq!(settled(&fx, get), Some(Ok(Some(fresh.clone()))));
    let at = r.core.session().expires_at_ms().unwrap();
    assert!(
        at.abs_diff((NOW_S + 600) * 1000 + 7_200_000) < 2_000,
        "on the local clock: {at}"
    );
}

#[test]
fn without_a_date_the_iat_of_a_refused_answer_corrects_the_clock_for_the_next_one() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.wall += 7_200_000;
    r.start(None, false);
    let (call, fx) = r.set(&token(Some(NOW_S), NOW_S + 600, 1), Some("rt1"), Some(600));
    let first = sends(&fx)[0].0;
    let fx = r.answer(
        first,
        200,
        None,
        &oauth_body(&token(Some(NOW_S), NOW_S + 600, 2), "rt2", 600),
    );
    assert_eq!(
        settled(&fx, call),
        None,
        "judged expired, clock learned, asked again"
    );
    let second = sends(&fx);
    assert_eq!(second.len(), 1);
    assert!(
        second[0].1.contains("rt2"),
        "with the rotated refresh token"
    );
    let fresh = token(Some(NOW_S + 1), NOW_S + 601, 3);
    let fx = r.answer(second[0].0, 200, None, &oauth_body(&fresh, "rt3", 600));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    assert_eq!(r.core.session().access_token(), Some(fresh.as_str()));
}

// ---- tabs and storage ----

fn record(access: &str, refresh: &str) -> String {
    Record {
        access_token: access.into(),
        refresh_token: Some(refresh.into()),
        expires_by_s: None,
        id_token: None,
    }
    .to_json()
}

fn peer(r: &mut Rig, message: &Message) -> Vec<Effect> {
    let o = Obj::new()
        .str("t", "peer")
        .raw("data", &message.to_json())
        .finish();
    r.input(&o)
}

#[test]
fn a_stored_record_claiming_freshness_for_an_expired_token_is_refused() {
    let expired = token(Some(NOW_S - 7200), NOW_S - 3600, 1);
    let rec = Record {
        access_token: expired,
        refresh_token: None,
        expires_by_s: Some(NOW_S + 3600),
        id_token: None,
    };
    let mut r = Rig::new(r#"{"persist":"local"}"#, &jwk());
    let fx = r.start(Some(&rec.to_json()), false);
    assert!(!r.core.session().is_authenticated());
    assert!(fx.contains(&Effect::Clear), "the stale record is removed");
    // An old-format record with a receipt time and expiresIn is not read at all.
    let mut r = Rig::new(r#"{"persist":"local"}"#, &jwk());
    let v1 = r#"{"v":1,"at":"x.y.z","received":99999999999999,"expiresIn":3600}"#;
    r.start(Some(v1), false);
    assert!(!r.core.session().is_authenticated());
}

#[test]
fn a_restored_tab_never_makes_a_live_tab_send_a_rotated_refresh_token() {
    // Live tab: holds the newest session (rt3).
    let mut live = Rig::new(TABS, &jwk());
    live.start(None, true);
    let newest = token(Some(NOW_S), NOW_S + 600, 3);
    live.set(&newest, Some("rt3"), Some(600));
    // A tab restored with an old stored session (rt1), whose access token expired.
    let mut restored = Rig::new(TABS, &jwk());
    let old = token(Some(NOW_S - 1200), NOW_S - 600, 1);
    let fx = restored.start(Some(&record(&old, "rt1")), true);
    assert!(
        sends(&fx).is_empty(),
        "no refresh before the other tabs answered"
    );
    let hello = fx.iter().find_map(|e| match e {
        Effect::Post(d) => Some(d.clone()),
        _ => None,
    });
    assert_eq!(
        hello.as_deref(),
        Some(Message::Hello.to_json().as_str()),
        "asks, does not announce"
    );
    // The live tab answers; an old session announced as new is ignored by it.
    let fx = peer(&mut live, &Message::Hello);
    let reply = fx.iter().find_map(|e| match e {
        Effect::Post(d) => Some(d.clone()),
        _ => None,
    });
    let fx = peer(
        &mut live,
        &Message::Session(Record::from_json(&record(&old, "rt1")).unwrap()),
    );
    assert!(sends(&fx).is_empty());
    assert_eq!(
        live.core
            .session()
            .tokens()
            .and_then(|t| t.refresh_token.as_deref()),
        Some("rt3")
    );
    assert_eq!(live.core.session().access_token(), Some(newest.as_str()));
    // The restored tab adopts the live tab's newer session from the reply.
    let data = json::parse(reply.unwrap().as_bytes(), "").unwrap();
    let o = Obj::new()
        .str("t", "peer")
        .raw("data", &Message::from_value(&data).unwrap().to_json())
        .finish();
    restored.input(&o);
    assert_eq!(
        restored.core.session().access_token(),
        Some(newest.as_str())
    );
    restored.advance(PEER_WAIT_PLUS);
    let (_, fx) = restored.get();
    assert!(
        sends(&fx).iter().all(|(_, b)| !b.contains("rt1")),
        "rt1 is never sent"
    );
}

const PEER_WAIT_PLUS: u64 = session::PEER_ANSWER_WAIT_MS + 1;

// ---- locks ----

fn lock_effect(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::Lock { id, .. } => Some(*id),
        _ => None,
    })
}

#[test]
fn a_refused_lock_falls_back_to_a_per_tab_refresh_and_every_call_settles() {
    let mut r = Rig::new(TABS, &jwk());
    r.start(None, true);
    r.set(&token(Some(NOW_S), NOW_S + 120, 1), Some("rt1"), Some(120));
    r.advance(61_000);
    let call = r.call();
    let fx = r.input(&format!(r#"{{"t":"refresh","call":{call}}}"#));
    let lock = lock_effect(&fx).expect("crossTab asks for the lock");
    let fx = r.input(&format!(r#"{{"t":"lock","id":{lock},"granted":false}}"#));
    let s = sends(&fx);
    assert_eq!(s.len(), 1, "sent anyway");
    let fresh = token(Some(NOW_S + 61), NOW_S + 181, 2);
    let fx = r.answer(s[0].0, 200, None, &oauth_body(&fresh, "rt2", 120));
    assert_eq!(settled(&fx, call), Some(Ok(Some(fresh))));
}

#[test]
fn a_lock_granted_after_dispose_sends_nothing_and_is_released() {
    let mut r = Rig::new(TABS, &jwk());
    r.start(None, true);
    r.set(&token(Some(NOW_S), NOW_S + 120, 1), Some("rt1"), Some(120));
    r.advance(61_000);
    let (_, fx) = r.get();
    let lock = lock_effect(&fx).unwrap();
    r.input(r#"{"t":"dispose"}"#);
    let fx = r.input(&format!(r#"{{"t":"lock","id":{lock},"granted":true}}"#));
    assert_eq!(
        fx,
        vec![Effect::Unlock {
            id: lock,
            after_ms: 0
        }]
    );
    let (_, fx) = r.get();
    assert!(fx.is_empty(), "nothing after dispose: {fx:?}");
}

// ---- storms and endless retries ----

#[test]
fn an_endpoint_answering_only_unverifiable_tokens_ends_the_session() {
    let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let _ = other;
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    r.set(&token(Some(NOW_S), NOW_S + 20, 1), Some("rt1"), Some(20));
    let mut logouts = 0;
    let mut requests = 0;
    for _ in 0..200 {
        r.advance(1_000);
        let (_, mut fx) = r.get();
        while let Some((id, _)) = sends(&fx).first().cloned() {
            requests += 1;
            // A token signed by the A.3 key: fails verification here.
            fx = r.answer(id, 200, None, &oauth_body(A3, "rtX", 300));
        }
        logouts += fx
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Emit(session::Event::Logout {
                        reason: session::LogoutReason::InvalidToken
                    })
                )
            })
            .count();
        if !r.core.session().is_authenticated() {
            break;
        }
    }
    assert_eq!(logouts, 1, "logout{{invalid_token}} exactly once");
    assert!(!r.core.session().is_authenticated());
    assert!(
        requests <= 1 + session::MAX_INVALID_ANSWERS as usize + 8,
        "{requests} requests"
    );
}

#[test]
fn an_api_that_always_says_401_costs_one_refresh_per_cooldown() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    r.set(
        &token(Some(NOW_S), NOW_S + 3600, 1),
        Some("rt1"),
        Some(3600),
    );
    let mut requests = 0;
    let mut jti = 2;
    for _ in 0..10 {
        let (_, fx) = r.get();
        let current = settled(&fx, r.next_call).unwrap().unwrap().unwrap();
        let call = r.call();
        let o = Obj::new()
            .str("t", "unauthorized")
            .num("call", call)
            .str("token", &current)
            .finish();
        let mut fx = r.input(&o);
        while let Some((id, _)) = sends(&fx).first().cloned() {
            requests += 1;
            jti += 1;
            fx = r.answer(
                id,
                200,
                None,
                &oauth_body(&token(Some(NOW_S), NOW_S + 3600, jti), "rtN", 3600),
            );
        }
        assert!(settled(&fx, call).is_some(), "the replay call settles");
        r.advance(100);
    }
    assert_eq!(requests, 1, "10 calls within the cooldown: one refresh");
}

#[test]
fn online_does_not_skip_a_retry_after() {
    let mut r = Rig::new(OAUTH, &jwk());
    let id = signed_in_and_due(&mut r);
    let o = Obj::new()
        .str("t", "answer")
        .num("id", id)
        .num("status", 503)
        .str("retryAfter", "120")
        .str("body", "")
        .finish();
    r.input(&o);
    let fx = r.input(r#"{"t":"online"}"#);
    assert!(sends(&fx).is_empty(), "the server asked for 120 s");
}

// ---- own values only, typed errors ----

#[test]
fn set_session_refuses_wrong_types_and_keeps_the_old_session() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let good = token(Some(NOW_S), NOW_S + 600, 1);
    r.set(&good, Some("rt1"), None);
    for bad in [
        r#"{"t":"set","call":50,"accessToken":5}"#,
        r#"{"t":"set","call":50,"accessToken":"a.b.c","expiresIn":"NaN"}"#,
        r#"{"t":"set","call":50,"accessToken":"x","refreshToken":{}}"#,
    ] {
        let fx = r.input(bad);
        assert!(matches!(settled(&fx, 50), Some(Err(_))), "{bad}");
        assert_eq!(r.core.session().access_token(), Some(good.as_str()));
    }
    let bad_options = [r#"{"leeway":"NaN"}"#, r#"{"refreshMargin":"Infinity"}"#];
    for o in bad_options {
        let keys = KeySet::from_json(jwk().as_bytes()).unwrap();
        assert_eq!(
            Core::new(o.as_bytes(), keys, 0).unwrap_err().code(),
            ErrorCode::Malformed
        );
    }
}

#[test]
fn cookie_style_logout_tells_the_server() {
    let mut r = Rig::new(
        r#"{"refresh":{"url":"https://as.test/refresh","style":"cookie","logoutUrl":"https://as.test/logout"}}"#,
        &jwk(),
    );
    r.start(None, false);
    r.set(
        &token(Some(NOW_S), NOW_S + 600, 1),
        Some("never kept"),
        None,
    );
    let fx = r.input(r#"{"t":"logout"}"#);
    let send = fx.iter().find_map(|e| match e {
        Effect::Send {
            url,
            include_credentials,
            headers,
            ..
        } => Some((url.clone(), *include_credentials, headers.clone())),
        _ => None,
    });
    let (url, creds, headers) = send.expect("the logout URL is POSTed");
    assert_eq!(url, "https://as.test/logout");
    assert!(creds);
    assert!(headers.contains(&("Content-Type".into(), "application/json".into())));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Emit(session::Event::Logout { .. }))));
}

#[test]
fn a_wall_clock_set_back_does_not_make_a_token_younger() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    r.set(&token(Some(NOW_S), NOW_S + 20, 1), Some("rt1"), Some(20));
    // The wall clock goes back 2 h while 1.6 s really pass (the monotonic clock says so).
    r.wall -= 7_200_000;
    r.mono += 1_600;
    let fx = r.input(r#"{"t":"wake"}"#);
    let fresh = fx.iter().find_map(|e| match e {
        Effect::Fresh { for_ms, .. } => Some(*for_ms),
        _ => None,
    });
    assert!(fresh.unwrap() <= 10_000, "fresh for {fresh:?} ms, not 2 h");
    // 30 s of real time later the token (20 s) is never handed out.
    r.wall += 30_000;
    r.mono += 30_000;
    let (call, fx) = r.get();
    assert!(!matches!(settled(&fx, call), Some(Ok(_))), "{fx:?}");
}

#[test]
fn a_forced_refresh_during_the_restore_wait_goes_out_when_it_ends() {
    let mut r = Rig::new(TABS, &jwk());
    let t = token(Some(NOW_S), NOW_S + 600, 1);
    r.start(Some(&record(&t, "rt1")), true);
    let call = r.call();
    let fx = r.input(&format!(r#"{{"t":"refresh","call":{call}}}"#));
    let wake = fx.iter().find_map(|e| match e {
        Effect::Wake(at) => *at,
        _ => None,
    });
    assert!(
        wake.unwrap() <= r.wall + session::PEER_ANSWER_WAIT_MS,
        "woken when the wait ends, not at the refresh point"
    );
    r.advance(PEER_WAIT_PLUS);
    let fx = r.input(r#"{"t":"wake"}"#);
    assert!(lock_effect(&fx).is_some(), "the refresh goes out: {fx:?}");
}

#[test]
fn a_set_session_expired_by_a_running_session_s_clock_is_refused_without_a_request() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    r.set(&token(Some(NOW_S), NOW_S + 600, 1), Some("rt1"), None);
    let (call, fx) = r.set(
        &token(Some(NOW_S - 7200), NOW_S - 3600, 2),
        Some("attacker"),
        None,
    );
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Expired)));
    assert!(
        sends(&fx).is_empty(),
        "the attacker's refresh token is not sent"
    );
}

// ---- signatures checked outside: the verify effect ----

impl Rig {
    /// One input as the shell feeds it, without answering `verify` effects.
    fn raw(&mut self, json_text: &str) -> Vec<Effect> {
        let input = Input::from_json(json_text).unwrap();
        let now = self.now();
        self.core.handle(now, input)
    }

    fn raw_set(&mut self, access: &str, refresh: Option<&str>) -> (u64, Vec<Effect>) {
        let call = self.call();
        (call, self.raw(&set_input(call, access, refresh, None)))
    }

    fn verdict(&mut self, id: u64, result: &str) -> Vec<Effect> {
        self.raw(&format!(
            r#"{{"t":"signature","id":{id},"result":"{result}"}}"#
        ))
    }
}

fn verifies(fx: &[Effect]) -> Vec<(u64, String, String, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Verify {
                id,
                alg,
                jwk,
                data,
                sig,
            } => {
                assert_eq!(*alg, crate::key::Alg::Es256);
                Some((*id, jwk.clone(), data.clone(), sig.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_token_is_adopted_only_after_its_signature_was_checked_and_inputs_meanwhile_wait_in_order() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 600, 1);
    let (set, fx) = r.raw_set(&t, Some("rt1"));
    // Nothing but the question: no settle, no state, no storage, no timer.
    let asked = verifies(&fx);
    assert_eq!((asked.len(), fx.len()), (1, 1), "{fx:?}");
    let (id, jwk_text, data, sig) = asked[0].clone();
    assert!(KeySet::from_json(jwk_text.as_bytes())
        .unwrap()
        .select(None, crate::key::Alg::Es256)
        .is_ok());
    assert_eq!(format!("{data}.{sig}"), t);
    // A getAccessToken() meanwhile waits behind it.
    let (get, fx) = r.get();
    assert!(fx.is_empty(), "{fx:?}");
    let fx = r.verdict(id, "valid");
    let set_at = fx
        .iter()
        .position(|e| matches!(e, Effect::Settle { call, .. } if call.0 == set));
    let get_at = fx
        .iter()
        .position(|e| matches!(e, Effect::Settle { call, .. } if call.0 == get));
    assert!(set_at.unwrap() < get_at.unwrap(), "{fx:?}");
    assert_eq!(settled(&fx, get), Some(Ok(Some(t.clone()))));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::State {
            authenticated: true,
            ..
        }
    )));
    // The same token again (a peer, storage) asks nothing: the answer is kept.
    let (again, fx) = r.raw_set(&t, Some("rt1"));
    assert!(verifies(&fx).is_empty());
    assert_eq!(settled(&fx, again), Some(Ok(None)));
}

#[test]
fn a_signature_webcrypto_refuses_is_bad_signature_and_the_old_session_stays() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let good = token(Some(NOW_S), NOW_S + 600, 1);
    let (_, fx) = r.set(&good, Some("rt1"), None);
    assert!(
        verifies(&fx).is_empty(),
        "set() answers verify effects itself"
    );
    let forged = token(Some(NOW_S), NOW_S + 900, 2);
    let (call, fx) = r.raw_set(&forged, Some("rt2"));
    let id = verifies(&fx)[0].0;
    let fx = r.verdict(id, "invalid");
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::BadSignature)));
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some(good))));
    // A key WebCrypto would not import (off the curve) is bad_key.
    let other = token(Some(NOW_S), NOW_S + 900, 3);
    let (call, fx) = r.raw_set(&other, None);
    let id = verifies(&fx)[0].0;
    assert_eq!(
        settled(&r.verdict(id, "bad_key"), call),
        Some(Err(ErrorCode::BadKey))
    );
}

#[test]
fn a_malformed_signature_is_refused_before_any_question() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 600, 1);
    let (head, _) = t.rsplit_once('.').unwrap();
    // r = 0, and r = n: never asked, refused by the shape check.
    let zero = [0u8; 64];
    let mut n_r = [0u8; 64];
    n_r[..32].copy_from_slice(&[
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ]);
    n_r[63] = 1;
    for sig in [&zero[..], &n_r[..], &n_r[..63]] {
        let bad = format!("{head}.{}", crate::base64url::encode(sig));
        let (call, fx) = r.raw_set(&bad, None);
        assert!(verifies(&fx).is_empty(), "{fx:?}");
        assert_eq!(settled(&fx, call), Some(Err(ErrorCode::BadSignature)));
    }
}

#[test]
fn a_refreshed_token_that_cannot_be_checked_is_a_transient_failure_never_a_logout() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let id = signed_in_and_due(&mut r);
    let next = token(Some(NOW_S + 500), NOW_S + 1100, 9);
    let fx = r.raw(&answer_input(id, 200, None, &oauth_body(&next, "rt2", 600)));
    let vid = verifies(&fx)[0].0;
    let fx = r.verdict(vid, "unavailable");
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Emit(session::Event::Logout { .. }))),
        "{fx:?}"
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(session::Event::Error { error, will_retry: true, .. })
            if error.code() == ErrorCode::Network
    )));
    // `unavailable` is not kept: the same token is asked about again next time.
    let o = Obj::new()
        .str("t", "set")
        .num("call", 99)
        .str("accessToken", &next)
        .finish();
    assert_eq!(verifies(&r.raw(&o)).len(), 1);
}

#[test]
fn dispose_while_a_signature_is_out_drops_the_held_inputs_and_a_late_answer_does_nothing() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 600, 1);
    let (_, fx) = r.raw_set(&t, Some("rt1"));
    let id = verifies(&fx)[0].0;
    let fx = r.raw(r#"{"t":"dispose"}"#);
    assert!(!fx
        .iter()
        .any(|e| matches!(e, Effect::Settle { .. } | Effect::Store(_))));
    assert!(r.verdict(id, "valid").is_empty());
}

#[test]
fn inputs_without_token_text_never_ask_for_a_signature() {
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let t = token(Some(NOW_S), NOW_S + 600, 1);
    r.set(&t, Some("rt1"), None);
    r.advance(590_000);
    for input in [
        r#"{"t":"get","call":50}"#,
        r#"{"t":"refresh","call":51,"inListener":false}"#,
        r#"{"t":"unauthorized","call":52,"token":"x"}"#,
        r#"{"t":"wake"}"#,
        r#"{"t":"online"}"#,
        r#"{"t":"logout"}"#,
    ] {
        let fx = r.raw(input);
        assert!(verifies(&fx).is_empty(), "{input}: {fx:?}");
    }
}

#[test]
fn a_rotated_refresh_token_that_came_with_an_uncheckable_token_is_the_one_sent_next() {
    // The server retired rt1 when it answered: sending rt1 again is a reuse, which ends the
    // session at a provider with reuse detection.
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let id = signed_in_and_due(&mut r);
    let next = token(Some(NOW_S + 61), NOW_S + 661, 9);
    let fx = r.raw(&answer_input(id, 200, None, &oauth_body(&next, "rt2", 600)));
    r.verdict(verifies(&fx)[0].0, "unavailable");
    let sent = r.advance_until_sent();
    assert_eq!(sent.len(), 1, "the refresh is retried");
    assert!(sent[0].1.contains("refresh_token=rt2"), "{}", sent[0].1);
}

// ---- keys from the provider: a JWKS URL, discovery ----

const JWKS_URL: &str = "https://idp.test/jwks";

fn signer_n(n: u8) -> SigningKey {
    SigningKey::from_slice(&[n; 32]).unwrap()
}

/// The JWK of `signer_n(n)` with `kid`.
fn jwk_n(n: u8, kid: &str) -> String {
    let point = signer_n(n).verifying_key().to_sec1_point(false);
    Obj::new()
        .str("kty", "EC")
        .str("crv", "P-256")
        .str("kid", kid)
        .str("x", &crate::base64url::encode(point.x().unwrap()))
        .str("y", &crate::base64url::encode(point.y().unwrap()))
        .finish()
}

fn jwks(keys: &[String]) -> String {
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

/// An ES256 token signed by `signer_n(n)` naming `kid`.
fn token_n(n: u8, kid: &str, iat: u64, exp: u64) -> String {
    let header = crate::base64url::encode(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#).as_bytes());
    let payload = Obj::new()
        .str("sub", "alice")
        .num("iat", iat)
        .num("exp", exp)
        .finish();
    let input = [header, crate::base64url::encode(payload.as_bytes())].join(".");
    let sig: Signature = signer_n(n)
        .sign_prehash(&crate::sha256::sha256(input.as_bytes()))
        .unwrap();
    [input, crate::base64url::encode(&sig.to_bytes())].join(".")
}

impl Rig {
    fn with_source(options: &str, source: KeySource) -> Self {
        Self {
            core: Core::with_source(options.as_bytes(), source, 1).unwrap(),
            wall: NOW_S * 1000,
            mono: 1_000,
            next_call: 1,
        }
    }

    fn failed(&mut self, id: u64) -> Vec<Effect> {
        self.input(&format!(r#"{{"t":"failed","id":{id},"timeout":false}}"#))
    }
}

/// The `GET` requests among the effects: (id, url).
fn gets(fx: &[Effect]) -> Vec<(u64, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                id,
                method: "GET",
                url,
                ..
            } => Some((*id, url.clone())),
            _ => None,
        })
        .collect()
}

fn posts_to(fx: &[Effect]) -> Vec<(u64, String, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                id,
                method: "POST",
                url,
                body,
                ..
            } => Some((*id, url.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

fn logged_out(fx: &[Effect]) -> bool {
    fx.iter()
        .any(|e| matches!(e, Effect::Emit(session::Event::Logout { .. })))
}

fn jwks_rig() -> Rig {
    let mut r = Rig::with_source(OAUTH, KeySource::Url(JWKS_URL.into()));
    r.start(None, false);
    r
}

#[test]
fn a_jwks_url_is_read_on_first_need_and_inputs_meanwhile_wait() {
    let mut r = jwks_rig();
    let t = token_n(1, "k1", NOW_S, NOW_S + 600);
    let (set, fx) = r.set(&t, Some("rt1"), None);
    let g = gets(&fx);
    assert_eq!(g.len(), 1, "{fx:?}");
    assert_eq!(g[0].1, JWKS_URL);
    assert_eq!(settled(&fx, set), None, "waits for the keys");
    let (get, fx) = r.get();
    assert!(fx.is_empty(), "{fx:?}");
    let fx = r.answer(g[0].0, 200, None, &jwks(&[jwk_n(1, "k1")]));
    assert_eq!(settled(&fx, set), Some(Ok(None)));
    assert_eq!(settled(&fx, get), Some(Ok(Some(t))));
    // The set is kept: the next token by the same key asks nothing.
    let (again, fx) = r.set(&token_n(1, "k1", NOW_S, NOW_S + 700), None, None);
    assert!(gets(&fx).is_empty());
    assert_eq!(settled(&fx, again), Some(Ok(None)));
}

#[test]
fn a_key_rotation_mid_session_is_adopted_after_one_jwks_read_with_no_error_and_no_logout() {
    let mut r = jwks_rig();
    let (_, fx) = r.set(
        &token_n(1, "k1", NOW_S, NOW_S + 120),
        Some("rt1"),
        Some(120),
    );
    let id = gets(&fx)[0].0;
    r.answer(id, 200, None, &jwks(&[jwk_n(1, "k1")]));
    r.advance(61_000);
    let (get, fx) = r.get();
    let refresh = posts_to(&fx);
    assert_eq!(refresh.len(), 1);
    // The provider rotated: the new token names k2, which the cached set lacks.
    let next = token_n(2, "k2", NOW_S + 61, NOW_S + 661);
    let fx = r.answer(refresh[0].0, 200, None, &oauth_body(&next, "rt2", 600));
    let g = gets(&fx);
    assert_eq!(g.len(), 1, "one re-read: {fx:?}");
    let fx = r.answer(g[0].0, 200, None, &jwks(&[jwk_n(1, "k1"), jwk_n(2, "k2")]));
    assert_eq!(settled(&fx, get), Some(Ok(Some(next.clone()))));
    assert!(!logged_out(&fx));
    assert!(!fx
        .iter()
        .any(|e| matches!(e, Effect::Emit(session::Event::Error { .. }))));
}

#[test]
fn tokens_from_an_unpublished_key_are_no_matching_key_and_five_cost_one_re_read() {
    let mut r = jwks_rig();
    let (_, fx) = r.set(&token_n(1, "k1", NOW_S, NOW_S + 600), Some("rt1"), None);
    let id = gets(&fx)[0].0;
    r.answer(id, 200, None, &jwks(&[jwk_n(1, "k1")]));
    r.advance(JWKS_COOLDOWN_MS_FOR_TESTS);
    let mut reads = 0;
    for i in 0..5 {
        let (call, fx) = r.set(&token_n(9, "evil", NOW_S, NOW_S + 600 + i), None, None);
        let g = gets(&fx);
        reads += g.len();
        let fx = match g.first() {
            Some((id, _)) => r.answer(*id, 200, None, &jwks(&[jwk_n(1, "k1")])),
            None => fx,
        };
        assert_eq!(settled(&fx, call), Some(Err(ErrorCode::NoMatchingKey)));
        r.advance(1_000);
    }
    assert_eq!(reads, 1);
    // The session is the one it was.
    let (get, fx) = r.get();
    assert!(matches!(settled(&fx, get), Some(Ok(Some(_)))));
}

const JWKS_COOLDOWN_MS_FOR_TESTS: u64 = remote::JWKS_COOLDOWN_MS;

#[test]
fn the_jwks_endpoint_down_is_network_and_never_a_logout() {
    let mut r = jwks_rig();
    // setSession while the JWKS cannot be read: `network`, nothing adopted.
    let (call, fx) = r.set(
        &token_n(1, "k1", NOW_S, NOW_S + 120),
        Some("rt1"),
        Some(120),
    );
    let fx = r.failed(gets(&fx)[0].0);
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Network)));
    // Later it answers; then, mid-session, it goes down while a rotated token arrives.
    r.advance(JWKS_COOLDOWN_MS_FOR_TESTS);
    let (call, fx) = r.set(
        &token_n(1, "k1", NOW_S + 30, NOW_S + 150),
        Some("rt1"),
        Some(120),
    );
    let fx = r.answer(gets(&fx)[0].0, 200, None, &jwks(&[jwk_n(1, "k1")]));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    r.advance(61_000);
    let (_, fx) = r.get();
    let refresh = posts_to(&fx)[0].0;
    let fx = r.answer(
        refresh,
        200,
        None,
        &oauth_body(&token_n(2, "k2", NOW_S + 91, NOW_S + 700), "rt2", 600),
    );
    let fx = r.answer(gets(&fx)[0].0, 503, None, "");
    assert!(!logged_out(&fx), "{fx:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(session::Event::Error { error, will_retry: true, .. })
            if error.code() == ErrorCode::Network
    )));
    // The old token is still served while it lasts.
    let (get, fx) = r.get();
    assert!(matches!(settled(&fx, get), Some(Ok(Some(_)))), "{fx:?}");
}

#[test]
fn discovery_finds_the_keys_and_the_token_endpoint_and_checks_the_issuer() {
    let opts = r#"{"issuer":"https://idp.test","clientId":"spa","crossTab":false}"#;
    let mut r = Rig::with_source(opts, KeySource::Absent);
    r.start(None, false);
    let t = token_n(1, "k1", NOW_S, NOW_S + 120);
    // Issuer check of the token itself (iss) is the app's `issuer`.
    let t_iss = {
        let header = crate::base64url::encode(br#"{"alg":"ES256","kid":"k1"}"#);
        let payload = Obj::new()
            .str("iss", "https://idp.test")
            .num("iat", NOW_S)
            .num("exp", NOW_S + 120)
            .finish();
        let input = [header, crate::base64url::encode(payload.as_bytes())].join(".");
        let sig: Signature = signer_n(1)
            .sign_prehash(&crate::sha256::sha256(input.as_bytes()))
            .unwrap();
        [input, crate::base64url::encode(&sig.to_bytes())].join(".")
    };
    let (call, fx) = r.set(&t_iss, Some("rt1"), Some(120));
    let g = gets(&fx);
    assert_eq!(g[0].1, "https://idp.test/.well-known/openid-configuration");
    // A document naming another issuer is not the provider's.
    let other = r#"{"issuer":"https://evil.test","jwks_uri":"https://evil.test/keys","token_endpoint":"https://evil.test/token"}"#;
    let fx = r.answer(g[0].0, 200, None, other);
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Network)));
    assert!(
        gets(&fx).is_empty(),
        "nothing is read from the other issuer"
    );
    r.advance(JWKS_COOLDOWN_MS_FOR_TESTS);
    let (call, fx) = r.set(&t_iss, Some("rt1"), Some(120));
    let doc = r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","token_endpoint":"https://idp.test/token"}"#;
    let fx = r.answer(gets(&fx)[0].0, 200, None, doc);
    let g = gets(&fx);
    assert_eq!(g[0].1, "https://idp.test/keys");
    let fx = r.answer(g[0].0, 200, None, &jwks(&[jwk_n(1, "k1")]));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    // A token without the issuer's iss is refused as before.
    let (bad, fx) = r.set(&t, None, None);
    assert_eq!(settled(&fx, bad), Some(Err(ErrorCode::ClaimMismatch)));
    // The refresh goes to the discovered token endpoint, with the client id.
    r.advance(61_000);
    let (_, fx) = r.get();
    let p = posts_to(&fx);
    assert_eq!(p.len(), 1, "{fx:?}");
    assert_eq!(p[0].1, "https://idp.test/token");
    assert!(p[0].2.contains("client_id=spa"), "{}", p[0].2);
}

#[test]
fn dispose_while_the_jwks_is_read_aborts_it_and_a_late_answer_does_nothing() {
    let mut r = jwks_rig();
    let (_, fx) = r.set(&token_n(1, "k1", NOW_S, NOW_S + 600), Some("rt1"), None);
    let id = gets(&fx)[0].0;
    let fx = r.raw(r#"{"t":"dispose"}"#);
    assert!(fx.contains(&Effect::Abort { id }), "{fx:?}");
    let fx = r.answer(id, 200, None, &jwks(&[jwk_n(1, "k1")]));
    assert!(!fx
        .iter()
        .any(|e| matches!(e, Effect::Settle { .. } | Effect::Store(_))));
}

#[test]
fn a_stored_session_that_cannot_be_checked_at_start_is_kept_and_restored_later() {
    let t = token_n(1, "k1", NOW_S, NOW_S + 600);
    let stored = record(&t, "rt1");
    let mut r = Rig::with_source(OAUTH, KeySource::Url(JWKS_URL.into()));
    let fx = r.start(Some(&stored), false);
    let fx = r.failed(gets(&fx)[0].0);
    assert!(!fx.contains(&Effect::Clear), "the record stays: {fx:?}");
    assert!(!logged_out(&fx));
    // Within the cooldown a call is not_authenticated (nothing verified yet)...
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Err(ErrorCode::NotAuthenticated)));
    assert!(!fx.contains(&Effect::Clear));
    // ...after it, the next call reads the keys and restores the session.
    r.advance(JWKS_COOLDOWN_MS_FOR_TESTS);
    let (get, fx) = r.get();
    let fx = r.answer(gets(&fx)[0].0, 200, None, &jwks(&[jwk_n(1, "k1")]));
    assert_eq!(settled(&fx, get), Some(Ok(Some(t))));
}

// ---- ID tokens and opaque access tokens ----

/// A token signed by `signer_n(n)` (kid `k{n}`) with the claims `payload`.
fn jws(n: u8, payload: &str) -> String {
    let header = crate::base64url::encode(format!(r#"{{"alg":"ES256","kid":"k{n}"}}"#).as_bytes());
    let input = [header, crate::base64url::encode(payload.as_bytes())].join(".");
    let sig: Signature = signer_n(n)
        .sign_prehash(&crate::sha256::sha256(input.as_bytes()))
        .unwrap();
    [input, crate::base64url::encode(&sig.to_bytes())].join(".")
}

fn id_token(sub: &str, aud: &str, azp: Option<&str>, exp: u64) -> String {
    let aud_json = if aud.starts_with('[') {
        aud.to_string()
    } else {
        format!("\"{aud}\"")
    };
    let azp = azp.map_or(String::new(), |a| format!(r#","azp":"{a}""#));
    jws(
        1,
        &format!(
            r#"{{"iss":"https://idp.test","sub":"{sub}","aud":{aud_json}{azp},"iat":{NOW_S},"exp":{exp}}}"#
        ),
    )
}

fn state_user(fx: &[Effect]) -> Option<Option<String>> {
    fx.iter().rev().find_map(|e| match e {
        Effect::State { user, .. } => Some(user.clone()),
        _ => None,
    })
}

fn set_with_id(r: &mut Rig, access: &str, id: &str, expires_in: Option<u64>) -> (u64, Vec<Effect>) {
    let call = r.call();
    let o = Obj::new()
        .str("t", "set")
        .num("call", call)
        .str("accessToken", access)
        .str("refreshToken", "rt1")
        .opt_num("expiresIn", expires_in)
        .str("idToken", id)
        .finish();
    (call, r.input(&o))
}

const OIDC: &str = r#"{"issuer":"https://idp.test","clientId":"spa","refresh":{"url":"https://idp.test/token"},"crossTab":false}"#;

fn oidc_rig(options: &str) -> Rig {
    let mut r = Rig::with_source(
        options,
        KeySource::Given(KeySet::from_json(jwks(&[jwk_n(1, "k1")]).as_bytes()).unwrap()),
    );
    r.start(None, false);
    r
}

fn access(exp: u64) -> String {
    jws(
        1,
        &format!(r#"{{"iss":"https://idp.test","sub":"alice","iat":{NOW_S},"exp":{exp}}}"#),
    )
}

#[test]
fn an_id_token_for_this_client_becomes_user_and_one_for_another_client_is_refused() {
    let mut r = oidc_rig(OIDC);
    let id = id_token("alice", "spa", None, NOW_S + 3600);
    let (call, fx) = set_with_id(&mut r, &access(NOW_S + 600), &id, None);
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    let user = state_user(&fx).flatten().unwrap();
    assert!(user.contains(r#""sub":"alice""#), "{user}");
    for (bad, code) in [
        (
            id_token("mallory", "other-app", None, NOW_S + 3600),
            ErrorCode::ClaimMismatch,
        ),
        // Several audiences: azp must name this client.
        (
            id_token("mallory", r#"["spa","other"]"#, None, NOW_S + 3600),
            ErrorCode::ClaimMismatch,
        ),
        (
            id_token("mallory", r#"["spa","other"]"#, Some("other"), NOW_S + 3600),
            ErrorCode::ClaimMismatch,
        ),
        (
            id_token("mallory", "spa", Some("other"), NOW_S + 3600),
            ErrorCode::ClaimMismatch,
        ),
        // Expired when it arrives.
        (
            id_token("mallory", "spa", None, NOW_S - 3600),
            ErrorCode::Expired,
        ),
    ] {
        let (call, fx) = set_with_id(&mut r, &access(NOW_S + 700), &bad, None);
        assert_eq!(settled(&fx, call), Some(Err(code)), "{bad}");
    }
    // The old session and its user stay.
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some(access(NOW_S + 600)))));
    let ok = id_token("alice", r#"["spa","other"]"#, Some("spa"), NOW_S + 3600);
    let (call, _) = set_with_id(&mut r, &access(NOW_S + 800), &ok, None);
    assert_eq!(settled(&r.get().1, call), None);
}

#[test]
fn an_id_token_needs_a_client_id() {
    let mut r = oidc_rig(r#"{"issuer":"https://idp.test","crossTab":false}"#);
    let id = id_token("alice", "spa", None, NOW_S + 3600);
    let (call, fx) = set_with_id(&mut r, &access(NOW_S + 600), &id, None);
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Malformed)));
}

const OPAQUE: &str = r#"{"issuer":"https://idp.test","clientId":"spa","accessTokenFormat":"opaque","refresh":{"url":"https://idp.test/token"},"crossTab":false}"#;

#[test]
fn opaque_access_tokens_live_by_expires_in_and_identity_comes_from_the_id_token() {
    let mut r = oidc_rig(OPAQUE);
    let id = id_token("alice", "spa", None, NOW_S + 3600);
    // Without expiresIn nothing says when an opaque token dies.
    let (call, fx) = set_with_id(&mut r, "opaque-1", &id, None);
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Malformed)));
    let (call, fx) = set_with_id(&mut r, "opaque-1", &id, Some(120));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::State {
            authenticated: true,
            claims: None,
            ..
        }
    )));
    assert!(state_user(&fx).flatten().unwrap().contains("alice"));
    // Refreshed before expires_in runs out; a new ID token must keep the subject.
    r.advance(61_000);
    let (get, fx) = r.get();
    let id1 = sends(&fx)[0].0;
    let other = id_token("mallory", "spa", None, NOW_S + 3600);
    let body = |at: &str, id: &str| {
        Obj::new()
            .str("access_token", at)
            .str("refresh_token", "rt2")
            .num("expires_in", 600)
            .str("token_type", "Bearer")
            .str("id_token", id)
            .finish()
    };
    let fx = r.answer(id1, 200, None, &body("opaque-2", &other));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(session::Event::Error { error, .. }) if error.code() == ErrorCode::ClaimMismatch
    )), "{fx:?}");
    // Not adopted: the waiting call gets the token that is still valid, the user stays.
    assert_eq!(settled(&fx, get), Some(Ok(Some("opaque-1".into()))));
    assert!(state_user(&fx).is_none(), "nothing changed: {fx:?}");
    // The retry brings the right subject: adopted, and the user is the new token's.
    let sent = r.advance_until_sent();
    let fresh = id_token("alice", "spa", None, NOW_S + 7200);
    r.answer(sent[0].0, 200, None, &body("opaque-3", &fresh));
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some("opaque-3".into()))));
    // A refresh answer without an ID token keeps the user.
    r.advance(600_000);
    let (_, fx) = r.get();
    let id3 = sends(&fx)[0].0;
    let plain = oauth_body("opaque-4", "rt4", 600);
    let fx = r.answer(id3, 200, None, &plain);
    assert!(state_user(&fx).is_none_or(|u| u.is_some()), "{fx:?}");
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some("opaque-4".into()))));
}

#[test]
fn an_rsa_key_gets_verify_effects_that_name_the_alg_and_the_options_algorithms_and_typ_apply() {
    use crate::key::Alg;
    use crate::test_rsa::{PS256_TOKEN, RS256_AT_TOKEN, RS256_TOKEN, RSA2048_JWK};
    let mut r = Rig::new(OAUTH, RSA2048_JWK);
    r.start(None, false);
    let (set, fx) = r.raw_set(RS256_TOKEN, Some("rt1"));
    let asked: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Verify { id, alg, jwk, .. } => Some((*id, *alg, jwk.clone(), e.to_json())),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1, "{fx:?}");
    let (id, alg, asked_jwk, json) = asked[0].clone();
    assert_eq!(alg, Alg::Rs256);
    assert!(json.contains(r#""alg":"RS256""#), "{json}");
    // The key as WebCrypto imports it: the RSA JWK, without alg (the shell names it).
    assert!(!asked_jwk.contains("alg"));
    assert_eq!(
        KeySet::from_json(asked_jwk.as_bytes())
            .unwrap()
            .select(None, Alg::Rs256)
            .unwrap(),
        KeySet::from_json(RSA2048_JWK.as_bytes())
            .unwrap()
            .select(None, Alg::Ps256)
            .unwrap()
    );
    let fx = r.verdict(id, "valid");
    assert_eq!(settled(&fx, set), Some(Ok(None)));
    // The native checker (the verifier) answers a PS256 token's effect: adopted.
    let (ps, fx) = r.set(PS256_TOKEN, Some("rt2"), None);
    assert_eq!(settled(&fx, ps), Some(Ok(None)));

    let mut r = Rig::new(
        r#"{"algorithms":["RS256"],"typ":"application/at+jwt","crossTab":false}"#,
        RSA2048_JWK,
    );
    r.start(None, false);
    let (ps, fx) = r.set(PS256_TOKEN, None, None);
    assert_eq!(settled(&fx, ps), Some(Err(ErrorCode::UnsupportedAlg)));
    let (no_typ, fx) = r.set(RS256_TOKEN, None, None);
    assert_eq!(settled(&fx, no_typ), Some(Err(ErrorCode::ClaimMismatch)));
    let (at, fx) = r.set(RS256_AT_TOKEN, None, None);
    assert_eq!(settled(&fx, at), Some(Ok(None)));
    // An EC key never serves an RSA token.
    let mut r = Rig::new(OAUTH, &jwk());
    r.start(None, false);
    let (rs, fx) = r.set(RS256_TOKEN, None, None);
    assert_eq!(settled(&fx, rs), Some(Err(ErrorCode::NoMatchingKey)));
}

// ---- sign-in (authorization code + PKCE) and logout at the provider ----

const SIGNIN: &str = r#"{"issuer":"https://idp.test","clientId":"spa","crossTab":false,
    "metadata":{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/authorize",
    "token_endpoint":"https://idp.test/token","revocation_endpoint":"https://idp.test/revoke",
    "end_session_endpoint":"https://idp.test/logout","authorization_response_iss_parameter_supported":true}}"#;

fn random_json() -> String {
    let bytes: Vec<String> = (1..=64u8).map(|b| b.to_string()).collect();
    format!("[{}]", bytes.join(","))
}

impl Rig {
    /// `loginWithRedirect(options)`: its call and effects.
    fn login(&mut self, options: &str) -> (u64, Vec<Effect>) {
        let call = self.call();
        let random = random_json();
        let text = format!(
            r#"{{"t":"login","call":{call},"options":{options},"random":{random},"origin":"https://app.test"}}"#
        );
        (call, self.input(&text))
    }

    /// `handleRedirectCallback(url)` with the address bar at `url` and `stored` in storage.
    fn callback(&mut self, url: &str, stored: Option<&str>) -> (u64, Vec<Effect>) {
        let call = self.call();
        let o = Obj::new()
            .str("t", "callback")
            .num("call", call)
            .str("url", url)
            .str("address", url)
            .opt_str("transaction", stored)
            .finish();
        (call, self.input(&o))
    }
}

fn stored_transaction(fx: &[Effect]) -> Option<String> {
    fx.iter().find_map(|e| match e {
        Effect::Transaction(Some(t)) => Some(t.clone()),
        _ => None,
    })
}

fn navigated(fx: &[Effect]) -> Option<String> {
    fx.iter().find_map(|e| match e {
        Effect::Navigate(u) => Some(u.clone()),
        _ => None,
    })
}

fn signin_id_token(aud: &str, nonce: &str) -> String {
    jws(
        1,
        &format!(
            r#"{{"iss":"https://idp.test","sub":"alice","aud":"{aud}","nonce":"{nonce}","iat":{NOW_S},"exp":{}}}"#,
            NOW_S + 600
        ),
    )
}

fn code_answer(id_token: Option<&str>) -> String {
    let o = Obj::new()
        .str("access_token", &access(NOW_S + 600))
        .str("refresh_token", "rt-signed-in")
        .num("expires_in", 600)
        .str("token_type", "Bearer");
    match id_token {
        Some(t) => o.str("id_token", t),
        None => o,
    }
    .finish()
}

/// A sign-in begun: the rig and the stored transaction.
fn begun(options: &str) -> (Rig, String, Transaction) {
    let mut r = oidc_rig(SIGNIN);
    let (_, fx) = r.login(options);
    let text = stored_transaction(&fx).expect("a transaction is stored");
    let tx = Transaction::from_json(&text).unwrap();
    (r, text, tx)
}

fn callback_url(tx: &Transaction, extra: &str) -> String {
    format!(
        "https://app.test/cb?code=the-code&state={}&iss=https%3A%2F%2Fidp.test{extra}",
        tx.state
    )
}

#[test]
fn sign_in_stores_the_transaction_then_goes_to_the_provider_with_pkce_state_and_nonce() {
    let mut r = oidc_rig(SIGNIN);
    let (call, fx) = r.login(r#"{"appState":{"returnTo":"/inbox"},"prompt":"login"}"#);
    let text = stored_transaction(&fx).unwrap();
    let tx = Transaction::from_json(&text).unwrap();
    let url = navigated(&fx).unwrap();
    let store_at = fx.iter().position(|e| matches!(e, Effect::Transaction(_)));
    let nav_at = fx.iter().position(|e| matches!(e, Effect::Navigate(_)));
    assert!(store_at < nav_at, "stored before leaving: {fx:?}");
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    let challenge = crate::base64url::encode(&crate::sha256::sha256(tx.verifier.as_bytes()));
    assert!(url.starts_with("https://idp.test/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fapp.test&scope=openid+offline_access&state="), "{url}");
    assert!(url.contains(&format!("&nonce={}", tx.nonce.as_deref().unwrap())));
    assert!(url.contains(&format!(
        "&code_challenge={challenge}&code_challenge_method=S256&prompt=login"
    )));
    assert!(
        !url.contains(&tx.verifier),
        "the verifier never leaves the tab"
    );
    assert_eq!(tx.app_state.as_deref(), Some(r#"{"returnTo":"/inbox"}"#));
    // Without randomness there is no sign-in.
    let call = r.call();
    let fx = r.input(&format!(
        r#"{{"t":"login","call":{call},"options":null,"random":null,"origin":"https://app.test"}}"#
    ));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Unsupported)));
    assert!(navigated(&fx).is_none());
    // Without a client id either.
    let mut r = oidc_rig(
        r#"{"issuer":"https://idp.test","crossTab":false,"metadata":{"authorization_endpoint":"https://idp.test/a"}}"#,
    );
    let (call, fx) = r.login("null");
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Malformed)));
}

#[test]
fn a_callback_handled_twice_exchanges_the_code_once_and_both_get_the_app_state() {
    let (mut r, text, tx) = begun(r#"{"appState":{"n":1}}"#);
    let url = callback_url(&tx, "&keep=1");
    let (first, fx) = r.callback(&url, Some(&text));
    assert!(
        fx.contains(&Effect::Transaction(None)),
        "the transaction is spent: {fx:?}"
    );
    assert!(fx.contains(&Effect::Address("https://app.test/cb?keep=1".into())));
    let p = posts_to(&fx);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].1, "https://idp.test/token");
    assert_eq!(
        p[0].2,
        format!("grant_type=authorization_code&code=the-code&redirect_uri=https%3A%2F%2Fapp.test&client_id=spa&code_verifier={}", tx.verifier)
    );
    // StrictMode: the same callback again while the exchange runs (storage already empty).
    let (second, fx) = r.callback(&url, None);
    assert!(posts_to(&fx).is_empty() && settled(&fx, second).is_none());
    let id = signin_id_token("spa", tx.nonce.as_deref().unwrap());
    let fx = r.answer(p[0].0, 200, None, &code_answer(Some(&id)));
    let expected = Some(Ok(Some(r#"{"appState":{"n":1}}"#.to_string())));
    assert_eq!(settled(&fx, first), expected);
    assert_eq!(settled(&fx, second), expected);
    assert!(state_user(&fx)
        .flatten()
        .is_some_and(|u| u.contains("\"sub\":\"alice\"")));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Store(s) if s.contains("rt-signed-in"))));
    // After success, the same URL again: the same answer, no second exchange.
    let (third, fx) = r.callback(&url, None);
    assert!(posts_to(&fx).is_empty());
    assert_eq!(settled(&fx, third), expected);
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some(access(NOW_S + 600)))));
}

#[test]
fn a_forged_or_unknown_state_is_invalid_state_and_the_real_transaction_stays() {
    let (mut r, text, tx) = begun("null");
    for url in [
        "https://app.test/cb?code=c&state=forged".to_string(),
        "https://app.test/cb?code=c".to_string(),
        format!(
            "https://app.test/cb?code=c&state={}&state={}",
            tx.state, tx.state
        ),
    ] {
        let (call, fx) = r.callback(&url, Some(&text));
        assert_eq!(
            settled(&fx, call),
            Some(Err(ErrorCode::InvalidState)),
            "{url}"
        );
        assert!(!fx.contains(&Effect::Transaction(None)), "{url}");
        assert!(posts_to(&fx).is_empty());
    }
    // No transaction stored at all (another tab, a reload after use).
    let (call, fx) = r.callback(&callback_url(&tx, ""), None);
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::InvalidState)));
    // The real callback still works.
    let (_, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
    assert_eq!(posts_to(&fx).len(), 1);
}

#[test]
fn a_provider_error_is_login_failed_with_the_provider_s_code() {
    let (mut r, text, tx) = begun("null");
    let url = format!(
        "https://app.test/?error=access_denied&error_description=the+user+said+no&state={}",
        tx.state
    );
    let (call, fx) = r.callback(&url, Some(&text));
    let refused = fx.iter().find_map(|e| match e {
        Effect::Refused {
            call: c,
            error,
            provider_error,
            provider_description,
        } if c.0 == call => Some((
            error.code(),
            provider_error.clone(),
            provider_description.clone(),
        )),
        _ => None,
    });
    assert_eq!(
        refused,
        Some((
            ErrorCode::LoginFailed,
            "access_denied".into(),
            Some("the user said no".into())
        ))
    );
    assert!(fx.contains(&Effect::Transaction(None)) && posts_to(&fx).is_empty());
    assert!(fx.contains(&Effect::Address("https://app.test/".into())));
}

#[test]
fn an_id_token_with_another_nonce_or_audience_or_none_at_all_is_refused_and_nothing_is_adopted() {
    for (case, id) in [
        ("nonce", Some(signin_id_token("spa", "someone-elses-nonce"))),
        ("audience", None),
        ("missing", None),
    ] {
        let (mut r, text, tx) = begun("null");
        let id = match case {
            "audience" => Some(signin_id_token("other-app", tx.nonce.as_deref().unwrap())),
            _ => id,
        };
        let (call, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
        let fx = r.answer(posts_to(&fx)[0].0, 200, None, &code_answer(id.as_deref()));
        assert_eq!(
            settled(&fx, call),
            Some(Err(ErrorCode::ClaimMismatch)),
            "{case}"
        );
        assert!(!fx.iter().any(|e| matches!(e, Effect::Store(_))), "{case}");
        let (get, fx) = r.get();
        assert_eq!(
            settled(&fx, get),
            Some(Err(ErrorCode::NotAuthenticated)),
            "{case}"
        );
    }
}

#[test]
fn an_iss_of_another_provider_or_a_missing_promised_one_is_login_failed() {
    for url_of in [
        |tx: &Transaction| {
            format!(
                "https://app.test/cb?code=c&state={}&iss=https%3A%2F%2Fevil.test",
                tx.state
            )
        },
        |tx: &Transaction| format!("https://app.test/cb?code=c&state={}", tx.state),
    ] {
        let (mut r, text, tx) = begun("null");
        let (call, fx) = r.callback(&url_of(&tx), Some(&text));
        assert_eq!(settled(&fx, call), Some(Err(ErrorCode::LoginFailed)));
        assert!(posts_to(&fx).is_empty());
    }
}

#[test]
fn a_callback_after_ten_minutes_is_invalid_state() {
    let (mut r, text, tx) = begun("null");
    r.advance(signin::TRANSACTION_MAX_AGE_MS + 1_000);
    let (call, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::InvalidState)));
    assert!(posts_to(&fx).is_empty());
}

#[test]
fn a_refused_exchange_is_login_failed_and_the_session_before_it_stays() {
    let (mut r, text, tx) = begun("null");
    let (set, fx) = r.set(&access(NOW_S + 300), Some("rt-old"), None);
    assert_eq!(settled(&fx, set), Some(Ok(None)));
    let (call, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
    let fx = r.answer(
        posts_to(&fx)[0].0,
        400,
        None,
        r#"{"error":"invalid_grant"}"#,
    );
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::LoginFailed)));
    assert!(!logged_out(&fx));
    let (get, fx) = r.get();
    assert_eq!(settled(&fx, get), Some(Ok(Some(access(NOW_S + 300)))));
}

/// A rig signed in through the callback (refresh token `rt-signed-in`, an ID token).
fn signed_in() -> (Rig, String) {
    let (mut r, text, tx) = begun("null");
    let (_, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
    let id = signin_id_token("spa", tx.nonce.as_deref().unwrap());
    r.answer(posts_to(&fx)[0].0, 200, None, &code_answer(Some(&id)));
    (r, id)
}

#[test]
fn logout_ends_the_session_first_then_revokes_then_goes_to_the_end_session_page() {
    let (mut r, id) = signed_in();
    let call = r.call();
    let fx = r.input(&format!(
        r#"{{"t":"logout","call":{call},"returnTo":"https://app.test/bye"}}"#
    ));
    let logout_at = fx
        .iter()
        .position(|e| matches!(e, Effect::Emit(session::Event::Logout { .. })));
    let send_at = fx.iter().position(|e| matches!(e, Effect::Send { .. }));
    assert!(
        logout_at.is_some() && logout_at < send_at,
        "local logout first: {fx:?}"
    );
    assert!(fx.contains(&Effect::Clear));
    let revoke = fx.iter().find_map(|e| match e {
        Effect::Send {
            id,
            url,
            body,
            keepalive,
            ..
        } => Some((*id, url.clone(), body.clone(), *keepalive)),
        _ => None,
    });
    let (rid, url, body, keepalive) = revoke.unwrap();
    assert_eq!(
        (url.as_str(), body.as_str(), keepalive),
        (
            "https://idp.test/revoke",
            "token=rt-signed-in&token_type_hint=refresh_token&client_id=spa",
            true
        )
    );
    assert!(
        navigated(&fx).is_none() && settled(&fx, call).is_none(),
        "waits for the revocation"
    );
    // Revocation failing does not keep the user here.
    let fx = r.failed(rid);
    assert_eq!(
        navigated(&fx),
        Some(format!("https://idp.test/logout?id_token_hint={id}&client_id=spa&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2Fbye"))
    );
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    // A bad returnTo still logs out locally.
    let (mut r, _) = signed_in();
    let call = r.call();
    let fx = r.input(&format!(
        r#"{{"t":"logout","call":{call},"returnTo":"/relative"}}"#
    ));
    assert!(logged_out(&fx));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Malformed)));
}

#[test]
fn sign_in_and_logout_wait_for_discovery_but_the_local_logout_does_not() {
    let opts = r#"{"issuer":"https://idp.test","clientId":"spa","crossTab":false}"#;
    let doc = r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","token_endpoint":"https://idp.test/token","authorization_endpoint":"https://idp.test/authorize","end_session_endpoint":"https://idp.test/logout"}"#;
    let mut r = Rig::with_source(opts, KeySource::Absent);
    r.start(None, false);
    let (call, fx) = r.login("null");
    let g = gets(&fx);
    assert_eq!(g[0].1, "https://idp.test/.well-known/openid-configuration");
    assert!(navigated(&fx).is_none());
    let fx = r.answer(g[0].0, 200, None, doc);
    assert!(navigated(&fx).is_some_and(|u| u.starts_with("https://idp.test/authorize?")));
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    // A logout on a fresh page (discovery not read): the session ends at once, the
    // end-session page follows the discovery answer.
    let mut r = Rig::with_source(opts, KeySource::Absent);
    r.start(None, false);
    let call = r.call();
    let fx = r.input(&format!(
        r#"{{"t":"logout","call":{call},"returnTo":"https://app.test/"}}"#
    ));
    assert!(
        fx.contains(&Effect::Clear),
        "the local session ends at once: {fx:?}"
    );
    assert!(navigated(&fx).is_none());
    let g = gets(&fx);
    assert_eq!(g.len(), 1, "{fx:?}");
    let fx = r.answer(g[0].0, 200, None, doc);
    assert_eq!(
        navigated(&fx),
        Some("https://idp.test/logout?client_id=spa&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2F".into())
    );
    assert_eq!(settled(&fx, call), Some(Ok(None)));
}

#[test]
fn a_sign_in_on_a_clock_two_hours_fast_learns_the_server_time_from_the_id_token_without_a_date() {
    for date in [false, true] {
        // The laptop's clock runs two hours ahead of the provider's.
        let mut r = oidc_rig(SIGNIN);
        r.wall += 2 * 3600 * 1000;
        let (_, fx) = r.login("null");
        let text = stored_transaction(&fx).unwrap();
        let tx = Transaction::from_json(&text).unwrap();
        let (call, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
        let id = signin_id_token("spa", tx.nonce.as_deref().unwrap());
        let header = http_date(NOW_S);
        let fx = r.answer(
            posts_to(&fx)[0].0,
            200,
            date.then_some(header.as_str()),
            &code_answer(Some(&id)),
        );
        assert!(
            matches!(settled(&fx, call), Some(Ok(Some(_)))),
            "date {date}: {fx:?}"
        );
        // Its expiry is on the local clock: ten minutes from the local now.
        let at = fx.iter().rev().find_map(|e| match e {
            Effect::State { expires_at_ms, .. } => *expires_at_ms,
            _ => None,
        });
        let left = at.unwrap().saturating_sub(r.wall);
        assert!(
            (590_000..=600_000).contains(&left),
            "date {date}: {left} ms left"
        );
    }
}

#[test]
fn a_sign_in_id_token_without_iat_is_refused() {
    let (mut r, text, tx) = begun("null");
    let (call, fx) = r.callback(&callback_url(&tx, ""), Some(&text));
    let nonce = tx.nonce.as_deref().unwrap();
    let id = jws(
        1,
        &format!(
            r#"{{"iss":"https://idp.test","sub":"alice","aud":"spa","nonce":"{nonce}","exp":{}}}"#,
            NOW_S + 600
        ),
    );
    let fx = r.answer(posts_to(&fx)[0].0, 200, None, &code_answer(Some(&id)));
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::ClaimMismatch)));
}

#[cfg(feature = "dpop")]
mod dpop;
