// A module Web Worker using the package: no window, no document.
import init, { AuthError, decodeJwt, initRsa, isAuthError, verifyJwt } from '/pkg/index.js';
import { fixtureMismatches, runFixtureCases } from './run-fixtures.mjs';
import { A3_JWK, A3_NOW, A3_PEM, A3_TOKEN } from './vectors.mjs';

const describeError = (e) => ({ name: e?.name, code: e?.code, message: e?.message, isAuthError: isAuthError(e), instanceOfAuthError: e instanceof AuthError });

async function main() {
  const out = { hasWindow: typeof window !== 'undefined', hasDocument: typeof document !== 'undefined', isWorker: typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope };
  try {
    decodeJwt(A3_TOKEN);
    out.beforeInit = 'returned';
  } catch (e) {
    out.beforeInit = describeError(e);
  }
  await init();
  await initRsa();
  out.a3 = verifyJwt(A3_TOKEN, A3_JWK, { now: A3_NOW });
  out.a3Pem = verifyJwt(A3_TOKEN, A3_PEM, { now: A3_NOW });
  try {
    verifyJwt(A3_TOKEN, A3_JWK);
  } catch (e) {
    out.withoutNow = describeError(e);
  }
  out.decoded = decodeJwt(A3_TOKEN);
  const fixtures = await (await fetch('/tests/fixtures/jose-tokens.json')).json();
  const good = fixtures.cases.find((c) => c.expect === 'ok' && c.key === 'main');
  out.fixture = { name: good.name, payload: verifyJwt(good.token, fixtures.keys.main, good.options), expected: good.payload };
  out.fixtureDecoded = decodeJwt(good.token);
  out.fixtureMismatches = fixtureMismatches(fixtures, runFixtureCases({ verifyJwt, AuthError, isAuthError }, fixtures));
  out.fixtureCount = fixtures.cases.length;
  return out;
}

main().then(
  (out) => postMessage(out),
  (e) => postMessage({ failed: describeError(e), stack: String(e?.stack) }),
);
