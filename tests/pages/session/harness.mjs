// The page the session end-to-end tests drive: one AuthClient against the auth server that
// also serves this page, exposed as window.harness. Events are counted, and (unless created
// with `record: false`, for long loops) kept in harness.events and sent to the test through
// `__sessionReport` when the test exposed it, so that the test stamps them with its own clock.
import init, { createAuthClient, decodeJwt, isAuthError } from '/pkg/index.js';
import glueInit from '/pkg/jwt_keeper_core.js';

/** A plain copy of an error that survives page.evaluate(). */
export function describeError(e) {
  return { name: e?.name, code: e?.code, message: e?.message, isAuthError: isAuthError(e) };
}

/** A settled promise as data: { ok: true, value } or { ok: false, error }. */
async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (e) {
    return { ok: false, error: describeError(e) };
  }
}

function plainDetail(type, detail) {
  if (type !== 'error') return { ...detail };
  const out = { error: describeError(detail.error), willRetry: detail.willRetry };
  if ('retryInMs' in detail) out.retryInMs = detail.retryInMs;
  return out;
}

const harness = {
  /** Access tokens handed to setSession: their `refresh` events are sign-ins, not refreshes. */
  signedInWith: new Set(),
  client: null,
  events: [],
  counts: { refresh: 0, logout: 0, error: 0 },
  server: null,

  /** Issuer, audience and key of the server this page came from. */
  async serverInfo() {
    if (!this.server) {
      const meta = await (await fetch('/.well-known/oauth-authorization-server')).json();
      const jwks = await (await fetch('/.well-known/jwks.json')).json();
      this.server = { issuer: meta.issuer, jwks };
    }
    return this.server;
  },

  /**
   * Creates the client: oauth2 style against /oauth/token unless `refresh` says otherwise.
   * `options` override the defaults (style is a shorthand for refresh.style + its url).
   */
  async create({ style = 'oauth2', refresh = {}, record = true, ...options } = {}) {
    const { issuer, jwks } = await this.serverInfo();
    const urls = { oauth2: '/oauth/token', json: '/refresh', cookie: '/cookie/refresh' };
    this.client?.dispose();
    this.events = [];
    this.counts = { refresh: 0, logout: 0, error: 0 };
    this.client = await createAuthClient({
      publicKey: jwks,
      issuer,
      audience: 'jwt-keeper-demo',
      refresh: { url: new URL(urls[style], location.href).href, style, clientId: style === 'oauth2' ? 'demo-client' : undefined, ...refresh },
      ...options,
    });
    for (const type of ['refresh', 'logout', 'error']) {
      this.client.on(type, (detail) => {
        // The tests watch refreshes; the `refresh` event of a sign-in (setSession) is not one.
        if (type === 'refresh' && detail.source === 'self' && this.signedInWith.has(detail.accessToken)) return;
        this.counts[type] += 1;
        if (!record) return; // long loops: count only, keep nothing
        const event = { type, pageTime: Date.now(), detail: plainDetail(type, detail) };
        this.events.push(event);
        globalThis.__sessionReport?.(event);
      });
    }
    return true;
  },

  /** POST /login; returns the server's answer (no refresh token in it with style 'cookie'). */
  async login({ user = 'alice', style } = {}) {
    const response = await fetch('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(style ? { user, style } : { user }),
    });
    if (!response.ok) throw new Error(`login answered ${response.status}`);
    return response.json();
  },

  /** Logs in and hands the tokens to the client; returns the access token. */
  async signIn({ user = 'alice', style } = {}) {
    const body = await this.login({ user, style });
    this.signedInWith.add(body.access_token);
    await this.client.setSession({ accessToken: body.access_token, refreshToken: body.refresh_token, expiresIn: body.expires_in });
    return body.access_token;
  },

  async setSession(session) {
    this.signedInWith.add(session?.accessToken);
    try {
      await this.client.setSession(session);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: describeError(e) };
    }
  },

  getAccessToken() {
    return settle(this.client.getAccessToken());
  },

  refresh() {
    return settle(this.client.refresh());
  },

  /** `n` getAccessToken() calls started in the same task. */
  async concurrentGets(n) {
    const calls = [];
    for (let i = 0; i < n; i += 1) calls.push(settle(this.client.getAccessToken()));
    return Promise.all(calls);
  },

  /** client.fetch(path) -> { status, wwwAuthenticate, body } or the error. */
  async apiFetch(path = '/api/me') {
    try {
      const response = await this.client.fetch(path);
      return { ok: true, status: response.status, wwwAuthenticate: response.headers.get('WWW-Authenticate'), body: await response.text() };
    } catch (e) {
      return { ok: false, error: describeError(e) };
    }
  },

  /** GET /api/me with `token` as Bearer, bypassing the client. */
  async apiWith(token) {
    const response = await fetch('/api/me', { headers: { Authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.text() };
  },

  state() {
    const c = this.client;
    return { isAuthenticated: c.isAuthenticated, expiresAt: c.expiresAt, claims: c.claims, now: Date.now() };
  },

  decode(token) {
    return decodeJwt(token);
  },

  /** Fires a wake-up event the client listens for, as a browser would. */
  dispatch(type, { hidden } = {}) {
    if (hidden !== undefined) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    }
    const target = type === 'visibilitychange' ? document : window;
    target.dispatchEvent(new Event(type, { bubbles: true }));
  },

  /** The wasm instance's exports (the package's init() resolved the same instance). */
  async wasmExports() {
    await init();
    return glueInit();
  },

  /** Which of `needles` (ASCII strings) occur anywhere in the wasm linear memory. */
  async wasmMemoryContains(needles) {
    const { memory } = await this.wasmExports();
    const bytes = new Uint8Array(memory.buffer);
    const found = [];
    for (const needle of needles) {
      const pattern = new TextEncoder().encode(needle);
      if (indexOf(bytes, pattern) >= 0) found.push(needle);
    }
    return { found, memoryBytes: bytes.length };
  },

  async wasmMemoryBytes() {
    return (await this.wasmExports()).memory.buffer.byteLength;
  },

  /** Every storage entry and cookie this page can see, as text. */
  visibleStorage() {
    const dump = (storage) => {
      const out = {};
      for (let i = 0; i < storage.length; i += 1) {
        const key = storage.key(i);
        out[key] = storage.getItem(key);
      }
      return out;
    };
    return { cookie: document.cookie, local: dump(localStorage), session: dump(sessionStorage) };
  },

  /** `cycles` forced refreshes in a row: how many failed, how long it took, the wasm memory size. */
  async refreshLoop(cycles) {
    const { memory } = await this.wasmExports();
    let failures = 0;
    let last;
    const started = performance.now();
    for (let i = 0; i < cycles; i += 1) {
      try {
        last = await this.client.refresh();
      } catch (e) {
        failures += 1;
        last = describeError(e);
      }
    }
    return { failures, ms: performance.now() - started, wasmBytes: memory.buffer.byteLength, lastIsToken: typeof last === 'string' };
  },
};

function indexOf(haystack, needle) {
  const first = needle[0];
  const end = haystack.length - needle.length;
  outer: for (let i = haystack.indexOf(first); i >= 0 && i <= end; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

window.harness = harness;
window.harnessReady = init().then(() => {
  document.getElementById('status').textContent = 'ready';
  return true;
});
