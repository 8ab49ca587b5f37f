//! The params of the public API's methods, shared by the coordinator, which parses them, and
//! the nodes, which check that a client's signed request authorises what they are asked to do.

use serde::Deserialize;
use thresig_adapters::ethereum as eth;

use crate::model::scheme::{Tweak, WalletScheme};

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
    /// The message: 0x-hex bytes, or EIP-712 typed data as JSON text with `encoding: eip712`.
    pub message: String,
    /// `none` (default) or `bip86`.
    #[serde(default)]
    pub tweak: Option<String>,
    /// How a `cggmp21-secp256k1` wallet hashes the message before signing it (required for
    /// those wallets; not taken by FROST wallets, which sign the message itself).
    #[serde(default)]
    pub encoding: Option<MessageEncoding>,
}

/// How a cggmp21-secp256k1 signature's digest is made from the client's message, by the
/// coordinator and again by every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageEncoding {
    /// EIP-191 version 0x45 (`personal_sign`): the message is the raw bytes, 0x-hex.
    Eip191,
    /// EIP-712: the message is the typed data (`types`, `primaryType`, `domain`, `message`) as
    /// JSON text.
    Eip712,
}

impl MessageEncoding {
    /// The name the `encoding` param takes.
    pub const fn name(self) -> &'static str {
        match self {
            MessageEncoding::Eip191 => "eip191",
            MessageEncoding::Eip712 => "eip712",
        }
    }
}

/// Why a raw digest is not signed by a cggmp21-secp256k1 wallet.
pub const RAW_DIGEST_REFUSED: &str = "a cggmp21-secp256k1 wallet does not sign a raw digest: \
     its presignatures fix the nonce point before the message, and signing a chosen digest \
     with one yields a signature on another digest (CVE-2025-66017). Give \
     \"encoding\": \"eip191\" with the message bytes or \"encoding\": \"eip712\" with the \
     typed data, so that every node hashes it itself, or sign a transaction with \
     thresig_signTransaction";

impl SignMessageParams {
    /// What a wallet of `scheme` signs for this request: a FROST wallet the message bytes, a
    /// cggmp21-secp256k1 wallet the 32-byte digest of the message under its `encoding`. Nodes
    /// call this themselves, so a digest is signed only when its preimage is known.
    pub fn signed_bytes(&self, scheme: WalletScheme) -> Result<Vec<u8>, String> {
        let bytes =
            || decode_hex(&self.message).map_err(|error| format!("message is not hex: {error}"));
        match (scheme, self.encoding) {
            (WalletScheme::Cggmp21Secp256k1, None) => Err(RAW_DIGEST_REFUSED.to_owned()),
            (WalletScheme::Cggmp21Secp256k1, Some(MessageEncoding::Eip191)) => {
                Ok(eth::personal_message_hash(&bytes()?).to_vec())
            }
            (WalletScheme::Cggmp21Secp256k1, Some(MessageEncoding::Eip712)) => {
                eth::typed_data_hash(&self.message)
                    .map(|digest| digest.to_vec())
                    .map_err(|error| format!("message is not EIP-712 typed data: {error}"))
            }
            (_, Some(encoding)) => Err(format!(
                "encoding {} applies only to cggmp21-secp256k1 wallets; a {scheme} wallet signs \
                 the message bytes themselves",
                encoding.name()
            )),
            (_, None) => bytes(),
        }
    }
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

    fn params(value: serde_json::Value) -> SignMessageParams {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_cggmp21_wallet_signs_only_digests_it_computes_from_the_message() {
        let cggmp = WalletScheme::Cggmp21Secp256k1;
        let raw = params(
            serde_json::json!({ "walletId": "w", "message": format!("0x{}", "ab".repeat(32)) }),
        );
        let error = raw.signed_bytes(cggmp).unwrap_err();
        assert!(error.contains("does not sign a raw digest"), "{error}");
        assert!(error.contains("eip191"), "{error}");

        let personal = params(
            serde_json::json!({ "walletId": "w", "message": "0x68656c6c6f", "encoding": "eip191" }),
        );
        // EIP-191 of "hello", as every Ethereum library computes it.
        assert_eq!(
            hex::encode(personal.signed_bytes(cggmp).unwrap()),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
        // FROST wallets sign the message itself and take no encoding.
        let frost = WalletScheme::FROST_ED25519;
        let error = personal.signed_bytes(frost).unwrap_err();
        assert!(error.contains("applies only"), "{error}");
        assert_eq!(raw.signed_bytes(frost).unwrap(), vec![0xab; 32]);

        let typed = params(serde_json::json!({
            "walletId": "w", "message": "{\"not\": \"typed data\"}", "encoding": "eip712"
        }));
        let error = typed.signed_bytes(cggmp).unwrap_err();
        assert!(error.contains("not EIP-712 typed data"), "{error}");
        let unknown = serde_json::from_value::<SignMessageParams>(
            serde_json::json!({ "walletId": "w", "message": "0x00", "encoding": "raw" }),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(unknown.contains("eip191"), "{unknown}");
    }

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
