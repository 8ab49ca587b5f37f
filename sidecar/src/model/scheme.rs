//! The wallet schemes the sidecar runs and the dispatch from a FROST scheme to its ciphersuite.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// A FROST ciphersuite thresig runs: the FROST family of wallet schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrostSuite {
    /// FROST over secp256k1 producing BIP-340 signatures (Taproot).
    Secp256k1Tr,
    /// FROST(Ed25519, SHA-512) producing RFC 8032 signatures (Solana).
    Ed25519,
}

/// A threshold signature scheme for wallets: a FROST suite, or CGGMP21 apart (so that FROST
/// code, which takes a [`FrostSuite`], has no ECDSA arm to get wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum WalletScheme {
    /// A FROST wallet (two-round signing, no presignatures).
    Frost(FrostSuite),
    /// CGGMP21 threshold ECDSA over secp256k1 (Ethereum).
    Cggmp21Secp256k1,
}

impl WalletScheme {
    /// `frost-secp256k1-tr`.
    pub const FROST_SECP256K1_TR: WalletScheme = WalletScheme::Frost(FrostSuite::Secp256k1Tr);
    /// `frost-ed25519`.
    pub const FROST_ED25519: WalletScheme = WalletScheme::Frost(FrostSuite::Ed25519);

    /// The scheme's name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            WalletScheme::Frost(FrostSuite::Secp256k1Tr) => "frost-secp256k1-tr",
            WalletScheme::Frost(FrostSuite::Ed25519) => "frost-ed25519",
            WalletScheme::Cggmp21Secp256k1 => "cggmp21-secp256k1",
        }
    }

    /// The FROST ciphersuite of a FROST scheme; `None` for CGGMP21.
    pub const fn frost(self) -> Option<FrostSuite> {
        match self {
            WalletScheme::Frost(suite) => Some(suite),
            WalletScheme::Cggmp21Secp256k1 => None,
        }
    }

    /// Whether the scheme is FROST (two-round signing, no presignatures).
    pub const fn is_frost(self) -> bool {
        self.frost().is_some()
    }
}

impl From<FrostSuite> for WalletScheme {
    fn from(suite: FrostSuite) -> Self {
        WalletScheme::Frost(suite)
    }
}

impl fmt::Display for FrostSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(WalletScheme::Frost(*self).name())
    }
}

impl From<WalletScheme> for &'static str {
    fn from(scheme: WalletScheme) -> Self {
        scheme.name()
    }
}

impl TryFrom<String> for WalletScheme {
    type Error = <WalletScheme as FromStr>::Err;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
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
            "frost-secp256k1-tr" => Ok(WalletScheme::FROST_SECP256K1_TR),
            "frost-ed25519" => Ok(WalletScheme::FROST_ED25519),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_keep_their_api_names_and_only_frost_ones_have_a_suite() {
        for (scheme, name, suite) in [
            (
                WalletScheme::FROST_SECP256K1_TR,
                "frost-secp256k1-tr",
                Some(FrostSuite::Secp256k1Tr),
            ),
            (
                WalletScheme::FROST_ED25519,
                "frost-ed25519",
                Some(FrostSuite::Ed25519),
            ),
            (WalletScheme::Cggmp21Secp256k1, "cggmp21-secp256k1", None),
        ] {
            assert_eq!(serde_json::to_value(scheme).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<WalletScheme>(name.into()).unwrap(),
                scheme
            );
            assert_eq!(
                (scheme.frost(), scheme.is_frost()),
                (suite, suite.is_some())
            );
        }
        let unknown = serde_json::from_value::<WalletScheme>("rsa".into()).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown scheme \"rsa\""),
            "{unknown}"
        );
    }
}
