//! Strict base64 (RFC 4648) as JWS requires (RFC 7515 §2): the URL alphabet without padding,
//! no whitespace, and the unused bits of the last character must be zero. Written out rather
//! than taken from the `base64` crate: this is a few hundred bytes of wasm, that is 3 KB.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::error::{Error, Result};

const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The 6-bit value of `c` in the alphabet (`-_` or `+/` for the last two).
fn value(c: u8, url: bool) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' if url => 62,
        b'_' if url => 63,
        b'+' if !url => 62,
        b'/' if !url => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes unpadded characters of one alphabet; refuses a length of 1 mod 4 and stray bits.
fn decode_unpadded(input: &[u8], url: bool) -> Option<Vec<u8>> {
    if input.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    for chunk in input.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c, url)?;
        }
        // A chunk of n characters carries 6n bits: n−1 whole bytes, the rest must be zero.
        let bits = 6 * chunk.len() as u32;
        let bytes = chunk.len() - 1;
        let spare = bits - 8 * bytes as u32;
        if acc & ((1 << spare) - 1) != 0 {
            return None;
        }
        let acc = acc >> spare;
        for i in (0..bytes).rev() {
            out.push((acc >> (8 * i)) as u8);
        }
    }
    Some(out)
}

/// Decodes strict unpadded base64url. Any deviation is `malformed` with `what` as the message.
pub fn decode(input: &[u8], what: &'static str) -> Result<Vec<u8>> {
    decode_unpadded(input, true).ok_or(Error::malformed(what))
}

/// Encodes bytes as unpadded base64url.
pub fn encode(input: &[u8]) -> String {
    encode_with(input, URL)
}

fn encode_with(input: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            let index = (acc >> (18 - 6 * i)) & 63;
            out.push(char::from(
                alphabet.get(index as usize).copied().unwrap_or(b'A'),
            ));
        }
    }
    out
}

/// Decodes canonical padded standard base64 (the body of a PEM block, whitespace removed).
pub(crate) fn decode_standard(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 != 0 {
        return None;
    }
    let body = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    decode_unpadded(body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    #[test]
    fn round_trip() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let text = encode(&bytes);
            assert_eq!(decode(text.as_bytes(), "x").unwrap(), bytes);
            let padded = encode_with(&bytes, STANDARD) + &"=".repeat((4 - text.len() % 4) % 4);
            assert_eq!(decode_standard(padded.as_bytes()).unwrap(), bytes);
        }
    }

    #[test]
    fn agrees_with_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes(), "x").unwrap(), plain.as_bytes());
        }
        assert_eq!(decode(b"-_8", "x").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn rejects_non_strict_forms() {
        for bad in [
            "YQ==", "YQ=", "a+b/", "a b", "YR", "Y", "YQ\n", "ä", "Zm9vY",
        ] {
            assert!(
                decode(bad.as_bytes(), "x").is_err(),
                "{bad:?} must be rejected"
            );
        }
        assert_eq!(decode(b"YQ", "x").unwrap(), b"a");
        for bad in ["YQ", "YR==", "Y===", "-_8=", "YQ=a", "=YQ="] {
            assert_eq!(decode_standard(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
