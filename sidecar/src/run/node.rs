//! `thresig node`: reads a node's files, opens its state and serves the node API over mutual
//! TLS until a signal stops it.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;

use crate::cluster::layout::NodeLayout;
use crate::cluster::manifest::Manifest;
use crate::custody::key_provider::KeyProvider;
use crate::node::{NodeState, PrimesSource};
use crate::run::ListenError;

/// The node could not start.
#[derive(Debug, Error)]
pub enum NodeStartError {
    /// Something needed to start is missing or wrong.
    #[error("{0}")]
    Setup(String),
    /// The node's state did not open.
    #[error(transparent)]
    Open(#[from] crate::node::NodeOpenError),
    /// The listener failed.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The node's directory (key file, identity, certificate, database).
    pub dir: PathBuf,
    /// The node's id in the manifest.
    pub node_id: String,
    /// The cluster manifest.
    pub manifest: PathBuf,
    /// The cluster CA certificate.
    pub ca_cert: PathBuf,
    /// Where the node's CGGMP21 safe primes come from if it has none yet.
    pub primes: PrimesSource,
    /// Accept the public test primes (`--insecure-test-primes`; test clusters only).
    pub insecure_test_primes: bool,
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run(
    options: NodeOptions,
    provider: Box<dyn KeyProvider>,
) -> Result<(), NodeStartError> {
    let layout = NodeLayout::new(options.dir.clone());
    let manifest = Manifest::load(&options.manifest)
        .map_err(|error| NodeStartError::Setup(error.to_string()))?;
    let endpoint = manifest
        .node(&options.node_id)
        .ok_or_else(|| {
            NodeStartError::Setup(format!(
                "node {} is not in the cluster manifest",
                options.node_id
            ))
        })?
        .endpoint
        .clone();
    let state = Arc::new(NodeState::open(
        &layout,
        manifest,
        &options.node_id,
        provider,
    )?);
    state
        .prepare_primes(options.primes.clone(), options.insecure_test_primes)
        .map_err(|error| NodeStartError::Setup(format!("CGGMP21 primes: {error}")))?;
    let ca = std::fs::read_to_string(&options.ca_cert).map_err(|error| {
        NodeStartError::Setup(format!(
            "CA certificate {}: {error}",
            options.ca_cert.display()
        ))
    })?;
    let tls = crate::cluster::pki::node_server_config(
        &ca,
        &layout.certified_key().map_err(NodeStartError::Setup)?,
    )
    .map_err(|error| NodeStartError::Setup(error.to_string()))?;
    let address = endpoint.trim_start_matches("https://").to_owned();
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|source| ListenError {
            address: address.clone(),
            source,
        })?;
    tracing::info!(node = %options.node_id, %address, "node listening");
    crate::node::serve(state, listener, tls, crate::run::shutdown_signal()).await;
    tracing::info!(node = %options.node_id, "node stopped");
    Ok(())
}
