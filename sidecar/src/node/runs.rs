//! The node's side of the start/step relay, the same for every protocol: one table of runs,
//! one check of what arrives (each message opened or verified against its sender's manifest
//! identity before a protocol sees it), one way of sealing and signing what leaves, and the
//! confirmation step that ends a keygen or a presigning run. Each protocol's handler
//! (`frost_dkg`, `frost_sign`, `cggmp`) only computes its rounds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::{Extension, Json};
use zeroize::Zeroizing;

use super::{NodeError, NodeResult, NodeState, PeerCert, PeerRole, cggmp, check_id, frost_dkg};
use super::{frost_sign, sessions::SessionRefusal};
use crate::cluster::pki::CoordinatorRole;
use crate::custody::audit::{AuditEntry, AuditEvent};
use crate::protocols::cggmp::runner::{RawIncoming, RawOutgoing};
use crate::wire::envelope;
use crate::wire::error::BusyReason;
use crate::wire::statements::{self, StatementFault};
use crate::wire::{
    Confirmed, RelayedMessage, RunProtocol, StartRequest, StepRequest, StepResponse,
};

/// A run in progress at this node.
pub(super) struct Session {
    /// Its session id.
    pub(super) id: String,
    /// What it runs.
    pub(super) protocol: RunProtocol,
    /// The wallet it is for (empty for aux info).
    pub(super) wallet_id: String,
    /// The parties in protocol order.
    pub(super) parties: Vec<String>,
    /// When a round last ended here.
    pub(super) last_active: Instant,
    /// Its state between rounds; `None` once it has ended.
    pub(super) state: Option<RunState>,
}

impl Session {
    /// The position of `node` among the parties.
    pub(super) fn position_of(&self, node: &str) -> Option<u16> {
        self.parties
            .iter()
            .position(|party| party == node)
            .and_then(|position| u16::try_from(position).ok())
    }

    /// The parties other than `node`, in protocol order.
    pub(super) fn others(&self, node: &str) -> Vec<String> {
        self.parties
            .iter()
            .filter(|party| *party != node)
            .cloned()
            .collect()
    }
}

/// A run's state between two rounds, by protocol.
pub(super) enum RunState {
    /// A FROST DKG.
    FrostDkg(frost_dkg::DkgRun),
    /// A CGGMP21 aux-info, keygen or presigning run.
    Cggmp(cggmp::CggmpRun),
    /// Ended here; waits for every other party's result.
    Confirming(Confirming),
}

/// What a handler did with one round.
pub(super) enum Advanced {
    /// More rounds follow: what this node sends, and its state for the next round.
    Next {
        /// The messages, addressed by position among the parties (`None`: to every other).
        sent: Vec<RawOutgoing>,
        /// The state the next round starts from.
        state: RunState,
    },
    /// The run ended here: what it sends last, the payload of its signed result, and, for a
    /// protocol that confirms, what it waits for.
    Ended {
        /// The last messages (often none).
        sent: Vec<RawOutgoing>,
        /// The result, signed as the protocol's result purpose.
        result: Vec<u8>,
        /// What the confirmation step keeps, once every party shows the same result.
        confirming: Option<Confirming>,
    },
}

/// One protocol's rounds at a node.
pub(super) trait Handler {
    /// Computes one round of `session`: the first when `incoming` is `None`, else with the
    /// round's messages, each already opened or verified and from another party.
    async fn advance(
        self,
        node: &NodeState,
        session: &Session,
        incoming: Option<Vec<RawIncoming>>,
    ) -> Result<Advanced, NodeError>;
}

/// What a run that ended here keeps once every party shows the same result.
pub(super) struct Confirming {
    /// This node's own result payload.
    pub(super) own_result: Vec<u8>,
    /// What the confirmation makes real.
    pub(super) keeps: Keeps,
}

/// What a confirmation makes real at this node.
pub(super) enum Keeps {
    /// A keygen's wallet, stored pending under the session.
    Wallet {
        /// The client that asked for it.
        client: String,
        /// Its request id.
        request_id: String,
        /// For a passphrase derivation, its tag.
        derive_tag: Option<String>,
    },
    /// A presignature, stored pending under the session id.
    Presignature,
}

/// What a protocol's opening gives the generic start: the run's parties (protocol order) and
/// its state before its first round.
pub(super) struct Opened {
    /// The parties, in protocol order.
    pub(super) parties: Vec<String>,
    /// The state before the first round.
    pub(super) state: RunState,
    /// Whether the session id still needs its durable claim (a keygen's went in with its
    /// wallet id's claim).
    pub(super) claim_session: bool,
}

/// Starts a run of any protocol and answers with this node's first messages.
pub(super) async fn start(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Extension(cert): Extension<PeerCert>,
    Json(request): Json<StartRequest>,
) -> NodeResult<StepResponse> {
    let session_id = request.session().to_owned();
    check_id("session", &session_id)?;
    let protocol = request.protocol();
    peer.require(allowed(protocol), doing(protocol))?;
    if let StartRequest::Sign(request) = request {
        // Signing keeps its state in the store (its nonces), not in the table.
        return frost_sign::start(&state, request).map(Json);
    }
    let wallet_id = request.wallet_id().to_owned();
    check_id_if_any("wallet id", &wallet_id)?;
    // A place in the table is held before any work, and given back if the start fails.
    let reservation = Reservation::new(&state, &session_id, (cert, protocol))?;
    let opened = match request {
        StartRequest::Keygen(request) if request.scheme.is_frost() => {
            frost_dkg::open(&state, request)?
        }
        StartRequest::Keygen(request) => cggmp::open_keygen(&state, request)?,
        StartRequest::AuxInfo { parties, .. } => {
            cggmp::open_aux_info(&state, &session_id, parties)?
        }
        StartRequest::Presign {
            wallet_id, signers, ..
        } => cggmp::open_presign(&state, &session_id, &wallet_id, signers)?,
        StartRequest::Sign(_) => {
            return Err(NodeError::internal("a signing run reached the table"));
        }
    };
    // A session id (and so an execution id) is used once, even across restarts.
    if opened.claim_session && !state.store.claim_session(&session_id)? {
        return Err(NodeError::bad_request(format!(
            "session {session_id} was used before"
        )));
    }
    let session = Arc::new(tokio::sync::Mutex::new(Session {
        id: session_id,
        protocol,
        wallet_id,
        parties: opened.parties,
        last_active: Instant::now(),
        state: Some(opened.state),
    }));
    // Locked before it is visible, so the first round runs before any step can.
    let mut locked = Arc::clone(&session).lock_owned().await;
    reservation.fill(session)?;
    let answer = advance(&state, &mut locked, None).await;
    finish_round(&state, &mut locked, answer).map(Json)
}

/// One round of a run: the messages (or, at a confirmation, the results) for this node in,
/// its next messages or its result out. Any refusal ends the run here.
pub(super) async fn step(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<StepRequest>,
) -> NodeResult<StepResponse> {
    check_id("session", &request.session)?;
    let Some(session) = state
        .sessions
        .lock()
        .map_err(|_| NodeError::internal("session table poisoned"))?
        .get(&request.session)
    else {
        // Signing runs are not in the table: their nonces are in the store.
        let signing = RunProtocol::FrostSign;
        let may_sign = || peer.require(allowed(signing), doing(signing));
        return frost_sign::step(&state, may_sign, request).await.map(Json);
    };
    let mut session = session.lock().await;
    peer.require(allowed(session.protocol), doing(session.protocol))?;
    let answer = if matches!(session.state, Some(RunState::Confirming(_))) {
        confirm(&state, &mut session, &request)
    } else if !request.results.is_empty() {
        Err(NodeError::bad_request(format!(
            "{} session {} has not ended here: results are shown only at its confirmation",
            session.protocol.name(),
            session.id
        )))
    } else {
        match incoming(&state, &session, &request.messages) {
            Ok(batch) => advance(&state, &mut session, Some(batch)).await,
            Err(error) => Err(error),
        }
    };
    finish_round(&state, &mut session, answer).map(Json)
}

/// The coordinator role that may run `protocol`.
fn allowed(protocol: RunProtocol) -> fn(CoordinatorRole) -> bool {
    match protocol {
        RunProtocol::FrostSign | RunProtocol::CggmpPresign => CoordinatorRole::may_sign,
        RunProtocol::FrostDkg | RunProtocol::CggmpKeygen | RunProtocol::CggmpAuxInfo => {
            CoordinatorRole::may_create
        }
    }
}

/// What running `protocol` is, for a refusal.
fn doing(protocol: RunProtocol) -> &'static str {
    match protocol {
        RunProtocol::FrostSign => "sign",
        RunProtocol::CggmpPresign => "presign",
        RunProtocol::FrostDkg | RunProtocol::CggmpKeygen => "create wallets",
        RunProtocol::CggmpAuxInfo => "generate aux info",
    }
}

/// An id that may be empty (aux info has no wallet) must otherwise be plain.
fn check_id_if_any(what: &str, id: &str) -> Result<(), NodeError> {
    if id.is_empty() {
        Ok(())
    } else {
        check_id(what, id)
    }
}

/// Feeds a round to the run's handler and turns what it did into the answer.
async fn advance(
    state: &NodeState,
    session: &mut Session,
    incoming: Option<Vec<RawIncoming>>,
) -> Result<StepResponse, NodeError> {
    let Some(run) = session.state.take() else {
        return Err(NodeError::unknown_session(
            &session.id,
            format!("session {} has ended here", session.id),
        ));
    };
    let advanced = match run {
        RunState::FrostDkg(run) => run.advance(state, session, incoming).await?,
        RunState::Cggmp(run) => run.advance(state, session, incoming).await?,
        RunState::Confirming(_) => {
            return Err(NodeError::bad_request(format!(
                "session {} awaits its confirmation",
                session.id
            )));
        }
    };
    match advanced {
        Advanced::Next { sent, state: next } => {
            session.state = Some(next);
            Ok(StepResponse {
                messages: outgoing(state, session, sent)?,
                ..StepResponse::default()
            })
        }
        Advanced::Ended {
            sent,
            result,
            confirming,
        } => {
            let statement = envelope::sign_statement(
                &session.protocol.result_purpose(&session.wallet_id),
                &session.id,
                &state.node_id,
                &state.identity,
                &result,
            );
            session.state = confirming.map(RunState::Confirming);
            Ok(StepResponse {
                messages: outgoing(state, session, sent)?,
                result: Some(statement),
                confirmed: None,
            })
        }
    }
}

/// Ends the run here unless it answered and has rounds left.
fn finish_round(
    state: &NodeState,
    session: &mut Session,
    answer: Result<StepResponse, NodeError>,
) -> Result<StepResponse, NodeError> {
    session.last_active = Instant::now();
    if answer.is_err() || session.state.is_none() {
        end(state, session);
    }
    answer
}

/// Removes the run from the table (ended, failed or refused).
pub(super) fn end(state: &NodeState, session: &mut Session) {
    session.state = None;
    if let Ok(mut sessions) = state.sessions.lock() {
        sessions.remove(&session.id);
    }
}

/// Opens or verifies each message for this node and turns it into protocol input: from another
/// party of the run, P2P ones sealed to this node, broadcasts signed for the protocol's
/// purpose. The messages came through the coordinator, so a sender is blamed only for what it
/// provably signed.
pub(super) fn incoming(
    state: &NodeState,
    session: &Session,
    messages: &[RelayedMessage],
) -> Result<Vec<RawIncoming>, NodeError> {
    let purpose = session.protocol.broadcast_purpose(&session.wallet_id);
    let mut batch = Vec::with_capacity(messages.len());
    for message in messages {
        let sender = message.sender();
        let position = session
            .position_of(sender)
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
        let blame = |error: envelope::EnvelopeError| {
            let blamed = if error.proves_sender() {
                vec![error.culprit().to_owned()]
            } else {
                Vec::new()
            };
            NodeError::abort(
                format!("{} message: {error}", session.protocol.name()),
                blamed,
            )
        };
        let (payload, broadcast) = match message {
            RelayedMessage::P2p(sealed) => (
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
            RelayedMessage::Broadcast(statement) => (
                Zeroizing::new(
                    envelope::verify_statement(statement, &purpose, &session.id, identity)
                        .map_err(blame)?,
                ),
                true,
            ),
        };
        batch.push(RawIncoming {
            sender: position,
            broadcast,
            payload,
        });
    }
    Ok(batch)
}

/// Exactly one message of the given kind (broadcast or P2P) from each other party: their
/// payloads by the sender's manifest index. A missing, doubled or misdirected message blames
/// nobody, since the relay could have dropped, doubled or rerouted it.
pub(super) fn one_from_each_other(
    state: &NodeState,
    session: &Session,
    what: &'static str,
    incoming: Vec<RawIncoming>,
    broadcast: bool,
) -> Result<BTreeMap<u16, Zeroizing<Vec<u8>>>, NodeError> {
    let mut payloads = BTreeMap::new();
    let mut counts = vec![0usize; session.parties.len()];
    for message in incoming {
        let party = session
            .parties
            .get(usize::from(message.sender))
            .ok_or_else(|| NodeError::internal("a message from no party"))?;
        if message.broadcast != broadcast {
            return Err(StatementFault::Stranger {
                what,
                sender: party.clone(),
            }
            .into());
        }
        counts[usize::from(message.sender)] += 1;
        payloads.insert(state.index_of(party)?, message.payload);
    }
    for (party, count) in session.parties.iter().zip(counts) {
        if *party != state.node_id && count != 1 {
            return Err(StatementFault::Count {
                what,
                party: party.clone(),
                count,
            }
            .into());
        }
    }
    Ok(payloads)
}

/// Seals or signs what the run sends.
fn outgoing(
    state: &NodeState,
    session: &Session,
    sent: Vec<RawOutgoing>,
) -> Result<Vec<RelayedMessage>, NodeError> {
    let purpose = session.protocol.broadcast_purpose(&session.wallet_id);
    sent.into_iter()
        .map(|message| match message.recipient {
            None => Ok(RelayedMessage::Broadcast(envelope::sign_statement(
                &purpose,
                &session.id,
                &state.node_id,
                &state.identity,
                &message.payload,
            ))),
            Some(position) => {
                let recipient = session
                    .parties
                    .get(usize::from(position))
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
                .map(RelayedMessage::P2p)
                .map_err(|error| NodeError::internal(error.to_string()))
            }
        })
        .collect()
}

/// The confirmation step: one result from each other party, each the one this node ended
/// with; only then is the run's output kept (a wallet activated, a presignature counted).
fn confirm(
    state: &NodeState,
    session: &mut Session,
    request: &StepRequest,
) -> Result<StepResponse, NodeError> {
    let Some(RunState::Confirming(confirming)) = session.state.take() else {
        return Err(NodeError::internal(
            "a confirmation of a run that has not ended",
        ));
    };
    if !request.messages.is_empty() {
        return Err(NodeError::bad_request(format!(
            "session {} has ended here: its confirmation carries results, not messages",
            session.id
        )));
    }
    let what = match confirming.keeps {
        Keeps::Wallet { .. } => "DKG result",
        Keeps::Presignature => "presignature result",
    };
    let purpose = session.protocol.result_purpose(&session.wallet_id);
    let others = session.others(&state.node_id);
    let results = statements::verify_all(
        what,
        &request.results,
        &others,
        (&purpose, &session.id),
        &state.manifest,
    )?;
    statements::agreed(what, &results, Some(&confirming.own_result), &session.id)?;
    let confirmed = match confirming.keeps {
        Keeps::Wallet {
            client,
            request_id,
            derive_tag,
        } => {
            // Only the record this session stored, with the key it produced, is confirmed.
            let wallet = state
                .store
                .confirm_wallet(
                    &session.wallet_id,
                    &session.id,
                    &hex::encode(&confirming.own_result),
                )?
                .ok_or_else(|| {
                    NodeError::internal("the keygen's wallet vanished before confirmation")
                })?;
            if let Some(tag) = &derive_tag {
                state.store.put_derived_wallet(tag, &session.wallet_id)?;
            }
            state.record(AuditEntry {
                event: AuditEvent::Dkg,
                session: session.id.clone(),
                request_id: Some(request_id),
                client: Some(client),
                wallet_id: session.wallet_id.clone(),
                message_digest: None,
                outcome: "ok".into(),
            })?;
            tracing::info!(wallet = %session.wallet_id, scheme = %wallet.scheme, "DKG confirmed");
            Confirmed::Wallet(state.attested(wallet)?)
        }
        Keeps::Presignature => {
            state
                .store
                .confirm_presignature(&session.wallet_id, &session.id)?;
            Confirmed::Presignature {
                id: session.id.clone(),
            }
        }
    };
    Ok(StepResponse {
        confirmed: Some(confirmed),
        ..StepResponse::default()
    })
}

/// A held place in the session table, given back when dropped unless filled.
struct Reservation<'a> {
    state: &'a NodeState,
    id: String,
    filled: bool,
}

impl<'a> Reservation<'a> {
    fn new(
        state: &'a NodeState,
        id: &str,
        (peer, protocol): (PeerCert, RunProtocol),
    ) -> Result<Self, NodeError> {
        state
            .sessions
            .lock()
            .map_err(|_| NodeError::internal("session table poisoned"))?
            .reserve(id, (peer, protocol), abandoned)
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
            && let Ok(mut sessions) = self.state.sessions.lock()
        {
            sessions.remove(&self.id);
        }
    }
}

/// Whether a run that is not being computed was abandoned by its coordinator: no round for
/// longer than its coordinator would ever wait (a FROST DKG's whole session is bounded by
/// [`super::FROST_DKG_ABANDONED`], CGGMP21's rounds by [`super::RUN_ABANDONED`]; aux info,
/// which only one may run at a time, is judged by `cggmp::aux_running`).
fn abandoned(session: &Session) -> bool {
    let idle = session.last_active.elapsed();
    match session.protocol {
        RunProtocol::CggmpAuxInfo => false,
        RunProtocol::FrostDkg => idle > super::FROST_DKG_ABANDONED,
        _ => idle > super::RUN_ABANDONED,
    }
}

/// Parties of a run: distinct cluster nodes, this one among them.
pub(super) fn check_parties(state: &NodeState, parties: &[String]) -> Result<(), NodeError> {
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
