//! The cluster manifest: who the nodes are, where they listen, their public identities, and
//! the cluster's default threshold. Every process of a cluster reads the same file.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::identity::PublicIdentity;

/// The manifest could not be loaded or is inconsistent.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read or written.
    #[error("manifest {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("manifest {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// One signer node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's id, e.g. `node-1`.
    pub id: String,
    /// The FROST identifier, 1..=n.
    pub index: u16,
    /// The node's HTTPS endpoint for coordinators, e.g. `https://127.0.0.1:9101`.
    pub endpoint: String,
    /// The node's public identity.
    #[serde(flatten)]
    pub identity: PublicIdentity,
}

/// A client key allowed to create wallets and ask for signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// A name for people, e.g. `bridge-operator`.
    pub name: String,
    /// The client's Ed25519 public key, hex.
    pub public_key: String,
}

/// The cluster manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// The default threshold for new wallets.
    pub threshold: u16,
    /// The Bitcoin network for Taproot addresses: bitcoin, testnet, signet or regtest.
    pub bitcoin_network: String,
    /// The signer nodes.
    pub nodes: Vec<NodeEntry>,
    /// The client keys whose signed requests the nodes accept (docs/sidecar.md, "Client
    /// authorization").
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
}

#[cfg(test)]
impl Manifest {
    /// A test cluster with one node per identity (`node-1` at 127.0.0.1:9001, …), threshold
    /// 2 on regtest, and no client keys.
    pub(crate) fn for_tests(identities: &[crate::model::identity::NodeIdentity]) -> Self {
        Self {
            version: 1,
            threshold: 2,
            bitcoin_network: "regtest".into(),
            nodes: identities
                .iter()
                .zip(1u16..)
                .map(|(identity, index)| NodeEntry {
                    id: format!("node-{index}"),
                    index,
                    endpoint: format!("https://127.0.0.1:{}", 9000 + index),
                    identity: identity.public(),
                })
                .collect(),
            clients: Vec::new(),
        }
    }
}

impl Manifest {
    /// Loads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: shown.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|error| ManifestError::Malformed {
                path: shown.clone(),
                reason: error.to_string(),
            })?;
        manifest
            .check()
            .map_err(|reason| ManifestError::Malformed {
                path: shown,
                reason,
            })?;
        Ok(manifest)
    }

    /// Writes the manifest to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        let shown = path.display().to_string();
        let text =
            serde_json::to_string_pretty(self).map_err(|error| ManifestError::Malformed {
                path: shown.clone(),
                reason: error.to_string(),
            })?;
        crate::fsutil::write_public(path, text.as_bytes()).map_err(|source| ManifestError::Io {
            path: shown,
            source,
        })
    }

    /// Checks internal consistency: unique ids and indices 1..=n, a usable threshold, keys.
    pub fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!("unsupported version {}", self.version));
        }
        let n = self.nodes.len();
        if n < 2 {
            return Err(format!(
                "a cluster needs at least 2 nodes, this one lists {n}"
            ));
        }
        if self.threshold < 2 || usize::from(self.threshold) > n {
            return Err(format!(
                "threshold {} must be between 2 and the {n} nodes",
                self.threshold
            ));
        }
        for (position, node) in self.nodes.iter().enumerate() {
            if usize::from(node.index) != position + 1 {
                return Err(format!(
                    "node {} has index {}, expected {}",
                    node.id,
                    node.index,
                    position + 1
                ));
            }
            if self
                .nodes
                .iter()
                .filter(|other| other.id == node.id)
                .count()
                != 1
            {
                return Err(format!("node id {} appears twice", node.id));
            }
            if node.identity.verifying_key().is_none() || node.identity.encryption_key().is_none() {
                return Err(format!("node {} has malformed identity keys", node.id));
            }
        }
        for client in &self.clients {
            let key = hex::decode(&client.public_key)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok());
            if key.is_none() {
                return Err(format!(
                    "client {} has a malformed public key (expected 32 bytes of hex, Ed25519)",
                    client.name
                ));
            }
        }
        crate::chains::addresses::bitcoin_network(&self.bitcoin_network)?;
        Ok(())
    }

    /// The authorised client keys, hex.
    pub fn client_keys(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|client| client.public_key.to_ascii_lowercase())
            .collect()
    }

    /// The node with `id`.
    pub fn node(&self, id: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// The node with FROST identifier `index`.
    pub fn node_by_index(&self, index: u16) -> Option<&NodeEntry> {
        self.nodes.iter().find(|node| node.index == index)
    }
}
