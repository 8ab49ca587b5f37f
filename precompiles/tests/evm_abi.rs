//! ABI round trips through real revm transactions: every function, out-of-gas, unknown
//! selectors, truncated and non-canonical calldata, signer bounds, and Ethereum's own
//! precompiles still served by the wrapped provider.

mod common;

use alloy_primitives::{Address, B256, address};
use alloy_sol_types::SolCall;
use common::{abi_bool, transact};
use thresig_precompiles::abi::{
    IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier,
};
use thresig_precompiles::precompile::{
    ADDRESSES, FROST_ADDRESS, Function, ML_DSA_ADDRESS, SLH_DSA_ADDRESS, THRESHOLD_ECDSA_ADDRESS,
};

/// A well-formed call of `function` (its signature need not verify) and its seed-schedule cost.
fn sample_call(function: Function) -> (Vec<u8>, u64) {
    match function {
        Function::FrostBip340 => (
            IFrostVerifier::verifyCall {
                threshold: 2,
                totalSigners: 3,
                publicKey: B256::repeat_byte(1),
                messageHash: B256::repeat_byte(2),
                signature: vec![3; 64].into(),
            }
            .abi_encode(),
            65_000,
        ),
        Function::FrostEd25519 => (
            IFrostVerifier::verifyEd25519Call {
                threshold: 3,
                totalSigners: 4,
                publicKey: B256::repeat_byte(1),
                message: vec![2; 100].into(),
                signature: vec![3; 64].into(),
            }
            .abi_encode(),
            70_000,
        ),
        Function::ThresholdEcdsa => (
            IThresholdEcdsaVerifier::verifyCall {
                threshold: 3,
                totalSigners: 5,
                publicKey: vec![2; 33].into(),
                messageHash: B256::repeat_byte(2),
                signature: vec![3; 65].into(),
            }
            .abi_encode(),
            125_000,
        ),
        Function::MlDsa => (
            IMlDsaVerifier::verifyCall {
                publicKey: vec![1; 1952].into(),
                message: vec![2; 77].into(),
                signature: vec![3; 3309].into(),
            }
            .abi_encode(),
            100_770,
        ),
        Function::SlhDsaSha2 => (
            ISlhDsaVerifier::verifyCall {
                publicKey: vec![1; 32].into(),
                message: vec![2; 10].into(),
                signature: vec![3; 7856].into(),
            }
            .abi_encode(),
            250_200,
        ),
        Function::SlhDsaShake => (
            ISlhDsaVerifier::verifyShakeCall {
                publicKey: vec![1; 32].into(),
                message: vec![2; 10].into(),
                signature: vec![3; 17_088].into(),
            }
            .abi_encode(),
            250_200,
        ),
    }
}

#[test]
fn every_function_returns_an_abi_bool_and_charges_its_seed_price() {
    for function in Function::ALL {
        let (input, cost) = sample_call(function);
        let report = transact(function.address(), input, 10_000_000);
        assert!(report.success, "{function:?}: {:?}", report.error);
        assert_eq!(
            report.output,
            abi_bool(false),
            "{function:?}: garbage does not verify"
        );
        assert_eq!(report.precompile_gas, cost, "{function:?}");
    }
}

#[test]
fn gas_below_the_cost_is_out_of_gas_and_exactly_the_cost_suffices() {
    for function in Function::ALL {
        let (input, cost) = sample_call(function);
        let short = transact(function.address(), input.clone(), cost - 1);
        assert!(!short.success, "{function:?}");
        assert_eq!(short.error.as_deref(), Some("out of gas"), "{function:?}");
        assert_eq!(
            short.precompile_gas,
            cost - 1,
            "{function:?}: a halt consumes the frame's gas"
        );
        let exact = transact(function.address(), input, cost);
        assert!(exact.success, "{function:?}: {:?}", exact.error);
    }
}

fn assert_halts(address: Address, input: Vec<u8>, expected: &str) {
    let report = transact(address, input, 10_000_000);
    assert!(
        !report.success,
        "{address}: expected a halt with {expected:?}"
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains(expected),
        "{address}: {error:?} does not say {expected:?}"
    );
    assert_eq!(report.precompile_gas, 10_000_000, "a halt consumes all gas");
    assert!(report.output.is_empty());
}

#[test]
fn unknown_selectors_halt_naming_the_selector() {
    for address in ADDRESSES {
        assert_halts(
            address,
            vec![0xde, 0xad, 0xbe, 0xef, 0, 0],
            "unknown selector 0xdeadbeef",
        );
    }
    // A selector of another precompile is unknown here.
    let (ecdsa_call, _) = sample_call(Function::ThresholdEcdsa);
    let (frost_call, _) = sample_call(Function::FrostBip340);
    assert_halts(FROST_ADDRESS, ecdsa_call.clone(), "unknown selector");
    assert_halts(ML_DSA_ADDRESS, frost_call, "unknown selector");
    assert_halts(SLH_DSA_ADDRESS, ecdsa_call, "unknown selector");
}

#[test]
fn calldata_shorter_than_a_selector_halts() {
    for address in ADDRESSES {
        assert_halts(address, vec![], "shorter than a 4-byte selector");
        assert_halts(address, vec![1, 2, 3], "shorter than a 4-byte selector");
    }
}

#[test]
fn truncated_calldata_halts_for_every_function() {
    for function in Function::ALL {
        let (input, _) = sample_call(function);
        for keep in [4, 36, input.len() / 2, input.len() - 1] {
            assert_halts(
                function.address(),
                input[..keep].to_vec(),
                "does not decode",
            );
        }
    }
}

#[test]
fn trailing_bytes_and_missing_padding_halt() {
    for function in Function::ALL {
        let (mut input, _) = sample_call(function);
        input.push(0);
        assert_halts(function.address(), input, "not the canonical ABI encoding");
    }
    // An odd-length dynamic argument whose last padding byte is missing.
    let (input, _) = sample_call(Function::ThresholdEcdsa);
    assert_halts(
        THRESHOLD_ECDSA_ADDRESS,
        input[..input.len() - 1].to_vec(),
        "does not decode",
    );
}

#[test]
fn non_canonical_uint32_halts() {
    let (mut input, _) = sample_call(Function::FrostBip340);
    // The threshold word's high bytes must be zero for a uint32.
    input[4] = 1;
    assert_halts(FROST_ADDRESS, input, "does not decode");
}

fn frost_with_signers(threshold: u32, total_signers: u32) -> Vec<u8> {
    IFrostVerifier::verifyCall {
        threshold,
        totalSigners: total_signers,
        publicKey: B256::repeat_byte(1),
        messageHash: B256::repeat_byte(2),
        signature: vec![3; 64].into(),
    }
    .abi_encode()
}

fn ecdsa_with_signers(threshold: u32, total_signers: u32) -> Vec<u8> {
    IThresholdEcdsaVerifier::verifyCall {
        threshold,
        totalSigners: total_signers,
        publicKey: vec![2; 33].into(),
        messageHash: B256::repeat_byte(2),
        signature: vec![3; 65].into(),
    }
    .abi_encode()
}

#[test]
fn signer_bounds_halt_with_the_reason() {
    for (address, encode) in [
        (FROST_ADDRESS, frost_with_signers as fn(u32, u32) -> Vec<u8>),
        (THRESHOLD_ECDSA_ADDRESS, ecdsa_with_signers),
    ] {
        assert_halts(address, encode(0, 3), "threshold must be at least 1");
        assert_halts(address, encode(4, 3), "threshold 4 exceeds totalSigners 3");
        assert_halts(
            address,
            encode(1, 1001),
            "totalSigners 1001 exceeds the maximum of 1000",
        );
        assert_halts(address, encode(u32::MAX, u32::MAX), "exceeds the maximum");
        for (threshold, total) in [(1, 1), (1000, 1000), (1, 1000)] {
            let report = transact(address, encode(threshold, total), 11_000_000);
            assert!(report.success, "{threshold}-of-{total}: {:?}", report.error);
        }
    }
    let report = transact(FROST_ADDRESS, frost_with_signers(1000, 1000), 11_000_000);
    assert_eq!(report.precompile_gas, 50_000 + 5_000 * 1000);
    let report = transact(
        THRESHOLD_ECDSA_ADDRESS,
        ecdsa_with_signers(1000, 1000),
        11_000_000,
    );
    assert_eq!(report.precompile_gas, 75_000 + 10_000 * 1000);
}

#[test]
fn lengths_no_parameter_set_uses_return_false() {
    let calls = [
        (
            ML_DSA_ADDRESS,
            IMlDsaVerifier::verifyCall {
                publicKey: vec![1; 1000].into(),
                message: vec![].into(),
                signature: vec![3; 2420].into(),
            }
            .abi_encode(),
        ),
        (
            ML_DSA_ADDRESS,
            IMlDsaVerifier::verifyCall {
                publicKey: vec![1; 1312].into(),
                message: vec![].into(),
                signature: vec![3; 3309].into(),
            }
            .abi_encode(),
        ),
        (
            SLH_DSA_ADDRESS,
            ISlhDsaVerifier::verifyCall {
                publicKey: vec![1; 32].into(),
                message: vec![].into(),
                signature: vec![3; 17_087].into(),
            }
            .abi_encode(),
        ),
        (
            SLH_DSA_ADDRESS,
            ISlhDsaVerifier::verifyShakeCall {
                publicKey: vec![1; 40].into(),
                message: vec![].into(),
                signature: vec![3; 7856].into(),
            }
            .abi_encode(),
        ),
        (
            FROST_ADDRESS,
            IFrostVerifier::verifyCall {
                threshold: 1,
                totalSigners: 1,
                publicKey: B256::ZERO,
                messageHash: B256::ZERO,
                signature: vec![3; 65].into(),
            }
            .abi_encode(),
        ),
        (
            FROST_ADDRESS,
            IFrostVerifier::verifyEd25519Call {
                threshold: 1,
                totalSigners: 1,
                publicKey: B256::ZERO,
                message: vec![].into(),
                signature: vec![].into(),
            }
            .abi_encode(),
        ),
        (
            THRESHOLD_ECDSA_ADDRESS,
            IThresholdEcdsaVerifier::verifyCall {
                threshold: 1,
                totalSigners: 1,
                publicKey: vec![2; 34].into(),
                messageHash: B256::ZERO,
                signature: vec![3; 65].into(),
            }
            .abi_encode(),
        ),
        // The precompile takes only r‖s‖v.
        (
            THRESHOLD_ECDSA_ADDRESS,
            IThresholdEcdsaVerifier::verifyCall {
                threshold: 1,
                totalSigners: 1,
                publicKey: vec![2; 33].into(),
                messageHash: B256::ZERO,
                signature: vec![3; 64].into(),
            }
            .abi_encode(),
        ),
    ];
    for (address, input) in calls {
        let report = transact(address, input, 10_000_000);
        assert!(report.success, "{address}: {:?}", report.error);
        assert_eq!(report.output, abi_bool(false), "{address}");
    }
}

#[test]
fn ethereums_own_precompiles_are_still_served() {
    // identity (0x04) echoes its input; sha256 (0x02) hashes it.
    let identity = transact(
        address!("0x0000000000000000000000000000000000000004"),
        b"thresig".to_vec(),
        100_000,
    );
    assert!(identity.success);
    assert_eq!(&identity.output[..], b"thresig");
    let sha256 = transact(
        address!("0x0000000000000000000000000000000000000002"),
        b"abc".to_vec(),
        100_000,
    );
    assert_eq!(
        hex::encode(&sha256.output),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
