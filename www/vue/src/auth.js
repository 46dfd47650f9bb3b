// The app's AuthClient, configured from the auth server's OpenID Connect discovery. It is made
// here rather than by the plugin so that code outside components (main.js, stores) can use it.
import { shallowRef } from 'vue';
import { createAuthClient } from 'jwt-keeper';

/** The audience and client id the local auth server issues tokens for (www/server/README.md). */
const AUDIENCE = 'jwt-keeper-demo';
const CLIENT_ID = 'demo-client';

async function connect() {
  const response = await fetch('/.well-known/openid-configuration');
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  const { issuer } = await response.json();
  return createAuthClient({
    issuer,
    clientId: CLIENT_ID,
    audience: AUDIENCE,
    persist: 'local',
    redirectUri: `${location.origin}/`,
  });
}

/** Resolves with the app's AuthClient (given to createAuth in main.js). */
export const client = connect();

/** Why the session last ended in this tab ('user', 'peer', 'refresh_rejected', …), or null. */
export const logoutReason = shallowRef(null);

client.then(
  (c) => {
    c.on('logout', ({ reason }) => {
      logoutReason.value = reason;
    });
    c.on('refresh', () => {
      logoutReason.value = null;
    });
  },
  () => {
    // the plugin shows the failure as `error`
  },
);
