//! The coordinator <-> node contract (HTTPS + JSON over mutual TLS): paths, messages,
//! statement purposes, signed and sealed envelopes, wallet attestations, typed refusals.

pub mod attestation;
pub mod envelope;
pub mod error;
pub mod statements;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::client_auth::ClientRequest;
use crate::model::scheme::{Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::wire::attestation::Attestation;
use crate::wire::envelope::{SealedEnvelope, SignedStatement};

/// How long a node lets a connection take to send a request's headers, idle time before them included
/// (hyper counts from the end of the previous response): slow or idle clients are dropped.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Paths of the node API.
pub mod paths {
    /// Liveness and wallet count.
    pub const HEALTH: &str = "/v1/health";
    /// Which wallet, if any, a client's `thresig_deriveWallet` request already produced.
    pub const DERIVE_LOOKUP: &str = "/v1/derive/lookup";
    /// DKG round 1.
    pub const DKG_ROUND1: &str = "/v1/dkg/round1";
    /// DKG round 2.
    pub const DKG_ROUND2: &str = "/v1/dkg/round2";
    /// DKG round 3 (derive the key; stored pending).
    pub const DKG_ROUND3: &str = "/v1/dkg/round3";
    /// DKG confirmation: every party's result, so each node activates the wallet only when all
    /// derived the same group key.
    pub const DKG_CONFIRM: &str = "/v1/dkg/confirm";
    /// Signing round 1 (commit).
    pub const SIGN_ROUND1: &str = "/v1/sign/round1";
    /// Signing round 2 (share).
    pub const SIGN_ROUND2: &str = "/v1/sign/round2";
    /// One wallet's description.
    pub const WALLET_GET: &str = "/v1/wallets/get";
    /// A page of wallet descriptions.
    pub const WALLET_LIST: &str = "/v1/wallets/list";
    /// Start a CGGMP21 run (aux info, keygen or presigning): the first round's messages.
    pub const CGGMP_START: &str = "/v1/cggmp21/start";
    /// One round of a CGGMP21 run: the messages for this node in, its next messages out.
    pub const CGGMP_STEP: &str = "/v1/cggmp21/step";
    /// One-round CGGMP21 signing with a stored presignature.
    pub const CGGMP_SIGN: &str = "/v1/cggmp21/sign";
    /// The presignatures this node holds for a wallet.
    pub const CGGMP_PRESIGNATURES: &str = "/v1/cggmp21/presignatures";
    /// Marks a presignature complete once every signer's result is shown.
    pub const CGGMP_PRESIGN_CONFIRM: &str = "/v1/cggmp21/presign-confirm";
    /// Deletes orphaned presignatures (another signer no longer holds its part).
    pub const CGGMP_PRESIGN_DISCARD: &str = "/v1/cggmp21/presign-discard";
}

/// Statement purposes: what a node's signature on a payload means.
pub mod purposes {
    /// A DKG round-1 package for a wallet.
    pub fn dkg_round1(wallet_id: &str) -> String {
        format!("dkg-round1/{wallet_id}")
    }
    /// The public key package a node derived at the end of a DKG.
    pub fn dkg_result(wallet_id: &str) -> String {
        format!("dkg-result/{wallet_id}")
    }
    /// Signing commitments for a wallet.
    pub fn sign_commitments(wallet_id: &str) -> String {
        format!("sign-commitments/{wallet_id}")
    }
    /// A signature share for a wallet.
    pub fn sign_share(wallet_id: &str) -> String {
        format!("sign-share/{wallet_id}")
    }
    /// A broadcast message of a CGGMP21 run.
    pub fn cggmp_broadcast(protocol: crate::protocols::cggmp::Protocol) -> String {
        format!("cggmp21-broadcast/{}", protocol.name())
    }
    /// What a node ends a CGGMP21 aux-info or presigning run with (the aux info digest, the
    /// presignature's public point); keygen ends with [`dkg_result`].
    pub fn cggmp_result(protocol: crate::protocols::cggmp::Protocol, wallet_id: &str) -> String {
        format!("cggmp21-result/{}/{wallet_id}", protocol.name())
    }
    /// A CGGMP21 partial signature for a wallet.
    pub fn cggmp_partial(wallet_id: &str) -> String {
        format!("cggmp21-partial/{wallet_id}")
    }
}

/// `HEALTH` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthResponse {
    /// The node's id.
    pub node_id: String,
    /// Wallets it holds shares of.
    pub wallets: usize,
    /// CGGMP21 readiness.
    #[serde(default)]
    pub cggmp21: CggmpNodeStatus,
}

/// A node's CGGMP21 readiness, as its health reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CggmpNodeStatus {
    /// Its safe primes exist (loaded, or generated in the background).
    pub primes: bool,
    /// Why generating or loading them failed, if it did.
    pub primes_error: Option<String>,
    /// The digest of the cluster aux info it holds, hex, if any.
    pub aux_info: Option<String>,
    /// Whether an aux-info run is in progress here.
    pub aux_info_running: bool,
    /// CGGMP21 is off at this node (`--cggmp21 off`).
    #[serde(default)]
    pub disabled: bool,
}

/// A CGGMP21 message relayed by the coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CggmpMessage {
    /// To one party, encrypted to it and signed by the sender.
    P2p(SealedEnvelope),
    /// To every other party of the run, signed by the sender.
    Broadcast(SignedStatement),
}

impl CggmpMessage {
    /// The sending node.
    pub fn sender(&self) -> &str {
        match self {
            CggmpMessage::P2p(envelope) => &envelope.sender,
            CggmpMessage::Broadcast(statement) => &statement.sender,
        }
    }
}

/// `CGGMP_START` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", content = "params", rename_all = "kebab-case")]
pub enum CggmpStartRequest {
    /// Aux info for the whole cluster.
    AuxInfo {
        /// The session (unique per run).
        session: String,
        /// Every node of the cluster, in manifest order.
        parties: Vec<String>,
    },
    /// A wallet's keygen, authorised like a FROST DKG.
    Keygen(DkgRound1Request),
    /// One presignature of a wallet for one signer set.
    Presign {
        /// The session; also the presignature's id.
        session: String,
        /// The wallet.
        wallet_id: String,
        /// Exactly threshold parties of the wallet, in the wallet's party order.
        signers: Vec<String>,
    },
}

impl CggmpStartRequest {
    /// The protocol it starts.
    pub fn protocol(&self) -> crate::protocols::cggmp::Protocol {
        match self {
            CggmpStartRequest::AuxInfo { .. } => crate::protocols::cggmp::Protocol::AuxInfo,
            CggmpStartRequest::Keygen(_) => crate::protocols::cggmp::Protocol::Keygen,
            CggmpStartRequest::Presign { .. } => crate::protocols::cggmp::Protocol::Presign,
        }
    }

    /// The session id.
    pub fn session(&self) -> &str {
        match self {
            CggmpStartRequest::AuxInfo { session, .. }
            | CggmpStartRequest::Presign { session, .. } => session,
            CggmpStartRequest::Keygen(request) => &request.session,
        }
    }
}

/// `CGGMP_STEP` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpStepRequest {
    /// The session.
    pub session: String,
    /// The messages of the last round for this node.
    pub messages: Vec<CggmpMessage>,
}

/// `CGGMP_START` and `CGGMP_STEP` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CggmpStepResponse {
    /// The messages this node sends in the next round.
    pub messages: Vec<CggmpMessage>,
    /// When the run has ended here: its signed result.
    pub result: Option<SignedStatement>,
}

/// `CGGMP_SIGN` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpSignRequest {
    /// The signing session (for the audit log).
    pub session: String,
    /// The wallet.
    pub wallet_id: String,
    /// The presignature to use (consumed).
    pub presignature: String,
    /// The 32-byte message hash, hex.
    pub message: String,
    /// The client's signed request that asks for this signature.
    pub authorization: ClientRequest,
}

/// `CGGMP_PRESIGNATURES` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpPresignaturesRequest {
    /// The wallet.
    pub wallet_id: String,
}

/// One presignature a node holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PresignatureInfo {
    /// Its id.
    pub id: String,
    /// The signer set it was made for.
    pub signers: Vec<String>,
}

/// `CGGMP_PRESIGNATURES` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CggmpPresignaturesResponse {
    /// The complete presignatures (every signer holds its part), in id order.
    pub presignatures: Vec<PresignatureInfo>,
    /// Presignatures whose run ended here but are not confirmed complete yet.
    #[serde(default)]
    pub pending: Vec<PresignatureInfo>,
}

/// `CGGMP_PRESIGN_CONFIRM` request: every signer's signed result of a presigning run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpPresignConfirmRequest {
    /// The wallet.
    pub wallet_id: String,
    /// The presignature (its presigning session).
    pub presignature: String,
    /// Each signer's result statement (the presignature's point R).
    pub results: Vec<SignedStatement>,
}

/// `CGGMP_PRESIGN_DISCARD` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpPresignDiscardRequest {
    /// The wallet.
    pub wallet_id: String,
    /// The presignatures to delete.
    pub presignatures: Vec<String>,
}

/// `DKG_ROUND1` request: start a DKG.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgRound1Request {
    /// The session id (unique per DKG).
    pub session: String,
    /// The new wallet's id.
    pub wallet_id: String,
    /// The scheme.
    pub scheme: WalletScheme,
    /// Signatures will need this many shares.
    pub threshold: u16,
    /// The nodes that take part, each getting a share.
    pub parties: Vec<String>,
    /// The client's signed `thresig_createWallet` or `thresig_deriveWallet` request.
    pub authorization: ClientRequest,
}

/// `DERIVE_LOOKUP` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveLookupRequest {
    /// The client's signed `thresig_deriveWallet` request.
    pub authorization: ClientRequest,
}

/// `DERIVE_LOOKUP` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeriveLookupResponse {
    /// The wallet the derivation produced at this node, if it holds one.
    pub wallet: Option<AttestedWallet>,
}

/// A confirmed wallet as a node holds it, with the node's attestation of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedWallet {
    /// The wallet (its fields, flattened: an older coordinator reads just the record).
    #[serde(flatten)]
    pub record: WalletRecord,
    /// The node's signature over the wallet's statement (`attestation` module); none from a
    /// node that predates attestations.
    #[serde(default)]
    pub attestation: Option<Attestation>,
}

/// `DKG_ROUND2` request: everyone's round-1 packages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgRound2Request {
    /// The session.
    pub session: String,
    /// One signed round-1 package per party, this node's included.
    pub round1: Vec<SignedStatement>,
}

/// `DKG_ROUND2` response: round-2 packages, each encrypted to its recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DkgRound2Response {
    /// One envelope per other party.
    pub envelopes: Vec<SealedEnvelope>,
}

/// `DKG_ROUND3` request: the round-2 envelopes addressed to this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgRound3Request {
    /// The session.
    pub session: String,
    /// One envelope from each other party.
    pub envelopes: Vec<SealedEnvelope>,
}

/// `DKG_CONFIRM` request: every party's signed DKG result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgConfirmRequest {
    /// The session.
    pub session: String,
    /// One signed result (public key package) per party.
    pub results: Vec<SignedStatement>,
}

/// `DKG_CONFIRM` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DkgConfirmResponse {
    /// The confirmed wallet, as this node stored it.
    pub wallet: WalletRecord,
    /// The node's attestation of it.
    #[serde(default)]
    pub attestation: Option<Attestation>,
}

/// `SIGN_ROUND1` request: commit to nonces for a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRound1Request {
    /// The signing session (unique per signature).
    pub session: String,
    /// The wallet.
    pub wallet_id: String,
    /// The message, hex.
    pub message: String,
    /// The Taproot tweak.
    #[serde(default)]
    pub tweak: Tweak,
    /// The client's signed request that asks for this signature.
    pub authorization: ClientRequest,
}

/// `SIGN_ROUND2` request: the signing package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRound2Request {
    /// The signing session of round 1.
    pub session: String,
    /// The FROST signing package, hex.
    pub signing_package: String,
}

/// `WALLET_GET` request (answered with an [`AttestedWallet`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletGetRequest {
    /// The wallet.
    pub wallet_id: String,
}

/// `WALLET_LIST` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletListRequest {
    /// List wallets after this id.
    pub cursor: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// `WALLET_LIST` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletListResponse {
    /// The wallets, in id order, each attested by this node.
    pub wallets: Vec<AttestedWallet>,
}
