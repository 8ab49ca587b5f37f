//! BridgeVault in revm with thresig's precompiles, guarded by a FROST BIP-340 group key of a
//! live devnet (separate node processes): withdrawals the cluster signs pay out; replay, expiry,
//! another wallet's key, another vault's domain, and every tampered field are refused with the
//! contract's named errors; the key rotates only with the current key's signature (and the new
//! key's), after which the old key is refused. Gas per call is printed (docs/benchmarks.md).

use alloy_primitives::{Address, B256, Bytes, U256, address};
use serde_json::json;
use thresig_contracts::Chain;
use thresig_contracts::bindings::BridgeVault::{self, BridgeVaultErrors};
use thresig_contracts::eip712::{self, RotateGroupKey, Withdraw};
use thresig_testkit::devnet::{Devnet, ThresigBinary, unhex};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

const RECIPIENT: Address = address!("0x00000000000000000000000000000000000be5e1");
const ETHER: u64 = 1_000_000_000_000_000_000;

/// A `frost-secp256k1-tr` wallet of the devnet.
struct Wallet {
    id: String,
    key: B256,
    threshold: u32,
    parties: u32,
}

fn create_wallet(devnet: &Devnet) -> Wallet {
    let wallet = devnet.result(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    );
    let number = |field: &str| u32::try_from(wallet[field].as_u64().unwrap()).unwrap();
    Wallet {
        id: wallet["walletId"].as_str().unwrap().to_owned(),
        key: B256::from_slice(&unhex(wallet["publicKey"].as_str().unwrap())),
        threshold: number("threshold"),
        parties: number("parties"),
    }
}

/// The cluster's BIP-340 signature over `digest` with the untweaked group key.
fn sign(devnet: &Devnet, wallet: &Wallet, digest: B256) -> Bytes {
    let answer = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": wallet.id, "message": digest.to_string(), "tweak": "none" }),
    );
    assert_eq!(
        B256::from_slice(&unhex(answer["publicKey"].as_str().unwrap())),
        wallet.key
    );
    Bytes::from(unhex(answer["signature"].as_str().unwrap()))
}

struct Vault {
    chain: Chain,
    address: Address,
}

impl Vault {
    fn deploy(wallet: &Wallet, funds: u64) -> (Self, u64) {
        let mut chain = Chain::default();
        let deployment = chain
            .deploy_bridge_vault(
                wallet.key,
                wallet.threshold,
                wallet.parties,
                U256::from(funds),
            )
            .unwrap();
        let vault = Self {
            chain,
            address: deployment.address,
        };
        (vault, deployment.gas_used)
    }

    fn domain(&self) -> alloy_sol_types::Eip712Domain {
        eip712::domain(
            eip712::BRIDGE_VAULT_NAME,
            self.chain.chain_id(),
            self.address,
        )
    }

    fn message(&self, amount: u64, nonce: u64) -> Withdraw {
        Withdraw::new(
            RECIPIENT,
            U256::from(amount),
            U256::from(nonce),
            U256::from(self.chain.timestamp() + 3600),
        )
    }

    /// The digest computed in Rust, checked against the contract's own.
    fn digest(&mut self, message: &Withdraw) -> B256 {
        let digest = message.digest(&self.domain());
        let on_chain = self.chain.withdraw_digest(self.address, message).unwrap();
        assert_eq!(on_chain, digest, "Rust and Solidity disagree on the digest");
        digest
    }

    fn withdraw(&mut self, message: &Withdraw, signature: &Bytes) -> thresig_contracts::Call {
        self.chain
            .withdraw(self.address, message, signature.clone())
            .unwrap()
    }

    fn rotate(
        &mut self,
        message: &RotateGroupKey,
        signature: &Bytes,
        new_key_signature: &Bytes,
    ) -> thresig_contracts::Call {
        self.chain
            .send(
                self.address,
                &BridgeVault::rotateGroupKeyCall {
                    newGroupKey: message.newGroupKey,
                    newThreshold: message.newThreshold,
                    newTotalSigners: message.newTotalSigners,
                    nonce: message.nonce,
                    deadline: message.deadline,
                    signature: signature.clone(),
                    newKeySignature: new_key_signature.clone(),
                },
            )
            .unwrap()
    }
}

fn invalid_signature() -> Option<BridgeVaultErrors> {
    Some(BridgeVaultErrors::InvalidSignature(
        BridgeVault::InvalidSignature {},
    ))
}

fn nonce_used(nonce: u64) -> Option<BridgeVaultErrors> {
    Some(BridgeVaultErrors::NonceAlreadyUsed(
        BridgeVault::NonceAlreadyUsed {
            nonce: U256::from(nonce),
        },
    ))
}

#[test]
fn withdrawals_signed_by_the_cluster_pay_out_and_everything_else_reverts() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let wallet = create_wallet(&devnet);
    let other = create_wallet(&devnet);
    let (mut vault, deploy_gas) = Vault::deploy(&wallet, 10 * ETHER);
    assert_eq!(
        vault
            .chain
            .view(vault.address, &BridgeVault::domainSeparatorCall {})
            .unwrap(),
        vault.domain().separator()
    );

    // A withdrawal the cluster signed pays out, once.
    let message = vault.message(ETHER, 1);
    let signature = sign(&devnet, &wallet, vault.digest(&message));
    let first = vault.withdraw(&message, &signature);
    assert!(first.success, "{first:?}");
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(ETHER));
    assert_eq!(vault.chain.balance(vault.address), U256::from(9 * ETHER));
    assert!(
        vault
            .chain
            .view(
                vault.address,
                &BridgeVault::nonceUsedCall {
                    nonce: U256::from(1)
                }
            )
            .unwrap()
    );
    assert_eq!(vault.withdraw(&message, &signature).revert(), nonce_used(1));

    // Another wallet of the same cluster is not the vault's key.
    let message = vault.message(ETHER, 2);
    let foreign = sign(&devnet, &other, vault.digest(&message));
    assert_eq!(
        vault.withdraw(&message, &foreign).revert(),
        invalid_signature()
    );

    // Every field the signature covers, changed after signing, is refused.
    let message = vault.message(2 * ETHER, 3);
    let signature = sign(&devnet, &wallet, vault.digest(&message));
    let mut tampered: Vec<(&str, Withdraw)> = Vec::new();
    let mut changed = message.clone();
    changed.recipient = address!("0x0000000000000000000000000000000000000bad");
    tampered.push(("recipient", changed));
    let mut changed = message.clone();
    changed.amount += U256::from(1);
    tampered.push(("amount", changed));
    let mut changed = message.clone();
    changed.nonce = U256::from(4);
    tampered.push(("nonce", changed));
    let mut changed = message.clone();
    changed.deadline += U256::from(1);
    tampered.push(("deadline", changed));
    for (field, changed) in &tampered {
        assert_eq!(
            vault.withdraw(changed, &signature).revert(),
            invalid_signature(),
            "tampered {field}"
        );
    }
    for byte in [0, 31, 32, 63] {
        let mut flipped = signature.to_vec();
        flipped[byte] ^= 0x01;
        assert_eq!(
            vault.withdraw(&message, &flipped.into()).revert(),
            invalid_signature(),
            "signature byte {byte}"
        );
    }
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(ETHER));
    // The refusals spent nothing: the untampered message still pays.
    let paid = vault.withdraw(&message, &signature);
    assert!(paid.success, "{paid:?}");
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(3 * ETHER));

    // The same signature is worthless at another vault with the same key on the same chain
    // (the domain names the verifying contract).
    let twin = vault
        .chain
        .deploy_bridge_vault(
            wallet.key,
            wallet.threshold,
            wallet.parties,
            U256::from(ETHER),
        )
        .unwrap()
        .address;
    assert_ne!(twin, vault.address);
    let message = vault.message(ETHER / 2, 5);
    let signature = sign(&devnet, &wallet, vault.digest(&message));
    let elsewhere = vault
        .chain
        .withdraw(twin, &message, signature.clone())
        .unwrap();
    assert_eq!(elsewhere.revert(), invalid_signature());

    // Past its deadline a signed withdrawal is refused.
    let deadline: u64 = message.deadline.to();
    vault.chain.set_timestamp(deadline + 1);
    assert_eq!(
        vault.withdraw(&message, &signature).revert(),
        Some(BridgeVaultErrors::SignatureExpired(
            BridgeVault::SignatureExpired {
                deadline: message.deadline,
                timestamp: U256::from(deadline + 1),
            }
        ))
    );

    // A signed withdrawal of more than the vault holds.
    let message = vault.message(8 * ETHER, 6);
    let signature = sign(&devnet, &wallet, vault.digest(&message));
    assert_eq!(
        vault.withdraw(&message, &signature).revert(),
        Some(BridgeVaultErrors::InsufficientBalance(
            BridgeVault::InsufficientBalance {
                balance: U256::from(7 * ETHER),
                amount: U256::from(8 * ETHER),
            }
        ))
    );
    println!(
        "gas: BridgeVault deploy {deploy_gas}, withdraw {} (new recipient account), withdraw {} \
         (existing recipient), {}-of-{} group key",
        first.gas_used, paid.gas_used, wallet.threshold, wallet.parties
    );
}

#[test]
fn the_group_key_rotates_only_with_the_current_keys_signature() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let current = create_wallet(&devnet);
    let next = create_wallet(&devnet);
    let attacker = create_wallet(&devnet);
    let (mut vault, _) = Vault::deploy(&current, 5 * ETHER);
    let rotation = RotateGroupKey {
        newGroupKey: next.key,
        newThreshold: next.threshold,
        newTotalSigners: next.parties,
        nonce: U256::from(1),
        deadline: U256::from(vault.chain.timestamp() + 3600),
    };
    let digest = rotation.digest(&vault.domain());
    let on_chain = vault
        .chain
        .view(
            vault.address,
            &BridgeVault::rotateDigestCall {
                newGroupKey: rotation.newGroupKey,
                newThreshold: rotation.newThreshold,
                newTotalSigners: rotation.newTotalSigners,
                nonce: rotation.nonce,
                deadline: rotation.deadline,
            },
        )
        .unwrap();
    assert_eq!(on_chain, digest);
    let by_current = sign(&devnet, &current, digest);
    let by_next = sign(&devnet, &next, digest);
    let by_attacker = sign(&devnet, &attacker, digest);

    // Not signed by the current key.
    assert_eq!(
        vault.rotate(&rotation, &by_attacker, &by_next).revert(),
        invalid_signature()
    );
    // Signed by the current key but not provably by the new one.
    assert_eq!(
        vault.rotate(&rotation, &by_current, &by_attacker).revert(),
        Some(BridgeVaultErrors::NewKeyNotProven(
            BridgeVault::NewKeyNotProven {}
        ))
    );
    // Signer bounds the precompile would refuse.
    let mut unusable = rotation.clone();
    unusable.newThreshold = 0;
    assert_eq!(
        vault.rotate(&unusable, &by_current, &by_next).revert(),
        Some(BridgeVaultErrors::InvalidSignerSet(
            BridgeVault::InvalidSignerSet {
                threshold: 0,
                totalSigners: next.parties,
            }
        ))
    );
    assert_eq!(
        vault
            .chain
            .view(vault.address, &BridgeVault::groupKeyCall {})
            .unwrap(),
        current.key
    );

    let rotated = vault.rotate(&rotation, &by_current, &by_next);
    assert!(rotated.success, "{rotated:?}");
    assert_eq!(
        vault
            .chain
            .view(vault.address, &BridgeVault::groupKeyCall {})
            .unwrap(),
        next.key
    );
    assert_eq!(
        vault.rotate(&rotation, &by_current, &by_next).revert(),
        nonce_used(1)
    );

    // The old key is refused from now on; the new one pays.
    let message = vault.message(ETHER, 2);
    let digest = vault.digest(&message);
    let old = sign(&devnet, &current, digest);
    assert_eq!(vault.withdraw(&message, &old).revert(), invalid_signature());
    let new = sign(&devnet, &next, digest);
    let paid = vault.withdraw(&message, &new);
    assert!(paid.success, "{paid:?}");
    assert_eq!(vault.chain.balance(RECIPIENT), U256::from(ETHER));
    println!("gas: BridgeVault rotateGroupKey {}", rotated.gas_used);
}
