#!/usr/bin/env node
// Starts the local auth server: node www/server/main.mjs --port 8787 [--static DIR]
// Other flags: --host, --access-ttl SECONDS, --audience, --issuer, --client-id, --reuse-grace-ms,
// --allowed-origin ORIGIN (repeatable), --alg ES256|RS256|PS256, --access-token-format jwt|opaque,
// --id-tokens auto|always|never, --jwks-max-age SECONDS, --redirect-uri URI (repeatable),
// --dpop optional|required|off.

import { parseArgs } from 'node:util';
import { checkRedirectUris, closeOnSignals, normalizeOrigin, SIGNING_ALGS, startAuthServer } from './auth-server.mjs';

const USAGE =
  'usage: node www/server/main.mjs [--port 8787] [--static DIR [--spa]] [--host 127.0.0.1] [--access-ttl 300]\n' +
  '       [--audience jwt-keeper-demo] [--issuer URL] [--client-id demo-client] [--reuse-grace-ms 2000]\n' +
  '       [--allowed-origin ORIGIN ...]   (default: the server\'s own origins)\n' +
  '       [--alg ES256|RS256|PS256] [--access-token-format jwt|opaque] [--id-tokens auto|always|never]\n' +
  '       [--jwks-max-age SECONDS]   (default: JWKS sent with Cache-Control: no-store)\n' +
  '       [--redirect-uri URI ...]   (accepted beside any http(s) URL on 127.0.0.1, localhost, [::1])\n' +
  '       [--dpop optional|required|off]   (default optional: tokens are DPoP-bound when the request sends a proof)';

/** `value` if it is one of `allowed`, else a usage error. */
function oneOf(value, allowed, flag) {
  if (value === undefined || allowed.includes(value)) return value;
  console.error(`${flag} must be one of ${allowed.join(', ')}\n${USAGE}`);
  process.exit(2);
}

const ID_TOKEN_FLAGS = { auto: 'auto', always: true, never: false };
const DPOP_FLAGS = { optional: 'optional', required: 'required', off: false };

function integer(value, flag) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${flag} must be a non-negative integer\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

/** Checks every --allowed-origin here, so that a bad one is a usage error rather than a crash. */
function origins(values) {
  if (values === undefined) return undefined;
  try {
    return values.map(normalizeOrigin);
  } catch (e) {
    console.error(`--allowed-origin: ${e.message.replace(/^allowedOrigins: /, '')}\n${USAGE}`);
    process.exit(2);
  }
}

/** Checks every --redirect-uri here, so that a bad one is a usage error rather than a crash. */
function redirectUris(values) {
  if (values === undefined) return undefined;
  try {
    return checkRedirectUris(values);
  } catch (e) {
    console.error(`--redirect-uri: ${e.message.replace(/^redirectUris: /, '')}\n${USAGE}`);
    process.exit(2);
  }
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      static: { type: 'string' },
      spa: { type: 'boolean' },
      'access-ttl': { type: 'string' },
      audience: { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'reuse-grace-ms': { type: 'string' },
      'allowed-origin': { type: 'string', multiple: true },
      alg: { type: 'string' },
      'access-token-format': { type: 'string' },
      'id-tokens': { type: 'string' },
      'jwks-max-age': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      dpop: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const server = await startAuthServer({
  port: integer(values.port, '--port'),
  host: values.host,
  staticDir: values.static,
  spaFallback: values.spa,
  accessTtl: integer(values['access-ttl'], '--access-ttl'),
  audience: values.audience,
  issuer: values.issuer,
  clientId: values['client-id'],
  reuseGraceMs: integer(values['reuse-grace-ms'], '--reuse-grace-ms'),
  allowedOrigins: origins(values['allowed-origin']),
  alg: oneOf(values.alg, SIGNING_ALGS, '--alg'),
  accessTokenFormat: oneOf(values['access-token-format'], ['jwt', 'opaque'], '--access-token-format'),
  idTokens: ID_TOKEN_FLAGS[oneOf(values['id-tokens'], Object.keys(ID_TOKEN_FLAGS), '--id-tokens')],
  jwksMaxAge: integer(values['jwks-max-age'], '--jwks-max-age'),
  redirectUris: redirectUris(values['redirect-uri']),
  dpop: DPOP_FLAGS[oneOf(values.dpop, Object.keys(DPOP_FLAGS), '--dpop')],
});
console.log(`auth server listening on ${server.url}`);

closeOnSignals(server);
