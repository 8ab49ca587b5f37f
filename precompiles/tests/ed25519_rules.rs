//! The Ed25519 consensus rules of DESIGN.md that Wycheproof does not pin down: small-order
//! keys and nonces are rejected, while a key with a small-order component is accepted when the
//! cofactorless equation holds.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use rand::RngCore;
use sha2::{Digest, Sha512};
use thresig_precompiles::ed25519;

fn random_scalar(rng: &mut impl RngCore) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(message)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

#[test]
fn every_small_order_point_is_rejected_as_key_and_as_nonce() {
    let mut rng = rand::thread_rng();
    let a = random_scalar(&mut rng);
    let key = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    for torsion in EIGHT_TORSION {
        let small = torsion.compress().to_bytes();
        // Small-order points as key, as nonce, and as both.
        for message in [&b""[..], b"a", b"bridge"] {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&small);
            assert!(!ed25519::verify(&small, message, &signature).unwrap());
            assert!(!ed25519::verify(&key, message, &signature).unwrap());
        }
    }
}

#[test]
fn a_small_order_nonce_is_rejected_even_when_the_equation_holds() {
    // With A = [a]B, R = identity and s = k·a, the cofactorless equation [s]B = R + [k]A holds;
    // only the rule against small-order R rejects the signature.
    let mut rng = rand::thread_rng();
    let a = random_scalar(&mut rng);
    let key_point = ED25519_BASEPOINT_POINT * a;
    let key = key_point.compress().to_bytes();
    let identity = EIGHT_TORSION[0];
    assert!(identity.is_small_order());
    let nonce = identity.compress().to_bytes();
    let message = b"small-order nonce";
    let k = challenge(&nonce, &key, message);
    let s = k * a;
    assert_eq!(
        ED25519_BASEPOINT_POINT * s,
        identity + key_point * k,
        "the equation holds"
    );
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&nonce);
    signature[32..].copy_from_slice(&s.to_bytes());
    assert!(!ed25519::verify(&key, message, &signature).unwrap());
}

#[test]
fn a_key_with_a_small_order_component_is_accepted_when_the_equation_holds() {
    let mut rng = rand::thread_rng();
    let a = random_scalar(&mut rng);
    let torsion = EIGHT_TORSION[1]; // order 8
    let mixed_key_point = ED25519_BASEPOINT_POINT * a + torsion;
    assert!(!mixed_key_point.is_torsion_free() && !mixed_key_point.is_small_order());
    let mixed_key = mixed_key_point.compress().to_bytes();
    let message = b"mixed-order key";
    // Need R + [k]A = [s]B, i.e. R's torsion part cancels [k]T: R = [r]B + [j]T with
    // j + k = 0 (mod 8). k depends on R, so try j = 0..8 with fresh r until it lines up.
    for _attempt in 0..1000 {
        let r = random_scalar(&mut rng);
        for j in 0u8..8 {
            let nonce_point = ED25519_BASEPOINT_POINT * r + torsion * Scalar::from(j);
            let nonce = nonce_point.compress().to_bytes();
            let k = challenge(&nonce, &mixed_key, message);
            if !(j + k.to_bytes()[0] % 8).is_multiple_of(8) {
                continue;
            }
            let s = r + k * a;
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&nonce);
            signature[32..].copy_from_slice(&s.to_bytes());
            assert!(ed25519::verify(&mixed_key, message, &signature).unwrap());
            // The same signature under the torsion-free part of the key fails: the small
            // order component is really there and really used.
            let clean_key = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
            assert!(!ed25519::verify(&clean_key, message, &signature).unwrap());
            return;
        }
    }
    panic!("no aligned nonce found in 8000 tries (probability about 2^-1500)");
}

#[test]
fn s_at_or_above_the_group_order_is_rejected() {
    let mut rng = rand::thread_rng();
    let a = random_scalar(&mut rng);
    let key = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let r = random_scalar(&mut rng);
    let nonce = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
    let message = b"malleability";
    let s = r + challenge(&nonce, &key, message) * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&nonce);
    signature[32..].copy_from_slice(&s.to_bytes());
    assert!(ed25519::verify(&key, message, &signature).unwrap());
    // s + L is the same scalar mod L but not canonical.
    let order_le: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (index, byte) in signature[32..].iter_mut().enumerate() {
        let sum = u16::from(*byte) + u16::from(order_le[index]) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 256 bits");
    assert!(!ed25519::verify(&key, message, &signature).unwrap());
}
