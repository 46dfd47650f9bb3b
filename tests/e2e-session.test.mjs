// Token lifecycle end to end: the built package (pkg/) in a real headless Chromium, real fetch
// and timers, against the local auth server (www/server/auth-server.mjs), which also serves
// the page. One test per lifecycle case; each has its own server and browser context. The
// server's stats are the ground truth for request counts; tokens are checked with jose.
//   node --test --test-concurrency=1 tests/e2e-session.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser } from './helpers/browser.mjs';
import { badServerToken, expMs, figures, foreignToken, gaps, sleep, waitFor, withSession } from './pages/session/support.mjs';

/** Short lifetime (s) for the cases that watch several refreshes. */
const SHORT_TTL = 4;
/** Lifetime (s) and margin (s) that leave a window where a due token is still handed out:
 * refresh due 10 s before exp, never handed out in its last 5 s (the package's floor). */
const WINDOW_TTL = 20;
const WINDOW_MARGIN = 10;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const session = (options, fn) => withSession(browser, options, fn);

function assertAuthError(result, code, what) {
  assert.equal(result.ok, false, `${what}: expected AuthError ${code}, got a token`);
  assert.equal(result.error.name, 'AuthError', `${what}: ${JSON.stringify(result.error)}`);
  assert.equal(result.error.isAuthError, true);
  assert.equal(result.error.code, code, `${what}: code ${result.error.code} (${result.error.message}), expected ${code}`);
}

/**
 * Polls getAccessToken() every `everyMs` until a refresh event came (plus one last call);
 * each result gets the test time.
 */
async function pollUntilRefreshed(s, { everyMs = 200, timeoutMs = 40_000 } = {}) {
  const polls = [];
  const poll = async () => {
    const at = Date.now();
    const state = await s.call('state');
    polls.push({ at, isAuthenticated: state.isAuthenticated, ...(await s.call('getAccessToken')) });
  };
  const deadline = Date.now() + timeoutMs;
  while (s.ofType('refresh').length === 0 && Date.now() < deadline) {
    await poll();
    await sleep(everyMs);
  }
  await poll();
  return polls;
}

test('1. proactive refresh: each token is refreshed once, before its exp, with no call waiting', { timeout: 60_000 }, () =>
  session({ accessTtl: SHORT_TTL, create: { refreshMargin: 1 } }, async (s) => {
    const started = Date.now();
    const watchMs = 3 * SHORT_TTL * 1000 + 500;
    await sleep(watchMs);
    const stats = s.stats();
    const refreshes = s.ofType('refresh');

    // Every refresh event came before the token it replaced expired; every new token verifies.
    let previous = s.firstToken;
    const headroom = [];
    for (const event of refreshes) {
      const { accessToken, source } = event.detail;
      assert.equal(source, 'self');
      assert.ok(event.at < expMs(previous), `refresh event ${event.at - expMs(previous)} ms after the previous token's exp`);
      headroom.push(expMs(previous) - event.at);
      await s.verifyAt(accessToken, event.at);
      assert.notEqual(accessToken, previous);
      previous = accessToken;
    }
    // Half the lifetime is the effective margin for a 4 s token: one request every ~2 s, each
    // one rotating (no token is refreshed twice, no failures, no storm).
    const intervals = gaps(stats.refreshLog);
    assert.ok(stats.refreshLog.every((e) => e.outcome === 'rotated'), JSON.stringify(stats.refreshLog));
    assert.ok(stats.refreshRequests >= 5 && stats.refreshRequests <= 7, `${stats.refreshRequests} refresh requests in ${watchMs} ms`);
    assert.ok(intervals.every((ms) => ms >= 1500 && ms <= 3200), `intervals ${intervals}`);
    assert.ok(refreshes.length >= stats.refreshRequests - 1 && refreshes.length <= stats.refreshRequests, `${refreshes.length} events for ${stats.refreshRequests} requests`);
    assert.equal(s.ofType('logout').length, 0);
    assert.equal(s.ofType('error').length, 0);
    const final = await s.call('getAccessToken');
    assert.equal(final.ok, true);
    await s.verifyAt(final.value);
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('proactive', {
      watchedMs: Date.now() - started,
      refreshRequests: stats.refreshRequests,
      refreshEvents: refreshes.length,
      intervalsMs: intervals,
      msBeforeExp: headroom,
    });
  }));

test('2. 50 concurrent getAccessToken() calls when due share one refresh request', { timeout: 60_000 }, () =>
  // The page clock is paused so that nothing but these calls can start the refresh: the wall
  // clock is moved past the refresh point (token still usable) without firing any timer.
  session({ accessTtl: 60, clock: true }, async (s) => {
    const old = s.firstToken;
    const pageNow = await s.page.evaluate(() => Date.now());
    await s.page.clock.pauseAt(pageNow + 1000);
    const due = (await s.call('state')).expiresAt - 25_000; // due 30 s before exp, usable until 5 s before
    await s.page.clock.setSystemTime(due);
    const before = s.stats().refreshRequests;
    const started = Date.now();
    const results = await s.call('concurrentGets', 50);
    const elapsed = Date.now() - started;
    const stats = s.stats();

    assert.equal(results.length, 50);
    for (const r of results) assert.equal(r.ok, true, JSON.stringify(r.error));
    const tokens = new Set(results.map((r) => r.value));
    assert.equal(tokens.size, 1, 'all 50 callers got the same token');
    const [token] = tokens;
    assert.notEqual(token, old, 'the due token was refreshed, not handed out');
    await s.verifyAt(token);
    assert.equal(stats.refreshRequests - before, 1, 'exactly one refresh request');
    await waitFor(() => s.ofType('refresh').length === 1, { message: 'the refresh event' });
    assert.equal(s.ofType('refresh')[0].detail.accessToken, token);
    await s.page.clock.resume();
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('concurrent', { calls: 50, refreshRequests: stats.refreshRequests - before, distinctTokens: tokens.size, ms: elapsed });
  }));

test('3. 503 x3 then 200: no logout, errors with willRetry, the old token served meanwhile, then a new token', { timeout: 60_000 }, () =>
  session({ accessTtl: WINDOW_TTL, create: { refreshMargin: WINDOW_MARGIN } }, async (s) => {
    const old = s.firstToken;
    s.server.controls.failNext(3, 503);
    await sleep((WINDOW_TTL - WINDOW_MARGIN - 1.5) * 1000);
    const polls = await pollUntilRefreshed(s);
    const stats = s.stats();
    const errors = s.ofType('error');
    const refreshes = s.ofType('refresh');

    assert.deepEqual(stats.refreshLog.map((e) => `${e.outcome}:${e.status}`), ['injected:503', 'injected:503', 'injected:503', 'rotated:200']);
    assert.equal(errors.length, 3, JSON.stringify(errors));
    for (const e of errors) {
      assert.equal(e.detail.willRetry, true);
      assert.equal(e.detail.error.code, 'bad_response');
      assert.ok(e.detail.retryInMs >= 500, `retryInMs ${e.detail.retryInMs}`);
    }
    assert.equal(s.ofType('logout').length, 0, 'no logout');
    assert.equal(refreshes.length, 1);
    const fresh = refreshes[0].detail.accessToken;
    await s.verifyAt(fresh, refreshes[0].at);

    assert.ok(polls.every((p) => p.isAuthenticated), 'signed in throughout');
    const firstError = errors[0].at;
    const servedOld = polls.filter((p) => p.ok && p.value === old);
    const servedOldAfterError = servedOld.filter((p) => p.at > firstError);
    assert.ok(servedOldAfterError.length > 0, 'the still-valid token was handed out while retrying');
    for (const p of servedOld) await s.verifyAt(p.value, p.at);
    const rejected = polls.filter((p) => !p.ok);
    for (const p of rejected) {
      assert.equal(p.error.code, 'bad_response', `a call during the backoff: ${JSON.stringify(p.error)}`);
      assert.ok(p.at > expMs(old) - 6000, 'a call was refused while the old token had more than 5 s left');
    }
    assert.equal(polls.at(-1).ok && polls.at(-1).value, fresh, 'the new token is served after the recovery');
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('503x3', {
      retryGapsMs: gaps(stats.refreshLog),
      retryInMs: errors.map((e) => e.detail.retryInMs),
      polls: polls.length,
      oldServedDuringRetries: servedOldAfterError.length,
      refusedDuringBackoff: rejected.length,
      recoveredMsBeforeOldExp: expMs(old) - refreshes[0].at,
    });
  }));

test('4. one 400 invalid_grant: exactly one logout (refresh_rejected), then not_authenticated', { timeout: 60_000 }, () =>
  session({ accessTtl: 300 }, async (s) => {
    s.server.controls.revokeAll();
    const forced = await s.call('refresh');
    assertAuthError(forced, 'refresh_rejected', 'refresh()');
    await waitFor(() => s.ofType('logout').length > 0, { message: 'the logout event' });
    const get = await s.call('getAccessToken');
    assertAuthError(get, 'not_authenticated', 'getAccessToken() after the logout');
    const state = await s.call('state');
    await sleep(1500); // nothing more may happen: no second logout, no retry
    const stats = s.stats();
    assert.deepEqual(s.ofType('logout').map((e) => e.detail), [{ reason: 'refresh_rejected' }]);
    assert.equal(s.ofType('refresh').length, 0);
    assert.equal(state.isAuthenticated, false);
    assert.equal(state.claims, null);
    assert.equal(state.expiresAt, null);
    assert.deepEqual(stats.refreshLog.map((e) => `${e.outcome}:${e.status}`), ['invalid_grant:400']);
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('invalid_grant', { refreshRequests: stats.refreshRequests, logouts: s.ofType('logout').length, errorEvents: s.ofType('error').length });
  }));

test('5. rotation with a dropped response: retried within the grace window, successor adopted, no reuse detection', { timeout: 60_000 }, () =>
  session({ accessTtl: SHORT_TTL, create: { refreshMargin: 1 } }, async (s) => {
    s.server.controls.dropAfterRotateNext(1);
    await waitFor(() => s.ofType('refresh').length >= 2, { timeoutMs: 15_000, message: 'two refreshes after the drop' });
    const stats = s.stats();
    const log = stats.refreshLog;
    const errors = s.ofType('error');

    assert.equal(log[0].outcome, 'dropped_after_rotated');
    assert.equal(log[1].outcome, 'grace_reuse', JSON.stringify(log));
    const retryMs = log[1].at - log[0].at;
    assert.ok(retryMs < 2000, `the retry came ${retryMs} ms after the lost answer (grace window 2000 ms)`);
    assert.equal(log[2]?.outcome, 'rotated', 'the successor refresh token rotates normally');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].detail.error.code, 'network');
    assert.equal(errors[0].detail.willRetry, true);
    assert.equal(stats.reuseDetections, 0);
    assert.equal(stats.graceReuses, 1);
    assert.equal(s.ofType('logout').length, 0);
    const final = await s.call('getAccessToken');
    assert.equal(final.ok, true);
    assert.equal((await s.call('apiWith', final.value)).status, 200);
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('dropped answer', { log: log.map((e) => e.outcome), retryAfterDropMs: retryMs, graceReuses: stats.graceReuses, reuseDetections: stats.reuseDetections });
  }));

test(
  '5b. a forced refresh() whose answer is lost: the session survives (retried within the grace window)',
  { timeout: 60_000 },
  () =>
    session({ accessTtl: 300 }, async (s) => {
      s.server.controls.dropAfterRotateNext(1);
      const lost = await s.call('refresh');
      assertAuthError(lost, 'network', 'refresh() with a lost answer');
      const [error] = s.ofType('error');
      figures('dropped forced refresh', { willRetry: error?.detail.willRetry, retryInMs: error?.detail.retryInMs });
      await sleep(3000); // past the server's 2 s grace window
      const again = await s.call('refresh');
      const stats = s.stats();
      figures('dropped forced refresh', { log: stats.refreshLog.map((e) => e.outcome), logouts: s.ofType('logout').length });
      assert.equal(error.detail.willRetry, true);
      assert.ok(error.detail.retryInMs <= 1500, `first retry after ${error.detail.retryInMs} ms (policy: 500 ms + up to 1 s)`);
      assert.equal(again.ok, true, `refresh() 3 s later: ${JSON.stringify(again.error)}`);
      assert.equal(stats.reuseDetections, 0);
      assert.equal(s.ofType('logout').length, 0);
    }),
);

test('6. API 401 loop: one refresh per cooldown, not per fetch; the 401 returned, no storm, no logout', { timeout: 60_000 }, () =>
  session({ accessTtl: 300 }, async (s) => {
    s.server.controls.api401Always(true);
    const first = await s.call('apiFetch');
    const afterFirst = s.stats();
    assert.equal(first.ok, true);
    assert.equal(first.status, 401);
    assert.match(first.wwwAuthenticate, /invalid_token/);
    assert.equal(afterFirst.refreshRequests, 1, 'one refresh');
    assert.equal(afterFirst.apiCalls, 2, 'the call and one replay');

    // The API refused the token refreshed for it too: within the cooldown no more refreshes,
    // the 401 goes to the app at once.
    const second = await s.call('apiFetch');
    const afterSecond = s.stats();
    assert.equal(second.status, 401);
    assert.equal(afterSecond.refreshRequests, 1, 'no second refresh within the cooldown');
    assert.equal(afterSecond.apiCalls, 3, 'the call, no replay');

    const burst = await s.page.evaluate(() => Promise.all(Array.from({ length: 10 }, () => window.harness.apiFetch())));
    const afterBurst = s.stats();
    assert.ok(burst.every((r) => r.status === 401));
    const burstRefreshes = afterBurst.refreshRequests - afterSecond.refreshRequests;
    assert.equal(burstRefreshes, 0, `${burstRefreshes} refreshes for 10 concurrent fetches`);
    assert.equal(afterBurst.apiCalls - afterSecond.apiCalls, 10, 'one call each, no replays');

    await sleep(2000); // no refresh in the background afterwards
    const idle = s.stats();
    assert.equal(idle.refreshRequests, afterBurst.refreshRequests, 'no refresh while idle');
    assert.equal(s.ofType('logout').length, 0);
    assert.equal((await s.call('state')).isAuthenticated, true);

    s.server.controls.api401Always(false);
    const ok = await s.call('apiFetch');
    assert.equal(ok.status, 200);
    assert.equal(s.stats().refreshRequests, idle.refreshRequests, 'a good answer needs no refresh');
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('api 401', {
      refreshesFor12Fetches: afterBurst.refreshRequests,
      apiCallsFor12Fetches: afterBurst.apiCalls,
      idleRefreshes: idle.refreshRequests - afterBurst.refreshRequests,
    });
  }));

test('7. offline across exp, then online: network errors, no logout, one refresh when back', { timeout: 60_000 }, () =>
  session({ accessTtl: SHORT_TTL, create: { refreshMargin: 1 } }, async (s) => {
    const old = s.firstToken;
    await s.context.setOffline(true);
    await waitFor(() => Date.now() > expMs(old) + 500, { timeoutMs: 10_000, message: 'the token exp' });
    const offline = await s.call('getAccessToken');
    assertAuthError(offline, 'network', 'getAccessToken() offline after exp');
    const state = await s.call('state');
    assert.equal(state.isAuthenticated, true, 'still signed in');
    assert.equal(s.ofType('logout').length, 0);
    const offlineErrors = s.ofType('error');
    assert.ok(offlineErrors.length >= 1);
    for (const e of offlineErrors) {
      assert.equal(e.detail.error.code, 'network');
      assert.equal(e.detail.willRetry, true);
    }
    assert.equal(s.stats().refreshRequests, 0, 'nothing reached the server');

    // Go online right after a failure whose retry is still far enough away: a request before
    // that retry time can only come from the 'online' event.
    const seen = s.ofType('error').length;
    const failure = await waitFor(() => s.ofType('error').slice(seen).find((e) => e.detail.retryInMs >= 800), {
      timeoutMs: 30_000,
      message: 'a retry scheduled at least 800 ms ahead',
    });
    const retryAt = failure.at + failure.detail.retryInMs;
    await s.context.setOffline(false);
    const onlineAt = Date.now();
    const request = await waitFor(() => s.stats().refreshLog[0], { timeoutMs: 5000, message: 'the refresh request' });
    assert.ok(request.at < retryAt, `the request came ${request.at - onlineAt} ms after 'online', the backoff retry was due ${retryAt - onlineAt} ms after it`);
    const back = await s.call('getAccessToken');
    assert.equal(back.ok, true, JSON.stringify(back.error));
    assert.notEqual(back.value, old);
    await s.verifyAt(back.value);
    await sleep(1000);
    const stats = s.stats();
    assert.equal(stats.refreshRequests, 1, 'exactly one refresh request after going online');
    assert.equal(s.ofType('logout').length, 0);
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('offline', {
      offlineFailures: s.ofType('error').length,
      msFromOnlineToRequest: request.at - onlineAt,
      backoffRetryWasDueInMs: retryAt - onlineAt,
      refreshRequests: stats.refreshRequests,
    });
  }));

describe('8. sleep and hidden tabs (page clock)', () => {
  test('laptop lid closed 2 h: the stale token is never handed out, one refresh for the jump', { timeout: 60_000 }, () =>
    session({ accessTtl: SHORT_TTL, clock: true, create: { refreshMargin: 1 } }, async (s) => {
      const old = s.firstToken;
      await sleep(300);
      const before = s.stats().refreshRequests;
      s.setServerSkew(7200); // the server's time moved on with the lid closed too
      await s.page.clock.fastForward('02:00:00');
      const afterJump = await s.page.evaluate(() => Promise.all(Array.from({ length: 5 }, () => window.harness.getAccessToken())));
      for (let i = 0; i < 5; i += 1) afterJump.push(await s.call('getAccessToken'));
      const stats = s.stats();
      for (const r of afterJump) {
        assert.equal(r.ok, true, JSON.stringify(r.error));
        assert.notEqual(r.value, old, 'the token from before the jump is expired');
        await s.verifyAt(r.value);
      }
      const [token] = new Set(afterJump.map((r) => r.value));
      assert.equal((await s.call('apiWith', token)).status, 200);
      await assert.rejects(s.verifyAt(old), { code: 'ERR_JWT_EXPIRED' });
      assert.equal(stats.refreshRequests - before, 1, 'one refresh request for the jump');
      assert.equal(s.ofType('logout').length, 0);
      assert.deepEqual(s.unexpectedErrors(), []);
      figures('lid 2 h', { refreshRequestsForJump: stats.refreshRequests - before, callsAfterJump: afterJump.length, distinctTokens: new Set(afterJump.map((r) => r.value)).size });
    }));

  test('hidden 10 min with frozen timers: visibilitychange alone refreshes, once', { timeout: 60_000 }, () =>
    session({ accessTtl: 300, clock: true }, async (s) => {
      const old = s.firstToken;
      await s.call('dispatch', 'visibilitychange', { hidden: true });
      const pageNow = await s.page.evaluate(() => Date.now());
      await s.page.clock.pauseAt(pageNow + 1000); // from here no timer fires
      await s.page.clock.setSystemTime(pageNow + 10 * 60_000);
      s.setServerSkew(600);
      await sleep(300);
      const before = s.stats().refreshRequests;
      assert.equal(before, 0, 'no refresh while hidden and frozen');
      await s.call('dispatch', 'visibilitychange', { hidden: false });
      await waitFor(() => s.stats().refreshRequests > before, { timeoutMs: 5000, message: 'a refresh after visibilitychange' });
      const r = await s.call('getAccessToken');
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.notEqual(r.value, old);
      await s.verifyAt(r.value);
      await assert.rejects(s.verifyAt(old), { code: 'ERR_JWT_EXPIRED' });
      assert.equal((await s.call('apiWith', r.value)).status, 200);
      await s.page.clock.resume();
      await sleep(500);
      assert.equal(s.stats().refreshRequests - before, 1, 'one refresh request');
      assert.equal(s.ofType('logout').length, 0);
      assert.deepEqual(s.unexpectedErrors(), []);
      figures('hidden 10 min', { refreshRequests: s.stats().refreshRequests - before });
    }));
});

/**
 * Runs a client for ~3 lifetimes of a 4 s token with the page clock or the server clock
 * `hours` off, and checks: signed in, no refresh loop, no early expiry or logout.
 */
async function skewCase({ pageOffsetH = 0, serverSkewH = 0, jumpH = 0 }) {
  const clock = pageOffsetH || jumpH ? { time: Date.now() + pageOffsetH * 3_600_000 } : undefined;
  return session({ accessTtl: SHORT_TTL, clock, create: { refreshMargin: 1 }, signIn: false }, async (s) => {
    if (serverSkewH) s.setServerSkew(serverSkewH * 3600);
    const login = await s.call('login');
    const adopted = await s.call('setSession', { accessToken: login.access_token, refreshToken: login.refresh_token, expiresIn: login.expires_in });
    assert.equal(adopted.ok, true, `setSession refused a fresh token: ${JSON.stringify(adopted.error)}`);
    const start = Date.now();
    if (jumpH) {
      await sleep(1000);
      const pageNow = await s.page.evaluate(() => Date.now());
      await s.page.clock.setSystemTime(pageNow + jumpH * 3_600_000);
    }
    const samples = [];
    while (Date.now() - start < 3 * SHORT_TTL * 1000 + 500) {
      const r = await s.call('getAccessToken');
      samples.push({ at: Date.now(), ...r });
      await sleep(250);
    }
    const stats = s.stats();
    const intervals = gaps(stats.refreshLog);
    for (const r of samples) {
      assert.equal(r.ok, true, `getAccessToken() failed: ${JSON.stringify(r.error)}`);
      await s.verifyAt(r.value, r.at + s.skewS * 1000);
    }
    assert.equal(s.ofType('logout').length, 0, 'no logout');
    assert.equal(s.ofType('error').length, 0, JSON.stringify(s.ofType('error')));
    // One refresh per ~2 s (half of the 4 s lifetime); a jump of the clock may add one.
    assert.ok(stats.refreshRequests >= 4 && stats.refreshRequests <= 8, `${stats.refreshRequests} refresh requests (intervals ${intervals})`);
    assert.ok(intervals.slice(jumpH ? 1 : 0).every((ms) => ms >= 1000), `a refresh loop: intervals ${intervals}`);
    assert.equal((await s.call('apiWith', samples.at(-1).value)).status, 200);
    assert.deepEqual(s.unexpectedErrors(), []);
    return { refreshRequests: stats.refreshRequests, intervalsMs: intervals, calls: samples.length };
  });
}

describe('9. client clock hours off', { concurrency: true }, () => {
  test('page clock 2 h behind from the start', { timeout: 60_000 }, async () => {
    figures('clock -2 h', await skewCase({ pageOffsetH: -2 }));
  });
  test('server clock 2 h ahead of the client', { timeout: 60_000 }, async () => {
    figures('server +2 h', await skewCase({ serverSkewH: 2 }));
  });
  test('page clock set 2 h forward mid-session', { timeout: 60_000 }, async () => {
    figures('jump +2 h', await skewCase({ jumpH: 2 }));
  });
  test('page clock set 2 h back mid-session', { timeout: 60_000 }, async () => {
    figures('jump -2 h', await skewCase({ jumpH: -2 }));
  });
  test('page clock 2 h fast from the start', { timeout: 60_000 }, async () => {
    figures('clock +2 h', await skewCase({ pageOffsetH: 2 }));
  });
  test('server clock 2 h behind the client', { timeout: 60_000 }, async () => {
    figures('server -2 h', await skewCase({ serverSkewH: -2 }));
  });
});

describe('10. bad answers from the refresh endpoint: error, session unchanged, recovery', { concurrency: true }, () => {
  const cases = [
    ['bad_json', 'bad_response'],
    ['missing_fields', 'bad_response'],
    ['wrong_key', 'bad_signature'],
    ['expired', 'expired'],
  ];
  for (const [kind, code] of cases) {
    test(kind, { timeout: 60_000 }, () =>
      session({ accessTtl: WINDOW_TTL, create: { refreshMargin: WINDOW_MARGIN } }, async (s) => {
        const old = s.firstToken;
        s.server.controls.badTokenNext(kind);
        await sleep((WINDOW_TTL - WINDOW_MARGIN - 1.5) * 1000);
        const polls = await pollUntilRefreshed(s);
        const stats = s.stats();
        const errors = s.ofType('error');
        assert.deepEqual(stats.refreshLog.map((e) => e.outcome), [`bad_token:${kind}`, 'rotated']);
        assert.equal(errors.length, 1, JSON.stringify(errors));
        assert.equal(errors[0].detail.willRetry, true);
        assert.equal(errors[0].detail.error.code, code);
        assert.equal(s.ofType('logout').length, 0);
        const servedOld = polls.filter((p) => p.ok && p.value === old && p.at > errors[0].at);
        assert.ok(servedOld.length > 0, 'the old token was still handed out after the bad answer');
        for (const p of servedOld) await s.verifyAt(p.value, p.at);
        for (const p of polls) {
          assert.equal(p.isAuthenticated, true);
          if (p.ok) assert.ok(p.value === old || p.value === s.ofType('refresh')[0].detail.accessToken, 'only the old or the new good token');
          else assert.equal(p.error.code, code);
        }
        const fresh = s.ofType('refresh')[0].detail.accessToken;
        await s.verifyAt(fresh);
        assert.equal(polls.at(-1).value, fresh);
        assert.deepEqual(s.unexpectedErrors(), []);
        figures(`bad answer ${kind}`, { errorCode: errors[0].detail.error.code, retryInMs: errors[0].detail.retryInMs, oldServedAfterError: servedOld.length, recoveredAfterMs: s.ofType('refresh')[0].at - errors[0].at });
      }));
  }
});

test("11. cookie style: refresh works, the refresh token is in no JS-visible place and not in wasm memory", { timeout: 60_000 }, () =>
  session({ accessTtl: SHORT_TTL, create: { style: 'cookie', refreshMargin: 1, persist: 'local' }, signIn: { style: 'cookie' } }, async (s) => {
    await waitFor(() => s.ofType('refresh').length >= 2, { timeoutMs: 15_000, message: 'two cookie refreshes' });
    const forced = await s.call('refresh');
    assert.equal(forced.ok, true, JSON.stringify(forced.error));
    await s.verifyAt(forced.value);
    const stats = s.stats();
    assert.ok(stats.refreshLog.length >= 3 && stats.refreshLog.every((e) => e.style === 'cookie' && e.outcome === 'rotated'), JSON.stringify(stats.refreshLog));

    const issued = s.server.controls.issuedRefreshTokens();
    const cookies = await s.context.cookies();
    const cookie = cookies.find((c) => c.name === 'refresh_token');
    assert.ok(cookie, 'the refresh cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.ok(issued.includes(cookie.value), 'the cookie holds the latest issued refresh token');
    assert.ok(issued.length >= 4);

    const visible = await s.call('visibleStorage');
    const text = JSON.stringify(visible) + JSON.stringify(s.events) + JSON.stringify(await s.call('state'));
    const inJs = issued.filter((t) => text.includes(t));
    assert.deepEqual(inJs, [], 'refresh token in document.cookie, storage, events or client state');
    assert.ok(Object.keys(visible.local).some((k) => k.startsWith('jwt-keeper:')), 'the session is persisted (without the refresh token)');

    const wasm = await s.call('wasmMemoryContains', issued);
    assert.deepEqual(wasm.found, [], 'refresh token bytes in the wasm memory');

    // The whole JS heap of the page, as the V8 heap snapshot sees it.
    const cdp = await s.context.newCDPSession(s.page);
    let snapshot = '';
    cdp.on('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => {
      snapshot += chunk;
    });
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const inHeap = issued.filter((t) => snapshot.includes(t));
    assert.ok(snapshot.includes(forced.value.split('.')[2]), 'the heap snapshot does hold the access token (the search works)');
    assert.deepEqual(inHeap, [], 'refresh token in the JS heap');
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('cookie', {
      refreshes: stats.refreshRequests,
      issuedRefreshTokens: issued.length,
      wasmMemoryBytes: wasm.memoryBytes,
      heapSnapshotBytes: snapshot.length,
      foundInJs: inJs.length,
      foundInWasm: wasm.found.length,
      foundInHeap: inHeap.length,
    });
  }));

test('11b. cookie style with refresh.logoutUrl: logout() tells the server, the HttpOnly cookie mints no more tokens', { timeout: 60_000 }, () =>
  session({ accessTtl: 300, create: { style: 'cookie', refresh: { logoutUrl: '/logout' } }, signIn: { style: 'cookie' } }, async (s) => {
    const before = s.stats().logouts;
    await s.page.evaluate(() => window.harness.client.logout());
    await waitFor(() => s.stats().logouts > before, { timeoutMs: 5_000, message: 'the logout POST reaches the server' });
    // The browser still holds whatever cookie the server left: it must no longer refresh.
    const status = await s.page.evaluate(async () => {
      const r = await fetch('/cookie/refresh', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      return r.status;
    });
    assert.equal(status, 401, 'the cookie was revoked and cleared');
    assert.deepEqual(s.ofType('logout').map((e) => e.detail.reason), ['user']);
  }));

test('12. setSession with a bad token throws AuthError and keeps the previous session', { timeout: 60_000 }, () =>
  session({ accessTtl: 300 }, async (s) => {
    const good = s.firstToken;
    const claimsBefore = (await s.call('state')).claims;
    const [header, payload, signature] = good.split('.');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const noneToken = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const bad = [
      ['signed by another key', await foreignToken(s.server), 'bad_signature'],
      ['expired (server key)', await badServerToken(s.server, 'expired'), 'expired'],
      ['signature altered', `${header}.${payload}.${flipped}`, 'bad_signature'],
      ['alg none', noneToken, 'unsupported_alg'],
      ['garbage', 'not a token', 'malformed'],
      ['empty', '', 'malformed'],
    ];
    s.server.controls.resetStats(); // fetching the expired token went through the refresh route
    const codes = {};
    for (const [name, accessToken, code] of bad) {
      const r = await s.call('setSession', { accessToken, refreshToken: 'attacker-refresh-token' });
      assert.equal(r.ok, false, `${name} was adopted`);
      assert.equal(r.error.name, 'AuthError', name);
      assert.equal(r.error.isAuthError, true, name);
      assert.equal(r.error.code, code, `${name}: ${r.error.code} (${r.error.message})`);
      codes[name] = r.error.code;
    }
    await sleep(300);
    const state = await s.call('state');
    assert.equal(state.isAuthenticated, true);
    assert.deepEqual(state.claims, claimsBefore);
    const get = await s.call('getAccessToken');
    assert.equal(get.value, good, 'the previous token is still served');
    assert.deepEqual(s.events, [], 'no event');
    // The refresh token of the kept session is the real one, not the one passed with a bad token.
    const refreshed = await s.call('refresh');
    assert.equal(refreshed.ok, true, JSON.stringify(refreshed.error));
    assert.deepEqual(s.stats().refreshLog.map((e) => e.outcome), ['rotated']);
    assert.deepEqual(s.unexpectedErrors(), []);
    figures('setSession bad', codes);
  }));

describe('13. persisted sessions survive a reload; a tampered one is refused and removed', () => {
  for (const persist of ['session', 'local']) {
    test(`persist '${persist}'`, { timeout: 60_000 }, () =>
      session({ accessTtl: 300, create: { persist } }, async (s) => {
        const token = s.firstToken;
        const storageName = persist === 'local' ? 'localStorage' : 'sessionStorage';
        const stored = await s.page.evaluate((n) => Object.keys(window[n]).filter((k) => k.startsWith('jwt-keeper:')), storageName);
        assert.equal(stored.length, 1, `one record in ${storageName}`);
        const logins = s.stats().logins;

        await s.reload();
        await s.call('create', { persist });
        const resumed = await s.call('state');
        assert.equal(resumed.isAuthenticated, true, 'signed in after the reload');
        const get = await s.call('getAccessToken');
        assert.equal(get.value, token);
        assert.equal((await s.call('apiWith', get.value)).status, 200);
        assert.equal(s.stats().logins, logins, 'no new login');
        const refreshed = await s.call('refresh');
        assert.equal(refreshed.ok, true, 'the stored refresh token works');

        // Break the signature of the stored token, then reload.
        await s.page.evaluate(([n, key]) => {
          const record = JSON.parse(window[n].getItem(key));
          const [h, p, sig] = record.at.split('.');
          record.at = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
          window[n].setItem(key, JSON.stringify(record));
        }, [storageName, stored[0]]);
        const eventsBefore = s.events.length;
        await s.reload();
        await s.call('create', { persist });
        const tampered = await s.call('state');
        assert.equal(tampered.isAuthenticated, false, 'the tampered token was adopted');
        assertAuthError(await s.call('getAccessToken'), 'not_authenticated', 'getAccessToken() after a tampered store');
        const left = await s.page.evaluate(([n, key]) => window[n].getItem(key), [storageName, stored[0]]);
        assert.equal(left, null, 'the tampered record is removed');
        await sleep(300);
        assert.deepEqual(s.events.slice(eventsBefore).filter((e) => e.type !== 'logout'), [], 'no refresh or error after the refused record');
        assert.deepEqual(s.unexpectedErrors(), []);
        figures(`persist ${persist}`, { resumedWithoutLogin: resumed.isAuthenticated, tamperedAdopted: tampered.isAuthenticated, tamperedRecordLeft: left !== null });
      }));
  }
});

test('14. localStorage.setItem throwing QuotaExceededError: in memory, no crash, no logout, refresh works', { timeout: 60_000 }, () =>
  session(
    {
      accessTtl: SHORT_TTL,
      create: { persist: 'local', refreshMargin: 1 },
      initScript: () => {
        window.__setItemCalls = 0;
        Storage.prototype.setItem = function setItem() {
          window.__setItemCalls += 1;
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        };
      },
    },
    async (s) => {
      await waitFor(() => s.ofType('refresh').length >= 2, { timeoutMs: 15_000, message: 'two refreshes' });
      const get = await s.call('getAccessToken');
      assert.equal(get.ok, true, JSON.stringify(get.error));
      await s.verifyAt(get.value);
      assert.equal((await s.call('apiWith', get.value)).status, 200);
      const calls = await s.page.evaluate(() => window.__setItemCalls);
      const visible = await s.call('visibleStorage');
      assert.ok(calls >= 1, 'the client tried to store');
      assert.deepEqual(visible.local, {});
      assert.equal((await s.call('state')).isAuthenticated, true);
      assert.equal(s.ofType('logout').length, 0);
      assert.deepEqual(s.unexpectedErrors(), []);
      figures('quota', { setItemCalls: calls, refreshes: s.ofType('refresh').length, errorEvents: s.ofType('error').length });
    },
  ));
