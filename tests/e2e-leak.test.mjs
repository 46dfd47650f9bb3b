// Memory over many refresh cycles: one page, one AuthClient, `client.refresh()` forced in a loop
// against the local auth server (oauth2 style, every refresh rotates the refresh token, normal
// 300 s lifetime). After a warm-up, neither the wasm memory nor the page's JS heap (after GC,
// measured over CDP) may keep growing.
//   node --test tests/e2e-leak.test.mjs
// JWT_KEEPER_LEAK_CYCLES changes the number of cycles (default 10000).
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, startStaticServer } from './helpers/browser.mjs';
import { SESSION_PAGE, figures } from './pages/session/support.mjs';

const CYCLES = Number(process.env.JWT_KEEPER_LEAK_CYCLES ?? 10_000);
const WARM_UP = 500;
const CHUNK = 500;
const MiB = 1 << 20;
/** Allowed JS heap growth after the warm-up, after GC: well below 1 KB per cycle. */
const HEAP_GROWTH_LIMIT = 2 * MiB;

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

test(`${CYCLES} forced refresh cycles: wasm memory flat and JS heap bounded after a ${WARM_UP}-cycle warm-up`, { timeout: 20 * 60_000 }, async () => {
  assert.ok(CYCLES > WARM_UP, `JWT_KEEPER_LEAK_CYCLES must be above ${WARM_UP}`);
  const { page, errors } = await openPage(browser, `${server.url}${SESSION_PAGE}`);
  try {
    await page.waitForFunction(() => window.harnessReady !== undefined);
    await page.evaluate(() => window.harnessReady);
    // One page: no other tab to coordinate with. (With crossTab the Web Lock is kept a little
    // after each refresh for the other tabs, which limits forced refreshes to a few per second.)
    await page.evaluate(() => window.harness.create({ record: false, crossTab: false }));
    await page.evaluate(() => window.harness.signIn());

    const cdp = await page.context().newCDPSession(page);
    const heapAfterGc = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    const run = (n) => page.evaluate((count) => window.harness.refreshLoop(count), n);

    const started = Date.now();
    const heapStart = await heapAfterGc();
    const warm = await run(WARM_UP);
    const heapWarm = await heapAfterGc();
    const wasmWarm = warm.wasmBytes;
    let failures = warm.failures;
    let done = WARM_UP;
    let last = warm;
    const heapTrail = [];
    while (done < CYCLES) {
      const n = Math.min(CHUNK, CYCLES - done);
      last = await run(n);
      failures += last.failures;
      done += n;
      if (done % 2500 === 0 || done === CYCLES) heapTrail.push(Math.round((await heapAfterGc()) / 1024));
    }
    const heapEnd = await heapAfterGc();
    const seconds = (Date.now() - started) / 1000;
    const counts = await page.evaluate(() => window.harness.counts);
    const state = await page.evaluate(() => window.harness.state());
    const stats = server.stats;

    figures('leak', {
      cycles: done,
      seconds,
      cyclesPerSecond: done / seconds,
      wasmBytesAfterWarmUp: wasmWarm,
      wasmBytesAtEnd: last.wasmBytes,
      jsHeapKiBStart: Math.round(heapStart / 1024),
      jsHeapKiBAfterWarmUp: Math.round(heapWarm / 1024),
      jsHeapKiBAtEnd: Math.round(heapEnd / 1024),
      jsHeapKiBTrail: heapTrail,
      jsHeapGrowthBytesPerCycle: (heapEnd - heapWarm) / (done - WARM_UP),
    });

    assert.equal(failures, 0, `${failures} forced refreshes failed`);
    assert.equal(last.lastIsToken, true);
    assert.equal(counts.refresh, done, 'one refresh event per cycle');
    assert.equal(counts.logout, 0);
    assert.equal(counts.error, 0);
    assert.equal(state.isAuthenticated, true);
    assert.equal(stats.refreshSuccesses, done, 'every cycle rotated the refresh token on the server');
    assert.equal(stats.reuseDetections, 0);
    assert.equal(last.wasmBytes, wasmWarm, `wasm memory grew from ${wasmWarm} to ${last.wasmBytes} bytes after the warm-up`);
    assert.ok(heapEnd - heapWarm < HEAP_GROWTH_LIMIT, `JS heap grew ${heapEnd - heapWarm} bytes after the warm-up (limit ${HEAP_GROWTH_LIMIT})`);
    assert.deepEqual(errors, []);
  } finally {
    await page.context().close();
  }
});
