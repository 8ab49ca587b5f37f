//! A signer node's RocksDB store. Secret records (key packages, signing nonces) are sealed with
//! AES-256-GCM under a key from the node's key provider, bound to node, wallet or session, and
//! record kind; public records (wallet descriptions) are plain JSON.

use std::path::Path;
use std::sync::atomic::Ordering;

use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::keyprovider::{KeyProvider, KeyProviderError, SecretKey};
use crate::sealing::{self, SealError};

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
    /// A public record is not valid JSON of its type.
    #[error("record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// A wallet as every node that holds a share of it describes it (public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletRecord {
    /// The wallet id.
    pub wallet_id: String,
    /// The scheme name.
    pub scheme: String,
    /// Signatures need this many shares.
    pub threshold: u16,
    /// The node ids holding shares, in FROST index order.
    pub parties: Vec<String>,
    /// The group's public key package (FROST serialization), hex.
    pub public_key_package: String,
    /// Seconds since the Unix epoch when the DKG completed.
    pub created_at: u64,
    /// Every party confirmed the same group key; only confirmed wallets exist for the API.
    #[serde(default)]
    pub confirmed: bool,
}

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
}

const WALLET_PREFIX: &str = "wallet/";
const SHARE_PREFIX: &str = "share/";
const NONCE_PREFIX: &str = "nonce/";
const REQUEST_PREFIX: &str = "request/";
const DERIVED_PREFIX: &str = "derived/";
const SECRET_PREFIX: &str = "secret/";
const PRESIGNATURE_PREFIX: &str = "presignature/";
const SESSION_PREFIX: &str = "session/";

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
        let store = Self {
            db,
            node_id: node_id.to_owned(),
            storage_key,
            claims: std::sync::Mutex::new(()),
            presignatures: std::sync::Mutex::new(()),
            confirmed_wallets: std::sync::atomic::AtomicUsize::new(0),
        };
        let count = store.count_confirmed_wallets()?;
        store.confirmed_wallets.store(count, Ordering::Relaxed);
        Ok(store)
    }

    fn synced() -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        options
    }

    fn aad(&self, place: &str, kind: &str) -> Vec<u8> {
        sealing::binding(&[self.node_id.as_bytes(), place.as_bytes(), kind.as_bytes()])
    }

    /// Stores a new wallet's description and this node's key package, durably, in one write.
    pub fn put_wallet(&self, record: &WalletRecord, key_package: &[u8]) -> Result<(), StoreError> {
        let key = format!("{WALLET_PREFIX}{}", record.wallet_id);
        let json = serde_json::to_vec(record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        let sealed = sealing::seal(
            &self.storage_key,
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
        let was_confirmed = self
            .any_wallet(&record.wallet_id)?
            .is_some_and(|old| old.confirmed);
        self.db.write_opt(batch, &Self::synced())?;
        match (was_confirmed, record.confirmed) {
            (false, true) => self.confirmed_wallets.fetch_add(1, Ordering::Relaxed),
            (true, false) => self.confirmed_wallets.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
        Ok(())
    }

    /// The wallet's description, if this node holds it and the DKG was confirmed.
    pub fn wallet(&self, wallet_id: &str) -> Result<Option<WalletRecord>, StoreError> {
        Ok(self
            .any_wallet(wallet_id)?
            .filter(|record| record.confirmed))
    }

    /// Marks a wallet confirmed (every party derived the same group key) and returns it as
    /// stored; `None` if this node has no such wallet.
    pub fn confirm_wallet(&self, wallet_id: &str) -> Result<Option<WalletRecord>, StoreError> {
        let Some(mut record) = self.any_wallet(wallet_id)? else {
            return Ok(None);
        };
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
            &self.storage_key,
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
        let sealed =
            sealing::seal(&self.storage_key, &aad, nonces).map_err(|source| StoreError::Seal {
                key: key.clone(),
                source,
            })?;
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
        sealing::binding(&[
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
        let nonces = sealing::open(&self.storage_key, &aad, &sealed, "session or wallet")
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
    /// expires.
    pub fn claim_request(&self, claim: &RequestClaim<'_>) -> Result<bool, StoreError> {
        self.write_claimed(WriteBatch::default(), claim)
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
        let key = format!(
            "{REQUEST_PREFIX}{}/{}/{}",
            claim.client, claim.request_id, claim.scope
        );
        if self.db.get(key.as_bytes())?.is_some() {
            return Ok(false);
        }
        batch.put(key.as_bytes(), claim.expires_at.to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(true)
    }

    /// Forgets used request ids whose requests expired before `now`: they are refused as
    /// expired from then on.
    pub fn prune_requests(&self, now: u64) -> Result<usize, StoreError> {
        self.prune(REQUEST_PREFIX, |value| {
            <[u8; 8]>::try_from(value).map_or(0, u64::from_be_bytes) < now
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
        let sealed = sealing::seal(&self.storage_key, &self.aad("node", name), secret).map_err(
            |source| StoreError::Seal {
                key: key.clone(),
                source,
            },
        )?;
        self.db.put_opt(key.as_bytes(), sealed, &Self::synced())?;
        Ok(())
    }

    /// A node-wide secret stored with [`NodeStore::put_secret`].
    pub fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = format!("{SECRET_PREFIX}{name}");
        let Some(sealed) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        sealing::open(&self.storage_key, &self.aad("node", name), &sealed, "node")
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
        sealing::binding(&parts)
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
            &self.storage_key,
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
            &self.storage_key,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyprovider::FileKeyProvider;

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

    #[test]
    fn the_wallet_count_follows_confirmations_and_survives_a_reopen() {
        let (dir, store) = temp_store("count");
        let pending = WalletRecord {
            confirmed: false,
            ..record("w-pending")
        };
        store.put_wallet(&pending, b"share").unwrap();
        store.put_wallet(&record("w-done"), b"share").unwrap();
        assert_eq!(store.wallet_count(), 1, "only confirmed wallets count");
        store.confirm_wallet("w-pending").unwrap().unwrap();
        store.confirm_wallet("w-pending").unwrap().unwrap();
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
        store
            .put_wallet(&record("w-a"), b"share of wallet a")
            .unwrap();
        store
            .put_wallet(&record("w-b"), b"share of wallet b")
            .unwrap();
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
        assert!(store.claim_request(&claim("c1", "dkg", 100)).unwrap());
        assert!(!store.claim_request(&claim("c1", "dkg", 100)).unwrap());
        assert!(store.claim_request(&claim("c1", "msg-2", 100)).unwrap());
        assert!(store.claim_request(&claim("c2", "dkg", 200)).unwrap());
        assert_eq!(store.prune_requests(150).unwrap(), 2);
        assert!(!store.claim_request(&claim("c2", "dkg", 200)).unwrap());
        assert!(store.claim_request(&claim("c1", "dkg", 300)).unwrap());

        // Nonces go in with their claim, or not at all.
        let pending = PendingSignature {
            wallet_id: "w-1".into(),
            message: "01".into(),
            tweak: "none".into(),
            commitments: "02".into(),
            client: Some("c3".into()),
            request_id: Some("r-1".into()),
        };
        let sign = claim("c3", "sign-01", 400);
        assert!(store.put_nonces("s-1", &pending, b"nonces", &sign).unwrap());
        assert!(!store.put_nonces("s-2", &pending, b"nonces", &sign).unwrap());
        assert_eq!(store.peek_nonces("s-1").unwrap(), Some(pending.clone()));
        assert_eq!(store.peek_nonces("s-2").unwrap(), None);

        // Abandoned sessions' nonces go once their request has expired, the others stay.
        let later = claim("c3", "sign-02", 500);
        assert!(
            store
                .put_nonces("s-3", &pending, b"nonces", &later)
                .unwrap()
        );
        assert_eq!(store.prune_nonces(400).unwrap(), 0);
        assert_eq!(store.prune_nonces(401).unwrap(), 1);
        assert_eq!(store.peek_nonces("s-1").unwrap(), None);
        assert!(store.consume_nonces("s-1").unwrap().is_none());
        assert_eq!(store.peek_nonces("s-3").unwrap(), Some(pending));
        assert_eq!(store.prune_nonces(501).unwrap(), 1);
        assert!(store.consume_nonces("s-3").unwrap().is_none());
        drop(store);
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
