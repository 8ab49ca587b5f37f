//! The chain-independent view of a transaction that policy checks read.

use std::fmt;

/// The chain (and network, where the transaction says it) a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Bitcoin on the given network; amounts are in satoshi.
    Bitcoin(::bitcoin::Network),
    /// An EVM chain with the given EIP-155 chain id; amounts are in wei.
    Ethereum {
        /// The EIP-155 chain id signed into the transaction.
        chain_id: u64,
    },
    /// Solana; amounts are in lamports. A Solana message does not name its cluster (only a
    /// recent blockhash), so the cluster is not known from the transaction alone.
    Solana,
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chain::Bitcoin(network) => write!(f, "bitcoin:{network}"),
            Chain::Ethereum { chain_id } => write!(f, "eip155:{chain_id}"),
            Chain::Solana => f.write_str("solana"),
        }
    }
}

/// One movement of the chain's native asset to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The recipient: an address in the chain's own text form (Bitcoin address, EIP-55 address,
    /// base58 Solana address). Bitcoin outputs with no address form are `script:<hex>`; Solana
    /// accounts loaded from an address table are `lookup:<table>:<index>`; an Ethereum contract
    /// creation is `create`.
    pub recipient: String,
    /// The amount in the chain's base unit (satoshi, wei, lamport).
    pub amount: u128,
}

/// What a transaction does, as far as a policy engine needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    /// Chain and network.
    pub chain: Chain,
    /// Who pays: the Solana fee payer, the Ethereum sender of a signed transaction, or `None`
    /// (Bitcoin inputs have no single payer; an unsigned Ethereum transaction has no sender).
    pub payer: Option<String>,
    /// Every native-asset transfer the adapter recognised, in transaction order. For Bitcoin this
    /// is every output, change included.
    pub transfers: Vec<Transfer>,
    /// The fee in base units. Bitcoin: inputs minus outputs, exact. Ethereum: the maximum,
    /// `gas_limit * max_fee_per_gas`. Solana: an upper bound (see [`crate::solana`]).
    pub fee: u128,
    /// Actions the adapter did not interpret (Ethereum call data or contract creation, Solana
    /// instructions other than System transfers, nonce advances and compute-budget settings).
    /// A cautious policy refuses a transaction whose `opaque_actions` is not zero.
    pub opaque_actions: usize,
}

impl PolicyView {
    /// The sum of all transfer amounts, or `None` on overflow.
    pub fn total_transferred(&self) -> Option<u128> {
        self.transfers
            .iter()
            .try_fold(0u128, |sum, transfer| sum.checked_add(transfer.amount))
    }
}
