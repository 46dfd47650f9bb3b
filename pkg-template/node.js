// jwt-keeper for Node (18+) and SSR: the wasm file is read from disk the first time it is needed,
// so `decodeJwt`/`verifyJwt` work without `await init()`. Importing alone reads nothing.
import { readFileSync } from 'node:fs';
import { AuthError, init, setSyncLoader } from './core.js';

const WASM = new URL('./jwt_keeper_bg.wasm', import.meta.url);
setSyncLoader(() => readFileSync(WASM));

export { decodeJwt, verifyJwt, AuthError, isAuthError } from './core.js';

/** As in the browser build; without an argument, reads the bundled `.wasm` file. */
export default async function nodeInit(input) {
  if (input !== undefined) return init(input);
  let bytes;
  try {
    bytes = readFileSync(WASM);
  } catch (cause) {
    throw new AuthError('internal', 'could not load the jwt-keeper wasm module', { cause });
  }
  return init(bytes);
}
