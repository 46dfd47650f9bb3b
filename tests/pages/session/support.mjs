// Node-side helpers for the session end-to-end tests: a fresh auth server (which also serves
// the package and the session page) and a fresh browser context per case, the page's events
// time-stamped with the test's clock, and token checks with `jose` (an independent verifier).
import * as jose from 'jose';

import { openPage, startStaticServer } from '../../helpers/browser.mjs';

export const SESSION_PAGE = '/tests/pages/session/index.html';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value; throws `message` after `timeoutMs`. */
export async function waitFor(check, { timeoutMs = 10_000, intervalMs = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await sleep(intervalMs);
  }
}

/** Console errors a browser logs by itself for failed requests (offline, 4xx/5xx answers). */
const EXPECTED_CONSOLE = /Failed to load resource/;

/**
 * Starts an auth server (static root = the repository) with `accessTtl` seconds, opens the
 * session page in a new context and runs `fn(session)`; always closes both.
 *
 * Options: `accessTtl`, `clock` (true or page.clock.install() options: installed before the
 * page loads), `initScript` (a function run in the page before its scripts), `create` (options
 * for harness.create(); `false` to create nothing), `signIn` (default true when creating).
 *
 * `session` = { server, page, context, events, errors, skewS, call(name, ...args), serverNow(),
 * refreshEvents(), ofType(type), stats(), tokenAt(token, atMs), close() }.
 */
export async function withSession(browser, options, fn) {
  const { accessTtl = 300, clock, initScript, create = {}, signIn = true } = options;
  const server = await startStaticServer();
  server.controls.setAccessTtl(accessTtl);
  let opened;
  try {
    opened = await openPage(browser, 'about:blank');
    const { page } = opened;
    const events = [];
    await page.exposeFunction('__sessionReport', (event) => {
      events.push({ ...event, at: Date.now() });
    });
    if (initScript) await page.addInitScript(initScript);
    if (clock) await page.clock.install(clock === true ? {} : clock);
    const session = {
      server,
      page,
      context: page.context(),
      events,
      errors: opened.errors,
      /** The server clock offset the test set with setClockSkew (seconds). */
      skewS: 0,
      setServerSkew(seconds) {
        this.skewS = seconds;
        server.controls.setClockSkew(seconds);
      },
      serverNow() {
        return Date.now() + this.skewS * 1000;
      },
      call: (name, ...args) => page.evaluate(({ name: n, args: a }) => window.harness[n](...a), { name, args }),
      ofType: (type) => events.filter((e) => e.type === type),
      stats: () => structuredClone(server.stats),
      /** Verifies `token` with jose at server time `atMs` (default now); returns the payload. */
      async verifyAt(token, atMs = this.serverNow()) {
        const { payload } = await jose.jwtVerify(token, await jose.importJWK(server.publicJwk, 'ES256'), {
          algorithms: ['ES256'],
          issuer: server.issuer,
          audience: server.audience,
          currentDate: new Date(atMs),
        });
        return payload;
      },
      /** Page errors and console errors other than the browser's own failed-request lines. */
      unexpectedErrors: () => opened.errors.filter((e) => !EXPECTED_CONSOLE.test(e)),
      async reload() {
        await page.reload();
        await page.waitForFunction(() => window.harnessReady !== undefined);
        await page.evaluate(() => window.harnessReady);
      },
    };
    await page.goto(`${server.url}${SESSION_PAGE}`);
    await page.waitForFunction(() => window.harnessReady !== undefined);
    await page.evaluate(() => window.harnessReady);
    if (create) {
      await session.call('create', create);
      if (signIn) session.firstToken = await session.call('signIn', typeof signIn === 'object' ? signIn : {});
    }
    return await fn(session);
  } finally {
    await opened?.page.context().close();
    await server.close();
  }
}

/** `exp` of a token in ms (decoded without checks: only for timing figures). */
export function expMs(token) {
  return jose.decodeJwt(token).exp * 1000;
}

/** A token signed by a fresh key that is not the server's, with the server's kid and claims. */
export async function foreignToken(server, { ttlS = 300 } = {}) {
  const { privateKey } = await jose.generateKeyPair('ES256');
  return new jose.SignJWT({ sub: 'mallory' })
    .setProtectedHeader({ alg: 'ES256', kid: server.publicJwk.kid, typ: 'JWT' })
    .setIssuer(server.issuer)
    .setAudience(server.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlS)
    .sign(privateKey);
}

/** One bad 200 answer of the refresh endpoint, fetched directly: e.g. an expired server token. */
export async function badServerToken(server, kind) {
  server.controls.badTokenNext(kind);
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=refresh_token&refresh_token=unused',
  });
  return (await response.json()).access_token;
}

/** Short figures for the CI log. */
export function figures(name, values) {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : Array.isArray(v) ? `[${v.join(',')}]` : v}`)
    .join(' ');
  console.log(`  [${name}] ${text}`);
}

/** Time (ms) between successive entries of the server's refresh log. */
export function gaps(log) {
  return log.slice(1).map((entry, i) => entry.at - log[i].at);
}
