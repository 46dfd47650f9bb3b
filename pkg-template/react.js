// jwt-keeper/react: <AuthProvider>, useAuth() and withAuthenticationRequired() over one
// AuthClient. Plain JS (no JSX); React is the app's own copy (an optional peer dependency).
// Nothing here touches a browser global while rendering: the client is made, and the sign-in
// callback read, in an effect, which never runs on the server.
import { createContext, createElement, useContext, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { AuthError, createAuthClient } from './index.js';
import { NO_SESSION, asAuthError as asError, callbackInAddress, clientMethods, report } from './adapter.js';

const Context = createContext(null);

const asAuthError = (e) => asError(e, 'the AuthClient could not be created: ');

/**
 * The state of one provider: its client (made at most once, or given), the callback, and the
 * snapshot useSyncExternalStore reads, a new object only when a field changes. Making one
 * does nothing; `retain()` (from an effect) starts it, `release()` stops it a moment later
 * unless it is retained again at once, as React StrictMode does.
 */
function createStore(props) {
  const listeners = new Set();
  let client = null;
  let owned = false;
  let offs = [];
  let started = false;
  let retained = 0;
  let stopping;
  let loading = true;
  let error = null;
  let lastLogout = null;
  let waiters = [];
  let run = 0;

  // Settles when the client is ready and the callback (if any) is settled.
  const whenReady = () =>
    !loading && client !== null
      ? Promise.resolve(client)
      : !loading && error !== null
        ? Promise.reject(error)
        : new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  const flush = () => {
    const list = waiters;
    waiters = [];
    for (const w of list) client !== null ? w.resolve(client) : w.reject(error);
  };

  const methods = clientMethods(whenReady);

  const initial = Object.freeze({ isLoading: true, isAuthenticated: false, user: null, claims: null, error: null, ...methods });
  let snapshot = initial;

  // The snapshot for the current state: the same object while nothing changed.
  function read() {
    const ready = !loading && client !== null;
    const next = {
      isLoading: loading,
      isAuthenticated: ready && client.isAuthenticated,
      user: ready ? client.user : null,
      claims: ready ? client.claims : null,
      error,
    };
    const same = Object.keys(next).every((k) => snapshot[k] === next[k]);
    if (!same) snapshot = Object.freeze({ ...next, ...methods });
    return snapshot;
  }
  function changed() {
    read();
    for (const listener of [...listeners]) listener();
  }

  async function start(mine) {
    try {
      const given = props.client !== undefined && props.client !== null;
      const c = await (given ? props.client : createAuthClient(props.options));
      if (mine !== run) {
        // Unmounted meanwhile: a client made here goes with the provider.
        if (!given) c.dispose();
        return;
      }
      client = c;
      owned = !given;
      const off = (type, listener) => offs.push(c.on(type, listener));
      off('refresh', changed);
      off('error', changed);
      off('logout', ({ reason }) => {
        lastLogout = reason;
        changed();
      });
      if (callbackInAddress()) {
        let result;
        try {
          result = await c.handleRedirectCallback();
        } catch (e) {
          if (mine === run) error = asAuthError(e);
        }
        if (mine !== run) return;
        if (result !== undefined) {
          try {
            props.onRedirectCallback?.current?.(result.appState);
          } catch (e) {
            report(e);
          }
        }
      }
    } catch (e) {
      if (mine !== run) return;
      error = asAuthError(e);
    }
    loading = false;
    flush();
    changed();
  }

  function stop() {
    run += 1;
    started = false;
    for (const off of offs) off();
    offs = [];
    if (owned) client?.dispose();
    client = null;
    owned = false;
    loading = true;
    error = null;
    const list = waiters;
    waiters = [];
    for (const w of list) w.reject(new AuthError('not_authenticated', 'the AuthProvider was unmounted'));
    changed();
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    getSnapshot: read,
    getServerSnapshot: () => initial,
    lastLogout: () => lastLogout,
    fail(e) {
      error = asAuthError(e);
      changed();
    },
    retain() {
      retained += 1;
      clearTimeout(stopping);
      if (!started) {
        started = true;
        start(run);
      }
    },
    release() {
      retained -= 1;
      clearTimeout(stopping);
      // StrictMode's cleanup is followed at once by a new mount: keep the client for it.
      stopping = setTimeout(() => {
        if (retained === 0 && started) stop();
      });
    },
  };
}

/**
 * Provides one AuthClient to its children: made from `options` at most once (disposed when the
 * provider unmounts), or the app's own `client` (an AuthClient or a promise of one, never
 * disposed here). On a sign-in callback (`state` with `code` or `error` in the address) it calls
 * `handleRedirectCallback()` once, then `onRedirectCallback(appState)`.
 */
export function AuthProvider({ options, client, onRedirectCallback, children }) {
  const callback = useRef(onRedirectCallback);
  useEffect(() => {
    callback.current = onRedirectCallback;
  });
  const store = useRef(null);
  if (store.current === null) store.current = createStore({ options, client, onRedirectCallback: callback });
  const s = store.current;
  useEffect(() => {
    s.retain();
    return () => s.release();
  }, [s]);
  return createElement(Context.Provider, { value: s }, children);
}

function useStore() {
  const store = useContext(Context);
  if (store === null) throw new Error('jwt-keeper/react: useAuth() needs an <AuthProvider> above it in the tree');
  return store;
}

/**
 * `{ isLoading, isAuthenticated, user, claims, error, getAccessToken, fetch,
 * loginWithRedirect, logout }`; a new object (and a new render) only when the state changes.
 */
export function useAuth() {
  const store = useStore();
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
}

/**
 * Renders `Component` once `getAccessToken()` resolves (it refreshes when the token is due).
 * Without a session (`not_authenticated`, `refresh_rejected`) it signs in with
 * `appState.returnTo` set to this page; a transient failure keeps the session and the page.
 */
export function withAuthenticationRequired(Component, { onRedirecting = () => null, loginOptions } = {}) {
  function Required(props) {
    const store = useStore();
    const auth = useAuth();
    // Whether the page may show: a token came, or only a transient failure (the session is kept).
    const [passed, setPassed] = useState(false);
    const shown = useRef(false);
    useEffect(() => {
      if (auth.isLoading) return undefined;
      let live = true;
      auth.getAccessToken().then(
        () => {
          if (live) setPassed(true);
        },
        (e) => {
          if (!live) return;
          if (!NO_SESSION.has(e?.code)) {
            setPassed(true);
            return;
          }
          setPassed(false);
          // The user logged out of the page shown here: where to go is the logout's choice.
          if (shown.current && store.lastLogout() === 'user') return;
          const { pathname, search } = globalThis.location;
          auth.loginWithRedirect({ appState: { returnTo: pathname + search }, ...loginOptions }).catch(store.fail);
        },
      );
      return () => {
        live = false;
      };
    }, [auth, store]);
    const show = passed && !auth.isLoading && auth.isAuthenticated;
    useEffect(() => {
      if (show) shown.current = true;
    }, [show]);
    return show ? createElement(Component, props) : onRedirecting();
  }
  Required.displayName = `withAuthenticationRequired(${Component.displayName || Component.name || 'Component'})`;
  return Required;
}
