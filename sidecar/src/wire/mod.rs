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

/// Paths of the node API, version 2: every protocol runs on [`START`](paths::START) and
/// [`STEP`](paths::STEP). A coordinator and its nodes must speak the same version (docs/sidecar.md,
/// "Upgrading"); a node answers an old path with a refusal that says so.
pub mod paths {
    /// The prefix every path of this version starts with.
    pub const PREFIX: &str = "/v2/";
    /// Liveness and wallet count.
    pub const HEALTH: &str = "/v2/health";
    /// Which wallet, if any, a client's `thresig_deriveWallet` request already produced.
    pub const DERIVE_LOOKUP: &str = "/v2/derive/lookup";
    /// Start a run of any protocol ([`StartRequest`](crate::wire::StartRequest)): this node's first
    /// messages.
    pub const START: &str = "/v2/runs/start";
    /// One round of a run: the messages for this node (or, at the last step of a protocol that
    /// confirms, every other party's result) in, its next messages or its result out.
    pub const STEP: &str = "/v2/runs/step";
    /// One wallet's description.
    pub const WALLET_GET: &str = "/v2/wallets/get";
    /// A page of wallet descriptions.
    pub const WALLET_LIST: &str = "/v2/wallets/list";
    /// One-round CGGMP21 signing with a stored presignature.
    pub const CGGMP_SIGN: &str = "/v2/cggmp21/sign";
    /// The presignatures this node holds for a wallet.
    pub const CGGMP_PRESIGNATURES: &str = "/v2/cggmp21/presignatures";
    /// Deletes orphaned presignatures (another signer no longer holds its part).
    pub const CGGMP_PRESIGN_DISCARD: &str = "/v2/cggmp21/presign-discard";
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

/// The protocols nodes run on the start/step relay, and what their signed items mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunProtocol {
    /// A FROST DKG (frost-secp256k1-tr or frost-ed25519 wallets).
    FrostDkg,
    /// FROST signing: commitments, then signature shares.
    FrostSign,
    /// CGGMP21 aux info for the whole cluster.
    CggmpAuxInfo,
    /// A CGGMP21 keygen (cggmp21-secp256k1 wallets).
    CggmpKeygen,
    /// One CGGMP21 presignature.
    CggmpPresign,
}

impl RunProtocol {
    /// Its name in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            RunProtocol::FrostDkg => "FROST DKG",
            RunProtocol::FrostSign => "FROST signing",
            RunProtocol::CggmpAuxInfo => "CGGMP21 aux-info",
            RunProtocol::CggmpKeygen => "CGGMP21 keygen",
            RunProtocol::CggmpPresign => "CGGMP21 presigning",
        }
    }

    /// The CGGMP21 protocol it runs, if it is one.
    pub fn cggmp(self) -> Option<crate::protocols::cggmp::Protocol> {
        use crate::protocols::cggmp::Protocol;
        match self {
            RunProtocol::FrostDkg | RunProtocol::FrostSign => None,
            RunProtocol::CggmpAuxInfo => Some(Protocol::AuxInfo),
            RunProtocol::CggmpKeygen => Some(Protocol::Keygen),
            RunProtocol::CggmpPresign => Some(Protocol::Presign),
        }
    }

    /// What a broadcast of a run for `wallet_id` is signed as (the same statement purposes as
    /// the round endpoints of version 1 used).
    pub fn broadcast_purpose(self, wallet_id: &str) -> String {
        use crate::protocols::cggmp::Protocol;
        match self {
            RunProtocol::FrostDkg => purposes::dkg_round1(wallet_id),
            RunProtocol::FrostSign => purposes::sign_commitments(wallet_id),
            RunProtocol::CggmpAuxInfo => purposes::cggmp_broadcast(Protocol::AuxInfo),
            RunProtocol::CggmpKeygen => purposes::cggmp_broadcast(Protocol::Keygen),
            RunProtocol::CggmpPresign => purposes::cggmp_broadcast(Protocol::Presign),
        }
    }

    /// What a node's result of a run for `wallet_id` is signed as.
    pub fn result_purpose(self, wallet_id: &str) -> String {
        use crate::protocols::cggmp::Protocol;
        match self {
            RunProtocol::FrostDkg | RunProtocol::CggmpKeygen => purposes::dkg_result(wallet_id),
            RunProtocol::FrostSign => purposes::sign_share(wallet_id),
            RunProtocol::CggmpAuxInfo => purposes::cggmp_result(Protocol::AuxInfo, ""),
            RunProtocol::CggmpPresign => purposes::cggmp_result(Protocol::Presign, wallet_id),
        }
    }

    /// Whether the run ends with a confirmation step: each party sees every other party's
    /// result and keeps its own output (a wallet, a presignature) only if all agree.
    pub fn confirms(self) -> bool {
        matches!(
            self,
            RunProtocol::FrostDkg | RunProtocol::CggmpKeygen | RunProtocol::CggmpPresign
        )
    }
}

/// A message of a run, relayed by the coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayedMessage {
    /// To one party, encrypted to it and signed by the sender.
    P2p(SealedEnvelope),
    /// To every other party of the run, signed by the sender.
    Broadcast(SignedStatement),
}

impl RelayedMessage {
    /// The sending node.
    pub fn sender(&self) -> &str {
        match self {
            RelayedMessage::P2p(envelope) => &envelope.sender,
            RelayedMessage::Broadcast(statement) => &statement.sender,
        }
    }
}

impl statements::FromNode for RelayedMessage {
    fn sender(&self) -> &str {
        RelayedMessage::sender(self)
    }
}

/// `START` request: which protocol to run, with what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", content = "params", rename_all = "kebab-case")]
pub enum StartRequest {
    /// A wallet's keygen: a FROST DKG or a CGGMP21 keygen, by the scheme asked for.
    Keygen(KeygenRequest),
    /// A FROST signature.
    Sign(SignRequest),
    /// CGGMP21 aux info for the whole cluster.
    AuxInfo {
        /// The session (unique per run).
        session: String,
        /// Every node of the cluster, in manifest order.
        parties: Vec<String>,
    },
    /// One CGGMP21 presignature of a wallet for one signer set.
    Presign {
        /// The session; also the presignature's id.
        session: String,
        /// The wallet.
        wallet_id: String,
        /// Exactly threshold parties of the wallet, in the wallet's party order.
        signers: Vec<String>,
    },
}

impl StartRequest {
    /// The protocol it starts.
    pub fn protocol(&self) -> RunProtocol {
        match self {
            StartRequest::Keygen(request) if request.scheme.is_frost() => RunProtocol::FrostDkg,
            StartRequest::Keygen(_) => RunProtocol::CggmpKeygen,
            StartRequest::Sign(_) => RunProtocol::FrostSign,
            StartRequest::AuxInfo { .. } => RunProtocol::CggmpAuxInfo,
            StartRequest::Presign { .. } => RunProtocol::CggmpPresign,
        }
    }

    /// The session id.
    pub fn session(&self) -> &str {
        match self {
            StartRequest::AuxInfo { session, .. } | StartRequest::Presign { session, .. } => {
                session
            }
            StartRequest::Keygen(request) => &request.session,
            StartRequest::Sign(request) => &request.session,
        }
    }

    /// The wallet the run is for (none for aux info: empty).
    pub fn wallet_id(&self) -> &str {
        match self {
            StartRequest::AuxInfo { .. } => "",
            StartRequest::Presign { wallet_id, .. } => wallet_id,
            StartRequest::Keygen(request) => &request.wallet_id,
            StartRequest::Sign(request) => &request.wallet_id,
        }
    }
}

/// `STEP` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// The session.
    pub session: String,
    /// The messages of the last round for this node.
    #[serde(default)]
    pub messages: Vec<RelayedMessage>,
    /// At a confirmation step: every other party's signed result.
    #[serde(default)]
    pub results: Vec<SignedStatement>,
}

/// `START` and `STEP` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepResponse {
    /// The messages this node sends in the next round.
    #[serde(default)]
    pub messages: Vec<RelayedMessage>,
    /// When the run has ended here: its signed result (for a protocol that confirms, shown to
    /// every other party at the confirmation step).
    #[serde(default)]
    pub result: Option<SignedStatement>,
    /// The answer to a confirmation step.
    #[serde(default)]
    pub confirmed: Option<Confirmed>,
}

/// What a node kept at a confirmation step, every party having ended with the same result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Confirmed {
    /// A keygen's wallet, as this node stored it, with its attestation.
    Wallet(AttestedWallet),
    /// A presignature, now complete here.
    Presignature {
        /// Its id (the presigning session).
        id: String,
    },
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

/// `CGGMP_PRESIGN_DISCARD` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpPresignDiscardRequest {
    /// The wallet.
    pub wallet_id: String,
    /// The presignatures to delete.
    pub presignatures: Vec<String>,
}

/// A wallet's keygen (FROST DKG or CGGMP21 keygen, by scheme).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeygenRequest {
    /// The session id (unique per keygen).
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

/// A FROST signature of a message: each signer commits to nonces at the start, then signs
/// the package the others' commitments make.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_protocol_signs_its_broadcasts_and_results_as_version_1_did() {
        let cases = [
            (
                RunProtocol::FrostDkg,
                "dkg-round1/w-1",
                "dkg-result/w-1",
                true,
            ),
            (
                RunProtocol::FrostSign,
                "sign-commitments/w-1",
                "sign-share/w-1",
                false,
            ),
            (
                RunProtocol::CggmpAuxInfo,
                "cggmp21-broadcast/aux-info",
                "cggmp21-result/aux-info/",
                false,
            ),
            (
                RunProtocol::CggmpKeygen,
                "cggmp21-broadcast/keygen",
                "dkg-result/w-1",
                true,
            ),
            (
                RunProtocol::CggmpPresign,
                "cggmp21-broadcast/presign",
                "cggmp21-result/presign/w-1",
                true,
            ),
        ];
        for (protocol, broadcast, result, confirms) in cases {
            let wallet = if protocol == RunProtocol::CggmpAuxInfo {
                ""
            } else {
                "w-1"
            };
            assert_eq!(protocol.broadcast_purpose(wallet), broadcast);
            assert_eq!(protocol.result_purpose(wallet), result);
            assert_eq!(protocol.confirms(), confirms, "{}", protocol.name());
        }
    }

    #[test]
    fn a_start_names_its_protocol_and_a_keygen_runs_the_one_its_scheme_needs() {
        let keygen = |scheme: &str| {
            json!({
                "protocol": "keygen",
                "params": {
                    "session": "s-1",
                    "wallet_id": "w-1",
                    "scheme": scheme,
                    "threshold": 2,
                    "parties": ["node-1", "node-2"],
                    "authorization": { "method": "thresig_createWallet", "params": {} },
                },
            })
        };
        let read = |value: serde_json::Value| serde_json::from_value::<StartRequest>(value);
        let frost = read(keygen("frost-ed25519")).unwrap();
        assert_eq!(frost.protocol(), RunProtocol::FrostDkg);
        assert_eq!((frost.session(), frost.wallet_id()), ("s-1", "w-1"));
        let cggmp = read(keygen("cggmp21-secp256k1")).unwrap();
        assert_eq!(cggmp.protocol(), RunProtocol::CggmpKeygen);
        let aux = read(json!({
            "protocol": "aux-info",
            "params": { "session": "s-2", "parties": ["node-1"] },
        }))
        .unwrap();
        assert_eq!(
            (aux.protocol(), aux.wallet_id()),
            (RunProtocol::CggmpAuxInfo, "")
        );
        // An unknown protocol, or a field a step does not have, is refused.
        assert!(read(json!({ "protocol": "refresh", "params": {} })).is_err());
        let step = json!({ "session": "s-1", "messages": [], "extra": 1 });
        assert!(serde_json::from_value::<StepRequest>(step).is_err());
        // A step carries messages and, at a confirmation, results; both may be left out.
        let bare: StepRequest = serde_json::from_value(json!({ "session": "s-1" })).unwrap();
        assert!(bare.messages.is_empty() && bare.results.is_empty());
    }
}
