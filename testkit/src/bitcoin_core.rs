//! Bitcoin Core's own script interpreter as the judge of a spend: libbitcoinconsensus from
//! Bitcoin Core 26.0 through the `bitcoinconsensus` crate, whose `verify` passes the spent outputs
//! to `bitcoinconsensus_verify_script_with_spent_outputs` and sets `VERIFY_TAPROOT`. It shares
//! no code with thresig or the `bitcoin` crate's signing.

use bitcoin::{Transaction, TxOut, consensus};

/// Whether Bitcoin Core accepts input `index` of `tx`, given every output the transaction spends
/// (in input order).
pub fn verifies(tx: &Transaction, prevouts: &[TxOut], index: usize) -> bool {
    let bytes = consensus::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|out| bitcoinconsensus::Utxo {
            script_pubkey: out.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: u32::try_from(out.script_pubkey.len()).expect("script under 4 GiB"),
            value: i64::try_from(out.value.to_sat()).expect("amount under 2^63"),
        })
        .collect();
    let prevout = &prevouts[index];
    bitcoinconsensus::verify(
        prevout.script_pubkey.as_bytes(),
        prevout.value.to_sat(),
        &bytes,
        Some(&utxos),
        index,
    )
    .is_ok()
}
