//! The thresig signer sidecar: signer nodes that each hold one share of every wallet, a
//! coordinator that serves the public JSON-RPC API and drives the protocols without being able
//! to read any share, and a devnet that runs a whole cluster on one machine.
//!
//! DESIGN.md section 2 is the contract; docs/sidecar.md documents the API and the trust model.
//!
//! The crate is cut by seam (docs/sidecar.md, "Code map"); each area uses only those above it
//! in this list, which `scripts/check-layers.sh` enforces:
//! - [`model`]: domain types, no I/O.
//! - [`protocols`]: the FROST and CGGMP21 cryptography, no HTTP or storage.
//! - [`chains`]: what a transaction asks a wallet to sign, for nodes and coordinator alike.
//! - [`cluster`]: the manifest, layout, PKI and client keys every process reads.
//! - [`custody`]: what a node keeps at rest (node code only).
//! - [`wire`]: the coordinator-node contract.
//! - [`node`]: the signer.
//! - [`coordinator`]: drives the nodes, holds no share.
//! - [`api`]: the public JSON-RPC side, its client and the `eth_*` proxy.
//! - [`run`]: the composition roots of `thresig node`, `coordinator` and `devnet`.
// `deny`, not `forbid`: one function (a thread's scheduling priority through libc) needs an
// `unsafe` call and says why it is sound where it allows it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod chains;
pub mod cluster;
pub mod coordinator;
pub mod custody;
pub mod fsutil;
pub mod model;
pub mod node;
pub mod protocols;
pub mod run;
pub mod wire;

pub use api::client::RpcClient;
pub use cluster::client_auth::{ClientKey, ClientRequest};
pub use cluster::layout::ClusterLayout;
pub use cluster::manifest::Manifest;
pub use cluster::pki::CoordinatorRole;
pub use coordinator::{Coordinator, NodeClient};
pub use model::scheme::WalletScheme;
pub use node::NodeState;

/// Makes ring the process's rustls crypto provider (reqwest needs one even for plain HTTP).
/// Idempotent: a provider already installed stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An error and its sources, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
