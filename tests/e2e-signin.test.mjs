// Sign-in with redirect end to end in Chromium: the authorization code flow with PKCE through
// the provider's own login pages, the callback handled twice at once (React StrictMode), forged
// and refused callbacks, a code from another sign-in, logout with revocation and the provider's
// end-session, and a second tab following both — against the local auth server (www/server/)
// and against an independent certified OpenID provider (npm oidc-provider). The servers' own
// records (code exchanges, revocations, end-session calls, the requests they received) are the
// ground truth.
//   node --test --test-concurrency=1 tests/e2e-signin.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, withContext as withBrowserContext } from './helpers/browser.mjs';
import { startOidcProvider } from './helpers/oidc-provider.mjs';
import {
  PAGE,
  backAtApp,
  openApp,
  passOidcProviderPages,
  ready,
  signInLocally,
  snapshot,
  startLocal,
  startLogin,
  storedRefreshToken,
  withLocalApp as withLocalAppIn,
} from './helpers/signin-app.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A fresh local server and browser context with the test app open on it (see withLocalApp in the helper). */
const withLocalApp = (settings, fn) => withLocalAppIn(browser, settings, fn);
/** A browser context (its own storage, shared by its pages) for `fn`. */
const withContext = (fn) => withBrowserContext(browser, fn);

test('local server: sign in through its login page — verified user, appState back, the address bar cleaned, one code exchange for two callbacks at once; the same callback URL again exchanges nothing', { timeout: 90_000 }, () =>
  withLocalApp({}, async ({ server, context, appUrl, options, page, errors }) => {
    assert.equal((await snapshot(page)).isAuthenticated, false);
    const s = await signInLocally(page, server, { user: 'carol', appState: { returnTo: '/inbox', n: 3 } });
    assert.equal(s.callbacks.length, 2, 'StrictMode: two calls');
    for (const r of s.callbacks) assert.deepEqual(r, { ok: true, value: { appState: { returnTo: '/inbox', n: 3 } } });
    assert.equal(s.isAuthenticated, true);
    assert.equal(s.user?.sub, 'carol', 'user from the verified ID token');
    assert.equal(s.user?.aud, server.clientId);
    assert.equal(typeof s.user?.nonce, 'string');
    assert.equal(s.claims?.sub, 'carol');
    assert.equal(s.addressAfter, appUrl, 'code, state and iss are gone from the address bar');
    assert.equal(server.stats.codeExchanges, 1, 'the code was exchanged once');
    const token = await page.evaluate(() => window.app.client.getAccessToken());
    const me = await page.evaluate(async ([url, t]) => (await fetch(url, { headers: { Authorization: `Bearer ${t}` } })).json(), [`${server.url}/api/me`, token]);
    assert.equal(me.sub, 'carol', 'the token works at the API');

    // The same callback URL again (back button, a reload of it): no second exchange.
    const callbackUrl = await page.evaluate(() => window.app.callbackUrl);
    const { page: again } = await openApp(context, callbackUrl, { options, once: true });
    const replay = await snapshot(again);
    assert.equal(replay.callbacks[0].ok, false);
    assert.equal(replay.callbacks[0].error.code, 'invalid_state');
    assert.equal(server.stats.codeExchanges, 1, 'still one exchange');
    assert.deepEqual(errors, []);
  }));

test('local server: a forged state is invalid_state, a refusal at the login page is login_failed with access_denied, and neither signs in', { timeout: 90_000 }, () =>
  withLocalApp({ once: true }, async ({ server, context, appUrl, options, page }) => {
    await startLogin(page, {}, `${server.url}/authorize`);
    // An attacker's callback with a state this tab never sent.
    const forged = await openApp(context, `${appUrl}?code=stolen&state=forged&iss=${encodeURIComponent(server.issuer)}`, { options, once: true });
    const f = await snapshot(forged.page);
    assert.equal(f.callbacks[0].error.code, 'invalid_state');
    assert.equal(f.isAuthenticated, false);
    // The user refuses at the provider.
    await page.click('#deny');
    const s = await backAtApp(page, appUrl);
    assert.equal(s.callbacks[0].ok, false);
    assert.equal(s.callbacks[0].error.code, 'login_failed');
    assert.equal(s.callbacks[0].error.error, 'access_denied');
    assert.equal(s.isAuthenticated, false);
    assert.equal(s.addressAfter, appUrl);
    assert.equal(server.stats.codeExchanges, 0, 'nothing was exchanged');
  }));

test('local server: an ID token for another client is refused claim_mismatch and signs nobody in', { timeout: 90_000 }, () =>
  withLocalApp({ once: true }, async ({ server, page }) => {
    server.controls.idTokenAudienceNext('another-app');
    const s = await signInLocally(page, server);
    assert.equal(s.callbacks[0].ok, false);
    assert.equal(s.callbacks[0].error.code, 'claim_mismatch', s.callbacks[0].error.message);
    assert.equal(s.isAuthenticated, false);
    assert.equal(s.user, null);
    assert.equal(server.stats.codeExchanges, 1);
  }));

test('local server: a code from another sign-in (its ID token carries another nonce) is refused claim_mismatch and signs nobody in', { timeout: 90_000 }, () =>
  withLocalApp({ once: true }, async ({ server, appUrl, page }) => {
    await startLogin(page, {}, `${server.url}/authorize`);
    // This tab's transaction now expects another nonce than the one the provider was sent,
    // as when a code of someone else's sign-in is injected into this tab's callback.
    await page.evaluate(() => {
      for (let i = 0; i < sessionStorage.length; i += 1) {
        const key = sessionStorage.key(i);
        if (!key.endsWith(':signin')) continue;
        const tx = JSON.parse(sessionStorage.getItem(key));
        tx.n = 'another-sign-in-s-nonce';
        sessionStorage.setItem(key, JSON.stringify(tx));
      }
    });
    await page.click('#sign-in');
    const s = await backAtApp(page, appUrl);
    assert.equal(s.callbacks[0].ok, false);
    assert.equal(s.callbacks[0].error.code, 'claim_mismatch', s.callbacks[0].error.message);
    assert.match(s.callbacks[0].error.message, /nonce/);
    assert.equal(s.isAuthenticated, false);
    assert.equal(server.stats.codeExchanges, 1);
  }));

test('local server: a second tab follows the sign-in; logout({ returnTo }) ends both tabs, revokes the refresh token, then the provider ends its session and sends the browser to returnTo', { timeout: 90_000 }, () =>
  withLocalApp({ extra: { persist: 'local' }, once: true }, async ({ server, context, appUrl, options, page }) => {
    const { page: other } = await openApp(context, appUrl, { options, once: true });
    const s = await signInLocally(page, server, { user: 'dave' });
    assert.equal(s.isAuthenticated, true);
    await other.waitForFunction(() => window.snapshot().isAuthenticated === true, null, { timeout: 10_000 });
    assert.equal((await snapshot(other)).user?.sub, 'dave', 'the other tab follows the sign-in');
    const refreshToken = await storedRefreshToken(page);
    assert.equal(typeof refreshToken, 'string');

    const returnTo = `${appUrl}?signed-out=1`;
    await page.evaluate((to) => {
      window.app.client.logout({ returnTo: to });
    }, returnTo);
    await page.waitForURL((u) => u.href === returnTo, { timeout: 20_000 });
    await other.waitForFunction(() => window.snapshot().isAuthenticated === false, null, { timeout: 10_000 });
    const otherEvents = (await snapshot(other)).events.filter((e) => e.type === 'logout').map(({ type, reason }) => ({ type, reason }));
    assert.deepEqual(otherEvents, [{ type: 'logout', reason: 'peer' }]);
    // The server's record: the revocation came first, then the end-session with the hint.
    const revoked = server.stats.revocationLog.filter((r) => r.kind === 'refresh_token' && r.sub === 'dave');
    assert.equal(revoked.length, 1, JSON.stringify(server.stats.revocationLog));
    assert.equal(revoked[0].clientId, server.clientId);
    const ended = server.stats.endSessionLog.at(-1);
    assert.equal(ended.outcome, 'redirected');
    assert.equal(ended.sub, 'dave', 'id_token_hint named the user');
    assert.equal(ended.clientId, server.clientId);
    assert.equal(ended.postLogoutRedirectUri, returnTo);
    assert.ok(revoked[0].seq < ended.seq, 'revocation before end-session');
    // The revoked refresh token no longer refreshes.
    const res = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: server.clientId }).toString(),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
    await ready(page);
    assert.equal((await snapshot(page)).isAuthenticated, false, 'signed out after returning');
  }));

// ---- an independent OpenID provider (oidc-provider) ----

test('oidc-provider: sign in through its own login and consent pages (RS256, PKCE), then logout({ returnTo }): revocation, its end-session confirmation, back at returnTo; the refresh token is dead', { timeout: 120_000 }, async () => {
  const statics = await startLocal();
  const appUrl = `${statics.url}${PAGE}`;
  const returnTo = `${appUrl}?bye=1`;
  const op = await startOidcProvider({ alg: 'RS256', redirectUris: [appUrl], postLogoutRedirectUris: [returnTo] });
  try {
    await withContext(async (context) => {
      const options = { issuer: op.issuer, clientId: op.clientId, audience: op.audience, redirectUri: appUrl, persist: 'local' };
      const { page, errors } = await openApp(context, appUrl, { options });
      await startLogin(page, { prompt: 'consent', scope: 'openid offline_access api:read', extraParams: { resource: op.resource }, appState: { from: 'oidc' } }, op.issuer);
      // oidc-provider's own development pages: login, then consent.
      await passOidcProviderPages(page, 'erin');
      const s = await backAtApp(page, appUrl);
      for (const r of s.callbacks) assert.deepEqual(r, { ok: true, value: { appState: { from: 'oidc' } } }, JSON.stringify(r));
      assert.equal(s.isAuthenticated, true);
      assert.equal(s.user?.sub, 'erin');
      assert.equal(s.user?.aud, op.clientId);
      assert.equal(s.claims?.aud, op.resource);
      assert.equal(s.addressAfter, appUrl);
      const exchanges = op.requests.filter((r) => r.method === 'POST' && r.path === new URL(op.tokenEndpoint).pathname);
      assert.equal(exchanges.length, 1, 'one code exchange for the two callbacks');
      // A refresh at the provider works.
      const refreshed = await page.evaluate(() => window.settle(window.app.client.refresh()));
      assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
      const refreshToken = await storedRefreshToken(page);

      const seen = op.requests.length;
      await page.evaluate((to) => {
        window.app.client.logout({ returnTo: to });
      }, returnTo);
      // oidc-provider asks the user to confirm the logout.
      await page.waitForURL((u) => u.href.startsWith(op.issuer), { timeout: 20_000 });
      await page.click('button[name="logout"]');
      await page.waitForURL((u) => u.href === returnTo, { timeout: 20_000 });
      const after = op.requests.slice(seen).map((r) => `${r.method} ${r.path}`);
      const revokeAt = after.indexOf(`POST ${new URL(op.discovery.revocation_endpoint).pathname}`);
      const endAt = after.findIndex((r) => r.startsWith(`GET ${new URL(op.discovery.end_session_endpoint).pathname}`));
      assert.ok(revokeAt >= 0 && endAt > revokeAt, `revocation, then end-session: ${after.join(', ')}`);
      const dead = await op.refresh(refreshToken);
      assert.equal(dead.status, 400);
      assert.equal(dead.body.error, 'invalid_grant');
      await ready(page);
      assert.equal((await snapshot(page)).isAuthenticated, false);
      assert.deepEqual(errors, []);
    });
  } finally {
    await op.close();
    await statics.close();
  }
});
