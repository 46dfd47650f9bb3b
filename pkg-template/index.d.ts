/**
 * jwt-keeper — strict ES256 JWT verification and a session keeper for single-page apps,
 * in WebAssembly.
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
 * Loads the wasm module. Optional (`createAuthClient` loads it itself, and in Node the first
 * call reads the file), idempotent. By default loads the `.wasm` file next to the package's JS.
 */
export default function init(input?: InitInput): Promise<void>;

/** A JOSE header. Only `alg: "ES256"` tokens ever verify. */
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

/** A P-256 public key as a JWK (RFC 7517/7518). Private members (`d`) are refused. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid?: string;
  alg?: 'ES256';
  use?: 'sig';
  key_ops?: string[];
}

/** A JWK Set; the token's `kid` picks exactly one usable ES256 key (others are skipped). */
export interface PublicJwks {
  keys: Array<PublicJwk | Record<string, unknown>>;
}

/** A key: a P-256 JWK, a JWKS, or an SPKI PEM string (`-----BEGIN PUBLIC KEY-----`). */
export type KeyInput = PublicJwk | PublicJwks | string;

/** Checks besides the signature. Unknown option names are refused (`malformed`). */
export interface VerifyOptions {
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
  | 'internal';

/** Every failure of jwt-keeper. */
export class AuthError extends Error {
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'AuthError';
  readonly code: AuthErrorCode;
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
 * Verifies an ES256 token against `key`, then `exp` (required), `nbf`, `iss` and `aud` as
 * asked. Returns the verified payload.
 * @throws {AuthError} `malformed`, `unsupported_alg`, `bad_key`, `no_matching_key`,
 *   `bad_signature`, `expired`, `not_yet_valid`, `claim_mismatch`
 */
export function verifyJwt<P extends object = JwtPayload>(token: string, key: KeyInput, options?: VerifyOptions): P;
