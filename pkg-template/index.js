// jwt-keeper: browsers, bundlers and Web Workers. Touches no global until a function is called.
// Start-up loads the client core only; the verifier (decodeJwt, verifyJwt: p256 in wasm) loads
// with init(), and by itself where WebCrypto is missing.
import { AuthError } from './errors.js';

export { AuthError, isAuthError } from './errors.js';
export { createAuthClient } from './client.js';
export { verifyJwtAsync } from './async.js';

let verifier = null;
let loading = null;

/** Loads the verifier for the synchronous decodeJwt/verifyJwt. Idempotent. */
export default function init(input) {
  if (loading === null) {
    // A rejected promise given as `input` is observed now, not only once the module loaded.
    try {
      if (typeof input?.then === 'function') Promise.resolve(input).catch(() => {});
    } catch {
      // the verifier's init reports what is wrong with `input`
    }
    loading = import('./verify/verifier.js')
      .then((v) => v.init(input).then(() => {
        verifier = v;
      }))
      .catch((e) => {
        loading = null;
        throw e instanceof AuthError ? e : new AuthError('internal', 'could not load the jwt-keeper verifier', { cause: e });
      });
  }
  return loading;
}

/**
 * Loads the RSA module for RS256/PS256 in the synchronous verifyJwt (and the verifier with
 * it). Idempotent. Not needed for createAuthClient or verifyJwtAsync (WebCrypto).
 */
export async function initRsa(input) {
  await init();
  await verifier.initRsa(input);
}

function loaded() {
  if (verifier === null) throw new AuthError('internal', 'jwt-keeper is not loaded yet: call `await init()` first');
  return verifier;
}

/** Reads a token's header and payload. Does NOT check the signature or any claim. */
export function decodeJwt(token) {
  return loaded().decodeJwt(token);
}

/** Verifies an ES256, RS256 or PS256 token against `key` and checks its claims; returns the payload. */
export function verifyJwt(token, key, options) {
  return loaded().verifyJwt(token, key, options);
}
