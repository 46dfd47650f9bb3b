// The app's AuthClient, configured from the auth server's OpenID Connect discovery. It is made
// here rather than by the plugin so that code outside components (app.js, stores) can use it.
// On the server (src/entry-server.js) there is no page to fetch discovery for and no session:
// `client` is a promise that never settles (the plugin makes nothing of it there and stays
// `isLoading`), so nothing here reads `fetch`, `location` or any other browser global.
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

// A browser is where there is a DOM; a server has none. The DOM's interface objects are asked,
// never `window` or `document`, as jwt-keeper/vue does.
const inBrowser = typeof Document === 'function' && typeof HTMLElement === 'function';

/** Resolves with the app's AuthClient (given to createAuth in app.js); on the server, never settles. */
export const client = inBrowser ? connect() : new Promise(() => {});

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
