//! `thresig_signTransaction`: an unsigned transaction in, a signed one out, through the chain
//! adapters. The coordinator works out what must be signed (BIP-341 sighashes of the wallet's
//! Taproot inputs, the exact Solana message bytes), runs one FROST signing session per signature,
//! and assembles the transaction; the adapters check every signature again as they insert it.

use std::str::FromStr;

use serde::Serialize;
use thresig_adapters::bitcoin::{self as btc, BitcoinError};
use thresig_adapters::ethereum as eth;
use thresig_adapters::policy::PolicyView;
use thresig_adapters::solana;

use crate::auth::ClientRequest;
use crate::coordinator::{Coordinator, CoordinatorError, LocatedWallet, Signed};
use crate::requests::SignTransactionParams;
use crate::scheme::{Tweak, WalletScheme};
use crate::store::WalletRecord;
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

fn invalid(message: impl Into<String>) -> CoordinatorError {
    CoordinatorError::InvalidParams(message.into())
}

impl Coordinator {
    /// `thresig_signTransaction`: signs `transaction` (text as the chain expects it) with the
    /// wallet and returns the assembled transaction.
    pub async fn sign_transaction(
        &self,
        wallet_id: &str,
        chain: TransactionChain,
        transaction: &serde_json::Value,
        allow_partial_sighash: bool,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let wallet = self.locate_wallet(wallet_id).await?;
        let record = &wallet.record;
        let scheme: WalletScheme = record.scheme.parse().map_err(CoordinatorError::Internal)?;
        let needed = match chain {
            TransactionChain::Bitcoin => WalletScheme::FrostSecp256k1Tr,
            TransactionChain::Solana => WalletScheme::FrostEd25519,
            TransactionChain::Ethereum => WalletScheme::Cggmp21Secp256k1,
        };
        if scheme != needed {
            return Err(invalid(format!(
                "chain {} needs a {needed} wallet; wallet {wallet_id} is {scheme}",
                chain_name(chain)
            )));
        }
        if chain == TransactionChain::Ethereum {
            return self
                .sign_ethereum(&wallet, transaction, authorization)
                .await;
        }
        let serde_json::Value::String(transaction) = transaction else {
            return Err(invalid(format!(
                "transaction must be a base64 string for chain {}",
                chain_name(chain)
            )));
        };
        let group_key = with_ciphersuite!(scheme, C => crate::frost_ops::group_key::<C>(
            &hex::decode(&record.public_key_package)
                .map_err(|error| CoordinatorError::Internal(error.to_string()))?
        ))
        .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        match chain {
            TransactionChain::Bitcoin => {
                self.sign_psbt(
                    &wallet,
                    &group_key,
                    transaction,
                    allow_partial_sighash,
                    authorization,
                )
                .await
            }
            _ => {
                self.sign_solana(&wallet, &group_key, transaction, authorization)
                    .await
            }
        }
    }

    async fn sign_ethereum(
        &self,
        wallet: &LocatedWallet,
        transaction: &serde_json::Value,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let public_key = wallet_public_key(&wallet.record).map_err(CoordinatorError::Internal)?;
        let sender = eth::address_from_public_key(&public_key)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let tx = ethereum_transaction(transaction, sender)
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let summary = eth::policy_view(&tx, Some(sender));
        let hash = eth::signing_hash(&tx);
        let signed = self.sign_ecdsa(wallet, hash.0, authorization).await?;
        let r: [u8; 32] = signed.signature[..32].try_into().unwrap_or_default();
        let s: [u8; 32] = signed.signature[32..64].try_into().unwrap_or_default();
        // The adapter checks the signature again: low s, and it must recover the wallet.
        let assembled = eth::assemble_signed(tx, &r, &s, sender)
            .map_err(|error| CoordinatorError::Verification(error.to_string()))?;
        Ok(SignedTransactionView {
            chain: "ethereum".to_owned(),
            complete: true,
            signed_transaction: Some(format!("0x{}", hex::encode(&assembled.raw))),
            txid: Some(format!("0x{}", hex::encode(assembled.hash))),
            psbt: None,
            signed_inputs: None,
            signature: Some(format!("0x{}", hex::encode(signed.signature))),
            summary: summary.into(),
            signers: signed.signers,
        })
    }

    async fn sign_psbt(
        &self,
        wallet: &LocatedWallet,
        group_key: &[u8],
        transaction: &str,
        allow_partial_sighash: bool,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let key = btc::parse_group_key(group_key)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let mut psbt = btc::psbt_from_base64(transaction.trim())
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let summary = btc::policy_view(&psbt, self.network())
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let requests = btc::signing_requests(&psbt, key)
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        if requests.is_empty() {
            return Err(invalid(format!(
                "transaction: no input spends the wallet's Taproot output ({}); an input is \
                 signed when its witness_utxo or non_witness_utxo pays to that address",
                btc::p2tr_address(key, self.network())
            )));
        }
        if requests.len() > MAX_SIGNED_INPUTS {
            return Err(invalid(format!(
                "transaction: {} inputs belong to the wallet; one request signs at most \
                 {MAX_SIGNED_INPUTS}",
                requests.len()
            )));
        }
        if let Some(scripted) = requests
            .iter()
            .find(|request| request.merkle_root.is_some())
        {
            return Err(invalid(format!(
                "transaction: input {} commits to a script tree (tap_merkle_root); only BIP-86 \
                 key-path spends are signed",
                scripted.input_index
            )));
        }
        refuse_partial_sighash(&requests, allow_partial_sighash)
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let mut signatures = Vec::with_capacity(requests.len());
        let mut signers = Vec::new();
        for request in &requests {
            let signed = self
                .sign_with_record(wallet, &request.sighash, Tweak::Bip86, authorization)
                .await?;
            merge_signers(&mut signers, &signed);
            signatures.push((request.input_index, signed.signature));
        }
        let signed_inputs = signatures.iter().map(|(index, _)| *index).collect();
        let mut view = SignedTransactionView {
            chain: "bitcoin".to_owned(),
            complete: false,
            signed_transaction: None,
            txid: None,
            psbt: None,
            signed_inputs: Some(signed_inputs),
            signature: None,
            summary: summary.into(),
            signers,
        };
        match btc::sign_and_finalize(&mut psbt, key, &signatures) {
            Ok(signed) => {
                view.complete = true;
                view.signed_transaction = Some(signed.raw_hex);
                view.txid = Some(signed.txid.to_string());
                view.psbt = Some(signed.psbt_base64);
            }
            // Inputs of other keys are unsigned: hand back the PSBT for them to finish.
            Err(BitcoinError::NotFinalized(_)) => view.psbt = Some(btc::psbt_to_base64(&psbt)),
            Err(error) => return Err(CoordinatorError::Verification(error.to_string())),
        }
        Ok(view)
    }

    async fn sign_solana(
        &self,
        located: &LocatedWallet,
        group_key: &[u8],
        transaction: &str,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let key: [u8; 32] = group_key.try_into().map_err(|_| {
            CoordinatorError::Internal(format!("Ed25519 group key of {} bytes", group_key.len()))
        })?;
        let wallet = solana::Pubkey(key);
        let message = solana::decode_base64(transaction)
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let request = solana::signing_request(&message)
            .map_err(|error| invalid(format!("transaction: not a Solana message: {error}")))?;
        if !request.signers.contains(&wallet) {
            let signers: Vec<String> = request.signers.iter().map(ToString::to_string).collect();
            return Err(invalid(format!(
                "transaction: the wallet's address {wallet} is not a required signer of the \
                 message; its signers are [{}]",
                signers.join(", ")
            )));
        }
        let decoded = solana::Message::deserialize(&message)
            .map_err(|error| invalid(format!("transaction: {error}")))?;
        let summary = solana::policy_view(&decoded);
        let signed = self
            .sign_with_record(located, &request.message, Tweak::None, authorization)
            .await?;
        let assembled = solana::assemble(&message, &[(wallet, signed.signature)])
            .map_err(|error| CoordinatorError::Verification(error.to_string()))?;
        let complete = assembled
            .transaction
            .signatures
            .iter()
            .all(|slot| slot != &[0u8; 64]);
        let first_is_ours = request.signers.first() == Some(&wallet);
        Ok(SignedTransactionView {
            chain: "solana".to_owned(),
            complete,
            txid: (complete || first_is_ours).then(|| assembled.signature.clone()),
            signed_transaction: Some(assembled.base64),
            psbt: None,
            signed_inputs: None,
            signature: Some(bs58::encode(signed.signature).into_string()),
            summary: summary.into(),
            signers: signed.signers,
        })
    }
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
    let group_key = with_ciphersuite!(scheme, C => crate::frost_ops::group_key::<C>(&package))
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
            let bytes = crate::requests::decode_hex(text)
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

fn chain_name(chain: TransactionChain) -> &'static str {
    match chain {
        TransactionChain::Bitcoin => "bitcoin",
        TransactionChain::Solana => "solana",
        TransactionChain::Ethereum => "ethereum",
    }
}

fn merge_signers(all: &mut Vec<String>, signed: &Signed) {
    for node in &signed.signers {
        if !all.contains(node) {
            all.push(node.clone());
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
            crate::frost_ops::group_key::<frost_secp256k1_tr::Secp256K1Sha256TR>(&package).unwrap();
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
