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

/** How long a JWKS read may take. */
const JWKS_TIMEOUT_MS = 10_000;
/** JWKS URLs whose keys are kept (the oldest is dropped beyond). */
const MAX_URLS = 16;
/** Reads one check may wait for (discovery of a new kid, then a stale set): a bound, not a rule. */
const MAX_ROUNDS = 4;
const monotonic = () => (typeof performance === 'object' && typeof performance.now === 'function' ? performance.now() : Date.now());

// Per JWKS URL: the core's key cache and the read in flight; dropped with the instance.
const remotes = new Map();

function remoteFor(url) {
  let entry = remotes.get(url);
  if (entry === undefined || entry.generation !== core.generation()) {
    entry = { keys: core.call(() => new glue.WasmKeys(url)), generation: core.generation(), reading: null };
    remotes.delete(url);
    remotes.set(url, entry);
    if (remotes.size > MAX_URLS) remotes.delete(remotes.keys().next().value);
  }
  return entry;
}

// Reads the JWKS the core asked for and reports how it ended; never rejects.
function read(entry, { fetch: url, id }) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, JWKS_TIMEOUT_MS);
  const report = (status, body) => {
    clearTimeout(timer);
    if (entry.generation === core.generation()) core.call(() => entry.keys.answered(id, status, body, timedOut, monotonic()));
  };
  return new Promise((resolve) => resolve(fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', signal: controller.signal })))
    .then(async (response) => report(response.status, await response.text()))
    .catch(() => report(0, ''));
}

// checkJwt against the keys at a JWKS URL, performing the reads the core asks for.
async function checkRemote(url, text, isString, opts) {
  const entry = remoteFor(url);
  for (let round = 0; ; round += 1) {
    const r = JSON.parse(core.call(() => entry.keys.check(text, isString, opts, Date.now() / 1000, monotonic())));
    if (r.fetch === undefined && r.wait === undefined) return r;
    if (round >= MAX_ROUNDS) throw new AuthError('network', 'the JWKS could not be read');
    if (r.fetch !== undefined) entry.reading = read(entry, r).finally(() => (entry.reading = null));
    await entry.reading;
  }
}

const isUrl = (key) => (typeof key === 'string' && /^https?:\/\//.test(key)) || (typeof URL === 'function' && key instanceof URL);

/**
 * Verifies like `verifyJwt` (the same checks, in the same order), with the signature checked
 * by WebCrypto where it exists; the session client's path. `key` may also be the URL of a
 * JWKS (string or `URL`): read on first need and kept, read again for an unknown `kid` (at
 * most once per 30 s) and after 10 minutes; a failed read is `network`. Resolves with the
 * payload.
 * @throws {AuthError}
 */
export async function verifyJwtAsync(token, key, options) {
  rejectNonFinite(options);
  const opts = optionsText(options);
  const isString = typeof token === 'string';
  const text = isString ? token.slice(0, MAX_TOKEN_CHARS + 1) : '';
  await core.init();
  let r;
  if (isUrl(key)) {
    r = await checkRemote(String(key), text, isString, opts);
  } else {
    const [keyData, kind] = keyText(key);
    r = JSON.parse(core.call(glue.checkJwt, text, isString, keyData, kind, opts, Date.now() / 1000));
  }
  if (r.verify !== null) {
    const verdict = await checkSignature(r.verify.alg, r.verify.jwk, r.verify.data, r.verify.sig);
    if (verdict === 'invalid') throw new AuthError('bad_signature', 'signature does not verify');
    if (verdict === 'bad_key') throw new AuthError('bad_key', 'public key does not import (a P-256 point off the curve)');
    if (verdict !== 'valid') throw new AuthError('internal', 'the signature could not be checked: no WebCrypto, and the verifier module failed');
  }
  if (r.error !== null) throw new AuthError(r.error.code, r.error.message);
  return JSON.parse(r.payload);
}
