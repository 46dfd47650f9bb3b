// The npm package in pkg/ as Node (and SSR) users get it:
//   node --test tests/pkg-node.test.mjs
// Needs a built pkg/ (node scripts/build.mjs).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import vm from 'node:vm';

import * as nodeEntry from '../pkg/node.js';
import * as indexEntry from '../pkg/index.js';
import glueInit from '../pkg/verify/jwt_keeper.js';
import { MiB, b64url, hugeValues, nestedHeaderToken, runGarbage } from './pages/garbage.mjs';
import { fixtureMismatches, runFixtureCases } from './pages/run-fixtures.mjs';
import { A3_EXP, A3_HEADER, A3_JWK, A3_NOW, A3_PAYLOAD, A3_PEM, A3_TOKEN } from './pages/vectors.mjs';
import { FIXTURES, PAGES, PKG, WASM, copyPkg, fileUrl, loadFixtures, runNode } from './helpers/paths.mjs';

const { decodeJwt, verifyJwt, AuthError, isAuthError } = nodeEntry;
const nodeInit = nodeEntry.default;
const fixtures = loadFixtures();
const BRAND = Symbol.for('jwt-keeper.AuthError');
/** Seed of the garbage run; set JWT_KEEPER_SEED to replay another one. */
const SEED = Number(process.env.JWT_KEEPER_SEED ?? 20260515);
/** After the garbage run the wasm memory must stay below this (a 64 MiB input never gets in). */
const MEMORY_BOUND = 16 * MiB;

/** Runs `fn` and returns what it threw (fails if it returned). */
function thrown(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an exception');
}

function assertAuthError(e, code) {
  assert.ok(isAuthError(e), `not an AuthError: ${e}`);
  assert.ok(e instanceof AuthError && e instanceof Error);
  assert.equal(e.name, 'AuthError');
  assert.equal(e.code, code, `code ${e.code} (${e.message}), expected ${code}`);
}

/** Grows a wasm memory as far as the engine allows. */
function growToMaximum(memory) {
  for (let step = 65536; step >= 1; ) {
    try {
      memory.grow(step);
    } catch {
      step >>= 1;
    }
  }
}

const independentDecode = (token) => {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
};

const tempDirs = [];
after(() => {
  for (const t of tempDirs) t.remove();
});

describe('RFC 7515 A.3', () => {
  test('verifies with now before exp, with the JWK, the PEM and a JWKS', () => {
    assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), A3_PAYLOAD);
    assert.deepEqual(verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW }), A3_PAYLOAD);
    assert.deepEqual(verifyJwt(A3_TOKEN, { keys: [A3_JWK] }, { now: A3_NOW }), A3_PAYLOAD);
  });

  test('fails expired with the system clock and past exp + leeway, with the JWK and the PEM', () => {
    for (const key of [A3_JWK, A3_PEM]) {
      assertAuthError(thrown(() => verifyJwt(A3_TOKEN, key)), 'expired');
      assertAuthError(thrown(() => verifyJwt(A3_TOKEN, key, {})), 'expired');
      assertAuthError(thrown(() => verifyJwt(A3_TOKEN, key, { now: A3_EXP + 30 })), 'expired');
      assert.deepEqual(verifyJwt(A3_TOKEN, key, { now: A3_EXP + 29 }), A3_PAYLOAD);
      assertAuthError(thrown(() => verifyJwt(A3_TOKEN, key, { now: A3_EXP, leeway: 0 })), 'expired');
    }
  });

  test('node.js and index.js are the same package: one AuthError class, same results', async () => {
    // The browser entry loads the verifier only through init(); in Node it reads the file.
    await indexEntry.default();
    assert.equal(indexEntry.AuthError, AuthError);
    assert.equal(indexEntry.isAuthError, isAuthError);
    assert.deepEqual(indexEntry.verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW }), A3_PAYLOAD);
    assert.deepEqual(indexEntry.decodeJwt(A3_TOKEN), { header: A3_HEADER, payload: A3_PAYLOAD });
  });

  test('the default init() of node.js returns a promise, is idempotent and changes nothing', async () => {
    const p = nodeInit();
    assert.ok(p instanceof Promise);
    await Promise.all([p, nodeInit(), nodeInit(readFileSync(WASM))]);
    assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), A3_PAYLOAD);
  });
});

describe('trap recovery', () => {
  // Runs early, while the allocator has little free space: once the memory cannot grow any
  // more, a 3 MB allocation (a 1 Mi-character non-ASCII token) must fail inside wasm.
  test('a failed allocation traps, the call throws AuthError internal, the next call works', async () => {
    verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
    for (let round = 1; round <= 2; round++) {
      const before = await glueInit();
      assert.ok(before.memory instanceof WebAssembly.Memory, 'the glue init() gives the wasm exports');
      growToMaximum(before.memory);
      const grown = before.memory.buffer.byteLength;
      assert.ok(grown >= 1024 * MiB, `memory grew to ${grown} bytes only`);

      const e = thrown(() => verifyJwt('\u00e9'.repeat(MiB), A3_JWK, { now: A3_NOW, maxTokenBytes: MiB }));
      assertAuthError(e, 'internal');
      assert.ok(e.cause instanceof WebAssembly.RuntimeError, `cause is ${e.cause}: the call did not trap`);

      assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), A3_PAYLOAD, `round ${round}: no recovery`);
      assert.deepEqual(decodeJwt(A3_TOKEN).payload, A3_PAYLOAD);
      const afterwards = await glueInit();
      assert.notEqual(afterwards, before, 'a new instance replaced the trapped one');
      assert.notEqual(afterwards.memory, before.memory);
      assert.ok(afterwards.memory.buffer.byteLength < 16 * MiB, 'the new instance has a fresh memory');
    }
  });
});

describe('jose fixtures', () => {
  test('every case gives exactly the expected result', (t) => {
    const results = runFixtureCases(nodeEntry, fixtures);
    assert.deepEqual(fixtureMismatches(fixtures, results), []);
    const ok = results.filter((r) => r.result === 'ok').length;
    t.diagnostic(`${results.length} fixture cases agree (${ok} ok, ${results.length - ok} rejected with the expected code)`);
    assert.ok(results.length >= 200, `only ${results.length} cases`);
  });

  test('verifyJwtAsync (the client core and WebCrypto) gives the same result as verifyJwt for every case', async (t) => {
    const expected = runFixtureCases(nodeEntry, fixtures);
    const differ = [];
    for (const [i, c] of fixtures.cases.entries()) {
      let result;
      try {
        const payload = await nodeEntry.verifyJwtAsync(c.token, fixtures.keys[c.key], c.options);
        result = { name: c.name, result: 'ok', payload };
      } catch (e) {
        result = { name: c.name, result: isAuthError(e) && e instanceof AuthError ? e.code : `untyped: ${e}` };
      }
      if (JSON.stringify(result) !== JSON.stringify(expected[i])) differ.push(`${c.name}: ${result.result} vs ${expected[i].result}`);
    }
    assert.deepEqual(differ, []);
    t.diagnostic(`${fixtures.cases.length} cases: verifyJwtAsync and verifyJwt agree`);
  });

  test('verifyJwtAsync: wrong argument types reject with AuthError, never throw', async () => {
    const h = hugeValues();
    for (const [token, key, options] of [
      [null, A3_JWK, { now: A3_NOW }],
      [42, A3_JWK, undefined],
      [A3_TOKEN, null, { now: A3_NOW }],
      [A3_TOKEN, () => 1, { now: A3_NOW }],
      [A3_TOKEN, A3_JWK, 5],
      [A3_TOKEN, A3_JWK, { now: A3_NOW, audiance: 'x' }],
      [A3_TOKEN, A3_JWK, { now: Infinity }],
      [h.token64MiB, A3_JWK, { now: A3_NOW }],
      [A3_TOKEN, h.str64MiB, { now: A3_NOW }],
    ]) {
      let p;
      assert.doesNotThrow(() => {
        p = nodeEntry.verifyJwtAsync(token, key, options);
      });
      const e = await p.then(() => assert.fail('resolved'), (error) => error);
      assert.ok(isAuthError(e) && ['malformed', 'bad_key'].includes(e.code), `${e}`);
    }
    assert.deepEqual(await nodeEntry.verifyJwtAsync(A3_TOKEN, A3_PEM, { now: A3_NOW }), A3_PAYLOAD);
  });
});

describe('decodeJwt', () => {
  test('decodes the A3 token without checking exp or signature', () => {
    assert.deepEqual(decodeJwt(A3_TOKEN), { header: A3_HEADER, payload: A3_PAYLOAD });
  });

  test('decodes every well-formed fixture token as an independent decoder does, whatever its alg', (t) => {
    let decoded = 0;
    const algs = new Set();
    for (const c of fixtures.cases) {
      let r;
      try {
        r = decodeJwt(c.token);
      } catch (e) {
        assertAuthError(e, 'malformed');
        continue;
      }
      decoded++;
      assert.deepEqual(r, independentDecode(c.token), c.name);
      algs.add(r.header.alg);
      if (c.expect === 'ok') assert.deepEqual(r.payload, c.payload, c.name);
    }
    for (const alg of ['ES384', 'RS256', 'PS256', 'EdDSA', 'HS256', 'none']) assert.ok(algs.has(alg), `no ${alg} token decoded`);
    t.diagnostic(`${decoded} of ${fixtures.cases.length} fixture tokens decoded; algs ${[...algs].map((a) => JSON.stringify(a)).join(" ")}`);
  });

  test('rejects structurally malformed fixture tokens with malformed', () => {
    const structural =
      /padding|stray trailing bits|instead of|standard base64|non-ASCII character|space inside|trailing newline|^empty string$|segments$|only dots|is not JSON|is a JSON|JSON null|trailing data|not UTF-8|lone .*surrogate|^duplicate|nested 100 levels|16385 bytes|under the default size limit/;
    const cases = fixtures.cases.filter((c) => structural.test(c.name));
    assert.ok(cases.length >= 35, `only ${cases.length} structural cases found in the fixtures`);
    for (const c of cases) assertAuthError(thrown(() => decodeJwt(c.token)), 'malformed');
  });

  test('rejects other malformed input with malformed', () => {
    const [h, p, s] = A3_TOKEN.split('.');
    const bad = [
      '', '.', '..', '...', 'a.b', h, `${h}.${p}`, `${A3_TOKEN}.`, `${A3_TOKEN}.x`, `.${p}.${s}`, `${h}..${s}`,
      `${h}=.${p}.${s}`, `${h}.${p}=.${s}`, `${h}.${p}.${s}=`, `${h}.${p}.${s.replace('-', '+')}`, ` ${A3_TOKEN}`,
      `${b64url('{')}.${p}.${s}`, `${h}.${b64url('[1]')}.${s}`, `${h}.${b64url('{"a":1,"a":2}')}.${s}`,
      `${b64url('{"alg":"ES256","alg":"none"}')}.${p}.${s}`, `${h}.${b64url('{"a":1} x')}.${s}`,
      `${h}\u00e9.${p}.${s}`, `${h}.${p}.${s}\ud800`, `${h}.${p}\n.${s}`, 'x'.repeat(16385), nestedHeaderToken(),
    ];
    for (const token of bad) assertAuthError(thrown(() => decodeJwt(token)), 'malformed');
    for (const v of [undefined, null, 5, {}, [A3_TOKEN], new String(A3_TOKEN), Symbol('t'), 1n]) {
      assertAuthError(thrown(() => decodeJwt(v)), 'malformed');
    }
  });
});

describe('AuthError and isAuthError', () => {
  test('errors are AuthError instances with a stable code', () => {
    const e1 = thrown(() => verifyJwt(A3_TOKEN, A3_JWK));
    const e2 = thrown(() => verifyJwt(A3_TOKEN, A3_JWK));
    assertAuthError(e1, 'expired');
    assert.equal(e2.code, e1.code);
    assert.notEqual(e1, e2);
    assert.match(String(e1), /^AuthError: /);
    assert.equal(typeof e1.message, 'string');
    assert.ok(e1.message.length > 0);
    assertAuthError(thrown(() => verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW, audience: 'x' })), 'claim_mismatch');
    assertAuthError(thrown(() => verifyJwt(A3_TOKEN, { keys: [] }, { now: A3_NOW })), 'no_matching_key');
    assertAuthError(thrown(() => verifyJwt(A3_TOKEN, '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n', { now: A3_NOW })), 'bad_key');
  });

  test('the constructor keeps known codes and maps unknown ones to internal', () => {
    const e = new AuthError('expired', 'm', { cause: 1 });
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'AuthError');
    assert.equal(e.code, 'expired');
    assert.equal(e.message, 'm');
    assert.equal(e.cause, 1);
    assert.equal(new AuthError('nonsense', 'm').code, 'internal');
    assert.equal(isAuthError(e), true);
  });

  test('isAuthError recognises an AuthError from another realm, and nothing else', () => {
    const foreign = vm.runInContext(
      `class AuthError extends Error {
         constructor(code, message) { super(message); this.name = 'AuthError'; this.code = code; }
         get [Symbol.for('jwt-keeper.AuthError')]() { return true; }
       }
       ({
         error: new AuthError('expired', 'from another realm'),
         plainError: Object.assign(new Error('x'), { code: 'expired', name: 'AuthError' }),
         codeOnly: { code: 'expired', name: 'AuthError', message: 'x' },
         brandNotTrue: { code: 'expired', [Symbol.for('jwt-keeper.AuthError')]: 'yes' },
         unknownCode: Object.assign(new AuthError('x', 'y'), { code: 'nonsense' }),
       })`,
      vm.createContext({}),
    );
    assert.equal(foreign.error instanceof Error, false, 'the object really is from another realm');
    assert.equal(isAuthError(foreign.error), true);
    assert.equal(isAuthError(foreign.plainError), false);
    assert.equal(isAuthError(foreign.codeOnly), false);
    assert.equal(isAuthError(foreign.brandNotTrue), false);
    assert.equal(isAuthError(foreign.unknownCode), false);
    for (const v of [new Error('x'), Object.assign(new Error('x'), { code: 'expired' }), { code: 'expired' }, { [BRAND]: true }, null, undefined, 'AuthError', 0, Symbol('x'), AuthError]) {
      assert.equal(isAuthError(v), false, String(typeof v === 'symbol' ? 'symbol' : v));
    }
  });

  test('isAuthError never throws, even for a Proxy that throws on every trap', () => {
    const handler = new Proxy({}, { get: () => () => { throw new Error('hostile'); } });
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const getter = { code: 'expired', get [BRAND]() { throw new Error('hostile getter'); } };
    for (const v of [new Proxy({}, handler), new Proxy(function f() {}, handler), revocable.proxy, getter]) {
      assert.equal(isAuthError(v), false);
    }
  });
});

describe('no trap on garbage', () => {
  test(`seeded garbage to every export: only typed errors, memory stays below ${MEMORY_BOUND / MiB} MiB`, async (t) => {
    const h = hugeValues();
    const memoryBefore = (await glueInit()).memory.buffer.byteLength;
    // The 64 MiB inputs are refused before anything is copied into wasm.
    for (const call of [
      () => decodeJwt(h.str64MiB),
      () => verifyJwt(h.token64MiB, A3_JWK, { now: A3_NOW }),
      () => verifyJwt(h.token64MiB, A3_JWK, { now: A3_NOW, maxTokenBytes: MiB }),
      () => verifyJwt(A3_TOKEN, h.str64MiB, { now: A3_NOW }),
    ]) {
      const e = thrown(call);
      assert.ok(isAuthError(e) && e.code !== 'internal', `${e}`);
    }
    assertAuthError(thrown(() => verifyJwt(h.token64MiB, A3_JWK, { now: A3_NOW })), 'malformed');
    assert.ok((await glueInit()).memory.buffer.byteLength - memoryBefore < MiB, 'a 64 MiB input reached wasm memory');

    const started = Date.now();
    const stats = await runGarbage({ decodeJwt, verifyJwt, isAuthError, AuthError, init: nodeInit }, { seed: SEED, iterations: 5000, huge: true });
    const ms = Date.now() - started;
    t.diagnostic(`seed ${SEED}: ${stats.calls} calls in ${ms} ms, ${stats.returned} returned, codes ${JSON.stringify(stats.codes)}`);
    assert.deepEqual(stats.failures, [], `${stats.failureCount} calls misbehaved (seed ${SEED})`);
    assert.ok(stats.calls >= 5000);

    assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), A3_PAYLOAD, 'A3 still verifies afterwards');
    const memory = (await glueInit()).memory.buffer.byteLength;
    t.diagnostic(`wasm memory: ${(memoryBefore / MiB).toFixed(1)} MiB before, ${(memory / MiB).toFixed(1)} MiB after`);
    assert.ok(memory < MEMORY_BOUND, `wasm memory is ${memory} bytes after the run`);
  });

  test('garbage options are refused as malformed, unknown names included', () => {
    for (const o of [{ leeway: 1e9 }, { leeway: -1 }, { leeway: '30' }, { leeway: 301 }, { unknown: 1 }, { Now: 1 }, { now: -1 }, { now: '1300819000' }, { maxTokenBytes: 0 }, { maxTokenBytes: MiB + 1 }, { issuer: 5 }, { audience: [] }]) {
      assertAuthError(thrown(() => verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW, ...o })), 'malformed');
    }
    for (const o of [5, 'now', true, () => {}, Symbol('o'), 1n]) assertAuthError(thrown(() => verifyJwt(A3_TOKEN, A3_JWK, o)), 'malformed');
    assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW, leeway: 300, maxTokenBytes: MiB }), A3_PAYLOAD);
  });

  test('100000 nested [ in the header is malformed, even with a raised size limit', () => {
    assertAuthError(thrown(() => verifyJwt(nestedHeaderToken(), A3_JWK, { now: A3_NOW, maxTokenBytes: 262144 })), 'malformed');
    assert.deepEqual(verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), A3_PAYLOAD);
  });
});

describe('Node and SSR', () => {
  const imports = `
    import { A3_TOKEN, A3_JWK, A3_PEM, A3_NOW } from ${JSON.stringify(fileUrl(`${PAGES}/vectors.mjs`))};
    import { readFileSync } from 'node:fs';
    const WASM = ${JSON.stringify(WASM)};
    const describe = (e) => ({ code: e?.code, name: e?.name, message: e?.message, isAuthError: e?.[Symbol.for('jwt-keeper.AuthError')] === true });
  `;

  test('importing and using node.js touches no browser global', async () => {
    const { status, stderr, json } = await runNode(`
      const touched = [];
      for (const name of ['window', 'document', 'localStorage', 'sessionStorage', 'self', 'location', 'navigator']) {
        Object.defineProperty(globalThis, name, {
          configurable: true,
          get() { touched.push(name); throw new Error('SSR: ' + name + ' was touched'); },
        });
      }
      const { A3_TOKEN, A3_JWK, A3_PEM, A3_NOW } = await import(${JSON.stringify(fileUrl(`${PAGES}/vectors.mjs`))});
      const m = await import(${JSON.stringify(fileUrl(`${PKG}/node.js`))});
      await import(${JSON.stringify(fileUrl(`${PKG}/index.js`))});
      const payload = m.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
      const payloadPem = m.verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW });
      const decoded = m.decodeJwt(A3_TOKEN);
      let expired;
      try { m.verifyJwt(A3_TOKEN, A3_JWK); } catch (e) { expired = m.isAuthError(e) && e.code; }
      await m.default();
      console.log(JSON.stringify({ touched, payload, payloadPem, decoded, expired }));
    `);
    assert.equal(status, 0, stderr);
    assert.deepEqual(json.touched, []);
    assert.deepEqual(json.payload, A3_PAYLOAD);
    assert.deepEqual(json.payloadPem, A3_PAYLOAD);
    assert.deepEqual(json.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
    assert.equal(json.expired, 'expired');
  });

  test('dpop: true in Node (no IndexedDB) rejects unsupported; a dpop that is not a boolean is malformed', async () => {
    const options = { publicKey: A3_JWK, refresh: { url: 'https://as.test/token', clientId: 'c' } };
    const e = await nodeEntry.createAuthClient({ ...options, dpop: true }).then(() => null, (err) => err);
    assertAuthError(e, 'unsupported');
    const bad = await nodeEntry.createAuthClient({ ...options, dpop: 'yes' }).then(() => null, (err) => err);
    assertAuthError(bad, 'malformed');
    assert.match(bad.message, /dpop/);
    const plain = await nodeEntry.createAuthClient({ ...options, dpop: false });
    assert.equal(plain.isAuthenticated, false);
    plain.dispose();
  });

  test('importing reads nothing: without the .wasm file import works, calls throw AuthError internal', async () => {
    const copy = copyPkg({ without: ['verify/jwt_keeper_bg.wasm'] });
    tempDirs.push(copy);
    const m = await import(fileUrl(`${copy.dir}/node.js`));
    assert.notEqual(m.AuthError, AuthError, 'a separate copy of the package');
    for (let i = 0; i < 2; i++) {
      const e = thrown(() => m.decodeJwt(A3_TOKEN));
      assert.ok(m.isAuthError(e) && isAuthError(e), 'isAuthError works across copies');
      assert.equal(e.code, 'internal');
      assert.ok(e.cause?.code === 'ENOENT', `cause: ${e.cause}`);
      assert.equal(thrown(() => m.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW })).code, 'internal');
    }
    let p;
    assert.doesNotThrow(() => {
      p = m.default();
    }, 'init() must report a missing file through its promise');
    await assert.rejects(p, (e) => m.isAuthError(e) && e.code === 'internal');
  });

  test('index.js before init(): AuthError internal telling to call init(); then init(bytes) works', async () => {
    const { status, stderr, json } = await runNode(`${imports}
      const m = await import(${JSON.stringify(fileUrl(`${PKG}/index.js`))});
      const out = {};
      try { m.decodeJwt(A3_TOKEN); } catch (e) { out.decode = { ...describe(e), viaIsAuthError: m.isAuthError(e) }; }
      try { m.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }); } catch (e) { out.verify = describe(e); }
      const p1 = m.default(readFileSync(WASM));
      const p2 = m.default(readFileSync(WASM));
      await Promise.all([p1, p2]);
      await m.default();
      out.payload = m.verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW });
      out.decoded = m.decodeJwt(A3_TOKEN);
      console.log(JSON.stringify(out));
    `);
    assert.equal(status, 0, stderr);
    assert.equal(json.decode.code, 'internal');
    assert.equal(json.decode.name, 'AuthError');
    assert.equal(json.decode.viaIsAuthError, true);
    assert.match(json.decode.message, /init\(\)/);
    assert.equal(json.verify.code, 'internal');
    assert.match(json.verify.message, /init\(\)/);
    assert.deepEqual(json.payload, A3_PAYLOAD);
    assert.deepEqual(json.decoded, { header: A3_HEADER, payload: A3_PAYLOAD });
  });

  test('index.js with a compiled WebAssembly.Module runs every fixture case', async () => {
    const { status, stderr, json } = await runNode(`${imports}
      import { runFixtureCases, fixtureMismatches } from ${JSON.stringify(fileUrl(`${PAGES}/run-fixtures.mjs`))};
      const m = await import(${JSON.stringify(fileUrl(`${PKG}/index.js`))});
      await m.default(new WebAssembly.Module(readFileSync(WASM)));
      const fixtures = JSON.parse(readFileSync(${JSON.stringify(FIXTURES)}, 'utf8'));
      const rs = fixtures.cases.find((c) => c.expect === 'ok' && c.token.startsWith('eyJhbGciOiJSUzI1NiI'));
      let beforeRsa;
      try { m.verifyJwt(rs.token, typeof rs.key === 'string' ? fixtures.keys[rs.key] : rs.key, rs.options); beforeRsa = 'returned'; } catch (e) { beforeRsa = { code: e.code, message: e.message }; }
      await m.initRsa(new WebAssembly.Module(readFileSync(${JSON.stringify(`${PKG}/verify/jwt_keeper_rsa_bg.wasm`)})));
      const mismatches = fixtureMismatches(fixtures, runFixtureCases(m, fixtures));
      console.log(JSON.stringify({ payload: m.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW }), mismatches, cases: fixtures.cases.length, beforeRsa }));
    `);
    assert.equal(status, 0, stderr);
    assert.deepEqual(json.payload, A3_PAYLOAD);
    // In a browser-style entry, RSA in the sync verifyJwt needs initRsa() first, and says so.
    assert.equal(json.beforeRsa.code, 'internal', JSON.stringify(json.beforeRsa));
    assert.match(json.beforeRsa.message, /initRsa/);
    assert.deepEqual(json.mismatches, []);
    assert.ok(json.cases >= 200);
  });

  test('index.js: a failed init() rejects with AuthError internal and a later init() still works', async () => {
    const { status, stderr, json } = await runNode(`${imports}
      const m = await import(${JSON.stringify(fileUrl(`${PKG}/index.js`))});
      const out = { rejections: [] };
      // In Node the default URL is a file: URL, which fetch() cannot load.
      for (const bad of [undefined, new Uint8Array([0, 97, 115, 109]), null, 42, 'http://127.0.0.1:9/x.wasm']) {
        try { await m.default(bad); out.rejections.push('resolved'); } catch (e) { out.rejections.push(m.isAuthError(e) ? e.code : 'untyped: ' + e); }
      }
      await m.default(readFileSync(WASM));
      out.payload = m.verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
      console.log(JSON.stringify(out));
    `);
    assert.equal(status, 0, stderr);
    assert.deepEqual(json.rejections, ['internal', 'internal', 'internal', 'internal', 'internal']);
    assert.deepEqual(json.payload, A3_PAYLOAD);
  });
});
