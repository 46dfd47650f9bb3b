//! A small strict DER reader (X.690 §10) for the two RSA public key encodings: SPKI
//! (RFC 5280 §4.1.2.7 with `rsaEncryption`, RFC 8017 A.1) and a bare PKCS#1 `RSAPublicKey`.
//! Only definite, minimal lengths; INTEGERs positive and minimal; no trailing bytes. BER
//! leniency here would let two texts name the same key, or one text parse two ways.

use crate::error::{Error, Result};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;

/// `AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }`, whole: the NULL
/// parameters are required (RFC 3279 §2.3.1), and DER has one encoding of it.
const RSA_ENCRYPTION_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

const BAD_DER: Error = Error::bad_key(
    "PEM must be strict DER: SPKI of P-256 or rsaEncryption (NULL parameters), or PKCS#1",
);

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (first, rest) = self.0.split_first().ok_or(BAD_DER)?;
        self.0 = rest;
        Ok(*first)
    }

    /// One element with tag `tag`: its content. Lengths up to 2 bytes (64 KB: a DER RSA key
    /// of 8192 bits is about 1.1 KB).
    fn element(&mut self, tag: u8) -> Result<&'a [u8]> {
        if self.byte()? != tag {
            return Err(BAD_DER);
        }
        let len = match self.byte()? {
            short @ 0..=0x7f => usize::from(short),
            0x81 => match self.byte()? {
                long @ 0x80.. => usize::from(long),
                _ => return Err(BAD_DER),
            },
            0x82 => {
                let (hi, lo) = (self.byte()?, self.byte()?);
                if hi == 0 {
                    return Err(BAD_DER);
                }
                usize::from(hi) << 8 | usize::from(lo)
            }
            // Indefinite (0x80) or longer lengths.
            _ => return Err(BAD_DER),
        };
        let (content, rest) = self.0.split_at_checked(len).ok_or(BAD_DER)?;
        self.0 = rest;
        Ok(content)
    }

    /// A positive, minimally encoded INTEGER: its magnitude, without a leading zero byte.
    fn positive_integer(&mut self) -> Result<&'a [u8]> {
        match self.element(INTEGER)? {
            [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => Ok(rest),
            all @ [first, ..] if first & 0x80 == 0 && *first != 0 => Ok(all),
            _ => Err(BAD_DER),
        }
    }

    fn end(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(BAD_DER)
        }
    }
}

/// The whole of `der` as one element with `tag`: its content.
fn only(der: &[u8], tag: u8) -> Result<&[u8]> {
    let mut r = Reader(der);
    let content = r.element(tag)?;
    r.end()?;
    Ok(content)
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`: `(n, e)`
/// big-endian, without leading zeros.
pub fn rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8])> {
    let mut r = Reader(only(der, SEQUENCE)?);
    let n = r.positive_integer()?;
    let e = r.positive_integer()?;
    r.end()?;
    Ok((n, e))
}

/// `SubjectPublicKeyInfo` with `rsaEncryption`: `(n, e)` as [`rsa_public_key`] gives them.
pub fn rsa_spki(der: &[u8]) -> Result<(&[u8], &[u8])> {
    let mut r = Reader(only(der, SEQUENCE)?);
    let algorithm = r.element(SEQUENCE)?;
    if algorithm != RSA_ENCRYPTION_ALGORITHM.get(2..).unwrap_or_default() {
        return Err(BAD_DER);
    }
    let key = match r.element(BIT_STRING)? {
        [0, key @ ..] => key,
        _ => return Err(BAD_DER),
    };
    r.end()?;
    rsa_public_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n @ 0..=0x7f => out.push(n as u8),
            n @ 0x80..=0xff => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    fn pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
        tlv(SEQUENCE, &[tlv(INTEGER, n), tlv(INTEGER, e)].concat())
    }

    fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let bits = tlv(BIT_STRING, &[&[0][..], key].concat());
        tlv(SEQUENCE, &[algorithm, &bits].concat())
    }

    #[test]
    fn reads_strict_der_only() {
        let n = [&[0x00, 0xc3][..], &[0x11; 255]].concat();
        let good = spki(&RSA_ENCRYPTION_ALGORITHM, &pkcs1(&n, &[1, 0, 1]));
        let (got_n, got_e) = rsa_spki(&good).unwrap();
        assert_eq!((got_n, got_e), (&n[1..], &[1u8, 0, 1][..]));
        assert_eq!(rsa_public_key(&pkcs1(&n, &[3])).unwrap().1, [3]);

        let mut trailing = good.clone();
        trailing.push(0);
        // The same SPKI with its outer length in a non-minimal 0x82 form.
        let mut long_len = vec![SEQUENCE, 0x82, 0x00];
        long_len.push(good[1]);
        long_len.extend_from_slice(&good[2..]);
        let wrong_oid = {
            let mut a = RSA_ENCRYPTION_ALGORITHM;
            a[12] = 0x0a; // rsassa-pss (1.2.840.113549.1.1.10)
            spki(&a, &pkcs1(&n, &[1, 0, 1]))
        };
        let no_null = spki(
            &tlv(SEQUENCE, &RSA_ENCRYPTION_ALGORITHM[2..13]),
            &pkcs1(&n, &[1, 0, 1]),
        );
        let inner_trailing = spki(
            &RSA_ENCRYPTION_ALGORITHM,
            &[pkcs1(&n, &[1, 0, 1]), vec![0]].concat(),
        );
        for bad in [
            trailing,
            long_len,
            wrong_oid,
            no_null,
            inner_trailing,
            // Negative n, non-minimal n (two leading zeros), zero-length e, e = 0.
            spki(&RSA_ENCRYPTION_ALGORITHM, &pkcs1(&[0x80, 1], &[3])),
            spki(&RSA_ENCRYPTION_ALGORITHM, &pkcs1(&[0, 0x7f], &[3])),
            spki(&RSA_ENCRYPTION_ALGORITHM, &pkcs1(&n, &[])),
            spki(&RSA_ENCRYPTION_ALGORITHM, &pkcs1(&n, &[0])),
            // Indefinite length.
            vec![SEQUENCE, 0x80, 0, 0],
            Vec::new(),
        ] {
            assert!(rsa_spki(&bad).is_err(), "{bad:02x?}");
        }
        // A short length in the long form (0x81 0x05).
        assert!(rsa_public_key(&[SEQUENCE, 0x81, 0x05, 2, 1, 3, 2, 1, 3][..]).is_err());
        assert!(rsa_public_key(&[SEQUENCE, 0x06, 2, 1, 3, 2, 1, 3][..]).is_ok());
    }
}
