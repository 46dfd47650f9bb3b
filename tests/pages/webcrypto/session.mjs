// The session client and verifyJwtAsync with the tokens the test signed: one flow, run on a
// secure origin (WebCrypto answers the core's `verify` effects) and on an insecure one (no
// crypto.subtle: the verifier wasm answers them).
import { createAuthClient, verifyJwtAsync } from '/pkg/index.js';
import { environment, ready, settle } from './common.mjs';

/**
 * `tokens`: { good, tampered, expired } signed by the key `jwk` (`pem` as SPKI PEM), with
 * `issuer` and `audience`; `badJwk`: a key createAuthClient must refuse (default: `jwk` moved
 * off the curve).
 * Returns every outcome as data; the test judges them.
 */
async function flow({ jwk, pem, badJwk, issuer, audience, tokens }) {
  const out = { env: environment() };
  let bad = badJwk;
  if (bad === undefined) {
    // The same key with y's last byte changed: below p, so well-formed, but off the curve.
    const y = atob(jwk.y.replace(/-/g, '+').replace(/_/g, '/'));
    const offY = btoa(y.slice(0, -1) + String.fromCharCode(y.charCodeAt(y.length - 1) ^ 1))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    bad = { ...jwk, y: offY };
  }
  const off = await settle(() => createAuthClient({ publicKey: bad }));
  out.offCurve = off.ok ? { ok: true } : off;
  if (off.ok) off.value.dispose();
  const created = await settle(() => createAuthClient({ publicKey: jwk, issuer, audience }));
  out.created = created.ok ? { ok: true } : created;
  if (!created.ok) return out;
  const client = created.value;
  try {
    out.setGood = await settle(() => client.setSession({ accessToken: tokens.good }));
    out.firstGet = await settle(() => client.getAccessToken());
    out.claims = client.claims;
    out.authenticated = client.isAuthenticated;

    out.setTampered = await settle(() => client.setSession({ accessToken: tokens.tampered }));
    out.getAfterTampered = await settle(() => client.getAccessToken());
    out.claimsAfterTampered = client.claims;
    out.authenticatedAfterTampered = client.isAuthenticated;

    out.setExpired = await settle(() => client.setSession({ accessToken: tokens.expired }));
    out.getAfterExpired = await settle(() => client.getAccessToken());

    // What the session alone loaded, before verifyJwtAsync (which loads the verifier's checks).
    out.loadedBySession = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname);
    out.verifyGood = await settle(() => verifyJwtAsync(tokens.good, jwk, { issuer, audience }));
    out.verifyGoodJwks = await settle(() => verifyJwtAsync(tokens.good, { keys: [jwk] }));
    out.verifyGoodPem = await settle(() => verifyJwtAsync(tokens.good, pem));
    out.verifyTampered = await settle(() => verifyJwtAsync(tokens.tampered, jwk));
    out.verifyExpired = await settle(() => verifyJwtAsync(tokens.expired, jwk));
  } finally {
    client.dispose();
  }
  return out;
}

ready({ environment, flow });
