//! `thresig_signTransaction`: an unsigned transaction in, a signed one out, through the chain
//! adapters, in one generic path over `ChainAdapter`: the messages the chain's adapter lists
//! (`chains::chain::plan`, the list nodes check sessions against), one signing session each,
//! assembly (the adapter checks every signature again as it inserts it), and the answer.

use thresig_adapters::{MessageToSign, SignatureScheme};

use crate::chains::Chain;
use crate::chains::ChainError;
use crate::chains::chain::{WalletChain, answer, plan, tweak_of, with_adapter};
use crate::chains::transactions::SignedTransactionView;
use crate::cluster::client_auth::ClientRequest;
use crate::coordinator::{Coordinator, CoordinatorError, LocatedWallet};

/// A request the chain refuses: the client's fault, unless the stored wallet is at fault.
fn refused(error: ChainError) -> CoordinatorError {
    match error {
        error if error.is_wallet_fault() => CoordinatorError::Internal(error.to_string()),
        error @ (ChainError::WrongScheme { .. } | ChainError::NotAString(_)) => {
            CoordinatorError::InvalidParams(error.to_string())
        }
        error => CoordinatorError::InvalidParams(format!("transaction: {error}")),
    }
}

impl Coordinator {
    /// `thresig_signTransaction`: signs `transaction` (as `chain` expects it) with the wallet
    /// and returns the assembled transaction.
    pub async fn sign_transaction(
        &self,
        wallet_id: &str,
        chain: Chain,
        transaction: &serde_json::Value,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let wallet = self.locate_wallet(wallet_id).await?;
        with_adapter!(&chain, adapter => {
            self.sign_on(adapter, &wallet, transaction, authorization).await
        })
    }

    /// The one path for every chain: plan, policy view, one session per message, assembly.
    async fn sign_on<A: WalletChain>(
        &self,
        adapter: &A,
        wallet: &LocatedWallet,
        transaction: &serde_json::Value,
        authorization: &ClientRequest,
    ) -> Result<SignedTransactionView, CoordinatorError> {
        let plan = plan(adapter, &wallet.record, transaction).map_err(refused)?;
        let summary = adapter
            .policy_view(&plan.unsigned, &plan.key)
            .map_err(|error| refused(error.into()))?;
        let mut signatures = Vec::with_capacity(plan.messages.len());
        let mut signers: Vec<String> = Vec::new();
        for message in &plan.messages {
            let (signature, nodes) = self.sign_one(wallet, message, authorization).await?;
            for node in nodes {
                if !signers.contains(&node) {
                    signers.push(node);
                }
            }
            signatures.push(signature);
        }
        let signed = adapter
            .assemble(plan.unsigned, &plan.key, &signatures)
            .map_err(|error| CoordinatorError::Verification(error.to_string()))?;
        Ok(answer::<A>(&signed, &plan.messages, summary, signers))
    }

    /// One signing session for `message`, as its scheme says: FROST under the tweak the nodes
    /// check, or CGGMP21 on the prehash. Returns the 64-byte signature and its signers.
    async fn sign_one(
        &self,
        wallet: &LocatedWallet,
        message: &MessageToSign,
        authorization: &ClientRequest,
    ) -> Result<([u8; 64], Vec<String>), CoordinatorError> {
        match message.scheme {
            SignatureScheme::Bip340Taproot { .. } | SignatureScheme::Ed25519 => {
                let signed = self
                    .sign_with_record(
                        wallet,
                        &message.message,
                        tweak_of(&message.scheme),
                        authorization,
                    )
                    .await?;
                Ok((signed.signature, signed.signers))
            }
            SignatureScheme::EcdsaPrehash => {
                let hash: [u8; 32] = message.message.as_slice().try_into().map_err(|_| {
                    CoordinatorError::Internal(format!(
                        "an ECDSA prehash of {} bytes",
                        message.message.len()
                    ))
                })?;
                let signed = self.sign_ecdsa(wallet, hash, authorization).await?;
                let mut signature = [0u8; 64];
                // r ‖ s; the recovery id is the adapter's to find again.
                signature.copy_from_slice(&signed.signature[..64]);
                Ok((signature, signed.signers))
            }
        }
    }
}
