// The Vue adapter (jwt-keeper/vue) as an app uses it: www/vue (Vue 3, vue-router in history
// mode, createAuth + useAuth + authGuard) built from the packed package, in Chromium against the
// local auth server and its login page; server-side rendering in Node with every browser global
// booby-trapped; and the plugin's rules (one client, one callback, the guard's decisions) with a
// scripted client. The server's own records (code exchanges, refreshes, authorization requests,
// API calls, end-session calls) are the ground truth.
//   node --test --test-concurrency=1 tests/e2e-vue.test.mjs
// Needs a built pkg/ (npm run build). The app is prepared in .tmp/e2e-vue/ (git-ignored): the
// tarball of pkg/, a copy of www/vue, `npm ci` (kept while package.json and the lock file stay
// the same), the tarball installed with `npm install --no-save`, `vite build`.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAuthServer } from '../www/server/auth-server.mjs';
import { launchBrowser, withContext as withBrowserContext } from './helpers/browser.mjs';
import { PKG, ROOT, runNode } from './helpers/paths.mjs';
import { packPkg, prepareProject, renderOnServer, run } from './helpers/apps.mjs';

const WORK = join(ROOT, '.tmp/e2e-vue');
const APP = join(WORK, 'app');
const DIST = join(APP, 'dist');
/** How long the page may take to show what the test waits for. */
const PAGE_TIMEOUT_MS = 20_000;
const AUDIENCE = 'jwt-keeper-demo';

let browser;

// ---- preparing the app -----------------------------------------------------------------------


before(async () => {
  assert.ok(existsSync(join(PKG, 'vue.js')), 'pkg/ is missing or old: run `npm run build` first');
  const packed = await packPkg(WORK);
  assert.ok(packed.files.some((f) => f.path === 'vue.js') && packed.files.some((f) => f.path === 'vue.d.ts'), 'the tarball carries vue.js and vue.d.ts');
  await prepareProject(APP, { from: join(ROOT, 'www/vue'), tarball: packed.path, same: ['vue.js', 'jwt_keeper_core_bg.wasm'] });
  await run(join(APP, 'node_modules/.bin/vite'), ['build'], APP);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// ---- driving the built app -------------------------------------------------------------------

/** The built app served by a fresh auth server (client-side routes get index.html). */
const startServer = () => startAuthServer({ port: 0, staticDir: DIST, spaFallback: true });

/** A browser context (its own storage, shared by its pages) for `fn`. */
const withContext = (fn) => withBrowserContext(browser, fn);

/**
 * Opens `url` in a new page of `context`, recording page errors, console errors and every
 * page load of the main frame (a document request: a redirect to the login page is one, a
 * client-side route change is not). Returns { page, errors, navigations }.
 */
async function openApp(context, url) {
  const page = await context.newPage();
  const errors = [];
  const navigations = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations.push(request.url());
  });
  await page.goto(url);
  return { page, errors, navigations };
}

const text = (page, selector) => page.locator(selector).innerText({ timeout: PAGE_TIMEOUT_MS });

/** On the server's login page (the page went there by itself): signs in as `user`. */
async function signInAtServer(page, server, user) {
  await page.waitForURL((u) => u.href.startsWith(`${server.url}/authorize`), { timeout: PAGE_TIMEOUT_MS });
  await page.fill('#username', user);
  await page.click('#sign-in');
}

/** Home page, signed out: Sign in, the server's login page, back home showing the API's answer. */
async function signInFromHome(page, server, user) {
  await page.click('#signin');
  await signInAtServer(page, server, user);
  await page.waitForURL(`${server.url}/`, { timeout: PAGE_TIMEOUT_MS });
  await page.waitForFunction(() => document.querySelector('#me')?.textContent.includes('"sub"'), null, { timeout: PAGE_TIMEOUT_MS });
}

const decodePayload = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

// ---- in the browser --------------------------------------------------------------------------

test('signs in through the login page: the user shown, /api/me called with a token from getAccessToken(), one code exchange, the address cleaned; a reload keeps the session (persist: local)', { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    await withContext(async (context) => {
      const { page, errors } = await openApp(context, `${server.url}/`);
      await page.waitForSelector('#signin', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(page, '#status'), 'signed out');

      await signInFromHome(page, server, 'alice');
      assert.equal(await text(page, '#status'), 'signed in as alice');
      assert.equal(JSON.parse(await text(page, '#me')).sub, 'alice');
      const token = await text(page, '#token');
      const { verifyJwt } = await import(join(PKG, 'node.js'));
      assert.equal(verifyJwt(token, server.jwks, { issuer: server.issuer, audience: AUDIENCE }).sub, 'alice');
      assert.equal(server.stats.codeExchanges, 1, 'the code was exchanged once');
      assert.equal(server.stats.codeExchangeLog[0].outcome, 'exchanged');
      assert.equal(server.stats.apiCalls, 1, 'one API call, with the token from getAccessToken()');
      assert.equal(page.url(), `${server.url}/`, 'code, state and iss are gone from the address bar');

      const authorizeRequests = server.stats.authorizeRequests;
      await page.reload();
      await page.waitForFunction(() => document.querySelector('#me')?.textContent.includes('"sub"'), null, { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(page, '#status'), 'signed in as alice', 'the session survived the reload');
      assert.equal(server.stats.apiCalls, 2);
      assert.equal(server.stats.codeExchanges, 1, 'no new sign-in after the reload');
      assert.equal(server.stats.authorizeRequests, authorizeRequests, 'not sent to the login page again');
      assert.deepEqual(errors, []);
    });
  } finally {
    await server.close();
  }
});

test('a logout made in another tab (logout({ returnTo })): that tab goes through the server\'s end-session and back home signed out, this tab follows (reason peer)', { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    await withContext(async (context) => {
      const first = await openApp(context, `${server.url}/`);
      await first.page.waitForSelector('#signin', { timeout: PAGE_TIMEOUT_MS });
      await signInFromHome(first.page, server, 'dave');

      const second = await openApp(context, `${server.url}/`);
      await second.page.waitForSelector('#logout', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(second.page, '#status'), 'signed in as dave', 'the second tab has the session');
      await second.page.click('#logout');
      await second.page.waitForFunction(() => document.querySelector('#signin') !== null, null, { timeout: PAGE_TIMEOUT_MS });
      assert.equal(second.page.url(), `${server.url}/`);
      assert.ok(second.navigations.some((u) => u.startsWith(`${server.url}/end-session?`)), second.navigations.join('\n'));
      const ended = server.stats.endSessionLog.at(-1);
      assert.equal(ended.outcome, 'redirected');
      assert.equal(ended.sub, 'dave', 'the provider ended the session of the user (id_token_hint)');
      assert.equal(ended.postLogoutRedirectUri, `${server.url}/`);
      assert.ok(server.stats.revocationLog.some((r) => r.kind === 'refresh_token' && r.sub === 'dave'), 'the refresh token was revoked');

      await first.page.waitForSelector('#logout-reason', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(first.page, '#logout-reason'), 'peer');
      assert.equal(await first.page.locator('#signin').count(), 1, 'the first tab shows Sign in');
      assert.equal(server.stats.codeExchanges, 1);
      assert.deepEqual(first.errors, []);
      assert.deepEqual(second.errors, []);
    });
  } finally {
    await server.close();
  }
});

test('the protected route (beforeEnter: authGuard) sends a signed-out visitor to sign-in, and after it lands back on /protected (appState.returnTo); one code exchange', { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    await withContext(async (context) => {
      const { page, errors } = await openApp(context, `${server.url}/protected`);
      await signInAtServer(page, server, 'bob');
      const asked = server.stats.authorizeLog.find((e) => e.outcome === 'login_page');
      assert.ok(asked, 'the guard sent the visitor to the login page');
      await page.waitForURL(`${server.url}/protected`, { timeout: PAGE_TIMEOUT_MS });
      await page.waitForSelector('#protected', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(page, '#protected-user'), 'bob');
      assert.equal(server.stats.codeExchanges, 1, 'the code was exchanged once');
      assert.equal(server.stats.authorizeRequests, 2, 'the login page (GET) and its form (POST), nothing more');

      // Signed in, the guard lets client-side navigations through without the login page.
      await page.click('#nav-home');
      await page.waitForSelector('#logout', { timeout: PAGE_TIMEOUT_MS });
      await page.click('#nav-protected');
      await page.waitForSelector('#protected', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(server.stats.authorizeRequests, 2);
      assert.deepEqual(errors, []);
    });
  } finally {
    await server.close();
  }
});

test('a direct load of /protected with an expired access token and a live refresh token: one refresh, the page, no sign-in; with the token endpoint failing (503), the session is kept and so is the page', { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    await withContext(async (context) => {
      // A short token life; the tab closes before the client's own refresh (at half-life).
      const TTL_S = 14;
      server.controls.setAccessTtl(TTL_S);
      const first = await openApp(context, `${server.url}/`);
      await first.page.waitForSelector('#signin', { timeout: PAGE_TIMEOUT_MS });
      await signInFromHome(first.page, server, 'carol');
      const { exp } = decodePayload(await text(first.page, '#token'));
      await first.page.close();
      assert.equal(server.stats.refreshRequests, 0, 'the first tab closed before it refreshed');
      assert.deepEqual(first.errors, []);
      server.controls.setAccessTtl(300);
      const wait = exp * 1000 + 1000 - Date.now();
      assert.ok(wait < TTL_S * 1000 + 2000);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));

      // The token endpoint answers 503: a transient failure; the session and the page stay.
      server.controls.failNext(1000, 503);
      const failing = await openApp(context, `${server.url}/protected`);
      await failing.page.waitForSelector('#protected', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(failing.page, '#protected-user'), 'carol');
      assert.ok(server.stats.refreshRequests >= 1, 'the guard asked for a fresh token first');
      assert.equal(server.stats.refreshSuccesses, 0);
      assert.equal(server.stats.authorizeRequests, 2, 'no new sign-in');
      assert.ok(failing.navigations.every((u) => !u.includes('/authorize')), failing.navigations.join('\n'));
      // Each failed refresh shows as the browser's own "Failed to load resource" line.
      assert.deepEqual(failing.errors.filter((e) => !/Failed to load resource: the server responded with a status of 503/.test(e)), []);
      await failing.page.close();
      server.controls.reset();

      // The endpoint is back: the guard refreshes once, the page shows, nobody is redirected.
      const before = { ...server.stats };
      const { page, errors, navigations } = await openApp(context, `${server.url}/protected`);
      await page.waitForSelector('#protected', { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await text(page, '#protected-user'), 'carol');
      assert.equal(page.url(), `${server.url}/protected`);
      assert.equal(server.stats.refreshRequests - before.refreshRequests, 1, 'one refresh');
      assert.equal(server.stats.refreshSuccesses - before.refreshSuccesses, 1);
      assert.equal(server.stats.authorizeRequests, before.authorizeRequests, 'no sign-in');
      assert.equal(server.stats.codeExchanges, 1);
      assert.deepEqual(navigations, [`${server.url}/protected`], 'no redirect');
      assert.deepEqual(errors, []);
    });
  } finally {
    await server.close();
  }
});

// ---- in Node ---------------------------------------------------------------------------------

test('SSR (createSSRApp + renderToString, the installed tarball): the isLoading markup, no browser global touched, the guard\'s route rendered without a redirect; useAuth outside an app throws', { timeout: 60_000 }, async (t) => {
  // Every browser global is a trap, set before anything loads. A read by the package's own code
  // is recorded and throws; any other reader (Vue and vue-router look for a document and a
  // devtools hook when they load and create apps) sees what a server has there: undefined.
  const code = `
    const touched = [];
    const byOthers = new Set();
    for (const name of ['window', 'document', 'self', 'location', 'localStorage', 'sessionStorage', 'navigator', 'BroadcastChannel']) {
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          const reader = new Error().stack.split('\\n')[2] ?? '';
          if (reader.includes('/node_modules/jwt-keeper/')) {
            touched.push(name + ' ' + reader.trim());
            throw new Error(name + ' touched');
          }
          byOthers.add(name);
          return undefined;
        },
      });
    }
    const { createSSRApp, defineComponent, h } = await import('vue');
    const { renderToString } = await import('vue/server-renderer');
    const { createMemoryHistory, createRouter, RouterView } = await import('vue-router');
    const { createAuth, useAuth, authGuard } = await import('jwt-keeper/vue');
    const afterImport = [...touched];
    const message = (fn) => { try { fn(); return null; } catch (e) { return e.message; } };
    const noApp = message(() => useAuth());
    let guardWithoutPlugin = null;
    await authGuard({ fullPath: '/protected' }).catch((e) => { guardWithoutPlugin = e.message; });

    const options = { issuer: 'https://issuer.test', clientId: 'demo-client', audience: '${AUDIENCE}', persist: 'local' };
    const Status = defineComponent({
      setup() {
        const auth = useAuth();
        return () => h('p', { id: 'status' }, 'isLoading: ' + auth.isLoading + ', isAuthenticated: ' + auth.isAuthenticated + ', user: ' + (auth.user?.sub ?? 'none'));
      },
    });
    const app = createSSRApp(Status);
    app.use(createAuth(options));
    const html = await renderToString(app);

    const Protected = defineComponent({ setup: () => () => h('section', { id: 'protected' }, [h(Status)]) });
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [{ path: '/', component: Status }, { path: '/protected', component: Protected, beforeEnter: authGuard }],
    });
    const routed = createSSRApp({ render: () => h(RouterView) });
    const auth = createAuth(options);
    routed.use(auth);
    routed.use(router);
    await router.push('/protected');
    await router.isReady();
    const routedHtml = await renderToString(routed);
    const serverCall = await auth.getAccessToken().then(() => 'resolved', (e) => e.code);
    console.log(JSON.stringify({
      afterImport, noApp, guardWithoutPlugin, html, route: router.currentRoute.value.fullPath, routedHtml,
      plugin: { isLoading: auth.isLoading, isAuthenticated: auth.isAuthenticated, user: auth.user },
      serverCall, touched, byOthers: [...byOthers],
    }));`;
  const { status, stderr, json } = await runNode(code, { cwd: APP });
  assert.equal(status, 0, stderr);
  t.diagnostic(`read by Vue and vue-router (undefined to them, as on a server): ${json.byOthers.join(', ') || 'none'}`);
  delete json.byOthers;
  assert.deepEqual(json, {
    afterImport: [],
    noApp: 'jwt-keeper/vue: useAuth() found no auth plugin. Call it in setup() of a component of an app that did app.use(createAuth(options)); elsewhere use the object createAuth returned.',
    guardWithoutPlugin: 'jwt-keeper/vue: authGuard found no auth plugin: app.use(createAuth(options)) first',
    html: '<p id="status">isLoading: true, isAuthenticated: false, user: none</p>',
    route: '/protected',
    routedHtml: '<section id="protected"><p id="status">isLoading: true, isAuthenticated: false, user: none</p></section>',
    plugin: { isLoading: true, isAuthenticated: false, user: null },
    serverCall: 'unsupported',
    touched: [],
  });
});

test('the app itself on the server (npm run build:ssr, then render() of dist-server/entry-server.js): / and /protected are its loading state, the guarded route rendered without a redirect, no browser global read by jwt-keeper or the app', { timeout: 120_000 }, async (t) => {
  const { status, stderr, json } = await renderOnServer(APP, ['/', '/protected']);

  assert.equal(status, 0, stderr);
  t.diagnostic(`read by Vue and vue-router (undefined to them, as on a server): ${json.byOthers.join(', ') || 'none'}`);
  assert.deepEqual(json.touched, [], 'no browser global read by jwt-keeper or the app');
  assert.equal(stderr, '');
  // The markup without Vue's fragment and v-if comments (<!--[-->, <!--]-->, <!---->).
  const markup = (html) => html.replace(/<!--[^]*?-->/g, '');
  const header = '<header><h1>jwt-keeper · Vue</h1><nav>';
  const home = markup(json.rendered[0].html);
  assert.equal(json.rendered[0].path, '/');
  assert.ok(home.startsWith(header), home);
  assert.ok(home.endsWith('</nav></header><main><p id="status">loading…</p></main>'), `Home.vue while isLoading: ${home}`);
  assert.doesNotMatch(home, /signed out|signed in|id="signin"|id="error"/);
  const guarded = markup(json.rendered[1].html);
  assert.equal(json.rendered[1].path, '/protected', 'authGuard let the navigation through: no redirect');
  assert.ok(guarded.startsWith(header), guarded);
  assert.ok(guarded.endsWith('</nav></header><main><p id="status">loading…</p></main>'), `Protected.vue while isLoading: ${guarded}`);
  assert.doesNotMatch(guarded, /signed out|id="protected"/);
});

test('the plugin with a scripted client: one client and one callback for two apps, onRedirectCallback(appState), a failed callback in error, the state following the events, and the guard\'s rule for each answer', { timeout: 60_000 }, async () => {
  // A DOM's interface objects make this Node process a browser to the plugin; the client is a
  // script whose answers the test sets.
  const code = `
    globalThis.Document = class Document {};
    globalThis.HTMLElement = class HTMLElement {};
    globalThis.location = { search: '?code=abc&state=xyz&iss=https%3A%2F%2Fissuer.test' };
    const { createApp, watchEffect } = await import('vue');
    const { AuthError } = await import('jwt-keeper');
    const { createAuth, useAuth, authGuard } = await import('jwt-keeper/vue');

    function scriptedClient() {
      const listeners = { refresh: [], logout: [], error: [] };
      const c = {
        calls: { callback: 0, login: [], token: 0 },
        isAuthenticated: false, user: null, claims: null, expiresAt: null,
        tokenAnswer: null,
        callbackAnswer: null,
        on(type, fn) { listeners[type].push(fn); return () => {}; },
        emit(type, detail) { for (const fn of listeners[type]) fn(detail); },
        handleRedirectCallback() { c.calls.callback += 1; return c.callbackAnswer(); },
        getAccessToken() { c.calls.token += 1; return c.tokenAnswer(); },
        fetch() { return Promise.reject(new Error('not used')); },
        loginWithRedirect(options) { c.calls.login.push(options); return Promise.resolve(); },
        logout() { return Promise.resolve(); },
      };
      return c;
    }
    const signIn = (c, sub) => { c.isAuthenticated = true; c.user = { sub, nested: { roles: ['a'] } }; c.claims = { sub }; };

    // Two apps, one plugin, a client given as a promise.
    const client = scriptedClient();
    client.callbackAnswer = async () => { signIn(client, 'erin'); return { appState: { returnTo: '/inbox' } }; };
    // What isLoading said when a token was asked for: never before the callback settled.
    const loadingAtToken = [];
    client.tokenAnswer = () => { loadingAtToken.push(view.isLoading); return Promise.resolve('token-1'); };
    const redirected = [];
    const auth = createAuth(Promise.resolve(client), { onRedirectCallback: (s) => redirected.push(s) });
    const a1 = createApp({ render: () => null }).use(auth);
    const a2 = createApp({ render: () => null }).use(auth);
    const view = a1.runWithContext(() => useAuth());
    const sameView = view === a2.runWithContext(() => useAuth()) && view === a1.config.globalProperties.$auth;
    const seen = [];
    watchEffect(() => seen.push(view.isLoading + '/' + view.isAuthenticated + '/' + (view.user?.sub ?? '-')), { flush: 'sync' });
    // Called before the client is there, they wait for it (and for the callback).
    const early = a1.runWithContext(() => authGuard({ fullPath: '/early' }));
    const token = await auth.getAccessToken();
    const earlyGuard = await early;
    const afterCallback = { isLoading: auth.isLoading, isAuthenticated: view.isAuthenticated, user: view.user, error: view.error };
    let frozenUser;
    try { view.user.nested.roles.push('b'); frozenUser = false; } catch { frozenUser = true; }
    const readOnly = (() => { try { view.isAuthenticated = false; } catch {} return view.isAuthenticated; })();

    // The session ends (another tab logged out): the state follows the logout event.
    client.isAuthenticated = false; client.user = null; client.claims = null;
    client.emit('logout', { reason: 'peer' });
    const afterLogout = { isAuthenticated: view.isAuthenticated, user: view.user };

    // The guard, answer by answer.
    const guard = async (answer, signedIn) => {
      client.tokenAnswer = answer;
      client.isAuthenticated = signedIn;
      const logins = client.calls.login.length;
      const result = await a1.runWithContext(() => authGuard({ fullPath: '/orders?id=7' }));
      return { result, login: client.calls.login.slice(logins) };
    };
    const rejects = (code) => () => Promise.reject(new AuthError(code, code));
    const rules = {
      token: await guard(() => Promise.resolve('t'), true),
      not_authenticated: await guard(rejects('not_authenticated'), false),
      refresh_rejected: await guard(rejects('refresh_rejected'), false),
      network_kept: await guard(rejects('network'), true),
      timeout_kept: await guard(rejects('timeout'), true),
      bad_response_none: await guard(rejects('bad_response'), false),
      network_none: await guard(rejects('network'), false),
      bad_signature_kept: await guard(rejects('bad_signature'), true),
      bad_signature_none: await guard(rejects('bad_signature'), false),
    };
    // Outside any setup the guard finds the plugin installed last.
    client.tokenAnswer = () => Promise.resolve('t');
    const outside = await authGuard({ fullPath: '/x' });

    // A failed callback: error set, onRedirectCallback not called, loading over.
    const failing = scriptedClient();
    failing.callbackAnswer = () => Promise.reject(new AuthError('login_failed', 'access_denied'));
    const redirected2 = [];
    const auth2 = createAuth(failing, { onRedirectCallback: (s) => redirected2.push(s) });
    failing.tokenAnswer = rejects('not_authenticated');
    createApp({ render: () => null }).use(auth2);
    const failed = await auth2.getAccessToken().then(() => 'resolved', (e) => e.code);
    const afterFailure = { isLoading: auth2.isLoading, error: auth2.error?.code, redirected: redirected2.length, callbacks: failing.calls.callback };
    // A refresh (a sign-in in another tab) clears it.
    signIn(failing, 'fay');
    failing.emit('refresh', { source: 'peer' });
    const afterRefresh = { error: auth2.error, user: auth2.user?.sub };

    // A promise that does not give a client: error 'malformed'.
    const auth3 = createAuth(Promise.resolve({}));
    createApp({ render: () => null }).use(auth3);
    const bad = await auth3.loginWithRedirect().then(() => 'resolved', (e) => e.code);

    console.log(JSON.stringify({
      callbacks: client.calls.callback, redirected, sameView, seen, token, earlyGuard, loadingAtToken, afterCallback, frozenUser, readOnly, afterLogout, rules, outside,
      failed, afterFailure, afterRefresh, bad: { code: bad, error: auth3.error?.code, isLoading: auth3.isLoading },
    }));`;
  const { status, stderr, json } = await runNode(code, { cwd: APP });
  assert.equal(status, 0, stderr);
  const login = [{ appState: { returnTo: '/orders?id=7' } }];
  assert.deepEqual(json, {
    callbacks: 1,
    redirected: [{ returnTo: '/inbox' }],
    sameView: true,
    seen: ['true/false/-', 'true/true/-', 'true/true/erin', 'false/true/erin', 'false/false/erin', 'false/false/-'],
    token: 'token-1',
    earlyGuard: true,
    loadingAtToken: [false, false],
    afterCallback: { isLoading: false, isAuthenticated: true, user: { sub: 'erin', nested: { roles: ['a'] } }, error: null },
    frozenUser: true,
    readOnly: true,
    afterLogout: { isAuthenticated: false, user: null },
    rules: {
      token: { result: true, login: [] },
      not_authenticated: { result: false, login },
      refresh_rejected: { result: false, login },
      network_kept: { result: true, login: [] },
      timeout_kept: { result: true, login: [] },
      bad_response_none: { result: false, login: [] },
      network_none: { result: false, login: [] },
      bad_signature_kept: { result: true, login: [] },
      bad_signature_none: { result: false, login },
    },
    outside: true,
    failed: 'not_authenticated',
    afterFailure: { isLoading: false, error: 'login_failed', redirected: 0, callbacks: 1 },
    afterRefresh: { error: null, user: 'fay' },
    bad: { code: 'malformed', error: 'malformed', isLoading: false },
  });
});
