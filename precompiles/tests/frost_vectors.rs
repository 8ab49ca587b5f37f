//! RFC 9591 FROST aggregate signatures (the Zcash Foundation's vector files): the final
//! signatures verify under the group keys, through the verification functions and, for Ed25519,
//! through the precompile in revm.

mod common;

use alloy_sol_types::SolCall;
use common::{abi_bool, hex_field, read_json, transact};
use thresig_precompiles::abi::IFrostVerifier;
use thresig_precompiles::precompile::FROST_ADDRESS;
use thresig_precompiles::{MalformedInput, bip340, ed25519};

#[test]
fn frost_ed25519_rfc9591_signature_verifies_in_the_evm() {
    let vectors = read_json("frost/frost-ed25519.vectors.json");
    let key = hex_field(&vectors["inputs"], "verifying_key_key");
    let message = hex_field(&vectors["inputs"], "message");
    let signature = hex_field(&vectors["final_output"], "sig");
    assert!(ed25519::verify(&key, &message, &signature).unwrap());
    let threshold: u32 = vectors["config"]["MIN_PARTICIPANTS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let total: u32 = vectors["config"]["MAX_PARTICIPANTS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let call = IFrostVerifier::verifyEd25519Call {
        threshold,
        totalSigners: total,
        publicKey: key.as_slice().try_into().unwrap(),
        message: message.clone().into(),
        signature: signature.clone().into(),
    };
    let report = transact(FROST_ADDRESS, call.abi_encode(), 1_000_000);
    assert_eq!(report.output, abi_bool(true), "{:?}", report.error);
    // Another message under the same signature does not verify.
    assert!(!ed25519::verify(&key, b"tesT", &signature).unwrap());
}

#[test]
fn frost_secp256k1_tr_signature_verifies_as_bip340_under_the_x_only_key() {
    let vectors = read_json("frost/frost-secp256k1-tr.vectors.json");
    let compressed = hex_field(&vectors["inputs"], "verifying_key_key");
    assert_eq!(compressed.len(), 33);
    let x_only = &compressed[1..];
    let message = hex_field(&vectors["inputs"], "message");
    let signature = hex_field(&vectors["final_output"], "sig");
    // The message is 4 bytes: BIP-340 allows it, the precompile (bytes32 messageHash) cannot
    // carry it, so this vector is checked through the verification function.
    assert_eq!(message.len(), 4);
    assert!(bip340::verify(x_only, &message, &signature).unwrap());
    assert!(!bip340::verify(x_only, b"tesT", &signature).unwrap());
}

#[test]
fn frost_secp256k1_rfc9591_signature_is_not_a_bip340_signature() {
    // RFC 9591 E.5 signs with a 65-byte (R compressed ‖ z) encoding: not BIP-340, so the BIP-340
    // function refuses it as malformed rather than guessing.
    let vectors = read_json("frost/frost-secp256k1.vectors.json");
    let compressed = hex_field(&vectors["inputs"], "verifying_key_key");
    let signature = hex_field(&vectors["final_output"], "sig");
    assert_eq!(signature.len(), 65);
    let verdict = bip340::verify(&compressed[1..], b"test", &signature);
    assert!(
        matches!(
            verdict,
            Err(MalformedInput::WrongLength {
                field: "signature",
                ..
            })
        ),
        "{verdict:?}"
    );
}
