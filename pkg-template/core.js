// The shared JS layer over the wasm exports: AuthError, loading, and trap recovery.
import initGlue, * as glue from './jwt_keeper.js';

/** The stable error codes (see README: "Errors"). */
export const ERROR_CODES = Object.freeze([
  'malformed', 'unsupported_alg', 'bad_key', 'no_matching_key', 'bad_signature', 'expired',
  'not_yet_valid', 'claim_mismatch', 'not_authenticated', 'refresh_rejected', 'network',
  'timeout', 'bad_response', 'internal',
]);
const CODES = new Set(ERROR_CODES);

// A registered symbol is the same in every realm (iframes, workers' copies, two bundled copies).
const BRAND = Symbol.for('jwt-keeper.AuthError');

/** Every failure of jwt-keeper: an `Error` with a stable `code`. */
export class AuthError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'AuthError';
    this.code = CODES.has(code) ? code : 'internal';
  }
  get [BRAND]() {
    return true;
  }
}

/** True for an AuthError from any copy of jwt-keeper in any realm; no `instanceof` needed. */
export function isAuthError(value) {
  if (value === null || typeof value !== 'object') return false;
  try {
    return value instanceof AuthError || (value[BRAND] === true && CODES.has(value.code));
  } catch {
    // A Proxy or getter that throws (or a revoked Proxy) is not one of ours.
    return false;
  }
}

let ready = false;
let loading;
let syncLoader;

/** Registers how to get the wasm bytes synchronously (Node reads the file). */
export function setSyncLoader(load) {
  syncLoader = load;
}

/**
 * Loads the wasm. Optional: `createAuthClient` calls it, and in Node the first call loads the
 * file by itself. Idempotent. `input` may be a URL or string, a Response (or a promise of
 * one), bytes, or a compiled `WebAssembly.Module`; by default the `.wasm` next to this file.
 */
export function init(input) {
  if (ready) return Promise.resolve();
  if (input === undefined && syncLoader && !loading) {
    try {
      input = syncLoader();
    } catch (cause) {
      return Promise.reject(new AuthError('internal', 'could not load the jwt-keeper wasm module', { cause }));
    }
  }
  if (!loading) {
    const arg = input === undefined ? undefined : { module_or_path: input };
    loading = initGlue(arg).then(
      () => {
        ready = true;
      },
      (cause) => {
        loading = undefined;
        throw new AuthError('internal', 'could not load the jwt-keeper wasm module', { cause });
      },
    );
  }
  return loading;
}

function ensureReady() {
  if (ready) return;
  if (!syncLoader) {
    throw new AuthError('internal', 'jwt-keeper is not loaded yet: call `await init()` first');
  }
  try {
    glue.initSync({ module: syncLoader() });
  } catch (cause) {
    throw new AuthError('internal', 'could not load the jwt-keeper wasm module', { cause });
  }
  ready = true;
}

/**
 * Calls a wasm export. Typed failures become AuthError. Anything else is a trap or a broken
 * instance: the instance is replaced by a fresh one from the same compiled module and the
 * caller gets `internal`, so one bad call never poisons the next.
 */
export function call(fn, ...args) {
  ensureReady();
  try {
    return fn(...args);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    if (e instanceof Error && CODES.has(e.code)) throw new AuthError(e.code, e.message);
    const module = glue.__jwtKeeperReset();
    glue.initSync({ module });
    instanceGeneration += 1;
    throw new AuthError('internal', 'jwt-keeper recovered from an internal failure', { cause: e });
  }
}

let instanceGeneration = 0;

/** Counts wasm instances replaced after a trap; objects living in the old one must reopen. */
export function generation() {
  return instanceGeneration;
}

/** An error from the wasm side (an Error with a `code`) as an AuthError. */
export function toAuthError(e) {
  if (e instanceof AuthError) return e;
  if (e instanceof Error && CODES.has(e.code)) return new AuthError(e.code, e.message);
  return new AuthError('internal', 'unexpected failure', { cause: e });
}

/** Reads a token's header and payload. Does NOT check the signature or any claim. */
export function decodeJwt(token) {
  return JSON.parse(call(glue.decodeJwt, token));
}

/** Verifies an ES256 token against `key` and checks its claims; returns the payload. */
export function verifyJwt(token, key, options) {
  rejectNonFinite(options);
  return JSON.parse(call(glue.verifyJwt, token, key, options));
}

// JSON.stringify turns NaN and Infinity into null ("use the default"): refuse them first.
function rejectNonFinite(options) {
  if (options === null || typeof options !== 'object') return;
  for (const name of ['leeway', 'now', 'maxTokenBytes']) {
    let value;
    try {
      value = options[name];
    } catch {
      throw new AuthError('malformed', 'options must be a plain object');
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new AuthError('malformed', `options.${name} must be a finite number`);
    }
  }
}
