// `npm run demo`: starts the local ES256 auth server on 127.0.0.1, signs in, and verifies the
// access token it hands out with the built package, printing what a user of the SDK sees.
// Stops on Ctrl-C. (Port: PORT env, default 8787; 0 picks a free one.)
import { startAuthServer } from '../www/server/auth-server.mjs';
import { decodeJwt, verifyJwt, isAuthError } from '../pkg/node.js';

const root = new URL('..', import.meta.url).pathname;
const server = await startAuthServer({ port: Number(process.env.PORT ?? 8787), staticDir: root });
console.log(`auth server listening on ${server.url}`);
console.log(`  public key:  ${server.url}/.well-known/jwks.json`);

const res = await fetch(`${server.url}/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ user: 'alice' }),
});
const { access_token: token, expires_in: expiresIn } = await res.json();
console.log(`\nsigned in as alice; access token (${token.length} bytes, expires in ${expiresIn} s):\n  ${token}`);
console.log('\ndecodeJwt (no checks):', decodeJwt(token).header);
const claims = verifyJwt(token, server.jwks, { issuer: server.issuer, audience: server.audience });
console.log('verifyJwt (ES256 + iss/aud/exp):', claims);
try {
  verifyJwt(token, server.jwks, { issuer: server.issuer, audience: server.audience, now: claims.exp + 60 });
} catch (e) {
  console.log(`the same token one minute after exp: AuthError ${isAuthError(e) ? e.code : '?'} (${e.message})`);
}
console.log(`\nserver running at ${server.url} — Ctrl-C to stop`);
const stop = () => server.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
