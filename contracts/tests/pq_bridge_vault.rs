//! PqBridgeVault in revm, guarded by an ML-DSA-65 key generated here: a signed withdrawal pays
//! out; replay, expiry, a tampered field or signature, and a key of the wrong length are refused.

use alloy_primitives::{Address, Bytes, U256, address};
use alloy_sol_types::SolError;
use fips204::traits::{SerDes as _, Signer as _};
use thresig_contracts::bindings::PqBridgeVault::{self, PqBridgeVaultErrors};
use thresig_contracts::eip712::{self, Withdraw};
use thresig_contracts::{Chain, ContractsError};

const RECIPIENT: Address = address!("0x00000000000000000000000000000000000be5e1");
const ETHER: u64 = 1_000_000_000_000_000_000;

struct Vault {
    chain: Chain,
    address: Address,
    private_key: fips204::ml_dsa_65::PrivateKey,
    deploy_gas: u64,
}

fn vault() -> Vault {
    let (public_key, private_key) = fips204::ml_dsa_65::try_keygen().unwrap();
    let mut chain = Chain::default();
    let deployment = chain
        .deploy_pq_bridge_vault(&public_key.clone().into_bytes(), U256::from(ETHER))
        .unwrap();
    let stored = chain
        .view(deployment.address, &PqBridgeVault::publicKeyCall {})
        .unwrap();
    assert_eq!(stored.as_ref(), public_key.into_bytes().as_slice());
    Vault {
        chain,
        address: deployment.address,
        private_key,
        deploy_gas: deployment.gas_used,
    }
}

impl Vault {
    fn message(&self, amount: u64, nonce: u64) -> Withdraw {
        let deadline = self.chain.timestamp() + 3600;
        Withdraw::new(
            RECIPIENT,
            U256::from(amount),
            U256::from(nonce),
            U256::from(deadline),
        )
    }

    /// The ML-DSA-65 signature over the message's EIP-712 digest, computed here.
    fn sign(&mut self, message: &Withdraw) -> Vec<u8> {
        let domain = eip712::domain(
            eip712::PQ_BRIDGE_VAULT_NAME,
            self.chain.chain_id(),
            self.address,
        );
        let digest = message.digest(&domain);
        let on_chain = self.chain.withdraw_digest(self.address, message).unwrap();
        assert_eq!(on_chain, digest, "Rust and Solidity disagree on the digest");
        self.private_key.try_sign(&digest.0, b"").unwrap().to_vec()
    }

    fn withdraw(&mut self, message: &Withdraw, signature: Vec<u8>) -> thresig_contracts::Call {
        self.chain
            .withdraw(self.address, message, Bytes::from(signature))
            .unwrap()
    }
}

#[test]
fn a_signed_withdrawal_pays_out_once() {
    let mut vault = vault();
    let message = vault.message(ETHER / 4, 7);
    let signature = vault.sign(&message);
    let call = vault.withdraw(&message, signature.clone());
    assert!(call.success, "{call:?}");
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(ETHER / 4));
    assert_eq!(
        vault.chain.balance(vault.address),
        U256::from(ETHER - ETHER / 4)
    );
    println!(
        "gas: PqBridgeVault deploy {} withdraw {}",
        vault.deploy_gas, call.gas_used
    );

    let replay = vault.withdraw(&message, signature);
    assert_eq!(
        replay.revert::<PqBridgeVaultErrors>(),
        Some(PqBridgeVaultErrors::NonceAlreadyUsed(
            PqBridgeVault::NonceAlreadyUsed {
                nonce: U256::from(7)
            }
        ))
    );
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(ETHER / 4));
}

#[test]
fn tampered_fields_and_signatures_are_refused() {
    let mut vault = vault();
    let message = vault.message(ETHER / 2, 1);
    let signature = vault.sign(&message);
    let invalid = Some(PqBridgeVaultErrors::InvalidSignature(
        PqBridgeVault::InvalidSignature {},
    ));

    let mut more = message.clone();
    more.amount += U256::from(1);
    assert_eq!(vault.withdraw(&more, signature.clone()).revert(), invalid);

    let mut elsewhere = message.clone();
    elsewhere.recipient = address!("0x0000000000000000000000000000000000000bad");
    assert_eq!(
        vault.withdraw(&elsewhere, signature.clone()).revert(),
        invalid
    );

    let mut flipped = signature.clone();
    flipped[100] ^= 0x01;
    assert_eq!(vault.withdraw(&message, flipped).revert(), invalid);

    assert_eq!(vault.chain.balance(RECIPIENT), U256::ZERO);
    // None of the refusals spent the nonce.
    assert!(vault.withdraw(&message, signature).success);
}

#[test]
fn an_expired_withdrawal_is_refused() {
    let mut vault = vault();
    let message = vault.message(1, 2);
    let signature = vault.sign(&message);
    let deadline: u64 = message.deadline.to();
    vault.chain.set_timestamp(deadline + 1);
    assert_eq!(
        vault.withdraw(&message, signature).revert(),
        Some(PqBridgeVaultErrors::SignatureExpired(
            PqBridgeVault::SignatureExpired {
                deadline: message.deadline,
                timestamp: U256::from(deadline + 1),
            }
        ))
    );
}

#[test]
fn a_key_that_is_not_ml_dsa_65_is_refused_at_deployment() {
    let (ml_dsa_44_key, _) = fips204::ml_dsa_44::try_keygen().unwrap();
    let error = Chain::default()
        .deploy_pq_bridge_vault(&ml_dsa_44_key.into_bytes(), U256::ZERO)
        .unwrap_err();
    let expected = PqBridgeVault::InvalidPublicKeyLength {
        length: U256::from(1312),
    }
    .abi_encode();
    match error {
        ContractsError::Failed { reason, .. } => {
            assert!(
                reason.contains(&Bytes::from(expected).to_string()),
                "{reason}"
            );
        }
        other => panic!("expected a reverted deployment, got {other}"),
    }
}
