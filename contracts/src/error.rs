//! What can go wrong using the contracts from Rust.

use thiserror::Error;
use thresig_precompiles::evm::TransactionError;

/// An artifact, a transaction or an answer was not what was expected.
#[derive(Debug, Error)]
pub enum ContractsError {
    /// A committed artifact in `contracts/out` is malformed.
    #[error("artifact {name}: {reason}")]
    Artifact {
        /// The contract's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// revm refused to execute the transaction at all.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// A deployment or a view call that must succeed did not.
    #[error("{what} failed: {reason}")]
    Failed {
        /// What was attempted.
        what: String,
        /// The halt reason or the revert data.
        reason: String,
    },
    /// The return data did not decode as the function's return type.
    #[error("decoding the answer of {what}: {source}")]
    Decode {
        /// The function called.
        what: &'static str,
        /// The decoder's complaint.
        source: alloy_sol_types::Error,
    },
}
