// Runs every case of tests/fixtures/jose-tokens.json through an API object
// ({ verifyJwt, AuthError, isAuthError }) and compares with what the case expects.
// Used in Node, in the test page and in the worker.

/** One result per case: { name, result: 'ok' | code | 'untyped: …', payload? }. */
export function runFixtureCases(api, fixtures) {
  return fixtures.cases.map((c) => {
    try {
      const payload = api.verifyJwt(c.token, fixtures.keys[c.key], c.options);
      return { name: c.name, result: 'ok', payload };
    } catch (e) {
      const typed = e instanceof Error && e instanceof api.AuthError && api.isAuthError(e) && e.name === 'AuthError';
      return { name: c.name, result: typed ? e.code : `untyped: ${String(e)}` };
    }
  });
}

/** Structural equality of JSON values. */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Every case whose result differs from `expect` (or whose payload differs), as readable lines. */
export function fixtureMismatches(fixtures, results) {
  const out = [];
  if (results.length !== fixtures.cases.length) out.push(`${results.length} results for ${fixtures.cases.length} cases`);
  fixtures.cases.forEach((c, i) => {
    const r = results[i];
    if (!r || r.name !== c.name) return out.push(`#${i} ${c.name}: no result`);
    if (r.result !== c.expect) return out.push(`#${i} ${c.name}: expected ${c.expect}, got ${r.result}`);
    if (c.expect === 'ok' && c.payload !== undefined && !jsonEqual(r.payload, c.payload)) {
      out.push(`#${i} ${c.name}: payload ${JSON.stringify(r.payload)} != ${JSON.stringify(c.payload)}`);
    }
    return undefined;
  });
  return out;
}
