// Runs every test suite in order and ends with one summary line: "N passed, N failed".
// Steps: lints, native Rust tests, the package build (with its size check), wasm tests in
// headless Chromium, then the Node and browser tests of the built package.
import { spawn } from 'node:child_process';

const env = { ...process.env, CHROMEDRIVER: process.env.CHROMEDRIVER || '/usr/bin/chromedriver' };

const steps = [
  { name: 'rustfmt', cmd: 'cargo', args: ['fmt', '--check'] },
  // No unwrap/expect/panic/indexing outside tests (Cargo.toml [lints], clippy.toml).
  { name: 'clippy', cmd: 'cargo', args: ['clippy', '--all-targets', '--', '-D', 'warnings'] },
  { name: 'clippy (wasm, client core)', cmd: 'cargo', args: ['clippy', '--lib', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'client,tiny', '--', '-D', 'warnings'] },
  { name: 'clippy (wasm, DPoP client core)', cmd: 'cargo', args: ['clippy', '--lib', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'client,dpop,tiny', '--', '-D', 'warnings'] },
  { name: 'clippy (wasm, verifier)', cmd: 'cargo', args: ['clippy', '--lib', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'verifier,tiny', '--', '-D', 'warnings'] },
  { name: 'clippy (wasm, RSA verifier)', cmd: 'cargo', args: ['clippy', '--lib', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'rsa-verifier,tiny', '--', '-D', 'warnings'] },
  { name: 'native tests', cmd: 'cargo', args: ['test'] },
  { name: 'build pkg/', cmd: 'node', args: ['scripts/build.mjs'] },
  { name: 'wasm tests (Chromium)', cmd: 'cargo', args: ['test', '--target', 'wasm32-unknown-unknown', '--test', 'wasm'] },
  { name: 'node + browser tests', cmd: 'node', args: ['--test', '--test-concurrency=1', 'tests/'] },
];

function run(step) {
  return new Promise((resolve) => {
    console.log(`\n=== ${step.name}: ${step.cmd} ${step.args.join(' ')}`);
    const child = spawn(step.cmd, step.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const tee = (stream, target) =>
      stream.on('data', (d) => {
        out += d;
        target.write(d);
      });
    tee(child.stdout, process.stdout);
    tee(child.stderr, process.stderr);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Counts from cargo's "test result:" lines and node's "# pass"/"# fail" lines. */
function count(out) {
  let passed = 0;
  let failed = 0;
  for (const m of out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1]);
    failed += Number(m[2]);
  }
  for (const m of out.matchAll(/^# pass (\d+)$/gm)) passed += Number(m[1]);
  for (const m of out.matchAll(/^# fail (\d+)$/gm)) failed += Number(m[1]);
  return { passed, failed };
}

let passed = 0;
let failed = 0;
const broken = [];
const started = Date.now();
for (const step of steps) {
  const { code, out } = await run(step);
  const c = count(out);
  passed += c.passed;
  failed += c.failed;
  if (code !== 0) {
    broken.push(step.name);
    if (c.failed === 0) failed += 1; // a step that failed outside a test (lint, build) counts once
  }
}
const secs = ((Date.now() - started) / 1000).toFixed(0);
if (broken.length) console.log(`\nfailed steps: ${broken.join(', ')}`);
console.log(`\ntime: ${secs} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || broken.length ? 1 : 0);
