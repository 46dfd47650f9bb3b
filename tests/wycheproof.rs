//! Wycheproof vectors: every valid signature verifies, every invalid one fails
//! `bad_signature`, nothing panics.
//!
//! - ECDSA P-256 / SHA-256 in IEEE P1363 form (raw r‖s, as JWS uses), keys through the
//!   crate's SPKI PEM import.
//! - RSASSA-PKCS1-v1_5 with SHA-256 (RS256) and RSASSA-PSS with SHA-256, MGF1-SHA-256 and a
//!   32-byte salt (PS256), 2048/3072/4096-bit keys, each key through both the SPKI PEM import
//!   and a JWK built from its `n` and `e` (which must give the same key).
//!
//! `Acceptable` cases (legal but discouraged): in these sets only the PKCS#1 v1.5 signature
//! whose DigestInfo omits the NULL parameters (tcId 8, "MissingNull"). RFC 8017 §9.2 lets a
//! verifier accept it; we refuse it, as BoringSSL (Chromium's WebCrypto) does, so that the
//! wasm path and the WebCrypto path agree. The test holds us to that.

use jwt_keeper::base64url;
use jwt_keeper::key::{Alg, PublicKey};
use jwt_keeper::verify::verify_signature;
use jwt_keeper::{ErrorCode, KeySet};
use wycheproof::TestResult;

/// What one set gave: (valid verified, invalid rejected, acceptable seen).
type Counts = (usize, usize, usize);

fn judge(
    key: &PublicKey,
    alg: Alg,
    cases: impl Iterator<Item = (usize, String, TestResult, Vec<u8>, Vec<u8>)>,
) -> Counts {
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for (id, comment, result, msg, sig) in cases {
        let got = verify_signature(key, alg, &msg, &sig);
        match result {
            TestResult::Valid => {
                assert!(got.is_ok(), "{alg:?} case {id} ({comment}) must verify");
                valid += 1;
            }
            TestResult::Invalid => {
                assert_eq!(
                    got.map_err(|e| e.code()),
                    Err(ErrorCode::BadSignature),
                    "{alg:?} case {id} ({comment}) must fail"
                );
                invalid += 1;
            }
            TestResult::Acceptable => {
                assert_eq!(
                    got.map_err(|e| e.code()),
                    Err(ErrorCode::BadSignature),
                    "{alg:?} case {id} ({comment}) is refused as BoringSSL refuses it"
                );
                acceptable += 1;
            }
        }
    }
    (valid, invalid, acceptable)
}

#[test]
fn wycheproof_p256_sha256_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let key = KeySet::from_pem(&group.pem)
            .unwrap()
            .select(None, Alg::Es256)
            .unwrap();
        let cases = group.tests.iter().map(|c| {
            let (msg, sig) = (c.msg.to_vec(), c.sig.to_vec());
            (c.tc_id, c.comment.clone(), c.result, msg, sig)
        });
        let (v, i, _) = judge(&key, Alg::Es256, cases);
        valid += v;
        invalid += i;
    }
    eprintln!("wycheproof P-256 P1363: {valid} valid verified, {invalid} invalid rejected");
    assert_eq!(
        valid + invalid,
        262,
        "the vector file should hold 262 decided cases"
    );
}

/// The key of a group, imported from its PEM and from a JWK of its `n` and `e` (Wycheproof
/// writes them as two's-complement hex, so with a leading zero byte where the top bit is set).
fn rsa_key(pem: &str, n: &[u8], e: &[u8], alg: Alg) -> Result<PublicKey, jwt_keeper::Error> {
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<_>>()
    };
    let jwk = format!(
        r#"{{"kty":"RSA","n":"{}","e":"{}","alg":"{}"}}"#,
        base64url::encode(&strip(n)),
        base64url::encode(&strip(e)),
        alg.name()
    );
    let from_jwk = KeySet::from_json(jwk.as_bytes())?.select(None, alg)?;
    let from_pem = KeySet::from_pem(pem)?.select(None, alg)?;
    assert_eq!(from_jwk, from_pem);
    Ok(from_pem)
}

#[test]
fn wycheproof_rsa_pkcs1v15_sha256() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut total = (0, 0, 0);
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
    ] {
        let set = TestSet::load(name).unwrap();
        let mut counts = (0, 0, 0);
        for group in &set.test_groups {
            let key = rsa_key(&group.pem, &group.key.n, &group.key.e, Alg::Rs256).unwrap();
            let cases = group.tests.iter().map(|c| {
                let (msg, sig) = (c.msg.to_vec(), c.sig.to_vec());
                (c.tc_id, c.comment.clone(), c.result, msg, sig)
            });
            let (v, i, a) = judge(&key, Alg::Rs256, cases);
            counts = (counts.0 + v, counts.1 + i, counts.2 + a);
        }
        eprintln!("wycheproof {name:?}: {counts:?} (valid, invalid, acceptable)");
        assert!(counts.0 > 0 && counts.1 > 0, "{name:?}");
        total = (total.0 + counts.0, total.1 + counts.1, total.2 + counts.2);
    }
    eprintln!("wycheproof RSA PKCS#1 v1.5 SHA-256: {total:?}");
    assert_eq!(total, (24, 749, 3), "the three vector files' cases");
}

#[test]
fn wycheproof_rsa_pss_sha256_mgf1_sha256_salt32() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut total = (0, 0, 0);
    for name in [
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
        TestName::RsaPss4096Sha256Mgf1SaltLen32,
    ] {
        let set = TestSet::load(name).unwrap();
        let mut counts = (0, 0, 0);
        for group in &set.test_groups {
            assert_eq!(group.salt_size, 32, "{name:?}");
            let key = rsa_key(&group.pem, &group.key.n, &group.key.e, Alg::Ps256).unwrap();
            let cases = group.tests.iter().map(|c| {
                let (msg, sig) = (c.msg.to_vec(), c.sig.to_vec());
                (c.tc_id, c.comment.clone(), c.result, msg, sig)
            });
            let (v, i, a) = judge(&key, Alg::Ps256, cases);
            counts = (counts.0 + v, counts.1 + i, counts.2 + a);
        }
        eprintln!("wycheproof {name:?}: {counts:?} (valid, invalid, acceptable)");
        assert!(counts.0 > 0 && counts.1 > 0, "{name:?}");
        total = (total.0 + counts.0, total.1 + counts.1, total.2 + counts.2);
    }
    eprintln!("wycheproof RSA-PSS SHA-256 salt 32: {total:?}");
    assert_eq!(total, (189, 135, 0), "the three vector files' cases");
}
