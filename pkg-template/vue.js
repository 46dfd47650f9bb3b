// jwt-keeper/vue: a Vue 3 plugin around one AuthClient (createAuth), a reactive read-only view
// of its session (useAuth), and a vue-router guard (authGuard). `vue` is an optional peer
// dependency; nothing else is imported. Importing this module touches no global, and on the
// server (no DOM) the plugin creates no client and reads no browser global.
import { hasInjectionContext, inject, shallowReactive, shallowReadonly } from 'vue';
import { AuthError, createAuthClient, isAuthError } from './index.js';
import { NO_SESSION, asAuthError as asError, callbackInAddress, clientMethods, report } from './adapter.js';

const KEY = Symbol('jwt-keeper/vue');

// Failures that say nothing about the session: the client keeps it and retries.
const TRANSIENT = new Set(['network', 'timeout', 'bad_response']);

// The plugin installed last: how authGuard finds it where `inject` cannot (outside setup, or a
// vue-router that does not run guards in the app's context).
let current = null;

// A browser is where there is a DOM to render into; a server (Node, Deno, Bun, an edge
// runtime) has none. The DOM's interface objects are asked, never `window` or `document`, so a
// server render reads no browser global (a `window` some server code defined changes nothing).
const inBrowser = () => typeof Document === 'function' && typeof HTMLElement === 'function';

const isThenable = (x) => x !== null && (typeof x === 'object' || typeof x === 'function') && typeof x.then === 'function';
const isClient = (x) => x !== null && typeof x === 'object' && typeof x.getAccessToken === 'function' && typeof x.on === 'function';

// A frozen deep copy of a claims object: components can read it, never change the client's.
function frozen(value) {
  if (value === null || typeof value !== 'object') return value;
  const copy = Array.isArray(value) ? value.map(frozen) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozen(v)]));
  return Object.freeze(copy);
}

const asAuthError = (e) => asError(e, 'jwt-keeper/vue: ');

/**
 * Creates the plugin: `app.use(createAuth(options))`. `optionsOrClient` is the options of
 * `createAuthClient`, or an AuthClient (or a promise of one) the app made itself.
 * `onRedirectCallback(appState)` runs once after a sign-in callback was handled.
 */
export function createAuth(optionsOrClient, extra) {
  let onRedirectCallback = null;
  if (extra !== undefined && extra !== null) {
    if (typeof extra !== 'object') throw new AuthError('malformed', 'createAuth: the second argument must be an object ({ onRedirectCallback })');
    if (Object.hasOwn(extra, 'onRedirectCallback') && extra.onRedirectCallback !== undefined) {
      if (typeof extra.onRedirectCallback !== 'function') throw new AuthError('malformed', 'createAuth: onRedirectCallback must be a function');
      onRedirectCallback = extra.onRedirectCallback;
    }
  }

  let client = null;
  let started = null;
  let settle;
  const loaded = new Promise((resolve) => {
    settle = resolve;
  });
  let userSeen;
  let claimsSeen;

  const state = shallowReactive({ isLoading: true, isAuthenticated: false, user: null, claims: null, error: null });

  function sync() {
    state.isAuthenticated = client.isAuthenticated === true;
    const { user, claims } = client;
    if (user !== userSeen) {
      userSeen = user;
      state.user = frozen(user ?? null);
    }
    if (claims !== claimsSeen) {
      claimsSeen = claims;
      state.claims = frozen(claims ?? null);
    }
  }

  async function begin() {
    let redirected = null;
    try {
      const made = await (isClient(optionsOrClient) || isThenable(optionsOrClient) ? optionsOrClient : createAuthClient(optionsOrClient));
      if (!isClient(made)) throw new AuthError('malformed', 'createAuth: the promise given did not resolve with an AuthClient');
      client = made;
      // A new session (a sign-in here or in another tab, a refresh) ends the last failure.
      client.on('refresh', () => {
        state.error = null;
        sync();
      });
      client.on('logout', sync);
      client.on('error', sync);
      sync();
      if (callbackInAddress()) {
        try {
          redirected = await client.handleRedirectCallback();
          state.error = null;
        } catch (e) {
          state.error = asAuthError(e);
        }
        sync();
      }
      return client;
    } catch (e) {
      const error = asAuthError(e);
      state.error = error;
      throw error;
    } finally {
      if (redirected !== null && onRedirectCallback !== null) {
        try {
          onRedirectCallback(redirected.appState);
        } catch (e) {
          report(e);
        }
      }
      state.isLoading = false;
      settle();
    }
  }

  // The client, created (and the callback handled) once per plugin, in a browser only.
  function ready() {
    if (!inBrowser()) return Promise.reject(new AuthError('unsupported', 'jwt-keeper/vue: there is no session on the server'));
    if (started === null) {
      started = begin();
      started.catch(() => {});
    }
    return started;
  }

  const methods = clientMethods(ready);

  const view = shallowReadonly(Object.assign(state, methods));

  // What authGuard needs besides the view.
  const entry = {
    view,
    loaded,
    signedIn: () => client?.isAuthenticated === true,
    failed(e) {
      state.error = asAuthError(e);
    },
  };

  const plugin = {
    install(app) {
      app.provide(KEY, entry);
      app.config.globalProperties.$auth = view;
      current = entry;
      if (inBrowser()) ready();
    },
    ...methods,
  };
  for (const name of ['isLoading', 'isAuthenticated', 'user', 'claims', 'error']) {
    Object.defineProperty(plugin, name, { enumerable: true, get: () => state[name] });
  }
  return Object.freeze(plugin);
}

function installed() {
  return (hasInjectionContext() ? inject(KEY, null) : null) ?? null;
}

/**
 * The session of the app's plugin, reactive and read-only:
 * `{ isLoading, isAuthenticated, user, claims, error, getAccessToken, fetch, loginWithRedirect, logout }`.
 * Call it in `setup()` (or `app.runWithContext`).
 */
export function useAuth() {
  const entry = installed();
  if (entry === null) {
    throw new Error(
      'jwt-keeper/vue: useAuth() found no auth plugin. Call it in setup() of a component of an app that did app.use(createAuth(options)); elsewhere use the object createAuth returned.',
    );
  }
  return entry.view;
}

/**
 * vue-router guard (`beforeEnter: authGuard`, or in `router.beforeEach`): lets the navigation
 * through when `getAccessToken()` gives a token (refreshing first when one is due); sends the
 * visitor to sign-in (coming back to `to.fullPath`) only when there is no session. A transient
 * failure keeps a session and the page. On the server it lets every navigation through.
 */
export async function authGuard(to) {
  const entry = installed() ?? current;
  if (entry === null) throw new Error('jwt-keeper/vue: authGuard found no auth plugin: app.use(createAuth(options)) first');
  if (!inBrowser()) return true;
  await entry.loaded;
  try {
    await entry.view.getAccessToken();
    return true;
  } catch (e) {
    const code = isAuthError(e) ? e.code : 'internal';
    if (!NO_SESSION.has(code)) {
      // The session is kept (a failed refresh is retried): stay.
      if (entry.signedIn()) return true;
      // No session, but the failure (the network, the provider) says nothing about it:
      // a sign-in would fail the same way.
      if (TRANSIENT.has(code)) return false;
    }
    try {
      await entry.view.loginWithRedirect({ appState: { returnTo: to.fullPath } });
    } catch (failure) {
      entry.failed(failure);
    }
    return false;
  }
}
