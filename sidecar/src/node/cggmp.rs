//! A node's side of CGGMP21: its safe primes (made in the background on first start), the
//! cluster's aux info, wallet keygen, presigning and one-round signing.
//!
//! Runs advance one round per coordinator call. Every P2P message leaves sealed to its
//! recipient and every broadcast signed, and every message that arrives is opened or verified
//! against the sender's manifest identity before the protocol sees it, so the coordinator
//! relays what it can neither read nor forge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::path::PathBuf;

use axum::extract::State;
use axum::{Extension, Json};
use cggmp21::key_share::{AuxInfo, IncompleteKeyShare, KeyShare};
use cggmp21::{PregeneratedPrimes, Presignature};

use super::{
    DkgSession, DkgStep, NodeError, NodeResult, NodeState, PeerCert, PeerRole, check_id,
    parse_scheme, put_session, request_claim,
};
use crate::cluster::client_auth as auth;
use crate::cluster::pki::CoordinatorRole;
use crate::custody::audit::{self, AuditEntry, AuditEvent};
use crate::custody::store::PresignatureTake;
use crate::model::scheme::{Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::node::cggmp_sessions::{SessionRefusal, SessionTable};
use crate::protocols::cggmp::runner::{
    ProtocolRun, RawIncoming, RawOutgoing, RunEvent, RunFailure,
};
use crate::protocols::cggmp::{self, Curve, Level, Protocol};
use crate::wire::envelope::{self, SignedStatement};
use crate::wire::error::{BusyReason, NotReadyReason};
use crate::wire::statements;
use crate::wire::{
    CggmpMessage, CggmpNodeStatus, CggmpPresignConfirmRequest, CggmpPresignDiscardRequest,
    CggmpPresignaturesRequest, CggmpPresignaturesResponse, CggmpSignRequest, CggmpStartRequest,
    CggmpStepRequest, CggmpStepResponse, PresignatureInfo, purposes,
};

/// The store's name for the node's safe primes.
const PRIMES: &str = "cggmp21-primes";
/// The store's name for the cluster aux info.
const AUX_INFO: &str = "cggmp21-aux-info";
/// How long one round may compute before the coordinator's call is answered with a timeout.
/// Aux-info rounds prove facts about 3072-bit moduli and take seconds on a busy machine.
const ROUND_TIMEOUT: Duration = Duration::from_secs(300);
/// The most complete presignatures a node keeps per wallet: a coordinator cannot fill its
/// disk.
const MAX_PRESIGNATURES: usize = 256;
/// The most presignatures of a wallet awaiting confirmation at a node.
const MAX_PENDING_PRESIGNATURES: usize = 32;
/// How long a presignature may await confirmation before it counts as an orphan of a run
/// that failed elsewhere, seconds.
const PENDING_PRESIGNATURE_TTL: u64 = 600;
/// How long an unfinished run is kept.
const SESSION_TTL: Duration = Duration::from_secs(900);
/// The most CGGMP21 runs (a thread each) one coordinator (client certificate) may have open at
/// a node; counted per certificate, not per role, so that a hostile coordinator cannot take the
/// places of an honest one with the same role.
const MAX_SESSIONS_PER_PEER: usize = 16;
/// How long a keygen or presigning run may wait for its next round before it counts as
/// abandoned (the coordinator gives each round 60 s).
const RUN_ABANDONED: Duration = Duration::from_secs(180);

/// Where a node's primes come from when it has none stored.
#[derive(Debug, Clone)]
pub enum PrimesSource {
    /// Generate them in the background (minutes).
    Generate,
    /// Take this node's pair from a fixture file (tests, devnets).
    Fixture(PathBuf),
    /// CGGMP21 is off at this node: no primes, no aux info (a FROST-only cluster).
    Disabled,
}

/// The node's CGGMP21 state.
pub(super) struct CggmpState {
    sessions: Mutex<SessionTable<PeerCert, Session>>,
    primes_ready: AtomicBool,
    primes_error: Mutex<Option<String>>,
    /// The digest of the stored aux info, kept here so health answers need not open it.
    aux_digest: Mutex<Option<String>>,
    disabled: AtomicBool,
}

impl CggmpState {
    pub(super) fn new() -> Self {
        Self {
            sessions: Mutex::new(SessionTable::new(MAX_SESSIONS_PER_PEER, SESSION_TTL)),
            primes_ready: AtomicBool::new(false),
            primes_error: Mutex::new(None),
            aux_digest: Mutex::new(None),
            disabled: AtomicBool::new(false),
        }
    }
}

/// How long an aux-info run may go without a round before it counts as abandoned (its
/// coordinator gave up) and another may start.
const AUX_ABANDONED: Duration = Duration::from_secs(60);

impl CggmpState {
    /// Whether an aux-info run is live here: a round is being computed, or one ended recently.
    /// An abandoned run is dropped.
    fn aux_running(&self) -> bool {
        let Ok(mut sessions) = self.sessions.lock() else {
            return true;
        };
        let mut live = false;
        sessions.retain(
            |entry| match entry.session.as_ref().map(|session| session.try_lock()) {
                // Being set up (this very start, perhaps): not a run yet.
                None => true,
                Some(Err(_)) => {
                    live = true;
                    true
                }
                Some(Ok(session)) if session.protocol == Protocol::AuxInfo => {
                    let active = session.last_active.elapsed() < AUX_ABANDONED;
                    live |= active;
                    active
                }
                Some(Ok(_)) => true,
            },
        );
        live
    }

    fn aux_digest(&self) -> Option<String> {
        self.aux_digest
            .lock()
            .ok()
            .and_then(|digest| digest.clone())
    }

    fn set_aux_digest(&self, digest: Option<String>) {
        if let Ok(mut slot) = self.aux_digest.lock() {
            *slot = digest;
        }
    }
}

/// A run in progress, by protocol.
enum Run {
    AuxInfo(ProtocolRun<AuxInfo<Level>>),
    Keygen {
        run: ProtocolRun<IncompleteKeyShare<Curve>>,
        aux: Box<AuxInfo<Level>>,
        context: KeygenContext,
    },
    Presign(ProtocolRun<Presignature<Curve>>),
}

/// What a keygen must remember to store its wallet.
struct KeygenContext {
    scheme: WalletScheme,
    threshold: u16,
    client: String,
    request_id: String,
    derive_tag: Option<String>,
}

struct Session {
    id: String,
    protocol: Protocol,
    wallet_id: String,
    /// The parties in protocol index order.
    parties: Vec<String>,
    /// When a round last ended here.
    last_active: Instant,
    run: Option<Run>,
}

impl Session {
    fn index_of(&self, node: &str) -> Option<u16> {
        self.parties
            .iter()
            .position(|party| party == node)
            .and_then(|position| u16::try_from(position).ok())
    }
}

/// Refuses the public test primes unless the node was started with `--insecure-test-primes`:
/// with them anyone can read the node's Paillier key, and with it the shares sent to it.
fn check_test_primes(primes: &PregeneratedPrimes<Level>, allowed: bool) -> Result<(), String> {
    if cggmp::primes::are_test_primes(primes) && !allowed {
        return Err(
            "this node's primes are the public test primes of testvectors/cggmp21-primes.json, \
             so its Paillier key is no secret; start a production node without \
             --cggmp21-primes or $THRESIG_CGGMP21_PRIMES (and with a fresh store) so it makes \
             its own, or pass --insecure-test-primes for a test cluster"
                .into(),
        );
    }
    Ok(())
}

/// Makes sure the node has primes: stored ones, a fixture's, or (in the background) new ones.
/// The public test primes are refused unless `allow_test_primes` (`--insecure-test-primes`),
/// which is logged at every start.
pub(super) fn prepare_primes(
    state: &Arc<NodeState>,
    source: PrimesSource,
    allow_test_primes: bool,
) -> Result<(), String> {
    if matches!(source, PrimesSource::Disabled) {
        state.cggmp.disabled.store(true, Ordering::SeqCst);
        return Ok(());
    }
    if allow_test_primes {
        tracing::warn!(
            "started with --insecure-test-primes: the public test primes are accepted, and a \
             node holding them keeps no secret Paillier key (test clusters only)"
        );
    }
    let digest = stored_aux(state)
        .map_err(|error| error.message().to_owned())?
        .map(|aux| hex::encode(cggmp::aux_info_digest(&aux)));
    state.cggmp.set_aux_digest(digest);
    if let Some(stored) = state
        .store
        .secret(PRIMES)
        .map_err(|error| error.to_string())?
    {
        let primes: PregeneratedPrimes<Level> =
            cggmp::from_secret_bytes(&stored).map_err(|error| format!("stored primes: {error}"))?;
        check_test_primes(&primes, allow_test_primes)?;
        state.cggmp.primes_ready.store(true, Ordering::SeqCst);
        return Ok(());
    }
    match source {
        PrimesSource::Fixture(path) => {
            let primes = cggmp::primes::from_fixture(&path, state.index)?;
            check_test_primes(&primes, allow_test_primes)?;
            store_primes(state, &primes)
        }
        PrimesSource::Disabled => Ok(()),
        PrimesSource::Generate => {
            let state = Arc::clone(state);
            std::thread::Builder::new()
                .name("cggmp21-primes".into())
                .spawn(move || {
                    lower_priority();
                    tracing::info!("generating CGGMP21 safe primes in the background");
                    let started = Instant::now();
                    let primes = cggmp::primes::generate();
                    match store_primes(&state, &primes) {
                        Ok(()) => tracing::info!(
                            seconds = started.elapsed().as_secs(),
                            "CGGMP21 safe primes ready"
                        ),
                        Err(error) => {
                            tracing::error!(%error, "storing CGGMP21 primes failed");
                            if let Ok(mut slot) = state.cggmp.primes_error.lock() {
                                *slot = Some(error);
                            }
                        }
                    }
                })
                .map(|_| ())
                .map_err(|error| format!("cannot start the primes thread: {error}"))
        }
    }
}

/// Puts the calling thread at the lowest scheduling priority (nice 19): prime generation is
/// minutes of arithmetic that must not slow the node's signing.
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: setpriority only takes integers and touches no memory of this process. On Linux,
    // PRIO_PROCESS with id 0 changes the calling thread alone; a failure leaves the priority as
    // it was, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

fn store_primes(state: &NodeState, primes: &PregeneratedPrimes<Level>) -> Result<(), String> {
    let bytes = cggmp::to_secret_bytes(primes)?;
    state
        .store
        .put_secret(PRIMES, &bytes)
        .map_err(|error| error.to_string())?;
    state.cggmp.primes_ready.store(true, Ordering::SeqCst);
    Ok(())
}

fn stored_aux(state: &NodeState) -> Result<Option<AuxInfo<Level>>, NodeError> {
    match state.store.secret(AUX_INFO)? {
        None => Ok(None),
        Some(bytes) => cggmp::from_secret_bytes(&bytes)
            .map(Some)
            .map_err(|error| NodeError::internal(format!("aux info: {error}"))),
    }
}

/// The node's CGGMP21 readiness for its health answer.
pub(super) fn status(state: &NodeState) -> Result<CggmpNodeStatus, NodeError> {
    Ok(CggmpNodeStatus {
        primes: state.cggmp.primes_ready.load(Ordering::SeqCst),
        primes_error: state
            .cggmp
            .primes_error
            .lock()
            .map_err(|_| NodeError::internal("primes status poisoned"))?
            .clone(),
        aux_info: state.cggmp.aux_digest(),
        aux_info_running: state.cggmp.aux_running(),
        disabled: state.cggmp.disabled.load(Ordering::SeqCst),
    })
}

fn run_failed(session: &Session, failure: RunFailure) -> NodeError {
    let culprit = failure
        .culprit
        .and_then(|index| session.parties.get(usize::from(index)).cloned());
    NodeError::abort(
        format!(
            "CGGMP21 {} session {}: {}",
            session.protocol.name(),
            session.id,
            failure.message
        ),
        culprit.into_iter().collect(),
    )
}

/// Parties of a run: distinct cluster nodes, this one among them.
fn check_parties(state: &NodeState, parties: &[String]) -> Result<(), NodeError> {
    for (position, party) in parties.iter().enumerate() {
        state.index_of(party)?;
        if parties[..position].contains(party) {
            return Err(NodeError::bad_request(format!(
                "party {party} is listed twice"
            )));
        }
    }
    if !parties.contains(&state.node_id) {
        return Err(NodeError::bad_request(format!(
            "{} is not among the parties",
            state.node_id
        )));
    }
    Ok(())
}

/// Aux info covers every node, so a CGGMP21 run over nodes is always over the whole cluster in
/// manifest order.
fn check_whole_cluster(state: &NodeState, parties: &[String]) -> Result<(), NodeError> {
    let all: Vec<&String> = state.manifest.nodes.iter().map(|node| &node.id).collect();
    if parties.iter().collect::<Vec<_>>() != all {
        return Err(NodeError::bad_request(
            "a cggmp21-secp256k1 keygen or aux-info run involves every node of the cluster, in \
             manifest order",
        ));
    }
    Ok(())
}

pub(super) async fn start(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Extension(cert): Extension<PeerCert>,
    Json(request): Json<CggmpStartRequest>,
) -> NodeResult<CggmpStepResponse> {
    let session_id = request.session().to_owned();
    check_id("session", &session_id)?;
    // A place in the session table is held before any run's thread starts, and given back if
    // the start fails.
    let reservation = Reservation::new(&state, &session_id, cert)?;
    let (protocol, wallet_id, parties, run) = match request {
        CggmpStartRequest::AuxInfo { parties, .. } => {
            peer.require(CoordinatorRole::may_create, "generate aux info")?;
            if state.cggmp.disabled.load(Ordering::SeqCst) {
                return Err(NodeError::not_ready(
                    NotReadyReason::CggmpOff,
                    format!("CGGMP21 is off at {} (--cggmp21 off)", state.node_id),
                ));
            }
            check_whole_cluster(&state, &parties)?;
            let me = own_index(&state, &parties)?;
            let primes = state.store.secret(PRIMES)?.ok_or_else(|| {
                NodeError::not_ready(
                    NotReadyReason::NoPrimes,
                    format!(
                        "{} has no safe primes yet (still generating)",
                        state.node_id
                    ),
                )
            })?;
            let primes: PregeneratedPrimes<Level> = cggmp::from_secret_bytes(&primes)
                .map_err(|error| NodeError::internal(format!("primes: {error}")))?;
            if state.cggmp.aux_running() {
                return Err(NodeError::busy(
                    BusyReason::AuxInfoRunning,
                    "an aux-info run is already in progress here",
                ));
            }
            let eid = cggmp::execution_id(Protocol::AuxInfo, &session_id, "", &parties, &[]);
            let n = parties.len() as u16;
            let run = cggmp::start_aux_info(eid, me, n, primes)
                .map_err(|failure| NodeError::internal(failure.message))?;
            (Protocol::AuxInfo, String::new(), parties, Run::AuxInfo(run))
        }
        CggmpStartRequest::Keygen(request) => {
            peer.require(CoordinatorRole::may_create, "create wallets")?;
            check_id("wallet id", &request.wallet_id)?;
            if request.scheme != WalletScheme::Cggmp21Secp256k1 {
                return Err(NodeError::bad_request(format!(
                    "a CGGMP21 keygen makes cggmp21-secp256k1 wallets, not {}",
                    request.scheme
                )));
            }
            check_whole_cluster(&state, &request.parties)?;
            let n = request.parties.len() as u16;
            if request.threshold < 2 || request.threshold > n {
                return Err(NodeError::bad_request(format!(
                    "threshold {} must be between 2 and the {n} parties",
                    request.threshold
                )));
            }
            state.check_wallet_id_free(&request.wallet_id)?;
            let aux = stored_aux(&state)?.ok_or_else(|| {
                NodeError::not_ready(
                    NotReadyReason::NoAuxInfo,
                    format!("{} has no CGGMP21 aux info yet", state.node_id),
                )
            })?;
            let (verified, derivation) = state.authorize_dkg(&request)?;
            // A derivation's randomness comes from the root key and the passphrase, so the
            // same passphrase and root keys always give the same shares.
            let randomness = match &derivation {
                Some(derivation) => cggmp::KeygenRandomness::Derived(*derivation.seed),
                None => cggmp::KeygenRandomness::Fresh,
            };
            let me = own_index(&state, &request.parties)?;
            // The aux info is in the execution id: nodes holding different aux info cannot make
            // a wallet together (it could never sign).
            let eid = cggmp::execution_id(
                Protocol::Keygen,
                &session_id,
                &request.wallet_id,
                &request.parties,
                &cggmp::aux_info_digest(&aux),
            );
            // The id, the request and the session id are claimed in one write: no other
            // session can ever store a wallet under this id.
            state.claim_wallet_id(&verified, &request.wallet_id, &session_id, true)?;
            let run = cggmp::start_keygen(eid, me, n, request.threshold, randomness)
                .map_err(|failure| NodeError::internal(failure.message))?;
            (
                Protocol::Keygen,
                request.wallet_id,
                request.parties,
                Run::Keygen {
                    run,
                    aux: Box::new(aux),
                    context: KeygenContext {
                        scheme: request.scheme,
                        threshold: request.threshold,
                        client: verified.client().to_owned(),
                        request_id: verified.request_id().to_owned(),
                        derive_tag: derivation.map(|derivation| derivation.tag),
                    },
                },
            )
        }
        CggmpStartRequest::Presign {
            wallet_id, signers, ..
        } => {
            peer.require(CoordinatorRole::may_sign, "presign")?;
            let record = cggmp_wallet(&state, &wallet_id)?;
            check_parties(&state, &signers)?;
            if signers.len() != usize::from(record.threshold) {
                return Err(NodeError::bad_request(format!(
                    "a presignature of wallet {wallet_id} needs exactly {} signers, got {}",
                    record.threshold,
                    signers.len()
                )));
            }
            let mut keygen_indices = Vec::with_capacity(signers.len());
            for signer in &signers {
                let position = record
                    .parties
                    .iter()
                    .position(|party| party == signer)
                    .ok_or_else(|| {
                        NodeError::bad_request(format!(
                            "{signer} holds no share of wallet {wallet_id}"
                        ))
                    })?;
                keygen_indices.push(position as u16);
            }
            if !keygen_indices.is_sorted() {
                return Err(NodeError::bad_request(
                    "signers must be listed in the wallet's party order",
                ));
            }
            // Runs that ended here but never at every signer leave pending parts: forgotten
            // once stale, and not counted against the cap of complete ones.
            state.store.prune_pending_presignatures(
                &wallet_id,
                now().saturating_sub(PENDING_PRESIGNATURE_TTL),
            )?;
            let held = state.store.presignatures(&wallet_id)?;
            let complete = held.iter().filter(|held| held.complete).count();
            let pending = held.len() - complete;
            if complete >= MAX_PRESIGNATURES || pending >= MAX_PENDING_PRESIGNATURES {
                return Err(NodeError::busy(
                    BusyReason::PresignatureCap,
                    format!(
                        "{} already holds {complete} complete presignatures of wallet \
                         {wallet_id} and {pending} awaiting confirmation, the most it keeps \
                         ({MAX_PRESIGNATURES} and {MAX_PENDING_PRESIGNATURES})",
                        state.node_id
                    ),
                ));
            }
            let share = state
                .store
                .key_package(&wallet_id)?
                .ok_or_else(|| NodeError::internal("wallet without key share"))?;
            let share: KeyShare<Curve, Level> = cggmp::from_secret_bytes(&share)
                .map_err(|error| NodeError::internal(format!("key share: {error}")))?;
            let me = own_index(&state, &signers)?;
            let eid =
                cggmp::execution_id(Protocol::Presign, &session_id, &wallet_id, &signers, &[]);
            let run = cggmp::start_presign(eid, me, keygen_indices, share)
                .map_err(|failure| NodeError::internal(failure.message))?;
            (Protocol::Presign, wallet_id, signers, Run::Presign(run))
        }
    };
    // A session id (and so an execution id) is used once, even across restarts (a keygen's
    // went in with its wallet id's claim).
    if protocol != Protocol::Keygen && !state.store.claim_session(&session_id)? {
        return Err(NodeError::bad_request(format!(
            "session {session_id} was used before"
        )));
    }
    let session = Arc::new(tokio::sync::Mutex::new(Session {
        id: session_id.clone(),
        protocol,
        wallet_id,
        parties,
        last_active: Instant::now(),
        run: Some(run),
    }));
    // Locked before it is visible, so the first round runs before any step can.
    let mut locked = Arc::clone(&session).lock_owned().await;
    reservation.fill(session)?;
    advance(&state, &mut locked, None).await
}

/// Whether a run that is not being computed was abandoned by its coordinator.
fn abandoned(session: &Session) -> bool {
    session.protocol != Protocol::AuxInfo && session.last_active.elapsed() > RUN_ABANDONED
}

/// A held place in the session table, given back when dropped unless filled.
struct Reservation<'a> {
    state: &'a NodeState,
    id: String,
    filled: bool,
}

impl<'a> Reservation<'a> {
    fn new(state: &'a NodeState, id: &str, peer: PeerCert) -> Result<Self, NodeError> {
        state
            .cggmp
            .sessions
            .lock()
            .map_err(|_| NodeError::internal("session table poisoned"))?
            .reserve(id, peer, abandoned)
            .map_err(|refusal| match refusal {
                SessionRefusal::Busy { .. } => {
                    NodeError::busy(BusyReason::PeerCap, format!("{}: {refusal}", state.node_id))
                }
                SessionRefusal::InProgress(_) => NodeError::bad_request(refusal.to_string()),
            })?;
        Ok(Self {
            state,
            id: id.to_owned(),
            filled: false,
        })
    }

    fn fill(mut self, session: Arc<tokio::sync::Mutex<Session>>) -> Result<(), NodeError> {
        self.state
            .cggmp
            .sessions
            .lock()
            .map_err(|_| NodeError::internal("session table poisoned"))?
            .fill(&self.id, session);
        self.filled = true;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.filled
            && let Ok(mut sessions) = self.state.cggmp.sessions.lock()
        {
            sessions.remove(&self.id);
        }
    }
}

fn own_index(state: &NodeState, parties: &[String]) -> Result<u16, NodeError> {
    parties
        .iter()
        .position(|party| *party == state.node_id)
        .map(|position| position as u16)
        .ok_or_else(|| {
            NodeError::bad_request(format!("{} is not among the parties", state.node_id))
        })
}

fn cggmp_wallet(state: &NodeState, wallet_id: &str) -> Result<WalletRecord, NodeError> {
    let record = state.wallet(wallet_id)?;
    if parse_scheme(&record)? != WalletScheme::Cggmp21Secp256k1 {
        return Err(NodeError::bad_request(format!(
            "wallet {wallet_id} is {}, not cggmp21-secp256k1",
            record.scheme
        )));
    }
    if !record.parties.contains(&state.node_id) {
        return Err(NodeError::bad_request(format!(
            "{} holds no share of wallet {wallet_id}",
            state.node_id
        )));
    }
    Ok(record)
}

pub(super) async fn step(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<CggmpStepRequest>,
) -> NodeResult<CggmpStepResponse> {
    peer.require(|_| true, "run CGGMP21 protocols")?;
    let session = state
        .cggmp
        .sessions
        .lock()
        .map_err(|_| NodeError::internal("session table poisoned"))?
        .get(&request.session)
        .ok_or_else(|| {
            NodeError::unknown_session(
                &request.session,
                format!("no CGGMP21 session {} in progress here", request.session),
            )
        })?;
    let mut session = session.lock().await;
    match session.protocol {
        Protocol::Keygen => peer.require(CoordinatorRole::may_create, "create wallets")?,
        Protocol::Presign => peer.require(CoordinatorRole::may_sign, "presign")?,
        Protocol::AuxInfo => peer.require(CoordinatorRole::may_create, "generate aux info")?,
    }
    let batch = match incoming(&state, &session, &request.messages) {
        Ok(batch) => batch,
        Err(error) => {
            end(&state, &mut session);
            return Err(error);
        }
    };
    advance(&state, &mut session, Some(batch)).await
}

/// Opens or verifies each message for this node and turns it into protocol input.
fn incoming(
    state: &NodeState,
    session: &Session,
    messages: &[CggmpMessage],
) -> Result<Vec<RawIncoming>, NodeError> {
    let purpose = purposes::cggmp_broadcast(session.protocol);
    let mut batch = Vec::with_capacity(messages.len());
    for message in messages {
        let sender = message.sender();
        let index = session
            .index_of(sender)
            .filter(|_| sender != state.node_id)
            .ok_or_else(|| {
                NodeError::abort(
                    format!("a message from {sender}, which is not another party of the run"),
                    Vec::new(),
                )
            })?;
        let identity = &state
            .manifest
            .node(sender)
            .ok_or_else(|| NodeError::internal("party vanished from manifest"))?
            .identity;
        // The message came through the coordinator: blame its sender only for what the
        // sender provably signed.
        let blame = |error: envelope::EnvelopeError| {
            let blamed = if error.proves_sender() {
                vec![error.culprit().to_owned()]
            } else {
                Vec::new()
            };
            NodeError::abort(format!("CGGMP21 message: {error}"), blamed)
        };
        let (payload, broadcast) = match message {
            CggmpMessage::P2p(sealed) => (
                envelope::open(
                    sealed,
                    &session.id,
                    &state.node_id,
                    &state.identity,
                    identity,
                )
                .map_err(blame)?,
                false,
            ),
            CggmpMessage::Broadcast(statement) => (
                zeroize::Zeroizing::new(
                    envelope::verify_statement(statement, &purpose, &session.id, identity)
                        .map_err(blame)?,
                ),
                true,
            ),
        };
        batch.push(RawIncoming {
            sender: index,
            broadcast,
            payload,
        });
    }
    Ok(batch)
}

/// Seals or signs what the run sent.
fn outgoing(
    state: &NodeState,
    session: &Session,
    sent: Vec<RawOutgoing>,
) -> Result<Vec<CggmpMessage>, NodeError> {
    let purpose = purposes::cggmp_broadcast(session.protocol);
    sent.into_iter()
        .map(|message| match message.recipient {
            None => Ok(CggmpMessage::Broadcast(envelope::sign_statement(
                &purpose,
                &session.id,
                &state.node_id,
                &state.identity,
                &message.payload,
            ))),
            Some(index) => {
                let recipient = session
                    .parties
                    .get(usize::from(index))
                    .and_then(|party| state.manifest.node(party))
                    .ok_or_else(|| NodeError::internal("the protocol addressed no party"))?;
                envelope::seal(
                    &session.id,
                    &state.node_id,
                    &state.identity,
                    &recipient.id,
                    &recipient.identity,
                    &message.payload,
                )
                .map(CggmpMessage::P2p)
                .map_err(|error| NodeError::internal(error.to_string()))
            }
        })
        .collect()
}

/// Removes the session (ended, failed or refused).
fn end(state: &NodeState, session: &mut Session) {
    session.run = None;
    if let Ok(mut sessions) = state.cggmp.sessions.lock() {
        sessions.remove(&session.id);
    }
}

/// Feeds a batch to the run and answers with its next messages, or with its stored result.
async fn advance(
    state: &NodeState,
    session: &mut Session,
    batch: Option<Vec<RawIncoming>>,
) -> NodeResult<CggmpStepResponse> {
    let result = advance_run(state, session, batch).await;
    session.last_active = Instant::now();
    if !matches!(result, Ok(CggmpStepResponse { result: None, .. })) {
        end(state, session);
    }
    result.map(Json)
}

/// What one step of a run produced.
enum Stepped {
    Messages(Vec<RawOutgoing>),
    AuxInfo(Vec<RawOutgoing>, AuxInfo<Level>),
    Keygen(Vec<RawOutgoing>, IncompleteKeyShare<Curve>),
    Presign(Vec<RawOutgoing>, Presignature<Curve>),
}

impl Run {
    async fn step(&mut self, batch: Option<Vec<RawIncoming>>) -> Result<Stepped, RunFailure> {
        fn finish<O>(
            event: RunEvent<O>,
            done: impl FnOnce(Vec<RawOutgoing>, O) -> Stepped,
        ) -> Result<Stepped, RunFailure> {
            match event {
                RunEvent::Messages(sent) => Ok(Stepped::Messages(sent)),
                RunEvent::Finished(sent, output) => Ok(done(sent, output?)),
            }
        }
        match self {
            Run::AuxInfo(run) => finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::AuxInfo),
            Run::Keygen { run, .. } => {
                finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::Keygen)
            }
            Run::Presign(run) => finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::Presign),
        }
    }
}

async fn advance_run(
    state: &NodeState,
    session: &mut Session,
    batch: Option<Vec<RawIncoming>>,
) -> Result<CggmpStepResponse, NodeError> {
    let Some(mut run) = session.run.take() else {
        return Err(NodeError::unknown_session(
            &session.id,
            format!("CGGMP21 session {} has ended", session.id),
        ));
    };
    let stepped = run
        .step(batch)
        .await
        .map_err(|failure| run_failed(session, failure))?;
    let (sent, result) = match stepped {
        Stepped::Messages(sent) => {
            session.run = Some(run);
            return Ok(CggmpStepResponse {
                messages: outgoing(state, session, sent)?,
                result: None,
            });
        }
        Stepped::AuxInfo(sent, aux) => {
            let digest = cggmp::aux_info_digest(&aux);
            let bytes = cggmp::to_secret_bytes(&aux).map_err(NodeError::internal)?;
            state.store.put_secret(AUX_INFO, &bytes)?;
            state.cggmp.set_aux_digest(Some(hex::encode(digest)));
            tracing::info!(digest = %hex::encode(digest), "CGGMP21 aux info stored");
            let statement = envelope::sign_statement(
                &purposes::cggmp_result(Protocol::AuxInfo, ""),
                &session.id,
                &state.node_id,
                &state.identity,
                &digest,
            );
            (sent, statement)
        }
        Stepped::Keygen(sent, core) => {
            let Run::Keygen { aux, context, .. } = run else {
                return Err(NodeError::internal("a keygen result from another run"));
            };
            let public_key = cggmp::public_key(&core);
            let share =
                cggmp::key_share(core, *aux).map_err(|failure| run_failed(session, failure))?;
            let bytes = cggmp::to_secret_bytes(&share).map_err(NodeError::internal)?;
            let record = WalletRecord {
                wallet_id: session.wallet_id.clone(),
                scheme: context.scheme.name().to_owned(),
                threshold: context.threshold,
                parties: session.parties.clone(),
                public_key_package: hex::encode(public_key),
                created_at: now(),
                confirmed: false,
            };
            // Stored pending, as a FROST DKG: the wallet exists only once every party confirms
            // the same key (the same DKG_CONFIRM round).
            state.store.put_wallet(&record, &bytes, &session.id)?;
            put_session(
                state,
                session.id.clone(),
                DkgSession {
                    wallet_id: session.wallet_id.clone(),
                    scheme: context.scheme,
                    threshold: context.threshold,
                    parties: session.parties.clone(),
                    started: Instant::now(),
                    own_round1: Vec::new(),
                    client: context.client,
                    request_id: context.request_id,
                    derive_tag: context.derive_tag,
                    step: DkgStep::AwaitingConfirmation {
                        public_key_package: public_key.to_vec(),
                    },
                },
            )?;
            let statement = envelope::sign_statement(
                &purposes::dkg_result(&session.wallet_id),
                &session.id,
                &state.node_id,
                &state.identity,
                &public_key,
            );
            (sent, statement)
        }
        Stepped::Presign(sent, presignature) => {
            let point = cggmp::presignature_point(&presignature);
            let bytes = cggmp::to_secret_bytes(&presignature).map_err(NodeError::internal)?;
            // Pending until the coordinator shows every signer's result (presign_confirm).
            state.store.put_presignature(
                &session.wallet_id,
                &session.id,
                &session.parties,
                &bytes,
                &point,
                now(),
            )?;
            let statement = envelope::sign_statement(
                &purposes::cggmp_result(Protocol::Presign, &session.wallet_id),
                &session.id,
                &state.node_id,
                &state.identity,
                &point,
            );
            (sent, statement)
        }
    };
    Ok(CggmpStepResponse {
        messages: outgoing(state, session, sent)?,
        result: Some(result),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

pub(super) async fn presignatures(
    State(state): State<Arc<NodeState>>,
    Json(request): Json<CggmpPresignaturesRequest>,
) -> NodeResult<CggmpPresignaturesResponse> {
    check_id("wallet id", &request.wallet_id)?;
    cggmp_wallet(&state, &request.wallet_id)?;
    let (complete, pending): (Vec<_>, Vec<_>) = state
        .store
        .presignatures(&request.wallet_id)?
        .into_iter()
        .partition(|held| held.complete);
    let info = |held: Vec<crate::custody::store::PresignatureSummary>| {
        held.into_iter()
            .map(|held| PresignatureInfo {
                id: held.id,
                signers: held.signers,
            })
            .collect()
    };
    Ok(Json(CggmpPresignaturesResponse {
        presignatures: info(complete),
        pending: info(pending),
    }))
}

/// Marks a presignature complete once the coordinator shows every signer's signed result of
/// its run, each naming the point this node holds: only then is it counted, listed and used.
pub(super) async fn presign_confirm(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<CggmpPresignConfirmRequest>,
) -> NodeResult<serde_json::Value> {
    peer.require(CoordinatorRole::may_sign, "presign")?;
    check_id("wallet id", &request.wallet_id)?;
    check_id("presignature", &request.presignature)?;
    cggmp_wallet(&state, &request.wallet_id)?;
    let held = state
        .store
        .presignatures(&request.wallet_id)?
        .into_iter()
        .find(|held| held.id == request.presignature)
        .ok_or_else(|| unknown_presignature(&request.presignature, &request.wallet_id))?;
    if held.point.is_empty() {
        return Err(NodeError::bad_request(format!(
            "presignature {} was stored by an earlier version without its point, so it cannot \
             be confirmed",
            held.id
        )));
    }
    let purpose = purposes::cggmp_result(Protocol::Presign, &request.wallet_id);
    let what = "presignature result";
    let points = statements::verify_all(
        what,
        &request.results,
        &held.signers,
        (&purpose, &held.id),
        &state.manifest,
    )?;
    statements::agreed(what, &points, Some(&held.point), &held.id)?;
    state
        .store
        .confirm_presignature(&request.wallet_id, &request.presignature)?;
    Ok(Json(serde_json::json!({ "confirmed": true })))
}

/// Deletes presignatures the coordinator found orphaned (a signer of the set no longer holds
/// its part). Deleting never signs anything, so the worst a hostile coordinator can do with it
/// is what it can do anyway: make signing slower.
pub(super) async fn presign_discard(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<CggmpPresignDiscardRequest>,
) -> NodeResult<serde_json::Value> {
    peer.require(CoordinatorRole::may_sign, "presign")?;
    check_id("wallet id", &request.wallet_id)?;
    cggmp_wallet(&state, &request.wallet_id)?;
    let mut discarded = 0usize;
    for id in &request.presignatures {
        check_id("presignature", id)?;
        discarded += usize::from(state.store.discard_presignature(&request.wallet_id, id)?);
    }
    if discarded > 0 {
        tracing::info!(wallet = %request.wallet_id, discarded, "orphaned presignatures deleted");
    }
    Ok(Json(serde_json::json!({ "discarded": discarded })))
}

fn unknown_presignature(id: &str, wallet_id: &str) -> NodeError {
    NodeError::unknown_session(
        id,
        format!("presignature {id} of wallet {wallet_id} is unknown here or was already used"),
    )
}

/// One-round signing: the client's request must cover the hash, which this node computes from
/// the request itself (a transaction's signing hash, an EIP-191 or EIP-712 digest; never a raw
/// digest the client chose, see CVE-2025-66017); the presignature is deleted
/// (durably, with the request's claim) before the partial signature is computed and sent.
pub(super) async fn sign(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<CggmpSignRequest>,
) -> NodeResult<SignedStatement> {
    peer.require(CoordinatorRole::may_sign, "sign")?;
    check_id("session", &request.session)?;
    check_id("presignature", &request.presignature)?;
    let record = cggmp_wallet(&state, &request.wallet_id)?;
    let message = hex::decode(&request.message)
        .map_err(|error| NodeError::bad_request(format!("message: {error}")))?;
    let hash = cggmp::message_hash(&message).map_err(NodeError::bad_request)?;
    let verified =
        state.authorize_signature(&request.authorization, &message, Tweak::None, &record)?;
    let scope = format!("sign-none-{}", audit::message_digest(&message));
    let taken = state.store.take_presignature(
        &record.wallet_id,
        &request.presignature,
        &request_claim(&verified, &scope),
    )?;
    let audit = |outcome: String| AuditEntry {
        event: AuditEvent::Sign,
        session: request.session.clone(),
        request_id: Some(verified.request_id().to_owned()),
        client: Some(verified.client().to_owned()),
        wallet_id: record.wallet_id.clone(),
        message_digest: Some(audit::message_digest(&message)),
        outcome,
    };
    let presignature = match taken {
        PresignatureTake::Taken { presignature, .. } => presignature,
        PresignatureTake::Unknown => {
            return Err(unknown_presignature(
                &request.presignature,
                &record.wallet_id,
            ));
        }
        PresignatureTake::Unconfirmed => {
            return Err(NodeError::unknown_session(
                &request.presignature,
                format!(
                    "presignature {} of wallet {} is not yet confirmed at every signer",
                    request.presignature, record.wallet_id
                ),
            ));
        }
        PresignatureTake::Replayed => {
            return Err(NodeError::unauthorized(
                auth::AuthError::Replayed(verified.request_id().to_owned()).to_string(),
            ));
        }
    };
    let presignature: Presignature<Curve> = cggmp::from_secret_bytes(&presignature)
        .map_err(|error| NodeError::internal(format!("presignature: {error}")))?;
    let partial = cggmp::issue_partial(presignature, &hash).map_err(NodeError::internal)?;
    state.record(audit("ok".into()))?;
    Ok(Json(envelope::sign_statement(
        &purposes::cggmp_partial(&record.wallet_id),
        &request.session,
        &state.node_id,
        &state.identity,
        &partial,
    )))
}
