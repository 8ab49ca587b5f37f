//! The coordinator's side of CGGMP21: it relays the rounds of aux-info, keygen and presigning
//! runs between the nodes (ciphertext and signed broadcasts only), keeps the cluster's aux info
//! generated, keeps a pool of presignatures per wallet and signer set, and combines partial
//! signatures into `r ‖ s ‖ v`, verified before it is returned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    CALL_TIMEOUT, Coordinator, CoordinatorError, LocatedWallet, PROBE_TIMEOUT, SESSION_TIMEOUT,
    abort_from,
};
use crate::cluster::client_auth::ClientRequest;
use crate::cluster::pki::CoordinatorRole;
use crate::coordinator::node_client::all_ok;
use crate::coordinator::verify;
use crate::model::scheme::WalletScheme;
use crate::model::wallet::WalletRecord;
use crate::protocols::cggmp as engine;
use crate::wire::envelope::SignedStatement;
use crate::wire::{
    CggmpNodeStatus, CggmpPresignDiscardRequest, CggmpPresignaturesRequest,
    CggmpPresignaturesResponse, CggmpSignRequest, Confirmed, HealthResponse, KeygenRequest,
    PresignatureInfo, StartRequest, paths, purposes,
};

/// How long one aux-info round may take at one node (proofs over 3072-bit moduli on a busy
/// machine).
const AUX_ROUND_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one keygen or presigning round may take at one node.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the background task waits after a failed aux-info run.
const AUX_RETRY: Duration = Duration::from_secs(10);
/// How often the background task looks at aux info and pools.
const BACKGROUND_PERIOD: Duration = Duration::from_millis(500);
/// The longest a wallet's refill waits after failures (the wait doubles from
/// `BACKGROUND_PERIOD` with each failure in a row).
const REFILL_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How long a wallet's refill waits after `failures` failed presigning runs in a row:
/// exponential from `BACKGROUND_PERIOD`, at most `REFILL_BACKOFF_MAX`.
fn refill_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKGROUND_PERIOD
        .saturating_mul(1 << doublings)
        .min(REFILL_BACKOFF_MAX)
}

/// Where the cluster's aux info stands, as the coordinator last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuxState {
    Unknown,
    WaitingForPrimes { ready: usize, of: usize },
    WaitingForNodes(Vec<String>),
    Generating,
    Ready(String),
    Failed(String),
    Disabled(Vec<String>),
}

/// CGGMP21 state of a coordinator.
pub(super) struct CggmpCoordinator {
    aux: Mutex<AuxState>,
    /// Ready presignatures by wallet (ids and signer sets; the secrets are at the nodes).
    pools: Mutex<HashMap<String, Vec<PresignatureInfo>>>,
    /// Records of the cggmp21 wallets the pools serve.
    wallets: Mutex<BTreeMap<String, WalletRecord>>,
    /// Presignatures to keep ready per wallet for its preferred signer set.
    target: usize,
    refill: tokio::sync::Notify,
    /// Per wallet: failed refills in a row, and when the next may be tried.
    backoff: Mutex<HashMap<String, (u32, tokio::time::Instant)>>,
    /// Wallets whose presignatures were last surveyed with every party answering, so that
    /// every orphan then was found; a failed signature or refill takes a wallet out again.
    swept: Mutex<HashSet<String>>,
}

impl CggmpCoordinator {
    /// Whether the wallet's refill waits after failures.
    fn backing_off(&self, wallet_id: &str) -> bool {
        self.backoff.lock().is_ok_and(|backoff| {
            backoff
                .get(wallet_id)
                .is_some_and(|(_, next)| tokio::time::Instant::now() < *next)
        })
    }

    /// Counts a failed refill of the wallet; returns how long it now waits.
    fn refill_failed(&self, wallet_id: &str) -> Duration {
        let Ok(mut backoff) = self.backoff.lock() else {
            return REFILL_BACKOFF_MAX;
        };
        let entry = backoff
            .entry(wallet_id.to_owned())
            .or_insert((0, tokio::time::Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        let wait = refill_backoff(entry.0);
        entry.1 = tokio::time::Instant::now() + wait;
        wait
    }

    /// Records whether the wallet's last survey found every orphan.
    fn set_swept(&self, wallet_id: &str, swept: bool) {
        if let Ok(mut set) = self.swept.lock() {
            if swept {
                set.insert(wallet_id.to_owned());
            } else {
                set.remove(wallet_id);
            }
        }
    }

    /// Whether the wallet's orphans were all found by its last survey.
    fn swept(&self, wallet_id: &str) -> bool {
        self.swept.lock().is_ok_and(|set| set.contains(wallet_id))
    }

    /// Forgets the wallet's failures after a refill succeeded.
    fn refill_succeeded(&self, wallet_id: &str) {
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.remove(wallet_id);
        }
    }

    pub(super) fn new(target: usize) -> Self {
        Self {
            aux: Mutex::new(AuxState::Unknown),
            pools: Mutex::new(HashMap::new()),
            wallets: Mutex::new(BTreeMap::new()),
            target,
            refill: tokio::sync::Notify::new(),
            backoff: Mutex::new(HashMap::new()),
            swept: Mutex::new(HashSet::new()),
        }
    }
}

/// Aux-info status as `thresig_health` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuxInfoHealth {
    /// `ready`, `waiting-for-primes`, `waiting-for-nodes`, `generating`, `failed`, `disabled`
    /// (a node runs with `--cggmp21 off`) or `unknown` (not looked at yet).
    pub status: String,
    /// Nodes whose safe primes exist.
    pub nodes_with_primes: usize,
    /// Nodes holding the cluster aux info.
    pub nodes_with_aux_info: usize,
    /// What went wrong, for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// CGGMP21 readiness as `thresig_health` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CggmpHealth {
    /// The cluster aux info, which cggmp21-secp256k1 wallets need.
    pub aux_info: AuxInfoHealth,
    /// Ready presignatures, over all wallets.
    pub presignatures: usize,
}

/// A threshold ECDSA signature and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdsaSigned {
    /// `r ‖ s ‖ v`, low s, v the recovery id (0 or 1).
    pub signature: [u8; 65],
    /// The wallet key, compressed SEC1.
    pub public_key: [u8; 33],
    /// The nodes that signed.
    pub signers: Vec<String>,
}

impl Coordinator {
    /// The aux-info status for `thresig_health`, from the nodes' health answers.
    pub(super) fn cggmp_health(&self, answers: &[Option<HealthResponse>]) -> CggmpHealth {
        let with_primes = answers
            .iter()
            .flatten()
            .filter(|answer| answer.cggmp21.primes)
            .count();
        let digests: Vec<&String> = answers
            .iter()
            .flatten()
            .filter_map(|answer| answer.cggmp21.aux_info.as_ref())
            .collect();
        let state = self
            .cggmp
            .aux
            .lock()
            .map(|state| state.clone())
            .unwrap_or(AuxState::Unknown);
        // Ready when every node holds the same aux info, or (with nodes down) when the last
        // look found it so and every node that answers still holds it.
        let same = |digest: &String| digests.iter().all(|held| *held == digest);
        let ready = match (&state, digests.first()) {
            (AuxState::Ready(known), _) => same(known) && !digests.is_empty(),
            (_, Some(first)) => digests.len() == answers.len() && same(first),
            _ => false,
        };
        let disabled = answers
            .iter()
            .flatten()
            .any(|answer| answer.cggmp21.disabled);
        let (status, error) = match &state {
            _ if ready => ("ready", None),
            _ if disabled => ("disabled", None),
            AuxState::Generating => ("generating", None),
            AuxState::Failed(error) => ("failed", Some(error.clone())),
            AuxState::WaitingForNodes(_) => ("waiting-for-nodes", None),
            _ if with_primes < answers.len() => ("waiting-for-primes", None),
            _ => ("unknown", None),
        };
        let presignatures = self
            .cggmp
            .pools
            .lock()
            .map(|pools| pools.values().map(Vec::len).sum())
            .unwrap_or(0);
        CggmpHealth {
            aux_info: AuxInfoHealth {
                status: status.to_owned(),
                nodes_with_primes: with_primes,
                nodes_with_aux_info: digests.len(),
                error,
            },
            presignatures,
        }
    }

    fn set_aux(&self, state: AuxState) {
        if let Ok(mut slot) = self.cggmp.aux.lock() {
            *slot = state;
        }
    }

    /// Makes sure every node holds the same aux info, running the protocol when they do not
    /// and all have primes. `Ok(true)` once the cluster is ready.
    async fn ensure_aux_info(&self) -> Result<bool, CoordinatorError> {
        let all = self.node_ids();
        let answers = self.health_answers(&all).await;
        let (_, unreachable) = super::answered(&all, &answers);
        if !unreachable.is_empty() {
            self.set_aux(AuxState::WaitingForNodes(unreachable));
            return Ok(false);
        }
        let statuses: Vec<&CggmpNodeStatus> = answers
            .iter()
            .flatten()
            .map(|answer| &answer.cggmp21)
            .collect();
        let disabled: Vec<String> = all
            .iter()
            .zip(&statuses)
            .filter(|(_, status)| status.disabled)
            .map(|(node, _)| node.clone())
            .collect();
        if !disabled.is_empty() {
            self.set_aux(AuxState::Disabled(disabled));
            return Ok(false);
        }
        let first = statuses.first().and_then(|status| status.aux_info.clone());
        if first.is_some() && statuses.iter().all(|status| status.aux_info == first) {
            self.set_aux(AuxState::Ready(first.unwrap_or_default()));
            return Ok(true);
        }
        if statuses.iter().any(|status| status.aux_info_running) {
            return Ok(false);
        }
        let ready = statuses.iter().filter(|status| status.primes).count();
        if ready < statuses.len() {
            if let Some(error) = statuses
                .iter()
                .find_map(|status| status.primes_error.clone())
            {
                self.set_aux(AuxState::Failed(format!("primes: {error}")));
            } else {
                self.set_aux(AuxState::WaitingForPrimes {
                    ready,
                    of: statuses.len(),
                });
            }
            return Ok(false);
        }
        self.set_aux(AuxState::Generating);
        let session = uuid::Uuid::new_v4().simple().to_string();
        tracing::info!(%session, "generating the cluster's CGGMP21 aux info");
        let start = StartRequest::AuxInfo {
            session: session.clone(),
            parties: all.clone(),
        };
        let outcome = async {
            let purpose = purposes::cggmp_result(engine::Protocol::AuxInfo, "");
            self.run(&start, &all, AUX_ROUND_TIMEOUT).await?.agreed(
                self.manifest(),
                &purpose,
                &session,
            )
        }
        .await;
        match outcome {
            Ok(digest) => {
                tracing::info!(digest = %hex::encode(&digest), "CGGMP21 aux info ready");
                self.set_aux(AuxState::Ready(hex::encode(digest)));
                Ok(true)
            }
            Err(error) => {
                tracing::warn!(%error, "CGGMP21 aux info run failed");
                self.set_aux(AuxState::Failed(error.to_string()));
                Err(error)
            }
        }
    }

    /// Every node's health answer (`None` when it does not answer), in `nodes` order.
    pub(super) async fn health_answers(&self, nodes: &[String]) -> Vec<Option<HealthResponse>> {
        self.client
            .fan_out::<_, HealthResponse>(nodes, paths::HEALTH, PROBE_TIMEOUT, |_| {
                serde_json::json!({})
            })
            .await
            .into_iter()
            .map(|(_, answer)| answer.ok())
            .collect()
    }

    /// Fails unless the cluster's aux info is ready, saying what it waits for.
    async fn require_aux_info(&self) -> Result<(), CoordinatorError> {
        if matches!(
            self.cggmp.aux.lock().map(|state| state.clone()),
            Ok(AuxState::Ready(_))
        ) {
            return Ok(());
        }
        // Only looked at here: a run is minutes long and belongs to the background task.
        let answers = self.health_answers(&self.node_ids()).await;
        let digests: Vec<Option<&String>> = answers
            .iter()
            .map(|answer| {
                answer
                    .as_ref()
                    .and_then(|answer| answer.cggmp21.aux_info.as_ref())
            })
            .collect();
        if let Some(Some(first)) = digests.first()
            && digests.iter().all(|digest| *digest == Some(*first))
        {
            self.set_aux(AuxState::Ready((*first).clone()));
            return Ok(());
        }
        if let Ok(AuxState::Disabled(nodes)) = self.cggmp.aux.lock().map(|state| state.clone()) {
            return Err(CoordinatorError::NotReady(format!(
                "cggmp21-secp256k1 is off in this cluster: {} run with --cggmp21 off",
                nodes.join(", ")
            )));
        }
        let health = self.cggmp_health(&answers);
        Err(CoordinatorError::NotReady(format!(
            "cggmp21-secp256k1 needs the cluster's aux info, which is {} ({} of {} nodes have \
             primes, {} hold aux info){}",
            health.aux_info.status,
            health.aux_info.nodes_with_primes,
            answers.len(),
            health.aux_info.nodes_with_aux_info,
            health
                .aux_info
                .error
                .map(|error| format!(": {error}"))
                .unwrap_or_default()
        )))
    }

    /// A cggmp21-secp256k1 keygen among every node (its last step the confirmation, as a
    /// FROST DKG's).
    pub(super) async fn run_cggmp_keygen(
        &self,
        session: &str,
        wallet_id: &str,
        threshold: u16,
        parties: &[String],
        authorization: &ClientRequest,
    ) -> Result<WalletRecord, CoordinatorError> {
        self.require_aux_info().await?;
        let start = StartRequest::Keygen(KeygenRequest {
            session: session.to_owned(),
            wallet_id: wallet_id.to_owned(),
            scheme: WalletScheme::Cggmp21Secp256k1,
            threshold,
            parties: parties.to_vec(),
            authorization: authorization.clone(),
        });
        let end = self.run(&start, parties, ROUND_TIMEOUT).await?;
        let record = self.confirmed_wallet(wallet_id, end.confirmed)?;
        self.serve_pool(&record);
        Ok(record)
    }

    /// Starts keeping presignatures ready for `record`'s wallet.
    pub(super) fn serve_pool(&self, record: &WalletRecord) {
        let new = self.cggmp.wallets.lock().is_ok_and(|mut wallets| {
            wallets
                .insert(record.wallet_id.clone(), record.clone())
                .is_none()
        });
        if new {
            self.cggmp.refill.notify_one();
        }
    }

    /// Makes one presignature of the wallet for `signers` (threshold parties, party order).
    async fn presign(
        &self,
        record: &WalletRecord,
        signers: &[String],
    ) -> Result<PresignatureInfo, CoordinatorError> {
        let session = uuid::Uuid::new_v4().simple().to_string();
        let start = StartRequest::Presign {
            session: session.clone(),
            wallet_id: record.wallet_id.clone(),
            signers: signers.to_vec(),
        };
        // Each signer holds its part pending until the last step shows it that every signer
        // ended the run with the same point: only complete presignatures count, list and sign.
        let end = tokio::time::timeout(SESSION_TIMEOUT, self.run(&start, signers, ROUND_TIMEOUT))
            .await
            .map_err(|_| {
                CoordinatorError::Timeout(format!(
                    "presigning session {session} took longer than {SESSION_TIMEOUT:?}"
                ))
            })??;
        if let Some((node, _)) = end.confirmed.iter().find(
            |(_, confirmed)| !matches!(confirmed, Confirmed::Presignature { id } if *id == session),
        ) {
            return Err(abort_from(
                node,
                format!("confirmed something other than presignature {session}"),
            ));
        }
        Ok(PresignatureInfo {
            id: session,
            signers: signers.to_vec(),
        })
    }

    /// Asks the wallet's reachable parties what they hold: the presignatures every signer
    /// holds complete (ready), and those some signer no longer holds at all while every signer
    /// answered (orphans: they can never sign), with the nodes that still hold each; and
    /// whether every party of the wallet answered.
    async fn survey_presignatures(
        &self,
        wallet: &LocatedWallet,
    ) -> (
        Vec<PresignatureInfo>,
        Vec<(PresignatureInfo, Vec<String>)>,
        bool,
    ) {
        let request = CggmpPresignaturesRequest {
            wallet_id: wallet.record.wallet_id.clone(),
        };
        let answers = self
            .client
            .fan_out::<_, CggmpPresignaturesResponse>(
                &wallet.reachable,
                paths::CGGMP_PRESIGNATURES,
                PROBE_TIMEOUT,
                |_| &request,
            )
            .await;
        let mut answered: Vec<&String> = Vec::new();
        // Per presignature: the signers holding it complete, and all signers holding it.
        let mut held: BTreeMap<PresignatureInfo, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (node, (_, answer)) in wallet.reachable.iter().zip(answers) {
            let Ok(answer) = answer else { continue };
            answered.push(node);
            let listed = answer
                .presignatures
                .into_iter()
                .map(|info| (info, true))
                .chain(answer.pending.into_iter().map(|info| (info, false)));
            for (info, complete) in listed {
                if info.signers.contains(node) {
                    let entry = held.entry(info).or_default();
                    if complete {
                        entry.0.push(node.clone());
                    }
                    entry.1.push(node.clone());
                }
            }
        }
        let everyone = wallet
            .record
            .parties
            .iter()
            .all(|party| answered.contains(&party));
        let mut ready = Vec::new();
        let mut orphans = Vec::new();
        for (info, (complete, holders)) in held {
            if complete.len() == info.signers.len() {
                ready.push(info);
            } else if !complete.is_empty()
                && holders.len() < info.signers.len()
                && info.signers.iter().all(|signer| answered.contains(&signer))
            {
                orphans.push((info, holders));
            }
        }
        (ready, orphans, everyone)
    }

    /// Deletes the wallet's orphaned presignatures at the nodes that still hold them, and
    /// drops them from the pool; returns the presignatures ready at every signer.
    async fn prune_orphans(&self, wallet: &LocatedWallet) -> Vec<PresignatureInfo> {
        let (ready, orphans, everyone) = self.survey_presignatures(wallet).await;
        self.cggmp.set_swept(&wallet.record.wallet_id, everyone);
        if orphans.is_empty() {
            return ready;
        }
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (info, holders) in &orphans {
            for holder in holders {
                by_node
                    .entry(holder.clone())
                    .or_default()
                    .push(info.id.clone());
            }
        }
        let holders: Vec<String> = by_node.keys().cloned().collect();
        let answers = self
            .client
            .fan_out::<_, serde_json::Value>(
                &holders,
                paths::CGGMP_PRESIGN_DISCARD,
                PROBE_TIMEOUT,
                |node| CggmpPresignDiscardRequest {
                    wallet_id: wallet.record.wallet_id.clone(),
                    presignatures: by_node.get(node).cloned().unwrap_or_default(),
                },
            )
            .await;
        for (node, answer) in answers {
            if let Err(error) = answer {
                tracing::warn!(%node, %error, "discarding orphaned presignatures failed");
            }
        }
        tracing::info!(
            wallet = %wallet.record.wallet_id,
            orphans = orphans.len(),
            "orphaned presignatures discarded"
        );
        if let Ok(mut pools) = self.cggmp.pools.lock()
            && let Some(pool) = pools.get_mut(&wallet.record.wallet_id)
        {
            pool.retain(|info| !orphans.iter().any(|(orphan, _)| orphan == info));
        }
        ready
    }

    /// Loads the wallet's pool from the nodes (once), deleting orphans on the way: a
    /// presignature is ready when every node of its signer set holds it complete.
    async fn load_pool(&self, wallet: &LocatedWallet) {
        let loaded = self
            .cggmp
            .pools
            .lock()
            .is_ok_and(|pools| pools.contains_key(&wallet.record.wallet_id));
        if loaded {
            return;
        }
        let ready = self.prune_orphans(wallet).await;
        if let Ok(mut pools) = self.cggmp.pools.lock() {
            pools
                .entry(wallet.record.wallet_id.clone())
                .or_insert(ready);
        }
    }

    /// Takes a ready presignature whose signers all answered, if there is one.
    fn take_from_pool(&self, wallet_id: &str, reachable: &[String]) -> Option<PresignatureInfo> {
        let mut pools = self.cggmp.pools.lock().ok()?;
        let pool = pools.get_mut(wallet_id)?;
        let position = pool
            .iter()
            .position(|info| info.signers.iter().all(|signer| reachable.contains(signer)))?;
        Some(pool.remove(position))
    }

    /// Signs a 32-byte hash with a cggmp21-secp256k1 wallet: one round with a presignature from
    /// the pool (made now if none fits the nodes that answered), then the combined signature is
    /// verified before it is returned.
    pub(crate) async fn sign_ecdsa(
        &self,
        wallet: &LocatedWallet,
        hash: [u8; 32],
        authorization: &ClientRequest,
    ) -> Result<EcdsaSigned, CoordinatorError> {
        let record = &wallet.record;
        let needed = usize::from(record.threshold);
        if wallet.reachable.len() < needed {
            return Err(CoordinatorError::NotEnoughNodes {
                needed,
                reachable: wallet.reachable.clone(),
                unreachable: wallet.unreachable.clone(),
            });
        }
        let public_key = crate::chains::transactions::wallet_public_key(record)
            .map_err(CoordinatorError::Internal)?;
        self.serve_pool(record);
        self.load_pool(wallet).await;
        let presignature = match self.take_from_pool(&record.wallet_id, &wallet.reachable) {
            Some(presignature) => presignature,
            None => {
                let signers: Vec<String> = wallet.reachable.iter().take(needed).cloned().collect();
                self.presign(record, &signers).await?
            }
        };
        let session = uuid::Uuid::new_v4().simple().to_string();
        let request = CggmpSignRequest {
            session: session.clone(),
            wallet_id: record.wallet_id.clone(),
            presignature: presignature.id.clone(),
            message: hex::encode(hash),
            authorization: authorization.clone(),
        };
        let outcome: Result<Vec<(String, SignedStatement)>, CoordinatorError> =
            tokio::time::timeout(SESSION_TIMEOUT, async {
                let answers = self
                    .client
                    .fan_out(
                        &presignature.signers,
                        paths::CGGMP_SIGN,
                        CALL_TIMEOUT,
                        |_| &request,
                    )
                    .await;
                all_ok(answers)
            })
            .await
            .map_err(|_| {
                CoordinatorError::Timeout(format!(
                    "signing session {session} took longer than {SESSION_TIMEOUT:?}"
                ))
            })
            .and_then(|answers| answers);
        if outcome.is_err() {
            // Some signers may have used the presignature and others not: the background
            // task looks for orphans again.
            self.cggmp.set_swept(&record.wallet_id, false);
        }
        let answered = outcome?;
        let purpose = purposes::cggmp_partial(&record.wallet_id);
        let partials: Vec<Vec<u8>> =
            verify::answers(self.manifest(), &answered, &purpose, &session)?
                .into_iter()
                .map(|(_, _, partial)| partial)
                .collect();
        let signature = engine::combine(&partials, &public_key, &hash).map_err(|error| {
            CoordinatorError::Verification(format!("session {session}: {error}"))
        })?;
        Ok(EcdsaSigned {
            signature,
            public_key,
            signers: presignature.signers,
        })
    }

    /// Keeps aux info generated and presignature pools filled, until the process ends.
    pub async fn cggmp_background(self: Arc<Self>) {
        let mut aux_ready = false;
        let mut listed = false;
        loop {
            let disabled = matches!(
                self.cggmp.aux.lock().map(|state| state.clone()),
                Ok(AuxState::Disabled(_))
            );
            if disabled {
                // Looked at again now and then: nodes may be restarted with CGGMP21 on.
                tokio::time::sleep(AUX_RETRY).await;
            }
            if !aux_ready {
                // Only a coordinator that may create wallets makes aux info; others wait for it.
                let may_create = self.client.role().is_some_and(CoordinatorRole::may_create);
                let outcome = if may_create {
                    self.ensure_aux_info().await
                } else {
                    self.require_aux_info().await.map(|()| true)
                };
                match outcome {
                    Ok(ready) => aux_ready = ready,
                    // A failed run is not retried at once: it is minutes of arithmetic, and
                    // another coordinator may be running one (the jitter keeps two apart).
                    Err(_) => {
                        let jitter = Duration::from_millis(rand::random::<u64>() % 20_000);
                        tokio::time::sleep(AUX_RETRY + jitter).await;
                    }
                }
            }
            // Existing wallets carry their aux info in their shares: their pools are served
            // even while the cluster's aux info cannot be checked (a node down at start-up).
            if !listed {
                listed = self.adopt_existing_wallets().await.is_ok();
            }
            if self.cggmp.target > 0 {
                self.refill_pools().await;
            }
            tokio::select! {
                () = self.cggmp.refill.notified() => {}
                () = tokio::time::sleep(BACKGROUND_PERIOD) => {}
            }
        }
    }

    /// Serves pools for the cggmp21 wallets the cluster already holds.
    async fn adopt_existing_wallets(&self) -> Result<(), CoordinatorError> {
        let mut cursor = None;
        loop {
            let (page, next) = self.list_wallets(cursor, 1000).await?;
            for view in page
                .iter()
                .filter(|view| view.scheme == WalletScheme::Cggmp21Secp256k1.name())
            {
                if let Ok(record) = self.wallet_record(&view.wallet_id).await {
                    self.serve_pool(&record);
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Tops up each wallet's pool for its preferred signer set (the first threshold parties
    /// that answer), one presignature at a time.
    async fn refill_pools(&self) {
        let wallets: Vec<WalletRecord> = self
            .cggmp
            .wallets
            .lock()
            .map(|wallets| wallets.values().cloned().collect())
            .unwrap_or_default();
        if wallets.is_empty() {
            return;
        }
        // One probe of the cluster per pass, whatever the number of wallets.
        let (up, _) = self.probe(&self.node_ids()).await;
        for record in wallets {
            let (reachable, unreachable) = record
                .parties
                .iter()
                .cloned()
                .partition(|party| up.contains(party));
            let wallet = LocatedWallet {
                record: record.clone(),
                reachable,
                unreachable,
            };
            let needed = usize::from(record.threshold);
            if wallet.reachable.len() < needed || self.cggmp.backing_off(&record.wallet_id) {
                continue;
            }
            self.load_pool(&wallet).await;
            // Until a survey has heard from every party, orphans may hide at those it missed.
            if !self.cggmp.swept(&record.wallet_id) && wallet.unreachable.is_empty() {
                self.prune_orphans(&wallet).await;
            }
            let preferred: Vec<String> = wallet.reachable.iter().take(needed).cloned().collect();
            let ready = self
                .cggmp
                .pools
                .lock()
                .map(|pools| {
                    pools.get(&record.wallet_id).map_or(0, |pool| {
                        pool.iter().filter(|info| info.signers == preferred).count()
                    })
                })
                .unwrap_or(0);
            if ready >= self.cggmp.target {
                continue;
            }
            match self.presign(&record, &preferred).await {
                Ok(info) => {
                    if let Ok(mut pools) = self.cggmp.pools.lock() {
                        pools
                            .entry(record.wallet_id.clone())
                            .or_default()
                            .push(info);
                    }
                    self.cggmp.refill_succeeded(&record.wallet_id);
                    // More may be needed: come back at once.
                    self.cggmp.refill.notify_one();
                }
                Err(error) => {
                    let wait = self.cggmp.refill_failed(&record.wallet_id);
                    tracing::warn!(
                        wallet = %record.wallet_id,
                        %error,
                        retry_in_ms = wait.as_millis() as u64,
                        "presigning failed"
                    );
                    // A node at its cap may hold orphans of failed runs or signatures.
                    self.prune_orphans(&wallet).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_refill_backs_off_exponentially_up_to_a_cap() {
        assert_eq!(refill_backoff(1), BACKGROUND_PERIOD);
        assert_eq!(refill_backoff(2), BACKGROUND_PERIOD * 2);
        assert_eq!(refill_backoff(4), BACKGROUND_PERIOD * 8);
        assert_eq!(refill_backoff(8), REFILL_BACKOFF_MAX);
        assert_eq!(refill_backoff(u32::MAX), REFILL_BACKOFF_MAX);
        let waits: Vec<Duration> = (1..12).map(refill_backoff).collect();
        assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[tokio::test]
    async fn a_wallet_whose_refill_failed_waits_and_a_success_clears_it() {
        let cggmp = CggmpCoordinator::new(4);
        assert!(!cggmp.backing_off("w"));
        assert_eq!(cggmp.refill_failed("w"), BACKGROUND_PERIOD);
        assert_eq!(cggmp.refill_failed("w"), BACKGROUND_PERIOD * 2);
        assert!(cggmp.backing_off("w"));
        assert!(!cggmp.backing_off("other"), "each wallet waits on its own");
        cggmp.refill_succeeded("w");
        assert!(!cggmp.backing_off("w"));
        assert_eq!(cggmp.refill_failed("w"), BACKGROUND_PERIOD);
    }
}
