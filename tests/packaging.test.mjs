// The npm package as users get it: `npm pack` pkg/, install the tarball into consumer projects
// (a plain Vite app, a webpack 5 app with its default config, a TypeScript project, the React
// and Vue apps of www/), build them, and load the builds in Chromium against the local auth
// server; import it in plain Node (SSR); check the packed package.json.
//
// The consumer projects live in .tmp/packaging/ (git-ignored). Their node_modules are kept
// between runs while their package.json / package-lock.json stay the same; the freshly packed
// tarball is installed into them on every run with `npm install --no-save`.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startAuthServer } from '../www/server/auth-server.mjs';
import { launchBrowser, openPage } from './helpers/browser.mjs';
import { PKG, ROOT, runNode } from './helpers/paths.mjs';
import { prepareProject, run, tool } from './helpers/apps.mjs';

const WORK = join(ROOT, '.tmp/packaging');
/** Tool versions of the generated consumer projects (the React and Vue apps pin their own). */
const VERSIONS = {
  vite: '8.3.8',
  webpack: '5.112.2',
  'webpack-cli': '7.3.1',
  typescript: '7.0.2',
  publint: '0.3.25',
};
/** How long a built page may take to show its result. */
const PAGE_TIMEOUT_MS = 20_000;
const AUDIENCE = 'jwt-keeper-demo';

let tarball;
let packed;
let extracted;
let auth;
let browser;
const projects = {};

// ---- processes -------------------------------------------------------------------------------

// ---- consumer projects -----------------------------------------------------------------------

/** `.tmp/packaging/<name>` made from `files` or a copy of `from`, with the tarball installed. */
const prepare = (name, spec) => prepareProject(join(WORK, name), { ...spec, tarball });

/** Starts `prepare` now; the test that needs the project awaits it. */
function startPreparing(name, spec) {
  const promise = prepare(name, spec);
  promise.catch(() => {}); // reported by the test that awaits it
  projects[name] = promise;
}

const packageJson = (name, devDependencies, extra = {}) =>
  `${JSON.stringify({ name, private: true, version: '0.0.0', type: 'module', devDependencies, ...extra }, null, 2)}\n`;

/**
 * The page both bundler apps build: verification with both entry points, then a session client
 * against the auth server named in `?auth=` (another origin, as a real API would be).
 */
const BUNDLED_APP = `import init, { createAuthClient, decodeJwt, isAuthError, verifyJwt } from 'jwt-keeper';
import initVerify, { verifyJwt as verifyOnly } from 'jwt-keeper/verify';

async function main() {
  const auth = new URL(location.href).searchParams.get('auth');
  const [meta, jwks] = await Promise.all([
    fetch(auth + '/.well-known/oauth-authorization-server').then((r) => r.json()),
    fetch(auth + '/.well-known/jwks.json').then((r) => r.json()),
  ]);
  const login = await fetch(auth + '/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'bundled' }),
  }).then((r) => r.json());
  await init();
  await initVerify();
  const options = { issuer: meta.issuer, audience: '${AUDIENCE}' };
  const token = login.access_token;
  let tampered;
  try {
    verifyJwt(token.slice(0, -2) + 'AA', jwks, options);
  } catch (e) {
    tampered = isAuthError(e) ? e.code : String(e);
  }
  const client = await createAuthClient({
    publicKey: jwks,
    ...options,
    refresh: { url: meta.token_endpoint, clientId: 'demo-client' },
  });
  await client.setSession({ accessToken: token, refreshToken: login.refresh_token });
  const current = await client.getAccessToken();
  const refreshed = await client.refresh();
  return {
    alg: decodeJwt(token).header.alg,
    verified: verifyJwt(token, jwks, options).sub,
    verifiedByVerifyEntry: verifyOnly(token, jwks, options).sub,
    tampered,
    getAccessToken: current === token,
    refreshedSub: verifyJwt(refreshed, jwks, options).sub,
    wasm: performance.getEntriesByType('resource').filter((e) => /\\.wasm$/.test(e.name)).length,
  };
}

const out = document.getElementById('result');
main().then(
  (result) => {
    out.textContent = JSON.stringify(result);
    out.dataset.state = 'ok';
  },
  (e) => {
    out.textContent = String(e && e.stack || e);
    out.dataset.state = 'error';
  },
);
`;
const BUNDLED_EXPECTED = {
  alg: 'ES256',
  verified: 'bundled',
  verifiedByVerifyEntry: 'bundled',
  tampered: 'bad_signature',
  getAccessToken: true,
  refreshedSub: 'bundled',
  wasm: 2,
};
const appHtml = (script) =>
  `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>consumer</title></head>\n` +
  `<body><pre id="result">loading</pre>${script}</body>\n</html>\n`;

/** A file using the whole typed API; checked with `strict` (and `@ts-expect-error` misuses). */
const CONSUMER_TS = `import init, {
  AuthError, createAuthClient, decodeJwt, isAuthError, verifyJwt,
  type AuthClient, type AuthClientOptions, type AuthErrorCode, type ErrorEvent, type InitInput,
  type JwtPayload, type KeyInput, type LogoutEvent, type PublicJwk, type PublicJwks, type RefreshEvent,
  type VerifyOptions,
} from 'jwt-keeper';
import initVerify, { decodeJwt as decodeOnly, isAuthError as isVerifyError, verifyJwt as verifyOnly } from 'jwt-keeper/verify';

/** Every code of the spec, and no other: a missing or extra one fails to compile. */
const codes: Record<AuthErrorCode, true> = {
  malformed: true, unsupported_alg: true, bad_key: true, no_matching_key: true, bad_signature: true,
  expired: true, not_yet_valid: true, claim_mismatch: true, not_authenticated: true,
  refresh_rejected: true, network: true, timeout: true, bad_response: true, internal: true,
  login_failed: true, invalid_state: true, unsupported: true,
};

interface AppClaims extends JwtPayload {
  sub: string;
  roles: string[];
}

export async function everything(token: string, jwk: PublicJwk, pem: string): Promise<string[]> {
  const inputs: InitInput[] = ['/x.wasm', new URL('https://example.test/x.wasm'), new Uint8Array(8)];
  await init();
  await init(inputs[0]);
  await initVerify();
  const jwks: PublicJwks = { keys: [jwk, { kty: 'RSA', n: 'x', e: 'AQAB' }] };
  const keys: KeyInput[] = [jwk, jwks, pem];
  const { header, payload } = decodeJwt(token);
  const alg: string | undefined = header.alg;
  const exp: number | undefined = payload.exp;
  const vopts: VerifyOptions = { issuer: 'https://issuer.test', audience: ['a', 'b'], leeway: 5, now: 1, maxTokenBytes: 4096 };
  for (const key of keys) verifyJwt(token, key);
  const mine = verifyJwt<AppClaims>(token, jwks, vopts);
  const roles: string[] = mine.roles;
  const viaVerify: JwtPayload = verifyOnly(token, pem, {});
  decodeOnly(token).payload.sub satisfies string | undefined;

  const options: AuthClientOptions = {
    publicKey: jwks,
    refresh: { url: '/oauth/token', style: 'oauth2', clientId: 'spa', headers: { 'X-Requested-With': 'x' }, timeoutMs: 5000 },
    issuer: 'https://issuer.test',
    audience: 'api',
    leeway: 30,
    refreshMargin: 60,
    persist: 'local',
    crossTab: true,
  };
  const client: AuthClient = await createAuthClient(options);
  await createAuthClient({ publicKey: pem, refresh: { url: '/cookie/refresh', style: 'cookie' }, persist: 'session' });
  await client.setSession({ accessToken: token, refreshToken: 'opaque' });
  await client.setSession({ accessToken: token });
  const offRefresh = client.on('refresh', (e: RefreshEvent) => {
    const at: number = e.expiresAt;
    const source: 'self' | 'peer' = e.source;
    return [at, source, e.accessToken];
  });
  const offLogout = client.on('logout', ({ reason }: LogoutEvent) => {
    switch (reason) {
      case 'user': case 'refresh_rejected': case 'session_expired': case 'invalid_token': case 'peer':
        return;
      default: {
        const unreachable: never = reason;
        return unreachable;
      }
    }
  });
  const offError = client.on('error', ({ error, willRetry, retryInMs }: ErrorEvent) => {
    const code: AuthErrorCode = error.code;
    const retry: boolean = willRetry;
    const inMs: number | undefined = retryInMs;
    return [code, retry, inMs];
  });
  offRefresh();
  offLogout();
  offError();
  const access: string = await client.getAccessToken();
  const response: Response = await client.fetch('/api/me', { headers: { Accept: 'application/json' } });
  await client.fetch(new Request('/api/me'));
  const fresh: string = await client.refresh();
  const signedIn: boolean = client.isAuthenticated;
  const claims: JwtPayload | null = client.claims;
  const expiresAt: number | null = client.expiresAt;
  const signIn = await createAuthClient({ issuer: 'https://issuer.test', clientId: 'spa', redirectUri: 'https://app.test/cb', scope: 'openid' });
  await signIn.loginWithRedirect({ audience: 'api', prompt: 'login', loginHint: 'a@b.test', appState: { to: '/x' }, extraParams: { ui_locales: 'fr' } });
  const back: { appState?: { to: string } } = await signIn.handleRedirectCallback<{ to: string }>();
  await signIn.handleRedirectCallback(new URL('https://app.test/cb?code=c&state=s'));
  const user: JwtPayload | null = signIn.user;
  await signIn.logout({ returnTo: 'https://app.test/' });
  try {
    await signIn.handleRedirectCallback('https://app.test/cb?error=access_denied&state=s');
  } catch (e) {
    if (isAuthError(e) && e.code === 'login_failed') {
      const providerError: string | undefined = e.error;
      const description: string | undefined = e.errorDescription;
      return [providerError ?? '', description ?? '', back.appState?.to ?? '', String(user?.sub)];
    }
  }
  client.logout();
  client.dispose();

  try {
    verifyJwt(token, jwk);
  } catch (e) {
    if (isAuthError(e)) {
      const code: AuthErrorCode = e.code;
      const name: 'AuthError' = e.name;
      return [code, name];
    }
    if (isVerifyError(e)) return [e.code];
  }
  const made = new AuthError('expired', 'made by hand', { cause: 1 });
  const asError: Error = made;

  // @ts-expect-error: not an event of AuthClient
  client.on('change', () => {});
  // @ts-expect-error: returnTo is a URL string
  await client.logout({ returnTo: 5 });
  // @ts-expect-error: appState is the only free-form member; extraParams values are strings
  await client.loginWithRedirect({ extraParams: { max_age: 5 } });
  // @ts-expect-error: persist is 'memory', 'session' or 'local'
  const badPersist: AuthClientOptions = { publicKey: jwk, persist: 'disk' };
  // @ts-expect-error: accessTokenFormat is 'jwt' or 'opaque'
  const noKey: AuthClientOptions = { issuer: 'https://idp.test', accessTokenFormat: 'binary' };
  // @ts-expect-error: no such refresh style
  const badStyle: AuthClientOptions = { publicKey: jwk, refresh: { url: '/t', style: 'basic' } };
  // @ts-expect-error: not an AuthErrorCode
  new AuthError('oops', 'x');
  // @ts-expect-error: verifyJwt needs a key
  verifyJwt(token);

  return [String(codes), String(alg), String(exp), String(roles), String(viaVerify.sub), access, String(response.status),
    fresh, String(signedIn), String(claims?.sub), String(expiresAt), asError.message,
    String(badPersist), String(noKey), String(badStyle)];
}
`;

const TSCONFIG_BASE = {
  strict: true,
  noEmit: true,
  target: 'ES2022',
  lib: ['ES2022', 'DOM', 'DOM.Iterable'],
  types: [],
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
};

// ---- serving and loading builds --------------------------------------------------------------

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

/** A static file server for `dir` on 127.0.0.1; resolves with { url, close() }. */
async function serveStatic(dir) {
  const server = http.createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Sizes of a build output: { files, raw, gzip } over every file, and the JS and wasm alone. */
function buildSize(dir) {
  const all = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else all.push(p);
    }
  };
  walk(dir);
  const sum = (files) =>
    files.reduce((t, f) => {
      const bytes = readFileSync(f);
      return { raw: t.raw + bytes.length, gzip: t.gzip + gzipSync(bytes, { level: 9 }).length };
    }, { raw: 0, gzip: 0 });
  const kb = ({ raw, gzip }) => `${(raw / 1024).toFixed(1)} KB (gzip -9 ${(gzip / 1024).toFixed(1)} KB)`;
  return `${all.length} files, ${kb(sum(all))}; JS ${kb(sum(all.filter((f) => f.endsWith('.js'))))}; wasm ${kb(sum(all.filter((f) => f.endsWith('.wasm'))))}`;
}

/**
 * Loads a built consumer app and returns what its page printed. The page runs on its own port
 * against an auth server of its own that allows (CORS) just that page's origin.
 */
async function loadBundledApp(dist) {
  const site = await serveStatic(dist);
  try {
    const api = await startAuthServer({ port: 0, allowedOrigins: [new URL(site.url).origin] });
    try {
      const { page, errors, requests } = await openPage(browser, `${site.url}/?auth=${encodeURIComponent(api.url)}`);
      try {
        await page.waitForSelector('#result[data-state]', { timeout: PAGE_TIMEOUT_MS });
        const state = await page.getAttribute('#result', 'data-state');
        const text = await page.locator('#result').innerText();
        assert.equal(state, 'ok', text);
        return { result: JSON.parse(text), errors, wasmRequests: requests.filter((u) => u.endsWith('.wasm')) };
      } finally {
        await page.close();
      }
    } finally {
      await api.close();
    }
  } finally {
    await site.close();
  }
}

/**
 * Signs in on a built React/Vue app served by the auth server: loginWithRedirect through the
 * server's login page; checks token and API; logout({ returnTo }) through the server's
 * end-session, then back home signed out.
 */
async function exerciseFrameworkApp(dist) {
  const server = await startAuthServer({ port: 0, staticDir: dist, spaFallback: true });
  try {
    const { page, errors } = await openPage(browser, `${server.url}/`);
    try {
      await page.waitForSelector('#signin', { timeout: PAGE_TIMEOUT_MS });
      await page.click('#signin');
      await page.waitForURL((u) => u.pathname === '/authorize', { timeout: PAGE_TIMEOUT_MS });
      await page.click('#sign-in');
      await page.waitForFunction(() => document.querySelector('#me')?.textContent.includes('"sub"'), null, { timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.locator('#status').innerText(), 'signed in as alice');
      assert.equal(JSON.parse(await page.locator('#me').innerText()).sub, 'alice');
      const token = await page.locator('#token').innerText();
      const { verifyJwt } = await import(join(PKG, 'node.js'));
      assert.equal(verifyJwt(token, server.jwks, { issuer: server.issuer, audience: AUDIENCE }).sub, 'alice');
      await page.click('#logout');
      await page.waitForFunction(() => location.pathname === '/' && document.querySelector('#status')?.textContent === 'signed out', null, { timeout: PAGE_TIMEOUT_MS });
      assert.deepEqual(server.stats.endSessionLog.map((e) => [e.outcome, e.sub]), [['redirected', 'alice']]);
      assert.equal(server.stats.apiCalls, 1);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  } finally {
    await server.close();
  }
}

// ---- set-up ----------------------------------------------------------------------------------

before(async () => {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/ is missing: run `npm run build` first');
  mkdirSync(WORK, { recursive: true });
  for (const f of readdirSync(WORK)) if (f.endsWith('.tgz')) rmSync(join(WORK, f));
  [packed] = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', WORK], PKG).then((o) => o.slice(o.indexOf('['))));
  tarball = join(WORK, packed.filename);
  extracted = join(WORK, 'extracted');
  rmSync(extracted, { recursive: true, force: true });
  mkdirSync(extracted);
  await run('tar', ['-xzf', tarball, '-C', extracted, '--strip-components=1'], WORK);

  startPreparing('vite', {
    files: {
      'package.json': packageJson('consumer-vite', { vite: VERSIONS.vite }, { scripts: { build: 'vite build' } }),
      'index.html': appHtml('<script type="module" src="/src/index.js"></script>'),
      'src/index.js': BUNDLED_APP,
    },
  });
  startPreparing('webpack', {
    files: {
      'package.json': packageJson('consumer-webpack', { webpack: VERSIONS.webpack, 'webpack-cli': VERSIONS['webpack-cli'] }),
      'src/index.js': BUNDLED_APP,
    },
  });
  startPreparing('types', {
    files: {
      'package.json': packageJson('consumer-types', { typescript: VERSIONS.typescript, publint: VERSIONS.publint }),
      'src/consumer.ts': CONSUMER_TS,
      'tsconfig.json': `${JSON.stringify({ compilerOptions: { ...TSCONFIG_BASE, module: 'NodeNext', moduleResolution: 'NodeNext' }, include: ['src'] }, null, 2)}\n`,
      'tsconfig.bundler.json': `${JSON.stringify({ compilerOptions: { ...TSCONFIG_BASE, module: 'ESNext', moduleResolution: 'Bundler' }, include: ['src'] }, null, 2)}\n`,
    },
  });
  startPreparing('react', { from: join(ROOT, 'www/react') });
  startPreparing('vue', { from: join(ROOT, 'www/vue') });

  auth = await startAuthServer({ port: 0 });
  browser = await launchBrowser();
});

after(async () => {
  await Promise.allSettled(Object.values(projects));
  await browser?.close();
  await auth?.close();
});

// ---- the tarball -----------------------------------------------------------------------------

/** Every string target in an `exports` value, with the conditions leading to it. */
function exportTargets(value, path = []) {
  if (typeof value === 'string') return [{ path, target: value }];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => exportTargets(v, [...path, key]));
}

test('the packed package.json: exports, types, files and sideEffects hold together', (t) => {
  const manifest = JSON.parse(readFileSync(join(extracted, 'package.json'), 'utf8'));
  const inTarball = new Set(packed.files.map((f) => f.path));
  const exists = (target) => inTarball.has(target.replace(/^\.\//, ''));
  t.diagnostic(`tarball ${packed.filename}: ${(packed.size / 1024).toFixed(1)} KB packed, ${(packed.unpackedSize / 1024).toFixed(1)} KB unpacked, ${packed.files.length} files`);

  assert.equal(manifest.name, 'jwt-keeper');
  assert.equal(manifest.type, 'module');
  for (const field of ['main', 'module', 'types']) assert.ok(exists(manifest[field]), `${field}: ${manifest[field]} not in the tarball`);
  assert.ok(manifest.exports['./package.json'], 'exports ./package.json (tools read it)');

  for (const { path, target } of exportTargets(manifest.exports)) {
    assert.ok(target.startsWith('./'), `exports ${path.join(' > ')}: "${target}" must start with ./`);
    assert.ok(exists(target), `exports ${path.join(' > ')}: ${target} is not in the tarball`);
  }
  for (const [subpath, conditions] of Object.entries(manifest.exports)) {
    if (typeof conditions === 'string') continue;
    const keys = Object.keys(conditions);
    // TypeScript takes the first matching condition: `types` after `node`/`default` is never seen.
    if (keys.includes('types')) assert.equal(keys[0], 'types', `exports["${subpath}"]: "types" must come first`);
    assert.equal(keys.at(-1), 'default', `exports["${subpath}"]: "default" must come last`);
    assert.ok(keys.includes('types'), `exports["${subpath}"] has JS but no types`);
    // The browser entry must not pull in Node built-ins, the node entry must exist for SSR.
    assert.doesNotMatch(readFileSync(join(extracted, conditions.default), 'utf8'), /from 'node:/, `${subpath} default entry imports node:`);
  }

  for (const entry of manifest.files) {
    const hit = [...inTarball].some((f) => f === entry || f.startsWith(entry.endsWith('/') ? entry : `${entry}/`));
    assert.ok(hit, `files: "${entry}" matched nothing`);
  }
  for (const f of inTarball) {
    assert.doesNotMatch(f, /(^|\/)(\.size\.json|.*\.map|.*\.tgz|node_modules\/)/, `unexpected file in the tarball: ${f}`);
  }
  assert.ok(inTarball.has('verify/jwt_keeper_bg.wasm') && inTarball.has('jwt_keeper_core_bg.wasm'));

  // sideEffects: the Node entries register the file loader on import; everything the browser
  // entries import must be free of side effects so that bundlers can drop unused exports.
  assert.ok(Array.isArray(manifest.sideEffects), 'sideEffects should list the files with effects');
  for (const f of manifest.sideEffects) assert.ok(exists(f), `sideEffects: ${f} is not in the tarball`);
  for (const f of ['index.js', 'errors.js', 'wasm.js', 'signature.js', 'async.js', 'core.js', 'client.js', 'jwt_keeper_core.js', 'verify/index.js', 'verify/verifier.js', 'verify/jwt_keeper.js']) {
    assert.ok(!manifest.sideEffects.some((s) => s.replace(/^\.\//, '') === f), `${f} listed in sideEffects`);
  }
  for (const f of ['node.js', 'verify/node.js']) {
    assert.ok(manifest.sideEffects.some((s) => s.replace(/^\.\//, '') === f), `${f} has an import-time effect but is not in sideEffects`);
  }
});

test('publint finds nothing to complain about in the installed package (strict)', async (t) => {
  const dir = await projects.types;
  const out = await run(tool(dir, 'publint'), ['run', join(dir, 'node_modules/jwt-keeper'), '--strict', '--pack', 'false'], dir);
  t.diagnostic(out.trim().split('\n').filter((l) => !/nodedir/.test(l)).join(' | '));
  assert.doesNotMatch(out, /Errors|Warnings|Suggestions/, out);
});

test('TypeScript (strict, NodeNext and Bundler resolution) accepts a consumer of the whole API', async () => {
  const dir = await projects.types;
  await run(tool(dir, 'tsc'), ['-p', 'tsconfig.json'], dir);
  await run(tool(dir, 'tsc'), ['-p', 'tsconfig.bundler.json'], dir);
});

test('Node (SSR): both entry points import without touching window/document; decode and verify work', async () => {
  const dir = await projects.types;
  const login = await (await fetch(`${auth.url}/login`, { method: 'POST', body: JSON.stringify({ user: 'ssr' }) })).json();
  const code = `
    const touched = [];
    for (const name of ['window', 'document', 'self', 'location', 'localStorage', 'sessionStorage']) {
      Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); throw new Error(name + ' touched'); } });
    }
    const main = await import('jwt-keeper');
    const verify = await import('jwt-keeper/verify');
    const afterImport = [...touched];
    const token = ${JSON.stringify(login.access_token)};
    const jwks = ${JSON.stringify(auth.jwks)};
    const options = { issuer: ${JSON.stringify(auth.issuer)}, audience: '${AUDIENCE}' };
    let bad;
    try { main.verifyJwt(token, jwks, { ...options, audience: 'other' }); } catch (e) { bad = main.isAuthError(e) && e.code; }
    console.log(JSON.stringify({
      afterImport,
      resolved: [import.meta.resolve('jwt-keeper'), import.meta.resolve('jwt-keeper/verify')].map((u) => u.split('/node_modules/')[1]),
      decoded: main.decodeJwt(token).payload.sub,
      decodedByVerifyEntry: verify.decodeJwt(token).header.alg,
      verified: main.verifyJwt(token, jwks, options).sub,
      verifiedByVerifyEntry: verify.verifyJwt(token, jwks, options).sub,
      bad,
      touched,
    }));`;
  const { status, stderr, json } = await runNode(code, { cwd: dir });
  assert.equal(status, 0, stderr);
  assert.deepEqual(json, {
    afterImport: [],
    resolved: ['jwt-keeper/node.js', 'jwt-keeper/verify/node.js'],
    decoded: 'ssr',
    decodedByVerifyEntry: 'ES256',
    verified: 'ssr',
    verifiedByVerifyEntry: 'ssr',
    bad: 'claim_mismatch',
    touched: [],
  });
});

// ---- bundlers --------------------------------------------------------------------------------

test('a plain Vite app (default config) bundles the package, wasm included, and it runs in Chromium', async (t) => {
  const dir = await projects.vite;
  const started = Date.now();
  await run(tool(dir, 'vite'), ['build'], dir);
  t.diagnostic(`vite build ${((Date.now() - started) / 1000).toFixed(1)} s; dist: ${buildSize(join(dir, 'dist'))}`);
  const { result, errors, wasmRequests } = await loadBundledApp(join(dir, 'dist'));
  assert.deepEqual(result, BUNDLED_EXPECTED);
  assert.equal(wasmRequests.length, 2, wasmRequests.join('\n'));
  assert.deepEqual(errors, []);
});

test('a webpack 5 app (no config file: default entry/output) emits the wasm as an asset and runs', async (t) => {
  const dir = await projects.webpack;
  const dist = join(dir, 'dist');
  rmSync(dist, { recursive: true, force: true });
  const started = Date.now();
  await run(tool(dir, 'webpack'), ['--mode', 'production'], dir);
  writeFileSync(join(dist, 'index.html'), appHtml('<script src="main.js"></script>'));
  t.diagnostic(`webpack ${((Date.now() - started) / 1000).toFixed(1)} s; dist: ${buildSize(dist)}`);
  // The client core, the DPoP core, the verifier and the RSA module (the last three loaded only
  // when used).
  assert.equal(readdirSync(dist).filter((f) => f.endsWith('.wasm')).length, 4, `wasm assets in ${readdirSync(dist)}`);
  const { result, errors } = await loadBundledApp(dist);
  assert.deepEqual(result, BUNDLED_EXPECTED);
  assert.deepEqual(errors, []);
});

// ---- the framework apps ----------------------------------------------------------------------

for (const name of ['react', 'vue']) {
  test(`the ${name} app (www/${name}, npm ci + the tarball) builds and shows a token from getAccessToken()`, async (t) => {
    const dir = await projects[name];
    const started = Date.now();
    await run(tool(dir, 'vite'), ['build'], dir);
    t.diagnostic(`vite build ${((Date.now() - started) / 1000).toFixed(1)} s; dist: ${buildSize(join(dir, 'dist'))}`);
    await exerciseFrameworkApp(join(dir, 'dist'));
  });
}
