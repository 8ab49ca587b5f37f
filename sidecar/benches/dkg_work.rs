//! The cryptographic work of one whole FROST DKG, all parties in one thread, with no network,
//! storage or serialization to JSON: the least CPU time a DKG of the sidecar can take, whatever
//! the processes, transport and disks. Divided by the machine's cores it bounds the DKG latency
//! from below (docs/benchmarks.md, "Against the targets").
//!
//! Two measurements per ciphersuite and size:
//! - `frost`: frost-core's DKG parts 1 to 3 for every participant (part 3 by the node's Horner
//!   evaluation), nothing else;
//! - `nodes`: what every node does: part 1 and its signed round-1 statement, checking every
//!   round-1 statement (its own included), part 2 and sealing a round-2 envelope to each other party, opening the envelopes
//!   it receives, part 3 and its signed result, checking every party's result.
//!
//! `cargo bench -p thresig-sidecar --bench dkg_work`

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use thresig_sidecar::model::identity::{NodeIdentity, PublicIdentity};
use thresig_sidecar::protocols::frost::{self as frost_ops, DkgSecret, Suite};
use thresig_sidecar::wire::envelope::{self, SealedEnvelope, SignedStatement};
use zeroize::Zeroizing;

type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
type Ed = frost_ed25519::Ed25519Sha512;

const SESSION: &str = "bench-session";
const ROUND1: &str = "bench dkg round 1";
const RESULT: &str = "bench dkg result";

/// One party: its index, node id and identity keys.
struct Party {
    index: u16,
    id: String,
    identity: NodeIdentity,
    public: PublicIdentity,
}

fn parties(n: u16) -> Vec<Party> {
    (1..=n)
        .map(|index| {
            let identity = NodeIdentity::generate();
            Party {
                index,
                id: format!("node-{index}"),
                public: identity.public(),
                identity,
            }
        })
        .collect()
}

/// FROST's DKG alone, for every participant.
fn frost_only<C: Suite>(n: u16, t: u16) {
    let mut rng = rand::rngs::OsRng;
    let mut round1 = BTreeMap::new();
    let mut secrets: BTreeMap<u16, DkgSecret> = BTreeMap::new();
    for index in 1..=n {
        let (secret, package) = frost_ops::dkg_part1::<C>(index, n, t, &mut rng).unwrap();
        secrets.insert(index, secret);
        round1.insert(index, package);
    }
    let mut inboxes: BTreeMap<u16, BTreeMap<u16, Zeroizing<Vec<u8>>>> = BTreeMap::new();
    let mut after_part2 = BTreeMap::new();
    for (index, secret) in secrets {
        let others = round1
            .iter()
            .filter(|(other, _)| **other != index)
            .map(|(other, package)| (*other, package.clone()))
            .collect();
        let (secret, outgoing) = frost_ops::dkg_part2::<C>(secret, &others).unwrap();
        for (recipient, package) in outgoing {
            inboxes.entry(recipient).or_default().insert(index, package);
        }
        after_part2.insert(index, secret);
    }
    for (index, secret) in &after_part2 {
        frost_ops::dkg_part3::<C>(*index, secret, &inboxes[index]).unwrap();
    }
}

/// Everything the nodes compute in a DKG, for every node.
fn node_work<C: Suite>(parties: &[Party], t: u16) {
    let n = parties.len() as u16;
    let mut rng = rand::rngs::OsRng;
    let mut statements = Vec::new();
    let mut secrets: BTreeMap<u16, DkgSecret> = BTreeMap::new();
    for party in parties {
        let (secret, package) = frost_ops::dkg_part1::<C>(party.index, n, t, &mut rng).unwrap();
        statements.push(envelope::sign_statement(
            ROUND1,
            SESSION,
            &party.id,
            &party.identity,
            &package,
        ));
        secrets.insert(party.index, secret);
    }
    let mut envelopes: Vec<SealedEnvelope> = Vec::new();
    let mut after_part2 = BTreeMap::new();
    for party in parties {
        let round1 = checked_payloads(parties, &statements, ROUND1, party.index);
        let secret = secrets.remove(&party.index).unwrap();
        let (secret, outgoing) = frost_ops::dkg_part2::<C>(secret, &round1).unwrap();
        for (recipient, package) in outgoing {
            let to = &parties[usize::from(recipient - 1)];
            envelopes.push(
                envelope::seal(
                    SESSION,
                    &party.id,
                    &party.identity,
                    &to.id,
                    &to.public,
                    &package,
                )
                .unwrap(),
            );
        }
        after_part2.insert(party.index, secret);
    }
    let mut results = Vec::new();
    for party in parties {
        let mut round2 = BTreeMap::new();
        for sealed in envelopes
            .iter()
            .filter(|sealed| sealed.recipient == party.id)
        {
            let sender = parties
                .iter()
                .find(|other| other.id == sealed.sender)
                .unwrap();
            let package =
                envelope::open(sealed, SESSION, &party.id, &party.identity, &sender.public)
                    .unwrap();
            round2.insert(sender.index, package);
        }
        let output =
            frost_ops::dkg_part3::<C>(party.index, &after_part2[&party.index], &round2).unwrap();
        results.push(envelope::sign_statement(
            RESULT,
            SESSION,
            &party.id,
            &party.identity,
            &output.public_key_package,
        ));
    }
    for party in parties {
        let agreed = checked_payloads(parties, &results, RESULT, 0);
        assert_eq!(agreed.len(), parties.len(), "{} saw every result", party.id);
    }
}

/// Every statement checked against its sender's key (a node checks its own too, as it comes
/// back from the coordinator); the payloads of all but `skip`'s.
fn checked_payloads(
    parties: &[Party],
    statements: &[SignedStatement],
    purpose: &str,
    skip: u16,
) -> BTreeMap<u16, Vec<u8>> {
    parties
        .iter()
        .zip(statements)
        .map(|(party, statement)| {
            let payload =
                envelope::verify_statement(statement, purpose, SESSION, &party.public).unwrap();
            (party.index, payload)
        })
        .filter(|(index, _)| *index != skip)
        .collect()
}

fn dkg(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkg_work");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (t, n) in [(3u16, 5u16), (16, 24)] {
        let size = format!("{t}-of-{n}");
        let nodes = parties(n);
        group.bench_function(BenchmarkId::new("frost/secp256k1-tr", &size), |b| {
            b.iter(|| frost_only::<Tr>(n, t))
        });
        group.bench_function(BenchmarkId::new("frost/ed25519", &size), |b| {
            b.iter(|| frost_only::<Ed>(n, t))
        });
        group.bench_function(BenchmarkId::new("nodes/secp256k1-tr", &size), |b| {
            b.iter(|| node_work::<Tr>(&nodes, t))
        });
        group.bench_function(BenchmarkId::new("nodes/ed25519", &size), |b| {
            b.iter(|| node_work::<Ed>(&nodes, t))
        });
    }
    group.finish();
}

criterion_group!(benches, dkg);
criterion_main!(benches);
