// Wycheproof cases (ECDSA P-256 P1363, RSASSA-PKCS1-v1_5 and RSA-PSS with SHA-256) through
// both answers to the client core's `verify` effect: checkSignature (WebCrypto on a secure
// page) and signatureVerdict (the verifier wasm). The test reads the vectors and builds the
// inputs; this page only runs them.
import { checkSignature } from '/pkg/signature.js';
import { signatureVerdict } from '/pkg/verify/verifier.js';
import { describeError, environment, ready } from './common.mjs';

/** One path's verdict as a string; a throw or rejection becomes `threw: …`. */
async function verdict(fn) {
  try {
    return String(await fn());
  } catch (e) {
    const d = describeError(e);
    return `threw: ${d.name} ${d.code ?? ''} ${d.message ?? ''}`.trim();
  }
}

/** `cases`: [{ tcId, alg, jwk (JSON text), data (string), sig (base64url) }]. */
async function run(cases) {
  const started = performance.now();
  const results = [];
  for (const c of cases) {
    const webcrypto = await verdict(() => checkSignature(c.alg, c.jwk, c.data, c.sig));
    const wasm = await verdict(() => signatureVerdict(c.alg, c.jwk, c.data, c.sig));
    results.push({ tcId: c.tcId, webcrypto, wasm });
  }
  return { env: environment(), ms: Math.round(performance.now() - started), results };
}

ready({ environment, run });
