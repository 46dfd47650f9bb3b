// What the framework adapters (react.js, vue.js) share: the rule that ends a guard's wait, how
// a sign-in callback is seen in the address, and the client's methods made callable before
// the client is ready. No framework is imported here.
import { AuthError, isAuthError } from './index.js';

// getAccessToken() rejections that mean there is no session to renew: only these sign in again.
export const NO_SESSION = new Set(['not_authenticated', 'refresh_rejected']);

/** `e` as an AuthError (`internal`, its message after `prefix`, when it is not one). */
export const asAuthError = (e, prefix) =>
  isAuthError(e) ? e : new AuthError('internal', `${prefix}${e?.message ?? String(e)}`, { cause: e });

/** Reports an error thrown by app code the adapter calls, as uncaught, without stopping it. */
export const report = (e) =>
  setTimeout(() => {
    throw e;
  });

/** The address carries a sign-in callback: `state` and `code` or `error` (RFC 6749 §4.1.2). */
export function callbackInAddress() {
  let search = '';
  try {
    search = globalThis.location?.search ?? '';
  } catch {
    return false;
  }
  const params = new URLSearchParams(search);
  return params.has('state') && (params.has('code') || params.has('error'));
}

/**
 * The client's methods, each waiting for `ready()` (a promise of the client) first; a logout
 * nobody awaits does not report its rejection.
 */
export function clientMethods(ready) {
  return {
    getAccessToken: () => ready().then((c) => c.getAccessToken()),
    fetch: (input, init) => ready().then((c) => c.fetch(input, init)),
    loginWithRedirect: (options) => ready().then((c) => c.loginWithRedirect(options)),
    logout(options) {
      const done = ready().then((c) => c.logout(options));
      done.catch(() => {});
      return done;
    },
  };
}
