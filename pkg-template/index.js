// jwt-keeper: browsers, bundlers and Web Workers. Touches no global until a function is called.
export { init as default, decodeJwt, verifyJwt, AuthError, isAuthError } from './core.js';
export { createAuthClient } from './client.js';
