// The app's one AuthClient, configured from the auth server's OpenID Connect discovery. It is a
// promise created once, outside React: <AuthProvider client={auth}> uses it, and so can code
// outside components (a router's data loader, a plain module):
//   const token = await (await auth).getAccessToken();
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

/** Resolves with the app's AuthClient. */
export const auth = connect();
