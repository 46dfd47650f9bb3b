// verifyJwtAsync: the client core's checks (the session client's own path), the signature's
// arithmetic by WebCrypto where it exists, by the verifier wasm elsewhere.
import { AuthError, rejectNonFinite } from './errors.js';
import { MAX_KEY_CHARS, core, finite, glue, keyText } from './core.js';
import { checkSignature } from './signature.js';

// The longest token the core could take (maxTokenBytes at most 1 MiB); cut after it, so a huge
// string is refused without being copied whole into wasm.
const MAX_TOKEN_CHARS = 1 << 20;

function optionsText(options) {
  if (options === undefined || options === null) return '';
  if (typeof options !== 'object') return '!';
  try {
    const text = JSON.stringify(options, finite) ?? '!';
    return text.length > MAX_KEY_CHARS ? text.slice(0, MAX_KEY_CHARS + 1) : text;
  } catch {
    return '!';
  }
}

/**
 * Verifies like `verifyJwt` (the same checks, in the same order), with the signature checked
 * by WebCrypto where it exists; the session client's path. Resolves with the payload.
 * @throws {AuthError}
 */
export async function verifyJwtAsync(token, key, options) {
  rejectNonFinite(options);
  const opts = optionsText(options);
  const [keyData, kind] = keyText(key);
  const isString = typeof token === 'string';
  const text = isString ? token.slice(0, MAX_TOKEN_CHARS + 1) : '';
  await core.init();
  const r = JSON.parse(core.call(glue.checkJwt, text, isString, keyData, kind, opts, Date.now() / 1000));
  if (r.verify !== null) {
    const verdict = await checkSignature(r.verify.alg, r.verify.jwk, r.verify.data, r.verify.sig);
    if (verdict === 'invalid') throw new AuthError('bad_signature', 'signature does not verify');
    if (verdict === 'bad_key') throw new AuthError('bad_key', 'public key does not import (a P-256 point off the curve)');
    if (verdict !== 'valid') throw new AuthError('internal', 'the signature could not be checked: no WebCrypto, and the verifier module failed');
  }
  if (r.error !== null) throw new AuthError(r.error.code, r.error.message);
  return JSON.parse(r.payload);
}
