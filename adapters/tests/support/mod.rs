//! Shared by the Taproot tests.

use bitcoin::TapSighashType;

/// Every taproot sighash type, SIGHASH_DEFAULT first.
pub const TYPES: [TapSighashType; 7] = [
    TapSighashType::Default,
    TapSighashType::All,
    TapSighashType::None,
    TapSighashType::Single,
    TapSighashType::AllPlusAnyoneCanPay,
    TapSighashType::NonePlusAnyoneCanPay,
    TapSighashType::SinglePlusAnyoneCanPay,
];

/// An unsigned input spending output `i` of a made-up transaction `[i + 1; 32]`.
pub fn input(i: u8) -> bitcoin::TxIn {
    use bitcoin::hashes::Hash;
    bitcoin::TxIn {
        previous_output: bitcoin::OutPoint {
            txid: bitcoin::Txid::from_byte_array([i + 1; 32]),
            vout: u32::from(i),
        },
        script_sig: bitcoin::ScriptBuf::new(),
        sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: bitcoin::Witness::new(),
    }
}
