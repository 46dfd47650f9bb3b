// The RS256/PS256 arithmetic (the rsa crate) in a wasm of its own: loaded only where an RSA
// signature must be checked without WebCrypto, or by initRsa() for the synchronous verifyJwt.
import * as glue from './jwt_keeper_rsa.js';
import { wasmModule } from '../wasm.js';

const wasm = wasmModule(glue, 'RS256/PS256 in the synchronous verifyJwt need `await initRsa()` first (or use verifyJwtAsync)');
export const { init, setSyncLoader } = wasm;

/** `valid`, `invalid` or `bad_key` for an RS256/PS256 signature; throws if not loaded. */
export function rsaVerdictSync(alg, jwk, data, sig) {
  return wasm.call(glue.signatureVerdict, alg, jwk, data, sig);
}

/** {@link rsaVerdictSync}, loading the module first. */
export async function rsaVerdict(alg, jwk, data, sig) {
  await wasm.init();
  return rsaVerdictSync(alg, jwk, data, sig);
}
