// The certified OpenID provider used for interop tests (tests/helpers/oidc-provider.mjs):
// node --test tests/oidc-provider.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';
import { launchBrowser, startStaticServer } from './helpers/browser.mjs';
import { startOidcProvider } from './helpers/oidc-provider.mjs';

const PAGE_ORIGIN = 'http://127.0.0.1:5173';

const form = (fields) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('oidc-provider (RS256, JWT access tokens)', () => {
  let op;
  let tokens;

  before(async () => {
    op = await startOidcProvider({ alg: 'RS256', allowedOrigins: [PAGE_ORIGIN], accessTokenTtl: 90 });
    tokens = await op.obtainTokens({ nonce: 'n-123' });
  });
  after(() => op.close());

  const jwks = () => jose.createRemoteJWKSet(new URL(op.jwksUri), { cacheMaxAge: 0, cooldownDuration: 0 });

  test('listens on 127.0.0.1; discovery names the issuer exactly and the endpoints', async () => {
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(op.port, Number(new URL(op.issuer).port));
    const doc = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, op.issuer);
    assert.equal(doc.jwks_uri, `${op.issuer}/jwks`);
    assert.equal(doc.token_endpoint, `${op.issuer}/token`);
    assert.ok(doc.authorization_endpoint.startsWith(op.issuer));
    assert.ok(doc.revocation_endpoint.startsWith(op.issuer));
    assert.ok(doc.end_session_endpoint.startsWith(op.issuer));
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    assert.ok(doc.grant_types_supported.includes('refresh_token'));
    assert.ok(doc.id_token_signing_alg_values_supported.includes('RS256'));
    const { keys } = await (await fetch(doc.jwks_uri)).json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kid, op.kid);
    assert.equal(keys[0].kty, 'RSA');
    assert.equal(keys[0].alg, 'RS256');
    assert.equal(keys[0].use, 'sig');
    assert.equal(keys[0].d, undefined, 'no private part');
  });

  test('the code flow gives an RS256 JWT access token for the resource, verified against jwks_uri', async () => {
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 90);
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks(), {
      issuer: op.issuer,
      audience: op.audience,
      algorithms: ['RS256'],
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.kid, op.kid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, op.clientId);
    assert.equal(payload.exp - payload.iat, 90);
  });

  test('the ID token is for the client, with the nonce', async () => {
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks(), {
      issuer: op.issuer,
      audience: op.clientId,
      algorithms: ['RS256'],
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.nonce, 'n-123');
  });

  test('refresh from Node rotates the refresh token; the old one is then refused invalid_grant', async () => {
    const first = await op.obtainTokens({ account: 'bob' });
    const res = await fetch(op.tokenEndpoint, form({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: op.clientId }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(body.refresh_token);
    assert.notEqual(body.refresh_token, first.refresh_token);
    const { payload } = await jose.jwtVerify(body.access_token, jwks(), { issuer: op.issuer, audience: op.audience });
    assert.equal(payload.sub, 'bob');
    await jose.jwtVerify(body.id_token, jwks(), { issuer: op.issuer, audience: op.clientId });

    const reused = await fetch(op.tokenEndpoint, form({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: op.clientId }));
    assert.equal(reused.status, 400);
    assert.equal((await reused.json()).error, 'invalid_grant');
    // Reuse detection: the whole grant is gone, the rotated token too.
    const { status, body: after } = await op.refresh(body.refresh_token);
    assert.equal(status, 400);
    assert.equal(after.error, 'invalid_grant');
  });

  test('the code flow without prompt=consent and offline_access still issues a refresh token', async () => {
    const t = await op.obtainTokens({ scope: 'openid', prompt: null });
    assert.ok(t.refresh_token);
    assert.equal((await op.refresh(t.refresh_token)).status, 200);
  });

  test('CORS: a preflighted POST from an allowed Origin gets the headers, Date exposed; others are refused', async () => {
    const fresh = await op.obtainTokens();
    const pre = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: PAGE_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /content-type/i);

    const init = form({ grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: op.clientId });
    const res = await fetch(op.tokenEndpoint, { ...init, headers: { ...init.headers, Origin: PAGE_ORIGIN } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    const exposed = res.headers.get('access-control-expose-headers').split(',').map((s) => s.trim());
    assert.ok(exposed.includes('Date'), exposed.join());
    assert.ok(res.headers.get('date'));
    const body = await res.json();

    const other = await fetch(op.tokenEndpoint, {
      ...form({ grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: op.clientId }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://127.0.0.1:1' },
    });
    assert.equal(other.status, 400);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal((await other.json()).error, 'invalid_request');
    // The refused request did not spend the refresh token.
    assert.equal((await op.refresh(body.refresh_token)).status, 200);
  });

  test('PKCE is required: an authorization request without code_challenge is refused', async () => {
    const auth = new URL(op.discovery.authorization_endpoint);
    for (const [k, v] of Object.entries({ client_id: op.clientId, response_type: 'code', redirect_uri: op.redirectUri, scope: 'openid', state: 's' })) {
      auth.searchParams.set(k, v);
    }
    const res = await fetch(auth, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, op.redirectUri);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description'), /PKCE/);
  });

  test('RFC 7009 revocation of a refresh token', async () => {
    const t = await op.obtainTokens();
    const res = await fetch(op.discovery.revocation_endpoint, form({ token: t.refresh_token, client_id: op.clientId }));
    assert.equal(res.status, 200);
    assert.equal((await op.refresh(t.refresh_token)).body.error, 'invalid_grant');
  });

  test('rotateKeys: new kid published beside the old, new tokens under it; unpublished and dropped keys', async () => {
    const t = await op.obtainTokens();
    const oldKid = op.kid;
    const { kid } = await op.rotateKeys();
    assert.notEqual(kid, oldKid);
    const kids = async () => (await (await fetch(op.jwksUri)).json()).keys.map((k) => k.kid);
    assert.deepEqual(await kids(), [kid, oldKid]);
    // The session survived the rotation: the refresh token still works and signs with the new key.
    const { status, body } = await op.refresh(t.refresh_token);
    assert.equal(status, 200);
    const verified = await jose.jwtVerify(body.access_token, jwks(), { issuer: op.issuer, audience: op.audience });
    assert.equal(verified.protectedHeader.kid, kid);
    await jose.jwtVerify(t.access_token, jwks(), { issuer: op.issuer, audience: op.audience });

    const hidden = await op.rotateKeys({ publish: false });
    assert.deepEqual(await kids(), [kid, oldKid]);
    const next = await op.refresh(body.refresh_token);
    assert.equal(jose.decodeProtectedHeader(next.body.access_token).kid, hidden.kid);
    await assert.rejects(jose.jwtVerify(next.body.access_token, jwks()), { code: 'ERR_JWKS_NO_MATCHING_KEY' });

    const last = await op.rotateKeys({ dropOld: true });
    assert.deepEqual(await kids(), [last.kid]);
    assert.deepEqual(op.jwks.keys.map((k) => k.kid), [last.kid]);
  });
});

describe('oidc-provider variants', () => {
  for (const alg of ['PS256', 'ES256']) {
    test(`${alg}: access and ID tokens signed with ${alg}`, async () => {
      const op = await startOidcProvider({ alg });
      try {
        const t = await op.obtainTokens();
        const jwks = jose.createRemoteJWKSet(new URL(op.jwksUri));
        const at = await jose.jwtVerify(t.access_token, jwks, { issuer: op.issuer, audience: op.audience, algorithms: [alg] });
        assert.equal(at.protectedHeader.alg, alg);
        const id = await jose.jwtVerify(t.id_token, jwks, { issuer: op.issuer, audience: op.clientId, algorithms: [alg] });
        assert.equal(id.protectedHeader.alg, alg);
      } finally {
        await op.close();
      }
    });
  }

  test('opaque access tokens: not a JWT, expires_in given, identity in the ID token, refreshable', async () => {
    const op = await startOidcProvider({ accessTokenFormat: 'opaque', accessTokenTtl: 60 });
    try {
      const t = await op.obtainTokens();
      assert.equal(t.access_token.split('.').length, 1);
      assert.equal(t.expires_in, 60);
      const jwks = jose.createRemoteJWKSet(new URL(op.jwksUri));
      assert.equal((await jose.jwtVerify(t.id_token, jwks, { issuer: op.issuer, audience: op.clientId })).payload.sub, 'alice');
      const { status, body } = await op.refresh(t.refresh_token);
      assert.equal(status, 200);
      assert.equal(body.access_token.split('.').length, 1);
      assert.notEqual(body.refresh_token, t.refresh_token);
    } finally {
      await op.close();
    }
  });

  test('issuer on localhost; redirect URIs given; close() is idempotent and frees the port', async () => {
    const op = await startOidcProvider({ issuerHost: 'localhost', redirectUris: [`${PAGE_ORIGIN}/callback.html`] });
    const doc = await (await fetch(`http://127.0.0.1:${op.port}/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, `http://localhost:${op.port}`);
    assert.equal(op.issuer, doc.issuer);
    assert.equal(op.redirectUri, `${PAGE_ORIGIN}/callback.html`);
    // The redirect URI's origin may call the token endpoint.
    const res = await fetch(`http://127.0.0.1:${op.port}/token`, {
      ...form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: op.clientId }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: PAGE_ORIGIN },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE_ORIGIN);
    await op.close();
    await op.close();
    await assert.rejects(fetch(`http://127.0.0.1:${op.port}/jwks`), TypeError);
  });

  test('bad options throw', async () => {
    await assert.rejects(startOidcProvider({ alg: 'HS256' }), TypeError);
    await assert.rejects(startOidcProvider({ accessTokenFormat: 'paseto' }), TypeError);
    await assert.rejects(startOidcProvider({ accessTokenTtl: 0 }), TypeError);
  });
});

describe('oidc-provider from a page in Chromium', () => {
  let web;
  let op;
  let browser;

  before(async () => {
    web = await startStaticServer();
    op = await startOidcProvider({ allowedOrigins: [web.url], redirectUris: [`${web.url}/callback`] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await op?.close();
    await web?.close();
  });

  test('a page of another 127.0.0.1 port refreshes by fetch and reads Date; discovery and JWKS are readable', async () => {
    const tokens = await op.obtainTokens();
    const page = await browser.newPage();
    try {
      await page.goto(`${web.url}/package.json`);
      const out = await page.evaluate(
        async ({ tokenEndpoint, refreshToken, clientId, jwksUri, discoveryUrl }) => {
          const res = await fetch(tokenEndpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
          });
          const body = await res.json();
          const jwks = await fetch(jwksUri);
          const doc = await (await fetch(discoveryUrl)).json();
          return {
            status: res.status,
            date: res.headers.get('date'),
            rotated: body.refresh_token !== refreshToken,
            hasIdToken: typeof body.id_token === 'string',
            jwksStatus: jwks.status,
            jwksKeys: (await jwks.json()).keys.length,
            issuer: doc.issuer,
          };
        },
        { tokenEndpoint: op.tokenEndpoint, refreshToken: tokens.refresh_token, clientId: op.clientId, jwksUri: op.jwksUri, discoveryUrl: op.discoveryUrl },
      );
      assert.equal(out.status, 200);
      assert.ok(Number.isFinite(Date.parse(out.date)), `Date readable: ${out.date}`);
      assert.ok(out.rotated);
      assert.ok(out.hasIdToken);
      assert.equal(out.jwksStatus, 200);
      assert.equal(out.jwksKeys, 1);
      assert.equal(out.issuer, op.issuer);
    } finally {
      await page.close();
    }
  });
});
