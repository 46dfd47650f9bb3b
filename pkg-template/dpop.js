// DPoP (RFC 9449), loaded only for `createAuthClient({ dpop: true })`: the client core built
// with DPoP (jwt_keeper_core_dpop_bg.wasm), and the key that never leaves the browser. The
// core builds every proof; this file only keeps the key and signs what the core hands it.
//
// The key: an ECDSA P-256 pair made by WebCrypto with a non-extractable private key, kept in
// IndexedDB (database `jwt-keeper`, store `dpop-keys`, one record per client configuration, the
// name the core's setup gives) so that reloads and the origin's other tabs use the same key.
import { AuthError } from './errors.js';
import * as glue from './jwt_keeper_core_dpop.js';
import { wasmModule } from './wasm.js';

/** The DPoP core's loader (trap recovery as for the other modules) and its glue. */
const wasm = { core: wasmModule(glue), glue };

const DATABASE = 'jwt-keeper';
const STORE = 'dpop-keys';
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };

const unsupported = (cause) =>
  new AuthError('unsupported', 'dpop: true needs WebCrypto and IndexedDB (a secure context that may store data)', { cause });

/**
 * The DPoP core, where this runtime can keep a DPoP key at all.
 * @throws {AuthError} `unsupported` without WebCrypto or IndexedDB
 */
export function load() {
  let available = false;
  try {
    available = typeof globalThis.crypto?.subtle?.generateKey === 'function' && typeof globalThis.indexedDB?.open === 'function';
  } catch {
    // a getter that throws: not available
  }
  if (!available) throw unsupported();
  return wasm;
}

const settled = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

function openDatabase() {
  const request = indexedDB.open(DATABASE, 1);
  request.onupgradeneeded = () => {
    if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
  };
  return settled(request);
}

function transact(db, mode, fn) {
  const tx = db.transaction(STORE, mode);
  return settled(fn(tx.objectStore(STORE)));
}

// A record made by this module: a signing private key that cannot be exported, and its
// public key. Anything else under the name (a damaged record) is replaced.
const usable = (r) =>
  r !== null && typeof r === 'object' &&
  r.privateKey instanceof CryptoKey && r.publicKey instanceof CryptoKey &&
  r.privateKey.type === 'private' && r.privateKey.extractable === false &&
  r.privateKey.algorithm?.name === 'ECDSA' && r.privateKey.algorithm?.namedCurve === 'P-256' &&
  r.privateKey.usages.includes('sign');

/**
 * The key of configuration `name`: read from IndexedDB, or made and stored. Two tabs making
 * one at once keep the first stored (`add` refuses the second). Resolves with `{ jwk, sign }`:
 * the public JWK for the core, and `sign(input)` → the compact JWS of a proof.
 * @throws {AuthError} `unsupported`
 */
export async function dpopKey(name) {
  let record;
  try {
    const db = await openDatabase();
    try {
      record = await transact(db, 'readonly', (s) => s.get(name));
      if (!usable(record)) {
        const made = await crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
        const fresh = { privateKey: made.privateKey, publicKey: made.publicKey };
        if (record === undefined) {
          try {
            await transact(db, 'readwrite', (s) => s.add(fresh, name));
            record = fresh;
          } catch {
            // Another tab stored its key first: that one is the configuration's key.
            record = await transact(db, 'readonly', (s) => s.get(name));
          }
        } else {
          await transact(db, 'readwrite', (s) => s.put(fresh, name));
          record = fresh;
        }
        if (!usable(record)) throw new Error('no usable DPoP key in IndexedDB');
      }
    } finally {
      db.close();
    }
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', record.publicKey);
    const { privateKey } = record;
    const sign = async (input) => {
      const signature = await crypto.subtle.sign(SIGNING, privateKey, new TextEncoder().encode(input));
      return `${input}.${base64url(new Uint8Array(signature))}`;
    };
    return { jwk: { kty, crv, x, y }, sign, fetch: (request, token, ask) => dpopFetch(request, token, ask, sign) };
  } catch (cause) {
    throw unsupported(cause);
  }
}

/**
 * `client.fetch` with DPoP: `Authorization: DPoP` and a proof the core built for this request
 * (`ask` feeds the client core). The core decides on a 401 or a new nonce: `nonce` (replay with
 * the nonce, once), `refresh` (a new token, then replay, once) or `done`.
 */
async function dpopFetch(original, token, ask, sign) {
  const send = async (t) => {
    const input = await ask({ t: 'proof', method: original.method, url: original.url, token: t });
    const headers = new Headers(original.headers);
    headers.set('Authorization', `DPoP ${t}`);
    headers.set('DPoP', await sign(input));
    // An options bag without a prototype: a polluted Object.prototype adds nothing.
    return fetch(new Request(original.clone(), Object.assign(Object.create(null), { headers })));
  };
  let response = await send(token);
  let nonceDone = false;
  let refreshDone = false;
  for (;;) {
    const nonce = response.headers.get('DPoP-Nonce');
    // Only a 401 or a new nonce can change anything; every other answer is the app's.
    if (response.status !== 401 && nonce === null) return response;
    const facts = { t: 'resource', url: original.url, status: response.status, challenge: response.headers.get('WWW-Authenticate'), nonce, nonceDone, refreshDone };
    try {
      const step = await ask(facts);
      if (step === 'nonce') {
        nonceDone = true;
      } else if (step === 'refresh') {
        refreshDone = true;
        token = await ask({ t: 'unauthorized', token });
      } else {
        return response;
      }
    } catch {
      return response;
    }
    response = await send(token);
  }
}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

