//! AES-256-GCM sealing of secret records with a fresh random 96-bit nonce per record and
//! associated data that binds the record to its place (node, wallet or session, kind), so a
//! record copied to another place fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use thiserror::Error;
use zeroize::Zeroizing;

/// A sealed record could not be opened.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SealError {
    /// Too short to hold a nonce and a tag.
    #[error("sealed record is truncated ({0} bytes)")]
    Truncated(usize),
    /// Authentication failed: the record was altered, or belongs to another node, wallet,
    /// session or kind.
    #[error("sealed record does not authenticate: altered, or moved from another {0}")]
    Authentication(&'static str),
    /// Encryption failed (does not happen with a valid key).
    #[error("encryption failed")]
    Encrypt,
}

/// Encrypts `plaintext` under `key` with `aad`: nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let mut out = nonce.to_vec();
    out.extend(ciphertext);
    Ok(out)
}

/// Decrypts a record sealed by [`seal`] with the same `aad`.
pub fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
    place: &'static str,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < 12 + 16 {
        return Err(SealError::Truncated(sealed.len()));
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let mut nonce_bytes = [0u8; 12];
    nonce_bytes.copy_from_slice(nonce);
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(
            &Nonce::from(nonce_bytes),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Authentication(place))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_in_their_place_and_unaltered() {
        let key = [7u8; 32];
        let here = crate::model::transcript::binding(&[b"node-1", b"wallet-a", b"share"]);
        let sealed = seal(&key, &here, b"secret share").unwrap();
        assert_eq!(
            &open(&key, &here, &sealed, "wallet").unwrap()[..],
            b"secret share"
        );
        let elsewhere = crate::model::transcript::binding(&[b"node-1", b"wallet-b", b"share"]);
        assert!(open(&key, &elsewhere, &sealed, "wallet").is_err());
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert!(open(&key, &here, &altered, "wallet").is_err());
        assert!(open(&[8u8; 32], &here, &sealed, "wallet").is_err());
        // Two seals of the same plaintext differ: fresh nonces.
        assert_ne!(sealed, seal(&key, &here, b"secret share").unwrap());
        assert_eq!(
            open(&key, &here, &sealed[..10], "wallet"),
            Err(SealError::Truncated(10))
        );
    }
}
