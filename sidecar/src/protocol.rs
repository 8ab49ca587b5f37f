//! Messages between a coordinator and a signer node (HTTPS + JSON over mutual TLS).

use serde::{Deserialize, Serialize};

use crate::auth::ClientRequest;
use crate::envelope::{SealedEnvelope, SignedStatement};
use crate::scheme::{Tweak, WalletScheme};
use crate::store::WalletRecord;

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
}

/// `HEALTH` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthResponse {
    /// The node's id.
    pub node_id: String,
    /// Wallets it holds shares of.
    pub wallets: usize,
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
    pub wallet: Option<WalletRecord>,
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

/// `WALLET_GET` request.
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
    /// The wallets, in id order.
    pub wallets: Vec<WalletRecord>,
}

/// A node's refusal: a stable kind, a message, and the node it blames, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeErrorBody {
    /// `bad-request`, `unauthorized` (the client's signed request is missing, invalid,
    /// expired, replayed or does not cover this), `forbidden` (the coordinator's role does not
    /// allow this), `unknown-wallet`, `unknown-session`, `abort` or `internal`.
    pub kind: String,
    /// What was wrong.
    pub message: String,
    /// The node blamed for a protocol abort.
    pub culprit: Option<String>,
}
