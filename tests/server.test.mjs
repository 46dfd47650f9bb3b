// Self-test of the local auth server (www/server): node --test tests/server.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { startAuthServer } from '../www/server/auth-server.mjs';

const ORIGIN = 'http://127.0.0.1:5173';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Minimal client for the three refresh styles and the other routes. */
function client(server) {
  const u = (p) => `${server.url}${p}`;
  const form = (fields) => new URLSearchParams(fields).toString();
  return {
    login: (user = 'alice', extra = {}) =>
      fetch(u('/login'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user, ...extra }) }),
    oauth: (fields) =>
      fetch(u('/oauth/token'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form(fields),
      }),
    oauthRefresh: (refreshToken, clientId = server.clientId) =>
      fetch(u('/oauth/token'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
      }),
    jsonRefresh: (refreshToken) =>
      fetch(u('/refresh'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken }) }),
    /** Sends what the jwt-keeper client sends: JSON `{}`, credentials (here: the Cookie header). */
    cookieRefresh: (cookie, headers = {}) =>
      fetch(u('/cookie/refresh'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}), ...headers },
        body: '{}',
      }),
    logout: (cookie, headers = {}) =>
      fetch(u('/logout'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}), ...headers },
        body: '{}',
      }),
    me: (token) => fetch(u('/api/me'), { headers: token ? { Authorization: `Bearer ${token}` } : {} }),
    control: (body) => fetch(u('/__control'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
    stats: async () => (await fetch(u('/__stats'))).json(),
  };
}

/** The response's `Access-Control-*` header names. */
function corsHeaders(res) {
  return [...res.headers.keys()].filter((name) => name.startsWith('access-control-'));
}

const ORIGIN_REFUSED = { error: 'invalid_request', error_description: 'origin not allowed' };
const BAD_CONTENT_TYPE = { error: 'invalid_request', error_description: 'content type must be application/json' };

function cookieFrom(res) {
  const set = res.headers.getSetCookie().find((c) => c.startsWith('refresh_token='));
  return set?.split(';')[0];
}

async function verify(server, token) {
  return jose.jwtVerify(token, jose.createLocalJWKSet(server.jwks), {
    issuer: server.issuer,
    audience: server.audience,
    algorithms: ['ES256'],
  });
}

describe('auth server', () => {
  let server;
  let c;

  before(async () => {
    server = await startAuthServer({ port: 0 });
    c = client(server);
  });
  after(() => server.close());
  beforeEach(() => {
    server.controls.reset();
    server.controls.resetStats();
  });

  async function loginTokens(user = 'alice') {
    const res = await c.login(user);
    assert.equal(res.status, 200);
    return res.json();
  }

  test('listens on 127.0.0.1 with the key published as JWKS and PEM', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.issuer, server.url);
    const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json();
    assert.deepEqual(jwks, server.jwks);
    assert.deepEqual(Object.keys(server.publicJwk), ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use']);
    const pem = await (await fetch(`${server.url}/key.pem`)).text();
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    const tokens = await loginTokens();
    await jose.jwtVerify(tokens.access_token, await jose.importSPKI(pem, 'ES256'));
  });

  test('login returns an ES256 access token, an opaque refresh token and an HttpOnly cookie', async () => {
    const res = await c.login('alice');
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('date'));
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 300);
    assert.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    const { payload, protectedHeader } = await verify(server, body.access_token);
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: server.publicJwk.kid, typ: 'JWT' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.exp - payload.iat, 300);
    assert.equal(typeof payload.jti, 'string');
    const setCookie = res.headers.getSetCookie()[0];
    assert.match(setCookie, /^refresh_token=[A-Za-z0-9_-]{43}; /);
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; Path=\//);
    assert.match(setCookie, /; SameSite=Lax/);
    assert.equal(server.stats.logins, 1);

    const formLogin = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'user=bob',
    });
    assert.equal(formLogin.status, 200);
    assert.equal((await verify(server, (await formLogin.json()).access_token)).payload.sub, 'bob');
    assert.equal((await c.login('')).status, 400);
  });

  test('oauth2 style: RFC 6749 §6 refresh with rotation and §5.2 errors', async () => {
    const first = await loginTokens();
    const res = await c.oauthRefresh(first.refresh_token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.notEqual(body.refresh_token, first.refresh_token);
    assert.equal((await verify(server, body.access_token)).payload.sub, 'alice');

    const wrongClient = await c.oauthRefresh(body.refresh_token, 'someone-else');
    assert.equal(wrongClient.status, 401);
    assert.equal((await wrongClient.json()).error, 'invalid_client');
    const noClient = await c.oauth({ grant_type: 'refresh_token', refresh_token: body.refresh_token });
    assert.equal(noClient.status, 200, 'a public client may omit client_id');
    const next = await noClient.json();

    const cases = [
      [{ refresh_token: next.refresh_token }, 400, 'invalid_request'],
      [{ grant_type: 'password', refresh_token: next.refresh_token }, 400, 'unsupported_grant_type'],
      [{ grant_type: 'refresh_token' }, 400, 'invalid_request'],
      [{ grant_type: 'refresh_token', refresh_token: 'unknown' }, 400, 'invalid_grant'],
    ];
    for (const [fields, status, error] of cases) {
      const r = await c.oauth(fields);
      assert.equal(r.status, status, JSON.stringify(fields));
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const e = await r.json();
      assert.equal(e.error, error);
      assert.equal(typeof e.error_description, 'string');
    }
    const repeated = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${next.refresh_token}&refresh_token=x`,
    });
    assert.equal((await repeated.json()).error, 'invalid_request');
    const asJson = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: next.refresh_token }),
    });
    assert.equal(asJson.status, 400);
    assert.equal((await asJson.json()).error, 'invalid_request');
    // None of the refused requests consumed the token.
    assert.equal((await c.oauthRefresh(next.refresh_token)).status, 200);
  });

  test('json style: {refreshToken} -> {accessToken, refreshToken}, 401 invalid_grant', async () => {
    const first = await loginTokens();
    const res = await c.jsonRefresh(first.refresh_token);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['accessToken', 'refreshToken']);
    await verify(server, body.accessToken);
    const bad = await c.jsonRefresh('not-a-token');
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).error, 'invalid_grant');
    const malformed = await fetch(`${server.url}/refresh`, { method: 'POST', body: '{"refresh":1}' });
    assert.equal(malformed.status, 400);
  });

  test('cookie style: token only in the HttpOnly cookie, rotated on every refresh', async () => {
    const login = await c.login('carol', { style: 'cookie' });
    const loginBody = await login.json();
    assert.equal(loginBody.refresh_token, undefined);
    const cookie1 = cookieFrom(login);
    assert.ok(cookie1);

    const res = await c.cookieRefresh(cookie1);
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text);
    assert.deepEqual(Object.keys(body).sort(), ['accessToken', 'expiresIn']);
    assert.equal((await verify(server, body.accessToken)).payload.sub, 'carol');
    const cookie2 = cookieFrom(res);
    assert.ok(cookie2 && cookie2 !== cookie1);
    for (const token of server.controls.issuedRefreshTokens()) assert.ok(!text.includes(token));

    const none = await c.cookieRefresh(undefined);
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error, 'invalid_grant');
    assert.equal((await c.cookieRefresh(cookie2)).status, 200);
  });

  test('rotation: grace replay returns the same successor, late replay revokes the family', async () => {
    server.controls.setReuseGraceMs(300);
    const { refresh_token: rt1 } = await loginTokens();
    const a = await (await c.jsonRefresh(rt1)).json();
    const again = await (await c.jsonRefresh(rt1)).json();
    assert.deepEqual(again, a, 'replay inside the grace window gets the identical answer');
    assert.equal(server.stats.graceReuses, 1);

    const b = await (await c.jsonRefresh(a.refreshToken)).json();
    assert.ok(b.refreshToken);
    await sleep(350);
    const late = await c.jsonRefresh(rt1);
    assert.equal(late.status, 401);
    assert.equal((await late.json()).error, 'invalid_grant');
    assert.equal(server.stats.reuseDetections, 1);
    // Every descendant is dead now, including the newest token.
    assert.equal((await c.jsonRefresh(b.refreshToken)).status, 401);
    const viaOauth = await c.oauthRefresh(b.refreshToken);
    assert.equal(viaOauth.status, 400);
    assert.equal((await viaOauth.json()).error, 'invalid_grant');
    assert.equal(server.stats.reuseDetections, 1);

    // Concurrent use of one token yields a single successor.
    const { refresh_token: rt } = await loginTokens();
    const answers = await Promise.all([c.jsonRefresh(rt), c.jsonRefresh(rt), c.jsonRefresh(rt)].map(async (p) => (await p).json()));
    assert.equal(new Set(answers.map((x) => x.refreshToken)).size, 1);
  });

  test('failNext: 503 twice then success, token untouched; 429 with Retry-After', async () => {
    const { refresh_token: rt } = await loginTokens();
    server.controls.failNext(2, 503);
    for (let i = 0; i < 2; i += 1) {
      const r = await c.oauthRefresh(rt);
      assert.equal(r.status, 503);
      assert.equal((await r.json()).error, 'temporarily_unavailable');
    }
    const ok = await c.oauthRefresh(rt);
    assert.equal(ok.status, 200);
    const { refresh_token: rt2 } = await ok.json();

    server.controls.failNext(1, 429, { retryAfter: 7 });
    const limited = await c.oauthRefresh(rt2);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '7');
    const custom = (server.controls.failNext(1, 500, { body: 'boom' }), await c.jsonRefresh(rt2));
    assert.equal(custom.status, 500);
    assert.equal(await custom.text(), 'boom');
    assert.equal((await c.oauthRefresh(rt2)).status, 200);
    assert.equal(server.stats.refreshRequests, 6);
    assert.equal(server.stats.refreshFailures, 4);
    assert.equal(server.stats.refreshSuccesses, 2);
    assert.deepEqual(
      server.stats.refreshLog.map((e) => [e.style, e.outcome, e.status]),
      [
        ['oauth2', 'injected', 503],
        ['oauth2', 'injected', 503],
        ['oauth2', 'rotated', 200],
        ['oauth2', 'injected', 429],
        ['json', 'injected', 500],
        ['oauth2', 'rotated', 200],
      ],
    );
  });

  test('dropAfterRotateNext: lost response, then the retry gets the same successor', async () => {
    const { refresh_token: rt } = await loginTokens();
    server.controls.dropAfterRotateNext(1);
    await assert.rejects(c.oauthRefresh(rt), TypeError);
    const retry = await c.oauthRefresh(rt);
    assert.equal(retry.status, 200);
    const body = await retry.json();
    assert.equal(server.stats.graceReuses, 1);
    assert.deepEqual(
      server.stats.refreshLog.map((e) => e.outcome),
      ['dropped_after_rotated', 'grace_reuse'],
    );
    assert.equal((await c.oauthRefresh(body.refresh_token)).status, 200);
  });

  test('revokeAll: every existing refresh token becomes invalid_grant', async () => {
    const one = await loginTokens('a');
    const two = await loginTokens('b');
    server.controls.revokeAll();
    assert.equal((await (await c.oauthRefresh(one.refresh_token)).json()).error, 'invalid_grant');
    assert.equal((await c.jsonRefresh(two.refresh_token)).status, 401);
    const fresh = await loginTokens('c');
    assert.equal((await c.jsonRefresh(fresh.refresh_token)).status, 200);
  });

  test('/api/me: Bearer check, 401 with WWW-Authenticate, api401Always, expiry', async () => {
    const { access_token: at } = await loginTokens('dave');
    const ok = await c.me(at);
    assert.equal(ok.status, 200);
    const me = await ok.json();
    assert.deepEqual(Object.keys(me).sort(), ['exp', 'iat', 'sub']);
    assert.equal(me.sub, 'dave');

    const missing = await c.me(undefined);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate'), /^Bearer /);

    const garbage = await c.me('abc.def.ghi');
    assert.equal(garbage.status, 401);
    assert.match(garbage.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);

    server.controls.api401Always(true);
    const forced = await c.me(at);
    assert.equal(forced.status, 401);
    assert.match(forced.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
    server.controls.api401Always(false);

    server.controls.setAccessTtl(0);
    const { access_token: dead } = await loginTokens('dave');
    const expired = await c.me(dead);
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.equal(server.stats.apiCalls, 5);
    assert.equal(server.stats.api401, 4);
  });

  test('setClockSkew shifts iat/exp and the Date header; the server stays self-consistent', async () => {
    server.controls.setClockSkew(7200);
    const res = await c.login('erin');
    const dateSkew = Date.parse(res.headers.get('date')) - Date.now();
    assert.ok(Math.abs(dateSkew - 7200_000) < 5000, `Date header off by ${dateSkew} ms`);
    const { access_token: at } = await res.json();
    const payload = jose.decodeJwt(at);
    assert.ok(Math.abs(payload.iat - (Date.now() / 1000 + 7200)) < 5);
    assert.equal((await c.me(at)).status, 200);
    server.controls.setClockSkew(0);
    assert.equal((await c.me(at)).status, 200, 'a token from the future passes (iat is not checked)');
  });

  test('down(true): connections drop at once, control routes stay reachable', async () => {
    const { refresh_token: rt } = await loginTokens();
    server.controls.down(true);
    await assert.rejects(c.oauthRefresh(rt), TypeError);
    await assert.rejects(fetch(`${server.url}/.well-known/jwks.json`), TypeError);
    assert.equal((await c.stats()).refreshRequests, 0);
    const up = await c.control({ action: 'down', args: [false] });
    assert.equal(up.status, 200);
    assert.equal((await c.oauthRefresh(rt)).status, 200);
  });

  test('badTokenNext: each kind answers 200 with an unusable body and leaves the token valid', async () => {
    const { refresh_token: rt } = await loginTokens();

    server.controls.badTokenNext('bad_json');
    const badJson = await c.oauthRefresh(rt);
    assert.equal(badJson.status, 200);
    await assert.rejects(badJson.json(), SyntaxError);

    server.controls.badTokenNext('missing_fields');
    const missing = await (await c.jsonRefresh(rt)).json();
    assert.equal(missing.accessToken, undefined);
    assert.equal(missing.refreshToken, undefined);

    server.controls.badTokenNext('wrong_key');
    const wrong = await (await c.oauthRefresh(rt)).json();
    assert.equal(jose.decodeProtectedHeader(wrong.access_token).kid, server.publicJwk.kid);
    await assert.rejects(verify(server, wrong.access_token), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });

    server.controls.badTokenNext('expired');
    const expired = await (await c.jsonRefresh(rt)).json();
    await assert.rejects(verify(server, expired.accessToken), { code: 'ERR_JWT_EXPIRED' });

    assert.throws(() => server.controls.badTokenNext('nonsense'), TypeError);
    assert.equal((await c.oauthRefresh(rt)).status, 200);
    assert.equal(server.stats.refreshFailures, 4);
    assert.equal(server.stats.refreshSuccesses, 1);
  });

  test('CORS: preflight 204, an allowed Origin echoed with credentials, headers exposed', async () => {
    const origin = server.url;
    const pre = await fetch(`${server.url}/refresh`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, x-app-version',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), origin);
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.match(pre.headers.get('access-control-allow-methods'), /GET.*POST.*OPTIONS/);
    const allowed = pre.headers.get('access-control-allow-headers').toLowerCase();
    for (const h of ['authorization', 'content-type', 'x-requested-with', 'x-app-version']) assert.ok(allowed.includes(h), h);
    assert.ok(pre.headers.get('date'));

    const res = await fetch(`${server.url}/api/me`, { headers: { Origin: origin } });
    assert.equal(res.headers.get('access-control-allow-origin'), origin);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const exposed = res.headers.get('access-control-expose-headers');
    for (const h of ['Date', 'Retry-After', 'WWW-Authenticate']) assert.ok(exposed.includes(h), h);
    assert.equal(server.stats.refreshRequests, 0, 'a preflight is not a refresh request');
  });

  test('HTTP controls and stats mirror the JS controls', async () => {
    const { refresh_token: rt } = await loginTokens();
    const set = await c.control([{ action: 'failNext', args: [1, 500] }, { action: 'setAccessTtl', args: [60] }]);
    assert.equal(set.status, 200);
    assert.equal((await c.jsonRefresh(rt)).status, 500);
    const ok = await (await c.oauthRefresh(rt)).json();
    assert.equal(ok.expires_in, 60);
    const stats = await c.stats();
    assert.equal(stats.refreshRequests, 2);
    assert.equal(stats.refreshLog.length, 2);
    assert.ok(stats.refreshLog[0].seq < stats.refreshLog[1].seq, 'seq orders the entries');
    assert.equal((await c.control({ action: 'nope' })).status, 400);
    assert.equal((await c.control({ action: 'failNext', args: [-1, 500] })).status, 400);
    assert.equal((await c.control({ action: 'resetStats' })).status, 200);
    assert.equal(server.stats.refreshRequests, 0);
  });

  test('hangNext: the request stays unanswered until the client aborts', async () => {
    const { refresh_token: rt } = await loginTokens();
    server.controls.hangNext(1);
    const started = Date.now();
    await assert.rejects(
      fetch(`${server.url}/refresh`, {
        method: 'POST',
        body: JSON.stringify({ refreshToken: rt }),
        signal: AbortSignal.timeout(300),
      }),
      { name: 'TimeoutError' },
    );
    assert.ok(Date.now() - started >= 250);
    assert.equal((await c.jsonRefresh(rt)).status, 200);
  });
});

describe('origin and content-type checks', () => {
  const EVIL = 'https://evil.example';
  let server;
  let c;

  before(async () => {
    server = await startAuthServer({ port: 0 });
    c = client(server);
  });
  after(() => server.close());
  beforeEach(() => {
    server.controls.reset();
    server.controls.resetStats();
  });

  /** Signs in cookie style (no Origin, like a Node client) and returns the `refresh_token=…` pair. */
  async function cookieLogin(user = 'alice') {
    const res = await c.login(user, { style: 'cookie' });
    assert.equal(res.status, 200);
    return cookieFrom(res);
  }

  test('CORS: by default the server\'s own origins are echoed with credentials and Vary: Origin', async () => {
    const own = [server.url, `http://localhost:${server.port}`];
    assert.deepEqual(server.allowedOrigins, own);
    for (const origin of own) {
      const res = await fetch(`${server.url}/.well-known/jwks.json`, { headers: { Origin: origin } });
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(res.headers.get('access-control-expose-headers'), 'Date, Retry-After, WWW-Authenticate, DPoP-Nonce');
      assert.match(res.headers.get('vary'), /\bOrigin\b/);
      const pre = await fetch(`${server.url}/cookie/refresh`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), origin);
      assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    }
  });

  test('CORS: any other Origin gets no Access-Control-* headers and its preflight answers 403', async () => {
    for (const origin of [ORIGIN, EVIL, 'null', `https://127.0.0.1:${server.port}`, `http://localhost.evil.example:${server.port}`]) {
      const res = await fetch(`${server.url}/.well-known/jwks.json`, { headers: { Origin: origin } });
      assert.equal(res.status, 200, 'answered; the browser keeps the answer from the page');
      assert.deepEqual(corsHeaders(res), [], origin);
      await res.arrayBuffer();
      const pre = await fetch(`${server.url}/cookie/refresh`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.equal(pre.status, 403, origin);
      assert.deepEqual(corsHeaders(pre), [], origin);
      assert.deepEqual(await pre.json(), ORIGIN_REFUSED);
    }
    const me = await fetch(`${server.url}/api/me`, { headers: { Origin: EVIL } });
    assert.equal(me.status, 401);
    assert.deepEqual(corsHeaders(me), []);
  });

  test('credentialed routes refuse a disallowed Origin with 403 and touch no token', async () => {
    const cookie = await cookieLogin('alice');
    const { refresh_token: rt } = await (await c.login('bob')).json();
    server.controls.resetStats();

    const refresh = await c.cookieRefresh(cookie, { Origin: EVIL });
    assert.equal(refresh.status, 403);
    assert.deepEqual(await refresh.json(), ORIGIN_REFUSED);
    assert.deepEqual(refresh.headers.getSetCookie(), []);
    assert.deepEqual(corsHeaders(refresh), []);

    for (const body of ['{}', JSON.stringify({ refreshToken: rt })]) {
      const logout = await fetch(`${server.url}/logout`, {
        method: 'POST',
        headers: { Origin: EVIL, Cookie: cookie, 'Content-Type': 'application/json' },
        body,
      });
      assert.equal(logout.status, 403);
      assert.deepEqual(await logout.json(), ORIGIN_REFUSED);
      assert.deepEqual(logout.headers.getSetCookie(), []);
    }

    // A cross-site form would plant the attacker's session in the victim's browser.
    const formLogin = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { Origin: EVIL, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'user=mallory',
    });
    assert.equal(formLogin.status, 403);
    assert.deepEqual(await formLogin.json(), ORIGIN_REFUSED);
    assert.deepEqual(formLogin.headers.getSetCookie(), []);
    assert.equal(server.stats.logins, 0);

    // Nothing was rotated or revoked: the cookie's first use rotates it, bob's token still works.
    const ok = await c.cookieRefresh(cookie, { Origin: server.url });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), server.url);
    assert.equal((await c.jsonRefresh(rt)).status, 200);
    assert.equal(server.stats.logouts, 0);
    assert.equal(server.stats.graceReuses, 0);
    assert.equal(server.stats.refreshRequests, 3);
    assert.equal(server.stats.refreshFailures, 1);
    assert.equal(server.stats.refreshSuccesses, 2);
    assert.deepEqual(
      server.stats.refreshLog.map((e) => [e.style, e.outcome, e.status]),
      [
        ['cookie', 'origin_refused', 403],
        ['cookie', 'rotated', 200],
        ['json', 'rotated', 200],
      ],
    );
  });

  test('allowedOrigins: exactly the listed origins; the default adds the issuer origin; bad values throw', async () => {
    const listed = await startAuthServer({ allowedOrigins: [ORIGIN, 'https://app.example/'] });
    try {
      assert.deepEqual(listed.allowedOrigins, [ORIGIN, 'https://app.example']);
      for (const origin of [ORIGIN, 'https://app.example']) {
        const res = await fetch(`${listed.url}/.well-known/jwks.json`, { headers: { Origin: origin } });
        assert.equal(res.headers.get('access-control-allow-origin'), origin);
      }
      const own = await fetch(`${listed.url}/.well-known/jwks.json`, { headers: { Origin: listed.url } });
      assert.deepEqual(corsHeaders(own), [], 'the list replaces the default');
      const viaListed = client(listed);
      const cookie = cookieFrom(await viaListed.login('carol', { style: 'cookie' }));
      assert.equal((await viaListed.cookieRefresh(cookie, { Origin: ORIGIN })).status, 200);
    } finally {
      await listed.close();
    }

    const withIssuer = await startAuthServer({ issuer: 'https://auth.example/tenant' });
    try {
      assert.deepEqual(withIssuer.allowedOrigins, [withIssuer.url, `http://localhost:${withIssuer.port}`, 'https://auth.example']);
    } finally {
      await withIssuer.close();
    }

    for (const allowedOrigins of ['https://app.example', ['not a url'], ['https://app.example/path'], ['ftp://app.example'], [42]]) {
      await assert.rejects(startAuthServer({ allowedOrigins }), TypeError, JSON.stringify(allowedOrigins));
    }
  });

  test('/cookie/refresh requires Content-Type: application/json; anything else is 415 and leaves the cookie alone', async () => {
    const cookie = await cookieLogin();
    const form = new FormData();
    form.set('a', 'b');
    // What a cross-site HTML form (no preflight) or a careless client can send.
    const bodies = [
      { 'Content-Type': 'application/x-www-form-urlencoded', body: 'a=b' },
      { 'Content-Type': 'text/plain', body: '{}' },
      { 'Content-Type': 'text/plain; charset=utf-8', body: '{}' },
      { body: form }, // multipart/form-data with a boundary, set by fetch
      { 'Content-Type': 'application/jsonp', body: '{}' },
      { 'Content-Type': 'text/json', body: '{}' },
      { body: new Uint8Array([0x7b, 0x7d]) }, // no Content-Type at all
    ];
    for (const { body, ...headers } of bodies) {
      const res = await fetch(`${server.url}/cookie/refresh`, { method: 'POST', headers: { Cookie: cookie, ...headers }, body });
      assert.equal(res.status, 415, JSON.stringify(headers));
      assert.deepEqual(await res.json(), BAD_CONTENT_TYPE);
      assert.deepEqual(res.headers.getSetCookie(), [], 'the cookie is neither rotated nor cleared');
    }
    const ok = await c.cookieRefresh(cookie, { 'Content-Type': 'Application/JSON; charset=utf-8' });
    assert.equal(ok.status, 200);
    assert.ok(cookieFrom(ok) && cookieFrom(ok) !== cookie);
    assert.equal(server.stats.graceReuses, 0, 'the cookie had not been rotated before');
    assert.equal(server.stats.refreshFailures, bodies.length);
    assert.equal(server.stats.refreshSuccesses, 1);
    assert.deepEqual(
      server.stats.refreshLog.map((e) => [e.outcome, e.status]),
      [...bodies.map(() => ['bad_content_type', 415]), ['rotated', 200]],
    );
  });

  test('/logout acting on the cookie requires JSON; a cross-site form post leaves the session alone', async () => {
    const cookie = await cookieLogin();
    for (const [type, body] of [['text/plain', ''], ['application/x-www-form-urlencoded', 'x=1']]) {
      const res = await fetch(`${server.url}/logout`, { method: 'POST', headers: { Cookie: cookie, 'Content-Type': type }, body });
      assert.equal(res.status, 415, type);
      assert.deepEqual(await res.json(), BAD_CONTENT_TYPE);
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
    assert.equal(server.stats.logouts, 0);
    assert.equal((await c.cookieRefresh(cookie)).status, 200);

    // Without the cookie a logout names its token in the body, as a form too.
    const { refresh_token: rt } = await (await c.login('bob')).json();
    const byForm = await fetch(`${server.url}/logout`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `refresh_token=${rt}`,
    });
    assert.equal(byForm.status, 200);
    assert.deepEqual(await byForm.json(), { revoked: true });
    assert.equal((await c.jsonRefresh(rt)).status, 401);
  });

  test('POST /logout with the cookie revokes its family and clears the cookie', async () => {
    const cookie1 = await cookieLogin('dave');
    const cookie2 = cookieFrom(await c.cookieRefresh(cookie1));
    assert.ok(cookie2);

    const res = await c.logout(cookie2, { Origin: server.url });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { revoked: true });
    assert.equal(res.headers.get('access-control-allow-origin'), server.url);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const [cleared] = res.headers.getSetCookie();
    assert.match(cleared, /^refresh_token=; /);
    assert.match(cleared, /; Max-Age=0/);
    assert.equal(server.stats.logouts, 1);

    for (const cookie of [cookie2, cookie1]) {
      const after = await c.cookieRefresh(cookie);
      assert.equal(after.status, 401);
      assert.equal((await after.json()).error, 'invalid_grant');
      assert.match(after.headers.getSetCookie()[0], /^refresh_token=; .*Max-Age=0/);
    }
    assert.equal(server.stats.reuseDetections, 0, 'a logout is not a reuse');
  });
});

/** Runs www/server/main.mjs with `args`; resolves with { child, line } once it printed a line. */
async function startCli(args) {
  const main = fileURLToPath(new URL('../www/server/main.mjs', import.meta.url));
  const child = spawn(process.execPath, [main, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
  });
  return { child, line };
}

async function stopCli(child) {
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
}

describe('server lifecycle', () => {
  test('close() ends hung requests and resolves promptly', async () => {
    const server = await startAuthServer();
    const c = client(server);
    const { refresh_token: rt } = await (await c.login()).json();
    server.controls.hangNext(2);
    // Handlers attached at once: the two requests fail together when close() destroys them.
    const hung = [c.oauthRefresh(rt), c.cookieRefresh(`refresh_token=${rt}`)].map((p) => assert.rejects(p, TypeError));
    while (server.stats.refreshLog.length < 2) await sleep(10);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000, 'close() waited for hung requests');
    await Promise.all(hung);
    await assert.rejects(fetch(`${server.url}/.well-known/jwks.json`), TypeError);
    await server.close(); // idempotent
  });

  test('staticDir: content types, index.html, no path traversal', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'auth-static-'));
    await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><title>demo</title>');
    await fs.writeFile(path.join(dir, 'app.mjs'), 'export {};');
    await fs.writeFile(path.join(dir, 'pkg.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    await fs.writeFile(path.join(dir, 'style.css'), 'body{}');
    const server = await startAuthServer({ staticDir: dir });
    try {
      const expect = {
        '/': 'text/html',
        '/app.mjs': 'text/javascript',
        '/pkg.wasm': 'application/wasm',
        '/style.css': 'text/css',
      };
      for (const [p, type] of Object.entries(expect)) {
        const res = await fetch(server.url + p);
        assert.equal(res.status, 200, p);
        assert.ok(res.headers.get('content-type').startsWith(type), `${p}: ${res.headers.get('content-type')}`);
        await res.arrayBuffer();
      }
      const wasm = await fetch(`${server.url}/pkg.wasm`);
      assert.ok(WebAssembly.validate(new Uint8Array(await wasm.arrayBuffer())));
      assert.equal((await fetch(`${server.url}/missing.js`)).status, 404);
      // Raw request: fetch would normalise the dots away.
      const status = await new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: server.port, path: '/../../../etc/passwd' }, (res) => {
            res.resume();
            resolve(res.statusCode);
          })
          .on('error', reject);
      });
      assert.equal(status, 404);
      assert.equal((await fetch(`${server.url}/%2e%2e/%2e%2e/etc/passwd`)).status, 404);
      // API routes still win over static files.
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 200);
      // Without spaFallback a client-side route is not found.
      assert.equal((await fetch(`${server.url}/protected`)).status, 404);
    } finally {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('spaFallback: client-side routes get index.html; files, missing files and API routes do not', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'auth-spa-'));
    await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><title>spa</title>');
    const server = await startAuthServer({ staticDir: dir, spaFallback: true });
    try {
      for (const p of ['/protected', '/a/b/c']) {
        const res = await fetch(server.url + p);
        assert.equal(res.status, 200, p);
        assert.match(await res.text(), /<title>spa<\/title>/);
      }
      assert.equal((await fetch(`${server.url}/missing.js`)).status, 404);
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).headers.get('content-type').startsWith('application/json'), true);
    } finally {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('CLI prints the URL and exits cleanly on SIGTERM', async () => {
    const { child, line } = await startCli([]);
    const match = /^auth server listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(match, line);
    assert.equal((await fetch(`${match[1]}/.well-known/jwks.json`)).status, 200);
    await stopCli(child);
  });

  test('CLI: --allowed-origin is repeatable and replaces the default origins', async () => {
    const { child, line } = await startCli(['--allowed-origin', ORIGIN, '--allowed-origin', 'https://app.example']);
    try {
      const url = line.replace('auth server listening on ', '');
      for (const [origin, allowed] of [[ORIGIN, ORIGIN], ['https://app.example', 'https://app.example'], [url, null]]) {
        const res = await fetch(`${url}/.well-known/jwks.json`, { headers: { Origin: origin } });
        assert.equal(res.headers.get('access-control-allow-origin'), allowed, origin);
      }
    } finally {
      await stopCli(child);
    }
  });

  test('CLI: --redirect-uri is repeatable and adds to the loopback redirect URIs; a bad one exits with status 2', async () => {
    const { child, line } = await startCli(['--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'https://app.example/bye']);
    try {
      const url = line.replace('auth server listening on ', '');
      const page = (redirect_uri) =>
        fetch(`${url}/authorize?${new URLSearchParams({ ...authorizeRequest({ clientId: 'demo-client' }).params, redirect_uri })}`, { redirect: 'manual' });
      for (const [redirectUri, status] of [['https://app.example/cb', 200], ['https://app.example/bye', 200], [REDIRECT_URI, 200], ['https://app.example/other', 400]]) {
        const res = await page(redirectUri);
        assert.equal(res.status, status, redirectUri);
        await res.arrayBuffer();
      }
    } finally {
      await stopCli(child);
    }
    const main = fileURLToPath(new URL('../www/server/main.mjs', import.meta.url));
    const bad = spawn(process.execPath, [main, '--port', '0', '--redirect-uri', 'https://app.example/cb#x'], { stdio: 'pipe' });
    let err = '';
    bad.stderr.on('data', (d) => {
      err += d;
    });
    assert.equal(await new Promise((resolve) => bad.on('exit', resolve)), 2);
    assert.match(err, /--redirect-uri/);
  });

  test('CLI: a bad --allowed-origin exits with status 2', async () => {
    const main = fileURLToPath(new URL('../www/server/main.mjs', import.meta.url));
    const child = spawn(process.execPath, [main, '--port', '0', '--allowed-origin', 'https://app.example/path'], { stdio: 'pipe' });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(err, /--allowed-origin/);
  });
});

/** Starts a server of its own for a test (key rotation and token formats outlive reset()). */
async function withServer(options, fn) {
  const server = await startAuthServer({ port: 0, ...options });
  try {
    return await fn(server, client(server));
  } finally {
    await server.close();
  }
}

async function jwksOf(server) {
  const res = await fetch(`${server.url}/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  return res.json();
}

const remoteJwks = (server) => jose.createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`), { cacheMaxAge: 0, cooldownDuration: 0 });

describe('signing keys and the JWKS', () => {
  test('every published key has kid, alg and use:sig; Cache-Control no-store by default; reads counted', async () => {
    await withServer({}, async (server) => {
      const res = await fetch(`${server.url}/.well-known/jwks.json`);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const { keys } = await res.json();
      assert.equal(keys.length, 1);
      assert.deepEqual(keys[0], { kty: 'EC', crv: 'P-256', x: keys[0].x, y: keys[0].y, kid: server.kid, alg: 'ES256', use: 'sig' });
      assert.equal(server.alg, 'ES256');
      await jwksOf(server);
      assert.equal(server.stats.jwksReads, 2);
    });
    await withServer({ jwksMaxAge: 600 }, async (server) => {
      const res = await fetch(`${server.url}/.well-known/jwks.json`);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=600');
    });
  });

  for (const alg of ['RS256', 'PS256']) {
    test(`${alg}: RSA 2048 key; access tokens verify with jose against the remote and the local JWKS`, async () => {
      await withServer({ alg }, async (server, c) => {
        const { keys } = await jwksOf(server);
        assert.deepEqual(Object.keys(keys[0]), ['kty', 'n', 'e', 'kid', 'alg', 'use']);
        assert.equal(keys[0].alg, alg);
        assert.equal(keys[0].use, 'sig');
        assert.equal(Buffer.from(keys[0].n, 'base64url').length, 256);
        const body = await (await c.login('alice')).json();
        const opts = { issuer: server.issuer, audience: server.audience, algorithms: [alg] };
        const remote = await jose.jwtVerify(body.access_token, remoteJwks(server), opts);
        assert.deepEqual(remote.protectedHeader, { alg, kid: server.kid, typ: 'JWT' });
        assert.equal(remote.payload.sub, 'alice');
        await jose.jwtVerify(body.access_token, jose.createLocalJWKSet(server.jwks), opts);
        await jose.jwtVerify(body.access_token, await jose.importSPKI(server.publicPem, alg), opts);
        const refreshed = await (await c.oauthRefresh(body.refresh_token)).json();
        await jose.jwtVerify(refreshed.access_token, remoteJwks(server), opts);
        assert.equal((await c.me(refreshed.access_token)).status, 200);
        // The other RSA algorithm is no substitute.
        await assert.rejects(
          jose.jwtVerify(body.access_token, jose.createLocalJWKSet(server.jwks), { ...opts, algorithms: [alg === 'RS256' ? 'PS256' : 'RS256'] }),
        );
      });
    });
  }

  test('rotateKey: both kids published, new tokens under the new kid; dropOldKeys leaves the current one', async () => {
    await withServer({}, async (server, c) => {
      const before = await (await c.login('alice')).json();
      const oldKid = server.kid;
      const rotated = await server.controls.rotateKey();
      assert.deepEqual(rotated, { kid: server.kid, alg: 'ES256', published: true });
      assert.notEqual(rotated.kid, oldKid);
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.kid), [oldKid, rotated.kid]);

      const after = await (await c.oauthRefresh(before.refresh_token)).json();
      const opts = { issuer: server.issuer, audience: server.audience };
      const verified = await jose.jwtVerify(after.access_token, remoteJwks(server), opts);
      assert.equal(verified.protectedHeader.kid, rotated.kid);
      // The old token still verifies against the published set and the API.
      assert.equal((await jose.jwtVerify(before.access_token, remoteJwks(server), opts)).protectedHeader.kid, oldKid);
      assert.equal((await c.me(before.access_token)).status, 200);

      assert.deepEqual(server.controls.dropOldKeys(), { kids: [rotated.kid] });
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.kid), [rotated.kid]);
      await assert.rejects(jose.jwtVerify(before.access_token, remoteJwks(server), opts), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      assert.equal((await c.me(before.access_token)).status, 401, 'a dropped key no longer verifies at the API');
      assert.equal((await c.me(after.access_token)).status, 200);
    });
  });

  test('rotateKey({ publish: false }): tokens carry a kid the JWKS lacks; publishCurrentKey publishes it', async () => {
    await withServer({}, async (server, c) => {
      const oldKid = server.kid;
      const { kid, published } = await server.controls.rotateKey({ publish: false });
      assert.equal(published, false);
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.kid), [oldKid]);
      assert.ok(!server.jwks.keys.some((k) => k.kid === kid));
      const body = await (await c.login('alice')).json();
      assert.equal(jose.decodeProtectedHeader(body.access_token).kid, kid);
      await assert.rejects(jose.jwtVerify(body.access_token, remoteJwks(server)), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      assert.equal((await c.me(body.access_token)).status, 200, 'the server itself still knows the key');
      server.controls.publishCurrentKey();
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.kid), [oldKid, kid]);
      await jose.jwtVerify(body.access_token, remoteJwks(server), { issuer: server.issuer, audience: server.audience });
    });
  });

  test('rotateKey({ alg }) mixes algorithms in one JWKS; bad alg refused', async () => {
    await withServer({}, async (server, c) => {
      await server.controls.rotateKey({ alg: 'RS256' });
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.alg), ['ES256', 'RS256']);
      assert.equal(server.alg, 'RS256');
      const body = await (await c.login('alice')).json();
      assert.equal(jose.decodeProtectedHeader(body.access_token).alg, 'RS256');
      await jose.jwtVerify(body.access_token, remoteJwks(server));
      await assert.rejects(server.controls.rotateKey({ alg: 'HS256' }), TypeError);
    });
  });

  test('rotation over POST /__control answers the new kid; failJwks answers status n times, status 0 drops', async () => {
    await withServer({}, async (server, c) => {
      const res = await c.control([{ action: 'rotateKey' }, { action: 'rotateKey', args: [{ publish: false }] }]);
      assert.equal(res.status, 200);
      const { results } = await res.json();
      assert.equal(results.length, 2);
      assert.equal(results[1].kid, server.kid);
      assert.equal(results[1].published, false);
      assert.deepEqual((await jwksOf(server)).keys.map((k) => k.kid).slice(1), [results[0].kid]);
      assert.equal((await c.control({ action: 'dropOldKeys' })).status, 200);
      assert.deepEqual((await jwksOf(server)).keys, [], 'only the unpublished current key is left');

      server.controls.resetStats();
      assert.equal((await c.control({ action: 'failJwks', args: [2, 503] })).status, 200);
      for (let i = 0; i < 2; i += 1) {
        const failed = await fetch(`${server.url}/.well-known/jwks.json`);
        assert.equal(failed.status, 503);
        assert.equal((await failed.json()).error, 'temporarily_unavailable');
      }
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 200);
      server.controls.failJwks(1, 0);
      await assert.rejects(fetch(`${server.url}/.well-known/jwks.json`), TypeError);
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 200);
      assert.equal(server.stats.jwksReads, 5);
      server.controls.failJwks(3, 500);
      server.controls.reset();
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 200, 'reset() clears failJwks');
      assert.equal((await c.control({ action: 'failJwks', args: [1, 99] })).status, 400);
      assert.equal((await c.control({ action: 'rotateKey', args: [{ alg: 'none' }] })).status, 400);
    });
  });
});

describe('discovery, revocation and sign-in routes', () => {
  test('openid-configuration: issuer exactly the option, endpoints, supported values, CORS', async () => {
    const issuer = 'http://127.0.0.1:1/exact-issuer';
    await withServer({ issuer, allowedOrigins: [ORIGIN], alg: 'PS256' }, async (server) => {
      const res = await fetch(`${server.url}/.well-known/openid-configuration`, { headers: { Origin: ORIGIN } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
      const doc = await res.json();
      assert.equal(doc.issuer, issuer);
      assert.equal(doc.jwks_uri, `${server.url}/.well-known/jwks.json`);
      assert.equal(doc.token_endpoint, `${server.url}/oauth/token`);
      assert.equal(doc.authorization_endpoint, `${server.url}/authorize`);
      assert.equal(doc.revocation_endpoint, `${server.url}/oauth/revoke`);
      assert.equal(doc.end_session_endpoint, `${server.url}/end-session`);
      assert.deepEqual(doc.id_token_signing_alg_values_supported, ['PS256', 'ES256', 'RS256']);
      assert.deepEqual(doc.response_types_supported, ['code']);
      assert.deepEqual(doc.subject_types_supported, ['public']);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
      assert.deepEqual(doc.grant_types_supported, ['authorization_code', 'refresh_token']);
      assert.deepEqual(doc.response_modes_supported, ['query']);
      assert.equal(doc.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(doc.scopes_supported, ['openid', 'offline_access']);
      assert.deepEqual(doc.token_endpoint_auth_methods_supported, ['none']);
      const rfc8414 = await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json();
      assert.deepEqual(rfc8414, doc);
      const pre = await fetch(`${server.url}/.well-known/openid-configuration`, {
        method: 'OPTIONS',
        headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' },
      });
      assert.equal(pre.status, 204);
      const foreign = await fetch(`${server.url}/.well-known/openid-configuration`, { headers: { Origin: 'http://127.0.0.1:1' } });
      assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    });
    await withServer({}, async (server) => {
      const doc = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
      assert.equal(doc.issuer, server.url);
    });
  });

  test('POST /oauth/revoke (RFC 7009): revokes the refresh token family; unknown tokens are 200 too; each one logged', async () => {
    await withServer({}, async (server, c) => {
      const body = await (await c.login('alice', { scope: 'openid' })).json();
      const revoke = (fields, headers = {}) =>
        fetch(`${server.url}/oauth/revoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
          body: new URLSearchParams(fields).toString(),
        });
      const res = await revoke({ token: body.refresh_token, token_type_hint: 'refresh_token', client_id: server.clientId }, { Origin: server.url });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), server.url);
      assert.equal(await res.text(), '');
      assert.equal((await (await c.oauthRefresh(body.refresh_token)).json()).error, 'invalid_grant');
      assert.equal((await revoke({ token: 'never-issued' })).status, 200);
      assert.equal((await revoke({ token: body.access_token, token_type_hint: 'access_token' })).status, 200);
      assert.equal((await revoke({ token: body.id_token })).status, 200);
      assert.equal((await revoke({})).status, 400);
      assert.equal((await revoke({ token: 'x', client_id: 'someone-else' })).status, 401);
      assert.equal((await fetch(`${server.url}/oauth/revoke`, { method: 'POST', body: '{}' })).status, 400);
      assert.equal(server.stats.revocations, 4);
      assert.deepEqual(
        server.stats.revocationLog.map((e) => [e.kind, e.sub, e.tokenTypeHint, e.clientId]),
        [
          ['refresh_token', 'alice', 'refresh_token', server.clientId],
          ['unknown', null, null, null],
          ['access_token', 'alice', 'access_token', null],
          ['id_token', 'alice', null, null],
        ],
      );
      const seqs = server.stats.revocationLog.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(new Set(seqs).size, 4);
    });
  });
});

const REDIRECT_URI = 'http://127.0.0.1:5173/callback';

/** A PKCE pair as a browser app makes it (RFC 7636 §4.1, §4.2: S256). */
function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Character references in one pass, so that an escaped `&amp;` stays `&amp;`. */
function decodeHtml(text) {
  return text.replace(/&(?:#(\d+)|#x([0-9a-f]+)|([a-z]+));/gi, (ref, dec, hex, name) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : (NAMED_ENTITIES[name] ?? ref),
  );
}

/** The `<input>` elements of a page as maps of their attributes (values unescaped). */
function inputsOf(html) {
  return [...html.matchAll(/<input\b([^>]*)>/g)].map(([, attrs]) =>
    Object.fromEntries([...attrs.matchAll(/([a-z-]+)(?:="([^"]*)")?/g)].map(([, k, v]) => [k, v === undefined ? '' : decodeHtml(v)])),
  );
}

const hiddenFieldsOf = (html) => Object.fromEntries(inputsOf(html).filter((i) => i.type === 'hidden').map((i) => [i.name, i.value]));

/** The query parameters of a redirect's Location as a plain object. */
function locationParams(res) {
  const location = res.headers.get('location');
  assert.ok(location, `status ${res.status} without Location`);
  return Object.fromEntries(new URL(location).searchParams);
}

/** What a browser app sends to /authorize (fresh PKCE pair, state, nonce), `overrides` on top; undefined drops a parameter. */
function authorizeRequest(server, overrides = {}) {
  const { verifier, challenge } = pkcePair();
  const params = {
    response_type: 'code',
    client_id: server.clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access',
    state: `st-${crypto.randomBytes(6).toString('base64url')}`,
    nonce: `n-${crypto.randomBytes(6).toString('base64url')}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
  return { params, verifier };
}

/** The sign-in side of the server over HTTP, as a browser and an app use it (redirects not followed). */
function signInClient(server) {
  const form = (fields) => new URLSearchParams(fields).toString();
  const sc = {
    page: (params) => fetch(`${server.url}/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' }),
    post: (fields, headers = {}) =>
      fetch(`${server.url}/authorize`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body: form(fields),
        redirect: 'manual',
      }),
    /** GETs the login page and posts its form back with `username` and `action`. */
    async submit(params, { username = 'alice', action = 'sign_in' } = {}) {
      const page = await sc.page(params);
      assert.equal(page.status, 200);
      return sc.post({ ...hiddenFieldsOf(await page.text()), username, action });
    },
    /** The flow up to the code: resolves `{ code, verifier, params, response }`. */
    async code(overrides = {}, username = 'alice') {
      const { params, verifier } = authorizeRequest(server, overrides);
      const response = await sc.submit(params, { username });
      assert.equal(response.status, 302);
      const { code } = locationParams(response);
      assert.match(code, /^[A-Za-z0-9_-]{43}$/);
      return { code, verifier, params, response };
    },
    exchange: (fields, headers = {}) =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body: form({ grant_type: 'authorization_code', ...fields }),
      }),
    /** Exchanges what `code()` resolved as the app would. */
    exchangeFor: ({ code, verifier, params }, headers) =>
      sc.exchange({ code, redirect_uri: params.redirect_uri, client_id: params.client_id, code_verifier: verifier }, headers),
    endSession: (params, init = {}) => fetch(`${server.url}/end-session?${new URLSearchParams(params)}`, { redirect: 'manual', ...init }),
  };
  return sc;
}

describe('sign-in: authorization code flow with PKCE', () => {
  let server;
  let c;
  let sc;

  before(async () => {
    server = await startAuthServer({ port: 0, allowedOrigins: [ORIGIN] });
    c = client(server);
    sc = signInClient(server);
  });
  after(() => server.close());
  beforeEach(() => {
    server.controls.reset();
    server.controls.resetStats();
  });

  const verifyId = (token) =>
    jose.jwtVerify(token, remoteJwks(server), { issuer: server.issuer, audience: server.clientId, requiredClaims: ['iat', 'exp', 'sub'] });

  test('GET /authorize: a self-contained login page with the request carried on in hidden fields, all escaped', async () => {
    const state = '"><script>alert(1)</script>&amp;';
    const { params } = authorizeRequest(server, { state, login_hint: 'bob', prompt: 'login', audience: server.audience });
    const res = await sc.page({ ...params, unknown_param: 'dropped' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-security-policy'), /default-src 'none'/);
    assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    const html = await res.text();
    assert.ok(!html.includes('<script>'), 'the state is escaped');
    assert.ok(!/\b(src|href)=/.test(html), 'no external assets');
    assert.deepEqual(hiddenFieldsOf(html), params, 'every parameter but the unknown one, exactly');
    const username = inputsOf(html).find((i) => i.id === 'username');
    assert.deepEqual([username.name, username.type, username.value], ['username', 'text', 'bob']);
    assert.match(html, /<form method="post" action="\/authorize">/);
    assert.match(html, /<button type="submit" id="sign-in" name="action" value="sign_in">Sign in<\/button>/);
    assert.match(html, /<button type="submit" id="deny" name="action" value="deny" formnovalidate>Deny<\/button>/);

    const plain = await (await sc.page(authorizeRequest(server, { login_hint: undefined }).params)).text();
    assert.equal(inputsOf(plain).find((i) => i.id === 'username').value, 'alice', 'default user name');
    assert.deepEqual(
      server.stats.authorizeLog.map((e) => [e.method, e.outcome]),
      [
        ['GET', 'login_page'],
        ['GET', 'login_page'],
      ],
    );
    assert.equal(server.stats.codesIssued, 0);
  });

  test('the full flow over HTTP: page, Sign in, code with state and iss, PKCE exchange; tokens verify against the JWKS', async () => {
    const { params, verifier } = authorizeRequest(server);
    const redirect = await sc.submit(params, { username: 'bob' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('cache-control'), 'no-store');
    const location = new URL(redirect.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
    const answer = locationParams(redirect);
    assert.deepEqual(Object.keys(answer), ['code', 'state', 'iss']);
    assert.match(answer.code, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(answer.state, params.state);
    assert.equal(answer.iss, server.issuer);

    const res = await sc.exchange(
      { code: answer.code, redirect_uri: REDIRECT_URI, client_id: server.clientId, code_verifier: verifier },
      { Origin: ORIGIN },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, 'CORS as on the other token routes');
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 300);
    assert.equal(body.scope, 'openid offline_access');
    assert.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/);

    const access = await jose.jwtVerify(body.access_token, remoteJwks(server), { issuer: server.issuer, audience: server.audience });
    assert.equal(access.payload.sub, 'bob');
    const { payload, protectedHeader } = await verifyId(body.id_token);
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: server.kid, typ: 'JWT' });
    assert.equal(payload.iss, server.issuer);
    assert.equal(payload.aud, server.clientId);
    assert.equal(payload.sub, 'bob');
    assert.equal(payload.nonce, params.nonce);
    assert.equal(payload.exp - payload.iat, 300);
    assert.ok(Math.abs(payload.auth_time - Date.now() / 1000) < 5);
    assert.equal((await (await c.me(body.access_token)).json()).sub, 'bob');

    // The refresh token rotates like a login's; the refreshed ID token carries no nonce.
    const refreshed = await (await c.oauthRefresh(body.refresh_token)).json();
    assert.notEqual(refreshed.refresh_token, body.refresh_token);
    const again = await verifyId(refreshed.id_token);
    assert.equal(again.payload.sub, 'bob');
    assert.equal(again.payload.nonce, undefined);
    assert.equal(again.payload.auth_time, payload.auth_time);

    assert.equal(server.stats.codesIssued, 1);
    assert.equal(server.stats.codeExchanges, 1);
    assert.deepEqual(
      server.stats.codeExchangeLog.map((e) => [e.outcome, e.status, e.code, e.sub]),
      [['exchanged', 200, answer.code, 'bob']],
    );
    assert.deepEqual(
      server.stats.authorizeLog.map((e) => [e.method, e.outcome, e.sub]),
      [
        ['GET', 'login_page', null],
        ['POST', 'code_issued', 'bob'],
      ],
    );
    assert.equal(server.stats.refreshRequests, 1, 'the exchange is no refresh');
    assert.ok(server.stats.authorizeLog[1].seq < server.stats.codeExchangeLog[0].seq);
  });

  test('a redirect_uri with a query keeps it; scope without openid gets no id_token', async () => {
    const redirectUri = 'http://localhost:5173/cb?app=1&x=a%20b';
    const got = await sc.code({ redirect_uri: redirectUri, scope: 'offline_access', state: 'a b&c' });
    const location = got.response.headers.get('location');
    assert.ok(location.startsWith(`${redirectUri}&code=${got.code}&`), location);
    assert.deepEqual(locationParams(got.response), { app: '1', x: 'a b', code: got.code, state: 'a b&c', iss: server.issuer });
    const body = await (await sc.exchangeFor(got)).json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
  });

  test('refused exchanges (RFC 6749 §5.2) leave the code usable: wrong verifier, redirect_uri or client_id, missing or malformed parameters', async () => {
    const got = await sc.code({}, 'carol');
    const good = { code: got.code, redirect_uri: REDIRECT_URI, client_id: server.clientId, code_verifier: got.verifier };
    const cases = [
      [{ code_verifier: pkcePair().verifier }, 400, 'invalid_grant', 'pkce_mismatch'],
      [{ code_verifier: `${got.verifier}x` }, 400, 'invalid_grant', 'pkce_mismatch'],
      [{ redirect_uri: `${REDIRECT_URI}/` }, 400, 'invalid_grant', 'redirect_uri_mismatch'],
      [{ redirect_uri: 'http://localhost:5173/callback' }, 400, 'invalid_grant', 'redirect_uri_mismatch'],
      [{ client_id: 'someone-else' }, 401, 'invalid_client', 'invalid_client'],
      [{ client_id: undefined }, 400, 'invalid_request', 'invalid_request'],
      [{ code: undefined }, 400, 'invalid_request', 'invalid_request'],
      [{ redirect_uri: undefined }, 400, 'invalid_request', 'invalid_request'],
      [{ code_verifier: undefined }, 400, 'invalid_request', 'invalid_request'],
      [{ code_verifier: 'a'.repeat(42) }, 400, 'invalid_request', 'invalid_request'],
      [{ code_verifier: 'a'.repeat(129) }, 400, 'invalid_request', 'invalid_request'],
      [{ code_verifier: `${'a'.repeat(42)}+` }, 400, 'invalid_request', 'invalid_request'],
      [{ code: 'never-issued' }, 400, 'invalid_grant', 'unknown_code'],
    ];
    for (const [change, status, error] of cases) {
      const fields = { ...good, ...change };
      for (const k of Object.keys(fields)) if (fields[k] === undefined) delete fields[k];
      const res = await sc.exchange(fields);
      assert.equal(res.status, status, JSON.stringify(change));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = await res.json();
      assert.equal(body.error, error, JSON.stringify(change));
      assert.equal(typeof body.error_description, 'string');
    }
    const ok = await sc.exchange(good);
    assert.equal(ok.status, 200, 'none of the refusals spent the code');
    assert.equal((await verifyId((await ok.json()).id_token)).payload.sub, 'carol');
    assert.equal(server.stats.codeExchanges, cases.length + 1);
    assert.deepEqual(
      server.stats.codeExchangeLog.map((e) => e.outcome),
      [...cases.map(([, , , outcome]) => outcome), 'exchanged'],
    );
  });

  test('a code expires after 60 s of server clock; setAuthCodeTtl(0) expires codes at once; reset() restores', async () => {
    const got = await sc.code();
    server.controls.setClockSkew(61);
    const late = await sc.exchangeFor(got);
    assert.equal(late.status, 400);
    assert.equal((await late.json()).error, 'invalid_grant');
    server.controls.setClockSkew(58);
    assert.equal((await sc.exchangeFor(got)).status, 200, 'still valid before 60 s');
    server.controls.setClockSkew(0);

    server.controls.setAuthCodeTtl(0);
    const instant = await sc.code();
    assert.equal((await (await sc.exchangeFor(instant)).json()).error, 'invalid_grant');
    server.controls.reset();
    assert.equal((await sc.exchangeFor(await sc.code())).status, 200);
    assert.deepEqual(
      server.stats.codeExchangeLog.map((e) => e.outcome),
      ['code_expired', 'exchanged', 'code_expired', 'exchanged'],
    );
    assert.throws(() => server.controls.setAuthCodeTtl(-1), TypeError);
  });

  test('a code is single use: the second exchange is invalid_grant and revokes the refresh tokens issued from it', async () => {
    const other = await (await c.login('zoe')).json();
    const got = await sc.code({}, 'dave');
    const first = await (await sc.exchangeFor(got)).json();
    const rotated = await (await c.oauthRefresh(first.refresh_token)).json();
    assert.ok(rotated.refresh_token);

    const second = await sc.exchangeFor(got);
    assert.equal(second.status, 400);
    const body = await second.json();
    assert.equal(body.error, 'invalid_grant');
    assert.match(body.error_description, /already used/);
    for (const token of [rotated.refresh_token, first.refresh_token]) {
      const res = await c.oauthRefresh(token);
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, 'invalid_grant');
    }
    assert.equal((await c.oauthRefresh(other.refresh_token)).status, 200, 'other sessions stay');
    assert.deepEqual(
      server.stats.codeExchangeLog.map((e) => [e.outcome, e.code, e.sub]),
      [
        ['exchanged', got.code, 'dave'],
        ['code_reused', got.code, 'dave'],
      ],
    );
    assert.equal(server.stats.reuseDetections, 0, 'a reused code is no reused refresh token');

    // Two exchanges at once: exactly one gets tokens, and its session dies with the other.
    const race = await sc.code();
    const answers = await Promise.all([sc.exchangeFor(race), sc.exchangeFor(race)]);
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 400]);
    const winner = await answers.find((r) => r.status === 200).json();
    assert.equal((await c.oauthRefresh(winner.refresh_token)).status, 400);
  });

  test('authorization errors are redirected with error, state and iss: response_type, PKCE plain or missing, prompt=none, audience, repeats', async () => {
    const cases = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ response_type: 'code id_token' }, 'unsupported_response_type'],
      [{ response_type: undefined }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: undefined }, 'invalid_request'],
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: 'too-short' }, 'invalid_request'],
      [{ prompt: 'none' }, 'login_required'],
      [{ prompt: 'none login' }, 'invalid_request'],
      [{ audience: 'https://other.example' }, 'invalid_target'],
      [{ nonce: 'n'.repeat(1001) }, 'invalid_request'],
    ];
    for (const [change, error] of cases) {
      const { params } = authorizeRequest(server, change);
      const res = await sc.page(params);
      assert.equal(res.status, 302, JSON.stringify(change));
      assert.ok(res.headers.get('location').startsWith(`${REDIRECT_URI}?error=`));
      const answer = locationParams(res);
      assert.deepEqual(Object.keys(answer), ['error', 'error_description', 'state', 'iss'], JSON.stringify(change));
      assert.equal(answer.error, error, JSON.stringify(change));
      assert.equal(answer.state, params.state);
      assert.equal(answer.iss, server.issuer);
    }
    const { params } = authorizeRequest(server);
    const repeated = await fetch(`${server.url}/authorize?${new URLSearchParams(params)}&scope=openid`, { redirect: 'manual' });
    assert.equal(locationParams(repeated).error, 'invalid_request');
    // Without a state none comes back.
    const stateless = await sc.page(authorizeRequest(server, { state: undefined, response_type: 'token' }).params);
    assert.deepEqual(Object.keys(locationParams(stateless)), ['error', 'error_description', 'iss']);
    // The form post is checked again: a tampered hidden field is refused the same way.
    const page = await (await sc.page(params)).text();
    const tampered = await sc.post({ ...hiddenFieldsOf(page), code_challenge_method: 'plain', username: 'alice', action: 'sign_in' });
    assert.equal(locationParams(tampered).error, 'invalid_request');
    assert.equal(server.stats.codesIssued, 0);
  });

  test('Deny answers access_denied with state and iss; an empty user name shows the form again', async () => {
    const { params } = authorizeRequest(server);
    const denied = await sc.submit(params, { action: 'deny', username: '' });
    assert.equal(denied.status, 302);
    const answer = locationParams(denied);
    assert.deepEqual(Object.keys(answer), ['error', 'error_description', 'state', 'iss']);
    assert.equal(answer.error, 'access_denied');
    assert.equal(answer.state, params.state);
    assert.equal(answer.iss, server.issuer);

    const page = await (await sc.page(params)).text();
    const empty = await sc.post({ ...hiddenFieldsOf(page), username: '  ', action: 'sign_in' });
    assert.equal(empty.status, 400);
    assert.equal(empty.headers.get('location'), null);
    const again = await empty.text();
    assert.match(again, /id="message"/);
    assert.deepEqual(hiddenFieldsOf(again), params);
    assert.equal((await sc.post({ ...hiddenFieldsOf(page), username: 'x', action: 'maybe' })).status, 400);
    assert.equal(server.stats.codesIssued, 0);
    assert.deepEqual(
      server.stats.authorizeLog.map((e) => [e.method, e.outcome, e.error]),
      [
        ['GET', 'login_page', null],
        ['POST', 'access_denied', 'access_denied'],
        ['GET', 'login_page', null],
        ['POST', 'login_page', 'invalid_username'],
        ['POST', 'refused', 'invalid_request'],
      ],
    );
  });

  test('an invalid client_id or redirect_uri gets a 400 page, never a redirect (RFC 6749 §4.1.2.1)', async () => {
    const cases = [
      { redirect_uri: 'https://evil.example/callback' },
      { redirect_uri: 'http://127.0.0.1.evil.example/callback' },
      { redirect_uri: 'http://localhost.evil.example:5173/callback' },
      { redirect_uri: 'ftp://127.0.0.1/callback' },
      { redirect_uri: 'http://user:pw@127.0.0.1:5173/callback' },
      { redirect_uri: `${REDIRECT_URI}#fragment` },
      { redirect_uri: '/callback' },
      { redirect_uri: '' },
      { redirect_uri: undefined },
      { client_id: 'someone-else' },
      { client_id: undefined },
    ];
    for (const change of cases) {
      // Also a wrong response_type: the bad client or redirect_uri is answered first, on the page.
      const { params } = authorizeRequest(server, { response_type: 'token', ...change });
      const res = await sc.page(params);
      assert.equal(res.status, 400, JSON.stringify(change));
      assert.equal(res.headers.get('location'), null);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      const html = await res.text();
      assert.match(html, /<code id="error">invalid_(request|client)<\/code>/);
      assert.ok(!html.includes('<form'), 'no login form');
    }
    const query = `${new URLSearchParams(authorizeRequest(server).params)}&redirect_uri=${encodeURIComponent('https://evil.example/')}`;
    const twice = await fetch(`${server.url}/authorize?${query}`, { redirect: 'manual' });
    assert.equal(twice.status, 400);
    // A form post with a redirect_uri swapped in gets the page too.
    const { params } = authorizeRequest(server);
    const page = await (await sc.page(params)).text();
    const swapped = await sc.post({ ...hiddenFieldsOf(page), redirect_uri: 'https://evil.example/callback', username: 'alice', action: 'sign_in' });
    assert.equal(swapped.status, 400);
    assert.equal(swapped.headers.get('location'), null);
    // Loopback hosts on any port and path are fine, IPv6 too.
    for (const redirect_uri of ['http://localhost/x', 'https://127.0.0.1:8443/a/b?c=d', 'http://[::1]:3000/cb']) {
      assert.equal((await sc.page(authorizeRequest(server, { redirect_uri }).params)).status, 200, redirect_uri);
    }
    assert.equal(server.stats.codesIssued, 0);
    assert.equal(server.stats.authorizeLog.filter((e) => e.outcome === 'refused').length, cases.length + 2);
  });

  test('redirectUris: listed URLs are accepted exactly, beside the loopback ones; bad entries throw', async () => {
    await withServer({ redirectUris: ['https://app.example/cb'] }, async (other) => {
      const osc = signInClient(other);
      assert.deepEqual(other.redirectUris, ['https://app.example/cb']);
      const got = await osc.code({ redirect_uri: 'https://app.example/cb' });
      assert.ok(got.response.headers.get('location').startsWith('https://app.example/cb?code='));
      assert.equal((await osc.exchangeFor(got)).status, 200);
      for (const redirect_uri of ['https://app.example/cb/', 'https://app.example/cb?x=1', 'http://app.example/cb']) {
        assert.equal((await osc.page(authorizeRequest(other, { redirect_uri }).params)).status, 400, redirect_uri);
      }
      assert.equal((await osc.page(authorizeRequest(other).params)).status, 200);
    });
    for (const redirectUris of ['https://app.example/cb', ['app.example/cb'], ['https://app.example/cb#x'], ['javascript:alert(1)'], [42]]) {
      await assert.rejects(startAuthServer({ redirectUris }), TypeError, JSON.stringify(redirectUris));
    }
    await assert.rejects(startAuthServer({ authCodeTtl: -1 }), TypeError);
  });

  test('failAuthorizeNext: the next authorization is redirected back with the chosen error, from JS and over /__control', async () => {
    server.controls.failAuthorizeNext('temporarily_unavailable');
    const bad = await sc.page(authorizeRequest(server, { redirect_uri: 'https://evil.example/' }).params);
    assert.equal(bad.status, 400, 'a request that gets no redirect does not use up the fault');
    const { params } = authorizeRequest(server);
    const failed = await sc.page(params);
    assert.equal(failed.status, 302);
    const answer = locationParams(failed);
    assert.deepEqual([answer.error, answer.state, answer.iss], ['temporarily_unavailable', params.state, server.issuer]);
    assert.equal(answer.code, undefined);
    const page = await sc.page(params);
    assert.equal(page.status, 200, 'only the next one');

    // Set while the login page is shown: the Sign in answers the error.
    const fields = { ...hiddenFieldsOf(await page.text()), username: 'alice', action: 'sign_in' };
    const set = await c.control({ action: 'failAuthorizeNext', args: ['server_error'] });
    assert.equal(set.status, 200);
    const signIn = await sc.post(fields);
    assert.deepEqual([locationParams(signIn).error, locationParams(signIn).code], ['server_error', undefined]);
    assert.ok(locationParams(await sc.post(fields)).code);

    server.controls.failAuthorizeNext('access_denied', 2);
    server.controls.reset();
    assert.equal((await sc.page(params)).status, 200, 'reset() clears it');
    assert.equal((await c.control({ action: 'failAuthorizeNext', args: ['bad"code'] })).status, 400);
    assert.throws(() => server.controls.failAuthorizeNext(''), TypeError);
    assert.throws(() => server.controls.failAuthorizeNext('server_error', -1), TypeError);
    assert.deepEqual(
      server.stats.authorizeLog.filter((e) => e.outcome === 'injected').map((e) => [e.method, e.error]),
      [
        ['GET', 'temporarily_unavailable'],
        ['POST', 'server_error'],
      ],
    );
    assert.equal(server.stats.codesIssued, 1);
  });

  test("POST /authorize takes a form from the server's own pages only", async () => {
    const { params } = authorizeRequest(server);
    const fields = { ...hiddenFieldsOf(await (await sc.page(params)).text()), username: 'mallory', action: 'sign_in' };
    for (const origin of ['https://evil.example', ORIGIN, 'null']) {
      const res = await sc.post(fields, { Origin: origin });
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers.get('location'), null);
      assert.match(await res.text(), /origin not allowed/);
    }
    const json = await fetch(`${server.url}/authorize`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(fields),
      redirect: 'manual',
    });
    assert.equal(json.status, 415);
    assert.equal(server.stats.codesIssued, 0);
    for (const origin of [server.url, `http://localhost:${server.port}`]) {
      assert.ok(locationParams(await sc.post(fields, { Origin: origin })).code, origin);
    }
    assert.equal((await fetch(`${server.url}/authorize`, { method: 'PUT' })).status, 405);
  });
});

describe('sign-out: RP-initiated logout at /end-session', () => {
  let server;
  let c;
  let sc;

  before(async () => {
    server = await startAuthServer({ port: 0 });
    c = client(server);
    sc = signInClient(server);
  });
  after(() => server.close());
  beforeEach(() => {
    server.controls.reset();
    server.controls.resetStats();
  });

  /** Signs `user` in through /authorize and the code exchange; resolves the token response. */
  async function signedIn(user) {
    const res = await sc.exchangeFor(await sc.code({}, user));
    assert.equal(res.status, 200);
    return res.json();
  }

  const refreshStatus = async (token) => (await c.oauthRefresh(token)).status;

  test('a valid id_token_hint and post_logout_redirect_uri: 302 there with state; every refresh token of the sub revoked', async () => {
    const erin = await signedIn('erin');
    const erinElsewhere = await (await c.login('erin')).json();
    const frank = await signedIn('frank');
    const target = 'http://localhost:5173/signed-out?app=1';
    const res = await sc.endSession({ id_token_hint: erin.id_token, client_id: server.clientId, post_logout_redirect_uri: target, state: 'bye 1' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${target}&state=bye+1`);
    assert.equal(await refreshStatus(erin.refresh_token), 400);
    assert.equal(await refreshStatus(erinElsewhere.refresh_token), 400);
    assert.equal(await refreshStatus(frank.refresh_token), 200);
    assert.equal(server.stats.endSessions, 1);
    const [entry] = server.stats.endSessionLog;
    assert.deepEqual(
      { ...entry, seq: undefined, at: undefined },
      {
        seq: undefined,
        at: undefined,
        outcome: 'redirected',
        sub: 'erin',
        clientId: server.clientId,
        postLogoutRedirectUri: target,
        state: 'bye 1',
        revokedFamilies: 2,
      },
    );
    assert.ok(Math.abs(entry.at - Date.now()) < 5000);

    // Without state nothing is added; the URI is taken as it is.
    const plain = await sc.endSession({ id_token_hint: frank.id_token, post_logout_redirect_uri: 'http://127.0.0.1:5173/' });
    assert.equal(plain.headers.get('location'), 'http://127.0.0.1:5173/');
    assert.equal(await refreshStatus(frank.refresh_token), 400);
  });

  test("an expired ID token is a valid hint; a form POST from the app's page works as GET does", async () => {
    server.controls.setClockSkew(-7200);
    const old = await signedIn('gina');
    server.controls.setClockSkew(0);
    await assert.rejects(
      jose.jwtVerify(old.id_token, remoteJwks(server), { issuer: server.issuer, audience: server.clientId }),
      { code: 'ERR_JWT_EXPIRED' },
    );
    const res = await fetch(`${server.url}/end-session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
      body: new URLSearchParams({ id_token_hint: old.id_token, post_logout_redirect_uri: REDIRECT_URI, state: 's' }).toString(),
      redirect: 'manual',
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${REDIRECT_URI}?state=s`);
    assert.equal(server.stats.endSessionLog[0].sub, 'gina');
    assert.equal(await refreshStatus(old.refresh_token), 400);
  });

  test('without a valid post_logout_redirect_uri: the signed-out page; without a hint nothing is revoked', async () => {
    const hal = await signedIn('hal');
    const none = await sc.endSession({});
    assert.equal(none.status, 200);
    assert.equal(none.headers.get('location'), null);
    assert.equal(none.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await none.text();
    assert.match(html, /id="signed-out"/);
    assert.ok(!html.includes('not-redirected'));

    const foreign = await sc.endSession({ id_token_hint: hal.id_token, post_logout_redirect_uri: 'https://evil.example/bye', state: 'x' });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.headers.get('location'), null);
    const page = await foreign.text();
    assert.match(page, /id="not-redirected"/);
    assert.ok(page.includes('https://evil.example/bye'));
    assert.equal(await refreshStatus(hal.refresh_token), 400, 'the session ended all the same');

    const ivy = await signedIn('ivy');
    const noHint = await sc.endSession({ client_id: server.clientId, post_logout_redirect_uri: REDIRECT_URI });
    assert.equal(noHint.status, 302);
    assert.equal(noHint.headers.get('location'), REDIRECT_URI);
    assert.equal(await refreshStatus(ivy.refresh_token), 200, 'no hint, no sub: nothing revoked');
    assert.deepEqual(
      server.stats.endSessionLog.map((e) => [e.outcome, e.sub, e.revokedFamilies]),
      [
        ['signed_out', null, 0],
        ['signed_out', 'hal', 1],
        ['redirected', null, 0],
      ],
    );
  });

  test('a forged id_token_hint or another client_id: a 400 page, no redirect, nothing revoked', async () => {
    const jay = await signedIn('jay');
    const { privateKey } = await jose.generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new jose.SignJWT({ sub: 'jay' })
      .setProtectedHeader({ alg: 'ES256', kid: server.kid, typ: 'JWT' })
      .setIssuer(server.issuer)
      .setAudience(server.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const [header, , signature] = jay.id_token.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ ...jose.decodeJwt(jay.id_token), sub: 'someone' })).toString('base64url');
    const hints = [forged, `${header}.${otherPayload}.${signature}`, jay.access_token, 'not-a-jwt'];
    for (const id_token_hint of hints) {
      const res = await sc.endSession({ id_token_hint, post_logout_redirect_uri: REDIRECT_URI, state: 's' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(await res.text(), /<code id="error">invalid_request<\/code>/);
    }
    const otherClient = await sc.endSession({ id_token_hint: jay.id_token, client_id: 'someone-else', post_logout_redirect_uri: REDIRECT_URI });
    assert.equal(otherClient.status, 400);
    assert.match(await otherClient.text(), /<code id="error">invalid_client<\/code>/);
    assert.equal(await refreshStatus(jay.refresh_token), 200);
    assert.deepEqual(
      server.stats.endSessionLog.map((e) => [e.outcome, e.sub, e.revokedFamilies]),
      [...hints.map(() => ['invalid_id_token_hint', null, 0]), ['invalid_client', null, 0]],
    );
  });

  test('revocation, then end-session: seq orders the entries of both logs', async () => {
    const kim = await signedIn('kim');
    const revoked = await fetch(`${server.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: kim.refresh_token, token_type_hint: 'refresh_token', client_id: server.clientId }).toString(),
    });
    assert.equal(revoked.status, 200);
    assert.equal((await sc.endSession({ id_token_hint: kim.id_token, post_logout_redirect_uri: REDIRECT_URI })).status, 302);
    const stats = await c.stats();
    const events = [
      ...stats.revocationLog.map((e) => ({ ...e, type: 'revocation' })),
      ...stats.endSessionLog.map((e) => ({ ...e, type: 'end_session' })),
    ].sort((a, b) => a.seq - b.seq);
    assert.deepEqual(
      events.map((e) => [e.type, e.sub]),
      [
        ['revocation', 'kim'],
        ['end_session', 'kim'],
      ],
    );
    assert.equal(events[1].revokedFamilies, 0, 'the revocation had ended the session already');
    assert.ok(events[0].at <= events[1].at);
  });
});

describe('ID tokens and opaque access tokens', () => {
  const verifyId = (server, token, extra = {}) =>
    jose.jwtVerify(token, remoteJwks(server), { issuer: server.issuer, audience: server.clientId, requiredClaims: ['iat', 'exp', 'sub'], ...extra });

  test("scope openid: login and refresh carry an id_token (aud = client id, nonce only on login); none without", async () => {
    await withServer({ alg: 'RS256' }, async (server, c) => {
      const plain = await (await c.login('alice')).json();
      assert.equal(plain.id_token, undefined);
      assert.equal((await (await c.oauthRefresh(plain.refresh_token)).json()).id_token, undefined);

      const body = await (await c.login('alice', { scope: 'openid offline_access', nonce: 'n-0S6_WzA2Mj' })).json();
      assert.equal(body.scope, 'openid offline_access');
      const { payload, protectedHeader } = await verifyId(server, body.id_token);
      assert.deepEqual(protectedHeader, { alg: 'RS256', kid: server.kid, typ: 'JWT' });
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.aud, server.clientId);
      assert.equal(payload.nonce, 'n-0S6_WzA2Mj');
      assert.equal(typeof payload.auth_time, 'number');

      const refreshed = await (await c.oauthRefresh(body.refresh_token)).json();
      const again = await verifyId(server, refreshed.id_token);
      assert.equal(again.payload.sub, 'alice');
      assert.equal(again.payload.nonce, undefined);
      assert.equal(again.payload.auth_time, payload.auth_time);
      const json = await (await c.jsonRefresh(refreshed.refresh_token)).json();
      await verifyId(server, json.idToken);

      // Form logins take scope and nonce too.
      const form = await fetch(`${server.url}/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'user=bob&scope=openid&nonce=abc',
      });
      assert.equal((await verifyId(server, (await form.json()).id_token)).payload.nonce, 'abc');
      assert.equal((await c.login('alice', { scope: 42 })).status, 400);
    });
  });

  test('idTokens: true always, false never', async () => {
    await withServer({ idTokens: true }, async (server, c) => {
      const body = await (await c.login('alice')).json();
      await verifyId(server, body.id_token);
    });
    await withServer({ idTokens: false }, async (server, c) => {
      const body = await (await c.login('alice', { scope: 'openid' })).json();
      assert.equal(body.id_token, undefined);
    });
  });

  test("accessTokenFormat 'opaque': random access tokens /api/me accepts, refreshable, identity in the id_token", async () => {
    await withServer({ accessTokenFormat: 'opaque', accessTtl: 120 }, async (server, c) => {
      assert.equal(server.accessTokenFormat, 'opaque');
      const body = await (await c.login('alice')).json();
      assert.match(body.access_token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(body.expires_in, 120);
      assert.equal(body.token_type, 'Bearer');
      assert.equal((await verifyId(server, body.id_token)).payload.sub, 'alice');
      const me = await c.me(body.access_token);
      assert.equal(me.status, 200);
      const who = await me.json();
      assert.equal(who.sub, 'alice');
      assert.equal(who.exp - who.iat, 120);
      assert.equal((await c.me('not-a-token-we-issued')).status, 401);

      const refreshed = await (await c.oauthRefresh(body.refresh_token)).json();
      assert.notEqual(refreshed.access_token, body.access_token);
      assert.equal((await c.me(refreshed.access_token)).status, 200);
      assert.equal((await verifyId(server, refreshed.id_token)).payload.sub, 'alice');

      // Revoking an opaque access token forgets it.
      await fetch(`${server.url}/oauth/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshed.access_token }).toString(),
      });
      assert.equal((await c.me(refreshed.access_token)).status, 401);

      // Expired and unknown opaque tokens from badTokenNext are refused by the API.
      server.controls.badTokenNext('expired');
      const expired = await (await c.oauthRefresh(refreshed.refresh_token)).json();
      const denied = await c.me(expired.access_token);
      assert.equal(denied.status, 401);
      assert.match(denied.headers.get('www-authenticate'), /expired/);
      server.controls.badTokenNext('wrong_key');
      const wrong = await (await c.oauthRefresh(refreshed.refresh_token)).json();
      assert.equal((await c.me(wrong.access_token)).status, 401);
    });
  });

  test("badTokenNext('wrong_key') uses the current alg and kid", async () => {
    await withServer({ alg: 'PS256' }, async (server, c) => {
      const body = await (await c.login('alice')).json();
      server.controls.badTokenNext('wrong_key');
      const bad = await (await c.oauthRefresh(body.refresh_token)).json();
      assert.deepEqual(jose.decodeProtectedHeader(bad.access_token), { alg: 'PS256', kid: server.kid, typ: 'JWT' });
      await assert.rejects(jose.jwtVerify(bad.access_token, jose.createLocalJWKSet(server.jwks)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });
  });

  test('bad options throw', async () => {
    await assert.rejects(startAuthServer({ alg: 'HS256' }), TypeError);
    await assert.rejects(startAuthServer({ accessTokenFormat: 'paseto' }), TypeError);
    await assert.rejects(startAuthServer({ idTokens: 'yes' }), TypeError);
    await assert.rejects(startAuthServer({ jwksMaxAge: -1 }), TypeError);
  });
});

/** A client's DPoP key pair (RFC 9449 §4): `{ alg, privateKey, publicJwk, jkt }`, jkt its RFC 7638 SHA-256 thumbprint. */
async function dpopKey(alg = 'ES256') {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await jose.calculateJwkThumbprint(publicJwk) };
}

const nowS = () => Math.floor(Date.now() / 1000);

/**
 * A DPoP proof JWT by `key` for a request `htm htu`: a fresh jti and iat now, `claims` on top
 * (ath, nonce; undefined drops a claim), `header` on top of `{ typ: 'dpop+jwt', alg, jwk }`.
 */
async function dpopProof(key, htm, htu, { claims = {}, header = {} } = {}) {
  const payload = { jti: crypto.randomUUID(), htm, htu, iat: nowS(), ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new jose.SignJWT(payload).setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...header }).sign(key.privateKey);
}

/** RFC 9449 §4.2: `ath`, BASE64URL(SHA-256(access token)). */
const athOf = (token) => crypto.createHash('sha256').update(token).digest('base64url');

/** An HTTP request as node:http sends it (headers given as arrays go out as several lines); resolves `{ status, headers, body }`. */
function rawRequest(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The DPoP side of a server over HTTP: token requests and /api/me with proofs, and a DPoP-bound sign-in. */
function dpopClient(server) {
  const tokenUrl = `${server.url}/oauth/token`;
  const meUrl = `${server.url}/api/me`;
  const sc = signInClient(server);
  const dc = {
    tokenUrl,
    meUrl,
    /** A refresh_token grant at /oauth/token, with `proof` in the DPoP header when given. */
    refresh: (refreshToken, proof, headers = {}) =>
      fetch(tokenUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(proof ? { DPoP: proof } : {}), ...headers },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: server.clientId }).toString(),
      }),
    /** GET /api/me with `Authorization: <scheme> <token>` and `proof` in the DPoP header when given. */
    me: (token, proof, scheme = 'DPoP') =>
      fetch(meUrl, { headers: { Authorization: `${scheme} ${token}`, ...(proof ? { DPoP: proof } : {}) } }),
    /** A proof for /api/me with the token's ath. */
    meProof: (key, token, claims = {}) => dpopProof(key, 'GET', meUrl, { claims: { ath: athOf(token), ...claims } }),
    /** Signs in (code flow) and exchanges the code with a proof by `key` (none without); resolves the token response. */
    async signIn(key, username = 'alice') {
      const got = await sc.code({}, username);
      const res = await sc.exchangeFor(got, key ? { DPoP: await dpopProof(key, 'POST', tokenUrl) } : {});
      assert.equal(res.status, 200);
      return res.json();
    },
  };
  return dc;
}

/** Asserts a 400 token endpoint answer `{ error, error_description }` with Cache-Control: no-store. */
async function assertTokenError(res, error, what = '') {
  assert.equal(res.status, 400, what);
  assert.equal(res.headers.get('cache-control'), 'no-store', what);
  const body = await res.json();
  assert.equal(body.error, error, what);
  assert.equal(typeof body.error_description, 'string', what);
}

/** Asserts a 401 from /api/me with the DPoP challenge carrying `error` and the algs. */
async function assertDpopChallenge(res, error, what = '') {
  assert.equal(res.status, 401, what);
  const challenge = res.headers.get('www-authenticate');
  assert.match(challenge, new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="ES256 RS256 PS256"$`), what);
  assert.equal((await res.json()).error, error, what);
}

describe('DPoP (RFC 9449)', () => {
  let server;
  let c;
  let dc;

  before(async () => {
    server = await startAuthServer({ port: 0, allowedOrigins: [ORIGIN] });
    c = client(server);
    dc = dpopClient(server);
  });
  after(() => server.close());
  beforeEach(() => {
    server.controls.reset();
    server.controls.resetStats();
  });

  const outcomes = () => server.stats.dpopLog.map((e) => e.outcome);

  test('a sign-in with a proof is DPoP-bound (token_type DPoP, cnf.jkt), refreshes with the same key and reads /api/me with ath', async () => {
    const key = await dpopKey();
    const got = await signInClient(server).code({}, 'bob');
    const exchangeProof = await dpopProof(key, 'POST', dc.tokenUrl);
    const res = await signInClient(server).exchangeFor(got, { DPoP: exchangeProof });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.token_type, 'DPoP');
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
    const { payload } = await jose.jwtVerify(body.access_token, remoteJwks(server), { issuer: server.issuer, audience: server.audience });
    assert.equal(payload.sub, 'bob');
    assert.deepEqual(payload.cnf, { jkt: await jose.calculateJwkThumbprint(key.publicJwk) });

    const refreshProof = await dpopProof(key, 'POST', dc.tokenUrl);
    const refreshed = await dc.refresh(body.refresh_token, refreshProof);
    assert.equal(refreshed.status, 200);
    const next = await refreshed.json();
    assert.equal(next.token_type, 'DPoP');
    assert.notEqual(next.refresh_token, body.refresh_token);
    assert.equal(jose.decodeJwt(next.access_token).cnf.jkt, key.jkt);

    const meProof = await dc.meProof(key, next.access_token);
    const me = await dc.me(next.access_token, meProof);
    assert.equal(me.status, 200);
    assert.equal((await me.json()).sub, 'bob');

    assert.equal(server.stats.dpopProofs, 3);
    assert.deepEqual(
      server.stats.dpopLog.map((e) => [e.route, e.outcome, e.jkt, e.jti]),
      [
        ['/oauth/token', 'ok', key.jkt, jose.decodeJwt(exchangeProof).jti],
        ['/oauth/token', 'ok', key.jkt, jose.decodeJwt(refreshProof).jti],
        ['/api/me', 'ok', key.jkt, jose.decodeJwt(meProof).jti],
      ],
    );
    assert.deepEqual(server.stats.refreshLog.map((e) => e.outcome), ['rotated']);
    const stats = await c.stats();
    assert.equal(stats.dpopProofs, 3, '/__stats carries the counter');
    assert.equal(stats.dpopLog.length, 3, '/__stats carries the log');
    assert.ok(stats.dpopLog[0].seq < stats.dpopLog[1].seq);

    // Without a proof the answer is a Bearer token, as before DPoP (the default mode is 'optional').
    const plain = await dc.signIn(undefined);
    assert.equal(plain.token_type, 'Bearer');
    assert.equal(jose.decodeJwt(plain.access_token).cnf, undefined);
    assert.equal((await c.me(plain.access_token)).status, 200);
    const refreshedPlain = await (await c.oauthRefresh(plain.refresh_token)).json();
    assert.equal(refreshedPlain.token_type, 'Bearer');

    const doc = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    assert.deepEqual(doc.dpop_signing_alg_values_supported, ['ES256', 'RS256', 'PS256']);
  });

  test('the token endpoint refuses bad proofs with 400 invalid_dpop_proof and leaves the refresh token as it was', async () => {
    const key = await dpopKey();
    const other = await dpopKey();
    const { refresh_token: rt } = await dc.signIn(key);
    const privateJwk = await jose.exportJWK(key.privateKey);
    const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claimsNow = () => ({ jti: crypto.randomUUID(), htm: 'POST', htu: dc.tokenUrl, iat: nowS() });
    // jose signs with no RSA key under 2048 bits, so this proof is made with node:crypto.
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakInput = `${encode({ typ: 'dpop+jwt', alg: 'RS256', jwk: weak.publicKey.export({ format: 'jwk' }) })}.${encode(claimsNow())}`;
    const weakProof = `${weakInput}.${crypto.sign('sha256', Buffer.from(weakInput), weak.privateKey).toString('base64url')}`;
    const cases = [
      ['htm_mismatch', await dpopProof(key, 'GET', dc.tokenUrl)],
      ['htu_mismatch', await dpopProof(key, 'POST', `${server.url}/refresh`)],
      ['htu_mismatch', await dpopProof(key, 'POST', `http://127.0.0.1:1/oauth/token`)],
      ['htu_mismatch', await dpopProof(key, 'POST', `https://127.0.0.1:${server.port}/oauth/token`)],
      ['iat_window', await dpopProof(key, 'POST', dc.tokenUrl, { claims: { iat: nowS() - 61 } })],
      ['iat_window', await dpopProof(key, 'POST', dc.tokenUrl, { claims: { iat: nowS() + 30 } })],
      ['private_jwk', await dpopProof(key, 'POST', dc.tokenUrl, { header: { jwk: privateJwk } })],
      ['bad_alg', await new jose.SignJWT(claimsNow()).setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.publicJwk }).sign(crypto.randomBytes(32))],
      ['bad_alg', `${encode({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${encode(claimsNow())}.`],
      ['bad_typ', await dpopProof(key, 'POST', dc.tokenUrl, { header: { typ: 'JWT' } })],
      ['bad_signature', await dpopProof(key, 'POST', dc.tokenUrl, { header: { jwk: other.publicJwk } })],
      ['bad_jwk', await dpopProof(key, 'POST', dc.tokenUrl, { header: { jwk: undefined } })],
      ['bad_jwk', weakProof],
      ['missing_claim', await dpopProof(key, 'POST', dc.tokenUrl, { claims: { jti: undefined } })],
      ['missing_claim', await dpopProof(key, 'POST', dc.tokenUrl, { claims: { iat: undefined } })],
      ['malformed', 'not-a-jwt'],
    ];
    assert.ok(privateJwk.d, 'the private JWK has its private member');
    for (const [outcome, proof] of cases) {
      server.controls.resetStats();
      await assertTokenError(await dc.refresh(rt, proof), 'invalid_dpop_proof', outcome);
      assert.deepEqual(outcomes(), [outcome]);
      assert.deepEqual(server.stats.refreshLog.map((e) => [e.outcome, e.status]), [['invalid_dpop_proof', 400]], outcome);
    }
    assert.equal(server.stats.dpopLog.at(-1).jti, null, 'no jti is known of a proof that is no JWT');

    // Two DPoP headers (RFC 9449 §4.3 check 1), sent as two header lines.
    server.controls.resetStats();
    const twice = await rawRequest(dc.tokenUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        DPoP: [await dpopProof(key, 'POST', dc.tokenUrl), await dpopProof(key, 'POST', dc.tokenUrl)],
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(),
    });
    assert.equal(twice.status, 400);
    assert.equal(JSON.parse(twice.body).error, 'invalid_dpop_proof');
    assert.deepEqual(outcomes(), ['multiple']);

    // None of that touched the token; a replayed proof is refused once the first use went through.
    server.controls.resetStats();
    const proof = await dpopProof(key, 'POST', dc.tokenUrl, { claims: { iat: nowS() - 30 } });
    const first = await dc.refresh(rt, proof);
    assert.equal(first.status, 200, 'a proof 30 s old is within the window');
    const { refresh_token: rt2 } = await first.json();
    await assertTokenError(await dc.refresh(rt2, proof), 'invalid_dpop_proof', 'replay');
    assert.deepEqual(outcomes(), ['ok', 'jti_replay']);
    // The htu is compared without query, and any of the server's own origins names it.
    const withQuery = await dc.refresh(rt2, await dpopProof(key, 'POST', `${dc.tokenUrl}?x=1#f`));
    assert.equal(withQuery.status, 200);
    const { refresh_token: rt3 } = await withQuery.json();
    const viaLocalhost = await dc.refresh(rt3, await dpopProof(key, 'POST', `http://localhost:${server.port}/oauth/token`));
    assert.equal(viaLocalhost.status, 200);
    assert.equal(server.stats.reuseDetections, 0);
  });

  test('the iat window is on the server clock, skew included', async () => {
    const key = await dpopKey();
    const { refresh_token: rt } = await dc.signIn(key);
    server.controls.setClockSkew(120);
    await assertTokenError(await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl)), 'invalid_dpop_proof');
    assert.deepEqual(outcomes(), ['ok', 'iat_window']);
    const skewed = await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl, { claims: { iat: nowS() + 120 } }));
    assert.equal(skewed.status, 200);
  });

  test('a refresh with another key or none is invalid_grant (dpop_key_mismatch) and revokes nothing; the real key still refreshes', async () => {
    const key = await dpopKey();
    const thief = await dpopKey();
    const { refresh_token: rt } = await dc.signIn(key);
    await assertTokenError(await dc.refresh(rt, await dpopProof(thief, 'POST', dc.tokenUrl)), 'invalid_grant', 'another key');
    await assertTokenError(await dc.refresh(rt), 'invalid_grant', 'no proof');
    const json = await c.jsonRefresh(rt);
    assert.equal(json.status, 401, 'the JSON route takes no proof, so a bound token is refused there');
    assert.equal((await json.json()).error, 'invalid_grant');
    assert.deepEqual(server.stats.refreshLog.map((e) => e.outcome), ['dpop_key_mismatch', 'dpop_key_mismatch', 'dpop_key_mismatch']);
    assert.deepEqual(
      server.stats.dpopLog.map((e) => [e.route, e.outcome, e.jkt]),
      [
        ['/oauth/token', 'ok', key.jkt],
        ['/oauth/token', 'key_mismatch', thief.jkt],
        ['/oauth/token', 'missing', null],
        ['/refresh', 'missing', null],
      ],
    );

    const ok = await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl));
    assert.equal(ok.status, 200, 'the session survived');
    const { refresh_token: rt2 } = await ok.json();

    // Even a rotated token, replayed late with another key, is no reuse that ends the session.
    server.controls.setReuseGraceMs(0);
    await sleep(5);
    await assertTokenError(await dc.refresh(rt, await dpopProof(thief, 'POST', dc.tokenUrl)), 'invalid_grant', 'late replay, other key');
    assert.equal(server.stats.refreshLog.at(-1).outcome, 'dpop_key_mismatch');
    assert.equal(server.stats.reuseDetections, 0);
    assert.equal((await dc.refresh(rt2, await dpopProof(key, 'POST', dc.tokenUrl))).status, 200);
    // The same late replay with the real key is reuse, as without DPoP.
    await assertTokenError(await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl)), 'invalid_grant', 'late replay, real key');
    assert.equal(server.stats.refreshLog.at(-1).outcome, 'reuse_detected');
  });

  test('a session started without a proof is bound by its first refresh with one', async () => {
    const key = await dpopKey();
    const { refresh_token: rt } = await (await c.login('carol')).json();
    const res = await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.token_type, 'DPoP');
    assert.equal(jose.decodeJwt(body.access_token).cnf.jkt, key.jkt);
    await assertTokenError(await dc.refresh(body.refresh_token), 'invalid_grant');
    assert.equal(server.stats.refreshLog.at(-1).outcome, 'dpop_key_mismatch');
    assert.equal((await dc.refresh(body.refresh_token, await dpopProof(key, 'POST', dc.tokenUrl))).status, 200);
  });

  test('/api/me: a bound token needs the DPoP scheme and a proof by its key with its ath; refusals are 401 with a DPoP challenge', async () => {
    const key = await dpopKey();
    const other = await dpopKey();
    const { access_token: at } = await dc.signIn(key);
    const { access_token: bearer } = await dc.signIn(undefined, 'dave');
    server.controls.resetStats();

    assert.equal((await dc.me(at, await dc.meProof(key, at))).status, 200);
    const cases = [
      ['invalid_dpop_proof', 'ath_mismatch', await dc.meProof(key, at, { ath: athOf(bearer) })],
      ['invalid_dpop_proof', 'ath_missing', await dc.meProof(key, at, { ath: undefined })],
      ['invalid_dpop_proof', 'htm_mismatch', await dpopProof(key, 'POST', dc.meUrl, { claims: { ath: athOf(at) } })],
      ['invalid_dpop_proof', 'htu_mismatch', await dpopProof(key, 'GET', dc.tokenUrl, { claims: { ath: athOf(at) } })],
      ['invalid_dpop_proof', 'iat_window', await dc.meProof(key, at, { iat: nowS() - 61 })],
      ['invalid_dpop_proof', 'bad_signature', await dpopProof(other, 'GET', dc.meUrl, { claims: { ath: athOf(at) }, header: { jwk: key.publicJwk } })],
      ['invalid_dpop_proof', 'missing', undefined],
      ['invalid_token', 'key_mismatch', await dc.meProof(other, at)],
    ];
    for (const [error, outcome, proof] of cases) {
      server.controls.resetStats();
      await assertDpopChallenge(await dc.me(at, proof), error, outcome);
      assert.deepEqual(outcomes(), [outcome]);
    }

    server.controls.resetStats();
    const proof = await dc.meProof(key, at);
    assert.equal((await dc.me(at, proof)).status, 200);
    await assertDpopChallenge(await dc.me(at, proof), 'invalid_dpop_proof', 'replayed proof');
    assert.deepEqual(outcomes(), ['ok', 'jti_replay']);

    await assertDpopChallenge(await dc.me(at, undefined, 'Bearer'), 'invalid_token', 'a bound token sent as Bearer');
    await assertDpopChallenge(await dc.me(bearer, await dc.meProof(key, bearer)), 'invalid_token', 'an unbound token sent as DPoP');
    const asBearer = await dc.me(bearer, undefined, 'Bearer');
    assert.equal(asBearer.status, 200, 'a Bearer token works as before');
    assert.equal((await asBearer.json()).sub, 'dave');

    server.controls.setAccessTtl(0);
    const { access_token: dead } = await dc.signIn(key);
    await assertDpopChallenge(await dc.me(dead, await dc.meProof(key, dead)), 'invalid_token', 'expired');

    const anonymous = await fetch(dc.meUrl);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="${server.audience}", DPoP realm="${server.audience}", algs="ES256 RS256 PS256"`);
    assert.equal(server.stats.api401, 5);
  });

  test('nonce at the token endpoint: use_dpop_nonce with DPoP-Nonce, the retry with it succeeds, a rotated nonce is stale', async () => {
    const key = await dpopKey();
    const sc = signInClient(server);
    assert.equal((await c.control({ action: 'requireDpopNonce' })).status, 200);
    const got = await sc.code();
    const first = await sc.exchangeFor(got, { DPoP: await dpopProof(key, 'POST', dc.tokenUrl) });
    const nonce = first.headers.get('dpop-nonce');
    assert.match(nonce ?? '', /^[A-Za-z0-9_-]{16,}$/);
    await assertTokenError(first, 'use_dpop_nonce');
    // Anything else wrong is reported as such, nonce or not.
    await assertTokenError(await sc.exchangeFor(got, { DPoP: await dpopProof(key, 'GET', dc.tokenUrl) }), 'invalid_dpop_proof');

    const retry = await sc.exchangeFor(got, { DPoP: await dpopProof(key, 'POST', dc.tokenUrl, { claims: { nonce } }) });
    assert.equal(retry.status, 200, 'the code survived the refusals');
    assert.equal(retry.headers.get('dpop-nonce'), nonce, 'a success carries the nonce too');
    const body = await retry.json();
    assert.equal(body.token_type, 'DPoP');
    assert.deepEqual(server.stats.codeExchangeLog.map((e) => e.outcome), ['use_dpop_nonce', 'invalid_dpop_proof', 'exchanged']);

    const rotated = await (await c.control({ action: 'rotateDpopNonce' })).json();
    const fresh = rotated.results[0].nonce;
    assert.notEqual(fresh, nonce);
    const stale = await dc.refresh(body.refresh_token, await dpopProof(key, 'POST', dc.tokenUrl, { claims: { nonce } }));
    assert.equal(stale.headers.get('dpop-nonce'), fresh);
    await assertTokenError(stale, 'use_dpop_nonce');
    const again = await dc.refresh(body.refresh_token, await dpopProof(key, 'POST', dc.tokenUrl, { claims: { nonce: fresh } }));
    assert.equal(again.status, 200);
    assert.deepEqual(outcomes(), ['nonce_required', 'htm_mismatch', 'ok', 'nonce_stale', 'ok']);
    assert.deepEqual(server.stats.refreshLog.map((e) => e.outcome), ['use_dpop_nonce', 'rotated']);

    server.controls.requireDpopNonce(false);
    const { refresh_token: rt } = await again.json();
    const off = await dc.refresh(rt, await dpopProof(key, 'POST', dc.tokenUrl));
    assert.equal(off.status, 200);
    assert.equal(off.headers.get('dpop-nonce'), null);
  });

  test('nonce at /api/me: 401 DPoP error="use_dpop_nonce" with DPoP-Nonce, the retry with it succeeds, a rotated nonce is stale', async () => {
    const key = await dpopKey();
    const { access_token: at } = await dc.signIn(key);
    const { nonce } = server.controls.requireDpopNonce(true);
    const first = await dc.me(at, await dc.meProof(key, at));
    assert.equal(first.headers.get('dpop-nonce'), nonce);
    await assertDpopChallenge(first, 'use_dpop_nonce');
    const retry = await dc.me(at, await dc.meProof(key, at, { nonce }));
    assert.equal(retry.status, 200);
    assert.equal(retry.headers.get('dpop-nonce'), nonce);

    const { nonce: fresh } = server.controls.rotateDpopNonce();
    const stale = await dc.me(at, await dc.meProof(key, at, { nonce }));
    assert.equal(stale.headers.get('dpop-nonce'), fresh);
    await assertDpopChallenge(stale, 'use_dpop_nonce');
    assert.equal((await dc.me(at, await dc.meProof(key, at, { nonce: fresh }))).status, 200);
    assert.deepEqual(outcomes(), ['ok', 'nonce_required', 'ok', 'nonce_stale', 'ok']);
  });

  test('CORS: the preflight allows the DPoP header, answers expose DPoP-Nonce', async () => {
    const pre = await fetch(dc.tokenUrl, { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.ok(pre.headers.get('access-control-allow-headers').split(', ').includes('DPoP'));
    server.controls.requireDpopNonce();
    const res = await fetch(dc.meUrl, { headers: { Origin: ORIGIN } });
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.ok(res.headers.get('access-control-expose-headers').split(', ').includes('DPoP-Nonce'));
    assert.ok(res.headers.get('dpop-nonce'));
  });

  test("setDpopMode('required') refuses token requests without a proof; reset() goes back to the start option", async () => {
    const key = await dpopKey();
    const sc = signInClient(server);
    server.controls.setDpopMode('required');
    const got = await sc.code();
    await assertTokenError(await sc.exchangeFor(got), 'invalid_dpop_proof', 'exchange without a proof');
    assert.deepEqual(server.stats.codeExchangeLog.map((e) => e.outcome), ['invalid_dpop_proof']);
    const res = await sc.exchangeFor(got, { DPoP: await dpopProof(key, 'POST', dc.tokenUrl) });
    assert.equal(res.status, 200, 'the code was left unspent');
    assert.equal((await res.json()).token_type, 'DPoP');
    const { refresh_token: rt } = await (await c.login('erin')).json();
    await assertTokenError(await dc.refresh(rt), 'invalid_dpop_proof', 'refresh without a proof');
    assert.deepEqual(outcomes(), ['missing', 'ok', 'missing']);
    assert.equal(server.stats.dpopProofs, 1, 'a missing proof is no proof');

    server.controls.reset();
    const plain = await dc.refresh(rt);
    assert.equal(plain.status, 200);
    assert.equal((await plain.json()).token_type, 'Bearer');
    assert.throws(() => server.controls.setDpopMode('sometimes'), TypeError);
    assert.equal((await c.control({ action: 'setDpopMode', args: [true] })).status, 400);
  });

  test("dpop: 'required' as a start option", async () => {
    await withServer({ dpop: 'required' }, async (other, oc) => {
      const { refresh_token: rt } = await (await oc.login('alice')).json();
      other.controls.reset(); // back to the start option, 'required'
      await assertTokenError(await oc.oauthRefresh(rt), 'invalid_dpop_proof');
      const key = await dpopKey();
      const ok = await dpopClient(other).refresh(rt, await dpopProof(key, 'POST', `${other.url}/oauth/token`));
      assert.equal(ok.status, 200);
    });
    await assert.rejects(startAuthServer({ dpop: true }), TypeError);
    await assert.rejects(startAuthServer({ dpop: 'yes' }), TypeError);
  });

  test('dpop: false ignores DPoP headers: Bearer tokens, no DPoP scheme at /api/me, no discovery entry, no nonce', async () => {
    await withServer({ dpop: false }, async (other, oc) => {
      const key = await dpopKey();
      const odc = dpopClient(other);
      other.controls.requireDpopNonce();
      const body = await odc.signIn(key);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(jose.decodeJwt(body.access_token).cnf, undefined);
      const res = await odc.refresh(body.refresh_token, await dpopProof(key, 'POST', odc.tokenUrl));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('dpop-nonce'), null);
      const { access_token: at } = await res.json();
      const viaDpop = await odc.me(at, await odc.meProof(key, at));
      assert.equal(viaDpop.status, 401);
      assert.match(viaDpop.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
      assert.equal((await oc.me(at)).status, 200);
      assert.equal((await fetch(odc.meUrl)).headers.get('www-authenticate'), `Bearer realm="${other.audience}"`);
      assert.equal(other.stats.dpopProofs, 0);
      assert.deepEqual(other.stats.dpopLog, []);
      const doc = await (await fetch(`${other.url}/.well-known/openid-configuration`)).json();
      assert.equal(Object.hasOwn(doc, 'dpop_signing_alg_values_supported'), false);

      // Switched on over HTTP, the same server binds (and now asks for the nonce it was told to require).
      assert.equal((await oc.control({ action: 'setDpopMode', args: ['optional'] })).status, 200);
      const got = await signInClient(other).code();
      const asked = await signInClient(other).exchangeFor(got, { DPoP: await dpopProof(key, 'POST', odc.tokenUrl) });
      await assertTokenError(asked, 'use_dpop_nonce');
      const nonce = asked.headers.get('dpop-nonce');
      const bound = await signInClient(other).exchangeFor(got, { DPoP: await dpopProof(key, 'POST', odc.tokenUrl, { claims: { nonce } }) });
      assert.equal((await bound.json()).token_type, 'DPoP');
    });
  });

  test('opaque access tokens keep the binding on the server', async () => {
    await withServer({ accessTokenFormat: 'opaque' }, async (other) => {
      const key = await dpopKey();
      const odc = dpopClient(other);
      const { access_token: at, token_type: type } = await odc.signIn(key);
      assert.equal(type, 'DPoP');
      assert.match(at, /^[A-Za-z0-9_-]{43}$/);
      await assertDpopChallenge(await odc.me(at, undefined, 'Bearer'), 'invalid_token');
      assert.equal((await odc.me(at, await odc.meProof(key, at))).status, 200);
      await assertDpopChallenge(await odc.me(at, await odc.meProof(await dpopKey(), at)), 'invalid_token');
    });
  });

  test('RS256 and PS256 proof keys are accepted too', async () => {
    for (const alg of ['RS256', 'PS256']) {
      const key = await dpopKey(alg);
      const { access_token: at, token_type: type } = await dc.signIn(key);
      assert.equal(type, 'DPoP', alg);
      assert.equal(jose.decodeJwt(at).cnf.jkt, key.jkt, alg);
      assert.equal((await dc.me(at, await dc.meProof(key, at))).status, 200, alg);
    }
  });
});

describe('CLI flags for keys and token formats', () => {
  const main = fileURLToPath(new URL('../www/server/main.mjs', import.meta.url));

  test('--alg RS256 --access-token-format opaque --id-tokens always --jwks-max-age 600', async () => {
    const { child, line } = await startCli(['--alg', 'RS256', '--access-token-format', 'opaque', '--id-tokens', 'always', '--jwks-max-age', '600']);
    try {
      const url = line.replace('auth server listening on ', '');
      const res = await fetch(`${url}/.well-known/jwks.json`);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=600');
      const { keys } = await res.json();
      assert.equal(keys[0].alg, 'RS256');
      const body = await (await fetch(`${url}/login`, { method: 'POST', body: JSON.stringify({ user: 'alice' }) })).json();
      assert.equal(body.access_token.split('.').length, 1, 'opaque');
      assert.equal(jose.decodeProtectedHeader(body.id_token).alg, 'RS256');
    } finally {
      await stopCli(child);
    }
  });

  test('--dpop required refuses a refresh without a proof; --dpop off announces no DPoP', async () => {
    for (const [mode, status, announced] of [['required', 400, true], ['off', 200, false], ['optional', 200, true]]) {
      const { child, line } = await startCli(['--dpop', mode]);
      try {
        const url = line.replace('auth server listening on ', '');
        const { refresh_token: rt } = await (await fetch(`${url}/login`, { method: 'POST', body: JSON.stringify({ user: 'alice' }) })).json();
        const res = await fetch(`${url}/oauth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(),
        });
        assert.equal(res.status, status, mode);
        if (status === 400) assert.equal((await res.json()).error, 'invalid_dpop_proof');
        const doc = await (await fetch(`${url}/.well-known/openid-configuration`)).json();
        assert.equal(Object.hasOwn(doc, 'dpop_signing_alg_values_supported'), announced, mode);
      } finally {
        await stopCli(child);
      }
    }
  });

  for (const args of [['--alg', 'HS256'], ['--access-token-format', 'paseto'], ['--id-tokens', 'sometimes'], ['--dpop', 'sometimes']]) {
    test(`a bad ${args[0]} exits with status 2`, async () => {
      const child = spawn(process.execPath, [main, '--port', '0', ...args], { stdio: 'pipe' });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
      });
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 2);
      assert.ok(err.includes(args[0]), err);
    });
  }
});
