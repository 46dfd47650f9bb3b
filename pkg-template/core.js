// The client core's wasm (jwt_keeper_core_bg.wasm: no curve arithmetic) and how values reach
// it: strings only. Shared by the session client and verifyJwtAsync.
import * as glue from './jwt_keeper_core.js';
import { wasmModule } from './wasm.js';

export { glue };

/** The loader of the core wasm, with trap recovery. */
export const core = wasmModule(glue);

/** Node: how to read the core wasm synchronously. */
export const setCoreSyncLoader = core.setSyncLoader;

// JSON.stringify turns NaN and ±Infinity into null ("use the default"): they go to the core
// as strings, which it refuses.
export const finite = (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);

// The core takes strings only: a string (PEM or JWKS URL) as is, a URL object as its href, a
// JWK or JWKS object as JSON text (own enumerable properties, as JSON.stringify reads them),
// anything else as "no key". Cut after the core's limit, so a huge value is refused without
// being copied whole into wasm.
export const MAX_KEY_CHARS = 256 * 1024;
export function keyText(key) {
  let text = '';
  let kind = 2;
  if (typeof key === 'string') {
    text = key;
    kind = 0;
  } else if (typeof URL === 'function' && key instanceof URL) {
    text = key.href;
    kind = 0;
  } else if (key !== null && typeof key === 'object') {
    try {
      text = JSON.stringify(key, finite) ?? '';
      kind = 1;
    } catch {
      // a cyclic object, a throwing getter: not a key
    }
  }
  return [text.length > MAX_KEY_CHARS ? text.slice(0, MAX_KEY_CHARS + 1) : text, kind];
}

