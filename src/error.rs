//! The one error type of the crate. Every failure maps to a stable [`ErrorCode`],
//! which is what JavaScript sees as `AuthError.code`.

use core::fmt;

/// Stable, machine-readable reason for a failure. The string form
/// ([`ErrorCode::as_str`]) is part of the public JS contract and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The token (or an option) is not well-formed: structure, base64url, JSON, claim types, size.
    Malformed,
    /// The header `alg` is not exactly `ES256`.
    UnsupportedAlg,
    /// The configured key cannot be used for ES256 verification.
    BadKey,
    /// No key (or more than one key) of a JWKS matches the token.
    NoMatchingKey,
    /// The signature is not a valid ES256 signature of the token by the key.
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// A required claim is missing or `iss`/`aud` do not match.
    ClaimMismatch,
    /// There is no session to take a token from.
    NotAuthenticated,
    /// The refresh endpoint definitively rejected the refresh token.
    RefreshRejected,
    /// The refresh request failed on the network.
    Network,
    /// The refresh request took longer than its timeout.
    Timeout,
    /// The refresh endpoint answered something that is not a usable token response.
    BadResponse,
    /// An internal failure of the library; the session is kept.
    Internal,
    /// The provider answered the sign-in with an error, or the code exchange failed.
    LoginFailed,
    /// A sign-in callback whose `state` is unknown, used or expired.
    InvalidState,
    /// A feature this runtime cannot provide (no `crypto.getRandomValues`, no WebCrypto).
    Unsupported,
}

impl ErrorCode {
    /// The stable string used as `AuthError.code` in JavaScript.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::BadKey => "bad_key",
            Self::NoMatchingKey => "no_matching_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::ClaimMismatch => "claim_mismatch",
            Self::NotAuthenticated => "not_authenticated",
            Self::RefreshRejected => "refresh_rejected",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::BadResponse => "bad_response",
            Self::Internal => "internal",
            Self::LoginFailed => "login_failed",
            Self::InvalidState => "invalid_state",
            Self::Unsupported => "unsupported",
        }
    }
}

/// A failure with its stable code and a human-readable message.
///
/// Messages are static so that no formatting machinery is linked into the wasm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: &'static str,
}

impl Error {
    /// A new error.
    pub const fn new(code: ErrorCode, message: &'static str) -> Self {
        Self { code, message }
    }

    /// The stable code.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message (English, may change between versions).
    pub const fn message(&self) -> &'static str {
        self.message
    }

    pub(crate) const fn malformed(message: &'static str) -> Self {
        Self::new(ErrorCode::Malformed, message)
    }

    pub(crate) const fn bad_key(message: &'static str) -> Self {
        Self::new(ErrorCode::BadKey, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())?;
        f.write_str(": ")?;
        f.write_str(self.message)
    }
}

impl core::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
