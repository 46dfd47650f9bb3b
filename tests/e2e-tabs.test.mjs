// Tabs of one origin share one session over BroadcastChannel (crossTab, the default): a sign-in,
// a refresh and a logout in one tab reach the others. Real Chromium pages of one context
// against the real local auth server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startStaticServer } from './helpers/browser.mjs';

let browser;
let server;
let context;

before(async () => {
  server = await startStaticServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Opens a page with a client on it (window.client) that records its events (window.events). */
async function openTab(options = {}) {
  const page = await context.newPage();
  await page.goto(`${server.url}/tests/pages/verify.html`);
  await page.evaluate(
    async ({ jwks, issuer, options }) => {
      const { createAuthClient } = await import('/pkg/index.js');
      window.events = [];
      window.client = await createAuthClient({
        publicKey: jwks,
        issuer,
        audience: 'jwt-keeper-demo',
        refresh: { url: '/oauth/token', clientId: 'demo-client' },
        ...options,
      });
      for (const type of ['refresh', 'logout', 'error']) {
        window.client.on(type, (d) => window.events.push({ type, ...d, error: d.error?.code }));
      }
    },
    { jwks: server.jwks, issuer: server.issuer, options },
  );
  return page;
}

async function login() {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"user":"alice"}',
  });
  return res.json();
}

const until = async (page, fn, arg, timeout = 5000) => page.waitForFunction(fn, arg, { timeout, polling: 50 });

test('a sign-in, a refresh and a logout in one tab reach the other tabs', async () => {
  context = await browser.newContext();
  try {
    const [a, b, c] = [await openTab(), await openTab(), await openTab()];
    const tokens = await login();
    await a.evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    for (const tab of [b, c]) {
      await until(tab, () => window.client.isAuthenticated);
      assert.equal(await tab.evaluate(() => window.client.claims.sub), 'alice');
      assert.equal(await tab.evaluate(() => window.client.getAccessToken()), tokens.access_token);
    }

    server.controls.resetStats();
    const fresh = await a.evaluate(() => window.client.refresh());
    assert.notEqual(fresh, tokens.access_token);
    for (const tab of [b, c]) {
      await until(tab, (t) => window.events.some((e) => e.type === 'refresh' && e.source === 'peer' && e.accessToken === t), fresh);
      assert.equal(await tab.evaluate(() => window.client.getAccessToken()), fresh, 'the peer token is served without a request');
    }
    assert.equal(server.stats.refreshRequests, 1, 'one refresh request for three tabs');

    // The other tabs hold the rotated refresh token: a refresh from b uses it, not the old one.
    await b.evaluate(() => window.client.refresh());
    assert.equal(server.stats.reuseDetections, 0);

    await c.evaluate(() => window.client.logout());
    for (const tab of [a, b]) {
      await until(tab, () => window.events.some((e) => e.type === 'logout'), undefined, 1000);
      const logouts = await tab.evaluate(() => window.events.filter((e) => e.type === 'logout'));
      assert.deepEqual(logouts.map((e) => e.reason), ['peer']);
      assert.equal(await tab.evaluate(() => window.client.isAuthenticated), false);
    }
    console.log(`tabs: 3 pages shared one session; one refresh request served all; 0 reuse detections; logout reached every tab`);
  } finally {
    await context.close();
  }
});

test('with crossTab: false, tabs keep their own sessions', async () => {
  context = await browser.newContext();
  try {
    const [a, b] = [await openTab({ crossTab: false }), await openTab({ crossTab: false })];
    const tokens = await login();
    await a.evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await b.evaluate(() => window.client.isAuthenticated), false);
  } finally {
    await context.close();
  }
});

test('three tabs due at once make one refresh request per token lifetime', async () => {
  context = await browser.newContext();
  server.controls.setAccessTtl(4);
  try {
    const tabs = [await openTab(), await openTab(), await openTab()];
    const tokens = await login();
    await tabs[0].evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    for (const tab of tabs) await until(tab, () => window.client.isAuthenticated);
    server.controls.resetStats();
    // Three lifetimes: each tab is due at the same moment (half the 4 s lifetime).
    await new Promise((r) => setTimeout(r, 6500));
    const finals = await agreedTokens(tabs);
    assert.equal(new Set(finals).size, 1, 'every tab ends with the same token');
    const logouts = (await Promise.all(tabs.map((tab) => tab.evaluate(() => window.events.filter((e) => e.type === 'logout'))))).flat();
    assert.deepEqual(logouts, []);
    assert.equal(server.stats.reuseDetections, 0);
    assert.equal(server.stats.graceReuses, 0, 'a rotated refresh token is never sent twice');
    const lifetimes = 6.5 / 2;
    console.log(`3 tabs, ${lifetimes.toFixed(1)} refresh periods: ${server.stats.refreshRequests} refresh requests`);
    assert.ok(server.stats.refreshRequests <= Math.ceil(lifetimes) + 1, `refresh requests ${server.stats.refreshRequests}`);
    assert.ok(server.stats.refreshRequests >= 2);
  } finally {
    server.controls.setAccessTtl(300);
    await context.close();
  }
});

/** Opens tests/pages/tab.html with `query` and waits for its client. */
async function openAppTab(query) {
  const page = await context.newPage();
  await page.goto(`${server.url}/tests/pages/tab.html?${query}`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

test('the tab holding the lock is closed mid-refresh: another tab finishes it, no logout', async () => {
  context = await browser.newContext();
  try {
    const a = await openAppTab('persist=local&timeoutMs=20000');
    const b = await openAppTab('persist=local&timeoutMs=20000');
    const tokens = await login();
    await a.evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    await until(b, () => window.client.isAuthenticated);
    server.controls.resetStats();
    server.controls.hangNext(1);
    a.evaluate(() => window.client.refresh()).catch(() => {}); // a takes the lock, its request hangs
    await until(a, () => true);
    await new Promise((r) => setTimeout(r, 300));
    const waiting = b.evaluate(() => window.client.refresh()); // b waits for the lock
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(server.stats.refreshRequests, 1, 'b waits while a holds the lock');
    const closedAt = Date.now();
    await a.close(); // a closing releases its lock
    const fresh = await waiting;
    console.log(`lock holder closed: b refreshed ${Date.now() - closedAt} ms later; requests ${server.stats.refreshRequests}`);
    assert.notEqual(fresh, tokens.access_token);
    assert.equal(server.stats.refreshRequests, 2);
    assert.deepEqual(await b.evaluate(() => window.events.filter((e) => e.type === 'logout')), []);
    assert.equal(server.stats.reuseDetections, 0);
  } finally {
    await context.close();
  }
});

test('soak: 5 tabs, 3 s tokens, random reloads and network drops for 2 minutes', async () => {
  context = await browser.newContext();
  const SOAK_MS = Number(process.env.JWT_KEEPER_SOAK_MS ?? 120_000);
  const TTL_S = 3;
  server.controls.reset();
  server.controls.setAccessTtl(TTL_S);
  const query = 'persist=local&refreshMargin=1&timeoutMs=2000';
  try {
    const tabs = [];
    for (let i = 0; i < 5; i++) tabs.push(await openAppTab(query));
    const tokens = await login();
    await tabs[0].evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    for (const tab of tabs) await until(tab, () => window.client.isAuthenticated);
    server.controls.resetStats();
    let seed = 20261123;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const started = Date.now();
    let reloads = 0;
    let drops = 0;
    let unexpectedLogouts = 0;
    let calls = 0;
    let failedCalls = 0;
    while (Date.now() - started < SOAK_MS) {
      const r = random();
      const i = Math.floor(random() * tabs.length);
      if (r < 0.08) {
        unexpectedLogouts += await tabs[i].evaluate(() => window.events.filter((e) => e.type === 'logout').length);
        await tabs[i].reload();
        await tabs[i].waitForFunction(() => window.ready === true);
        reloads += 1;
      } else if (r < 0.12) {
        server.controls.down(true); // every refresh fails on the network for a while
        await new Promise((res) => setTimeout(res, 500 + random() * 1500));
        server.controls.down(false);
        drops += 1;
      } else {
        calls += 1;
        const ok = await tabs[i].evaluate(() => window.client.getAccessToken().then(() => true, () => false));
        if (!ok) failedCalls += 1;
      }
      await new Promise((res) => setTimeout(res, 100 + random() * 300));
    }
    server.controls.down(false);
    for (const tab of tabs) {
      unexpectedLogouts += await tab.evaluate(() => window.events.filter((e) => e.type === 'logout').length);
      assert.equal(await tab.evaluate(() => window.client.isAuthenticated), true);
    }
    const finals = await agreedTokens(tabs);
    const elapsed = (Date.now() - started) / 1000;
    const lifetimes = elapsed / TTL_S;
    const s = server.stats;
    console.log(
      `soak ${elapsed.toFixed(0)} s, 5 tabs, ${TTL_S} s tokens (${lifetimes.toFixed(0)} lifetimes): ` +
        `${s.refreshRequests} refresh requests (${s.refreshSuccesses} ok), ${reloads} reloads, ${drops} outages, ` +
        `${calls} getAccessToken calls (${failedCalls} rejected during outages), reuse detections ${s.reuseDetections}, ` +
        `grace reuses ${s.graceReuses}, unexpected logouts ${unexpectedLogouts}`,
    );
    assert.equal(s.reuseDetections, 0, 'no reuse detection at the server');
    assert.equal(unexpectedLogouts, 0, 'no logout');
    assert.equal(new Set(finals).size, 1, 'all tabs end on one token');
    // One refresh per refresh period (half a lifetime at most) plus retries after outages.
    assert.ok(s.refreshSuccesses <= lifetimes * 2 + drops + reloads, `refreshes ${s.refreshSuccesses}`);
  } finally {
    server.controls.reset();
    await context.close();
  }
});

test('a tab frozen while the others refresh wakes with a fresh token and reuses nothing', async () => {
  context = await browser.newContext();
  server.controls.setAccessTtl(4);
  try {
    const tabs = [];
    for (let i = 0; i < 3; i++) tabs.push(await openAppTab('persist=local'));
    const tokens = await login();
    await tabs[0].evaluate(async (t) => { await window.client.setSession({ accessToken: t.access_token, refreshToken: t.refresh_token }); }, tokens);
    for (const tab of tabs) await until(tab, () => window.client.isAuthenticated);
    server.controls.resetStats();
    const frozen = tabs[2];
    const cdp = await context.newCDPSession(frozen);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    await new Promise((r) => setTimeout(r, 9000)); // more than two lifetimes: its token expired
    const live = await tabs[0].evaluate(() => window.client.getAccessToken());
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    const woke = await frozen.evaluate(() => window.client.getAccessToken());
    const api = await frozen.evaluate((t) => fetch('/api/me', { headers: { Authorization: `Bearer ${t}` } }).then((r) => r.status), woke);
    console.log(`frozen tab: ${server.stats.refreshRequests} refresh requests while it slept and after; reuse detections ${server.stats.reuseDetections}`);
    assert.equal(api, 200, 'the token it hands out after waking is accepted');
    assert.ok(woke === live || server.stats.refreshSuccesses >= 1);
    assert.equal(server.stats.reuseDetections, 0);
    assert.equal(server.stats.graceReuses, 0, 'the rotated refresh token is not sent again');
    assert.deepEqual(await frozen.evaluate(() => window.events.filter((e) => e.type === 'logout')), []);
  } finally {
    server.controls.setAccessTtl(300);
    await context.close();
  }
});

/**
 * Every tab's getAccessToken(), once the tabs agree: a refresh may be on its way to the others
 * (a BroadcastChannel hop) at the moment of the first reading, so it is read again for up to 1 s.
 */
async function agreedTokens(tabs) {
  let finals = [];
  for (let i = 0; i < 5; i += 1) {
    finals = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.client.getAccessToken())));
    if (new Set(finals).size === 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return finals;
}
