//! The third part of the FROST DKG (share checks, signing share, verifying shares) computed
//! with Horner's rule at the participants' small integer identifiers.
//!
//! frost-core's `part3` evaluates every commitment polynomial with one full scalar
//! multiplication per coefficient: (n − 1) · t of them to check the shares and n · t more for
//! the verifying shares, which made the 16-of-24 DKG take over a second of CPU per node. The
//! identifiers here are the node indices 1..=n, so `x · P` for an identifier `x` needs only
//! log2(n) doublings; evaluated this way the whole part costs one base-point multiplication
//! per sender. The equations are frost-core's (RFC 9591 appendix C, "Round 2"); only the
//! order of the arithmetic differs, and `part3` must return exactly what frost-core's would
//! (a test checks this on random DKGs of both ciphersuites). Everything evaluated in variable
//! time is public: commitments and identifiers. The secret shares only meet the base point
//! through the ciphersuite's own constant-time multiplication.

use std::collections::BTreeMap;

use frost_core::keys::dkg::{round1, round2};
use frost_core::keys::{
    CoefficientCommitment, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare,
};
use frost_core::{Ciphersuite, Element, Group, Identifier, VerifyingKey};

/// `x · point` by double-and-add over the bits of the public small integer `x`.
fn times_small<C: Ciphersuite>(point: Element<C>, x: u16) -> Element<C> {
    let mut result = <C::Group as Group>::identity();
    for bit in (0..u16::BITS - x.leading_zeros()).rev() {
        result = result + result;
        if (x >> bit) & 1 == 1 {
            result = result + point;
        }
    }
    result
}

/// The committed polynomial Σ_k C_k · x^k evaluated at the identifier `x`, by Horner's rule.
fn evaluate<C: Ciphersuite>(coefficients: &[CoefficientCommitment<C>], x: u16) -> Element<C> {
    coefficients
        .iter()
        .rev()
        .fold(<C::Group as Group>::identity(), |sum, coefficient| {
            times_small::<C>(sum, x) + coefficient.value()
        })
}

/// FROST DKG part 3 for the participant with index `own`, the others' packages keyed by
/// their indices. `None` when anything does not check (a bad share, a package missing or
/// extra, commitments of the wrong length): the caller then runs frost-core's `part3`, whose
/// error names the culprit.
pub fn part3<C: Ciphersuite>(
    own: u16,
    secret: &round2::SecretPackage<C>,
    round1: &BTreeMap<u16, round1::Package<C>>,
    round2: &BTreeMap<u16, round2::Package<C>>,
) -> Option<(KeyPackage<C>, PublicKeyPackage<C>)> {
    let identifier = Identifier::<C>::try_from(own).ok()?;
    let threshold = *secret.min_signers();
    if *secret.identifier() != identifier
        || round1.len() + 1 != usize::from(*secret.max_signers())
        || round1.len() != round2.len()
        || round1.contains_key(&own)
        || round1.keys().any(|index| !round2.contains_key(index))
    {
        return None;
    }
    let own_coefficients = secret.commitment().coefficients();
    if own_coefficients.len() != usize::from(threshold) {
        return None;
    }
    let mut group_commitment: Vec<Element<C>> =
        own_coefficients.iter().map(|c| c.value()).collect();
    let mut signing_share = secret.secret_share();
    for (&sender, package) in round1 {
        let coefficients = package.commitment().coefficients();
        if coefficients.len() != usize::from(threshold) {
            return None;
        }
        let share = round2.get(&sender)?.signing_share().to_scalar();
        // g^{f_ℓ(i)} = Π_k φ_ℓk^{i^k}: the share is the one the sender committed to.
        if <C::Group as Group>::generator() * share != evaluate::<C>(coefficients, own) {
            return None;
        }
        signing_share = signing_share + share;
        for (sum, coefficient) in group_commitment.iter_mut().zip(coefficients) {
            *sum = *sum + coefficient.value();
        }
    }
    let group_commitment: Vec<CoefficientCommitment<C>> = group_commitment
        .into_iter()
        .map(CoefficientCommitment::new)
        .collect();
    let verifying_key = VerifyingKey::new(group_commitment.first()?.value());
    if verifying_key.to_element() == <C::Group as Group>::identity() {
        return None;
    }
    let mut verifying_shares = BTreeMap::new();
    for index in round1.keys().copied().chain(std::iter::once(own)) {
        verifying_shares.insert(
            Identifier::<C>::try_from(index).ok()?,
            VerifyingShare::new(evaluate::<C>(&group_commitment, index)),
        );
    }
    // Y_i = g^{s_i}: with every share checked this holds; checked anyway, for one multiplication.
    let verifying_share = *verifying_shares.get(&identifier)?;
    if <C::Group as Group>::generator() * signing_share != verifying_share.to_element() {
        return None;
    }
    let key_package = KeyPackage::new(
        identifier,
        SigningShare::new(signing_share),
        verifying_share,
        verifying_key,
        threshold,
    );
    let public_key_package =
        PublicKeyPackage::new(verifying_shares, verifying_key, Some(threshold));
    C::post_dkg(key_package, public_key_package).ok()
}
