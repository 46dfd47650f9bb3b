// Seeded hostile input for the "no trap" runs. Shared by the Node tests and the browser pages,
// so it uses nothing but the language and TextEncoder/btoa.
//
// runGarbage(api, options) calls every export with garbage and checks that each call either
// returns a well-formed value or throws an AuthError with a code other than `internal`
// (`internal` means the wasm instance trapped and had to be replaced).

import { A3_JWK, A3_NOW, A3_PEM, A3_TOKEN } from './vectors.mjs';

export const MiB = 1 << 20;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const [A3_H, A3_P, A3_S] = A3_TOKEN.split('.');

/** mulberry32: a small seeded generator, identical in every JS engine. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function b64urlBytes(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const b64url = (text) => b64urlBytes(new TextEncoder().encode(text));

/** A header of `n` nested `[` (never closed), as a token the size checks alone do not stop. */
export function nestedHeaderToken(n = 100000) {
  return `${b64url('['.repeat(n))}.${A3_P}.${A3_S}`;
}

const boom = (what) =>
  function hostile() {
    throw new Error(`hostile ${what}`);
  };
const PROXY_TRAPS = [
  'get', 'set', 'has', 'deleteProperty', 'ownKeys', 'getOwnPropertyDescriptor', 'defineProperty',
  'getPrototypeOf', 'setPrototypeOf', 'isExtensible', 'preventExtensions', 'apply', 'construct',
];
const throwingHandler = () => Object.fromEntries(PROXY_TRAPS.map((t) => [t, boom(`proxy trap ${t}`)]));

/** Big strings are built once per realm and only when asked for. */
let hugeCache;
export function hugeValues() {
  if (!hugeCache) {
    const body = (len) => 'A'.repeat(len - A3_H.length - A3_S.length - 2);
    hugeCache = {
      str1MiB: 'a'.repeat(MiB),
      str64MiB: 'x'.repeat(64 * MiB),
      nonAscii1MiB: '\u00e9'.repeat(MiB),
      surrogates1MiB: '\ud800'.repeat(MiB),
      token1MiB: `${A3_H}.${body(MiB)}.${A3_S}`,
      token64MiB: `${A3_H}.${body(64 * MiB)}.${A3_S}`,
    };
  }
  return hugeCache;
}

/** Labelled hostile values of every JS type: [label, value]. */
function hostileValues({ huge }) {
  const cyclic = { kty: 'EC', crv: 'P-256' };
  cyclic.self = cyclic;
  const cyclicArray = [];
  cyclicArray.push(cyclicArray);
  let deep = [];
  for (let i = 0; i < 100000; i++) deep = [deep];
  const revocable = Proxy.revocable({}, {});
  revocable.revoke();
  const values = [
    ['undefined', undefined], ['null', null], ['true', true], ['false', false],
    ['0', 0], ['-0', -0], ['-1', -1], ['1.5', 1.5], ['NaN', NaN], ['Infinity', Infinity],
    ['-Infinity', -Infinity], ['2^53', 2 ** 53], ['1e308', 1e308],
    ['1n', 1n], ['2^64n', 2n ** 64n], ['-1n', -1n],
    ['Symbol()', Symbol('garbage')], ['registered Symbol', Symbol.for('jwt-keeper.AuthError')],
    ['function', function plain() {}], ['arrow returning A3', () => A3_TOKEN],
    ['async function', async () => {}], ['class', class Empty {}], ['generator', function* gen() {}],
    ['[]', []], ['[A3 token]', [A3_TOKEN]], ['[A3 JWK]', [A3_JWK]], ['sparse array 1e5', new Array(1e5)],
    ['Date', new Date(0)], ['invalid Date', new Date(NaN)], ['Map', new Map([['kty', 'EC']])],
    ['Set', new Set([A3_TOKEN])], ['WeakMap', new WeakMap()], ['Promise', Promise.resolve(A3_TOKEN)],
    ['Error', new Error('plain')], ['Error with code', Object.assign(new Error('x'), { code: 'expired' })],
    ['RegExp', /a.b.c/g], ['Uint8Array', new Uint8Array(64)], ['ArrayBuffer', new ArrayBuffer(8)],
    ['String object', new String(A3_TOKEN)], ['Number object', new Number(5)],
    ['Object(1n)', Object(1n)], ['Object(Symbol())', Object(Symbol('boxed'))],
    ['null-prototype object', Object.create(null)],
    ['cyclic object', cyclic], ['cyclic array', cyclicArray], ['100000 nested arrays', deep],
    ['object with throwing getter', { kty: 'EC', crv: 'P-256', get x() { throw new Error('hostile getter'); }, y: A3_JWK.y }],
    ['object with throwing toJSON getter', { get toJSON() { throw new Error('hostile toJSON getter'); } }],
    ['proxy throwing on every trap', new Proxy({}, throwingHandler())],
    ['function proxy throwing on every trap', new Proxy(function target() {}, throwingHandler())],
    ['proxy whose handler throws', new Proxy({}, new Proxy({}, { get: boom('handler lookup') }))],
    ['revoked proxy', revocable.proxy],
    ['toJSON -> undefined', { toJSON: () => undefined }],
    ['toJSON -> Symbol', { toJSON: () => Symbol('j') }],
    ['toJSON -> function', { toJSON: () => () => 1 }],
    ['toJSON throws', { toJSON: boom('toJSON') }],
    ['toJSON -> cyclic', { toJSON: () => cyclic }],
    ['toJSON -> BigInt', { toJSON: () => 1n }],
    ['toJSON -> PEM text', { toJSON: () => A3_PEM }],
    ['toJSON -> number', { toJSON: () => 5 }],
    ['toJSON -> nested arrays', { toJSON: () => deep }],
    ['toJSON -> proxy', { toJSON: () => new Proxy({}, throwingHandler()) }],
    ['toString/valueOf throw', { toString: boom('toString'), valueOf: boom('valueOf') }],
    ['Symbol.toPrimitive throws', { [Symbol.toPrimitive]: boom('toPrimitive') }],
  ];
  return values;
}

/** Hostile values that are slow to serialize: used once in every position, not drawn at random. */
function hugeHostileValues() {
  const h = hugeValues();
  return [
    ['toJSON -> 64 MiB string', { toJSON: () => h.str64MiB }],
    ['object with a 1 MiB member', { kty: 'EC', crv: 'P-256', x: h.str1MiB, y: A3_JWK.y }],
  ];
}

/** Everything needed to draw random arguments from one seed. */
export function createGarbage(seed, { huge = false } = {}) {
  const rnd = prng(seed);
  const int = (n) => Math.floor(rnd() * n);
  const pick = (arr) => arr[int(arr.length)];
  const chance = (p) => rnd() < p;
  const hostile = hostileValues({ huge });

  function randomChar() {
    const r = rnd();
    if (r < 0.55) return String.fromCharCode(32 + int(95));
    if (r < 0.62) return String.fromCharCode(int(32));
    if (r < 0.75) return String.fromCharCode(0x80 + int(0xd800 - 0x80));
    if (r < 0.85) return String.fromCharCode(0xd800 + int(0x800)); // lone surrogate
    if (r < 0.93) return String.fromCodePoint(0x10000 + int(0x10ffff - 0x10000)); // astral pair
    return String.fromCharCode(0xe000 + int(0x2000));
  }
  const randomString = (max = 200) => Array.from({ length: int(max + 1) }, randomChar).join('');

  function randomBytes(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  }

  function base64ish() {
    const segs = Array.from({ length: int(6) }, () => {
      let s = '';
      const len = int(90);
      for (let i = 0; i < len; i++) s += chance(0.96) ? B64URL[int(64)] : pick(['=', '+', '/', ' ', '\n', '%', '.', '\u00e9', '\0', '\ud800']);
      return s;
    });
    return segs.join('.');
  }

  /** Random JSON-ish text: usually valid JSON, sometimes with duplicate or broken parts. */
  function jsonish(depth = 0) {
    const keys = ['alg', 'kid', 'typ', 'crit', 'b64', 'jwk', 'jku', 'x5u', 'x5c', 'exp', 'nbf', 'iat', 'iss', 'aud', 'sub', '\\u0061lg', ''];
    const scalars = [
      '"ES256"', '"none"', '"HS256"', '"es256"', '"ES256 "', 'null', 'true', 'false', '0', '-0', '1e400', '-1',
      '18446744073709551616', '1300819380', '1.5e9', '"\\ud800"', '"\\udc00x"', '"\\u0000"', '""', '"joe"',
      '[]', '{}', '["ES256"]', '[1,2', '"unterminated', 'NaN', '01', '+1', '.5', '1e', '"\t"',
    ];
    const r = rnd();
    if (depth > 3 || r < 0.35) return pick(scalars);
    if (r < 0.5) return `[${Array.from({ length: int(4) }, () => jsonish(depth + 1)).join(',')}]`;
    const members = Array.from({ length: int(6) }, () => `${JSON.stringify(pick(keys)).replace('\\\\u', '\\u')}:${jsonish(depth + 1)}`);
    if (chance(0.15) && members.length) members.push(members[0]); // duplicate
    let text = `{${members.join(chance(0.1) ? ' , ' : ',')}}`;
    if (chance(0.05)) text = text.slice(0, int(text.length + 1));
    if (chance(0.05)) text += pick([',', ' ', '}', 'x', '\u00e9']);
    return text;
  }

  function mutatedA3() {
    let t = A3_TOKEN;
    for (let n = 1 + int(3); n > 0; n--) {
      const i = int(t.length + 1);
      switch (int(8)) {
        case 0: t = t.slice(0, i) + B64URL[int(64)] + t.slice(i + 1); break;
        case 1: t = t.slice(0, i) + randomChar() + t.slice(i + 1); break;
        case 2: t = t.slice(0, i) + t.slice(i + 1 + int(10)); break;
        case 3: t = t.slice(0, i) + pick(['.', '=', '==', '+', '/', ' ', '\u00e9', '\ud800', '\udc00']) + t.slice(i); break;
        case 4: { const s = t.split('.'); s.push(pick(s) ?? ''); t = s.join('.'); break; }
        case 5: { const s = t.split('.'); t = [s[1], s[0], ...s.slice(2)].join('.'); break; }
        case 6: t = t.slice(0, i); break;
        default: t = t.toUpperCase(); break;
      }
    }
    return t;
  }

  function randomSignature() {
    return b64urlBytes(randomBytes(pick([0, 1, 32, 63, 64, 64, 64, 65, 70, 72, 128])));
  }

  function token() {
    const r = int(100);
    if (r < 4) return ['A3 token', A3_TOKEN];
    if (r < 14) return ['random string', randomString()];
    if (r < 30) return ['base64url-ish segments', base64ish()];
    if (r < 48) return ['mutated A3', mutatedA3()];
    if (r < 60) return ['random JSON header', `${b64url(jsonish())}.${A3_P}.${chance(0.5) ? A3_S : randomSignature()}`];
    if (r < 72) return ['random JSON payload', `${A3_H}.${b64url(jsonish())}.${chance(0.5) ? A3_S : randomSignature()}`];
    if (r < 78) return ['A3 with random signature', `${A3_H}.${A3_P}.${randomSignature()}`];
    if (r < 84) {
      const i = int(A3_TOKEN.length);
      return ['A3 with non-ASCII', A3_TOKEN.slice(0, i) + pick(['\u00e9', '\u{1f600}', '\ud800', '\udc00', '\u0000', '\u2028', '\ufeff']) + A3_TOKEN.slice(i)];
    }
    return pick(hostile);
  }

  function mutatedJwk() {
    const k = { ...A3_JWK };
    const members = ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use', 'key_ops', 'd', 'ext'];
    for (let n = 1 + int(3); n > 0; n--) {
      const m = pick(members);
      switch (int(6)) {
        case 0: delete k[m]; break;
        case 1: k[m] = pick([null, 5, true, [], {}, '', 'EC', 'P-256', 'ES256', 'ES384', 'sig', 'enc', ['verify'], 'P-384', 'RSA', 'OKP']); break;
        case 2: k[m] = randomString(60); break;
        case 3: k[m] = b64urlBytes(randomBytes(pick([0, 31, 32, 32, 33, 48, 64]))); break;
        case 4: k[m] = pick(['_'.repeat(43), 'A'.repeat(43), '_w', `${A3_JWK.x}=`, A3_JWK.x.replace(/-/g, '+'), A3_JWK.y]); break;
        default: k[m] = JSON.parse(JSON.stringify(A3_JWK)); break;
      }
    }
    return k;
  }

  function key() {
    const r = int(100);
    if (r < 10) return pick([['A3 JWK', A3_JWK], ['A3 PEM', A3_PEM], ['A3 JWKS', { keys: [A3_JWK] }]]);
    if (r < 40) return ['mutated JWK', mutatedJwk()];
    if (r < 52) {
      const keys = Array.from({ length: int(4) }, () => (chance(0.5) ? mutatedJwk() : chance(0.5) ? A3_JWK : pick(hostile)[1]));
      return ['random JWKS', { keys: chance(0.9) ? keys : pick([null, 'x', {}, 5, keys[0]]) }];
    }
    if (r < 65) {
      const body = A3_PEM.split('\n').slice(1, -2).join('\n');
      const i = int(body.length);
      const bodies = [
        body.slice(0, i) + pick(['A', '/', '+', '=', '-', '_', '\u00e9', '']) + body.slice(i + 1),
        btoa(String.fromCharCode(...randomBytes(int(120)))),
        body.replace(/\n/g, ''),
        randomString(100),
      ];
      const label = pick(['PUBLIC KEY', 'CERTIFICATE', 'EC PUBLIC KEY', 'PRIVATE KEY', 'public key', '']);
      return ['mutated PEM', `-----BEGIN ${label}-----\n${pick(bodies)}\n-----END ${pick([label, 'PUBLIC KEY'])}-----${pick(['\n', '', '\r\n', '\n\n x'])}`];
    }
    if (r < 72) return ['random string key', randomString(300)];
    return pick(hostile);
  }

  const optionValues = () => [
    0, -1, 1, 30, 300, 301, 1e9, -1e9, NaN, Infinity, 1.5, 2 ** 31, 2 ** 53, 2 ** 64, MiB, MiB + 1,
    A3_NOW, 1300819380, '30', '', null, true, [], {}, ['x'], [A3_TOKEN], 'joe', randomString(30),
  ];
  function options() {
    const r = int(100);
    if (r < 10) return ['undefined', undefined];
    if (r < 20) return ['{now}', { now: A3_NOW }];
    if (r < 75) {
      const o = {};
      const names = ['issuer', 'audience', 'leeway', 'now', 'maxTokenBytes', 'Now', 'maxtokenbytes', 'clockTolerance', 'algorithms', '__proto__x', ''];
      for (let n = int(4); n > 0; n--) o[pick(names)] = pick(optionValues());
      if (chance(0.5)) o.now = A3_NOW;
      return ['random options', o];
    }
    return pick(hostile);
  }

  /** Every hostile value in every position, every arity, and the big inputs. */
  function fixedCalls() {
    const calls = [];
    const now = ['{now}', { now: A3_NOW }];
    const jwk = ['A3 JWK', A3_JWK];
    const a3 = ['A3 token', A3_TOKEN];
    for (const v of huge ? [...hostile, ...hugeHostileValues()] : hostile) {
      calls.push({ fn: 'decodeJwt', args: [v] });
      calls.push({ fn: 'verifyJwt', args: [v, jwk, now] });
      calls.push({ fn: 'verifyJwt', args: [a3, v, now] });
      calls.push({ fn: 'verifyJwt', args: [a3, jwk, v] });
      calls.push({ fn: 'verifyJwt', args: [v, v, v] });
      calls.push({ fn: 'isAuthError', args: [v] });
    }
    calls.push({ fn: 'decodeJwt', args: [] });
    calls.push({ fn: 'verifyJwt', args: [] });
    calls.push({ fn: 'verifyJwt', args: [a3] });
    calls.push({ fn: 'verifyJwt', args: [a3, jwk] });
    calls.push({ fn: 'verifyJwt', args: [a3, jwk, now, ['extra', {}], ['extra', 5]] });
    calls.push({ fn: 'isAuthError', args: [] });
    const optionObjects = [
      { leeway: 1e9 }, { leeway: -1 }, { leeway: '30' }, { leeway: NaN }, { leeway: Infinity }, { leeway: 301 },
      { now: -1 }, { now: 1e308 }, { now: NaN }, { now: '1300819000' }, { now: 2 ** 64 },
      { maxTokenBytes: 0 }, { maxTokenBytes: -1 }, { maxTokenBytes: 1.5 }, { maxTokenBytes: 2 ** 31 }, { maxTokenBytes: MiB + 1 },
      { unknown: 1 }, { Now: A3_NOW }, { issuer: 5 }, { issuer: null }, { audience: [] }, { audience: [5] }, { audience: {} },
      { now: 1n }, { now: A3_NOW, leeway: 1n }, { now: A3_NOW, [Symbol('s')]: 1 },
    ];
    for (const o of optionObjects) {
      calls.push({ fn: 'verifyJwt', args: [a3, jwk, ['option garbage', { now: A3_NOW, ...o }]] });
      calls.push({ fn: 'verifyJwt', args: [a3, jwk, ['option garbage', o]] });
    }
    const nested = ['100000 nested [ header', nestedHeaderToken()];
    calls.push({ fn: 'decodeJwt', args: [nested] });
    calls.push({ fn: 'verifyJwt', args: [nested, jwk, now] });
    calls.push({ fn: 'verifyJwt', args: [nested, jwk, ['{now,maxTokenBytes:262144}', { now: A3_NOW, maxTokenBytes: 262144 }]] });
    calls.push({ fn: 'verifyJwt', args: [nested, jwk, ['{now,maxTokenBytes:1MiB}', { now: A3_NOW, maxTokenBytes: MiB }]] });
    if (huge) {
      const h = hugeValues();
      const big = ['{now,maxTokenBytes:1MiB}', { now: A3_NOW, maxTokenBytes: MiB }];
      for (const [label, value] of Object.entries(h)) {
        const v = [label, value];
        calls.push({ fn: 'decodeJwt', args: [v] });
        calls.push({ fn: 'verifyJwt', args: [v, jwk, now] });
        calls.push({ fn: 'verifyJwt', args: [v, jwk, big] });
        calls.push({ fn: 'verifyJwt', args: [v, ['A3 PEM', A3_PEM], big] });
        calls.push({ fn: 'verifyJwt', args: [a3, v, now] });
        if (value.length <= MiB) calls.push({ fn: 'verifyJwt', args: [a3, jwk, [`{audience:${label}}`, { now: A3_NOW, audience: value }]] });
        calls.push({ fn: 'isAuthError', args: [v] });
      }
      calls.push({ fn: 'verifyJwt', args: [a3, jwk, ['{audience: 64 MiB string}', { now: A3_NOW, audience: h.str64MiB }]] });
      calls.push({ fn: 'verifyJwt', args: [a3, ['JWKS of 20000 keys', { keys: new Array(20000).fill(A3_JWK) }], now] });
    }
    return calls;
  }

  function randomCall() {
    const r = rnd();
    if (r < 0.35) {
      const args = [token()];
      if (chance(0.05)) args.push(key());
      if (chance(0.02)) args.length = 0;
      return { fn: 'decodeJwt', args };
    }
    if (r < 0.92) {
      const args = [token(), key(), options()];
      if (chance(0.05)) args.length = int(3);
      if (chance(0.03)) args.push(pick(hostile));
      return { fn: 'verifyJwt', args };
    }
    return { fn: 'isAuthError', args: [chance(0.5) ? pick(hostile) : token()] };
  }

  return { rnd, hostile, fixedCalls, randomCall };
}

function describeError(e) {
  try {
    return `${Object.prototype.toString.call(e)} ${e?.constructor?.name}: ${String(e?.message).slice(0, 200)} (code ${String(e?.code)})`;
  } catch {
    return 'an undescribable value was thrown';
  }
}

function describeArgs(args) {
  return args.map(([label, value]) => (typeof value === 'string' ? `${label} (string of ${value.length}: ${JSON.stringify(value.slice(0, 40))})` : label));
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Calls `api.decodeJwt`, `api.verifyJwt`, `api.isAuthError` (then `api.init`) with garbage.
 * Returns { seed, calls, returned, codes, failures } where failures lists every call that threw
 * anything but a typed AuthError, trapped (`internal`) or returned a value of the wrong shape.
 */
export async function runGarbage(api, { seed, iterations, huge = false, maxFailures = 20 }) {
  const g = createGarbage(seed, { huge });
  const stats = { seed, calls: 0, returned: 0, codes: {}, failures: [], failureCount: 0 };
  const fail = (fn, args, problem) => {
    stats.failureCount++;
    if (stats.failures.length < maxFailures) stats.failures.push({ fn, args: describeArgs(args), problem });
  };
  const checkReturn = (fn, r) => {
    if (fn === 'isAuthError') return r === false ? null : `returned ${String(r)} for garbage`;
    if (fn === 'decodeJwt') return isPlainObject(r) && isPlainObject(r.header) && isPlainObject(r.payload) ? null : 'returned no {header, payload}';
    return isPlainObject(r) ? null : 'returned no payload object';
  };
  const one = (fn, args) => {
    stats.calls++;
    let r;
    try {
      r = api[fn](...args.map(([, v]) => v));
    } catch (e) {
      const typed = e instanceof api.AuthError && api.isAuthError(e) && e.name === 'AuthError' && typeof e.code === 'string';
      if (!typed) return fail(fn, args, `threw ${describeError(e)}`);
      if (e.code === 'internal') return fail(fn, args, `trapped: ${describeError(e.cause)}`);
      stats.codes[e.code] = (stats.codes[e.code] ?? 0) + 1;
      return undefined;
    }
    const problem = checkReturn(fn, r);
    if (problem) return fail(fn, args, problem);
    stats.returned++;
    return undefined;
  };
  for (const c of g.fixedCalls()) one(c.fn, c.args);
  for (let i = 0; i < iterations; i++) {
    const c = g.randomCall();
    one(c.fn, c.args);
  }
  // init() with garbage once loaded: resolves (nothing to do) or rejects with an AuthError.
  if (api.init) {
    for (const v of g.hostile) {
      stats.calls++;
      try {
        await api.init(v[1]);
        stats.returned++;
      } catch (e) {
        if (!api.isAuthError(e)) fail('init', [v], `rejected with ${describeError(e)}`);
        else stats.codes[e.code] = (stats.codes[e.code] ?? 0) + 1;
      }
    }
  }
  return stats;
}
