// jwt-keeper/verify for Node (18+) and SSR: the wasm file is read from disk on first use.
import { readFileSync } from 'node:fs';
import * as rsa from './rsa.js';
import { setSyncLoader, useRsa } from './verifier.js';

setSyncLoader(() => readFileSync(new URL('./jwt_keeper_bg.wasm', import.meta.url)));
rsa.setSyncLoader(() => readFileSync(new URL('./jwt_keeper_rsa_bg.wasm', import.meta.url)));
useRsa(rsa);

export { init as default, decodeJwt, initRsa, verifyJwt } from './verifier.js';
export { AuthError, isAuthError } from '../errors.js';
