//! Prints the worked calldata examples of docs/precompiles.md: one real, valid call per
//! precompile function, made with deterministic keys by libraries this project did not write,
//! and the JSON line `thresig precompile call` prints for it.
//!
//! `cargo run -p thresig-precompiles --example worked_examples > /tmp/examples.md`

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;
use ed25519_dalek::Signer as _;
use fips204::traits::{KeyGen as _, SerDes as _, Signer as _};
use fips205::traits::{KeyGen as _, SerDes as _, Signer as _};
use sha2::{Digest, Sha256};
use thresig_precompiles::GasSchedule;
use thresig_precompiles::abi::{
    IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier,
};
use thresig_precompiles::evm::call_precompile;
use thresig_precompiles::precompile::Function;

const MESSAGE: &[u8] = b"thresig worked example";

fn calldata(function: Function) -> (String, Vec<u8>) {
    let hash: [u8; 32] = Sha256::digest(MESSAGE).into();
    let secp = secp256k1::Secp256k1::new();
    match function {
        Function::FrostBip340 => {
            let keypair = secp256k1::Keypair::from_seckey_byte_array(&secp, [0x11; 32]).unwrap();
            let signature = secp.sign_schnorr_no_aux_rand(&hash, &keypair);
            let call = IFrostVerifier::verifyCall {
                threshold: 2,
                totalSigners: 3,
                publicKey: B256::from(keypair.x_only_public_key().0.serialize()),
                messageHash: B256::from(hash),
                signature: signature.to_byte_array().to_vec().into(),
            };
            (
                "BIP-340 signature by secret key 0x11…11 over SHA-256(message), 2-of-3".into(),
                call.abi_encode(),
            )
        }
        Function::FrostEd25519 => {
            let key = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
            let call = IFrostVerifier::verifyEd25519Call {
                threshold: 2,
                totalSigners: 3,
                publicKey: B256::from(key.verifying_key().to_bytes()),
                message: MESSAGE.to_vec().into(),
                signature: key.sign(MESSAGE).to_bytes().to_vec().into(),
            };
            (
                "Ed25519 signature by seed 0x22…22 over the message itself, 2-of-3".into(),
                call.abi_encode(),
            )
        }
        Function::ThresholdEcdsa => {
            let secret = secp256k1::SecretKey::from_byte_array([0x33; 32]).unwrap();
            let (recovery_id, rs) = secp
                .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &secret)
                .serialize_compact();
            let mut signature = rs.to_vec();
            signature.push(27 + i32::from(recovery_id) as u8);
            let call = IThresholdEcdsaVerifier::verifyCall {
                threshold: 3,
                totalSigners: 5,
                publicKey: secp256k1::PublicKey::from_secret_key(&secp, &secret)
                    .serialize()
                    .to_vec()
                    .into(),
                messageHash: B256::from(hash),
                signature: signature.into(),
            };
            (
                "RFC 6979 ECDSA by secret key 0x33…33, compressed key, v = 27/28, 3-of-5".into(),
                call.abi_encode(),
            )
        }
        Function::MlDsa => {
            let (public_key, private_key) = fips204::ml_dsa_44::KG::keygen_from_seed(&[0x44; 32]);
            let signature = private_key
                .try_sign_with_seed(&[0; 32], MESSAGE, b"")
                .unwrap();
            let call = IMlDsaVerifier::verifyCall {
                publicKey: public_key.into_bytes().to_vec().into(),
                message: MESSAGE.to_vec().into(),
                signature: signature.to_vec().into(),
            };
            (
                "ML-DSA-44, key from seed 0x44…44, deterministic signing, empty context".into(),
                call.abi_encode(),
            )
        }
        Function::SlhDsaSha2 => {
            let (public_key, private_key) = fips205::slh_dsa_sha2_128s::KG::keygen_from_seed(
                &[0x55; 16],
                &[0x56; 16],
                &[0x57; 16],
            );
            let signature = private_key.try_sign(MESSAGE, b"", false).unwrap();
            let call = ISlhDsaVerifier::verifyCall {
                publicKey: public_key.into_bytes().to_vec().into(),
                message: MESSAGE.to_vec().into(),
                signature: signature.to_vec().into(),
            };
            (
                "SLH-DSA-SHA2-128s, deterministic key and signature, empty context".into(),
                call.abi_encode(),
            )
        }
        Function::SlhDsaShake => {
            let (public_key, private_key) = fips205::slh_dsa_shake_128s::KG::keygen_from_seed(
                &[0x65; 16],
                &[0x66; 16],
                &[0x67; 16],
            );
            let signature = private_key.try_sign(MESSAGE, b"", false).unwrap();
            let call = ISlhDsaVerifier::verifyShakeCall {
                publicKey: public_key.into_bytes().to_vec().into(),
                message: MESSAGE.to_vec().into(),
                signature: signature.to_vec().into(),
            };
            (
                "SLH-DSA-SHAKE-128s, deterministic key and signature, empty context".into(),
                call.abi_encode(),
            )
        }
    }
}

fn main() {
    println!("<!-- generated by: cargo run -p thresig-precompiles --example worked_examples -->");
    for function in Function::ALL {
        let (description, input) = calldata(function);
        let address: Address = function.address();
        let report = call_precompile(address, input.clone().into(), 10_000_000, GasSchedule::SEED)
            .expect("the example transaction executes");
        assert!(
            report.success && report.output[31] == 1,
            "{function:?} example must verify"
        );
        println!();
        println!(
            "### {} at {address}: `{}`",
            function.label(),
            function.signature()
        );
        println!();
        println!(
            "{description}; message = `{}`.",
            String::from_utf8_lossy(MESSAGE)
        );
        println!();
        println!("```sh");
        println!(
            "thresig precompile call --address {address} --input 0x{}",
            hex::encode(&input)
        );
        println!("```");
        println!();
        println!("```json");
        println!(
            "{{\"success\":true,\"precompile_gas\":{},\"output\":\"0x{}\"}}",
            report.precompile_gas,
            hex::encode(&report.output)
        );
        println!("```");
    }
}
