// A certified OpenID provider (npm oidc-provider 9.x) on 127.0.0.1 for interop tests: one public
// client with PKCE, refresh token rotation, JWT (or opaque) access tokens for one resource,
// CORS for given page origins, and a Node-side authorization code flow (obtainTokens) that
// drives the provider's built-in dev login and consent pages over HTTP. With `dpop` the
// provider binds tokens to DPoP keys (RFC 9449), obtainTokens/refresh can send proofs from Node,
// and `GET /api/me` beside the provider's routes is a resource that only takes DPoP-bound tokens.
//
//   const op = await startOidcProvider({ alg: 'RS256', allowedOrigins: [pageOrigin] });
//   const tokens = await op.obtainTokens();   // { access_token, refresh_token, id_token, ... }
//   const dpopKey = await jose.generateKeyPair('ES256');
//   const bound = await op.obtainTokens({ dpopKey });   // token_type 'DPoP', cnf.jkt in the JWT
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
const DPOP_OPTIONS = [false, true, 'nonce'];
const MAX_REDIRECTS = 10;
/** The resource route beside the provider's own (which has `/me` for userinfo, nothing under /api). */
const API_PATH = '/api/me';
/** How far a proof's iat may lie from the clock at `/api/me`, in seconds. */
const API_IAT_WINDOW_S = 60;
/** Headers a page of another origin must be able to read from the token endpoint and `/api/me`. */
const EXPOSED_HEADERS = ['Date', 'DPoP-Nonce', 'WWW-Authenticate'];

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

const publicJwks = new WeakMap();
/** The public JWK of a jose key pair (`{ publicKey, privateKey }`), members of RFC 7638 only. */
async function dpopPublicJwk(dpopKey) {
  if (!publicJwks.has(dpopKey)) {
    const { kty, crv, x, y } = await jose.exportJWK(dpopKey.publicKey);
    publicJwks.set(dpopKey, { kty, crv, x, y });
  }
  return publicJwks.get(dpopKey);
}

/** RFC 7638 SHA-256 thumbprint of a jose ES256 key pair's public key: what `cnf.jkt` names. */
export async function dpopThumbprint(dpopKey) {
  return jose.calculateJwkThumbprint(await dpopPublicJwk(dpopKey), 'sha256');
}

/**
 * A DPoP proof (RFC 9449 §4.2) signed with an ES256 jose key pair: header `{ typ: 'dpop+jwt',
 * alg: 'ES256', jwk }`, claims `jti, htm, htu, iat`, `nonce` when given and, with `accessToken`,
 * `ath` = base64url(SHA-256(access token)). `jti`, `iat` (seconds) and `ath` may be forced to
 * build bad proofs; `htu` loses its query and fragment.
 */
export async function createDpopProof(dpopKey, { htm, htu, nonce, accessToken, jti, iat, ath } = {}) {
  const target = new URL(htu);
  target.search = '';
  target.hash = '';
  const claims = {
    jti: jti ?? crypto.randomBytes(16).toString('base64url'),
    htm,
    htu: target.href,
    iat: iat ?? Math.floor(Date.now() / 1000),
    ...(nonce !== undefined ? { nonce } : {}),
    ...(ath !== undefined ? { ath } : accessToken !== undefined ? { ath: b64urlSha256(accessToken) } : {}),
  };
  return new jose.SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await dpopPublicJwk(dpopKey) })
    .sign(dpopKey.privateKey);
}

/** The parameters of a `WWW-Authenticate: DPoP k="v", ...` challenge, or null for another scheme. */
export function parseDpopChallenge(header) {
  const m = /^\s*DPoP\b(.*)$/i.exec(header ?? '');
  if (!m) return null;
  return Object.fromEntries([...m[1].matchAll(/([A-Za-z_]+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
}

/** What a proof says about itself, unverified, for the records: { jti, jkt, nonce } (null when absent or unreadable). */
async function proofSummary(proof) {
  if (typeof proof !== 'string' || proof === '') return null;
  try {
    const header = jose.decodeProtectedHeader(proof);
    const claims = jose.decodeJwt(proof);
    return {
      jti: typeof claims.jti === 'string' ? claims.jti : null,
      jkt: header.jwk ? await jose.calculateJwkThumbprint(header.jwk, 'sha256') : null,
      nonce: typeof claims.nonce === 'string' ? claims.nonce : null,
    };
  } catch {
    return { jti: null, jkt: null, nonce: null };
  }
}

/** Adds `names` to a response's Access-Control-Expose-Headers (set through `get`/`set`), keeping what is there. */
function exposeHeaders(get, set, names) {
  const exposed = get('Access-Control-Expose-Headers');
  const list = exposed ? String(exposed).split(',').map((s) => s.trim()).filter(Boolean) : [];
  const lower = new Set(list.map((h) => h.toLowerCase()));
  const missing = names.filter((n) => !lower.has(n.toLowerCase()));
  if (missing.length > 0) set('Access-Control-Expose-Headers', [...list, ...missing].join(', '));
}

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
 * @param {false|true|'nonce'} [options.dpop=false] DPoP (RFC 9449) at the provider: false turns
 *   oidc-provider's `features.dPoP` off (9.x has it on by default; `DPoP` headers are then
 *   ignored and tokens are Bearer); true turns it on (a request with a proof gets DPoP-bound
 *   tokens, one without gets Bearer ones); 'nonce' also demands a server nonce in every proof
 *   (`nonceSecret` and `requireNonce`): a proof without a current one gets 400 `use_dpop_nonce`
 *   with a `DPoP-Nonce` header.
 * @param {boolean} [options.apiNonce=false] `GET /api/me` demands a nonce of its own in proofs
 *   (401 `use_dpop_nonce` and `DPoP-Nonce`); `requireApiNonce()` changes it.
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
    dpop = false,
    apiNonce = false,
  } = options;
  if (!ALGS.includes(alg)) throw new TypeError(`alg must be one of ${ALGS.join(', ')}`);
  if (!FORMATS.includes(accessTokenFormat)) throw new TypeError(`accessTokenFormat must be one of ${FORMATS.join(', ')}`);
  for (const ttl of [accessTokenTtl, idTokenTtl, refreshTokenTtl]) {
    if (!Number.isInteger(ttl) || ttl <= 0) throw new TypeError('TTLs must be positive integers (seconds)');
  }
  if (!DPOP_OPTIONS.includes(dpop)) throw new TypeError("dpop must be false, true or 'nonce'");
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
    const path = (req.url ?? '').split('?')[0];
    requestLog.push({ method: req.method, path });
    if (path === API_PATH) {
      apiMe(req, res).catch((e) => {
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end(String(e?.message ?? e));
        } else req.socket.destroy();
      });
      return;
    }
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
  /** One nonce secret for every Provider instance of this test provider, so nonces survive rotateKeys. */
  const nonceSecret = crypto.randomBytes(32);

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
        dPoP:
          dpop === false
            ? { enabled: false }
            : { enabled: true, ...(dpop === 'nonce' ? { nonceSecret, requireNonce: () => true } : {}) },
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
    // oidc-provider answers most refusals with a generic error_description; the reason is in
    // the error's error_detail, which only its events see.
    provider.on('grant.error', (ctx, error) => {
      grantErrors.set(ctx, error?.error_detail ?? null);
    });
    provider.use(async (ctx, next) => {
      const tokenRequest = ctx.method === 'POST' && ctx.path === tokenPath;
      const proof = tokenRequest ? await proofSummary(ctx.get('DPoP')) : null;
      await next();
      // The client learns the server clock from Date, the nonce to use from DPoP-Nonce and why a
      // request was refused from WWW-Authenticate; none is CORS-safelisted, and oidc-provider
      // exposes DPoP-Nonce only with a nonce secret.
      if (ctx.response.get('Access-Control-Allow-Origin')) {
        exposeHeaders((n) => ctx.response.get(n), (n, v) => ctx.set(n, v), EXPOSED_HEADERS);
      }
      if (tokenRequest) {
        const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
        tokenLog.push({
          ...logStamp(),
          grantType: ctx.oidc?.body?.grant_type ?? null,
          origin: ctx.get('Origin') || null,
          proof,
          status: ctx.status,
          error: body.error ?? null,
          errorDescription: body.error_description ?? null,
          errorDetail: grantErrors.get(ctx) ?? null,
          tokenType: body.token_type ?? null,
          dpopNonce: ctx.response.get('DPoP-Nonce') || null,
        });
      }
      if (ctx.oidc?.route === 'jwks' && ctx.status === 200 && hidden.size > 0) {
        ctx.body = { keys: ctx.body.keys.filter((k) => !hidden.has(k.kid)) };
      }
    });
    return provider;
  }

  /** `{ seq, at }` of every record: seq orders the records of tokenLog and apiLog together. */
  let lastSeq = 0;
  const logStamp = () => ({ seq: (lastSeq += 1), at: Date.now() });
  /** Every POST to the token endpoint, as the provider answered it. */
  const tokenLog = [];
  /** Koa context -> error_detail of the token endpoint's refusal (from the grant.error event). */
  const grantErrors = new WeakMap();
  const tokenPath = new URL(`${issuer}/token`).pathname;

  let provider = build();
  handler = provider.callback();

  const discovery = await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json();

  /**
   * One authorization code + PKCE flow over HTTP: the authorization request, the dev login
   * page (any login, any password), the consent page, the redirect with `code`, then the code
   * exchange. Resolves with the token response. With `dpopKey` (a jose ES256 key pair) the code
   * exchange carries a DPoP proof, retried once with the provider's nonce after a 400
   * `use_dpop_nonce` (tokenLog shows every answer).
   */
  async function obtainTokens({ scope = 'openid offline_access api:read', account = 'alice', nonce, prompt = 'consent', redirectUri = redirectUris[0], dpopKey } = {}) {
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
          return exchange(next.searchParams.get('code'), verifier, redirectUri, { dpopKey });
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

  /**
   * A form POST to the token endpoint from Node. With `dpopKey` it carries a DPoP proof (with
   * `nonce` if given) and, answered 400 `use_dpop_nonce` with a `DPoP-Nonce` header, is sent once
   * more with a new proof carrying that nonce. Resolves with the last answer and every one:
   * `{ status, body, dpopNonce, attempts: [{ status, error, dpopNonce, proof }] }`.
   */
  async function tokenRequest(params, { dpopKey, nonce } = {}) {
    const attempts = [];
    let proofNonce = nonce;
    for (;;) {
      const proof = dpopKey ? await createDpopProof(dpopKey, { htm: 'POST', htu: discovery.token_endpoint, nonce: proofNonce }) : undefined;
      const res = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(proof ? { DPoP: proof } : {}) },
        body: new URLSearchParams(params).toString(),
      });
      const body = await res.json();
      const dpopNonce = res.headers.get('dpop-nonce');
      attempts.push({ status: res.status, error: body.error ?? null, dpopNonce, proof: proof ?? null });
      const retry = dpopKey && attempts.length === 1 && res.status === 400 && body.error === 'use_dpop_nonce' && dpopNonce;
      if (!retry) return { status: res.status, body, dpopNonce, attempts };
      proofNonce = dpopNonce;
    }
  }

  async function exchange(code, verifier, redirectUri, { dpopKey } = {}) {
    const answer = await tokenRequest(
      { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: clientId },
      { dpopKey },
    );
    if (answer.status !== 200) throw new Error(`code exchange answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /**
   * RFC 6749 §6 refresh from Node; resolves with { status, body }. With `dpopKey` (and
   * optionally a `nonce` to start with) it proves that key as tokenRequest does, and the answer
   * also has `dpopNonce` and `attempts`.
   */
  async function refresh(refreshToken, { dpopKey, nonce } = {}) {
    return tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }, { dpopKey, nonce });
  }

  // --- GET /api/me: a resource server for DPoP-bound JWT access tokens -------------------------

  /** The jti of every proof /api/me accepted (RFC 9449 §11.1). */
  const apiJtis = new Set();
  let apiNonceRequired = apiNonce;
  let apiNonceValue = crypto.randomBytes(16).toString('base64url');
  /** Every request /api/me received, with what it answered. */
  const apiLog = [];
  /** The URLs a proof's htu may name for /api/me: the issuer's host and 127.0.0.1. */
  const apiUrls = new Set([`${issuer}${API_PATH}`, `http://127.0.0.1:${port}${API_PATH}`]);

  /**
   * Verifies a DPoP-bound access token and its proof (RFC 9449 §4.3, §7.1): `Authorization:
   * DPoP <JWT access token>` signed by a published key of the provider (typ at+jwt, iss, aud =
   * resource, exp) and bound (`cnf.jkt`); exactly one `DPoP` proof, typ dpop+jwt, ES256 under
   * its header jwk (no private members), htm GET, htu this URL, iat within API_IAT_WINDOW_S,
   * `ath` the token's hash, its jwk's thumbprint the token's `cnf.jkt`, jti not used before, and
   * (checked last) the current nonce while one is demanded. Resolves `{ outcome, status, error,
   * description, sub, jkt, jti }`; outcome 'ok' only when every check passed.
   */
  async function checkApiRequest(req) {
    const refuse = (outcome, error, description, known = {}) => ({ outcome, status: 401, error, description, ...known });
    const auth = req.headers.authorization ?? '';
    const match = /^(\S+) ([A-Za-z0-9._~+/=-]+)$/.exec(auth);
    if (!auth) return refuse('no_token', null, null);
    if (!match) return refuse('malformed_authorization', 'invalid_token', 'the Authorization header is malformed');
    if (match[1].toLowerCase() !== 'dpop') return refuse('wrong_scheme', 'invalid_token', `the access token must be sent with the DPoP scheme, not ${match[1]}`);
    const token = match[2];
    let claims;
    try {
      ({ payload: claims } = await jose.jwtVerify(token, jose.createLocalJWKSet(api.jwks), {
        issuer,
        audience: resource,
        typ: 'at+jwt',
        algorithms: [alg],
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (e) {
      return refuse('invalid_token', 'invalid_token', e?.code === 'ERR_JWT_EXPIRED' ? 'the access token expired' : 'the access token is invalid');
    }
    const known = { sub: claims.sub };
    const boundTo = typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt : null;
    if (!boundTo) return refuse('not_bound', 'invalid_token', 'the access token is not DPoP-bound', known);
    // Two DPoP headers may also arrive folded into one line ("a, b"); a compact JWS has no comma.
    const lines = (req.headersDistinct.dpop ?? []).flatMap((line) => line.split(',')).map((v) => v.trim());
    if (lines.length === 0) return refuse('missing_proof', 'invalid_dpop_proof', 'the DPoP header is missing', known);
    if (lines.length > 1) return refuse('multiple_proofs', 'invalid_dpop_proof', 'more than one DPoP header', known);
    let proof;
    try {
      const header = jose.decodeProtectedHeader(lines[0]);
      if (header.jwk && ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => Object.hasOwn(header.jwk, m))) throw new Error('private jwk');
      proof = await jose.jwtVerify(lines[0], jose.EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    } catch {
      return refuse('bad_proof', 'invalid_dpop_proof', 'the DPoP proof is not a JWT of typ dpop+jwt signed ES256 by its header jwk', known);
    }
    const p = proof.payload;
    known.jkt = await jose.calculateJwkThumbprint(proof.protectedHeader.jwk, 'sha256');
    known.jti = typeof p.jti === 'string' ? p.jti : null;
    if (!known.jti || typeof p.htm !== 'string' || typeof p.htu !== 'string' || typeof p.iat !== 'number') {
      return refuse('missing_claim', 'invalid_dpop_proof', 'the DPoP proof needs jti, htm, htu and iat', known);
    }
    if (p.htm !== req.method) return refuse('htm_mismatch', 'invalid_dpop_proof', 'htm is not the request method', known);
    let htu;
    try {
      htu = new URL(p.htu);
      htu.search = '';
      htu.hash = '';
    } catch {
      htu = null;
    }
    if (!htu || !apiUrls.has(htu.href)) return refuse('htu_mismatch', 'invalid_dpop_proof', 'htu is not the request URL', known);
    if (Math.abs(Date.now() / 1000 - p.iat) > API_IAT_WINDOW_S) {
      return refuse('iat_window', 'invalid_dpop_proof', `iat is more than ${API_IAT_WINDOW_S} s away from now`, known);
    }
    if (p.ath !== b64urlSha256(token)) return refuse('ath_mismatch', 'invalid_dpop_proof', 'ath is not the hash of the access token', known);
    if (known.jkt !== boundTo) return refuse('key_mismatch', 'invalid_token', 'the DPoP proof key is not the key the access token is bound to', known);
    if (apiJtis.has(known.jti)) return refuse('jti_replay', 'invalid_dpop_proof', 'the jti of the DPoP proof was used before', known);
    if (apiNonceRequired) {
      if (p.nonce === undefined) return refuse('nonce_required', 'use_dpop_nonce', 'the resource server requires a DPoP nonce', known);
      if (p.nonce !== apiNonceValue) return refuse('nonce_stale', 'use_dpop_nonce', 'the DPoP nonce is not the current one', known);
    }
    apiJtis.add(known.jti);
    return { outcome: 'ok', status: 200, error: null, description: null, clientId: claims.client_id, scope: claims.scope, ...known };
  }

  /** `GET /api/me` (and its CORS preflight): checkApiRequest, recorded in apiLog. */
  async function apiMe(req, res) {
    const origin = req.headers.origin;
    const cors = origin !== undefined && origins.has(origin);
    res.setHeader('Vary', 'Origin');
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      exposeHeaders((n) => res.getHeader(n), (n, v) => res.setHeader(n, v), EXPOSED_HEADERS);
    }
    const record = { method: req.method, origin: origin ?? null, hasProof: (req.headersDistinct.dpop ?? []).length > 0 };
    if (req.method === 'OPTIONS') {
      if (cors) {
        res.setHeader('Access-Control-Allow-Methods', 'GET');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, DPoP');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      apiLog.push({ ...logStamp(), ...record, outcome: 'preflight', status: 204, error: null });
      res.statusCode = 204;
      res.end();
      return;
    }
    if (req.method !== 'GET') {
      apiLog.push({ ...logStamp(), ...record, outcome: 'method_not_allowed', status: 405, error: null });
      res.writeHead(405, { Allow: 'GET, OPTIONS' });
      res.end();
      return;
    }
    const result = await checkApiRequest(req);
    const proofSent = await proofSummary((req.headersDistinct.dpop ?? [])[0]);
    apiLog.push({
      ...logStamp(),
      ...record,
      outcome: result.outcome,
      status: result.status,
      error: result.error,
      sub: result.sub ?? null,
      jkt: result.jkt ?? null,
      jti: result.jti ?? null,
      nonce: proofSent?.nonce ?? null,
    });
    if (apiNonceRequired) res.setHeader('DPoP-Nonce', apiNonceValue);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Type', 'application/json');
    if (result.status === 200) {
      res.statusCode = 200;
      res.end(JSON.stringify({ sub: result.sub, client_id: result.clientId, scope: result.scope, jkt: result.jkt }));
      return;
    }
    const params = [
      ...(result.error ? [`error="${result.error}"`, `error_description="${result.description}"`] : []),
      'algs="ES256"',
    ];
    res.setHeader('WWW-Authenticate', `DPoP ${params.join(', ')}`);
    res.statusCode = 401;
    res.end(JSON.stringify({ error: result.error ?? 'unauthorized', ...(result.description ? { error_description: result.description } : {}) }));
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
  const api = {
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
    /** false, true or 'nonce', as started. */
    dpop,
    /** `GET` here with `Authorization: DPoP <JWT access token>` and a proof (opaque tokens are invalid_token); see apiLog. */
    apiUrl: `${issuer}${API_PATH}`,
    /**
     * Every POST to the token endpoint, in order: { seq, at, grantType, origin, proof: { jti,
     * jkt, nonce } | null (the DPoP header as sent, unverified), status, error, errorDescription,
     * errorDetail (oidc-provider's reason, not sent to the client), tokenType, dpopNonce (the
     * DPoP-Nonce header of the answer) }.
     */
    get tokenLog() {
      return tokenLog.map((r) => ({ ...r }));
    },
    /**
     * Every request to /api/me, in order: { seq, at, method, origin, hasProof, outcome, status,
     * error }, and for GET also { sub, jkt, jti, nonce } (nonce: the one the proof carried).
     * outcome: 'ok' | 'preflight' | 'method_not_allowed' | 'no_token' | 'malformed_authorization'
     * | 'wrong_scheme' | 'invalid_token' | 'not_bound' | 'missing_proof' | 'multiple_proofs' |
     * 'bad_proof' | 'missing_claim' | 'htm_mismatch' | 'htu_mismatch' | 'iat_window' |
     * 'ath_mismatch' | 'key_mismatch' | 'jti_replay' | 'nonce_required' | 'nonce_stale'.
     */
    get apiLog() {
      return apiLog.map((r) => ({ ...r }));
    },
    /** While on, /api/me demands its current nonce in every proof and sends it as DPoP-Nonce. Returns { nonce }. */
    requireApiNonce(on = true) {
      apiNonceRequired = Boolean(on);
      return { nonce: apiNonceValue };
    },
    /** A new /api/me nonce: proofs with the previous one get use_dpop_nonce (nonce_stale). Returns { nonce }. */
    rotateApiNonce() {
      apiNonceValue = crypto.randomBytes(16).toString('base64url');
      return { nonce: apiNonceValue };
    },
    obtainTokens,
    refresh,
    tokenRequest,
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
  return api;
}
