//! The schemes by name, and the one verification entry point the CLI and the sidecar share.

use core::fmt;
use core::str::FromStr;

use crate::error::MalformedInput;
use crate::interface::Interface;
use crate::ml_dsa::MlDsaParameterSet;
use crate::slh_dsa::SlhDsaParameterSet;
use crate::{bip340, ecdsa, ed25519, ml_dsa, slh_dsa};

/// A signature scheme this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// BIP-340 Schnorr over secp256k1 (FROST `frost-secp256k1-tr` output).
    Bip340,
    /// Ed25519 (FROST `frost-ed25519` output).
    Ed25519,
    /// ECDSA over secp256k1 with the low-s rule (CGGMP21 output); the message is a 32-byte hash.
    EcdsaSecp256k1,
    /// ML-DSA (FIPS 204).
    MlDsa(MlDsaParameterSet),
    /// SLH-DSA (FIPS 205).
    SlhDsa(SlhDsaParameterSet),
}

impl Scheme {
    /// Every scheme's name, as `FromStr` and `Display` spell it.
    pub const NAMES: [&'static str; 18] = [
        "bip340",
        "ed25519",
        "ecdsa-secp256k1",
        "ml-dsa-44",
        "ml-dsa-65",
        "ml-dsa-87",
        "slh-dsa-sha2-128s",
        "slh-dsa-sha2-128f",
        "slh-dsa-sha2-192s",
        "slh-dsa-sha2-192f",
        "slh-dsa-sha2-256s",
        "slh-dsa-sha2-256f",
        "slh-dsa-shake-128s",
        "slh-dsa-shake-128f",
        "slh-dsa-shake-192s",
        "slh-dsa-shake-192f",
        "slh-dsa-shake-256s",
        "slh-dsa-shake-256f",
    ];

    /// The scheme's name.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Bip340 => "bip340",
            Scheme::Ed25519 => "ed25519",
            Scheme::EcdsaSecp256k1 => "ecdsa-secp256k1",
            Scheme::MlDsa(set) => set.name(),
            Scheme::SlhDsa(set) => set.name(),
        }
    }

    /// Whether the scheme takes a FIPS 204/205 context string and has an internal interface.
    pub const fn is_post_quantum(self) -> bool {
        matches!(self, Scheme::MlDsa(_) | Scheme::SlhDsa(_))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = MalformedInput;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let classical = [Scheme::Bip340, Scheme::Ed25519, Scheme::EcdsaSecp256k1];
        classical
            .into_iter()
            .chain(MlDsaParameterSet::ALL.map(Scheme::MlDsa))
            .chain(SlhDsaParameterSet::ALL.map(Scheme::SlhDsa))
            .find(|scheme| scheme.name() == name)
            .ok_or_else(|| MalformedInput::UnknownScheme(name.to_owned()))
    }
}

/// One verification request, as the CLI and the sidecar make them.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The public key in the scheme's encoding.
    pub public_key: &'a [u8],
    /// The message (for ECDSA, the 32-byte hash that was signed).
    pub message: &'a [u8],
    /// The signature in the scheme's encoding.
    pub signature: &'a [u8],
    /// The FIPS 204/205 context string; only for ML-DSA and SLH-DSA.
    pub context: Option<&'a [u8]>,
    /// Use the FIPS 204/205 internal interface; only for ML-DSA and SLH-DSA.
    pub internal: bool,
}

/// Verifies one signature: `Ok(true)` valid, `Ok(false)` invalid, `Err` malformed input.
pub fn verify(request: &VerifyRequest<'_>) -> Result<bool, MalformedInput> {
    let VerifyRequest {
        scheme,
        public_key,
        message,
        signature,
        context,
        internal,
    } = *request;
    if !scheme.is_post_quantum() {
        let option = match (context, internal) {
            (Some(_), _) => Some("a context string"),
            (None, true) => Some("the internal interface"),
            (None, false) => None,
        };
        if let Some(option) = option {
            return Err(MalformedInput::OptionNotApplicable {
                option,
                scheme: scheme.name(),
            });
        }
    }
    let interface = match (internal, context) {
        (true, Some(_)) => return Err(MalformedInput::ContextWithInternal),
        (true, None) => Interface::Internal,
        (false, context) => Interface::External {
            context: context.unwrap_or_default(),
        },
    };
    match scheme {
        Scheme::Bip340 => bip340::verify(public_key, message, signature),
        Scheme::Ed25519 => ed25519::verify(public_key, message, signature),
        Scheme::EcdsaSecp256k1 => ecdsa::verify(public_key, message, signature),
        Scheme::MlDsa(set) => ml_dsa::verify(set, public_key, message, signature, interface),
        Scheme::SlhDsa(set) => slh_dsa::verify(set, public_key, message, signature, interface),
    }
}
