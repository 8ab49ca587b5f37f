//! `thresig coordinator`: reads the cluster's files, connects to the nodes and serves the
//! JSON-RPC API until a signal stops it.

use std::sync::Arc;

use thiserror::Error;

use crate::cluster::manifest::Manifest;
use crate::cluster::pki::{self, CoordinatorRole};
use crate::coordinator::{Coordinator, NodeClient};
use crate::run::ListenError;

/// How to run a coordinator process.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// The cluster manifest.
    pub manifest: std::path::PathBuf,
    /// The cluster CA certificate.
    pub ca_cert: std::path::PathBuf,
    /// The coordinator's TLS certificate.
    pub cert: std::path::PathBuf,
    /// The coordinator's TLS key.
    pub key: std::path::PathBuf,
    /// Where to serve JSON-RPC.
    pub listen: std::net::SocketAddr,
    /// The role this coordinator serves; its certificate must carry the same.
    pub role: CoordinatorRole,
    /// Presignatures to keep ready per cggmp21 wallet.
    pub presignature_pool: usize,
    /// Which Host and Origin values the JSON-RPC server accepts, and whether it serves
    /// WebSocket.
    pub access: crate::api::http_access::AccessOptions,
}

/// Why a coordinator could not run.
#[derive(Debug, Error)]
pub enum CoordinatorRunError {
    /// Its JSON-RPC port could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// Its client for the nodes could not be made.
    #[error(transparent)]
    Client(#[from] crate::coordinator::NodeClientError),
    /// Its files or configuration are not usable.
    #[error("{0}")]
    Setup(String),
}

impl From<String> for CoordinatorRunError {
    fn from(message: String) -> Self {
        CoordinatorRunError::Setup(message)
    }
}

/// Runs a coordinator until SIGINT or SIGTERM.
pub async fn run(options: CoordinatorOptions) -> Result<(), CoordinatorRunError> {
    let manifest = Manifest::load(&options.manifest).map_err(|error| error.to_string())?;
    let ca = std::fs::read_to_string(&options.ca_cert)
        .map_err(|error| format!("CA certificate {}: {error}", options.ca_cert.display()))?;
    let identity = crate::cluster::layout::read_certified_key(&options.cert, &options.key)?;
    let certified = pki::coordinator_role_of_pem(&identity.cert_pem);
    if certified != Some(options.role) {
        return Err(CoordinatorRunError::Setup(format!(
            "--role {} but the certificate {} carries {}",
            options.role.name(),
            options.cert.display(),
            certified.map_or("no coordinator role", CoordinatorRole::name)
        )));
    }
    let coordinator = Arc::new(
        Coordinator::new(NodeClient::new(manifest, &ca, &identity)?)?.with_presignature_pool(
            if options.role.may_sign() {
                options.presignature_pool
            } else {
                0
            },
        ),
    );
    // Bound first: a coordinator that cannot have its port starts no work with the nodes.
    let (handle, address) =
        crate::api::rpc::serve(Arc::clone(&coordinator), options.listen, options.access)
            .await
            .map_err(|error| match error {
                crate::api::rpc::ServeError::Listen(source) => {
                    CoordinatorRunError::Listen(ListenError {
                        address: options.listen.to_string(),
                        source,
                    })
                }
                other => CoordinatorRunError::Setup(other.to_string()),
            })?;
    // Aux info when the cluster first starts, then presignature pools, in the background.
    let background = tokio::spawn(Arc::clone(&coordinator).cggmp_background());
    tracing::info!(%address, "coordinator serving JSON-RPC");
    crate::run::shutdown_signal().await;
    background.abort();
    let _ = handle.stop();
    handle.stopped().await;
    tracing::info!("coordinator stopped");
    Ok(())
}
