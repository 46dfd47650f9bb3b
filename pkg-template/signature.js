// The ECDSA arithmetic the client core asks for (its `verify` effect) once its own checks
// passed: WebCrypto where it exists, each key imported once; elsewhere (a page that is not a
// secure context) the verifier wasm, loaded on first need. Always settles, never rejects.
const keys = new Map();
const MAX_KEYS = 32;
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const ES256 = { name: 'ECDSA', hash: 'SHA-256' };

const base64url = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

function subtle() {
  try {
    const s = globalThis.crypto?.subtle;
    return s && typeof s.verify === 'function' ? s : null;
  } catch {
    return null;
  }
}

/**
 * Checks an ES256 signature: `jwk` (JSON text of a P-256 public JWK), `data` (the signed
 * ASCII text), `sig` (64 bytes r‖s, base64url). Resolves `valid`, `invalid`, `bad_key` (the
 * key does not import) or `unavailable`.
 */
export function checkSignature(jwk, data, sig) {
  const s = subtle();
  if (s === null) {
    return import('./verify/verifier.js').then((v) => v.p256Verify(jwk, data, sig)).catch(() => 'unavailable');
  }
  return new Promise((resolve) => {
    let key = keys.get(jwk);
    if (key === undefined) {
      key = s.importKey('jwk', JSON.parse(jwk), EC, false, ['verify']);
      keys.set(jwk, key);
      if (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value);
    }
    resolve(key);
  }).then(
    (key) =>
      s.verify(ES256, key, base64url(sig), new TextEncoder().encode(data)).then(
        (ok) => (ok ? 'valid' : 'invalid'),
        () => 'invalid',
      ),
    () => {
      keys.delete(jwk);
      return 'bad_key';
    },
  );
}
