// Known-good vector shared by the Node tests, the test pages and the worker:
// RFC 7515 Appendix A.3 (ES256, high-S signature).

export const A3_TOKEN =
  'eyJhbGciOiJFUzI1NiJ9' +
  '.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ' +
  '.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q';

export const A3_JWK = Object.freeze({
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
});

const A3_SPKI_BASE64 =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==';

export const A3_PEM = `-----BEGIN PUBLIC KEY-----\n${A3_SPKI_BASE64.match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`;

/** The token's `exp`. */
export const A3_EXP = 1300819380;
/** A `now` before `exp`: the token verifies. */
export const A3_NOW = 1300819000;

export const A3_PAYLOAD = Object.freeze({ iss: 'joe', exp: A3_EXP, 'http://example.com/is_root': true });
export const A3_HEADER = Object.freeze({ alg: 'ES256' });
