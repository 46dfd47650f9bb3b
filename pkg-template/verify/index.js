// jwt-keeper/verify: decodeJwt and verifyJwt only, with a smaller wasm (no session client).
export { init as default, decodeJwt, verifyJwt, AuthError, isAuthError } from './core.js';
