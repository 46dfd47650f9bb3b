//! The only `#[wasm_bindgen]` exports. The verifier's take `JsValue` everywhere so that a wrong
//! JS type becomes a typed `AuthError`, never a wasm-bindgen exception or a trap; its errors
//! cross as `Error` objects with a `code` property, turned into `AuthError` in JS. The client
//! core's take and give strings only (the shell passes JSON text). Results cross as JSON text
//! which the JS side hands to `JSON.parse`; this keeps serde out of the wasm.

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "verifier")]
use js_sys::{JsString, JSON};
use wasm_bindgen::prelude::*;
#[cfg(feature = "verifier")]
use wasm_bindgen::JsCast;

#[cfg(any(feature = "verifier", feature = "client"))]
use crate::error::Error;
#[cfg(any(feature = "verifier", feature = "client"))]
use crate::key::KeySet;
#[cfg(feature = "verifier")]
use crate::key::MAX_KEY_BYTES;
#[cfg(feature = "verifier")]
use crate::token::UntrustedToken;
#[cfg(feature = "verifier")]
use crate::token::DEFAULT_MAX_TOKEN_BYTES;
#[cfg(any(feature = "verifier", feature = "client"))]
use crate::verify::VerifyOptions;

#[cfg(feature = "verifier")]
type JsResult<T> = Result<T, JsValue>;

#[cfg(feature = "client")]
use crate::client::remote::{is_http_url, Fetched, KeySource, Metadata, Remote};
#[cfg(feature = "client")]
use crate::client::signatures::PENDING;
#[cfg(feature = "client")]
use crate::client::Core;
#[cfg(feature = "client")]
use crate::error::ErrorCode;
#[cfg(feature = "client")]
use crate::session::Now;
#[cfg(feature = "client")]
use alloc::rc::Rc;

#[cfg(feature = "verifier")]
/// A JS `Error` with the stable `code`, which the JS layer turns into an `AuthError`.
pub(crate) fn to_js(e: Error) -> JsValue {
    let err = js_sys::Error::new(e.message());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(
        &err,
        &JsValue::from_str("code"),
        &JsValue::from_str(e.code().as_str()),
    );
    err.into()
}

#[cfg(feature = "verifier")]
/// Copies a JS string into wasm only if it is a string no longer than `max` UTF-16 units,
/// so a 64 MiB string is refused before it costs 64 MiB of wasm memory.
fn bounded_string(
    value: &JsValue,
    max: usize,
    not_string: Error,
    too_long: Error,
) -> Result<String, Error> {
    let s = value.dyn_ref::<JsString>().ok_or(not_string)?;
    if usize::try_from(s.length()).map_or(true, |len| len > max) {
        return Err(too_long);
    }
    value.as_string().ok_or(not_string)
}

#[cfg(feature = "verifier")]
fn now_s() -> u64 {
    // Date.now() is a non-negative integer number of milliseconds; the cast saturates.
    (js_sys::Date::now() / 1000.0) as u64
}

#[cfg(feature = "verifier")]
/// Parses a key given as a PEM string, or as a JWK / JWKS object (read through JSON.stringify).
pub(crate) fn key_from_js(key: &JsValue) -> Result<KeySet, Error> {
    const NOT_KEY: Error =
        Error::bad_key("key must be a JWK object, a JWKS object or an SPKI PEM string");
    const TOO_BIG: Error = Error::bad_key("key is too large");
    if key.is_string() {
        return KeySet::from_pem(&bounded_string(key, MAX_KEY_BYTES, NOT_KEY, TOO_BIG)?);
    }
    if !key.is_object() || key.is_function() {
        return Err(NOT_KEY);
    }
    let text = JSON::stringify(key).map_err(|_| NOT_KEY)?;
    let text = bounded_string(&text.into(), MAX_KEY_BYTES, NOT_KEY, TOO_BIG)?;
    KeySet::from_json(text.as_bytes())
}

#[cfg(feature = "verifier")]
/// Reads `verifyJwt` options (undefined/null = defaults) through JSON.stringify.
fn options_from_js(options: &JsValue) -> Result<VerifyOptions, Error> {
    const NOT_OPTIONS: Error = Error::malformed("options must be an object");
    if options.is_undefined() || options.is_null() {
        return Ok(VerifyOptions::at(now_s()));
    }
    if !options.is_object() || options.is_function() {
        return Err(NOT_OPTIONS);
    }
    let text = JSON::stringify(options).map_err(|_| NOT_OPTIONS)?;
    let text = bounded_string(&text.into(), MAX_KEY_BYTES, NOT_OPTIONS, NOT_OPTIONS)?;
    VerifyOptions::from_json(text.as_bytes(), now_s())
}

#[cfg(feature = "verifier")]
fn token_from_js(token: &JsValue, max_bytes: usize) -> Result<String, Error> {
    bounded_string(
        token,
        max_bytes,
        Error::malformed("token must be a string"),
        Error::malformed("token is longer than maxTokenBytes"),
    )
}

#[cfg(feature = "verifier")]
/// `decodeJwt(token)`: `{"header":…,"payload":…}` as JSON text. No signature or claim check.
#[wasm_bindgen(js_name = decodeJwt, skip_typescript)]
pub fn decode_jwt(token: JsValue) -> JsResult<String> {
    let run = || -> Result<String, Error> {
        let token = token_from_js(&token, DEFAULT_MAX_TOKEN_BYTES)?;
        let t = UntrustedToken::parse(&token, DEFAULT_MAX_TOKEN_BYTES)?;
        Ok(crate::json::Obj::new()
            .raw("header", t.header_json())
            .raw("payload", t.payload_json())
            .finish())
    };
    run().map_err(to_js)
}

#[cfg(feature = "verifier")]
/// `verifyJwt(token, key, options)`: `{"verify":…|null,"payload":…|null,"error":…|null}` as
/// `checkJwt` answers. ES256 is checked here whole; an RS256/PS256 signature whose arithmetic
/// is in the RSA module (built without `rsa-verifier`) comes back as `verify`
/// (`{alg,jwk,data,sig}`) for the caller to check there first: an `error` counts only once it
/// verified.
#[wasm_bindgen(js_name = verifyJwt, skip_typescript)]
pub fn verify_jwt(token: JsValue, key: JsValue, options: JsValue) -> String {
    let mut job = None;
    let mut run = || -> Result<String, Error> {
        let opts = options_from_js(&options)?;
        let keys = key_from_js(&key)?;
        let token = token_from_js(&token, opts.max_token_bytes)?;
        let v = crate::verify::verify_untimed_with(
            &token,
            &keys,
            &opts.checks,
            opts.max_token_bytes,
            &mut |k, alg, data, sig, sig_text| match crate::verify::verify_signature(
                k,
                alg,
                data.as_bytes(),
                sig,
            ) {
                Err(e) if e == crate::verify::NOT_IN_THIS_MODULE => {
                    job = Some(signature_job(k, alg, data, sig_text));
                    Ok(())
                }
                r => r,
            },
        )?;
        v.check_time(opts.now_s, opts.checks.leeway_s)?;
        Ok(v.payload_json().into())
    };
    let result = run();
    check_json(job.as_deref(), result)
}

/// A signature question as JSON: `{alg,jwk,data,sig}`.
#[cfg(any(feature = "verifier", feature = "client"))]
fn signature_job(k: &crate::key::PublicKey, alg: crate::key::Alg, data: &str, sig: &str) -> String {
    crate::json::Obj::new()
        .str("alg", alg.name())
        .str("jwk", &k.jwk_json())
        .str("data", data)
        .str("sig", sig)
        .finish()
}

/// `signatureVerdict(alg, jwk, data, sig)`: the answer to a client core's `verify` effect
/// where WebCrypto is missing (`"valid"`, `"invalid"`, `"bad_key"`; `"unavailable"` for an
/// algorithm whose arithmetic is in the other module).
#[cfg(any(feature = "verifier", feature = "rsa-verifier"))]
#[wasm_bindgen(js_name = signatureVerdict, skip_typescript)]
pub fn signature_verdict(alg: JsValue, jwk: JsValue, data: JsValue, sig: JsValue) -> String {
    let text = |v: &JsValue| v.as_string().unwrap_or_default();
    crate::verify::signature_verdict(&text(&alg), &text(&jwk), &text(&data), &text(&sig)).into()
}

/// `checkJwt(token, tokenIsString, key, keyKind, options, now)`: `verifyJwt`'s checks with the
/// signature's arithmetic left to the caller (`verifyJwtAsync`), strings in and out like the
/// client core: `key` as [`WasmCore::new`] takes it, `options` the JSON text of the options
/// object (empty: none; anything else not an object is refused), `now` in seconds. Answers
/// `{"verify":{alg,jwk,data,sig}|null,"payload":text|null,"error":{code,message}|null}`; with
/// `verify`, the signature decides first: an `error` counts only once it verified.
#[cfg(feature = "client")]
#[wasm_bindgen(js_name = checkJwt, skip_typescript)]
pub fn check_jwt(
    token: String,
    token_is_string: bool,
    key: String,
    key_kind: u32,
    options: String,
    now_s: f64,
) -> String {
    let (job, result) = check_with(&token, token_is_string, &options, now_s, |_| {
        keys_of(&key, key_kind).map(Rc::new)
    });
    check_json(job.as_deref(), result)
}

/// `checkJwt`'s checks with the key set `keys` gives (it sees the options first); the
/// signature question for the caller, if the checks reached it, and the outcome.
#[cfg(feature = "client")]
fn check_with(
    token: &str,
    token_is_string: bool,
    options: &str,
    now_s: f64,
    keys: impl FnOnce(&VerifyOptions) -> Result<Rc<KeySet>, Error>,
) -> (Option<String>, Result<String, Error>) {
    let mut job = None;
    let result = (|| -> Result<String, Error> {
        // A float clock saturates into the integer range.
        let now_s = now_s as u64;
        let opts = if options.is_empty() {
            VerifyOptions::at(now_s)
        } else if options.len() > crate::key::MAX_KEY_BYTES {
            return Err(Error::malformed("options must be an object"));
        } else {
            VerifyOptions::from_json(options.as_bytes(), now_s)?
        };
        let keys = keys(&opts)?;
        if !token_is_string {
            return Err(Error::malformed("token must be a string"));
        }
        if token.len() > opts.max_token_bytes {
            return Err(Error::malformed("token is longer than maxTokenBytes"));
        }
        let v = crate::verify::verify_untimed_with(
            token,
            &keys,
            &opts.checks,
            opts.max_token_bytes,
            &mut |k, alg, data, _, sig| {
                job = Some(signature_job(k, alg, data, sig));
                Ok(())
            },
        )?;
        v.check_time(opts.now_s, opts.checks.leeway_s)?;
        Ok(v.payload_json().into())
    })();
    (job, result)
}

/// `{"verify":…|null,"payload":…|null,"error":…|null}` as `checkJwt` answers.
#[cfg(any(feature = "verifier", feature = "client"))]
fn check_json(job: Option<&str>, result: Result<String, Error>) -> String {
    let o = crate::json::Obj::new();
    let o = match job {
        Some(j) => o.raw("verify", j),
        None => o.null("verify"),
    };
    match result {
        Ok(payload) => o.str("payload", &payload).null("error"),
        Err(e) => o.null("payload").raw("error", &error_json(&e)),
    }
    .finish()
}

/// The keys of one JWKS URL for `verifyJwtAsync`: read when first needed, re-read for an
/// unknown `kid` and when stale, by the client core's rules ([`crate::client::remote`]). The
/// shell performs the reads it asks for.
#[cfg(feature = "client")]
#[wasm_bindgen(js_name = WasmKeys, skip_typescript)]
pub struct WasmKeys {
    remote: Result<Remote, Error>,
    next_id: u64,
}

#[cfg(feature = "client")]
#[wasm_bindgen(js_class = WasmKeys)]
impl WasmKeys {
    /// The keys at `url` (an `https://` or `http://` URL, else every check is `bad_key`).
    #[wasm_bindgen(constructor)]
    pub fn new(url: String) -> WasmKeys {
        let remote = if is_http_url(&url) {
            Remote::new(KeySource::Url(url), Metadata::default(), None)
        } else {
            Err(Error::bad_key(
                "the key URL must be an https:// or http:// URL",
            ))
        };
        WasmKeys { remote, next_id: 0 }
    }

    /// `checkJwt` with this URL's keys at `mono_ms` (the shell's monotonic clock); or
    /// `{"fetch":url,"id":n}`: read the JWKS and report it with [`WasmKeys::answered`], then
    /// check again; or `{"wait":true}`: a read is out, check again once it ended.
    pub fn check(
        &mut self,
        token: String,
        token_is_string: bool,
        options: String,
        now_s: f64,
        mono_ms: f64,
    ) -> String {
        let mono = mono_ms as u64;
        let remote = match &mut self.remote {
            Ok(r) => r,
            Err(e) => return check_json(None, Err(*e)),
        };
        let mut pending = false;
        let (job, result) = check_with(&token, token_is_string, &options, now_s, |_| {
            remote.keys(mono).inspect_err(|e| pending = *e == PENDING)
        });
        let result = match result {
            Err(e) if e.code() == ErrorCode::NoMatchingKey && !pending => {
                match remote.unknown_kid(mono) {
                    Err(p) if p == PENDING => {
                        pending = true;
                        Err(e)
                    }
                    Err(net) => Err(net),
                    Ok(()) => Err(e),
                }
            }
            r => r,
        };
        if !pending {
            return check_json(job.as_deref(), result);
        }
        match remote.take_wanted() {
            Some((kind, url)) => {
                self.next_id += 1;
                remote.sent(self.next_id, kind, mono);
                crate::json::Obj::new()
                    .str("fetch", &url)
                    .num("id", self.next_id)
                    .finish()
            }
            None => String::from(r#"{"wait":true}"#),
        }
    }

    /// How read `id` ended: `status` 0 for no answer (`timeout` when the shell's timer
    /// aborted it).
    pub fn answered(&mut self, id: f64, status: u32, body: String, timeout: bool, mono_ms: f64) {
        let Ok(remote) = &mut self.remote else { return };
        let fetched = match u16::try_from(status) {
            Ok(status) if status > 0 => Fetched::Answer { status, body },
            _ => Fetched::Failed { timeout },
        };
        remote.answered(id as u64, fetched, mono_ms as u64);
    }
}

#[cfg(any(feature = "verifier", feature = "client"))]
fn error_json(e: &Error) -> String {
    crate::json::Obj::new()
        .str("code", e.code().as_str())
        .str("message", e.message())
        .finish()
}

/// The key as the shell passes it: [`KEY_PEM`] text, [`KEY_JSON`] text, or any other kind
/// (not a key).
#[cfg(feature = "client")]
fn keys_of(key: &str, kind: u32) -> Result<KeySet, Error> {
    match kind {
        KEY_PEM => KeySet::from_pem(key),
        KEY_JSON => KeySet::from_json(key.as_bytes()),
        _ => Err(Error::bad_key(
            "key must be a JWK object, a JWKS object or an SPKI PEM string",
        )),
    }
}

/// The client core behind the JS `AuthClient` (the shell in `client.js` performs its effects).
/// Strings in, strings out: no JS value is inspected here, so none of `js-sys` is linked into
/// the start-up wasm.
#[cfg(feature = "client")]
#[wasm_bindgen(js_name = WasmCore, skip_typescript)]
pub struct WasmCore {
    core: Result<Core, Error>,
}

/// How the shell passes the `publicKey` option: the PEM string, the JWK/JWKS object as JSON
/// text, or neither (any other JS value).
#[cfg(feature = "client")]
const KEY_PEM: u32 = 0;
#[cfg(feature = "client")]
const KEY_JSON: u32 = 1;

#[cfg(feature = "client")]
#[wasm_bindgen(js_class = WasmCore)]
impl WasmCore {
    /// `options`: JSON text of the `createAuthClient` options without `publicKey`; `key`: the
    /// key as `key_kind` says (the shell cuts it after `MAX_KEY_BYTES + 1` units); `seed` for
    /// the retry jitter. A failure is reported by [`WasmCore::setup`].
    #[wasm_bindgen(constructor)]
    pub fn new(options: String, key: String, key_kind: u32, seed: f64) -> WasmCore {
        let run = || -> Result<Core, Error> {
            if options.len() > crate::key::MAX_KEY_BYTES {
                return Err(Error::malformed("options are too large"));
            }
            let source = match key_kind {
                KEY_PEM => KeySource::from_text(&key)?,
                KEY_JSON => KeySource::Given(KeySet::from_json(key.as_bytes())?),
                _ => KeySource::Absent,
            };
            // A float seed saturates into the integer range; any value will do.
            Core::with_source(options.as_bytes(), source, seed as u64)
        };
        WasmCore { core: run() }
    }

    /// Which storage and channel the shell opens (JSON), or `{"error":{code,message}}` when
    /// the options or the key were refused.
    pub fn setup(&self) -> String {
        match &self.core {
            Ok(core) => core.setup_json(),
            Err(e) => crate::json::Obj::new()
                .raw("error", &error_json(e))
                .finish(),
        }
    }

    /// One input (JSON text) at `Date.now()` / `performance.now()`: the effects (JSON array).
    pub fn handle(&mut self, wall_ms: f64, monotonic_ms: f64, input: String) -> String {
        let Ok(core) = &mut self.core else {
            return String::from("[]");
        };
        // Clock readings are non-negative ms; casts saturate.
        let now = Now {
            wall_ms: wall_ms as u64,
            monotonic_ms: (monotonic_ms.is_finite() && monotonic_ms >= 0.0)
                .then_some(monotonic_ms as u64),
        };
        core.handle_json(now, &input)
    }
}
