//! `thresig node`: one signer node. It holds one share of each wallet in its own RocksDB,
//! listens only for coordinators (mutual TLS, cluster CA), runs every protocol step itself and
//! checks every input, whoever sent it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use crate::cluster::client_auth::{self as auth, ClientRequest, VerifiedRequest};
use crate::cluster::layout::NodeLayout;
use crate::cluster::manifest::Manifest;
use crate::cluster::pki::CoordinatorRole;
use crate::custody::audit::{self, AuditEntry, AuditEvent, AuditLog};
use crate::custody::key_provider::KeyProvider;
use crate::custody::store::{
    NodeStore, PendingSignature, RequestClaim, StoreError, WalletClaim, WalletRecord,
};
use crate::model::identity::NodeIdentity;
use crate::model::requests::{
    self, CreateWalletParams, DeriveWalletParams, SignMessageParams, SignTransactionParams,
};
use crate::model::scheme::{Tweak, WalletScheme};
use crate::protocols::frost::{self as frost_ops, DkgSecret, FrostOpError};
use crate::wire::envelope::{self, SignedStatement};
use crate::wire::statements;
use crate::wire::*;
use crate::with_ciphersuite;

mod cggmp;
pub mod cggmp_sessions;
mod error;
#[cfg(test)]
mod tests;

pub use self::cggmp::PrimesSource;
pub use self::error::NodeError;

/// How long an unfinished DKG may wait for its next round.
const DKG_SESSION_TTL: Duration = Duration::from_secs(120);
/// How long past its client request's expiry a signing session's round-1 nonces are kept: far
/// beyond any coordinator session (`coordinator::SESSION_TIMEOUT`), so only abandoned ones go.
const NONCE_GRACE_SECS: u64 = 60;
/// How often a running node forgets expired request ids and abandoned signing nonces.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// The node's state could not be opened: what is missing or wrong.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct NodeOpenError(String);

/// The wallet id was claimed before (by a DKG or keygen that may have been abandoned) or a
/// wallet is stored under it: ids are never reused, the coordinator must pick another.
fn wallet_id_taken(wallet_id: &str) -> NodeError {
    NodeError::wallet_id_taken(
        wallet_id,
        format!(
            "wallet id {wallet_id} was claimed by another DKG or keygen before; a wallet id is \
             used once, pick another"
        ),
    )
}

type NodeResult<T> = Result<Json<T>, NodeError>;

/// A DKG in progress at this node.
struct DkgSession {
    wallet_id: String,
    scheme: WalletScheme,
    threshold: u16,
    parties: Vec<String>,
    started: Instant,
    own_round1: Vec<u8>,
    /// The client request that asked for the DKG.
    client: String,
    request_id: String,
    /// For a passphrase derivation, its tag (recorded with the wallet once confirmed).
    derive_tag: Option<String>,
    step: DkgStep,
}

/// The coordinator role of a connection's client certificate (none: the certificate carries
/// no role, and the connection may only read).
#[derive(Debug, Clone, Copy)]
pub struct PeerRole(pub Option<CoordinatorRole>);

impl PeerRole {
    fn require(self, allowed: fn(CoordinatorRole) -> bool, what: &str) -> Result<(), NodeError> {
        match self.0 {
            Some(role) if allowed(role) => Ok(()),
            Some(role) => Err(NodeError::forbidden(
                Some(role),
                format!("a coordinator with role {} may not {what}", role.name()),
            )),
            None => Err(NodeError::forbidden(
                None,
                format!("the client certificate carries no coordinator role, so it may not {what}"),
            )),
        }
    }
}

/// The SHA-256 digest of a connection's client certificate (DER): which coordinator it is, so
/// that per-coordinator caps hold for each certificate, not each role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCert(pub [u8; 32]);

impl PeerCert {
    /// The digest of the certificate `der`.
    pub fn of(der: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(der).into())
    }
}

/// A passphrase derivation at this node: the DKG randomness and the index tag, both HMACs of
/// the request under the node's root key.
struct Derivation {
    seed: Zeroizing<[u8; 32]>,
    tag: String,
}

/// The HMACs under the node's root key that a passphrase derivation needs. The seed also binds
/// the node's id and FROST identifier: a DKG's proof of knowledge signs with a nonce from the
/// seed and a challenge over the identifier, so one seed under two identifiers would give two
/// proofs with one nonce and reveal the node's constant term. The tag (the index of derived
/// wallets) binds only the request.
fn derive_wallet_secrets(
    provider: &dyn KeyProvider,
    (node_id, index): (&str, u16),
    scheme: WalletScheme,
    threshold: u16,
    parties: u16,
    passphrase: &str,
) -> Result<Derivation, crate::custody::key_provider::KeyProviderError> {
    let (threshold, parties) = (threshold.to_be_bytes(), parties.to_be_bytes());
    let input = |purpose: &[u8], node: &[&[u8]]| {
        let mut parts: Vec<&[u8]> = vec![
            b"thresig/derive-wallet/v1",
            purpose,
            scheme.name().as_bytes(),
            &threshold,
            &parties,
            passphrase.as_bytes(),
        ];
        parts.extend_from_slice(node);
        Zeroizing::new(crate::model::transcript::binding(&parts))
    };
    let index = index.to_be_bytes();
    let seed = provider.hmac_sha256(&input(b"seed/node", &[node_id.as_bytes(), &index]))?;
    let tag = provider.hmac_sha256(&input(b"tag", &[]))?;
    Ok(Derivation {
        seed,
        tag: hex::encode(&tag[..]),
    })
}

enum DkgStep {
    AfterRound1(DkgSecret),
    /// Part 2's state, which holds the others' decoded round-1 packages.
    AfterRound2(DkgSecret),
    AwaitingConfirmation {
        public_key_package: Vec<u8>,
    },
    Taken,
}

/// Everything a running node needs.
pub struct NodeState {
    node_id: String,
    index: u16,
    manifest: Manifest,
    identity: NodeIdentity,
    store: NodeStore,
    audit: AuditLog,
    /// The root of key material: derivations need it at request time.
    provider: Box<dyn KeyProvider>,
    client_keys: Vec<String>,
    dkg: Mutex<HashMap<String, DkgSession>>,
    /// Serialises round 2 so a session's nonces are consumed exactly once.
    round2: tokio::sync::Mutex<()>,
    /// CGGMP21 runs, primes and aux-info status.
    cggmp: cggmp::CggmpState,
}

impl NodeState {
    /// Opens the node's key provider, identity and store.
    pub fn open(
        layout: &NodeLayout,
        manifest: Manifest,
        node_id: &str,
        provider: Box<dyn KeyProvider>,
    ) -> Result<Self, NodeOpenError> {
        let entry = manifest
            .node(node_id)
            .ok_or_else(|| NodeOpenError(format!("node {node_id} is not in the cluster manifest")))?
            .clone();
        let identity =
            crate::custody::identity::load(&layout.identity_file(), node_id, provider.as_ref())
                .map_err(|error| NodeOpenError(error.to_string()))?;
        if identity.public() != entry.identity {
            return Err(NodeOpenError(format!(
                "node {node_id}'s identity key does not match the cluster manifest"
            )));
        }
        let store = NodeStore::open(&layout.db_dir(), node_id, provider.as_ref())
            .map_err(|error| NodeOpenError(format!("opening the store: {error}")))?;
        housekeeping(&store).map_err(|error| NodeOpenError(format!("housekeeping: {error}")))?;
        let anchor = store
            .audit_anchor()
            .map_err(|error| NodeOpenError(format!("reading the audit anchor: {error}")))?;
        let (audit, opened) =
            AuditLog::open(&layout.audit_log(), node_id, &identity, anchor.as_ref())
                .map_err(|error| NodeOpenError(error.to_string()))?;
        if let Some(torn) = opened.repaired {
            tracing::warn!(
                node = node_id,
                records = opened.records,
                dropped_bytes = torn.bytes,
                "the audit log ended in a torn record (a write cut short by a crash): dropped it \
                 and recorded the repair"
            );
        }
        store
            .put_audit_anchor(&opened.anchor)
            .map_err(|error| NodeOpenError(format!("keeping the audit anchor: {error}")))?;
        Ok(Self {
            node_id: node_id.to_owned(),
            index: entry.index,
            client_keys: manifest.client_keys(),
            manifest,
            identity,
            store,
            audit,
            provider,
            dkg: Mutex::new(HashMap::new()),
            round2: tokio::sync::Mutex::new(()),
            cggmp: cggmp::CggmpState::new(),
        })
    }

    /// Records a DKG or signature in the audit log; nothing leaves the node unrecorded.
    fn record(&self, entry: AuditEntry) -> Result<(), NodeError> {
        self.audit
            .append_and_keep(entry, &self.identity, |anchor| {
                self.store
                    .put_audit_anchor(anchor)
                    .map_err(|error| error.to_string())
            })
            .map(|_| ())
            .map_err(|error| NodeError::internal(error.to_string()))
    }

    fn index_of(&self, node_id: &str) -> Result<u16, NodeError> {
        self.manifest
            .node(node_id)
            .map(|node| node.index)
            .ok_or_else(|| {
                NodeError::bad_request(format!("{node_id} is not a node of this cluster"))
            })
    }

    fn id_of(&self, index: u16) -> String {
        self.manifest
            .node_by_index(index)
            .map_or_else(|| format!("participant {index}"), |node| node.id.clone())
    }

    fn blame(&self, error: FrostOpError, what: &str) -> NodeError {
        match error {
            FrostOpError::Blamed { reason, culprits } => {
                let culprit = culprits.first().map(|&index| self.id_of(index));
                NodeError::abort(
                    format!(
                        "{what}: {reason}; blamed {}",
                        culprit.clone().unwrap_or_default()
                    ),
                    culprit.into_iter().collect(),
                )
            }
            FrostOpError::Failed(reason) => {
                NodeError::abort(format!("{what}: {reason}"), Vec::new())
            }
        }
    }

    /// This node's attestation of a wallet it holds confirmed.
    fn attested(&self, record: WalletRecord) -> Result<AttestedWallet, NodeError> {
        if !record.confirmed {
            return Err(NodeError::internal(format!(
                "wallet {} is not confirmed here: nothing to attest",
                record.wallet_id
            )));
        }
        let attestation = crate::wire::attestation::attest(&record, &self.node_id, &self.identity)
            .map_err(|error| NodeError::internal(format!("attesting the wallet: {error}")))?;
        Ok(AttestedWallet {
            record,
            attestation: Some(attestation),
        })
    }

    fn wallet(&self, wallet_id: &str) -> Result<WalletRecord, NodeError> {
        self.store
            .wallet(wallet_id)?
            .ok_or_else(|| NodeError::unknown_wallet(wallet_id))
    }
}

impl NodeState {
    /// Checks the client's signed request: one of `methods`, a known key, a valid signature,
    /// not expired.
    fn authorize(
        &self,
        request: &ClientRequest,
        methods: &[&str],
    ) -> Result<VerifiedRequest, NodeError> {
        if !methods.contains(&request.method.as_str()) {
            return Err(NodeError::unauthorized(format!(
                "the client's request is {}, which does not authorise this (needs {})",
                request.method,
                methods.join(" or ")
            )));
        }
        auth::verify(request, &self.client_keys, auth::now_secs())
            .map_err(|error| NodeError::unauthorized(error.to_string()))
    }

    /// Refuses early, before any work, a wallet id claimed or used before.
    fn check_wallet_id_free(&self, wallet_id: &str) -> Result<(), NodeError> {
        if self.store.wallet_claim(wallet_id)?.is_some()
            || self.store.any_wallet(wallet_id)?.is_some()
        {
            return Err(wallet_id_taken(wallet_id));
        }
        Ok(())
    }

    /// Claims `wallet_id` for the DKG or keygen `session`, durably, in one write with the
    /// request's claim (and with the session's own, `mark_session`): from here on only this
    /// session can store a wallet under the id, and no other session ever can.
    fn claim_wallet_id(
        &self,
        verified: &VerifiedRequest,
        wallet_id: &str,
        session: &str,
        mark_session: bool,
    ) -> Result<(), NodeError> {
        match self.store.claim_wallet(
            wallet_id,
            session,
            &request_claim(verified, "dkg"),
            mark_session,
        )? {
            WalletClaim::Claimed => Ok(()),
            WalletClaim::Taken => Err(wallet_id_taken(wallet_id)),
            WalletClaim::Replayed => claimed(verified, false),
            WalletClaim::SessionUsed => Err(NodeError::bad_request(format!(
                "session {session} was used before"
            ))),
        }
    }

    /// The derivation of a `thresig_deriveWallet` request at this node.
    fn derivation(
        &self,
        params: &DeriveWalletParams,
        scheme: WalletScheme,
        threshold: u16,
    ) -> Result<Derivation, NodeError> {
        derive_wallet_secrets(
            self.provider.as_ref(),
            (&self.node_id, self.index),
            scheme,
            threshold,
            self.manifest.nodes.len() as u16,
            &params.passphrase,
        )
        .map_err(|error| NodeError::internal(format!("key provider: {error}")))
    }

    /// What a signed DKG request authorises, checked against the coordinator's round-1
    /// request: the scheme, the threshold and the parties must be what the client asked for.
    fn authorize_dkg(
        &self,
        request: &DkgRound1Request,
    ) -> Result<(VerifiedRequest, Option<Derivation>), NodeError> {
        let verified = self.authorize(
            &request.authorization,
            &["thresig_createWallet", "thresig_deriveWallet"],
        )?;
        let mismatch = |what: String| NodeError::unauthorized(format!("the client's {what}"));
        let n = self.manifest.nodes.len() as u16;
        let parties = request.parties.len() as u16;
        let (scheme, threshold, derivation) = if verified.method() == "thresig_createWallet" {
            let params: CreateWalletParams = verified
                .parse()
                .map_err(|error| mismatch(format!("params do not parse: {error}")))?;
            let wanted = params.parties.unwrap_or(n);
            if wanted != parties {
                return Err(mismatch(format!(
                    "request asks for {wanted} parties, the DKG has {parties}"
                )));
            }
            let threshold = params.threshold.unwrap_or(requests::default_threshold(
                self.manifest.threshold,
                parties,
            ));
            (params.scheme.clone(), threshold, None)
        } else {
            let params: DeriveWalletParams = verified
                .parse()
                .map_err(|error| mismatch(format!("params do not parse: {error}")))?;
            if parties != n {
                return Err(mismatch(format!(
                    "derivation involves all {n} nodes, the DKG has {parties}"
                )));
            }
            let threshold = params.threshold.unwrap_or(self.manifest.threshold);
            let derivation = self.derivation(&params, request.scheme, threshold)?;
            (params.scheme.clone(), threshold, Some(derivation))
        };
        if scheme != request.scheme.name() {
            return Err(mismatch(format!(
                "request is for scheme {scheme}, the DKG for {}",
                request.scheme
            )));
        }
        if threshold != request.threshold {
            return Err(mismatch(format!(
                "request is for threshold {threshold}, the DKG for {}",
                request.threshold
            )));
        }
        Ok((verified, derivation))
    }

    /// Checks that the client's signed request covers signing `message` with `tweak` under
    /// `record`'s wallet; returns the verified request.
    fn authorize_signature(
        &self,
        authorization: &ClientRequest,
        message: &[u8],
        tweak: Tweak,
        record: &WalletRecord,
    ) -> Result<VerifiedRequest, NodeError> {
        let verified = self.authorize(
            authorization,
            &["thresig_signMessage", "thresig_signTransaction"],
        )?;
        let mismatch = |what: String| NodeError::unauthorized(format!("the client's {what}"));
        let wallet_id = verified.params()["walletId"].as_str().unwrap_or_default();
        if wallet_id != record.wallet_id {
            return Err(mismatch(format!(
                "request is for wallet {wallet_id}, not {}",
                record.wallet_id
            )));
        }
        let requested_tweak = tweak;
        let covered = if verified.method() == "thresig_signMessage" {
            let params: SignMessageParams = verified
                .parse()
                .map_err(|error| mismatch(format!("params do not parse: {error}")))?;
            let tweak = requests::parse_tweak(params.tweak.as_deref()).map_err(mismatch)?;
            // A cggmp21 wallet signs a digest this node computes from the message itself.
            let signed = params
                .signed_bytes(parse_scheme(record)?)
                .map_err(|error| mismatch(format!("message: {error}")))?;
            signed == message && tweak == requested_tweak
        } else {
            let params: SignTransactionParams = verified
                .parse()
                .map_err(|error| mismatch(format!("params do not parse: {error}")))?;
            crate::chains::transactions::messages_to_sign(
                record,
                &params,
                &self.manifest.bitcoin_network,
            )
            .map_err(|error| mismatch(format!("transaction: {error}")))?
            .contains(&(message.to_vec(), requested_tweak))
        };
        if !covered {
            return Err(mismatch(
                "request does not ask for this message to be signed with this tweak".into(),
            ));
        }
        Ok(verified)
    }
}

fn request_claim<'a>(verified: &'a VerifiedRequest, scope: &'a str) -> RequestClaim<'a> {
    RequestClaim {
        client: verified.client(),
        request_id: verified.request_id(),
        scope,
        expires_at: verified.expires_at(),
    }
}

/// A claim that was refused is a replay.
fn claimed(verified: &VerifiedRequest, fresh: bool) -> Result<(), NodeError> {
    if fresh {
        Ok(())
    } else {
        Err(NodeError::unauthorized(
            auth::AuthError::Replayed(verified.request_id().to_owned()).to_string(),
        ))
    }
}

/// The largest CGGMP21 round a node accepts.
const CGGMP_BODY_LIMIT: usize = 64 << 20;

/// The router of the node API.
pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route(paths::HEALTH, post(health))
        .route(paths::DERIVE_LOOKUP, post(derive_lookup))
        .route(paths::DKG_ROUND1, post(dkg_round1))
        .route(paths::DKG_ROUND2, post(dkg_round2))
        .route(paths::DKG_ROUND3, post(dkg_round3))
        .route(paths::DKG_CONFIRM, post(dkg_confirm))
        .route(paths::SIGN_ROUND1, post(sign_round1))
        .route(paths::SIGN_ROUND2, post(sign_round2))
        .route(paths::WALLET_GET, post(wallet_get))
        .route(paths::WALLET_LIST, post(wallet_list))
        .route(paths::CGGMP_PRESIGNATURES, post(cggmp::presignatures))
        .route(paths::CGGMP_SIGN, post(cggmp::sign))
        .route(paths::CGGMP_PRESIGN_CONFIRM, post(cggmp::presign_confirm))
        .route(paths::CGGMP_PRESIGN_DISCARD, post(cggmp::presign_discard))
        // Aux-info rounds carry proofs about every node's 3072-bit modulus: megabytes.
        .route(
            paths::CGGMP_START,
            post(cggmp::start).layer(axum::extract::DefaultBodyLimit::max(CGGMP_BODY_LIMIT)),
        )
        .route(
            paths::CGGMP_STEP,
            post(cggmp::step).layer(axum::extract::DefaultBodyLimit::max(CGGMP_BODY_LIMIT)),
        )
        .with_state(state)
}

async fn health(State(state): State<Arc<NodeState>>) -> NodeResult<HealthResponse> {
    Ok(Json(HealthResponse {
        node_id: state.node_id.clone(),
        wallets: state.store.wallet_count(),
        cggmp21: cggmp::status(&state)?,
    }))
}

/// Session and wallet ids come from the coordinator, which is not trusted: keep them short and
/// plain so they cannot collide with other keys of the store.
fn check_id(what: &str, id: &str) -> Result<(), NodeError> {
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if plain {
        Ok(())
    } else {
        Err(NodeError::bad_request(format!(
            "{what} must be 1 to 64 characters of [A-Za-z0-9_-]"
        )))
    }
}

async fn derive_lookup(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<DeriveLookupRequest>,
) -> NodeResult<DeriveLookupResponse> {
    peer.require(CoordinatorRole::may_create, "derive wallets")?;
    let verified = state.authorize(&request.authorization, &["thresig_deriveWallet"])?;
    let params: DeriveWalletParams = verified
        .parse()
        .map_err(|error| NodeError::bad_request(format!("deriveWallet params: {error}")))?;
    let scheme: WalletScheme = params
        .scheme
        .parse()
        .map_err(|error: String| NodeError::bad_request(format!("scheme: {error}")))?;
    let threshold = params.threshold.unwrap_or(state.manifest.threshold);
    let derivation = state.derivation(&params, scheme, threshold)?;
    let wallet = match state.store.derived_wallet(&derivation.tag)? {
        Some(wallet_id) => state.store.wallet(&wallet_id)?,
        None => None,
    };
    Ok(Json(DeriveLookupResponse {
        wallet: wallet.map(|record| state.attested(record)).transpose()?,
    }))
}

async fn dkg_round1(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<DkgRound1Request>,
) -> NodeResult<SignedStatement> {
    peer.require(CoordinatorRole::may_create, "create wallets")?;
    check_id("session", &request.session)?;
    check_id("wallet id", &request.wallet_id)?;
    let parties = &request.parties;
    let mut indices = Vec::with_capacity(parties.len());
    for party in parties {
        let index = state.index_of(party)?;
        if indices.contains(&index) {
            return Err(NodeError::bad_request(format!(
                "party {party} is listed twice"
            )));
        }
        indices.push(index);
    }
    if !parties.contains(&state.node_id) {
        return Err(NodeError::bad_request(format!(
            "{} is not among the parties",
            state.node_id
        )));
    }
    let max =
        u16::try_from(parties.len()).map_err(|_| NodeError::bad_request("too many parties"))?;
    if request.threshold < 2 || request.threshold > max {
        return Err(NodeError::bad_request(format!(
            "threshold {} must be between 2 and the {max} parties",
            request.threshold
        )));
    }
    if !request.scheme.is_frost() {
        return Err(NodeError::bad_request(format!(
            "{} wallets are made by a CGGMP21 keygen, not a FROST DKG",
            request.scheme
        )));
    }
    state.check_wallet_id_free(&request.wallet_id)?;
    let (verified, derivation) = state.authorize_dkg(&request)?;
    // A derivation's randomness comes from the node's root key and the passphrase, so the same
    // passphrase and root keys always give the same shares.
    let mut rng = match &derivation {
        Some(derivation) => ChaCha20Rng::from_seed(*derivation.seed),
        None => ChaCha20Rng::from_entropy(),
    };
    let (secret, package) = with_ciphersuite!(request.scheme, C => frost_ops::dkg_part1::<C>(state.index, max, request.threshold, &mut rng))
        .map_err(|error| state.blame(error, "DKG round 1"))?;
    if state
        .dkg
        .lock()
        .map_err(|_| NodeError::internal("DKG table poisoned"))?
        .contains_key(&request.session)
    {
        return Err(NodeError::bad_request(format!(
            "DKG session {} already exists",
            request.session
        )));
    }
    // One DKG per request (a replay under a new session id is refused here), and one session
    // per wallet id, ever.
    state.claim_wallet_id(&verified, &request.wallet_id, &request.session, false)?;
    let mut sessions = state
        .dkg
        .lock()
        .map_err(|_| NodeError::internal("DKG table poisoned"))?;
    sessions.retain(|_, session| session.started.elapsed() < DKG_SESSION_TTL);
    if sessions.contains_key(&request.session) {
        return Err(NodeError::bad_request(format!(
            "DKG session {} already exists",
            request.session
        )));
    }
    let statement = envelope::sign_statement(
        &purposes::dkg_round1(&request.wallet_id),
        &request.session,
        &state.node_id,
        &state.identity,
        &package,
    );
    sessions.insert(
        request.session.clone(),
        DkgSession {
            wallet_id: request.wallet_id,
            scheme: request.scheme,
            threshold: request.threshold,
            parties: request.parties,
            started: Instant::now(),
            own_round1: package,
            client: verified.client().to_owned(),
            request_id: verified.request_id().to_owned(),
            derive_tag: derivation.map(|derivation| derivation.tag),
            step: DkgStep::AfterRound1(secret),
        },
    );
    Ok(Json(statement))
}

/// Takes the session's state out for one round; it is put back (advanced) on success.
fn take_session(state: &NodeState, session: &str) -> Result<(DkgSession, DkgStep), NodeError> {
    let mut sessions = state
        .dkg
        .lock()
        .map_err(|_| NodeError::internal("DKG table poisoned"))?;
    let entry = sessions.remove(session).ok_or_else(|| {
        NodeError::unknown_session(
            session,
            format!("no DKG session {session} in progress here"),
        )
    })?;
    if entry.started.elapsed() >= DKG_SESSION_TTL {
        return Err(NodeError::unknown_session(
            session,
            format!("DKG session {session} timed out"),
        ));
    }
    let mut entry = entry;
    let step = std::mem::replace(&mut entry.step, DkgStep::Taken);
    Ok((entry, step))
}

async fn dkg_round2(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<DkgRound2Request>,
) -> NodeResult<DkgRound2Response> {
    peer.require(CoordinatorRole::may_create, "create wallets")?;
    let (mut session, step) = take_session(&state, &request.session)?;
    let DkgStep::AfterRound1(secret) = step else {
        return Err(NodeError::bad_request("DKG round 2 requested out of order"));
    };
    let purpose = purposes::dkg_round1(&session.wallet_id);
    // One per party, this node's included: its own must be the one it sent.
    let packages = statements::verify_all(
        "round-1 package",
        &request.round1,
        &session.parties,
        (&purpose, &request.session),
        &state.manifest,
    )?;
    let mut round1 = BTreeMap::new();
    for (party, payload) in packages {
        if party == state.node_id {
            if payload != session.own_round1 {
                return Err(NodeError::abort(
                    "this node's own round-1 package came back altered",
                    Vec::new(),
                ));
            }
            continue;
        }
        round1.insert(state.index_of(&party)?, payload);
    }
    let (secret, outgoing) =
        with_ciphersuite!(session.scheme, C => frost_ops::dkg_part2::<C>(secret, &round1))
            .map_err(|error| state.blame(error, "DKG round 2"))?;
    let mut envelopes = Vec::with_capacity(outgoing.len());
    for (index, package) in outgoing {
        let recipient = state
            .manifest
            .node_by_index(index)
            .ok_or_else(|| NodeError::internal("recipient vanished"))?;
        let package = package_fault(&state.node_id, package);
        let sealed = envelope::seal(
            &request.session,
            &state.node_id,
            &state.identity,
            &recipient.id,
            &recipient.identity,
            &package,
        )
        .map_err(|error| NodeError::internal(error.to_string()))?;
        envelopes.push(sealed);
    }
    session.step = DkgStep::AfterRound2(secret);
    put_session(&state, request.session, session)?;
    Ok(Json(DkgRound2Response { envelopes }))
}

/// Test fault injection: with the `test-faults` feature and
/// `THRESIG_TEST_FAULT=corrupt-dkg-share:NODE-ID` in its environment, that node sends corrupted
/// round-2 shares (a misbehaving node), so tests can check that honest nodes abort and name it.
/// Without the feature this is the identity.
#[cfg(feature = "test-faults")]
fn package_fault(
    node_id: &str,
    package: zeroize::Zeroizing<Vec<u8>>,
) -> zeroize::Zeroizing<Vec<u8>> {
    if std::env::var("THRESIG_TEST_FAULT").ok() == Some(format!("corrupt-dkg-share:{node_id}")) {
        tracing::warn!(node = node_id, "test fault: corrupting DKG round-2 shares");
        let mut package = package;
        if let Some(last) = package.last_mut() {
            *last ^= 1;
        }
        return package;
    }
    package
}

#[cfg(not(feature = "test-faults"))]
fn package_fault(
    _node_id: &str,
    package: zeroize::Zeroizing<Vec<u8>>,
) -> zeroize::Zeroizing<Vec<u8>> {
    package
}

fn put_session(state: &NodeState, id: String, session: DkgSession) -> Result<(), NodeError> {
    state
        .dkg
        .lock()
        .map_err(|_| NodeError::internal("DKG table poisoned"))?
        .insert(id, session);
    Ok(())
}

async fn dkg_round3(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<DkgRound3Request>,
) -> NodeResult<SignedStatement> {
    peer.require(CoordinatorRole::may_create, "create wallets")?;
    let (session, step) = take_session(&state, &request.session)?;
    let DkgStep::AfterRound2(secret) = step else {
        return Err(NodeError::bad_request("DKG round 3 requested out of order"));
    };
    let others: Vec<String> = session
        .parties
        .iter()
        .filter(|party| **party != state.node_id)
        .cloned()
        .collect();
    let what = "round-2 package";
    let senders = statements::identities(&state.manifest, &others, what)?;
    let packages =
        statements::one_from_each(what, &request.envelopes, &others, |position, sealed| {
            envelope::open(
                sealed,
                &request.session,
                &state.node_id,
                &state.identity,
                senders[position],
            )
        })?;
    let mut round2 = BTreeMap::new();
    for (party, package) in packages {
        round2.insert(state.index_of(&party)?, package);
    }
    let output = with_ciphersuite!(session.scheme, C => frost_ops::dkg_part3::<C>(state.index, &secret, &round2))
        .map_err(|error| state.blame(error, "DKG round 3"))?;
    let record = WalletRecord {
        wallet_id: session.wallet_id.clone(),
        scheme: session.scheme.name().to_owned(),
        threshold: session.threshold,
        parties: session.parties.clone(),
        public_key_package: hex::encode(&output.public_key_package),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs()),
        confirmed: false,
    };
    // Stored pending: the wallet exists only once every party confirms the same group key.
    state
        .store
        .put_wallet(&record, &output.key_package, &request.session)?;
    let statement = envelope::sign_statement(
        &purposes::dkg_result(&session.wallet_id),
        &request.session,
        &state.node_id,
        &state.identity,
        &output.public_key_package,
    );
    let mut session = session;
    session.step = DkgStep::AwaitingConfirmation {
        public_key_package: output.public_key_package,
    };
    put_session(&state, request.session, session)?;
    Ok(Json(statement))
}

async fn dkg_confirm(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<DkgConfirmRequest>,
) -> NodeResult<DkgConfirmResponse> {
    peer.require(CoordinatorRole::may_create, "create wallets")?;
    let (session, step) = take_session(&state, &request.session)?;
    let DkgStep::AwaitingConfirmation { public_key_package } = step else {
        return Err(NodeError::bad_request(
            "DKG confirmation requested out of order",
        ));
    };
    let purpose = purposes::dkg_result(&session.wallet_id);
    // One from each party and none from anyone else, each the key this node derived.
    let results = statements::verify_all(
        "DKG result",
        &request.results,
        &session.parties,
        (&purpose, &request.session),
        &state.manifest,
    )?;
    statements::agreed(
        "DKG result",
        &results,
        Some(&public_key_package),
        &request.session,
    )?;
    // Only the record this session stored, with the key it produced, is confirmed.
    let wallet = state
        .store
        .confirm_wallet(
            &session.wallet_id,
            &request.session,
            &hex::encode(&public_key_package),
        )?
        .ok_or_else(|| NodeError::internal("the DKG's wallet vanished before confirmation"))?;
    if let Some(tag) = &session.derive_tag {
        state.store.put_derived_wallet(tag, &session.wallet_id)?;
    }
    state.record(AuditEntry {
        event: AuditEvent::Dkg,
        session: request.session.clone(),
        request_id: Some(session.request_id.clone()),
        client: Some(session.client.clone()),
        wallet_id: session.wallet_id.clone(),
        message_digest: None,
        outcome: "ok".into(),
    })?;
    tracing::info!(wallet = %session.wallet_id, scheme = %session.scheme, "DKG confirmed");
    let attested = state.attested(wallet)?;
    Ok(Json(DkgConfirmResponse {
        wallet: attested.record,
        attestation: attested.attestation,
    }))
}

fn parse_scheme(record: &WalletRecord) -> Result<WalletScheme, NodeError> {
    record
        .scheme
        .parse()
        .map_err(|error: String| NodeError::internal(format!("stored wallet scheme: {error}")))
}

async fn sign_round1(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<SignRound1Request>,
) -> NodeResult<SignedStatement> {
    peer.require(CoordinatorRole::may_sign, "sign")?;
    check_id("session", &request.session)?;
    let record = state.wallet(&request.wallet_id)?;
    let scheme = parse_scheme(&record)?;
    if !record.parties.contains(&state.node_id) {
        return Err(NodeError::bad_request(format!(
            "{} holds no share of wallet {}",
            state.node_id, record.wallet_id
        )));
    }
    if !scheme.is_frost() {
        return Err(NodeError::bad_request(format!(
            "wallet {} is {scheme}: it signs with presignatures, not FROST rounds",
            record.wallet_id
        )));
    }
    if request.tweak == Tweak::Bip86 && scheme != WalletScheme::FrostSecp256k1Tr {
        return Err(NodeError::bad_request(format!(
            "tweak bip86 applies only to frost-secp256k1-tr, not {scheme}"
        )));
    }
    let message = hex::decode(&request.message)
        .map_err(|error| NodeError::bad_request(format!("message: {error}")))?;
    let verified =
        state.authorize_signature(&request.authorization, &message, request.tweak, &record)?;
    if state.store.peek_nonces(&request.session)?.is_some() {
        return Err(NodeError::unknown_session(
            &request.session,
            format!("signing session {} already exists", request.session),
        ));
    }
    let key_package = state
        .store
        .key_package(&record.wallet_id)?
        .ok_or_else(|| NodeError::internal("wallet without key package"))?;
    let (nonces, commitments) = with_ciphersuite!(scheme, C => frost_ops::commit::<C>(&key_package, &mut rand::rngs::OsRng))
        .map_err(|error| state.blame(error, "signing round 1"))?;
    // Each message a request covers is signed at most once: a replayed request is refused.
    let scope = format!(
        "sign-{}-{}",
        request.tweak.name(),
        audit::message_digest(&hex::decode(&request.message).unwrap_or_default())
    );
    let pending = PendingSignature {
        wallet_id: record.wallet_id.clone(),
        message: request.message.clone(),
        tweak: request.tweak.name().to_owned(),
        commitments: hex::encode(&commitments),
        client: Some(verified.client().to_owned()),
        request_id: Some(verified.request_id().to_owned()),
    };
    // Durable before the commitments leave: a restart between the rounds keeps (or, once
    // consumed, loses) exactly these nonces; the request's claim goes in the same write.
    let fresh = state.store.put_nonces(
        &request.session,
        &pending,
        &nonces,
        &request_claim(&verified, &scope),
    )?;
    claimed(&verified, fresh)?;
    Ok(Json(envelope::sign_statement(
        &purposes::sign_commitments(&record.wallet_id),
        &request.session,
        &state.node_id,
        &state.identity,
        &commitments,
    )))
}

async fn sign_round2(
    State(state): State<Arc<NodeState>>,
    Extension(peer): Extension<PeerRole>,
    Json(request): Json<SignRound2Request>,
) -> NodeResult<SignedStatement> {
    peer.require(CoordinatorRole::may_sign, "sign")?;
    let _serial = state.round2.lock().await;
    let unknown = || {
        NodeError::unknown_session(
            &request.session,
            format!(
                "signing session {} is unknown here or its nonces were already used",
                request.session
            ),
        )
    };
    let PendingSignature {
        wallet_id,
        message,
        tweak,
        commitments,
        client,
        request_id,
    } = state
        .store
        .peek_nonces(&request.session)?
        .ok_or_else(unknown)?;
    let audit = |outcome: String| AuditEntry {
        event: AuditEvent::Sign,
        session: request.session.clone(),
        request_id: request_id.clone(),
        client: client.clone(),
        wallet_id: wallet_id.clone(),
        message_digest: Some(audit::message_digest(
            &hex::decode(&message).unwrap_or_default(),
        )),
        outcome,
    };
    // The package is checked against what round 1 bound before the nonces are touched: an
    // altered package is refused (and recorded) and the nonces stay unused.
    let checked = (|| -> Result<_, NodeError> {
        let record = state.wallet(&wallet_id)?;
        let scheme = parse_scheme(&record)?;
        let package = hex::decode(&request.signing_package)
            .map_err(|error| NodeError::bad_request(format!("signing package: {error}")))?;
        let mut indices = Vec::with_capacity(record.parties.len());
        for party in &record.parties {
            indices.push(state.index_of(party)?);
        }
        let bad = |error: FrostOpError| NodeError::bad_request(format!("signing package: {error}"));
        let package =
            with_ciphersuite!(scheme, C => frost_ops::decode_signing_package::<C>(&package, &indices))
                .map_err(bad)?;
        if hex::encode(&package.message) != message {
            return Err(NodeError::bad_request(
                "the signing package's message is not the one committed to in round 1",
            ));
        }
        let own = with_ciphersuite!(scheme, C => package.commitments_of::<C>(state.index))
            .map_err(bad)?;
        if own.map(hex::encode).as_deref() != Some(commitments.as_str()) {
            return Err(NodeError::bad_request(
                "the signing package does not carry this node's round-1 commitments",
            ));
        }
        if package.signers.len() < usize::from(record.threshold) {
            return Err(NodeError::bad_request(format!(
                "the signing package has {} signers; wallet {} needs {}",
                package.signers.len(),
                record.wallet_id,
                record.threshold
            )));
        }
        Ok((record, scheme, package))
    })();
    let (record, scheme, package) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            state.record(audit(format!("refused: {}", error.message())))?;
            return Err(error);
        }
    };
    // The nonces' deletion and the audit record are two synced writes to different files;
    // they run side by side, and the share is made only once both are on disk.
    // No thread, no signature: refused before the nonces are touched.
    let (consumed, recorded) = std::thread::scope(|scope| {
        let recorded = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn_scoped(scope, || state.record(audit("ok".into())))
            .map_err(|error| NodeError::internal(format!("starting the audit writer: {error}")))?;
        let consumed = state.store.consume_nonces(&request.session);
        let recorded = recorded
            .join()
            .unwrap_or_else(|_| Err(NodeError::internal("the audit writer panicked")));
        Ok::<_, NodeError>((consumed, recorded))
    })?;
    recorded?;
    let after_record = |error: NodeError| {
        let outcome = format!("failed after it was recorded: {}", error.message());
        match state.record(audit(outcome)) {
            Ok(()) => error,
            Err(audit_error) => {
                // The caller hears of the audit failure; the original error is kept here.
                tracing::error!(session = %request.session, error = %error.message(),
                    "signing round 2 failed after its audit record, and recording that failed too");
                audit_error
            }
        }
    };
    let consumed = consumed
        .map_err(NodeError::from)
        .and_then(|consumed| consumed.ok_or_else(unknown))
        .map_err(after_record)?;
    let key_package = state
        .store
        .key_package(&record.wallet_id)
        .map_err(NodeError::from)
        .and_then(|key_package| {
            key_package.ok_or_else(|| NodeError::internal("wallet without key package"))
        })
        .map_err(after_record)?;
    let share = if tweak == Tweak::Bip86.name() {
        frost_ops::sign_bip86(&package, &consumed.nonces, &key_package)
    } else {
        with_ciphersuite!(scheme, C => frost_ops::sign::<C>(&package, &consumed.nonces, &key_package))
    }
    .map_err(|error| after_record(state.blame(error, "signing round 2")))?;
    Ok(Json(envelope::sign_statement(
        &purposes::sign_share(&record.wallet_id),
        &request.session,
        &state.node_id,
        &state.identity,
        &share,
    )))
}

async fn wallet_get(
    State(state): State<Arc<NodeState>>,
    Json(request): Json<WalletGetRequest>,
) -> NodeResult<AttestedWallet> {
    Ok(Json(state.attested(state.wallet(&request.wallet_id)?)?))
}

async fn wallet_list(
    State(state): State<Arc<NodeState>>,
    Json(request): Json<WalletListRequest>,
) -> NodeResult<WalletListResponse> {
    let limit = request.limit.clamp(1, 1000);
    let wallets = state
        .store
        .wallets(request.cursor.as_deref(), limit)?
        .into_iter()
        .map(|record| state.attested(record))
        .collect::<Result<_, _>>()?;
    Ok(Json(WalletListResponse { wallets }))
}

/// Forgets request ids whose requests expired (they are refused as expired from then on) and
/// deletes the nonces of signing sessions abandoned after round 1; returns how many of each.
fn housekeeping(store: &NodeStore) -> Result<(usize, usize), StoreError> {
    let now = auth::now_secs();
    let requests = store.prune_requests(now)?;
    let nonces = store.prune_nonces(now.saturating_sub(NONCE_GRACE_SECS))?;
    Ok((requests, nonces))
}

/// Does what `housekeeping` does every `HOUSEKEEPING_EVERY` while the node serves; the nonces
/// between signing rounds 2 (which read and then consume them).
async fn keep_house(state: Arc<NodeState>) {
    let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let swept = Arc::clone(&state);
        let requests =
            tokio::task::spawn_blocking(move || swept.store.prune_requests(auth::now_secs())).await;
        let serial = state.round2.lock().await;
        let swept = Arc::clone(&state);
        let nonces = tokio::task::spawn_blocking(move || {
            let before = auth::now_secs().saturating_sub(NONCE_GRACE_SECS);
            swept.store.prune_nonces(before)
        })
        .await;
        drop(serial);
        match (requests, nonces) {
            (Ok(Ok(requests)), Ok(Ok(nonces))) => {
                tracing::debug!(
                    requests,
                    nonces,
                    "forgot expired request ids and abandoned nonces"
                )
            }
            (requests, nonces) => tracing::warn!(?requests, ?nonces, "housekeeping failed"),
        }
    }
}

impl NodeState {
    /// Loads or starts making this node's CGGMP21 safe primes (`source`), refusing the public
    /// test primes unless `allow_test_primes`.
    pub fn prepare_primes(
        self: &Arc<Self>,
        source: PrimesSource,
        allow_test_primes: bool,
    ) -> Result<(), String> {
        cggmp::prepare_primes(self, source, allow_test_primes)
    }
}

/// Serves `state` on `listener` over mutual TLS until `shutdown` completes, with the node's
/// housekeeping running beside it.
pub async fn serve(
    state: Arc<NodeState>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let housekeeping = tokio::spawn(keep_house(Arc::clone(&state)));
    serve_tls(listener, TlsAcceptor::from(tls), router(state), shutdown).await;
    housekeeping.abort();
}

mod server;

pub use self::server::{
    HANDSHAKE_TIMEOUT, MAX_CONNECTIONS, MAX_HANDSHAKES, MAX_HANDSHAKES_PER_SOURCE, serve_tls,
};
