// jwt-keeper/verify: the verification half of jwt-keeper (no session client), smaller.
export {
  default,
  InitInput,
  JwtHeader,
  JwtPayload,
  PublicJwk,
  PublicEcJwk,
  PublicRsaJwk,
  JwsAlgorithm,
  PublicJwks,
  KeyInput,
  VerifyOptions,
  AuthErrorCode,
  AuthError,
  isAuthError,
  decodeJwt,
  verifyJwt,
} from '../index.js';
