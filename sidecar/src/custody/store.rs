//! A signer node's RocksDB store. Secret records (key packages, signing nonces) are sealed with
//! AES-256-GCM under a key from the node's key provider, bound to node, wallet or session, and
//! record kind; public records (wallet descriptions) are plain JSON.

use std::path::Path;
use std::sync::atomic::Ordering;

use hkdf::Hkdf;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::custody::audit::AuditAnchor;
use crate::custody::key_provider::{KeyProvider, KeyProviderError, SecretKey};
use crate::custody::sealing::{self, SealError};
use crate::model::transcript;

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

pub use crate::model::wallet::WalletRecord;

/// What a node remembers between signing rounds (the nonces themselves are sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NonceRecord {
    wallet_id: String,
    message: String,
    tweak: String,
    commitments: String,
    sealed_nonces: String,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    /// When the client's request expires; records written before this field have none.
    #[serde(default)]
    expires_at: Option<u64>,
}

/// One use of a client's request: by whom, which request, for what, and until when it must be
/// remembered.
#[derive(Debug, Clone, Copy)]
pub struct RequestClaim<'a> {
    /// The client key, hex.
    pub client: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// What the request is used for (`dkg`, or one message to sign).
    pub scope: &'a str,
    /// When the request expires.
    pub expires_at: u64,
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

/// A CGGMP21 presignature as stored (the secret part is sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PresignatureRecord {
    signers: Vec<String>,
    created_at: u64,
    sealed: String,
    /// Its public point R, hex (empty in records of earlier versions).
    #[serde(default)]
    point: String,
    /// Whether every signer of the set was shown to hold it too (their signed results of the
    /// run). Records of earlier versions, which had no such step, count as complete.
    #[serde(default = "earlier_records_are_complete")]
    complete: bool,
}

const fn earlier_records_are_complete() -> bool {
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

/// What claiming a wallet id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletClaim {
    /// The id is this session's now (durably).
    Claimed,
    /// The id was claimed before, or a wallet is stored under it: nothing was written.
    Taken,
    /// The client's request was used for a DKG before: nothing was written.
    Replayed,
    /// The session id was used before: nothing was written.
    SessionUsed,
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

    /// Checked again under the claims lock, which pruning holds too: a request is claimed only
    /// while unexpired (expires_at > now) and pruned only once expired (expires_at <= now), so
    /// its id can never be forgotten and then claimed again. Time is the later of the clock and
    /// the latest pruning, so a clock stepped back cannot make a forgotten id claimable again.
    fn unexpired(&self, claim: &RequestClaim<'_>) -> Result<(), StoreError> {
        let pruned_until = self.pruned_until.load(Ordering::Relaxed);
        let now = crate::cluster::client_auth::now_secs().max(pruned_until);
        if claim.expires_at <= now {
            return Err(StoreError::Expired {
                request_id: claim.request_id.to_owned(),
                expires_at: claim.expires_at,
            });
        }
        Ok(())
    }

    /// The stored latest pruning time (read once at open; kept in memory after).
    fn stored_pruned_until(db: &DB) -> Result<u64, StoreError> {
        Ok(db
            .get(PRUNED_UNTIL_KEY.as_bytes())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Serialises wallet claims with request claims: a check and its write see one store.
    fn wallet_claims(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.claims.lock().map_err(|_| StoreError::Corrupt {
            key: WALLET_CLAIM_PREFIX.into(),
            reason: "claim table lock poisoned".into(),
        })
    }

    /// Claims `wallet_id` for the DKG or keygen `session`, in one synced write with the client
    /// request's claim (and, with `mark_session`, the session's own record, as CGGMP21 runs
    /// keep one). An id is claimed once and never again, whatever became of the session: the
    /// coordinator picks ids at random, so a refused id only means it picks another.
    pub fn claim_wallet(
        &self,
        wallet_id: &str,
        session: &str,
        request: &RequestClaim<'_>,
        mark_session: bool,
    ) -> Result<WalletClaim, StoreError> {
        let _serial = self.wallet_claims()?;
        self.unexpired(request)?;
        let request_key = Self::request_key(request);
        if self.db.get(request_key.as_bytes())?.is_some() {
            return Ok(WalletClaim::Replayed);
        }
        let claim_key = format!("{WALLET_CLAIM_PREFIX}{wallet_id}");
        let wallet_key = format!("{WALLET_PREFIX}{wallet_id}");
        if self.db.get(claim_key.as_bytes())?.is_some()
            || self.db.get(wallet_key.as_bytes())?.is_some()
        {
            return Ok(WalletClaim::Taken);
        }
        let session_key = format!("{SESSION_PREFIX}{session}");
        if mark_session && self.db.get(session_key.as_bytes())?.is_some() {
            return Ok(WalletClaim::SessionUsed);
        }
        let mut batch = WriteBatch::default();
        batch.put(request_key.as_bytes(), request.expires_at.to_be_bytes());
        batch.put(claim_key.as_bytes(), session.as_bytes());
        if mark_session {
            batch.put(session_key.as_bytes(), b"");
        }
        self.db.write_opt(batch, &Self::synced())?;
        Ok(WalletClaim::Claimed)
    }

    /// The session that claimed `wallet_id`, if any did.
    pub fn wallet_claim(&self, wallet_id: &str) -> Result<Option<String>, StoreError> {
        let key = format!("{WALLET_CLAIM_PREFIX}{wallet_id}");
        Ok(self
            .db
            .get(key.as_bytes())?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Refuses unless `session` claimed `wallet_id`.
    fn check_claim(&self, wallet_id: &str, session: &str) -> Result<(), StoreError> {
        let refused = |reason: String| StoreError::WalletRefused {
            wallet_id: wallet_id.to_owned(),
            reason,
        };
        match self.wallet_claim(wallet_id)? {
            Some(owner) if owner == session => Ok(()),
            Some(_) => Err(refused(format!(
                "the id was claimed by another session than {session}"
            ))),
            None => Err(refused(format!("session {session} never claimed the id"))),
        }
    }

    /// Stores a new wallet's description (pending) and this node's key package, durably, in
    /// one write, for the session that claimed the id. Never overwrites: a record of any state
    /// under the id is refused, as is a session that did not claim it.
    pub fn put_wallet(
        &self,
        record: &WalletRecord,
        key_package: &[u8],
        session: &str,
    ) -> Result<(), StoreError> {
        let key = format!("{WALLET_PREFIX}{}", record.wallet_id);
        let json = serde_json::to_vec(record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        let sealed = sealing::seal(
            &self.wallet_key(&record.wallet_id),
            &self.aad(&record.wallet_id, "key-package"),
            key_package,
        )
        .map_err(|source| StoreError::Seal {
            key: key.clone(),
            source,
        })?;
        let mut batch = WriteBatch::default();
        batch.put(key.as_bytes(), json);
        batch.put(
            format!("{SHARE_PREFIX}{}", record.wallet_id).as_bytes(),
            sealed,
        );
        let _serial = self.wallet_claims()?;
        self.check_claim(&record.wallet_id, session)?;
        if self.any_wallet(&record.wallet_id)?.is_some()
            || self
                .db
                .get(format!("{SHARE_PREFIX}{}", record.wallet_id).as_bytes())?
                .is_some()
        {
            return Err(StoreError::WalletRefused {
                wallet_id: record.wallet_id.clone(),
                reason: "a wallet record is stored under the id already; it is never replaced"
                    .into(),
            });
        }
        self.db.write_opt(batch, &Self::synced())?;
        if record.confirmed {
            self.confirmed_wallets.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The wallet's description, if this node holds it and the DKG was confirmed.
    pub fn wallet(&self, wallet_id: &str) -> Result<Option<WalletRecord>, StoreError> {
        Ok(self
            .any_wallet(wallet_id)?
            .filter(|record| record.confirmed))
    }

    /// Marks the wallet `session` made confirmed (every party derived the same group key) and
    /// returns it as stored. Refused unless `session` claimed the id and the stored record
    /// carries `public_key_package` (hex), the key this session produced; `None` if no record
    /// is stored.
    pub fn confirm_wallet(
        &self,
        wallet_id: &str,
        session: &str,
        public_key_package: &str,
    ) -> Result<Option<WalletRecord>, StoreError> {
        let _serial = self.wallet_claims()?;
        self.check_claim(wallet_id, session)?;
        let Some(mut record) = self.any_wallet(wallet_id)? else {
            return Ok(None);
        };
        if record.public_key_package != public_key_package {
            return Err(StoreError::WalletRefused {
                wallet_id: wallet_id.to_owned(),
                reason: format!("the stored key is not the one session {session} produced"),
            });
        }
        let newly = !record.confirmed;
        record.confirmed = true;
        let key = format!("{WALLET_PREFIX}{wallet_id}");
        let json = serde_json::to_vec(&record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        self.db.put_opt(key.as_bytes(), json, &Self::synced())?;
        if newly {
            self.confirmed_wallets.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Some(record))
    }

    /// The wallet's description, confirmed or still pending.
    pub fn any_wallet(&self, wallet_id: &str) -> Result<Option<WalletRecord>, StoreError> {
        let key = format!("{WALLET_PREFIX}{wallet_id}");
        match self.db.get(key.as_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| StoreError::Corrupt {
                        key,
                        reason: error.to_string(),
                    })
            }
        }
    }

    /// This node's key package for the wallet (secret).
    pub fn key_package(&self, wallet_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = format!("{SHARE_PREFIX}{wallet_id}");
        let Some(sealed) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        sealing::open(
            &self.wallet_key(wallet_id),
            &self.aad(wallet_id, "key-package"),
            &sealed,
            "wallet or node",
        )
        .map(Some)
        .map_err(|source| StoreError::Seal { key, source })
    }

    /// Up to `limit` wallets with ids after `cursor`, in id order.
    pub fn wallets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<WalletRecord>, StoreError> {
        let start = match cursor {
            Some(cursor) => format!("{WALLET_PREFIX}{cursor}\u{0}"),
            None => WALLET_PREFIX.to_owned(),
        };
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(start.as_bytes(), Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(WALLET_PREFIX.as_bytes()) || out.len() >= limit {
                break;
            }
            let record: WalletRecord =
                serde_json::from_slice(&value).map_err(|error| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: error.to_string(),
                })?;
            if record.confirmed {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// How many wallets this node holds.
    pub fn wallet_count(&self) -> usize {
        self.confirmed_wallets.load(Ordering::Relaxed)
    }

    /// Counts the confirmed wallets in the database.
    fn count_confirmed_wallets(&self) -> Result<usize, StoreError> {
        let mut count = 0;
        for item in self.db.iterator(IteratorMode::From(
            WALLET_PREFIX.as_bytes(),
            Direction::Forward,
        )) {
            let (key, value) = item?;
            if !key.starts_with(WALLET_PREFIX.as_bytes()) {
                break;
            }
            if serde_json::from_slice::<WalletRecord>(&value).is_ok_and(|record| record.confirmed) {
                count += 1;
            }
        }
        Ok(count)
    }

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

    fn nonce_aad(
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

    /// Records that the client's request was used for the claim's scope, durably; `false` if
    /// it was used for that scope before (a replay). Entries are kept until the request
    /// expires. Nodes claim through the records a claim goes with (a wallet id, nonces, a
    /// presignature); the claim alone is for the tests of its rules.
    #[cfg(test)]
    pub(crate) fn claim_request(&self, claim: &RequestClaim<'_>) -> Result<bool, StoreError> {
        self.write_claimed(WriteBatch::default(), claim)
    }

    fn request_key(claim: &RequestClaim<'_>) -> String {
        format!(
            "{REQUEST_PREFIX}{}/{}/{}",
            claim.client, claim.request_id, claim.scope
        )
    }

    /// Writes `batch` together with the claim, in one synced write, unless the claim was used
    /// before (then nothing is written and the answer is `false`).
    fn write_claimed(
        &self,
        mut batch: WriteBatch,
        claim: &RequestClaim<'_>,
    ) -> Result<bool, StoreError> {
        let _serial = self.claims.lock().map_err(|_| StoreError::Corrupt {
            key: REQUEST_PREFIX.into(),
            reason: "request table lock poisoned".into(),
        })?;
        self.unexpired(claim)?;
        let key = Self::request_key(claim);
        if self.db.get(key.as_bytes())?.is_some() {
            return Ok(false);
        }
        batch.put(key.as_bytes(), claim.expires_at.to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(true)
    }

    /// Forgets used request ids whose requests have expired by `now` (expires_at <= now): they
    /// are refused as expired from then on. Holds the claims lock, so no claim of a request that
    /// is still valid can slip in between.
    pub fn prune_requests(&self, now: u64) -> Result<usize, StoreError> {
        let _serial = self.claims.lock().map_err(|_| StoreError::Corrupt {
            key: REQUEST_PREFIX.into(),
            reason: "request table lock poisoned".into(),
        })?;
        // Remembered before anything is forgotten: claims are judged against it from now on.
        if now > self.pruned_until.load(Ordering::Relaxed) {
            self.db.put_opt(
                PRUNED_UNTIL_KEY.as_bytes(),
                now.to_be_bytes(),
                &Self::synced(),
            )?;
            self.pruned_until.store(now, Ordering::Relaxed);
        }
        self.prune(REQUEST_PREFIX, |value| {
            <[u8; 8]>::try_from(value).map_or(0, u64::from_be_bytes) <= now
        })
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

    /// The wallet id a passphrase derivation (identified by its `tag`, an HMAC under the
    /// node's root key) produced, if this node holds it.
    pub fn derived_wallet(&self, tag: &str) -> Result<Option<String>, StoreError> {
        let key = format!("{DERIVED_PREFIX}{tag}");
        Ok(self
            .db
            .get(key.as_bytes())?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Records that the derivation `tag` produced `wallet_id`.
    pub fn put_derived_wallet(&self, tag: &str, wallet_id: &str) -> Result<(), StoreError> {
        let key = format!("{DERIVED_PREFIX}{tag}");
        self.db
            .put_opt(key.as_bytes(), wallet_id.as_bytes(), &Self::synced())?;
        Ok(())
    }

    /// Stores a node-wide secret (`name` such as `cggmp21-primes`) sealed, durably.
    pub fn put_secret(&self, name: &str, secret: &[u8]) -> Result<(), StoreError> {
        let key = format!("{SECRET_PREFIX}{name}");
        let sealed = sealing::seal(&self.secret_key(name), &self.aad("node", name), secret)
            .map_err(|source| StoreError::Seal {
                key: key.clone(),
                source,
            })?;
        self.db.put_opt(key.as_bytes(), sealed, &Self::synced())?;
        Ok(())
    }

    /// A node-wide secret stored with [`NodeStore::put_secret`].
    pub fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = format!("{SECRET_PREFIX}{name}");
        let Some(sealed) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        sealing::open(
            &self.secret_key(name),
            &self.aad("node", name),
            &sealed,
            "node",
        )
        .map(Some)
        .map_err(|source| StoreError::Seal { key, source })
    }

    /// Records that protocol session `session` started here, durably; `false` if it was
    /// started before (a coordinator reusing a session id, and so an execution id).
    pub fn claim_session(&self, session: &str) -> Result<bool, StoreError> {
        let _serial = self.claims.lock().map_err(|_| StoreError::Corrupt {
            key: SESSION_PREFIX.into(),
            reason: "session table lock poisoned".into(),
        })?;
        let key = format!("{SESSION_PREFIX}{session}");
        if self.db.get(key.as_bytes())?.is_some() {
            return Ok(false);
        }
        self.db.put_opt(key.as_bytes(), b"", &Self::synced())?;
        Ok(true)
    }

    fn presignature_aad(&self, wallet_id: &str, id: &str, signers: &[String]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = vec![
            self.node_id.as_bytes(),
            wallet_id.as_bytes(),
            b"presignature",
            id.as_bytes(),
        ];
        parts.extend(signers.iter().map(|signer| signer.as_bytes()));
        transcript::binding(&parts)
    }

    fn presignature_key(wallet_id: &str, id: &str) -> String {
        format!("{PRESIGNATURE_PREFIX}{wallet_id}/{id}")
    }

    fn presignature_record(key: &str, bytes: &[u8]) -> Result<PresignatureRecord, StoreError> {
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
            key: key.to_owned(),
            reason: error.to_string(),
        })
    }

    fn put_presignature_record(
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

    fn presignature_lock(&self, key: &str) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::key_provider::FileKeyProvider;

    fn temp_store(label: &str) -> (std::path::PathBuf, NodeStore) {
        let dir = std::env::temp_dir().join(format!(
            "thresig-store-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let provider = FileKeyProvider::create(&dir.join("root.key"), b"test passphrase").unwrap();
        let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
        (dir, store)
    }

    fn record(wallet_id: &str) -> WalletRecord {
        WalletRecord {
            wallet_id: wallet_id.into(),
            scheme: "frost-ed25519".into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into()],
            public_key_package: "00".into(),
            created_at: 1,
            confirmed: true,
        }
    }

    /// A client request for a DKG, its id unique to `label`.
    fn dkg_request(label: &str) -> RequestClaim<'_> {
        RequestClaim {
            client: "c1",
            request_id: label,
            scope: "dkg",
            expires_at: u64::MAX,
        }
    }

    /// Claims the record's id for session `s-<id>` and stores it.
    fn put(store: &NodeStore, record: &WalletRecord, share: &[u8]) {
        let session = format!("s-{}", record.wallet_id);
        assert_eq!(
            store
                .claim_wallet(
                    &record.wallet_id,
                    &session,
                    &dkg_request(&record.wallet_id),
                    false
                )
                .unwrap(),
            WalletClaim::Claimed
        );
        store.put_wallet(record, share, &session).unwrap();
    }

    #[test]
    fn the_wallet_count_follows_confirmations_and_survives_a_reopen() {
        let (dir, store) = temp_store("count");
        let pending = WalletRecord {
            confirmed: false,
            ..record("w-pending")
        };
        put(&store, &pending, b"share");
        put(&store, &record("w-done"), b"share");
        assert_eq!(store.wallet_count(), 1, "only confirmed wallets count");
        store
            .confirm_wallet("w-pending", "s-w-pending", "00")
            .unwrap()
            .unwrap();
        store
            .confirm_wallet("w-pending", "s-w-pending", "00")
            .unwrap()
            .unwrap();
        assert_eq!(
            store.wallet_count(),
            2,
            "a second confirmation adds nothing"
        );
        drop(store);
        let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
        let reopened = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
        assert_eq!(reopened.wallet_count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_share_altered_or_moved_to_another_wallet_fails_to_decrypt_with_an_error() {
        let (dir, store) = temp_store("moved");
        put(&store, &record("w-a"), b"share of wallet a");
        put(&store, &record("w-b"), b"share of wallet b");
        assert_eq!(
            store.key_package("w-a").unwrap().unwrap().as_slice(),
            b"share of wallet a"
        );
        let sealed_a = store.raw("share/w-a").unwrap().unwrap();
        assert!(
            !sealed_a
                .windows(b"share of wallet a".len())
                .any(|window| window == b"share of wallet a"),
            "the share is stored in the clear"
        );

        // Wallet a's sealed share copied under wallet b's key.
        store.put_raw("share/w-b", &sealed_a).unwrap();
        let error = store.key_package("w-b").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("record share/w-b: sealed record does not authenticate"),
            "{error}"
        );

        // One byte of wallet a's record flipped.
        let mut altered = sealed_a.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        store.put_raw("share/w-a", &altered).unwrap();
        let error = store.key_package("w-a").unwrap_err();
        assert!(
            error.to_string().contains("does not authenticate"),
            "{error}"
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn request_ids_and_abandoned_nonces_are_forgotten_after_their_request_expires() {
        let (dir, store) = temp_store("claims");
        let claim = |client, scope, expires_at| RequestClaim {
            client,
            request_id: "r-1",
            scope,
            expires_at,
        };
        // Expiry times ahead of the clock: a claim is only written while its request is valid.
        let t = crate::cluster::client_auth::now_secs() + 1000;
        assert!(store.claim_request(&claim("c1", "dkg", t + 100)).unwrap());
        assert!(!store.claim_request(&claim("c1", "dkg", t + 100)).unwrap());
        assert!(store.claim_request(&claim("c1", "msg-2", t + 100)).unwrap());
        assert!(store.claim_request(&claim("c2", "dkg", t + 200)).unwrap());
        assert_eq!(store.prune_requests(t + 150).unwrap(), 2);
        assert!(!store.claim_request(&claim("c2", "dkg", t + 200)).unwrap());
        assert!(store.claim_request(&claim("c1", "dkg", t + 300)).unwrap());

        // Nonces go in with their claim, or not at all.
        let pending = PendingSignature {
            wallet_id: "w-1".into(),
            message: "01".into(),
            tweak: "none".into(),
            commitments: "02".into(),
            client: Some("c3".into()),
            request_id: Some("r-1".into()),
        };
        let sign = claim("c3", "sign-01", t + 400);
        assert!(store.put_nonces("s-1", &pending, b"nonces", &sign).unwrap());
        assert!(!store.put_nonces("s-2", &pending, b"nonces", &sign).unwrap());
        assert_eq!(store.peek_nonces("s-1").unwrap(), Some(pending.clone()));
        assert_eq!(store.peek_nonces("s-2").unwrap(), None);

        // Abandoned sessions' nonces go once their request has expired, the others stay.
        let later = claim("c3", "sign-02", t + 500);
        assert!(
            store
                .put_nonces("s-3", &pending, b"nonces", &later)
                .unwrap()
        );
        assert_eq!(store.prune_nonces(t + 400).unwrap(), 0);
        assert_eq!(store.prune_nonces(t + 401).unwrap(), 1);
        assert_eq!(store.peek_nonces("s-1").unwrap(), None);
        assert!(store.consume_nonces("s-1").unwrap().is_none());
        assert_eq!(store.peek_nonces("s-3").unwrap(), Some(pending));
        assert_eq!(store.prune_nonces(t + 501).unwrap(), 1);
        assert!(store.consume_nonces("s-3").unwrap().is_none());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_request_id_is_never_claimed_after_it_could_have_been_forgotten() {
        let (dir, store) = temp_store("expiry-edge");
        let now = crate::cluster::client_auth::now_secs();
        let claim = |request_id, expires_at| RequestClaim {
            client: "c1",
            request_id,
            scope: "dkg",
            expires_at,
        };
        // Expiring this very second: pruning at `now` may forget it, so it is not claimed.
        assert!(matches!(
            store.claim_request(&claim("r-now", now)),
            Err(StoreError::Expired { expires_at, .. }) if expires_at == now
        ));
        assert!(matches!(
            store.claim_request(&claim("r-past", now - 5)),
            Err(StoreError::Expired { .. })
        ));
        // Claimed while valid; pruning at any second before its expiry keeps it, so a replay
        // until then is a replay, and from its expiry on it is refused as expired.
        assert!(store.claim_request(&claim("r-1", now + 30)).unwrap());
        assert_eq!(store.prune_requests(now + 29).unwrap(), 0);
        assert!(!store.claim_request(&claim("r-1", now + 30)).unwrap());
        assert_eq!(store.prune_requests(now + 30).unwrap(), 1);
        // Pruned as of now + 30 while the clock says now (it was stepped back): a request that
        // expires by then was forgotten, or could have been, so it is not claimed.
        assert!(matches!(
            store.claim_request(&claim("r-1", now + 30)),
            Err(StoreError::Expired { .. })
        ));
        assert!(store.claim_request(&claim("r-2", now + 31)).unwrap());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_sealed_under_the_node_wide_key_are_resealed_per_wallet_at_start() {
        let (dir, store) = temp_store("sealing-v2");
        let legacy =
            |aad: &[u8], plain: &[u8]| sealing::seal(&store.storage_key, aad, plain).unwrap();
        // Records as an earlier version wrote them: sealed under the storage key itself.
        let share = legacy(&store.aad("w-2", "key-package"), b"share of w-2");
        store.db.put(b"share/w-2", &share).unwrap();
        store
            .db
            .put(
                b"secret/primes",
                legacy(&store.aad("node", "primes"), b"p and q"),
            )
            .unwrap();
        let nonce_aad = store.nonce_aad("s-1", "w-2", "01", "none", "02");
        let nonce = NonceRecord {
            wallet_id: "w-2".into(),
            message: "01".into(),
            tweak: "none".into(),
            commitments: "02".into(),
            sealed_nonces: hex::encode(legacy(&nonce_aad, b"nonces")),
            client: None,
            request_id: None,
            expires_at: None,
        };
        store
            .db
            .put(b"nonce/s-1", serde_json::to_vec(&nonce).unwrap())
            .unwrap();
        let signers = vec!["node-1".to_owned(), "node-2".to_owned()];
        let presignature = PresignatureRecord {
            signers: signers.clone(),
            created_at: 1,
            sealed: hex::encode(legacy(
                &store.presignature_aad("w-2", "p-1", &signers),
                b"presignature",
            )),
            point: String::new(),
            complete: true,
        };
        store
            .db
            .put(
                b"presignature/w-2/p-1",
                serde_json::to_vec(&presignature).unwrap(),
            )
            .unwrap();
        // And records that no longer open: they must not keep the node from starting.
        store
            .db
            .put(b"share/w-rotten", b"not a sealed record at all")
            .unwrap();
        store.db.put(b"nonce/s-rotten", b"{}").unwrap();
        store.db.delete(SEALING_V2_KEY.as_bytes()).unwrap();
        let storage_key = store.storage_key.clone();
        drop(store);

        let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
        let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
        assert_eq!(
            store.key_package("w-2").unwrap().unwrap().as_slice(),
            b"share of w-2"
        );
        assert_eq!(store.raw("share/w-rotten").unwrap(), None);
        assert_eq!(
            store.raw("quarantine/share/w-rotten").unwrap().as_deref(),
            Some(b"not a sealed record at all".as_slice())
        );
        assert_eq!(store.raw("nonce/s-rotten").unwrap(), None);
        let resealed = store.raw("share/w-2").unwrap().unwrap();
        assert_ne!(resealed, share);
        let aad = store.aad("w-2", "key-package");
        assert!(sealing::open(&storage_key, &aad, &resealed, "node").is_err());
        // Each wallet has its own key: another wallet's key does not open it.
        assert!(sealing::open(&store.wallet_key("w-1"), &aad, &resealed, "node").is_err());
        assert!(sealing::open(&store.wallet_key("w-2"), &aad, &resealed, "node").is_ok());
        assert_eq!(
            store.secret("primes").unwrap().unwrap().as_slice(),
            b"p and q"
        );
        assert_eq!(
            store
                .consume_nonces("s-1")
                .unwrap()
                .unwrap()
                .nonces
                .as_slice(),
            b"nonces"
        );
        let claim = RequestClaim {
            client: "c1",
            request_id: "r-1",
            scope: "sign-01",
            expires_at: crate::cluster::client_auth::now_secs() + 60,
        };
        match store.take_presignature("w-2", "p-1", &claim).unwrap() {
            PresignatureTake::Taken { presignature, .. } => {
                assert_eq!(presignature.as_slice(), b"presignature")
            }
            _ => panic!("the presignature did not survive the re-sealing"),
        }
        // Once is enough: a second start finds the marker and changes nothing.
        let wallet_share = store.raw("share/w-2").unwrap();
        drop(store);
        let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
        assert_eq!(store.raw("share/w-2").unwrap(), wallet_share);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_wallet_id_is_claimed_once_and_a_stored_wallet_is_never_overwritten() {
        let (dir, store) = temp_store("claim-once");
        let pending = WalletRecord {
            confirmed: false,
            ..record("w-1")
        };
        let claim = |session, request| {
            store
                .claim_wallet("w-1", session, &dkg_request(request), false)
                .unwrap()
        };
        assert_eq!(claim("s-a", "r-a"), WalletClaim::Claimed);
        // A second session under the same id, even with a fresh request, is refused; the
        // request stays unused.
        assert_eq!(claim("s-b", "r-b"), WalletClaim::Taken);
        assert!(store.claim_request(&dkg_request("r-b")).unwrap());
        // The same request again is a replay, whatever the id.
        assert_eq!(
            store
                .claim_wallet("w-2", "s-c", &dkg_request("r-a"), false)
                .unwrap(),
            WalletClaim::Replayed
        );
        assert_eq!(store.wallet_claim("w-2").unwrap(), None);

        // Only the claiming session stores the wallet, once.
        let refused = store.put_wallet(&pending, b"b's share", "s-b").unwrap_err();
        assert!(
            refused.to_string().contains("claimed by another session"),
            "{refused}"
        );
        store.put_wallet(&pending, b"a's share", "s-a").unwrap();
        let again = store
            .put_wallet(&pending, b"a's other share", "s-a")
            .unwrap_err();
        assert!(again.to_string().contains("never replaced"), "{again}");
        assert_eq!(
            store.key_package("w-1").unwrap().unwrap().as_slice(),
            b"a's share"
        );

        // Confirmation needs the claiming session and the key it produced.
        let wrong_session = store.confirm_wallet("w-1", "s-b", "00").unwrap_err();
        assert!(
            wrong_session.to_string().contains("another session"),
            "{wrong_session}"
        );
        let wrong_key = store.confirm_wallet("w-1", "s-a", "01").unwrap_err();
        assert!(
            wrong_key
                .to_string()
                .contains("not the one session s-a produced"),
            "{wrong_key}"
        );
        assert_eq!(store.wallet("w-1").unwrap(), None, "still pending");
        let confirmed = store.confirm_wallet("w-1", "s-a", "00").unwrap().unwrap();
        assert!(confirmed.confirmed);

        // Confirmed, the wallet is not replaced, not by its own session either, and the id is
        // never claimed again.
        let refused = store.put_wallet(&pending, b"overwrite", "s-a").unwrap_err();
        assert!(refused.to_string().contains("never replaced"), "{refused}");
        assert_eq!(claim("s-d", "r-d"), WalletClaim::Taken);
        assert_eq!(store.wallet("w-1").unwrap(), Some(confirmed));
        assert_eq!(
            store.key_package("w-1").unwrap().unwrap().as_slice(),
            b"a's share"
        );

        // An id with a record but no claim (written before claims existed) is not claimable.
        store
            .put_raw(
                "wallet/w-old",
                &serde_json::to_vec(&record("w-old")).unwrap(),
            )
            .unwrap();
        assert_eq!(
            store
                .claim_wallet("w-old", "s-e", &dkg_request("r-e"), false)
                .unwrap(),
            WalletClaim::Taken
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abandoned_claim_survives_a_reopen_and_a_keygen_claims_its_session_with_the_id() {
        let (dir, store) = temp_store("claim-abandoned");
        assert_eq!(
            store
                .claim_wallet("w-1", "s-1", &dkg_request("r-1"), true)
                .unwrap(),
            WalletClaim::Claimed
        );
        // The session id went in with the claim.
        assert!(!store.claim_session("s-1").unwrap());
        assert_eq!(
            store
                .claim_wallet("w-2", "s-1", &dkg_request("r-2"), true)
                .unwrap(),
            WalletClaim::SessionUsed
        );
        assert_eq!(store.wallet_claim("w-2").unwrap(), None);
        drop(store);
        let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
        let reopened = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
        // The session never stored a wallet: the id stays taken, and nothing lists it.
        assert_eq!(
            reopened.wallet_claim("w-1").unwrap().as_deref(),
            Some("s-1")
        );
        assert_eq!(
            reopened
                .claim_wallet("w-1", "s-9", &dkg_request("r-9"), false)
                .unwrap(),
            WalletClaim::Taken
        );
        assert_eq!(reopened.wallets(None, 10).unwrap(), Vec::new());
        assert_eq!(reopened.wallet_count(), 0);
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_presignature_is_pending_until_confirmed_and_a_stale_pending_one_is_pruned() {
        let (dir, store) = temp_store("presign");
        let signers: Vec<String> = vec!["node-1".into(), "node-2".into()];
        store
            .put_presignature("w", "old", &signers, b"secret", &[2; 33], 100)
            .unwrap();
        store
            .put_presignature("w", "new", &signers, b"secret", &[3; 33], 200)
            .unwrap();
        let held = store.presignatures("w").unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|held| !held.complete));
        // In id order.
        assert_eq!((held[0].id.as_str(), held[1].id.as_str()), ("new", "old"));
        assert_eq!(held[0].point, vec![3; 33]);
        let claim = RequestClaim {
            client: "c",
            request_id: "r-1",
            scope: "sign",
            expires_at: u64::MAX,
        };
        // A pending one is not handed out for signing, and the request is not used up.
        assert!(matches!(
            store.take_presignature("w", "new", &claim).unwrap(),
            PresignatureTake::Unconfirmed
        ));
        assert!(store.confirm_presignature("w", "new").unwrap());
        assert!(!store.confirm_presignature("w", "missing").unwrap());
        // Only pending ones made before the cut-off go.
        assert_eq!(store.prune_pending_presignatures("w", 300).unwrap(), 1);
        let held = store.presignatures("w").unwrap();
        assert_eq!(held.len(), 1);
        assert!(held[0].id == "new" && held[0].complete);
        assert!(matches!(
            store.take_presignature("w", "new", &claim).unwrap(),
            PresignatureTake::Taken { .. }
        ));
        assert!(store.presignatures("w").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_orphaned_presignature_is_discarded_and_earlier_records_count_as_complete() {
        let (dir, store) = temp_store("orphan");
        let signers: Vec<String> = vec!["node-1".into(), "node-2".into()];
        store
            .put_presignature("w", "p", &signers, b"secret", &[2; 33], 100)
            .unwrap();
        store.confirm_presignature("w", "p").unwrap();
        assert!(store.discard_presignature("w", "p").unwrap());
        assert!(!store.discard_presignature("w", "p").unwrap());
        assert!(store.presignatures("w").unwrap().is_empty());
        // A record written before presignatures were confirmed.
        store
            .put_raw(
                "presignature/w/legacy",
                br#"{"signers":["node-1","node-2"],"created_at":1,"sealed":"00"}"#,
            )
            .unwrap();
        let held = store.presignatures("w").unwrap();
        assert!(held.len() == 1 && held[0].complete && held[0].point.is_empty());
        assert_eq!(store.prune_pending_presignatures("w", u64::MAX).unwrap(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
