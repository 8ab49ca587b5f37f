//! CGGMP21 presignatures: pending until every signer is shown to hold its part, taken
//! durably with the request's claim, pruned when stale or orphaned.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::claims::RequestClaim;
use super::{NodeStore, PRESIGNATURE_PREFIX, StoreError};
use crate::custody::sealing;
use crate::model::transcript;

/// A CGGMP21 presignature as stored (the secret part is sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PresignatureRecord {
    pub(super) signers: Vec<String>,
    pub(super) created_at: u64,
    pub(super) sealed: String,
    /// Its public point R, hex (empty in records of earlier versions).
    #[serde(default)]
    pub(super) point: String,
    /// Whether every signer of the set was shown to hold it too (their signed results of the
    /// run). Records of earlier versions, which had no such step, count as complete.
    #[serde(default = "earlier_records_are_complete")]
    pub(super) complete: bool,
}

pub(super) const fn earlier_records_are_complete() -> bool {
    true
}

/// A presignature this node holds, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignatureSummary {
    /// Its id (the presigning session).
    pub id: String,
    /// The signer set it was made for.
    pub signers: Vec<String>,
    /// Its public point R, compressed (empty for records of earlier versions).
    pub point: Vec<u8>,
    /// Whether every signer was shown to hold it ([`NodeStore::confirm_presignature`]).
    pub complete: bool,
    /// When it was made, unix seconds.
    pub created_at: u64,
}

/// What taking a presignature out of the store found.
pub enum PresignatureTake {
    /// It was there; its deletion (and the request's claim) is durable.
    Taken {
        /// The signer set it was made for.
        signers: Vec<String>,
        /// The presignature (secret).
        presignature: Zeroizing<Vec<u8>>,
    },
    /// No such presignature: never made here, or already used.
    Unknown,
    /// It is here but not yet confirmed complete: nothing was taken.
    Unconfirmed,
    /// The client's request was used before: nothing was taken.
    Replayed,
}

impl NodeStore {
    pub(super) fn presignature_aad(
        &self,
        wallet_id: &str,
        id: &str,
        signers: &[String],
    ) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = vec![
            self.node_id.as_bytes(),
            wallet_id.as_bytes(),
            b"presignature",
            id.as_bytes(),
        ];
        parts.extend(signers.iter().map(|signer| signer.as_bytes()));
        transcript::binding(&parts)
    }

    pub(super) fn presignature_key(wallet_id: &str, id: &str) -> String {
        format!("{PRESIGNATURE_PREFIX}{wallet_id}/{id}")
    }

    pub(super) fn presignature_record(
        key: &str,
        bytes: &[u8],
    ) -> Result<PresignatureRecord, StoreError> {
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
            key: key.to_owned(),
            reason: error.to_string(),
        })
    }

    pub(super) fn put_presignature_record(
        &self,
        key: &str,
        record: &PresignatureRecord,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|error| StoreError::Corrupt {
            key: key.to_owned(),
            reason: error.to_string(),
        })?;
        self.db.put_opt(key.as_bytes(), json, &Self::synced())?;
        Ok(())
    }

    /// Stores a CGGMP21 presignature of `wallet_id` for the signer set `signers`, with its
    /// public point, durably. It is pending until [`Self::confirm_presignature`]: not listed
    /// as ready, not taken for signing.
    pub fn put_presignature(
        &self,
        wallet_id: &str,
        id: &str,
        signers: &[String],
        presignature: &[u8],
        point: &[u8],
        created_at: u64,
    ) -> Result<(), StoreError> {
        let key = Self::presignature_key(wallet_id, id);
        let sealed = sealing::seal(
            &self.wallet_key(wallet_id),
            &self.presignature_aad(wallet_id, id, signers),
            presignature,
        )
        .map_err(|source| StoreError::Seal {
            key: key.clone(),
            source,
        })?;
        let record = PresignatureRecord {
            signers: signers.to_vec(),
            created_at,
            sealed: hex::encode(sealed),
            point: hex::encode(point),
            complete: false,
        };
        self.put_presignature_record(&key, &record)
    }

    /// The presignatures of `wallet_id` this node holds, complete and pending, in id order.
    pub fn presignatures(&self, wallet_id: &str) -> Result<Vec<PresignatureSummary>, StoreError> {
        let prefix = format!("{PRESIGNATURE_PREFIX}{wallet_id}/");
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix.as_bytes(), Direction::Forward))
        {
            let (key, value) = item?;
            let Some(id) = key.strip_prefix(prefix.as_bytes()) else {
                break;
            };
            let record = Self::presignature_record(&String::from_utf8_lossy(&key), &value)?;
            out.push(PresignatureSummary {
                id: String::from_utf8_lossy(id).into_owned(),
                signers: record.signers,
                point: hex::decode(&record.point).unwrap_or_default(),
                complete: record.complete,
                created_at: record.created_at,
            });
        }
        Ok(out)
    }

    /// Marks presignature `id` of `wallet_id` complete (every signer holds it), durably;
    /// `false` when it is not here.
    pub fn confirm_presignature(&self, wallet_id: &str, id: &str) -> Result<bool, StoreError> {
        let key = Self::presignature_key(wallet_id, id);
        let _serial = self.presignature_lock(&key)?;
        let Some(bytes) = self.db.get(key.as_bytes())? else {
            return Ok(false);
        };
        let mut record = Self::presignature_record(&key, &bytes)?;
        if !record.complete {
            record.complete = true;
            self.put_presignature_record(&key, &record)?;
        }
        Ok(true)
    }

    /// Deletes presignature `id` of `wallet_id` (an orphan: another signer no longer holds
    /// its part, so it can never sign), durably; `false` when it is not here.
    pub fn discard_presignature(&self, wallet_id: &str, id: &str) -> Result<bool, StoreError> {
        let key = Self::presignature_key(wallet_id, id);
        let _serial = self.presignature_lock(&key)?;
        if self.db.get(key.as_bytes())?.is_none() {
            return Ok(false);
        }
        self.db.delete_opt(key.as_bytes(), &Self::synced())?;
        Ok(true)
    }

    /// Deletes the pending presignatures of `wallet_id` made before `before` (unix seconds):
    /// runs that ended here but were never confirmed at every signer. Returns how many.
    pub fn prune_pending_presignatures(
        &self,
        wallet_id: &str,
        before: u64,
    ) -> Result<usize, StoreError> {
        let stale: Vec<String> = self
            .presignatures(wallet_id)?
            .into_iter()
            .filter(|held| !held.complete && held.created_at < before)
            .map(|held| held.id)
            .collect();
        let mut pruned = 0;
        for id in stale {
            let key = Self::presignature_key(wallet_id, &id);
            let _serial = self.presignature_lock(&key)?;
            // Looked at again under the lock: it may have been confirmed since.
            match self.db.get(key.as_bytes())? {
                Some(bytes) if !Self::presignature_record(&key, &bytes)?.complete => {
                    self.db.delete_opt(key.as_bytes(), &Self::synced())?;
                    pruned += 1;
                }
                _ => {}
            }
        }
        Ok(pruned)
    }

    pub(super) fn presignature_lock(
        &self,
        key: &str,
    ) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.presignatures.lock().map_err(|_| StoreError::Corrupt {
            key: key.to_owned(),
            reason: "presignature lock poisoned".into(),
        })
    }

    /// Takes presignature `id` of `wallet_id` out of the store for one signature: its deletion
    /// and the client request's claim are one synced write, done before this returns, so the
    /// presignature can never sign a second message, whatever happens next.
    pub fn take_presignature(
        &self,
        wallet_id: &str,
        id: &str,
        claim: &RequestClaim<'_>,
    ) -> Result<PresignatureTake, StoreError> {
        let key = Self::presignature_key(wallet_id, id);
        // Serialised with claims: two concurrent takes of one presignature cannot both see it.
        let record = {
            let _serial = self.presignature_lock(&key)?;
            let Some(bytes) = self.db.get(key.as_bytes())? else {
                return Ok(PresignatureTake::Unknown);
            };
            let record = Self::presignature_record(&key, &bytes)?;
            if !record.complete {
                return Ok(PresignatureTake::Unconfirmed);
            }
            let mut batch = WriteBatch::default();
            batch.delete(key.as_bytes());
            if !self.write_claimed(batch, claim)? {
                return Ok(PresignatureTake::Replayed);
            }
            record
        };
        let sealed = hex::decode(&record.sealed).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        let presignature = sealing::open(
            &self.wallet_key(wallet_id),
            &self.presignature_aad(wallet_id, id, &record.signers),
            &sealed,
            "presignature, wallet or node",
        )
        .map_err(|source| StoreError::Seal { key, source })?;
        Ok(PresignatureTake::Taken {
            signers: record.signers,
            presignature,
        })
    }
}
