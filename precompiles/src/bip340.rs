//! BIP-340 Schnorr verification over secp256k1, step by step as the BIP specifies it.
//!
//! Written against k256's curve arithmetic rather than its `schnorr` module because that module
//! rejects `s = 0` and `r = 0` before evaluating the equation, which BIP-340 does not: a consensus
//! rule must be exactly BIP-340.

use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::ops::{LinearCombination, Reduce};
use k256::elliptic_curve::point::DecompactPoint;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

use crate::error::{MalformedInput, expect_len};

const SCHEME: &str = "bip340";

/// The field prime p of secp256k1, big-endian.
const FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xfc, 0x2f,
];

/// Verifies a BIP-340 signature: 32-byte x-only `public_key`, 64-byte `signature`, and a message
/// of any length (BIP-340 allows variable-length messages; the precompile passes 32 bytes).
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool, MalformedInput> {
    expect_len(SCHEME, "public key", public_key, 32)?;
    expect_len(SCHEME, "signature", signature, 64)?;
    let (r_bytes, s_bytes) = signature.split_at(32);

    // P = lift_x(int(pk)); fails if pk >= p or x^3 + 7 has no square root. decompact picks the
    // even-y point.
    let Some(public_point) =
        Option::<AffinePoint>::from(AffinePoint::decompact(&field_bytes(public_key)))
    else {
        return Ok(false);
    };
    // r < p.
    if r_bytes >= &FIELD_PRIME[..] {
        return Ok(false);
    }
    // s < n.
    let Some(s) = Option::<Scalar>::from(Scalar::from_repr(field_bytes(s_bytes))) else {
        return Ok(false);
    };
    // e = int(hash_BIP0340/challenge(bytes(r) || bytes(P) || m)) mod n.
    let challenge = tagged_hash(b"BIP0340/challenge", &[r_bytes, public_key, message]);
    let e = <Scalar as Reduce<U256>>::reduce_bytes(&challenge);
    // R = s*G - e*P.
    let big_r = ProjectivePoint::lincomb(
        &ProjectivePoint::GENERATOR,
        &s,
        &ProjectivePoint::from(public_point),
        &-e,
    );
    if bool::from(big_r.is_identity()) {
        return Ok(false);
    }
    // has_even_y(R) and x(R) == r.
    let encoded = big_r.to_affine().to_encoded_point(true);
    let even_y = encoded.tag() == k256::elliptic_curve::sec1::Tag::CompressedEvenY;
    Ok(even_y && encoded.x().is_some_and(|x| x[..] == *r_bytes))
}

/// Copies a 32-byte slice (length checked by the caller) into k256's array type.
pub(crate) fn field_bytes(bytes: &[u8]) -> FieldBytes {
    let mut array = [0u8; 32];
    array.copy_from_slice(bytes);
    FieldBytes::from(array)
}

/// hash_tag(x) = SHA256(SHA256(tag) || SHA256(tag) || x).
fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> FieldBytes {
    let tag_hash = Sha256::digest(tag);
    let mut hasher = Sha256::new();
    hasher.update(tag_hash);
    hasher.update(tag_hash);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}
