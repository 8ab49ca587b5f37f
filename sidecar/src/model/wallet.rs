//! Wallets as nodes hold and describe them.

use serde::{Deserialize, Serialize};

/// A wallet as every node that holds a share of it describes it (public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletRecord {
    /// The wallet id.
    pub wallet_id: String,
    /// The scheme name.
    pub scheme: String,
    /// Signatures need this many shares.
    pub threshold: u16,
    /// The node ids holding shares, in FROST index order.
    pub parties: Vec<String>,
    /// The group's public key package (FROST serialization), hex.
    pub public_key_package: String,
    /// Seconds since the Unix epoch when the DKG completed.
    pub created_at: u64,
    /// Every party confirmed the same group key; only confirmed wallets exist for the API.
    #[serde(default)]
    pub confirmed: bool,
}
