//! What a `thresig_signTransaction` request asks a wallet to sign (BIP-341 sighashes of its
//! Taproot inputs, the exact Solana message bytes, an EIP-1559 signing hash), and the views of
//! what it does: one copy that nodes check signing sessions against and the coordinator drives.

use std::str::FromStr;

use serde::Serialize;
use thresig_adapters::bitcoin as btc;
use thresig_adapters::ethereum as eth;
use thresig_adapters::policy::PolicyView;
use thresig_adapters::solana;

use crate::model::requests::SignTransactionParams;
use crate::model::scheme::{Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::with_ciphersuite;

/// The most wallet inputs one request may ask to sign: each is its own signing session.
pub const MAX_SIGNED_INPUTS: usize = 64;

/// The chains `thresig_signTransaction` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionChain {
    /// A base64 PSBT whose BIP-86 Taproot inputs the wallet signs.
    Bitcoin,
    /// A base64 serialised Solana message (legacy or v0) the wallet signs as one signer.
    Solana,
    /// EIP-1559 fields; needs a threshold ECDSA (cggmp21-secp256k1) wallet.
    Ethereum,
}

impl TransactionChain {
    /// The chain's name in requests.
    pub fn name(self) -> &'static str {
        match self {
            TransactionChain::Bitcoin => "bitcoin",
            TransactionChain::Solana => "solana",
            TransactionChain::Ethereum => "ethereum",
        }
    }
}

impl FromStr for TransactionChain {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "bitcoin" => Ok(TransactionChain::Bitcoin),
            "solana" => Ok(TransactionChain::Solana),
            "ethereum" => Ok(TransactionChain::Ethereum),
            other => Err(format!(
                "chain must be \"bitcoin\", \"solana\" or \"ethereum\", got {other:?}"
            )),
        }
    }
}

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
/// sign: what a node checks each signing session against, so that a coordinator cannot pass
/// off another message under a client's transaction request.
pub fn messages_to_sign(
    record: &WalletRecord,
    params: &SignTransactionParams,
) -> Result<Vec<(Vec<u8>, Tweak)>, String> {
    let chain: TransactionChain = params.chain.parse()?;
    let scheme: WalletScheme = record.scheme.parse()?;
    if (chain, scheme) == (TransactionChain::Ethereum, WalletScheme::Cggmp21Secp256k1) {
        let public_key = wallet_public_key(record)?;
        let sender =
            eth::address_from_public_key(&public_key).map_err(|error| error.to_string())?;
        let tx = ethereum_transaction(&params.transaction, sender)?;
        return Ok(vec![(eth::signing_hash(&tx).to_vec(), Tweak::None)]);
    }
    let serde_json::Value::String(transaction) = &params.transaction else {
        return Err(format!("chain {} takes a base64 string", params.chain));
    };
    let package = hex::decode(&record.public_key_package).map_err(|error| error.to_string())?;
    let group_key =
        with_ciphersuite!(scheme, C => crate::protocols::frost::group_key::<C>(&package))
            .map_err(|error| error.to_string())?;
    match (chain, scheme) {
        (TransactionChain::Bitcoin, WalletScheme::FrostSecp256k1Tr) => {
            let key = btc::parse_group_key(&group_key).map_err(|error| error.to_string())?;
            let psbt =
                btc::psbt_from_base64(transaction.trim()).map_err(|error| error.to_string())?;
            let requests = btc::signing_requests(&psbt, key).map_err(|error| error.to_string())?;
            refuse_partial_sighash(&requests, params.allow_partial_sighash)?;
            Ok(requests
                .into_iter()
                .map(|request| (request.sighash.to_vec(), Tweak::Bip86))
                .collect())
        }
        (TransactionChain::Solana, WalletScheme::FrostEd25519) => {
            let message = solana::decode_base64(transaction).map_err(|error| error.to_string())?;
            let request = solana::signing_request(&message).map_err(|error| error.to_string())?;
            Ok(vec![(request.message.to_vec(), Tweak::None)])
        }
        _ => Err(format!(
            "chain {} cannot be signed with a {scheme} wallet",
            params.chain
        )),
    }
}

/// Refuses, unless the client opted in, inputs whose sighash type leaves outputs or other
/// inputs unsigned (NONE, SINGLE, ANYONECANPAY): anyone holding such a signature can change
/// what the transaction pays, so the summary the client sees would not bind it.
pub fn refuse_partial_sighash(
    requests: &[btc::SigningRequest],
    allowed: bool,
) -> Result<(), String> {
    if allowed {
        return Ok(());
    }
    match requests.iter().find(|request| {
        !matches!(
            request.sighash_type,
            btc::TapSighashType::Default | btc::TapSighashType::All
        )
    }) {
        None => Ok(()),
        Some(request) => Err(format!(
            "input {} asks for sighash type {}, which does not commit to every output and \
             input, so the returned summary would not bind what it pays; set \
             allowPartialSighash to sign it anyway",
            request.input_index, request.sighash_type
        )),
    }
}

/// The 33-byte public key of a `cggmp21-secp256k1` wallet, from its record.
pub fn wallet_public_key(record: &WalletRecord) -> Result<[u8; 33], String> {
    hex::decode(&record.public_key_package)
        .ok()
        .and_then(|bytes| <[u8; 33]>::try_from(bytes).ok())
        .ok_or_else(|| format!("wallet {} has no 33-byte ECDSA key", record.wallet_id))
}

/// The EIP-1559 transaction of a request: an object of fields as `eth_signTransaction` takes
/// them, or the 0x-hex unsigned payload `0x02 || rlp(...)`. A `from` field must be the wallet.
pub fn ethereum_transaction(
    transaction: &serde_json::Value,
    wallet: eth::Address,
) -> Result<eth::TxEip1559, String> {
    match transaction {
        serde_json::Value::String(text) => {
            let bytes = crate::model::requests::decode_hex(text)
                .map_err(|error| format!("not 0x-hex: {error}"))?;
            eth::decode_unsigned(&bytes).map_err(|error| error.to_string())
        }
        fields => {
            let (tx, from) =
                eth::transaction_from_fields(fields).map_err(|error| error.to_string())?;
            match from {
                Some(from) if from != wallet => Err(format!(
                    "from is {}, but the wallet's address is {}",
                    eth::checksum_address(&from),
                    eth::checksum_address(&wallet)
                )),
                _ => Ok(tx),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::psbt::PsbtSighashType;
    use bitcoin::{
        Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn,
        TxOut, Witness, absolute, transaction,
    };

    use super::*;

    /// A 2-of-3 Taproot wallet record from a trusted dealer: only its public part matters here.
    fn taproot_record() -> (WalletRecord, ScriptBuf) {
        let (_, public) = frost_secp256k1_tr::keys::generate_with_dealer(
            3,
            2,
            frost_secp256k1_tr::keys::IdentifierList::Default,
            rand::thread_rng(),
        )
        .unwrap();
        let package = public.serialize().unwrap();
        let group_key =
            crate::protocols::frost::group_key::<frost_secp256k1_tr::Secp256K1Sha256TR>(&package)
                .unwrap();
        let key = btc::parse_group_key(&group_key).unwrap();
        let record = WalletRecord {
            wallet_id: "w-1".into(),
            scheme: WalletScheme::FrostSecp256k1Tr.name().into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            public_key_package: hex::encode(package),
            created_at: 0,
            confirmed: true,
        };
        (
            record,
            btc::p2tr_address(key, Network::Regtest).script_pubkey(),
        )
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
            messages_to_sign(&record, &params(full, false))
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
            let error = messages_to_sign(&record, &params(partial.clone(), false)).unwrap_err();
            assert!(
                error.contains(&format!("input 1 asks for sighash type {ty}"))
                    && error.contains("allowPartialSighash"),
                "{error}"
            );
            // The client's signed request opts in: the node signs it.
            assert_eq!(
                messages_to_sign(&record, &params(partial, true))
                    .unwrap()
                    .len(),
                2
            );
        }
    }
}
