// jwt-keeper for Node (18+) and SSR: the wasm file is read from disk the first time it is needed,
// so `decodeJwt`/`verifyJwt` work without `await init()`. Importing alone reads nothing.
import { readFileSync } from 'node:fs';
import { setSyncLoader } from './core.js';

setSyncLoader(() => readFileSync(new URL('./jwt_keeper_bg.wasm', import.meta.url)));

// Without an argument, init() reads the bundled `.wasm` file.
export { init as default, decodeJwt, verifyJwt, AuthError, isAuthError } from './core.js';
export { createAuthClient } from './client.js';
