// Identity providers as they are, end to end in Chromium: keys found by OpenID Connect
// discovery, a JWKS URL that rotates mid-session, unpublished keys, a JWKS endpoint that is
// down, opaque access tokens with identity from the ID token — against the local auth server
// (www/server/) and against an independent certified OpenID provider (npm oidc-provider).
// The servers' own counters (JWKS reads, refreshes) are the ground truth.
//   node --test --test-concurrency=1 tests/e2e-provider.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as jose from 'jose';

import { launchBrowser, openPage } from './helpers/browser.mjs';
import { startOidcProvider } from './helpers/oidc-provider.mjs';
import { ROOT } from './helpers/paths.mjs';
import { startAuthServer } from '../www/server/auth-server.mjs';

const PAGE = '/tests/pages/session/index.html';
/** What a client asks the local server for: its login answer as setSession takes it. */
const CLIENT_ID = 'demo-client';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * A page of `server` (the local auth server, which serves the package) with `window.kit`: the
 * package, one client made by `kit.create(options)`, its events, and settled calls as data.
 */
async function withPage(server, fn) {
  const opened = await openPage(browser, `${server.url}${PAGE}`);
  const { page } = opened;
  try {
    await page.waitForFunction(() => window.harnessReady !== undefined);
    await page.evaluate(async () => {
      const pkg = await import('/pkg/index.js');
      const plain = (e) => ({ code: e?.code, message: e?.message, isAuthError: pkg.isAuthError(e) });
      const settle = (p) => p.then((value) => ({ ok: true, value }), (e) => ({ ok: false, error: plain(e) }));
      window.kit = {
        events: [],
        client: null,
        async create(options) {
          this.client?.dispose();
          this.events = [];
          const r = await settle(pkg.createAuthClient(options));
          if (!r.ok) return r;
          this.client = r.value;
          for (const type of ['refresh', 'logout', 'error']) {
            this.client.on(type, (d) => this.events.push({ type, code: d.error?.code, willRetry: d.willRetry, reason: d.reason }));
          }
          return { ok: true };
        },
        set: (s) => settle(window.kit.client.setSession(s)).then((r) => (r.ok ? { ok: true } : r)),
        get: () => settle(window.kit.client.getAccessToken()),
        refresh: () => settle(window.kit.client.refresh()),
        state: () => ({ user: window.kit.client.user, claims: window.kit.client.claims, isAuthenticated: window.kit.client.isAuthenticated }),
      };
    });
    const kit = {
      page,
      create: (o) => page.evaluate((x) => window.kit.create(x), o),
      set: (s) => page.evaluate((x) => window.kit.set(x), s),
      get: () => page.evaluate(() => window.kit.get()),
      refresh: () => page.evaluate(() => window.kit.refresh()),
      state: () => page.evaluate(() => window.kit.state()),
      events: () => page.evaluate(() => window.kit.events),
    };
    return await fn(kit);
  } finally {
    await page.context().close();
  }
}

async function login(server, body = { user: 'alice', scope: 'openid offline_access' }) {
  const r = await fetch(`${server.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  const t = await r.json();
  return { accessToken: t.access_token, refreshToken: t.refresh_token, expiresIn: t.expires_in, idToken: t.id_token };
}

const start = (options = {}) => startAuthServer({ port: 0, staticDir: ROOT, ...options });
const kidOf = (token) => jose.decodeProtectedHeader(token).kid;

function assertCode(result, code, what) {
  assert.equal(result.ok, false, `${what}: expected ${code}, got ${JSON.stringify(result)}`);
  assert.equal(result.error.isAuthError, true, what);
  assert.equal(result.error.code, code, `${what}: ${result.error.code} (${result.error.message})`);
}

test('RS256 by discovery: keys and token endpoint found from the issuer; a key rotation mid-session costs one JWKS read, no error, no logout', { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'RS256' });
  try {
    await withPage(server, async (kit) => {
      // Only the issuer and the client: keys and refresh URL come from discovery.
      assert.deepEqual(await kit.create({ issuer: server.issuer, clientId: CLIENT_ID, audience: server.audience, crossTab: false }), { ok: true });
      const first = await login(server);
      assert.equal(jose.decodeProtectedHeader(first.accessToken).alg, 'RS256');
      assert.deepEqual(await kit.set(first), { ok: true });
      const state = await kit.state();
      assert.equal(state.user?.sub, 'alice', 'user from the verified ID token');
      assert.equal(state.user?.aud, CLIENT_ID);
      const readsBefore = server.stats.jwksReads;
      assert.equal(readsBefore, 1, 'the JWKS was read once');

      const { kid } = await server.controls.rotateKey();
      assert.notEqual(kid, kidOf(first.accessToken));
      const refreshed = await kit.refresh();
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      assert.equal(kidOf(refreshed.value), kid, 'the token of the new key is adopted');
      assert.equal(server.stats.jwksReads, readsBefore + 1, 'one re-read for the new kid');
      assert.equal(server.stats.refreshRequests, 1, 'to the discovered token endpoint');
      const events = await kit.events();
      assert.deepEqual(events.filter((e) => e.type !== 'refresh'), [], 'no error, no logout');
      // The old key dropped: nothing changes for the session.
      server.controls.dropOldKeys();
      assert.equal((await kit.get()).value, refreshed.value);
    });
  } finally {
    await server.close();
  }
});

test('tokens from an unpublished key are no_matching_key and five cost at most one re-read; HS256 keyed with the public key is unsupported_alg', { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'ES256' });
  try {
    await withPage(server, async (kit) => {
      await kit.create({ publicKey: `${server.url}/.well-known/jwks.json`, issuer: server.issuer, clientId: CLIENT_ID, crossTab: false });
      const good = await login(server);
      assert.deepEqual(await kit.set(good), { ok: true });
      const reads = server.stats.jwksReads;
      await server.controls.rotateKey({ publish: false });
      for (let i = 0; i < 5; i += 1) {
        const forged = await login(server);
        assertCode(await kit.set({ accessToken: forged.accessToken }), 'no_matching_key', `token ${i}`);
      }
      assert.ok(server.stats.jwksReads - reads <= 1, `${server.stats.jwksReads - reads} JWKS reads for five unknown kids`);
      // The public JWK's text as an HMAC secret, with the key's own kid.
      const jwk = server.jwks.keys[0];
      const secret = new TextEncoder().encode(JSON.stringify(jwk));
      const hs = await new jose.SignJWT({ sub: 'mallory' })
        .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
        .setIssuer(server.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(secret);
      assertCode(await kit.set({ accessToken: hs }), 'unsupported_alg', 'HS256');
      // The session from before is intact.
      assert.equal((await kit.get()).value, good.accessToken);
    });
  } finally {
    await server.close();
  }
});

test("algorithms: ['ES256'] refuses an RS256 token from the provider's own key; PS256 is taken by default", { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'RS256' });
  try {
    await withPage(server, async (kit) => {
      await kit.create({ issuer: server.issuer, clientId: CLIENT_ID, algorithms: ['ES256'], crossTab: false });
      assertCode(await kit.set(await login(server)), 'unsupported_alg', 'RS256 outside the allow-list');
      await kit.create({ issuer: server.issuer, clientId: CLIENT_ID, crossTab: false });
      await server.controls.rotateKey({ alg: 'PS256' });
      const ps = await login(server);
      assert.equal(jose.decodeProtectedHeader(ps.accessToken).alg, 'PS256');
      assert.deepEqual(await kit.set(ps), { ok: true });
    });
  } finally {
    await server.close();
  }
});

test('the JWKS endpoint down is network, never a logout', { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'ES256' });
  try {
    await withPage(server, async (kit) => {
      await kit.create({ publicKey: `${server.url}/.well-known/jwks.json`, issuer: server.issuer, clientId: CLIENT_ID, refresh: { url: `${server.url}/oauth/token` }, crossTab: false });
      const first = await login(server);
      server.controls.failJwks(1, 503);
      assertCode(await kit.set(first), 'network', 'setSession while the JWKS answers 503');
      // Later the JWKS answers (after the 30 s cooldown the client reads it again; a new
      // client is the shortcut here).
      await kit.create({ publicKey: `${server.url}/.well-known/jwks.json`, issuer: server.issuer, clientId: CLIENT_ID, refresh: { url: `${server.url}/oauth/token` }, crossTab: false });
      assert.deepEqual(await kit.set(first), { ok: true });
      // Mid-session the provider rotates while its JWKS is unreachable.
      await server.controls.rotateKey();
      server.controls.failJwks(5, 0);
      const r = await kit.refresh();
      assertCode(r, 'network', 'refresh whose new key cannot be read');
      const events = await kit.events();
      assert.ok(events.some((e) => e.type === 'error' && e.code === 'network' && e.willRetry === true), JSON.stringify(events));
      assert.equal(events.filter((e) => e.type === 'logout').length, 0);
      const still = await kit.get();
      assert.equal(still.ok, true, 'the current token is still served');
      assert.equal((await kit.state()).isAuthenticated, true);
    });
  } finally {
    await server.close();
  }
});

test('opaque access tokens: adopted, refreshed, user from the ID token; an ID token for another client is claim_mismatch', { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'ES256', accessTokenFormat: 'opaque' });
  const other = await start({ alg: 'ES256', accessTokenFormat: 'opaque', clientId: 'another-app' });
  try {
    await withPage(server, async (kit) => {
      await kit.create({ issuer: server.issuer, clientId: CLIENT_ID, accessTokenFormat: 'opaque', crossTab: false });
      const first = await login(server);
      assert.equal(first.accessToken.split('.').length, 1, 'opaque');
      assert.deepEqual(await kit.set(first), { ok: true });
      let state = await kit.state();
      assert.equal(state.user?.sub, 'alice');
      assert.equal(state.claims, null, 'an opaque token has no claims to show');
      const refreshed = await kit.refresh();
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      assert.notEqual(refreshed.value, first.accessToken);
      const me = await fetch(`${server.url}/api/me`, { headers: { Authorization: `Bearer ${refreshed.value}` } });
      assert.equal(me.status, 200, 'the refreshed opaque token works at the API');
      state = await kit.state();
      assert.equal(state.user?.sub, 'alice');
    });
    // The provider's own ID token, rightly signed, but made for another client.
    await withPage(other, async (kit) => {
      await kit.create({ issuer: other.issuer, clientId: CLIENT_ID, accessTokenFormat: 'opaque', crossTab: false });
      const wrong = await login(other);
      assert.equal(jose.decodeJwt(wrong.idToken).aud, 'another-app');
      assertCode(await kit.set(wrong), 'claim_mismatch', 'ID token for another client');
      assert.equal((await kit.state()).isAuthenticated, false);
    });
  } finally {
    await server.close();
    await other.close();
  }
});

test('an independent certified OpenID provider (oidc-provider, RS256): discovery, session, a key rotation mid-session, refresh with token rotation, user', { timeout: 90_000 }, async () => {
  const pages = await start();
  let op;
  try {
    op = await startOidcProvider({ alg: 'RS256', allowedOrigins: [pages.url], accessTokenTtl: 120 });
    const tokens = await op.obtainTokens();
    await withPage(pages, async (kit) => {
      const created = await kit.create({ issuer: op.issuer, clientId: op.clientId, audience: op.resource, crossTab: false });
      assert.deepEqual(created, { ok: true });
      const set = await kit.set({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresIn: tokens.expires_in, idToken: tokens.id_token });
      assert.deepEqual(set, { ok: true });
      assert.equal((await kit.state()).user?.sub, 'alice');
      // The provider rotates its signing key mid-session.
      const { kid } = await op.rotateKeys();
      const refreshed = await kit.refresh();
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      assert.notEqual(refreshed.value, tokens.access_token);
      assert.equal(kidOf(refreshed.value), kid, 'the token of the new key is adopted');
      // The provider's own verdict on the token the client adopted.
      const jwks = jose.createRemoteJWKSet(new URL(op.jwksUri));
      const { payload } = await jose.jwtVerify(refreshed.value, jwks, { issuer: op.issuer, audience: op.resource });
      assert.equal(payload.sub, 'alice');
      const events = await kit.events();
      assert.deepEqual(events.filter((e) => e.type !== 'refresh'), []);
    });
  } finally {
    await op?.close();
    await pages.close();
  }
});

test('verifyJwtAsync with a JWKS URL: read once, a rotated key after one re-read, unknown kids cost one read, the JWKS down is network', { timeout: 60_000 }, async () => {
  const server = await start({ alg: 'RS256' });
  try {
    await withPage(server, async (kit) => {
      const jwksUrl = `${server.url}/.well-known/jwks.json`;
      const verify = (token) =>
        kit.page.evaluate(
          async ({ t, url, iss }) => {
            const pkg = await import('/pkg/index.js');
            try {
              return { ok: true, value: await pkg.verifyJwtAsync(t, new URL(url), { issuer: iss }) };
            } catch (e) {
              return { ok: false, error: { code: e.code, message: e.message, isAuthError: pkg.isAuthError(e) } };
            }
          },
          { t: token, url: jwksUrl, iss: server.issuer },
        );
      const a = await login(server);
      const b = await login(server);
      assert.equal((await verify(a.accessToken)).value?.sub, 'alice');
      assert.equal((await verify(b.accessToken)).ok, true);
      assert.equal(server.stats.jwksReads, 1, 'one read for two tokens');
      await server.controls.rotateKey();
      const c = await login(server);
      assert.equal((await verify(c.accessToken)).ok, true, 'the new key after one re-read');
      assert.equal(server.stats.jwksReads, 2);
      await server.controls.rotateKey({ publish: false });
      for (let i = 0; i < 5; i += 1) assertCode(await verify((await login(server)).accessToken), 'no_matching_key', `unpublished ${i}`);
      assert.equal(server.stats.jwksReads, 2, 'within the cooldown no more reads');
      // A fresh page (a fresh key cache) whose first read fails.
    });
    await withPage(server, async (kit) => {
      server.controls.failJwks(1, 503);
      const r = await kit.page.evaluate(async ({ t, url }) => {
        const pkg = await import('/pkg/index.js');
        return pkg.verifyJwtAsync(t, url).then(() => 'ok', (e) => e.code);
      }, { t: (await login(server)).accessToken, url: `${server.url}/.well-known/jwks.json` });
      assert.equal(r, 'network');
    });
  } finally {
    await server.close();
  }
});

test('oidc-provider with opaque access tokens (PS256 ID tokens): adopted, refreshed, user from the ID token', { timeout: 90_000 }, async () => {
  const pages = await start();
  let op;
  try {
    op = await startOidcProvider({ alg: 'PS256', accessTokenFormat: 'opaque', allowedOrigins: [pages.url] });
    const tokens = await op.obtainTokens();
    assert.equal(tokens.access_token.split('.').length, 1, 'opaque');
    await withPage(pages, async (kit) => {
      await kit.create({ issuer: op.issuer, clientId: op.clientId, accessTokenFormat: 'opaque', crossTab: false });
      const set = await kit.set({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresIn: tokens.expires_in, idToken: tokens.id_token });
      assert.deepEqual(set, { ok: true });
      let state = await kit.state();
      assert.equal(state.user?.sub, 'alice');
      assert.equal(state.claims, null);
      const refreshed = await kit.refresh();
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      assert.notEqual(refreshed.value, tokens.access_token);
      state = await kit.state();
      assert.equal(state.user?.sub, 'alice');
      assert.deepEqual((await kit.events()).filter((e) => e.type !== 'refresh'), []);
    });
  } finally {
    await op?.close();
    await pages.close();
  }
});
