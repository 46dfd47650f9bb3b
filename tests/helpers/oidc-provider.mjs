// A certified OpenID provider (npm oidc-provider 9.x) on 127.0.0.1 for interop tests: one public
// client with PKCE, refresh token rotation, JWT (or opaque) access tokens for one resource,
// CORS for given page origins, and a Node-side authorization code flow (obtainTokens) that
// drives the provider's built-in dev login and consent pages over HTTP.
//
//   const op = await startOidcProvider({ alg: 'RS256', allowedOrigins: [pageOrigin] });
//   const tokens = await op.obtainTokens();   // { access_token, refresh_token, id_token, ... }
//   await op.close();
//
// Not for production: everything lives in memory, any login name with any password signs in.

import crypto from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';

/** oidc-provider prints notices and warnings through console.info/warn with these prefixes. */
const PROVIDER_NOTICE = /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING): /;
const ALGS = ['RS256', 'PS256', 'ES256'];
const FORMATS = ['jwt', 'opaque'];
const MAX_REDIRECTS = 10;

let quietCount = 0;
let restoreConsole;

/**
 * Drops oidc-provider's own notices (unsupported Node version, dev-only interactions, default
 * helpers) while at least one quiet provider runs; every other console line passes.
 */
function quietBegin() {
  quietCount += 1;
  if (quietCount > 1) return;
  const { info, warn } = console;
  const filter = (original) =>
    function filtered(...args) {
      if (typeof args[0] === 'string' && PROVIDER_NOTICE.test(args[0])) return;
      original.apply(console, args);
    };
  console.info = filter(info);
  console.warn = filter(warn);
  restoreConsole = () => {
    console.info = info;
    console.warn = warn;
  };
}

function quietEnd() {
  quietCount -= 1;
  if (quietCount === 0) restoreConsole();
}

let providerModule;
async function loadProvider() {
  // The runtime-version warning comes at import time.
  quietBegin();
  try {
    providerModule ??= await import('oidc-provider');
  } finally {
    quietEnd();
  }
  return providerModule;
}

/**
 * In-memory storage for oidc-provider models, shared by the Provider instances one test
 * provider goes through (rotateKeys makes a new one): sessions, grants and refresh tokens
 * survive a key rotation. Follows the adapter contract of oidc-provider's documentation:
 * upsert / find / findByUid / findByUserCode / consume / destroy / revokeByGrantId.
 */
function createStore() {
  const records = new Map(); // `${model}:${id}` -> { payload, expiresAt }
  const index = new Map(); // `${model}:uid:${uid}` or `${model}:userCode:${code}` -> id
  const byGrant = new Map(); // grantId -> Set of record keys
  const nowS = () => Math.floor(Date.now() / 1000);

  return class StoreAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      records.set(key, { payload: structuredClone(payload), expiresAt: expiresIn ? nowS() + expiresIn : Infinity });
      if (payload.uid) index.set(`${this.model}:uid:${payload.uid}`, id);
      if (payload.userCode) index.set(`${this.model}:userCode:${payload.userCode}`, id);
      if (payload.grantId) {
        if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
        byGrant.get(payload.grantId).add(key);
      }
    }

    async find(id) {
      const record = records.get(this.key(id));
      if (!record) return undefined;
      if (record.expiresAt <= nowS()) {
        records.delete(this.key(id));
        return undefined;
      }
      return structuredClone(record.payload);
    }

    async findByUid(uid) {
      const id = index.get(`${this.model}:uid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode) {
      const id = index.get(`${this.model}:userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id) {
      const record = records.get(this.key(id));
      if (record) record.payload.consumed = nowS();
    }

    async destroy(id) {
      records.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const key of byGrant.get(grantId) ?? []) records.delete(key);
      byGrant.delete(grantId);
    }
  };
}

/** A private signing JWK for `alg` with kid, alg and use:'sig' (RSA keys are 2048 bits). */
async function signingJwk(alg) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: `op-${crypto.randomBytes(6).toString('base64url')}`, alg, use: 'sig' };
}

const publicPart = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

/** A minimal cookie jar for one host: name -> value, honouring deletions (Max-Age=0, past Expires). */
function cookieJar() {
  const cookies = new Map();
  return {
    store(response) {
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(';').map((s) => s.trim());
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq);
        const value = pair.slice(eq + 1);
        const gone = attrs.some((a) => {
          const [k, v = ''] = a.split('=');
          if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
          if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
          return false;
        });
        if (gone || value === '') cookies.delete(name);
        else cookies.set(name, value);
      }
    },
    header() {
      return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    },
  };
}

const decodeEntities = (s) =>
  s.replace(/&(#x?[0-9a-f]+|amp|lt|gt|quot|#39|apos);/gi, (m, e) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()];
    if (named) return named;
    return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });

/** The first `<form>` of a page: its action and its inputs' names and values. */
function parseForm(html) {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html.slice(0, 500)}`);
  const attr = (tag, name) => {
    const m = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag);
    return m ? decodeEntities(m[2] ?? m[3]) : undefined;
  };
  const inputs = [...form[2].matchAll(/<input\b[^>]*>/gi)].map(([tag]) => ({
    type: (attr(tag, 'type') ?? 'text').toLowerCase(),
    name: attr(tag, 'name'),
    value: attr(tag, 'value') ?? '',
  }));
  return { action: attr(form[1], 'action'), method: (attr(form[1], 'method') ?? 'get').toLowerCase(), inputs };
}

const b64urlSha256 = (text) => crypto.createHash('sha256').update(text).digest('base64url');

/**
 * Starts oidc-provider on 127.0.0.1 (a free port unless `port` is given).
 *
 * @param {object} [options]
 * @param {'RS256'|'PS256'|'ES256'} [options.alg='RS256'] signs access tokens and ID tokens.
 * @param {'jwt'|'opaque'} [options.accessTokenFormat='jwt']
 * @param {string[]} [options.allowedOrigins=[]] page origins whose fetch may call the token,
 *   revocation and userinfo endpoints (CORS); the redirect URIs' origins are allowed too.
 * @param {string[]} [options.redirectUris] the client's redirect URIs; default `${issuer}/cb`
 *   (obtainTokens uses the first).
 * @param {string[]} [options.postLogoutRedirectUris=[]] for end_session.
 * @param {number} [options.accessTokenTtl=120] seconds.
 * @param {number} [options.idTokenTtl=3600] seconds.
 * @param {number} [options.refreshTokenTtl=86400] seconds.
 * @param {string} [options.clientId='jwt-keeper-test']
 * @param {string} [options.resource='urn:jwt-keeper:test-api'] the one API; the JWT access
 *   tokens' `aud`, granted by default (defaultResource), scope `api:read`.
 * @param {'127.0.0.1'|'localhost'} [options.issuerHost='127.0.0.1'] host name in the issuer.
 * @param {number} [options.port=0]
 * @param {boolean} [options.quiet=true] drop oidc-provider's console notices and warnings.
 */
export async function startOidcProvider(options = {}) {
  const {
    alg = 'RS256',
    accessTokenFormat = 'jwt',
    allowedOrigins = [],
    postLogoutRedirectUris = [],
    accessTokenTtl = 120,
    idTokenTtl = 3600,
    refreshTokenTtl = 86400,
    clientId = 'jwt-keeper-test',
    resource = 'urn:jwt-keeper:test-api',
    issuerHost = '127.0.0.1',
    port: wantedPort = 0,
    quiet = true,
  } = options;
  if (!ALGS.includes(alg)) throw new TypeError(`alg must be one of ${ALGS.join(', ')}`);
  if (!FORMATS.includes(accessTokenFormat)) throw new TypeError(`accessTokenFormat must be one of ${FORMATS.join(', ')}`);
  for (const ttl of [accessTokenTtl, idTokenTtl, refreshTokenTtl]) {
    if (!Number.isInteger(ttl) || ttl <= 0) throw new TypeError('TTLs must be positive integers (seconds)');
  }
  const origins = new Set(allowedOrigins.map((o) => new URL(o).origin));

  const { Provider } = await loadProvider();
  if (quiet) quietBegin();

  // Listen first: the issuer needs the port.
  let handler = (req, res) => {
    res.statusCode = 503;
    res.end();
  };
  /** Every request the provider received, in order: { method, path }. */
  const requestLog = [];
  const server = http.createServer((req, res) => {
    requestLog.push({ method: req.method, path: (req.url ?? '').split('?')[0] });
    handler(req, res);
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(wantedPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    if (quiet) quietEnd();
    throw e;
  }
  const { port } = server.address();
  const issuer = `http://${issuerHost}:${port}`;
  const redirectUris = options.redirectUris ?? [`${issuer}/cb`];
  for (const uri of redirectUris) origins.add(new URL(uri).origin);

  const Adapter = createStore();
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
  /** Private signing keys, newest first (oidc-provider signs with the first one fitting the alg). */
  let keys = [await signingJwk(alg)];
  /** Keys made by rotateKeys({ publish: false }): they sign but the JWKS does not show them. */
  const hidden = new Set();

  function configuration() {
    return {
      adapter: Adapter,
      clients: [
        {
          client_id: clientId,
          token_endpoint_auth_method: 'none',
          application_type: 'web',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: redirectUris,
          post_logout_redirect_uris: postLogoutRedirectUris,
          id_token_signed_response_alg: alg,
        },
      ],
      clientDefaults: { id_token_signed_response_alg: alg },
      clientBasedCORS(ctx, origin) {
        return origins.has(origin);
      },
      cookies: { keys: cookieKeys },
      jwks: { keys: keys.map((k) => ({ ...k })) },
      async findAccount(ctx, sub) {
        return { accountId: sub, async claims() { return { sub }; } };
      },
      features: {
        devInteractions: { enabled: true },
        revocation: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => resource,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (ctx, indicator) => {
            if (indicator !== resource) throw new providerModule.errors.InvalidTarget();
            return {
              scope: 'api:read',
              audience: resource,
              accessTokenTTL: accessTokenTtl,
              accessTokenFormat,
              ...(accessTokenFormat === 'jwt' ? { jwt: { sign: { alg } } } : {}),
            };
          },
        },
      },
      pkce: { required: () => true },
      // Refresh tokens for this client whether or not offline_access survived the request
      // (oidc-provider drops offline_access unless prompt=consent is asked for).
      issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
      expiresWithSession: async () => false,
      rotateRefreshToken: true,
      ttl: {
        AccessToken: accessTokenTtl,
        AuthorizationCode: 60,
        IdToken: idTokenTtl,
        RefreshToken: refreshTokenTtl,
        Interaction: 600,
        Session: refreshTokenTtl,
        Grant: refreshTokenTtl,
      },
    };
  }

  /** Serves the public part of the keys, hidden ones left out, when the JWKS is asked for. */
  function build() {
    const provider = new Provider(issuer, configuration());
    provider.use(async (ctx, next) => {
      await next();
      // The client learns the server clock from Date; it is not CORS-safelisted.
      if (ctx.response.get('Access-Control-Allow-Origin')) {
        const exposed = ctx.response.get('Access-Control-Expose-Headers');
        const list = exposed ? exposed.split(',').map((s) => s.trim()) : [];
        if (!list.includes('Date')) ctx.set('Access-Control-Expose-Headers', [...list, 'Date'].join(', '));
      }
      if (ctx.oidc?.route === 'jwks' && ctx.status === 200 && hidden.size > 0) {
        ctx.body = { keys: ctx.body.keys.filter((k) => !hidden.has(k.kid)) };
      }
    });
    return provider;
  }

  let provider = build();
  handler = provider.callback();

  const discovery = await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json();

  /**
   * One authorization code + PKCE flow over HTTP: the authorization request, the dev login
   * page (any login, any password), the consent page, the redirect with `code`, then the code
   * exchange. Resolves with the token response.
   */
  async function obtainTokens({ scope = 'openid offline_access api:read', account = 'alice', nonce, prompt = 'consent', redirectUri = redirectUris[0] } = {}) {
    const jar = cookieJar();
    const verifier = crypto.randomBytes(32).toString('base64url');
    const state = crypto.randomBytes(16).toString('base64url');
    const auth = new URL(discovery.authorization_endpoint);
    const params = {
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: b64urlSha256(verifier),
      code_challenge_method: 'S256',
      ...(nonce !== undefined ? { nonce } : {}),
      ...(prompt ? { prompt } : {}),
    };
    for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);

    const request = async (url, init = {}) => {
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, Cookie: jar.header() } });
      jar.store(res);
      return res;
    };

    let res = await request(auth.href);
    for (let hops = 0; hops < MAX_REDIRECTS; hops += 1) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location'), res.url || auth.href);
        await res.arrayBuffer();
        if (next.href.startsWith(redirectUri) && (next.searchParams.has('code') || next.searchParams.has('error'))) {
          if (next.searchParams.get('error')) {
            throw new Error(`authorization failed: ${next.searchParams.get('error')}: ${next.searchParams.get('error_description')}`);
          }
          if (next.searchParams.get('state') !== state) throw new Error('state mismatch');
          return exchange(next.searchParams.get('code'), verifier, redirectUri);
        }
        res = await request(next.href);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${res.url}:\n${html.slice(0, 500)}`);
      const form = parseForm(html);
      const body = new URLSearchParams();
      for (const input of form.inputs) {
        if (!input.name) continue;
        if (input.name === 'login') body.set('login', account);
        else if (input.type === 'password') body.set(input.name, 'any-password');
        else body.set(input.name, input.value);
      }
      res = await request(new URL(form.action, res.url).href, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      });
    }
    throw new Error('too many redirects in the authorization flow');
  }

  async function exchange(code, verifier, redirectUri) {
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        client_id: clientId,
      }).toString(),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`code exchange answered ${res.status}: ${JSON.stringify(body)}`);
    return body;
  }

  /** RFC 6749 §6 refresh from Node; resolves with { status, body }. */
  async function refresh(refreshToken) {
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }).toString(),
    });
    return { status: res.status, body: await res.json() };
  }

  /**
   * Signs with a new key from now on. `publish` (default true) keeps it in the JWKS beside the
   * older keys; `publish: false` leaves it out (tokens then carry a kid the JWKS lacks);
   * `dropOld` removes the older keys. Sessions, grants and refresh tokens survive (the storage
   * is shared; oidc-provider gets a new instance with the new key set). Resolves { kid }.
   */
  async function rotateKeys({ publish = true, dropOld = false } = {}) {
    const key = await signingJwk(alg);
    keys = dropOld ? [key] : [key, ...keys];
    if (!publish) hidden.add(key.kid);
    for (const kid of hidden) if (!keys.some((k) => k.kid === kid)) hidden.delete(kid);
    provider = build();
    handler = provider.callback();
    return { kid: key.kid };
  }

  let closed = false;
  return {
    issuer,
    port,
    clientId,
    resource,
    audience: resource,
    alg,
    accessTokenFormat,
    redirectUri: redirectUris[0],
    redirectUris: [...redirectUris],
    discovery,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    /** The kid of the key that signs now. */
    get kid() {
      return keys[0].kid;
    },
    /** The published public keys, as the JWKS endpoint serves them. */
    get jwks() {
      return { keys: keys.filter((k) => !hidden.has(k.kid)).map(publicPart) };
    },
    /** The oidc-provider instance now serving (a new one after rotateKeys). */
    get provider() {
      return provider;
    },
    /** Every request received so far, in order: { method, path }. */
    get requests() {
      return [...requestLog];
    },
    obtainTokens,
    refresh,
    rotateKeys,
    /** Stops listening and ends every connection. Idempotent. */
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => {
        server.close(() => {
          if (quiet) quietEnd();
          resolve();
        });
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
    },
  };
}
