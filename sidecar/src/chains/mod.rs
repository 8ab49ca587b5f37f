//! What a transaction asks a wallet to sign, one copy for nodes and the coordinator, over the
//! `adapters` crate's `ChainAdapter`: [`Chain`] is the one dispatch over the chains (addresses
//! of group keys, messages to sign, assembly, policy views); `transactions` has the request's
//! answer and the node's check; `addresses` the key forms the API shows.

pub mod addresses;
pub mod chain;
pub mod error;
pub mod transactions;

pub use chain::Chain;
pub use error::ChainError;
