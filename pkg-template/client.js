// AuthClient: the thin shell around the client core in wasm (src/client). The core makes
// every decision about tokens, time, retries and tabs; this file only translates. The app's
// calls and the platform's events become inputs, and the effects the core returns are
// performed in order: fetch, Web Locks, BroadcastChannel, storage, one timer, listeners,
// promises. The contract is src/client/protocol.rs.
import { AuthError } from './errors.js';
import { MAX_KEY_CHARS, core, finite, glue, keyText } from './core.js';
import { checkKey, checkSignature } from './signature.js';

// The core without DPoP (the start-up wasm); `dpop: true` loads the one with it (dpop.js).
const BEARER = { core, glue };

// RFC 6750 §3: `WWW-Authenticate: Bearer error="invalid_token"` says the token is the problem.
// (With DPoP the core reads the challenges: its `resource` input.)
const INVALID_TOKEN = /^\s*Bearer\b.*\berror\s*=\s*"?invalid_token"?/i;

// setTimeout fires at once for delays above 2^31 - 1 ms: a longer one wakes early and re-arms.
const MAX_DELAY = 0x7fffffff;

// Answers longer than this are cut before they are copied into wasm, so a huge body cannot
// exhaust its memory. The core refuses anything over its own, smaller limit.
const MAX_BODY_CHARS = 1 << 20;

// Where there is no `performance` (very old runtimes) the fast path stays off.
const monotonic = typeof performance === 'object' && performance !== null && typeof performance.now === 'function'
  ? () => performance.now()
  : () => NaN;


// Option bags for the platform (fetch, Web Locks) without a prototype: members inherited from
// a polluted Object.prototype (`integrity`, `mode`, …) are not read.
const bare = (members) => Object.assign(Object.create(null), members);

const later = (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_DELAY));

const disposed = () => new AuthError('not_authenticated', 'the client was disposed');

/**
 * Creates a session client (loads the wasm first if needed). See README "createAuthClient".
 * @throws {AuthError} `malformed` (options), `bad_key`
 */
export async function createAuthClient(options) {
  // Own properties only: a polluted Object.prototype changes nothing.
  let text;
  let publicKey;
  let dpop = false;
  try {
    if (Object.prototype.toString.call(options) !== '[object Object]') throw new TypeError('not a plain object');
    const rest = Object.create(null);
    for (const name of Object.keys(options)) if (name !== 'publicKey') rest[name] = options[name];
    text = JSON.stringify(rest, finite);
    // The core refuses more than its limit; a huge value is not copied whole into wasm.
    if (text.length > MAX_KEY_CHARS) text = text.slice(0, MAX_KEY_CHARS + 1);
    publicKey = Object.hasOwn(options, 'publicKey') ? options.publicKey : undefined;
    dpop = Object.hasOwn(options, 'dpop') && options.dpop === true;
  } catch (cause) {
    throw new AuthError('malformed', 'createAuthClient needs a plain object of options', { cause });
  }
  let wasm = BEARER;
  let dpopModule = null;
  if (dpop) {
    // Only here is the DPoP code loaded (it refuses where WebCrypto or IndexedDB is missing).
    try {
      dpopModule = await import('./dpop.js');
    } catch (cause) {
      throw new AuthError('internal', 'could not load the jwt-keeper DPoP module', { cause });
    }
    wasm = dpopModule.load();
  }
  await wasm.core.init();
  let keys = [];
  const client = new AuthClient(text, publicKey, wasm, (k) => {
    keys = k;
  });
  // The configuration's DPoP key (IndexedDB, shared by the tabs) before the core starts: a
  // stored session may need a refresh at once, with a proof.
  if (dpopModule !== null) {
    try {
      await client.start(await dpopModule.dpopKey(client.dpopName));
    } catch (e) {
      client.dispose();
      throw e;
    }
  }
  // The core checked the key's form; whether a P-256 point is on the curve, the arithmetic says.
  const good = await Promise.all(keys.map(checkKey));
  if (!good.every(Boolean)) {
    client.dispose();
    throw new AuthError('bad_key', 'public key does not import (a P-256 point off the curve)');
  }
  return client;
}



class AuthClient {
  #options;
  #publicKey;
  // The wasm the cores are made from: { core: loader, glue }.
  #wasm;
  // With dpop: true, the key: { jwk, sign(input) } (null until start() got it).
  #dpop = null;
  #dpopName = null;
  // The current core and every platform resource bound to it (null while none could start).
  // Each callback checks that its epoch is still the current one.
  #epoch = null;
  // Inputs waiting to be fed, [epoch, json]: inputs that arrive while effects are performed
  // are fed after the current batch.
  #queue = [];
  #busy = false;
  #calls = new Map();
  #nextCall = 1;
  #listeners = new Map([['refresh', new Set()], ['logout', new Set()], ['error', new Set()]]);
  #deliveringRefresh = 0;
  #state = { authenticated: false, claims: null, user: null, expiresAt: null };
  // getAccessToken()'s fast path: a token the core said may be served until both deadlines
  // (wall clock and monotonic clock). Dropped on every input.
  #fresh = null;
  // The storage record while storage is missing or refuses to store (QuotaExceededError).
  #memory = null;
  // The sign-in transaction while sessionStorage is missing or refuses it.
  #transaction = null;
  #memoryOnly = false;
  #disposed = false;

  // `onKeys` gets the keys (JWK texts) the core asks to check at creation. A client with
  // DPoP starts once `start(key)` gave it the key.
  constructor(optionsText, publicKey, wasm, onKeys) {
    this.#options = optionsText;
    this.#publicKey = publicKey;
    this.#wasm = wasm;
    this.#open(onKeys);
    if (this.#epoch === null) throw new AuthError('internal', 'jwt-keeper could not start the client');
  }

  /** The IndexedDB name of the DPoP key of this configuration (null without DPoP). */
  get dpopName() {
    return this.#dpopName;
  }

  /** Starts a DPoP client's core with its key. */
  start(key) {
    this.#dpop = key;
    if (this.#epoch !== null) this.#begin(this.#epoch);
  }

  // A new core with its storage, channel and wake-up listeners, started from storage (a DPoP
  // client's first core waits for its key).
  #open(onKeys) {
    const { call, generation } = this.#wasm.core;
    const [key, kind] = keyText(this.#publicKey);
    const core = call(() => new this.#wasm.glue.WasmCore(this.#options, key, kind, Math.random() * 2 ** 53));
    const ep = { core, wasm: this.#wasm.core, generation: generation(), started: false, timer: undefined, fetches: new Map(), locks: new Map(), off: [], channel: null, storage: null, key: '', transactionKey: '' };
    let setup;
    try {
      setup = JSON.parse(call(() => core.setup()));
    } catch (e) {
      forget(ep);
      throw e;
    }
    if (setup.error) {
      forget(ep);
      throw new AuthError(setup.error.code, setup.error.message);
    }
    ep.key = setup.key;
    ep.transactionKey = setup.transaction;
    this.#dpopName = setup.dpop ?? null;
    onKeys?.(setup.keys);
    this.#epoch = ep;
    this.#fresh = null;
    if (setup.storage !== null) {
      try {
        const storage = globalThis[setup.storage === 'local' ? 'localStorage' : 'sessionStorage'];
        if (storage) ep.storage = storage;
      } catch {
        // sandboxed frame, storage disabled: memory only
      }
    }
    if (setup.channel !== null) {
      try {
        const channel = new BroadcastChannel(setup.channel);
        channel.onmessage = (event) => this.#input(ep, { t: 'peer', data: event.data });
        ep.channel = channel;
      } catch {
        // no BroadcastChannel here
      }
    }
    const target = typeof EventTarget === 'function' && globalThis instanceof EventTarget ? globalThis : null;
    const doc = typeof document === 'object' && document !== null && typeof document.addEventListener === 'function' ? document : target;
    const listen = (on, type, input) => {
      if (!on) return;
      const listener = () => this.#input(ep, input);
      on.addEventListener(type, listener);
      ep.off.push(() => on.removeEventListener(type, listener));
    };
    listen(doc, 'visibilitychange', { t: 'wake' });
    listen(target, 'pageshow', { t: 'wake' });
    listen(target, 'focus', { t: 'wake' });
    listen(target, 'online', { t: 'online' });
    if (this.#dpopName === null || this.#dpop !== null) this.#begin(ep);
  }

  #begin(ep) {
    let dpop = null;
    if (this.#dpop !== null) {
      // Fresh random bytes for this core's proof ids (jti).
      dpop = { jwk: this.#dpop.jwk, random: Array.from(globalThis.crypto.getRandomValues(new Uint8Array(32))) };
    }
    this.#input(ep, { t: 'start', stored: this.#read(ep), channel: ep.channel !== null, dpop });
  }

  #live(ep) {
    return ep !== null && ep === this.#epoch && !this.#disposed;
  }

  // Queues an input for the core of `ep` and feeds the queue unless a batch is being
  // performed. Inputs for a core that was replaced or disposed are dropped. False when
  // `input` holds a value that is not JSON.
  #input(ep, input) {
    if (!this.#live(ep)) return true;
    let text;
    try {
      text = JSON.stringify(input, finite);
    } catch {
      return false;
    }
    this.#queue.push([ep, text]);
    this.#drain();
    return true;
  }

  #drain() {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const [ep, text] = this.#queue.shift();
        if (!this.#live(ep)) continue;
        if (ep.generation !== ep.wasm.generation()) {
          this.#restart();
          continue;
        }
        this.#fresh = null;
        let effects;
        try {
          effects = JSON.parse(ep.wasm.call(() => ep.core.handle(Date.now(), monotonic(), text)));
        } catch {
          // The instance trapped and core.js replaced it: this core is gone. A core that
          // trapped before it even started is not restarted in a loop: the next call retries.
          this.#restart(ep.started);
          continue;
        }
        ep.started = true;
        for (const effect of effects) {
          if (!this.#live(ep)) break;
          try {
            this.#perform(ep, effect);
          } catch (e) {
            setTimeout(() => {
              throw e;
            });
          }
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  #perform(ep, e) {
    switch (e.t) {
      case 'send':
        return this.#send(ep, e);
      case 'abort': {
        const f = ep.fetches.get(e.id);
        if (f) {
          ep.fetches.delete(e.id);
          f.stop();
        }
        return undefined;
      }
      case 'lock':
        return this.#lock(ep, e);
      case 'unlock': {
        const l = ep.locks.get(e.id);
        if (!l) return undefined;
        const end = () => {
          if (ep.locks.get(e.id) === l) ep.locks.delete(e.id);
          l.stop();
        };
        if (e.afterMs > 0 && l.granted) later(end, e.afterMs);
        else end();
        return undefined;
      }
      case 'store':
        return this.#write(ep, e.text);
      case 'clear':
        return this.#write(ep, null);
      case 'post':
        try {
          ep.channel?.postMessage(e.data);
        } catch {
          // closed meanwhile
        }
        return undefined;
      case 'emit':
        return this.#emit(ep, e.type, e.detail);
      case 'settle': {
        const c = this.#calls.get(e.call);
        if (!c) return undefined;
        this.#calls.delete(e.call);
        if (e.error) c.reject(authError(e.error));
        else c.resolve(c.map ? c.map(e.value) : e.value ?? undefined);
        return undefined;
      }
      case 'transaction':
        return this.#writeTransaction(ep, e.text);
      case 'navigate':
        globalThis.location?.assign(e.url);
        return undefined;
      case 'address':
        globalThis.history?.replaceState(globalThis.history.state, '', e.url);
        return undefined;
      case 'state':
        this.#state = { authenticated: e.authenticated, claims: e.claims, user: e.user, expiresAt: e.expiresAt };
        return undefined;
      case 'fresh':
        this.#fresh = e.forMs > 0 ? { token: e.token, wall: Date.now() + e.forMs, monotonic: monotonic() + e.forMs } : null;
        return undefined;
      case 'verify':
        checkSignature(e.alg, e.jwk, e.data, e.sig).then((result) => this.#input(ep, { t: 'signature', id: e.id, result }));
        return undefined;
      case 'wake':
        clearTimeout(ep.timer);
        ep.timer = e.at === null ? undefined : later(() => this.#input(ep, { t: 'wake' }), e.at - Date.now());
        return undefined;
      default:
        return undefined;
    }
  }

  #send(ep, { id, method, url, headers, body, credentials, timeoutMs, keepalive, dpop }) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = later(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const f = {
      stop() {
        clearTimeout(timer);
        controller.abort();
      },
    };
    ep.fetches.set(id, f);
    // Exactly one input per request, none once the core aborted it or the epoch ended.
    const end = (input) => {
      clearTimeout(timer);
      if (ep.fetches.get(id) !== f) return;
      ep.fetches.delete(id);
      this.#input(ep, { ...input, id, stored: this.#read(ep) });
    };
    const key = this.#dpop;
    const signed = typeof dpop === 'string' && key !== null ? key.sign(dpop).then((proof) => [...headers, ['DPoP', proof]]) : Promise.resolve(headers);
    signed
      .then((all) => fetch(url, bare({ method, headers: all, body: method === 'GET' ? undefined : body, credentials, cache: 'no-store', signal: controller.signal, keepalive })))
      .then(async (response) => {
        const text = await response.text();
        end({
          t: 'answer',
          status: response.status,
          retryAfter: response.headers.get('Retry-After'),
          date: response.headers.get('Date'),
          dpopNonce: response.headers.get('DPoP-Nonce'),
          body: text.length > MAX_BODY_CHARS ? text.slice(0, MAX_BODY_CHARS) : text,
        });
      })
      .catch(() => end({ t: 'failed', timeout: timedOut }));
  }

  // The Web Lock `name`: wait at most `waitMs`, then steal. Exactly one input per lock effect:
  // granted when the callback runs (held until the unlock effect), refused when there are no
  // Web Locks or the request fails for any reason but our own wait timeout.
  #lock(ep, { id, name, waitMs }) {
    const report = (granted) => this.#input(ep, { t: 'lock', id, granted, stored: this.#read(ep) });
    let locks;
    try {
      locks = globalThis.navigator?.locks;
    } catch {
      locks = undefined;
    }
    if (!locks || typeof locks.request !== 'function') {
      report(false);
      return;
    }
    const controller = new AbortController();
    const l = {
      granted: false,
      release: undefined,
      wait: later(() => controller.abort(), waitMs),
      stop() {
        clearTimeout(this.wait);
        controller.abort();
        this.release?.();
      },
    };
    ep.locks.set(id, l);
    const mine = () => this.#live(ep) && ep.locks.get(id) === l;
    const held = () =>
      new Promise((resolve) => {
        l.granted = true;
        clearTimeout(l.wait);
        // Granted after dispose() or a restart, or no longer wanted: given back at once.
        if (!mine()) return resolve();
        l.release = resolve;
        report(true);
        return undefined;
      });
    const ask = (options) => new Promise((resolve) => resolve(locks.request(name, options, held)));
    ask(bare({ signal: controller.signal }))
      .catch((e) => {
        if (l.granted || !mine()) return undefined;
        // Our own wait ran out: the holder is frozen or gone; take the lock.
        if (controller.signal.aborted) return ask(bare({ steal: true }));
        throw e;
      })
      .catch(() => {
        if (l.granted || !mine()) return;
        ep.locks.delete(id);
        report(false);
      });
  }

  #read(ep) {
    if (!this.#memoryOnly && ep.storage) {
      try {
        const text = ep.storage.getItem(ep.key);
        return typeof text === 'string' ? text : null;
      } catch {
        // fall back to memory
      }
    }
    return this.#memory;
  }

  #write(ep, text) {
    this.#memory = text;
    if (ep.storage === null) return;
    try {
      if (text === null) ep.storage.removeItem(ep.key);
      else ep.storage.setItem(ep.key, text);
      this.#memoryOnly = false;
    } catch {
      this.#memoryOnly = true;
    }
  }

  // The sign-in transaction lives in sessionStorage (this tab, through the redirect).
  #readTransaction(ep) {
    try {
      const text = globalThis.sessionStorage?.getItem(ep.transactionKey);
      if (typeof text === 'string') return text;
    } catch {
      // fall back to memory
    }
    return this.#transaction;
  }

  #writeTransaction(ep, text) {
    this.#transaction = text;
    try {
      const storage = globalThis.sessionStorage;
      if (!storage) return;
      if (text === null) storage.removeItem(ep.transactionKey);
      else storage.setItem(ep.transactionKey, text);
    } catch {
      // memory only: a sign-in that leaves the page cannot come back to it
    }
  }

  // Listeners run in a later microtask, in order, each isolated from the others; none runs
  // once the client is disposed, not even the rest of those of the event being delivered.
  #emit(ep, type, detail) {
    if (type === 'error') {
      const { error, ...rest } = detail;
      detail = { error: new AuthError(error.code, error.message), ...rest };
    }
    queueMicrotask(() => {
      const set = this.#listeners.get(type);
      if (!set) return;
      if (type === 'refresh') this.#deliveringRefresh += 1;
      try {
        for (const listener of [...set]) {
          if (!this.#live(ep)) return;
          if (!set.has(listener)) continue;
          try {
            listener(detail);
          } catch (e) {
            setTimeout(() => {
              throw e;
            });
          }
        }
      } finally {
        if (type === 'refresh') this.#deliveringRefresh -= 1;
      }
    });
  }

  // The wasm instance was replaced after a trap (here or elsewhere): the core of this client
  // is gone. Stop everything bound to it, fail its pending calls, and start a new core from
  // storage, as a reload would.
  #restart(reopen = true) {
    this.#teardown(new AuthError('internal', 'jwt-keeper recovered from an internal failure'));
    if (!reopen) return;
    try {
      this.#open();
    } catch {
      // the next call tries again
    }
  }

  // Replaces a core that a trap elsewhere left stale, or starts one if none could.
  #sync() {
    if (this.#disposed) return;
    if (this.#epoch === null) {
      try {
        this.#open();
      } catch {
        // reported by the call
      }
    } else if (this.#epoch.generation !== this.#epoch.wasm.generation()) {
      this.#restart();
    }
  }

  #teardown(error) {
    const ep = this.#epoch;
    this.#epoch = null;
    this.#fresh = null;
    this.#queue.length = 0;
    if (ep !== null) {
      clearTimeout(ep.timer);
      for (const off of ep.off) off();
      try {
        ep.channel?.close();
      } catch {
        // already closed
      }
      for (const f of ep.fetches.values()) f.stop();
      ep.fetches.clear();
      for (const l of ep.locks.values()) l.stop();
      ep.locks.clear();
      forget(ep);
    }
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const c of calls) c.reject(error);
  }

  // A call the core settles: `input` (or `input(ep)`) gets the call's id; `map` reads the
  // value it resolves with.
  #request(input, map) {
    if (this.#disposed) return Promise.reject(disposed());
    this.#sync();
    const ep = this.#epoch;
    if (ep === null) return Promise.reject(new AuthError('internal', 'jwt-keeper could not restart the client'));
    const id = this.#nextCall;
    this.#nextCall += 1;
    const fields = typeof input === 'function' ? input(ep) : input;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject, map });
      if (!this.#input(ep, { ...fields, call: id })) {
        this.#calls.delete(id);
        reject(new AuthError('malformed', 'the values must be JSON values'));
      }
    });
  }

  /**
   * Verifies `accessToken` (unless `accessTokenFormat: 'opaque'`) and `idToken` (an OpenID
   * Connect ID token: `aud` = `clientId`; it becomes `user`), then adopts the session;
   * resolves when it is adopted. On failure (AuthError) the old session stays. `expiresIn`
   * (the login response's `expires_in`) can shorten the token's life, never extend it.
   */
  setSession(session) {
    const input = { t: 'set' };
    try {
      if (session === null || typeof session !== 'object') throw new TypeError('not an object');
      for (const name of ['accessToken', 'refreshToken', 'expiresIn', 'idToken']) {
        if (Object.hasOwn(session, name)) input[name] = session[name];
      }
    } catch (cause) {
      return Promise.reject(new AuthError('malformed', 'setSession needs { accessToken, refreshToken?, expiresIn?, idToken? }', { cause }));
    }
    return this.#request(input).then(() => undefined);
  }

  /** A verified access token that is not about to expire; refreshes first when needed. */
  getAccessToken() {
    const f = this.#fresh;
    const ep = this.#epoch;
    if (f !== null && ep !== null && ep.generation === ep.wasm.generation() && Date.now() < f.wall && monotonic() < f.monotonic) {
      return Promise.resolve(f.token);
    }
    return this.#request({ t: 'get' });
  }

  /** Forces a refresh (joins one in flight). */
  refresh() {
    return this.#request({ t: 'refresh', inListener: this.#deliveringRefresh > 0 });
  }

  /**
   * `fetch` with `Authorization: Bearer` (with DPoP: `Authorization: DPoP` and a `DPoP`
   * proof). On `401` with `WWW-Authenticate: Bearer error="invalid_token"` it refreshes once
   * and replays once; with DPoP a `use_dpop_nonce` is replayed once with the server's nonce.
   * What the core does not replay is returned as is.
   */
  async fetch(input, init) {
    const original = new Request(input, init);
    const token = await this.getAccessToken();
    if (this.#dpop !== null) return this.#dpop.fetch(original, token, (facts) => this.#request(facts));
    const first = await fetch(withAuthorization(original.clone(), `Bearer ${token}`));
    if (first.status !== 401 || !INVALID_TOKEN.test(first.headers.get('WWW-Authenticate') ?? '')) return first;
    let fresh;
    try {
      fresh = await this.#request({ t: 'unauthorized', token });
    } catch {
      return first;
    }
    return fetch(withAuthorization(original, `Bearer ${fresh}`));
  }

  /**
   * Ends the session here and in the other tabs (emits `logout` `{reason: 'user'}`), then
   * revokes the refresh token at the provider and, with `returnTo`, goes to its end-session
   * page. A rejection (`malformed` returnTo) nobody awaits is not reported as unhandled.
   */
  logout(options) {
    let returnTo = null;
    try {
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new TypeError('not an object');
        if (Object.hasOwn(options, 'returnTo')) returnTo = options.returnTo instanceof URL ? options.returnTo.href : options.returnTo;
      }
    } catch {
      returnTo = false;
    }
    const done = this.#request({ t: 'logout', returnTo });
    done.catch(() => {});
    return done;
  }

  /**
   * Signs in at the provider (authorization code + PKCE): stores the transaction in
   * sessionStorage, then navigates to the authorization endpoint.
   */
  loginWithRedirect(options) {
    const given = Object.create(null);
    try {
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new TypeError('not an object');
        for (const name of Object.keys(options)) given[name] = options[name];
      }
    } catch (cause) {
      return Promise.reject(new AuthError('malformed', 'loginWithRedirect needs an object of options', { cause }));
    }
    let random = null;
    try {
      random = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(64)));
    } catch {
      // no crypto.getRandomValues: the core refuses (unsupported)
    }
    return this.#request({ t: 'login', options: given, random, origin: here('origin') }).then(() => undefined);
  }

  /**
   * Completes the sign-in on the page the provider returned to (default `location.href`);
   * resolves with `{ appState }`. The same URL twice gives the same result, one exchange.
   */
  handleRedirectCallback(url) {
    const address = here('href');
    const given = url === undefined ? address : typeof URL === 'function' && url instanceof URL ? url.href : url;
    if (typeof given !== 'string') return Promise.reject(new AuthError('malformed', 'handleRedirectCallback needs the callback URL'));
    const input = (ep) => ({ t: 'callback', url: given, address, transaction: this.#readTransaction(ep) });
    return this.#request(input, (value) => JSON.parse(value));
  }

  /** Whether there is a session. */
  get isAuthenticated() {
    this.#sync();
    return this.#state.authenticated;
  }

  /** The verified claims of the current access token, or null. */
  get claims() {
    this.#sync();
    return this.#state.claims;
  }

  /** The verified claims of the ID token (OpenID Connect), or null. */
  get user() {
    this.#sync();
    return this.#state.user;
  }

  /** When the access token expires, ms since the epoch (local clock), or null. */
  get expiresAt() {
    this.#sync();
    return this.#state.expiresAt;
  }

  /** Listens for `refresh`, `logout` or `error`; returns the function that unsubscribes. */
  on(type, listener) {
    const set = this.#listeners.get(type);
    if (!set) throw new AuthError('malformed', 'unknown event type (refresh, logout, error)');
    if (typeof listener !== 'function') throw new AuthError('malformed', 'listener must be a function');
    const entry = (detail) => listener(detail);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Stops timers, listeners, requests and locks; nothing fires afterwards. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    const ep = this.#epoch;
    if (ep !== null && ep.generation === ep.wasm.generation()) {
      try {
        const effects = JSON.parse(ep.wasm.call(() => ep.core.handle(Date.now(), monotonic(), JSON.stringify({ t: 'dispose' }))));
        for (const effect of effects) this.#perform(ep, effect);
      } catch {
        // a trap: everything is stopped below anyway
      }
    }
    this.#teardown(disposed());
    for (const set of this.#listeners.values()) set.clear();
  }
}

// Frees a core. One whose instance was replaced after a trap lived in the old memory: only its
// pointer is dropped, or wasm-bindgen's finalizer would free it in the new instance.
function forget(ep) {
  try {
    if (ep.generation === ep.wasm.generation()) ep.wasm.call(() => ep.core.free());
    else ep.core.__destroy_into_raw();
  } catch {
    // nothing more to free
  }
}

// A member of `location` (string), or null where there is none (a worker, Node).
function here(name) {
  try {
    const value = globalThis.location?.[name];
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

// An AuthError from the core's `{code, message}`; a provider's refusal keeps its OAuth
// `error` and `error_description`.
function authError({ code, message, error, errorDescription }) {
  const e = new AuthError(code, message);
  if (typeof error === 'string') {
    e.error = error;
    if (typeof errorDescription === 'string') e.errorDescription = errorDescription;
  }
  return e;
}

/** `request` with the `Authorization` header `value` (other headers kept). */
function withAuthorization(request, value) {
  const headers = new Headers(request.headers);
  headers.set('Authorization', value);
  return new Request(request, bare({ headers }));
}
