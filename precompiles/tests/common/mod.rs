//! Shared helpers for the precompile tests: where the public vectors live, and ABI calls.
#![allow(dead_code)]

use std::path::PathBuf;

use alloy_primitives::{Address, Bytes};
use thresig_precompiles::GasSchedule;
use thresig_precompiles::evm::{TransactionReport, call_precompile};

/// `../shared/testvectors` relative to the project root, or `$THRESIG_TESTVECTORS`.
/// Missing vectors fail the test: a vector suite never passes by skipping.
pub fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("THRESIG_TESTVECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testvectors")
        });
    assert!(
        dir.join("SOURCES.md").is_file(),
        "public test vectors not found at {}; set THRESIG_TESTVECTORS",
        dir.display()
    );
    dir
}

/// Reads a vector file as JSON.
pub fn read_json(relative: &str) -> serde_json::Value {
    let path = vectors_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
}

/// Decodes hex (either case).
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|error| panic!("bad hex {text:?}: {error}"))
}

/// A JSON string field as bytes.
pub fn hex_field(value: &serde_json::Value, key: &str) -> Vec<u8> {
    unhex(
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing in {value}")),
    )
}

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
