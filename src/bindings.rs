//! The only `#[wasm_bindgen]` exports. They take `JsValue` everywhere so that a wrong JS type
//! becomes a typed `AuthError`, never a wasm-bindgen exception or a trap. Results cross as
//! JSON text which the JS entry hands to `JSON.parse`; this keeps serde out of the wasm.
//! Errors cross as `Error` objects with a `code` property, turned into `AuthError` in JS.

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "client")]
use js_sys::{Function, Promise};
use js_sys::{JsString, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::Error;
use crate::key::{KeySet, MAX_KEY_BYTES};
use crate::token::{UntrustedToken, DEFAULT_MAX_TOKEN_BYTES};
use crate::verify::{verify, VerifyOptions};

type JsResult<T> = Result<T, JsValue>;

#[cfg(feature = "client")]
use crate::browser::Driver;
#[cfg(feature = "client")]
use crate::options::ClientOptions;
#[cfg(feature = "client")]
use crate::session::Input;

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

fn now_s() -> u64 {
    // Date.now() is a non-negative integer number of milliseconds; the cast saturates.
    (js_sys::Date::now() / 1000.0) as u64
}

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

fn token_from_js(token: &JsValue, max_bytes: usize) -> Result<String, Error> {
    bounded_string(
        token,
        max_bytes,
        Error::malformed("token must be a string"),
        Error::malformed("token is longer than maxTokenBytes"),
    )
}

/// `decodeJwt(token)`: `{"header":…,"payload":…}` as JSON text. No signature or claim check.
#[wasm_bindgen(js_name = decodeJwt, skip_typescript)]
pub fn decode_jwt(token: JsValue) -> JsResult<String> {
    let run = || -> Result<String, Error> {
        let token = token_from_js(&token, DEFAULT_MAX_TOKEN_BYTES)?;
        let t = UntrustedToken::parse(&token, DEFAULT_MAX_TOKEN_BYTES)?;
        Ok([
            "{\"header\":",
            t.header_json(),
            ",\"payload\":",
            t.payload_json(),
            "}",
        ]
        .concat())
    };
    run().map_err(to_js)
}

/// `verifyJwt(token, key, options)`: the verified payload as JSON text.
#[wasm_bindgen(js_name = verifyJwt, skip_typescript)]
pub fn verify_jwt(token: JsValue, key: JsValue, options: JsValue) -> JsResult<String> {
    let run = || -> Result<String, Error> {
        let opts = options_from_js(&options)?;
        let keys = key_from_js(&key)?;
        let token = token_from_js(&token, opts.max_token_bytes)?;
        Ok(verify(&token, &keys, &opts)?.payload_json().into())
    };
    run().map_err(to_js)
}

/// The session client behind the JS `AuthClient` (which adds `on`, `fetch` and `AuthError`).
#[cfg(feature = "client")]
#[wasm_bindgen(js_name = WasmClient, skip_typescript)]
pub struct WasmClient {
    driver: Driver,
}

#[cfg(feature = "client")]
#[wasm_bindgen(js_class = WasmClient)]
impl WasmClient {
    /// `options`: the `createAuthClient` options without `publicKey`; `key` as in `verifyJwt`;
    /// `emit(type, detailJson)` delivers events.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, key: JsValue, emit: Function) -> JsResult<WasmClient> {
        let run = || -> Result<WasmClient, Error> {
            const NOT_OPTIONS: Error = Error::malformed("options must be an object");
            let text = JSON::stringify(&options).map_err(|_| NOT_OPTIONS)?;
            let text = bounded_string(&text.into(), MAX_KEY_BYTES, NOT_OPTIONS, NOT_OPTIONS)?;
            let opts = ClientOptions::from_json(text.as_bytes())?;
            let keys = key_from_js(&key)?;
            Ok(WasmClient {
                driver: Driver::new(opts, keys, emit),
            })
        };
        run().map_err(to_js)
    }

    /// `setSession({accessToken, refreshToken, expiresIn})`.
    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(
        &self,
        access_token: JsValue,
        refresh_token: JsValue,
        expires_in: JsValue,
    ) -> JsResult<()> {
        let run = || -> Result<(), Error> {
            let access = token_from_js(&access_token, DEFAULT_MAX_TOKEN_BYTES)?;
            let refresh = if refresh_token.is_undefined() || refresh_token.is_null() {
                None
            } else {
                Some(bounded_string(
                    &refresh_token,
                    DEFAULT_MAX_TOKEN_BYTES,
                    Error::malformed("refreshToken must be a string"),
                    Error::malformed("refreshToken is too long"),
                )?)
            };
            let expires_in = match expires_in.as_f64() {
                None if expires_in.is_undefined() || expires_in.is_null() => None,
                Some(e)
                    if e.is_finite()
                        && (0.0..=crate::refresh::MAX_EXPIRES_IN_S as f64).contains(&e) =>
                {
                    Some(e as u64)
                }
                _ => return Err(Error::malformed("expiresIn must be a number of seconds")),
            };
            self.driver.set_session(access, refresh, expires_in)
        };
        run().map_err(to_js)
    }

    /// `getAccessToken()`.
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self) -> Promise {
        self.driver.call(|call| Input::GetToken { call })
    }

    /// `refresh()`.
    pub fn refresh(&self) -> Promise {
        self.driver.call(|call| Input::ForceRefresh { call })
    }

    /// After an API 401 `invalid_token` for `token`: a token to replay with, once.
    #[wasm_bindgen(js_name = apiUnauthorized)]
    pub fn api_unauthorized(&self, token: JsValue) -> Promise {
        let token = token.as_string().unwrap_or_default();
        self.driver
            .call(|call| Input::ApiUnauthorized { call, token })
    }

    /// `logout()`.
    pub fn logout(&self) {
        self.driver.logout();
    }

    /// `isAuthenticated`.
    #[wasm_bindgen(js_name = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        self.driver.is_authenticated()
    }

    /// `claims` as JSON text.
    #[wasm_bindgen(js_name = claimsJson)]
    pub fn claims_json(&self) -> Option<String> {
        self.driver.claims_json()
    }

    /// For how many ms `token` may be handed out without asking (the JS fast path).
    #[wasm_bindgen(js_name = freshFor)]
    pub fn fresh_for(&self, token: JsValue) -> f64 {
        token
            .as_string()
            .map_or(0.0, |t| self.driver.fresh_for_ms(&t) as f64)
    }

    /// `expiresAt` (ms since epoch).
    #[wasm_bindgen(js_name = expiresAt)]
    pub fn expires_at(&self) -> Option<f64> {
        self.driver.expires_at_ms().map(|ms| ms as f64)
    }

    /// `dispose()`.
    pub fn dispose(&self) {
        self.driver.dispose();
    }
}
