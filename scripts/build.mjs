// Builds the npm package into pkg/: for each of the two wasm modules, cargo (wasm32, release)
// -> wasm-bindgen --target web -> wasm-opt -Oz; then the JS entries from pkg-template/.
//   pkg/jwt_keeper_core*   the client core (createAuthClient, verifyJwtAsync): no curve
//                          arithmetic, signatures go to WebCrypto; the only wasm at start-up
//   pkg/jwt_keeper_core_dpop*  the same core with DPoP (RFC 9449): loaded instead of it, and
//                          only, for createAuthClient({ dpop: true })
//   pkg/verify/            the verifier (p256): `jwt-keeper/verify`, the synchronous
//                          decodeJwt/verifyJwt, and the fallback where WebCrypto is missing
// Prints every file, the start-up bytes (an app bundled by esbuild: what it loads before its
// first token), where the wasm bytes go (twiggy), and fails above the budgets.
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { join, relative } from 'node:path';
import { build, transform } from 'esbuild';

/**
 * What a browser downloads for `jwt-keeper/verify` (wasm + JS), gzip -9, at most: 36 KB for
 * ES256 alone; the RSA key checks (JWK, SPKI and PKCS#1 DER) that route RS256/PS256 cost 3 KB
 * more. The RSA arithmetic itself is its own module (below).
 */
export const VERIFY_BUDGET_GZIP = 37 * 1024;
/** The RSA module (rsa crate), loaded only for RS256/PS256 where WebCrypto is missing or by `initRsa()`. */
export const RSA_BUDGET_GZIP = 40 * 1024;
/** Start-up bytes (SPEC §8): an app's bundle of jwt-keeper plus the core wasm, gzip -9. */
// 45 KB before the provider features: JWKS URLs, discovery, ID tokens and opaque tokens +6.3 KB,
// RSA key checks +2.8 KB, the JWKS cache of verifyJwtAsync +1.8 KB; sign-in in the core (PKCE,
// the callback and its one exchange, revocation and end-session at logout) +9.3 KB (wasm
// 108.8 -> 130.8 KB raw; 65.0 KB measured).
export const START_UP_BUDGET_GZIP = 66 * 1024;

const root = new URL('..', import.meta.url).pathname;
const pkg = join(root, 'pkg');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

const WASM_OPT_FEATURES = [
  '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals',
  '--enable-reference-types', '--enable-multivalue',
];
// Measured (rustc 1.95, binaryen 132): capping the inlining of single-caller functions keeps
// wasm-opt from pasting whole call trees into the export shims: raw +0.8 KB, gzip -0.8 KB
// (core) / -0.5 KB (verifier). The target_features section is for tools only.
const WASM_OPT_SIZE = ['-Oz', '--one-caller-inline-max-function-size=30', '--strip-target-features'];
const named = join(root, 'target/wasm-named');

function buildWasm(features, outDir, name, profile) {
  run('cargo', ['build', '--lib', '--target', 'wasm32-unknown-unknown', '--profile', profile, '--no-default-features', '--features', features]);
  mkdirSync(outDir, { recursive: true });
  mkdirSync(named, { recursive: true });
  const input = join(named, `${name}.wasm`);
  copyFileSync(join(root, `target/wasm32-unknown-unknown/${profile}/jwt_keeper.wasm`), input);
  run('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-dir', outDir, input]);
  const wasmFile = join(outDir, `${name}_bg.wasm`);
  // The npm binaryen: Debian's older wasm-opt corrupts wasm-bindgen output. A copy that keeps
  // the names tells twiggy where the bytes go.
  const wasmOpt = join(root, 'node_modules/.bin/wasm-opt');
  run(wasmOpt, [...WASM_OPT_SIZE, '-g', '--strip-producers', ...WASM_OPT_FEATURES, wasmFile, '-o', join(named, `${name}.opt.wasm`)]);
  run(wasmOpt, [...WASM_OPT_SIZE, '--strip-debug', '--strip-producers', ...WASM_OPT_FEATURES, wasmFile, '-o', wasmFile]);
  // Lets the JS layer replace a trapped instance with a fresh one from the same compiled module.
  const glue = join(outDir, `${name}.js`);
  const text = readFileSync(glue, 'utf8');
  for (const needle of ['let wasmModule, wasmInstance, wasm;', 'let __wbg_init_promise;']) {
    if (!text.includes(needle)) throw new Error(`wasm-bindgen glue changed: "${needle}" not found`);
  }
  appendFileSync(glue, '\nexport function __jwtKeeperReset() { wasm = undefined; __wbg_init_promise = undefined; return wasmModule; }\n');
}

rmSync(pkg, { recursive: true, force: true });
buildWasm('client,tiny', pkg, 'jwt_keeper_core', 'release-core');
buildWasm('client,dpop,tiny', pkg, 'jwt_keeper_core_dpop', 'release-core');
buildWasm('verifier,tiny', join(pkg, 'verify'), 'jwt_keeper', 'release');
buildWasm('rsa-verifier,tiny', join(pkg, 'verify'), 'jwt_keeper_rsa', 'release-rsa');
cpSync(join(root, 'pkg-template'), pkg, { recursive: true });
cpSync(join(root, 'README.md'), join(pkg, 'README.md'));

// Sizes. JS is measured as a bundler ships it, minified by esbuild; the files in the package
// stay readable. Wasm as is. gzip -9 and brotli 11.
const kb = (n) => (n / 1024).toFixed(1).padStart(7) + ' KB';
const gz = (b) => gzipSync(b, { level: 9 }).length;
const br = (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
async function shipped(file) {
  const raw = readFileSync(file);
  if (!file.endsWith('.js')) return raw;
  return Buffer.from((await transform(raw.toString(), { minify: true, format: 'esm' })).code);
}
function table(title, rows) {
  console.log(`\n${title}`);
  console.log('file'.padEnd(34) + 'raw'.padStart(10) + 'minified'.padStart(11) + 'gzip -9'.padStart(11) + 'brotli'.padStart(11));
  for (const r of rows) console.log(r.file.padEnd(34) + kb(r.raw) + ' ' + kb(r.min) + ' ' + kb(r.gzip) + ' ' + kb(r.brotli));
}
const sum = (rows) => ({
  file: 'total',
  ...Object.fromEntries(['raw', 'min', 'gzip', 'brotli'].map((k) => [k, rows.reduce((t, r) => t + r[k], 0)])),
});
async function measure(files) {
  const rows = [];
  for (const f of files) {
    const raw = readFileSync(join(pkg, f));
    const s = await shipped(join(pkg, f));
    rows.push({ file: f, raw: raw.length, min: s.length, gzip: gz(s), brotli: br(s) });
  }
  return rows;
}

// Every file of the package.
const walk = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? walk(p) : [relative(pkg, p)];
});
const all = await measure(walk(pkg).filter((f) => f.endsWith('.js') || f.endsWith('.wasm')).sort());
table('every file of the package', all);

// Start-up bytes (SPEC §8): an app that creates a client, sets a session and gets a token,
// bundled by esbuild with code splitting; what it loads before the first token is its entry
// chunk (with every chunk it imports statically) and the core wasm. Chunks reached by dynamic
// import only (the verifier: init(), or a page without WebCrypto) are not loaded.
/**
 * Bundles `code` (an app) with esbuild, code-split as bundlers ship it: the chunks loaded
 * before anything runs (the entry and what it imports statically), and the rest (reached by
 * dynamic import only).
 */
async function splitBundle(name, code) {
  const app = join(named, `${name}.js`);
  writeFileSync(app, code);
  const bundled = await build({
    entryPoints: [app], bundle: true, splitting: true, format: 'esm', minify: true, write: false,
    outdir: join(named, `${name}-out`), metafile: true, logLevel: 'silent',
  });
  const outputs = bundled.metafile.outputs;
  const entry = Object.keys(outputs).find((k) => outputs[k].entryPoint);
  const loaded = new Set();
  const visit = (k) => {
    if (loaded.has(k)) return;
    loaded.add(k);
    for (const i of outputs[k].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entry);
  // Each chunk is a file of its own, compressed on its own as a server sends it.
  const chunks = bundled.outputFiles.filter((f) => [...loaded].some((k) => f.path.endsWith(k)));
  const lazy = Object.keys(outputs).filter((k) => !loaded.has(k) && k.endsWith('.js'));
  return { chunks, lazy, outputs, files: bundled.outputFiles };
}

const { chunks, lazy, outputs } = await splitBundle('startup-app', `import { createAuthClient } from ${JSON.stringify(join(pkg, 'index.js'))};
const client = await createAuthClient({ publicKey: globalThis.KEY, refresh: { url: '/token', clientId: 'app' } });
await client.setSession({ accessToken: globalThis.TOKEN, refreshToken: globalThis.RT });
globalThis.TOKEN_OUT = await client.getAccessToken();
`);
const startWasm = readFileSync(join(pkg, 'jwt_keeper_core_bg.wasm'));
// DPoP is not in the start-up bytes: neither its core (the proof header's `typ` is its mark)
// nor its JS (reached by dynamic import only).
const noDpop = !startWasm.includes('dpop+jwt') && !chunks.some((f) => Buffer.from(f.contents).includes('dpop-keys'));
const row = (file, b) => ({ file, raw: b.length, min: b.length, gzip: gz(b), brotli: br(b) });
const startRows = [
  ...chunks.map((f, i) => row(`app bundle: chunk ${i + 1} of ${chunks.length} (JS)`, Buffer.from(f.contents))),
  row('jwt_keeper_core_bg.wasm', startWasm),
];
const startTotal = sum(startRows);
table('start-up bytes (createAuthClient + setSession + getAccessToken, esbuild bundle)', [...startRows, startTotal]);
console.log(`loaded later, only when used: ${lazy.map((k) => `${k.split('/').pop()} (${kb(outputs[k].bytes).trim()} minified)`).join(', ')}, verify/jwt_keeper_bg.wasm, verify/jwt_keeper_rsa_bg.wasm`);
console.log(`budget: ${kb(START_UP_BUDGET_GZIP).trim()} gzip -9 -> ${startTotal.gzip <= START_UP_BUDGET_GZIP ? 'ok' : 'OVER'}`);
console.log(`DPoP code in the start-up bytes: ${noDpop ? 'none (ok)' : 'FOUND'}`);

// With dpop: true: what the same app loads instead (the DPoP core and its JS chunk), for the
// README; no budget of its own.
{
  const app = await splitBundle('startup-app-dpop', `import { createAuthClient } from ${JSON.stringify(join(pkg, 'index.js'))};
const client = await createAuthClient({ publicKey: globalThis.KEY, refresh: { url: '/token', clientId: 'app' }, dpop: true });
await client.setSession({ accessToken: globalThis.TOKEN, refreshToken: globalThis.RT });
globalThis.TOKEN_OUT = await client.getAccessToken();
`);
  const dpopJs = app.files.filter((f) => !app.chunks.includes(f) && f.path.endsWith('.js') && Buffer.from(f.contents).includes('dpop-keys'));
  const rows = [
    ...app.chunks.map((f, i) => row(`app bundle: chunk ${i + 1} of ${app.chunks.length} (JS)`, Buffer.from(f.contents))),
    ...dpopJs.map((f) => row('DPoP chunk (JS, dynamic import)', Buffer.from(f.contents))),
    row('jwt_keeper_core_dpop_bg.wasm', readFileSync(join(pkg, 'jwt_keeper_core_dpop_bg.wasm'))),
  ];
  table('with dpop: true, loaded instead (createAuthClient + setSession + getAccessToken)', [...rows, sum(rows)]);
}

// jwt-keeper/verify: what a browser downloads for decodeJwt/verifyJwt, bundled the same way.
// Not code-split: the verifier's entry is small, and one file compresses better than two.
const verifyOut = await build({
  stdin: { contents: `import init, { verifyJwt, decodeJwt } from ${JSON.stringify(join(pkg, 'verify/index.js'))};
await init();
globalThis.OUT = [verifyJwt(globalThis.TOKEN, globalThis.KEY), decodeJwt(globalThis.TOKEN)];
`, resolveDir: named, loader: 'js' },
  bundle: true, format: 'esm', minify: true, write: false, logLevel: 'silent',
});
const verifyJs = Buffer.concat(verifyOut.outputFiles.map((f) => Buffer.from(f.contents)));
const verifyRows = [
  row('app bundle (JS)', verifyJs),
  row('verify/jwt_keeper_bg.wasm', readFileSync(join(pkg, 'verify/jwt_keeper_bg.wasm'))),
];
const verifyTotal = sum(verifyRows);
table('jwt-keeper/verify (init + verifyJwt + decodeJwt, esbuild bundle)', [...verifyRows, verifyTotal]);
console.log(`budget: ${kb(VERIFY_BUDGET_GZIP).trim()} gzip -9 -> ${verifyTotal.gzip <= VERIFY_BUDGET_GZIP ? 'ok' : 'OVER'}`);
const rsaRows = [row('verify/jwt_keeper_rsa_bg.wasm', readFileSync(join(pkg, 'verify/jwt_keeper_rsa_bg.wasm')))];
const rsaTotal = sum(rsaRows);
table('RSA module (RS256/PS256 where WebCrypto is missing, or after initRsa())', [...rsaRows, rsaTotal]);
console.log(`budget: ${kb(RSA_BUDGET_GZIP).trim()} gzip -9 -> ${rsaTotal.gzip <= RSA_BUDGET_GZIP ? 'ok' : 'OVER'}`);

// Where the wasm bytes go.
const twiggy = join(process.env.CARGO_HOME ?? join(process.env.HOME ?? '', '.cargo'), 'bin/twiggy');
for (const name of ['jwt_keeper_core', 'jwt_keeper', 'jwt_keeper_rsa']) {
  const file = join(named, `${name}.opt.wasm`);
  if (!existsSync(twiggy)) {
    console.log(`\n(twiggy not installed: scripts/setup.sh installs it)`);
    break;
  }
  console.log(`\nwhere the bytes of ${name}_bg.wasm go (twiggy top, names kept):`);
  console.log(execFileSync(twiggy, ['top', '-n', '12', file], { encoding: 'utf8' }).replace(/[a-z0-9_]+\[[0-9a-f]+\]::/g, '').replace(/::h[0-9a-f]{16}/g, ''));
}

const sizes = {
  files: all,
  noDpopAtStartUp: noDpop,
  startUp: { rows: startRows, total: startTotal, budgetGzip: START_UP_BUDGET_GZIP, ok: startTotal.gzip <= START_UP_BUDGET_GZIP },
  verify: { rows: verifyRows, total: verifyTotal, budgetGzip: VERIFY_BUDGET_GZIP, ok: verifyTotal.gzip <= VERIFY_BUDGET_GZIP },
  rsa: { rows: rsaRows, total: rsaTotal, budgetGzip: RSA_BUDGET_GZIP, ok: rsaTotal.gzip <= RSA_BUDGET_GZIP },
};
writeFileSync(join(pkg, '.size.json'), JSON.stringify(sizes, null, 2));
if (!sizes.startUp.ok || !sizes.verify.ok || !sizes.rsa.ok || !noDpop) {
  console.error('size check FAILED: a build is over its budget');
  process.exit(1);
}
