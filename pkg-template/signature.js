// The ECDSA arithmetic the client core asks for (its `verify` effect) once its own checks
// passed: WebCrypto where it exists, each key imported once; elsewhere (a page that is not a
// secure context) the verifier wasm, loaded on first need. Always settles, never rejects.
const keys = new Map();
const MAX_KEYS = 32;
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const ES256 = { name: 'ECDSA', hash: 'SHA-256' };
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();

function subtle() {
  try {
    const s = globalThis.crypto?.subtle;
    return s && typeof s.verify === 'function' ? s : null;
  } catch {
    return null;
  }
}

const verifier = () => import('./verify/verifier.js');

// The key imported once per JWK text: its promise, and the key itself once it is there (a
// rejected import is forgotten, so it is tried again).
function imported(s, jwk) {
  let entry = keys.get(jwk);
  if (entry === undefined) {
    const e = { key: null, promise: null };
    e.promise = new Promise((resolve) => resolve(s.importKey('jwk', JSON.parse(jwk), EC, false, ['verify']))).then(
      (key) => {
        e.key = key;
        return key;
      },
      (error) => {
        if (keys.get(jwk) === e) keys.delete(jwk);
        throw error;
      },
    );
    e.promise.catch(() => {});
    keys.set(jwk, e);
    if (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value);
    entry = e;
  }
  return entry;
}

// Strict base64url to bytes (the core sent it checked; this function keeps its own promise).
function bytesOf(sig) {
  if (typeof sig !== 'string' || !BASE64URL.test(sig) || sig.length % 4 === 1) return null;
  const text = atob(sig.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function verifyWith(s, key, data, sig) {
  const bytes = bytesOf(sig);
  if (bytes === null) return Promise.resolve('invalid');
  return s.verify(ES256, key, bytes, encoder.encode(data)).then(
    (ok) => (ok ? 'valid' : 'invalid'),
    () => 'invalid',
  );
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
  let entry;
  try {
    entry = imported(s, jwk);
  } catch {
    return Promise.resolve('bad_key');
  }
  try {
    if (entry.key !== null) return verifyWith(s, entry.key, data, sig);
  } catch {
    return Promise.resolve('invalid');
  }
  return entry.promise.then(
    (key) => verifyWith(s, key, data, sig),
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
  try {
    return imported(s, jwk).promise.then(
      () => true,
      () => false,
    );
  } catch {
    return Promise.resolve(false);
  }
}
