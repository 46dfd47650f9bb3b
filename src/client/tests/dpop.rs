//! DPoP (RFC 9449) in the client core: the proofs on token requests and resource requests,
//! the server's nonce retried once, the `token_type` and `cnf.jkt` binding, the clock.

use super::*;

/// The shell's DPoP key: the public half of `signer_n(9)`, as `exportKey('jwk')` gives it.
fn dpop_key() -> String {
    let point = signer_n(9).verifying_key().to_sec1_point(false);
    Obj::new()
        .str("kty", "EC")
        .str("crv", "P-256")
        .str("x", &crate::base64url::encode(point.x().unwrap()))
        .str("y", &crate::base64url::encode(point.y().unwrap()))
        .bool("ext", true)
        .finish()
}

fn thumbprint() -> String {
    let point = signer_n(9).verifying_key().to_sec1_point(false);
    let canonical = Obj::new()
        .str("crv", "P-256")
        .str("kty", "EC")
        .str("x", &crate::base64url::encode(point.x().unwrap()))
        .str("y", &crate::base64url::encode(point.y().unwrap()))
        .finish();
    crate::base64url::encode(&crate::sha256::sha256(canonical.as_bytes()))
}

const DPOP: &str =
    r#"{"refresh":{"url":"https://as.test/token","clientId":"c"},"crossTab":false,"dpop":true}"#;

/// An access token bound (`cnf.jkt`) to `jkt`, or to no key, signed by the client's key.
fn bound(iat: u64, exp: u64, jti: u64, jkt: Option<&str>) -> String {
    let cnf = jkt.map(|j| Obj::new().str("jkt", j).finish());
    let o = Obj::new()
        .str("sub", "alice")
        .num("iat", iat)
        .num("exp", exp)
        .num("jti", jti);
    let payload = match cnf {
        Some(c) => o.raw("cnf", &c),
        None => o,
    }
    .finish();
    // `signer()` is `signer_n(7)`, the key of `jwk()`.
    jws(7, &payload)
}

fn dpop_body(access: &str, refresh: &str, token_type: &str) -> String {
    Obj::new()
        .str("access_token", access)
        .str("refresh_token", refresh)
        .num("expires_in", 3600)
        .str("token_type", token_type)
        .finish()
}

fn dpop_rig() -> Rig {
    let mut r = Rig::new(DPOP, &jwk());
    let key = dpop_key();
    r.input(&format!(
        r#"{{"t":"start","stored":null,"channel":false,"dpop":{{"jwk":{key},"random":[{}]}}}}"#,
        ["3"; 32].join(",")
    ));
    r
}

/// The proofs (signing inputs) of the token requests among the effects: (id, input).
fn proofs(fx: &[Effect]) -> Vec<(u64, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                id, dpop: Some(p), ..
            } => Some((*id, p.clone())),
            _ => None,
        })
        .collect()
}

/// Signs a signing input as the shell does (WebCrypto ECDSA P-256 SHA-256, `r‖s`), checks the
/// proof with the crate's own ES256 verifier under the `jwk` of its header, and returns its
/// header and claims.
fn checked(input: &str) -> (json::Object, json::Object) {
    let sig: Signature = signer_n(9)
        .sign_prehash(&crate::sha256::sha256(input.as_bytes()))
        .unwrap();
    let sig = crate::base64url::encode(&sig.to_bytes());
    let (h, p) = input.split_once('.').unwrap();
    let header =
        json::parse_object(&crate::base64url::decode(h.as_bytes(), "").unwrap(), "").unwrap();
    let jwk = header.get("jwk").and_then(Value::as_object).unwrap();
    let mut jwk_text = String::new();
    json::push_value(&mut jwk_text, &Value::Object(jwk.clone()));
    assert_eq!(
        crate::verify::signature_verdict("ES256", &jwk_text, input, &sig),
        "valid"
    );
    // The header's jwk is the key's public half and nothing else.
    assert!(jwk.get("d").is_none() && jwk.get("ext").is_none());
    let claims =
        json::parse_object(&crate::base64url::decode(p.as_bytes(), "").unwrap(), "").unwrap();
    (header, claims)
}

/// Moves the clocks a second at a time (at most 2 min), calling `getAccessToken()`, until a
/// token request with a proof goes out (a retry on the backoff); the effects then.
fn next_proofs(r: &mut Rig) -> Vec<Effect> {
    for _ in 0..120 {
        r.advance(1_000);
        let fx = r.get().1;
        if !proofs(&fx).is_empty() {
            return fx;
        }
    }
    Vec::new()
}

fn claim<'a>(o: &'a json::Object, name: &str) -> Option<&'a str> {
    o.get(name).and_then(Value::as_str)
}

fn iat(o: &json::Object) -> u64 {
    o.get("iat").and_then(|v| v.as_whole(u64::MAX)).unwrap()
}

fn with_nonce(id: u64, status: u16, body: &str, nonce: &str, date: Option<&str>) -> String {
    Obj::new()
        .str("t", "answer")
        .num("id", id)
        .num("status", u64::from(status))
        .opt_str("date", date)
        .str("dpopNonce", nonce)
        .str("body", body)
        .finish()
}

fn errors(fx: &[Effect]) -> Vec<(ErrorCode, bool)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Emit(session::Event::Error {
                error, will_retry, ..
            }) => Some((error.code(), *will_retry)),
            _ => None,
        })
        .collect()
}

#[test]
fn setup_names_the_key_of_this_configuration() {
    let r = dpop_rig();
    let setup = json::parse_object(r.core.setup_json().as_bytes(), "").unwrap();
    let key = claim(&setup, "key").unwrap();
    assert_eq!(claim(&setup, "dpop"), Some(format!("{key}:dpop").as_str()));
    // A bearer configuration has none, and never shares the DPoP one's stored session.
    let bearer = Rig::new(OAUTH, &jwk());
    let setup_b = json::parse_object(bearer.core.setup_json().as_bytes(), "").unwrap();
    assert_eq!(setup_b.get("dpop"), None);
    assert_ne!(claim(&setup_b, "key"), Some(key));
}

#[test]
fn only_a_token_bound_to_this_key_is_adopted() {
    let mut r = dpop_rig();
    let jkt = thumbprint();
    for (token, why) in [
        (bound(NOW_S, NOW_S + 600, 1, None), "no cnf"),
        (
            bound(NOW_S, NOW_S + 600, 2, Some("another-key")),
            "another key",
        ),
        (token(Some(NOW_S), NOW_S + 600, 3), "a bearer token"),
    ] {
        let (call, fx) = r.set(&token, Some("rt"), None);
        assert_eq!(
            settled(&fx, call),
            Some(Err(ErrorCode::ClaimMismatch)),
            "{why}"
        );
    }
    assert!(!r.core.session().is_authenticated());
    let (call, fx) = r.set(&bound(NOW_S, NOW_S + 600, 4, Some(&jkt)), Some("rt"), None);
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    assert!(r.core.session().is_authenticated());
}

#[test]
fn without_the_key_nothing_is_adopted() {
    let mut r = Rig::new(DPOP, &jwk());
    r.start(None, false);
    let (call, fx) = r.set(
        &bound(NOW_S, NOW_S + 600, 1, Some(&thumbprint())),
        None,
        None,
    );
    assert_eq!(settled(&fx, call), Some(Err(ErrorCode::Unsupported)));
}

#[test]
fn a_refresh_carries_a_proof_and_needs_token_type_dpop() {
    let mut r = dpop_rig();
    let jkt = thumbprint();
    r.set(&bound(NOW_S, NOW_S + 70, 1, Some(&jkt)), Some("rt1"), None);
    let sent = r.advance_until_sent();
    assert_eq!(sent.len(), 1);
    r.answer(sent[0].0, 500, None, "");
    // The retry after the 5xx: a proof for this request.
    let fx = next_proofs(&mut r);
    let (id, input) = proofs(&fx).pop().expect("the refresh carries a proof");
    let (header, claims) = checked(&input);
    assert_eq!(claim(&header, "typ"), Some("dpop+jwt"));
    assert_eq!(claim(&header, "alg"), Some("ES256"));
    assert_eq!(claim(&claims, "htm"), Some("POST"));
    assert_eq!(claim(&claims, "htu"), Some("https://as.test/token"));
    assert_eq!(iat(&claims), r.wall / 1000);
    assert!(claims.get("ath").is_none(), "no ath on a token request");
    // A server that did not bind the new token (Bearer) is not believed.
    let fresh = bound(r.wall / 1000, r.wall / 1000 + 3600, 2, Some(&jkt));
    let fx = r.answer(id, 200, None, &dpop_body(&fresh, "rt2", "Bearer"));
    assert_eq!(errors(&fx), [(ErrorCode::BadResponse, true)]);
    assert!(!logged_out(&fx));
    assert_ne!(r.core.session().access_token(), Some(fresh.as_str()));
    // The next attempt, answered DPoP: adopted.
    let fx = next_proofs(&mut r);
    let (id, _) = proofs(&fx).pop().unwrap();
    let fresh = bound(r.wall / 1000, r.wall / 1000 + 3600, 3, Some(&jkt));
    r.answer(id, 200, None, &dpop_body(&fresh, "rt3", "DPoP"));
    assert_eq!(r.core.session().access_token(), Some(fresh.as_str()));
}

#[test]
fn a_nonce_demanded_is_sent_again_once_and_used_from_then_on() {
    let mut r = dpop_rig();
    let jkt = thumbprint();
    r.set(&bound(NOW_S, NOW_S + 70, 1, Some(&jkt)), Some("rt1"), None);
    let sent = r.advance_until_sent();
    let id = sent[0].0;
    let demand = r#"{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}"#;
    let fx = r.input(&with_nonce(id, 400, demand, "n-1", None));
    // The same request again (same id, same body), its proof with the nonce; nothing else.
    let again = proofs(&fx);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, id);
    assert_eq!(sends(&fx), [(id, sent[0].1.clone())]);
    let (_, claims) = checked(&again[0].1);
    assert_eq!(claim(&claims, "nonce"), Some("n-1"));
    assert!(errors(&fx).is_empty() && !logged_out(&fx));
    // Demanded again (the nonce rotated meanwhile): not a third time in a row; a transient
    // failure, never a logout.
    let fx = r.input(&with_nonce(id, 400, demand, "n-2", None));
    assert!(proofs(&fx).is_empty());
    assert_eq!(errors(&fx), [(ErrorCode::BadResponse, true)]);
    assert!(!logged_out(&fx));
    // The backoff's next attempt carries the newest nonce, and succeeds.
    let fx = next_proofs(&mut r);
    let (id, input) = proofs(&fx).pop().unwrap();
    assert_eq!(claim(&checked(&input).1, "nonce"), Some("n-2"));
    let fresh = bound(r.wall / 1000, r.wall / 1000 + 3600, 2, Some(&jkt));
    r.input(&with_nonce(
        id,
        200,
        &dpop_body(&fresh, "rt2", "DPoP"),
        "n-3",
        None,
    ));
    assert_eq!(r.core.session().access_token(), Some(fresh.as_str()));
    // A nonce given with a success is kept for the next proof too.
    let call = r.call();
    let fx = r.input(&format!(
        r#"{{"t":"proof","call":{call},"method":"GET","url":"https://as.test/userinfo","token":"x"}}"#
    ));
    let input = settled(&fx, call).unwrap().unwrap().unwrap();
    assert_eq!(claim(&checked(&input).1, "nonce"), Some("n-3"));
}

#[test]
fn a_proof_is_dated_by_the_server_clock_once_an_answer_told_it() {
    // The laptop's clock is two hours fast; the token endpoint's Date says so.
    let mut r = dpop_rig();
    let jkt = thumbprint();
    let server_s = NOW_S;
    r.wall += 2 * 3600 * 1000;
    let (call, fx) = r.set(
        &bound(server_s, server_s + 3600, 1, Some(&jkt)),
        Some("rt1"),
        None,
    );
    // Looks expired by the local clock: the core asks the server (a refresh) first.
    let (id, input) = proofs(&fx).pop().expect("a probe with a proof");
    let _ = checked(&input);
    let demand = r#"{"error":"use_dpop_nonce"}"#;
    let fx = r.input(&with_nonce(
        id,
        400,
        demand,
        "n",
        Some(&http_date(server_s)),
    ));
    let (_, input) = proofs(&fx).pop().expect("sent again with the nonce");
    let (_, claims) = checked(&input);
    assert_eq!(
        iat(&claims),
        server_s,
        "iat on the server's clock, not the laptop's"
    );
    let fresh = bound(server_s, server_s + 3600, 2, Some(&jkt));
    let fx = r.answer(
        id,
        200,
        Some(&http_date(server_s)),
        &dpop_body(&fresh, "rt2", "DPoP"),
    );
    assert_eq!(settled(&fx, call), Some(Ok(None)));
    assert!(r.core.session().is_authenticated());
}

#[test]
fn resource_requests_get_proofs_with_ath_and_one_nonce_replay() {
    let mut r = dpop_rig();
    let jkt = thumbprint();
    let at = bound(NOW_S, NOW_S + 600, 1, Some(&jkt));
    r.set(&at, Some("rt"), None);
    let proof = |r: &mut Rig, url: &str| {
        let call = r.call();
        let o = Obj::new()
            .str("t", "proof")
            .num("call", call)
            .str("method", "GET")
            .str("url", url)
            .str("token", &at)
            .finish();
        let fx = r.input(&o);
        settled(&fx, call).unwrap().unwrap().unwrap()
    };
    let (_, claims) = checked(&proof(&mut r, "https://api.test/me?x=1"));
    assert_eq!(claim(&claims, "htm"), Some("GET"));
    assert_eq!(claim(&claims, "htu"), Some("https://api.test/me"));
    assert_eq!(
        claim(&claims, "ath"),
        Some(crate::base64url::encode(&crate::sha256::sha256(at.as_bytes())).as_str())
    );
    assert!(claims.get("nonce").is_none());
    let step = |r: &mut Rig, challenge: &str, nonce: Option<&str>, nonce_done: bool| {
        let call = r.call();
        let o = Obj::new()
            .str("t", "resource")
            .num("call", call)
            .str("url", "https://api.test/me")
            .num("status", 401)
            .str("challenge", challenge)
            .opt_str("nonce", nonce)
            .bool("nonceDone", nonce_done)
            .bool("refreshDone", false)
            .finish();
        let fx = r.input(&o);
        settled(&fx, call).unwrap().unwrap().unwrap()
    };
    let demand = r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#;
    assert_eq!(step(&mut r, demand, Some("rs-1"), false), "nonce");
    let (_, claims) = checked(&proof(&mut r, "https://api.test/other"));
    assert_eq!(
        claim(&claims, "nonce"),
        Some("rs-1"),
        "the resource server's own nonce"
    );
    // The authorization server's nonces are its own.
    assert_eq!(step(&mut r, demand, Some("rs-2"), true), "done", "once");
    assert_eq!(step(&mut r, demand, None, false), "done", "no nonce to use");
    assert_eq!(
        step(&mut r, r#"DPoP error="invalid_token""#, None, false),
        "refresh"
    );
    assert_eq!(
        step(&mut r, r#"DPoP error="insufficient_scope""#, None, false),
        "done"
    );
}

#[test]
fn the_code_exchange_carries_a_proof() {
    let options = r#"{"clientId":"c","dpop":true,"crossTab":false,"metadata":{"authorization_endpoint":"https://as.test/authorize","token_endpoint":"https://as.test/token"}}"#;
    let mut r = Rig::new(options, &jwk());
    let key = dpop_key();
    r.input(&format!(
        r#"{{"t":"start","stored":null,"channel":false,"dpop":{{"jwk":{key},"random":[{}]}}}}"#,
        ["4"; 32].join(",")
    ));
    let call = r.call();
    let random = ["5"; 64].join(",");
    let fx = r.input(&format!(
        r#"{{"t":"login","call":{call},"options":null,"random":[{random}],"origin":"https://app.test"}}"#
    ));
    let tx = fx
        .iter()
        .find_map(|e| match e {
            Effect::Transaction(Some(t)) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    let state = Transaction::from_json(&tx).unwrap().state;
    let call = r.call();
    let url = format!("https://app.test/?code=abc&state={state}");
    let o = Obj::new()
        .str("t", "callback")
        .num("call", call)
        .str("url", &url)
        .str("transaction", &tx)
        .finish();
    let fx = r.input(&o);
    let (_, input) = proofs(&fx).pop().expect("the exchange carries a proof");
    let (_, claims) = checked(&input);
    assert_eq!(claim(&claims, "htu"), Some("https://as.test/token"));
}
