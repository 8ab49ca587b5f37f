//! A signer node's RocksDB store. Secret records (key packages, signing nonces) are sealed with
//! AES-256-GCM under a key from the node's key provider, bound to node, wallet or session, and
//! record kind; public records (wallet descriptions) are plain JSON.

use std::path::Path;

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
}

const WALLET_PREFIX: &str = "wallet/";
const SHARE_PREFIX: &str = "share/";
const NONCE_PREFIX: &str = "nonce/";

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
        Ok(Self {
            db,
            node_id: node_id.to_owned(),
            storage_key,
        })
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
        self.db.write_opt(batch, &Self::synced())?;
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
        record.confirmed = true;
        let key = format!("{WALLET_PREFIX}{wallet_id}");
        let json = serde_json::to_vec(&record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        self.db.put_opt(key.as_bytes(), json, &Self::synced())?;
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
    pub fn wallet_count(&self) -> Result<usize, StoreError> {
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
    /// durably, before the commitments leave the node.
    pub fn put_nonces(
        &self,
        session: &str,
        wallet_id: &str,
        message: &str,
        tweak: &str,
        commitments: &str,
        nonces: &[u8],
    ) -> Result<(), StoreError> {
        let key = format!("{NONCE_PREFIX}{session}");
        let aad = self.nonce_aad(session, wallet_id, message, tweak, commitments);
        let sealed =
            sealing::seal(&self.storage_key, &aad, nonces).map_err(|source| StoreError::Seal {
                key: key.clone(),
                source,
            })?;
        let record = NonceRecord {
            wallet_id: wallet_id.to_owned(),
            message: message.to_owned(),
            tweak: tweak.to_owned(),
            commitments: commitments.to_owned(),
            sealed_nonces: hex::encode(sealed),
        };
        let json = serde_json::to_vec(&record).map_err(|error| StoreError::Corrupt {
            key: key.clone(),
            reason: error.to_string(),
        })?;
        self.db.put_opt(key.as_bytes(), json, &Self::synced())?;
        Ok(())
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
    pub fn peek_nonces(
        &self,
        session: &str,
    ) -> Result<Option<(String, String, String, String)>, StoreError> {
        let key = format!("{NONCE_PREFIX}{session}");
        let Some(bytes) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        let record: NonceRecord =
            serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                key,
                reason: error.to_string(),
            })?;
        Ok(Some((
            record.wallet_id,
            record.message,
            record.tweak,
            record.commitments,
        )))
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
