//! A node's side of CGGMP21: its safe primes (made in the background on first start), the
//! cluster's aux info, wallet keygen, presigning and one-round signing.
//!
//! Runs advance one round per coordinator call. Every P2P message leaves sealed to its
//! recipient and every broadcast signed, and every message that arrives is opened or verified
//! against the sender's manifest identity before the protocol sees it, so the coordinator
//! relays what it can neither read nor forge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use axum::extract::State;
use axum::{Extension, Json};
use cggmp21::key_share::{AuxInfo, IncompleteKeyShare, KeyShare};
use cggmp21::{PregeneratedPrimes, Presignature};

use super::runs::{Advanced, Confirming, Handler, Keeps, Opened, RunState, Session, check_parties};
use super::{NodeError, NodeResult, NodeState, PeerRole, check_id, parse_scheme, request_claim};
use crate::cluster::client_auth as auth;
use crate::cluster::pki::CoordinatorRole;
use crate::custody::audit::{self, AuditEntry, AuditEvent};
use crate::custody::store::PresignatureTake;
use crate::model::scheme::{Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::protocols::cggmp::runner::{
    ProtocolRun, RawIncoming, RawOutgoing, RunEvent, RunFailure,
};
use crate::protocols::cggmp::{self, Curve, Level, Protocol};
use crate::wire::envelope::{self, SignedStatement};
use crate::wire::error::{BusyReason, NotReadyReason};
use crate::wire::{
    CggmpNodeStatus, CggmpPresignDiscardRequest, CggmpPresignaturesRequest,
    CggmpPresignaturesResponse, CggmpSignRequest, KeygenRequest, PresignatureInfo, RunProtocol,
    purposes,
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

/// The node's CGGMP21 state (its runs are in the node's one session table).
pub(super) struct CggmpState {
    primes_ready: AtomicBool,
    primes_error: Mutex<Option<String>>,
    /// The digest of the stored aux info, kept here so health answers need not open it.
    aux_digest: Mutex<Option<String>>,
    disabled: AtomicBool,
}

impl CggmpState {
    pub(super) fn new() -> Self {
        Self {
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

/// Whether an aux-info run is live at the node: a round is being computed, or one ended
/// recently. An abandoned one is dropped.
fn aux_running(state: &NodeState) -> bool {
    let Ok(mut sessions) = state.sessions.lock() else {
        return true;
    };
    let mut live = false;
    sessions.retain(|entry| {
        if entry.kind != RunProtocol::CggmpAuxInfo {
            return true;
        }
        match entry.session.as_ref().map(|session| session.try_lock()) {
            // Being set up (this very start, perhaps): not a run yet.
            None => true,
            // Being computed.
            Some(Err(_)) => {
                live = true;
                true
            }
            Some(Ok(session)) => {
                let active = session.last_active.elapsed() < AUX_ABANDONED;
                live |= active;
                active
            }
        }
    });
    live
}

impl CggmpState {
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

/// A CGGMP21 run in progress at this node, by protocol.
pub(in crate::node) enum CggmpRun {
    /// Aux info for the cluster.
    AuxInfo(ProtocolRun<AuxInfo<Level>>),
    /// A wallet's keygen.
    Keygen {
        /// The run.
        run: ProtocolRun<IncompleteKeyShare<Curve>>,
        /// The aux info the key share is completed with.
        aux: Box<AuxInfo<Level>>,
        /// What storing the wallet needs.
        context: KeygenContext,
    },
    /// One presignature.
    Presign(ProtocolRun<Presignature<Curve>>),
}

/// What a keygen must remember to store its wallet.
pub(in crate::node) struct KeygenContext {
    scheme: WalletScheme,
    threshold: u16,
    client: String,
    request_id: String,
    derive_tag: Option<String>,
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
        aux_info_running: aux_running(state),
        disabled: state.cggmp.disabled.load(Ordering::SeqCst),
    })
}

fn run_failed(session: &Session, failure: RunFailure) -> NodeError {
    let culprit = failure
        .culprit
        .and_then(|index| session.parties.get(usize::from(index)).cloned());
    NodeError::abort(
        format!(
            "{} session {}: {}",
            session.protocol.name(),
            session.id,
            failure.message
        ),
        culprit.into_iter().collect(),
    )
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

/// Opens an aux-info run over the whole cluster.
pub(in crate::node) fn open_aux_info(
    state: &NodeState,
    session_id: &str,
    parties: Vec<String>,
) -> Result<Opened, NodeError> {
    if state.cggmp.disabled.load(Ordering::SeqCst) {
        return Err(NodeError::not_ready(
            NotReadyReason::CggmpOff,
            format!("CGGMP21 is off at {} (--cggmp21 off)", state.node_id),
        ));
    }
    check_whole_cluster(state, &parties)?;
    let me = own_index(state, &parties)?;
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
    if aux_running(state) {
        return Err(NodeError::busy(
            BusyReason::AuxInfoRunning,
            "an aux-info run is already in progress here",
        ));
    }
    let eid = cggmp::execution_id(Protocol::AuxInfo, session_id, "", &parties, &[]);
    let n = parties.len() as u16;
    let run = cggmp::start_aux_info(eid, me, n, primes)
        .map_err(|failure| NodeError::internal(failure.message))?;
    Ok(Opened {
        parties,
        state: RunState::Cggmp(CggmpRun::AuxInfo(run)),
        claim_session: true,
    })
}

/// Opens a wallet's keygen, authorised like a FROST DKG; the wallet id, the request and the
/// session id are claimed in one write.
pub(in crate::node) fn open_keygen(
    state: &NodeState,
    request: KeygenRequest,
) -> Result<Opened, NodeError> {
    check_id("wallet id", &request.wallet_id)?;
    if request.scheme != WalletScheme::Cggmp21Secp256k1 {
        return Err(NodeError::bad_request(format!(
            "a CGGMP21 keygen makes cggmp21-secp256k1 wallets, not {}",
            request.scheme
        )));
    }
    check_whole_cluster(state, &request.parties)?;
    let n = request.parties.len() as u16;
    if request.threshold < 2 || request.threshold > n {
        return Err(NodeError::bad_request(format!(
            "threshold {} must be between 2 and the {n} parties",
            request.threshold
        )));
    }
    state.check_wallet_id_free(&request.wallet_id)?;
    let aux = stored_aux(state)?.ok_or_else(|| {
        NodeError::not_ready(
            NotReadyReason::NoAuxInfo,
            format!("{} has no CGGMP21 aux info yet", state.node_id),
        )
    })?;
    let (verified, derivation) = state.authorize_dkg(&request)?;
    // A derivation's randomness comes from the root key and the passphrase, so the same
    // passphrase and root keys always give the same shares.
    let randomness = match &derivation {
        Some(derivation) => cggmp::KeygenRandomness::Derived(*derivation.seed),
        None => cggmp::KeygenRandomness::Fresh,
    };
    let me = own_index(state, &request.parties)?;
    // The aux info is in the execution id: nodes holding different aux info cannot make a
    // wallet together (it could never sign).
    let eid = cggmp::execution_id(
        Protocol::Keygen,
        &request.session,
        &request.wallet_id,
        &request.parties,
        &cggmp::aux_info_digest(&aux),
    );
    // No other session can ever store a wallet under this id.
    state.claim_wallet_id(&verified, &request.wallet_id, &request.session, true)?;
    let run = cggmp::start_keygen(eid, me, n, request.threshold, randomness)
        .map_err(|failure| NodeError::internal(failure.message))?;
    Ok(Opened {
        parties: request.parties,
        state: RunState::Cggmp(CggmpRun::Keygen {
            run,
            aux: Box::new(aux),
            context: KeygenContext {
                scheme: request.scheme,
                threshold: request.threshold,
                client: verified.client().to_owned(),
                request_id: verified.request_id().to_owned(),
                derive_tag: derivation.map(|derivation| derivation.tag),
            },
        }),
        claim_session: false,
    })
}

/// Opens one presignature's run of a wallet for `signers` (exactly threshold parties, in the
/// wallet's party order).
pub(in crate::node) fn open_presign(
    state: &NodeState,
    session_id: &str,
    wallet_id: &str,
    signers: Vec<String>,
) -> Result<Opened, NodeError> {
    let record = cggmp_wallet(state, wallet_id)?;
    check_parties(state, &signers)?;
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
                NodeError::bad_request(format!("{signer} holds no share of wallet {wallet_id}"))
            })?;
        keygen_indices.push(position as u16);
    }
    if !keygen_indices.is_sorted() {
        return Err(NodeError::bad_request(
            "signers must be listed in the wallet's party order",
        ));
    }
    // Runs that ended here but never at every signer leave pending parts: forgotten once
    // stale, and not counted against the cap of complete ones.
    state.store.prune_pending_presignatures(
        wallet_id,
        super::now().saturating_sub(PENDING_PRESIGNATURE_TTL),
    )?;
    let held = state.store.presignatures(wallet_id)?;
    let complete = held.iter().filter(|held| held.complete).count();
    let pending = held.len() - complete;
    if complete >= MAX_PRESIGNATURES || pending >= MAX_PENDING_PRESIGNATURES {
        return Err(NodeError::busy(
            BusyReason::PresignatureCap,
            format!(
                "{} already holds {complete} complete presignatures of wallet {wallet_id} and \
                 {pending} awaiting confirmation, the most it keeps ({MAX_PRESIGNATURES} and \
                 {MAX_PENDING_PRESIGNATURES})",
                state.node_id
            ),
        ));
    }
    let share = state
        .store
        .key_package(wallet_id)?
        .ok_or_else(|| NodeError::internal("wallet without key share"))?;
    let share: KeyShare<Curve, Level> = cggmp::from_secret_bytes(&share)
        .map_err(|error| NodeError::internal(format!("key share: {error}")))?;
    let me = own_index(state, &signers)?;
    let eid = cggmp::execution_id(Protocol::Presign, session_id, wallet_id, &signers, &[]);
    let run = cggmp::start_presign(eid, me, keygen_indices, share)
        .map_err(|failure| NodeError::internal(failure.message))?;
    Ok(Opened {
        parties: signers,
        state: RunState::Cggmp(CggmpRun::Presign(run)),
        claim_session: true,
    })
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

/// What one step of a run produced.
enum Stepped {
    Messages(Vec<RawOutgoing>),
    AuxInfo(Vec<RawOutgoing>, AuxInfo<Level>),
    Keygen(Vec<RawOutgoing>, IncompleteKeyShare<Curve>),
    Presign(Vec<RawOutgoing>, Presignature<Curve>),
}

impl CggmpRun {
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
            CggmpRun::AuxInfo(run) => {
                finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::AuxInfo)
            }
            CggmpRun::Keygen { run, .. } => {
                finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::Keygen)
            }
            CggmpRun::Presign(run) => {
                finish(run.step(batch, ROUND_TIMEOUT).await?, Stepped::Presign)
            }
        }
    }
}

impl Handler for CggmpRun {
    async fn advance(
        mut self,
        state: &NodeState,
        session: &Session,
        batch: Option<Vec<RawIncoming>>,
    ) -> Result<Advanced, NodeError> {
        let stepped = self
            .step(batch)
            .await
            .map_err(|failure| run_failed(session, failure))?;
        match stepped {
            Stepped::Messages(sent) => Ok(Advanced::Next {
                sent,
                state: RunState::Cggmp(self),
            }),
            Stepped::AuxInfo(sent, aux) => {
                let digest = cggmp::aux_info_digest(&aux);
                let bytes = cggmp::to_secret_bytes(&aux).map_err(NodeError::internal)?;
                state.store.put_secret(AUX_INFO, &bytes)?;
                state.cggmp.set_aux_digest(Some(hex::encode(digest)));
                tracing::info!(digest = %hex::encode(digest), "CGGMP21 aux info stored");
                Ok(Advanced::Ended {
                    sent,
                    result: digest.to_vec(),
                    confirming: None,
                })
            }
            Stepped::Keygen(sent, core) => {
                let CggmpRun::Keygen { aux, context, .. } = self else {
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
                    created_at: super::now(),
                    confirmed: false,
                };
                // Stored pending, as a FROST DKG's: the wallet exists only once every party
                // confirms the same key.
                state.store.put_wallet(&record, &bytes, &session.id)?;
                Ok(Advanced::Ended {
                    sent,
                    result: public_key.to_vec(),
                    confirming: Some(Confirming {
                        own_result: public_key.to_vec(),
                        keeps: Keeps::Wallet {
                            client: context.client,
                            request_id: context.request_id,
                            derive_tag: context.derive_tag,
                        },
                    }),
                })
            }
            Stepped::Presign(sent, presignature) => {
                let point = cggmp::presignature_point(&presignature);
                let bytes = cggmp::to_secret_bytes(&presignature).map_err(NodeError::internal)?;
                // Pending until the confirmation shows every signer's result.
                state.store.put_presignature(
                    &session.wallet_id,
                    &session.id,
                    &session.parties,
                    &bytes,
                    &point,
                    super::now(),
                )?;
                Ok(Advanced::Ended {
                    sent,
                    result: point.to_vec(),
                    confirming: Some(Confirming {
                        own_result: point.to_vec(),
                        keeps: Keeps::Presignature,
                    }),
                })
            }
        }
    }
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
