// Loads the package the way an app does (`await init()`, wasm URL from import.meta.url) and
// exposes the checks the browser tests drive through page.evaluate(): window.jwtKeeperPage.
import init, * as api from '/pkg/index.js';
import glueInit from '/pkg/verify/jwt_keeper.js';
import { MiB, runGarbage } from './garbage.mjs';
import { fixtureMismatches, runFixtureCases } from './run-fixtures.mjs';
import { A3_JWK, A3_NOW, A3_PEM, A3_TOKEN } from './vectors.mjs';

function growToMaximum(memory) {
  for (let step = 65536; step >= 1; ) {
    try {
      memory.grow(step);
    } catch {
      step >>= 1;
    }
  }
}

const describeError = (e) => ({
  name: e?.name,
  code: e?.code,
  message: e?.message,
  isAuthError: api.isAuthError(e),
  instanceOfAuthError: e instanceof api.AuthError,
  causeIsRuntimeError: e?.cause instanceof WebAssembly.RuntimeError,
});

const page = {
  async fixtures() {
    const fixtures = await (await fetch('/tests/fixtures/jose-tokens.json')).json();
    const results = runFixtureCases(api, fixtures);
    return { count: fixtures.cases.length, results, mismatches: fixtureMismatches(fixtures, results) };
  },

  a3() {
    const out = { payload: api.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), payloadPem: api.verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW }) };
    try {
      api.verifyJwt(A3_TOKEN, A3_JWK);
    } catch (e) {
      out.withoutNow = describeError(e);
    }
    out.decoded = api.decodeJwt(A3_TOKEN);
    return out;
  },

  async garbage({ seed, iterations }) {
    const memoryBefore = (await glueInit()).memory.buffer.byteLength;
    const started = performance.now();
    const stats = await runGarbage({ ...api, init }, { seed, iterations, huge: true });
    stats.ms = Math.round(performance.now() - started);
    stats.memoryBefore = memoryBefore;
    stats.memoryAfter = (await glueInit()).memory.buffer.byteLength;
    stats.a3After = api.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
    return stats;
  },

  async trapRecovery(rounds = 2) {
    const out = [];
    for (let i = 0; i < rounds; i++) {
      const before = await glueInit();
      growToMaximum(before.memory);
      const round = { grownTo: before.memory.buffer.byteLength };
      try {
        api.verifyJwt('\u00e9'.repeat(MiB), A3_JWK, { now: A3_NOW, maxTokenBytes: MiB });
        round.error = null;
      } catch (e) {
        round.error = describeError(e);
      }
      round.next = api.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
      const afterwards = await glueInit();
      round.newInstance = afterwards !== before && afterwards.memory !== before.memory;
      round.memoryAfter = afterwards.memory.buffer.byteLength;
      out.push(round);
    }
    return out;
  },
};

window.jwtKeeperPage = page;
// The RSA module too: the fixture cases include RS256 and PS256 tokens for the sync verifyJwt.
window.jwtKeeperReady = init().then(() => api.initRsa()).then(() => {
  document.getElementById('status').textContent = 'ready';
  return true;
});
