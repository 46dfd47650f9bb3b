// decodeJwt / verifyJwt on the verifier wasm (p256; RS256/PS256 signatures in the RSA module,
// ./rsa.js), and the signature check behind the client where WebCrypto is missing. Loaded
// only when one of them is used.
import * as glue from './jwt_keeper.js';
import { AuthError, rejectNonFinite } from '../errors.js';
import { wasmModule } from '../wasm.js';

const wasm = wasmModule(glue);
export const { init, setSyncLoader } = wasm;

// The RSA module, once imported (by initRsa, a fallback check, or Node's entry).
let rsa = null;
const rsaModule = () => import('./rsa.js').then((m) => (rsa = m));

/** Node: the RSA module, imported up front, reads its wasm synchronously. */
export function useRsa(module) {
  rsa = module;
}

/** Loads the RSA module for RS256/PS256 in the synchronous verifyJwt. Idempotent. */
export async function initRsa(input) {
  await (await rsaModule()).init(input);
}

const isRsa = (alg) => alg === 'RS256' || alg === 'PS256';

/** Reads a token's header and payload. Does NOT check the signature or any claim. */
export function decodeJwt(token) {
  return JSON.parse(wasm.call(glue.decodeJwt, token));
}

/**
 * Verifies an ES256, RS256 or PS256 token against `key` and checks its claims; returns the
 * payload. RS256/PS256 need the RSA module loaded (`initRsa()`; Node reads it by itself).
 */
export function verifyJwt(token, key, options) {
  rejectNonFinite(options);
  const r = JSON.parse(wasm.call(glue.verifyJwt, token, key, options));
  // The signature decides first: an error found after it counts only once it verified.
  if (r.verify !== null) {
    if (rsa === null) throw new AuthError('internal', 'RS256/PS256 in the synchronous verifyJwt need `await initRsa()` first (or use verifyJwtAsync)');
    const verdict = rsa.rsaVerdictSync(r.verify.alg, r.verify.jwk, r.verify.data, r.verify.sig);
    if (verdict === 'invalid') throw new AuthError('bad_signature', 'signature does not verify');
    if (verdict !== 'valid') throw new AuthError('bad_key', 'the RSA key does not import');
  }
  if (r.error !== null) throw new AuthError(r.error.code, r.error.message);
  return JSON.parse(r.payload);
}

/** The answer to the client core's `verify` effect, by p256 or rsa (`valid`, `invalid`, `bad_key`). */
export async function signatureVerdict(alg, jwk, data, sig) {
  if (isRsa(alg)) return (await rsaModule()).rsaVerdict(alg, jwk, data, sig);
  await wasm.init();
  return wasm.call(glue.signatureVerdict, alg, jwk, data, sig);
}

