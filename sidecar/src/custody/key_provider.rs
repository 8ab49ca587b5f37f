//! Node key providers: where a node's root secret lives and how keys are derived from it.
//!
//! Every key a node uses at rest comes from one primitive, an HMAC-SHA256 keyed by the root
//! secret, followed by HKDF in software. The `file` provider keeps the root secret in a key file
//! encrypted with a passphrase (Argon2id, AES-256-GCM); an HSM provider computes the same HMAC
//! inside the token.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

/// A 32-byte secret that is wiped when dropped.
pub type SecretKey = Zeroizing<[u8; 32]>;

/// Why a key provider could not be opened or used.
#[derive(Debug, Error)]
pub enum KeyProviderError {
    /// The key file does not exist.
    #[error("key file {0} does not exist")]
    MissingKeyFile(String),
    /// The key file exists where a new one was to be created.
    #[error("key file {0} already exists; refusing to overwrite a node's root secret")]
    KeyFileExists(String),
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a thresig key file.
    #[error("key file {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The passphrase does not decrypt the key file.
    #[error("wrong passphrase for key file {0}")]
    WrongPassphrase(String),
    /// Argon2 rejected its parameters.
    #[error("argon2id: {0}")]
    Kdf(String),
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("PKCS#11 module {module}: {reason}")]
    Pkcs11Module {
        /// The module's path.
        module: String,
        /// Why.
        reason: String,
    },
    /// No initialised token has the configured label.
    #[error("no PKCS#11 token labelled {label:?} in {module} (tokens present: {present:?})")]
    MissingToken {
        /// The label looked for.
        label: String,
        /// The module.
        module: String,
        /// The labels of the tokens that are there.
        present: Vec<String>,
    },
    /// The token refused the PIN.
    #[error("wrong PIN for PKCS#11 token {0:?}")]
    WrongPin(String),
    /// The token has no key of the configured label.
    #[error("PKCS#11 token {token:?} has no key labelled {label:?}")]
    MissingKey {
        /// The key label looked for.
        label: String,
        /// The token.
        token: String,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11, {operation}: {reason}")]
    Pkcs11 {
        /// What was being done.
        operation: String,
        /// The module's answer.
        reason: String,
    },
}

/// A node's root of key material.
pub trait KeyProvider: Send + Sync {
    /// HMAC-SHA256 of `data` under the root secret.
    fn hmac_sha256(&self, data: &[u8]) -> Result<SecretKey, KeyProviderError>;

    /// A 32-byte key for `purpose`: HKDF-SHA256 over the HMAC of a fixed label.
    fn derive_key(&self, purpose: &str) -> Result<SecretKey, KeyProviderError> {
        let ikm = self.hmac_sha256(b"thresig/key-derivation/v1")?;
        let hkdf = Hkdf::<Sha256>::new(Some(b"thresig"), &ikm[..]);
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf.expand(purpose.as_bytes(), &mut key[..])
            .map_err(|_| KeyProviderError::Kdf("HKDF output length".into()))?;
        Ok(key)
    }
}

/// Argon2id cost parameters, recorded in the key file so they can be raised later.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Argon2Params {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

const DEFAULT_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 32 * 1024,
    iterations: 3,
    parallelism: 1,
};

/// The key file's JSON form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    kdf: String,
    argon2: Argon2Params,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// The embedded default: the root secret in a passphrase-encrypted file.
pub struct FileKeyProvider {
    root: SecretKey,
}

impl std::fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKeyProvider { root: <redacted> }")
    }
}

impl FileKeyProvider {
    /// Creates a key file at `path` holding a fresh random root secret.
    pub fn create(path: &Path, passphrase: &[u8]) -> Result<Self, KeyProviderError> {
        let shown = path.display().to_string();
        if path.exists() {
            return Err(KeyProviderError::KeyFileExists(shown));
        }
        let mut root = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut root[..]);
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let wrapping = wrapping_key(passphrase, &salt, DEFAULT_ARGON2)?;
        let cipher = Aes256Gcm::new_from_slice(&wrapping[..])
            .map_err(|_| KeyProviderError::Kdf("key length".into()))?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &root[..],
                    aad: KEY_FILE_AAD,
                },
            )
            .map_err(|_| KeyProviderError::Kdf("encryption failed".into()))?;
        let file = KeyFile {
            version: 1,
            kdf: "argon2id".into(),
            argon2: DEFAULT_ARGON2,
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        };
        let text =
            serde_json::to_string_pretty(&file).map_err(|error| KeyProviderError::Malformed {
                path: shown.clone(),
                reason: error.to_string(),
            })?;
        crate::fsutil::write_private(path, text.as_bytes()).map_err(|source| {
            KeyProviderError::Io {
                path: shown,
                source,
            }
        })?;
        Ok(Self { root })
    }

    /// Opens the key file at `path` with `passphrase`.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Self, KeyProviderError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyProviderError::MissingKeyFile(shown));
            }
            Err(source) => {
                return Err(KeyProviderError::Io {
                    path: shown,
                    source,
                });
            }
        };
        let malformed = |reason: String| KeyProviderError::Malformed {
            path: shown.clone(),
            reason,
        };
        let file: KeyFile =
            serde_json::from_str(&text).map_err(|error| malformed(error.to_string()))?;
        if file.version != 1 || file.kdf != "argon2id" {
            return Err(malformed(format!(
                "unsupported version {} / kdf {}",
                file.version, file.kdf
            )));
        }
        let salt = hex::decode(&file.salt).map_err(|error| malformed(format!("salt: {error}")))?;
        let nonce =
            hex::decode(&file.nonce).map_err(|error| malformed(format!("nonce: {error}")))?;
        let ciphertext = hex::decode(&file.ciphertext)
            .map_err(|error| malformed(format!("ciphertext: {error}")))?;
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| malformed("nonce must be 12 bytes".into()))?;
        let wrapping = wrapping_key(passphrase, &salt, file.argon2)?;
        let cipher = Aes256Gcm::new_from_slice(&wrapping[..])
            .map_err(|_| KeyProviderError::Kdf("key length".into()))?;
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: KEY_FILE_AAD,
                    },
                )
                .map_err(|_| KeyProviderError::WrongPassphrase(shown.clone()))?,
        );
        let mut root = Zeroizing::new([0u8; 32]);
        if plaintext.len() != 32 {
            return Err(malformed("root secret must be 32 bytes".into()));
        }
        root.copy_from_slice(&plaintext);
        Ok(Self { root })
    }
}

const KEY_FILE_AAD: &[u8] = b"thresig key file v1";

fn wrapping_key(
    passphrase: &[u8],
    salt: &[u8],
    params: Argon2Params,
) -> Result<SecretKey, KeyProviderError> {
    let params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|error| KeyProviderError::Kdf(error.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, &mut key[..])
        .map_err(|error| KeyProviderError::Kdf(error.to_string()))?;
    Ok(key)
}

impl KeyProvider for FileKeyProvider {
    fn hmac_sha256(&self, data: &[u8]) -> Result<SecretKey, KeyProviderError> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.root[..])
            .map_err(|_| KeyProviderError::Kdf("HMAC key".into()))?;
        mac.update(data);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_opens_with_its_passphrase_only() {
        let dir = std::env::temp_dir().join(format!("thresig-keyfile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root.key");
        let created = FileKeyProvider::create(&path, b"correct horse").unwrap();
        let opened = FileKeyProvider::open(&path, b"correct horse").unwrap();
        assert_eq!(
            created.derive_key("x").unwrap(),
            opened.derive_key("x").unwrap()
        );
        assert_ne!(
            opened.derive_key("x").unwrap(),
            opened.derive_key("y").unwrap()
        );
        assert!(matches!(
            FileKeyProvider::open(&path, b"wrong"),
            Err(KeyProviderError::WrongPassphrase(_))
        ));
        assert!(matches!(
            FileKeyProvider::create(&path, b"again"),
            Err(KeyProviderError::KeyFileExists(_))
        ));
        assert!(matches!(
            FileKeyProvider::open(&dir.join("absent"), b"x"),
            Err(KeyProviderError::MissingKeyFile(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
