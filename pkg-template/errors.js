// AuthError: every failure of jwt-keeper, with a stable `code`. Shared by all entries.

/** The stable error codes (see README: "Errors"). */
export const ERROR_CODES = Object.freeze([
  'malformed', 'unsupported_alg', 'bad_key', 'no_matching_key', 'bad_signature', 'expired',
  'not_yet_valid', 'claim_mismatch', 'not_authenticated', 'refresh_rejected', 'network',
  'timeout', 'bad_response', 'internal', 'login_failed', 'invalid_state', 'unsupported',
]);
export const CODES = new Set(ERROR_CODES);

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

/** An error from the wasm side (an Error with a `code`) as an AuthError. */
export function toAuthError(e) {
  if (e instanceof AuthError) return e;
  if (e instanceof Error && CODES.has(e.code)) return new AuthError(e.code, e.message);
  return new AuthError('internal', 'unexpected failure', { cause: e });
}


// JSON.stringify turns NaN and Infinity into null ("use the default"): refuse them first.
export function rejectNonFinite(options) {
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
