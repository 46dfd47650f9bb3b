//! Strict base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2): no padding, no `+`/`/`,
//! no whitespace, and the unused bits of the last character must be zero.

#[allow(unused_imports)]
use crate::prelude::*;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::{Error, Result};

const STRICT_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

const STRICT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes strict unpadded base64url. Any deviation is `malformed` with `what` as the message.
pub fn decode(input: &[u8], what: &'static str) -> Result<Vec<u8>> {
    STRICT_URL.decode(input).map_err(|_| Error::malformed(what))
}

/// Encodes bytes as unpadded base64url.
pub fn encode(input: &[u8]) -> String {
    STRICT_URL.encode(input)
}

/// Decodes canonical padded standard base64 (the body of a PEM block, whitespace removed).
pub(crate) fn decode_standard(input: &[u8]) -> Option<Vec<u8>> {
    STRICT_STANDARD.decode(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode(encode(&bytes).as_bytes(), "x").unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_non_strict_forms() {
        for bad in ["YQ==", "YQ=", "a+b/", "a b", "YR", "Y", "YQ\n", "ä"] {
            assert!(
                decode(bad.as_bytes(), "x").is_err(),
                "{bad:?} must be rejected"
            );
        }
        assert_eq!(decode(b"YQ", "x").unwrap(), b"a");
        assert_eq!(decode(b"-_8", "x").unwrap(), vec![0xfb, 0xff]);
    }
}
