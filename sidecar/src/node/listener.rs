//! The node's accept loop: mutual TLS, bounded so that unauthenticated peers cannot take the
//! node down.
//!
//! Anyone who reaches the node's port can open TCP connections; only holders of a certificate
//! of the cluster CA can finish the handshake. So the loop keeps at most [`MAX_HANDSHAKES`]
//! connections in their handshake, each for at most [`HANDSHAKE_TIMEOUT`], and when a new
//! connection arrives with every handshake slot taken, the oldest unfinished handshake is
//! dropped for it. A flood of idle or garbage connections (all from the same address as the
//! coordinator, on a devnet) therefore only ever holds the slots of the latest arrivals, while a
//! coordinator, whose handshake takes milliseconds, finishes long before [`MAX_HANDSHAKES`]
//! newer connections push it out. Authenticated connections are capped separately
//! ([`MAX_CONNECTIONS`]), so the node's file descriptors stay bounded by the sum; an accept
//! error such as "too many open files" backs off instead of spinning (docs/sidecar.md).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;

use super::{HEADER_READ_TIMEOUT, PeerRole};

/// Connections in their TLS handshake at once; a new one beyond this drops the oldest.
pub const MAX_HANDSHAKES: usize = 128;
/// How long a connection may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Authenticated (handshake finished) connections at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 512;
/// How long the loop pauses after an accept error such as "too many open files".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// A burst of refusals or evictions is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts events and says when one should be logged: the first of a burst, then at most once
/// per [`LOG_EVERY`], with how many happened meanwhile.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Records an event; `Some(count)` (events since the last log) when it should be logged.
    fn event(&mut self) -> Option<u64> {
        self.unlogged += 1;
        if self.last.is_some_and(|last| last.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// The connections in their handshake, oldest first, each with the sender whose drop cancels it.
#[derive(Default)]
struct Handshakes {
    next: u64,
    pending: BTreeMap<u64, oneshot::Sender<()>>,
    evictions: Throttle,
}

/// A handshake slot; leaving it (handshake done, failed or timed out) frees it.
struct Slot {
    id: u64,
    table: Arc<Mutex<Handshakes>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).pending.remove(&self.id);
    }
}

fn lock(table: &Mutex<Handshakes>) -> std::sync::MutexGuard<'_, Handshakes> {
    // The table holds no invariant a panic elsewhere could break.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a handshake slot, dropping the oldest pending handshake when all are taken; the
/// receiver completes when this one is dropped in turn.
fn admit(table: &Arc<Mutex<Handshakes>>) -> (Slot, oneshot::Receiver<()>) {
    let (cancel, cancelled) = oneshot::channel();
    let mut handshakes = lock(table);
    if handshakes.pending.len() >= MAX_HANDSHAKES {
        // Dropping the sender wakes the oldest handshake, which then gives up.
        drop(handshakes.pending.pop_first());
        if let Some(count) = handshakes.evictions.event() {
            tracing::warn!(
                dropped = count,
                limit = MAX_HANDSHAKES,
                "every TLS handshake slot is taken: dropping the oldest unauthenticated connections"
            );
        }
    }
    let id = handshakes.next;
    handshakes.next += 1;
    handshakes.pending.insert(id, cancel);
    drop(handshakes);
    (
        Slot {
            id,
            table: Arc::clone(table),
        },
        cancelled,
    )
}

/// Accept errors that concern one connection only (the loop goes on at once).
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

/// Serves `router` on `listener` over TLS until `shutdown` completes.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let handshakes = Arc::new(Mutex::new(Handshakes::default()));
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let refusals = Arc::new(Mutex::new(Throttle::default()));
    let mut failing = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("accepting connections again");
                }
                accepted
            }
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // EMFILE, ENFILE, ENOBUFS...: retrying at once would only spin.
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(%error, "accepting a connection failed; backing off");
                }
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    () = &mut shutdown => return,
                }
            }
        };
        let (slot, cancelled) = admit(&handshakes);
        tokio::spawn(serve_connection(
            stream,
            peer,
            (slot, cancelled),
            acceptor.clone(),
            router.clone(),
            Arc::clone(&connections),
            Arc::clone(&refusals),
        ));
    }
}

/// Finishes the handshake of one connection within its slot, then serves it if a connection
/// permit is free.
async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    (slot, cancelled): (Slot, oneshot::Receiver<()>),
    acceptor: TlsAcceptor,
    router: Router,
    connections: Arc<Semaphore>,
    refusals: Arc<Mutex<Throttle>>,
) {
    // Answers are small and written in more than one TLS record; without this, Nagle's
    // algorithm holds the last record back until the client acknowledges the first.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "TCP_NODELAY not set");
    }
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake refused");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = cancelled => {
            tracing::debug!(%peer, "TLS handshake dropped for a newer connection");
            return;
        }
    };
    drop(slot);
    let Ok(_permit) = connections.try_acquire_owned() else {
        let count = refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .event();
        if let Some(count) = count {
            tracing::warn!(
                refused = count,
                limit = MAX_CONNECTIONS,
                "too many authenticated connections: closing new ones"
            );
        }
        return;
    };
    // The client certificate was verified against the cluster CA in the handshake; its role
    // decides what this connection may ask for.
    let role = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| crate::pki::coordinator_role(leaf));
    let service = TowerToHyperService::new(router.layer(Extension(PeerRole(role))));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service);
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "connection closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_drops_its_oldest_handshake_for_a_new_one() {
        let table = Arc::new(Mutex::new(Handshakes::default()));
        let mut slots: Vec<_> = (0..MAX_HANDSHAKES).map(|_| admit(&table)).collect();
        assert_eq!(lock(&table).pending.len(), MAX_HANDSHAKES);
        for (_, cancelled) in &mut slots {
            assert!(matches!(
                cancelled.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ));
        }
        let newest = admit(&table);
        assert_eq!(lock(&table).pending.len(), MAX_HANDSHAKES);
        assert!(
            matches!(
                slots[0].1.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ),
            "the oldest handshake is told to give up"
        );
        assert!(matches!(
            slots[1].1.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        // A finished or evicted handshake frees its slot (the evicted one was freed already).
        slots.truncate(10);
        drop(newest);
        assert_eq!(lock(&table).pending.len(), 9);
    }

    #[test]
    fn a_burst_is_logged_once_with_its_count() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.event(), Some(1));
        for _ in 0..99 {
            assert_eq!(throttle.event(), None);
        }
        throttle.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(throttle.event(), Some(100));
    }
}
