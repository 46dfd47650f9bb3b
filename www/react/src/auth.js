// The app's one AuthClient, configured from the auth server's OpenID Connect discovery. It is a
// promise created once, outside React: <AuthProvider client={auth}> uses it, and so can code
// outside components (a router's data loader, a plain module):
//   const token = await (await auth).getAccessToken();
// On the server (src/entry-server.jsx) there is no page to fetch discovery for and no session:
// `auth` is a promise that never settles, so the provider renders its loading state and
// nothing here reads `fetch`, `location` or any other browser global.
import { createAuthClient } from 'jwt-keeper';

/** The audience and client id the local auth server issues tokens for. */
const AUDIENCE = 'jwt-keeper-demo';
const CLIENT_ID = 'demo-client';

async function connect() {
  const response = await fetch('/.well-known/openid-configuration');
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  const { issuer } = await response.json();
  // The client reads the rest (keys, endpoints) from the issuer's discovery itself.
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

/** Resolves with the app's AuthClient; on the server, never settles. */
export const auth = inBrowser ? connect() : new Promise(() => {});
