//! SLH-DSA (FIPS 205) verification for all twelve parameter sets with RustCrypto's `slh-dsa`;
//! see docs/precompiles.md for why this implementation was chosen.

use slh_dsa::{ParameterSet, Signature, VerifyingKey};

use crate::error::{MalformedInput, expect_len};
use crate::interface::Interface;

/// The hash family of an SLH-DSA parameter set; the precompile has one function per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlhDsaFamily {
    /// SLH-DSA-SHA2-*.
    Sha2,
    /// SLH-DSA-SHAKE-*.
    Shake,
}

/// The twelve SLH-DSA parameter sets of FIPS 205.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum SlhDsaParameterSet {
    Sha2_128s,
    Sha2_128f,
    Sha2_192s,
    Sha2_192f,
    Sha2_256s,
    Sha2_256f,
    Shake128s,
    Shake128f,
    Shake192s,
    Shake192f,
    Shake256s,
    Shake256f,
}

/// Calls `$body` with `$P` bound to the `slh-dsa` type of `$set`.
macro_rules! with_parameter_set {
    ($set:expr, $P:ident => $body:expr) => {
        match $set {
            SlhDsaParameterSet::Sha2_128s => {
                type $P = slh_dsa::Sha2_128s;
                $body
            }
            SlhDsaParameterSet::Sha2_128f => {
                type $P = slh_dsa::Sha2_128f;
                $body
            }
            SlhDsaParameterSet::Sha2_192s => {
                type $P = slh_dsa::Sha2_192s;
                $body
            }
            SlhDsaParameterSet::Sha2_192f => {
                type $P = slh_dsa::Sha2_192f;
                $body
            }
            SlhDsaParameterSet::Sha2_256s => {
                type $P = slh_dsa::Sha2_256s;
                $body
            }
            SlhDsaParameterSet::Sha2_256f => {
                type $P = slh_dsa::Sha2_256f;
                $body
            }
            SlhDsaParameterSet::Shake128s => {
                type $P = slh_dsa::Shake128s;
                $body
            }
            SlhDsaParameterSet::Shake128f => {
                type $P = slh_dsa::Shake128f;
                $body
            }
            SlhDsaParameterSet::Shake192s => {
                type $P = slh_dsa::Shake192s;
                $body
            }
            SlhDsaParameterSet::Shake192f => {
                type $P = slh_dsa::Shake192f;
                $body
            }
            SlhDsaParameterSet::Shake256s => {
                type $P = slh_dsa::Shake256s;
                $body
            }
            SlhDsaParameterSet::Shake256f => {
                type $P = slh_dsa::Shake256f;
                $body
            }
        }
    };
}

impl SlhDsaParameterSet {
    /// All twelve parameter sets.
    pub const ALL: [Self; 12] = [
        Self::Sha2_128s,
        Self::Sha2_128f,
        Self::Sha2_192s,
        Self::Sha2_192f,
        Self::Sha2_256s,
        Self::Sha2_256f,
        Self::Shake128s,
        Self::Shake128f,
        Self::Shake192s,
        Self::Shake192f,
        Self::Shake256s,
        Self::Shake256f,
    ];

    /// The position in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The CLI name, e.g. `slh-dsa-sha2-128s`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha2_128s => "slh-dsa-sha2-128s",
            Self::Sha2_128f => "slh-dsa-sha2-128f",
            Self::Sha2_192s => "slh-dsa-sha2-192s",
            Self::Sha2_192f => "slh-dsa-sha2-192f",
            Self::Sha2_256s => "slh-dsa-sha2-256s",
            Self::Sha2_256f => "slh-dsa-sha2-256f",
            Self::Shake128s => "slh-dsa-shake-128s",
            Self::Shake128f => "slh-dsa-shake-128f",
            Self::Shake192s => "slh-dsa-shake-192s",
            Self::Shake192f => "slh-dsa-shake-192f",
            Self::Shake256s => "slh-dsa-shake-256s",
            Self::Shake256f => "slh-dsa-shake-256f",
        }
    }

    /// The hash family.
    pub const fn family(self) -> SlhDsaFamily {
        match self {
            Self::Sha2_128s
            | Self::Sha2_128f
            | Self::Sha2_192s
            | Self::Sha2_192f
            | Self::Sha2_256s
            | Self::Sha2_256f => SlhDsaFamily::Sha2,
            _ => SlhDsaFamily::Shake,
        }
    }

    /// The public key length in bytes: 2n (FIPS 205 Table 2).
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::Sha2_128s | Self::Sha2_128f | Self::Shake128s | Self::Shake128f => 32,
            Self::Sha2_192s | Self::Sha2_192f | Self::Shake192s | Self::Shake192f => 48,
            Self::Sha2_256s | Self::Sha2_256f | Self::Shake256s | Self::Shake256f => 64,
        }
    }

    /// The signature length in bytes (FIPS 205 Table 2).
    pub const fn signature_len(self) -> usize {
        match self {
            Self::Sha2_128s | Self::Shake128s => 7_856,
            Self::Sha2_128f | Self::Shake128f => 17_088,
            Self::Sha2_192s | Self::Shake192s => 16_224,
            Self::Sha2_192f | Self::Shake192f => 35_664,
            Self::Sha2_256s | Self::Shake256s => 29_792,
            Self::Sha2_256f | Self::Shake256f => 49_856,
        }
    }

    /// The set of `family` with these key and signature lengths, as the precompile chooses it.
    pub fn from_lengths(
        family: SlhDsaFamily,
        public_key_len: usize,
        signature_len: usize,
    ) -> Option<Self> {
        Self::ALL.into_iter().find(|set| {
            set.family() == family
                && set.public_key_len() == public_key_len
                && set.signature_len() == signature_len
        })
    }
}

/// Verifies an SLH-DSA signature.
///
/// With [`Interface::External`] this is FIPS 205 Algorithm 24 (`slh_verify`, pure, with the given
/// context); with [`Interface::Internal`] it is Algorithm 20 (`slh_verify_internal`).
pub fn verify(
    set: SlhDsaParameterSet,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    interface: Interface<'_>,
) -> Result<bool, MalformedInput> {
    expect_len(set.name(), "public key", public_key, set.public_key_len())?;
    expect_len(set.name(), "signature", signature, set.signature_len())?;
    interface.check_context()?;
    Ok(with_parameter_set!(set, P => verify_with::<P>(public_key, message, signature, interface)))
}

fn verify_with<P: ParameterSet>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    interface: Interface<'_>,
) -> bool {
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::<P>::try_from(public_key),
        Signature::<P>::try_from(signature),
    ) else {
        return false;
    };
    match interface {
        Interface::External { context } => key
            .try_verify_with_context(message, context, &signature)
            .is_ok(),
        Interface::Internal => key.slh_verify_internal(&[message], &signature).is_ok(),
    }
}
