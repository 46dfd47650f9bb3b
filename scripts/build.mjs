// Builds the npm package into pkg/: cargo (wasm32, release) -> wasm-bindgen --target web ->
// wasm-opt -Oz -> the JS entries from pkg-template/. Prints the shipped size and fails above
// the budget. Run through `npm run build` (scripts/setup.sh installs the tools first).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { join } from 'node:path';

/** Budget for the whole package a browser downloads (wasm + JS), gzip -9, in bytes. */
export const SIZE_BUDGET_GZIP = 48 * 1024;

const root = new URL('..', import.meta.url).pathname;
const pkg = join(root, 'pkg');
const run = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });

run('cargo', ['build', '--lib', '--target', 'wasm32-unknown-unknown', '--release', '--features', 'tiny']);
rmSync(pkg, { recursive: true, force: true });
mkdirSync(pkg);
run('wasm-bindgen', [
  '--target', 'web', '--no-typescript', '--out-dir', pkg,
  join(root, 'target/wasm32-unknown-unknown/release/jwt_keeper.wasm'),
]);
const wasmFile = join(pkg, 'jwt_keeper_bg.wasm');
// The npm binaryen: Debian's older wasm-opt corrupts wasm-bindgen output.
run(join(root, 'node_modules/.bin/wasm-opt'), [
  '-Oz', '--strip-debug', '--strip-producers', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue',
  wasmFile, '-o', wasmFile,
]);

// Lets the JS layer replace a trapped instance with a fresh one from the same compiled module.
const glue = join(pkg, 'jwt_keeper.js');
const glueText = readFileSync(glue, 'utf8');
for (const needle of ['let wasmModule, wasmInstance, wasm;', 'let __wbg_init_promise;']) {
  if (!glueText.includes(needle)) throw new Error(`wasm-bindgen glue changed: "${needle}" not found`);
}
appendFileSync(glue, '\nexport function __jwtKeeperReset() { wasm = undefined; __wbg_init_promise = undefined; return wasmModule; }\n');

cpSync(join(root, 'pkg-template'), pkg, { recursive: true });
cpSync(join(root, 'README.md'), join(pkg, 'README.md'));

// Size report: what a browser downloads (node.js is for Node only).
const shipped = ['jwt_keeper_bg.wasm', 'jwt_keeper.js', 'core.js', 'index.js'];
const rows = shipped.map((f) => {
  const bytes = readFileSync(join(pkg, f));
  return {
    file: f,
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
});
const total = rows.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
const kb = (n) => (n / 1024).toFixed(1).padStart(7) + ' KB';
console.log('\npackage size (what a browser downloads)');
console.log('file'.padEnd(22) + 'raw'.padStart(10) + 'gzip -9'.padStart(11) + 'brotli'.padStart(11));
for (const r of [...rows, { file: 'total', ...total }]) {
  console.log(r.file.padEnd(22) + kb(r.raw) + kb(r.gzip) + ' ' + kb(r.brotli));
}
writeFileSync(join(pkg, '.size.json'), JSON.stringify({ files: rows, total, budgetGzip: SIZE_BUDGET_GZIP }, null, 2));
console.log(`budget: ${kb(SIZE_BUDGET_GZIP).trim()} gzip`);
if (total.gzip > SIZE_BUDGET_GZIP) {
  console.error(`size check FAILED: ${total.gzip} B gzip > budget ${SIZE_BUDGET_GZIP} B`);
  process.exit(1);
}
