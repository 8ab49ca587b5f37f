//! A node's identity file: the identity's secret keys sealed under the node's key provider and
//! bound to the node id.

use std::path::Path;

use thiserror::Error;

use crate::custody::key_provider::{KeyProvider, KeyProviderError};
use crate::custody::sealing::{self, SealError};
use crate::model::identity::NodeIdentity;
use crate::model::transcript;

const IDENTITY_KEY_PURPOSE: &str = "node identity file v1";

/// An identity could not be created or loaded.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The key provider failed.
    #[error(transparent)]
    KeyProvider(#[from] KeyProviderError),
    /// The identity file could not be read or written.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The identity file does not open under this node's key provider.
    #[error("identity file {path}: {source}")]
    Seal {
        /// The file.
        path: String,
        /// The error.
        source: SealError,
    },
    /// The identity file's contents are not an identity.
    #[error("identity file {0} is malformed")]
    Malformed(String),
}

/// Writes `identity` sealed under `provider` to `path`, bound to `node_id`.
pub fn save(
    identity: &NodeIdentity,
    path: &Path,
    node_id: &str,
    provider: &dyn KeyProvider,
) -> Result<(), IdentityError> {
    let shown = path.display().to_string();
    let key = provider.derive_key(IDENTITY_KEY_PURPOSE)?;
    let sealed = sealing::seal(
        &key,
        &transcript::binding(&[node_id.as_bytes(), b"identity"]),
        &identity.secret_bytes()[..],
    )
    .map_err(|source| IdentityError::Seal {
        path: shown.clone(),
        source,
    })?;
    crate::fsutil::write_private(path, &sealed).map_err(|source| IdentityError::Io {
        path: shown,
        source,
    })
}

/// Loads the identity at `path`, sealed for `node_id` under `provider`.
pub fn load(
    path: &Path,
    node_id: &str,
    provider: &dyn KeyProvider,
) -> Result<NodeIdentity, IdentityError> {
    let shown = path.display().to_string();
    let sealed = std::fs::read(path).map_err(|source| IdentityError::Io {
        path: shown.clone(),
        source,
    })?;
    let key = provider.derive_key(IDENTITY_KEY_PURPOSE)?;
    let plaintext = sealing::open(
        &key,
        &transcript::binding(&[node_id.as_bytes(), b"identity"]),
        &sealed,
        "node",
    )
    .map_err(|source| IdentityError::Seal {
        path: shown.clone(),
        source,
    })?;
    let bytes: &[u8; 64] = plaintext[..]
        .try_into()
        .map_err(|_| IdentityError::Malformed(shown))?;
    Ok(NodeIdentity::from_secret_bytes(bytes))
}
