//! Property tests: every decoder returns an error, never panics, on arbitrary bytes and on
//! mutations of real inputs; whatever the Solana decoder accepts re-encodes to the same bytes;
//! arbitrary Solana messages round-trip.

use thresig_testkit::vectors as common;

use base64::Engine;
use proptest::prelude::*;
use thresig_adapters::bitcoin as btc;
use thresig_adapters::ethereum as eth;
use thresig_adapters::solana::{
    self as sol, AddressTableLookup, CompiledInstruction, Message, MessageHeader, MessageVersion,
    Pubkey, SolanaTransaction,
};

/// A real v0 transaction (TX1 of micro-sol-signer's test/versioned.test.ts; see
/// solana_transactions.rs).
const V0: &str = "AVNruonGNAucJxZnPyGo+TlrW1ILS5fR7exfqy4MRq478ufAWgZym5q4nm8oFxy1kz78u8zZwpyjIKtuSve2FQSAAQACBIQTRm3anHp3GUE0vIrsB8wJaiKfJ70MW3G1ZS7SoKoGKxWtDsm4CUU+A+kvBGDWCqcTh6sCyx8ZtrJThK+PSCACd6avlzObesiNGJLJBEb1AAIwkmb2LlPBGCRJggAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa9QcMW9HtBLBIT81eIv92IJY6A0IkflkFrrBrrnakIMBAgQBAAADLAIAAAABAAAAAAAAAOUrBmT3mLaIdnThWZjPA6EFD56s8A3zq6kaqEVPbndxAA==";

fn v0_bytes() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(V0)
        .unwrap()
}

/// A PSBT from the BIP-341 vector's unsigned transaction, with witness UTXOs and taproot fields.
fn vector_psbt_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(build_vector_psbt).clone()
}

fn build_vector_psbt() -> Vec<u8> {
    let vectors = common::read_json("bip341/wallet-test-vectors.json");
    let given = &vectors["keyPathSpending"][0]["given"];
    let tx: bitcoin::Transaction =
        bitcoin::consensus::deserialize(&common::hex_field(given, "rawUnsignedTx")).unwrap();
    let mut psbt = bitcoin::Psbt::from_unsigned_tx(tx).unwrap();
    for (input, utxo) in psbt
        .inputs
        .iter_mut()
        .zip(given["utxosSpent"].as_array().unwrap())
    {
        input.witness_utxo = Some(bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(utxo["amountSats"].as_u64().unwrap()),
            script_pubkey: bitcoin::ScriptBuf::from_bytes(common::hex_field(utxo, "scriptPubKey")),
        });
        input.tap_internal_key = Some(
            btc::parse_group_key(&common::unhex(
                "d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d",
            ))
            .unwrap(),
        );
    }
    psbt.serialize()
}

fn eip1559_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(build_eip1559).clone()
}

fn build_eip1559() -> Vec<u8> {
    let vectors = common::read_json("eip1559/eip1559.json");
    let network = common::hex_field(&vectors[0], "signedTransactionRLP");
    // Drop the 2-byte RLP string header (0xb8 len) of the network form.
    network[2..].to_vec()
}

/// Exercises every Bitcoin entry point that takes a PSBT.
fn poke_psbt(bytes: &[u8]) {
    if let Ok(mut psbt) = btc::psbt_from_bytes(bytes) {
        let key = btc::parse_group_key(&common::unhex(
            "d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d",
        ))
        .unwrap();
        let _ = btc::policy_view(&psbt, bitcoin::Network::Bitcoin);
        let _ = btc::signing_requests(&psbt, key);
        for index in 0..psbt.inputs.len() + 1 {
            let _ = btc::psbt_key_spend_sighash(&psbt, index);
            let _ = btc::insert_key_spend_signature(&mut psbt, key, index, &[1; 64]);
        }
        let _ = btc::extract_transaction(&psbt);
        let text = btc::psbt_to_base64(&psbt);
        assert!(
            btc::psbt_from_base64(&text).is_ok(),
            "a PSBT the adapter wrote must parse again"
        );
    }
}

/// Exercises every Solana entry point that takes bytes; accepted inputs must re-encode exactly.
fn poke_solana(bytes: &[u8]) {
    if let Ok(tx) = SolanaTransaction::deserialize(bytes) {
        assert_eq!(tx.serialize().unwrap(), bytes);
        let _ = sol::policy_view(&tx.message);
        let _ = tx.signing_request();
    }
    if let Ok(message) = Message::deserialize(bytes) {
        assert_eq!(message.serialize().unwrap(), bytes);
        let _ = message.sanitize();
        let _ = sol::policy_view(&message);
        for index in 0..=255u8 {
            let _ = message.account_label(index);
        }
    }
    let _ = sol::signing_request(bytes);
    let _ = sol::assemble(bytes, &[(Pubkey([0; 32]), [0; 64])]);
    let _ = sol::read_compact_u16(bytes);
}

/// Exercises every Ethereum entry point that takes bytes.
fn poke_ethereum(bytes: &[u8]) {
    if let Ok(signed) = eth::decode_signed(bytes) {
        let sender = eth::recover_sender(&signed).ok();
        let _ = eth::policy_view(signed.tx(), sender);
        let _ = eth::encode_signed(&signed);
    }
    if let Ok(tx) = eth::decode_unsigned(bytes) {
        assert_eq!(eth::encode_unsigned(&tx), bytes);
        let _ = eth::signing_hash(&tx);
    }
    let _ = eth::address_from_public_key(bytes);
}

fn mutate(mut base: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(position, value) in edits {
        let len = base.len();
        if len > 0 {
            base[position % len] = value;
        }
    }
    let keep = base.len().saturating_sub(cut % 4);
    base.truncate(keep);
    base
}

fn pubkey() -> impl Strategy<Value = Pubkey> {
    any::<[u8; 32]>().prop_map(Pubkey)
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<bool>(),
        any::<[u8; 3]>(),
        prop::collection::vec(pubkey(), 0..6),
        any::<[u8; 32]>(),
        prop::collection::vec(
            (
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..200),
                prop::collection::vec(any::<u8>(), 0..300),
            ),
            0..4,
        ),
        prop::collection::vec(
            (
                pubkey(),
                prop::collection::vec(any::<u8>(), 0..4),
                prop::collection::vec(any::<u8>(), 0..140),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(v0, header, keys, blockhash, instructions, lookups)| Message {
                version: if v0 {
                    MessageVersion::V0
                } else {
                    MessageVersion::Legacy
                },
                header: MessageHeader {
                    num_required_signatures: header[0],
                    num_readonly_signed_accounts: header[1],
                    num_readonly_unsigned_accounts: header[2],
                },
                account_keys: keys,
                recent_blockhash: blockhash,
                instructions: instructions
                    .into_iter()
                    .map(|(program_id_index, accounts, data)| CompiledInstruction {
                        program_id_index,
                        accounts,
                        data,
                    })
                    .collect(),
                address_table_lookups: if v0 {
                    lookups
                        .into_iter()
                        .map(|(account_key, writable_indexes, readonly_indexes)| {
                            AddressTableLookup {
                                account_key,
                                writable_indexes,
                                readonly_indexes,
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        poke_psbt(&bytes);
        poke_solana(&bytes);
        poke_ethereum(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = btc::psbt_from_base64(&text);
        let _ = SolanaTransaction::from_base64(&text);
        let _ = eth::typed_data_hash(&text);
        let _ = btc::parse_group_key(&bytes);
        let _ = sol::address(&bytes);
        let _ = text.parse::<Pubkey>();
    }

    #[test]
    fn prefixed_bytes_reach_the_decoders(body in prop::collection::vec(any::<u8>(), 0..400)) {
        // Past the type / magic checks, into the real parsers.
        let mut psbt = b"psbt\xff".to_vec();
        psbt.extend_from_slice(&body);
        poke_psbt(&psbt);
        let mut typed = vec![0x02];
        typed.extend_from_slice(&body);
        poke_ethereum(&typed);
        let mut versioned = vec![0x01];
        versioned.extend_from_slice(&[0u8; 64]);
        versioned.push(0x80);
        versioned.extend_from_slice(&body);
        poke_solana(&versioned);
    }

    #[test]
    fn mutated_real_inputs_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        poke_solana(&mutate(v0_bytes(), &edits, cut));
        poke_ethereum(&mutate(eip1559_bytes(), &edits, cut));
        poke_psbt(&mutate(vector_psbt_bytes(), &edits, cut));
    }

    #[test]
    fn solana_messages_round_trip(message in message()) {
        let Ok(bytes) = message.serialize() else {
            // Only a legacy header whose first byte would read as a version prefix is refused.
            prop_assert!(message.version == MessageVersion::Legacy);
            prop_assert!(message.header.num_required_signatures >= 0x80);
            return Ok(());
        };
        prop_assert_eq!(Message::deserialize(&bytes).unwrap(), message.clone());
        let _ = message.sanitize();
        let _ = sol::policy_view(&message);
        let signatures = vec![[5u8; 64]; usize::from(message.header.num_required_signatures)];
        let tx = SolanaTransaction { signatures, message };
        let wire = tx.serialize().unwrap();
        match SolanaTransaction::deserialize(&wire) {
            Ok(decoded) => prop_assert_eq!(decoded, tx),
            Err(error) => prop_assert!(tx.sanitize().is_err(), "{error}"),
        }
    }

    #[test]
    fn typed_data_with_arbitrary_values_never_panics(
        name in ".{0,20}",
        chain in any::<u64>(),
        contents in prop::collection::vec(any::<u8>(), 0..40),
        kind in prop::sample::select(vec!["string", "bytes", "uint8", "int256", "address", "bytes32", "bool", "Person", "uint256[]", "bytes33"]),
    ) {
        let json = serde_json::json!({
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
                "Person": [{"name": "name", "type": "string"}],
                "Mail": [{"name": "contents", "type": kind}],
            },
            "primaryType": "Mail",
            "domain": {"name": name, "chainId": chain},
            "message": {"contents": format!("0x{}", hex::encode(&contents))},
        });
        let _ = eth::typed_data_hash(&json.to_string());
        let _ = eth::typed_data_hash_value(&json);
    }
}
