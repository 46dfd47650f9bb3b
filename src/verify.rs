//! Algorithm policy, signature checks (ES256, RS256, PS256) and claim checks: the only way an
//! [`UntrustedToken`] becomes a [`VerifiedToken`].

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "verifier")]
use p256::ecdsa::signature::hazmat::PrehashVerifier;
#[cfg(feature = "verifier")]
use p256::ecdsa::Signature;

use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, Object, Value};
use crate::key::{Alg, KeySet, PublicKey};
use crate::token::{UntrustedToken, DEFAULT_MAX_TOKEN_BYTES, MAX_TOKEN_BYTES_LIMIT};

/// Default clock tolerance for `exp` and `nbf`, in seconds: covers ordinary client clock drift.
pub const DEFAULT_LEEWAY_S: u64 = 30;

/// Largest leeway accepted, in seconds: more would keep a stolen, expired token usable.
pub const MAX_LEEWAY_S: u64 = 300;

/// A `kid` longer than this is refused before any lookup; real ones are under 100 bytes.
pub const MAX_KID_BYTES: usize = 1024;

/// The header and claim checks of a verifier: `algorithms`, `typ`, `issuer`, `audience`,
/// `leeway`. The one type (and parser) behind `verifyJwt` options and `createAuthClient`
/// options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// The allow-list of header `alg` values (default all of [`Alg::ALL`]; never empty).
    pub algorithms: Vec<Alg>,
    /// Required header `typ`, if set (compared as a media type: see [`typ_matches`]).
    pub typ: Option<String>,
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
            algorithms: Alg::ALL.to_vec(),
            typ: None,
            issuer: None,
            audience: Vec::new(),
            leeway_s: DEFAULT_LEEWAY_S,
        }
    }
}

impl Checks {
    /// Reads the option `name` if it is one of the checks (`algorithms`, `typ`, `issuer`,
    /// `audience`, `leeway`): `Ok(true)` when it was, `Ok(false)` for another name,
    /// `malformed` for a wrong value (`algorithms` must be a non-empty array of `"ES256"`,
    /// `"RS256"`, `"PS256"`; `typ` a non-empty string).
    pub fn read(&mut self, name: &str, value: &Value) -> Result<bool> {
        match name {
            "algorithms" => {
                const BAD: Error = Error::malformed(
                    "options.algorithms must be a non-empty array of \"ES256\", \"RS256\", \"PS256\"",
                );
                let Value::Array(names) = value else {
                    return Err(BAD);
                };
                let mut algorithms = Vec::new();
                for name in names {
                    algorithms.push(name.as_str().and_then(Alg::from_name).ok_or(BAD)?);
                }
                if algorithms.is_empty() {
                    return Err(BAD);
                }
                self.algorithms = algorithms;
            }
            "typ" => {
                let typ = value
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or(Error::malformed("options.typ must be a non-empty string"))?;
                self.typ = Some(typ.into());
            }
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

    /// Reads the options object of `verifyJwt` (as JSON text): `algorithms`, `typ`, `issuer`,
    /// `audience`, `leeway`, `now`, `maxTokenBytes`; `null` means absent; `now_s` is used when `now` is absent.
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
                        "unknown option (expected algorithms, typ, issuer, audience, leeway, now, maxTokenBytes)",
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

/// A token whose signature verified against the configured key and whose claims
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
/// Checks, in order: size and shape (`malformed`), `alg` exactly one of
/// `opts.checks.algorithms` (`unsupported_alg`), no `crit`/`b64` and a sane `kid`
/// (`malformed`), key selection by `kid` and `alg` (`no_matching_key`/`bad_key`; a key of the
/// wrong type for `alg` is `no_matching_key`), the signature's shape and arithmetic
/// (`bad_signature`; ES256 high-S is accepted), claim types (`malformed`), `typ`, `exp`
/// present and `iss`/`aud` as asked (`claim_mismatch`), then time
/// (`expired`/`not_yet_valid`). Header `jwk`/`jku`/`x5u`/`x5c` are ignored and never fetched.
#[cfg(feature = "verifier")]
pub fn verify(token: &str, keys: &KeySet, opts: &VerifyOptions) -> Result<VerifiedToken> {
    let verified = verify_untimed(token, keys, &opts.checks, opts.max_token_bytes)?;
    verified.check_time(opts.now_s, opts.checks.leeway_s)?;
    Ok(verified)
}

/// The header rules of RFC 8725: `alg` exactly one of `allowed` (case-sensitive; so never
/// `none` or HS*); no `crit` (RFC 7515 §4.1.11: we understand no extension) and no `b64`
/// (RFC 7797 changes what is signed); a sane `kid`. Gives the algorithm.
fn check_header(header: &Object, allowed: &[Alg]) -> Result<Alg> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::from_name)
        .filter(|a| allowed.contains(a))
        .ok_or(Error::new(
            ErrorCode::UnsupportedAlg,
            "alg must be exactly one of the allowed algorithms (ES256, RS256, PS256)",
        ))?;
    if header.get("crit").is_some() || header.get("b64").is_some() {
        return Err(Error::malformed(
            "crit and b64 header parameters are not supported",
        ));
    }
    let kid = header.get_str("kid", Error::malformed("kid must be a string"))?;
    if kid.is_some_and(|k| k.len() > MAX_KID_BYTES) {
        return Err(Error::malformed("kid is too long"));
    }
    Ok(alg)
}

/// The `application/` prefix RFC 7515 §4.1.9 lets a `typ` omit.
const MEDIA_TYPE_PREFIX: &str = "application/";

/// Whether header `typ` names the media type `want`: case-insensitively (media types are,
/// RFC 2045 §5.1) and with `application/` optional when no other `/` follows (RFC 7515
/// §4.1.9), so `at+jwt` equals `application/at+jwt` (RFC 9068 §2.1, RFC 8725 §3.11).
pub fn typ_matches(typ: &str, want: &str) -> bool {
    fn short(t: &str) -> &str {
        match (
            t.get(..MEDIA_TYPE_PREFIX.len()),
            t.get(MEDIA_TYPE_PREFIX.len()..),
        ) {
            (Some(p), Some(rest))
                if p.eq_ignore_ascii_case(MEDIA_TYPE_PREFIX)
                    && !rest.bytes().any(|b| b == b'/') =>
            {
                rest
            }
            _ => t,
        }
    }
    short(typ).eq_ignore_ascii_case(short(want))
}

/// The P-256 group order n, big-endian.
const GROUP_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

const BAD_ES256_SHAPE: Error = Error::new(
    ErrorCode::BadSignature,
    "signature must be 64 bytes r||s with r, s in [1, n)",
);

const BAD_RSA_SHAPE: Error = Error::new(
    ErrorCode::BadSignature,
    "RSA signature must be exactly the modulus length and below the modulus",
);

#[cfg(any(feature = "verifier", feature = "rsa-verifier"))]
const DOES_NOT_VERIFY: Error = Error::new(ErrorCode::BadSignature, "signature does not verify");

/// The arithmetic of this algorithm is in the other verifier module (ES256: p256's, RS256 and
/// PS256: rsa's); the caller routes it there.
pub const NOT_IN_THIS_MODULE: Error =
    Error::new(ErrorCode::Internal, "in the other verifier module");

/// The shape of a signature, decided before any arithmetic. ES256: exactly 64 bytes `r‖s`
/// (RFC 7518 §3.4, not DER) with `r` and `s` in `[1, n)`; high-S is valid ECDSA and accepted.
/// RS256/PS256: exactly the modulus length in bytes (RFC 8017 §8.2.2 step 1) and, as an
/// integer, below the modulus (step 2a). A key of the wrong type for `alg` is `bad_signature`
/// too (selection refuses it first).
pub fn check_signature_shape(key: &PublicKey, alg: Alg, signature: &[u8]) -> Result<()> {
    match key {
        PublicKey::Ec(_) if alg == Alg::Es256 => {
            let in_range = |v: &[u8]| v.iter().any(|b| *b != 0) && v < GROUP_ORDER.as_slice();
            match signature.split_at_checked(32) {
                Some((r, s)) if s.len() == 32 && in_range(r) && in_range(s) => Ok(()),
                _ => Err(BAD_ES256_SHAPE),
            }
        }
        // Equal lengths: the byte order is the integer order.
        PublicKey::Rsa(k) if alg.is_rsa() && signature.len() == k.size() && signature < k.n() => {
            Ok(())
        }
        PublicKey::Rsa(_) => Err(BAD_RSA_SHAPE),
        PublicKey::Ec(_) => Err(BAD_ES256_SHAPE),
    }
}

/// Checks a signature of `alg` over `message`: [`check_signature_shape`], then ECDSA P-256
/// over SHA-256 (p256, feature `verifier`), RSASSA-PKCS1-v1_5 with SHA-256, or RSASSA-PSS
/// with SHA-256, MGF1-SHA-256 and exactly a 32-byte salt (RFC 7518 §3.5) (the `rsa` crate,
/// feature `rsa-verifier`). An algorithm whose feature is off is [`NOT_IN_THIS_MODULE`].
#[cfg(any(feature = "verifier", feature = "rsa-verifier"))]
pub fn verify_signature(key: &PublicKey, alg: Alg, message: &[u8], signature: &[u8]) -> Result<()> {
    check_signature_shape(key, alg, signature)?;
    let ok = match (key, alg) {
        #[cfg(feature = "verifier")]
        (PublicKey::Ec(k), Alg::Es256) => {
            let signature = Signature::from_slice(signature).map_err(|_| BAD_ES256_SHAPE)?;
            k.verifying_key()
                .verify_prehash(&digest(message), &signature)
                .is_ok()
        }
        #[cfg(feature = "rsa-verifier")]
        (PublicKey::Rsa(k), Alg::Rs256) => k
            .verifying_key()
            .pkcs1v15_verify_prehash::<::rsa::sha2::Sha256>(&digest(message), signature)
            .is_ok(),
        // `pss_verify_prehash` requires a salt of the digest's length: 32 bytes.
        #[cfg(feature = "rsa-verifier")]
        (PublicKey::Rsa(k), Alg::Ps256) => k
            .verifying_key()
            .pss_verify_prehash::<::rsa::sha2::Sha256>(&digest(message), signature)
            .is_ok(),
        #[cfg(not(feature = "verifier"))]
        (PublicKey::Ec(_), _) => return Err(NOT_IN_THIS_MODULE),
        #[cfg(not(feature = "rsa-verifier"))]
        (PublicKey::Rsa(_), _) => return Err(NOT_IN_THIS_MODULE),
        #[allow(unreachable_patterns)]
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(DOES_NOT_VERIFY)
    }
}

/// SHA-256 of the signing input, by `sha2` where the `rsa` crate links it anyway (PSS's MGF1),
/// else by the crate's own.
#[cfg(feature = "rsa-verifier")]
fn digest(message: &[u8]) -> [u8; 32] {
    use ::rsa::sha2::{Digest, Sha256};
    Sha256::digest(message).into()
}

#[cfg(all(feature = "verifier", not(feature = "rsa-verifier")))]
fn digest(message: &[u8]) -> [u8; 32] {
    crate::sha256::sha256(message)
}

/// The answer to a client core's signature request (`Effect::Verify`) by p256 and `rsa`:
/// `"valid"`, `"invalid"` or `"bad_key"` (the JWK does not import, or does not serve `alg`);
/// `"unavailable"` for an algorithm whose arithmetic is not in this module. An `alg` that is
/// not ES256, RS256 or PS256 is `"invalid"`. The shell's fallback where WebCrypto is missing,
/// and the native drivers' checker.
#[cfg(any(feature = "verifier", feature = "rsa-verifier"))]
pub fn signature_verdict(alg: &str, jwk: &str, data: &str, sig: &str) -> &'static str {
    let Some(alg) = Alg::from_name(alg) else {
        return "invalid";
    };
    let Ok(key) = KeySet::from_json(jwk.as_bytes()).and_then(|k| k.select(None, alg)) else {
        return "bad_key";
    };
    let ok = crate::base64url::decode(sig.as_bytes(), "")
        .and_then(|s| verify_signature(&key, alg, data.as_bytes(), &s));
    match ok {
        Ok(()) => "valid",
        Err(e) if e == NOT_IN_THIS_MODULE => "unavailable",
        Err(_) => "invalid",
    }
}

/// Who checks the arithmetic of a signature whose shape passed: p256 and `rsa`
/// ([`verify_signature`]), or the client core's WebCrypto requests. Gets the key, the
/// algorithm, the signing input (`header.payload`), the signature bytes and their base64url
/// text.
pub type SignatureCheck<'a> = dyn FnMut(&PublicKey, Alg, &str, &[u8], &str) -> Result<()> + 'a;

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
        &mut |key, alg, input, sig, _| verify_signature(key, alg, input.as_bytes(), sig),
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
    let mut alg = Alg::Es256;
    let untrusted = UntrustedToken::parse_checking_header(token, max_token_bytes, |header| {
        alg = check_header(header, &opts.algorithms)?;
        Ok(())
    })?;
    let kid = untrusted.header().get("kid").and_then(Value::as_str);
    let key = keys.select(kid, alg)?;
    check_signature_shape(&key, alg, untrusted.signature())?;
    check(
        &key,
        alg,
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
    if let Some(want) = &opts.typ {
        let typ = untrusted.header().get("typ").and_then(Value::as_str);
        if !typ.is_some_and(|t| typ_matches(t, want)) {
            return Err(Error::new(
                ErrorCode::ClaimMismatch,
                "typ header does not match the expected typ",
            ));
        }
    }
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

    use crate::base64url;
    use crate::test_rsa::*;

    const RSA_NOW: u64 = 1_900_000_000;

    fn rsa_keys() -> KeySet {
        KeySet::from_json(RSA2048_JWK.as_bytes()).unwrap()
    }

    fn code_of(token: &str, keys: &KeySet, opts: &VerifyOptions) -> ErrorCode {
        verify(token, keys, opts).unwrap_err().code()
    }

    /// `token` with its header replaced by `header` (JSON text): the signature no longer fits.
    fn with_header(token: &str, header: &str) -> String {
        let rest = token.split_once('.').unwrap().1;
        format!("{}.{rest}", base64url::encode(header.as_bytes()))
    }

    fn with_signature(token: &str, sig: &[u8]) -> String {
        let (input, _) = token.rsplit_once('.').unwrap();
        format!("{input}.{}", base64url::encode(sig))
    }

    fn sig_of(token: &str) -> Vec<u8> {
        base64url::decode(token.rsplit_once('.').unwrap().1.as_bytes(), "").unwrap()
    }

    #[test]
    fn rs256_and_ps256_verify_with_jwk_and_pem() {
        let opts = VerifyOptions::at(RSA_NOW);
        for keys in [rsa_keys(), KeySet::from_pem(RSA2048_PEM).unwrap()] {
            for token in [RS256_TOKEN, PS256_TOKEN] {
                let t = verify(token, &keys, &opts).unwrap();
                assert_eq!(t.claims().get("iss").and_then(Value::as_str), Some("joe"));
            }
        }
        // Against the EC key, or an RSA JWK bound to the other RSA algorithm: no key fits.
        let ec = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        assert_eq!(code_of(RS256_TOKEN, &ec, &opts), ErrorCode::NoMatchingKey);
        assert_eq!(code_of(PS256_TOKEN, &ec, &opts), ErrorCode::NoMatchingKey);
        assert_eq!(
            code_of(A3, &rsa_keys(), &VerifyOptions::at(1_300_819_000)),
            ErrorCode::NoMatchingKey
        );
        let bound = |alg: &str| {
            KeySet::from_json(
                RSA2048_JWK
                    .replacen('{', &format!(r#"{{"alg":"{alg}","#), 1)
                    .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            code_of(PS256_TOKEN, &bound("RS256"), &opts),
            ErrorCode::NoMatchingKey
        );
        assert_eq!(
            code_of(RS256_TOKEN, &bound("PS256"), &opts),
            ErrorCode::NoMatchingKey
        );
        assert!(verify(PS256_TOKEN, &bound("PS256"), &opts).is_ok());
    }

    #[test]
    fn rsa_signatures_of_the_wrong_shape_or_scheme_fail() {
        let keys = rsa_keys();
        let opts = VerifyOptions::at(RSA_NOW);
        let sig = sig_of(RS256_TOKEN);
        assert_eq!(sig.len(), 256);
        let n = match keys.select(None, Alg::Rs256).unwrap() {
            PublicKey::Rsa(k) => k.n().to_vec(),
            PublicKey::Ec(_) => unreachable!(),
        };
        let mut flipped = sig.clone();
        flipped[100] ^= 1;
        for bad in [
            sig[..255].to_vec(),
            [&sig[..], &[0]].concat(),
            [&[0][..], &sig[..]].concat(),
            Vec::new(),
            sig[..64].to_vec(),
            n.clone(),
            vec![0xff; 256],
            flipped,
        ] {
            assert_eq!(
                code_of(&with_signature(RS256_TOKEN, &bad), &keys, &opts),
                ErrorCode::BadSignature,
                "{} bytes",
                bad.len()
            );
        }
        // Each scheme's signature checked as the other scheme's.
        let key = keys.select(None, Alg::Rs256).unwrap();
        for (token, as_alg) in [(PS256_TOKEN, Alg::Rs256), (RS256_TOKEN, Alg::Ps256)] {
            let (input, _) = token.rsplit_once('.').unwrap();
            assert_eq!(
                verify_signature(&key, as_alg, input.as_bytes(), &sig_of(token))
                    .unwrap_err()
                    .code(),
                ErrorCode::BadSignature
            );
        }
        // A signature over a header that says RS256 while the token says PS256.
        let swapped = with_header(PS256_TOKEN, r#"{"alg":"RS256","kid":"r1"}"#);
        assert_eq!(code_of(&swapped, &keys, &opts), ErrorCode::BadSignature);
    }

    #[test]
    fn algorithm_policy() {
        let opts = VerifyOptions::at(RSA_NOW);
        for alg in [
            r#""none""#,
            r#""None""#,
            r#""NONE""#,
            r#""HS256""#,
            r#""ES384""#,
            r#""RS384""#,
            r#""PS512""#,
            r#""RS256 ""#,
            r#""rs256""#,
            "null",
            r#"["RS256"]"#,
        ] {
            let token = with_header(RS256_TOKEN, &format!(r#"{{"alg":{alg},"kid":"r1"}}"#));
            assert_eq!(
                code_of(&token, &rsa_keys(), &opts),
                ErrorCode::UnsupportedAlg,
                "{alg}"
            );
        }
        let only = |names: &str| {
            VerifyOptions::from_json(
                format!(r#"{{"algorithms":{names},"now":{RSA_NOW}}}"#).as_bytes(),
                0,
            )
            .unwrap()
        };
        assert_eq!(
            code_of(RS256_TOKEN, &rsa_keys(), &only(r#"["ES256"]"#)),
            ErrorCode::UnsupportedAlg
        );
        assert_eq!(
            code_of(RS256_TOKEN, &rsa_keys(), &only(r#"["PS256"]"#)),
            ErrorCode::UnsupportedAlg
        );
        assert!(verify(PS256_TOKEN, &rsa_keys(), &only(r#"["PS256"]"#)).is_ok());
        assert!(verify(RS256_TOKEN, &rsa_keys(), &only(r#"["ES256","RS256"]"#)).is_ok());
        let ec = KeySet::from_json(A3_JWK.as_bytes()).unwrap();
        let mut a3_opts = VerifyOptions::at(1_300_819_000);
        a3_opts.checks.algorithms = vec![Alg::Rs256, Alg::Ps256];
        assert_eq!(code_of(A3, &ec, &a3_opts), ErrorCode::UnsupportedAlg);
        for bad in [
            r#"{"algorithms":[]}"#,
            r#"{"algorithms":"RS256"}"#,
            r#"{"algorithms":["RS256","HS256"]}"#,
            r#"{"algorithms":["rs256"]}"#,
            r#"{"algorithms":["none"]}"#,
            r#"{"algorithms":[1]}"#,
            r#"{"typ":""}"#,
            r#"{"typ":5}"#,
        ] {
            assert_eq!(
                VerifyOptions::from_json(bad.as_bytes(), 0)
                    .unwrap_err()
                    .code(),
                ErrorCode::Malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn typ_is_checked_only_when_asked() {
        let keys = rsa_keys();
        let with_typ = |typ: &str| {
            let mut o = VerifyOptions::at(RSA_NOW);
            o.checks.typ = Some(typ.into());
            o
        };
        // RS256_AT_TOKEN says "application/at+JWT"; RS256_TOKEN has no typ.
        assert!(verify(RS256_AT_TOKEN, &keys, &VerifyOptions::at(RSA_NOW)).is_ok());
        for want in [
            "at+jwt",
            "application/at+jwt",
            "AT+JWT",
            "Application/At+Jwt",
        ] {
            assert!(
                verify(RS256_AT_TOKEN, &keys, &with_typ(want)).is_ok(),
                "{want}"
            );
        }
        for want in [
            "jwt",
            "application/jwt",
            "at+jwt ",
            "text/at+jwt",
            "application/application/at+jwt",
        ] {
            assert_eq!(
                code_of(RS256_AT_TOKEN, &keys, &with_typ(want)),
                ErrorCode::ClaimMismatch,
                "{want}"
            );
        }
        assert_eq!(
            code_of(RS256_TOKEN, &keys, &with_typ("JWT")),
            ErrorCode::ClaimMismatch
        );
        assert!(typ_matches("JWT", "application/jwt"));
        assert!(!typ_matches("application/a/b", "a/b"));
        assert!(typ_matches("application/a/b", "APPLICATION/A/B"));
        // Not ASCII, and a cut inside a character: compared, never a panic.
        assert!(typ_matches("é", "application/é"));
        assert!(typ_matches("xéééééé", "XÉÉÉÉÉÉ") == "xéééééé".eq_ignore_ascii_case("XÉÉÉÉÉÉ"));
    }
}
