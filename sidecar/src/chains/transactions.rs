//! What a `thresig_signTransaction` request asks a wallet to sign (BIP-341 sighashes of its
//! Taproot inputs, the exact Solana message bytes, an EIP-1559 signing hash), and the views of
//! what it does: one copy that nodes check signing sessions against and the coordinator drives.

use serde::Serialize;
use thresig_adapters::policy::PolicyView;

use crate::chains::addresses;
use crate::chains::chain::Chain;
use crate::chains::error::ChainError;
use crate::model::requests::SignTransactionParams;
use crate::model::scheme::Tweak;
use crate::model::wallet::WalletRecord;

/// The most wallet inputs one request may ask to sign: each is its own signing session.
pub const MAX_SIGNED_INPUTS: usize = 64;

/// One native-asset transfer of the transaction, as the adapter decoded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferView {
    /// The recipient in the chain's address form.
    pub recipient: String,
    /// The amount in base units (satoshi, lamport), as a decimal string.
    pub amount: String,
}

/// What the signed transaction does, decoded by the adapter (the policy view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionSummary {
    /// Chain and network (`bitcoin:regtest`, `solana`).
    pub chain: String,
    /// Who pays the fee, when the chain has one payer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The transfers.
    pub transfers: Vec<TransferView>,
    /// The fee in base units (Solana: an upper bound), as a decimal string.
    pub fee: String,
    /// Instructions or scripts the adapter did not interpret.
    pub opaque_actions: usize,
}

impl From<PolicyView> for TransactionSummary {
    fn from(view: PolicyView) -> Self {
        TransactionSummary {
            chain: view.chain.to_string(),
            payer: view.payer,
            transfers: view
                .transfers
                .into_iter()
                .map(|transfer| TransferView {
                    recipient: transfer.recipient,
                    amount: transfer.amount.to_string(),
                })
                .collect(),
            fee: view.fee.to_string(),
            opaque_actions: view.opaque_actions,
        }
    }
}

/// The answer of `thresig_signTransaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedTransactionView {
    /// `bitcoin`, `solana` or `ethereum`.
    pub chain: String,
    /// Whether every signature the transaction needs is present. When other keys must still
    /// sign, Bitcoin answers only the PSBT and Solana leaves their signature slots zero.
    pub complete: bool,
    /// The transaction ready to broadcast: raw hex (Bitcoin), base64 wire format (Solana) or
    /// 0x-hex EIP-2718 encoding (Ethereum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_transaction: Option<String>,
    /// The transaction id: the txid (Bitcoin), the first signature in base58 (Solana) or the
    /// 0x-hex transaction hash (Ethereum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    /// Bitcoin: the PSBT with the wallet's inputs signed and finalised, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psbt: Option<String>,
    /// Bitcoin: the inputs the wallet signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_inputs: Option<Vec<usize>>,
    /// Solana: the wallet's signature, base58; Ethereum: r ‖ s ‖ v, 0x-hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// What the transaction does.
    pub summary: TransactionSummary,
    /// The nodes that signed.
    pub signers: Vec<String>,
}

/// The messages (and tweaks) a `thresig_signTransaction` request asks `record`'s wallet to
/// sign, on the Bitcoin network the cluster manifest names: what a node checks each signing
/// session against, so that a coordinator cannot pass off another message under a client's
/// transaction request. The coordinator signs the same list ([`Chain::sessions`]).
pub fn messages_to_sign(
    record: &WalletRecord,
    params: &SignTransactionParams,
    bitcoin_network: &str,
) -> Result<Vec<(Vec<u8>, Tweak)>, ChainError> {
    let network = addresses::network(bitcoin_network)?;
    Chain::parse(&params.chain, network, params.allow_partial_sighash)?
        .sessions(record, &params.transaction)
}

/// The 33-byte public key of a `cggmp21-secp256k1` wallet, from its record.
pub fn wallet_public_key(record: &WalletRecord) -> Result<[u8; 33], String> {
    hex::decode(&record.public_key_package)
        .ok()
        .and_then(|bytes| <[u8; 33]>::try_from(bytes).ok())
        .ok_or_else(|| format!("wallet {} has no 33-byte ECDSA key", record.wallet_id))
}

#[cfg(test)]
mod tests {
    use bitcoin::psbt::PsbtSighashType;
    use bitcoin::{
        Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn,
        TxOut, Witness, absolute, transaction,
    };

    use serde_json::{Value, json};
    use thresig_adapters::bitcoin as btc;
    use thresig_adapters::solana as sol;
    use thresig_adapters::{Bitcoin, Ethereum, Solana};

    use super::*;
    use crate::chains::chain::{WalletChain, answer, plan};
    use crate::model::scheme::WalletScheme;

    /// A 2-of-3 wallet record of a FROST `scheme` from a trusted dealer, and the secret key the
    /// shares add up to (what a signing session computes with, in one place).
    fn frost_record<C: frost_core::Ciphersuite>(scheme: WalletScheme) -> (WalletRecord, Vec<u8>) {
        let (shares, public) = frost_core::keys::generate_with_dealer::<C, _>(
            3,
            2,
            frost_core::keys::IdentifierList::Default,
            &mut rand::thread_rng(),
        )
        .unwrap();
        let packages: Vec<frost_core::keys::KeyPackage<C>> = shares
            .into_values()
            .take(2)
            .map(|share| share.try_into().unwrap())
            .collect();
        let secret = frost_core::keys::reconstruct(&packages)
            .unwrap()
            .serialize();
        (record("w-1", scheme, &public.serialize().unwrap()), secret)
    }

    /// A confirmed 2-of-3 wallet record whose stored key is `key`.
    fn record(wallet_id: &str, scheme: WalletScheme, key: &[u8]) -> WalletRecord {
        WalletRecord {
            wallet_id: wallet_id.into(),
            scheme: scheme.name().into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            public_key_package: hex::encode(key),
            created_at: 0,
            confirmed: true,
        }
    }

    /// A 2-of-3 Taproot wallet record from a trusted dealer, its BIP-86 scriptPubKey, and its
    /// secret key.
    fn taproot_wallet() -> (WalletRecord, ScriptBuf, Vec<u8>) {
        let (record, secret) =
            frost_record::<frost_secp256k1_tr::Secp256K1Sha256TR>(WalletScheme::FROST_SECP256K1_TR);
        let package = hex::decode(&record.public_key_package).unwrap();
        let group_key =
            crate::protocols::frost::group_key::<frost_secp256k1_tr::Secp256K1Sha256TR>(&package)
                .unwrap();
        let key = btc::parse_group_key(&group_key).unwrap();
        let script = btc::p2tr_address(key, Network::Regtest).script_pubkey();
        (record, script, secret)
    }

    /// The Taproot wallet record and its BIP-86 scriptPubKey.
    fn taproot_record() -> (WalletRecord, ScriptBuf) {
        let (record, script, _) = taproot_wallet();
        (record, script)
    }

    fn psbt(script: &ScriptBuf, types: &[Option<TapSighashType>]) -> String {
        let unsigned = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: (0..types.len())
                .map(|vout| TxIn {
                    previous_output: OutPoint {
                        txid: "4242424242424242424242424242424242424242424242424242424242424242"
                            .parse()
                            .unwrap(),
                        vout: vout as u32,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            // SIGHASH_SINGLE signs the output at its input's index: one for each input.
            output: (0..types.len())
                .map(|_| TxOut {
                    value: Amount::from_sat(9_000),
                    script_pubkey: script.clone(),
                })
                .collect(),
        };
        let mut psbt = Psbt::from_unsigned_tx(unsigned).unwrap();
        for (input, ty) in psbt.inputs.iter_mut().zip(types) {
            input.witness_utxo = Some(TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: script.clone(),
            });
            input.sighash_type = ty.map(PsbtSighashType::from);
        }
        psbt.to_string()
    }

    fn params(transaction: String, allow_partial_sighash: bool) -> SignTransactionParams {
        SignTransactionParams {
            wallet_id: "w-1".into(),
            chain: "bitcoin".into(),
            transaction: serde_json::Value::String(transaction),
            allow_partial_sighash,
        }
    }

    #[test]
    fn a_node_refuses_inputs_that_leave_outputs_unsigned_unless_the_client_asked() {
        let (record, script) = taproot_record();
        let full = psbt(&script, &[None, Some(TapSighashType::All)]);
        assert_eq!(
            messages_to_sign(&record, &params(full, false), "regtest")
                .unwrap()
                .len(),
            2
        );
        for ty in [
            TapSighashType::None,
            TapSighashType::Single,
            TapSighashType::AllPlusAnyoneCanPay,
            TapSighashType::NonePlusAnyoneCanPay,
            TapSighashType::SinglePlusAnyoneCanPay,
        ] {
            let partial = psbt(&script, &[None, Some(ty)]);
            let error = messages_to_sign(&record, &params(partial.clone(), false), "regtest")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("input 1 asks for sighash type {ty}"))
                    && error.contains("allowPartialSighash"),
                "{error}"
            );
            // The client's signed request opts in: the node signs it.
            assert_eq!(
                messages_to_sign(&record, &params(partial, true), "regtest")
                    .unwrap()
                    .len(),
                2
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // The dispatch: what a node accepts is what the coordinator signs and assembles.

    /// Signs one session's message under its tweak, as the cluster would.
    type Signer<'a> = &'a dyn Fn(&[u8], Tweak) -> [u8; 64];

    /// Written once over the trait, run per chain: the sessions a node accepts for the request
    /// (through the node's own entry, [`messages_to_sign`]) are exactly the messages the
    /// coordinator's path plans and signs, in order; signatures over them assemble into a
    /// complete transaction; and the request is refused for every wallet of another scheme.
    fn node_accepts_what_the_coordinator_signs<A: WalletChain>(
        adapter: &A,
        record: &WalletRecord,
        transaction: Value,
        sign: Signer<'_>,
        others: &[WalletRecord],
    ) -> SignedTransactionView {
        let request = SignTransactionParams {
            wallet_id: record.wallet_id.clone(),
            chain: A::NAME.into(),
            transaction: transaction.clone(),
            allow_partial_sighash: false,
        };
        let accepted = messages_to_sign(record, &request, "regtest").unwrap();
        let planned = plan(adapter, record, &transaction).unwrap();
        assert_eq!(planned.sessions(), accepted, "{}", A::NAME);
        assert!(!accepted.is_empty());
        let signatures: Vec<[u8; 64]> = accepted
            .iter()
            .map(|(message, tweak)| sign(message, *tweak))
            .collect();
        let summary = adapter
            .policy_view(&planned.unsigned, &planned.key)
            .unwrap();
        let signed = adapter
            .assemble(planned.unsigned, &planned.key, &signatures)
            .unwrap();
        let view = answer::<A>(&signed, &planned.messages, summary, vec!["node-1".into()]);
        assert_eq!(view.chain, A::NAME);
        assert!(view.complete, "{}: {view:?}", A::NAME);
        assert!(view.signed_transaction.is_some() && view.txid.is_some());

        // A signature over anything else is not one assembly takes.
        let mut other = accepted[0].0.clone();
        other[0] ^= 1;
        let mut forged = signatures.clone();
        forged[0] = sign(&other, accepted[0].1);
        let planned = plan(adapter, record, &transaction).unwrap();
        assert!(
            adapter
                .assemble(planned.unsigned, &planned.key, &forged)
                .is_err()
        );

        for other in others {
            let error = messages_to_sign(other, &request, "regtest")
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                format!(
                    "chain {} needs a {} wallet; wallet {} is {}",
                    A::NAME,
                    A::SCHEME,
                    other.wallet_id,
                    other.scheme
                )
            );
        }
        view
    }

    fn ed25519_wallet() -> (WalletRecord, Vec<u8>) {
        let (mut record, secret) =
            frost_record::<frost_ed25519::Ed25519Sha512>(WalletScheme::FROST_ED25519);
        record.wallet_id = "w-ed25519".into();
        (record, secret)
    }

    fn ecdsa_wallet() -> (WalletRecord, k256::ecdsa::SigningKey) {
        let key = k256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let sec1 = key.verifying_key().to_sec1_bytes();
        (
            record("w-ecdsa", WalletScheme::Cggmp21Secp256k1, &sec1),
            key,
        )
    }

    fn ed25519_public(record: &WalletRecord) -> ed25519_dalek::VerifyingKey {
        let package = hex::decode(&record.public_key_package).unwrap();
        let key =
            crate::protocols::frost::group_key::<frost_ed25519::Ed25519Sha512>(&package).unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap()).unwrap()
    }

    #[test]
    fn bitcoin_dispatch_signs_what_nodes_accept() {
        let (record, script, secret) = taproot_wallet();
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let keypair = bitcoin::key::Keypair::from_seckey_slice(&secp, &secret).unwrap();
        // BIP-86 by the bitcoin crate's own tweak, not the adapter's.
        let tweaked = bitcoin::key::TapTweak::tap_tweak(keypair, &secp, None).to_keypair();
        let sign = |message: &[u8], tweak: Tweak| {
            assert_eq!(tweak, Tweak::Bip86);
            let digest = bitcoin::secp256k1::Message::from_digest(message.try_into().unwrap());
            secp.sign_schnorr_no_aux_rand(&digest, &tweaked).serialize()
        };
        let transaction = json!(psbt(&script, &[None, Some(TapSighashType::All)]));
        let adapter = Bitcoin {
            network: Network::Regtest,
            allow_partial_sighash: false,
        };
        let others = [ed25519_wallet().0, ecdsa_wallet().0];
        let view =
            node_accepts_what_the_coordinator_signs(&adapter, &record, transaction, &sign, &others);
        assert_eq!(view.signed_inputs, Some(vec![0, 1]));
        let signed: Psbt = view.psbt.unwrap().parse().unwrap();
        let tx = signed.extract_tx_unchecked_fee_rate();
        assert_eq!(view.txid, Some(tx.compute_txid().to_string()));
        assert_eq!(
            view.signed_transaction,
            Some(bitcoin::consensus::encode::serialize_hex(&tx))
        );
        assert_eq!(view.signature, None);
        assert_eq!(view.summary.chain, "bitcoin:regtest");
    }

    #[test]
    fn solana_dispatch_signs_what_nodes_accept() {
        let (record, secret) = ed25519_wallet();
        let public = ed25519_public(&record);
        let wallet = sol::Pubkey(public.to_bytes());
        let signing_key = frost_ed25519::SigningKey::deserialize(&secret).unwrap();
        let sign = |message: &[u8], tweak: Tweak| {
            assert_eq!(tweak, Tweak::None);
            let signature = signing_key.sign(rand::thread_rng(), message);
            signature.serialize().unwrap().try_into().unwrap()
        };
        let message = sol::transfer_message(wallet, sol::Pubkey([9u8; 32]), 7, [1u8; 32]);
        let bytes = message.serialize().unwrap();
        let transaction = json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &bytes
        ));
        let others = [taproot_record().0, ecdsa_wallet().0];
        let view =
            node_accepts_what_the_coordinator_signs(&Solana, &record, transaction, &sign, &others);
        let signature = bs58::decode(view.signature.unwrap()).into_vec().unwrap();
        // ed25519-dalek checks the wallet's signature over the client's exact bytes.
        public
            .verify_strict(
                &bytes,
                &ed25519_dalek::Signature::from_slice(&signature).unwrap(),
            )
            .unwrap();
        assert_eq!(view.txid, Some(bs58::encode(&signature).into_string()));
        assert_eq!((view.psbt, view.signed_inputs), (None, None));
    }

    #[test]
    fn ethereum_dispatch_signs_what_nodes_accept() {
        let (record, key) = ecdsa_wallet();
        let sign = |message: &[u8], tweak: Tweak| {
            assert_eq!(tweak, Tweak::None);
            let (signature, _) = key.sign_prehash_recoverable(message).unwrap();
            let mut bytes = [0u8; 64];
            bytes.copy_from_slice(&signature.to_bytes());
            bytes
        };
        let recipient = "0x2222222222222222222222222222222222222222";
        let fields = json!({
            "to": recipient, "value": "0x7", "gas": "0x5208", "maxFeePerGas": "0x2",
            "maxPriorityFeePerGas": "0x1", "nonce": "0x0", "chainId": "0x539"
        });
        let others = [taproot_record().0, ed25519_wallet().0];
        let view = node_accepts_what_the_coordinator_signs(
            &Ethereum,
            &record,
            fields.clone(),
            &sign,
            &others,
        );
        // r ‖ s ‖ v with low s: k256 verifies it under the wallet's key and recovers the key.
        let signature = hex::decode(view.signature.unwrap().trim_start_matches("0x")).unwrap();
        assert_eq!(signature.len(), 65);
        let parsed = k256::ecdsa::Signature::from_slice(&signature[..64]).unwrap();
        assert!(parsed.normalize_s().is_none(), "s is low");
        let planned = plan(&Ethereum, &record, &fields).unwrap();
        let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(
            &planned.messages[0].message,
            &parsed,
            k256::ecdsa::RecoveryId::from_byte(signature[64]).unwrap(),
        )
        .unwrap();
        assert_eq!(&recovered, key.verifying_key());
        assert_eq!(view.summary.chain, "eip155:1337");

        // A `from` of another account is refused, naming both.
        let mut foreign = fields;
        foreign["from"] = json!(recipient);
        let error = plan(&Ethereum, &record, &foreign)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "from is {recipient}, but the wallet's address is 0x"
            )),
            "{error}"
        );
    }

    #[test]
    fn each_scheme_signs_on_one_chain_and_unknown_chains_are_named() {
        for scheme in [
            WalletScheme::FROST_SECP256K1_TR,
            WalletScheme::FROST_ED25519,
            WalletScheme::Cggmp21Secp256k1,
        ] {
            let chain = Chain::of_scheme(scheme, Network::Regtest);
            assert_eq!(chain.scheme(), scheme);
            assert_eq!(
                Chain::parse(chain.name(), Network::Regtest, false).unwrap(),
                chain
            );
        }
        let error = Chain::parse("dogecoin", Network::Regtest, false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "chain must be \"bitcoin\", \"solana\" or \"ethereum\", got \"dogecoin\""
        );
    }

    #[test]
    fn wallet_keys_and_addresses_keep_their_forms() {
        let (taproot, script, _) = taproot_wallet();
        let key = crate::chains::addresses::wallet_public_key(&taproot).unwrap();
        let package = hex::decode(&taproot.public_key_package).unwrap();
        let group_key =
            crate::protocols::frost::group_key::<frost_secp256k1_tr::Secp256K1Sha256TR>(&package)
                .unwrap();
        // x-only: the 33-byte group key without its parity byte.
        assert_eq!(key, group_key[1..]);
        let addresses = crate::chains::addresses::wallet_addresses(
            WalletScheme::FROST_SECP256K1_TR,
            &key,
            Network::Regtest,
        )
        .unwrap();
        let address: bitcoin::Address<bitcoin::address::NetworkUnchecked> =
            addresses["bitcoin"].parse().unwrap();
        assert_eq!(
            address
                .require_network(Network::Regtest)
                .unwrap()
                .script_pubkey(),
            script
        );

        let (ed25519, _) = ed25519_wallet();
        let key = crate::chains::addresses::wallet_public_key(&ed25519).unwrap();
        assert_eq!(key, ed25519_public(&ed25519).to_bytes());
        let addresses = crate::chains::addresses::wallet_addresses(
            WalletScheme::FROST_ED25519,
            &key,
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(addresses["solana"], bs58::encode(&key).into_string());

        let (ecdsa, signing_key) = ecdsa_wallet();
        let key = crate::chains::addresses::wallet_public_key(&ecdsa).unwrap();
        assert_eq!(key, signing_key.verifying_key().to_sec1_bytes().to_vec());
        assert_eq!(key.len(), 33);
        let addresses = crate::chains::addresses::wallet_addresses(
            WalletScheme::Cggmp21Secp256k1,
            &key,
            Network::Regtest,
        )
        .unwrap();
        // keccak256 of the uncompressed point's x ‖ y, last 20 bytes, as alloy computes it.
        let point = signing_key.verifying_key().to_encoded_point(false);
        let expected =
            thresig_adapters::ethereum::Address::from_raw_public_key(&point.as_bytes()[1..]);
        assert_eq!(addresses["ethereum"], expected.to_checksum(None));

        // A key of the wrong length is refused, not misread.
        let error = crate::chains::addresses::wallet_addresses(
            WalletScheme::FROST_ED25519,
            &[7u8; 31],
            Network::Regtest,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("not a frost-ed25519 public key"),
            "{error}"
        );
    }

    #[test]
    fn a_node_refuses_script_tree_inputs_and_more_than_the_input_limit() {
        let (record, script) = taproot_record();
        let package = hex::decode(&record.public_key_package).unwrap();
        let group_key =
            crate::protocols::frost::group_key::<frost_secp256k1_tr::Secp256K1Sha256TR>(&package)
                .unwrap();
        let key = btc::parse_group_key(&group_key).unwrap();

        // An input of the wallet's key tweaked with a script tree: the nodes sign under the
        // BIP-86 tweak only, so the node refuses it rather than sign a mislabelled session.
        let root = <bitcoin::TapNodeHash as bitcoin::hashes::Hash>::from_byte_array([7u8; 32]);
        let scripted = btc::p2tr_script_pubkey(key, Some(root));
        let mut tree: Psbt = psbt(&scripted, &[None]).parse().unwrap();
        tree.inputs[0].tap_merkle_root = Some(root);
        let error = messages_to_sign(&record, &params(tree.to_string(), false), "regtest")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "input 0 commits to a script tree (tap_merkle_root); only BIP-86 key-path spends \
             are signed"
        );

        let many = psbt(&script, &[None; MAX_SIGNED_INPUTS + 1]);
        let error = messages_to_sign(&record, &params(many, false), "regtest")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "{} inputs belong to the wallet; one request signs at most {MAX_SIGNED_INPUTS}",
                MAX_SIGNED_INPUTS + 1
            )
        );
        let most = psbt(&script, &[None; MAX_SIGNED_INPUTS]);
        assert_eq!(
            messages_to_sign(&record, &params(most, false), "regtest")
                .unwrap()
                .len(),
            MAX_SIGNED_INPUTS
        );
    }

    #[test]
    fn a_node_refuses_solana_bytes_it_would_not_sign_verbatim() {
        let (record, _) = ed25519_wallet();
        let wallet = sol::Pubkey(ed25519_public(&record).to_bytes());
        let bytes = sol::transfer_message(wallet, sol::Pubkey([9u8; 32]), 7, [1u8; 32])
            .serialize()
            .unwrap();
        let b64 = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        };
        let request = |transaction: String| SignTransactionParams {
            wallet_id: record.wallet_id.clone(),
            chain: "solana".into(),
            transaction: json!(transaction),
            allow_partial_sighash: false,
        };
        let accepted = messages_to_sign(&record, &request(b64(&bytes)), "regtest").unwrap();
        assert_eq!(accepted, vec![(bytes.clone(), Tweak::None)]);
        // Trailing bytes are not part of any message the wallet signs.
        let mut longer = bytes;
        longer.push(0);
        let error = messages_to_sign(&record, &request(b64(&longer)), "regtest")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("not a Solana message"), "{error}");
    }
}
