//! CGGMP21 keygen through the node's protocol runner, three parties in one process with the
//! messages routed here: fresh keygens give new keys; passphrase-derived ones give the same key
//! again, but never the same proof nonce (which would reveal the shares to whoever saw both
//! runs).

mod cggmp_support;

use serde_json::Value;
use thresig_sidecar::protocols::cggmp::{self, KeygenRandomness, Protocol};

const N: u16 = 3;

/// One keygen among three parties: each party's public key and the broadcasts it sent.
fn keygen(seeds: Option<[[u8; 32]; 3]>) -> (Vec<[u8; 33]>, Vec<Vec<Value>>) {
    let parties: Vec<String> = (1..=N).map(|i| format!("node-{i}")).collect();
    let session = format!("test-{}", rand::random::<u64>());
    let eid = cggmp::execution_id(Protocol::Keygen, &session, "w", &parties, b"");
    let runs = (0..N)
        .map(|i| {
            let randomness = match seeds {
                Some(seeds) => KeygenRandomness::Derived(seeds[usize::from(i)]),
                None => KeygenRandomness::Fresh,
            };
            cggmp::start_keygen(eid, i, N, 2, randomness).unwrap()
        })
        .collect();
    let (shares, broadcasts) = cggmp_support::run_all(runs);
    (shares.iter().map(cggmp::public_key).collect(), broadcasts)
}

/// The first object under `value` that has `key`, and that field.
fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|inner| field(inner, key))),
        Value::Array(items) => items.iter().find_map(|inner| field(inner, key)),
        _ => None,
    }
}

/// Party 0's polynomial commitment and Schnorr commitment (its round-2 decommitment).
fn commitments(broadcasts: &[Vec<Value>]) -> (Value, Value) {
    let decommitment = broadcasts[0]
        .iter()
        .find(|message| field(message, "sch_commit").is_some())
        .expect("a decommitment with sch_commit");
    (
        field(decommitment, "F").expect("F").clone(),
        field(decommitment, "sch_commit").unwrap().clone(),
    )
}

#[test]
fn fresh_keygens_agree_on_a_new_key_each_time() {
    let (first, _) = keygen(None);
    let (second, _) = keygen(None);
    assert!(first.windows(2).all(|pair| pair[0] == pair[1]));
    assert!(second.windows(2).all(|pair| pair[0] == pair[1]));
    assert_ne!(first[0], second[0]);
}

#[test]
fn derived_keygens_repeat_the_key_but_not_the_proof_nonce() {
    let seeds = [[1u8; 32], [2u8; 32], [3u8; 32]];
    let (first, first_messages) = keygen(Some(seeds));
    let (second, second_messages) = keygen(Some(seeds));
    assert!(first.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(first, second, "the same seeds give the same key");
    let (polynomial_1, nonce_1) = commitments(&first_messages);
    let (polynomial_2, nonce_2) = commitments(&second_messages);
    assert_eq!(
        polynomial_1, polynomial_2,
        "the polynomial comes from the seed"
    );
    assert_ne!(
        nonce_1, nonce_2,
        "the Schnorr nonce must be fresh in every run"
    );
    let (other, _) = keygen(Some([[4u8; 32], [2u8; 32], [3u8; 32]]));
    assert_ne!(other[0], first[0], "another seed gives another key");
}
