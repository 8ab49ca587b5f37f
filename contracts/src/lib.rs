//! thresig's Solidity contracts from Rust: the artifacts compiled by `contracts/scripts/compile.js`
//! with the pinned solc ([`artifacts`]), their ABI as alloy `sol!` types ([`bindings`]), the
//! EIP-712 messages the vaults accept ([`eip712`]), and a revm chain with thresig's precompiles
//! to deploy and drive them on ([`chain`]). See docs/contracts.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod artifacts;
pub mod bindings;
pub mod chain;
pub mod eip712;
mod error;

pub use artifacts::Artifact;
pub use chain::{Call, Chain, Deployment};
pub use error::ContractsError;
