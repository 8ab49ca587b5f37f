//! `thresig node`: one signer node. It holds one share of each wallet in its own RocksDB,
//! listens only for coordinators (mutual TLS, cluster CA), runs every protocol step itself and
//! checks every input, whoever sent it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use zeroize::Zeroizing;

use crate::cluster::client_auth::{self as auth, ClientRequest, VerifiedRequest};
use crate::cluster::layout::NodeLayout;
use crate::cluster::manifest::Manifest;
use crate::cluster::pki::CoordinatorRole;
use crate::custody::audit::{AuditEntry, AuditLog};
use crate::custody::key_provider::KeyProvider;
use crate::custody::store::{NodeStore, RequestClaim, StoreError, WalletClaim, WalletRecord};
use crate::model::identity::NodeIdentity;
use crate::model::requests::{
    self, CreateWalletParams, DeriveWalletParams, SignMessageParams, SignTransactionParams,
};
use crate::model::scheme::{Tweak, WalletScheme};
use crate::protocols::frost::FrostOpError;
use crate::wire::error::ErrorKind;
use crate::wire::*;

use self::sessions::SessionTable;

mod cggmp;
mod error;
mod frost_dkg;
mod frost_sign;
mod runs;
pub mod sessions;
#[cfg(test)]
mod tests;

pub use self::cggmp::PrimesSource;
pub use self::error::NodeError;

/// How long an unfinished run is kept.
const SESSION_TTL: Duration = Duration::from_secs(900);
/// The most runs one coordinator (client certificate) may have open at a node (a CGGMP21 run is
/// a thread each); counted per certificate, not per role, so that a hostile coordinator cannot
/// take the places of an honest one with the same role.
const MAX_SESSIONS_PER_PEER: usize = 16;
/// How long a CGGMP21 keygen or presigning run may wait for its next round before it counts as
/// abandoned (the coordinator gives each round 60 s).
const RUN_ABANDONED: Duration = Duration::from_secs(180);
/// How long a FROST DKG may wait for its next round before it counts as abandoned: twice the
/// longest a coordinator lets a whole DKG take (30 s), so a failed DKG's place in the table is
/// free again within a minute.
const FROST_DKG_ABANDONED: Duration = Duration::from_secs(60);
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
    /// The runs in progress (FROST DKGs, CGGMP21 runs, confirmations).
    sessions: Mutex<SessionTable<PeerCert, RunProtocol, runs::Session>>,
    /// Serialises signing steps so a session's nonces are consumed exactly once.
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
            sessions: Mutex::new(SessionTable::new(MAX_SESSIONS_PER_PEER, SESSION_TTL)),
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
        request: &KeygenRequest,
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

/// The largest round a node accepts (CGGMP21 aux-info rounds are the largest).
const RUN_BODY_LIMIT: usize = 64 << 20;

/// The router of the node API.
pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route(paths::HEALTH, post(health))
        .route(paths::DERIVE_LOOKUP, post(derive_lookup))
        .route(paths::WALLET_GET, post(wallet_get))
        .route(paths::WALLET_LIST, post(wallet_list))
        .route(paths::CGGMP_PRESIGNATURES, post(cggmp::presignatures))
        .route(paths::CGGMP_SIGN, post(cggmp::sign))
        .route(paths::CGGMP_PRESIGN_DISCARD, post(cggmp::presign_discard))
        // Aux-info rounds carry proofs about every node's 3072-bit modulus: megabytes.
        .route(
            paths::START,
            post(runs::start).layer(axum::extract::DefaultBodyLimit::max(RUN_BODY_LIMIT)),
        )
        .route(
            paths::STEP,
            post(runs::step).layer(axum::extract::DefaultBodyLimit::max(RUN_BODY_LIMIT)),
        )
        .fallback(unsupported_path)
        .with_state(state)
}

/// A path this node does not serve; one of another version of the node API says so.
async fn unsupported_path(uri: axum::http::Uri) -> NodeError {
    if uri.path().starts_with(paths::PREFIX) {
        NodeError::new(
            ErrorKind::BadRequest,
            format!("the node API has no path {}", uri.path()),
        )
    } else {
        NodeError::new(
            ErrorKind::UnsupportedVersion {
                serves: paths::PREFIX.to_owned(),
            },
            format!(
                "this node serves version 2 of the node API ({}...), not {}: run the \
                 coordinator and the nodes of one release",
                paths::PREFIX,
                uri.path()
            ),
        )
    }
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

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn parse_scheme(record: &WalletRecord) -> Result<WalletScheme, NodeError> {
    record
        .scheme
        .parse()
        .map_err(|error: String| NodeError::internal(format!("stored wallet scheme: {error}")))
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
