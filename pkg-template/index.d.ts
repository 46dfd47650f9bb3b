/**
 * jwt-keeper — strict ES256 / RS256 / PS256 JWT verification and a session keeper for
 * single-page apps, in WebAssembly.
 */

/** What `init()` can load the wasm from. */
export type InitInput =
  | string
  | URL
  | Request
  | Response
  | Promise<Response>
  | BufferSource
  | WebAssembly.Module;

/**
 * Loads the verifier wasm (`verify/jwt_keeper_bg.wasm`, p256) behind the synchronous
 * `decodeJwt`/`verifyJwt`. Needed before them in browsers; in Node the first call reads the
 * file. Idempotent. `createAuthClient` and `verifyJwtAsync` do not need it: they load what
 * they use themselves. By default loads the `.wasm` file of the package.
 */
export default function init(input?: InitInput): Promise<void>;

/**
 * Loads the RSA module (`verify/jwt_keeper_rsa_bg.wasm`, the rsa crate, 35 KB gzip) that the
 * synchronous `verifyJwt` needs for RS256/PS256 tokens in browsers (Node reads it by itself),
 * and the verifier with it. Idempotent. Without it such a `verifyJwt` throws `internal`
 * saying so; `verifyJwtAsync` and the client check RSA with WebCrypto and never need it.
 */
export function initRsa(input?: InitInput): Promise<void>;

/** A JOSE header. Only `alg` `"ES256"`, `"RS256"` and `"PS256"` tokens ever verify. */
export interface JwtHeader {
  alg?: string;
  kid?: string;
  typ?: string;
  [parameter: string]: unknown;
}

/** JWT claims (RFC 7519 §4.1) plus any others. Dates are seconds since the epoch. */
export interface JwtPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [claim: string]: unknown;
}

/** A P-256 public key as a JWK (RFC 7517/7518), for ES256. Private members (`d`) are refused. */
export interface PublicEcJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid?: string;
  /** When present, the only algorithm this key verifies. */
  alg?: 'ES256';
  use?: 'sig';
  /** When present, must include `"verify"`. */
  key_ops?: string[];
}

/**
 * An RSA public key as a JWK, for RS256 and PS256: `n` of 2048 to 8192 bits (no leading zero
 * byte), `e` odd, from 3 to 2³³ − 1. Private members (`d`, `p`, `q`, `dp`, `dq`, `qi`) are refused.
 */
export interface PublicRsaJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid?: string;
  /** When present, the only algorithm this key verifies. */
  alg?: 'RS256' | 'PS256';
  use?: 'sig';
  /** When present, must include `"verify"`. */
  key_ops?: string[];
}

/** A public JWK of a supported type. */
export type PublicJwk = PublicEcJwk | PublicRsaJwk;

/**
 * A JWK Set; the token's `kid` and `alg` pick exactly one usable key (P-256 for ES256, RSA for
 * RS256/PS256; entries of other types or for other uses are skipped).
 */
export interface PublicJwks {
  keys: Array<PublicJwk | Record<string, unknown>>;
}

/**
 * A key: a P-256 or RSA JWK, a JWKS, or a PEM string: SPKI (`-----BEGIN PUBLIC KEY-----`,
 * P-256 or RSA) or PKCS#1 (`-----BEGIN RSA PUBLIC KEY-----`).
 */
export type KeyInput = PublicJwk | PublicJwks | string;

/** A supported JWS algorithm. */
export type JwsAlgorithm = 'ES256' | 'RS256' | 'PS256';

/** Checks besides the signature. Unknown option names are refused (`malformed`). */
export interface VerifyOptions {
  /**
   * The allowed header `alg` values (exact, case-sensitive); another is `unsupported_alg`.
   * Non-empty. Default `['ES256', 'RS256', 'PS256']`.
   */
  algorithms?: JwsAlgorithm[];
  /**
   * The required header `typ`, e.g. `'at+jwt'`: compared case-insensitively, with the
   * `application/` prefix optional (`'at+jwt'` equals `'application/at+jwt'`); a mismatch or
   * a missing `typ` is `claim_mismatch`. Default: not checked.
   */
  typ?: string;
  /** Required exact `iss`. Default: not checked. */
  issuer?: string;
  /** `aud` must contain one of these exactly. Default: not checked. */
  audience?: string | string[];
  /** Clock tolerance for `exp`/`nbf` in seconds. Default 30, at most 300. */
  leeway?: number;
  /** The current time in seconds since the epoch. Default: the system clock. */
  now?: number;
  /** Longest token accepted, checked before decoding. Default 16384, at most 1048576. */
  maxTokenBytes?: number;
}

/** The stable `AuthError.code` values. */
export type AuthErrorCode =
  | 'malformed'
  | 'unsupported_alg'
  | 'bad_key'
  | 'no_matching_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claim_mismatch'
  | 'not_authenticated'
  | 'refresh_rejected'
  | 'network'
  | 'timeout'
  | 'bad_response'
  | 'internal'
  | 'login_failed'
  | 'invalid_state'
  | 'unsupported';

/** Every failure of jwt-keeper. */
export class AuthError extends Error {
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'AuthError';
  readonly code: AuthErrorCode;
  /** `login_failed` from the provider: its OAuth `error` code (`access_denied`, `login_required`, …). */
  readonly error?: string;
  /** `login_failed` from the provider: its `error_description`, if any. */
  readonly errorDescription?: string;
}

/** True for an AuthError from any copy of jwt-keeper, in any realm (no `instanceof` needed). */
export function isAuthError(value: unknown): value is AuthError;

/**
 * Reads a token's header and payload (strict base64url and JSON, duplicate names refused).
 * This does NOT check the signature or any claim: never trust what it returns.
 * @throws {AuthError} `malformed`
 */
export function decodeJwt<P extends object = JwtPayload>(token: string): { header: JwtHeader; payload: P };

/**
 * Verifies an ES256, RS256 or PS256 token against `key`: `alg` must be allowed by
 * `options.algorithms` (else `unsupported_alg`) and fit the key (P-256 for ES256, RSA for
 * RS256/PS256, a JWK's own `alg`; else `no_matching_key`); then `typ` (if asked), `exp`
 * (required), `nbf`, `iss` and `aud` as asked. Returns the verified payload.
 * @throws {AuthError} `malformed`, `unsupported_alg`, `bad_key`, `no_matching_key`,
 *   `bad_signature`, `expired`, `not_yet_valid`, `claim_mismatch`
 */
export function verifyJwt<P extends object = JwtPayload>(token: string, key: KeyInput, options?: VerifyOptions): P;

/**
 * The same checks as `verifyJwt`, in the same order, made by the client core (no `init()`
 * needed), with the signature checked by WebCrypto where it exists (as in the session client;
 * the key is imported once and kept) and by the verifier wasm only where it is missing.
 * `key` may also be the URL of a JWKS (string or `URL`): read on first need and kept, read
 * again for an unknown `kid` (at most once per 30 s) and after 10 minutes.
 * @throws {AuthError} as `verifyJwt`; `network` when the JWKS cannot be read
 */
export function verifyJwtAsync<P extends object = JwtPayload>(token: string, key: KeyInput | URL, options?: VerifyOptions): Promise<P>;

/** How the refresh endpoint is spoken to. */
export interface RefreshOptions {
  /** The refresh endpoint. Default: `token_endpoint` of `metadata` or discovery. */
  url?: string;
  /**
   * `'oauth2'` (default): RFC 6749 §6 form POST `grant_type=refresh_token` (+`client_id`),
   * answer `{access_token, refresh_token?, expires_in?}`.
   * `'json'`: POST `{"refreshToken"}`, answer `{accessToken, refreshToken?, expiresIn?}`.
   * `'cookie'`: POST with `credentials: 'include'`; the refresh token lives only in an HttpOnly
   * cookie and never in JS or wasm memory; answer `{accessToken, expiresIn?}`.
   */
  style?: 'oauth2' | 'json' | 'cookie';
  /** Sent as `client_id` in `oauth2` style (alias of the top-level `clientId`). */
  clientId?: string;
  /** Extra headers for every refresh request. */
  headers?: Record<string, string>;
  /** Abort a refresh after this long (then retried). Default 10000. */
  timeoutMs?: number;
}

/** Options of {@link createAuthClient}. Unknown names are refused (`malformed`). */
export interface AuthClientOptions {
  /**
   * The key every access token is verified with: a JWK, a JWKS, an SPKI PEM, or the URL of a
   * JWKS (string or `URL`: read when first needed, re-read once (per 30 s) for an unknown
   * `kid` and after 10 minutes; a failed read is `network`, never a logout). Default: the
   * `jwks_uri` of `metadata`, or of OpenID Connect discovery at `issuer`.
   */
  publicKey?: KeyInput | URL;
  /**
   * The refresh endpoint; default `token_endpoint` of `metadata` or discovery. Without one the
   * session ends when the access token expires.
   */
  refresh?: RefreshOptions;
  /**
   * Required exact `iss`. With no `publicKey` and no `metadata.jwks_uri`, the client reads
   * `${issuer}/.well-known/openid-configuration` (its `issuer` must equal this exactly).
   */
  issuer?: string;
  /** The OAuth client id (sign-in, `client_id` on refresh and logout; the ID token's audience). */
  clientId?: string;
  /** Where sign-in returns to (registered at the provider). Default `location.origin`. */
  redirectUri?: string;
  /** The scope sign-in asks for. Default `'openid offline_access'`. */
  scope?: string;
  /**
   * DPoP (RFC 9449): tokens bound to a non-extractable P-256 key of this browser (WebCrypto,
   * kept in IndexedDB, shared by the tabs). Token requests and `fetch` carry proofs; the
   * token response must say `token_type: DPoP` and a JWT access token's `cnf.jkt` must name
   * the key. Rejects `unsupported` without WebCrypto or IndexedDB. Default `false`.
   */
  dpop?: boolean;
  /**
   * `'jwt'` (default): every access token is verified. `'opaque'`: access tokens are not read
   * (their life is `expires_in`); identity comes from the verified ID token (`user`).
   */
  accessTokenFormat?: 'jwt' | 'opaque';
  /** The provider's endpoints given directly; they override discovery. */
  metadata?: {
    jwks_uri?: string;
    token_endpoint?: string;
    authorization_endpoint?: string;
    end_session_endpoint?: string;
    revocation_endpoint?: string;
    /** RFC 9207: the sign-in callback must carry `iss`. */
    authorization_response_iss_parameter_supported?: boolean;
  };
  /** `aud` must contain one of these. */
  audience?: string | string[];
  /** Clock tolerance in seconds (0–300). Default 30. */
  leeway?: number;
  /** Allowed header `alg` values, as in {@link VerifyOptions}. Default all three. */
  algorithms?: JwsAlgorithm[];
  /** Required header `typ`, as in {@link VerifyOptions}. Default: not checked. */
  typ?: string;
  /** Refresh this many seconds before `exp` (at most half the token's lifetime). Default 60. */
  refreshMargin?: number;
  /** Where the session survives a reload. Default `'memory'` (it does not). */
  persist?: 'memory' | 'session' | 'local';
  /** Coordinate the tabs of this origin. Default true. */
  crossTab?: boolean;
}

/** `refresh` event: new tokens were adopted (by a refresh, `setSession`, or another tab). */
export interface RefreshEvent {
  accessToken: string;
  /** ms since the epoch, local clock. */
  expiresAt: number;
  source: 'self' | 'peer';
}

/** `logout` event: the session ended (exactly once per session). */
export interface LogoutEvent {
  reason: 'user' | 'refresh_rejected' | 'session_expired' | 'invalid_token' | 'peer';
}

/** `error` event: a refresh failed; the session is kept. */
export interface ErrorEvent {
  error: AuthError;
  willRetry: boolean;
  retryInMs?: number;
}

/** The events of an {@link AuthClient}. */
export interface AuthClientEvents {
  refresh: RefreshEvent;
  logout: LogoutEvent;
  error: ErrorEvent;
}

/** Options of {@link AuthClient.loginWithRedirect}. */
export interface LoginOptions {
  /** Default: the client's `redirectUri`, else `location.origin`. */
  redirectUri?: string;
  /** Default: the client's `scope`, else `'openid offline_access'`. */
  scope?: string;
  /** `audience` (Auth0 and others: which API the access token is for). */
  audience?: string;
  /** `prompt` (`'login'`, `'consent'`, `'none'`, …). */
  prompt?: string;
  /** `login_hint`. */
  loginHint?: string;
  /** Any JSON value, given back by `handleRedirectCallback` (at most 16 KB of JSON). */
  appState?: unknown;
  /** More authorization request parameters (not those the library sets itself). */
  extraParams?: Record<string, string>;
}

/** Options of {@link AuthClient.logout}. */
export interface LogoutOptions {
  /** Where the provider sends the browser after its logout (`post_logout_redirect_uri`). */
  returnTo?: string;
}

/** Keeps one session alive. */
export interface AuthClient {
  /**
   * Verifies `accessToken`, then adopts it (emits `refresh` with `source: 'self'`). Resolves
   * once the session is adopted; rejects with an AuthError (`malformed`, `bad_signature`,
   * `expired`, …) and leaves the old session as it was. It returns a promise because adopting
   * may take a request: when the token looks expired by the client's estimate of the server
   * clock and a refresh token is given, the client asks the server rather than trusting its
   * own clock. A `getAccessToken()` made meanwhile waits for the outcome.
   * Only the object's own `accessToken`, `refreshToken`, `expiresIn` and `idToken` are read.
   * Pass the login response's `expires_in` as `expiresIn`: it can shorten the token's life,
   * never extend it past `exp` (with `accessTokenFormat: 'opaque'` it is the token's life, and
   * required). `idToken` (OpenID Connect) is verified with `aud` = `clientId` (and `azp` when
   * it has several audiences), `iss` = `issuer`, `exp`; it becomes `user`.
   */
  setSession(session: { accessToken: string; refreshToken?: string; expiresIn?: number; idToken?: string }): Promise<void>;
  /**
   * A verified access token not within `refreshMargin` of `exp`; refreshes first if needed.
   * Concurrent callers share one refresh. Rejects `not_authenticated` without a session.
   */
  getAccessToken(): Promise<string>;
  /**
   * `fetch` with `Authorization: Bearer` (with `dpop`: `Authorization: DPoP` and a `DPoP`
   * proof); one refresh and one replay on 401 `invalid_token`, and with `dpop` one replay with
   * the server's nonce on 401 `use_dpop_nonce`.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Forces a refresh (single-flight). */
  refresh(): Promise<string>;
  /**
   * Ends the session here and in every tab at once (emits `logout` `{reason: 'user'}`), then
   * revokes the refresh token at the provider's `revocation_endpoint` (RFC 7009) when it has
   * one, then, with `returnTo`, goes to its `end_session_endpoint` (`id_token_hint`,
   * `client_id`, `post_logout_redirect_uri`), or to `returnTo` when it has none. Resolves when
   * that is done; rejects `malformed` for a `returnTo` that is not an absolute http(s) URL (the
   * local logout happens anyway). A rejection nobody awaits is not reported as unhandled.
   */
  logout(options?: LogoutOptions): Promise<void>;
  /**
   * Signs in at the provider: authorization code with PKCE S256 (RFC 7636), `state` and an
   * OpenID Connect `nonce` from `crypto.getRandomValues`. Stores the transaction in
   * `sessionStorage` (one use, 10 minutes), then navigates to the `authorization_endpoint`.
   * Rejects `malformed` (options, no `clientId`), `unsupported` (no `crypto.getRandomValues`),
   * `network` (discovery failed).
   */
  loginWithRedirect(options?: LoginOptions): Promise<void>;
  /**
   * Completes the sign-in on the page the provider returned to: checks `state` (one use;
   * `invalid_state` otherwise) and `iss` (RFC 9207), turns a provider `error=` into
   * `login_failed` (with `error` and `errorDescription`), exchanges the code with the PKCE
   * verifier, verifies the ID token (`iss`, `aud` = `clientId`, `azp`, `nonce`, `exp`) and the
   * access token, adopts the session as `setSession` does (all tabs follow), and removes
   * `code` and `state` from the address bar. Called again with the same URL (React
   * StrictMode), it gives the same result; the code is exchanged once.
   */
  handleRedirectCallback<S = unknown>(url?: string | URL): Promise<{ appState?: S }>;
  readonly isAuthenticated: boolean;
  /** The verified payload of the current access token, or null (always null when opaque). */
  readonly claims: JwtPayload | null;
  /** The verified claims of the session's ID token, or null. */
  readonly user: JwtPayload | null;
  /** Expiry of the access token, ms since the epoch (local clock), or null. */
  readonly expiresAt: number | null;
  /** Listens; returns the function that unsubscribes. */
  on<K extends keyof AuthClientEvents>(type: K, listener: (event: AuthClientEvents[K]) => void): () => void;
  /**
   * Stops timers, listeners, requests and cross-tab locks; pending calls reject with
   * `not_authenticated`. Nothing fires afterwards, not even the remaining listeners of an
   * event being delivered.
   */
  dispose(): void;
}

/** Creates a session client; loads the wasm itself if needed. */
export function createAuthClient(options: AuthClientOptions): Promise<AuthClient>;
