// The JS shell around the client core (pkg-template/client.js) in a real headless Chromium:
// what only the shell can get wrong, each case through the session page and the local auth
// server (as tests/e2e-session.test.mjs). Listener isolation under dispose(), own properties
// only (a polluted Object.prototype changes nothing), non-finite options, refused and late
// Web Locks, and trap recovery leaving no callback of the old instance running.
//   node --test tests/e2e-shell.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser } from './helpers/browser.mjs';
import { figures, gaps, sleep, waitFor, withSession } from './pages/session/support.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const session = (options, fn) => withSession(browser, options, fn);

function assertAuthError(result, code, what) {
  assert.equal(result.ok, false, `${what}: expected AuthError ${code}, got ${JSON.stringify(result.value)}`);
  assert.equal(result.error.name, 'AuthError', `${what}: ${JSON.stringify(result.error)}`);
  assert.equal(result.error.isAuthError, true, what);
  assert.equal(result.error.code, code, `${what}: code ${result.error.code} (${result.error.message}), expected ${code}`);
}

/** `promise`, or a failure naming `what` if it has not settled after `ms`. */
function settlesWithin(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Records unhandled promise rejections of the page in window.__unhandled. */
function watchRejections() {
  window.__unhandled = [];
  window.addEventListener('unhandledrejection', (e) => {
    window.__unhandled.push(String(e.reason?.name ?? e.reason));
  });
}

const SHORT_TTL = 4;

test('a. dispose() inside a listener: the listeners after it do not run, and nothing fires afterwards', { timeout: 60_000 }, () =>
  session({ accessTtl: 300 }, async (s) => {
    await s.page.evaluate(() => {
      const c = window.harness.client;
      window.__ran = [];
      c.on('refresh', () => {
        window.__ran.push('disposer');
        c.dispose();
      });
      c.on('refresh', () => window.__ran.push('refresh after dispose'));
      c.on('logout', () => window.__ran.push('logout'));
      c.on('error', () => window.__ran.push('error'));
    });
    await s.call('refresh');
    await waitFor(() => s.page.evaluate(() => window.__ran.length > 0), { message: 'the refresh listeners' });
    await sleep(300);
    assert.deepEqual(await s.page.evaluate(() => window.__ran), ['disposer'], 'a listener after dispose() ran');
    assert.equal(s.ofType('refresh').length, 1, 'the listener registered before the disposer ran');

    const afterwards = await s.call('getAccessToken');
    assertAuthError(afterwards, 'not_authenticated', 'getAccessToken() after dispose()');
    const logout = await s.page.evaluate(() => window.harness.client.logout().then(() => 'resolved', (e) => e.code));
    assert.equal(logout, 'not_authenticated', 'logout() after dispose() rejects and does nothing');
    await s.call('dispatch', 'focus');
    await sleep(300);
    assert.deepEqual(await s.page.evaluate(() => window.__ran), ['disposer'], 'an event after dispose()');
    assert.equal(s.stats().refreshRequests, 1);
    assert.deepEqual(s.unexpectedErrors(), []);
  }));

test('b. a polluted Object.prototype (publicKey, refresh, refreshToken, integrity) changes nothing', { timeout: 60_000 }, () =>
  session({ accessTtl: 300, create: false }, async (s) => {
    const posts = [];
    s.page.on('request', (r) => {
      if (r.method() === 'POST') posts.push({ url: r.url(), body: r.postData() ?? '' });
    });
    const out = await s.page.evaluate(async () => {
      const { createAuthClient } = await import('/pkg/index.js');
      const { issuer, jwks } = await window.harness.serverInfo();
      const first = await window.harness.login();
      const second = await window.harness.login();
      const base = { issuer, audience: 'jwt-keeper-demo', crossTab: false };
      const refresh = { url: new URL('/oauth/token', location.href).href, clientId: 'demo-client' };
      const describe = (e) => ({ name: e?.name, code: e?.code, message: e?.message });
      const attempt = async (fn) => {
        try {
          return { ok: true, value: await fn() };
        } catch (e) {
          return { ok: false, error: describe(e) };
        }
      };
      const result = {};
      // Without an issuer there is no discovery: no key at all.
      const noIssuer = { audience: 'jwt-keeper-demo', crossTab: false };
      result.noKeyClean = await attempt(() => createAuthClient({ ...noIssuer, refresh }).then(() => 'created'));
      const polluted = {
        publicKey: jwks,
        refresh: { url: new URL('/refresh', location.href).href, style: 'json' },
        refreshToken: 'polluted-refresh-token',
        expiresIn: 1,
        integrity: 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      };
      for (const [name, value] of Object.entries(polluted)) {
        Object.defineProperty(Object.prototype, name, { value, enumerable: true, configurable: true, writable: true });
      }
      try {
        // No own publicKey: refused as without the pollution, not verified with the inherited key.
        result.noKeyPolluted = await attempt(() => createAuthClient({ ...noIssuer, refresh }).then(() => 'created'));

        // No own `refresh`: the inherited endpoint is not used, there is nothing to refresh with.
        const plain = await createAuthClient({ ...base, publicKey: jwks });
        result.plainSet = await attempt(() => plain.setSession({ accessToken: first.access_token }));
        result.plainRefresh = await attempt(() => plain.refresh());
        plain.dispose();

        // No own refreshToken: the inherited one is not sent.
        const client = await createAuthClient({ ...base, publicKey: jwks, refresh });
        result.set = await attempt(() => client.setSession({ accessToken: first.access_token }));
        result.expiresInMs = client.expiresAt - Date.now();
        result.refresh = await attempt(() => client.refresh());
        result.authenticated = client.isAuthenticated;

        // With its own refresh token the refresh works: inherited fetch options (integrity)
        // are not read either.
        result.set2 = await attempt(() => client.setSession({ accessToken: second.access_token, refreshToken: second.refresh_token }));
        result.refresh2 = await attempt(() => client.refresh());
        client.dispose();
      } finally {
        for (const name of Object.keys(polluted)) delete Object.prototype[name];
      }
      return result;
    });

    assert.equal(out.noKeyClean.ok, false, 'without publicKey and issuer createAuthClient is refused');
    assert.equal(out.noKeyClean.error.code, 'bad_key');
    assert.deepEqual(out.noKeyPolluted, out.noKeyClean, 'Object.prototype.publicKey was used as the key');
    assert.equal(out.plainSet.ok, true, JSON.stringify(out.plainSet.error));
    assert.equal(out.plainRefresh.ok, false, 'a client without `refresh` refreshed');
    assert.equal(out.plainRefresh.error.code, 'not_authenticated');
    assert.equal(out.set.ok, true, JSON.stringify(out.set.error));
    assert.ok(out.expiresInMs > 200_000, `Object.prototype.expiresIn shortened the session to ${out.expiresInMs} ms`);
    assert.equal(out.refresh.ok, false, 'a session without a refresh token refreshed');
    assert.equal(out.refresh.error.code, 'not_authenticated', JSON.stringify(out.refresh.error));
    assert.equal(out.authenticated, true, 'the session ended');
    assert.equal(out.set2.ok, true, JSON.stringify(out.set2.error));
    assert.equal(out.refresh2.ok, true, `refresh with its own refresh token: ${JSON.stringify(out.refresh2.error)}`);

    const refreshPosts = posts.filter((p) => /\/(oauth\/token|refresh)$/.test(new URL(p.url).pathname));
    assert.ok(posts.every((p) => !p.body.includes('polluted-refresh-token')), 'the inherited refresh token was sent');
    assert.ok(refreshPosts.every((p) => new URL(p.url).pathname === '/oauth/token'), 'the inherited refresh url was used');
    const stats = s.stats();
    assert.deepEqual(stats.refreshLog.map((e) => `${e.style}:${e.outcome}`), ['oauth2:rotated']);
    assert.deepEqual(s.unexpectedErrors(), []);
  }));

test('c. non-finite numbers in the options are refused as malformed, like verifyJwt does', { timeout: 60_000 }, () =>
  session({ accessTtl: 300, create: false }, async (s) => {
    const out = await s.page.evaluate(async () => {
      const { createAuthClient, verifyJwt } = await import('/pkg/index.js');
      const { issuer, jwks } = await window.harness.serverInfo();
      const { access_token: token } = await window.harness.login();
      const refresh = { url: new URL('/oauth/token', location.href).href, clientId: 'demo-client' };
      const base = { publicKey: jwks, issuer, audience: 'jwt-keeper-demo', refresh };
      const code = async (fn) => {
        try {
          const c = await fn();
          c?.dispose?.();
          return 'accepted';
        } catch (e) {
          return `${e?.name}:${e?.code}`;
        }
      };
      const cases = {
        'leeway: NaN': { leeway: NaN },
        'leeway: Infinity': { leeway: Infinity },
        'refreshMargin: Infinity': { refreshMargin: Infinity },
        'refreshMargin: -Infinity': { refreshMargin: -Infinity },
        'refreshMargin: NaN': { refreshMargin: NaN },
        'refresh.timeoutMs: NaN': { refresh: { ...refresh, timeoutMs: NaN } },
        'refresh.timeoutMs: Infinity': { refresh: { ...refresh, timeoutMs: Infinity } },
      };
      const client = {};
      for (const [name, extra] of Object.entries(cases)) client[name] = await code(() => createAuthClient({ ...base, ...extra }));
      client['leeway: 30 (control)'] = await code(() => createAuthClient({ ...base, leeway: 30, refreshMargin: 60 }));
      const verify = await code(() => verifyJwt(token, jwks, { leeway: NaN }));
      return { client, verify };
    });
    assert.equal(out.verify, 'AuthError:malformed');
    for (const [name, result] of Object.entries(out.client)) {
      if (name.endsWith('(control)')) assert.equal(result, 'accepted', name);
      else assert.equal(result, 'AuthError:malformed', `createAuthClient({ ${name} })`);
    }
    assert.deepEqual(s.unexpectedErrors(), []);
  }));

test('d. navigator.locks.request refused (SecurityError): calls settle, the tab refreshes for itself, no unhandled rejection', { timeout: 60_000 }, () =>
  session(
    {
      accessTtl: SHORT_TTL,
      create: { refreshMargin: 1 },
      initScript: () => {
        window.__unhandled = [];
        window.addEventListener('unhandledrejection', (e) => window.__unhandled.push(String(e.reason?.name ?? e.reason)));
        window.__lockCalls = 0;
        LockManager.prototype.request = function request() {
          window.__lockCalls += 1;
          return Promise.reject(new DOMException('The request was denied.', 'SecurityError'));
        };
      },
    },
    async (s) => {
      const forced = await settlesWithin(s.call('refresh'), 5000, 'refresh()');
      assert.equal(forced.ok, true, JSON.stringify(forced.error));
      await s.verifyAt(forced.value);
      // The next token is due half-way through its 4 s life: a proactive refresh, then calls.
      await sleep(SHORT_TTL * 1000);
      const got = await settlesWithin(s.call('getAccessToken'), 5000, 'getAccessToken()');
      assert.equal(got.ok, true, JSON.stringify(got.error));
      await s.verifyAt(got.value);
      const concurrent = await settlesWithin(s.call('concurrentGets', 5), 5000, '5 getAccessToken() calls');
      assert.ok(concurrent.every((r) => r.ok), JSON.stringify(concurrent));
      const page = await s.page.evaluate(() => ({ unhandled: window.__unhandled, lockCalls: window.__lockCalls }));
      const stats = s.stats();
      figures('locks refused', { lockCalls: page.lockCalls, refreshRequests: stats.refreshRequests, log: stats.refreshLog.map((e) => e.outcome) });
      assert.ok(page.lockCalls >= 2, `${page.lockCalls} lock requests`);
      assert.ok(stats.refreshRequests >= 2, `${stats.refreshRequests} refresh requests`);
      assert.ok(stats.refreshLog.every((e) => e.outcome === 'rotated'), JSON.stringify(stats.refreshLog));
      assert.deepEqual(page.unhandled, [], 'unhandled rejections in the page');
      assert.equal(s.ofType('logout').length, 0);
      assert.equal(s.ofType('error').length, 0, JSON.stringify(s.ofType('error')));
      assert.deepEqual(s.unexpectedErrors(), []);
    },
  ));

test('d2. a lock held by a frozen tab is stolen after the bounded wait (refresh.timeoutMs + 5 s)', { timeout: 60_000 }, () =>
  session({ accessTtl: 300, create: { persist: 'local', refresh: { timeoutMs: 1000 } }, initScript: watchRejections }, async (s) => {
    const key = await s.page.evaluate(() => Object.keys(localStorage).find((k) => k.startsWith('jwt-keeper:')));
    // A holder that never lets go, as a frozen tab would.
    await s.page.evaluate(
      (n) =>
        new Promise((held) => {
          navigator.locks
            .request(n, () => {
              held();
              return new Promise(() => {});
            })
            .catch((e) => {
              window.__holderLost = e.name;
            });
        }),
      `${key}:refresh`,
    );
    const started = Date.now();
    const forced = await settlesWithin(s.call('refresh'), 15_000, 'refresh() behind a frozen holder');
    const waitedMs = Date.now() - started;
    figures('stolen lock', { waitedMs, refreshRequests: s.stats().refreshRequests });
    assert.equal(forced.ok, true, JSON.stringify(forced.error));
    assert.ok(waitedMs >= 5500, `the lock was taken after ${waitedMs} ms, before the bounded wait`);
    assert.equal(s.stats().refreshRequests, 1);
    assert.equal(await s.page.evaluate(() => window.__holderLost), 'AbortError', 'the frozen holder lost the lock');
    await sleep(400);
    const locks = await s.page.evaluate(() => navigator.locks.query());
    assert.deepEqual(locks.held, [], 'the stolen lock is released after the refresh');
    assert.deepEqual(await s.page.evaluate(() => window.__unhandled), []);
    assert.deepEqual(s.unexpectedErrors(), []);
  }));

describe('e. a lock granted only after dispose(): nothing is sent, the pending calls are rejected', () => {
  const variants = {
    'Web Locks as they are (the wait is aborted)': watchRejections,
    'a LockManager that ignores the abort signal (granted late, released at once)': () => {
      window.__unhandled = [];
      window.addEventListener('unhandledrejection', (e) => window.__unhandled.push(String(e.reason?.name ?? e.reason)));
      const request = LockManager.prototype.request;
      LockManager.prototype.request = function requestWithoutSignal(name, options, callback) {
        if (typeof options === 'object' && options !== null && 'signal' in options) {
          const rest = { ...options };
          delete rest.signal;
          return request.call(this, name, rest, callback);
        }
        return request.apply(this, arguments);
      };
    },
  };
  for (const [name, initScript] of Object.entries(variants)) {
    test(name, { timeout: 60_000 }, () =>
      session({ accessTtl: 300, create: { persist: 'local' }, initScript }, async (s) => {
        const key = await s.page.evaluate(() => Object.keys(localStorage).find((k) => k.startsWith('jwt-keeper:')));
        assert.ok(key, 'the session is stored');
        const lock = `${key}:refresh`;
        // Another holder (this page, as another tab would) keeps the refresh lock.
        await s.page.evaluate(
          (n) =>
            new Promise((held) => {
              navigator.locks.request(n, () =>
                new Promise((release) => {
                  window.__release = release;
                  held();
                }),
              );
            }),
          lock,
        );
        const before = s.stats().refreshRequests;
        await s.page.evaluate(() => {
          window.__pending = [window.harness.refresh(), window.harness.refresh()];
        });
        await waitFor(() => s.page.evaluate((n) => navigator.locks.query().then((q) => q.pending.some((l) => l.name === n)), lock), {
          message: 'the client waiting for the lock',
        });
        const eventsBefore = s.events.length;
        await s.page.evaluate(() => window.harness.client.dispose());
        const settled = await settlesWithin(s.page.evaluate(() => Promise.all(window.__pending)), 3000, 'the calls pending at dispose()');
        for (const r of settled) assertAuthError(r, 'not_authenticated', 'a call pending at dispose()');
        await s.page.evaluate(() => window.__release());
        await sleep(500);
        const locks = await s.page.evaluate(() => navigator.locks.query());
        const page = await s.page.evaluate(() => ({ unhandled: window.__unhandled }));
        figures('lock after dispose', { held: locks.held.map((l) => l.name === lock), pending: locks.pending.length });
        assert.deepEqual(locks.held.filter((l) => l.name === lock), [], 'the lock is still held after dispose()');
        assert.deepEqual(locks.pending.filter((l) => l.name === lock), [], 'a lock request is still pending');
        assert.equal(s.stats().refreshRequests, before, 'a refresh was sent after dispose()');
        assert.equal(s.events.length, eventsBefore, 'an event after dispose()');
        assert.deepEqual(page.unhandled, []);
        assert.deepEqual(s.unexpectedErrors(), []);
      }),
    );
  }
});

/** Grows the wasm memory to its maximum (4 GiB) so that the next large allocation traps. */
async function growWasmMemory(s) {
  return s.page.evaluate(async () => {
    const { memory } = await window.harness.wasmExports();
    for (let step = 65536; step >= 1; ) {
      try {
        memory.grow(step);
      } catch {
        step >>= 1;
      }
    }
    return memory.buffer.byteLength;
  });
}

/**
 * A trap outside the client but in its wasm instance: another client of the same page (they
 * share the core's instance) traps in setSession with a 1 MiB token once the memory cannot grow.
 */
async function trapElsewhere(s) {
  const grown = await growWasmMemory(s);
  const trap = await s.page.evaluate(async () => {
    const { createAuthClient } = await import('/pkg/index.js');
    const { jwks } = await window.harness.serverInfo();
    const other = await createAuthClient({ publicKey: jwks, crossTab: false });
    try {
      await other.setSession({ accessToken: '\u00e9'.repeat(1 << 20) });
      return { code: null };
    } catch (e) {
      return { code: e?.code, trapped: e?.message === 'jwt-keeper recovered from an internal failure' };
    } finally {
      other.dispose();
    }
  });
  assert.ok(grown >= 1024 * 1024 * 1024, `memory grew to ${grown} bytes only`);
  assert.deepEqual(trap, { code: 'internal', trapped: true }, 'the call did not trap');
}

/** Watches the client for `ms` after a trap: one refresh per period, no internal error. */
async function assertKeepsWorking(s, { since, ms }) {
  const events = s.events.length;
  await s.call('dispatch', 'focus');
  await s.call('dispatch', 'visibilitychange', { hidden: false });
  await s.call('dispatch', 'online');
  const samples = [];
  const started = Date.now();
  while (Date.now() - started < ms) {
    samples.push(await settlesWithin(s.call('getAccessToken'), 5000, 'getAccessToken() after the trap'));
    await sleep(250);
  }
  const stats = s.stats();
  const log = stats.refreshLog.filter((e) => e.at >= since);
  const intervals = gaps(log);
  figures('after trap', { refreshRequests: log.length, intervalsMs: intervals, calls: samples.length });
  for (const r of samples) assert.equal(r.ok, true, `getAccessToken() after the trap: ${JSON.stringify(r.error)}`);
  await s.verifyAt(samples.at(-1).value);
  assert.equal((await s.call('apiWith', samples.at(-1).value)).status, 200);
  assert.ok(log.every((e) => e.outcome === 'rotated'), JSON.stringify(log));
  // A 4 s token with a 1 s margin is refreshed every ~2 s: one refresh per period, not two.
  const periods = ms / (SHORT_TTL * 500);
  assert.ok(log.length >= Math.floor(periods) - 2 && log.length <= Math.ceil(periods) + 1, `${log.length} refreshes in ${ms} ms (intervals ${intervals})`);
  assert.ok(intervals.every((gap) => gap >= 1000), `two refreshers: intervals ${intervals}`);
  assert.equal(stats.reuseDetections, 0);
  assert.equal(stats.graceReuses, 0, 'a rotated refresh token was sent twice');
  const later = s.events.slice(events);
  assert.deepEqual(later.filter((e) => e.type !== 'refresh'), [], 'an error or logout after the trap');
  assert.equal((await s.call('state')).isAuthenticated, true);
  assert.deepEqual(s.unexpectedErrors(), []);
}

describe('f. trap recovery: no callback of the old instance runs against the new one', () => {
  const watch = { accessTtl: SHORT_TTL, create: { refreshMargin: 1, persist: 'local' } };

  test('a trap in another client of the page (same wasm instance): the client restarts from storage and keeps one refresh per period', { timeout: 60_000 }, () =>
    session(watch, async (s) => {
      await waitFor(() => s.ofType('refresh').length >= 1, { message: 'a first refresh' });
      const since = Date.now();
      await trapElsewhere(s);
      await assertKeepsWorking(s, { since, ms: 8000 });
    }));

  test("a trap inside the client's own call: that call rejects internal, the session is restored", { timeout: 60_000 }, () =>
    session(watch, async (s) => {
      await waitFor(() => s.ofType('refresh').length >= 1, { message: 'a first refresh' });
      const since = Date.now();
      await growWasmMemory(s);
      const huge = await s.page.evaluate(() => window.harness.setSession({ accessToken: '\u00e9'.repeat(1 << 20) }));
      assertAuthError(huge, 'internal', 'setSession() that traps');
      await assertKeepsWorking(s, { since, ms: 8000 });
    }));

  test('with a second tab: its messages and the lock reach only the new core', { timeout: 60_000 }, () =>
    session(watch, async (s) => {
      // The other tab is a same-origin frame: its own realm and wasm instance (which does not
      // trap), the same storage, Web Locks and BroadcastChannel.
      await s.page.evaluate(
        () =>
          new Promise((loaded) => {
            const frame = document.createElement('iframe');
            frame.src = '/tests/pages/verify.html';
            frame.onload = loaded;
            document.body.append(frame);
          }),
      );
      const tab = s.page.frames().find((f) => f.url().endsWith('/tests/pages/verify.html'));
      await tab.evaluate(async () => {
        const { createAuthClient } = await import('/pkg/index.js');
        const [meta, jwks] = await Promise.all([
          fetch('/.well-known/oauth-authorization-server').then((r) => r.json()),
          fetch('/.well-known/jwks.json').then((r) => r.json()),
        ]);
        window.events = [];
        window.client = await createAuthClient({
          publicKey: jwks,
          issuer: meta.issuer,
          audience: 'jwt-keeper-demo',
          refresh: { url: new URL('/oauth/token', location.href).href, clientId: 'demo-client' },
          refreshMargin: 1,
          persist: 'local',
        });
        for (const type of ['refresh', 'logout', 'error']) window.client.on(type, (d) => window.events.push({ type, ...d, error: d.error?.code }));
      });
      await waitFor(() => tab.evaluate(() => window.client.isAuthenticated), { message: 'the second tab picks the session up' });
      await waitFor(() => s.ofType('refresh').length >= 1, { message: 'a first refresh' });
      const since = Date.now();
      await trapElsewhere(s);
      await assertKeepsWorking(s, { since, ms: 8000 });
      const peerEvents = await tab.evaluate(() => window.events.filter((e) => e.type !== 'refresh'));
      assert.deepEqual(peerEvents, [], 'an error or logout in the second tab');
      assert.ok((await tab.evaluate(() => window.events.filter((e) => e.type === 'refresh' && e.source === 'peer').length)) >= 1, 'the tab got the first tab\'s refreshes');
      await waitFor(async () => (await s.call('getAccessToken')).value === (await tab.evaluate(() => window.client.getAccessToken())), {
        timeoutMs: 3000,
        message: 'both tabs on one token',
      });
    }));
});
