// `npm run demo`: the local ES256 auth server on 127.0.0.1, serving the demo page (www/demo/)
// and the built package (pkg/) from the repository root, so the page, the token endpoint and
// the API share one origin. Prints the page's URL; stops on SIGINT/SIGTERM.
// Port: PORT env, default 8787; 0 picks a free one.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closeOnSignals, startAuthServer } from '../www/server/auth-server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_PORT = 8787;
/** Where the page lives under the server's root. */
const PAGE = '/www/demo/';

/** Starts the server; resolves with { server, url } where url is the demo page. */
export async function startDemo({ port = DEFAULT_PORT } = {}) {
  if (!existsSync(new URL('../pkg/index.js', import.meta.url))) {
    throw new Error('pkg/ is missing: run `npm run build` (or `npm run demo`) first');
  }
  const server = await startAuthServer({ port, staticDir: ROOT });
  return { server, url: `${server.url}${PAGE}` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? DEFAULT_PORT : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
    process.exit(2);
  }
  let demo;
  try {
    demo = await startDemo({ port });
  } catch (e) {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  }
  const { server, url } = demo;
  console.log(`jwt-keeper demo: ${url}`);
  console.log(`  auth server ${server.url}: issuer ${server.issuer}, audience ${server.audience}, JWKS at /.well-known/jwks.json`);
  console.log('  open the page in two tabs to see them share one session; Ctrl-C stops the server');
  closeOnSignals(server);
}
