//! FROST signing nonces between the two rounds: stored sealed with the request's claim before
//! the commitments leave, consumed durably before a share is made.

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::claims::RequestClaim;
use super::{NONCE_PREFIX, NodeStore, StoreError};
use crate::custody::sealing;
use crate::model::transcript;

/// What a node remembers between signing rounds (the nonces themselves are sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct NonceRecord {
    pub(super) wallet_id: String,
    pub(super) message: String,
    pub(super) tweak: String,
    pub(super) commitments: String,
    pub(super) sealed_nonces: String,
    #[serde(default)]
    pub(super) client: Option<String>,
    #[serde(default)]
    pub(super) request_id: Option<String>,
    /// When the client's request expires; records written before this field have none.
    #[serde(default)]
    pub(super) expires_at: Option<u64>,
}

/// A signing session between its rounds, as round 1 bound it (public parts only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignature {
    /// The wallet.
    pub wallet_id: String,
    /// The message, hex.
    pub message: String,
    /// The tweak's name.
    pub tweak: String,
    /// This node's round-1 commitments, hex.
    pub commitments: String,
    /// The client key that authorised the signature.
    pub client: Option<String>,
    /// The client's request id.
    pub request_id: Option<String>,
}

/// Signing nonces taken from the store for one round 2.
pub struct ConsumedNonces {
    /// The wallet the nonces were made for.
    pub wallet_id: String,
    /// The message bound at round 1, hex.
    pub message: String,
    /// The tweak bound at round 1.
    pub tweak: String,
    /// The commitments published at round 1, hex.
    pub commitments: String,
    /// The nonces (secret).
    pub nonces: Zeroizing<Vec<u8>>,
}

impl NodeStore {
    /// Stores round-1 signing nonces for `session`, bound to the wallet, message and tweak,
    /// durably, before the commitments leave the node, in the same write as the client
    /// request's claim; `false` (and nothing stored) if the request was used before.
    pub fn put_nonces(
        &self,
        session: &str,
        pending: &PendingSignature,
        nonces: &[u8],
        claim: &RequestClaim<'_>,
    ) -> Result<bool, StoreError> {
        let key = format!("{NONCE_PREFIX}{session}");
        let aad = self.nonce_aad(
            session,
            &pending.wallet_id,
            &pending.message,
            &pending.tweak,
            &pending.commitments,
        );
        let sealed = sealing::seal(&self.wallet_key(&pending.wallet_id), &aad, nonces).map_err(
            |source| StoreError::Seal {
                key: key.clone(),
                source,
            },
        )?;
        let record = NonceRecord {
            wallet_id: pending.wallet_id.clone(),
            message: pending.message.clone(),
            tweak: pending.tweak.clone(),
            commitments: pending.commitments.clone(),
            sealed_nonces: hex::encode(sealed),
            client: pending.client.clone(),
            request_id: pending.request_id.clone(),
            expires_at: Some(claim.expires_at),
        };
        let json = serde_json::to_vec(&record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        let mut batch = WriteBatch::default();
        batch.put(key.as_bytes(), json);
        self.write_claimed(batch, claim)
    }

    pub(super) fn nonce_aad(
        &self,
        session: &str,
        wallet_id: &str,
        message: &str,
        tweak: &str,
        commitments: &str,
    ) -> Vec<u8> {
        transcript::binding(&[
            self.node_id.as_bytes(),
            session.as_bytes(),
            b"signing-nonces",
            wallet_id.as_bytes(),
            message.as_bytes(),
            tweak.as_bytes(),
            commitments.as_bytes(),
        ])
    }

    /// The round-1 record of `session` without consuming it, if present.
    pub fn peek_nonces(&self, session: &str) -> Result<Option<PendingSignature>, StoreError> {
        let key = format!("{NONCE_PREFIX}{session}");
        let Some(bytes) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        let record: NonceRecord =
            serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                key,
                reason: error.to_string(),
            })?;
        Ok(Some(PendingSignature {
            wallet_id: record.wallet_id,
            message: record.message,
            tweak: record.tweak,
            commitments: record.commitments,
            client: record.client,
            request_id: record.request_id,
        }))
    }

    /// Takes the nonces of `session` out of the store: the deletion is durable on disk before
    /// this returns, so whatever happens next (a crash, a replayed request) they are never used
    /// again.
    pub fn consume_nonces(&self, session: &str) -> Result<Option<ConsumedNonces>, StoreError> {
        let key = format!("{NONCE_PREFIX}{session}");
        let Some(bytes) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        self.db.delete_opt(key.as_bytes(), &Self::synced())?;
        let record: NonceRecord =
            serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                key: key.clone(),
                reason: error.to_string(),
            })?;
        let sealed = hex::decode(&record.sealed_nonces).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        let aad = self.nonce_aad(
            session,
            &record.wallet_id,
            &record.message,
            &record.tweak,
            &record.commitments,
        );
        let nonces = sealing::open(
            &self.wallet_key(&record.wallet_id),
            &aad,
            &sealed,
            "session or wallet",
        )
        .map_err(|source| StoreError::Seal { key, source })?;
        Ok(Some(ConsumedNonces {
            wallet_id: record.wallet_id,
            message: record.message,
            tweak: record.tweak,
            commitments: record.commitments,
            nonces,
        }))
    }

    /// Deletes the round-1 nonces of signing sessions whose client request expired before
    /// `before` (and of records too old to say when theirs expires): sessions that never got to
    /// round 2. Deleting nonces is always safe; such a session can only fail. Records that do not
    /// parse are left for `consume_nonces` to report.
    pub fn prune_nonces(&self, before: u64) -> Result<usize, StoreError> {
        self.prune(NONCE_PREFIX, |value| {
            serde_json::from_slice::<NonceRecord>(value).is_ok_and(|record| {
                record
                    .expires_at
                    .is_none_or(|expires_at| expires_at < before)
            })
        })
    }
}
