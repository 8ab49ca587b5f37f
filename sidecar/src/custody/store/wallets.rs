//! Wallet records and their key shares: stored pending by the session that claimed the id,
//! confirmed with the key it produced, never overwritten; and the index of derived wallets.

use std::sync::atomic::Ordering;

use rocksdb::{Direction, IteratorMode, WriteBatch};
use zeroize::Zeroizing;

use super::{DERIVED_PREFIX, NodeStore, SHARE_PREFIX, StoreError, WALLET_PREFIX};
use crate::custody::sealing;
use crate::model::wallet::WalletRecord;

impl NodeStore {
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
    pub(super) fn count_confirmed_wallets(&self) -> Result<usize, StoreError> {
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
}
