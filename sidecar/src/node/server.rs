//! The node's accept loop: mutual TLS, bounded so that unauthenticated peers cannot take the
//! node down.
//!
//! Anyone who reaches the node's port can open TCP connections; only holders of a certificate
//! of the cluster CA can finish the handshake. So the loop keeps at most [`MAX_HANDSHAKES`]
//! connections in their handshake, each for at most [`HANDSHAKE_TIMEOUT`]. When a new
//! connection arrives with every handshake slot taken, the oldest unfinished handshake of the
//! source (IP address, or IPv6 /64) holding the most pending handshakes is dropped for it. A
//! flood from other hosts therefore only ever evicts its own handshakes, never those of a
//! coordinator on another address (a source holding at most [`MAX_HANDSHAKES_PER_SOURCE`] loses
//! none while another holds more). A flood from the coordinator's own address (a devnet, where
//! everything is 127.0.0.1) evicts by age within that address: it only ever holds the slots of
//! the latest arrivals, while a coordinator, whose handshake takes milliseconds, finishes long
//! before [`MAX_HANDSHAKES`] newer connections push it out. Authenticated connections are capped
//! separately ([`MAX_CONNECTIONS`]), so the node's file descriptors stay bounded by the sum; an
//! accept error such as "too many open files" backs off instead of spinning (docs/sidecar.md).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;

use super::{PeerCert, PeerRole};
use crate::wire::HEADER_READ_TIMEOUT;

/// Connections in their TLS handshake at once; a new one beyond this drops the oldest of the
/// source holding the most.
pub const MAX_HANDSHAKES: usize = 128;
/// The pending handshakes each source may keep when the table is full: a source holding at most
/// this many loses none of them while another source holds more. Not a hard cap, so that a
/// busy coordinator's burst of new connections never evicts its own, and a flood from the
/// coordinator's own address still ages out over all [`MAX_HANDSHAKES`] slots.
pub const MAX_HANDSHAKES_PER_SOURCE: usize = 16;
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

/// Where a connection comes from, for sharing the handshake slots: its IPv4 address, or the
/// /64 prefix of its IPv6 address (one host usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Source(IpAddr);

impl Source {
    fn of(ip: IpAddr) -> Self {
        Self(match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
            },
            v4 @ IpAddr::V4(_) => v4,
        })
    }
}

/// The connections in their handshake, oldest first, each with its source and the sender
/// whose drop cancels it, and the pending handshakes of each source.
#[derive(Default)]
struct Handshakes {
    next: u64,
    pending: BTreeMap<u64, (Source, oneshot::Sender<()>)>,
    by_source: HashMap<Source, BTreeSet<u64>>,
    evictions: Throttle,
}

impl Handshakes {
    /// The handshake to drop for a new one: the oldest of the source holding the most pending
    /// handshakes (of two holding as many, the one with the older handshake), so that a source
    /// within [`MAX_HANDSHAKES_PER_SOURCE`] loses none while another holds more.
    fn victim(&self) -> Option<(Source, u64)> {
        self.by_source
            .iter()
            .filter_map(|(source, ids)| Some((*source, ids.len(), *ids.first()?)))
            .max_by_key(|&(_, held, oldest)| (held, Reverse(oldest)))
            .map(|(source, _, oldest)| (source, oldest))
    }

    fn remove(&mut self, id: u64) -> Option<oneshot::Sender<()>> {
        let (source, cancel) = self.pending.remove(&id)?;
        if let Some(ids) = self.by_source.get_mut(&source) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_source.remove(&source);
            }
        }
        Some(cancel)
    }
}

/// A handshake slot; leaving it (handshake done, failed or timed out) frees it.
struct Slot {
    id: u64,
    table: Arc<Mutex<Handshakes>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).remove(self.id);
    }
}

fn lock(table: &Mutex<Handshakes>) -> std::sync::MutexGuard<'_, Handshakes> {
    // The table holds no invariant a panic elsewhere could break.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a handshake slot for a connection from `ip`, dropping a pending handshake (see
/// [`Handshakes::victim`]) when all are taken; the receiver completes when this one is dropped
/// in turn.
fn admit(table: &Arc<Mutex<Handshakes>>, ip: IpAddr) -> (Slot, oneshot::Receiver<()>) {
    let source = Source::of(ip);
    let (cancel, cancelled) = oneshot::channel();
    let mut handshakes = lock(table);
    if handshakes.pending.len() >= MAX_HANDSHAKES
        && let Some((flooding, oldest)) = handshakes.victim()
    {
        // Dropping the sender wakes that handshake, which then gives up.
        drop(handshakes.remove(oldest));
        if let Some(count) = handshakes.evictions.event() {
            let held = handshakes.by_source.get(&flooding).map_or(0, BTreeSet::len) + 1;
            tracing::warn!(
                dropped = count,
                limit = MAX_HANDSHAKES,
                source = %flooding.0,
                held,
                "every TLS handshake slot is taken: dropping the oldest unauthenticated \
                 connections of the source holding the most"
            );
        }
    }
    let id = handshakes.next;
    handshakes.next += 1;
    handshakes.pending.insert(id, (source, cancel));
    handshakes.by_source.entry(source).or_default().insert(id);
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
        let (slot, cancelled) = admit(&handshakes, peer.ip());
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
    // decides what this connection may ask for, and its digest whose share of the node's
    // CGGMP21 runs it uses.
    let Some(leaf) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
    else {
        tracing::debug!(%peer, "no client certificate after the handshake");
        return;
    };
    let role = crate::cluster::pki::coordinator_role(leaf);
    let cert = PeerCert::of(leaf);
    let router = router
        .layer(Extension(PeerRole(role)))
        .layer(Extension(cert));
    let service = TowerToHyperService::new(router);
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

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn pending(cancelled: &mut oneshot::Receiver<()>) -> bool {
        matches!(
            cancelled.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }

    #[test]
    fn a_full_table_of_one_source_drops_its_oldest_handshake_for_a_new_one() {
        let table = Arc::new(Mutex::new(Handshakes::default()));
        let mut slots: Vec<_> = (0..MAX_HANDSHAKES)
            .map(|_| admit(&table, LOOPBACK))
            .collect();
        assert_eq!(lock(&table).pending.len(), MAX_HANDSHAKES);
        for (_, cancelled) in &mut slots {
            assert!(matches!(
                cancelled.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ));
        }
        let newest = admit(&table, LOOPBACK);
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
        assert_eq!(lock(&table).by_source[&Source(LOOPBACK)].len(), 9);
        slots.clear();
        assert!(
            lock(&table).by_source.is_empty(),
            "no source is kept without handshakes"
        );
    }

    #[test]
    fn a_flood_from_one_address_never_evicts_another_address_handshake() {
        let table = Arc::new(Mutex::new(Handshakes::default()));
        let flooder: IpAddr = "203.0.113.7".parse().unwrap();
        let coordinator: IpAddr = "198.51.100.1".parse().unwrap();
        let mut flood: Vec<_> = (0..MAX_HANDSHAKES / 2)
            .map(|_| admit(&table, flooder))
            .collect();
        // The coordinator's handshake is older than most of the flood, and the flood goes on
        // for many times the table's size.
        let mut honest = admit(&table, coordinator);
        for _ in 0..10 * MAX_HANDSHAKES {
            flood.push(admit(&table, flooder));
            assert!(
                pending(&mut honest.1),
                "the coordinator's handshake was dropped"
            );
        }
        assert_eq!(lock(&table).pending.len(), MAX_HANDSHAKES);
        // What was dropped is the flood's, oldest first.
        let live = flood
            .iter_mut()
            .map(|slot| pending(&mut slot.1))
            .filter(|&live| live)
            .count();
        assert_eq!(live, MAX_HANDSHAKES - 1);
        let newest = flood.len() - live;
        assert!(flood[newest..].iter_mut().all(|slot| pending(&mut slot.1)));
    }

    #[test]
    fn a_source_within_its_share_keeps_its_handshakes_while_another_holds_more() {
        let table = Arc::new(Mutex::new(Handshakes::default()));
        let flooder: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let coordinator: IpAddr = "2001:db8:9:9::1".parse().unwrap();
        let mut honest: Vec<_> = (0..MAX_HANDSHAKES_PER_SOURCE)
            .map(|_| admit(&table, coordinator))
            .collect();
        // Other addresses of the flooder's /64 count as one source with it.
        let mut flood: Vec<_> = (0..2 * MAX_HANDSHAKES)
            .map(|n| {
                let ip = Ipv6Addr::from_bits(flooder_bits(flooder) + n as u128);
                admit(&table, IpAddr::V6(ip))
            })
            .collect();
        assert!(honest.iter_mut().all(|slot| pending(&mut slot.1)));
        assert_eq!(
            lock(&table).by_source[&Source::of(flooder)].len(),
            MAX_HANDSHAKES - MAX_HANDSHAKES_PER_SOURCE
        );
        // A source above its share loses its handshakes first, even to one further above it
        // (the coordinator's burst beyond its share takes the flood's slots, not its own).
        let mut burst: Vec<_> = (0..MAX_HANDSHAKES_PER_SOURCE)
            .map(|_| admit(&table, coordinator))
            .collect();
        assert!(honest.iter_mut().all(|slot| pending(&mut slot.1)));
        assert!(burst.iter_mut().all(|slot| pending(&mut slot.1)));
        let live = flood
            .iter_mut()
            .map(|slot| pending(&mut slot.1))
            .filter(|&live| live)
            .count();
        assert_eq!(live, MAX_HANDSHAKES - 2 * MAX_HANDSHAKES_PER_SOURCE);

        // With every source within its share, the one holding the most loses its oldest.
        drop((flood, burst));
        let mut many: Vec<Vec<_>> = (0..MAX_HANDSHAKES / MAX_HANDSHAKES_PER_SOURCE - 1)
            .map(|n| {
                let ip = IpAddr::V4(std::net::Ipv4Addr::from_bits(0xc000_0200 + n as u32));
                (0..MAX_HANDSHAKES_PER_SOURCE)
                    .map(|_| admit(&table, ip))
                    .collect()
            })
            .collect();
        assert_eq!(lock(&table).pending.len(), MAX_HANDSHAKES);
        let _newcomer = admit(&table, "192.0.2.200".parse().unwrap());
        assert!(
            !pending(&mut honest[0].1),
            "the oldest of the (first) fullest source"
        );
        assert!(honest[1..].iter_mut().all(|slot| pending(&mut slot.1)));
        assert!(many.iter_mut().flatten().all(|slot| pending(&mut slot.1)));
    }

    fn flooder_bits(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V6(v6) => v6.to_bits(),
            IpAddr::V4(_) => unreachable!("an IPv6 address"),
        }
    }

    #[test]
    fn sources_are_addresses_and_ipv6_slash_64s() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of(v4));
        assert_ne!(Source::of(v4), Source::of("192.0.2.2".parse().unwrap()));
        assert_eq!(
            Source::of("2001:db8::1".parse().unwrap()),
            Source::of("2001:db8::ffff:1".parse().unwrap())
        );
        assert_ne!(
            Source::of("2001:db8::1".parse().unwrap()),
            Source::of("2001:db8:0:1::1".parse().unwrap())
        );
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
