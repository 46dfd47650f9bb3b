// jwt-keeper/verify: decodeJwt and verifyJwt only (the verifier wasm, no session client).
export { init as default, decodeJwt, initRsa, verifyJwt } from './verifier.js';
export { AuthError, isAuthError } from '../errors.js';
