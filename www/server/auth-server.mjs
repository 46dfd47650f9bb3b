// Local auth server for the demo and the end-to-end tests.
//
// It issues ES256 (or RS256/PS256) access tokens, or opaque ones, ID tokens, and opaque,
// rotating refresh tokens, publishes its keys as a JWKS that can rotate, serves OIDC discovery,
// signs users in with the authorization code flow and PKCE (a login page without passwords),
// ends sessions (RP-initiated logout), offers the three refresh styles jwt-keeper speaks
// (RFC 6749 form POST, JSON body, HttpOnly cookie), binds tokens to a client key with DPoP
// (RFC 9449: proofs checked at the token endpoint and at /api/me, nonces on demand) and lets a
// test inject faults per request
// (failures, hangs, lost responses, bad tokens, skewed clock, outage, JWKS failures, refused
// sign-ins), both from JavaScript (`controls`) and over HTTP (`POST /__control`, `GET /__stats`).
//
// Not a production server: all state lives in memory and there are no passwords.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import * as jose from 'jose';

/** Request bodies above this are refused with 413; real refresh requests are tiny. */
const MAX_BODY_BYTES = 64 * 1024;
/** Opaque refresh tokens carry this much randomness (RFC 6749 §10.10 asks for unguessable). */
const REFRESH_TOKEN_BYTES = 32;
/** The refresh cookie outlives any test run; the server forgets everything on restart anyway. */
const REFRESH_COOKIE_MAX_AGE_S = 86400;
/** Tokens handed out by badTokenNext('expired') are this far past their exp, beyond any leeway. */
const EXPIRED_TOKEN_AGE_S = 3600;
/** Preflight results may be cached briefly; fault toggles apply to the actual requests anyway. */
const PREFLIGHT_MAX_AGE_S = 5;
/** Authorization codes are as unguessable as refresh tokens (RFC 6749 §10.10). */
const AUTH_CODE_BYTES = 32;
/** A code only has to survive one redirect and one token request; RFC 6749 §4.1.2 allows up to 10 min. */
const AUTH_CODE_TTL_S = 60;
/** RFC 7636 §4.1: a code_verifier is 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA-256(verifier)), 43 characters, no padding. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 6749 §A.7: what an `error` code may consist of (also for the ones a test injects). */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
/** What the login page suggests without a login_hint: the user the tests sign in as. */
const DEFAULT_USERNAME = 'alice';
/** User names (the `sub` of the tokens) are bounded like any other input. */
const MAX_USERNAME_LENGTH = 200;
/** nonce and scope are bounded too; real ones are a few dozen characters. */
const MAX_PARAM_LENGTH = 1000;
/** The authorization request parameters the login form carries on (RFC 6749 §3.1: others are ignored). */
const AUTHORIZE_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'login_hint',
  'audience',
];
/** Pages load nothing from elsewhere, run no script and may not be framed (RFC 6749 §10.13, clickjacking). */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";
/** RFC 9449 §4.2: the `typ` of a DPoP proof (media type names are case-insensitive, `application/` may be omitted). */
const DPOP_TYP = 'dpop+jwt';
/** What DPoP proofs may be signed with: asymmetric only (RFC 9449 §4.3 check 5), the algs the server itself signs with. */
const DPOP_ALGS = ['ES256', 'RS256', 'PS256'];
/** `dpop` option values: no DPoP at all, bind tokens when the client sends a proof, or refuse token requests without one. */
const DPOP_MODES = [false, 'optional', 'required'];
/** How old a proof's `iat` may be on the server clock: room for a slow request, none for a proof kept for later. */
const DPOP_IAT_PAST_S = 60;
/** How far ahead a proof's `iat` may be: a client clock slightly fast, nothing more (RFC 9449 §11.1 asks for a short window). */
const DPOP_IAT_FUTURE_S = 5;
/** A used jti is remembered this long (real time): later the proof's iat is outside the window anyway. */
const DPOP_JTI_RETENTION_MS = (DPOP_IAT_PAST_S + DPOP_IAT_FUTURE_S) * 1000;
/** The replay cache holds at most this many jtis (the oldest goes first); a test sends far fewer proofs a minute. */
const DPOP_REPLAY_CACHE_MAX = 10_000;
/** A DPoP header longer than this is refused unread: a proof with an RSA 4096 key is under 2 KiB. */
const MAX_DPOP_PROOF_LENGTH = 8192;
/** The replay cache keeps jtis, so they are bounded; RFC 9449 §4.2 asks for 96 random bits, a UUID has 36 characters. */
const MAX_DPOP_JTI_LENGTH = 256;
/** JWK members only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4): a proof's jwk must have none. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** The routes that read DPoP proofs and, while nonces are required, send `DPoP-Nonce`. */
const DPOP_ROUTES = new Set(['/oauth/token', '/api/me']);
/** RFC 9449 §7.1: the `algs` parameter of a DPoP challenge. */
const DPOP_CHALLENGE_ALGS = `algs="${DPOP_ALGS.join(' ')}"`;
const REFRESH_COOKIE = 'refresh_token';
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Requested-With', 'DPoP'];
const EXPOSED_HEADERS = 'Date, Retry-After, WWW-Authenticate, DPoP-Nonce';
const BAD_TOKEN_KINDS = new Set(['bad_json', 'missing_fields', 'wrong_key', 'expired']);
/** What the server signs with; RSA keys are 2048 bits. */
export const SIGNING_ALGS = ['ES256', 'RS256', 'PS256'];
const ACCESS_TOKEN_FORMATS = ['jwt', 'opaque'];
/** `idTokens` option values: 'auto' issues one when the login asked for scope openid (or tokens are opaque). */
const ID_TOKEN_MODES = [true, false, 'auto'];
const REFRESH_ROUTES = new Map([
  ['/oauth/token', 'oauth2'],
  ['/refresh', 'json'],
  ['/cookie/refresh', 'cookie'],
]);
/** Reachable while `down(true)`, so that a browser page can switch the outage off again. */
const CONTROL_ROUTES = new Set(['/__control', '/__stats']);
const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

class HttpError extends Error {
  /** `outcome` names the refusal in `refreshLog` when it differs from `error`. */
  constructor(status, error, description, outcome) {
    super(description ?? error);
    this.status = status;
    this.error = error;
    this.outcome = outcome ?? error;
  }
}

/**
 * A refused DPoP proof (RFC 9449 §4.3): `outcome` names the failed check in `dpopLog`; `nonce` is
 * true when only the nonce was missing or stale, which is answered with `use_dpop_nonce` (§8).
 */
class DpopError extends Error {
  constructor(outcome, description) {
    super(description);
    this.outcome = outcome;
    this.nonce = outcome === 'nonce_required' || outcome === 'nonce_stale';
  }
}

/** RFC 9449 §4.2: the `ath` of a proof for `accessToken`, BASE64URL(SHA-256(ASCII(token))). */
function accessTokenHash(accessToken) {
  return crypto.createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

const isPlainObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/** A refusal shown to the user as an HTML page: no redirect to a client that could not be trusted. */
function pageError(status, error, description, outcome) {
  const e = new HttpError(status, error, description, outcome);
  e.page = true;
  return e;
}

const originRefused = () => new HttpError(403, 'invalid_request', 'origin not allowed', 'origin_refused');
const badContentType = () =>
  new HttpError(415, 'invalid_request', 'content type must be application/json', 'bad_content_type');

/**
 * `value` as a serialized origin (`scheme://host[:port]`, as browsers send it in `Origin`).
 * Anything else (a path, a query, credentials, another scheme) throws, so that a typo does not
 * silently allow nothing.
 */
export function normalizeOrigin(value) {
  let url;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.href !== `${url.origin}/`) {
    throw new TypeError(`allowedOrigins: ${JSON.stringify(value)} is not an http(s) origin`);
  }
  return url.origin;
}

/** `value` parsed if it is an absolute http(s) URL without credentials or fragment (RFC 6749 §3.1.2), else undefined. */
function redirectTarget(value) {
  if (typeof value !== 'string' || value.includes('#')) return undefined;
  let url;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  return /^https?:$/.test(url.protocol) && url.username === '' && url.password === '' ? url : undefined;
}

/**
 * Whether `value` may receive authorization responses or post-logout redirects: exactly one of
 * `allowList`, or a redirect target on a loopback host (any port and path, as RFC 8252 §7.3
 * allows for apps on the user's machine).
 */
function isAcceptableRedirectUri(value, allowList) {
  return allowList.includes(value) || ['127.0.0.1', 'localhost', '[::1]'].includes(redirectTarget(value)?.hostname);
}

/** `list` (the `redirectUris` option) checked: every entry a redirect target, else a TypeError. */
export function checkRedirectUris(list) {
  if (!Array.isArray(list)) throw new TypeError('redirectUris must be an array of URLs');
  for (const value of list) {
    if (!redirectTarget(value)) {
      throw new TypeError(`redirectUris: ${JSON.stringify(value)} is not an absolute http(s) URL without credentials or fragment`);
    }
  }
  return [...list];
}

/** `uri` with `params` (those not undefined) appended to its query, the query it has kept as it is. */
function withQuery(uri, params) {
  const extra = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();
  if (extra === '') return uri;
  const sep = !uri.includes('?') ? '?' : uri.endsWith('?') || uri.endsWith('&') ? '' : '&';
  return `${uri}${sep}${extra}`;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A small self-contained page (no external assets) around `body`, which must be escaped HTML. */
function htmlPage(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; background: #f3f4f6; color: #111827; margin: 0; }
  main { max-width: 24rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  label { display: block; font-weight: 600; margin-bottom: .25rem; }
  input[type=text] { box-sizing: border-box; width: 100%; padding: .5rem; font: inherit; border: 1px solid #9ca3af; border-radius: 4px; }
  .buttons { display: flex; gap: .5rem; margin-top: 1rem; }
  button { flex: 1; padding: .5rem; font: inherit; border-radius: 4px; border: 1px solid #9ca3af; background: #fff; cursor: pointer; }
  button#sign-in { background: #2563eb; border-color: #2563eb; color: #fff; }
  .note, .detail { color: #4b5563; font-size: .875rem; }
  .message { color: #b91c1c; }
  code { word-break: break-all; }
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function checkOrigins(list) {
  if (!Array.isArray(list)) throw new TypeError('allowedOrigins must be an array of origins');
  return [...new Set(list.map(normalizeOrigin))];
}

/** The server's own origins: both loopback spellings of its port, its URL and its issuer's origin. */
function ownOrigins(port, url, issuer) {
  const list = [`http://127.0.0.1:${port}`, `http://localhost:${port}`, new URL(url).origin];
  try {
    list.push(normalizeOrigin(new URL(issuer).origin));
  } catch {
    // An issuer that is no http(s) URL names no origin.
  }
  return [...new Set(list)];
}

/** `Content-Type: application/json`, parameters such as `; charset=utf-8` allowed. */
function isJsonRequest(req) {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}

function newStats() {
  return {
    logins: 0,
    logouts: 0,
    refreshRequests: 0,
    refreshSuccesses: 0,
    refreshFailures: 0,
    graceReuses: 0,
    reuseDetections: 0,
    apiCalls: 0,
    api401: 0,
    jwksReads: 0,
    revocations: 0,
    authorizeRequests: 0,
    codesIssued: 0,
    codeExchanges: 0,
    endSessions: 0,
    dpopProofs: 0,
    refreshLog: [],
    authorizeLog: [],
    codeExchangeLog: [],
    revocationLog: [],
    endSessionLog: [],
    dpopLog: [],
  };
}

function checkCount(n, name) {
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${name}: count must be a non-negative integer`);
  return n;
}

function randomToken(bytes = REFRESH_TOKEN_BYTES) {
  return crypto.randomBytes(bytes).toString('base64url');
}

function checkDpopMode(mode, name) {
  if (!DPOP_MODES.includes(mode)) throw new TypeError(`${name} must be false, 'optional' or 'required'`);
  return mode;
}

function checkAlg(alg, name) {
  if (!SIGNING_ALGS.includes(alg)) throw new TypeError(`${name}: alg must be one of ${SIGNING_ALGS.join(', ')}`);
  return alg;
}

/**
 * A fresh signing key: `{ kid, alg, privateKey, publicKey, publicJwk, publicPem, published }`.
 * The public JWK carries exactly its key material plus `kid`, `alg` and `use: 'sig'`.
 */
async function newSigningKey(alg, { published = true } = {}) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const kid = `srv-${randomToken(6)}`;
  const jwk = await jose.exportJWK(publicKey);
  const material = alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } : { kty: 'RSA', n: jwk.n, e: jwk.e };
  const publicJwk = { ...material, kid, alg, use: 'sig' };
  const publicPem = `${(await jose.exportSPKI(publicKey)).trimEnd()}\n`;
  return { kid, alg, privateKey, publicKey, publicJwk, publicPem, published };
}

function parseCookies(header) {
  const out = new Map();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'invalid_request', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJsonObject(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_request', 'body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_request', 'body must be a JSON object');
  }
  return value;
}

/** Form or JSON body -> plain object; repeated form parameters are refused (RFC 6749 §3.2). */
function parseLooseBody(req, text) {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) return parseForm(text);
  if (text.trim() === '') return {};
  return parseJsonObject(text);
}

function parseForm(text) {
  const params = new URLSearchParams(text);
  const out = {};
  for (const [k, v] of params) {
    if (Object.hasOwn(out, k)) throw new HttpError(400, 'invalid_request', `parameter ${k} repeated`);
    out[k] = v;
  }
  return out;
}

/** Closes `server` and exits on SIGINT/SIGTERM (once), for the command-line entry points. */
export function closeOnSignals(server) {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * Starts the server. Resolves once it listens.
 *
 * @param {object} [options]
 * @param {number} [options.port=0] 0 picks a free port.
 * @param {string} [options.host='127.0.0.1']
 * @param {number} [options.accessTtl=300] access token lifetime in seconds.
 * @param {string} [options.issuer] `iss` of access tokens; defaults to the server's own URL.
 * @param {string} [options.audience='jwt-keeper-demo'] `aud` of access tokens.
 * @param {string} [options.clientId='demo-client'] the only client_id /oauth/token accepts.
 * @param {number} [options.reuseGraceMs=2000] how long a rotated refresh token may be replayed
 *   and get the same answer again (lost response); after that a replay revokes its family.
 * @param {boolean} [options.keepAlive=false] HTTP keep-alive. Off by default: browsers silently
 *   resend a request whose reused connection closes without an answer, which would hide the
 *   lost-response and outage faults from the code under test.
 * @param {string} [options.staticDir] serve files from this directory for other GET paths.
 * @param {boolean} [options.spaFallback=false] with `staticDir`: a GET of a path without a file
 *   extension that names no file gets `index.html` (a single-page app's client-side routes).
 * @param {string[]} [options.allowedOrigins] page origins that may read answers (CORS, with
 *   credentials) and use the cookie routes; defaults to the server's own origins
 *   (http://127.0.0.1:PORT, http://localhost:PORT, its URL and its issuer's origin).
 * @param {'ES256'|'RS256'|'PS256'} [options.alg='ES256'] what access and ID tokens are signed with
 *   (a fresh P-256 or RSA 2048 key per start; `rotateKey()` makes more).
 * @param {'jwt'|'opaque'} [options.accessTokenFormat='jwt'] 'opaque': access tokens are random
 *   strings the server remembers (`/api/me` accepts them); identity then comes from the ID token.
 * @param {true|false|'auto'} [options.idTokens='auto'] when token responses carry an `id_token`:
 *   always, never, or ('auto') for sessions whose login asked for scope `openid`, and always
 *   with opaque access tokens.
 * @param {number|null} [options.jwksMaxAge=null] JWKS `Cache-Control`: null sends `no-store`,
 *   a number N sends `public, max-age=N`.
 * @param {string[]} [options.redirectUris=[]] redirect_uri and post_logout_redirect_uri values
 *   accepted beside the loopback ones (any http(s) URL on 127.0.0.1, localhost or [::1]);
 *   compared as exact strings.
 * @param {number} [options.authCodeTtl=60] lifetime in seconds of authorization codes.
 * @param {false|'optional'|'required'} [options.dpop='optional'] DPoP (RFC 9449) at the token
 *   endpoint: 'optional' binds the tokens of a request that carries a valid proof and issues
 *   Bearer tokens otherwise; 'required' refuses token requests without a proof; false ignores
 *   `DPoP` headers (and /api/me knows no DPoP scheme). `setDpopMode()` changes it.
 */
export async function startAuthServer(options = {}) {
  const {
    port = 0,
    host = '127.0.0.1',
    accessTtl = 300,
    audience = 'jwt-keeper-demo',
    clientId = 'demo-client',
    reuseGraceMs = 2000,
    keepAlive = false,
    staticDir,
    spaFallback = false,
    alg = 'ES256',
    accessTokenFormat = 'jwt',
    idTokens = 'auto',
    jwksMaxAge = null,
    authCodeTtl = AUTH_CODE_TTL_S,
    dpop = 'optional',
  } = options;
  checkCount(accessTtl, 'accessTtl');
  checkAlg(alg, 'startAuthServer');
  if (!ACCESS_TOKEN_FORMATS.includes(accessTokenFormat)) {
    throw new TypeError(`accessTokenFormat must be one of ${ACCESS_TOKEN_FORMATS.join(', ')}`);
  }
  if (!ID_TOKEN_MODES.includes(idTokens)) throw new TypeError("idTokens must be true, false or 'auto'");
  if (jwksMaxAge !== null) checkCount(jwksMaxAge, 'jwksMaxAge');
  checkDpopMode(dpop, 'dpop');
  const opaque = accessTokenFormat === 'opaque';
  checkCount(reuseGraceMs, 'reuseGraceMs');
  checkCount(authCodeTtl, 'authCodeTtl');
  const redirectUris = checkRedirectUris(options.redirectUris ?? []);
  // Checked before listening; the default needs the port, so it is filled in after.
  let allowedOrigins = options.allowedOrigins === undefined ? undefined : new Set(checkOrigins(options.allowedOrigins));

  /** Every key the server still holds, oldest first; `current` signs. Unpublished keys are not in the JWKS. */
  let signingKeys = [await newSigningKey(alg)];
  let current = signingKeys[0];
  const publishedJwks = () => ({ keys: signingKeys.filter((k) => k.published).map((k) => ({ ...k.publicJwk })) });
  /** alg -> another key of that alg, for badTokenNext('wrong_key'); made on first use. */
  const wrongKeys = new Map();
  /** Opaque access token -> { sub, iat, exp, jkt } (server seconds; jkt: the DPoP key it is bound to, or null). */
  const opaqueAccessTokens = new Map();
  const staticRoot = staticDir ? path.resolve(staticDir) : undefined;

  const stats = newStats();
  const defaults = () => ({
    failNext: { count: 0, status: 503, retryAfter: undefined, body: undefined },
    hangNext: 0,
    dropAfterRotateNext: 0,
    badTokenNext: [],
    api401Always: false,
    down: false,
    failJwks: { count: 0, status: 503 },
    accessTtl,
    clockSkew: 0,
    reuseGraceMs,
    failAuthorize: { count: 0, error: 'server_error' },
    authCodeTtl,
    idTokenAudience: [],
    dpopMode: dpop,
    dpopNonceRequired: false,
  });
  let faults = defaults();

  /** refresh token -> { familyId, sub, rotatedAt, successor: Promise<grant> | null } */
  const refreshTokens = new Map();
  /**
   * familyId -> { sub, revoked, idToken: boolean, authTime, jkt }; jkt: the thumbprint of the DPoP
   * key the family is bound to (RFC 9449 §5: refresh tokens of a public client), or null.
   */
  const families = new Map();
  const issuedRefreshTokens = [];
  /**
   * authorization code -> { redirectUri, codeChallenge, nonce, scope, sub, authTime, expiresAtMs, familyId }
   * (the client is the server's only one; familyId is set once the code is redeemed).
   */
  const authCodes = new Map();
  const sockets = new Set();
  let closed = false;
  let url;
  let issuer;
  /** The server's own origins, from which its pages post their forms. */
  let serverOrigins;

  const serverNowMs = () => Date.now() + faults.clockSkew * 1000;
  /** Every log entry's `{ seq, at }`: `seq` orders entries across all the logs, `at` is Date.now(). */
  let lastSeq = 0;
  const logStamp = () => ({ seq: (lastSeq += 1), at: Date.now() });

  // --- tokens ---------------------------------------------------------------------------------

  /**
   * An access token: a JWT signed with the current key, or (opaque format) a remembered random
   * string. With `jkt` it is DPoP-bound: the JWT carries `cnf: { jkt }` (RFC 9449 §6.1), an opaque
   * token keeps the jkt in the server's record.
   */
  async function signAccessToken(sub, kind = 'good', jkt = null) {
    const now = Math.floor(serverNowMs() / 1000);
    let iat = now;
    let exp = now + faults.accessTtl;
    if (kind === 'expired') {
      exp = now - EXPIRED_TOKEN_AGE_S;
      iat = exp - faults.accessTtl;
    }
    if (opaque) {
      const token = randomToken();
      // A 'wrong_key' opaque token is one the server never issued.
      if (kind !== 'wrong_key') opaqueAccessTokens.set(token, { sub, iat, exp, jkt });
      return token;
    }
    const signer = current;
    let key = signer.privateKey;
    if (kind === 'wrong_key') {
      if (!wrongKeys.has(signer.alg)) wrongKeys.set(signer.alg, (await jose.generateKeyPair(signer.alg)).privateKey);
      key = wrongKeys.get(signer.alg);
    }
    return new jose.SignJWT({ sub, jti: randomToken(12), ...(jkt ? { cnf: { jkt } } : {}) })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key);
  }

  /** An OIDC ID token for the client: iss, sub, aud = clientId, iat, exp, auth_time, nonce if given. */
  async function signIdToken(sub, { nonce, authTime } = {}) {
    const now = Math.floor(serverNowMs() / 1000);
    const signer = current;
    return new jose.SignJWT({ sub, ...(authTime !== undefined ? { auth_time: authTime } : {}), ...(nonce !== undefined ? { nonce } : {}) })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(faults.idTokenAudience.shift() ?? clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + faults.accessTtl)
      .sign(signer.privateKey);
  }

  function newRefreshToken(familyId, sub) {
    const token = randomToken();
    refreshTokens.set(token, { familyId, sub, rotatedAt: 0, successor: null });
    issuedRefreshTokens.push(token);
    return token;
  }

  /** Whether a session started with this login scope gets ID tokens (the `idTokens` option). */
  function wantsIdToken(scope) {
    if (idTokens !== 'auto') return idTokens;
    return opaque || (typeof scope === 'string' && scope.split(' ').includes('openid'));
  }

  /** A token response's content; with `jkt` the access token is DPoP-bound and `tokenType` is 'DPoP'. */
  async function grantFor(sub, refreshToken, family, { nonce, jkt = null } = {}) {
    const grant = {
      accessToken: await signAccessToken(sub, 'good', jkt),
      refreshToken,
      expiresIn: faults.accessTtl,
      tokenType: jkt ? 'DPoP' : 'Bearer',
    };
    if (family?.idToken) grant.idToken = await signIdToken(sub, { nonce, authTime: family.authTime });
    return grant;
  }

  /** The family of refresh token `token`, or undefined for a token never issued. */
  function familyOfToken(token) {
    const record = typeof token === 'string' ? refreshTokens.get(token) : undefined;
    return record ? families.get(record.familyId) : undefined;
  }

  /**
   * Redeems a refresh token: rotates it, replays the successor within the grace window, or
   * revokes its whole family on a late replay. Synchronous up to the rotation, so concurrent
   * requests with the same token see it rotated. `jkt`, the key of the request's DPoP proof (whose
   * binding the caller has checked), binds a family that is not bound yet at its rotation.
   */
  function redeem(presented, jkt = null) {
    const record = typeof presented === 'string' ? refreshTokens.get(presented) : undefined;
    if (!record) return { outcome: 'invalid_grant', description: 'unknown refresh token' };
    const family = families.get(record.familyId);
    if (family.revoked) return { outcome: 'invalid_grant', description: 'refresh token revoked' };
    if (record.successor) {
      if (Date.now() - record.rotatedAt <= faults.reuseGraceMs) {
        stats.graceReuses += 1;
        return { outcome: 'grace_reuse', grant: record.successor };
      }
      family.revoked = true;
      stats.reuseDetections += 1;
      return { outcome: 'reuse_detected', description: 'refresh token reused; session revoked' };
    }
    record.rotatedAt = Date.now();
    if (jkt && !family.jkt) family.jkt = jkt;
    record.successor = grantFor(record.sub, newRefreshToken(record.familyId, record.sub), family, { jkt: family.jkt });
    return { outcome: 'rotated', grant: record.successor };
  }

  function revokeFamilyOf(token) {
    const record = typeof token === 'string' ? refreshTokens.get(token) : undefined;
    if (!record) return false;
    families.get(record.familyId).revoked = true;
    return true;
  }

  /** Revokes every refresh token family of `sub`; returns how many were still live. */
  function revokeFamiliesOfSub(sub) {
    let n = 0;
    for (const family of families.values()) {
      if (family.sub === sub && !family.revoked) {
        family.revoked = true;
        n += 1;
      }
    }
    return n;
  }

  /** For jose: the key a token's header names, among every key the server still holds (published or not). */
  function heldKey(header) {
    const key = signingKeys.find((k) => k.kid === header.kid && k.alg === header.alg);
    if (!key) throw new Error('no such key');
    return key.publicKey;
  }

  /**
   * The claims of a JWT this server signed with a key it still holds and whose `iss` is its issuer,
   * expired or not; undefined for anything else.
   */
  async function ownJwtClaims(token) {
    try {
      const { payload } = await jose.compactVerify(token, heldKey, { algorithms: SIGNING_ALGS });
      const claims = JSON.parse(new TextDecoder().decode(payload));
      return claims !== null && typeof claims === 'object' && claims.iss === issuer ? claims : undefined;
    } catch {
      return undefined;
    }
  }

  const audiences = (claims) => (Array.isArray(claims.aud) ? claims.aud : [claims.aud]);

  // --- DPoP (RFC 9449) ------------------------------------------------------------------------

  /** jti of every accepted proof -> real time (ms) until which it stays remembered; insertion order is expiry order. */
  const usedJtis = new Map();
  /** What proofs must carry as `nonce` while `requireDpopNonce` is on; `rotateDpopNonce()` replaces it. */
  let dpopNonce = randomToken(16);

  function logDpop(route, outcome, { jkt = null, jti = null } = {}) {
    stats.dpopLog.push({ ...logStamp(), route, outcome, jkt, jti });
  }

  /** The request's `DPoP` header lines, as sent (RFC 9449 §4.3 check 1 wants exactly one). */
  const dpopHeaderLines = (req) => req.headersDistinct.dpop ?? [];
  /** Whether the token endpoint reads the request's proof: DPoP is on and the request sends one. */
  const readsDpop = (req) => faults.dpopMode !== false && dpopHeaderLines(req).length > 0;

  /** Logs a proof that is needed but absent (`missing`) and returns the DpopError for it. */
  function missingProof(route, description) {
    logDpop(route, 'missing');
    return new DpopError('missing', description);
  }

  /**
   * RFC 9449 §4.3 checks 1, 2 and 4 to 7, those that need nothing but the proof: exactly one `DPoP`
   * header holding a compact JWS with `typ: dpop+jwt`, an alg of DPOP_ALGS (so neither `none`
   * nor an HMAC), a `jwk` header without private members, and a signature that verifies under
   * that jwk. Counts in `stats.dpopProofs`. Resolves with `{ route, jkt, claims }` (jkt: the RFC
   * 7638 SHA-256 thumbprint of the jwk) for `acceptDpopProof`; a refusal throws DpopError, logged.
   */
  async function readDpopProof(req, route) {
    stats.dpopProofs += 1;
    const known = { jkt: null, jti: null };
    const refuse = (outcome, description) => {
      logDpop(route, outcome, known);
      return new DpopError(outcome, description);
    };
    const lines = dpopHeaderLines(req);
    if (lines.length !== 1) throw refuse('multiple', 'more than one DPoP header');
    const proof = lines[0].trim();
    let header;
    let claims;
    try {
      if (proof.length > MAX_DPOP_PROOF_LENGTH) throw new RangeError('too long');
      header = jose.decodeProtectedHeader(proof);
      claims = jose.decodeJwt(proof);
    } catch {
      throw refuse('malformed', 'the DPoP header is not a JWT');
    }
    if (typeof claims.jti === 'string' && claims.jti.length <= MAX_DPOP_JTI_LENGTH) known.jti = claims.jti;
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (typ !== DPOP_TYP) throw refuse('bad_typ', 'the DPoP proof must have typ dpop+jwt');
    if (!DPOP_ALGS.includes(header.alg)) throw refuse('bad_alg', `the DPoP proof must be signed with one of ${DPOP_ALGS.join(', ')}`);
    if (!isPlainObject(header.jwk)) throw refuse('bad_jwk', 'the DPoP proof header carries no jwk');
    if (PRIVATE_JWK_MEMBERS.some((name) => Object.hasOwn(header.jwk, name))) {
      throw refuse('private_jwk', 'the jwk of the DPoP proof holds private key material');
    }
    try {
      known.jkt = await jose.calculateJwkThumbprint(header.jwk, 'sha256');
      await jose.compactVerify(proof, jose.EmbeddedJWK, { algorithms: DPOP_ALGS });
    } catch (e) {
      if (e?.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw refuse('bad_signature', 'the DPoP proof signature does not verify under its jwk');
      throw refuse('bad_jwk', 'the jwk of the DPoP proof is no usable public key for its alg');
    }
    return { route, jkt: known.jkt, claims };
  }

  /** Whether `htu` names this request's target: one of the server's origins and the request's path (query and fragment ignored). */
  function htuMatches(htu, req) {
    let target;
    try {
      target = new URL(htu);
    } catch {
      return false;
    }
    return serverOrigins.has(target.origin) && target.pathname === new URL(req.url, 'http://x').pathname;
  }

  /**
   * The rest of RFC 9449 §4.3 for a proof `readDpopProof` passed: `jti`, `htm`, `htu` and `iat`
   * present; `htm` the request method; `htu` the request URL; `iat` within DPOP_IAT_PAST_S before
   * and DPOP_IAT_FUTURE_S after the server clock; with `accessToken` (check 12) an `ath` that is
   * its hash and, with `expectedJkt`, the key the token or refresh token is bound to; the jti not
   * used before (§11.1); the current nonce while nonces are required (§8), checked last so that
   * a `use_dpop_nonce` answer means nothing else is wrong. Synchronous, so that of two requests
   * with one jti only one passes. Remembers the jti, logs `ok` and returns the proof; a refusal
   * throws DpopError, logged.
   */
  function acceptDpopProof(req, proof, { accessToken, expectedJkt } = {}) {
    const { route, jkt, claims } = proof;
    const known = { jkt, jti: typeof claims.jti === 'string' && claims.jti.length <= MAX_DPOP_JTI_LENGTH ? claims.jti : null };
    const refuse = (outcome, description) => {
      logDpop(route, outcome, known);
      return new DpopError(outcome, description);
    };
    if (!known.jti || typeof claims.htm !== 'string' || typeof claims.htu !== 'string' || !Number.isFinite(claims.iat)) {
      throw refuse('missing_claim', `the DPoP proof needs jti (1 to ${MAX_DPOP_JTI_LENGTH} characters), htm, htu and a numeric iat`);
    }
    if (claims.htm !== req.method) throw refuse('htm_mismatch', 'htm of the DPoP proof is not the request method');
    if (!htuMatches(claims.htu, req)) throw refuse('htu_mismatch', 'htu of the DPoP proof is not the request URL');
    const now = serverNowMs() / 1000;
    if (claims.iat < now - DPOP_IAT_PAST_S || claims.iat > now + DPOP_IAT_FUTURE_S) {
      throw refuse('iat_window', `iat of the DPoP proof is more than ${DPOP_IAT_PAST_S} s old or ${DPOP_IAT_FUTURE_S} s ahead`);
    }
    if (accessToken !== undefined) {
      if (claims.ath === undefined) throw refuse('ath_missing', 'the DPoP proof has no ath for the access token');
      if (claims.ath !== accessTokenHash(accessToken)) throw refuse('ath_mismatch', 'ath of the DPoP proof is not the hash of the access token');
    }
    if (expectedJkt !== undefined && jkt !== expectedJkt) throw refuse('key_mismatch', 'the DPoP proof key is not the key the token is bound to');
    const realNow = Date.now();
    for (const [jti, until] of usedJtis) {
      if (until > realNow) break;
      usedJtis.delete(jti);
    }
    if (usedJtis.has(known.jti)) throw refuse('jti_replay', 'the jti of the DPoP proof was used before');
    if (faults.dpopNonceRequired) {
      if (claims.nonce === undefined) throw refuse('nonce_required', 'the DPoP proof must carry the nonce of the DPoP-Nonce header');
      if (claims.nonce !== dpopNonce) throw refuse('nonce_stale', 'the nonce of the DPoP proof is not the current one');
    }
    if (usedJtis.size >= DPOP_REPLAY_CACHE_MAX) usedJtis.delete(usedJtis.keys().next().value);
    usedJtis.set(known.jti, realNow + DPOP_JTI_RETENTION_MS);
    logDpop(route, 'ok', known);
    return proof;
  }

  /** A refresh of a bound family without a proof by its key: refused, and the family left as it is. */
  const dpopKeyMismatch = () =>
    new HttpError(400, 'invalid_grant', 'the refresh token is bound to a DPoP key this request does not prove', 'dpop_key_mismatch');

  /**
   * A refused proof at the token endpoint as the answer (RFC 9449 §5, §8): 400 `use_dpop_nonce`
   * when only the nonce was wrong, `invalid_grant` (outcome `dpop_key_mismatch`) for a refresh
   * token bound to another key, else 400 `invalid_dpop_proof`.
   */
  function tokenEndpointDpopError(e) {
    if (e.nonce) return new HttpError(400, 'use_dpop_nonce', 'the authorization server requires the nonce of the DPoP-Nonce header in the DPoP proof');
    if (e.outcome === 'key_mismatch') return dpopKeyMismatch();
    return new HttpError(400, 'invalid_dpop_proof', e.message);
  }

  // --- HTTP plumbing --------------------------------------------------------------------------

  /** Sent by a page of an origin not allowed. Without an Origin header it comes from no other origin's page. */
  function foreignOrigin(req) {
    return req.headers.origin !== undefined && !allowedOrigins.has(req.headers.origin);
  }

  /**
   * Guards the routes that read or set the refresh cookie (/cookie/refresh, /logout, /login).
   * The browser attaches the cookie to requests from any page, and SameSite=Lax does not help
   * between ports of one host (the same site). So: 403 for a page of another origin and, with
   * `json`, 415 for anything but JSON, since a cross-site HTML form sends the cookie without a
   * preflight, but only as form-urlencoded, multipart or text/plain.
   */
  function checkCookieRequest(req, { json }) {
    if (foreignOrigin(req)) throw originRefused();
    if (json && !isJsonRequest(req)) throw badContentType();
  }

  function baseHeaders(req, res) {
    res.setHeader('Date', new Date(serverNowMs()).toUTCString());
    if (!keepAlive) res.setHeader('Connection', 'close');
    // The CORS headers depend on the Origin, so caches must not hand one origin's answer to another.
    res.setHeader('Vary', 'Origin');
    const origin = req.headers.origin;
    if (origin !== undefined && allowedOrigins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    }
  }

  /** An HTML page: never cached, nothing loaded from elsewhere, not to be framed. */
  function sendHtml(res, status, html, headers = {}) {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(html),
      'Cache-Control': 'no-store',
      'Content-Security-Policy': PAGE_CSP,
      'X-Frame-Options': 'DENY',
      ...headers,
    });
    res.end(html);
  }

  function errorPage(e) {
    return htmlPage(
      'Request refused',
      `<h1>Request refused</h1>
<p>This server answers the request here and does not send it back to the application.</p>
<p><code id="error">${escapeHtml(e.error)}</code></p>
<p class="detail" id="error-description">${escapeHtml(e.message)}</p>`,
    );
  }

  function sendJson(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function refreshCookie(token) {
    return `${REFRESH_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${REFRESH_COOKIE_MAX_AGE_S}`;
  }
  const clearedCookie = `${REFRESH_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;

  function preflight(req, res) {
    if (foreignOrigin(req)) {
      const e = originRefused();
      sendJson(res, e.status, { error: e.error, error_description: e.message });
      return;
    }
    const requested = (req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const allowed = [...new Set([...ALLOWED_HEADERS, ...requested])];
    res.writeHead(204, {
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': allowed.join(', '),
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
      Vary: 'Origin, Access-Control-Request-Headers',
    });
    res.end();
  }

  function requirePost(req) {
    if (req.method !== 'POST') throw new HttpError(405, 'invalid_request', 'use POST');
  }

  // --- routes ---------------------------------------------------------------------------------

  async function login(req, res) {
    requirePost(req);
    const text = await readBody(req); // read first: answering before the body arrived resets the connection
    // Every login sets the cookie; from another origin's form it would plant a session.
    checkCookieRequest(req, { json: false });
    const body = parseLooseBody(req, text);
    const user = body.user;
    if (typeof user !== 'string' || user.length === 0 || user.length > MAX_USERNAME_LENGTH) {
      throw new HttpError(400, 'invalid_request', 'user must be a non-empty string');
    }
    for (const name of ['scope', 'nonce']) {
      if (body[name] !== undefined && (typeof body[name] !== 'string' || body[name].length > MAX_PARAM_LENGTH)) {
        throw new HttpError(400, 'invalid_request', `${name} must be a string`);
      }
    }
    const familyId = randomToken(9);
    const family = { sub: user, revoked: false, idToken: wantsIdToken(body.scope), authTime: Math.floor(serverNowMs() / 1000), jkt: null };
    families.set(familyId, family);
    const refreshToken = newRefreshToken(familyId, user);
    const grant = await grantFor(user, refreshToken, family, { nonce: body.nonce });
    stats.logins += 1;
    // With style "cookie" the refresh token is only ever in the HttpOnly cookie.
    const cookieOnly = body.style === 'cookie' || new URL(req.url, 'http://x').searchParams.get('style') === 'cookie';
    sendJson(
      res,
      200,
      {
        access_token: grant.accessToken,
        ...(cookieOnly ? {} : { refresh_token: refreshToken }),
        token_type: grant.tokenType,
        expires_in: grant.expiresIn,
        ...(grant.idToken ? { id_token: grant.idToken } : {}),
        ...(body.scope !== undefined ? { scope: body.scope } : {}),
      },
      { 'Cache-Control': 'no-store', 'Set-Cookie': refreshCookie(refreshToken) },
    );
  }

  async function logout(req, res) {
    requirePost(req);
    const text = await readBody(req);
    const cookieToken = parseCookies(req.headers.cookie).get(REFRESH_COOKIE);
    // Acting on the cookie takes JSON, which a cross-site form cannot send.
    checkCookieRequest(req, { json: cookieToken !== undefined });
    let body = {};
    try {
      body = parseLooseBody(req, text);
    } catch {
      // A logout with an unreadable body still clears the cookie.
    }
    const candidates = [body.refreshToken, body.refresh_token, cookieToken];
    const revoked = candidates.some((t) => revokeFamilyOf(t));
    stats.logouts += 1;
    sendJson(res, 200, { revoked }, { 'Set-Cookie': clearedCookie, 'Cache-Control': 'no-store' });
  }

  /** The client_id of a token request, from the form or HTTP Basic (RFC 6749 §2.3.1); undefined if neither. */
  function clientIdOf(req, form) {
    let client = form.client_id;
    const auth = req.headers.authorization ?? '';
    if (/^basic /i.test(auth)) {
      const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const basicId = decodeURIComponent(decoded.split(':')[0] ?? '');
      if (client !== undefined && client !== basicId) {
        throw new HttpError(400, 'invalid_request', 'client_id given twice with different values');
      }
      client = basicId;
    }
    return client;
  }

  /** Parses a refresh request of the given style; returns the presented token or throws HttpError. */
  function presentedToken(req, style, text) {
    if (style === 'oauth2') {
      const type = (req.headers['content-type'] ?? '').toLowerCase();
      if (!type.startsWith('application/x-www-form-urlencoded')) {
        throw new HttpError(400, 'invalid_request', 'expected application/x-www-form-urlencoded');
      }
      const form = parseForm(text);
      const client = clientIdOf(req, form);
      if (!form.grant_type) throw new HttpError(400, 'invalid_request', 'grant_type missing');
      if (form.grant_type !== 'refresh_token') {
        throw new HttpError(400, 'unsupported_grant_type', `grant_type ${form.grant_type} is not supported`);
      }
      // A public client may omit client_id; a wrong one is refused.
      if (client !== undefined && client !== clientId) throw new HttpError(401, 'invalid_client', 'unknown client_id');
      if (!form.refresh_token) throw new HttpError(400, 'invalid_request', 'refresh_token missing');
      return form.refresh_token;
    }
    if (style === 'json') {
      const body = parseJsonObject(text);
      if (typeof body.refreshToken !== 'string' || body.refreshToken === '') {
        throw new HttpError(400, 'invalid_request', 'refreshToken must be a non-empty string');
      }
      return body.refreshToken;
    }
    return parseCookies(req.headers.cookie).get(REFRESH_COOKIE);
  }

  function refreshBody(style, grant) {
    if (style === 'oauth2') {
      return {
        access_token: grant.accessToken,
        token_type: grant.tokenType,
        expires_in: grant.expiresIn,
        ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
        ...(grant.idToken ? { id_token: grant.idToken } : {}),
      };
    }
    const idToken = grant.idToken ? { idToken: grant.idToken } : {};
    if (style === 'json') {
      return { accessToken: grant.accessToken, ...(grant.refreshToken ? { refreshToken: grant.refreshToken } : {}), ...idToken };
    }
    return { accessToken: grant.accessToken, expiresIn: grant.expiresIn, ...idToken };
  }

  function refreshError(style, status, error, description) {
    if (style === 'oauth2') return { status, body: { error, ...(description ? { error_description: description } : {}) } };
    // The JSON and cookie endpoints answer every refusal of the token itself with 401.
    return { status: error === 'invalid_grant' ? 401 : status, body: { error, ...(description ? { error_description: description } : {}) } };
  }

  /** A refresh request of `style` whose body `text` has been read. */
  async function refresh(req, res, style, text) {
    stats.refreshRequests += 1;
    const log = (outcome, status) => stats.refreshLog.push({ ...logStamp(), style, outcome, status });
    const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
    const refuse = (e) => {
      if (!(e instanceof HttpError)) throw e;
      const { status, body } = refreshError(style, e.status, e.error, e.message);
      stats.refreshFailures += 1;
      log(e.outcome, status);
      sendJson(res, status, body, noStore);
    };

    // Before any injected fault: a forged request is no refresh of the app under test.
    if (style === 'cookie') {
      try {
        checkCookieRequest(req, { json: true });
      } catch (e) {
        refuse(e);
        return;
      }
    }

    const fail = faults.failNext;
    if (fail.count > 0) {
      fail.count -= 1;
      const headers = { ...noStore };
      if (fail.retryAfter !== undefined) headers['Retry-After'] = String(fail.retryAfter);
      const body = fail.body ?? { error: fail.status >= 500 || fail.status === 429 ? 'temporarily_unavailable' : 'invalid_request', error_description: 'injected failure' };
      stats.refreshFailures += 1;
      log('injected', fail.status);
      sendJson(res, fail.status, body, headers);
      return;
    }
    if (faults.hangNext > 0) {
      faults.hangNext -= 1;
      log('hung', null);
      return; // the socket stays open until the client gives up or the server closes
    }
    if (faults.badTokenNext.length > 0) {
      const kind = faults.badTokenNext.shift();
      stats.refreshFailures += 1;
      log(`bad_token:${kind}`, 200);
      if (kind === 'bad_json') {
        sendJson(res, 200, '<html>not json</html>', noStore);
      } else if (kind === 'missing_fields') {
        sendJson(res, 200, style === 'oauth2' ? { token_type: 'Bearer', expires_in: faults.accessTtl } : { expiresIn: faults.accessTtl }, noStore);
      } else {
        const presentedQuietly = presentedTokenQuiet(req, style, text);
        const sub = refreshTokens.get(presentedQuietly)?.sub ?? 'unknown';
        // Bound like a good answer would be, so that only the fault itself is off.
        const jkt = familyOfToken(presentedQuietly)?.jkt ?? null;
        const grant = { accessToken: await signAccessToken(sub, kind, jkt), expiresIn: faults.accessTtl, tokenType: jkt ? 'DPoP' : 'Bearer' };
        sendJson(res, 200, refreshBody(style, grant), noStore);
      }
      return;
    }

    let presented;
    try {
      presented = presentedToken(req, style, text);
    } catch (e) {
      refuse(e);
      return;
    }
    // DPoP only at /oauth/token; the JSON and cookie routes take no proof.
    const route = new URL(req.url, 'http://x').pathname;
    let proof = null;
    if (style === 'oauth2' && readsDpop(req)) {
      try {
        proof = await readDpopProof(req, route);
      } catch (e) {
        refuse(e instanceof DpopError ? tokenEndpointDpopError(e) : e);
        return;
      }
    }
    // From here to the rotation nothing waits: the binding checked is the one redeem() sees.
    // A bound family refuses a request without its key but stays live: a stolen refresh token
    // used with another key must not end the real client's session.
    const boundTo = familyOfToken(presented)?.jkt ?? undefined;
    try {
      if (proof) acceptDpopProof(req, proof, { expectedJkt: boundTo });
      else if (style === 'oauth2' && faults.dpopMode === 'required') throw missingProof(route, 'a DPoP proof is required');
      else if (boundTo) {
        logDpop(route, 'missing');
        throw dpopKeyMismatch();
      }
    } catch (e) {
      refuse(e instanceof DpopError ? tokenEndpointDpopError(e) : e);
      return;
    }
    const result = redeem(presented, proof?.jkt ?? null);
    const dropping = faults.dropAfterRotateNext > 0;
    if (dropping) faults.dropAfterRotateNext -= 1;
    if (!result.grant) {
      const { status, body } = refreshError(style, 400, 'invalid_grant', result.description);
      if (dropping) {
        log(`dropped:${result.outcome}`, null);
        req.socket.destroy();
        return;
      }
      stats.refreshFailures += 1;
      log(result.outcome, status);
      sendJson(res, status, body, style === 'cookie' ? { ...noStore, 'Set-Cookie': clearedCookie } : noStore);
      return;
    }
    const grant = await result.grant;
    if (dropping) {
      log(`dropped_after_${result.outcome}`, null);
      req.socket.destroy();
      return;
    }
    stats.refreshSuccesses += 1;
    log(result.outcome, 200);
    const headers = style === 'cookie' ? { ...noStore, 'Set-Cookie': refreshCookie(grant.refreshToken) } : noStore;
    sendJson(res, 200, refreshBody(style, grant), headers);
  }

  // --- sign-in (authorization code flow with PKCE) and sign-out --------------------------------

  /** Query or form entries -> `{ params, repeated }`: the first value of each name, and the names sent more than once. */
  function requestParams(entries) {
    const params = Object.create(null);
    const repeated = new Set();
    for (const [k, v] of entries) {
      if (Object.hasOwn(params, k)) repeated.add(k);
      else params[k] = v;
    }
    return { params, repeated };
  }

  /**
   * The login form comes from the server's own page: its Origin, when the browser sends one,
   * must be the page's (the Host it was served from, or one of the server's origins), so that
   * another site's form cannot sign a user in.
   */
  function checkLoginFormOrigin(req) {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}` && !serverOrigins.has(origin)) {
      throw pageError(403, 'invalid_request', 'origin not allowed', 'origin_refused');
    }
  }

  /** The parameters of a form POST to a page route (as `requestParams`); anything but a form gets a 415 page. */
  function pageFormParams(req, text) {
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      throw pageError(415, 'invalid_request', 'expected application/x-www-form-urlencoded', 'bad_content_type');
    }
    return requestParams(new URLSearchParams(text));
  }

  /**
   * Checks an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1).
   * A bad client_id or redirect_uri throws a page error: such a request gets no redirect
   * (RFC 6749 §4.1.2.1). Any other fault is returned as `{ error, description }`, to be sent to
   * the redirect_uri; undefined when the request is fine.
   */
  function checkAuthorizeRequest({ params, repeated }) {
    for (const name of ['client_id', 'redirect_uri']) {
      if (repeated.has(name)) throw pageError(400, 'invalid_request', `parameter ${name} repeated`);
    }
    if (!params.client_id) throw pageError(400, 'invalid_request', 'client_id missing');
    if (params.client_id !== clientId) throw pageError(400, 'invalid_client', `unknown client_id ${JSON.stringify(params.client_id)}`);
    if (!params.redirect_uri) throw pageError(400, 'invalid_request', 'redirect_uri missing');
    if (!isAcceptableRedirectUri(params.redirect_uri, redirectUris)) {
      throw pageError(
        400,
        'invalid_request',
        `redirect_uri ${JSON.stringify(params.redirect_uri)} is neither an http(s) URL on 127.0.0.1, localhost or [::1] ` +
          'nor one of the redirectUris option',
      );
    }
    const fault = (error, description) => ({ error, description });
    const [again] = repeated;
    if (again !== undefined) return fault('invalid_request', `parameter ${again} repeated`);
    if (!params.response_type) return fault('invalid_request', 'response_type missing');
    if (params.response_type !== 'code') return fault('unsupported_response_type', 'only response_type=code is supported');
    if (!params.code_challenge) return fault('invalid_request', 'code_challenge missing: PKCE (RFC 7636) is required');
    if (params.code_challenge_method !== 'S256') {
      return fault('invalid_request', `code_challenge_method must be S256, not ${params.code_challenge_method ?? 'missing (plain)'}`);
    }
    if (!S256_CHALLENGE.test(params.code_challenge)) return fault('invalid_request', 'code_challenge must be 43 base64url characters');
    for (const name of ['scope', 'nonce']) {
      if ((params[name]?.length ?? 0) > MAX_PARAM_LENGTH) return fault('invalid_request', `${name} too long`);
    }
    if (params.audience !== undefined && params.audience !== audience) {
      return fault('invalid_target', `unknown audience ${JSON.stringify(params.audience)}`);
    }
    const prompts = (params.prompt ?? '').split(' ').filter(Boolean);
    if (prompts.includes('none')) {
      return prompts.length === 1
        ? fault('login_required', 'prompt=none: this server keeps no sign-in session, the user has to sign in')
        : fault('invalid_request', 'prompt=none goes with no other value');
    }
    return undefined;
  }

  /** The login page: a user name and Sign in / Deny, the request carried on in hidden fields. */
  function loginPage(params, message) {
    const hidden = AUTHORIZE_PARAMS.filter((name) => params[name] !== undefined)
      .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params[name])}">`)
      .join('\n');
    const username = params.username ?? (params.login_hint || DEFAULT_USERNAME);
    const scopes = (params.scope ?? '').split(' ').filter(Boolean);
    const asking = scopes.length > 0 ? `, asking for <span id="scope">${escapeHtml(scopes.join(' '))}</span>` : '';
    return htmlPage(
      'Sign in',
      `<h1>Sign in</h1>
<p class="detail">to <b id="client">${escapeHtml(params.client_id)}</b>${asking}</p>
<form method="post" action="/authorize">
${hidden}
<label for="username">User name</label>
<input type="text" id="username" name="username" value="${escapeHtml(username)}"
  autocomplete="username" maxlength="${MAX_USERNAME_LENGTH}" required autofocus>
${message ? `<p class="message" id="message" role="alert">${escapeHtml(message)}</p>\n` : ''}<div class="buttons">
<button type="submit" id="sign-in" name="action" value="sign_in">Sign in</button>
<button type="submit" id="deny" name="action" value="deny" formnovalidate>Deny</button>
</div>
</form>
<p class="note">Local test server ${escapeHtml(issuer)}: no passwords, the user name becomes the <code>sub</code> of the tokens.</p>`,
    );
  }

  /** An authorization response (RFC 6749 §4.1.2 / §4.1.2.1): 302 to the redirect_uri with `params` and `iss` (RFC 9207). */
  function sendAuthorizationResponse(res, redirectUri, params) {
    res.writeHead(302, { Location: withQuery(redirectUri, { ...params, iss: issuer }), 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
  }

  /** A one-time code for the checked request `params`, signed in as `sub`. */
  function issueCode(params, sub) {
    const code = randomToken(AUTH_CODE_BYTES);
    authCodes.set(code, {
      redirectUri: params.redirect_uri,
      codeChallenge: params.code_challenge,
      nonce: params.nonce,
      scope: params.scope,
      sub,
      authTime: Math.floor(serverNowMs() / 1000),
      expiresAtMs: serverNowMs() + faults.authCodeTtl * 1000,
      familyId: null,
    });
    stats.codesIssued += 1;
    return code;
  }

  /**
   * `GET /authorize` checks the request and shows the login page; the page's form comes back
   * as `POST /authorize` with the same parameters plus `username` and `action` (`sign_in` or
   * `deny`), is checked again and answered with a redirect carrying a code or an error.
   * `failAuthorizeNext` makes either answer an error redirect instead.
   */
  async function authorize(req, res) {
    const post = req.method === 'POST';
    if (!post && req.method !== 'GET') throw new HttpError(405, 'invalid_request', 'use GET or POST');
    stats.authorizeRequests += 1;
    const log = (outcome, { error = null, sub = null } = {}) =>
      stats.authorizeLog.push({ ...logStamp(), method: req.method, outcome, error, sub });
    let request;
    let fault;
    try {
      if (post) {
        const text = await readBody(req);
        checkLoginFormOrigin(req);
        request = pageFormParams(req, text);
      } else {
        request = requestParams(new URL(req.url, 'http://x').searchParams);
      }
      fault = checkAuthorizeRequest(request);
      if (post && !fault && !['sign_in', 'deny'].includes(request.params.action)) {
        throw pageError(400, 'invalid_request', 'action must be sign_in or deny');
      }
    } catch (e) {
      if (e instanceof HttpError) log('refused', { error: e.error });
      throw e;
    }
    const { params } = request;
    const back = (outcome, answer, extra = {}) => {
      log(outcome, extra);
      sendAuthorizationResponse(res, params.redirect_uri, { ...answer, state: params.state });
    };
    const injected = faults.failAuthorize;
    if (injected.count > 0) {
      injected.count -= 1;
      return back('injected', { error: injected.error, error_description: 'injected failure' }, { error: injected.error });
    }
    if (fault) return back('error', { error: fault.error, error_description: fault.description }, { error: fault.error });
    if (!post) {
      log('login_page');
      return sendHtml(res, 200, loginPage(params));
    }
    if (params.action === 'deny') {
      return back('access_denied', { error: 'access_denied', error_description: 'the user denied the sign-in' }, { error: 'access_denied' });
    }
    const username = (params.username ?? '').trim();
    if (username === '' || username.length > MAX_USERNAME_LENGTH) {
      log('login_page', { error: 'invalid_username' });
      return sendHtml(res, 400, loginPage(params, `Enter a user name of at most ${MAX_USERNAME_LENGTH} characters.`));
    }
    return back('code_issued', { code: issueCode(params, username) }, { sub: username });
  }

  /** True for a form POST to /oauth/token whose only grant_type is authorization_code. */
  function isCodeGrant(req, text) {
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) return false;
    const grants = new URLSearchParams(text).getAll('grant_type');
    return grants.length === 1 && grants[0] === 'authorization_code';
  }

  /** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(verifier))) == challenge, compared in constant time. */
  function pkceMatches(verifier, challenge) {
    const computed = Buffer.from(crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url'));
    const expected = Buffer.from(challenge);
    return computed.length === expected.length && crypto.timingSafeEqual(computed, expected);
  }

  /**
   * `POST /oauth/token` with `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5):
   * `code`, `redirect_uri`, `client_id`, `code_verifier`. A failed check leaves the code as it
   * was; the first success spends it and starts a refresh token family, which a later exchange
   * of the spent code revokes (RFC 6749 §4.1.2). Synchronous from the checks to the spending,
   * so that of concurrent exchanges of one code only one succeeds.
   */
  async function exchangeCode(req, res, text) {
    stats.codeExchanges += 1;
    const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
    let presented = null;
    let record;
    const log = (outcome, status) =>
      stats.codeExchangeLog.push({ ...logStamp(), outcome, status, code: presented, sub: record?.sub ?? null });
    const refuse = (e) => {
      if (e instanceof DpopError) e = tokenEndpointDpopError(e);
      if (!(e instanceof HttpError)) throw e;
      log(e.outcome, e.status);
      sendJson(res, e.status, { error: e.error, error_description: e.message }, noStore);
    };
    let form;
    try {
      form = parseForm(text);
      presented = form.code ?? null;
      const client = clientIdOf(req, form);
      if (client === undefined) throw new HttpError(400, 'invalid_request', 'client_id missing');
      if (client !== clientId) throw new HttpError(401, 'invalid_client', 'unknown client_id');
      for (const name of ['code', 'redirect_uri', 'code_verifier']) {
        if (!form[name]) throw new HttpError(400, 'invalid_request', `${name} missing`);
      }
      if (!CODE_VERIFIER.test(form.code_verifier)) {
        throw new HttpError(400, 'invalid_request', 'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~');
      }
    } catch (e) {
      refuse(e);
      return;
    }
    // The proof's signature is checked before the code, so that the code checks and spending stay synchronous.
    let proof = null;
    if (readsDpop(req)) {
      try {
        proof = await readDpopProof(req, '/oauth/token');
      } catch (e) {
        refuse(e);
        return;
      }
    }
    try {
      if (proof) acceptDpopProof(req, proof);
      else if (faults.dpopMode === 'required') throw missingProof('/oauth/token', 'a DPoP proof is required');
      record = authCodes.get(form.code);
      if (!record) throw new HttpError(400, 'invalid_grant', 'unknown authorization code', 'unknown_code');
      if (record.familyId !== null) {
        families.get(record.familyId).revoked = true;
        throw new HttpError(400, 'invalid_grant', 'authorization code already used; the tokens issued for it are revoked', 'code_reused');
      }
      if (serverNowMs() >= record.expiresAtMs) throw new HttpError(400, 'invalid_grant', 'authorization code expired', 'code_expired');
      if (record.redirectUri !== form.redirect_uri) {
        throw new HttpError(400, 'invalid_grant', 'redirect_uri differs from the authorization request', 'redirect_uri_mismatch');
      }
      if (!pkceMatches(form.code_verifier, record.codeChallenge)) {
        throw new HttpError(400, 'invalid_grant', 'code_verifier does not match the code_challenge', 'pkce_mismatch');
      }
    } catch (e) {
      refuse(e);
      return;
    }
    const familyId = randomToken(9);
    record.familyId = familyId;
    // With a proof the session is bound to its key: the refresh tokens (RFC 9449 §5) and every access token.
    const family = { sub: record.sub, revoked: false, idToken: wantsIdToken(record.scope), authTime: record.authTime, jkt: proof?.jkt ?? null };
    families.set(familyId, family);
    const refreshToken = newRefreshToken(familyId, record.sub);
    log('exchanged', 200);
    const grant = await grantFor(record.sub, refreshToken, family, { nonce: record.nonce, jkt: family.jkt });
    sendJson(
      res,
      200,
      {
        access_token: grant.accessToken,
        token_type: grant.tokenType,
        expires_in: grant.expiresIn,
        refresh_token: refreshToken,
        ...(grant.idToken ? { id_token: grant.idToken } : {}),
        ...(record.scope !== undefined ? { scope: record.scope } : {}),
      },
      noStore,
    );
  }

  /**
   * OIDC RP-Initiated Logout 1.0: `GET /end-session` (or a form POST) with `id_token_hint`,
   * `client_id`, `post_logout_redirect_uri` and `state`, all optional. A hint must be an ID token
   * this server signed for its client (expired is fine, the session may have outlasted it); every
   * refresh token family of its `sub` is revoked. Then 302 to an acceptable
   * post_logout_redirect_uri (with `state`), else a signed-out page. A forged hint or another
   * client_id get a 400 page and change nothing.
   */
  async function endSession(req, res) {
    const post = req.method === 'POST';
    if (!post && req.method !== 'GET') throw new HttpError(405, 'invalid_request', 'use GET or POST');
    // No origin check: any page may end a session here, as any link may (RP-Initiated Logout §2).
    const { params, repeated } = post ? pageFormParams(req, await readBody(req)) : requestParams(new URL(req.url, 'http://x').searchParams);
    stats.endSessions += 1;
    const entry = {
      sub: null,
      clientId: params.client_id ?? null,
      postLogoutRedirectUri: params.post_logout_redirect_uri ?? null,
      state: params.state ?? null,
      revokedFamilies: 0,
    };
    const refuse = (outcome, description) => {
      stats.endSessionLog.push({ ...logStamp(), outcome, ...entry });
      return pageError(400, outcome === 'invalid_client' ? 'invalid_client' : 'invalid_request', description);
    };
    const [again] = repeated;
    if (again !== undefined) throw refuse('invalid_request', `parameter ${again} repeated`);
    if (params.client_id !== undefined && params.client_id !== clientId) {
      throw refuse('invalid_client', `unknown client_id ${JSON.stringify(params.client_id)}`);
    }
    if (params.id_token_hint !== undefined) {
      const claims = await ownJwtClaims(params.id_token_hint);
      if (!claims || !audiences(claims).includes(clientId) || typeof claims.sub !== 'string') {
        throw refuse('invalid_id_token_hint', 'id_token_hint is not an ID token this server issued to its client');
      }
      entry.sub = claims.sub;
      entry.revokedFamilies = revokeFamiliesOfSub(claims.sub);
    }
    const target = params.post_logout_redirect_uri;
    if (target !== undefined && isAcceptableRedirectUri(target, redirectUris)) {
      stats.endSessionLog.push({ ...logStamp(), outcome: 'redirected', ...entry });
      res.writeHead(302, { Location: withQuery(target, { state: params.state }), 'Cache-Control': 'no-store', 'Content-Length': 0 });
      res.end();
      return;
    }
    stats.endSessionLog.push({ ...logStamp(), outcome: 'signed_out', ...entry });
    const note =
      target === undefined
        ? ''
        : `\n<p class="detail" id="not-redirected">Not sent on to <code>${escapeHtml(target)}</code>: ` +
          'it is no acceptable post_logout_redirect_uri.</p>';
    sendHtml(
      res,
      200,
      htmlPage('Signed out', `<h1>Signed out</h1>\n<p id="signed-out">You are signed out of ${escapeHtml(issuer)}.</p>${note}`),
    );
  }

  /** OIDC Discovery 1.0 / RFC 8414 metadata (the same document on both routes). */
  function metadata() {
    return {
      issuer,
      authorization_endpoint: `${url}/authorize`,
      token_endpoint: `${url}/oauth/token`,
      jwks_uri: `${url}/.well-known/jwks.json`,
      revocation_endpoint: `${url}/oauth/revoke`,
      end_session_endpoint: `${url}/end-session`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [current.alg, ...SIGNING_ALGS.filter((a) => a !== current.alg)],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      authorization_response_iss_parameter_supported: true,
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      scopes_supported: ['openid', 'offline_access'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'auth_time', 'nonce'],
      ...(faults.dpopMode !== false ? { dpop_signing_alg_values_supported: [...DPOP_ALGS] } : {}),
    };
  }

  function serveJwks(req, res) {
    stats.jwksReads += 1;
    const fail = faults.failJwks;
    if (fail.count > 0) {
      fail.count -= 1;
      if (fail.status === 0) {
        req.socket.destroy();
        return;
      }
      sendJson(res, fail.status, { error: 'temporarily_unavailable', error_description: 'injected JWKS failure' }, { 'Cache-Control': 'no-store' });
      return;
    }
    const cache = jwksMaxAge === null ? 'no-store' : `public, max-age=${jwksMaxAge}`;
    sendJson(res, 200, publishedJwks(), { 'Cache-Control': cache });
  }

  /** What a presented token is to this server, for `revocationLog`: its kind and subject. */
  async function tokenKind(token) {
    const refresh = refreshTokens.get(token);
    if (refresh) return { kind: 'refresh_token', sub: refresh.sub };
    const opaqueAccess = opaqueAccessTokens.get(token);
    if (opaqueAccess) return { kind: 'access_token', sub: opaqueAccess.sub };
    const claims = await ownJwtClaims(token);
    if (claims && audiences(claims).includes(audience)) return { kind: 'access_token', sub: claims.sub ?? null };
    if (claims && audiences(claims).includes(clientId)) return { kind: 'id_token', sub: claims.sub ?? null };
    return { kind: 'unknown', sub: null };
  }

  /**
   * RFC 7009 revocation: form POST `token=…` (`token_type_hint` optional, `client_id` optional
   * for this public client). A refresh token revokes its whole family, an opaque access token
   * is forgotten; an unknown token is no error (§2.2). Answers 200 with an empty body. Each
   * revocation is logged in `revocationLog`.
   */
  async function revoke(req, res) {
    requirePost(req);
    const text = await readBody(req);
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      throw new HttpError(400, 'invalid_request', 'expected application/x-www-form-urlencoded');
    }
    const form = parseForm(text);
    if (form.client_id !== undefined && form.client_id !== clientId) throw new HttpError(401, 'invalid_client', 'unknown client_id');
    if (!form.token) throw new HttpError(400, 'invalid_request', 'token missing');
    stats.revocations += 1;
    const { kind, sub } = await tokenKind(form.token);
    if (!revokeFamilyOf(form.token)) opaqueAccessTokens.delete(form.token);
    stats.revocationLog.push({ ...logStamp(), kind, sub, tokenTypeHint: form.token_type_hint ?? null, clientId: form.client_id ?? null });
    res.writeHead(200, { 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
  }

  function presentedTokenQuiet(req, style, text) {
    try {
      return presentedToken(req, style, text);
    } catch {
      return undefined;
    }
  }

  /**
   * What /api/me knows of an access token: `{ sub, exp, iat, jkt }` (jkt: the DPoP key it is bound
   * to, or null), or `{ error }` with the reason it is refused.
   */
  async function accessTokenInfo(token) {
    if (opaque) {
      const record = opaqueAccessTokens.get(token);
      if (!record) return { error: 'the access token is invalid' };
      if (record.exp <= Math.floor(serverNowMs() / 1000)) return { error: 'the access token expired' };
      return { sub: record.sub, exp: record.exp, iat: record.iat, jkt: record.jkt };
    }
    try {
      // Any key the server still holds (published or not) verifies; a dropped key no longer does.
      const { payload } = await jose.jwtVerify(token, heldKey, {
        algorithms: SIGNING_ALGS,
        issuer,
        audience,
        currentDate: new Date(serverNowMs()),
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      return { sub: payload.sub, exp: payload.exp, iat: payload.iat, jkt: typeof payload.cnf?.jkt === 'string' ? payload.cnf.jkt : null };
    } catch (e) {
      return { error: e?.code === 'ERR_JWT_EXPIRED' ? 'the access token expired' : 'the access token is invalid' };
    }
  }

  /**
   * `GET /api/me`: a Bearer token (RFC 6750) that is not DPoP-bound, or a DPoP-bound one with the
   * DPoP scheme and a proof whose `ath` is the token's hash, signed by the key the token is bound
   * to (RFC 9449 §7). Refusals are 401 with a `WWW-Authenticate` challenge of the scheme concerned.
   */
  async function apiMe(req, res) {
    stats.apiCalls += 1;
    const dpopOn = faults.dpopMode !== false;
    const deny = (description) => {
      stats.api401 += 1;
      const challenge = description
        ? `Bearer error="invalid_token", error_description="${description}"`
        : `Bearer realm="${audience}"`;
      // Without credentials the client learns both schemes it may use (RFC 9449 §7.2).
      const challenges = !description && dpopOn ? [challenge, `DPoP realm="${audience}", ${DPOP_CHALLENGE_ALGS}`] : challenge;
      sendJson(res, 401, { error: description ? 'invalid_token' : 'unauthorized' }, { 'WWW-Authenticate': challenges });
    };
    const denyDpop = (error, description) => {
      stats.api401 += 1;
      const challenge = `DPoP error="${error}", error_description="${description}", ${DPOP_CHALLENGE_ALGS}`;
      sendJson(res, 401, { error }, { 'WWW-Authenticate': challenge });
    };
    if (faults.api401Always) return deny('token rejected by test control');
    const auth = req.headers.authorization ?? '';
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/=-]+)$/i.exec(auth);
    const scheme = match?.[1].toLowerCase();
    if (!match || (scheme === 'dpop' && !dpopOn)) return auth ? deny('malformed Authorization header') : deny(undefined);
    const token = match[2];
    const info = await accessTokenInfo(token);
    if (scheme === 'bearer') {
      if (info.error) return deny(info.error);
      // RFC 9449 §7.2: a bound token is worthless without its key, also when sent as Bearer.
      if (info.jkt) return denyDpop('invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a proof');
    } else {
      if (info.error) return denyDpop('invalid_token', info.error);
      if (!info.jkt) return denyDpop('invalid_token', 'the access token is not DPoP-bound: send it with the Bearer scheme');
      try {
        if (dpopHeaderLines(req).length === 0) throw missingProof('/api/me', 'the DPoP header is missing');
        const proof = await readDpopProof(req, '/api/me');
        acceptDpopProof(req, proof, { accessToken: token, expectedJkt: info.jkt });
      } catch (e) {
        if (!(e instanceof DpopError)) throw e;
        if (e.nonce) return denyDpop('use_dpop_nonce', 'the resource server requires the nonce of the DPoP-Nonce header in the DPoP proof');
        // RFC 9449 §7.1: a proof by another key is a problem of the token's binding.
        if (e.outcome === 'key_mismatch') return denyDpop('invalid_token', 'the DPoP proof key is not the key the access token is bound to');
        return denyDpop('invalid_dpop_proof', e.message);
      }
    }
    sendJson(res, 200, { sub: info.sub, exp: info.exp, iat: info.iat }, { 'Cache-Control': 'no-store' });
    return undefined;
  }

  async function control(req, res) {
    requirePost(req);
    const body = JSON.parse((await readBody(req)) || 'null');
    const list = Array.isArray(body) ? body : [body];
    const results = [];
    for (const item of list) {
      const action = item?.action;
      if (typeof action !== 'string' || !Object.hasOwn(controls, action) || action === 'issuedRefreshTokens') {
        throw new HttpError(400, 'invalid_request', `unknown action ${JSON.stringify(action)}`);
      }
      const args = Array.isArray(item.args) ? item.args : item.args === undefined ? [] : [item.args];
      try {
        results.push((await controls[action](...args)) ?? null);
      } catch (e) {
        throw new HttpError(400, 'invalid_request', e.message);
      }
    }
    sendJson(res, 200, { ok: true, results, stats }, { 'Cache-Control': 'no-store' });
  }

  async function serveStatic(req, res, pathname) {
    if (!staticRoot || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    let rel;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return false;
    }
    if (rel.includes('\0')) return false;
    let file = path.resolve(staticRoot, `.${rel}`);
    if (file !== staticRoot && !file.startsWith(staticRoot + path.sep)) return false;
    let info = await fs.stat(file).catch(() => null);
    if (info?.isDirectory()) {
      file = path.join(file, 'index.html');
      info = await fs.stat(file).catch(() => null);
    }
    // A client-side route of a single-page app (`/protected`): its page is the app's index.html.
    if (!info && spaFallback && path.extname(rel) === '') {
      file = path.join(staticRoot, 'index.html');
      info = await fs.stat(file).catch(() => null);
    }
    if (!info?.isFile()) return false;
    const data = await fs.readFile(file);
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': data.length,
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : data);
    return true;
  }

  async function route(req, res, pathname) {
    // RFC 9449 §8.2: every answer of a route that reads proofs hands out the current nonce.
    if (DPOP_ROUTES.has(pathname) && faults.dpopMode !== false && faults.dpopNonceRequired) res.setHeader('DPoP-Nonce', dpopNonce);
    const style = REFRESH_ROUTES.get(pathname);
    if (style) {
      requirePost(req);
      const text = await readBody(req);
      if (style === 'oauth2' && isCodeGrant(req, text)) return exchangeCode(req, res, text);
      return refresh(req, res, style, text);
    }
    const get = req.method === 'GET' || req.method === 'HEAD';
    switch (pathname) {
      case '/login':
        return login(req, res);
      case '/logout':
        return logout(req, res);
      case '/api/me':
        if (!get) throw new HttpError(405, 'invalid_request', 'use GET');
        return apiMe(req, res);
      case '/__control':
        return control(req, res);
      case '/__stats':
        return sendJson(res, 200, stats, { 'Cache-Control': 'no-store' });
      case '/.well-known/jwks.json':
        if (get) return serveJwks(req, res);
        break;
      case '/key.pem':
        if (get) {
          res.writeHead(200, { 'Content-Type': 'application/x-pem-file', 'Cache-Control': 'no-store' });
          return res.end(current.publicPem);
        }
        break;
      case '/.well-known/oauth-authorization-server':
      case '/.well-known/openid-configuration':
        if (get) return sendJson(res, 200, metadata());
        break;
      case '/authorize':
        return authorize(req, res);
      case '/end-session':
        return endSession(req, res);
      case '/oauth/revoke':
        return revoke(req, res);
      default:
        if (await serveStatic(req, res, pathname)) return undefined;
    }
    throw new HttpError(404, 'not_found', `no route for ${req.method} ${pathname}`);
  }

  async function handle(req, res) {
    let pathname;
    try {
      pathname = new URL(req.url, 'http://localhost').pathname;
    } catch {
      pathname = '/';
    }
    if (faults.down && !CONTROL_ROUTES.has(pathname)) {
      req.socket.destroy();
      return;
    }
    baseHeaders(req, res);
    if (req.method === 'OPTIONS') return preflight(req, res);
    try {
      await route(req, res, pathname);
    } catch (e) {
      if (res.headersSent || req.socket.destroyed) return;
      if (e instanceof HttpError && e.page) {
        sendHtml(res, e.status, errorPage(e));
      } else if (e instanceof HttpError) {
        sendJson(res, e.status, { error: e.error, error_description: e.message });
      } else if (e instanceof SyntaxError) {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'body is not valid JSON' });
      } else {
        sendJson(res, 500, { error: 'server_error', error_description: String(e?.message ?? e) });
      }
    }
  }

  // --- controls -------------------------------------------------------------------------------

  const controls = {
    /** The next `n` refresh requests answer `status` (with optional Retry-After / body); tokens untouched. */
    failNext(n, status = 503, { retryAfter, body } = {}) {
      checkCount(n, 'failNext');
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new TypeError('failNext: status must be 200..599');
      faults.failNext = { count: n, status, retryAfter, body };
    },
    /** The next `n` refresh requests never get an answer (until the client aborts or close()). */
    hangNext(n = 1) {
      faults.hangNext = checkCount(n, 'hangNext');
    },
    /** The next `n` refresh requests rotate the token, then lose the connection without answering. */
    dropAfterRotateNext(n = 1) {
      faults.dropAfterRotateNext = checkCount(n, 'dropAfterRotateNext');
    },
    /** Queues one bad refresh answer: 'bad_json' | 'missing_fields' | 'wrong_key' | 'expired'. Tokens untouched. */
    badTokenNext(kind) {
      if (!BAD_TOKEN_KINDS.has(kind)) throw new TypeError(`badTokenNext: kind must be one of ${[...BAD_TOKEN_KINDS].join(', ')}`);
      faults.badTokenNext.push(kind);
    },
    /** Every refresh token issued so far becomes invalid_grant. */
    revokeAll() {
      for (const family of families.values()) family.revoked = true;
    },
    /** Lifetime in seconds of access tokens issued from now on. */
    setAccessTtl(seconds) {
      faults.accessTtl = checkCount(seconds, 'setAccessTtl');
    },
    /** Shifts the server clock: iat/exp of new tokens, the Date header and /api/me checks. */
    setClockSkew(seconds) {
      if (!Number.isFinite(seconds)) throw new TypeError('setClockSkew: seconds must be a finite number');
      faults.clockSkew = seconds;
    },
    setReuseGraceMs(ms) {
      faults.reuseGraceMs = checkCount(ms, 'setReuseGraceMs');
    },
    /** While true, /api/me answers 401 invalid_token whatever the token. */
    api401Always(on = true) {
      faults.api401Always = Boolean(on);
    },
    /** While true, every request except /__control and /__stats loses its connection at once. */
    down(on = true) {
      faults.down = Boolean(on);
    },
    /**
     * Makes a new key (of `alg`, default the server's `alg`) and signs every token with it from
     * now on. With `publish` (default) it joins the JWKS beside the older keys; with
     * `publish: false` it stays out of the JWKS (tokens then have a kid the JWKS lacks).
     * Resolves with `{ kid, alg, published }`.
     */
    async rotateKey({ publish = true, alg: keyAlg = alg } = {}) {
      checkAlg(keyAlg, 'rotateKey');
      const key = await newSigningKey(keyAlg, { published: Boolean(publish) });
      signingKeys.push(key);
      current = key;
      return { kid: key.kid, alg: key.alg, published: key.published };
    },
    /** Removes every key but the current one (from the JWKS and from what /api/me accepts). */
    dropOldKeys() {
      signingKeys = [current];
      return { kids: [current.kid] };
    },
    /** Publishes the current key (after `rotateKey({ publish: false })`). */
    publishCurrentKey() {
      current.published = true;
      return { kid: current.kid };
    },
    /** The next `n` JWKS requests answer `status` (200..599), or lose the connection with status 0. */
    failJwks(n, status = 503) {
      checkCount(n, 'failJwks');
      if (!Number.isInteger(status) || (status !== 0 && (status < 200 || status > 599))) {
        throw new TypeError('failJwks: status must be 0 or 200..599');
      }
      faults.failJwks = { count: n, status };
    },
    /**
     * The next `n` authorization requests (GET or POST /authorize with a valid client_id and
     * redirect_uri) are answered with a redirect carrying `error` (and state, iss) at once.
     */
    /** The next ID token issued names `audience` (another client) instead of this server's client. */
    idTokenAudienceNext(audience) {
      if (typeof audience !== 'string' || audience === '') throw new TypeError('idTokenAudienceNext: audience must be a non-empty string');
      faults.idTokenAudience.push(audience);
    },
    failAuthorizeNext(error = 'server_error', n = 1) {
      if (typeof error !== 'string' || !ERROR_CODE.test(error)) throw new TypeError('failAuthorizeNext: error must be an RFC 6749 error code');
      faults.failAuthorize = { count: checkCount(n, 'failAuthorizeNext'), error };
    },
    /** Lifetime in seconds of authorization codes issued from now on (0: expired at once). */
    setAuthCodeTtl(seconds) {
      faults.authCodeTtl = checkCount(seconds, 'setAuthCodeTtl');
    },
    /** The DPoP mode from now on: false, 'optional' or 'required' (as the `dpop` option). */
    setDpopMode(mode) {
      faults.dpopMode = checkDpopMode(mode, 'setDpopMode: mode');
    },
    /**
     * While on, every DPoP proof must carry the current nonce (RFC 9449 §8), which every answer
     * of /oauth/token and /api/me sends as `DPoP-Nonce`. Returns `{ nonce }`.
     */
    requireDpopNonce(on = true) {
      faults.dpopNonceRequired = Boolean(on);
      return { nonce: dpopNonce };
    },
    /** Replaces the nonce: proofs with the previous one get `use_dpop_nonce` (nonce_stale). Returns `{ nonce }`. */
    rotateDpopNonce() {
      dpopNonce = randomToken(16);
      return { nonce: dpopNonce };
    },
    /** All faults and settings back to the start options (stats, tokens and keys are kept). */
    reset() {
      faults = defaults();
    },
    /** Zeroes the counters and empties the logs (the same arrays; `seq` keeps counting). */
    resetStats() {
      for (const [k, v] of Object.entries(newStats())) {
        if (Array.isArray(v)) stats[k].length = 0;
        else stats[k] = v;
      }
    },
    /** Every refresh token value handed out so far, e.g. to assert that none leaked into a page. */
    issuedRefreshTokens() {
      return [...issuedRefreshTokens];
    },
  };

  // --- start ----------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err, socket) => socket.destroy());

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${urlHost}:${address.port}`;
  issuer = options.issuer ?? url;
  serverOrigins = new Set(ownOrigins(address.port, url, issuer));
  allowedOrigins ??= new Set(serverOrigins);

  return {
    url,
    port: address.port,
    issuer,
    audience,
    clientId,
    allowedOrigins: [...allowedOrigins],
    redirectUris: [...redirectUris],
    accessTokenFormat,
    /** The alg of the current signing key. */
    get alg() {
      return current.alg;
    },
    /** The kid of the current signing key. */
    get kid() {
      return current.kid;
    },
    /** The current signing key's public JWK (a copy; published or not). */
    get publicJwk() {
      return { ...current.publicJwk };
    },
    /** What GET /.well-known/jwks.json serves now (a fresh copy on each read). */
    get jwks() {
      return publishedJwks();
    },
    /** The current signing key as SPKI PEM (GET /key.pem). */
    get publicPem() {
      return current.publicPem;
    },
    stats,
    controls,
    /** Stops listening and destroys every connection, hung ones included. */
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
    },
  };
}
