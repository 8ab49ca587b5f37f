//! ECDSA over secp256k1 for threshold (CGGMP21) signatures, under DESIGN.md's consensus rules:
//! the key is a point on the curve, `0 < r, s < n`, `s <= n/2`, and when a recovery byte is
//! given, the key recovered from `(r, s, v)` must equal the given key.

use k256::ecdsa::{Signature, VerifyingKey, hazmat::VerifyPrimitive};
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::ops::{Invert, LinearCombination, Reduce};
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::sec1::{Tag, ToEncodedPoint};
use k256::{ProjectivePoint, PublicKey, Scalar, U256};

use crate::bip340::field_bytes;

use crate::error::{MalformedInput, expect_len};

const SCHEME: &str = "ecdsa-secp256k1";

/// Verifies `signature` over the 32-byte `message_hash`.
///
/// `public_key` is SEC1, 33 bytes compressed or 65 uncompressed. `signature` is `r ‖ s`
/// (64 bytes) or `r ‖ s ‖ v` (65 bytes, v in {0, 1, 27, 28}); with `v` the recovered key must
/// match `public_key` as well.
pub fn verify(
    public_key: &[u8],
    message_hash: &[u8],
    signature: &[u8],
) -> Result<bool, MalformedInput> {
    if !matches!(public_key.len(), 33 | 65) {
        return Err(MalformedInput::WrongLength {
            scheme: SCHEME,
            field: "public key",
            expected: "33 (compressed) or 65 (uncompressed)".into(),
            actual: public_key.len(),
        });
    }
    expect_len(SCHEME, "message hash", message_hash, 32)?;
    if !matches!(signature.len(), 64 | 65) {
        return Err(MalformedInput::WrongLength {
            scheme: SCHEME,
            field: "signature",
            expected: "64 (r‖s) or 65 (r‖s‖v)".into(),
            actual: signature.len(),
        });
    }

    // Only the SEC1 compressed (02/03) and uncompressed (04) tags: sec1 also parses tags such
    // as 05 ("compact"), which other implementations reject.
    let tag_matches_length = matches!(
        (public_key.len(), public_key[0]),
        (33, 0x02 | 0x03) | (65, 0x04)
    );
    if !tag_matches_length {
        return Ok(false);
    }
    // The key must be a point on the curve (from_sec1_bytes also rejects the identity).
    let Ok(key) = PublicKey::from_sec1_bytes(public_key) else {
        return Ok(false);
    };
    let key = VerifyingKey::from(key);
    let Some(signature_rs) = parse_low_s(&signature[..64]) else {
        return Ok(false);
    };

    match signature.get(64) {
        None => Ok(key
            .as_affine()
            .verify_prehashed(&field_bytes(message_hash), &signature_rs)
            .is_ok()),
        Some(&v) => {
            let y_is_odd = match v {
                0 | 27 => false,
                1 | 28 => true,
                _ => return Ok(false),
            };
            Ok(recovers_to(&key, message_hash, &signature_rs, y_is_odd))
        }
    }
}

/// Whether the key recovered from `(r, s, v)` is `key`, in one double-scalar multiplication.
///
/// Recovery takes R = (r, y with parity v) and returns r⁻¹(sR − zG). That equals Q exactly when
/// R = s⁻¹zG + s⁻¹rQ, so computing R′ = u₁G + u₂Q and requiring x(R′) = r (as a field element:
/// v carries no "x reduced" bit) and parity(y(R′)) = v decides the same thing without the
/// separate recovery and verification that a recover-then-compare would cost.
fn recovers_to(
    key: &VerifyingKey,
    message_hash: &[u8],
    signature: &Signature,
    y_is_odd: bool,
) -> bool {
    let (r, s) = signature.split_scalars();
    let z = <Scalar as Reduce<U256>>::reduce_bytes(&field_bytes(message_hash));
    // s is a NonZeroScalar, so its inverse exists.
    let s_inverse: Scalar = *s.invert();
    let candidate = ProjectivePoint::lincomb(
        &ProjectivePoint::GENERATOR,
        &(z * s_inverse),
        &ProjectivePoint::from(*key.as_affine()),
        &(*r * s_inverse),
    );
    if bool::from(candidate.is_identity()) {
        return false;
    }
    let encoded = candidate.to_affine().to_encoded_point(true);
    let parity_matches = (encoded.tag() == Tag::CompressedOddY) == y_is_odd;
    parity_matches && encoded.x().is_some_and(|x| x[..] == r.to_bytes()[..])
}

/// Parses `r ‖ s` with `0 < r, s < n` and low `s`, or `None`.
fn parse_low_s(rs: &[u8]) -> Option<Signature> {
    let r = Option::<Scalar>::from(Scalar::from_repr(field_bytes(&rs[..32])))?;
    let s = Option::<Scalar>::from(Scalar::from_repr(field_bytes(&rs[32..])))?;
    if bool::from(s.is_high()) {
        return None;
    }
    // from_scalars rejects r = 0 and s = 0.
    Signature::from_scalars(r, s).ok()
}
