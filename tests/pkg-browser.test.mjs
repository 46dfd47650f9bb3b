// The npm package in pkg/ in a real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), served with the test pages from the local server:
//   node --test tests/pkg-browser.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, startStaticServer, withPage } from './helpers/browser.mjs';
import { loadFixtures } from './helpers/paths.mjs';
import { A3_HEADER, A3_PAYLOAD } from './pages/vectors.mjs';

const MiB = 1 << 20;
const SEED = Number(process.env.JWT_KEEPER_SEED ?? 20260515);
const WASM_PATH = '/pkg/verify/jwt_keeper_bg.wasm';
const fixtures = loadFixtures();

let server;
let browser;
before(async () => {
  server = await startStaticServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const url = (path) => `${server.url}${path}`;
const wasmRequests = (requests) => requests.filter((r) => new URL(r).pathname === WASM_PATH).length;

function assertAuthErrorLike(e, code) {
  assert.ok(e, 'no error');
  assert.equal(e.name, 'AuthError');
  assert.equal(e.code, code, `code ${e.code} (${e.message}), expected ${code}`);
  assert.equal(e.isAuthError, true);
  assert.equal(e.instanceOfAuthError, true);
}

/** Opens the verify page and waits for its `await init()` (default URL from import.meta.url). */
function withVerifyPage(fn) {
  return withPage(browser, url('/tests/pages/verify.html'), async (opened) => {
    await opened.page.waitForFunction(() => window.jwtKeeperReady !== undefined);
    await opened.page.evaluate(() => window.jwtKeeperReady);
    return fn(opened);
  });
}

describe('verify page', () => {
  test('every jose fixture case gives the expected result in Chromium', (t) =>
    withVerifyPage(async ({ page, errors, warnings, requests }) => {
      const { count, results, mismatches } = await page.evaluate(() => window.jwtKeeperPage.fixtures());
      assert.deepEqual(mismatches, []);
      assert.equal(count, fixtures.cases.length);
      const rejectedAlgs = results.filter((r) => /HS256|alg none|alg None|alg NONE/.test(r.name));
      assert.ok(rejectedAlgs.length >= 7, 'the HS256-with-public-key and alg none cases ran');
      for (const r of rejectedAlgs) assert.equal(r.result, 'unsupported_alg', r.name);

      const a3 = await page.evaluate(() => window.jwtKeeperPage.a3());
      assert.deepEqual(a3.payload, A3_PAYLOAD);
      assert.deepEqual(a3.payloadPem, A3_PAYLOAD);
      assert.deepEqual(a3.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
      assertAuthErrorLike(a3.withoutNow, 'expired');

      assert.equal(wasmRequests(requests), 1, 'the wasm is fetched once, next to index.js');
      assert.deepEqual(errors, []);
      assert.deepEqual(warnings, []);
      t.diagnostic(`${count} fixture cases agree in Chromium (${results.filter((r) => r.result === 'ok').length} ok)`);
    }));

  test('seeded garbage to every export: only typed errors, no trap, bounded memory', (t) =>
    withVerifyPage(async ({ page, errors }) => {
      const stats = await page.evaluate((seed) => window.jwtKeeperPage.garbage({ seed, iterations: 2500 }), SEED);
      t.diagnostic(`seed ${SEED}: ${stats.calls} calls in ${stats.ms} ms, ${stats.returned} returned, codes ${JSON.stringify(stats.codes)}`);
      t.diagnostic(`wasm memory ${(stats.memoryBefore / MiB).toFixed(1)} MiB before, ${(stats.memoryAfter / MiB).toFixed(1)} MiB after`);
      assert.deepEqual(stats.failures, [], `${stats.failureCount} calls misbehaved (seed ${SEED})`);
      assert.ok(stats.calls >= 2500);
      assert.ok(stats.memoryAfter < 16 * MiB, `wasm memory ${stats.memoryAfter} bytes`);
      assert.deepEqual(stats.a3After, A3_PAYLOAD);
      assert.deepEqual(errors, []);
    }));

  test('a trap is recovered: AuthError internal from a RuntimeError, then a fresh instance verifies', () =>
    withVerifyPage(async ({ page, errors }) => {
      const rounds = await page.evaluate(() => window.jwtKeeperPage.trapRecovery(2));
      assert.equal(rounds.length, 2);
      for (const r of rounds) {
        assert.ok(r.grownTo >= 1024 * MiB, `memory grew to ${r.grownTo} only`);
        assertAuthErrorLike(r.error, 'internal');
        assert.equal(r.error.causeIsRuntimeError, true, 'the call went through a wasm trap');
        assert.deepEqual(r.next, A3_PAYLOAD);
        assert.equal(r.newInstance, true);
        assert.ok(r.memoryAfter < 16 * MiB);
      }
      assert.deepEqual(errors, []);
    }));
});

describe('module Web Worker', () => {
  test('imports index.js, inits, verifies A3 and a fixture token, decodes: no window needed', () =>
    withPage(browser, url('/tests/pages/worker.html'), async ({ page, errors }) => {
      await page.waitForFunction(() => window.workerResult !== undefined);
      const out = await page.evaluate(() => window.workerResult);
      assert.equal(out.failed, undefined, JSON.stringify(out));
      assert.equal(out.isWorker, true);
      assert.equal(out.hasWindow, false);
      assert.equal(out.hasDocument, false);
      assertAuthErrorLike(out.beforeInit, 'internal');
      assert.match(out.beforeInit.message, /init\(\)/);
      assert.deepEqual(out.a3, A3_PAYLOAD);
      assert.deepEqual(out.a3Pem, A3_PAYLOAD);
      assertAuthErrorLike(out.withoutNow, 'expired');
      assert.deepEqual(out.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
      assert.deepEqual(out.fixture.payload, out.fixture.expected);
      assert.deepEqual(out.fixtureDecoded.payload, out.fixture.expected);
      assert.deepEqual(out.fixtureMismatches, []);
      assert.equal(out.fixtureCount, fixtures.cases.length);
      assert.deepEqual(errors, []);
    }));
});

describe('init() inputs', () => {
  const modes = ['none', 'url-string', 'url-object', 'response-promise', 'response', 'arraybuffer', 'uint8array', 'module', 'concurrent'];
  for (const mode of modes) {
    test(`init(${mode}) loads the wasm with one request, then verifies`, () =>
      withPage(browser, url(`/tests/pages/init.html?mode=${mode}`), async ({ page, errors, warnings, requests }) => {
        await page.waitForFunction(() => window.initResult !== undefined);
        const out = await page.evaluate(() => window.initResult);
        assert.equal(out.failed, undefined, JSON.stringify(out));
        assertAuthErrorLike(out.beforeInit, 'internal');
        assert.match(out.beforeInit.message, /init\(\)/);
        assert.deepEqual(out.payload, A3_PAYLOAD);
        assert.deepEqual(out.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
        assertAuthErrorLike(out.withoutNow, 'expired');
        if (mode === 'concurrent') assert.equal(out.samePromise, true, 'concurrent init() calls share one load');
        else assert.equal(out.returnsPromise, true);
        assert.equal(wasmRequests(requests), 1, `${wasmRequests(requests)} requests for the wasm`);
        assert.deepEqual(errors, []);
        assert.deepEqual(warnings, []);
      }));
  }

  test('bad inputs reject with AuthError internal, and a later init() still works', () =>
    withPage(browser, url('/tests/pages/init.html?mode=bad-then-good'), async ({ page, errors }) => {
      await page.waitForFunction(() => window.initResult !== undefined);
      const out = await page.evaluate(() => window.initResult);
      assert.equal(out.failed, undefined, JSON.stringify(out));
      assert.ok(out.rejections.length >= 9);
      assert.deepEqual(out.rejections, out.rejections.map(() => 'internal'));
      assert.deepEqual(out.payload, A3_PAYLOAD);
      assert.deepEqual(out.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
      assert.deepEqual(errors.filter((e) => !/404|Not Found/.test(e)), []);
    }));
});
