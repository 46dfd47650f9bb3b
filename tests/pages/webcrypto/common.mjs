// Small helpers shared by the WebCrypto pages: errors and settled promises as plain data
// that survive page.evaluate().
import { isAuthError } from '/pkg/errors.js';

/** A plain copy of whatever was thrown. */
export function describeError(e) {
  return {
    name: e?.name,
    code: e?.code,
    message: e?.message,
    isAuthError: isAuthError(e),
  };
}

/** { ok: true, value } or { ok: false, error } for a promise (or a function returning one). */
export async function settle(work) {
  try {
    return { ok: true, value: await (typeof work === 'function' ? work() : work) };
  } catch (e) {
    return { ok: false, error: describeError(e) };
  }
}

/** What the page can see of WebCrypto. */
export function environment() {
  let subtleType;
  try {
    subtleType = typeof globalThis.crypto?.subtle;
  } catch (e) {
    subtleType = `throws ${e?.name}`;
  }
  return {
    isSecureContext: globalThis.isSecureContext,
    hasCrypto: typeof globalThis.crypto === 'object' && globalThis.crypto !== null,
    subtleType,
    origin: location.origin,
  };
}

export function ready(api) {
  document.getElementById('status').textContent = 'ready';
  window.pageReady = Promise.resolve(api);
}
