// jwt-keeper for Node (18+) and SSR: the wasm files are read from disk the first time they are
// needed, so `decodeJwt`/`verifyJwt` work without `await init()`. Importing alone reads nothing.
import { readFileSync } from 'node:fs';
import { setCoreSyncLoader } from './core.js';
import * as rsa from './verify/rsa.js';
import { setSyncLoader, useRsa } from './verify/verifier.js';

setSyncLoader(() => readFileSync(new URL('./verify/jwt_keeper_bg.wasm', import.meta.url)));
rsa.setSyncLoader(() => readFileSync(new URL('./verify/jwt_keeper_rsa_bg.wasm', import.meta.url)));
useRsa(rsa);
setCoreSyncLoader(() => readFileSync(new URL('./jwt_keeper_core_bg.wasm', import.meta.url)));

// Without an argument, init() reads the bundled `.wasm` file.
export { init as default, decodeJwt, initRsa, verifyJwt } from './verify/verifier.js';
export { AuthError, isAuthError } from './errors.js';
export { createAuthClient } from './client.js';
export { verifyJwtAsync } from './async.js';
