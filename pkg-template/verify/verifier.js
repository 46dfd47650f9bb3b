// decodeJwt / verifyJwt on the verifier wasm (p256 and rsa), and the signature check behind
// the client where WebCrypto is missing. Loaded only when one of them is used.
import * as glue from './jwt_keeper.js';
import { rejectNonFinite } from '../errors.js';
import { wasmModule } from '../wasm.js';

const wasm = wasmModule(glue);
export const { init, setSyncLoader } = wasm;

/** Reads a token's header and payload. Does NOT check the signature or any claim. */
export function decodeJwt(token) {
  return JSON.parse(wasm.call(glue.decodeJwt, token));
}

/** Verifies an ES256, RS256 or PS256 token against `key` and checks its claims; returns the payload. */
export function verifyJwt(token, key, options) {
  rejectNonFinite(options);
  return JSON.parse(wasm.call(glue.verifyJwt, token, key, options));
}

/** The answer to the client core's `verify` effect, by p256 or rsa (`valid`, `invalid`, `bad_key`). */
export async function signatureVerdict(alg, jwk, data, sig) {
  await wasm.init();
  return wasm.call(glue.signatureVerdict, alg, jwk, data, sig);
}

