// The bytes jwt-keeper/vue adds to an app, as a bundler ships it: esbuild bundles (minified,
// `vue` external) of an app that imports createAuth, useAuth and authGuard from jwt-keeper/vue
// and of the same app importing only createAuthClient from jwt-keeper, each gzip -9, and the
// difference. Reads the built pkg/ (npm run build first).
//   node scripts/vue-size.mjs
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const PKG = fileURLToPath(new URL('../pkg/', import.meta.url));

/** Bundles the app `source` (imports relative to pkg/): minified and gzip -9 bytes. */
async function measure(source) {
  const result = await build({
    stdin: { contents: source, resolveDir: PKG, loader: 'js' },
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    external: ['vue'],
    logLevel: 'silent',
  });
  const code = Buffer.concat(result.outputFiles.map((f) => Buffer.from(f.contents)));
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

const withAdapter = await measure("import { createAuth, useAuth, authGuard } from './vue.js';\nexport default [createAuth, useAuth, authGuard];\n");
const clientOnly = await measure("import { createAuthClient } from './index.js';\nexport default [createAuthClient];\n");

const line = (label, { minified, gzip }) => console.log(`${label.padEnd(48)}${String(minified).padStart(8)} B minified${String(gzip).padStart(8)} B gzip -9`);
line('jwt-keeper/vue (createAuth, useAuth, authGuard)', withAdapter);
line('jwt-keeper (createAuthClient only)', clientOnly);
line('added by jwt-keeper/vue', { minified: withAdapter.minified - clientOnly.minified, gzip: withAdapter.gzip - clientOnly.gzip });
