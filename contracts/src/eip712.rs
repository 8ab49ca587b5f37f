//! The EIP-712 messages the vaults accept, hashed here with alloy independently of the Solidity
//! code (a test checks both agree): what a signer must sign.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain};

alloy_sol_types::sol! {
    /// A withdrawal of `amount` wei to `recipient`, valid once (`nonce`) until `deadline`.
    #[derive(Debug, PartialEq, Eq)]
    struct Withdraw {
        address recipient;
        uint256 amount;
        uint256 nonce;
        uint256 deadline;
    }

    /// A `BridgeVault` key rotation to `newGroupKey`.
    #[derive(Debug, PartialEq, Eq)]
    struct RotateGroupKey {
        bytes32 newGroupKey;
        uint32 newThreshold;
        uint32 newTotalSigners;
        uint256 nonce;
        uint256 deadline;
    }
}

/// The EIP-712 domain name of `BridgeVault`.
pub const BRIDGE_VAULT_NAME: &str = "Thresig BridgeVault";
/// The EIP-712 domain name of `PqBridgeVault`.
pub const PQ_BRIDGE_VAULT_NAME: &str = "Thresig PqBridgeVault";
/// The EIP-712 domain version of both vaults.
pub const VERSION: &str = "1";

/// The domain of the vault named `name` deployed at `vault` on chain `chain_id`.
pub fn domain(name: &'static str, chain_id: u64, vault: Address) -> Eip712Domain {
    eip712_domain! {
        name: name,
        version: VERSION,
        chain_id: chain_id,
        verifying_contract: vault,
    }
}

impl Withdraw {
    /// A withdrawal message.
    pub fn new(recipient: Address, amount: U256, nonce: U256, deadline: U256) -> Self {
        Self {
            recipient,
            amount,
            nonce,
            deadline,
        }
    }

    /// The digest the vault's key signs, for the vault in `domain`.
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}

impl RotateGroupKey {
    /// The digest both the current and the new group key sign, for the vault in `domain`.
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}
