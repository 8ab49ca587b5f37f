//! The ThresigVerifier library, through VerifierProbe deployed in revm: every function reaches
//! its precompile and returns its answer; a halted call and a missing precompile revert with
//! the library's named errors.

use alloy_primitives::{Address, B256, Bytes, U256};
use ed25519_dalek::Signer as _;
use fips204::traits::{SerDes as _, Signer as _};
use fips205::traits::{SerDes as _, Signer as _};
use thresig_contracts::Chain;
use thresig_contracts::artifacts::VERIFIER_PROBE;
use thresig_contracts::bindings::VerifierProbe::{self, VerifierProbeErrors};
use thresig_precompiles::precompile::FROST_ADDRESS;

const MESSAGE: [u8; 32] = [0x5a; 32];

fn probe() -> (Chain, Address) {
    let mut chain = Chain::default();
    let probe = chain.deploy(&VERIFIER_PROBE, &[], U256::ZERO).unwrap();
    (chain, probe.address)
}

/// `signature` with its last byte changed.
fn tampered(signature: &[u8]) -> Bytes {
    let mut signature = signature.to_vec();
    *signature.last_mut().unwrap() ^= 1;
    signature.into()
}

#[test]
fn bip340_ed25519_and_ecdsa_answer_through_the_library() {
    let (mut chain, probe) = probe();
    let secp = secp256k1::Secp256k1::new();
    let secret = [0x42u8; 32];
    let keypair = secp256k1::Keypair::from_seckey_byte_array(&secp, secret).unwrap();
    let key = B256::from(keypair.x_only_public_key().0.serialize());
    let schnorr = secp
        .sign_schnorr_no_aux_rand(&MESSAGE, &keypair)
        .to_byte_array();
    for (signature, expected) in [
        (Bytes::from(schnorr.to_vec()), true),
        (tampered(&schnorr), false),
    ] {
        let call = VerifierProbe::verifyBip340Call {
            t: 2,
            n: 3,
            key,
            messageHash: B256::from(MESSAGE),
            signature,
        };
        assert_eq!(chain.view(probe, &call).unwrap(), expected);
    }

    let ed_key = ed25519_dalek::SigningKey::from_bytes(&secret);
    let ed_signature = ed_key.sign(b"any length of message").to_bytes();
    for (signature, expected) in [
        (Bytes::from(ed_signature.to_vec()), true),
        (tampered(&ed_signature), false),
    ] {
        let call = VerifierProbe::verifyEd25519Call {
            t: 2,
            n: 3,
            key: B256::from(ed_key.verifying_key().to_bytes()),
            message: Bytes::from_static(b"any length of message"),
            signature,
        };
        assert_eq!(chain.view(probe, &call).unwrap(), expected);
    }

    let secret_key = secp256k1::SecretKey::from_byte_array(secret).unwrap();
    let (recovery_id, rs) = secp
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(MESSAGE), &secret_key)
        .serialize_compact();
    let mut ecdsa = rs.to_vec();
    ecdsa.push(i32::from(recovery_id) as u8);
    let public_key = secp256k1::PublicKey::from_secret_key(&secp, &secret_key);
    for (signature, expected) in [(Bytes::from(ecdsa), true), (tampered(&rs), false)] {
        let call = VerifierProbe::verifyEcdsaCall {
            t: 2,
            n: 3,
            key: public_key.serialize().to_vec().into(),
            messageHash: B256::from(MESSAGE),
            // The tampered case is 64 bytes: a length no parameter set uses is `false` too.
            signature,
        };
        assert_eq!(chain.view(probe, &call).unwrap(), expected);
    }
}

#[test]
fn ml_dsa_and_slh_dsa_answer_through_the_library() {
    let (mut chain, probe) = probe();
    let (public_key, private_key) = fips204::ml_dsa_65::try_keygen().unwrap();
    let signature = private_key.try_sign(&MESSAGE, b"").unwrap();
    for (signature, expected) in [
        (Bytes::from(signature.to_vec()), true),
        (tampered(&signature), false),
    ] {
        let call = VerifierProbe::verifyMlDsaCall {
            key: public_key.clone().into_bytes().to_vec().into(),
            message: MESSAGE.to_vec().into(),
            signature,
        };
        assert_eq!(chain.view(probe, &call).unwrap(), expected);
    }

    let (public_key, private_key) = fips205::slh_dsa_sha2_128f::try_keygen().unwrap();
    let signature = private_key.try_sign(&MESSAGE, b"", true).unwrap();
    let key: Bytes = public_key.into_bytes().to_vec().into();
    let sha2 = VerifierProbe::verifySlhDsaCall {
        key: key.clone(),
        message: MESSAGE.to_vec().into(),
        signature: signature.to_vec().into(),
    };
    assert!(chain.view(probe, &sha2).unwrap());
    // The same bytes through the SHAKE function are a different parameter set: no match.
    let shake = VerifierProbe::verifySlhDsaShakeCall {
        key,
        message: MESSAGE.to_vec().into(),
        signature: signature.to_vec().into(),
    };
    assert!(!chain.view(probe, &shake).unwrap());
}

#[test]
fn a_halted_precompile_call_reverts_with_precompile_call_failed() {
    let (mut chain, probe) = probe();
    // threshold 0 halts the FROST precompile (DESIGN.md section 1).
    let call = chain
        .send(
            probe,
            &VerifierProbe::verifyBip340Call {
                t: 0,
                n: 3,
                key: B256::repeat_byte(1),
                messageHash: B256::from(MESSAGE),
                signature: vec![0; 64].into(),
            },
        )
        .unwrap();
    assert_eq!(
        call.revert::<VerifierProbeErrors>(),
        Some(VerifierProbeErrors::PrecompileCallFailed(
            VerifierProbe::PrecompileCallFailed {
                precompile: FROST_ADDRESS
            }
        ))
    );
    // Malformed ML-DSA input is not a halt: a key of no parameter set's length is `false`.
    let short_key = VerifierProbe::verifyMlDsaCall {
        key: vec![1; 31].into(),
        message: MESSAGE.to_vec().into(),
        signature: vec![2; 64].into(),
    };
    assert!(!chain.view(probe, &short_key).unwrap());
}

#[test]
fn a_chain_without_the_precompile_reverts_with_malformed_precompile_result() {
    let (mut chain, probe) = probe();
    // Ringtail is reserved but not served: the call finds an empty account and gets no answer,
    // which an interface call would have turned into an empty revert.
    let call = chain
        .send(
            probe,
            &VerifierProbe::verifyRingtailCall {
                t: 2,
                n: 3,
                messageHash: B256::from(MESSAGE),
                signature: vec![0; 64].into(),
            },
        )
        .unwrap();
    match call.revert::<VerifierProbeErrors>() {
        Some(VerifierProbeErrors::MalformedPrecompileResult(error)) => {
            assert_eq!(
                error.precompile,
                "0x020000000000000000000000000000000000000B"
                    .parse::<Address>()
                    .unwrap()
            );
            assert!(error.result.is_empty());
        }
        other => panic!("expected MalformedPrecompileResult, got {other:?} ({call:?})"),
    }
}
