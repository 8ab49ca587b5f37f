//! A signer node's RocksDB store. Secret records (key packages, signing nonces) are sealed with
//! AES-256-GCM under a key from the node's key provider, bound to node, wallet or session, and
//! record kind; public records (wallet descriptions) are plain JSON.

use std::path::Path;
use std::sync::atomic::Ordering;

use hkdf::Hkdf;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::custody::audit::AuditAnchor;
use crate::custody::key_provider::{KeyProvider, KeyProviderError, SecretKey};
use crate::custody::sealing::{self, SealError};
use crate::model::transcript;

mod claims;
mod nonces;
mod presignatures;
mod secrets;
#[cfg(test)]
mod tests;
mod wallets;

pub use self::claims::{RequestClaim, WalletClaim};
use self::nonces::NonceRecord;
pub use self::nonces::{ConsumedNonces, PendingSignature};
use self::presignatures::PresignatureRecord;
pub use self::presignatures::{PresignatureSummary, PresignatureTake};
pub use crate::model::wallet::WalletRecord;

/// A store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// RocksDB failed.
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    /// The key provider failed.
    #[error(transparent)]
    KeyProvider(#[from] KeyProviderError),
    /// A sealed record did not open.
    #[error("record {key}: {source}")]
    Seal {
        /// The record's key.
        key: String,
        /// Why it did not open.
        source: SealError,
    },
    /// A client's request expired between its check and its use: it is not used.
    #[error("request {request_id} expired at {expires_at}, before it could be used")]
    Expired {
        /// The request id.
        request_id: String,
        /// When it expired.
        expires_at: u64,
    },
    /// A public record is not valid JSON of its type.
    #[error("record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A wallet record was refused: its id belongs to another session, or a record is there.
    #[error("wallet {wallet_id}: {reason}")]
    WalletRefused {
        /// The wallet id.
        wallet_id: String,
        /// Why.
        reason: String,
    },
}

/// A node's persistent state.
pub struct NodeStore {
    db: DB,
    node_id: String,
    storage_key: SecretKey,
    /// Serialises request-id claims so two concurrent uses of one id cannot both succeed.
    claims: std::sync::Mutex<()>,
    /// Serialises taking presignatures, so one is never handed out twice.
    presignatures: std::sync::Mutex<()>,
    /// Confirmed wallets, counted once at open and kept up to date (health reports it).
    confirmed_wallets: std::sync::atomic::AtomicUsize,
    /// The latest time request ids were pruned at, as stored under `meta/pruned-until`: claims
    /// are judged against it (every claim reads it; only pruning, under the claims lock, writes).
    pruned_until: std::sync::atomic::AtomicU64,
}

const WALLET_PREFIX: &str = "wallet/";
const SHARE_PREFIX: &str = "share/";
const NONCE_PREFIX: &str = "nonce/";
const REQUEST_PREFIX: &str = "request/";
const DERIVED_PREFIX: &str = "derived/";
const SECRET_PREFIX: &str = "secret/";
const PRESIGNATURE_PREFIX: &str = "presignature/";
const SESSION_PREFIX: &str = "session/";
/// Where the node's audit log ended at its last record (public, node-signed).
const AUDIT_ANCHOR_KEY: &str = "audit/anchor";
/// A record's key and value as stored.
type KeyValue = (Vec<u8>, Vec<u8>);

/// The latest time request ids were pruned at (8 bytes, big-endian seconds).
const PRUNED_UNTIL_KEY: &str = "meta/pruned-until";
/// Where re-sealing keeps records that would not open, for an operator to look at.
const QUARANTINE_PREFIX: &str = "quarantine/";
/// Present once every sealed record is under its per-wallet (or per-secret) key.
const SEALING_V2_KEY: &str = "meta/sealing-v2";
/// `claim/<wallet id>` holds the session that claimed the id: an id is claimed once, forever.
const WALLET_CLAIM_PREFIX: &str = "claim/";

impl NodeStore {
    /// Opens (creating if needed) the store at `path` for `node_id`.
    pub fn open(
        path: &Path,
        node_id: &str,
        provider: &dyn KeyProvider,
    ) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, path)?;
        let storage_key = provider.derive_key("record sealing key v1")?;
        let pruned_until = Self::stored_pruned_until(&db)?;
        let store = Self {
            db,
            node_id: node_id.to_owned(),
            storage_key,
            claims: std::sync::Mutex::new(()),
            presignatures: std::sync::Mutex::new(()),
            confirmed_wallets: std::sync::atomic::AtomicUsize::new(0),
            pruned_until: std::sync::atomic::AtomicU64::new(pruned_until),
        };
        store.migrate_sealing()?;
        let count = store.count_confirmed_wallets()?;
        store.confirmed_wallets.store(count, Ordering::Relaxed);
        Ok(store)
    }

    /// The key that seals one wallet's records (its key package, signing nonces and
    /// presignatures): HKDF-SHA256 of the node's storage key with the wallet id, so that no one
    /// key seals every record of the node's life.
    fn wallet_key(&self, wallet_id: &str) -> SecretKey {
        self.record_key(&[b"wallet", wallet_id.as_bytes()])
    }

    /// The key that seals the node-wide secret `name`.
    fn secret_key(&self, name: &str) -> SecretKey {
        self.record_key(&[b"node-secret", name.as_bytes()])
    }

    fn record_key(&self, scope: &[&[u8]]) -> SecretKey {
        let hkdf = Hkdf::<Sha256>::new(Some(b"thresig record key v2"), &self.storage_key[..]);
        let mut key = Zeroizing::new([0u8; 32]);
        // Expanding to 32 bytes cannot fail (HKDF-SHA256 gives up to 8160).
        let _ = hkdf.expand(&transcript::binding(scope), &mut key[..]);
        key
    }

    /// Re-seals, once, every record that earlier versions sealed under the node-wide storage key
    /// itself: key packages, nonces, presignatures and node secrets, with the marker, in one
    /// synced write (a crash leaves all of them as they were, and the next start does it again).
    /// A record that does not open is not allowed to stop the node: nonces and presignatures
    /// are deleted (deleting one only ever fails a signature), key packages and secrets are
    /// kept aside under `quarantine/` for an operator, each with a warning naming it.
    fn migrate_sealing(&self) -> Result<(), StoreError> {
        if self.db.get(SEALING_V2_KEY.as_bytes())?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        let (mut moved, mut dropped) = (0usize, 0usize);
        let reseal = |key: &[u8], aad: &[u8], new_key: &SecretKey, sealed: &[u8]| {
            let shown = String::from_utf8_lossy(key).into_owned();
            let plain =
                sealing::open(&self.storage_key, aad, sealed, "node").map_err(|source| {
                    StoreError::Seal {
                        key: shown.clone(),
                        source,
                    }
                })?;
            sealing::seal(new_key, aad, &plain)
                .map_err(|source| StoreError::Seal { key: shown, source })
        };
        let corrupt = |key: &[u8], reason: String| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        for (key, value) in self
            .scan(SHARE_PREFIX)?
            .into_iter()
            .chain(self.scan(SECRET_PREFIX)?)
        {
            let resealed = match key.strip_prefix(SHARE_PREFIX.as_bytes()) {
                Some(wallet_id) => {
                    let wallet_id = String::from_utf8_lossy(wallet_id);
                    let aad = self.aad(&wallet_id, "key-package");
                    reseal(&key, &aad, &self.wallet_key(&wallet_id), &value)
                }
                None => {
                    let name = String::from_utf8_lossy(&key[SECRET_PREFIX.len()..]);
                    let aad = self.aad("node", &name);
                    reseal(&key, &aad, &self.secret_key(&name), &value)
                }
            };
            match resealed {
                Ok(resealed) => {
                    batch.put(&key, resealed);
                    moved += 1;
                }
                Err(error) => {
                    let mut aside = QUARANTINE_PREFIX.as_bytes().to_vec();
                    aside.extend_from_slice(&key);
                    batch.put(&aside, &value);
                    batch.delete(&key);
                    dropped += 1;
                    tracing::warn!(node = %self.node_id, %error,
                        "a sealed record does not open: kept aside under quarantine/, not re-sealed");
                }
            }
        }
        for (key, value) in self.scan(NONCE_PREFIX)? {
            let resealed = (|| {
                let mut record: NonceRecord = serde_json::from_slice(&value)
                    .map_err(|error| corrupt(&key, error.to_string()))?;
                let session = String::from_utf8_lossy(&key[NONCE_PREFIX.len()..]);
                let aad = self.nonce_aad(
                    &session,
                    &record.wallet_id,
                    &record.message,
                    &record.tweak,
                    &record.commitments,
                );
                let sealed = hex::decode(&record.sealed_nonces)
                    .map_err(|error| corrupt(&key, error.to_string()))?;
                let resealed = reseal(&key, &aad, &self.wallet_key(&record.wallet_id), &sealed)?;
                record.sealed_nonces = hex::encode(resealed);
                serde_json::to_vec(&record).map_err(|error| corrupt(&key, error.to_string()))
            })();
            self.reseal_or_drop(&mut batch, &key, resealed, &mut moved, &mut dropped);
        }
        for (key, value) in self.scan(PRESIGNATURE_PREFIX)? {
            let resealed = (|| {
                let path = String::from_utf8_lossy(&key[PRESIGNATURE_PREFIX.len()..]);
                let (wallet_id, id) = path
                    .split_once('/')
                    .ok_or_else(|| corrupt(&key, "no wallet/id in the key".into()))?;
                let mut record: PresignatureRecord = serde_json::from_slice(&value)
                    .map_err(|error| corrupt(&key, error.to_string()))?;
                let aad = self.presignature_aad(wallet_id, id, &record.signers);
                let sealed = hex::decode(&record.sealed)
                    .map_err(|error| corrupt(&key, error.to_string()))?;
                record.sealed =
                    hex::encode(reseal(&key, &aad, &self.wallet_key(wallet_id), &sealed)?);
                serde_json::to_vec(&record).map_err(|error| corrupt(&key, error.to_string()))
            })();
            self.reseal_or_drop(&mut batch, &key, resealed, &mut moved, &mut dropped);
        }
        batch.put(SEALING_V2_KEY.as_bytes(), b"");
        self.db.write_opt(batch, &Self::synced())?;
        if moved + dropped > 0 {
            tracing::info!(
                node = %self.node_id,
                resealed = moved,
                set_aside = dropped,
                "re-sealed records under per-wallet keys"
            );
        }
        Ok(())
    }

    /// Puts a re-sealed nonce or presignature record, or deletes one that did not open.
    fn reseal_or_drop(
        &self,
        batch: &mut WriteBatch,
        key: &[u8],
        resealed: Result<Vec<u8>, StoreError>,
        moved: &mut usize,
        dropped: &mut usize,
    ) {
        match resealed {
            Ok(resealed) => {
                batch.put(key, resealed);
                *moved += 1;
            }
            Err(error) => {
                batch.delete(key);
                *dropped += 1;
                tracing::warn!(node = %self.node_id, %error,
                    "a sealed nonce or presignature does not open: deleted (it can only fail a signature)");
            }
        }
    }

    /// Every record under `prefix`, in key order.
    fn scan(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::new();
        let mode = IteratorMode::From(prefix.as_bytes(), Direction::Forward);
        for item in self.db.iterator(mode) {
            let (key, value) = item?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    fn synced() -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        options
    }

    fn aad(&self, place: &str, kind: &str) -> Vec<u8> {
        transcript::binding(&[self.node_id.as_bytes(), place.as_bytes(), kind.as_bytes()])
    }

    /// Records that the client's request was used for the claim's scope, durably; `false` if
    /// it was used for that scope before (a replay). Entries are kept until the request
    /// expires. Nodes claim through the records a claim goes with (a wallet id, nonces, a
    /// presignature); the claim alone is for the tests of its rules.
    #[cfg(test)]
    pub(crate) fn claim_request(&self, claim: &RequestClaim<'_>) -> Result<bool, StoreError> {
        self.write_claimed(WriteBatch::default(), claim)
    }

    /// Deletes, in one synced write, the records under `prefix` whose value `stale` picks.
    fn prune(&self, prefix: &str, stale: impl Fn(&[u8]) -> bool) -> Result<usize, StoreError> {
        let mut batch = WriteBatch::default();
        let mut pruned = 0;
        let mode = IteratorMode::From(prefix.as_bytes(), Direction::Forward);
        for item in self.db.iterator(mode) {
            let (key, value) = item?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            if stale(&value) {
                batch.delete(key);
                pruned += 1;
            }
        }
        if pruned > 0 {
            self.db.write_opt(batch, &Self::synced())?;
        }
        Ok(pruned)
    }

    /// Keeps the audit log's anchor after a record. Not synced: the log itself is, and an
    /// anchor that a crash leaves a record behind still shows any truncation beyond it.
    pub fn put_audit_anchor(&self, anchor: &AuditAnchor) -> Result<(), StoreError> {
        let json = serde_json::to_vec(anchor).map_err(|error| StoreError::Corrupt {
            key: AUDIT_ANCHOR_KEY.into(),
            reason: error.to_string(),
        })?;
        self.db.put(AUDIT_ANCHOR_KEY.as_bytes(), json)?;
        Ok(())
    }

    /// The audit log's last anchor, if the node ever kept one.
    pub fn audit_anchor(&self) -> Result<Option<AuditAnchor>, StoreError> {
        decode_anchor(self.db.get(AUDIT_ANCHOR_KEY.as_bytes())?)
    }

    /// Raw access for tests and audits: the stored bytes under `key`.
    pub fn raw(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key.as_bytes())?)
    }

    /// Raw write for tests that tamper with records.
    pub fn put_raw(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db.put_opt(key.as_bytes(), value, &Self::synced())?;
        Ok(())
    }
}

/// Reads the audit anchor from the store at `path` without its key provider, read-only, so
/// `thresig audit verify` can check a log while its node runs (RocksDB lets a read-only handle
/// share the files). `None` when there is no store or no anchor yet.
pub fn read_audit_anchor(path: &Path) -> Result<Option<AuditAnchor>, StoreError> {
    if !path.join("CURRENT").exists() {
        return Ok(None);
    }
    let db = DB::open_for_read_only(&Options::default(), path, false)?;
    decode_anchor(db.get(AUDIT_ANCHOR_KEY.as_bytes())?)
}

fn decode_anchor(bytes: Option<Vec<u8>>) -> Result<Option<AuditAnchor>, StoreError> {
    bytes
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                key: AUDIT_ANCHOR_KEY.into(),
                reason: error.to_string(),
            })
        })
        .transpose()
}
