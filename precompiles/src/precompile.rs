//! The precompiles themselves: addresses, calldata decoding, bounds, gas, and verification.
//!
//! Order of work for every call: decode the calldata, check the signer bounds, charge gas, and
//! only then verify. Every failure before verification halts the call; a signature that does
//! not verify, or a key or signature of a length no parameter set uses, returns `false`.

use alloy_primitives::{Address, Bytes, address};
use alloy_sol_types::{SolCall, SolValue};
use thiserror::Error;

use crate::abi::{IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier};
use crate::gas::GasSchedule;
use crate::interface::Interface;
use crate::ml_dsa::MlDsaParameterSet;
use crate::scheme::Scheme;
use crate::slh_dsa::{SlhDsaFamily, SlhDsaParameterSet};
use crate::{bip340, ecdsa, ed25519, ml_dsa, slh_dsa};

/// FROST Schnorr (BIP-340 and Ed25519).
pub const FROST_ADDRESS: Address = address!("0x020000000000000000000000000000000000000C");
/// Threshold ECDSA over secp256k1.
pub const THRESHOLD_ECDSA_ADDRESS: Address = address!("0x020000000000000000000000000000000000000D");
/// ML-DSA (FIPS 204).
pub const ML_DSA_ADDRESS: Address = address!("0x0200000000000000000000000000000000000006");
/// SLH-DSA (FIPS 205).
pub const SLH_DSA_ADDRESS: Address = address!("0x0200000000000000000000000000000000000007");
/// Every address this crate serves.
pub const ADDRESSES: [Address; 4] = [
    FROST_ADDRESS,
    THRESHOLD_ECDSA_ADDRESS,
    ML_DSA_ADDRESS,
    SLH_DSA_ADDRESS,
];
/// The largest `totalSigners` a call may name.
pub const MAX_TOTAL_SIGNERS: u32 = 1000;

/// One precompile function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `verify` at the FROST address (BIP-340).
    FrostBip340,
    /// `verifyEd25519` at the FROST address.
    FrostEd25519,
    /// `verify` at the threshold ECDSA address.
    ThresholdEcdsa,
    /// `verify` at the ML-DSA address.
    MlDsa,
    /// `verify` at the SLH-DSA address (SHA2 sets).
    SlhDsaSha2,
    /// `verifyShake` at the SLH-DSA address (SHAKE sets).
    SlhDsaShake,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 6] = [
        Function::FrostBip340,
        Function::FrostEd25519,
        Function::ThresholdEcdsa,
        Function::MlDsa,
        Function::SlhDsaSha2,
        Function::SlhDsaShake,
    ];

    /// A short human name, e.g. `FROST Ed25519`.
    pub const fn label(self) -> &'static str {
        match self {
            Function::FrostBip340 => "FROST BIP-340",
            Function::FrostEd25519 => "FROST Ed25519",
            Function::ThresholdEcdsa => "threshold ECDSA",
            Function::MlDsa => "ML-DSA",
            Function::SlhDsaSha2 => "SLH-DSA SHA2",
            Function::SlhDsaShake => "SLH-DSA SHAKE",
        }
    }

    /// The address that serves the function.
    pub const fn address(self) -> Address {
        match self {
            Function::FrostBip340 | Function::FrostEd25519 => FROST_ADDRESS,
            Function::ThresholdEcdsa => THRESHOLD_ECDSA_ADDRESS,
            Function::MlDsa => ML_DSA_ADDRESS,
            Function::SlhDsaSha2 | Function::SlhDsaShake => SLH_DSA_ADDRESS,
        }
    }

    /// The Solidity signature, e.g. `verifyEd25519(uint32,uint32,bytes32,bytes,bytes)`.
    pub const fn signature(self) -> &'static str {
        match self {
            Function::FrostBip340 => IFrostVerifier::verifyCall::SIGNATURE,
            Function::FrostEd25519 => IFrostVerifier::verifyEd25519Call::SIGNATURE,
            Function::ThresholdEcdsa => IThresholdEcdsaVerifier::verifyCall::SIGNATURE,
            Function::MlDsa => IMlDsaVerifier::verifyCall::SIGNATURE,
            Function::SlhDsaSha2 => ISlhDsaVerifier::verifyCall::SIGNATURE,
            Function::SlhDsaShake => ISlhDsaVerifier::verifyShakeCall::SIGNATURE,
        }
    }

    /// The SLH-DSA hash family the function serves, if it is an SLH-DSA function.
    pub const fn slh_dsa_family(self) -> Option<SlhDsaFamily> {
        match self {
            Function::SlhDsaSha2 => Some(SlhDsaFamily::Sha2),
            Function::SlhDsaShake => Some(SlhDsaFamily::Shake),
            _ => None,
        }
    }

    /// Every scheme (parameter set) the function verifies.
    pub fn schemes(self) -> impl Iterator<Item = Scheme> {
        let classical = match self {
            Function::FrostBip340 => Some(Scheme::Bip340),
            Function::FrostEd25519 => Some(Scheme::Ed25519),
            Function::ThresholdEcdsa => Some(Scheme::EcdsaSecp256k1),
            _ => None,
        };
        let ml_dsa = MlDsaParameterSet::ALL
            .into_iter()
            .filter(move |_| self == Function::MlDsa)
            .map(Scheme::MlDsa);
        let slh_dsa = SlhDsaParameterSet::ALL
            .into_iter()
            .filter(move |set| Some(set.family()) == self.slh_dsa_family())
            .map(Scheme::SlhDsa);
        classical.into_iter().chain(ml_dsa).chain(slh_dsa)
    }

    /// The scheme a call with these key and signature lengths is verified (and priced) under,
    /// or `None` when no parameter set of the function uses them (the call returns `false`).
    /// ML-DSA chooses by key length alone; a wrong signature length then fails verification.
    pub fn scheme_for(self, public_key_len: usize, signature_len: usize) -> Option<Scheme> {
        match self {
            Function::FrostBip340 => Some(Scheme::Bip340),
            Function::FrostEd25519 => Some(Scheme::Ed25519),
            Function::ThresholdEcdsa => Some(Scheme::EcdsaSecp256k1),
            Function::MlDsa => {
                MlDsaParameterSet::from_public_key_len(public_key_len).map(Scheme::MlDsa)
            }
            Function::SlhDsaSha2 | Function::SlhDsaShake => {
                let family = self.slh_dsa_family()?;
                SlhDsaParameterSet::from_lengths(family, public_key_len, signature_len)
                    .map(Scheme::SlhDsa)
            }
        }
    }

    /// The 4-byte selector.
    pub const fn selector(self) -> [u8; 4] {
        match self {
            Function::FrostBip340 => IFrostVerifier::verifyCall::SELECTOR,
            Function::FrostEd25519 => IFrostVerifier::verifyEd25519Call::SELECTOR,
            Function::ThresholdEcdsa => IThresholdEcdsaVerifier::verifyCall::SELECTOR,
            Function::MlDsa => IMlDsaVerifier::verifyCall::SELECTOR,
            Function::SlhDsaSha2 => ISlhDsaVerifier::verifyCall::SELECTOR,
            Function::SlhDsaShake => ISlhDsaVerifier::verifyShakeCall::SELECTOR,
        }
    }
}

/// Why a precompile call halted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// The address is not one of this crate's precompiles.
    #[error("{0} is not a thresig precompile")]
    NotAPrecompile(Address),
    /// The calldata is shorter than a selector.
    #[error("calldata is {0} bytes, shorter than a 4-byte selector")]
    NoSelector(usize),
    /// The selector names no function of the precompile at this address.
    #[error("unknown selector 0x{selector} for the precompile at {address}", selector = alloy_primitives::hex::encode(.selector))]
    UnknownSelector {
        /// The called address.
        address: Address,
        /// The selector that was sent.
        selector: [u8; 4],
    },
    /// The arguments do not ABI-decode.
    #[error("calldata does not decode as {function}: {reason}")]
    BadCalldata {
        /// The function the selector named.
        function: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// `threshold == 0`.
    #[error("threshold must be at least 1, got 0")]
    ZeroThreshold,
    /// `threshold > totalSigners`.
    #[error("threshold {threshold} exceeds totalSigners {total_signers}")]
    ThresholdAboveSigners {
        /// The threshold given.
        threshold: u32,
        /// The total given.
        total_signers: u32,
    },
    /// `totalSigners > 1000`.
    #[error("totalSigners {0} exceeds the maximum of {MAX_TOTAL_SIGNERS}")]
    TooManySigners(u32),
    /// The gas limit is below the call's cost.
    #[error("out of gas: the call costs {cost} gas and {limit} was given")]
    OutOfGas {
        /// What the call costs.
        cost: u64,
        /// The gas the call was given.
        limit: u64,
    },
}

/// A call that ran to completion: the signature is valid or it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSuccess {
    /// The gas charged.
    pub gas_used: u64,
    /// Whether the signature verified.
    pub valid: bool,
}

impl CallSuccess {
    /// The call's return data: the ABI-encoded `bool`.
    pub fn output(&self) -> Bytes {
        Bytes::from(self.valid.abi_encode())
    }
}

/// A decoded call, ready to be priced and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedCall {
    /// The function called.
    pub function: Function,
    /// `(threshold, totalSigners)` for the threshold schemes.
    pub signers: Option<(u32, u32)>,
    /// The public key bytes.
    pub public_key: Vec<u8>,
    /// The message bytes (the 32-byte hash for BIP-340 and ECDSA).
    pub message: Vec<u8>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// Runs the precompile at `address` on `input` with `gas_limit` gas under `schedule`.
pub fn execute(
    address: &Address,
    input: &[u8],
    gas_limit: u64,
    schedule: &GasSchedule,
) -> Result<CallSuccess, CallError> {
    let call = decode(address, input)?;
    call.check_signer_bounds()?;
    let cost = call.cost(schedule);
    if cost > gas_limit {
        return Err(CallError::OutOfGas {
            cost,
            limit: gas_limit,
        });
    }
    Ok(CallSuccess {
        gas_used: cost,
        valid: call.verify(),
    })
}

/// Decodes `input` as a call to the precompile at `address`.
pub fn decode(address: &Address, input: &[u8]) -> Result<DecodedCall, CallError> {
    if !ADDRESSES.contains(address) {
        return Err(CallError::NotAPrecompile(*address));
    }
    let selector: [u8; 4] = match input.get(..4) {
        Some(selector) => [selector[0], selector[1], selector[2], selector[3]],
        None => return Err(CallError::NoSelector(input.len())),
    };
    let function = Function::ALL
        .into_iter()
        .find(|function| function.address() == *address && function.selector() == selector)
        .ok_or(CallError::UnknownSelector {
            address: *address,
            selector,
        })?;
    let bad_calldata = |reason: String| CallError::BadCalldata {
        function: function.signature(),
        reason,
    };
    let with_signers =
        |threshold, total_signers, public_key: &[u8], message: &[u8], signature: &[u8]| {
            DecodedCall {
                function,
                signers: Some((threshold, total_signers)),
                public_key: public_key.to_vec(),
                message: message.to_vec(),
                signature: signature.to_vec(),
            }
        };
    let without_signers = |public_key: &[u8], message: &[u8], signature: &[u8]| DecodedCall {
        function,
        signers: None,
        public_key: public_key.to_vec(),
        message: message.to_vec(),
        signature: signature.to_vec(),
    };
    Ok(match function {
        Function::FrostBip340 => {
            let call =
                decode_canonical::<IFrostVerifier::verifyCall>(input).map_err(bad_calldata)?;
            with_signers(
                call.threshold,
                call.totalSigners,
                &call.publicKey[..],
                &call.messageHash[..],
                &call.signature,
            )
        }
        Function::FrostEd25519 => {
            let call = decode_canonical::<IFrostVerifier::verifyEd25519Call>(input)
                .map_err(bad_calldata)?;
            with_signers(
                call.threshold,
                call.totalSigners,
                &call.publicKey[..],
                &call.message,
                &call.signature,
            )
        }
        Function::ThresholdEcdsa => {
            let call = decode_canonical::<IThresholdEcdsaVerifier::verifyCall>(input)
                .map_err(bad_calldata)?;
            with_signers(
                call.threshold,
                call.totalSigners,
                &call.publicKey,
                &call.messageHash[..],
                &call.signature,
            )
        }
        Function::MlDsa => {
            let call =
                decode_canonical::<IMlDsaVerifier::verifyCall>(input).map_err(bad_calldata)?;
            without_signers(&call.publicKey, &call.message, &call.signature)
        }
        Function::SlhDsaSha2 => {
            let call =
                decode_canonical::<ISlhDsaVerifier::verifyCall>(input).map_err(bad_calldata)?;
            without_signers(&call.publicKey, &call.message, &call.signature)
        }
        Function::SlhDsaShake => {
            let call = decode_canonical::<ISlhDsaVerifier::verifyShakeCall>(input)
                .map_err(bad_calldata)?;
            without_signers(&call.publicKey, &call.message, &call.signature)
        }
    })
}

/// Decodes `input` as a call of `C` and requires it to be exactly the canonical ABI encoding
/// (standard offsets, zero padding, no trailing bytes): one byte string per call, so every node
/// agrees on what decodes.
fn decode_canonical<C: SolCall>(input: &[u8]) -> Result<C, String> {
    let call = C::abi_decode_validate(input).map_err(|error| error.to_string())?;
    let canonical = call.abi_encode();
    if canonical != input {
        return Err(format!(
            "not the canonical ABI encoding ({} bytes given, the canonical encoding has {})",
            input.len(),
            canonical.len()
        ));
    }
    Ok(call)
}

impl DecodedCall {
    /// Checks `0 < threshold <= totalSigners <= 1000` for the threshold schemes.
    pub fn check_signer_bounds(&self) -> Result<(), CallError> {
        let Some((threshold, total_signers)) = self.signers else {
            return Ok(());
        };
        if threshold == 0 {
            return Err(CallError::ZeroThreshold);
        }
        if total_signers > MAX_TOTAL_SIGNERS {
            return Err(CallError::TooManySigners(total_signers));
        }
        if threshold > total_signers {
            return Err(CallError::ThresholdAboveSigners {
                threshold,
                total_signers,
            });
        }
        Ok(())
    }

    /// The gas this call costs under `schedule`: computed from the decoded header and the
    /// lengths alone, before any verification.
    pub fn cost(&self, schedule: &GasSchedule) -> u64 {
        let total_signers = self.signers.map_or(0, |(_, total)| total);
        schedule
            .call_price(self.function, self.public_key.len(), self.signature.len())
            .cost(total_signers, self.message.len())
    }

    /// Verifies the signature under the consensus rules; malformed keys and signatures are
    /// simply invalid here.
    pub fn verify(&self) -> bool {
        let (key, message, signature) =
            (&self.public_key[..], &self.message[..], &self.signature[..]);
        let verdict = match self.function.scheme_for(key.len(), signature.len()) {
            None => Ok(false),
            // The precompile takes only the recoverable form r‖s‖v.
            Some(Scheme::EcdsaSecp256k1) if signature.len() != 65 => Ok(false),
            Some(Scheme::Bip340) => bip340::verify(key, message, signature),
            Some(Scheme::Ed25519) => ed25519::verify(key, message, signature),
            Some(Scheme::EcdsaSecp256k1) => ecdsa::verify(key, message, signature),
            Some(Scheme::MlDsa(set)) => {
                ml_dsa::verify(set, key, message, signature, Interface::PURE_EMPTY_CONTEXT)
            }
            Some(Scheme::SlhDsa(set)) => {
                slh_dsa::verify(set, key, message, signature, Interface::PURE_EMPTY_CONTEXT)
            }
        };
        verdict.unwrap_or(false)
    }
}
