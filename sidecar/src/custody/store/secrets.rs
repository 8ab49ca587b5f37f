//! Node-wide secrets (CGGMP21 primes and aux info), sealed under their own keys.

use zeroize::Zeroizing;

use super::{NodeStore, SECRET_PREFIX, StoreError};
use crate::custody::sealing;

impl NodeStore {
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
}
