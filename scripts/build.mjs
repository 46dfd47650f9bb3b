// Builds the npm package into pkg/: for each of the two builds, cargo (wasm32, release) ->
// wasm-bindgen --target web -> wasm-opt -Oz; then the JS entries from pkg-template/.
//   pkg/         the whole package: verification and the session client (createAuthClient)
//   pkg/verify/  `jwt-keeper/verify`: decodeJwt/verifyJwt only, a smaller wasm
// Prints the shipped sizes and fails above the budgets. Run through `npm run build`.
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { transform } from 'esbuild';

/** What a browser downloads for `jwt-keeper/verify` (wasm + JS), gzip -9, at most. */
export const VERIFY_BUDGET_GZIP = 48 * 1024;
/** The same for the whole package with the session client. */
export const CLIENT_BUDGET_GZIP = 72 * 1024;

const root = new URL('..', import.meta.url).pathname;
const pkg = join(root, 'pkg');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

function buildWasm(cargoFeatures, outDir) {
  run('cargo', ['build', '--lib', '--target', 'wasm32-unknown-unknown', '--release', ...cargoFeatures]);
  mkdirSync(outDir, { recursive: true });
  run('wasm-bindgen', [
    '--target', 'web', '--no-typescript', '--out-dir', outDir,
    join(root, 'target/wasm32-unknown-unknown/release/jwt_keeper.wasm'),
  ]);
  const wasmFile = join(outDir, 'jwt_keeper_bg.wasm');
  // The npm binaryen: Debian's older wasm-opt corrupts wasm-bindgen output.
  run(join(root, 'node_modules/.bin/wasm-opt'), [
    '-Oz', '--strip-debug', '--strip-producers', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
    '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue',
    wasmFile, '-o', wasmFile,
  ]);
  // Lets the JS layer replace a trapped instance with a fresh one from the same compiled module.
  const glue = join(outDir, 'jwt_keeper.js');
  const text = readFileSync(glue, 'utf8');
  for (const needle of ['let wasmModule, wasmInstance, wasm;', 'let __wbg_init_promise;']) {
    if (!text.includes(needle)) throw new Error(`wasm-bindgen glue changed: "${needle}" not found`);
  }
  appendFileSync(glue, '\nexport function __jwtKeeperReset() { wasm = undefined; __wbg_init_promise = undefined; return wasmModule; }\n');
}

rmSync(pkg, { recursive: true, force: true });
buildWasm(['--features', 'tiny'], pkg);
buildWasm(['--no-default-features', '--features', 'tiny'], join(pkg, 'verify'));
cpSync(join(root, 'pkg-template'), pkg, { recursive: true });
cpSync(join(root, 'pkg-template/core.js'), join(pkg, 'verify/core.js'));
cpSync(join(root, 'README.md'), join(pkg, 'README.md'));

// Size report: what a browser downloads (node.js is for Node only). JS is measured as a
// bundler ships it, minified by esbuild; the files in the package stay readable.
const kb = (n) => (n / 1024).toFixed(1).padStart(7) + ' KB';
async function report(title, dir, files, budget) {
  const rows = [];
  for (const f of files) {
    const raw = readFileSync(join(dir, f));
    const shipped = f.endsWith('.js')
      ? Buffer.from((await transform(raw.toString(), { minify: true, format: 'esm' })).code)
      : raw;
    rows.push({
      file: f,
      raw: raw.length,
      min: shipped.length,
      gzip: gzipSync(shipped, { level: 9 }).length,
      brotli: brotliCompressSync(shipped, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    });
  }
  const sum = (k) => rows.reduce((t, r) => t + r[k], 0);
  const total = { raw: sum('raw'), min: sum('min'), gzip: sum('gzip'), brotli: sum('brotli') };
  console.log(`\n${title}`);
  console.log('file'.padEnd(22) + 'raw'.padStart(10) + 'minified'.padStart(11) + 'gzip -9'.padStart(11) + 'brotli'.padStart(11));
  for (const r of [...rows, { file: 'total', ...total }]) {
    console.log(r.file.padEnd(22) + kb(r.raw) + ' ' + kb(r.min) + ' ' + kb(r.gzip) + ' ' + kb(r.brotli));
  }
  console.log(`budget: ${kb(budget).trim()} gzip -9 (minified) -> ${total.gzip <= budget ? 'ok' : 'OVER'}`);
  return { files: rows, total, budgetGzip: budget, ok: total.gzip <= budget };
}
const sizes = {
  client: await report("jwt-keeper (verification + session client)", pkg, ['jwt_keeper_bg.wasm', 'jwt_keeper.js', 'core.js', 'client.js', 'index.js'], CLIENT_BUDGET_GZIP),
  verify: await report("jwt-keeper/verify (verification only)", join(pkg, 'verify'), ['jwt_keeper_bg.wasm', 'jwt_keeper.js', 'core.js', 'index.js'], VERIFY_BUDGET_GZIP),
};
writeFileSync(join(pkg, '.size.json'), JSON.stringify(sizes, null, 2));
if (!sizes.client.ok || !sizes.verify.ok) {
  console.error('size check FAILED: a build is over its budget');
  process.exit(1);
}
