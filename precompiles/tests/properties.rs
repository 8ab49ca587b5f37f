//! Properties: arbitrary calldata never panics, and flipping any bit of a valid signature, key
//! or message makes it invalid (keys and signatures made by libraries this project did not
//! write: libsecp256k1, ed25519-dalek, fips204, fips205).

use std::sync::LazyLock;

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;
use ed25519_dalek::Signer as _;
use fips204::traits::{SerDes as _, Signer as _};
use fips205::traits::{SerDes as _, Signer as _};
use proptest::prelude::*;
use thresig_precompiles::abi::{
    IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier,
};
use thresig_precompiles::interface::Interface;
use thresig_precompiles::ml_dsa::MlDsaParameterSet;
use thresig_precompiles::precompile::{ADDRESSES, FROST_ADDRESS, Function};
use thresig_precompiles::slh_dsa::SlhDsaParameterSet;
use thresig_precompiles::{GasSchedule, Scheme, VerifyRequest, execute, verify};

/// A valid signature: (scheme, public key, message, signature).
type Signed = (Scheme, Vec<u8>, Vec<u8>, Vec<u8>);

fn bip340_signed(secret: [u8; 32], message: [u8; 32]) -> Signed {
    let secp = secp256k1::Secp256k1::new();
    let keypair = secp256k1::Keypair::from_seckey_byte_array(&secp, secret).unwrap();
    let signature = secp.sign_schnorr_no_aux_rand(&message, &keypair);
    let (x_only, _) = keypair.x_only_public_key();
    (
        Scheme::Bip340,
        x_only.serialize().to_vec(),
        message.to_vec(),
        signature.to_byte_array().to_vec(),
    )
}

fn ed25519_signed(secret: [u8; 32], message: Vec<u8>) -> Signed {
    let key = ed25519_dalek::SigningKey::from_bytes(&secret);
    let signature = key.sign(&message);
    (
        Scheme::Ed25519,
        key.verifying_key().to_bytes().to_vec(),
        message,
        signature.to_bytes().to_vec(),
    )
}

fn ecdsa_signed(secret: [u8; 32], hash: [u8; 32], compressed: bool) -> Signed {
    let secp = secp256k1::Secp256k1::new();
    let key = secp256k1::SecretKey::from_byte_array(secret).unwrap();
    let public = secp256k1::PublicKey::from_secret_key(&secp, &key);
    let signature = secp.sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &key);
    let (recovery_id, rs) = signature.serialize_compact();
    let mut encoded = rs.to_vec();
    encoded.push(27 + i32::from(recovery_id) as u8);
    let public = if compressed {
        public.serialize().to_vec()
    } else {
        public.serialize_uncompressed().to_vec()
    };
    (Scheme::EcdsaSecp256k1, public, hash.to_vec(), encoded)
}

static ML_DSA_44: LazyLock<Signed> = LazyLock::new(|| {
    let (public_key, private_key) = fips204::ml_dsa_44::try_keygen().unwrap();
    let message = b"property test message".to_vec();
    let signature = private_key.try_sign(&message, b"").unwrap();
    (
        Scheme::MlDsa(MlDsaParameterSet::MlDsa44),
        public_key.into_bytes().to_vec(),
        message,
        signature.to_vec(),
    )
});

static SLH_DSA_SHAKE_128F: LazyLock<Signed> = LazyLock::new(|| {
    let (public_key, private_key) = fips205::slh_dsa_shake_128f::try_keygen().unwrap();
    let message = b"property test message".to_vec();
    let signature = private_key.try_sign(&message, b"", true).unwrap();
    (
        Scheme::SlhDsa(SlhDsaParameterSet::Shake128f),
        public_key.into_bytes().to_vec(),
        message,
        signature.to_vec(),
    )
});

fn verifies(scheme: Scheme, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    verify(&VerifyRequest {
        scheme,
        public_key: key,
        message,
        signature,
        context: None,
        internal: false,
    })
    .unwrap_or(false)
}

/// Flips bit `bit` (taken modulo the total) across key ‖ message ‖ signature.
fn flipped((_, key, message, signature): &Signed, bit: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut key, mut message, mut signature) = (key.clone(), message.clone(), signature.clone());
    let total = (key.len() + message.len() + signature.len()) * 8;
    let bit = bit % total;
    let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
    if byte < key.len() {
        key[byte] ^= mask;
    } else if byte < key.len() + message.len() {
        message[byte - key.len()] ^= mask;
    } else {
        signature[byte - key.len() - message.len()] ^= mask;
    }
    (key, message, signature)
}

fn assert_every_flip_fails(signed: &Signed, bit: usize) -> Result<(), TestCaseError> {
    let (scheme, key, message, signature) = signed;
    prop_assert!(
        verifies(*scheme, key, message, signature),
        "the unflipped signature is valid"
    );
    // No single-bit flip turns v = 27 or 28 into another accepted spelling of the same id.
    let (key, message, signature) = flipped(signed, bit);
    prop_assert!(
        !verifies(*scheme, &key, &message, &signature),
        "bit {bit} flipped still verifies"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_calldata_never_panics(
        address_index in 0usize..4,
        input in proptest::collection::vec(any::<u8>(), 0..600),
        gas in any::<u64>(),
    ) {
        let _ = execute(&ADDRESSES[address_index], &input, gas, &GasSchedule::SEED);
    }

    #[test]
    fn arbitrary_arguments_behind_a_valid_selector_never_panic(
        function_index in 0usize..6,
        body in proptest::collection::vec(any::<u8>(), 0..800),
    ) {
        let function = Function::ALL[function_index];
        let mut input = function.selector().to_vec();
        input.extend(body);
        let _ = execute(&function.address(), &input, u64::MAX, &GasSchedule::SEED);
    }

    #[test]
    fn mutated_valid_calldata_never_panics(bit in 0usize..(8 * 228), replacement in any::<u8>()) {
        let call = IFrostVerifier::verifyEd25519Call {
            threshold: 2,
            totalSigners: 3,
            publicKey: B256::repeat_byte(7),
            message: vec![1; 20].into(),
            signature: vec![2; 64].into(),
        };
        let mut input = call.abi_encode();
        let byte = (bit / 8) % input.len();
        input[byte] = replacement;
        let _ = execute(&FROST_ADDRESS, &input, u64::MAX, &GasSchedule::SEED);
        let _ = execute(&Address::ZERO, &input, u64::MAX, &GasSchedule::SEED);
    }

    #[test]
    fn bip340_any_flipped_bit_is_invalid(secret in any::<[u8; 32]>(), message in any::<[u8; 32]>(), bit in any::<usize>()) {
        prop_assume!(secp256k1::SecretKey::from_byte_array(secret).is_ok());
        assert_every_flip_fails(&bip340_signed(secret, message), bit)?;
    }

    #[test]
    fn ed25519_any_flipped_bit_is_invalid(secret in any::<[u8; 32]>(), message in proptest::collection::vec(any::<u8>(), 0..100), bit in any::<usize>()) {
        assert_every_flip_fails(&ed25519_signed(secret, message), bit)?;
    }

    #[test]
    fn ecdsa_any_flipped_bit_is_invalid(secret in any::<[u8; 32]>(), hash in any::<[u8; 32]>(), compressed in any::<bool>(), bit in any::<usize>()) {
        prop_assume!(secp256k1::SecretKey::from_byte_array(secret).is_ok());
        assert_every_flip_fails(&ecdsa_signed(secret, hash, compressed), bit)?;
    }
}

/// A call of `function` whose key and signature are random bytes of lengths the function
/// accepts (every parameter set, every SEC1 tag position), so decoding succeeds and the
/// verifier itself runs on arbitrary bytes.
fn random_well_formed_call(function: Function, choice: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut bytes = |len: usize| -> Vec<u8> { (0..len).map(|_| rng.r#gen()).collect() };
    match function {
        Function::FrostBip340 => IFrostVerifier::verifyCall {
            threshold: 1,
            totalSigners: 1,
            publicKey: B256::from_slice(&bytes(32)),
            messageHash: B256::from_slice(&bytes(32)),
            signature: bytes(64).into(),
        }
        .abi_encode(),
        Function::FrostEd25519 => IFrostVerifier::verifyEd25519Call {
            threshold: 1,
            totalSigners: 1,
            publicKey: B256::from_slice(&bytes(32)),
            message: bytes(choice % 200).into(),
            signature: bytes(64).into(),
        }
        .abi_encode(),
        Function::ThresholdEcdsa => {
            let key_len = if choice.is_multiple_of(2) { 33 } else { 65 };
            let mut key = bytes(key_len);
            // Half the time a plausible tag, so on-curve parsing is reached.
            if choice % 4 < 2 {
                key[0] = if key_len == 33 {
                    2 + (choice as u8 % 2)
                } else {
                    4
                };
            }
            let mut signature = bytes(65);
            signature[64] = [0, 1, 27, 28][choice % 4];
            IThresholdEcdsaVerifier::verifyCall {
                threshold: 1,
                totalSigners: 1,
                publicKey: key.into(),
                messageHash: B256::from_slice(&bytes(32)),
                signature: signature.into(),
            }
            .abi_encode()
        }
        Function::MlDsa => {
            let set = MlDsaParameterSet::ALL[choice % 3];
            IMlDsaVerifier::verifyCall {
                publicKey: bytes(set.public_key_len()).into(),
                message: bytes(choice % 64).into(),
                signature: bytes(set.signature_len()).into(),
            }
            .abi_encode()
        }
        Function::SlhDsaSha2 | Function::SlhDsaShake => {
            // The small and fast sets keep the case count affordable; all sets share the code.
            let sets = if function == Function::SlhDsaSha2 {
                [
                    SlhDsaParameterSet::Sha2_128s,
                    SlhDsaParameterSet::Sha2_192s,
                    SlhDsaParameterSet::Sha2_256s,
                ]
            } else {
                [
                    SlhDsaParameterSet::Shake128s,
                    SlhDsaParameterSet::Shake128f,
                    SlhDsaParameterSet::Shake256s,
                ]
            };
            let set = sets[choice % 3];
            let (public_key, message, signature) = (
                bytes(set.public_key_len()).into(),
                bytes(choice % 64).into(),
                bytes(set.signature_len()).into(),
            );
            if function == Function::SlhDsaSha2 {
                ISlhDsaVerifier::verifyCall {
                    publicKey: public_key,
                    message,
                    signature,
                }
                .abi_encode()
            } else {
                ISlhDsaVerifier::verifyShakeCall {
                    publicKey: public_key,
                    message,
                    signature,
                }
                .abi_encode()
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_keys_and_signatures_of_accepted_lengths_run_the_verifier_and_fail(
        function_index in 0usize..6,
        choice in any::<usize>(),
        seed in any::<u64>(),
    ) {
        let function = Function::ALL[function_index];
        let input = random_well_formed_call(function, choice, seed);
        let outcome = execute(&function.address(), &input, u64::MAX, &GasSchedule::SEED);
        prop_assert!(matches!(outcome, Ok(success) if !success.valid), "{function:?}: {outcome:?}");
    }
}

proptest! {
    // Post-quantum verification is slower; fewer cases over one fixed signature each.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ml_dsa_any_flipped_bit_is_invalid(bit in any::<usize>()) {
        assert_every_flip_fails(&ML_DSA_44, bit)?;
    }

    #[test]
    fn slh_dsa_any_flipped_bit_is_invalid(bit in any::<usize>()) {
        assert_every_flip_fails(&SLH_DSA_SHAKE_128F, bit)?;
    }

    #[test]
    fn pq_verification_with_arbitrary_context_never_panics(context in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (scheme, key, message, signature) = &*ML_DSA_44;
        let request = VerifyRequest { scheme: *scheme, public_key: key, message, signature, context: Some(&context), internal: false };
        let verdict = verify(&request);
        if context.len() > 255 {
            prop_assert!(verdict.is_err());
        } else {
            prop_assert_eq!(verdict, Ok(context.is_empty()));
        }
        let _ = Interface::PURE_EMPTY_CONTEXT;
    }
}
