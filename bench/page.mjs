// Browser side of `npm run bench`: every measurement that runs in the page. scripts/bench.mjs
// opens bench/page.html (served by the local auth server, so the refresh endpoints are
// same-origin) and calls these functions through `window.bench`.
//
// Libraries are loaded on demand, never at page load: jwt-keeper from bench/.out/pkg/ (a copy of
// the built pkg/, unbundled, so that its `jwt_keeper_core.js` is the very module instance the
// client uses and its init() resolves to that instance's wasm exports, and so that
// `signature.js` and `verify/verifier.js` can be driven directly), the other libraries from the
// esbuild bundles scripts/bench.mjs writes to bench/.out/lib/, and the start-up subjects from
// bench/.out/startup/<name>/index.js (minified, code-split bundles, as shipped).

const OUT = new URL('./.out/', import.meta.url).href;
const libs = new Map();
/** The bundled peer library `name` (bench/.out/lib/<name>.js), imported once. */
function lib(name) {
  if (!libs.has(name)) libs.set(name, import(`${OUT}lib/${name}.js`));
  return libs.get(name);
}
// jwt-keeper as built: bench/.out/pkg/ is the copy of pkg/ that scripts/bench.mjs took at start.
const ours = () => import(`${OUT}pkg/index.js`);
const oursVerify = () => import(`${OUT}pkg/verify/index.js`);

// --- measuring ----------------------------------------------------------------------------------

let sink = 0;
/** Keeps every result alive so that no engine can drop the call as dead code. */
function consume(value) {
  sink = (sink + (typeof value === 'string' ? value.length : value ? 1 : 0)) | 0;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Calls per second of an async `fn`, each call awaited before the next, for `ms`. */
async function rateAsync(fn, ms) {
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  let now;
  do {
    consume(await fn());
    n += 1;
  } while ((now = performance.now()) < end);
  return (n * 1000) / (now - start);
}

/** Calls per second of a synchronous `fn`, reading the clock every `batch` calls. */
function rateSync(fn, ms, batch) {
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  let now;
  do {
    for (let i = 0; i < batch; i += 1) consume(fn());
    n += batch;
  } while ((now = performance.now()) < end);
  return (n * 1000) / (now - start);
}

// The subject being measured in this page: prepared once (checked, warmed up), then measured in
// windows that scripts/bench.mjs interleaves with the other libraries' pages, so that a busy
// moment of the machine does not fall on one library only.
let subject;

async function prepare({ fn, isAsync, batch = 16, call, check }, warmupMs) {
  subject = { fn, isAsync, batch, check };
  await measureWindow(warmupMs);
  return { call };
}

/** One sample: calls per second of the prepared subject over `ms`. */
export async function measureWindow(ms) {
  await new Promise((resolve) => setTimeout(resolve, 0)); // let the page breathe between windows
  return subject.isAsync ? rateAsync(subject.fn, ms) : rateSync(subject.fn, ms, subject.batch);
}

/** Checks after the last window (e.g. the cached token is still the one set up). */
export async function finishMeasure() {
  await subject.check?.();
  subject = undefined;
  return true;
}

/** Payload of a JWT without any check (only for setting up the libraries' stores). */
function claimsOf(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(part));
}

/** The same token with one signature character changed (still strict base64url). */
function tampered(token) {
  const dot = token.lastIndexOf('.');
  const i = dot + 10;
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

function busyWaitUntil(epochMs) {
  while (Date.now() < epochMs) {
    // The main thread is frozen on purpose: no timer of any library can run meanwhile, as in a
    // throttled background tab or a laptop waking up.
  }
}

const settle = (p) =>
  p.then(
    (value) => ({ ok: true, value }),
    (e) => ({ ok: false, error: String(e?.code ?? e?.error ?? e?.name ?? 'error') + ': ' + String(e?.message ?? e).slice(0, 160) }),
  );

function summarize(results, oldToken) {
  const tokens = new Set(results.filter((r) => r.ok && typeof r.value === 'string').map((r) => r.value));
  const errors = results.filter((r) => !r.ok).map((r) => r.error);
  return {
    callers: results.length,
    ok: results.length - errors.length,
    distinctTokens: tokens.size,
    gotOldToken: tokens.has(oldToken),
    errors: [...new Set(errors)].slice(0, 3),
  };
}

// --- the libraries, set up with a session -------------------------------------------------------

/** jwt-keeper's client against the local auth server (oauth2 style), with the session adopted. */
async function oursClient(s, extra = {}) {
  const { createAuthClient } = await ours();
  const client = await createAuthClient({
    publicKey: s.jwks,
    issuer: s.issuer,
    audience: s.audience,
    refresh: { url: `${s.origin}/oauth/token`, style: 'oauth2', clientId: s.clientId },
    ...extra,
  });
  return client;
}

function oidcSettings(s, store) {
  return {
    authority: s.origin,
    client_id: s.clientId,
    redirect_uri: `${s.origin}/bench/callback`,
    metadata: {
      issuer: s.issuer,
      authorization_endpoint: `${s.origin}/authorize`,
      token_endpoint: `${s.origin}/oauth/token`,
    },
    userStore: store,
    monitorSession: false,
  };
}

function oidcUser(User, s, expiresAt) {
  const claims = claimsOf(s.accessToken);
  return new User({
    access_token: s.accessToken,
    refresh_token: s.refreshToken,
    token_type: 'Bearer',
    scope: 'openid',
    profile: { sub: claims.sub, iss: claims.iss, aud: claims.aud, exp: claims.exp, iat: claims.iat },
    expires_at: expiresAt,
  });
}

function oktaTokens(s, expiresAt) {
  const claims = claimsOf(s.accessToken);
  return {
    accessToken: {
      accessToken: s.accessToken,
      claims,
      expiresAt,
      tokenType: 'Bearer',
      scopes: ['openid'],
      authorizeUrl: `${s.origin}/authorize`,
      userinfoUrl: `${s.origin}/userinfo`,
    },
    refreshToken: {
      refreshToken: s.refreshToken,
      expiresAt: claims.exp + 86400,
      scopes: ['openid'],
      tokenUrl: `${s.origin}/oauth/token`,
      authorizeUrl: `${s.origin}/authorize`,
      issuer: s.origin,
    },
  };
}

function oktaOptions(s, tokenManager, services) {
  return {
    issuer: s.origin,
    clientId: s.clientId,
    redirectUri: `${s.origin}/bench/callback`,
    tokenUrl: `${s.origin}/oauth/token`,
    authorizeUrl: `${s.origin}/authorize`,
    userinfoUrl: `${s.origin}/userinfo`,
    tokenManager,
    services,
  };
}

function memoryStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
  };
}

/**
 * Each library's cached-token getter, set up offline with a valid session `s` (the token the
 * local auth server issued). Returns { get, call } where `get()` resolves to the access token.
 */
const cachedGetters = {
  async 'jwt-keeper'(s) {
    const client = await oursClient(s);
    await client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken });
    return { get: () => client.getAccessToken(), call: 'client.getAccessToken()' };
  },

  async 'oidc-client-ts'(s) {
    const { UserManager, User, WebStorageStateStore, InMemoryWebStorage } = await lib('oidc-client-ts');
    const store = new WebStorageStateStore({ store: new InMemoryWebStorage() });
    const um = new UserManager({ ...oidcSettings(s, store), automaticSilentRenew: false });
    await um.storeUser(oidcUser(User, s, claimsOf(s.accessToken).exp));
    return {
      get: async () => {
        const user = await um.getUser();
        if (!user || user.expired) throw new Error('no valid user');
        return user.access_token;
      },
      call: '(await userManager.getUser()).access_token, InMemoryWebStorage',
    };
  },

  async '@supabase/auth-js'(s) {
    const { GoTrueClient } = await lib('supabase-auth-js');
    const claims = claimsOf(s.accessToken);
    const storage = memoryStorage();
    const storageKey = 'bench-auth-token';
    storage.setItem(
      storageKey,
      JSON.stringify({
        access_token: s.accessToken,
        refresh_token: s.refreshToken,
        token_type: 'bearer',
        expires_in: claims.exp - claims.iat,
        expires_at: claims.exp,
        user: {
          id: claims.sub,
          aud: 'authenticated',
          role: 'authenticated',
          app_metadata: {},
          user_metadata: {},
          created_at: new Date(claims.iat * 1000).toISOString(),
        },
      }),
    );
    const client = new GoTrueClient({
      url: `${s.origin}/auth/v1`,
      storageKey,
      storage,
      autoRefreshToken: false,
      persistSession: true,
      detectSessionInUrl: false,
    });
    await client.initialize();
    return {
      get: async () => {
        const { data, error } = await client.getSession();
        if (error || !data.session) throw error ?? new Error('no session');
        return data.session.access_token;
      },
      call: '(await client.getSession()).data.session.access_token, memory storage',
    };
  },

  async '@auth0/auth0-spa-js'(s) {
    const { Auth0Client } = await lib('auth0-spa-js');
    const client = new Auth0Client({
      domain: s.origin,
      clientId: s.clientId,
      cacheLocation: 'memory',
      authorizationParams: { redirect_uri: `${s.origin}/bench/callback` },
    });
    // What the client's own login code stores after a code exchange (the cache is internal;
    // there is no public API to seed it). The access token stands in for the ID token.
    const claims = claimsOf(s.accessToken);
    const [header, payload, signature] = s.accessToken.split('.');
    const decodedToken = {
      encoded: { header, payload, signature },
      header: JSON.parse(atob(header.replace(/-/g, '+').replace(/_/g, '/'))),
      claims: { ...claims, __raw: s.accessToken },
      user: { sub: claims.sub },
    };
    const scope = client.scope?.default;
    await client.cacheManager.setIdToken(s.clientId, s.accessToken, decodedToken);
    await client.cacheManager.set({
      client_id: s.clientId,
      access_token: s.accessToken,
      id_token: s.accessToken,
      expires_in: claims.exp - Math.floor(Date.now() / 1000),
      token_type: 'Bearer',
      scope,
      audience: 'default',
      decodedToken,
    });
    return { get: () => client.getTokenSilently(), call: "getTokenSilently(), cacheLocation 'memory' (cache seeded)" };
  },

  async '@okta/okta-auth-js'(s) {
    const { OktaAuth } = await lib('okta-auth-js');
    const auth = new OktaAuth(oktaOptions(s, { storage: 'memory', autoRenew: false }, { autoRenew: false, syncStorage: false }));
    auth.tokenManager.setTokens(oktaTokens(s, claimsOf(s.accessToken).exp));
    return { get: () => auth.getOrRenewAccessToken(), call: "getOrRenewAccessToken(), tokenManager storage 'memory'" };
  },
};

/** Cached getter throughput: `get()` awaited in a tight loop; the token must stay the same. */
export async function hotPath(name, s, warmupMs) {
  const { get, call } = await cachedGetters[name](s);
  const first = await get();
  if (first !== s.accessToken) throw new Error(`${name}: the getter did not return the cached token (${String(first).slice(0, 24)})`);
  const check = async () => {
    if ((await get()) !== s.accessToken) throw new Error(`${name}: the cached token changed during the loop`);
  };
  return prepare({ fn: get, isAsync: true, call, check }, warmupMs);
}

// --- verification and decoding ------------------------------------------------------------------

/**
 * ES256 verifications per second of one token (the same token, again and again, for every
 * library; keys imported or parsed once where the library lets the caller keep them).
 */
export async function verifyRate(name, s, warmupMs) {
  let make; // token -> a function that verifies it (throws or returns false when it fails)
  let isAsync = false;
  let call;
  if (name === 'jwt-keeper client setSession') {
    // The session client's path: every call a token it has not seen (its verdict cache holds
    // 8), so each one is checked by the core and verified by WebCrypto, then adopted.
    const { createAuthClient } = await ours();
    const client = await createAuthClient({ publicKey: s.jwk, issuer: s.issuer, audience: s.audience, crossTab: false });
    let i = 0;
    const fn = async () => {
      await client.setSession({ accessToken: s.tokens[i % s.tokens.length] });
      i += 1;
      return true;
    };
    await fn();
    let rejected = false;
    try {
      await client.setSession({ accessToken: tampered(s.accessToken) });
    } catch (e) {
      rejected = e?.code === 'bad_signature';
    }
    if (!rejected) throw new Error(`${name}: a tampered signature was accepted`);
    const call = `await client.setSession({accessToken}) over ${s.tokens.length} distinct tokens (core checks + WebCrypto verify, key imported once)`;
    return prepare({ fn, isAsync: true, batch: 1, call }, warmupMs);
  }
  if (name === 'jwt-keeper verifyJwtAsync') {
    const { verifyJwtAsync } = await ours();
    make = (token) => () => verifyJwtAsync(token, s.jwk);
    isAsync = true;
    call = 'await verifyJwtAsync(token, jwk) (the client core\'s checks + WebCrypto, key imported once and cached)';
  } else if (name === 'jwt-keeper/verify') {
    const { default: init, verifyJwt } = await oursVerify();
    await init();
    make = (token) => () => verifyJwt(token, s.jwk);
    call = 'verifyJwt(token, jwk) (jwt-keeper/verify, p256 in wasm)';
  } else if (name === 'jose') {
    const { importJWK, jwtVerify } = await lib('jose');
    const key = await importJWK(s.jwk, 'ES256');
    make = (token) => async () => (await jwtVerify(token, key)).payload;
    isAsync = true;
    call = 'await jwtVerify(token, cryptoKey) (WebCrypto)';
  } else if (name === 'jsrsasign') {
    const { KJUR, KEYUTIL } = (await lib('jsrsasign')).default;
    const key = KEYUTIL.getKey(s.jwk);
    make = (token) => () => KJUR.jws.JWS.verifyJWT(token, key, { alg: ['ES256'] });
    call = "KJUR.jws.JWS.verifyJWT(token, key, {alg:['ES256']})";
  } else {
    throw new Error(`unknown verifier ${name}`);
  }
  // The measured call really verifies: the good token passes, a changed signature fails.
  const fn = make(s.accessToken);
  if (!(await fn())) throw new Error(`${name}: the good token did not verify`);
  let rejected;
  try {
    rejected = !(await make(tampered(s.accessToken))());
  } catch {
    rejected = true;
  }
  if (!rejected) throw new Error(`${name}: a tampered signature was accepted`);
  return prepare({ fn, isAsync, batch: 1, call }, warmupMs);
}

/** Decodes per second of one token (no verification). */
export async function decodeRate(name, s, warmupMs) {
  const token = s.accessToken;
  let fn;
  let call;
  if (name === 'jwt-keeper') {
    const { default: init, decodeJwt } = await ours();
    await init();
    fn = () => decodeJwt(token);
    call = "decodeJwt(token) -> {header, payload} ('jwt-keeper' after await init())";
  } else if (name === 'jwt-decode') {
    const { jwtDecode } = await lib('jwt-decode');
    fn = () => jwtDecode(token);
    call = 'jwtDecode(token) -> payload';
  } else if (name === 'jwt-decode (header + payload)') {
    const { jwtDecode } = await lib('jwt-decode');
    fn = () => ({ header: jwtDecode(token, { header: true }), payload: jwtDecode(token) });
    call = 'jwtDecode(token, {header:true}) + jwtDecode(token)';
  } else {
    throw new Error(`unknown decoder ${name}`);
  }
  const sub = claimsOf(token).sub;
  const out = fn();
  if ((out.payload ?? out).sub !== sub) throw new Error(`${name}: decoded the wrong payload`);
  return prepare({ fn, isAsync: false, batch: 64, call }, warmupMs);
}

// --- start-up -----------------------------------------------------------------------------------

/**
 * From `import()` of the shipped bundle to the first verified token, in a fresh browser context
 * (nothing cached): fetch, parse and compile the JS (and the wasm), instantiate, verify. The
 * bundle's first(s, mark) resolves to the verified payload, or (the client) to the access token
 * getAccessToken() hands out; `phases` holds when each phase ended, ms after the import began.
 */
export async function startup(name, s) {
  const url = `${OUT}startup/${name}/index.js`;
  const phases = {};
  const t0 = performance.now();
  const m = await import(url);
  phases.import = performance.now() - t0;
  const out = await m.first(s, (phase) => {
    phases[phase] = performance.now() - t0;
  });
  const ms = performance.now() - t0;
  phases.first = ms;
  if (typeof out === 'string' ? out !== s.accessToken : out?.sub !== claimsOf(s.accessToken).sub) {
    throw new Error(`${name}: the first token/verification is not the expected one (${JSON.stringify(out).slice(0, 60)})`);
  }
  return { ms, phases };
}

// --- Wycheproof: the client's WebCrypto path and the wasm verifier, case by case ---------------

/**
 * Each case through `checkSignature` (pkg/signature.js: WebCrypto, what the client core's verify
 * effect uses) and through `signatureVerdict` (pkg/verify/verifier.js: p256 in wasm). Every case gets
 * an answer from both; a throw is recorded as `threw: …`.
 */
export async function wycheproof(cases) {
  const page = { secureContext: globalThis.isSecureContext, subtle: typeof globalThis.crypto?.subtle?.verify === 'function' };
  const { checkSignature } = await import(`${OUT}pkg/signature.js`);
  const { signatureVerdict } = await import(`${OUT}pkg/verify/verifier.js`);
  const threw = (e) => `threw: ${String(e?.code ?? e?.name ?? 'error')}: ${String(e?.message ?? e).slice(0, 120)}`;
  const errors = [];
  const results = [];
  for (const c of cases) {
    const webcrypto = String(await checkSignature('ES256', c.jwk, c.data, c.sig).catch(threw));
    const wasm = String(await signatureVerdict('ES256', c.jwk, c.data, c.sig).catch(threw));
    if (webcrypto.startsWith('threw') || wasm.startsWith('threw')) errors.push(`tcId ${c.tcId}: ${webcrypto} / ${wasm}`);
    results.push({ tcId: c.tcId, webcrypto, wasm });
  }
  return { page, results, errors: errors.slice(0, 5) };
}

// --- network: refresh requests at expiry --------------------------------------------------------

const net = {};

/**
 * One tab, `n` callers at expiry. The session is adopted while the token is still good, then the
 * main thread is frozen until `fireAt` (past the token's expiry: no library timer can run in
 * between), then `n` getter calls start in the same task. Resolves when all settle.
 */
export async function concurrentAtExpiry(name, s, n, fireAt) {
  let get;
  if (name === 'jwt-keeper') {
    const client = await oursClient(s);
    await client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken });
    get = () => client.getAccessToken();
  } else if (name === 'oidc-client-ts') {
    const { UserManager, User, WebStorageStateStore, InMemoryWebStorage } = await lib('oidc-client-ts');
    const store = new WebStorageStateStore({ store: new InMemoryWebStorage() });
    const um = new UserManager({ ...oidcSettings(s, store), automaticSilentRenew: false });
    await um.storeUser(oidcUser(User, s, claimsOf(s.accessToken).exp));
    // oidc-client-ts has no "give me a fresh token" getter: the documented way is getUser(),
    // and signinSilent() (refresh_token grant when the user has one) when it has expired.
    get = async () => {
      let user = await um.getUser();
      if (!user || user.expired) user = await um.signinSilent();
      return user.access_token;
    };
  } else if (name === '@okta/okta-auth-js') {
    const { OktaAuth } = await lib('okta-auth-js');
    const auth = new OktaAuth(oktaOptions(s, { storage: 'memory', autoRenew: false }, { autoRenew: false, syncStorage: false }));
    auth.tokenManager.setTokens(oktaTokens(s, claimsOf(s.accessToken).exp));
    get = async () => {
      const token = await auth.getOrRenewAccessToken();
      if (!token) throw new Error('getOrRenewAccessToken() gave null');
      return token;
    };
  } else {
    throw new Error(`no network set-up for ${name}`);
  }
  busyWaitUntil(fireAt);
  const calls = [];
  for (let i = 0; i < n; i += 1) calls.push(settle(get()));
  return summarize(await Promise.all(calls), s.accessToken);
}

/**
 * Three tabs (three pages of one browser context): `first` adopts the session and stores it
 * where the library shares it between tabs; the others start afterwards and pick it up. Every
 * library keeps its own timers running; `tabGet` later asks each tab for a token.
 */
export async function tabSetup(name, s, first, dueAt) {
  if (name === 'jwt-keeper') {
    const client = await oursClient(s, { persist: 'local', crossTab: true });
    if (first) await client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken });
    for (let i = 0; i < 50 && !client.isAuthenticated; i += 1) await new Promise((r) => setTimeout(r, 10));
    net.get = () => client.getAccessToken();
    return { authenticated: client.isAuthenticated };
  }
  if (name === 'oidc-client-ts') {
    const { UserManager, User, WebStorageStateStore } = await lib('oidc-client-ts');
    const exp = claimsOf(s.accessToken).exp;
    const um = new UserManager({
      ...oidcSettings(s, new WebStorageStateStore({ store: window.localStorage })),
      automaticSilentRenew: true,
      // the silent renew fires this long before expiry: the same moment as jwt-keeper's refresh
      accessTokenExpiringNotificationTimeInSeconds: Math.max(1, Math.round(exp - dueAt / 1000)),
    });
    if (first) {
      await um.storeUser(oidcUser(User, s, exp));
    }
    const user = await um.getUser(); // arms this tab's expiry timers
    net.get = async () => {
      let u = await um.getUser();
      if (!u || u.expired) u = await um.signinSilent();
      return u.access_token;
    };
    return { authenticated: Boolean(user) };
  }
  if (name === '@okta/okta-auth-js') {
    const { OktaAuth } = await lib('okta-auth-js');
    const auth = new OktaAuth(
      oktaOptions(s, { storage: 'localStorage', autoRenew: true }, { autoRenew: true, syncStorage: true, renewOnTabActivation: false }),
    );
    // Okta treats a token as expired 30 s early (expireEarlySeconds, fixed outside localhost):
    // expiresAt is set so that it is due at `dueAt`, like the others.
    if (first) auth.tokenManager.setTokens(oktaTokens(s, Math.round(dueAt / 1000) + 30));
    net.errors = [];
    auth.tokenManager.on('error', (e) => net.errors.push(`${e?.name}: ${e?.errorCode ?? ''} ${e?.message}`.slice(0, 200)));
    await auth.start();
    net.get = async () => {
      const token = await auth.getOrRenewAccessToken();
      if (!token) throw new Error('getOrRenewAccessToken() gave null');
      return token;
    };
    return { authenticated: Boolean(auth.tokenManager.getTokensSync().accessToken) };
  }
  throw new Error(`no tab set-up for ${name}`);
}

export async function tabGet() {
  const result = await settle(net.get());
  if (!result.ok && net.errors?.length) result.error += ` (library errors: ${[...new Set(net.errors)].join('; ')})`;
  return result;
}

// --- memory ---------------------------------------------------------------------------------------

const mem = {};

/**
 * The client for the memory loop. `crossTab: false`: with it on, back-to-back refreshes each wait
 * for the Web Lock the previous one keeps a little after finishing (see refreshLatency), which
 * would only stretch the loop; the session code exercised is the same.
 */
export async function memorySetup(s) {
  mem.client = await oursClient(s, { crossTab: false });
  await mem.client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken });
  // The client core's wasm-bindgen glue (the module instance client.js imports): its init()
  // resolves to the wasm exports of the instance already loaded.
  const { default: glueInit } = await import(`${OUT}pkg/jwt_keeper_core.js`);
  mem.glueInit = glueInit;
  return { wasmBytes: await wasmBytes() };
}

/** The client core's wasm memory now (asked each time: a trap would replace the instance). */
async function wasmBytes() {
  return (await mem.glueInit()).memory.buffer.byteLength;
}

/** `n` forced refreshes in a row (each one a request to the local server and a verification). */
export async function memoryCycles(n) {
  let failures = 0;
  let lastError;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1) {
    try {
      consume(await mem.client.refresh());
    } catch (e) {
      failures += 1;
      lastError = `${e?.code}: ${e?.message}`;
    }
  }
  const ms = performance.now() - t0;
  return { failures, lastError, ms, wasmBytes: await wasmBytes(), authenticated: mem.client.isAuthenticated };
}

/**
 * Latency of one forced refresh() (request + verification + adoption), `n` times with a pause
 * between, with cross-tab coordination on and off: { crossTab: { samples, median }, ... }.
 */
export async function refreshLatency(s, n, pauseMs) {
  const out = {};
  for (const crossTab of [true, false]) {
    const client = await oursClient(s, { crossTab });
    const login = await (await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"user":"bench-latency"}' })).json();
    await client.setSession({ accessToken: login.access_token, refreshToken: login.refresh_token });
    const samples = [];
    for (let i = 0; i < n; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const t0 = performance.now();
      consume(await client.refresh());
      samples.push(performance.now() - t0);
    }
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1) consume(await client.refresh());
    client.dispose();
    out[crossTab ? 'crossTabOn' : 'crossTabOff'] = { samples, median: median(samples), backToBackMs: (performance.now() - t0) / n };
  }
  return out;
}

export function memoryDispose() {
  mem.client?.dispose();
  mem.client = undefined;
}

export function sinkValue() {
  return sink;
}

globalThis.bench = {
  measureWindow,
  finishMeasure,
  hotPath,
  verifyRate,
  decodeRate,
  startup,
  wycheproof,
  concurrentAtExpiry,
  tabSetup,
  tabGet,
  memorySetup,
  memoryCycles,
  memoryDispose,
  refreshLatency,
  sinkValue,
};
