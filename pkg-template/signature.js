// The signature arithmetic the client core asks for (its `verify` effect) once its own checks
// passed: WebCrypto where it exists, each (alg, key) imported once; elsewhere (a page that is
// not a secure context) the verifier wasm, loaded on first need. Always settles, never rejects.
const keys = new Map();
const MAX_KEYS = 32;
// WebCrypto's parameters per JWS alg (RFC 7518 §3.3-3.5): [importKey, verify].
const PARAMS = {
  ES256: [{ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }],
  RS256: [{ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, { name: 'RSASSA-PKCS1-v1_5' }],
  PS256: [{ name: 'RSA-PSS', hash: 'SHA-256' }, { name: 'RSA-PSS', saltLength: 32 }],
};
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

// The key imported once per (alg, JWK text): its promise, and the key itself once it is there
// (a rejected import is forgotten, so it is tried again).
function imported(s, alg, jwk) {
  const id = `${alg} ${jwk}`;
  let entry = keys.get(id);
  if (entry === undefined) {
    const e = { key: null, promise: null };
    e.promise = new Promise((resolve) => resolve(s.importKey('jwk', JSON.parse(jwk), PARAMS[alg][0], false, ['verify']))).then(
      (key) => {
        e.key = key;
        return key;
      },
      (error) => {
        if (keys.get(id) === e) keys.delete(id);
        throw error;
      },
    );
    e.promise.catch(() => {});
    keys.set(id, e);
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

function verifyWith(s, alg, key, data, sig) {
  const bytes = bytesOf(sig);
  if (bytes === null) return Promise.resolve('invalid');
  return s.verify(PARAMS[alg][1], key, bytes, encoder.encode(data)).then(
    (ok) => (ok ? 'valid' : 'invalid'),
    () => 'invalid',
  );
}

/**
 * Checks a signature of `alg` (`ES256`, `RS256` or `PS256`; another is `invalid`): `jwk` (JSON
 * text of a public JWK without `alg`), `data` (the signed ASCII text), `sig` (base64url).
 * Resolves `valid`, `invalid`, `bad_key` (the key does not import) or `unavailable` (nothing
 * here can check it).
 */
export function checkSignature(alg, jwk, data, sig) {
  if (!Object.hasOwn(PARAMS, alg)) return Promise.resolve('invalid');
  const s = subtle();
  if (s === null) {
    return verifier().then(
      (v) => v.signatureVerdict(alg, jwk, data, sig).catch(() => 'unavailable'),
      () => 'unavailable',
    );
  }
  let entry;
  try {
    entry = imported(s, alg, jwk);
  } catch {
    return Promise.resolve('bad_key');
  }
  try {
    if (entry.key !== null) return verifyWith(s, alg, entry.key, data, sig);
  } catch {
    return Promise.resolve('invalid');
  }
  return entry.promise.then(
    (key) => verifyWith(s, alg, key, data, sig),
    () => 'bad_key',
  );
}

/**
 * Whether `jwk` (a key the core accepted, JSON text) imports: for P-256, whether its point is
 * on the curve. An RSA key is imported as for RS256. True when nothing here can tell.
 */
export function checkKey(jwk) {
  let alg = 'ES256';
  try {
    if (JSON.parse(jwk).kty === 'RSA') alg = 'RS256';
  } catch {
    return Promise.resolve(false);
  }
  const s = subtle();
  if (s === null) {
    return verifier().then(
      (v) => v.signatureVerdict(alg, jwk, '', '').then((r) => r !== 'bad_key', () => true),
      () => true,
    );
  }
  try {
    return imported(s, alg, jwk).promise.then(
      () => true,
      () => false,
    );
  } catch {
    return Promise.resolve(false);
  }
}
