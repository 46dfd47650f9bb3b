// The React adapter (jwt-keeper/react) end to end: the example app of www/react, installed from
// the packed tarball and built by Vite as a user builds it (React's development build, so that
// <StrictMode> runs every effect twice), served by the local auth server with its client-side
// routes, in Chromium: sign-in through the server's login page, the API called with a token from
// getAccessToken(), a reload, a logout in another tab, the protected route (sign-in and back,
// a stored session renewed by a refresh, a transient refresh failure, a logout from it); and
// server-side rendering in Node from the installed package. The server's own records (code
// exchanges, authorization requests, refreshes, API calls, end-session calls) are the ground truth.
//   node --test --test-concurrency=1 tests/e2e-react.test.mjs
// Needs a built pkg/ (npm run build). The app is prepared once, in .tmp/e2e-react/ (git-ignored);
// its node_modules are kept between runs while package.json and package-lock.json stay the same.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { launchBrowser } from './helpers/browser.mjs';
import { PKG, ROOT, runNode } from './helpers/paths.mjs';
import { packPkg, prepareProject, renderOnServer, run } from './helpers/apps.mjs';
import { startAuthServer } from '../www/server/auth-server.mjs';

const WORK = join(ROOT, '.tmp/e2e-react');
const APP = join(WORK, 'app');
const DIST = join(APP, 'dist');
/** How long a page may take to show what a step waits for. */
const PAGE_TIMEOUT_MS = 15_000;

let browser;
let verifyJwt;

// ---- preparing the app -----------------------------------------------------------------------


/**
 * `npm pack` pkg/, a fresh copy of www/react in .tmp/e2e-react/app (node_modules kept), `npm ci`
 * when its package.json or lock file changed, the tarball with `npm install --no-save`, then
 * `vite build` with React's development build.
 */
async function prepareApp() {
  const packed = await packPkg(WORK);
  await prepareProject(APP, { from: join(ROOT, 'www/react'), tarball: packed.path, same: ['react.js', 'index.js', 'jwt_keeper_core_bg.wasm'] });
  // NODE_ENV=development: React's development build, in which StrictMode mounts, unmounts and
  // mounts again every effect (a production build runs them once).
  const vite = join(APP, 'node_modules/.bin/vite');
  const dev = { NODE_ENV: 'development' };
  await run(vite, ['build', '--mode', 'development'], APP, dev);
  // The probe page (tests/pages/react/): a provider that makes its own client, at /probe/.
  cpSync(join(ROOT, 'tests/pages/react'), join(APP, 'probe'), { recursive: true });
  await run(vite, ['build', 'probe', '--mode', 'development', '--base', '/probe/', '--outDir', join(DIST, 'probe'), '--emptyOutDir', 'false'], APP, dev);
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'react.js')), 'pkg/ is missing or old: run `npm run build` first');
  await prepareApp();
  ({ verifyJwt } = await import(join(PKG, 'node.js')));
  browser = await launchBrowser();
}, { timeout: 100_000 });

after(async () => {
  await browser?.close();
});

// ---- driving the app -------------------------------------------------------------------------

/** The auth server serving the built app, its client-side routes included. */
const startServer = () => startAuthServer({ port: 0, staticDir: DIST, spaFallback: true });

/**
 * A browser context (its own storage) in which every page counts the BroadcastChannels it opens
 * and closes: each AuthClient opens one, so they count the clients made and disposed.
 */
async function withContext(fn) {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const Native = globalThis.BroadcastChannel;
    const channels = { opened: 0, closed: 0 };
    globalThis.channelCount = channels;
    globalThis.BroadcastChannel = class extends Native {
      constructor(name) {
        super(name);
        channels.opened += 1;
      }
      close() {
        if (!this.closedOnce) channels.closed += 1;
        this.closedOnce = true;
        super.close();
      }
    };
  });
  try {
    return await fn(context);
  } finally {
    await context.close();
  }
}

/**
 * Opens `url` in a new page of `context`, recording page errors, console errors and the URL of
 * every document the page requested. Returns { page, errors, visited }.
 */
async function open(context, url) {
  const page = await context.newPage();
  const errors = [];
  const visited = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  // Document loads only (a redirect's every hop included), not history.replaceState.
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) visited.push(r.url());
  });
  await page.goto(url);
  return { page, errors, visited };
}

const text = (page, selector) => page.locator(selector).innerText({ timeout: PAGE_TIMEOUT_MS });
const waitText = (page, selector, expected) =>
  page.waitForFunction(([s, e]) => document.querySelector(s)?.textContent === e, [selector, expected], { timeout: PAGE_TIMEOUT_MS });
const waitPath = (page, pathname) => page.waitForURL((u) => u.pathname === pathname, { timeout: PAGE_TIMEOUT_MS });

/** On the server's login page (reached by a redirect): sign in as `user`. */
async function signInAtLoginPage(page, user) {
  await waitPath(page, '/authorize');
  await page.fill('#username', user);
  await page.click('#sign-in');
}

/** From the home page: Sign in, the login page, back home with /api/me loaded. */
async function signIn(page, server, user) {
  await page.click('#signin', { timeout: PAGE_TIMEOUT_MS });
  await signInAtLoginPage(page, user);
  await waitPath(page, '/');
  await waitText(page, '#status', `signed in as ${user}`);
  await page.waitForFunction(() => document.querySelector('#me')?.textContent.includes('"sub"'), null, { timeout: PAGE_TIMEOUT_MS });
  assert.equal(page.url(), `${server.url}/`, 'code, state and iss are gone from the address bar');
}

const channels = (page) => page.evaluate(() => ({ ...globalThis.channelCount }));

// ---- tests -----------------------------------------------------------------------------------

// The whole file: the preparation (at most 100 s) and these tests (at most 120 s).
describe('jwt-keeper/react in www/react', { timeout: 120_000 }, () => {
  test('the app is the development build: StrictMode runs its effects twice', () => {
    const assets = join(DIST, 'assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    // A message only React's development build has.
    assert.match(js, /Download the React DevTools/);
    assert.match(readFileSync(join(APP, 'src/main.jsx'), 'utf8'), /<StrictMode>/);
  });

  test('sign-in through the login page under StrictMode: one client, one code exchange, the user shown, the API called once with a token from getAccessToken()', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const { page, errors } = await open(context, `${server.url}/`);
        await waitText(page, '#status', 'signed out');
        assert.deepEqual(await channels(page), { opened: 1, closed: 0 }, 'StrictMode: one client, none made twice or leaked');
        await signIn(page, server, 'carol');

        assert.equal(server.stats.codeExchanges, 1, 'the code was exchanged once');
        assert.deepEqual(server.stats.codeExchangeLog.map((e) => [e.outcome, e.sub]), [['exchanged', 'carol']]);
        assert.equal(server.stats.apiCalls, 1, 'one API call for one sign-in');
        assert.equal(JSON.parse(await text(page, '#me')).sub, 'carol');
        const token = await text(page, '#token');
        assert.equal(verifyJwt(token, server.jwks, { issuer: server.issuer, audience: server.audience }).sub, 'carol');
        assert.deepEqual(await channels(page), { opened: 1, closed: 0 });
        assert.equal(await page.locator('#error').count(), 0);
        assert.deepEqual(errors, []);
      });
    } finally {
      await server.close();
    }
  });

  test('a reload keeps the session (persist: local): no new sign-in, the API called again', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const { page, errors, visited } = await open(context, `${server.url}/`);
        await signIn(page, server, 'carol');
        const before = visited.length;
        await page.reload();
        await waitText(page, '#status', 'signed in as carol');
        await page.waitForFunction(() => document.querySelector('#me')?.textContent.includes('"sub"'), null, { timeout: PAGE_TIMEOUT_MS });
        assert.deepEqual(visited.slice(before), [`${server.url}/`], 'no visit to the login page');
        assert.equal(server.stats.authorizeRequests, 2, 'the login page and its form, once');
        assert.equal(server.stats.codeExchanges, 1);
        assert.equal(server.stats.apiCalls, 2);
        assert.equal(JSON.parse(await text(page, '#me')).sub, 'carol');
        assert.deepEqual(errors, []);
      });
    } finally {
      await server.close();
    }
  });

  test('a logout in another tab: that tab goes through the end-session and back home, this tab follows (reason peer)', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const first = await open(context, `${server.url}/`);
        await signIn(first.page, server, 'dave');
        const second = await open(context, `${server.url}/`);
        await waitText(second.page, '#status', 'signed in as dave');
        assert.equal(server.stats.codeExchanges, 1, 'the second tab signed in from storage');

        await second.page.click('#logout');
        await waitText(first.page, '#logout-reason', 'peer');
        assert.equal(await text(first.page, '#status'), 'signed out (reason: peer)');
        await second.page.waitForFunction(() => document.querySelector('#status')?.textContent === 'signed out' && location.pathname === '/', null, { timeout: PAGE_TIMEOUT_MS });
        assert.deepEqual(second.visited.map((u) => new URL(u).pathname), ['/', '/end-session', '/']);
        assert.deepEqual(server.stats.endSessionLog.map((e) => [e.outcome, e.sub, e.postLogoutRedirectUri]), [['redirected', 'dave', `${server.url}/`]]);
        assert.equal(await first.page.locator('#signin').count(), 1);
        assert.deepEqual([...first.errors, ...second.errors], []);
      });
    } finally {
      await server.close();
    }
  });

  test('the protected route sends a signed-out visitor to sign-in and, after it, back to /protected (appState.returnTo)', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const { page, errors } = await open(context, `${server.url}/protected?tab=2`);
        await signInAtLoginPage(page, 'erin');
        await waitText(page, '#protected', 'protected page of erin');
        assert.equal(page.url(), `${server.url}/protected?tab=2`, 'back where the guard was, path and query');
        assert.equal(server.stats.codeExchanges, 1);
        assert.deepEqual(await channels(page), { opened: 1, closed: 0 });
        assert.deepEqual(errors, []);
      });
    } finally {
      await server.close();
    }
  });

  test('a logout from the protected page goes to the end-session and home, not back to sign-in', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const { page, errors, visited } = await open(context, `${server.url}/protected`);
        await signInAtLoginPage(page, 'frank');
        await waitText(page, '#protected', 'protected page of frank');
        const authorizeRequests = server.stats.authorizeRequests;
        const before = visited.length;
        await page.click('#logout');
        await page.waitForFunction(() => location.pathname === '/' && document.querySelector('#status')?.textContent === 'signed out', null, { timeout: PAGE_TIMEOUT_MS });
        assert.deepEqual(visited.slice(before).map((u) => new URL(u).pathname), ['/end-session', '/']);
        assert.deepEqual(server.stats.endSessionLog.map((e) => [e.outcome, e.sub]), [['redirected', 'frank']]);
        assert.equal(server.stats.authorizeRequests, authorizeRequests, 'no new sign-in was started');
        assert.deepEqual(errors, []);
      });
    } finally {
      await server.close();
    }
  });

  test('stored sessions whose access token expired: a direct load of /protected renders after one refresh, and after a transient refresh failure too, never redirecting', { timeout: 90_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (renewed) => {
        await withContext(async (flaky) => {
          // Two sessions with 10-second access tokens (refreshed at half-life by an open page),
          // each page closed at once: only storage holds them, with their refresh tokens.
          server.controls.setAccessTtl(10);
          for (const [context, user] of [[renewed, 'grace'], [flaky, 'heidi']]) {
            const { page, errors } = await open(context, `${server.url}/`);
            await signIn(page, server, user);
            assert.deepEqual(errors, []);
            await page.close();
          }
          assert.equal(server.stats.refreshRequests, 0, 'no refresh before the pages closed');
          await sleep(10_500);
          server.controls.setAccessTtl(300);
          server.controls.resetStats();

          const a = await open(renewed, `${server.url}/protected`);
          await waitText(a.page, '#protected', 'protected page of grace');
          assert.equal(server.stats.refreshRequests, 1, 'one refresh');
          assert.equal(server.stats.refreshSuccesses, 1);
          assert.equal(server.stats.authorizeRequests, 0, 'never sent to sign-in');
          assert.deepEqual(a.visited, [`${server.url}/protected`]);
          assert.deepEqual(a.errors, []);

          // The first refresh answers 503 with Retry-After: 3. getAccessToken() rejects with a
          // transient error: the session is kept and the page shown at once, without a sign-in;
          // the client's retry renews the session 3 s later.
          server.controls.resetStats();
          server.controls.failNext(1, 503, { retryAfter: 3 });
          const b = await open(flaky, `${server.url}/protected`);
          await waitText(b.page, '#protected', 'protected page of heidi');
          assert.deepEqual(server.stats.refreshLog.map((e) => e.outcome), ['injected'], 'shown before the retry');
          const deadline = Date.now() + PAGE_TIMEOUT_MS;
          while (server.stats.refreshSuccesses < 1 && Date.now() < deadline) await sleep(100);
          assert.deepEqual(server.stats.refreshLog.map((e) => e.outcome), ['injected', 'rotated']);
          assert.equal(await text(b.page, '#protected'), 'protected page of heidi');
          assert.equal(server.stats.authorizeRequests, 0, 'never sent to sign-in');
          assert.deepEqual(b.visited, [`${server.url}/protected`]);
          // The browser reports the injected 503 itself; nothing else went wrong.
          assert.deepEqual(b.errors, ['console.error: Failed to load resource: the server responded with a status of 503 (Service Unavailable)']);
        });
      });
    } finally {
      await server.close();
    }
  });

  test('<AuthProvider options> under StrictMode makes one client, handles the callback once (one exchange, one onRedirectCallback), disposes it on unmount and makes a new one on a new mount', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      await withContext(async (context) => {
        const probe = `${server.url}/probe/index.html`;
        const { page, errors } = await open(context, probe);
        await waitText(page, '#status', 'signed out');
        assert.deepEqual(await channels(page), { opened: 1, closed: 0 }, 'one client for the double mount');
        await page.click('#signin');
        await signInAtLoginPage(page, 'ivan');
        await page.waitForURL(probe, { timeout: PAGE_TIMEOUT_MS });
        await waitText(page, '#status', 'signed in as ivan');
        assert.equal(server.stats.codeExchanges, 1, 'the code was exchanged once');
        assert.deepEqual(await page.evaluate(() => window.redirects), [{ n: 7 }], 'onRedirectCallback once, with the appState');
        assert.deepEqual(await channels(page), { opened: 1, closed: 0 });

        await page.click('#toggle');
        await page.waitForFunction(() => globalThis.channelCount.closed === 1, null, { timeout: PAGE_TIMEOUT_MS });
        assert.deepEqual(await channels(page), { opened: 1, closed: 1 }, 'the provider disposed its client');
        await page.click('#toggle');
        await waitText(page, '#status', 'signed in as ivan');
        assert.deepEqual(await channels(page), { opened: 2, closed: 1 }, 'a new client for the new provider');
        assert.equal(server.stats.codeExchanges, 1);
        assert.equal((await page.evaluate(() => window.redirects)).length, 1);
        assert.equal(await page.locator('#error').count(), 0);
        assert.deepEqual(errors, []);
      });
    } finally {
      await server.close();
    }
  });

  test('SSR: renderToString of <AuthProvider> with useAuth() and the guard gives the loading markup and touches no browser global; no client is made', { timeout: 30_000 }, async () => {
    const code = `
      const GLOBALS = ['window', 'document', 'location', 'localStorage', 'sessionStorage', 'BroadcastChannel', 'navigator'];
      const touched = [];
      for (const name of GLOBALS) {
        Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); throw new Error(name + ' touched'); } });
      }
      const { createElement: h } = await import('react');
      const { renderToString } = await import('react-dom/server');
      const { AuthProvider, useAuth, withAuthenticationRequired } = await import('jwt-keeper/react');
      function Status() {
        const a = useAuth();
        return h('p', { id: 'status' }, JSON.stringify({ isLoading: a.isLoading, isAuthenticated: a.isAuthenticated, user: a.user, claims: a.claims, error: a.error }));
      }
      const Guarded = withAuthenticationRequired(() => h('p', { id: 'secret' }, 'secret'), { onRedirecting: () => h('p', { id: 'redirecting' }, 'redirecting') });
      const options = { publicKey: ${JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }))}, persist: 'local' };
      const withOptions = renderToString(h(AuthProvider, { options }, h(Status), h(Guarded)));
      const withClient = renderToString(h(AuthProvider, { client: new Promise(() => {}) }, h(Status), h(Guarded)));
      let outside;
      try { renderToString(h(Status)); } catch (e) { outside = e.message; }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const byRender = [...touched];
      // The control: a client made here does touch them (storage, the tabs' channel).
      const { createAuthClient } = await import('jwt-keeper');
      await createAuthClient(options).then((c) => c.dispose(), () => {});
      console.log(JSON.stringify({ withOptions, withClient, outside, byRender, byClient: [...new Set(touched)] }));`;
    const { status, stderr, json } = await runNode(code, { cwd: APP });
    assert.equal(status, 0, stderr);
    const loading = '<p id="status">{&quot;isLoading&quot;:true,&quot;isAuthenticated&quot;:false,&quot;user&quot;:null,&quot;claims&quot;:null,&quot;error&quot;:null}</p><p id="redirecting">redirecting</p>';
    assert.equal(json.withOptions, loading);
    assert.equal(json.withClient, loading);
    assert.match(json.outside, /useAuth\(\) needs an <AuthProvider>/);
    assert.deepEqual(json.byRender, [], 'rendering touched no browser global');
    assert.ok(json.byClient.includes('localStorage') && json.byClient.includes('BroadcastChannel'), `the control: ${json.byClient}`);
    assert.equal(stderr, '');
  });

  test('the app itself on the server (npm run build:ssr, then render() of dist-server/entry-server.jsx\'s build): / and /protected are its loading state, the guarded route rendered without a redirect, no browser global read by jwt-keeper or the app', { timeout: 120_000 }, async (t) => {
    const { status, stderr, json } = await renderOnServer(APP, ['/', '/protected']);

    assert.equal(status, 0, stderr);
    t.diagnostic(`read by React and react-router (undefined to them, as on a server): ${json.byOthers.join(', ') || 'none'}`);
    assert.deepEqual(json.touched, [], 'no browser global read by jwt-keeper or the app');
    assert.equal(stderr, '');
    const layout = /^<main><h1>jwt-keeper · React<\/h1><nav><a href="\/"[^>]*>Home<\/a> · <a href="\/protected"[^>]*>Protected page<\/a><\/nav><p id="status">loading…<\/p>/;
    assert.equal(json.rendered[0].status, 200);
    assert.match(json.rendered[0].html, layout, 'Layout while isLoading');
    assert.ok(json.rendered[0].html.endsWith('<p>Sign in to call the API, or open the protected page.</p></main>'), json.rendered[0].html);
    assert.doesNotMatch(json.rendered[0].html, /signed out|signed in|id="signin"|id="logout"|id="error"/);
    assert.equal(json.rendered[1].status, 200, 'no redirect');
    assert.equal(json.rendered[1].location, undefined);
    assert.match(json.rendered[1].html, layout, 'Layout while isLoading');
    assert.ok(json.rendered[1].html.endsWith('<p id="redirecting">checking the session…</p></main>'), 'withAuthenticationRequired\'s onRedirecting: ' + json.rendered[1].html);
    assert.doesNotMatch(json.rendered[1].html, /id="protected"|signed out|id="signin"/);
  });
});
