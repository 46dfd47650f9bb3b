// Loading one wasm-bindgen module, and trap recovery: a call that traps replaces the instance
// with a fresh one from the same compiled module, so one bad call never poisons the next.
import { AuthError, CODES } from './errors.js';

const LOAD_FAILED = 'could not load the jwt-keeper wasm module';

/**
 * The loader of one glue module (`jwt_keeper_core.js`, `verify/jwt_keeper.js`,
 * `verify/jwt_keeper_rsa.js`); `notLoaded` says what to call when it is used before loading.
 */
export function wasmModule(glue, notLoaded = 'jwt-keeper is not loaded yet: call `await init()` first') {
  let ready = false;
  let loading;
  let syncLoader;
  let instances = 0;
  const failed = (cause) => new AuthError('internal', LOAD_FAILED, { cause });

  function ensureReady() {
    if (ready) return;
    if (!syncLoader) throw new AuthError('internal', notLoaded);
    try {
      glue.initSync({ module: syncLoader() });
    } catch (cause) {
      throw failed(cause);
    }
    ready = true;
  }

  return {
    /** Registers how to get the wasm bytes synchronously (Node reads the file). */
    setSyncLoader(load) {
      syncLoader = load;
    },
    /**
     * Loads the wasm, once. `input`: a URL or string, a Response (or a promise of one), bytes
     * or a compiled `WebAssembly.Module`; by default the `.wasm` file next to the glue.
     */
    init(input) {
      if (ready) return Promise.resolve();
      if (input === undefined && syncLoader && !loading) {
        try {
          input = syncLoader();
        } catch (cause) {
          return Promise.reject(failed(cause));
        }
      }
      if (!loading) {
        const arg = input === undefined ? undefined : { module_or_path: input };
        loading = glue.default(arg).then(
          () => {
            ready = true;
          },
          (cause) => {
            loading = undefined;
            throw failed(cause);
          },
        );
      }
      return loading;
    },
    /** Calls into the wasm: typed failures become AuthError; a trap replaces the instance. */
    call(fn, ...args) {
      ensureReady();
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof AuthError) throw e;
        if (e instanceof Error && CODES.has(e.code)) throw new AuthError(e.code, e.message);
        glue.initSync({ module: glue.__jwtKeeperReset() });
        instances += 1;
        throw new AuthError('internal', 'jwt-keeper recovered from an internal failure', { cause: e });
      }
    },
    /** Counts instances replaced after a trap; objects living in an old one must reopen. */
    generation() {
      return instances;
    },
  };
}
