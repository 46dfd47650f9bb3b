// One AuthClient for the app, configured from the auth server's metadata, and a composable
// that turns its state into a Vue ref.
import { onScopeDispose, shallowRef } from 'vue';
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
 * The session as a ref: { isAuthenticated, claims, expiresAt, logoutReason }, updated on the
 * client's `refresh` events (a `setSession()` in this tab included) and `logout` events.
 */
export function useSession(client) {
  const read = (logoutReason = null) => ({
    isAuthenticated: client.isAuthenticated,
    claims: client.claims,
    expiresAt: client.expiresAt,
    logoutReason,
  });
  const session = shallowRef(read());
  const changed = () => {
    session.value = read();
  };
  const unsubscribe = [
    client.on('refresh', changed),
    client.on('logout', ({ reason }) => {
      session.value = read(reason);
    }),
  ];
  onScopeDispose(() => unsubscribe.forEach((off) => off()));
  return { session };
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
