//! `thresig_signTransaction` against a devnet of real processes: a Taproot PSBT signed by the
//! cluster passes Bitcoin Core's script interpreter (libbitcoinconsensus 26.0, with the spent
//! outputs), and a Solana transfer signed by the cluster is accepted by Solana's own crates
//! (`solana-transaction` with `verify`, decoded with `wincode`). Neither checker shares code with
//! thresig or the frost crates.

use std::str::FromStr;

use base64::Engine;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::PsbtSighashType;
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction,
    TxIn, TxOut, Txid, Witness, consensus,
};
use serde_json::{Value, json};
use solana_transaction::versioned::VersionedTransaction;
use thresig_adapters::solana::{self as sol, Pubkey};
use thresig_testkit::bitcoin_core;
use thresig_testkit::devnet::{Devnet, ThresigBinary, unhex};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

const INVALID_PARAMS: i64 = -32602;

fn create(devnet: &Devnet, scheme: &str) -> Value {
    devnet.result("thresig_createWallet", json!({ "scheme": scheme }))
}

fn sign_transaction(devnet: &Devnet, wallet: &str, chain: &str, transaction: &str) -> Value {
    devnet.call(
        "thresig_signTransaction",
        json!({ "walletId": wallet, "chain": chain, "transaction": transaction }),
    )
}

/// The P2TR output script of the wallet's address, as the `bitcoin` crate reads the address.
fn wallet_script(wallet: &Value) -> ScriptBuf {
    Address::from_str(wallet["addresses"]["bitcoin"].as_str().unwrap())
        .unwrap()
        .require_network(Network::Regtest)
        .unwrap()
        .script_pubkey()
}

/// Some other party's output script (a P2WPKH of a fixed key hash).
fn foreign_script() -> ScriptBuf {
    let mut bytes = vec![0x00, 0x14];
    bytes.extend_from_slice(&[0x42; 20]);
    ScriptBuf::from_bytes(bytes)
}

/// A PSBT spending one output per `(script, sighash type)` to two new outputs.
fn psbt_spending(inputs: &[(ScriptBuf, Option<TapSighashType>)]) -> Psbt {
    let unsigned = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..inputs.len())
            .map(|index| TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([index as u8 + 1; 32]),
                    vout: index as u32,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![
            TxOut {
                value: Amount::from_sat(20_000),
                script_pubkey: foreign_script(),
            },
            TxOut {
                value: Amount::from_sat(25_000),
                script_pubkey: inputs[0].0.clone(),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).unwrap();
    for (input, (script, sighash_type)) in psbt.inputs.iter_mut().zip(inputs) {
        input.witness_utxo = Some(TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: script.clone(),
        });
        input.sighash_type = sighash_type.map(PsbtSighashType::from);
    }
    psbt
}

fn spent_outputs(psbt: &Psbt) -> Vec<TxOut> {
    psbt.inputs
        .iter()
        .map(|input| input.witness_utxo.clone().unwrap())
        .collect()
}

fn error_of(response: &Value) -> (i64, String) {
    let error = &response["error"];
    assert!(error.is_object(), "expected an error, got {response}");
    (
        error["code"].as_i64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn taproot_psbt_signed_by_the_cluster_passes_bitcoin_core() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let wallet = create(&devnet, "frost-secp256k1-tr");
    let id = wallet["walletId"].as_str().unwrap();
    let ours = wallet_script(&wallet);

    // Three inputs of the wallet, each in another sighash type the PSBT asks for.
    // SIGHASH_SINGLE needs an output at the input's index: input 1 has one.
    let types = [
        None,
        Some(TapSighashType::Single),
        Some(TapSighashType::AllPlusAnyoneCanPay),
    ];
    let inputs: Vec<_> = types.iter().map(|ty| (ours.clone(), *ty)).collect();
    let psbt = psbt_spending(&inputs);
    let prevouts = spent_outputs(&psbt);
    // SINGLE and ANYONECANPAY leave outputs or inputs unsigned: refused unless asked for.
    let (code, message) = error_of(&sign_transaction(&devnet, id, "bitcoin", &psbt.to_string()));
    assert_eq!(code, INVALID_PARAMS);
    assert!(
        message.contains("input 1 asks for sighash type SIGHASH_SINGLE")
            && message.contains("allowPartialSighash"),
        "{message}"
    );
    let response = devnet.call(
        "thresig_signTransaction",
        json!({
            "walletId": id,
            "chain": "bitcoin",
            "transaction": psbt.to_string(),
            "allowPartialSighash": true,
        }),
    );
    let result = &response["result"];
    assert_eq!(result["complete"], true, "{response}");
    assert_eq!(result["signedInputs"], json!([0, 1, 2]));
    assert_eq!(result["signers"].as_array().unwrap().len(), 2, "{response}");

    let raw = unhex(result["signedTransaction"].as_str().unwrap());
    let tx: Transaction = consensus::deserialize(&raw).unwrap();
    assert_eq!(tx.compute_txid().to_string(), result["txid"]);
    assert_eq!(tx.compute_ntxid(), psbt.unsigned_tx.compute_ntxid());
    for (index, ty) in types.iter().enumerate() {
        let witness = &tx.input[index].witness;
        assert_eq!(witness.len(), 1, "a key-path spend has one witness item");
        // SIGHASH_DEFAULT signatures are 64 bytes; the others carry their type byte.
        let expected_len = if ty.is_none() { 64 } else { 65 };
        assert_eq!(witness.nth(0).unwrap().len(), expected_len);
        if let Some(ty) = ty {
            assert_eq!(witness.nth(0).unwrap()[64], *ty as u8);
        }
        assert!(
            bitcoin_core::verifies(&tx, &prevouts, index),
            "Bitcoin Core rejects input {index}"
        );
    }
    // The checker can fail: a changed output amount invalidates the inputs that sign it.
    let mut tampered = tx.clone();
    tampered.output[0].value = Amount::from_sat(19_999);
    assert!(!bitcoin_core::verifies(&tampered, &prevouts, 0));

    // The returned PSBT is finalised and extracts to the same transaction.
    let signed_psbt = Psbt::from_str(result["psbt"].as_str().unwrap()).unwrap();
    assert_eq!(signed_psbt.extract_tx_unchecked_fee_rate(), tx);

    let summary = &result["summary"];
    assert_eq!(summary["chain"], "bitcoin:regtest");
    assert_eq!(summary["fee"], "105000");
    assert_eq!(summary["transfers"][0]["amount"], "20000");
}

#[test]
fn taproot_psbt_with_other_inputs_comes_back_partly_signed() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let wallet = create(&devnet, "frost-secp256k1-tr");
    let id = wallet["walletId"].as_str().unwrap();
    let ours = wallet_script(&wallet);

    // Input 1 belongs to someone else: the wallet signs and finalises only inputs 0 and 2.
    let psbt = psbt_spending(&[
        (ours.clone(), None),
        (foreign_script(), None),
        (ours.clone(), Some(TapSighashType::All)),
    ]);
    let response = sign_transaction(&devnet, id, "bitcoin", &psbt.to_string());
    let result = &response["result"];
    assert_eq!(result["complete"], false, "{response}");
    assert_eq!(result["signedInputs"], json!([0, 2]));
    assert!(result.get("signedTransaction").is_none());
    let partial = Psbt::from_str(result["psbt"].as_str().unwrap()).unwrap();
    assert!(partial.inputs[0].final_script_witness.is_some());
    assert!(partial.inputs[1].final_script_witness.is_none());
    assert!(partial.inputs[2].final_script_witness.is_some());

    // A PSBT with none of the wallet's outputs is refused, naming the wallet's address.
    let foreign = psbt_spending(&[(foreign_script(), None)]);
    let (code, message) = error_of(&sign_transaction(
        &devnet,
        id,
        "bitcoin",
        &foreign.to_string(),
    ));
    assert_eq!(code, INVALID_PARAMS);
    assert!(
        message.contains("no input spends")
            && message.contains(wallet["addresses"]["bitcoin"].as_str().unwrap()),
        "{message}"
    );

    // Bad input: not base64, base64 but not a PSBT, a wrong chain or scheme, a non-string.
    for (chain, transaction, needle) in [
        ("bitcoin", json!("not base64 !"), "transaction"),
        ("bitcoin", json!("AAAA"), "PSBT"),
        ("dogecoin", json!(psbt.to_string()), "chain must be"),
        (
            "solana",
            json!(psbt.to_string()),
            "needs a frost-ed25519 wallet",
        ),
        ("ethereum", json!({}), "cggmp21-secp256k1"),
        ("bitcoin", json!(42), "base64 string"),
    ] {
        let response = devnet.call(
            "thresig_signTransaction",
            json!({ "walletId": id, "chain": chain, "transaction": transaction }),
        );
        let (code, message) = error_of(&response);
        assert_eq!(code, INVALID_PARAMS, "{chain}: {message}");
        assert!(message.contains(needle), "{chain}: {message}");
    }
    let unknown = devnet.call(
        "thresig_signTransaction",
        json!({ "walletId": "no-such-wallet", "chain": "bitcoin", "transaction": psbt.to_string() }),
    );
    assert_eq!(error_of(&unknown).0, -32001);
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn solana_transfer_signed_by_the_cluster_verifies_with_solana_crates() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let wallet = create(&devnet, "frost-ed25519");
    let id = wallet["walletId"].as_str().unwrap();
    let address = wallet["addresses"]["solana"].as_str().unwrap();
    let from: Pubkey = address.parse().unwrap();
    let to = Pubkey([9u8; 32]);
    let message = sol::transfer_message(from, to, 1_500_000, [3u8; 32])
        .serialize()
        .unwrap();

    let response = sign_transaction(&devnet, id, "solana", &b64(&message));
    let result = &response["result"];
    assert_eq!(result["complete"], true, "{response}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(result["signedTransaction"].as_str().unwrap())
        .unwrap();
    let theirs: VersionedTransaction = wincode::deserialize(&bytes).unwrap();
    theirs
        .verify_and_hash_message()
        .expect("Solana's verifier accepts the cluster's signature");
    assert_eq!(
        theirs.message.static_account_keys()[0].to_string(),
        address,
        "the fee payer is the wallet"
    );
    assert_eq!(
        bs58::encode(theirs.signatures[0].as_ref()).into_string(),
        result["signature"]
    );
    assert_eq!(result["txid"], result["signature"]);
    assert_eq!(result["summary"]["payer"], address);
    assert_eq!(result["summary"]["transfers"][0]["amount"], "1500000");

    // The checker can fail: the same signature over a changed amount is refused.
    let other = sol::transfer_message(from, to, 1_500_001, [3u8; 32])
        .serialize()
        .unwrap();
    let mut forged = bytes.clone();
    let offset = bytes.len() - message.len();
    forged.truncate(offset);
    forged.extend_from_slice(&other);
    let forged: VersionedTransaction = wincode::deserialize(&forged).unwrap();
    assert!(forged.verify_and_hash_message().is_err());
}

#[test]
fn solana_message_with_another_signer_and_bad_messages() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let wallet = create(&devnet, "frost-ed25519");
    let id = wallet["walletId"].as_str().unwrap();
    let ours: Pubkey = wallet["addresses"]["solana"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // A fee payer who is not the wallet, and the wallet transferring: two required signers.
    let payer = Pubkey([5u8; 32]);
    let mut message = sol::transfer_message(ours, Pubkey([9u8; 32]), 7, [1u8; 32]);
    message.account_keys.insert(0, payer);
    message.header.num_required_signatures = 2;
    message.instructions[0].program_id_index += 1;
    for account in &mut message.instructions[0].accounts {
        *account += 1;
    }
    let bytes = message.serialize().unwrap();
    let response = sign_transaction(&devnet, id, "solana", &b64(&bytes));
    let result = &response["result"];
    assert_eq!(result["complete"], false, "{response}");
    assert!(result.get("txid").is_none(), "the payer has not signed yet");
    let assembled =
        sol::SolanaTransaction::from_base64(result["signedTransaction"].as_str().unwrap()).unwrap();
    assert_eq!(assembled.signatures[0], [0u8; 64]);
    let signature = bs58::decode(result["signature"].as_str().unwrap())
        .into_vec()
        .unwrap();
    assert_eq!(assembled.signatures[1].as_slice(), signature.as_slice());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&ours.0).unwrap();
    key.verify_strict(
        &bytes,
        &ed25519_dalek::Signature::from_slice(&signature).unwrap(),
    )
    .expect("the wallet's signature is over the exact message bytes");

    // A message the wallet does not sign, garbage, and a truncated message are refused.
    let not_ours = sol::transfer_message(payer, ours, 1, [1u8; 32])
        .serialize()
        .unwrap();
    for (transaction, needle) in [
        (b64(&not_ours), "not a required signer"),
        ("%%%".to_owned(), "base64"),
        (b64(&bytes[..bytes.len() - 3]), "not a Solana message"),
    ] {
        let (code, message) = error_of(&sign_transaction(&devnet, id, "solana", &transaction));
        assert_eq!(code, INVALID_PARAMS, "{message}");
        assert!(message.contains(needle), "{message}");
    }
}
