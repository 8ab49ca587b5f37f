//! End-to-end protection of node-to-node payloads relayed by the coordinator.
//!
//! A payload for one node is encrypted to that node's X25519 key (ephemeral X25519, HKDF-SHA256,
//! ChaCha20-Poly1305) and the whole envelope is signed by the sender's Ed25519 identity, so the
//! coordinator relays ciphertext it can neither read nor forge. Broadcast payloads are signed
//! statements: the coordinator can drop them but not alter or misattribute them.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use x25519_dalek::{EphemeralSecret, PublicKey as X25519Public};
use zeroize::Zeroizing;

use crate::model::identity::{NodeIdentity, PublicIdentity};

/// An envelope or statement that must be refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The sender's signature does not verify under its manifest identity.
    #[error("signature of {sender} does not verify")]
    BadSignature {
        /// The claimed sender.
        sender: String,
    },
    /// The envelope is addressed to another node or session.
    #[error(
        "envelope from {sender} is for {recipient} in session {session}, not for this node and session"
    )]
    Misaddressed {
        /// The sender.
        sender: String,
        /// The recipient named in the envelope.
        recipient: String,
        /// The session named in the envelope.
        session: String,
    },
    /// The ciphertext does not decrypt (signed by the sender, so the sender is to blame).
    #[error("envelope from {sender} does not decrypt")]
    Decrypt {
        /// The sender.
        sender: String,
    },
    /// A field is not valid hex or has the wrong length.
    #[error("envelope from {sender} is malformed: {reason}")]
    Malformed {
        /// The sender.
        sender: String,
        /// What is wrong.
        reason: String,
    },
}

impl EnvelopeError {
    /// Whether the claimed sender provably made this (its signature verified first: the
    /// envelope is misaddressed or does not decrypt). A bad signature or an undecodable field
    /// could be a relay's doing, so a node that got it relayed must not blame the sender.
    pub fn proves_sender(&self) -> bool {
        matches!(
            self,
            EnvelopeError::Misaddressed { .. } | EnvelopeError::Decrypt { .. }
        )
    }

    /// The node this error names.
    pub fn culprit(&self) -> &str {
        match self {
            EnvelopeError::BadSignature { sender }
            | EnvelopeError::Misaddressed { sender, .. }
            | EnvelopeError::Decrypt { sender }
            | EnvelopeError::Malformed { sender, .. } => sender,
        }
    }
}

/// A payload encrypted to one node and signed by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedEnvelope {
    /// The protocol session.
    pub session: String,
    /// The sending node.
    pub sender: String,
    /// The receiving node.
    pub recipient: String,
    /// The ephemeral X25519 public key, hex.
    pub ephemeral_key: String,
    /// ChaCha20-Poly1305 ciphertext and tag, hex.
    pub ciphertext: String,
    /// The sender's Ed25519 signature over everything above, hex.
    pub signature: String,
}

/// A payload signed by its sender, bound to a session and a purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    /// The protocol session.
    pub session: String,
    /// The sending node.
    pub sender: String,
    /// The payload, hex.
    pub payload: String,
    /// The sender's Ed25519 signature, hex.
    pub signature: String,
}

fn length_prefixed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn envelope_transcript(
    session: &str,
    sender: &str,
    recipient: &str,
    ephemeral: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    length_prefixed(&[
        b"thresig envelope v1",
        session.as_bytes(),
        sender.as_bytes(),
        recipient.as_bytes(),
        ephemeral,
        ciphertext,
    ])
}

fn envelope_key(
    shared: &[u8],
    ephemeral: &[u8],
    recipient_key: &[u8],
    session: &str,
    sender: &str,
    recipient: &str,
) -> Zeroizing<[u8; 32]> {
    let salt = length_prefixed(&[ephemeral, recipient_key]);
    let info = length_prefixed(&[
        b"thresig envelope key v1",
        session.as_bytes(),
        sender.as_bytes(),
        recipient.as_bytes(),
    ]);
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hkdf.expand(&info, &mut key[..]);
    key
}

/// Encrypts `plaintext` from `sender` (id and identity) to `recipient` and signs the envelope.
pub fn seal(
    session: &str,
    sender_id: &str,
    sender: &NodeIdentity,
    recipient_id: &str,
    recipient: &PublicIdentity,
    plaintext: &[u8],
) -> Result<SealedEnvelope, EnvelopeError> {
    let malformed = |reason: &str| EnvelopeError::Malformed {
        sender: recipient_id.to_owned(),
        reason: reason.to_owned(),
    };
    let recipient_key = recipient
        .encryption_key()
        .ok_or_else(|| malformed("recipient has no valid X25519 key"))?;
    let ephemeral = EphemeralSecret::random_from_rng(rand::rngs::OsRng);
    let ephemeral_public = X25519Public::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&recipient_key);
    let key = envelope_key(
        shared.as_bytes(),
        ephemeral_public.as_bytes(),
        recipient_key.as_bytes(),
        session,
        sender_id,
        recipient_id,
    );
    let cipher = ChaCha20Poly1305::new((&*key).into());
    let aad = length_prefixed(&[
        session.as_bytes(),
        sender_id.as_bytes(),
        recipient_id.as_bytes(),
    ]);
    // The key is fresh for every envelope (ephemeral DH), so a fixed nonce is never reused.
    let ciphertext = cipher
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| malformed("encryption failed"))?;
    let transcript = envelope_transcript(
        session,
        sender_id,
        recipient_id,
        ephemeral_public.as_bytes(),
        &ciphertext,
    );
    Ok(SealedEnvelope {
        session: session.to_owned(),
        sender: sender_id.to_owned(),
        recipient: recipient_id.to_owned(),
        ephemeral_key: hex::encode(ephemeral_public.as_bytes()),
        ciphertext: hex::encode(&ciphertext),
        signature: hex::encode(sender.sign(&transcript)),
    })
}

/// Checks that `envelope` is signed by `sender` (its manifest identity) as it stands, without
/// opening it: what a coordinator checks before it relays an envelope, so that the sender, not
/// the relay, answers for a bad one.
pub fn verify_seal(
    envelope: &SealedEnvelope,
    sender: &PublicIdentity,
) -> Result<(), EnvelopeError> {
    signed_parts(envelope, sender).map(|_| ())
}

/// The ephemeral key and ciphertext of `envelope`, once its signature by `sender` verifies.
fn signed_parts(
    envelope: &SealedEnvelope,
    sender: &PublicIdentity,
) -> Result<([u8; 32], Vec<u8>), EnvelopeError> {
    let culprit = envelope.sender.clone();
    let malformed = |reason: &str| EnvelopeError::Malformed {
        sender: culprit.clone(),
        reason: reason.to_owned(),
    };
    let ephemeral: [u8; 32] = hex::decode(&envelope.ephemeral_key)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed("ephemeral key is not 32 hex bytes"))?;
    let ciphertext =
        hex::decode(&envelope.ciphertext).map_err(|_| malformed("ciphertext is not hex"))?;
    let signature =
        hex::decode(&envelope.signature).map_err(|_| malformed("signature is not hex"))?;
    let transcript = envelope_transcript(
        &envelope.session,
        &envelope.sender,
        &envelope.recipient,
        &ephemeral,
        &ciphertext,
    );
    if !sender.verify(&transcript, &signature) {
        return Err(EnvelopeError::BadSignature { sender: culprit });
    }
    Ok((ephemeral, ciphertext))
}

/// Verifies and decrypts an envelope for `recipient_id` in `session` from a sender whose
/// public identity is `sender`.
pub fn open(
    envelope: &SealedEnvelope,
    session: &str,
    recipient_id: &str,
    recipient: &NodeIdentity,
    sender: &PublicIdentity,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let culprit = envelope.sender.clone();
    let (ephemeral, ciphertext) = signed_parts(envelope, sender)?;
    if envelope.recipient != recipient_id || envelope.session != session {
        return Err(EnvelopeError::Misaddressed {
            sender: culprit,
            recipient: envelope.recipient.clone(),
            session: envelope.session.clone(),
        });
    }
    let ephemeral_public = X25519Public::from(ephemeral);
    let shared = recipient
        .encryption_secret()
        .diffie_hellman(&ephemeral_public);
    let own_key = X25519Public::from(recipient.encryption_secret());
    let key = envelope_key(
        shared.as_bytes(),
        &ephemeral,
        own_key.as_bytes(),
        session,
        &envelope.sender,
        recipient_id,
    );
    let cipher = ChaCha20Poly1305::new((&*key).into());
    let aad = length_prefixed(&[
        session.as_bytes(),
        envelope.sender.as_bytes(),
        recipient_id.as_bytes(),
    ]);
    cipher
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Decrypt { sender: culprit })
}

fn statement_transcript(purpose: &str, session: &str, sender: &str, payload: &[u8]) -> Vec<u8> {
    length_prefixed(&[
        b"thresig statement v1",
        purpose.as_bytes(),
        session.as_bytes(),
        sender.as_bytes(),
        payload,
    ])
}

/// Signs `payload` as `sender_id` for `purpose` in `session`.
pub fn sign_statement(
    purpose: &str,
    session: &str,
    sender_id: &str,
    sender: &NodeIdentity,
    payload: &[u8],
) -> SignedStatement {
    SignedStatement {
        session: session.to_owned(),
        sender: sender_id.to_owned(),
        payload: hex::encode(payload),
        signature: hex::encode(
            sender.sign(&statement_transcript(purpose, session, sender_id, payload)),
        ),
    }
}

/// Verifies a statement for `purpose` in `session` by `sender` and returns its payload.
pub fn verify_statement(
    statement: &SignedStatement,
    purpose: &str,
    session: &str,
    sender: &PublicIdentity,
) -> Result<Vec<u8>, EnvelopeError> {
    let culprit = statement.sender.clone();
    let payload = hex::decode(&statement.payload).map_err(|_| EnvelopeError::Malformed {
        sender: culprit.clone(),
        reason: "payload is not hex".into(),
    })?;
    let signature = hex::decode(&statement.signature).map_err(|_| EnvelopeError::Malformed {
        sender: culprit.clone(),
        reason: "signature is not hex".into(),
    })?;
    if statement.session != session
        || !sender.verify(
            &statement_transcript(purpose, session, &statement.sender, &payload),
            &signature,
        )
    {
        return Err(EnvelopeError::BadSignature { sender: culprit });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens_and_nobody_can_alter_or_redirect() {
        let (alice, bob, carol) = (
            NodeIdentity::generate(),
            NodeIdentity::generate(),
            NodeIdentity::generate(),
        );
        let sealed = seal(
            "s1",
            "node-1",
            &alice,
            "node-2",
            &bob.public(),
            b"share for bob",
        )
        .unwrap();
        assert_eq!(
            &open(&sealed, "s1", "node-2", &bob, &alice.public()).unwrap()[..],
            b"share for bob"
        );
        assert!(!sealed.ciphertext.contains(&hex::encode(b"share for bob")));
        // Carol cannot open it even if it is re-addressed to her: the signature breaks.
        let mut redirected = sealed.clone();
        redirected.recipient = "node-3".into();
        assert_eq!(
            open(&redirected, "s1", "node-3", &carol, &alice.public()),
            Err(EnvelopeError::BadSignature {
                sender: "node-1".into()
            })
        );
        // Another session, or a flipped ciphertext bit, is refused.
        assert!(matches!(
            open(&sealed, "s2", "node-2", &bob, &alice.public()),
            Err(EnvelopeError::Misaddressed { .. })
        ));
        let mut altered = sealed.clone();
        let mut bytes = hex::decode(&altered.ciphertext).unwrap();
        bytes[0] ^= 1;
        altered.ciphertext = hex::encode(bytes);
        assert_eq!(
            open(&altered, "s1", "node-2", &bob, &alice.public())
                .unwrap_err()
                .culprit(),
            "node-1"
        );
        // A statement verifies only for its purpose, session and sender.
        let statement = sign_statement("dkg-round1", "s1", "node-1", &alice, b"package");
        assert_eq!(
            verify_statement(&statement, "dkg-round1", "s1", &alice.public()).unwrap(),
            b"package"
        );
        assert!(verify_statement(&statement, "sign-round1", "s1", &alice.public()).is_err());
        assert!(verify_statement(&statement, "dkg-round1", "s2", &alice.public()).is_err());
        assert!(verify_statement(&statement, "dkg-round1", "s1", &bob.public()).is_err());
    }
}
