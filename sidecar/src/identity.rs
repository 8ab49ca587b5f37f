//! A signer node's identity: an Ed25519 key that signs its protocol messages and an X25519 key
//! that receives messages encrypted to it. Kept on disk sealed under the node's key provider.

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

use crate::keyprovider::{KeyProvider, KeyProviderError};
use crate::sealing::{self, SealError};

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

/// The public half of a node identity, as the cluster manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    /// Ed25519 key that verifies the node's protocol messages, hex.
    pub signing_key: String,
    /// X25519 key that messages to the node are encrypted to, hex.
    pub encryption_key: String,
}

impl PublicIdentity {
    /// The Ed25519 verifying key.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = hex::decode(&self.signing_key).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    /// The X25519 public key.
    pub fn encryption_key(&self) -> Option<X25519Public> {
        let bytes: [u8; 32] = hex::decode(&self.encryption_key).ok()?.try_into().ok()?;
        Some(X25519Public::from(bytes))
    }

    /// Verifies `signature` by this identity over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let (Some(key), Ok(signature)) = (
            self.verifying_key(),
            ed25519_dalek::Signature::from_slice(signature),
        ) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// A node's secret identity.
pub struct NodeIdentity {
    signing: SigningKey,
    encryption: StaticSecret,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

const IDENTITY_KEY_PURPOSE: &str = "node identity file v1";

impl NodeIdentity {
    /// A fresh random identity.
    pub fn generate() -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let encryption = StaticSecret::random_from_rng(rand::rngs::OsRng);
        Self {
            signing,
            encryption,
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            signing_key: hex::encode(self.signing.verifying_key().to_bytes()),
            encryption_key: hex::encode(X25519Public::from(&self.encryption).to_bytes()),
        }
    }

    /// Signs `message` with the Ed25519 identity key.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).to_bytes().to_vec()
    }

    /// The X25519 secret, for opening messages encrypted to this node.
    pub fn encryption_secret(&self) -> &StaticSecret {
        &self.encryption
    }

    /// Writes the identity sealed under `provider` to `path`, bound to `node_id`.
    pub fn save(
        &self,
        path: &Path,
        node_id: &str,
        provider: &dyn KeyProvider,
    ) -> Result<(), IdentityError> {
        let shown = path.display().to_string();
        let key = provider.derive_key(IDENTITY_KEY_PURPOSE)?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(64));
        plaintext.extend_from_slice(&self.signing.to_bytes());
        plaintext.extend_from_slice(self.encryption.as_bytes());
        let sealed = sealing::seal(
            &key,
            &sealing::binding(&[node_id.as_bytes(), b"identity"]),
            &plaintext,
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
    ) -> Result<Self, IdentityError> {
        let shown = path.display().to_string();
        let sealed = std::fs::read(path).map_err(|source| IdentityError::Io {
            path: shown.clone(),
            source,
        })?;
        let key = provider.derive_key(IDENTITY_KEY_PURPOSE)?;
        let plaintext = sealing::open(
            &key,
            &sealing::binding(&[node_id.as_bytes(), b"identity"]),
            &sealed,
            "node",
        )
        .map_err(|source| IdentityError::Seal {
            path: shown.clone(),
            source,
        })?;
        if plaintext.len() != 64 {
            return Err(IdentityError::Malformed(shown));
        }
        let mut signing_seed = Zeroizing::new([0u8; 32]);
        signing_seed.copy_from_slice(&plaintext[..32]);
        let mut encryption_bytes = Zeroizing::new([0u8; 32]);
        encryption_bytes.copy_from_slice(&plaintext[32..]);
        Ok(Self {
            signing: SigningKey::from_bytes(&signing_seed),
            encryption: StaticSecret::from(*encryption_bytes),
        })
    }
}
