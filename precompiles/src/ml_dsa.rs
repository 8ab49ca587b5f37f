//! ML-DSA (FIPS 204) verification with RustCrypto's `ml-dsa`; see docs/precompiles.md for why
//! this implementation was chosen.

use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa44, MlDsa65, MlDsa87, MlDsaParams};
use ml_dsa::{Signature, VerifyingKey};

use crate::error::{MalformedInput, expect_len};
use crate::interface::Interface;

/// The three ML-DSA parameter sets of FIPS 204.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlDsaParameterSet {
    /// ML-DSA-44 (security category 2).
    MlDsa44,
    /// ML-DSA-65 (security category 3).
    MlDsa65,
    /// ML-DSA-87 (security category 5).
    MlDsa87,
}

impl MlDsaParameterSet {
    /// All parameter sets, smallest first.
    pub const ALL: [Self; 3] = [Self::MlDsa44, Self::MlDsa65, Self::MlDsa87];

    /// The position in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The CLI name, e.g. `ml-dsa-65`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MlDsa44 => "ml-dsa-44",
            Self::MlDsa65 => "ml-dsa-65",
            Self::MlDsa87 => "ml-dsa-87",
        }
    }

    /// The encoded public key length in bytes.
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::MlDsa44 => 1312,
            Self::MlDsa65 => 1952,
            Self::MlDsa87 => 2592,
        }
    }

    /// The encoded signature length in bytes.
    pub const fn signature_len(self) -> usize {
        match self {
            Self::MlDsa44 => 2420,
            Self::MlDsa65 => 3309,
            Self::MlDsa87 => 4627,
        }
    }

    /// The parameter set whose public keys have `len` bytes, as the precompile chooses it.
    pub fn from_public_key_len(len: usize) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|set| set.public_key_len() == len)
    }
}

/// Verifies an ML-DSA signature.
///
/// With [`Interface::External`] this is FIPS 204 Algorithm 3 (`ML-DSA.Verify`, pure, with the
/// given context); with [`Interface::Internal`] it is Algorithm 8 (`ML-DSA.Verify_internal`),
/// where `message` is the already formatted M'.
pub fn verify(
    set: MlDsaParameterSet,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    interface: Interface<'_>,
) -> Result<bool, MalformedInput> {
    expect_len(set.name(), "public key", public_key, set.public_key_len())?;
    expect_len(set.name(), "signature", signature, set.signature_len())?;
    interface.check_context()?;
    Ok(match set {
        MlDsaParameterSet::MlDsa44 => {
            verify_with::<MlDsa44>(public_key, message, signature, interface)
        }
        MlDsaParameterSet::MlDsa65 => {
            verify_with::<MlDsa65>(public_key, message, signature, interface)
        }
        MlDsaParameterSet::MlDsa87 => {
            verify_with::<MlDsa87>(public_key, message, signature, interface)
        }
    })
}

fn verify_with<P: MlDsaParams>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    interface: Interface<'_>,
) -> bool {
    // Lengths were checked by the caller, so these conversions succeed.
    let (Ok(key), Ok(signature)) = (
        EncodedVerifyingKey::<P>::try_from(public_key),
        EncodedSignature::<P>::try_from(signature),
    ) else {
        return false;
    };
    let key = VerifyingKey::<P>::decode(&key);
    // sigDecode fails on a malformed hint or an out-of-range z: that signature is invalid.
    let Some(signature) = Signature::<P>::decode(&signature) else {
        return false;
    };
    match interface {
        Interface::External { context } => key.verify_with_context(message, context, &signature),
        Interface::Internal => key.verify_internal(message, &signature),
    }
}
