// The ECDSA arithmetic the client core asks for (its `verify` effect) once its own checks
// passed: WebCrypto where it exists, each key imported once; elsewhere (a page that is not a
// secure context) the verifier wasm, loaded on first need. Always settles, never rejects.
const keys = new Map();
const MAX_KEYS = 32;
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const ES256 = { name: 'ECDSA', hash: 'SHA-256' };
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function subtle() {
  try {
    const s = globalThis.crypto?.subtle;
    return s && typeof s.verify === 'function' ? s : null;
  } catch {
    return null;
  }
}

const verifier = () => import('./verify/verifier.js');

// The key imported once per JWK text (a rejected import is forgotten, so it is tried again).
function imported(s, jwk) {
  let key = keys.get(jwk);
  if (key === undefined) {
    key = new Promise((resolve) => resolve(s.importKey('jwk', JSON.parse(jwk), EC, false, ['verify'])));
    key.catch(() => keys.delete(jwk));
    keys.set(jwk, key);
    if (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value);
  }
  return key;
}

/**
 * Checks an ES256 signature: `jwk` (JSON text of a P-256 public JWK), `data` (the signed
 * ASCII text), `sig` (r‖s, base64url). Resolves `valid`, `invalid`, `bad_key` (the key does
 * not import) or `unavailable` (nothing here can check it).
 */
export function checkSignature(jwk, data, sig) {
  const s = subtle();
  if (s === null) {
    return verifier().then(
      (v) => v.p256Verify(jwk, data, sig).catch(() => 'unavailable'),
      () => 'unavailable',
    );
  }
  return imported(s, jwk).then(
    (key) => {
      if (typeof sig !== 'string' || !BASE64URL.test(sig)) return 'invalid';
      let bytes;
      try {
        bytes = Uint8Array.from(atob(sig.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      } catch {
        return 'invalid';
      }
      return s.verify(ES256, key, bytes, new TextEncoder().encode(data)).then(
        (ok) => (ok ? 'valid' : 'invalid'),
        () => 'invalid',
      );
    },
    () => 'bad_key',
  );
}

/** Whether `jwk` imports (is a point on the curve); true when nothing here can tell. */
export function checkKey(jwk) {
  const s = subtle();
  if (s === null) {
    return verifier().then(
      (v) => v.p256Verify(jwk, '', '').then((r) => r !== 'bad_key', () => true),
      () => true,
    );
  }
  return imported(s, jwk).then(
    () => true,
    () => false,
  );
}
