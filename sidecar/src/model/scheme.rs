//! The wallet schemes the sidecar runs and the dispatch from a FROST scheme to its ciphersuite.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// A threshold signature scheme for wallets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WalletScheme {
    /// FROST over secp256k1 producing BIP-340 signatures (Taproot).
    #[serde(rename = "frost-secp256k1-tr")]
    FrostSecp256k1Tr,
    /// FROST(Ed25519, SHA-512) producing RFC 8032 signatures (Solana).
    #[serde(rename = "frost-ed25519")]
    FrostEd25519,
    /// CGGMP21 threshold ECDSA over secp256k1 (Ethereum).
    #[serde(rename = "cggmp21-secp256k1")]
    Cggmp21Secp256k1,
}

impl WalletScheme {
    /// The scheme's name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            WalletScheme::FrostSecp256k1Tr => "frost-secp256k1-tr",
            WalletScheme::FrostEd25519 => "frost-ed25519",
            WalletScheme::Cggmp21Secp256k1 => "cggmp21-secp256k1",
        }
    }

    /// Whether the scheme is FROST (two-round signing, no presignatures).
    pub const fn is_frost(self) -> bool {
        !matches!(self, WalletScheme::Cggmp21Secp256k1)
    }
}

impl fmt::Display for WalletScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WalletScheme {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "frost-secp256k1-tr" => Ok(WalletScheme::FrostSecp256k1Tr),
            "frost-ed25519" => Ok(WalletScheme::FrostEd25519),
            "cggmp21-secp256k1" => Ok(WalletScheme::Cggmp21Secp256k1),
            other => Err(format!(
                "unknown scheme {other:?}; schemes: frost-secp256k1-tr, frost-ed25519, \
                 cggmp21-secp256k1"
            )),
        }
    }
}

/// How a Taproot signature is tweaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tweak {
    /// Sign under the x-only group key itself.
    #[default]
    None,
    /// Sign under the BIP-86 output key (Taproot key-path spends without scripts).
    Bip86,
}

impl Tweak {
    /// The tweak's name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            Tweak::None => "none",
            Tweak::Bip86 => "bip86",
        }
    }
}
