// DPoP (RFC 9449) end to end in Chromium: `createAuthClient({ ..., dpop: true })` keeps a
// non-extractable ECDSA P-256 key pair in IndexedDB ('jwt-keeper' / 'dpop-keys'), proves it on
// every token request and on `client.fetch`, answers a server's `use_dpop_nonce` with one retry,
// and keeps its key across a reload and between tabs; a token taken out of the page is worth
// nothing with another key. Against the local auth server (www/server/) and against oidc-provider
// demanding nonces (tests/helpers/oidc-provider.mjs, its /api/me resource). The servers' own
// records (dpopLog, codeExchangeLog, refreshLog; tokenLog, apiLog) are the ground truth; the
// proofs the browser sent are also checked in Node with the package's own verifier.
//   node --test --test-concurrency=1 tests/e2e-dpop.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as jose from 'jose';

import initVerifier, { verifyJwt } from '../pkg/verify/index.js';
import { launchBrowser, withContext as withBrowserContext } from './helpers/browser.mjs';
import { createDpopProof, dpopThumbprint, parseDpopChallenge, startOidcProvider } from './helpers/oidc-provider.mjs';
import { WASM } from './helpers/paths.mjs';
import {
  PAGE,
  backAtApp,
  localOptions,
  openApp,
  passOidcProviderPages,
  ready,
  signInLocally,
  snapshot,
  startLocal,
  startLogin,
  withLocalApp as withLocalAppIn,
} from './helpers/signin-app.mjs';

let browser;
before(async () => {
  await initVerifier(readFileSync(WASM));
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const withContext = (fn) => withBrowserContext(browser, fn);
/** The app on a fresh local server that requires DPoP, its client with `dpop: true` and `extra`. */
const withDpopApp = ({ extra = {}, once = false } = {}, fn) =>
  withLocalAppIn(browser, { extra: { dpop: true, ...extra }, once, serverOptions: { dpop: 'required' } }, fn);

const sha256url = (text) => createHash('sha256').update(text).digest('base64url');
const settle = (page, call) => page.evaluate(call);
const refreshInPage = (page) => settle(page, () => window.settle(window.app.client.refresh()));
const accessTokenInPage = (page) => settle(page, () => window.settle(window.app.client.getAccessToken()));

/** `client.fetch(url)` in the page: `{ ok: true, status, body }` or `{ ok: false, error: { code, message } }`. */
const fetchInPage = (page, url) =>
  page.evaluate(async (u) => {
    try {
      const res = await window.app.client.fetch(u);
      const text = await res.text();
      let body = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { ok: true, status: res.status, body };
    } catch (e) {
      return { ok: false, error: { code: e?.code, message: e?.message } };
    }
  }, url);

/**
 * In the page: the records of IndexedDB 'jwt-keeper' / 'dpop-keys' (opened only if it exists, so
 * that reading never creates it), each with the RFC 7638 thumbprint of its public key computed
 * from `crypto.subtle.exportKey('jwk', publicKey)`, both keys' properties, and the name of the
 * error exporting the private key gives (or 'exported').
 */
async function readDpopKeys() {
  const request = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const describe = (k) => ({ type: k.type, extractable: k.extractable, algorithm: { ...k.algorithm }, usages: [...k.usages].sort() });
  if (!(await indexedDB.databases()).some((d) => d.name === 'jwt-keeper')) return { exists: false, stores: [], records: [] };
  const db = await request(indexedDB.open('jwt-keeper'));
  const stores = [...db.objectStoreNames];
  if (!stores.includes('dpop-keys')) {
    db.close();
    return { exists: true, stores, records: [] };
  }
  const store = db.transaction('dpop-keys', 'readonly').objectStore('dpop-keys');
  const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
  db.close();
  const records = [];
  for (let i = 0; i < values.length; i += 1) {
    const { privateKey, publicKey } = values[i] ?? {};
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify({ crv, kty, x, y })));
    let privateExport = 'exported';
    try {
      await crypto.subtle.exportKey('jwk', privateKey);
    } catch (e) {
      privateExport = e.name;
    }
    records.push({
      key: JSON.stringify(keys[i]),
      cryptoKeys: privateKey instanceof CryptoKey && publicKey instanceof CryptoKey,
      jwk: { kty, crv, x, y },
      thumbprint: b64url(digest),
      private: describe(privateKey),
      public: describe(publicKey),
      privateExport,
    });
  }
  return { exists: true, stores, records };
}

/** The one DPoP key of the page's client (fails unless there is exactly one), thumbprint checked in Node too. */
async function theKey(page) {
  const { records } = await page.evaluate(readDpopKeys);
  assert.equal(records.length, 1, `one key record: ${JSON.stringify(records)}`);
  assert.equal(await jose.calculateJwkThumbprint(records[0].jwk, 'sha256'), records[0].thumbprint);
  return records[0];
}

/**
 * Records every request of `context` that carries a `DPoP` header, as the browser sent it.
 * Returns a function resolving `[{ url, method, proof, authorization }]`.
 */
function captureProofs(context) {
  const pending = [];
  context.on('request', (request) => {
    pending.push(
      request
        .allHeaders()
        .then((h) => (h.dpop ? { url: request.url(), method: request.method(), proof: h.dpop, authorization: h.authorization ?? null } : null))
        .catch(() => null),
    );
  });
  return async () => (await Promise.all(pending)).filter(Boolean);
}

/** verifyJwt of the package (ES256, typ dpop+jwt) with `key`: `{ ok, payload }` or `{ ok: false, code, message }`. */
function ourVerdict(proof, key) {
  try {
    return { ok: true, payload: verifyJwt(proof, key, { algorithms: ['ES256'], typ: 'dpop+jwt' }) };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
}

/**
 * Checks a proof the browser sent: with the package's verifier under its own header jwk (a
 * proof has no `exp`, which verifyJwt requires: it says `claim_mismatch` "exp claim is required"
 * only after the signature and typ verified), the same proof with a changed payload and under
 * another key fail `bad_signature`; the header (typ, ES256, a public P-256 jwk whose thumbprint
 * is `jkt`) and the claims (jti, htm, htu, iat within 60 s, `ath` for `accessToken`, `nonce`).
 */
async function assertProof(proof, { htm, htu, jkt, accessToken, nonce }) {
  const header = jose.decodeProtectedHeader(proof);
  const claims = jose.decodeJwt(proof);
  const verdict = ourVerdict(proof, header.jwk);
  assert.ok(verdict.ok || (verdict.code === 'claim_mismatch' && /exp claim is required/.test(verdict.message)), JSON.stringify(verdict));
  const [h, , s] = proof.split('.');
  const changed = `${h}.${Buffer.from(JSON.stringify({ ...claims, jti: `${claims.jti}x` })).toString('base64url')}.${s}`;
  assert.equal(ourVerdict(changed, header.jwk).code, 'bad_signature');
  const other = await jose.exportJWK((await jose.generateKeyPair('ES256')).publicKey);
  assert.equal(ourVerdict(proof, other).code, 'bad_signature');

  assert.equal(header.typ, 'dpop+jwt');
  assert.equal(header.alg, 'ES256');
  assert.equal(header.jwk.kty, 'EC');
  assert.equal(header.jwk.crv, 'P-256');
  assert.equal(header.jwk.d, undefined, 'no private key in the proof');
  assert.equal(await jose.calculateJwkThumbprint(header.jwk, 'sha256'), jkt);
  assert.equal(typeof claims.jti, 'string');
  assert.ok(claims.jti.length >= 16, `jti ${claims.jti}`);
  assert.equal(claims.htm, htm);
  assert.equal(claims.htu, htu);
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) <= 60, `iat ${claims.iat}`);
  if (accessToken === undefined) assert.equal(claims.ath, undefined, 'no ath at the token endpoint');
  else assert.equal(claims.ath, sha256url(accessToken));
  if (nonce !== undefined) assert.equal(claims.nonce, nonce);
}

/** The outcomes the local server logged for proofs at `route`, from log entry `from` on. */
const dpopOutcomes = (server, route, from = 0) => server.stats.dpopLog.slice(from).filter((r) => r.route === route).map((r) => r.outcome);
const NONCE_REFUSALS = ['nonce_required', 'nonce_stale'];
const logouts = (s) => s.events.filter((e) => e.type === 'logout');

// ---- the local auth server ----

test('local server, DPoP required: sign-in binds the session to the IndexedDB key (cnf.jkt = its thumbprint), client.fetch proves it at /api/me, refresh works; the proofs sent pass our own verifier', { timeout: 120_000 }, () =>
  withDpopApp({}, async ({ server, context, page, errors }) => {
    const sent = captureProofs(context);
    const s = await signInLocally(page, server, { user: 'dpop-alice' });
    assert.equal(s.callbacks.length, 2);
    for (const r of s.callbacks) assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(s.isAuthenticated, true);
    const key = await theKey(page);
    assert.equal(s.claims?.cnf?.jkt, key.thumbprint, 'the access token is bound to the stored key');
    assert.deepEqual(server.stats.codeExchangeLog.map((r) => r.outcome), ['exchanged'], 'one exchange for two callbacks');
    assert.deepEqual(server.stats.dpopLog.map((r) => [r.route, r.outcome, r.jkt]), [['/oauth/token', 'ok', key.thumbprint]]);

    const me = await fetchInPage(page, `${server.url}/api/me`);
    assert.deepEqual([me.ok, me.status, me.body?.sub], [true, 200, 'dpop-alice'], JSON.stringify(me));
    assert.deepEqual(server.stats.dpopLog.slice(1).map((r) => [r.route, r.outcome, r.jkt]), [['/api/me', 'ok', key.thumbprint]]);

    const refreshed = await refreshInPage(page);
    assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
    assert.equal(server.stats.refreshLog.at(-1).outcome, 'rotated');
    assert.deepEqual(server.stats.dpopLog.slice(2).map((r) => [r.route, r.outcome, r.jkt]), [['/oauth/token', 'ok', key.thumbprint]]);
    assert.equal((await snapshot(page)).claims?.cnf?.jkt, key.thumbprint, 'the new access token is bound to the same key');

    // What the browser sent, checked in Node; the server accepted exactly these proofs.
    const proofs = await sent();
    const tokenProofs = proofs.filter((p) => p.url === `${server.url}/oauth/token`);
    const apiProofs = proofs.filter((p) => p.url === `${server.url}/api/me`);
    assert.equal(tokenProofs.length, 2, 'the code exchange and the refresh');
    assert.equal(apiProofs.length, 1);
    for (const p of tokenProofs) await assertProof(p.proof, { htm: 'POST', htu: `${server.url}/oauth/token`, jkt: key.thumbprint });
    const [call] = apiProofs;
    assert.match(call.authorization, /^DPoP [\w.-]+$/, 'the DPoP scheme');
    await assertProof(call.proof, { htm: 'GET', htu: `${server.url}/api/me`, jkt: key.thumbprint, accessToken: call.authorization.slice(5) });
    const jtis = proofs.map((p) => jose.decodeJwt(p.proof).jti);
    assert.equal(new Set(jtis).size, jtis.length, 'a new jti for every proof');
    assert.deepEqual(server.stats.dpopLog.map((r) => r.jti).sort(), [...jtis].sort());
    assert.deepEqual(errors, []);
  }));

test('local server: nonces demanded at the token endpoint and at /api/me are answered with exactly one retry each (sign-in, fetch, refresh)', { timeout: 120_000 }, () =>
  withDpopApp({}, async ({ server, page, errors }) => {
    server.controls.requireDpopNonce(true);
    const s = await signInLocally(page, server);
    for (const r of s.callbacks) assert.equal(r.ok, true, JSON.stringify(r));
    const key = await theKey(page);
    assert.equal(s.claims?.cnf?.jkt, key.thumbprint);
    assert.deepEqual(dpopOutcomes(server, '/oauth/token'), ['nonce_required', 'ok']);
    assert.deepEqual(server.stats.codeExchangeLog.map((r) => r.outcome), ['use_dpop_nonce', 'exchanged']);

    // A new nonce: whether the client kept the last one (stale) or not (required), one retry.
    server.controls.rotateDpopNonce();
    let from = server.stats.dpopLog.length;
    const me = await fetchInPage(page, `${server.url}/api/me`);
    assert.deepEqual([me.ok, me.status], [true, 200], JSON.stringify(me));
    const api = dpopOutcomes(server, '/api/me', from);
    assert.equal(api.length, 2, api.join());
    assert.ok(NONCE_REFUSALS.includes(api[0]), api[0]);
    assert.equal(api[1], 'ok');

    server.controls.rotateDpopNonce();
    from = server.stats.dpopLog.length;
    const refreshed = await refreshInPage(page);
    assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
    const token = dpopOutcomes(server, '/oauth/token', from);
    assert.equal(token.length, 2, token.join());
    assert.ok(NONCE_REFUSALS.includes(token[0]), token[0]);
    assert.equal(token[1], 'ok');
    assert.deepEqual(server.stats.refreshLog.slice(-2).map((r) => r.outcome), ['use_dpop_nonce', 'rotated']);
    assert.ok(server.stats.dpopLog.every((r) => r.jkt === key.thumbprint), 'every proof by the one key');
    assert.deepEqual(logouts(await snapshot(page)), []);
    assert.deepEqual(errors, []);
  }));

test('local server: the key survives a reload (same thumbprint, same cnf.jkt, the persisted session restored) and is the one of a second tab; the private key is not extractable', { timeout: 120_000 }, () =>
  withDpopApp({ extra: { persist: 'local' }, once: true }, async ({ server, context, appUrl, options, page, errors }) => {
    const s = await signInLocally(page, server);
    const key = await theKey(page);
    assert.equal(key.cryptoKeys, true, 'CryptoKeys are stored, not key material');
    assert.deepEqual(key.private, { type: 'private', extractable: false, algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, usages: ['sign'] });
    assert.equal(key.privateExport, 'InvalidAccessError', 'exportKey of the private key throws');
    assert.equal(key.public.type, 'public');
    assert.deepEqual(key.public.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
    assert.equal(s.claims?.cnf?.jkt, key.thumbprint);

    await page.reload();
    await ready(page);
    // A restored tab first asks the live tabs for a newer session (300 ms), then adopts it.
    await page.waitForFunction(() => window.snapshot().isAuthenticated === true, null, { timeout: 10_000 }).catch(() => {});
    const reloaded = await snapshot(page);
    assert.equal(reloaded.isAuthenticated, true, 'the session is restored');
    assert.equal(reloaded.claims?.cnf?.jkt, key.thumbprint);
    assert.deepEqual(await theKey(page), key, 'the same record, no new key');
    const me = await fetchInPage(page, `${server.url}/api/me`);
    assert.equal(me.status, 200, JSON.stringify(me));

    const { page: other } = await openApp(context, appUrl, { options, once: true });
    await other.waitForFunction(() => window.snapshot().isAuthenticated === true, null, { timeout: 10_000 });
    assert.equal((await snapshot(other)).claims?.cnf?.jkt, key.thumbprint);
    assert.deepEqual(await theKey(other), key);
    const from = server.stats.dpopLog.length;
    const fromOther = await fetchInPage(other, `${server.url}/api/me`);
    assert.equal(fromOther.status, 200, JSON.stringify(fromOther));
    assert.deepEqual(server.stats.dpopLog.slice(from).map((r) => [r.route, r.outcome, r.jkt]), [['/api/me', 'ok', key.thumbprint]]);
    assert.ok(server.stats.dpopLog.length >= 3);
    assert.ok(server.stats.dpopLog.every((r) => r.outcome === 'ok' && r.jkt === key.thumbprint), JSON.stringify(server.stats.dpopLog));
    assert.deepEqual(errors, []);
  }));

test('local server: the access and refresh tokens taken out of the page are refused with another key (and the access token as Bearer); the page stays signed in', { timeout: 120_000 }, () =>
  withDpopApp({ once: true }, async ({ server, page, errors }) => {
    await signInLocally(page, server, { user: 'victim' });
    const key = await theKey(page);
    const taken = await accessTokenInPage(page);
    assert.equal(taken.ok, true, JSON.stringify(taken));
    const accessToken = taken.value;
    const refreshToken = server.controls.issuedRefreshTokens().at(-1);
    const thief = await jose.generateKeyPair('ES256');
    const thiefJkt = await dpopThumbprint(thief);
    const from = server.stats.dpopLog.length;

    const apiUrl = `${server.url}/api/me`;
    const withKey = await fetch(apiUrl, { headers: { Authorization: `DPoP ${accessToken}`, DPoP: await createDpopProof(thief, { htm: 'GET', htu: apiUrl, accessToken }) } });
    assert.equal(withKey.status, 401);
    assert.equal(parseDpopChallenge(withKey.headers.get('www-authenticate'))?.error, 'invalid_token');
    const asBearer = await fetch(apiUrl, { headers: { Authorization: `Bearer ${accessToken}` } });
    assert.equal(asBearer.status, 401);
    assert.equal(parseDpopChallenge(asBearer.headers.get('www-authenticate'))?.error, 'invalid_token');

    const tokenUrl = `${server.url}/oauth/token`;
    const refreshFromNode = async (proof) => {
      const res = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(proof ? { DPoP: proof } : {}) },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: server.clientId }).toString(),
      });
      return { status: res.status, error: (await res.json()).error };
    };
    assert.deepEqual(await refreshFromNode(await createDpopProof(thief, { htm: 'POST', htu: tokenUrl })), { status: 400, error: 'invalid_grant' });
    assert.deepEqual(await refreshFromNode(undefined), { status: 400, error: 'invalid_dpop_proof' });
    assert.deepEqual(server.stats.dpopLog.slice(from).map((r) => [r.route, r.outcome, r.jkt]), [
      ['/api/me', 'key_mismatch', thiefJkt],
      ['/oauth/token', 'key_mismatch', thiefJkt],
      ['/oauth/token', 'missing', null],
    ]);
    assert.deepEqual(server.stats.refreshLog.map((r) => r.outcome), ['dpop_key_mismatch', 'invalid_dpop_proof']);

    // The page's session is untouched: no logout, its token, a refresh and an API call with its key.
    const s = await snapshot(page);
    assert.equal(s.isAuthenticated, true);
    assert.deepEqual(logouts(s), []);
    const still = await accessTokenInPage(page);
    assert.equal(still.ok, true, JSON.stringify(still));
    const refreshed = await refreshInPage(page);
    assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
    assert.equal(server.stats.refreshLog.at(-1).outcome, 'rotated');
    const me = await fetchInPage(page, apiUrl);
    assert.deepEqual([me.status, me.body?.sub], [200, 'victim']);
    assert.equal(server.stats.dpopLog.at(-1).jkt, key.thumbprint);
    assert.deepEqual(logouts(await snapshot(page)), []);
    assert.deepEqual(errors, []);
  }));

/** Init scripts taking away what `dpop: true` needs. */
const WITHOUT = {
  indexedDB: () => {
    delete window.indexedDB;
    if ('indexedDB' in window) Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
  },
  'crypto.subtle': () => {
    Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined, configurable: true });
  },
};

for (const [missing, initScript] of Object.entries(WITHOUT)) {
  test(`dpop: true in a page without ${missing}: createAuthClient rejects with AuthError unsupported, sends nothing; without dpop the same page gets a client`, { timeout: 60_000 }, async () => {
    const server = await startLocal({ dpop: 'required' });
    try {
      await withContext(async (context) => {
        const options = localOptions(server, { dpop: true });
        const { page } = await openApp(context, `${server.url}${PAGE}`, { options }, { initScript });
        const s = await snapshot(page);
        assert.equal(s.error?.code, 'unsupported', JSON.stringify(s.error));
        assert.equal(s.error?.isAuthError, true);
        assert.equal(s.isAuthenticated, false);
        const plain = await page.evaluate(async (o) => {
          const pkg = await import('/pkg/index.js');
          return window.settle(pkg.createAuthClient(o));
        }, { ...options, dpop: undefined });
        assert.equal(plain.ok, true, JSON.stringify(plain));
        assert.deepEqual(server.stats.dpopLog, []);
        assert.equal(server.stats.codeExchanges, 0);
      });
    } finally {
      await server.close();
    }
  });
}

// ---- oidc-provider demanding nonces ----

test('oidc-provider (dpop: nonce): sign-in through its login and consent pages, one nonce retry at the code exchange, DPoP tokens for the stored key, refresh, and client.fetch to /api/me with its own nonce', { timeout: 120_000 }, async () => {
  const statics = await startLocal();
  const appUrl = `${statics.url}${PAGE}`;
  const op = await startOidcProvider({ dpop: 'nonce', redirectUris: [appUrl] });
  try {
    await withContext(async (context) => {
      const sent = captureProofs(context);
      const options = { issuer: op.issuer, clientId: op.clientId, audience: op.audience, redirectUri: appUrl, persist: 'local', dpop: true };
      const { page, errors } = await openApp(context, appUrl, { options });
      await startLogin(page, { prompt: 'consent', scope: 'openid offline_access api:read', extraParams: { resource: op.resource } }, op.issuer);
      await passOidcProviderPages(page, 'erin');
      const s = await backAtApp(page, appUrl);
      for (const r of s.callbacks) assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(s.isAuthenticated, true);
      assert.equal(s.user?.sub, 'erin');
      const key = await theKey(page);
      assert.equal(s.claims?.cnf?.jkt, key.thumbprint);

      const exchanges = op.tokenLog.filter((r) => r.grantType === 'authorization_code');
      assert.deepEqual(exchanges.map((r) => [r.status, r.error, r.tokenType]), [[400, 'use_dpop_nonce', null], [200, null, 'DPoP']], JSON.stringify(exchanges));
      assert.equal(exchanges[0].proof.nonce, null);
      assert.equal(exchanges[1].proof.nonce, exchanges[0].dpopNonce, 'the retry carries the nonce of DPoP-Nonce');
      for (const r of exchanges) {
        assert.equal(r.proof.jkt, key.thumbprint);
        assert.equal(r.origin, statics.url);
      }

      let from = op.tokenLog.length;
      const refreshed = await refreshInPage(page);
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      const refreshes = op.tokenLog.slice(from);
      // A client that kept the nonce sends it at once; one that did not is refused once.
      const statuses = refreshes.map((r) => r.status);
      assert.ok(JSON.stringify(statuses) === '[200]' || JSON.stringify(statuses) === '[400,200]', JSON.stringify(refreshes));
      if (statuses.length === 2) assert.equal(refreshes[0].error, 'use_dpop_nonce');
      assert.equal(refreshes.at(-1).tokenType, 'DPoP');
      assert.ok(refreshes.every((r) => r.grantType === 'refresh_token' && r.proof.jkt === key.thumbprint));
      assert.equal((await snapshot(page)).claims?.cnf?.jkt, key.thumbprint);

      const { nonce } = op.requireApiNonce();
      from = op.apiLog.length;
      const me = await fetchInPage(page, op.apiUrl);
      assert.deepEqual([me.ok, me.status], [true, 200], JSON.stringify(me));
      assert.deepEqual(me.body, { sub: 'erin', client_id: op.clientId, scope: 'api:read', jkt: key.thumbprint });
      const log = op.apiLog.slice(from);
      const calls = log.filter((r) => r.method === 'GET');
      assert.equal(calls.length, 2, JSON.stringify(log));
      assert.ok(NONCE_REFUSALS.includes(calls[0].outcome), calls[0].outcome);
      assert.deepEqual([calls[1].outcome, calls[1].nonce, calls[1].jkt, calls[1].origin], ['ok', nonce, key.thumbprint, statics.url]);
      assert.ok(log.some((r) => r.outcome === 'preflight' && r.origin === statics.url), 'the page preflighted Authorization and DPoP');

      const proofs = await sent();
      const lastApi = proofs.filter((p) => p.url === op.apiUrl).at(-1);
      await assertProof(lastApi.proof, { htm: 'GET', htu: op.apiUrl, jkt: key.thumbprint, accessToken: lastApi.authorization.slice(5), nonce });
      const lastToken = proofs.filter((p) => p.url === op.tokenEndpoint).at(-1);
      await assertProof(lastToken.proof, { htm: 'POST', htu: op.tokenEndpoint, jkt: key.thumbprint });
      assert.deepEqual(errors, []);
    });
  } finally {
    await op.close();
    await statics.close();
  }
});
