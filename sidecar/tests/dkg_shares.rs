//! The DKG's third part computed by Horner's rule (`dkg_shares::part3`) against frost-core's
//! own `part3`: the same key packages and public key package on random DKGs of both
//! ciphersuites at several sizes and with non-contiguous participant indices, and `None`
//! (so that frost-core's part 3 runs and blames) whenever a share or a package is bad.

use std::collections::BTreeMap;

use frost_core::keys::dkg::{self, round1, round2};
use frost_core::{Ciphersuite, Field, Identifier};
use thresig_sidecar::protocols::frost::dkg_shares;

type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
type Ed = frost_ed25519::Ed25519Sha512;

/// Everything one participant holds when DKG part 3 starts.
struct Inbox<C: Ciphersuite> {
    secret: round2::SecretPackage<C>,
    round1: BTreeMap<u16, round1::Package<C>>,
    round2: BTreeMap<u16, round2::Package<C>>,
}

fn id<C: Ciphersuite>(index: u16) -> Identifier<C> {
    Identifier::try_from(index).unwrap()
}

fn by_identifier<C: Ciphersuite, P: Clone>(map: &BTreeMap<u16, P>) -> BTreeMap<Identifier<C>, P> {
    map.iter()
        .map(|(index, package)| (id::<C>(*index), package.clone()))
        .collect()
}

/// Runs DKG parts 1 and 2 with frost-core among `indices`, threshold `t`.
fn inboxes<C: Ciphersuite>(indices: &[u16], t: u16) -> BTreeMap<u16, Inbox<C>> {
    let n = indices.len() as u16;
    let mut rng = rand::rngs::OsRng;
    let mut secrets = BTreeMap::new();
    let mut round1_all = BTreeMap::new();
    for &index in indices {
        let (secret, package) = dkg::part1::<C, _>(id::<C>(index), n, t, &mut rng).unwrap();
        secrets.insert(index, secret);
        round1_all.insert(index, package);
    }
    let mut round2_secrets = BTreeMap::new();
    let mut received: BTreeMap<u16, BTreeMap<u16, round2::Package<C>>> = BTreeMap::new();
    for (index, secret) in secrets {
        let others: BTreeMap<u16, round1::Package<C>> = round1_all
            .iter()
            .filter(|(other, _)| **other != index)
            .map(|(other, package)| (*other, package.clone()))
            .collect();
        let (secret, outgoing) = dkg::part2(secret, &by_identifier(&others)).unwrap();
        for &recipient in indices.iter().filter(|&&other| other != index) {
            received
                .entry(recipient)
                .or_default()
                .insert(index, outgoing[&id::<C>(recipient)].clone());
        }
        round2_secrets.insert(index, (secret, others));
    }
    round2_secrets
        .into_iter()
        .map(|(index, (secret, round1))| {
            let round2 = received.remove(&index).unwrap();
            (
                index,
                Inbox {
                    secret,
                    round1,
                    round2,
                },
            )
        })
        .collect()
}

/// Serialized (key package, public key package) from both implementations.
fn both<C: Ciphersuite>(index: u16, inbox: &Inbox<C>) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (key, public) = dkg_shares::part3(index, &inbox.secret, &inbox.round1, &inbox.round2)
        .expect("an honest DKG passes the fast checks");
    let (frost_key, frost_public) = dkg::part3(
        &inbox.secret,
        &by_identifier(&inbox.round1),
        &by_identifier(&inbox.round2),
    )
    .unwrap();
    (
        key.serialize().unwrap(),
        frost_key.serialize().unwrap(),
        public.serialize().unwrap(),
        frost_public.serialize().unwrap(),
    )
}

fn same_as_frost<C: Ciphersuite>(indices: &[u16], t: u16) {
    for (index, inbox) in inboxes::<C>(indices, t) {
        let (key, frost_key, public, frost_public) = both(index, &inbox);
        assert_eq!(key, frost_key, "{} key package of {index}", C::ID);
        assert_eq!(public, frost_public, "{} public key package", C::ID);
    }
}

#[test]
fn horner_part3_equals_frost_core_part3() {
    for (indices, t) in [
        (vec![1, 2, 3], 2),
        (vec![1, 2, 3, 4, 5], 3),
        (vec![2, 5, 7, 11], 3),
        (vec![3, 1000, 65535], 3),
        ((1..=9).collect(), 9),
    ] {
        same_as_frost::<Tr>(&indices, t);
        same_as_frost::<Ed>(&indices, t);
    }
}

#[test]
fn a_large_dkg_also_matches() {
    let indices: Vec<u16> = (1..=24).collect();
    let mut all = inboxes::<Tr>(&indices, 16);
    // One participant is enough at this size: the others run the same code.
    let inbox = all.remove(&7).unwrap();
    let (key, frost_key, public, frost_public) = both(7, &inbox);
    assert_eq!(key, frost_key);
    assert_eq!(public, frost_public);
}

fn refuses_bad_input<C: Ciphersuite>() {
    let indices = [1, 2, 3, 4];
    let mut all = inboxes::<C>(&indices, 3);
    let mut inbox = all.remove(&2).unwrap();
    // The wrong own index.
    assert!(dkg_shares::part3(3, &inbox.secret, &inbox.round1, &inbox.round2).is_none());
    // A share that is not what its sender committed to: refused, and frost-core blames it.
    let good = inbox.round2[&4].clone();
    let shifted = frost_core::keys::SigningShare::<C>::new(
        good.signing_share().to_scalar() + <C::Group as frost_core::Group>::Field::one(),
    );
    inbox.round2.insert(4, round2::Package::new(shifted));
    assert!(dkg_shares::part3(2, &inbox.secret, &inbox.round1, &inbox.round2).is_none());
    let error = dkg::part3(
        &inbox.secret,
        &by_identifier(&inbox.round1),
        &by_identifier(&inbox.round2),
    )
    .unwrap_err();
    assert_eq!(error.culprits(), vec![id::<C>(4)]);
    inbox.round2.insert(4, good);
    assert!(dkg_shares::part3(2, &inbox.secret, &inbox.round1, &inbox.round2).is_some());
    // A missing package, and one from a participant that sent no commitment.
    let missing = inbox.round2.remove(&3).unwrap();
    assert!(dkg_shares::part3(2, &inbox.secret, &inbox.round1, &inbox.round2).is_none());
    inbox.round2.insert(9, missing);
    assert!(dkg_shares::part3(2, &inbox.secret, &inbox.round1, &inbox.round2).is_none());
}

#[test]
fn bad_shares_and_packages_fall_back_to_frost_core() {
    refuses_bad_input::<Tr>();
    refuses_bad_input::<Ed>();
}
