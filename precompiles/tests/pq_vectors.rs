//! ML-DSA and SLH-DSA: the NIST ACVP sigVer files through the internal interface, and
//! signatures made by independent implementations (integritychain's fips204/fips205 and PQClean
//! through pqcrypto-mldsa) through the external interface, the precompiles' interface.

mod common;

use alloy_sol_types::SolCall;
use common::{abi_bool, hex_field, read_json, transact};
use fips204::traits::{SerDes as _, Signer as _};
use fips205::traits::{SerDes as _, Signer as _};
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _};
use rand::RngCore;
use thresig_precompiles::Interface;
use thresig_precompiles::abi::{IMlDsaVerifier, ISlhDsaVerifier};
use thresig_precompiles::ml_dsa::{self, MlDsaParameterSet};
use thresig_precompiles::precompile::{ML_DSA_ADDRESS, SLH_DSA_ADDRESS};
use thresig_precompiles::slh_dsa::{self, SlhDsaFamily, SlhDsaParameterSet};

fn ml_dsa_set(name: &str) -> MlDsaParameterSet {
    MlDsaParameterSet::ALL
        .into_iter()
        .find(|set| set.name().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("unknown ML-DSA set {name}"))
}

fn slh_dsa_set(name: &str) -> SlhDsaParameterSet {
    SlhDsaParameterSet::ALL
        .into_iter()
        .find(|set| set.name().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("unknown SLH-DSA set {name}"))
}

#[test]
fn acvp_ml_dsa_sigver_internal_interface() {
    let file = read_json("acvp/ML-DSA-sigVer-FIPS204/internalProjection.json");
    let mut counted = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let set = ml_dsa_set(group["parameterSet"].as_str().unwrap());
        let public_key = hex_field(group, "pk");
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let expected = test["testPassed"].as_bool().unwrap();
            let signature = hex_field(test, "signature");
            let message = hex_field(test, "message");
            // A signature of the wrong length is malformed; ACVP expects it to fail.
            let verdict =
                ml_dsa::verify(set, &public_key, &message, &signature, Interface::Internal)
                    .unwrap_or(false);
            assert_eq!(
                verdict,
                expected,
                "{} tcId {id}: {}",
                set.name(),
                test["reason"]
            );
            counted += 1;
        }
    }
    assert_eq!(counted, 45, "15 cases for each of the three sets");
}

#[test]
fn acvp_slh_dsa_sigver_internal_interface() {
    let file = read_json("acvp/SLH-DSA-sigVer-FIPS205/internalProjection.json");
    let mut counted = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let set = slh_dsa_set(&format!(
            "slh-dsa-{}",
            group["parameterSet"]
                .as_str()
                .unwrap()
                .trim_start_matches("SLH-DSA-")
                .to_lowercase()
        ));
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let expected = test["testPassed"].as_bool().unwrap();
            let verdict = slh_dsa::verify(
                set,
                &hex_field(test, "pk"),
                &hex_field(test, "message"),
                &hex_field(test, "signature"),
                Interface::Internal,
            )
            .unwrap_or(false);
            assert_eq!(
                verdict,
                expected,
                "{} tcId {id}: {}",
                set.name(),
                test["reason"]
            );
            counted += 1;
        }
    }
    assert_eq!(counted, 45, "9 cases for each of five sets");
}

fn random_message(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut message = vec![0u8; len];
    rng.fill_bytes(&mut message);
    message
}

/// Flips one bit of `bytes` at a position chosen by `rng` (an empty message gains a byte).
fn flip_bit(rng: &mut impl RngCore, bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return vec![0];
    }
    let mut flipped = bytes.to_vec();
    let bit = (rng.next_u64() as usize) % (bytes.len() * 8);
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

/// Checks one externally made signature: valid with its context, in the EVM with an empty
/// context, and invalid with any bit of key, message or signature flipped or another context.
fn check_ml_dsa(
    set: MlDsaParameterSet,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
    context: &[u8],
) {
    let mut rng = rand::thread_rng();
    let external = Interface::External { context };
    assert!(
        ml_dsa::verify(set, key, message, signature, external).unwrap(),
        "{}",
        set.name()
    );
    for (key, message, signature) in [
        (
            flip_bit(&mut rng, key),
            message.to_vec(),
            signature.to_vec(),
        ),
        (
            key.to_vec(),
            flip_bit(&mut rng, message),
            signature.to_vec(),
        ),
        (
            key.to_vec(),
            message.to_vec(),
            flip_bit(&mut rng, signature),
        ),
    ] {
        assert!(
            !ml_dsa::verify(set, &key, &message, &signature, external).unwrap(),
            "{}",
            set.name()
        );
    }
    let other_context = Interface::External {
        context: b"another context",
    };
    assert!(!ml_dsa::verify(set, key, message, signature, other_context).unwrap());
    if context.is_empty() {
        let call = IMlDsaVerifier::verifyCall {
            publicKey: key.to_vec().into(),
            message: message.to_vec().into(),
            signature: signature.to_vec().into(),
        };
        let report = transact(ML_DSA_ADDRESS, call.abi_encode(), 10_000_000);
        assert_eq!(
            report.output,
            abi_bool(true),
            "{}: {:?}",
            set.name(),
            report.error
        );
        assert_eq!(report.precompile_gas, 100_000 + 10 * message.len() as u64);
    }
}

macro_rules! fips204_round {
    ($module:ident, $set:expr, $rng:expr, $len:expr, $context:expr) => {{
        let (public_key, private_key) = fips204::$module::try_keygen().unwrap();
        let message = random_message($rng, $len);
        let signature = private_key.try_sign(&message, $context).unwrap();
        check_ml_dsa(
            $set,
            &public_key.into_bytes(),
            &message,
            &signature,
            $context,
        );
    }};
}

#[test]
fn ml_dsa_signatures_from_fips204_verify_externally() {
    let mut rng = rand::thread_rng();
    for (len, context) in [
        (0usize, &b""[..]),
        (32, &b""[..]),
        (1000, &b"bridge v1"[..]),
        (10_240, &[7u8; 255][..]),
    ] {
        fips204_round!(
            ml_dsa_44,
            MlDsaParameterSet::MlDsa44,
            &mut rng,
            len,
            context
        );
        fips204_round!(
            ml_dsa_65,
            MlDsaParameterSet::MlDsa65,
            &mut rng,
            len,
            context
        );
        fips204_round!(
            ml_dsa_87,
            MlDsaParameterSet::MlDsa87,
            &mut rng,
            len,
            context
        );
    }
}

macro_rules! pqclean_round {
    ($module:ident, $set:expr, $rng:expr, $len:expr, $context:expr) => {{
        let (public_key, secret_key) = pqcrypto_mldsa::$module::keypair();
        let message = random_message($rng, $len);
        let signature = pqcrypto_mldsa::$module::detached_sign_ctx(&message, $context, &secret_key);
        check_ml_dsa(
            $set,
            public_key.as_bytes(),
            &message,
            signature.as_bytes(),
            $context,
        );
    }};
}

#[test]
fn ml_dsa_signatures_from_pqclean_verify_externally() {
    let mut rng = rand::thread_rng();
    for (len, context) in [(0usize, &b""[..]), (100, &b"ctx"[..])] {
        pqclean_round!(mldsa44, MlDsaParameterSet::MlDsa44, &mut rng, len, context);
        pqclean_round!(mldsa65, MlDsaParameterSet::MlDsa65, &mut rng, len, context);
        pqclean_round!(mldsa87, MlDsaParameterSet::MlDsa87, &mut rng, len, context);
    }
}

fn check_slh_dsa(
    set: SlhDsaParameterSet,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
    context: &[u8],
) {
    let mut rng = rand::thread_rng();
    let external = Interface::External { context };
    assert!(
        slh_dsa::verify(set, key, message, signature, external).unwrap(),
        "{}",
        set.name()
    );
    for (key, message, signature) in [
        (
            flip_bit(&mut rng, key),
            message.to_vec(),
            signature.to_vec(),
        ),
        (
            key.to_vec(),
            flip_bit(&mut rng, message),
            signature.to_vec(),
        ),
        (
            key.to_vec(),
            message.to_vec(),
            flip_bit(&mut rng, signature),
        ),
    ] {
        assert!(
            !slh_dsa::verify(set, &key, &message, &signature, external).unwrap(),
            "{}",
            set.name()
        );
    }
    let other_context = Interface::External {
        context: b"another context",
    };
    assert!(!slh_dsa::verify(set, key, message, signature, other_context).unwrap());
    if context.is_empty() {
        let (key_bytes, message_bytes, signature_bytes) = (
            key.to_vec().into(),
            message.to_vec().into(),
            signature.to_vec().into(),
        );
        let input = match set.family() {
            SlhDsaFamily::Sha2 => ISlhDsaVerifier::verifyCall {
                publicKey: key_bytes,
                message: message_bytes,
                signature: signature_bytes,
            }
            .abi_encode(),
            SlhDsaFamily::Shake => ISlhDsaVerifier::verifyShakeCall {
                publicKey: key_bytes,
                message: message_bytes,
                signature: signature_bytes,
            }
            .abi_encode(),
        };
        let report = transact(SLH_DSA_ADDRESS, input, 10_000_000);
        assert_eq!(
            report.output,
            abi_bool(true),
            "{}: {:?}",
            set.name(),
            report.error
        );
        assert_eq!(report.precompile_gas, 250_000 + 20 * message.len() as u64);
        // The other family's function never accepts it: the set is chosen per family.
        let (key_bytes, message_bytes, signature_bytes) = (
            key.to_vec().into(),
            message.to_vec().into(),
            signature.to_vec().into(),
        );
        let wrong_family = match set.family() {
            SlhDsaFamily::Sha2 => ISlhDsaVerifier::verifyShakeCall {
                publicKey: key_bytes,
                message: message_bytes,
                signature: signature_bytes,
            }
            .abi_encode(),
            SlhDsaFamily::Shake => ISlhDsaVerifier::verifyCall {
                publicKey: key_bytes,
                message: message_bytes,
                signature: signature_bytes,
            }
            .abi_encode(),
        };
        let report = transact(SLH_DSA_ADDRESS, wrong_family, 10_000_000);
        assert_eq!(
            report.output,
            abi_bool(false),
            "{} through the other family",
            set.name()
        );
    }
}

macro_rules! fips205_round {
    ($module:ident, $set:expr, $len:expr, $context:expr) => {{
        let mut rng = rand::thread_rng();
        let (public_key, private_key) = fips205::$module::try_keygen().unwrap();
        let message = random_message(&mut rng, $len);
        let signature = private_key.try_sign(&message, $context, true).unwrap();
        check_slh_dsa(
            $set,
            &public_key.into_bytes(),
            &message,
            &signature,
            $context,
        );
    }};
}

/// All twelve sets, 128s included (no ACVP vectors for it here), signed by fips205.
#[test]
fn slh_dsa_signatures_from_fips205_verify_externally_for_all_twelve_sets() {
    {
        let (len, context) = (32usize, &b""[..]);
        fips205_round!(
            slh_dsa_sha2_128s,
            SlhDsaParameterSet::Sha2_128s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_sha2_128f,
            SlhDsaParameterSet::Sha2_128f,
            len,
            context
        );
        fips205_round!(
            slh_dsa_sha2_192s,
            SlhDsaParameterSet::Sha2_192s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_sha2_192f,
            SlhDsaParameterSet::Sha2_192f,
            len,
            context
        );
        fips205_round!(
            slh_dsa_sha2_256s,
            SlhDsaParameterSet::Sha2_256s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_sha2_256f,
            SlhDsaParameterSet::Sha2_256f,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_128s,
            SlhDsaParameterSet::Shake128s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_128f,
            SlhDsaParameterSet::Shake128f,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_192s,
            SlhDsaParameterSet::Shake192s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_192f,
            SlhDsaParameterSet::Shake192f,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_256s,
            SlhDsaParameterSet::Shake256s,
            len,
            context
        );
        fips205_round!(
            slh_dsa_shake_256f,
            SlhDsaParameterSet::Shake256f,
            len,
            context
        );
    }
}

#[test]
fn slh_dsa_signatures_with_a_context_verify_only_with_that_context() {
    fips205_round!(
        slh_dsa_sha2_128f,
        SlhDsaParameterSet::Sha2_128f,
        1000,
        b"vault"
    );
    fips205_round!(
        slh_dsa_shake_128f,
        SlhDsaParameterSet::Shake128f,
        0,
        &[9u8; 255]
    );
}

#[test]
fn lengths_match_fips205_table_2_as_fips205_encodes_them() {
    assert_eq!(
        SlhDsaParameterSet::Sha2_128s.signature_len(),
        fips205::slh_dsa_sha2_128s::SIG_LEN
    );
    assert_eq!(
        SlhDsaParameterSet::Shake256f.signature_len(),
        fips205::slh_dsa_shake_256f::SIG_LEN
    );
    assert_eq!(
        SlhDsaParameterSet::Sha2_192f.public_key_len(),
        fips205::slh_dsa_sha2_192f::PK_LEN
    );
    for set in SlhDsaParameterSet::ALL {
        assert_eq!(
            SlhDsaParameterSet::from_lengths(
                set.family(),
                set.public_key_len(),
                set.signature_len()
            ),
            Some(set)
        );
    }
}
