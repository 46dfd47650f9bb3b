// Loads the wasm in the way named by ?mode=… and reports: window.initResult (a promise).
import init, { AuthError, decodeJwt, isAuthError, verifyJwt } from '/pkg/index.js';
import { A3_JWK, A3_NOW, A3_TOKEN } from './vectors.mjs';

const WASM_PATH = '/pkg/verify/jwt_keeper_bg.wasm';
const describeError = (e) => ({ name: e?.name, code: e?.code, message: e?.message, isAuthError: isAuthError(e), instanceOfAuthError: e instanceof AuthError });

const modes = {
  none: () => init(),
  'url-string': () => init(WASM_PATH),
  'url-object': () => init(new URL(WASM_PATH, location.href)),
  'response-promise': () => init(fetch(WASM_PATH)),
  response: async () => init(await fetch(WASM_PATH)),
  arraybuffer: async () => init(await (await fetch(WASM_PATH)).arrayBuffer()),
  uint8array: async () => init(new Uint8Array(await (await fetch(WASM_PATH)).arrayBuffer())),
  module: async () => init(await WebAssembly.compileStreaming(fetch(WASM_PATH))),
};

async function run(mode, out) {
  if (mode === 'concurrent') {
    const p1 = init();
    const p2 = init();
    out.samePromise = p1 === p2;
    await Promise.all([p1, p2, init()]);
    await init();
    await init(WASM_PATH);
    return;
  }
  if (mode === 'bad-then-good') {
    out.rejections = [];
    const bads = [
      () => '/no-such-file.wasm', () => new Uint8Array([0, 97, 115, 109, 1]), () => new ArrayBuffer(0), () => null,
      () => 42, () => Symbol('x'), () => ({}), () => Promise.reject(new Error('no')), () => fetch('/no-such-file.wasm'),
    ];
    for (const bad of bads) {
      try {
        await init(bad());
        out.rejections.push('resolved');
      } catch (e) {
        out.rejections.push(isAuthError(e) && e instanceof AuthError ? e.code : `untyped: ${e}`);
      }
    }
    await init();
    return;
  }
  const load = modes[mode];
  if (!load) throw new Error(`unknown mode ${mode}`);
  const ret = load();
  out.returnsPromise = ret instanceof Promise;
  out.resolvedWith = await ret;
}

window.initResult = (async () => {
  const mode = new URLSearchParams(location.search).get('mode');
  const out = { mode };
  try {
    decodeJwt(A3_TOKEN);
    out.beforeInit = 'returned';
  } catch (e) {
    out.beforeInit = describeError(e);
  }
  try {
    await run(mode, out);
    out.payload = verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
    out.decoded = decodeJwt(A3_TOKEN);
    try {
      verifyJwt(A3_TOKEN, A3_JWK);
    } catch (e) {
      out.withoutNow = describeError(e);
    }
  } catch (e) {
    out.failed = describeError(e);
    out.failedCause = String(e?.cause);
  }
  return out;
})();
