//! Where a cluster keeps its files. A devnet directory holds everything; in production each
//! node's directory lives on its own machine with a copy of the manifest and CA certificate.
//!
//! ```text
//! DIR/cluster.json               the manifest
//! DIR/ca/ca.pem, ca.key          the cluster CA (the key only where certificates are issued)
//! DIR/coordinator/cert.pem, key.pem            the coordinator certificate with role `all`
//! DIR/coordinator-address/, coordinator-signing/  certificates for split coordinator roles
//! DIR/client/client.key          the devnet client's Ed25519 key (its public key: cluster.json)
//! DIR/node-1/root.key            the node's key file (passphrase-encrypted root secret)
//! DIR/node-1/passphrase          devnet only: the key file's passphrase
//! DIR/node-1/softhsm2.conf,      with --hsm softhsm instead of the key file: the node's own
//!   tokens/, hsm-pin             SoftHSM2 token and (devnet only) its user PIN
//! DIR/node-1/identity.sealed     the node's identity keys, sealed under its key provider
//! DIR/node-1/cert.pem, key.pem   the node's TLS certificate
//! DIR/node-1/db/                 the node's RocksDB
//! DIR/node-1/audit.log           the node's audit log (hash-chained, signed JSON lines)
//! ```

use std::path::{Path, PathBuf};

use crate::cluster::pki::{CertifiedKey, CoordinatorRole};

/// A cluster directory.
#[derive(Debug, Clone)]
pub struct ClusterLayout {
    root: PathBuf,
}

impl ClusterLayout {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("cluster.json")
    }

    /// The CA directory.
    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir().join("ca.pem")
    }

    /// The CA private key.
    pub fn ca_key(&self) -> PathBuf {
        self.ca_dir().join("ca.key")
    }

    /// The directory of the coordinator with every role (cert.pem, key.pem).
    pub fn coordinator_dir(&self) -> PathBuf {
        self.coordinator_dir_for(CoordinatorRole::All)
    }

    /// The directory of a coordinator with `role`: `coordinator/` for all,
    /// `coordinator-address/` and `coordinator-signing/` for the others.
    pub fn coordinator_dir_for(&self, role: CoordinatorRole) -> PathBuf {
        match role {
            CoordinatorRole::All => self.root.join("coordinator"),
            role => self.root.join(format!("coordinator-{}", role.name())),
        }
    }

    /// The devnet client's key file (hex Ed25519 secret; its public key is in the manifest).
    pub fn client_key(&self) -> PathBuf {
        self.root.join("client").join("client.key")
    }

    /// A node's layout.
    pub fn node(&self, node_id: &str) -> NodeLayout {
        NodeLayout::new(self.root.join(node_id))
    }
}

/// A node directory.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    dir: PathBuf,
}

impl NodeLayout {
    /// The layout of the node directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("root.key")
    }

    /// The devnet passphrase file.
    pub fn passphrase_file(&self) -> PathBuf {
        self.dir.join("passphrase")
    }

    /// The node's SoftHSM2 configuration (devnet `--hsm softhsm`).
    pub fn softhsm_conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The directory of the node's SoftHSM2 token (devnet `--hsm softhsm`).
    pub fn token_dir(&self) -> PathBuf {
        self.dir.join("tokens")
    }

    /// The node's hash-chained audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// The devnet file holding the token's user PIN.
    pub fn pin_file(&self) -> PathBuf {
        self.dir.join("hsm-pin")
    }

    /// The sealed identity.
    pub fn identity_file(&self) -> PathBuf {
        self.dir.join("identity.sealed")
    }

    /// The RocksDB directory.
    pub fn db_dir(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// The TLS certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The TLS private key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// Loads the certificate and key.
    pub fn certified_key(&self) -> Result<CertifiedKey, String> {
        read_certified_key(&self.cert(), &self.key())
    }
}

/// Reads a PEM certificate and key pair.
pub fn read_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let cert_pem = std::fs::read_to_string(cert)
        .map_err(|error| format!("certificate {}: {error}", cert.display()))?;
    let key_pem = std::fs::read_to_string(key)
        .map(zeroize::Zeroizing::new)
        .map_err(|error| format!("TLS key {}: {error}", key.display()))?;
    Ok(CertifiedKey { cert_pem, key_pem })
}
