//! Ed25519: every Wycheproof case (tcId 80-83 are RFC 8032 section 7.1 TEST 1, 2, 3 and 1024)
//! through the verification function and through a real revm transaction to `verifyEd25519`.

mod common;

use alloy_sol_types::SolCall;
use common::{abi_bool, hex_field, read_json, transact};
use thresig_precompiles::abi::IFrostVerifier;
use thresig_precompiles::ed25519;
use thresig_precompiles::precompile::FROST_ADDRESS;

/// Cases where DESIGN.md's consensus rules give another outcome than Wycheproof expects, each
/// with the rule that decides it. Empty: the rules agree with Wycheproof on every case.
const DIFFERENCES: &[(u64, bool, &str)] = &[];

struct Case {
    id: u64,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    expected: bool,
}

fn cases() -> Vec<Case> {
    let file = read_json("wycheproof/ed25519_test.json");
    let mut cases = Vec::new();
    for group in file["testGroups"].as_array().unwrap() {
        let public_key = hex_field(&group["publicKey"], "pk");
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let upstream = match test["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: result {other}"),
            };
            let expected = DIFFERENCES
                .iter()
                .find(|(difference, _, _)| *difference == id)
                .map_or(upstream, |(_, ours, _)| *ours);
            cases.push(Case {
                id,
                public_key: public_key.clone(),
                message: hex_field(test, "msg"),
                signature: hex_field(test, "sig"),
                expected,
            });
        }
    }
    assert_eq!(
        cases.len(),
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    cases
}

#[test]
fn every_wycheproof_case_including_rfc8032() {
    let cases = cases();
    for id in 80..=83 {
        let rfc = cases
            .iter()
            .find(|case| case.id == id)
            .expect("RFC 8032 case present");
        assert!(rfc.expected, "RFC 8032 vectors are valid signatures");
    }
    for case in &cases {
        // Truncated or padded signatures are malformed for the CLI and invalid for the
        // precompile; either way they do not verify.
        let verdict =
            ed25519::verify(&case.public_key, &case.message, &case.signature).unwrap_or(false);
        assert_eq!(verdict, case.expected, "tcId {}", case.id);
    }
}

#[test]
fn every_wycheproof_case_in_the_evm() {
    for case in cases() {
        let call = IFrostVerifier::verifyEd25519Call {
            threshold: 1,
            totalSigners: 1,
            publicKey: case.public_key.as_slice().try_into().unwrap(),
            message: case.message.clone().into(),
            signature: case.signature.clone().into(),
        };
        let report = transact(FROST_ADDRESS, call.abi_encode(), 1_000_000);
        assert!(report.success, "tcId {}: {:?}", case.id, report.error);
        assert_eq!(report.output, abi_bool(case.expected), "tcId {}", case.id);
    }
}
