// Writes seed inputs for every fuzz target into fuzz/corpus/<target>/ from
// tests/fixtures/jose-tokens.json. Idempotent: a seed's file name is the hash of its bytes.
// Usage: node fuzz/seed.mjs [repo root]
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? '.';
const fixtures = JSON.parse(readFileSync(join(root, 'tests/fixtures/jose-tokens.json'), 'utf8'));
const MAX_SEED = 32 * 1024;
const counts = {};

function seed(target, data) {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (bytes.length > MAX_SEED) return;
  const dir = join(root, 'fuzz/corpus', target);
  mkdirSync(dir, { recursive: true });
  const name = 'seed-' + createHash('sha1').update(bytes).digest('hex');
  writeFileSync(join(dir, name), bytes);
  counts[target] = (counts[target] ?? 0) + 1;
}

const tokens = fixtures.cases.map((c) => c.token);

// token: every fixture token, as is.
for (const t of tokens) seed('token', t);

// base64url: every segment of every token, plus edge forms.
for (const t of tokens) for (const part of t.split('.')) seed('base64url', part);
for (const s of ['', 'A', 'AA', 'AAA', 'AAAA', 'YQ', 'YR', 'YQ==', '-_8', '+/8', 'a b', 'YQ\n']) seed('base64url', s);

// json: decoded headers and payloads, keys, options, and edge documents.
for (const t of tokens) {
  for (const part of t.split('.').slice(0, 2)) {
    if (part.length > 0) seed('json', Buffer.from(part, 'base64url'));
  }
}
for (const key of Object.values(fixtures.keys)) {
  if (typeof key !== 'string') seed('json', JSON.stringify(key));
}
for (const c of fixtures.cases) if (c.options) seed('json', JSON.stringify(c.options));
for (const s of [
  '[' .repeat(64) + ']'.repeat(64),
  '{"a":'.repeat(63) + '1' + '}'.repeat(63),
  '"\\ud83d\\ude00\\u00e9\\/\\b\\f\\n\\r\\t"',
  '[0,-0,1.5e3,1E-7,-12.25e+2,18446744073709551616,1e400,253402300799]',
  '{"a":1,"\\u0061":2}',
  '{"a":1,"A":2}',
  ' \t\r\n{} ',
  'true', 'false', 'null', '""',
]) seed('json', s);

// key: documents alone, and behind a kid and a 0x00 byte.
const kids = ['main-1', 'other-1', 'dup', '', 'rsa-1'];
for (const key of Object.values(fixtures.keys)) {
  const doc = typeof key === 'string' ? key : JSON.stringify(key);
  seed('key', doc);
  for (const kid of kids) seed('key', Buffer.concat([Buffer.from(kid), Buffer.from([0]), Buffer.from(doc)]));
}

// remote: a status byte, a discovery document, 0x00, a JWKS (the fixture key sets).
const docs = [
  '{"issuer":"https://idp.test","jwks_uri":"https://idp.test/jwks","token_endpoint":"https://idp.test/token"}',
  '{"issuer":"https://idp.test/","jwks_uri":"https://idp.test/jwks"}',
  '{"issuer":"https://idp.test","jwks_uri":"/relative"}',
];
for (const key of Object.values(fixtures.keys)) {
  if (typeof key === 'string') continue;
  const jwks = JSON.stringify(key.keys ? key : { keys: [key] });
  for (const doc of docs) seed('remote', Buffer.concat([Buffer.from([1]), Buffer.from(doc), Buffer.from([0]), Buffer.from(jwks)]));
}

// signin: a callback URL, 0x00, a stored transaction (matching, forged, stale, from the fragment).
const tx = '{"v":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","s":"S1","n":"N1","r":"https://app.test/cb","t":1800000000000,"a":{"to":"/x"}}';
for (const url of [
  'https://app.test/cb?code=c0de&state=S1&iss=https%3A%2F%2Fidp.test',
  'https://app.test/cb?keep=1&code=c%2B1&state=S1#frag',
  'https://app.test/cb#code=c&state=S1',
  'https://app.test/cb?error=access_denied&error_description=no&state=S1',
  'https://app.test/cb?code=c&state=forged',
  'https://app.test/cb?state=S1&state=S1&code=c',
]) {
  seed('signin', Buffer.concat([Buffer.from(url), Buffer.from([0]), Buffer.from(tx)]));
}

// dpop: a WWW-Authenticate value, 0x00, a DPoP-Nonce value, 0x00, a key input (as the shell sends it).
const dpopKey = '{"jwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","ext":true},"random":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32]}';
for (const [challenge, nonce] of [
  ['DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256"', 'eyJ7S_zG.eyJH0-Z.HX4w-7v'],
  ['Bearer realm="api", error="invalid_token"', ''],
  ['Basic abc==, Bearer error=invalid_token , DPoP error="a\\"b"', 'n"1'],
  ['DPoP algs="ES256 PS256"', 'x'.repeat(600)],
]) {
  seed('dpop', Buffer.concat([Buffer.from(challenge), Buffer.from([0]), Buffer.from(nonce), Buffer.from([0]), Buffer.from(dpopKey)]));
}

// verify: the first byte picks the fixture case; then no edit, or one edit: 0x01 (one more
// edit follows), then the variant as a little-endian u32 scaled to the 16 variants
// (0x90000000 = 9 = the high-S twin).
for (let i = 0; i < 64; i++) {
  seed('verify', [i]);
  seed('verify', [i, 1, 0, 0, 0, 0x90]);
}

console.log(Object.entries(counts).map(([t, n]) => `${t}: ${n} seeds`).join(', '));
