//! `thresig_signTransaction`: an unsigned transaction in, a signed one out, through the chain
//! adapters. The coordinator works out what must be signed (`chains::transactions`), runs one
//! signing session per signature, and assembles the transaction; the adapters check every
//! signature again as they insert it.

use thresig_adapters::bitcoin::{self as btc, BitcoinError};
use thresig_adapters::ethereum as eth;
use thresig_adapters::solana;

use crate::chains::transactions::{
    MAX_SIGNED_INPUTS, SignedTransactionView, TransactionChain, ethereum_transaction,
    refuse_partial_sighash, wallet_public_key,
};
use crate::cluster::client_auth::ClientRequest;
use crate::coordinator::{Coordinator, CoordinatorError, LocatedWallet, Signed};
use crate::model::scheme::{Tweak, WalletScheme};
use crate::with_ciphersuite;

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
                chain.name()
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
                chain.name()
            )));
        };
        let group_key = with_ciphersuite!(scheme, C => crate::protocols::frost::group_key::<C>(
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

fn merge_signers(all: &mut Vec<String>, signed: &Signed) {
    for node in &signed.signers {
        if !all.contains(node) {
            all.push(node.clone());
        }
    }
}
