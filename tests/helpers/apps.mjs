// Projects that install the package the way a user does — from the packed tarball — for the
// packaging tests and the framework apps' end-to-end tests: running npm and the tools without
// the root package's npm variables, packing pkg/, and preparing a project directory.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { PKG, ROOT, runNode } from './paths.mjs';

/** One install or build step may take this long (a cold npm cache on a slow link). */
export const STEP_TIMEOUT_MS = 180_000;

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * The environment for npm and the tools, plus `extra`: without the variables an enclosing
 * `npm test` sets about the repository's own package (with them, npm would work on the root
 * project).
 */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...extra };
  for (const name of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$|config_loglevel$)/i.test(name)) delete env[name];
  }
  return env;
}

/** Runs a command in `cwd` (with `env` added); resolves with its output, rejects with it on a non-zero exit. */
export function run(cmd, args, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} (in ${relative(ROOT, cwd)}) failed: ${signal ?? code}\n${out.slice(-4000)}`));
    });
  });
}

/** A tool installed in a project. */
export const tool = (dir, name) => join(dir, 'node_modules/.bin', name);

/** `npm pack` of pkg/ into `work` (older tarballs removed); resolves with npm's record of it. */
export async function packPkg(work) {
  mkdirSync(work, { recursive: true });
  for (const f of readdirSync(work)) if (f.endsWith('.tgz')) rmSync(join(work, f));
  const out = await run('npm', ['pack', '--json', '--pack-destination', work], PKG);
  const [packed] = JSON.parse(out.slice(out.indexOf('[')));
  return { ...packed, path: join(work, packed.filename) };
}

/**
 * Makes `dir` hold a fresh copy of `from` (its node_modules kept, its builds dropped) and/or `files`
 * (path -> text), installs its dependencies unless the same package.json + lock file were
 * installed before (`npm ci` with a committed lock file, else `npm install`), then installs
 * `tarball` with `npm install --no-save`, and checks that each of `same` (paths in the package)
 * is the file of pkg/. Resolves with `dir`.
 */
export async function prepareProject(dir, { from, files, tarball, same = ['jwt_keeper_core_bg.wasm'] }) {
  mkdirSync(dir, { recursive: true });
  if (from) {
    for (const f of readdirSync(dir)) if (f !== 'node_modules') rmSync(join(dir, f), { recursive: true, force: true });
    cpSync(from, dir, { recursive: true, filter: (src) => !/[/\\](node_modules|dist|dist-server)$/.test(src) });
  }
  for (const [path, text] of Object.entries(files ?? {})) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const committedLock = from !== undefined && existsSync(join(dir, 'package-lock.json'));
  const stampFile = join(dir, 'node_modules/.installed-from');
  const stamp = sha256(readFileSync(join(dir, 'package.json')) + (committedLock ? readFileSync(join(dir, 'package-lock.json')) : ''));
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    // A committed lock file must be enough on its own (`npm ci`); a generated project gets one.
    await run('npm', committedLock ? ['ci'] : ['install'], dir);
    writeFileSync(stampFile, stamp);
  }
  await run('npm', ['install', '--no-save', tarball], dir);
  for (const f of same) {
    assert.equal(
      sha256(readFileSync(join(dir, 'node_modules/jwt-keeper', f))),
      sha256(readFileSync(join(PKG, f))),
      `${relative(ROOT, dir)}: node_modules/jwt-keeper/${f} is not the one of pkg/`,
    );
  }
  return dir;
}

/**
 * An example app rendered on the server: `npm run build:ssr` in `app`, then, in a child Node
 * process where every browser global (and `fetch`) is a trap set before anything loads, the
 * `render(url)` of `dist-server/entry-server.js` for each of `urls`. A read from jwt-keeper or
 * from the app's own built code is recorded in `touched` and throws; any other reader (the
 * framework and its router look for a document when they load) gets what a server has:
 * undefined (fetch: Node's own), and is named in `byOthers`. Resolves with the child's
 * `{ status, stderr, json: { rendered, touched, byOthers } }`.
 */
export async function renderOnServer(app, urls) {
  await run('npm', ['run', 'build:ssr'], app);
  const entry = join(app, 'dist-server/entry-server.js');
  assert.ok(existsSync(entry), 'the SSR build wrote dist-server/entry-server.js');
  const code = `
    const touched = [];
    const byOthers = new Set();
    const ours = (reader) => reader.includes('/node_modules/jwt-keeper/') || reader.includes(${JSON.stringify(pathToFileURL(join(app, 'dist-server')).href + '/')});
    const realFetch = globalThis.fetch;
    for (const name of ['window', 'document', 'self', 'location', 'localStorage', 'sessionStorage', 'navigator', 'BroadcastChannel', 'fetch']) {
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          const reader = new Error().stack.split('\\n')[2] ?? '';
          if (ours(reader)) {
            touched.push(name + ' ' + reader.trim());
            throw new Error(name + ' touched');
          }
          byOthers.add(name);
          return name === 'fetch' ? realFetch : undefined;
        },
      });
    }
    const { render } = await import(${JSON.stringify(pathToFileURL(entry).href)});
    const rendered = [];
    for (const url of ${JSON.stringify(urls)}) rendered.push(await render(url));
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(JSON.stringify({ rendered, touched, byOthers: [...byOthers] }));`;
  return runNode(code, { cwd: app });
}
