//! ECDSA over secp256k1: every Wycheproof case (raw r‖s and DER), with SHA-256 of the message as
//! the signed hash, under the low-s rule; and the recoverable r‖s‖v form the precompile takes,
//! cross-checked against libsecp256k1's key recovery.

mod common;

use alloy_sol_types::SolCall;
use common::{abi_bool, hex_field, read_json, transact};
use sha2::{Digest, Sha256};
use thresig_precompiles::abi::IThresholdEcdsaVerifier;
use thresig_precompiles::ecdsa;
use thresig_precompiles::precompile::THRESHOLD_ECDSA_ADDRESS;

/// Half the group order n/2, big-endian: s above this is high.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

#[derive(Debug)]
struct Case {
    id: u64,
    public_key: Vec<u8>,
    hash: [u8; 32],
    /// r‖s, or `None` when the encoding does not parse (DER file) or has the wrong size.
    rs: Option<Vec<u8>>,
    upstream_valid: bool,
}

fn cases(file: &str, der: bool) -> Vec<Case> {
    let json = read_json(file);
    let mut cases = Vec::new();
    for group in json["testGroups"].as_array().unwrap() {
        let public_key = hex_field(&group["publicKey"], "uncompressed");
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let signature = hex_field(test, "sig");
            let rs = if der {
                // libsecp256k1's strict DER parser, which is not this project's code.
                secp256k1::ecdsa::Signature::from_der(&signature)
                    .ok()
                    .map(|parsed| parsed.serialize_compact().to_vec())
            } else {
                Some(signature).filter(|rs| rs.len() == 64)
            };
            let upstream_valid = match test["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                // "acceptable" cases are legacy BER encodings; the consensus rules accept no
                // encoding beyond r‖s, so they count as invalid.
                "acceptable" => false,
                other => panic!("tcId {id}: result {other}"),
            };
            cases.push(Case {
                id,
                public_key: public_key.clone(),
                hash: Sha256::digest(hex_field(test, "msg")).into(),
                rs,
                upstream_valid,
            });
        }
    }
    assert_eq!(
        cases.len(),
        json["numberOfTests"].as_u64().unwrap() as usize
    );
    cases
}

fn is_high_s(rs: &[u8]) -> bool {
    rs[32..] > HALF_ORDER[..]
}

/// Checks every case and returns the tcIds where the low-s rule rejects what upstream accepts.
fn check_all(cases: &[Case]) -> Vec<u64> {
    let mut flipped = Vec::new();
    for case in cases {
        let ours = case
            .rs
            .as_ref()
            .is_some_and(|rs| ecdsa::verify(&case.public_key, &case.hash, rs).unwrap_or(false));
        let high_s = case.rs.as_deref().is_some_and(is_high_s);
        if case.upstream_valid && high_s {
            assert!(!ours, "tcId {}: high-s must be rejected", case.id);
            flipped.push(case.id);
            // The same signature with s normalised is valid: the flip is the low-s rule alone.
            let rs = case.rs.as_ref().unwrap();
            let normalised = secp256k1::ecdsa::Signature::from_compact(rs).map(|mut signature| {
                signature.normalize_s();
                signature.serialize_compact()
            });
            let normalised = normalised.expect("upstream-valid signature parses");
            assert!(
                ecdsa::verify(&case.public_key, &case.hash, &normalised).unwrap(),
                "tcId {}",
                case.id
            );
        } else {
            assert_eq!(ours, case.upstream_valid, "tcId {}", case.id);
        }
    }
    flipped
}

#[test]
fn p1363_cases_with_high_s_flipped_by_the_low_s_rule() {
    let flipped = check_all(&cases(
        "wycheproof/ecdsa_secp256k1_sha256_p1363_test.json",
        false,
    ));
    assert_eq!(
        flipped, P1363_HIGH_S,
        "the cases upstream accepts with high s"
    );
}

#[test]
fn der_cases_with_high_s_flipped_by_the_low_s_rule() {
    let flipped = check_all(&cases("wycheproof/ecdsa_secp256k1_sha256_test.json", true));
    assert_eq!(
        flipped, DER_HIGH_S,
        "the cases upstream accepts with high s"
    );
}

/// Wycheproof p1363 cases that are valid upstream but have s > n/2: invalid under DESIGN.md's
/// low-s rule (EIP-2, BIP-146). Every other case has upstream's outcome.
const P1363_HIGH_S: &[u64] = &[
    1, 62, 63, 64, 66, 67, 68, 70, 72, 74, 75, 76, 78, 81, 83, 85, 87, 88, 89, 90, 95, 96, 97, 100,
    102, 112, 113, 115, 117, 134, 135, 136, 167, 168, 171, 172, 173, 174, 176, 177, 181, 187, 188,
    192, 196, 198, 200, 202, 206, 207, 212, 213, 221, 222, 226, 227, 228, 229, 231, 232, 233, 234,
    235, 237, 238, 239, 240, 241, 242, 243, 247, 252,
];
/// Wycheproof DER cases that are valid upstream but have s > n/2: invalid under DESIGN.md's
/// low-s rule. Every other case has upstream's outcome (BER-only encodings do not parse).
const DER_HIGH_S: &[u64] = &[
    1, 2, 5, 297, 298, 299, 301, 302, 303, 305, 307, 309, 310, 311, 313, 316, 318, 320, 322, 323,
    324, 325, 330, 331, 332, 335, 337, 347, 348, 350, 352, 363, 364, 365, 392, 393, 396, 397, 398,
    399, 401, 402, 406, 412, 413, 417, 421, 423, 425, 427, 431, 432, 437, 438, 447, 448, 449, 450,
    452, 453, 454, 455, 456, 458, 459, 460, 461, 462, 463, 467, 471, 476,
];

/// The recoverable form: for every case that verifies, exactly one recovery id works, both
/// spellings of it (0/1 and 27/28) work, libsecp256k1 recovers the same key with it, and the
/// EVM agrees; for every case that does not verify, no v does.
#[test]
fn recoverable_form_in_the_evm_agrees_with_libsecp256k1() {
    let secp = secp256k1::Secp256k1::new();
    let cases = cases("wycheproof/ecdsa_secp256k1_sha256_p1363_test.json", false);
    let mut valid_seen = 0;
    for case in cases.iter().filter(|case| case.rs.is_some()) {
        let rs = case.rs.as_ref().unwrap();
        let plain = ecdsa::verify(&case.public_key, &case.hash, rs).unwrap();
        let compressed = secp256k1::PublicKey::from_slice(&case.public_key)
            .unwrap()
            .serialize()
            .to_vec();
        let mut working = Vec::new();
        for v in [0u8, 1, 27, 28] {
            let mut signature = rs.clone();
            signature.push(v);
            let ok_uncompressed = ecdsa::verify(&case.public_key, &case.hash, &signature).unwrap();
            let ok_compressed = ecdsa::verify(&compressed, &case.hash, &signature).unwrap();
            assert_eq!(ok_uncompressed, ok_compressed, "tcId {} v {v}", case.id);
            if ok_uncompressed {
                working.push(v);
            }
        }
        if !plain {
            assert!(
                working.is_empty(),
                "tcId {}: no v may verify an invalid signature",
                case.id
            );
            continue;
        }
        valid_seen += 1;
        assert_eq!(
            working.len(),
            2,
            "tcId {}: exactly one recovery id, in both spellings",
            case.id
        );
        assert_eq!(working[0] + 27, working[1], "tcId {}", case.id);
        let recovery_id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(working[0])).unwrap();
        let recoverable =
            secp256k1::ecdsa::RecoverableSignature::from_compact(rs, recovery_id).unwrap();
        let message = secp256k1::Message::from_digest(case.hash);
        let recovered = secp.recover_ecdsa(message, &recoverable).unwrap();
        assert_eq!(
            recovered.serialize_uncompressed().to_vec(),
            case.public_key,
            "tcId {}",
            case.id
        );

        let mut signature = rs.clone();
        signature.push(working[1]);
        let call = IThresholdEcdsaVerifier::verifyCall {
            threshold: 3,
            totalSigners: 5,
            publicKey: compressed.clone().into(),
            messageHash: case.hash.into(),
            signature: signature.into(),
        };
        let report = transact(THRESHOLD_ECDSA_ADDRESS, call.abi_encode(), 1_000_000);
        assert_eq!(
            report.output,
            abi_bool(true),
            "tcId {}: {:?}",
            case.id,
            report.error
        );
        assert_eq!(report.precompile_gas, 75_000 + 10_000 * 5);
    }
    assert!(
        valid_seen > 50,
        "the suite has many valid low-s cases, saw {valid_seen}"
    );
}

/// Wycheproof p1363 cases whose R has x ≥ n (tcId 115 "k*G has a large x-coordinate", 247
/// "x = n + 2"; both high s upstream). With s
/// normalised, plain r‖s verification accepts them (x(R) mod n = r), while the recoverable form
/// rejects every v: v cannot say "x was reduced", exactly as Ethereum's ecrecover cannot.
#[test]
fn r_with_x_at_or_above_the_order_verifies_plain_but_never_recoverable() {
    let cases = cases("wycheproof/ecdsa_secp256k1_sha256_p1363_test.json", false);
    for id in [115, 247] {
        let case = cases.iter().find(|case| case.id == id).unwrap();
        assert!(
            case.upstream_valid && is_high_s(case.rs.as_ref().unwrap()),
            "tcId {id}"
        );
        let mut signature =
            secp256k1::ecdsa::Signature::from_compact(case.rs.as_ref().unwrap()).unwrap();
        signature.normalize_s();
        let rs = signature.serialize_compact();
        assert!(
            ecdsa::verify(&case.public_key, &case.hash, &rs).unwrap(),
            "tcId {id}: plain r‖s"
        );
        for v in [0u8, 1, 27, 28] {
            let mut recoverable = rs.to_vec();
            recoverable.push(v);
            assert!(
                !ecdsa::verify(&case.public_key, &case.hash, &recoverable).unwrap(),
                "tcId {id} v {v}"
            );
        }
    }
}

#[test]
fn only_sec1_compressed_and_uncompressed_tags_are_keys() {
    let secp = secp256k1::Secp256k1::new();
    // An even-y key: sec1's "compact" tag 05 decodes to the even-y point, so only for such a key
    // would a lenient parser accept 05‖x as the same key.
    let secret = (1u8..)
        .map(|byte| secp256k1::SecretKey::from_byte_array([byte; 32]).unwrap())
        .find(|secret| secp256k1::PublicKey::from_secret_key(&secp, secret).serialize()[0] == 0x02)
        .unwrap();
    let hash = [0x17u8; 32];
    let (recovery_id, rs) = secp
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &secret)
        .serialize_compact();
    let mut signature = rs.to_vec();
    signature.push(i32::from(recovery_id) as u8);
    let public = secp256k1::PublicKey::from_secret_key(&secp, &secret);
    let compressed = public.serialize();
    let uncompressed = public.serialize_uncompressed();
    assert!(ecdsa::verify(&compressed, &hash, &signature).unwrap());
    assert!(ecdsa::verify(&uncompressed, &hash, &signature).unwrap());
    for tag in [0x00u8, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff] {
        let mut key = compressed;
        key[0] = tag;
        assert!(
            !ecdsa::verify(&key, &hash, &signature).unwrap(),
            "33-byte key with tag {tag:#04x}"
        );
    }
    for tag in [0x00u8, 0x02, 0x03, 0x05, 0x06, 0x07] {
        let mut key = uncompressed;
        key[0] = tag;
        assert!(
            !ecdsa::verify(&key, &hash, &signature).unwrap(),
            "65-byte key with tag {tag:#04x}"
        );
    }
}
