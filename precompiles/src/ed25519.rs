//! Ed25519 verification under the consensus rules of DESIGN.md section 1.
//!
//! RFC 8032 section 5.1.7 with the cofactorless equation `[s]B = R + [k]A`, checking each
//! encoding rule explicitly because libraries' "strict" modes disagree on the edge cases.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

use crate::error::{MalformedInput, expect_len};

const SCHEME: &str = "ed25519";

/// The field prime p = 2^255 - 19, little-endian.
const FIELD_PRIME_LE: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// Verifies an RFC 8032 Ed25519 signature (64 bytes `R ‖ s`) by the 32-byte key `public_key` over
/// a message of any length.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool, MalformedInput> {
    expect_len(SCHEME, "public key", public_key, 32)?;
    expect_len(SCHEME, "signature", signature, 64)?;
    let (r_bytes, s_bytes) = signature.split_at(32);

    let (Some(a), Some(r)) = (
        decode_canonical_point(public_key),
        decode_canonical_point(r_bytes),
    ) else {
        return Ok(false);
    };
    // A or R of small order is rejected.
    if a.is_small_order() || r.is_small_order() {
        return Ok(false);
    }
    // s < L.
    let mut s_array = [0u8; 32];
    s_array.copy_from_slice(s_bytes);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_array)) else {
        return Ok(false);
    };
    // k = SHA-512(R ‖ A ‖ M) mod L.
    let digest: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(public_key)
        .chain_update(message)
        .finalize()
        .into();
    let k = Scalar::from_bytes_mod_order_wide(&digest);
    // [s]B - [k]A == R, compared as group elements (no cofactor multiplication).
    let lhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    Ok(lhs == r)
}

/// Decodes a point, rejecting non-canonical encodings: y >= p, or x = 0 with the sign bit set.
fn decode_canonical_point(bytes: &[u8]) -> Option<EdwardsPoint> {
    let mut encoding = [0u8; 32];
    encoding.copy_from_slice(bytes);
    let mut y = encoding;
    y[31] &= 0x7f;
    if !less_than_le(&y, &FIELD_PRIME_LE) {
        return None;
    }
    let point = CompressedEdwardsY(encoding).decompress()?;
    // With y canonical, the re-encoding differs from the input only when x = 0 and the sign
    // bit was set (decompression negates zero to zero).
    (point.compress().to_bytes() == encoding).then_some(point)
}

/// a < b for 32-byte little-endian integers.
fn less_than_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()) == core::cmp::Ordering::Less
}
