//! FROST DKG and signing through the byte-level operations the nodes and coordinator use, in
//! one process: 2-of-3 and 3-of-5, both schemes, the BIP-86 tweak, and FROST naming a culprit.

use std::collections::BTreeMap;

use thresig_sidecar::chains::addresses;
use thresig_sidecar::protocols::frost::{self as frost_ops, DkgSecret, FrostOpError};
use zeroize::Zeroizing;

type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
type Ed = frost_ed25519::Ed25519Sha512;

/// Runs a DKG among participants 1..=n; returns key packages and the public key package.
fn dkg<C: frost_ops::Suite>(n: u16, t: u16) -> (BTreeMap<u16, Zeroizing<Vec<u8>>>, Vec<u8>) {
    let mut rng = rand::rngs::OsRng;
    let mut secrets: BTreeMap<u16, DkgSecret> = BTreeMap::new();
    let mut round1: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    for index in 1..=n {
        let (secret, package) = frost_ops::dkg_part1::<C>(index, n, t, &mut rng).unwrap();
        secrets.insert(index, secret);
        round1.insert(index, package);
    }
    let mut round2_secrets = BTreeMap::new();
    let mut inbox: BTreeMap<u16, BTreeMap<u16, Zeroizing<Vec<u8>>>> = BTreeMap::new();
    for (index, secret) in secrets {
        let others: BTreeMap<u16, Vec<u8>> = round1
            .iter()
            .filter(|(other, _)| **other != index)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let (secret, outgoing) = frost_ops::dkg_part2::<C>(secret, &others).unwrap();
        round2_secrets.insert(index, secret);
        for (recipient, package) in outgoing {
            inbox.entry(recipient).or_default().insert(index, package);
        }
    }
    let mut key_packages = BTreeMap::new();
    let mut public = None;
    for (index, secret) in round2_secrets {
        let output = frost_ops::dkg_part3::<C>(index, &secret, &inbox[&index]).unwrap();
        if let Some(first) = &public {
            assert_eq!(
                first, &output.public_key_package,
                "every participant derives the same group"
            );
        }
        public = Some(output.public_key_package);
        key_packages.insert(index, output.key_package);
    }
    (key_packages, public.unwrap())
}

fn sign<C: frost_ops::Suite>(
    key_packages: &BTreeMap<u16, Zeroizing<Vec<u8>>>,
    signers: &[u16],
    message: &[u8],
    public: &[u8],
    bip86: bool,
) -> Vec<u8> {
    let mut rng = rand::rngs::OsRng;
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for &index in signers {
        let (secret, public_commitments) =
            frost_ops::commit::<C>(&key_packages[&index], &mut rng).unwrap();
        nonces.insert(index, secret);
        commitments.insert(index, public_commitments);
    }
    let (package, built) = frost_ops::build_signing_package::<C>(&commitments, message).unwrap();
    let decoded = frost_ops::decode_signing_package::<C>(&package, signers).unwrap();
    assert_eq!(decoded.message, message);
    assert_eq!(
        (&built.message, &built.signers),
        (&decoded.message, &decoded.signers)
    );
    let mut shares = BTreeMap::new();
    for &index in signers {
        assert_eq!(
            decoded.commitments_of::<C>(index).unwrap().as_ref(),
            Some(&commitments[&index])
        );
        let share = if bip86 {
            frost_ops::sign_bip86(&decoded, &nonces[&index], &key_packages[&index]).unwrap()
        } else {
            frost_ops::sign::<C>(&decoded, &nonces[&index], &key_packages[&index]).unwrap()
        };
        shares.insert(index, share);
    }
    let public_key_package = frost_ops::decode_public_key_package::<C>(public).unwrap();
    let aggregate = frost_ops::aggregate::<C>(&built, &shares, &public_key_package, bip86).unwrap();
    assert_eq!(
        aggregate.group_key,
        frost_ops::group_key::<C>(public).unwrap()
    );
    aggregate.signature
}

#[test]
fn taproot_dkg_and_signing_verify_as_bip340_with_and_without_bip86() {
    for (n, t) in [(3, 2), (5, 3)] {
        let (keys, public) = dkg::<Tr>(n, t);
        let x_only = addresses::x_only(&frost_ops::group_key::<Tr>(&public).unwrap()).unwrap();
        let signers: Vec<u16> = (1..=n).rev().take(usize::from(t)).collect();
        let message = [0x42u8; 32];
        let signature = sign::<Tr>(&keys, &signers, &message, &public, false);
        assert!(thresig_precompiles::bip340::verify(&x_only, &message, &signature).unwrap());
        let tweaked = sign::<Tr>(&keys, &signers, &message, &public, true);
        let output = addresses::bip86_output_key(&x_only).unwrap();
        assert!(thresig_precompiles::bip340::verify(&output, &message, &tweaked).unwrap());
        assert!(!thresig_precompiles::bip340::verify(&x_only, &message, &tweaked).unwrap());
    }
}

#[test]
fn ed25519_dkg_and_signing_verify_under_rfc8032() {
    let (keys, public) = dkg::<Ed>(5, 3);
    let key = frost_ops::group_key::<Ed>(&public).unwrap();
    for signers in [[1u16, 2, 3], [2, 4, 5], [5, 1, 3]] {
        let signature = sign::<Ed>(&keys, &signers, b"solana", &public, false);
        assert!(thresig_precompiles::ed25519::verify(&key, b"solana", &signature).unwrap());
    }
}

#[test]
fn a_bad_round_two_share_is_blamed_on_its_sender() {
    let mut rng = rand::rngs::OsRng;
    let (n, t) = (3u16, 2u16);
    let mut secrets = BTreeMap::new();
    let mut round1 = BTreeMap::new();
    for index in 1..=n {
        let (secret, package) = frost_ops::dkg_part1::<Ed>(index, n, t, &mut rng).unwrap();
        secrets.insert(index, secret);
        round1.insert(index, package);
    }
    let others_of = |index: u16| -> BTreeMap<u16, Vec<u8>> {
        round1
            .iter()
            .filter(|(other, _)| **other != index)
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    };
    let mut outgoing_by_sender = BTreeMap::new();
    let mut round2_secret_1 = None;
    for (index, secret) in secrets {
        let (secret, outgoing) = frost_ops::dkg_part2::<Ed>(secret, &others_of(index)).unwrap();
        if index == 1 {
            round2_secret_1 = Some(secret);
        }
        outgoing_by_sender.insert(index, outgoing);
    }
    // Participant 3 sends participant 1 someone else's share (2's): valid encoding, wrong value.
    let mut inbox = BTreeMap::new();
    inbox.insert(2u16, outgoing_by_sender[&2][&1].clone());
    inbox.insert(3u16, outgoing_by_sender[&3][&2].clone());
    let error = frost_ops::dkg_part3::<Ed>(1, &round2_secret_1.unwrap(), &inbox)
        .err()
        .unwrap();
    match error {
        FrostOpError::Blamed { culprits, .. } => assert_eq!(culprits, vec![3]),
        other => panic!("expected blame, got {other}"),
    }
}

#[test]
fn dkg_state_is_typed_by_suite_and_phase() {
    let mut rng = rand::rngs::OsRng;
    let others = |packages: &[(u16, Vec<u8>)]| packages.iter().cloned().collect::<BTreeMap<_, _>>();
    let (tr_secret, _) = frost_ops::dkg_part1::<Tr>(1, 3, 2, &mut rng).unwrap();
    let (_, ed_package_2) = frost_ops::dkg_part1::<Ed>(2, 3, 2, &mut rng).unwrap();
    let (_, ed_package_3) = frost_ops::dkg_part1::<Ed>(3, 3, 2, &mut rng).unwrap();
    let round1 = others(&[(2, ed_package_2), (3, ed_package_3)]);
    // A secp256k1 secret handed to an Ed25519 step is refused, not misread.
    let error = frost_ops::dkg_part2::<Ed>(tr_secret, &round1)
        .err()
        .unwrap();
    assert!(error.to_string().contains("another scheme"), "{error}");
    // Part 3 needs the state part 2 left, not part 1's.
    let (ed_secret, _) = frost_ops::dkg_part1::<Ed>(1, 3, 2, &mut rng).unwrap();
    assert!(matches!(ed_secret, DkgSecret::Ed25519(_)));
    let error = frost_ops::dkg_part3::<Ed>(1, &ed_secret, &BTreeMap::new())
        .err()
        .unwrap();
    assert!(error.to_string().contains("not after part 2"), "{error}");
}
