//! A node's one table of protocol runs in progress (FROST DKGs, CGGMP21 runs, keygens and
//! presignatures awaiting confirmation). A CGGMP21 run is a thread computing Paillier
//! arithmetic and a DKG holds secret state, so the table caps how many one peer (a
//! coordinator's client certificate, so that coordinators sharing a role do not share a cap)
//! may have open at once, and forgets runs that expired or that their coordinator abandoned.
//! FROST signing sessions are not kept here: their nonces are durable in the store, so a
//! signing run survives a restart between its two rounds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One run: who opened it, what it runs, when, and its state (`None` while it is being set up).
pub struct SessionEntry<P, K, S> {
    /// The peer that opened the run.
    pub peer: P,
    /// What it runs (readable while the run is being computed).
    pub kind: K,
    /// When it was opened.
    pub started: Instant,
    /// The run, once set up.
    pub session: Option<Arc<tokio::sync::Mutex<S>>>,
}

/// Why a run could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// The peer has as many runs open as it may.
    #[error(
        "{open} runs opened by this coordinator are in progress here, the most one \
         coordinator may have at once; retry when one has ended"
    )]
    Busy {
        /// How many it has open.
        open: usize,
    },
    /// A run with this session id is in progress already.
    #[error("session {0} is already in progress here")]
    InProgress(String),
}

/// The runs in progress, by session id.
pub struct SessionTable<P, K, S> {
    entries: HashMap<String, SessionEntry<P, K, S>>,
    per_peer: usize,
    ttl: Duration,
}

impl<P: Copy + Eq, K, S> SessionTable<P, K, S> {
    /// A table that lets each peer have `per_peer` runs open, each for at most `ttl`.
    pub fn new(per_peer: usize, ttl: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            per_peer,
            ttl,
        }
    }

    /// Forgets runs that are not being computed now and either are older than the TTL or
    /// `abandoned` says their coordinator gave up on (dropping a run ends its thread).
    pub fn prune(&mut self, abandoned: impl Fn(&S) -> bool) {
        let ttl = self.ttl;
        self.entries.retain(|_, entry| match &entry.session {
            None => entry.started.elapsed() < ttl,
            Some(session) => session.try_lock().map_or(true, |session| {
                entry.started.elapsed() < ttl && !abandoned(&session)
            }),
        });
    }

    /// Holds a place for run `id` of `kind` opened by `peer`, after pruning, or says why not.
    /// The place is taken before the run's thread starts, so concurrent starts cannot exceed
    /// the cap.
    pub fn reserve(
        &mut self,
        id: &str,
        (peer, kind): (P, K),
        abandoned: impl Fn(&S) -> bool,
    ) -> Result<(), SessionRefusal> {
        self.prune(abandoned);
        if self.entries.contains_key(id) {
            return Err(SessionRefusal::InProgress(id.to_owned()));
        }
        let open = self
            .entries
            .values()
            .filter(|entry| entry.peer == peer)
            .count();
        if open >= self.per_peer {
            return Err(SessionRefusal::Busy { open });
        }
        self.entries.insert(
            id.to_owned(),
            SessionEntry {
                peer,
                kind,
                started: Instant::now(),
                session: None,
            },
        );
        Ok(())
    }

    /// Puts the set-up run into its reserved place.
    pub fn fill(&mut self, id: &str, session: Arc<tokio::sync::Mutex<S>>) {
        if let Some(entry) = self.entries.get_mut(id) {
            entry.session = Some(session);
        }
    }

    /// The run `id`, if it is set up and in progress.
    pub fn get(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<S>>> {
        self.entries.get(id).and_then(|entry| entry.session.clone())
    }

    /// Forgets run `id` (ended, failed, or its set-up was refused).
    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    /// Keeps the entries `keep` says to keep.
    pub fn retain(&mut self, mut keep: impl FnMut(&SessionEntry<P, K, S>) -> bool) {
        self.entries.retain(|_, entry| keep(entry));
    }

    /// How many runs are open.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no run is open.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_cannot_open_more_runs_than_its_cap_and_an_ended_run_frees_a_place() {
        let mut table: SessionTable<u8, (), bool> = SessionTable::new(3, Duration::from_secs(60));
        let never = |_: &bool| false;
        for id in ["a", "b", "c"] {
            table.reserve(id, (1, ()), never).unwrap();
        }
        assert_eq!(
            table.reserve("d", (1, ()), never),
            Err(SessionRefusal::Busy { open: 3 })
        );
        assert!(
            SessionRefusal::Busy { open: 3 }
                .to_string()
                .contains("the most one coordinator may have at once")
        );
        // Another peer has its own places; a session id is never open twice.
        table.reserve("d", (2, ()), never).unwrap();
        assert_eq!(
            table.reserve("a", (2, ()), never),
            Err(SessionRefusal::InProgress("a".into()))
        );
        table.remove("a");
        table.reserve("e", (1, ()), never).unwrap();
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn two_coordinators_of_one_role_have_a_cap_each() {
        use crate::cluster::pki::{CoordinatorRole, Role, coordinator_role, generate_ca, issue};
        use crate::node::PeerCert;
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let ca = generate_ca().unwrap();
        let [hostile, honest] = ["hostile", "honest"].map(|name| {
            let cert = issue(&ca, name, Role::Coordinator(CoordinatorRole::Signing)).unwrap();
            CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()
        });
        // Keyed by role, as before, both would share one cap.
        assert_eq!(coordinator_role(&hostile), coordinator_role(&honest));
        let (hostile, honest) = (PeerCert::of(&hostile), PeerCert::of(&honest));
        assert_ne!(hostile, honest);

        let mut table: SessionTable<PeerCert, (), bool> =
            SessionTable::new(16, Duration::from_secs(60));
        let never = |_: &bool| false;
        // The hostile one takes all its places first; the honest one still gets its own.
        for (name, peer) in [("hostile", hostile), ("honest", honest)] {
            for run in 0..16 {
                table
                    .reserve(&format!("{name}-{run}"), (peer, ()), never)
                    .unwrap();
            }
            assert_eq!(
                table.reserve(&format!("{name}-16"), (peer, ()), never),
                Err(SessionRefusal::Busy { open: 16 })
            );
        }
        assert_eq!(table.len(), 32);
    }

    #[test]
    fn expired_and_abandoned_runs_are_forgotten_but_not_one_being_computed() {
        let mut table: SessionTable<u8, (), bool> = SessionTable::new(2, Duration::from_secs(60));
        let abandoned = |session: &bool| *session;
        table.reserve("idle", (1, ()), abandoned).unwrap();
        table.fill("idle", Arc::new(tokio::sync::Mutex::new(true)));
        let busy = Arc::new(tokio::sync::Mutex::new(true));
        table.reserve("busy", (1, ()), abandoned).unwrap();
        table.fill("busy", Arc::clone(&busy));
        let computing = busy.try_lock().unwrap();
        // The abandoned run is dropped; the one being computed stays though it counts as
        // abandoned; so one place is free.
        table.reserve("new", (1, ()), abandoned).unwrap();
        assert!(table.get("idle").is_none());
        assert!(table.get("busy").is_some());
        drop(computing);

        let mut short: SessionTable<u8, (), bool> = SessionTable::new(1, Duration::ZERO);
        short.reserve("old", (1, ()), abandoned).unwrap();
        short.reserve("next", (1, ()), abandoned).unwrap();
        assert!(short.get("old").is_none() && short.len() == 1);
    }
}
