//! Why a transaction request cannot be signed, one enum for the node's check and the
//! coordinator's driving, so both refuse with the same words.

use thresig_adapters::bitcoin::{BitcoinError, TapSighashType};
use thresig_adapters::ethereum::EthereumError;
use thresig_adapters::solana::{Pubkey, SolanaError};

use crate::chains::transactions::MAX_SIGNED_INPUTS;
use crate::model::scheme::WalletScheme;

/// A source error, boxed: the wallet record's key failed to decode in one of several ways.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a `thresig_signTransaction` request (or a wallet's address) cannot be worked out.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The request names a chain the sidecar does not sign on.
    #[error("chain must be \"bitcoin\", \"solana\" or \"ethereum\", got {0:?}")]
    UnknownChain(String),
    /// The cluster names a Bitcoin network that does not exist.
    #[error("unknown bitcoin network {0:?}; use bitcoin, testnet, signet or regtest")]
    UnknownNetwork(String),
    /// The wallet record's scheme is not one the sidecar knows.
    #[error("{0}")]
    UnknownScheme(String),
    /// The wallet's scheme does not sign on the requested chain.
    #[error("chain {chain} needs a {needed} wallet; wallet {wallet} is {scheme}")]
    WrongScheme {
        /// The requested chain.
        chain: &'static str,
        /// The scheme that chain's wallets have.
        needed: WalletScheme,
        /// The wallet.
        wallet: String,
        /// Its scheme.
        scheme: WalletScheme,
    },
    /// The wallet's stored key does not decode as the chain's key (a fault of the record, not
    /// of the request).
    #[error("wallet {wallet} has no usable {scheme} key: {source}")]
    WalletKey {
        /// The wallet.
        wallet: String,
        /// Its scheme.
        scheme: WalletScheme,
        /// What failed.
        source: Source,
    },
    /// A wallet answer's public key does not decode as the scheme's key.
    #[error("not a {scheme} public key: {source}")]
    PublicKey {
        /// The scheme.
        scheme: WalletScheme,
        /// What failed.
        source: Source,
    },
    /// Bitcoin and Solana transactions travel as base64 text.
    #[error("transaction must be a base64 string for chain {0}")]
    NotAString(&'static str),
    /// An input asks for a sighash type that leaves outputs or inputs unsigned, and the client's
    /// signed request did not opt in.
    #[error(
        "input {index} asks for sighash type {sighash_type}, which does not commit to every \
         output and input, so the returned summary would not bind what it pays; set \
         allowPartialSighash to sign it anyway"
    )]
    PartialSighash {
        /// The input.
        index: usize,
        /// Its sighash type.
        sighash_type: TapSighashType,
    },
    /// More wallet inputs than one request may sign (each is its own signing session).
    #[error("{0} inputs belong to the wallet; one request signs at most {max}", max = MAX_SIGNED_INPUTS)]
    TooManyInputs(usize),
    /// An input commits to a script tree: only BIP-86 key-path spends are signed, since the
    /// nodes sign under the BIP-86 tweak only.
    #[error(
        "input {0} commits to a script tree (tap_merkle_root); only BIP-86 key-path spends are \
         signed"
    )]
    ScriptTree(usize),
    /// A Bitcoin error: the PSBT does not parse, has no input of the wallet, and so on.
    #[error("{0}")]
    Bitcoin(BitcoinError),
    /// An Ethereum error: a bad field, a payload that does not decode, a signature that does
    /// not recover the wallet.
    #[error("{0}")]
    Ethereum(#[from] EthereumError),
    /// An Ethereum transaction given as hex is not hex.
    #[error("not 0x-hex: {0}")]
    NotHex(#[from] hex::FromHexError),
    /// The transaction's `from` is another account than the wallet's.
    #[error("from is {from}, but the wallet's address is {wallet}")]
    WrongSender {
        /// The `from` field, EIP-55.
        from: String,
        /// The wallet's address, EIP-55.
        wallet: String,
    },
    /// The bytes are not a Solana message in its canonical serialisation.
    #[error("not a Solana message: {0}")]
    NotASolanaMessage(SolanaError),
    /// The wallet is not among the message's required signers.
    #[error(
        "the wallet's address {wallet} is not a required signer of the message; its signers are \
         [{}]",
        listed(.signers)
    )]
    NotASigner {
        /// The wallet's address.
        wallet: Pubkey,
        /// The message's required signers.
        signers: Vec<Pubkey>,
    },
    /// Another Solana error: base64 that does not decode, a signature that does not verify.
    #[error("{0}")]
    Solana(SolanaError),
}

/// Keys, comma-separated.
fn listed(keys: &[Pubkey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ChainError {
    /// Whether the fault is the stored wallet's rather than the request's.
    pub fn is_wallet_fault(&self) -> bool {
        matches!(
            self,
            ChainError::UnknownScheme(_) | ChainError::WalletKey { .. }
        )
    }
}

impl From<BitcoinError> for ChainError {
    fn from(error: BitcoinError) -> Self {
        match error {
            BitcoinError::PartialSighash {
                index,
                sighash_type,
            } => ChainError::PartialSighash {
                index,
                sighash_type,
            },
            other => ChainError::Bitcoin(other),
        }
    }
}

impl From<SolanaError> for ChainError {
    fn from(error: SolanaError) -> Self {
        ChainError::Solana(error)
    }
}
