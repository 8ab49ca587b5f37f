//! Every case of BIP-341's `wallet-test-vectors.json` (`../shared/testvectors/bip341`):
//! scriptPubKey cases (internal key, tweak, output key, scriptPubKey, address) and the key-path
//! spend (sighash of every input in its sighash type, tweaked keys, signatures, witnesses and
//! the fully signed transaction), run through the adapter's PSBT flow.

use thresig_testkit::vectors as common;

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, Secp256k1, TapTweak};
use bitcoin::psbt::PsbtSighashType;
use bitcoin::secp256k1::{Message, SecretKey};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TapNodeHash};
use bitcoin::{Address, Network, Psbt, ScriptBuf, Transaction, TxOut, consensus};
use common::{hex_field, hex32, read_json, str_field, unhex};
use serde_json::Value;
use thresig_adapters::bitcoin as btc;

/// The merkle root of a BIP-341 vector script tree (a leaf object, or a two-element array).
fn tree_root(tree: &Value) -> TapNodeHash {
    match tree {
        Value::Array(branches) => {
            assert_eq!(branches.len(), 2, "a tree node has two branches");
            TapNodeHash::from_node_hashes(tree_root(&branches[0]), tree_root(&branches[1]))
        }
        leaf => {
            let script = ScriptBuf::from_bytes(hex_field(leaf, "script"));
            let version = LeafVersion::from_consensus(leaf["leafVersion"].as_u64().unwrap() as u8)
                .expect("leaf version");
            TapNodeHash::from(TapLeafHash::from_script(&script, version))
        }
    }
}

#[test]
fn script_pubkey_cases() {
    let vectors = read_json("bip341/wallet-test-vectors.json");
    let cases = vectors["scriptPubKey"]
        .as_array()
        .expect("scriptPubKey cases");
    assert_eq!(cases.len(), 7);
    for case in cases {
        let given = &case["given"];
        let intermediary = &case["intermediary"];
        let expected = &case["expected"];
        let internal = btc::parse_group_key(&hex_field(given, "internalPubkey")).unwrap();

        let root = (!given["scriptTree"].is_null()).then(|| tree_root(&given["scriptTree"]));
        match &intermediary["merkleRoot"] {
            Value::Null => assert!(root.is_none()),
            hex => assert_eq!(
                root.unwrap().to_byte_array().to_vec(),
                unhex(hex.as_str().unwrap())
            ),
        }

        assert_eq!(
            btc::taproot_tweak(internal, root),
            hex32(intermediary, "tweak")
        );
        assert_eq!(
            btc::output_key(internal, root)
                .to_x_only_public_key()
                .serialize(),
            hex32(intermediary, "tweakedPubkey")
        );
        let script = btc::p2tr_script_pubkey(internal, root);
        assert_eq!(script.as_bytes(), hex_field(expected, "scriptPubKey"));
        let address = btc::p2tr_address_with_root(internal, root, Network::Bitcoin);
        assert_eq!(address.to_string(), str_field(expected, "bip350Address"));
        if root.is_none() {
            assert_eq!(btc::p2tr_address(internal, Network::Bitcoin), address);
        }

        // The same output key on every network: right prefix, same witness program.
        for (network, prefix) in [
            (Network::Bitcoin, "bc1p"),
            (Network::Testnet, "tb1p"),
            (Network::Testnet4, "tb1p"),
            (Network::Signet, "tb1p"),
            (Network::Regtest, "bcrt1p"),
        ] {
            let text = btc::p2tr_address_with_root(internal, root, network).to_string();
            assert!(text.starts_with(prefix), "{network}: {text}");
            let parsed = Address::from_str(&text)
                .unwrap()
                .require_network(network)
                .unwrap();
            assert_eq!(parsed.script_pubkey(), script, "{network}");
        }
    }
}

#[test]
fn group_key_forms() {
    let x = unhex("d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d");
    let from_x = btc::parse_group_key(&x).unwrap();
    for prefix in [2u8, 3] {
        let mut sec1 = vec![prefix];
        sec1.extend_from_slice(&x);
        assert_eq!(btc::parse_group_key(&sec1).unwrap(), from_x);
    }
    assert!(matches!(
        btc::parse_group_key(&x[..31]),
        Err(btc::BitcoinError::KeyLength(31))
    ));
    assert!(btc::parse_group_key(&[0xff; 32]).is_err());
}

/// The vector's unsigned transaction as a PSBT with every spent output as `witness_utxo`, and
/// for each key-path input its sighash type, internal key and merkle root.
fn vector_psbt(spend: &Value) -> Psbt {
    let given = &spend["given"];
    let tx: Transaction = consensus::deserialize(&hex_field(given, "rawUnsignedTx")).unwrap();
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    let utxos = given["utxosSpent"].as_array().unwrap();
    assert_eq!(utxos.len(), psbt.inputs.len());
    for (input, utxo) in psbt.inputs.iter_mut().zip(utxos) {
        input.witness_utxo = Some(TxOut {
            value: bitcoin::Amount::from_sat(utxo["amountSats"].as_u64().unwrap()),
            script_pubkey: ScriptBuf::from_bytes(hex_field(utxo, "scriptPubKey")),
        });
    }
    psbt
}

#[test]
fn key_path_spending() {
    let vectors = read_json("bip341/wallet-test-vectors.json");
    let spends = vectors["keyPathSpending"].as_array().unwrap();
    assert_eq!(spends.len(), 1);
    let spend = &spends[0];
    let secp = Secp256k1::new();
    let mut psbt = vector_psbt(spend);

    // Round trip through base64 before anything is signed.
    let text = btc::psbt_to_base64(&psbt);
    assert_eq!(btc::psbt_from_base64(&text).unwrap(), psbt);

    let inputs = spend["inputSpending"].as_array().unwrap();
    assert_eq!(inputs.len(), 7);
    for case in inputs {
        let given = &case["given"];
        let index = given["txinIndex"].as_u64().unwrap() as usize;
        let hash_type = given["hashType"].as_u64().unwrap() as u32;
        let root = match &given["merkleRoot"] {
            Value::Null => None,
            hex => Some(TapNodeHash::from_slice(&unhex(hex.as_str().unwrap())).unwrap()),
        };
        let secret = SecretKey::from_slice(&hex_field(given, "internalPrivkey")).unwrap();
        let keypair = Keypair::from_secret_key(&secp, &secret);
        let internal = keypair.x_only_public_key().0;
        assert_eq!(
            internal.serialize(),
            hex32(&case["intermediary"], "internalPubkey")
        );

        let input = &mut psbt.inputs[index];
        input.sighash_type = Some(PsbtSighashType::from_u32(hash_type));
        input.tap_internal_key = Some(internal);
        input.tap_merkle_root = root;

        // The group key owns exactly this input of the transaction.
        assert_eq!(btc::owned_inputs(&psbt, internal).unwrap(), vec![index]);
        let requests = btc::signing_requests(&psbt, internal).unwrap();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        let intermediary = &case["intermediary"];
        assert_eq!(request.input_index, index);
        assert_eq!(request.sighash_type as u32, hash_type);
        assert_eq!(
            request.sighash,
            hex32(intermediary, "sigHash"),
            "input {index}"
        );
        assert_eq!(request.tweak, hex32(intermediary, "tweak"));

        // The plain-transaction entry point agrees.
        let prevouts = btc::spent_outputs(&psbt).unwrap();
        assert_eq!(
            btc::key_spend_sighash(&psbt.unsigned_tx, &prevouts, index, request.sighash_type)
                .unwrap(),
            request.sighash
        );

        // The tweaked secret, and a BIP-340 signature with all-zero auxiliary randomness,
        // reproduce the vector's witness.
        let tweaked = keypair.tap_tweak(&secp, root).to_keypair();
        assert_eq!(
            tweaked.secret_bytes(),
            hex32(intermediary, "tweakedPrivkey")
        );
        assert_eq!(
            tweaked.x_only_public_key().0,
            request.output_key,
            "input {index}"
        );
        let signature = secp.sign_schnorr_with_aux_rand(
            &Message::from_digest(request.sighash),
            &tweaked,
            &[0u8; 32],
        );
        let expected_witness = case["expected"]["witness"].as_array().unwrap();
        assert_eq!(expected_witness.len(), 1);
        let expected_signature = unhex(expected_witness[0].as_str().unwrap());
        assert_eq!(&expected_signature[..64], signature.as_ref());

        btc::insert_key_spend_signature(&mut psbt, internal, index, signature.as_ref()).unwrap();
        let finalized = btc::finalize_key_spends(&mut psbt);
        assert_eq!(finalized, vec![index]);
        let witness = psbt.inputs[index].final_script_witness.clone().unwrap();
        assert_eq!(witness.to_vec(), vec![expected_signature]);
    }

    // The two non-taproot inputs are not the adapter's: take their final fields from the
    // vector's fully signed transaction, then the extraction must give that transaction.
    let full_hex = str_field(&spend["auxiliary"], "fullySignedTx");
    let full: Transaction = consensus::deserialize(&unhex(full_hex)).unwrap();
    match btc::extract_transaction(&psbt) {
        Err(btc::BitcoinError::NotFinalized(missing)) => assert_eq!(missing, vec![2, 5]),
        other => panic!("expected NotFinalized, got {other:?}"),
    }
    for index in [2, 5] {
        let input = &mut psbt.inputs[index];
        input.final_script_sig = Some(full.input[index].script_sig.clone());
        input.final_script_witness = Some(full.input[index].witness.clone());
    }
    let tx = btc::extract_transaction(&psbt).unwrap();
    assert_eq!(consensus::encode::serialize_hex(&tx), full_hex);
    assert_eq!(tx.compute_txid(), full.compute_txid());

    // The signed PSBT survives base64.
    let signed = btc::psbt_to_base64(&psbt);
    assert_eq!(btc::psbt_from_base64(&signed).unwrap(), psbt);
}

#[test]
fn policy_view_of_vector_spend() {
    let vectors = read_json("bip341/wallet-test-vectors.json");
    let spend = &vectors["keyPathSpending"][0];
    let psbt = vector_psbt(spend);
    let view = btc::policy_view(&psbt, Network::Bitcoin).unwrap();
    let spent: u64 = spend["given"]["utxosSpent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|utxo| utxo["amountSats"].as_u64().unwrap())
        .sum();
    let paid: u64 = psbt
        .unsigned_tx
        .output
        .iter()
        .map(|o| o.value.to_sat())
        .sum();
    assert_eq!(view.fee, u128::from(spent - paid));
    assert_eq!(view.transfers.len(), 2);
    // Output 0 is P2PKH; output 1 is a bare script with no address form.
    let p2pkh = Address::from_str(&view.transfers[0].recipient)
        .unwrap()
        .require_network(Network::Bitcoin)
        .unwrap();
    assert!(view.transfers[0].recipient.starts_with('1'));
    assert_eq!(
        p2pkh.script_pubkey(),
        psbt.unsigned_tx.output[0].script_pubkey
    );
    assert_eq!(view.transfers[0].amount, 1_000_000_000);
    assert!(view.transfers[1].recipient.starts_with("script:ac9a87f5"));
    assert_eq!(view.opaque_actions, 0);
}
