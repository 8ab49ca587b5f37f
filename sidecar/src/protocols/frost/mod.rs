//! FROST operations over either ciphersuite, with packages as bytes at the edges so the node
//! and coordinator code above is written once. Errors name the participants FROST blames.

pub mod dkg_shares;

use std::collections::BTreeMap;

use frost_core::keys::dkg;
use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::round1::{SigningCommitments, SigningNonces};
use frost_core::round2::SignatureShare;
use frost_core::{Ciphersuite, Identifier, SigningPackage};
use frost_ed25519::Ed25519Sha512;
use frost_secp256k1_tr::Secp256K1Sha256TR;
use thiserror::Error;
use zeroize::Zeroizing;

/// A node's DKG secret between rounds, typed by its ciphersuite (both phases of frost-core's
/// secret packages zeroize on drop).
pub enum DkgSecret {
    /// A frost-secp256k1-tr DKG.
    Secp256k1Tr(DkgPhase<Secp256K1Sha256TR>),
    /// A frost-ed25519 DKG.
    Ed25519(DkgPhase<Ed25519Sha512>),
}

/// Where one participant's DKG stands.
pub enum DkgPhase<C: Ciphersuite> {
    /// After part 1: the round-1 secret package.
    AfterPart1(dkg::round1::SecretPackage<C>),
    /// After part 2: the round-2 secret package and the others' decoded round-1 packages.
    AfterPart2(AfterPart2<C>),
}

/// A decoded signing package of either ciphersuite.
pub enum SigningPackageOf {
    /// frost-secp256k1-tr.
    Secp256k1Tr(SigningPackage<Secp256K1Sha256TR>),
    /// frost-ed25519.
    Ed25519(SigningPackage<Ed25519Sha512>),
}

/// A decoded public key package of either ciphersuite.
pub enum PublicKeyPackageOf {
    /// frost-secp256k1-tr.
    Secp256k1Tr(PublicKeyPackage<Secp256K1Sha256TR>),
    /// frost-ed25519.
    Ed25519(PublicKeyPackage<Ed25519Sha512>),
}

/// A FROST ciphersuite thresig runs: how its typed state goes into, and comes back out of,
/// the enums above. A value of the other suite comes back as `None`, never as a wrong type.
pub trait Suite: Ciphersuite + 'static {
    /// Wraps this suite's DKG phase.
    fn dkg_secret(phase: DkgPhase<Self>) -> DkgSecret;
    /// This suite's DKG phase, if the secret is of this suite.
    fn dkg_phase(secret: DkgSecret) -> Option<DkgPhase<Self>>;
    /// This suite's DKG phase, borrowed.
    fn dkg_phase_ref(secret: &DkgSecret) -> Option<&DkgPhase<Self>>;
    /// Wraps this suite's signing package.
    fn signing_package(package: SigningPackage<Self>) -> SigningPackageOf;
    /// This suite's signing package, if the package is of this suite.
    fn signing_package_ref(package: &SigningPackageOf) -> Option<&SigningPackage<Self>>;
    /// Wraps this suite's public key package.
    fn public_key_package(package: PublicKeyPackage<Self>) -> PublicKeyPackageOf;
    /// This suite's public key package, if the package is of this suite.
    fn public_key_package_ref(package: &PublicKeyPackageOf) -> Option<&PublicKeyPackage<Self>>;
}

macro_rules! suite {
    ($suite:ty, $variant:ident) => {
        impl Suite for $suite {
            fn dkg_secret(phase: DkgPhase<Self>) -> DkgSecret {
                DkgSecret::$variant(phase)
            }
            fn dkg_phase(secret: DkgSecret) -> Option<DkgPhase<Self>> {
                match secret {
                    DkgSecret::$variant(phase) => Some(phase),
                    _ => None,
                }
            }
            fn dkg_phase_ref(secret: &DkgSecret) -> Option<&DkgPhase<Self>> {
                match secret {
                    DkgSecret::$variant(phase) => Some(phase),
                    _ => None,
                }
            }
            fn signing_package(package: SigningPackage<Self>) -> SigningPackageOf {
                SigningPackageOf::$variant(package)
            }
            fn signing_package_ref(package: &SigningPackageOf) -> Option<&SigningPackage<Self>> {
                match package {
                    SigningPackageOf::$variant(package) => Some(package),
                    _ => None,
                }
            }
            fn public_key_package(package: PublicKeyPackage<Self>) -> PublicKeyPackageOf {
                PublicKeyPackageOf::$variant(package)
            }
            fn public_key_package_ref(
                package: &PublicKeyPackageOf,
            ) -> Option<&PublicKeyPackage<Self>> {
                match package {
                    PublicKeyPackageOf::$variant(package) => Some(package),
                    _ => None,
                }
            }
        }
    };
}
suite!(Secp256K1Sha256TR, Secp256k1Tr);
suite!(Ed25519Sha512, Ed25519);

/// Round-2 DKG packages by receiving participant, each secret until it is sealed to them.
pub type Round2Packages = BTreeMap<u16, Zeroizing<Vec<u8>>>;

/// A FROST step failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrostOpError {
    /// FROST rejected the input and blames these participants (FROST identifiers).
    #[error("{reason} (blamed: {culprits:?})")]
    Blamed {
        /// FROST's error.
        reason: String,
        /// The indices of the blamed participants.
        culprits: Vec<u16>,
    },
    /// The input could not be decoded or FROST failed without blaming anyone.
    #[error("{0}")]
    Failed(String),
}

fn identifier<C: Ciphersuite>(index: u16) -> Result<Identifier<C>, FrostOpError> {
    Identifier::<C>::try_from(index)
        .map_err(|error| FrostOpError::Failed(format!("identifier {index}: {error}")))
}

/// Maps FROST's error to one naming participant indices among `indices`.
fn blame<C: Ciphersuite>(error: frost_core::Error<C>, indices: &[u16]) -> FrostOpError {
    let culprits: Vec<u16> = error
        .culprits()
        .into_iter()
        .filter_map(|culprit| {
            indices
                .iter()
                .copied()
                .find(|&index| identifier::<C>(index).ok() == Some(culprit))
        })
        .collect();
    if culprits.is_empty() {
        FrostOpError::Failed(error.to_string())
    } else {
        FrostOpError::Blamed {
            reason: error.to_string(),
            culprits,
        }
    }
}

fn fail<C: Ciphersuite>(what: &str, error: frost_core::Error<C>) -> FrostOpError {
    FrostOpError::Failed(format!("{what}: {error}"))
}

/// DKG part 1 for participant `index` of `max_signers` with threshold `min_signers`: the secret
/// to keep and the round-1 package to broadcast.
pub fn dkg_part1<C: Suite>(
    index: u16,
    max_signers: u16,
    min_signers: u16,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(DkgSecret, Vec<u8>), FrostOpError> {
    let (secret, package) =
        dkg::part1::<C, _>(identifier::<C>(index)?, max_signers, min_signers, rng)
            .map_err(|error| fail("dkg part 1", error))?;
    let bytes = package
        .serialize()
        .map_err(|error| fail("round-1 package", error))?;
    Ok((C::dkg_secret(DkgPhase::AfterPart1(secret)), bytes))
}

/// DKG part 2: checks every other participant's round-1 package (proofs of knowledge) and
/// makes the round-2 package for each of them.
pub fn dkg_part2<C: Suite>(
    secret: DkgSecret,
    round1: &BTreeMap<u16, Vec<u8>>,
) -> Result<(DkgSecret, Round2Packages), FrostOpError> {
    let Some(DkgPhase::AfterPart1(secret)) = C::dkg_phase(secret) else {
        return Err(FrostOpError::Failed(
            "DKG state is of another scheme or past part 1".into(),
        ));
    };
    let indices: Vec<u16> = round1.keys().copied().collect();
    let packages = decode_round1::<C>(round1)?;
    let (secret, outgoing) =
        dkg::part2::<C>(secret, &packages).map_err(|error| blame(error, &indices))?;
    let packages = by_index::<C, _>(packages, &indices)?;
    let mut out = BTreeMap::new();
    for index in indices {
        let package = outgoing.get(&identifier::<C>(index)?).ok_or_else(|| {
            FrostOpError::Failed(format!("no round-2 package for participant {index}"))
        })?;
        out.insert(
            index,
            Zeroizing::new(
                package
                    .serialize()
                    .map_err(|error| fail("round-2 package", error))?,
            ),
        );
    }
    let state: AfterPart2<C> = (secret, packages);
    Ok((C::dkg_secret(DkgPhase::AfterPart2(state)), out))
}

/// What part 2 leaves for part 3: the secret package and the others' round-1 packages, decoded
/// once (decoding checks every point, which for Ed25519 includes a torsion check).
pub type AfterPart2<C> = (
    dkg::round2::SecretPackage<C>,
    BTreeMap<u16, dkg::round1::Package<C>>,
);

/// The packages of `by_identifier` keyed by index again (`indices` are the keys' indices).
fn by_index<C: Ciphersuite, P>(
    mut by_identifier: BTreeMap<Identifier<C>, P>,
    indices: &[u16],
) -> Result<BTreeMap<u16, P>, FrostOpError> {
    let mut out = BTreeMap::new();
    for &index in indices {
        let package = by_identifier
            .remove(&identifier::<C>(index)?)
            .ok_or_else(|| FrostOpError::Failed(format!("no package of participant {index}")))?;
        out.insert(index, package);
    }
    Ok(out)
}

fn decode_round1<C: Ciphersuite>(
    round1: &BTreeMap<u16, Vec<u8>>,
) -> Result<BTreeMap<Identifier<C>, dkg::round1::Package<C>>, FrostOpError> {
    let mut packages = BTreeMap::new();
    for (&index, bytes) in round1 {
        let package = dkg::round1::Package::<C>::deserialize(bytes).map_err(|error| {
            FrostOpError::Blamed {
                reason: format!("round-1 package does not decode: {error}"),
                culprits: vec![index],
            }
        })?;
        packages.insert(identifier::<C>(index)?, package);
    }
    Ok(packages)
}

/// The result of a completed DKG at one participant.
pub struct DkgOutput {
    /// The participant's key package (its secret share), serialized.
    pub key_package: Zeroizing<Vec<u8>>,
    /// The group's public key package, serialized.
    pub public_key_package: Vec<u8>,
}

fn by_identifier<C: Ciphersuite, P>(
    packages: BTreeMap<u16, P>,
) -> Result<BTreeMap<Identifier<C>, P>, FrostOpError> {
    packages
        .into_iter()
        .map(|(index, package)| Ok((identifier::<C>(index)?, package)))
        .collect()
}

/// DKG part 3 at the participant with index `own`: checks every received share against its
/// sender's commitment and derives the key package and the group's public key package.
pub fn dkg_part3<C: Suite>(
    own: u16,
    secret: &DkgSecret,
    round2: &BTreeMap<u16, Zeroizing<Vec<u8>>>,
) -> Result<DkgOutput, FrostOpError> {
    let Some(DkgPhase::AfterPart2((secret, round1_packages))) = C::dkg_phase_ref(secret) else {
        return Err(FrostOpError::Failed(
            "DKG state is of another scheme or not after part 2".into(),
        ));
    };
    let indices: Vec<u16> = round2.keys().copied().collect();
    let mut round2_packages = BTreeMap::new();
    for (&index, bytes) in round2 {
        let package = dkg::round2::Package::<C>::deserialize(bytes).map_err(|error| {
            FrostOpError::Blamed {
                reason: format!("round-2 package does not decode: {error}"),
                culprits: vec![index],
            }
        })?;
        round2_packages.insert(index, package);
    }
    let fast = crate::protocols::frost::dkg_shares::part3::<C>(
        own,
        secret,
        round1_packages,
        &round2_packages,
    );
    let (key_package, public_key_package) = match fast {
        Some(output) => output,
        // Something does not check: frost-core's own part 3 says what, and blames whom.
        None => dkg::part3::<C>(
            secret,
            &by_identifier(round1_packages.clone())?,
            &by_identifier(round2_packages)?,
        )
        .map_err(|error| blame(error, &indices))?,
    };
    Ok(DkgOutput {
        key_package: Zeroizing::new(
            key_package
                .serialize()
                .map_err(|error| fail("key package", error))?,
        ),
        public_key_package: public_key_package
            .serialize()
            .map_err(|error| fail("public key package", error))?,
    })
}

/// Round 1 of signing: fresh nonces (secret, to store) and their commitments (to publish).
pub fn commit<C: Ciphersuite>(
    key_package: &[u8],
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), FrostOpError> {
    let key_package = KeyPackage::<C>::deserialize(key_package)
        .map_err(|error| fail("stored key package", error))?;
    let (nonces, commitments) = frost_core::round1::commit(key_package.signing_share(), rng);
    Ok((
        Zeroizing::new(nonces.serialize().map_err(|error| fail("nonces", error))?),
        commitments
            .serialize()
            .map_err(|error| fail("commitments", error))?,
    ))
}

/// The signing package for `message` from the signers' commitments, serialized and decoded
/// (to aggregate with, without decoding it again).
pub fn build_signing_package<C: Suite>(
    commitments: &BTreeMap<u16, Vec<u8>>,
    message: &[u8],
) -> Result<(Vec<u8>, DecodedSigningPackage), FrostOpError> {
    let mut map = BTreeMap::new();
    for (&index, bytes) in commitments {
        let commitment =
            SigningCommitments::<C>::deserialize(bytes).map_err(|error| FrostOpError::Blamed {
                reason: format!("commitments do not decode: {error}"),
                culprits: vec![index],
            })?;
        map.insert(identifier::<C>(index)?, commitment);
    }
    let package = SigningPackage::new(map, message);
    let bytes = package
        .serialize()
        .map_err(|error| fail("signing package", error))?;
    Ok((
        bytes,
        DecodedSigningPackage {
            message: message.to_vec(),
            signers: commitments.keys().copied().collect(),
            package: C::signing_package(package),
        },
    ))
}

/// A signing package decoded once: what a node checks before it uses its nonces, and then
/// signs (decoding checks every point, so it is done only once).
pub struct DecodedSigningPackage {
    /// The message to be signed.
    pub message: Vec<u8>,
    /// The signers' indices.
    pub signers: Vec<u16>,
    package: SigningPackageOf,
}

impl DecodedSigningPackage {
    /// The serialized commitments the package carries for the signer `index`, if any.
    pub fn commitments_of<C: Suite>(&self, index: u16) -> Result<Option<Vec<u8>>, FrostOpError> {
        let package = self.package::<C>()?;
        package
            .signing_commitments()
            .get(&identifier::<C>(index)?)
            .map(|commitments| {
                commitments
                    .serialize()
                    .map_err(|error| fail("commitments", error))
            })
            .transpose()
    }

    fn package<C: Suite>(&self) -> Result<&SigningPackage<C>, FrostOpError> {
        C::signing_package_ref(&self.package)
            .ok_or_else(|| FrostOpError::Failed("signing package of another scheme".into()))
    }
}

/// Decodes a signing package whose signers must all be among `indices`.
pub fn decode_signing_package<C: Suite>(
    bytes: &[u8],
    indices: &[u16],
) -> Result<DecodedSigningPackage, FrostOpError> {
    let package =
        SigningPackage::<C>::deserialize(bytes).map_err(|error| fail("signing package", error))?;
    let mut signers = Vec::with_capacity(package.signing_commitments().len());
    for identifier in package.signing_commitments().keys() {
        let index = indices
            .iter()
            .copied()
            .find(|&index| self::identifier::<C>(index).ok().as_ref() == Some(identifier))
            .ok_or_else(|| {
                FrostOpError::Failed("signing package names a signer outside the wallet".into())
            })?;
        signers.push(index);
    }
    Ok(DecodedSigningPackage {
        message: package.message().clone(),
        signers,
        package: C::signing_package(package),
    })
}

/// Signing round 2: this participant's signature share, serialized.
pub fn sign<C: Suite>(
    package: &DecodedSigningPackage,
    nonces: &[u8],
    key_package: &[u8],
) -> Result<Vec<u8>, FrostOpError> {
    let (nonces, key_package) = decode_for_signing::<C>(nonces, key_package)?;
    let share = frost_core::round2::sign(package.package::<C>()?, &nonces, &key_package)
        .map_err(|error| fail("signing", error))?;
    Ok(share.serialize())
}

/// Signing round 2 for the BIP-86 output key (secp256k1 Taproot only).
pub fn sign_bip86(
    package: &DecodedSigningPackage,
    nonces: &[u8],
    key_package: &[u8],
) -> Result<Vec<u8>, FrostOpError> {
    type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
    let (nonces, key_package) = decode_for_signing::<Tr>(nonces, key_package)?;
    let share = frost_secp256k1_tr::round2::sign_with_tweak(
        package.package::<Tr>()?,
        &nonces,
        &key_package,
        None,
    )
    .map_err(|error| fail("signing", error))?;
    Ok(share.serialize())
}

fn decode_for_signing<C: Ciphersuite>(
    nonces: &[u8],
    key_package: &[u8],
) -> Result<(SigningNonces<C>, KeyPackage<C>), FrostOpError> {
    Ok((
        SigningNonces::<C>::deserialize(nonces).map_err(|error| fail("stored nonces", error))?,
        KeyPackage::<C>::deserialize(key_package)
            .map_err(|error| fail("stored key package", error))?,
    ))
}

/// An aggregate signature and the group key of the package it was made with.
pub struct Aggregate {
    /// The group signature, serialized.
    pub signature: Vec<u8>,
    /// The (untweaked) group key, serialized as by [`group_key`].
    pub group_key: Vec<u8>,
}

/// A group's public key package, decoded once (decoding checks every verifying share).
pub struct DecodedPublicKeyPackage {
    package: PublicKeyPackageOf,
}

/// Decodes a serialized public key package.
pub fn decode_public_key_package<C: Suite>(
    bytes: &[u8],
) -> Result<DecodedPublicKeyPackage, FrostOpError> {
    let package = PublicKeyPackage::<C>::deserialize(bytes)
        .map_err(|error| fail("public key package", error))?;
    Ok(DecodedPublicKeyPackage {
        package: C::public_key_package(package),
    })
}

fn public_key_package<C: Suite>(
    public: &DecodedPublicKeyPackage,
) -> Result<&PublicKeyPackage<C>, FrostOpError> {
    C::public_key_package_ref(&public.package)
        .ok_or_else(|| FrostOpError::Failed("public key package of another scheme".into()))
}

/// Aggregates signature shares, checking each against its signer's verifying share, into the
/// group signature; `bip86` aggregates under the BIP-86 tweaked key.
pub fn aggregate<C: Suite>(
    package: &DecodedSigningPackage,
    shares: &BTreeMap<u16, Vec<u8>>,
    public: &DecodedPublicKeyPackage,
    bip86: bool,
) -> Result<Aggregate, FrostOpError> {
    let indices: Vec<u16> = shares.keys().copied().collect();
    if bip86 {
        // Only the Taproot ciphersuite has a tweak; reinterpret through its concrete types.
        type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
        let (package, public) = (package.package::<Tr>()?, public_key_package::<Tr>(public)?);
        let mut tr_shares = BTreeMap::new();
        for (&index, bytes) in shares {
            let share = SignatureShare::<Tr>::deserialize(bytes)
                .map_err(|error| fail("signature share", error))?;
            tr_shares.insert(identifier::<Tr>(index)?, share);
        }
        let signature = frost_secp256k1_tr::aggregate_with_tweak(package, &tr_shares, public, None)
            .map_err(|error| blame(error, &indices))?;
        return aggregated::<Tr>(&signature, public);
    }
    let (package, public) = (package.package::<C>()?, public_key_package::<C>(public)?);
    let mut map = BTreeMap::new();
    for (&index, bytes) in shares {
        let share =
            SignatureShare::<C>::deserialize(bytes).map_err(|error| FrostOpError::Blamed {
                reason: format!("signature share does not decode: {error}"),
                culprits: vec![index],
            })?;
        map.insert(identifier::<C>(index)?, share);
    }
    let signature =
        frost_core::aggregate(package, &map, public).map_err(|error| blame(error, &indices))?;
    aggregated::<C>(&signature, public)
}

fn aggregated<C: Ciphersuite>(
    signature: &frost_core::Signature<C>,
    public: &PublicKeyPackage<C>,
) -> Result<Aggregate, FrostOpError> {
    Ok(Aggregate {
        signature: signature
            .serialize()
            .map_err(|error| fail("signature", error))?,
        group_key: public
            .verifying_key()
            .serialize()
            .map_err(|error| fail("group key", error))?,
    })
}

/// The group verifying key of a public key package, serialized (33-byte compressed point for
/// secp256k1, 32 bytes for Ed25519).
pub fn group_key<C: Ciphersuite>(public_key_package: &[u8]) -> Result<Vec<u8>, FrostOpError> {
    let public = PublicKeyPackage::<C>::deserialize(public_key_package)
        .map_err(|error| fail("public key package", error))?;
    public
        .verifying_key()
        .serialize()
        .map_err(|error| fail("group key", error))
}

/// Evaluates `$body` with `$C` bound to the ciphersuite of `$suite`, a
/// [`FrostSuite`](crate::model::scheme::FrostSuite).
#[macro_export]
macro_rules! with_ciphersuite {
    ($suite:expr, $C:ident => $body:expr) => {
        match $suite {
            $crate::model::scheme::FrostSuite::Secp256k1Tr => {
                type $C = frost_secp256k1_tr::Secp256K1Sha256TR;
                $body
            }
            $crate::model::scheme::FrostSuite::Ed25519 => {
                type $C = frost_ed25519::Ed25519Sha512;
                $body
            }
        }
    };
}
