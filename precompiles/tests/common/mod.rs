//! Shared helpers for the precompile tests: the public vectors (from the testkit), and ABI calls.
#![allow(dead_code)]

#[allow(unused_imports)] // each test file uses some of them
pub use thresig_testkit::vectors::{hex_field, read_json, unhex, vectors_dir};

use alloy_primitives::{Address, Bytes};
use thresig_precompiles::GasSchedule;
use thresig_precompiles::evm::{TransactionReport, call_precompile};

/// Runs `input` against `to` in a real revm transaction with the seed schedule.
pub fn transact(to: Address, input: Vec<u8>, call_gas: u64) -> TransactionReport {
    call_precompile(to, Bytes::from(input), call_gas, GasSchedule::SEED)
        .expect("transaction executes")
}

/// The ABI-encoded `bool` a successful call returns.
pub fn abi_bool(value: bool) -> Bytes {
    let mut word = [0u8; 32];
    word[31] = u8::from(value);
    Bytes::from(word.to_vec())
}
