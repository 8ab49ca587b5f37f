//! BIP-340: every row of the BIP's own CSV, through the verification function, through a real
//! revm transaction to the FROST precompile (32-byte messages), and against libsecp256k1.

mod common;

use alloy_sol_types::SolCall;
use common::{abi_bool, transact, unhex, vectors_dir};
use thresig_precompiles::abi::IFrostVerifier;
use thresig_precompiles::bip340;
use thresig_precompiles::precompile::FROST_ADDRESS;

struct Row {
    index: String,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    expected: bool,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(vectors_dir().join("bip340/test-vectors.csv")).unwrap();
    let rows: Vec<Row> = text
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Row {
                index: fields[0].to_owned(),
                public_key: unhex(fields[2]),
                message: unhex(fields[4]),
                signature: unhex(fields[5]),
                expected: match fields[6] {
                    "TRUE" => true,
                    "FALSE" => false,
                    other => panic!("row {}: result {other:?}", fields[0]),
                },
            }
        })
        .collect();
    assert_eq!(rows.len(), 19, "the BIP-340 CSV has 19 vectors");
    rows
}

#[test]
fn every_csv_row_gives_the_bips_result() {
    for row in rows() {
        // A public key that is not 32 bytes cannot be asked of the precompile; the CSV has
        // none, so every row is a well-formed request.
        let verdict = bip340::verify(&row.public_key, &row.message, &row.signature)
            .unwrap_or_else(|error| panic!("row {}: malformed: {error}", row.index));
        assert_eq!(verdict, row.expected, "row {}", row.index);
    }
}

#[test]
fn rows_with_32_byte_messages_give_the_same_result_in_the_evm() {
    let mut checked = 0;
    for row in rows().into_iter().filter(|row| row.message.len() == 32) {
        let call = IFrostVerifier::verifyCall {
            threshold: 2,
            totalSigners: 3,
            publicKey: row.public_key.as_slice().try_into().unwrap(),
            messageHash: row.message.as_slice().try_into().unwrap(),
            signature: row.signature.clone().into(),
        };
        let report = transact(FROST_ADDRESS, call.abi_encode(), 1_000_000);
        assert!(report.success, "row {}: {:?}", row.index, report.error);
        assert_eq!(report.output, abi_bool(row.expected), "row {}", row.index);
        assert_eq!(
            report.precompile_gas,
            50_000 + 5_000 * 3,
            "row {}",
            row.index
        );
        checked += 1;
    }
    assert_eq!(checked, 15, "rows 0-14 have 32-byte messages");
}

#[test]
fn libsecp256k1_agrees_on_every_row_it_can_parse() {
    let secp = secp256k1::Secp256k1::verification_only();
    for row in rows() {
        let independent = match (
            secp256k1::XOnlyPublicKey::from_byte_array(
                row.public_key.as_slice().try_into().unwrap(),
            ),
            secp256k1::schnorr::Signature::from_byte_array(
                row.signature.as_slice().try_into().unwrap(),
            ),
        ) {
            (Ok(key), signature) => secp.verify_schnorr(&signature, &row.message, &key).is_ok(),
            (Err(_), _) => false,
        };
        assert_eq!(
            independent, row.expected,
            "libsecp256k1 on row {}",
            row.index
        );
    }
}
