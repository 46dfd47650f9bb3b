// One AuthClient for the app, configured from the auth server's metadata, and a tiny external
// store over it for React's useSyncExternalStore.
import { createAuthClient } from 'jwt-keeper';

/** The audience and client id the local auth server issues tokens for. */
const AUDIENCE = 'jwt-keeper-demo';
const CLIENT_ID = 'demo-client';

async function connect() {
  const [meta, jwks] = await Promise.all([
    fetch('/.well-known/oauth-authorization-server').then((r) => r.json()),
    fetch('/.well-known/jwks.json').then((r) => r.json()),
  ]);
  return createAuthClient({
    publicKey: jwks,
    issuer: meta.issuer,
    audience: AUDIENCE,
    refresh: { url: new URL('/oauth/token', location.href).href, clientId: CLIENT_ID },
    persist: 'session',
  });
}

/** Resolves with the app's AuthClient. */
export const auth = connect();

/**
 * { subscribe, getSnapshot } over `client`: the snapshot { isAuthenticated, claims, expiresAt,
 * logoutReason } is a new object only when the client's `refresh` (a `setSession()` in this
 * tab included) or `logout` events say something changed, as useSyncExternalStore requires.
 */
export function sessionStore(client) {
  const listeners = new Set();
  let logoutReason = null;
  const read = () => ({
    isAuthenticated: client.isAuthenticated,
    claims: client.claims,
    expiresAt: client.expiresAt,
    logoutReason,
  });
  let snapshot = read();
  const changed = () => {
    snapshot = read();
    for (const listener of listeners) listener();
  };
  client.on('refresh', () => {
    logoutReason = null;
    changed();
  });
  client.on('logout', ({ reason }) => {
    logoutReason = reason;
    changed();
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    getSnapshot: () => snapshot,
  };
}

/** POST /login as `user`; returns the server's { access_token, refresh_token, ... }. */
export async function login(user) {
  const response = await fetch('/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (!response.ok) throw new Error(`POST /login answered ${response.status}`);
  return response.json();
}
