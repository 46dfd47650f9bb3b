// The demo (`npm run demo`) as a person uses it, in Chromium: scripts/demo.mjs runs as a child
// process on a free port; the test signs in, makes the server misbehave with the page's own
// buttons and reads what the page shows. Leaves a screenshot in .tmp/demo.png.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, openPage } from './helpers/browser.mjs';
import { ROOT } from './helpers/paths.mjs';

/** How long the demo may take to print its URL. */
const START_TIMEOUT_MS = 15_000;
/** The demo's short token lifetime: the client refreshes at half of it. */
const SHORT_TTL_S = 10;
/**
 * Waiting for something the client does by itself: one short token's refresh (5 s) plus up to
 * three backed-off retries (at most 1.5 + 2.5 + 4.5 s) and slack for a loaded machine.
 */
const EVENT_TIMEOUT_MS = 30_000;
const SCREENSHOT = join(ROOT, '.tmp/demo.png');

let demo;
let url;
let browser;
let context;
let tab;
let tab2;

/** Starts `node scripts/demo.mjs` with PORT=0; resolves with the page URL it prints. */
function startDemo() {
  const child = spawn(process.execPath, ['scripts/demo.mjs'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const printed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no URL in time:\n${out}${err}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /jwt-keeper demo: (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}) before printing its URL:\n${out}${err}`));
    });
  });
  return { child, printed, stopped: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))) };
}

/** The event log as [{ type, text }], oldest first. */
async function logEntries(page) {
  return page.$$eval('#log li', (items) =>
    items.map((li) => ({ type: li.dataset.type, text: li.lastElementChild.textContent })).reverse(),
  );
}

/**
 * Waits until the log has `count` entries of `type` whose text matches `pattern`, counting
 * only entries after the first `since` entries. Returns the log.
 */
async function waitForLog(page, { type, pattern = '', count = 1, since = 0, timeout = EVENT_TIMEOUT_MS }) {
  try {
    await page.waitForFunction(
      ({ type, source, count, since }) => {
        const re = new RegExp(source);
        const items = [...document.querySelectorAll('#log li')].reverse().slice(since);
        return items.filter((li) => li.dataset.type === type && re.test(li.lastElementChild.textContent)).length >= count;
      },
      { type, source: pattern, count, since },
      { timeout, polling: 100 },
    );
  } catch (e) {
    const log = (await logEntries(page)).map((x) => `${x.type}: ${x.text}`).join('\n');
    throw new Error(`waited for ${count} × ${type} /${pattern}/ after entry ${since}; the log:\n${log}`, { cause: e });
  }
  return logEntries(page);
}

/** Page errors, less the browser's own line for each request the outage broke (expected here). */
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource/.test(e));

const logLength = async (page) => (await logEntries(page)).length;

/** Clicks a fault button and waits until the server took it (the page logs it then). */
async function clickControl(page, name) {
  const since = await logLength(page);
  await page.click(`[data-control="${name}"]`);
  await waitForLog(page, { type: 'control', since });
}
const text = (page, selector) => page.locator(selector).innerText();
const seconds = (shown) => {
  const m = /(\d+):(\d\d)|([\d.]+) s/.exec(shown);
  assert.ok(m, `not a duration: ${shown}`);
  return m[3] !== undefined ? Number(m[3]) : Number(m[1]) * 60 + Number(m[2]);
};

before(async () => {
  demo = startDemo();
  url = await demo.printed;
  browser = await launchBrowser();
  // One context: both tabs share localStorage and BroadcastChannel, like two tabs of one browser.
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
});

after(async () => {
  await browser?.close();
  if (demo && demo.child.exitCode === null) demo.child.kill('SIGTERM');
});

test('the demo prints its URL and serves a page that loads the package', async () => {
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/www\/demo\/$/);
  tab = await openPage(context, url);
  await tab.page.waitForSelector('body[data-ready="true"]');
  assert.equal(await text(tab.page, '#status'), 'signed out');
  assert.deepEqual(tab.errors, []);
});

/** Signs in through the auth server's login page (the user name comes as login_hint). */
async function signIn(page) {
  await page.click('#signin');
  await page.waitForSelector('#sign-in');
  await page.click('#sign-in');
  await page.waitForSelector('#status[data-state="in"]');
}

test('sign in: verified claims, header and countdowns to expiry and refresh', async () => {
  const { page } = tab;
  await page.fill('#user', 'alice');
  await signIn(page);
  assert.equal(new URL(page.url()).search, '', 'the code and state are gone from the address bar');
  assert.equal(await text(page, '#status'), 'signed in as alice');
  const claims = await text(page, '#claims');
  assert.match(claims, /sub\s+alice/);
  assert.match(claims, /aud\s+jwt-keeper-demo/);
  assert.match(claims, new RegExp(`iss\\s+${new URL(url).origin.replaceAll('.', '\\.')}`));
  assert.match(await text(page, '#header'), /"alg": "ES256"/);
  // 5 min token, refreshMargin 60 s: expires in ~5:00, refresh in ~4:00.
  const expiresIn = seconds(await text(page, '#expires-in'));
  const refreshIn = seconds(await text(page, '#refresh-in'));
  assert.ok(expiresIn > 290 && expiresIn <= 300, `expires in ${expiresIn}`);
  assert.ok(Math.abs(expiresIn - refreshIn - 60) <= 1, `expires in ${expiresIn}, refresh in ${refreshIn}`);
  assert.equal(await text(page, '#server-offset'), 'in step');
});

test('a second tab shows the same session and adopts its refreshes (persist: local)', async () => {
  const other = await openPage(context, url);
  try {
    await other.page.waitForSelector('body[data-ready="true"]');
    await other.page.waitForSelector('#status[data-state="in"]');
    assert.equal(await text(other.page, '#status'), 'signed in as alice');
    assert.equal(await text(other.page, '#claims'), await text(tab.page, '#claims'));
    const since = await logLength(other.page);
    await tab.page.click('#refresh-now');
    await waitForLog(other.page, { type: 'refresh', pattern: 'from another tab', since });
    assert.equal(await text(other.page, '#claims'), await text(tab.page, '#claims'));
    assert.deepEqual(unexpected(other.errors), []);
  } finally {
    // The fault tests below watch one tab: with two, either may be the one that refreshes.
    await other.page.close();
  }
});

test('short token lifetime: the client refreshes by itself, the API call works', async () => {
  const { page } = tab;
  const since = await logLength(page);
  await clickControl(page, 'ttl-short');
  // The forced refresh that fetches a 10 s token, then one the client starts by itself.
  await waitForLog(page, { type: 'refresh', pattern: 'expires in', count: 2, since });
  const expiresIn = seconds(await text(page, '#expires-in'));
  assert.ok(expiresIn <= SHORT_TTL_S, `expires in ${expiresIn}`);

  await page.click('#api-call');
  await page.waitForFunction(() => /^200 /.test(document.querySelector('#api-result').textContent));
  assert.match(await text(page, '#api-result'), /"sub": "alice"/);
});

test('503 ×3: errors that will retry, then a refresh, the session kept', async () => {
  const { page } = tab;
  const since = await logLength(page);
  await clickControl(page, 'fail-503');
  let log = await waitForLog(page, { type: 'error', count: 3, since });
  const errors = log.slice(since).filter((x) => x.type === 'error');
  for (const e of errors) assert.match(e.text, /bad_response.*5xx.*session kept, will retry in [\d.]+ s/);
  log = await waitForLog(page, { type: 'refresh', pattern: 'expires in', since: log.indexOf(errors[2]) + 1 });
  assert.equal(log.slice(since).filter((x) => x.type === 'error').length, 3);
  assert.equal(await text(page, '#status'), 'signed in as alice');
});

test('server down: network errors are retried, and it recovers once the server is back', async () => {
  const { page } = tab;
  const since = await logLength(page);
  await clickControl(page, 'down');
  await waitForLog(page, { type: 'error', pattern: 'network.*will retry in', since });
  assert.match(await text(page, '#refresh-in'), /retry in/);
  await page.click('#api-call');
  await page.waitForFunction(() => !/^200 /.test(document.querySelector('#api-result').textContent));
  const back = await logLength(page);
  await clickControl(page, 'down');
  await waitForLog(page, { type: 'refresh', pattern: 'expires in', since: back });
  assert.equal(await text(page, '#status'), 'signed in as alice');
  await page.click('#api-call');
  await page.waitForFunction(() => /^200 /.test(document.querySelector('#api-result').textContent));
});

test('server clock 2 h off: the client measures the offset, the token still lives 10 s', async () => {
  const { page } = tab;
  for (const [button, sign] of [['skew-plus', '\\+'], ['skew-minus', '−']]) {
    await clickControl(page, button);
    const since = await logLength(page);
    await page.click('#refresh-now');
    await waitForLog(page, { type: 'refresh', since });
    assert.match(await text(page, '#server-offset'), new RegExp(`^${sign}2 h 00 min$`));
    const expiresIn = seconds(await text(page, '#expires-in'));
    assert.ok(expiresIn > 0 && expiresIn <= SHORT_TTL_S, `expires in ${expiresIn}`);
  }
  await clickControl(page, 'skew-zero');
  const since = await logLength(page);
  await page.click('#refresh-now');
  await waitForLog(page, { type: 'refresh', since });
  assert.equal(await text(page, '#server-offset'), 'in step');
});

test('revoked refresh token: logout with reason refresh_rejected', async () => {
  const { page } = tab;
  const since = await logLength(page);
  await clickControl(page, 'revoke');
  const log = await waitForLog(page, { type: 'logout', pattern: 'reason refresh_rejected', since });
  assert.equal(log.slice(since).filter((x) => x.type === 'logout').length, 1);
  await page.waitForSelector('#status[data-state="out"]');
  assert.equal(await text(page, '#claims'), 'no session');
  assert.equal(await text(page, '#expires-in'), '–');
});

test('sign in again with the faults reset; log out in one tab ends the other (screenshot)', async () => {
  const { page } = tab;
  await clickControl(page, 'reset');
  await signIn(page);
  tab2 = await openPage(context, url);
  await tab2.page.waitForSelector('#status[data-state="in"]');
  await page.click('#api-call');
  await page.waitForFunction(() => /^200 /.test(document.querySelector('#api-result').textContent));
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  const since = await logLength(tab2.page);
  await page.click('#logout');
  await waitForLog(page, { type: 'logout', pattern: 'reason user' });
  await waitForLog(tab2.page, { type: 'logout', pattern: 'reason peer', since });
  assert.equal(await text(tab2.page, '#status'), 'signed out');
  assert.deepEqual(unexpected(tab.errors), []);
  assert.deepEqual(unexpected(tab2.errors), []);
});

test('log out at the server: the refresh token is revoked, then the server ends its session and sends the browser back, signed out', async () => {
  const { page } = tab;
  await signIn(page);
  const ended = page.waitForResponse((r) => new URL(r.url()).pathname === '/end-session');
  await page.click('#logout-provider');
  assert.equal((await ended).status(), 302);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#status[data-state="out"]');
  const stats = await (await fetch(new URL('/__stats', url))).json();
  const end = stats.endSessionLog.at(-1);
  const revoked = stats.revocationLog.at(-1);
  assert.equal(end.outcome, 'redirected');
  assert.equal(end.sub, 'alice');
  assert.equal(revoked.kind, 'refresh_token');
  assert.ok(revoked.seq < end.seq, 'revocation first');
  assert.deepEqual(unexpected(tab.errors), []);
});

test('the DPoP switch: sign in again with tokens bound to this browser\'s key, the API call carries a proof, a demanded nonce costs one retry', async () => {
  const { page } = tab;
  await page.click('#dpop');
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.isChecked('#dpop'), true, 'the switch sticks over the reload');
  await page.waitForSelector('#status[data-state="out"]');
  await signIn(page);
  const shown = /^bound to key ([\w-]{12})…$/.exec(await text(page, '#dpop-key'));
  assert.ok(shown, 'the key the token is bound to is shown');
  assert.match(await text(page, '#claims'), /cnf/);
  assert.equal(await text(page, '#api-scheme'), 'DPoP-bound');
  const statsBefore = await (await fetch(new URL('/__stats', url))).json();
  await clickControl(page, 'dpop-nonce');
  await page.click('#api-call');
  await page.waitForFunction(() => /"sub": "alice"/.test(document.querySelector('#api-result').textContent), null, { timeout: EVENT_TIMEOUT_MS });
  const stats = await (await fetch(new URL('/__stats', url))).json();
  const api = stats.dpopLog.slice(statsBefore.dpopLog.length).filter((l) => l.route === '/api/me').map((l) => l.outcome);
  assert.deepEqual(api, ['nonce_required', 'ok'], 'one proof without the nonce, one retry with it');
  const keys = new Set(stats.dpopLog.filter((l) => l.jkt).map((l) => l.jkt));
  assert.deepEqual([...keys].map((k) => k.slice(0, 12)), [shown[1]], 'one key for the sign-in and the API calls: the one shown');
  await clickControl(page, 'reset');
  // Back to bearer tokens for whoever uses this profile next.
  await page.click('#dpop');
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.isChecked('#dpop'), false);
  assert.deepEqual(unexpected(tab.errors), []);
});

test('the demo stops cleanly on SIGTERM', async () => {
  demo.child.kill('SIGTERM');
  const { code, signal } = await demo.stopped;
  assert.equal(signal, null);
  assert.equal(code, 0);
});
