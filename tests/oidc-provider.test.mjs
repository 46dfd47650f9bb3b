// The certified OpenID provider used for interop tests (tests/helpers/oidc-provider.mjs):
// node --test tests/oidc-provider.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';
import { launchBrowser, startStaticServer } from './helpers/browser.mjs';
import { createDpopProof, dpopThumbprint, parseDpopChallenge, startOidcProvider } from './helpers/oidc-provider.mjs';

const PAGE_ORIGIN = 'http://127.0.0.1:5173';

const form = (fields) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('oidc-provider (RS256, JWT access tokens)', () => {
  let op;
  let tokens;

  before(async () => {
    op = await startOidcProvider({ alg: 'RS256', allowedOrigins: [PAGE_ORIGIN], accessTokenTtl: 90 });
    tokens = await op.obtainTokens({ nonce: 'n-123' });
  });
  after(() => op.close());

  const jwks = () => jose.createRemoteJWKSet(new URL(op.jwksUri), { cacheMaxAge: 0, cooldownDuration: 0 });

  test('listens on 127.0.0.1; discovery names the issuer exactly and the endpoints', async () => {
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(op.port, Number(new URL(op.issuer).port));
    const doc = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, op.issuer);
    assert.equal(doc.jwks_uri, `${op.issuer}/jwks`);
    assert.equal(doc.token_endpoint, `${op.issuer}/token`);
    assert.ok(doc.authorization_endpoint.startsWith(op.issuer));
    assert.ok(doc.revocation_endpoint.startsWith(op.issuer));
    assert.ok(doc.end_session_endpoint.startsWith(op.issuer));
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    assert.ok(doc.grant_types_supported.includes('refresh_token'));
    assert.ok(doc.id_token_signing_alg_values_supported.includes('RS256'));
    const { keys } = await (await fetch(doc.jwks_uri)).json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kid, op.kid);
    assert.equal(keys[0].kty, 'RSA');
    assert.equal(keys[0].alg, 'RS256');
    assert.equal(keys[0].use, 'sig');
    assert.equal(keys[0].d, undefined, 'no private part');
  });

  test('the code flow gives an RS256 JWT access token for the resource, verified against jwks_uri', async () => {
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 90);
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks(), {
      issuer: op.issuer,
      audience: op.audience,
      algorithms: ['RS256'],
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.kid, op.kid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, op.clientId);
    assert.equal(payload.exp - payload.iat, 90);
  });

  test('the ID token is for the client, with the nonce', async () => {
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks(), {
      issuer: op.issuer,
      audience: op.clientId,
      algorithms: ['RS256'],
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.nonce, 'n-123');
  });

  test('refresh from Node rotates the refresh token; the old one is then refused invalid_grant', async () => {
    const first = await op.obtainTokens({ account: 'bob' });
    const res = await fetch(op.tokenEndpoint, form({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: op.clientId }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(body.refresh_token);
    assert.notEqual(body.refresh_token, first.refresh_token);
    const { payload } = await jose.jwtVerify(body.access_token, jwks(), { issuer: op.issuer, audience: op.audience });
    assert.equal(payload.sub, 'bob');
    await jose.jwtVerify(body.id_token, jwks(), { issuer: op.issuer, audience: op.clientId });

    const reused = await fetch(op.tokenEndpoint, form({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: op.clientId }));
    assert.equal(reused.status, 400);
    assert.equal((await reused.json()).error, 'invalid_grant');
    // Reuse detection: the whole grant is gone, the rotated token too.
    const { status, body: after } = await op.refresh(body.refresh_token);
    assert.equal(status, 400);
    assert.equal(after.error, 'invalid_grant');
  });

  test('the code flow without prompt=consent and offline_access still issues a refresh token', async () => {
    const t = await op.obtainTokens({ scope: 'openid', prompt: null });
    assert.ok(t.refresh_token);
    assert.equal((await op.refresh(t.refresh_token)).status, 200);
  });

  test('CORS: a preflighted POST from an allowed Origin gets the headers, Date exposed; others are refused', async () => {
    const fresh = await op.obtainTokens();
    const pre = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: PAGE_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /content-type/i);

    const init = form({ grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: op.clientId });
    const res = await fetch(op.tokenEndpoint, { ...init, headers: { ...init.headers, Origin: PAGE_ORIGIN } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    const exposed = res.headers.get('access-control-expose-headers').split(',').map((s) => s.trim());
    assert.ok(exposed.includes('Date'), exposed.join());
    assert.ok(res.headers.get('date'));
    const body = await res.json();

    const other = await fetch(op.tokenEndpoint, {
      ...form({ grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: op.clientId }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://127.0.0.1:1' },
    });
    assert.equal(other.status, 400);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal((await other.json()).error, 'invalid_request');
    // The refused request did not spend the refresh token.
    assert.equal((await op.refresh(body.refresh_token)).status, 200);
  });

  test('PKCE is required: an authorization request without code_challenge is refused', async () => {
    const auth = new URL(op.discovery.authorization_endpoint);
    for (const [k, v] of Object.entries({ client_id: op.clientId, response_type: 'code', redirect_uri: op.redirectUri, scope: 'openid', state: 's' })) {
      auth.searchParams.set(k, v);
    }
    const res = await fetch(auth, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, op.redirectUri);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description'), /PKCE/);
  });

  test('RFC 7009 revocation of a refresh token', async () => {
    const t = await op.obtainTokens();
    const res = await fetch(op.discovery.revocation_endpoint, form({ token: t.refresh_token, client_id: op.clientId }));
    assert.equal(res.status, 200);
    assert.equal((await op.refresh(t.refresh_token)).body.error, 'invalid_grant');
  });

  test('rotateKeys: new kid published beside the old, new tokens under it; unpublished and dropped keys', async () => {
    const t = await op.obtainTokens();
    const oldKid = op.kid;
    const { kid } = await op.rotateKeys();
    assert.notEqual(kid, oldKid);
    const kids = async () => (await (await fetch(op.jwksUri)).json()).keys.map((k) => k.kid);
    assert.deepEqual(await kids(), [kid, oldKid]);
    // The session survived the rotation: the refresh token still works and signs with the new key.
    const { status, body } = await op.refresh(t.refresh_token);
    assert.equal(status, 200);
    const verified = await jose.jwtVerify(body.access_token, jwks(), { issuer: op.issuer, audience: op.audience });
    assert.equal(verified.protectedHeader.kid, kid);
    await jose.jwtVerify(t.access_token, jwks(), { issuer: op.issuer, audience: op.audience });

    const hidden = await op.rotateKeys({ publish: false });
    assert.deepEqual(await kids(), [kid, oldKid]);
    const next = await op.refresh(body.refresh_token);
    assert.equal(jose.decodeProtectedHeader(next.body.access_token).kid, hidden.kid);
    await assert.rejects(jose.jwtVerify(next.body.access_token, jwks()), { code: 'ERR_JWKS_NO_MATCHING_KEY' });

    const last = await op.rotateKeys({ dropOld: true });
    assert.deepEqual(await kids(), [last.kid]);
    assert.deepEqual(op.jwks.keys.map((k) => k.kid), [last.kid]);
  });
});

describe('oidc-provider variants', () => {
  for (const alg of ['PS256', 'ES256']) {
    test(`${alg}: access and ID tokens signed with ${alg}`, async () => {
      const op = await startOidcProvider({ alg });
      try {
        const t = await op.obtainTokens();
        const jwks = jose.createRemoteJWKSet(new URL(op.jwksUri));
        const at = await jose.jwtVerify(t.access_token, jwks, { issuer: op.issuer, audience: op.audience, algorithms: [alg] });
        assert.equal(at.protectedHeader.alg, alg);
        const id = await jose.jwtVerify(t.id_token, jwks, { issuer: op.issuer, audience: op.clientId, algorithms: [alg] });
        assert.equal(id.protectedHeader.alg, alg);
      } finally {
        await op.close();
      }
    });
  }

  test('opaque access tokens: not a JWT, expires_in given, identity in the ID token, refreshable', async () => {
    const op = await startOidcProvider({ accessTokenFormat: 'opaque', accessTokenTtl: 60 });
    try {
      const t = await op.obtainTokens();
      assert.equal(t.access_token.split('.').length, 1);
      assert.equal(t.expires_in, 60);
      const jwks = jose.createRemoteJWKSet(new URL(op.jwksUri));
      assert.equal((await jose.jwtVerify(t.id_token, jwks, { issuer: op.issuer, audience: op.clientId })).payload.sub, 'alice');
      const { status, body } = await op.refresh(t.refresh_token);
      assert.equal(status, 200);
      assert.equal(body.access_token.split('.').length, 1);
      assert.notEqual(body.refresh_token, t.refresh_token);
    } finally {
      await op.close();
    }
  });

  test('issuer on localhost; redirect URIs given; close() is idempotent and frees the port', async () => {
    const op = await startOidcProvider({ issuerHost: 'localhost', redirectUris: [`${PAGE_ORIGIN}/callback.html`] });
    const doc = await (await fetch(`http://127.0.0.1:${op.port}/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, `http://localhost:${op.port}`);
    assert.equal(op.issuer, doc.issuer);
    assert.equal(op.redirectUri, `${PAGE_ORIGIN}/callback.html`);
    // The redirect URI's origin may call the token endpoint.
    const res = await fetch(`http://127.0.0.1:${op.port}/token`, {
      ...form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: op.clientId }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: PAGE_ORIGIN },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    await op.close();
    await op.close();
    await assert.rejects(fetch(`http://127.0.0.1:${op.port}/jwks`), TypeError);
  });

  test('bad options throw', async () => {
    await assert.rejects(startOidcProvider({ alg: 'HS256' }), TypeError);
    await assert.rejects(startOidcProvider({ accessTokenFormat: 'paseto' }), TypeError);
    await assert.rejects(startOidcProvider({ accessTokenTtl: 0 }), TypeError);
  });
});

// ---- DPoP (RFC 9449) ----

const newKey = () => jose.generateKeyPair('ES256');
const exposedList = (res) => (res.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());

/** A refresh_token POST to the token endpoint with exactly the proof given (no retry). */
async function rawRefresh(op, refreshToken, proof, headers = {}) {
  const init = form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: op.clientId });
  const res = await fetch(op.tokenEndpoint, { ...init, headers: { ...init.headers, ...(proof ? { DPoP: proof } : {}), ...headers } });
  return { res, body: await res.json() };
}

/** GET /api/me with `Authorization: <scheme> <token>` and the given proof(s) (or promises of them); resolves { res, body, challenge }. */
async function callApi(op, token, proof, { scheme = 'DPoP', headers = {} } = {}) {
  const h = new Headers(headers);
  if (token !== undefined) h.set('Authorization', `${scheme} ${token}`);
  for (const p of await Promise.all([proof].flat())) if (p) h.append('DPoP', p);
  const res = await fetch(op.apiUrl, { headers: h });
  return { res, body: await res.json(), challenge: parseDpopChallenge(res.headers.get('www-authenticate')) };
}

const apiProof = (op, key, accessToken, extra = {}) => createDpopProof(key, { htm: 'GET', htu: op.apiUrl, accessToken, ...extra });

describe('oidc-provider with DPoP off (dpop: false, the default)', () => {
  test('features.dPoP is off: no dpop_signing_alg_values_supported, a DPoP header is ignored and the tokens are Bearer', async () => {
    const op = await startOidcProvider();
    try {
      assert.equal(op.dpop, false);
      assert.equal(op.discovery.dpop_signing_alg_values_supported, undefined);
      const t = await op.obtainTokens({ dpopKey: await newKey() });
      assert.equal(t.token_type, 'Bearer');
      assert.equal(jose.decodeJwt(t.access_token).cnf, undefined);
      const [exchange] = op.tokenLog;
      assert.equal(exchange.grantType, 'authorization_code');
      assert.equal(typeof exchange.proof.jti, 'string', 'the proof was sent');
      assert.equal(exchange.tokenType, 'Bearer');
    } finally {
      await op.close();
    }
  });

  test('bad dpop values throw', async () => {
    for (const dpop of ['required', 1, null]) await assert.rejects(startOidcProvider({ dpop }), TypeError);
  });
});

describe('oidc-provider with DPoP (dpop: true)', () => {
  let op;
  let key;
  let tokens;
  before(async () => {
    op = await startOidcProvider({ dpop: true, allowedOrigins: [PAGE_ORIGIN] });
    key = await newKey();
    tokens = await op.obtainTokens({ dpopKey: key });
  });
  after(() => op.close());

  const jwks = () => jose.createLocalJWKSet(op.jwks);

  test('discovery lists ES256 in dpop_signing_alg_values_supported', () => {
    assert.ok(op.discovery.dpop_signing_alg_values_supported.includes('ES256'), op.discovery.dpop_signing_alg_values_supported.join());
  });

  test('the code exchange with a proof gives token_type DPoP and a JWT access token with cnf.jkt = the key thumbprint; the provider logged the proof', async () => {
    assert.equal(tokens.token_type, 'DPoP');
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks(), { issuer: op.issuer, audience: op.audience, typ: 'at+jwt' });
    assert.deepEqual(payload.cnf, { jkt: await dpopThumbprint(key) });
    const exchange = op.tokenLog.find((r) => r.grantType === 'authorization_code');
    assert.equal(exchange.status, 200);
    assert.equal(exchange.tokenType, 'DPoP');
    assert.equal(exchange.proof.jkt, await dpopThumbprint(key));
    assert.equal(exchange.proof.nonce, null);
    assert.equal(exchange.dpopNonce, null, 'no nonce without a nonce secret');
  });

  test('without a proof the same provider still issues Bearer tokens (binding is the client\'s choice)', async () => {
    const t = await op.obtainTokens();
    assert.equal(t.token_type, 'Bearer');
    assert.equal(jose.decodeJwt(t.access_token).cnf, undefined);
    // A Bearer session refreshed with a proof becomes DPoP-bound.
    const r = await op.refresh(t.refresh_token, { dpopKey: key });
    assert.equal(r.status, 200);
    assert.equal(r.body.token_type, 'DPoP');
    assert.equal(jose.decodeJwt(r.body.access_token).cnf.jkt, await dpopThumbprint(key));
  });

  test('the refresh token is bound: the same key refreshes; another key or no proof is 400 invalid_grant (failed jkt verification) and the session survives', async () => {
    const t = await op.obtainTokens({ dpopKey: key });
    const same = await op.refresh(t.refresh_token, { dpopKey: key });
    assert.equal(same.status, 200);
    assert.equal(same.body.token_type, 'DPoP');
    assert.notEqual(same.body.refresh_token, t.refresh_token);
    assert.equal(jose.decodeJwt(same.body.access_token).cnf.jkt, await dpopThumbprint(key));

    const stolen = await op.refresh(same.body.refresh_token, { dpopKey: await newKey() });
    assert.equal(stolen.status, 400);
    assert.deepEqual(stolen.body, { error: 'invalid_grant', error_description: 'grant request is invalid' });
    assert.equal(stolen.attempts.length, 1, 'no nonce retry');
    const bare = await op.refresh(same.body.refresh_token);
    assert.deepEqual([bare.status, bare.body.error], [400, 'invalid_grant']);
    assert.deepEqual(op.tokenLog.slice(-2).map((r) => r.errorDetail), ['failed jkt verification', 'failed jkt verification']);
    // Neither refusal spent the token or ended the grant.
    const again = await op.refresh(same.body.refresh_token, { dpopKey: key });
    assert.equal(again.status, 200);
  });

  test('token endpoint: a replayed proof is invalid_grant, a proof for another URL invalid_dpop_proof, an old iat invalid_dpop_proof, a nonce invalid_dpop_proof', async () => {
    const t = await op.obtainTokens({ dpopKey: key });
    const proof = await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint });
    const first = await rawRefresh(op, t.refresh_token, proof);
    assert.equal(first.res.status, 200);
    const replay = await rawRefresh(op, first.body.refresh_token, proof);
    assert.deepEqual([replay.res.status, replay.body.error], [400, 'invalid_grant']);
    assert.equal(op.tokenLog.at(-1).errorDetail, 'DPoP proof JWT Replay detected');
    const rt = first.body.refresh_token;
    const wrongHtu = await rawRefresh(op, rt, await createDpopProof(key, { htm: 'POST', htu: `${op.issuer}/elsewhere` }));
    assert.deepEqual([wrongHtu.res.status, wrongHtu.body], [400, { error: 'invalid_dpop_proof', error_description: 'DPoP proof htu mismatch' }]);
    const wrongHtm = await rawRefresh(op, rt, await createDpopProof(key, { htm: 'GET', htu: op.tokenEndpoint }));
    assert.deepEqual([wrongHtm.res.status, wrongHtm.body], [400, { error: 'invalid_dpop_proof', error_description: 'DPoP proof htm mismatch' }]);
    // oidc-provider's window for iat without a nonce is 300 s.
    const old = await rawRefresh(op, rt, await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint, iat: Math.floor(Date.now() / 1000) - 301 }));
    assert.deepEqual([old.res.status, old.body], [400, { error: 'invalid_dpop_proof', error_description: 'DPoP proof iat is not recent enough' }]);
    const nonce = await rawRefresh(op, rt, await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint, nonce: 'n' }));
    assert.deepEqual([nonce.res.status, nonce.body], [400, { error: 'invalid_dpop_proof', error_description: 'DPoP nonces are not supported' }]);
    // None of them spent the refresh token.
    assert.equal((await op.refresh(rt, { dpopKey: key })).status, 200);
  });

  test('CORS at the token endpoint: the preflight allows the DPoP header; answers expose DPoP-Nonce, WWW-Authenticate and Date', async () => {
    const pre = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: PAGE_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,dpop' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    assert.match(pre.headers.get('access-control-allow-headers'), /(^|,)\s*dpop\s*(,|$)/i);
    const t = await op.obtainTokens({ dpopKey: key });
    const { res, body } = await rawRefresh(op, t.refresh_token, await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint }), { Origin: PAGE_ORIGIN });
    assert.equal(res.status, 200);
    assert.equal(body.token_type, 'DPoP');
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    for (const h of ['dpop-nonce', 'www-authenticate', 'date']) assert.ok(exposedList(res).includes(h), `${h} exposed: ${exposedList(res)}`);
    assert.equal(op.tokenLog.at(-1).origin, PAGE_ORIGIN);
  });

  test('oidc-provider\'s userinfo refuses the resource\'s JWT access token (401 invalid_token, not found): /api/me is the resource to call', async () => {
    const proof = await createDpopProof(key, { htm: 'GET', htu: op.discovery.userinfo_endpoint, accessToken: tokens.access_token });
    const res = await fetch(op.discovery.userinfo_endpoint, { headers: { Authorization: `DPoP ${tokens.access_token}`, DPoP: proof } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: 'invalid_token', error_description: 'invalid token provided' });
    assert.equal(parseDpopChallenge(res.headers.get('www-authenticate')).error, 'invalid_token');
  });

  test('/api/me accepts a good proof for the bound token, and logs it', async () => {
    const before = op.apiLog.length;
    const proof = await apiProof(op, key, tokens.access_token);
    const { res, body } = await callApi(op, tokens.access_token, proof);
    assert.equal(res.status, 200);
    assert.deepEqual(body, { sub: 'alice', client_id: op.clientId, scope: 'api:read', jkt: await dpopThumbprint(key) });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const [entry] = op.apiLog.slice(before);
    assert.equal(entry.outcome, 'ok');
    assert.equal(entry.status, 200);
    assert.equal(entry.jti, jose.decodeJwt(proof).jti);
    assert.equal(entry.jkt, await dpopThumbprint(key));
    assert.equal(entry.sub, 'alice');
  });

  test('/api/me refuses a replayed jti, a wrong ath, another key, a missing proof, the Bearer scheme, a bad token, a Bearer-only token, a stale iat', async () => {
    const at = tokens.access_token;
    const cases = [];
    const expect = async (name, call, { error, outcome }) => {
      const before = op.apiLog.length;
      const { res, body, challenge } = await call();
      assert.equal(res.status, 401, name);
      assert.equal(body.error, error, name);
      assert.equal(challenge?.error, error, `${name}: WWW-Authenticate ${res.headers.get('www-authenticate')}`);
      assert.equal(challenge.algs, 'ES256');
      assert.deepEqual(op.apiLog.slice(before).map((r) => r.outcome), [outcome], name);
      cases.push(name);
    };
    const used = await apiProof(op, key, at);
    assert.equal((await callApi(op, at, used)).res.status, 200);
    await expect('replayed jti', () => callApi(op, at, used), { error: 'invalid_dpop_proof', outcome: 'jti_replay' });
    await expect('wrong ath', () => callApi(op, at, apiProof(op, key, at, { ath: 'x'.repeat(43) })), { error: 'invalid_dpop_proof', outcome: 'ath_mismatch' });
    await expect('no ath', () => callApi(op, at, apiProof(op, key, undefined)), { error: 'invalid_dpop_proof', outcome: 'ath_mismatch' });
    const thief = await newKey();
    await expect('another key', async () => callApi(op, at, await apiProof(op, thief, at)), { error: 'invalid_token', outcome: 'key_mismatch' });
    await expect('no proof', () => callApi(op, at, undefined), { error: 'invalid_dpop_proof', outcome: 'missing_proof' });
    await expect('two proofs', async () => callApi(op, at, [await apiProof(op, key, at), await apiProof(op, key, at)]), { error: 'invalid_dpop_proof', outcome: 'multiple_proofs' });
    await expect('Bearer scheme', async () => callApi(op, at, await apiProof(op, key, at), { scheme: 'Bearer' }), { error: 'invalid_token', outcome: 'wrong_scheme' });
    const forged = `${at.slice(0, -4)}AAAA`;
    await expect('bad signature on the token', async () => callApi(op, forged, await apiProof(op, key, forged)), { error: 'invalid_token', outcome: 'invalid_token' });
    const bearer = (await op.obtainTokens()).access_token;
    await expect('a Bearer-only token', async () => callApi(op, bearer, await apiProof(op, key, bearer)), { error: 'invalid_token', outcome: 'not_bound' });
    await expect('iat 61 s old', async () => callApi(op, at, await apiProof(op, key, at, { iat: Math.floor(Date.now() / 1000) - 61 })), { error: 'invalid_dpop_proof', outcome: 'iat_window' });
    await expect('htm POST', async () => callApi(op, at, await createDpopProof(key, { htm: 'POST', htu: op.apiUrl, accessToken: at })), { error: 'invalid_dpop_proof', outcome: 'htm_mismatch' });
    await expect('htu of the token endpoint', async () => callApi(op, at, await createDpopProof(key, { htm: 'GET', htu: op.tokenEndpoint, accessToken: at })), { error: 'invalid_dpop_proof', outcome: 'htu_mismatch' });
    const unsigned = `${(await apiProof(op, key, at)).split('.').slice(0, 2).join('.')}.`;
    await expect('unsigned proof', () => callApi(op, at, unsigned), { error: 'invalid_dpop_proof', outcome: 'bad_proof' });
    // No credentials: the bare challenge.
    const none = await callApi(op, undefined, undefined);
    assert.equal(none.res.status, 401);
    assert.equal(none.res.headers.get('www-authenticate'), 'DPoP algs="ES256"');
    assert.equal(op.apiLog.at(-1).outcome, 'no_token');
    // The good key still works after all that.
    assert.equal((await callApi(op, at, await apiProof(op, key, at))).res.status, 200);
    assert.equal(cases.length, 13);
  });

  test('/api/me demands a nonce when told: 401 use_dpop_nonce with DPoP-Nonce, the retry with it passes, a rotated nonce is stale', async () => {
    const at = tokens.access_token;
    const { nonce } = op.requireApiNonce();
    try {
      const first = await callApi(op, at, await apiProof(op, key, at));
      assert.equal(first.res.status, 401);
      assert.equal(first.body.error, 'use_dpop_nonce');
      assert.equal(first.challenge.error, 'use_dpop_nonce');
      assert.equal(first.res.headers.get('dpop-nonce'), nonce);
      const retry = await callApi(op, at, await apiProof(op, key, at, { nonce: first.res.headers.get('dpop-nonce') }));
      assert.equal(retry.res.status, 200);
      assert.equal(retry.res.headers.get('dpop-nonce'), nonce, 'every answer carries the nonce');
      const { nonce: next } = op.rotateApiNonce();
      assert.notEqual(next, nonce);
      const stale = await callApi(op, at, await apiProof(op, key, at, { nonce }));
      assert.equal(stale.body.error, 'use_dpop_nonce');
      assert.equal(stale.res.headers.get('dpop-nonce'), next);
      assert.deepEqual(op.apiLog.slice(-3).map((r) => [r.outcome, r.nonce]), [['nonce_required', null], ['ok', nonce], ['nonce_stale', nonce]]);
    } finally {
      op.requireApiNonce(false);
    }
    assert.equal((await callApi(op, at, await apiProof(op, key, at))).res.status, 200);
  });

  test('/api/me CORS: the preflight of an allowed origin allows Authorization and DPoP; answers expose WWW-Authenticate and DPoP-Nonce; other origins get no CORS headers', async () => {
    const preflight = (origin) =>
      fetch(op.apiUrl, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,dpop' } });
    const pre = await preflight(PAGE_ORIGIN);
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
    assert.match(pre.headers.get('access-control-allow-headers'), /DPoP/);
    assert.match(pre.headers.get('access-control-allow-methods'), /GET/);
    const foreign = await preflight('http://127.0.0.1:1');
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const { res } = await callApi(op, tokens.access_token, undefined, { headers: { Origin: PAGE_ORIGIN } });
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    for (const h of ['dpop-nonce', 'www-authenticate', 'date']) assert.ok(exposedList(res).includes(h), `${h} exposed`);
    assert.deepEqual(op.apiLog.slice(-3).map((r) => [r.outcome, r.origin]), [['preflight', PAGE_ORIGIN], ['preflight', 'http://127.0.0.1:1'], ['missing_proof', PAGE_ORIGIN]]);
  });
});

describe('oidc-provider demanding DPoP nonces (dpop: \'nonce\')', () => {
  let op;
  let key;
  before(async () => {
    op = await startOidcProvider({ dpop: 'nonce', allowedOrigins: [PAGE_ORIGIN] });
    key = await newKey();
  });
  after(() => op.close());

  test('the first code exchange gets 400 use_dpop_nonce with a DPoP-Nonce header; the retry with that nonce gets DPoP tokens', async () => {
    const t = await op.obtainTokens({ dpopKey: key });
    assert.equal(t.token_type, 'DPoP');
    assert.equal(jose.decodeJwt(t.access_token).cnf.jkt, await dpopThumbprint(key));
    const [refused, accepted] = op.tokenLog.filter((r) => r.grantType === 'authorization_code');
    assert.equal(refused.status, 400);
    assert.equal(refused.error, 'use_dpop_nonce');
    assert.equal(refused.errorDescription, 'nonce is required in the DPoP proof');
    assert.equal(refused.proof.nonce, null);
    assert.equal(typeof refused.dpopNonce, 'string');
    assert.equal(accepted.status, 200);
    assert.equal(accepted.tokenType, 'DPoP');
    assert.equal(accepted.proof.nonce, refused.dpopNonce);
    assert.notEqual(accepted.proof.jti, refused.proof.jti, 'a new proof for the retry');
    assert.equal(accepted.dpopNonce, null, 'no new nonce while the one sent is current');
  });

  test('refresh: without the nonce one retry, with it none; a made-up nonce is use_dpop_nonce (invalid nonce); the nonce outlives rotateKeys', async () => {
    const t = await op.obtainTokens({ dpopKey: key });
    const r1 = await op.refresh(t.refresh_token, { dpopKey: key });
    assert.equal(r1.status, 200);
    assert.deepEqual(r1.attempts.map((a) => [a.status, a.error]), [[400, 'use_dpop_nonce'], [200, null]]);
    const nonce = r1.attempts[0].dpopNonce;
    const r2 = await op.refresh(r1.body.refresh_token, { dpopKey: key, nonce });
    assert.deepEqual(r2.attempts.map((a) => a.status), [200]);
    const madeUp = await rawRefresh(op, r2.body.refresh_token, await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint, nonce: 'made-up' }), { Origin: PAGE_ORIGIN });
    assert.equal(madeUp.res.status, 400);
    assert.deepEqual(madeUp.body, { error: 'use_dpop_nonce', error_description: 'invalid nonce in DPoP proof' });
    assert.equal(madeUp.res.headers.get('dpop-nonce'), nonce);
    assert.equal(madeUp.res.headers.get('www-authenticate'), null, 'the token endpoint answers in the body only');
    assert.ok(exposedList(madeUp.res).includes('dpop-nonce'));
    await op.rotateKeys();
    const r3 = await op.refresh(r2.body.refresh_token, { dpopKey: key, nonce });
    assert.deepEqual(r3.attempts.map((a) => a.status), [200]);
  });

  test('with a current nonce oidc-provider does not check iat: an hour-old proof passes', async () => {
    const t = await op.obtainTokens({ dpopKey: key });
    const nonce = op.tokenLog.find((r) => r.dpopNonce).dpopNonce;
    const old = await rawRefresh(op, t.refresh_token, await createDpopProof(key, { htm: 'POST', htu: op.tokenEndpoint, nonce, iat: Math.floor(Date.now() / 1000) - 3600 }));
    assert.equal(old.res.status, 200);
  });

  test('a token request without a proof still gets Bearer tokens: nonces apply to proofs only', async () => {
    assert.equal((await op.obtainTokens()).token_type, 'Bearer');
  });

  test('apiNonce: /api/me demands its own nonce from the start', async () => {
    const api = await startOidcProvider({ dpop: true, apiNonce: true });
    try {
      const t = await api.obtainTokens({ dpopKey: key });
      const first = await callApi(api, t.access_token, await apiProof(api, key, t.access_token));
      assert.equal(first.body.error, 'use_dpop_nonce');
      const nonce = first.res.headers.get('dpop-nonce');
      assert.equal((await callApi(api, t.access_token, await apiProof(api, key, t.access_token, { nonce }))).res.status, 200);
    } finally {
      await api.close();
    }
  });
});

describe('oidc-provider from a page in Chromium', () => {
  let web;
  let op;
  let browser;

  before(async () => {
    web = await startStaticServer();
    op = await startOidcProvider({ allowedOrigins: [web.url], redirectUris: [`${web.url}/callback`] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await op?.close();
    await web?.close();
  });

  test('a page of another 127.0.0.1 port refreshes by fetch and reads Date; discovery and JWKS are readable', async () => {
    const tokens = await op.obtainTokens();
    const page = await browser.newPage();
    try {
      await page.goto(`${web.url}/package.json`);
      const out = await page.evaluate(
        async ({ tokenEndpoint, refreshToken, clientId, jwksUri, discoveryUrl }) => {
          const res = await fetch(tokenEndpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
          });
          const body = await res.json();
          const jwks = await fetch(jwksUri);
          const doc = await (await fetch(discoveryUrl)).json();
          return {
            status: res.status,
            date: res.headers.get('date'),
            rotated: body.refresh_token !== refreshToken,
            hasIdToken: typeof body.id_token === 'string',
            jwksStatus: jwks.status,
            jwksKeys: (await jwks.json()).keys.length,
            issuer: doc.issuer,
          };
        },
        { tokenEndpoint: op.tokenEndpoint, refreshToken: tokens.refresh_token, clientId: op.clientId, jwksUri: op.jwksUri, discoveryUrl: op.discoveryUrl },
      );
      assert.equal(out.status, 200);
      assert.ok(Number.isFinite(Date.parse(out.date)), `Date readable: ${out.date}`);
      assert.ok(out.rotated);
      assert.ok(out.hasIdToken);
      assert.equal(out.jwksStatus, 200);
      assert.equal(out.jwksKeys, 1);
      assert.equal(out.issuer, op.issuer);
    } finally {
      await page.close();
    }
  });

  test('DPoP through CORS (dpop: \'nonce\'): the page sends DPoP headers and reads DPoP-Nonce and WWW-Authenticate from the token endpoint and /api/me', async () => {
    const dp = await startOidcProvider({ dpop: 'nonce', allowedOrigins: [web.url] });
    const page = await browser.newPage();
    try {
      const key = await newKey();
      const tokens = await dp.obtainTokens({ dpopKey: key });
      await page.goto(`${web.url}/package.json`);
      const send = (request) =>
        page.evaluate(async ({ url, method, headers, body }) => {
          const res = await fetch(url, { method, headers, body });
          return {
            status: res.status,
            body: await res.json(),
            dpopNonce: res.headers.get('DPoP-Nonce'),
            wwwAuthenticate: res.headers.get('WWW-Authenticate'),
          };
        }, request);
      const refreshWith = async (refreshToken, nonce) =>
        send({
          url: dp.tokenEndpoint,
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await createDpopProof(key, { htm: 'POST', htu: dp.tokenEndpoint, nonce }) },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: dp.clientId }).toString(),
        });
      const first = await refreshWith(tokens.refresh_token);
      assert.equal(first.status, 400);
      assert.equal(first.body.error, 'use_dpop_nonce');
      assert.equal(typeof first.dpopNonce, 'string', 'DPoP-Nonce readable by the page');
      const second = await refreshWith(tokens.refresh_token, first.dpopNonce);
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.token_type, 'DPoP');

      const { nonce } = dp.requireApiNonce();
      const at = second.body.access_token;
      const callWith = async (proofNonce) =>
        send({ url: dp.apiUrl, method: 'GET', headers: { Authorization: `DPoP ${at}`, DPoP: await apiProof(dp, key, at, { nonce: proofNonce }) } });
      const refused = await callWith(undefined);
      assert.equal(refused.status, 401);
      assert.equal(parseDpopChallenge(refused.wwwAuthenticate)?.error, 'use_dpop_nonce', 'WWW-Authenticate readable by the page');
      assert.equal(refused.dpopNonce, nonce, 'DPoP-Nonce readable by the page');
      const ok = await callWith(refused.dpopNonce);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.sub, 'alice');

      assert.deepEqual(
        dp.tokenLog.filter((r) => r.origin === web.url).map((r) => [r.status, r.error]),
        [[400, 'use_dpop_nonce'], [200, null]],
      );
      assert.deepEqual(
        dp.apiLog.map((r) => [r.outcome, r.origin]),
        [['preflight', web.url], ['nonce_required', web.url], ['ok', web.url]],
        'one preflight (cached), then the two calls',
      );
    } finally {
      await page.close();
      await dp.close();
    }
  });
});
