// What jwt-keeper/react adds to an app: esbuild bundles (minified, `react` and `react-dom`
// external) of an app importing AuthProvider, useAuth and withAuthenticationRequired from
// jwt-keeper/react, and of the same app importing only createAuthClient from jwt-keeper; each
// gzip -9, and the difference. Reads the built pkg/ (npm run build first).
//   node scripts/react-size.mjs
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));

async function bundle(code) {
  const out = await build({
    stdin: { contents: code, resolveDir: pkg, loader: 'js' },
    bundle: true, format: 'esm', minify: true, write: false, logLevel: 'silent',
    external: ['react', 'react-dom'],
  });
  const bytes = Buffer.concat(out.outputFiles.map((f) => Buffer.from(f.contents)));
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const adapter = await bundle(`import { AuthProvider, useAuth, withAuthenticationRequired } from ${JSON.stringify(join(pkg, 'react.js'))};
globalThis.OUT = [AuthProvider, useAuth, withAuthenticationRequired];
`);
const client = await bundle(`import { createAuthClient } from ${JSON.stringify(join(pkg, 'index.js'))};
globalThis.OUT = [createAuthClient];
`);
const row = (name, b) => console.log(`${name.padEnd(52)}${String(b.min).padStart(8)} B min ${String(b.gzip).padStart(7)} B gzip -9`);
row('jwt-keeper/react (AuthProvider, useAuth, guard)', adapter);
row('jwt-keeper (createAuthClient)', client);
row('added by the adapter', { min: adapter.min - client.min, gzip: adapter.gzip - client.gzip });
