//! ES256 verification and claim checks: the only way an [`UntrustedToken`] becomes a
//! [`VerifiedToken`].

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "verifier")]
use p256::ecdsa::signature::hazmat::PrehashVerifier;
#[cfg(feature = "verifier")]
use p256::ecdsa::Signature;

use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Object, Value};
use crate::key::{KeySet, PublicKey};
use crate::token::{UntrustedToken, DEFAULT_MAX_TOKEN_BYTES, MAX_TOKEN_BYTES_LIMIT};

/// Default clock tolerance for `exp` and `nbf`, in seconds: covers ordinary client clock drift.
pub const DEFAULT_LEEWAY_S: u64 = 30;

/// Largest leeway accepted, in seconds: more would keep a stolen, expired token usable.
pub const MAX_LEEWAY_S: u64 = 300;

/// A `kid` longer than this is refused before any lookup; real ones are under 100 bytes.
pub const MAX_KID_BYTES: usize = 1024;

/// The claim checks of a verifier: `issuer`, `audience`, `leeway`. The one type (and parser)
/// behind `verifyJwt` options and `createAuthClient` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// Required exact `iss`, if set.
    pub issuer: Option<String>,
    /// If not empty, the token's `aud` must contain one of these exactly.
    pub audience: Vec<String>,
    /// Tolerance for `exp`/`nbf`, in seconds (default 30, at most 300).
    pub leeway_s: u64,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: Vec::new(),
            leeway_s: DEFAULT_LEEWAY_S,
        }
    }
}

impl Checks {
    /// Reads the option `name` if it is one of the checks (`issuer`, `audience`, `leeway`):
    /// `Ok(true)` when it was, `Ok(false)` for another name, `malformed` for a wrong value.
    pub fn read(&mut self, name: &str, value: &Value) -> Result<bool> {
        match name {
            "issuer" => {
                let iss = value
                    .as_str()
                    .ok_or(Error::malformed("options.issuer must be a string"))?;
                self.issuer = Some(iss.into());
            }
            "audience" => self.audience = read_audience(value)?,
            "leeway" => {
                self.leeway_s = value
                    .as_numeric_date()
                    .filter(|l| *l <= MAX_LEEWAY_S)
                    .ok_or(Error::malformed(
                        "options.leeway must be a number of seconds from 0 to 300",
                    ))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// What to check besides the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// `issuer`, `audience`, `leeway`.
    pub checks: Checks,
    /// Current time, seconds since the epoch.
    pub now_s: u64,
    /// Longest token accepted, in bytes (default 16 384).
    pub max_token_bytes: usize,
}

impl VerifyOptions {
    /// Defaults (no issuer or audience check, leeway 30 s) at time `now_s`.
    pub fn at(now_s: u64) -> Self {
        Self {
            checks: Checks::default(),
            now_s,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Reads the options object of `verifyJwt` (as JSON text): `issuer`, `audience`, `leeway`,
    /// `now`, `maxTokenBytes`; `null` means absent; `now_s` is used when `now` is absent.
    /// Unknown names are refused (`malformed`) so that a misspelt check is not silently skipped.
    pub fn from_json(text: &[u8], now_s: u64) -> Result<Self> {
        let obj = json::parse_object(text, "options must be an object")?;
        let mut opts = Self::at(now_s);
        for (name, value) in obj.members() {
            if *value == Value::Null || opts.checks.read(name, value)? {
                continue;
            }
            match name {
                "now" => {
                    opts.now_s = value.as_numeric_date().ok_or(Error::malformed(
                        "options.now must be seconds since the epoch",
                    ))?;
                }
                "maxTokenBytes" => {
                    opts.max_token_bytes = value
                        .as_numeric_date()
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| (1..=MAX_TOKEN_BYTES_LIMIT).contains(n))
                        .ok_or(Error::malformed(
                            "options.maxTokenBytes must be from 1 to 1048576",
                        ))?;
                }
                _ => {
                    return Err(Error::malformed(
                        "unknown option (expected issuer, audience, leeway, now, maxTokenBytes)",
                    ))
                }
            }
        }
        Ok(opts)
    }
}

fn read_audience(value: &Value) -> Result<Vec<String>> {
    const BAD: Error =
        Error::malformed("options.audience must be a string or a non-empty array of strings");
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::new();
            for v in items {
                out.push(String::from(v.as_str().ok_or(BAD)?));
            }
            Ok(out)
        }
        _ => Err(BAD),
    }
}

/// A token whose ES256 signature verified against the configured key and whose claims
/// passed the checks that were asked for.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    header_json: String,
    payload_json: String,
    payload: Object,
    exp_s: u64,
    nbf_s: Option<u64>,
    iat_s: Option<u64>,
}

impl VerifiedToken {
    /// `exp`, seconds since the epoch.
    pub fn exp_s(&self) -> u64 {
        self.exp_s
    }

    /// `iat`, if present.
    pub fn iat_s(&self) -> Option<u64> {
        self.iat_s
    }

    /// `nbf`, if present.
    pub fn nbf_s(&self) -> Option<u64> {
        self.nbf_s
    }

    /// The verified claims.
    pub fn claims(&self) -> &Object {
        &self.payload
    }

    /// The header's JSON text.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// The claims' JSON text.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// Checks `exp` and `nbf` against `now_s` with `leeway_s` tolerance:
    /// valid while `now − leeway < exp` and `nbf ≤ now + leeway`.
    pub fn check_time(&self, now_s: u64, leeway_s: u64) -> Result<()> {
        if self.exp_s.saturating_add(leeway_s) <= now_s {
            return Err(Error::new(ErrorCode::Expired, "token has expired (exp)"));
        }
        if self
            .nbf_s
            .is_some_and(|nbf| nbf > now_s.saturating_add(leeway_s))
        {
            return Err(Error::new(
                ErrorCode::NotYetValid,
                "token is not valid yet (nbf)",
            ));
        }
        Ok(())
    }
}

/// Verifies `token` against `keys` and checks its claims at `opts.now_s`.
///
/// Checks, in order: size and shape (`malformed`), `alg` exactly `ES256` (`unsupported_alg`),
/// no `crit`/`b64` and a sane `kid` (`malformed`), key selection (`no_matching_key`/`bad_key`),
/// a 64-byte r‖s signature that verifies (`bad_signature`; high-S is accepted), claim types
/// (`malformed`), `exp` present and `iss`/`aud` as asked (`claim_mismatch`), then time
/// (`expired`/`not_yet_valid`). Header `jwk`/`jku`/`x5u`/`x5c` are ignored and never fetched.
#[cfg(feature = "verifier")]
pub fn verify(token: &str, keys: &KeySet, opts: &VerifyOptions) -> Result<VerifiedToken> {
    let verified = verify_untimed(token, keys, &opts.checks, opts.max_token_bytes)?;
    verified.check_time(opts.now_s, opts.checks.leeway_s)?;
    Ok(verified)
}

/// The header rules of RFC 8725: `alg` exactly `ES256`; no `crit` (RFC 7515 §4.1.11: we
/// understand no extension) and no `b64` (RFC 7797 changes what is signed); a sane `kid`.
fn check_header(header: &Object) -> Result<()> {
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(Error::new(
            ErrorCode::UnsupportedAlg,
            "alg must be exactly \"ES256\"",
        ));
    }
    if header.get("crit").is_some() || header.get("b64").is_some() {
        return Err(Error::malformed(
            "crit and b64 header parameters are not supported",
        ));
    }
    let kid = header.get_str("kid", Error::malformed("kid must be a string"))?;
    if kid.is_some_and(|k| k.len() > MAX_KID_BYTES) {
        return Err(Error::malformed("kid is too long"));
    }
    Ok(())
}

/// The P-256 group order n, big-endian.
const GROUP_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

const BAD_SHAPE: Error = Error::new(
    ErrorCode::BadSignature,
    "signature must be 64 bytes r||s with r, s in [1, n)",
);

/// The shape of an ES256 signature, decided before any arithmetic: exactly 64 bytes `r‖s`
/// (RFC 7518 §3.4, not DER) with `r` and `s` in `[1, n)`. High-S is valid ECDSA and accepted.
pub fn check_signature_shape(signature: &[u8]) -> Result<()> {
    let in_range = |v: &[u8]| v.iter().any(|b| *b != 0) && v < GROUP_ORDER.as_slice();
    match signature.split_at_checked(32) {
        Some((r, s)) if s.len() == 32 && in_range(r) && in_range(s) => Ok(()),
        _ => Err(BAD_SHAPE),
    }
}

/// Checks an ES256 signature with p256: [`check_signature_shape`], then ECDSA over SHA-256
/// of `message`.
#[cfg(feature = "verifier")]
pub fn verify_signature(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<()> {
    check_signature_shape(signature)?;
    let signature = Signature::from_slice(signature).map_err(|_| BAD_SHAPE)?;
    key.verifying_key()
        .verify_prehash(&crate::sha256::sha256(message), &signature)
        .map_err(|_| Error::new(ErrorCode::BadSignature, "signature does not verify"))
}

/// The answer to a client core's signature request (`Effect::Verify`) by p256: `"valid"`,
/// `"invalid"` or `"bad_key"` (the JWK does not import). The shell's fallback where WebCrypto
/// is missing, and the native drivers' checker.
#[cfg(feature = "verifier")]
pub fn signature_verdict(jwk: &str, data: &str, sig: &str) -> &'static str {
    let Ok(key) = KeySet::from_json(jwk.as_bytes()).and_then(|k| k.select(None)) else {
        return "bad_key";
    };
    let ok = crate::base64url::decode(sig.as_bytes(), "")
        .and_then(|s| verify_signature(&key, data.as_bytes(), &s));
    if ok.is_ok() {
        "valid"
    } else {
        "invalid"
    }
}

/// Who checks the ECDSA arithmetic of a signature whose shape passed: p256
/// ([`verify_signature`]), or the client core's WebCrypto requests. Gets the key, the
/// signing input (`header.payload`), the 64 signature bytes and their base64url text.
pub type SignatureCheck<'a> = dyn FnMut(&PublicKey, &str, &[u8], &str) -> Result<()> + 'a;

/// [`verify`] without the `exp`/`nbf` time check, with p256 checking the signature.
#[cfg(feature = "verifier")]
pub fn verify_untimed(
    token: &str,
    keys: &KeySet,
    opts: &Checks,
    max_token_bytes: usize,
) -> Result<VerifiedToken> {
    verify_untimed_with(
        token,
        keys,
        opts,
        max_token_bytes,
        &mut |key, input, sig, _| verify_signature(key, input.as_bytes(), sig),
    )
}

/// [`verify`] without the `exp`/`nbf` time check, for the client core, which judges time
/// against its estimate of the server's clock; `check` does the signature arithmetic.
pub fn verify_untimed_with(
    token: &str,
    keys: &KeySet,
    opts: &Checks,
    max_token_bytes: usize,
    check: &mut SignatureCheck<'_>,
) -> Result<VerifiedToken> {
    let untrusted = UntrustedToken::parse_checking_header(token, max_token_bytes, check_header)?;
    let kid = untrusted.header().get("kid").and_then(Value::as_str);
    let key = keys.select(kid)?;
    check_signature_shape(untrusted.signature())?;
    check(
        &key,
        untrusted.signing_input_str(),
        untrusted.signature(),
        untrusted.signature_text(),
    )?;

    let claims = untrusted.payload();
    let date = |name: &str| -> Result<Option<u64>> {
        claims
            .get(name)
            .map(|v| {
                v.as_numeric_date().ok_or(Error::malformed(
                    "exp, nbf and iat must be non-negative numbers",
                ))
            })
            .transpose()
    };
    let exp_s = date("exp")?;
    let nbf_s = date("nbf")?;
    let iat_s = date("iat")?;
    let iss = claims.get_str("iss", Error::malformed("iss must be a string"))?;
    let aud = match claims.get("aud") {
        None => Vec::new(),
        Some(v) => read_audience(v).map_err(|_| {
            Error::malformed("aud must be a string or a non-empty array of strings")
        })?,
    };
    let exp_s = exp_s.ok_or(Error::new(
        ErrorCode::ClaimMismatch,
        "exp claim is required",
    ))?;
    if let Some(want) = &opts.issuer {
        if iss != Some(want.as_str()) {
            return Err(Error::new(
                ErrorCode::ClaimMismatch,
                "iss does not match the expected issuer",
            ));
        }
    }
    if !opts.audience.is_empty() && !aud.iter().any(|a| opts.audience.contains(a)) {
        return Err(Error::new(
            ErrorCode::ClaimMismatch,
            "aud does not contain the expected audience",
        ));
    }
    let (header_json, payload_json, payload) = untrusted.into_parts();
    Ok(VerifiedToken {
        header_json,
        payload_json,
        payload,
        exp_s,
        nbf_s,
        iat_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    #[test]
    fn rfc7515_a3_verifies_before_exp_and_expires_after() {
        let keys = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        let t = verify(A3, &keys, &VerifyOptions::at(1_300_819_000)).unwrap();
        assert_eq!(t.exp_s(), 1_300_819_380);
        assert_eq!(t.claims().get("iss").and_then(Value::as_str), Some("joe"));
        let e = verify(A3, &keys, &VerifyOptions::at(1_700_000_000)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Expired);
    }

    #[test]
    fn leeway_edges() {
        let keys = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        let exp = 1_300_819_380;
        // exp = now − leeway fails, one second later passes.
        assert_eq!(
            verify(A3, &keys, &VerifyOptions::at(exp + 30))
                .unwrap_err()
                .code(),
            ErrorCode::Expired
        );
        assert!(verify(A3, &keys, &VerifyOptions::at(exp + 29)).is_ok());
        let mut strict = VerifyOptions::at(exp);
        strict.checks.leeway_s = 0;
        assert_eq!(
            verify(A3, &keys, &strict).unwrap_err().code(),
            ErrorCode::Expired
        );
    }

    #[test]
    fn issuer_is_an_exact_match() {
        let keys = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        for (iss, ok) in [
            ("joe", true),
            ("jo", false),
            ("joe ", false),
            ("Joe", false),
        ] {
            let mut opts = VerifyOptions::at(1_300_819_000);
            opts.checks.issuer = Some(iss.into());
            assert_eq!(verify(A3, &keys, &opts).is_ok(), ok, "{iss}");
        }
        let mut opts = VerifyOptions::at(1_300_819_000);
        opts.checks.audience = vec!["x".into()];
        assert_eq!(
            verify(A3, &keys, &opts).unwrap_err().code(),
            ErrorCode::ClaimMismatch
        );
    }

    #[test]
    fn options_from_json() {
        let o = VerifyOptions::from_json(
            br#"{"issuer":"a","audience":["b","c"],"leeway":0,"now":5,"maxTokenBytes":100}"#,
            9,
        )
        .unwrap();
        assert_eq!(o.checks.issuer.as_deref(), Some("a"));
        assert_eq!(o.checks.audience, ["b", "c"]);
        assert_eq!((o.checks.leeway_s, o.now_s, o.max_token_bytes), (0, 5, 100));
        assert_eq!(
            VerifyOptions::from_json(b"{\"issuer\":null}", 9).unwrap(),
            VerifyOptions::at(9)
        );
        for bad in [
            &br#"{"leeway":301}"#[..],
            br#"{"leeway":-1}"#,
            br#"{"audience":[]}"#,
            br#"{"audience":5}"#,
            br#"{"issuer":1}"#,
            br#"{"audiance":"x"}"#,
            br#"{"maxTokenBytes":0}"#,
            b"[]",
        ] {
            assert_eq!(
                VerifyOptions::from_json(bad, 9).unwrap_err().code(),
                ErrorCode::Malformed
            );
        }
    }
}
