// jwt-keeper/verify for Node (18+) and SSR: the wasm file is read from disk on first use.
import { readFileSync } from 'node:fs';
import { setSyncLoader } from './verifier.js';

setSyncLoader(() => readFileSync(new URL('./jwt_keeper_bg.wasm', import.meta.url)));

export { init as default, decodeJwt, verifyJwt } from './verifier.js';
export { AuthError, isAuthError } from '../errors.js';
