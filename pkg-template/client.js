// AuthClient: the JS face of the session client in wasm. The wasm side owns the session
// (deadlines, single-flight refresh, retries, storage); this layer adds listeners, `fetch`,
// and AuthError.
import * as glue from './jwt_keeper.js';
import { AuthError, call, generation, init, toAuthError } from './core.js';

const EVENT_TYPES = new Set(['refresh', 'logout', 'error']);

// RFC 6750 §3: `WWW-Authenticate: Bearer error="invalid_token"` says the token is the problem.
const INVALID_TOKEN = /^\s*Bearer\b.*\berror\s*=\s*"?invalid_token"?/i;

/**
 * Creates a session client (loads the wasm first if needed). See README "createAuthClient".
 * @throws {AuthError} `malformed` (options), `bad_key`
 */
export async function createAuthClient(options) {
  if (options === null || typeof options !== 'object') {
    throw new AuthError('malformed', 'createAuthClient needs an options object');
  }
  await init();
  return new AuthClient(options);
}

/** Resolves what the wasm side resolves; rejects with an AuthError. */
function settle(promise) {
  return promise.then(undefined, (e) => {
    throw toAuthError(e);
  });
}

export class AuthClient {
  #options;
  #wasm;
  #generation;
  #listeners = new Map();
  #disposed = false;
  #claims = { json: undefined, value: null };
  // The fast path of getAccessToken(): a token the session said is fresh until both deadlines
  // (wall clock and monotonic clock: one catches a clock set back, the other a sleep).
  #fresh = null;

  constructor(options) {
    let publicKey;
    let rest;
    try {
      ({ publicKey, ...rest } = options);
    } catch (cause) {
      throw new AuthError('malformed', 'options must be a plain object', { cause });
    }
    this.#options = { publicKey, rest };
    this.#open();
  }

  #open() {
    this.#fresh = null;
    const { publicKey, rest } = this.#options;
    this.#wasm = call(() => new glue.WasmClient(rest, publicKey, (type, detail) => this.#emit(type, detail)));
    this.#generation = generation();
  }

  // After the wasm instance was replaced (a trap elsewhere), this client's state lived in the
  // old one: reopen, resuming from storage when `persist` keeps the session.
  #client() {
    if (this.#generation !== generation()) this.#open();
    return this.#wasm;
  }

  // Listeners run in a later microtask, in order, each isolated from the others.
  #emit(type, detailJson) {
    this.#fresh = null; // any event may change what a caller should get
    queueMicrotask(() => {
      if (this.#disposed) return;
      const set = this.#listeners.get(type);
      if (!set || set.size === 0) return;
      let detail = JSON.parse(detailJson);
      if (type === 'error') {
        const { code, message, willRetry, retryInMs } = detail;
        detail = { error: new AuthError(code, message), willRetry };
        if (retryInMs !== undefined) detail.retryInMs = retryInMs;
      }
      for (const listener of [...set]) {
        try {
          listener(detail);
        } catch (e) {
          setTimeout(() => {
            throw e;
          });
        }
      }
    });
  }

  /**
   * Verifies `accessToken`, then adopts the session. On failure the old session stays.
   * `expiresIn` (the login response's `expires_in`) puts the token on the server's clock.
   */
  setSession(session) {
    let accessToken;
    let refreshToken;
    let expiresIn;
    try {
      ({ accessToken, refreshToken, expiresIn } = session ?? {});
    } catch (cause) {
      throw new AuthError('malformed', 'setSession needs { accessToken, refreshToken?, expiresIn? }', { cause });
    }
    this.#fresh = null;
    call(() => this.#client().setSession(accessToken, refreshToken, expiresIn));
  }

  /** A verified access token that is not about to expire; refreshes first when needed. */
  getAccessToken() {
    const fresh = this.#fresh;
    if (fresh !== null && Date.now() < fresh.wall && monotonicNow() < fresh.monotonic) {
      return Promise.resolve(fresh.token);
    }
    this.#fresh = null;
    return settle(call(() => this.#client().getAccessToken())).then((token) => {
      this.#remember(token);
      return token;
    });
  }

  #remember(token) {
    const ms = call(() => this.#client().freshFor(token));
    if (ms > 0) this.#fresh = { token, wall: Date.now() + ms, monotonic: monotonicNow() + ms };
  }

  /** Forces a refresh (joins one in flight). */
  refresh() {
    return settle(call(() => this.#client().refresh()));
  }

  /**
   * `fetch` with `Authorization: Bearer`. On `401` with `WWW-Authenticate: Bearer
   * error="invalid_token"` it refreshes once and replays once; a second 401 is returned as is.
   */
  async fetch(input, init) {
    const token = await this.getAccessToken();
    const request = new Request(input, init);
    const replay = request.clone();
    const first = await fetch(withBearer(request, token));
    if (first.status !== 401 || !INVALID_TOKEN.test(first.headers.get('WWW-Authenticate') ?? '')) {
      return first;
    }
    let fresh;
    this.#fresh = null;
    try {
      fresh = await settle(call(() => this.#client().apiUnauthorized(token)));
    } catch {
      return first;
    }
    return fetch(withBearer(replay, fresh));
  }

  /** Ends the session here and in the other tabs; emits `logout` `{reason: 'user'}`. */
  logout() {
    this.#fresh = null;
    call(() => this.#client().logout());
  }

  /** Whether there is a session. */
  get isAuthenticated() {
    return call(() => this.#client().isAuthenticated());
  }

  /** The verified claims of the current access token, or null. */
  get claims() {
    const json = call(() => this.#client().claimsJson());
    if (json !== this.#claims.json) this.#claims = { json, value: json === undefined ? null : JSON.parse(json) };
    return this.#claims.value;
  }

  /** When the access token expires, ms since the epoch (local clock), or null. */
  get expiresAt() {
    return call(() => this.#client().expiresAt()) ?? null;
  }

  /** Listens for `refresh`, `logout` or `error`; returns the function that unsubscribes. */
  on(type, listener) {
    if (!EVENT_TYPES.has(type)) throw new AuthError('malformed', `unknown event type (refresh, logout, error)`);
    if (typeof listener !== 'function') throw new AuthError('malformed', 'listener must be a function');
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    const set = this.#listeners.get(type);
    const entry = (detail) => listener(detail);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Stops timers, listeners and requests; nothing fires afterwards. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#fresh = null;
    this.#listeners.clear();
    if (this.#generation === generation()) call(() => this.#wasm.dispose());
  }
}

// Where there is no `performance` (very old runtimes) the fast path stays off.
const monotonicNow = typeof performance === 'object' && typeof performance.now === 'function'
  ? () => performance.now()
  : () => -Infinity;

function withBearer(request, token) {
  const headers = new Headers(request.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return new Request(request, { headers });
}
