//! The params of the public API's methods, shared by the coordinator, which parses them, and
//! the nodes, which check that a client's signed request authorises what they are asked to do.

use serde::Deserialize;

use crate::scheme::Tweak;

/// `thresig_createWallet` params.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWalletParams {
    /// The scheme name.
    pub scheme: String,
    /// Shares needed to sign (default: the cluster's threshold, at most `parties`).
    pub threshold: Option<u16>,
    /// Nodes that get a share (default: every node).
    pub parties: Option<u16>,
}

/// `thresig_deriveWallet` params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeriveWalletParams {
    /// The scheme name.
    pub scheme: String,
    /// The passphrase the wallet is derived from (with every node's HSM key).
    #[serde(deserialize_with = "passphrase")]
    pub passphrase: String,
    /// Shares needed to sign (default: the cluster's threshold).
    pub threshold: Option<u16>,
}

/// Deserializes a passphrase with an error that never repeats the value sent.
fn passphrase<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer)
        .map_err(|_| serde::de::Error::custom("passphrase must be a JSON string"))
}

impl Drop for DeriveWalletParams {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.passphrase);
    }
}

/// `thresig_signMessage` params.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignMessageParams {
    /// The wallet.
    pub wallet_id: String,
    /// The message, 0x-hex.
    pub message: String,
    /// `none` (default) or `bip86`.
    #[serde(default)]
    pub tweak: Option<String>,
}

/// `thresig_signTransaction` params.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignTransactionParams {
    /// The wallet.
    pub wallet_id: String,
    /// `bitcoin`, `solana` or `ethereum`.
    pub chain: String,
    /// The unsigned transaction as the chain expects it.
    pub transaction: serde_json::Value,
    /// Sign Bitcoin inputs whose sighash type is NONE, SINGLE or ANYONECANPAY. Such a signature
    /// does not commit to every output (or input), so the summary returned does not bind what
    /// the transaction finally pays; without this flag they are refused.
    #[serde(default)]
    pub allow_partial_sighash: bool,
}

/// Decodes 0x-prefixed (or bare) hex.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
}

/// Parses a `tweak` param.
pub fn parse_tweak(tweak: Option<&str>) -> Result<Tweak, String> {
    match tweak {
        None | Some("none") => Ok(Tweak::None),
        Some("bip86") => Ok(Tweak::Bip86),
        Some(other) => Err(format!(
            "tweak must be \"none\" or \"bip86\", got {other:?}"
        )),
    }
}

/// The threshold a wallet of `parties` shares gets when the request names none.
pub fn default_threshold(cluster_threshold: u16, parties: u16) -> u16 {
    cluster_threshold.min(parties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_passphrase_is_refused_without_repeating_it() {
        let error = serde_json::from_value::<DeriveWalletParams>(
            serde_json::json!({ "scheme": "frost-ed25519", "passphrase": 73914265 }),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("passphrase must be a JSON string"),
            "{error}"
        );
        assert!(!error.contains("73914265"), "{error}");
    }
}
