//! A signer node's identity: an Ed25519 key that signs its protocol messages and an X25519 key
//! that receives messages encrypted to it. `custody::identity` keeps it on disk, sealed.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

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

    /// The secret key bytes (Ed25519 seed, then X25519 secret), for sealing at rest.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 64]> {
        let mut bytes = Zeroizing::new([0u8; 64]);
        bytes[..32].copy_from_slice(&self.signing.to_bytes());
        bytes[32..].copy_from_slice(self.encryption.as_bytes());
        bytes
    }

    /// The identity whose [`NodeIdentity::secret_bytes`] are `bytes`.
    pub fn from_secret_bytes(bytes: &[u8; 64]) -> Self {
        let mut signing_seed = Zeroizing::new([0u8; 32]);
        signing_seed.copy_from_slice(&bytes[..32]);
        let mut encryption_bytes = Zeroizing::new([0u8; 32]);
        encryption_bytes.copy_from_slice(&bytes[32..]);
        Self {
            signing: SigningKey::from_bytes(&signing_seed),
            encryption: StaticSecret::from(*encryption_bytes),
        }
    }
}
