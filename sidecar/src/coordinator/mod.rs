//! `thresig coordinator`: drives DKG and signing across the nodes and aggregates. It holds no
//! share and can read none: it relays signed statements and envelopes encrypted to the nodes,
//! and checks every aggregate signature with the precompiles' verification code before
//! returning it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::chains::addresses;
use crate::cluster::client_auth::{self as auth, ClientRequest};
use crate::cluster::manifest::Manifest;
use crate::cluster::pki::CoordinatorRole;
use crate::model::scheme::{FrostSuite, Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::protocols::frost::{self as frost_ops, FrostOpError};
use crate::wire::attestation::{self, Attestation};
use crate::wire::error::{ErrorBody, ErrorKind};
use crate::wire::*;
use crate::with_ciphersuite;

mod body;
mod cggmp;
mod node_client;
mod runner;
mod transactions;
mod verify;

pub use self::cggmp::{AuxInfoHealth, CggmpHealth, EcdsaSigned};
use self::node_client::all_ok;
pub use self::node_client::{NodeCallError, NodeClient, NodeClientError};

/// Presignatures a coordinator keeps ready per cggmp21 wallet by default.
pub const DEFAULT_PRESIGNATURE_POOL: usize = 4;

/// How long one node call may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a health probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Wallet records the coordinator remembers (a wallet never changes once its DKG is confirmed).
const RECORD_CACHE: usize = 100_000;
/// Decoded public key packages the coordinator keeps (about a kilobyte each at 3-of-5).
const PUBLIC_KEY_CACHE: usize = 10_000;
/// How long a node that failed a signing call is asked only after the others.
const SUSPECT_FOR: Duration = Duration::from_secs(10);
/// How long a whole DKG or signature may take.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Something the coordinator cannot do, as the API reports it.
#[derive(Debug, Clone, Error)]
pub enum CoordinatorError {
    /// A parameter is wrong.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// No node knows the wallet.
    #[error("unknown wallet {0}")]
    UnknownWallet(String),
    /// Fewer nodes answer than the operation needs.
    #[error("{needed} nodes are needed but only {} are reachable; unreachable: {}", reachable.len(), unreachable.join(", "))]
    NotEnoughNodes {
        /// How many are needed.
        needed: usize,
        /// The reachable nodes.
        reachable: Vec<String>,
        /// The unreachable nodes.
        unreachable: Vec<String>,
    },
    /// A node aborted the protocol.
    #[error("{node} aborted: {message}")]
    Abort {
        /// The node that aborted.
        node: String,
        /// The node it blames, if any.
        culprit: Option<String>,
        /// Its explanation.
        message: String,
    },
    /// Nodes disagree about a wallet.
    #[error("nodes disagree: {0}")]
    Inconsistent(String),
    /// The aggregate signature did not verify (a node misbehaved undetected by FROST).
    #[error("the aggregate signature does not verify: {0}")]
    Verification(String),
    /// The session took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The client's signed request is missing, invalid, expired, replayed or does not cover
    /// what was asked (said by the coordinator or by a node).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// This coordinator's role does not allow the method (said by the coordinator or a node).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The cluster is not ready for the request yet (CGGMP21 aux info still being made).
    #[error("not ready: {0}")]
    NotReady(String),
    /// Anything else.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The start of a FROST signature: the signers that committed (wallet party order), their
/// answers to relay, and their checked commitments by FROST index.
struct Committed {
    signers: Vec<String>,
    answers: Vec<(String, StepResponse)>,
    commitments: BTreeMap<u16, Vec<u8>>,
}

/// A wallet as the API returns it. Read strictly: a client checks every field it is given
/// (attestations cover all but `createdAt` and the addresses, which must be the key's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WalletView {
    /// The wallet id.
    pub wallet_id: String,
    /// The scheme.
    pub scheme: String,
    /// Shares needed to sign.
    pub threshold: u16,
    /// Shares in all.
    pub parties: u16,
    /// The nodes holding them.
    pub nodes: Vec<String>,
    /// The group public key, 0x-hex: x-only for frost-secp256k1-tr, 32 bytes for frost-ed25519,
    /// 33-byte compressed SEC1 for cggmp21-secp256k1.
    pub public_key: String,
    /// Chain addresses of the key.
    pub addresses: BTreeMap<String, String>,
    /// Seconds since the Unix epoch when the wallet was created.
    pub created_at: u64,
    /// Each holder's signature over the wallet (docs/sidecar.md, "Wallet attestations"), in
    /// the order of `nodes`; clients check them against the cluster manifest.
    #[serde(default)]
    pub attestations: Vec<Attestation>,
}

/// A signature as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureView {
    /// The signature, 0x-hex: 64 bytes (BIP-340 or RFC 8032) or, for cggmp21-secp256k1,
    /// 65 bytes r ‖ s ‖ v (low s, v the recovery id 0 or 1).
    pub signature: String,
    /// The key it verifies under, 0x-hex (the BIP-86 output key when tweaked).
    pub public_key: String,
    /// The nodes that signed.
    pub signers: Vec<String>,
}

/// A verified aggregate signature and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The 64-byte signature (BIP-340 or RFC 8032).
    pub signature: [u8; 64],
    /// The key it verifies under (the BIP-86 output key when tweaked).
    pub public_key: Vec<u8>,
    /// The nodes that signed.
    pub signers: Vec<String>,
}

/// A wallet's record and which of its parties answered for it.
#[derive(Debug, Clone)]
pub(crate) struct LocatedWallet {
    /// The record the parties agree on.
    pub record: WalletRecord,
    /// Parties that answered, in the record's party order.
    pub reachable: Vec<String>,
    /// Parties that did not answer.
    pub unreachable: Vec<String>,
}

/// Node reachability as health reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// The node.
    pub id: String,
    /// Whether it answered.
    pub reachable: bool,
}

/// The health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// `ok` when at least the threshold of nodes answer, otherwise `degraded`.
    pub status: String,
    /// The cluster threshold.
    pub threshold: u16,
    /// Every node.
    pub nodes: Vec<NodeHealth>,
    /// CGGMP21 (cggmp21-secp256k1) readiness: aux info and presignatures.
    pub cggmp21: CggmpHealth,
}

/// Receives every payload the coordinator relays between nodes (for audits and tests).
pub type RelayObserver = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// A cached public key package: its serialized form (hex, as in the wallet record) and decoded.
type PublicKeyEntry = (String, Arc<frost_ops::DecodedPublicKeyPackage>);

/// The coordinator's logic, independent of how the API is served.
pub struct Coordinator {
    client: NodeClient,
    network: bitcoin::Network,
    observer: Option<RelayObserver>,
    cggmp: cggmp::CggmpCoordinator,
    /// Confirmed wallet records as the nodes agreed on them: signing with a known wallet
    /// needs no lookup round trip.
    records: Mutex<HashMap<String, WalletRecord>>,
    /// Decoded public key packages of wallets signed with, by wallet id, with the serialized
    /// package each was decoded from.
    public_keys: Mutex<HashMap<String, PublicKeyEntry>>,
    /// Nodes whose last signing call failed, and when: asked after the others for a while.
    suspects: Mutex<HashMap<String, Instant>>,
    /// Verified attestations by wallet id: the statement they sign and each node's signature,
    /// so a wallet answer carries every holder's even while one is down.
    attestations: Mutex<HashMap<String, AttestationEntry>>,
}

/// A wallet's statement and the nodes' verified signatures over it.
type AttestationEntry = (Vec<u8>, BTreeMap<String, Attestation>);

impl Coordinator {
    /// A coordinator for the cluster `client` talks to.
    pub fn new(client: NodeClient) -> Result<Self, String> {
        let network = addresses::bitcoin_network(&client.manifest().bitcoin_network)?;
        Ok(Self {
            client,
            network,
            observer: None,
            cggmp: cggmp::CggmpCoordinator::new(DEFAULT_PRESIGNATURE_POOL),
            records: Mutex::new(HashMap::new()),
            public_keys: Mutex::new(HashMap::new()),
            suspects: Mutex::new(HashMap::new()),
            attestations: Mutex::new(HashMap::new()),
        })
    }

    /// Keeps `size` presignatures ready per cggmp21 wallet (0: make each when signing).
    pub fn with_presignature_pool(mut self, size: usize) -> Self {
        self.cggmp = cggmp::CggmpCoordinator::new(size);
        self
    }

    /// The Bitcoin network addresses and transaction summaries are given for.
    pub fn network(&self) -> bitcoin::Network {
        self.network
    }

    /// Reports every relayed payload to `observer`.
    pub fn with_relay_observer(mut self, observer: RelayObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    fn manifest(&self) -> &Manifest {
        self.client.manifest()
    }

    /// Every node's id, in manifest order.
    fn node_ids(&self) -> Vec<String> {
        self.manifest()
            .nodes
            .iter()
            .map(|node| node.id.clone())
            .collect()
    }

    /// Checks, before any node is asked, that this coordinator's role allows the method and
    /// that the client's request verifies; the nodes check both again themselves.
    pub fn check_request(
        &self,
        request: &ClientRequest,
        allowed: fn(CoordinatorRole) -> bool,
    ) -> Result<auth::VerifiedRequest, CoordinatorError> {
        match self.client.role() {
            Some(role) if allowed(role) => {}
            Some(role) => {
                return Err(CoordinatorError::Forbidden(format!(
                    "this coordinator has role {}, which does not serve {}",
                    role.name(),
                    request.method
                )));
            }
            None => {
                return Err(CoordinatorError::Forbidden(
                    "this coordinator's certificate carries no role".into(),
                ));
            }
        }
        auth::verify(request, &self.manifest().client_keys(), auth::now_secs())
            .map_err(|error| CoordinatorError::Unauthorized(error.to_string()))
    }

    fn observe<T: Serialize>(&self, path: &str, payload: &T) {
        if let Some(observer) = &self.observer
            && let Ok(bytes) = serde_json::to_vec(payload)
        {
            observer(path, &bytes);
        }
    }

    /// Which of `candidates` answer a health probe, in the given order.
    pub async fn probe(&self, candidates: &[String]) -> (Vec<String>, Vec<String>) {
        let answers = self
            .client
            .fan_out::<_, HealthResponse>(candidates, paths::HEALTH, PROBE_TIMEOUT, |_| {
                serde_json::json!({})
            })
            .await;
        let (reachable, unreachable): (Vec<_>, Vec<_>) =
            answers.into_iter().partition(|(_, answer)| answer.is_ok());
        (
            reachable.into_iter().map(|(node, _)| node).collect(),
            unreachable.into_iter().map(|(node, _)| node).collect(),
        )
    }

    /// `thresig_health`.
    pub async fn health(&self) -> HealthView {
        let all = self.node_ids();
        let answers = self.health_answers(&all).await;
        let (reachable, _) = answered(&all, &answers);
        let threshold = self.manifest().threshold;
        HealthView {
            cggmp21: self.cggmp_health(&answers),
            status: if reachable.len() >= usize::from(threshold) {
                "ok"
            } else {
                "degraded"
            }
            .to_owned(),
            threshold,
            nodes: all
                .iter()
                .map(|id| NodeHealth {
                    id: id.clone(),
                    reachable: reachable.contains(id),
                })
                .collect(),
        }
    }

    /// `thresig_createWallet`: a DKG among `parties` reachable nodes.
    pub async fn create_wallet(
        &self,
        scheme: WalletScheme,
        threshold: Option<u16>,
        parties: Option<u16>,
        authorization: &ClientRequest,
    ) -> Result<WalletView, CoordinatorError> {
        let n = self.manifest().nodes.len();
        let parties = usize::from(parties.unwrap_or(n as u16));
        let threshold = threshold.unwrap_or(crate::model::requests::default_threshold(
            self.manifest().threshold,
            parties as u16,
        ));
        if parties < 2 || parties > n {
            return Err(CoordinatorError::InvalidParams(format!(
                "parties must be between 2 and the cluster's {n} nodes, got {parties}"
            )));
        }
        if threshold < 2 || usize::from(threshold) > parties {
            return Err(CoordinatorError::InvalidParams(format!(
                "threshold must be between 2 and parties ({parties}), got {threshold}"
            )));
        }
        if scheme == WalletScheme::Cggmp21Secp256k1 && parties != n {
            return Err(CoordinatorError::InvalidParams(format!(
                "cggmp21-secp256k1 wallets are shared by all {n} nodes (the aux info is the \
                 cluster's), got parties {parties}"
            )));
        }
        let all = self.node_ids();
        let (reachable, unreachable) = self.probe(&all).await;
        if reachable.len() < parties {
            return Err(CoordinatorError::NotEnoughNodes {
                needed: parties,
                reachable,
                unreachable,
            });
        }
        let chosen: Vec<String> = reachable.into_iter().take(parties).collect();
        let record = self
            .dkg_with_timeout(scheme, threshold, &chosen, authorization)
            .await?;
        // The wallet as the nodes stored it, so createWallet and getWallet agree exactly.
        self.view(&record)
    }

    /// `thresig_deriveWallet`: the wallet the passphrase gives with every node's root key.
    /// If every node already holds it, it is returned; otherwise a DKG whose randomness each
    /// node derives from its root key and the passphrase makes it (again).
    pub async fn derive_wallet(
        &self,
        scheme: WalletScheme,
        threshold: Option<u16>,
        authorization: &ClientRequest,
    ) -> Result<WalletView, CoordinatorError> {
        let threshold = threshold.unwrap_or(self.manifest().threshold);
        let n = self.manifest().nodes.len();
        if threshold < 2 || usize::from(threshold) > n {
            return Err(CoordinatorError::InvalidParams(format!(
                "threshold must be between 2 and the cluster's {n} nodes, got {threshold}"
            )));
        }
        let all = self.node_ids();
        let (reachable, unreachable) = self.probe(&all).await;
        if !unreachable.is_empty() {
            // A derivation gives every node a share, so all of them must take part.
            return Err(CoordinatorError::NotEnoughNodes {
                needed: n,
                reachable,
                unreachable,
            });
        }
        let lookup = DeriveLookupRequest {
            authorization: authorization.clone(),
        };
        let found = self
            .client
            .fan_out::<_, DeriveLookupResponse>(&all, paths::DERIVE_LOOKUP, CALL_TIMEOUT, |_| {
                &lookup
            })
            .await;
        let mut held: Option<WalletRecord> = None;
        let mut everywhere = true;
        let mut attestations = Vec::new();
        for (node, answer) in all_ok(found)? {
            let Some(AttestedWallet {
                record,
                attestation,
            }) = answer.wallet
            else {
                everywhere = false;
                continue;
            };
            match &mut held {
                None => held = Some(record),
                Some(first) if record.wallet_id == first.wallet_id => {
                    merge_record(first, record, &node)?
                }
                Some(_) => {
                    everywhere = false;
                    continue;
                }
            }
            attestations.push((node.clone(), attestation));
        }
        if let (true, Some(record)) = (everywhere, held) {
            self.collect_attestations(&record, attestations);
            return self.view(&record);
        }
        let record = self
            .dkg_with_timeout(scheme, threshold, &all, authorization)
            .await?;
        self.view(&record)
    }

    async fn dkg_with_timeout(
        &self,
        scheme: WalletScheme,
        threshold: u16,
        parties: &[String],
        authorization: &ClientRequest,
    ) -> Result<WalletRecord, CoordinatorError> {
        let wallet_id = format!("w-{}", uuid::Uuid::new_v4().simple());
        let session = uuid::Uuid::new_v4().to_string();
        let run = async {
            if scheme.is_frost() {
                self.run_dkg(
                    &session,
                    &wallet_id,
                    scheme,
                    threshold,
                    parties,
                    authorization,
                )
                .await
            } else {
                self.run_cggmp_keygen(&session, &wallet_id, threshold, parties, authorization)
                    .await
            }
        };
        tokio::time::timeout(SESSION_TIMEOUT, run)
            .await
            .map_err(|_| {
                CoordinatorError::Timeout(format!(
                    "DKG session {session} took longer than {SESSION_TIMEOUT:?}"
                ))
            })?
    }

    /// A FROST DKG among `parties`: three rounds on the runner, then the confirmation step.
    async fn run_dkg(
        &self,
        session: &str,
        wallet_id: &str,
        scheme: WalletScheme,
        threshold: u16,
        parties: &[String],
        authorization: &ClientRequest,
    ) -> Result<WalletRecord, CoordinatorError> {
        let start = StartRequest::Keygen(KeygenRequest {
            session: session.to_owned(),
            wallet_id: wallet_id.to_owned(),
            scheme,
            threshold,
            parties: parties.to_vec(),
            authorization: authorization.clone(),
        });
        let end = self.run(&start, parties, CALL_TIMEOUT).await?;
        self.confirmed_wallet(wallet_id, end.confirmed)
    }

    /// The wallet every party confirmed at a keygen's last step, as each stored it: they must
    /// agree, as getWallet would require; their attestations are kept.
    fn confirmed_wallet(
        &self,
        wallet_id: &str,
        confirmed: Vec<(String, Confirmed)>,
    ) -> Result<WalletRecord, CoordinatorError> {
        let mut wallet: Option<WalletRecord> = None;
        let mut attestations = Vec::with_capacity(confirmed.len());
        for (node, answer) in confirmed {
            let Confirmed::Wallet(answer) = answer else {
                return Err(CoordinatorError::Inconsistent(format!(
                    "{node} confirmed something other than wallet {wallet_id}"
                )));
            };
            if answer.record.wallet_id != wallet_id {
                return Err(CoordinatorError::Inconsistent(format!(
                    "{node} confirmed wallet {} instead of {wallet_id}",
                    answer.record.wallet_id
                )));
            }
            attestations.push((node.clone(), answer.attestation));
            match &mut wallet {
                Some(first) => merge_record(first, answer.record, &node)?,
                None => wallet = Some(answer.record),
            }
        }
        let wallet =
            wallet.ok_or_else(|| CoordinatorError::Internal("no DKG confirmations".into()))?;
        self.collect_attestations(&wallet, attestations);
        self.remember(&wallet);
        Ok(wallet)
    }

    /// Keeps each node's attestation of `record` (the record its holders agreed on) that is
    /// the node's valid signature over the record's statement; a missing or bad one is left
    /// out (and the client, missing it, names the node).
    fn collect_attestations(
        &self,
        record: &WalletRecord,
        answers: Vec<(String, Option<Attestation>)>,
    ) {
        let statement = match attestation::record_statement(record) {
            Ok(statement) => statement,
            Err(error) => {
                tracing::warn!(wallet = %record.wallet_id, %error, "no wallet statement");
                return;
            }
        };
        let Ok(mut cache) = self.attestations.lock() else {
            return;
        };
        // Attestations of another statement (the wallet described otherwise) are dropped.
        let mut entry = cache
            .remove(&record.wallet_id)
            .filter(|(cached, _)| *cached == statement)
            .unwrap_or_else(|| (statement, BTreeMap::new()));
        for (node, attestation) in answers {
            let Some(attestation) = attestation else {
                tracing::warn!(%node, wallet = %record.wallet_id, "the node sent no wallet attestation");
                continue;
            };
            if entry.1.get(&node) == Some(&attestation) {
                continue;
            }
            if attestation.node != node
                || !record.parties.contains(&node)
                || !attestation::verifies(&entry.0, &attestation, self.manifest())
            {
                tracing::warn!(%node, wallet = %record.wallet_id, "the node's wallet attestation does not verify");
                continue;
            }
            entry.1.insert(node, attestation);
        }
        insert_bounded(&mut cache, RECORD_CACHE, &record.wallet_id, entry);
    }

    /// The verified attestations of `record` collected so far, in party order.
    fn attestations_of(&self, record: &WalletRecord) -> Vec<Attestation> {
        let Ok(statement) = attestation::record_statement(record) else {
            return Vec::new();
        };
        let Ok(cache) = self.attestations.lock() else {
            return Vec::new();
        };
        match cache.get(&record.wallet_id) {
            Some((cached, by_node)) if *cached == statement => record
                .parties
                .iter()
                .filter_map(|party| by_node.get(party).cloned())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Remembers a confirmed wallet's record as its parties agreed on it.
    fn remember(&self, record: &WalletRecord) {
        if let Ok(mut records) = self.records.lock() {
            insert_bounded(
                &mut records,
                RECORD_CACHE,
                &record.wallet_id,
                record.clone(),
            );
        }
    }

    /// The wallet's public key package, decoded (once per wallet while it stays in memory).
    fn public_key_package(
        &self,
        record: &WalletRecord,
        suite: FrostSuite,
    ) -> Result<Arc<frost_ops::DecodedPublicKeyPackage>, CoordinatorError> {
        let cached = self.public_keys.lock().ok().and_then(|cache| {
            cache
                .get(&record.wallet_id)
                .filter(|(serialized, _)| *serialized == record.public_key_package)
                .map(|(_, decoded)| Arc::clone(decoded))
        });
        if let Some(decoded) = cached {
            return Ok(decoded);
        }
        let bytes = hex::decode(&record.public_key_package)
            .map_err(|error| CoordinatorError::Internal(error.to_string()))?;
        let decoded = Arc::new(
            with_ciphersuite!(suite, C => frost_ops::decode_public_key_package::<C>(&bytes))
                .map_err(|error| self.frost_error(error))?,
        );
        if let Ok(mut cache) = self.public_keys.lock() {
            let entry = (record.public_key_package.clone(), Arc::clone(&decoded));
            insert_bounded(&mut cache, PUBLIC_KEY_CACHE, &record.wallet_id, entry);
        }
        Ok(decoded)
    }

    /// The wallet for signing: a FROST wallet from memory, its parties assumed reachable until
    /// a call says otherwise; any other, or one not seen yet, as its nodes describe it. Parties
    /// that failed lately come last.
    pub(crate) async fn wallet_for_signing(
        &self,
        wallet_id: &str,
    ) -> Result<LocatedWallet, CoordinatorError> {
        let remembered = self
            .records
            .lock()
            .ok()
            .and_then(|records| records.get(wallet_id).cloned())
            // CGGMP21 picks a signer set by its presignature pools, which needs to know who is up.
            .filter(|record| record.scheme != WalletScheme::Cggmp21Secp256k1.name());
        let mut wallet = match remembered {
            Some(record) => LocatedWallet {
                reachable: record.parties.clone(),
                unreachable: Vec::new(),
                record,
            },
            None => self.locate_wallet(wallet_id).await?,
        };
        if let Ok(mut suspects) = self.suspects.lock() {
            suspects.retain(|_, since| since.elapsed() < SUSPECT_FOR);
            wallet
                .reachable
                .sort_by_key(|node| suspects.contains_key(node));
        }
        Ok(wallet)
    }

    /// Notes that `node` failed a call: it is asked after the others for a while.
    fn suspect(&self, node: &str) {
        if let Ok(mut suspects) = self.suspects.lock() {
            suspects.insert(node.to_owned(), Instant::now());
        }
    }

    /// The wallet as the nodes that hold it describe it; they must agree.
    pub async fn wallet_record(&self, wallet_id: &str) -> Result<WalletRecord, CoordinatorError> {
        Ok(self.locate_wallet(wallet_id).await?.record)
    }

    /// The wallet as the nodes that hold it describe it (they must agree), and which of its
    /// parties answered: asking every node for the record doubles as the reachability probe a
    /// signature needs, so signing costs no separate round trip for it.
    pub(crate) async fn locate_wallet(
        &self,
        wallet_id: &str,
    ) -> Result<LocatedWallet, CoordinatorError> {
        let all = self.node_ids();
        let request = WalletGetRequest {
            wallet_id: wallet_id.to_owned(),
        };
        let answers = self
            .client
            .fan_out::<_, AttestedWallet>(&all, paths::WALLET_GET, PROBE_TIMEOUT, |_| &request)
            .await;
        let mut found: Option<WalletRecord> = None;
        let mut answered = Vec::new();
        let mut unknown = false;
        let mut unreachable = Vec::new();
        let mut attestations = Vec::new();
        for (node, answer) in answers {
            match answer {
                Ok(AttestedWallet {
                    record,
                    attestation,
                }) => {
                    answered.push(node.clone());
                    attestations.push((node.clone(), attestation));
                    match &mut found {
                        Some(first) => merge_record(first, record, &node)?,
                        None => found = Some(record),
                    }
                }
                Err(NodeCallError::Refused {
                    body:
                        ErrorBody {
                            kind: ErrorKind::UnknownWallet { .. },
                            ..
                        },
                    ..
                }) => unknown = true,
                Err(_) => unreachable.push(node),
            }
        }
        match found {
            Some(record) => {
                self.collect_attestations(&record, attestations);
                self.remember(&record);
                let (reachable, unreachable) = record
                    .parties
                    .iter()
                    .cloned()
                    .partition(|party| answered.contains(party));
                Ok(LocatedWallet {
                    record,
                    reachable,
                    unreachable,
                })
            }
            None if unknown => Err(CoordinatorError::UnknownWallet(wallet_id.to_owned())),
            None => Err(CoordinatorError::NotEnoughNodes {
                needed: 1,
                reachable: Vec::new(),
                unreachable,
            }),
        }
    }

    /// `thresig_getWallet`.
    pub async fn get_wallet(&self, wallet_id: &str) -> Result<WalletView, CoordinatorError> {
        self.view(&self.wallet_record(wallet_id).await?)
    }

    /// `thresig_listWallets`: wallets in id order after `cursor`, and the next cursor.
    pub async fn list_wallets(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<WalletView>, Option<String>), CoordinatorError> {
        let all = self.node_ids();
        let request = WalletListRequest { cursor, limit };
        let answers = self
            .client
            .fan_out::<_, WalletListResponse>(&all, paths::WALLET_LIST, PROBE_TIMEOUT, |_| &request)
            .await;
        let mut merged: BTreeMap<String, WalletRecord> = BTreeMap::new();
        let mut attestations: HashMap<String, Vec<(String, Option<Attestation>)>> = HashMap::new();
        let mut answered = 0;
        for (node, answer) in answers {
            let Ok(response) = answer else { continue };
            answered += 1;
            for AttestedWallet {
                record,
                attestation,
            } in response.wallets
            {
                attestations
                    .entry(record.wallet_id.clone())
                    .or_default()
                    .push((node.clone(), attestation));
                match merged.get_mut(&record.wallet_id) {
                    Some(existing) => merge_record(existing, record, &node)?,
                    None => {
                        merged.insert(record.wallet_id.clone(), record);
                    }
                }
            }
        }
        if answered == 0 {
            return Err(CoordinatorError::NotEnoughNodes {
                needed: 1,
                reachable: Vec::new(),
                unreachable: all,
            });
        }
        let page: Vec<WalletRecord> = merged.into_values().take(limit).collect();
        for record in &page {
            if let Some(answers) = attestations.remove(&record.wallet_id) {
                self.collect_attestations(record, answers);
            }
        }
        let next = if page.len() == limit {
            page.last().map(|record| record.wallet_id.clone())
        } else {
            None
        };
        let views = page
            .iter()
            .map(|record| self.view(record))
            .collect::<Result<_, _>>()?;
        Ok((views, next))
    }

    fn view(&self, record: &WalletRecord) -> Result<WalletView, CoordinatorError> {
        let scheme: WalletScheme = record.scheme.parse().map_err(CoordinatorError::Internal)?;
        let public_key = attestation::public_key(record).map_err(CoordinatorError::Internal)?;
        let addresses = attestation::addresses(scheme, &public_key, self.network)
            .map_err(CoordinatorError::Internal)?;
        Ok(WalletView {
            wallet_id: record.wallet_id.clone(),
            scheme: record.scheme.clone(),
            threshold: record.threshold,
            parties: record.parties.len() as u16,
            nodes: record.parties.clone(),
            public_key: format!("0x{}", hex::encode(public_key)),
            addresses,
            created_at: record.created_at,
            attestations: self.attestations_of(record),
        })
    }

    /// `thresig_signMessage`: two FROST rounds with `threshold` reachable parties, aggregation,
    /// and verification of the result. A cggmp21-secp256k1 wallet signs the digest of the message under `params.encoding`
    /// (computed here and again by every node); a raw digest is refused.
    pub async fn sign_message(
        &self,
        params: &crate::model::requests::SignMessageParams,
        tweak: Tweak,
        authorization: &ClientRequest,
    ) -> Result<SignatureView, CoordinatorError> {
        let wallet = self.wallet_for_signing(&params.wallet_id).await?;
        let scheme: WalletScheme = wallet
            .record
            .scheme
            .parse()
            .map_err(CoordinatorError::Internal)?;
        let message = params
            .signed_bytes(scheme)
            .map_err(|error| CoordinatorError::InvalidParams(format!("message: {error}")))?;
        let message = message.as_slice();
        if scheme == WalletScheme::Cggmp21Secp256k1 {
            if tweak != Tweak::None {
                return Err(CoordinatorError::InvalidParams(format!(
                    "tweak {} applies only to frost-secp256k1-tr wallets, not cggmp21-secp256k1",
                    tweak.name()
                )));
            }
            let hash = crate::protocols::cggmp::message_hash(message)
                .map_err(|error| CoordinatorError::InvalidParams(format!("message: {error}")))?;
            let signed = self.sign_ecdsa(&wallet, hash, authorization).await?;
            return Ok(SignatureView {
                signature: format!("0x{}", hex::encode(signed.signature)),
                public_key: format!("0x{}", hex::encode(signed.public_key)),
                signers: signed.signers,
            });
        }
        let signed = self
            .sign_with_record(&wallet, message, tweak, authorization)
            .await?;
        Ok(SignatureView {
            signature: format!("0x{}", hex::encode(signed.signature)),
            public_key: format!("0x{}", hex::encode(&signed.public_key)),
            signers: signed.signers,
        })
    }

    /// Signs `message` with `wallet`: picks `threshold` of the parties that answered when it
    /// was located, runs one signing session and verifies the aggregate before returning it.
    pub(crate) async fn sign_with_record(
        &self,
        wallet: &LocatedWallet,
        message: &[u8],
        tweak: Tweak,
        authorization: &ClientRequest,
    ) -> Result<Signed, CoordinatorError> {
        let record = &wallet.record;
        let scheme: WalletScheme = record.scheme.parse().map_err(CoordinatorError::Internal)?;
        let Some(suite) = scheme.frost() else {
            return Err(CoordinatorError::Internal(format!(
                "a FROST signing session for {scheme} wallet {}",
                record.wallet_id
            )));
        };
        if tweak == Tweak::Bip86 && suite != FrostSuite::Secp256k1Tr {
            return Err(CoordinatorError::InvalidParams(format!(
                "tweak bip86 applies only to frost-secp256k1-tr wallets, not {scheme}"
            )));
        }
        let needed = usize::from(record.threshold);
        if wallet.reachable.len() < needed {
            return Err(CoordinatorError::NotEnoughNodes {
                needed,
                reachable: wallet.reachable.clone(),
                unreachable: wallet.unreachable.clone(),
            });
        }
        let session = uuid::Uuid::new_v4().to_string();
        tokio::time::timeout(
            SESSION_TIMEOUT,
            self.run_signing(&session, wallet, suite, (message, tweak), authorization),
        )
        .await
        .map_err(|_| {
            CoordinatorError::Timeout(format!(
                "signing session {session} took longer than {SESSION_TIMEOUT:?}"
            ))
        })?
    }

    async fn run_signing(
        &self,
        session: &str,
        wallet: &LocatedWallet,
        suite: FrostSuite,
        (message, tweak): (&[u8], Tweak),
        authorization: &ClientRequest,
    ) -> Result<Signed, CoordinatorError> {
        let record = &wallet.record;
        let start = StartRequest::Sign(SignRequest {
            session: session.to_owned(),
            wallet_id: record.wallet_id.clone(),
            message: hex::encode(message),
            tweak,
            authorization: authorization.clone(),
        });
        let committed = self.commit_round(wallet, &start).await?;
        let signers = committed.signers.clone();
        // The package every signer builds from the same commitments.
        let (_, decoded_package) =
            with_ciphersuite!(suite, C => frost_ops::build_signing_package::<C>(&committed.commitments, message))
                .map_err(|error| self.frost_error(error))?;
        let end = self
            .relay(&start, &signers, committed.answers, CALL_TIMEOUT)
            .await?;
        let mut shares = BTreeMap::new();
        for (node, _, share) in end.results {
            let index = self
                .manifest()
                .node(&node)
                .map(|entry| entry.index)
                .ok_or_else(|| CoordinatorError::Internal(format!("unknown node {node}")))?;
            shares.insert(index, share);
        }
        let public = self.public_key_package(record, suite)?;
        let bip86 = tweak == Tweak::Bip86;
        let frost_ops::Aggregate {
            signature,
            group_key,
        } = with_ciphersuite!(suite, C => frost_ops::aggregate::<C>(&decoded_package, &shares, &public, bip86))
            .map_err(|error| self.frost_error(error))?;
        let (verified_key, valid) = match suite {
            FrostSuite::Secp256k1Tr => {
                let x_only = addresses::x_only(&group_key).map_err(CoordinatorError::Internal)?;
                let key = if bip86 {
                    addresses::bip86_output_key(&x_only).map_err(CoordinatorError::Internal)?
                } else {
                    x_only
                };
                (
                    key.to_vec(),
                    thresig_precompiles::bip340::verify(&key, message, &signature),
                )
            }
            FrostSuite::Ed25519 => (
                group_key.clone(),
                thresig_precompiles::ed25519::verify(&group_key, message, &signature),
            ),
        };
        let signature: [u8; 64] = signature.as_slice().try_into().map_err(|_| {
            CoordinatorError::Verification(format!(
                "session {session}: the aggregate is {} bytes, not 64",
                signature.len()
            ))
        })?;
        match valid {
            Ok(true) => Ok(Signed {
                signature,
                public_key: verified_key,
                signers,
            }),
            Ok(false) => Err(CoordinatorError::Verification(format!("session {session}"))),
            Err(error) => Err(CoordinatorError::Verification(error.to_string())),
        }
    }

    /// Starts signing at the wallet's first `threshold` candidate parties; each that cannot be
    /// reached (or no longer holds the wallet) is replaced by the next candidate, within the
    /// same session. Each answer must be one commitment broadcast signed by its node, checked
    /// as it arrives.
    async fn commit_round(
        &self,
        wallet: &LocatedWallet,
        start: &StartRequest,
    ) -> Result<Committed, CoordinatorError> {
        let needed = usize::from(wallet.record.threshold);
        let purpose = purposes::sign_commitments(&wallet.record.wallet_id);
        let mut spares = wallet.reachable.iter().skip(needed);
        let mut asking: Vec<String> = wallet.reachable.iter().take(needed).cloned().collect();
        let mut committed = Committed {
            signers: Vec::with_capacity(needed),
            answers: Vec::with_capacity(needed),
            commitments: BTreeMap::new(),
        };
        let mut unreachable = wallet.unreachable.clone();
        while !asking.is_empty() {
            let answers = self
                .client
                .fan_out::<_, StepResponse>(&asking, paths::START, PROBE_TIMEOUT, |_| start)
                .await;
            let mut replacements = Vec::new();
            for (node, answer) in answers {
                match answer {
                    Ok(answer) => {
                        let [RelayedMessage::Broadcast(statement)] = answer.messages.as_slice()
                        else {
                            return Err(abort_from(
                                &node,
                                "answered the start of signing with something other than one \
                                 commitment broadcast"
                                    .into(),
                            ));
                        };
                        let (index, payload) = verify::answer(
                            self.manifest(),
                            &node,
                            statement,
                            &purpose,
                            start.session(),
                        )?;
                        committed.commitments.insert(index, payload);
                        committed.signers.push(node.clone());
                        committed.answers.push((node, answer));
                    }
                    Err(NodeCallError::Unreachable { .. }) => {
                        self.suspect(&node);
                        unreachable.push(node);
                        replacements.extend(spares.next().cloned());
                    }
                    Err(NodeCallError::Refused {
                        body:
                            ErrorBody {
                                kind: ErrorKind::UnknownWallet { .. },
                                ..
                            },
                        ..
                    }) => {
                        unreachable.push(node);
                        replacements.extend(spares.next().cloned());
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            asking = replacements;
        }
        let party_order = |node: &String| wallet.record.parties.iter().position(|p| p == node);
        // In the wallet's party order, as signers and errors report them.
        committed.signers.sort_by_key(party_order);
        committed.answers.sort_by_key(|(node, _)| party_order(node));
        if committed.signers.len() < needed {
            unreachable.sort_by_key(party_order);
            return Err(CoordinatorError::NotEnoughNodes {
                needed,
                reachable: committed.signers,
                unreachable,
            });
        }
        Ok(committed)
    }

    fn frost_error(&self, error: FrostOpError) -> CoordinatorError {
        match error {
            FrostOpError::Blamed { reason, culprits } => {
                let culprit = culprits
                    .first()
                    .and_then(|&index| self.manifest().node_by_index(index))
                    .map(|node| node.id.clone());
                CoordinatorError::Abort {
                    node: culprit.clone().unwrap_or_default(),
                    culprit,
                    message: reason,
                }
            }
            FrostOpError::Failed(reason) => CoordinatorError::Internal(reason),
        }
    }
}

/// The nodes of `nodes` that answered (`answers` in the same order), and those that did not.
fn answered<T>(nodes: &[String], answers: &[Option<T>]) -> (Vec<String>, Vec<String>) {
    let (reachable, unreachable): (Vec<_>, Vec<_>) = nodes
        .iter()
        .zip(answers)
        .partition(|(_, answer)| answer.is_some());
    let ids = |pairs: Vec<(&String, &Option<T>)>| {
        pairs.into_iter().map(|(node, _)| node.clone()).collect()
    };
    (ids(reachable), ids(unreachable))
}

/// `node` aborted the protocol: it sent something that does not check.
fn abort_from(node: &str, message: String) -> CoordinatorError {
    CoordinatorError::Abort {
        node: node.to_owned(),
        culprit: Some(node.to_owned()),
        message,
    }
}

/// Inserts into a cache of at most `limit` entries; when it is full an arbitrary entry goes
/// (it is computed or looked up again when next needed).
fn insert_bounded<V>(cache: &mut HashMap<String, V>, limit: usize, key: &str, value: V) {
    if cache.len() >= limit
        && !cache.contains_key(key)
        && let Some(old) = cache.keys().next().cloned()
    {
        cache.remove(&old);
    }
    cache.insert(key.to_owned(), value);
}

/// Folds one node's description of a wallet into another's. Everything must agree but the
/// creation time, which each node stamps itself when its DKG round 3 ends (seconds apart in a
/// large or slow cluster); the earliest is kept.
fn merge_record(
    existing: &mut WalletRecord,
    record: WalletRecord,
    node: &str,
) -> Result<(), CoordinatorError> {
    let created_at = existing.created_at.min(record.created_at);
    let same = WalletRecord {
        created_at: existing.created_at,
        ..record
    };
    if *existing != same {
        return Err(CoordinatorError::Inconsistent(format!(
            "{node} describes wallet {} differently",
            existing.wallet_id
        )));
    }
    existing.created_at = created_at;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(created_at: u64, package: &str) -> WalletRecord {
        WalletRecord {
            wallet_id: "w-1".into(),
            scheme: "frost-ed25519".into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into()],
            public_key_package: package.into(),
            created_at,
            confirmed: true,
        }
    }

    #[test]
    fn caches_stay_within_their_bound() {
        let mut cache = HashMap::new();
        for key in ["a", "b", "c", "d"] {
            insert_bounded(&mut cache, 3, key, key.len());
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.contains_key("d"), "the newest entry is kept");
        insert_bounded(&mut cache, 3, "d", 7);
        assert_eq!(
            (cache.len(), cache["d"]),
            (3, 7),
            "replacing does not evict"
        );
    }

    #[test]
    fn nodes_may_stamp_different_creation_times_but_nothing_else() {
        let mut merged = record(100, "aa");
        merge_record(&mut merged, record(99, "aa"), "node-2").unwrap();
        merge_record(&mut merged, record(101, "aa"), "node-3").unwrap();
        assert_eq!(merged, record(99, "aa"));

        let error = merge_record(&mut merged, record(99, "bb"), "node-4").unwrap_err();
        assert!(matches!(error, CoordinatorError::Inconsistent(message)
            if message == "node-4 describes wallet w-1 differently"));
    }
}
