// Where things are, and small process/file helpers for the package tests.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PKG = join(ROOT, 'pkg');
export const WASM = join(PKG, 'verify/jwt_keeper_bg.wasm');
export const CORE_WASM = join(PKG, 'jwt_keeper_core_bg.wasm');
export const FIXTURES = join(ROOT, 'tests/fixtures/jose-tokens.json');
export const PAGES = join(ROOT, 'tests/pages');

export const fileUrl = (path) => pathToFileURL(path).href;

export function loadFixtures() {
  return JSON.parse(readFileSync(FIXTURES, 'utf8'));
}

/**
 * Copies the built package into a fresh temporary directory (optionally leaving files out),
 * so that importing it gives module instances that share no state with `pkg/`.
 * Returns { dir, remove() }.
 */
export function copyPkg({ without = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-keeper-pkg-'));
  cpSync(PKG, dir, { recursive: true, filter: (src) => !without.some((name) => src === join(PKG, name)) });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs `code` as an ES module in a fresh `node` process. Resolves with
 * { status, stdout, stderr, json } where json is the last stdout line parsed, if any.
 */
export function runNode(code, { cwd = ROOT, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child node process timed out after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop();
      let json;
      try {
        json = last ? JSON.parse(last) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status, stdout, stderr, json });
    });
  });
}
