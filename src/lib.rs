//! # jwt-keeper
//!
//! Strict ES256 JWT verification (RFC 7515, RFC 7519, RFC 8725) and a browser session keeper,
//! compiled to WebAssembly. The verification core is pure Rust and runs natively too:
//!
//! - [`token::UntrustedToken`] splits and decodes a token and trusts nothing;
//! - [`key::KeySet`] imports a P-256 JWK, JWKS or SPKI PEM;
//! - [`verify::verify`] is the only way to a [`verify::VerifiedToken`].
//!
//! - [`client::Core`] is the session client: every decision, with the network, the clock,
//!   storage and the other tabs as inputs and outputs (the browser shell only translates).
//!
//! The JavaScript API lives in `bindings` (wasm only).
#![cfg_attr(all(feature = "tiny", target_arch = "wasm32"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alg;
pub mod base64url;
pub mod client;
pub mod error;
pub mod json;
pub mod key;
pub mod refresh;
pub mod session;
pub mod sha256;
#[cfg(test)]
mod test_rsa;
pub mod token;
pub mod verify;

extern crate alloc;

/// `alloc` names that `std` would give, so every module builds with and without `std`.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings;

#[cfg(all(feature = "tiny", target_arch = "wasm32"))]
mod tiny {
    // Talc reclaims and coalesces freed memory like dlmalloc, in a quarter of its code (1.6 vs
    // 6.1 KB of wasm); its wasm constructor is safe (it checks for single-threaded wasm).
    #[global_allocator]
    static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }
}

pub use error::{Error, ErrorCode, Result};
pub use key::KeySet;
pub use token::UntrustedToken;
#[cfg(feature = "verifier")]
pub use verify::verify;
pub use verify::{VerifiedToken, VerifyOptions};
