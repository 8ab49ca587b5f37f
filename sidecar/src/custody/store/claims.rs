//! Claims that make things happen once: wallet ids (one session ever), client request ids
//! (one use each, remembered until they expire) and session ids.

use std::sync::atomic::Ordering;

use rocksdb::{DB, WriteBatch};

use super::{
    NodeStore, PRUNED_UNTIL_KEY, REQUEST_PREFIX, SESSION_PREFIX, StoreError, WALLET_CLAIM_PREFIX,
    WALLET_PREFIX,
};

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

impl NodeStore {
    /// Checked again under the claims lock, which pruning holds too: a request is claimed only
    /// while unexpired (expires_at > now) and pruned only once expired (expires_at <= now), so
    /// its id can never be forgotten and then claimed again. Time is the later of the clock and
    /// the latest pruning, so a clock stepped back cannot make a forgotten id claimable again.
    pub(super) fn unexpired(&self, claim: &RequestClaim<'_>) -> Result<(), StoreError> {
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
    pub(super) fn stored_pruned_until(db: &DB) -> Result<u64, StoreError> {
        Ok(db
            .get(PRUNED_UNTIL_KEY.as_bytes())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Serialises wallet claims with request claims: a check and its write see one store.
    pub(super) fn wallet_claims(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
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
    pub(super) fn check_claim(&self, wallet_id: &str, session: &str) -> Result<(), StoreError> {
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

    pub(super) fn request_key(claim: &RequestClaim<'_>) -> String {
        format!(
            "{REQUEST_PREFIX}{}/{}/{}",
            claim.client, claim.request_id, claim.scope
        )
    }

    /// Writes `batch` together with the claim, in one synced write, unless the claim was used
    /// before (then nothing is written and the answer is `false`).
    pub(super) fn write_claimed(
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
}
