// verifyJwtAsync: the verifier's checks (loaded on first use), the signature's arithmetic by
// WebCrypto where it exists (the session client's path), by the verifier wasm elsewhere.
import { AuthError, rejectNonFinite } from './errors.js';
import { checkSignature } from './signature.js';

let verifier = null;
async function load() {
  const v = await import('./verify/verifier.js');
  await v.init();
  verifier = v;
  return v;
}

/**
 * Verifies like `verifyJwt` (the same checks, in the same order), with the signature checked
 * by WebCrypto where it exists; the session client's path. Resolves with the payload.
 * @throws {AuthError}
 */
export async function verifyJwtAsync(token, key, options) {
  rejectNonFinite(options);
  const v = verifier ?? (await load());
  const r = v.checkJwt(token, key, options);
  if (r.verify !== null) {
    const verdict = await checkSignature(r.verify.jwk, r.verify.data, r.verify.sig);
    if (verdict === 'invalid') throw new AuthError('bad_signature', 'signature does not verify');
    if (verdict === 'bad_key') throw new AuthError('bad_key', 'public key point is not on the P-256 curve');
    if (verdict !== 'valid') throw new AuthError('internal', 'the signature could not be checked: no WebCrypto, and the verifier module failed');
  }
  if (r.error !== null) throw new AuthError(r.error.code, r.error.message);
  return JSON.parse(r.payload);
}
