//! Taproot key-path spends built and finalised by the adapter, signed here with the BIP-86
//! tweak (the `secp256k1` crate's BIP-340 signing on the tweaked keypair), are checked by Bitcoin
//! Core's own script interpreter (libbitcoinconsensus 26.0, through `thresig_testkit::bitcoin_core`).
//! One input per sighash type, ANYONECANPAY included.

use bitcoin::absolute::LockTime;
use bitcoin::key::{Keypair, Secp256k1, TapTweak};
use bitcoin::psbt::PsbtSighashType;
use bitcoin::secp256k1::{Message, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Psbt, Transaction, TxOut, Witness, XOnlyPublicKey, consensus};
use thresig_adapters::bitcoin as btc;
use thresig_testkit::bitcoin_core;

mod support;
use support::TYPES;

struct Wallet {
    keypair: Keypair,
    group_key: XOnlyPublicKey,
}

impl Wallet {
    fn new(seed: u8) -> Self {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
        let keypair = Keypair::from_secret_key(&secp, &secret);
        Wallet {
            group_key: keypair.x_only_public_key().0,
            keypair,
        }
    }

    /// Signs every request with the BIP-86-tweaked keypair.
    fn sign(&self, requests: &[btc::SigningRequest]) -> Vec<(usize, [u8; 64])> {
        let secp = Secp256k1::new();
        requests
            .iter()
            .map(|request| {
                assert!(request.merkle_root.is_none(), "BIP-86: no script tree");
                let tweaked = self.keypair.tap_tweak(&secp, None).to_keypair();
                assert_eq!(tweaked.x_only_public_key().0, request.output_key);
                let aux = [request.input_index as u8; 32];
                let signature = secp.sign_schnorr_with_aux_rand(
                    &Message::from_digest(request.sighash),
                    &tweaked,
                    &aux,
                );
                (request.input_index, *signature.as_ref())
            })
            .collect()
    }
}

/// Inputs 0..7 spend the group wallet's BIP-86 outputs, one per sighash type; input 7 spends
/// an output of another wallet. Eight outputs, so every SIGHASH_SINGLE input has its output.
fn build_psbt(ours: &Wallet, theirs: &Wallet) -> Psbt {
    let network = bitcoin::Network::Regtest;
    let our_script = btc::p2tr_address(ours.group_key, network).script_pubkey();
    let their_script = btc::p2tr_address(theirs.group_key, network).script_pubkey();
    let inputs = (0..8u8).map(support::input).collect();
    let outputs = (0..8u64)
        .map(|i| TxOut {
            value: Amount::from_sat(40_000 + i * 1_000),
            script_pubkey: if i % 2 == 0 {
                their_script.clone()
            } else {
                our_script.clone()
            },
        })
        .collect();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs,
        output: outputs,
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (index, input) in psbt.inputs.iter_mut().enumerate() {
        let (script, key) = if index < 7 {
            (our_script.clone(), ours.group_key)
        } else {
            (their_script.clone(), theirs.group_key)
        };
        input.witness_utxo = Some(TxOut {
            value: Amount::from_sat(100_000 + index as u64 * 10_000),
            script_pubkey: script,
        });
        input.tap_internal_key = Some(key);
        if index < 7 {
            input.sighash_type = Some(PsbtSighashType::from(TYPES[index]));
        }
    }
    psbt
}

fn spent(psbt: &Psbt) -> Vec<TxOut> {
    btc::spent_outputs(psbt).unwrap()
}

fn signed_transaction() -> (Psbt, Vec<TxOut>, Transaction) {
    let ours = Wallet::new(0x11);
    let theirs = Wallet::new(0x22);
    let mut psbt = build_psbt(&ours, &theirs);
    let prevouts = spent(&psbt);

    assert_eq!(
        btc::owned_inputs(&psbt, ours.group_key).unwrap(),
        (0..7).collect::<Vec<_>>()
    );
    let requests = btc::signing_requests(&psbt, ours.group_key).unwrap();
    for (request, ty) in requests.iter().zip(TYPES) {
        assert_eq!(request.sighash_type, ty);
    }
    let signatures = ours.sign(&requests);

    // Our inputs are signed; the other wallet's input still blocks extraction.
    match btc::sign_and_finalize(&mut psbt, ours.group_key, &signatures) {
        Err(btc::BitcoinError::NotFinalized(missing)) => assert_eq!(missing, vec![7]),
        other => panic!("expected NotFinalized, got {other:?}"),
    }
    // The partly signed PSBT travels as base64 to the other signer.
    let mut psbt = btc::psbt_from_base64(&btc::psbt_to_base64(&psbt)).unwrap();
    let requests = btc::signing_requests(&psbt, theirs.group_key).unwrap();
    assert_eq!(requests.len(), 1);
    let signed = btc::sign_and_finalize(&mut psbt, theirs.group_key, &theirs.sign(&requests))
        .expect("fully signed");
    assert_eq!(signed.txid, signed.transaction.compute_txid());
    assert_eq!(
        signed.raw_hex,
        consensus::encode::serialize_hex(&signed.transaction)
    );
    assert_eq!(
        btc::extract_transaction(&btc::psbt_from_base64(&signed.psbt_base64).unwrap()).unwrap(),
        signed.transaction
    );
    (psbt, prevouts, signed.transaction)
}

#[test]
fn bitcoin_core_accepts_every_sighash_type() {
    let (_, prevouts, tx) = signed_transaction();
    for index in 0..tx.input.len() {
        let sig_len = tx.input[index].witness.nth(0).unwrap().len();
        let expected_len = if index == 0 || index == 7 { 64 } else { 65 };
        assert_eq!(sig_len, expected_len, "input {index}");
        assert!(
            bitcoin_core::verifies(&tx, &prevouts, index),
            "input {index}"
        );
    }
}

#[test]
fn bitcoin_core_enforces_what_each_sighash_type_covers() {
    let (_, prevouts, tx) = signed_transaction();

    // Changing output 0 breaks the signatures that commit to all outputs, and no others.
    let mut changed = tx.clone();
    changed.output[0].value = Amount::from_sat(1);
    let commits_all_outputs = [true, true, false, false, true, false, false, true];
    for (index, &commits) in commits_all_outputs.iter().enumerate() {
        assert_eq!(
            bitcoin_core::verifies(&changed, &prevouts, index),
            !commits,
            "input {index} ({:?})",
            TYPES.get(index)
        );
    }

    // Changing output 3 also breaks input 3's SIGHASH_SINGLE.
    let mut changed = tx.clone();
    changed.output[3].value = Amount::from_sat(1);
    assert!(!bitcoin_core::verifies(&changed, &prevouts, 3));
    assert!(bitcoin_core::verifies(&changed, &prevouts, 6));

    // Dropping input 7 keeps the ANYONECANPAY signatures (inputs 4, 5, 6) valid only.
    let mut fewer = tx.clone();
    fewer.input.truncate(7);
    let fewer_prevouts = &prevouts[..7];
    for index in 0..7 {
        let anyone_can_pay = index >= 4;
        assert_eq!(
            bitcoin_core::verifies(&fewer, fewer_prevouts, index),
            anyone_can_pay,
            "input {index}"
        );
    }

    // The spent amounts are committed to: a wrong amount fails.
    let mut wrong_amounts = prevouts.clone();
    wrong_amounts[1].value = Amount::from_sat(1);
    assert!(!bitcoin_core::verifies(&tx, &wrong_amounts, 1));

    // A flipped signature bit fails.
    let mut corrupted = tx.clone();
    let mut witness = corrupted.input[2].witness.to_vec();
    witness[0][10] ^= 1;
    corrupted.input[2].witness = Witness::from_slice(&witness);
    assert!(!bitcoin_core::verifies(&corrupted, &prevouts, 2));
}

#[test]
fn adapter_refuses_wrong_signatures_and_foreign_inputs() {
    let ours = Wallet::new(0x11);
    let theirs = Wallet::new(0x22);
    let mut psbt = build_psbt(&ours, &theirs);
    let signatures = ours.sign(&btc::signing_requests(&psbt, ours.group_key).unwrap());

    // Input 1's signature offered for input 2.
    let error = btc::insert_key_spend_signature(&mut psbt, ours.group_key, 2, &signatures[1].1)
        .unwrap_err();
    assert!(matches!(
        error,
        btc::BitcoinError::BadSignature { index: 2, .. }
    ));
    // Input 7 is not ours.
    let error = btc::insert_key_spend_signature(&mut psbt, ours.group_key, 7, &signatures[0].1)
        .unwrap_err();
    assert!(matches!(error, btc::BitcoinError::NotOwned(7)));
    // Past the end.
    assert!(matches!(
        btc::insert_key_spend_signature(&mut psbt, ours.group_key, 8, &signatures[0].1),
        Err(btc::BitcoinError::InputIndex { index: 8, count: 8 })
    ));
    assert!(psbt.inputs.iter().all(|input| input.tap_key_sig.is_none()));

    // Without the spent outputs of the other inputs, SIGHASH_DEFAULT cannot be computed, but an
    // ANYONECANPAY input still can.
    psbt.inputs[7].witness_utxo = None;
    assert!(matches!(
        btc::psbt_key_spend_sighash(&psbt, 0),
        Err(btc::BitcoinError::MissingUtxo(7))
    ));
    assert!(btc::psbt_key_spend_sighash(&psbt, 4).is_ok());
}

#[test]
fn policy_view_counts_change_and_fee() {
    let ours = Wallet::new(0x11);
    let theirs = Wallet::new(0x22);
    let psbt = build_psbt(&ours, &theirs);
    let view = btc::policy_view(&psbt, bitcoin::Network::Regtest).unwrap();
    assert_eq!(view.transfers.len(), 8);
    let ours_address = btc::p2tr_address(ours.group_key, bitcoin::Network::Regtest).to_string();
    assert_eq!(view.transfers[1].recipient, ours_address);
    assert_eq!(view.transfers[1].amount, 41_000);
    let inputs: u128 = (0..8).map(|i| 100_000 + i * 10_000).sum();
    let outputs: u128 = (0..8).map(|i| 40_000 + i * 1_000).sum();
    assert_eq!(view.fee, inputs - outputs);
    assert_eq!(view.chain.to_string(), "bitcoin:regtest");

    // Outputs above the inputs: an error, not a wrapped fee.
    let mut greedy = psbt.clone();
    greedy.unsigned_tx.output[0].value = Amount::from_sat(10_000_000);
    assert!(matches!(
        btc::policy_view(&greedy, bitcoin::Network::Regtest),
        Err(btc::BitcoinError::NegativeFee { .. })
    ));
}
