//! Safe primes for CGGMP21 aux info: each node's Paillier key is the product of two 1536-bit
//! safe primes. Finding them takes from seconds to minutes per node, so a node generates its
//! own in the background when it first starts (and keeps them sealed in its store), and tests
//! start nodes with pregenerated primes from a fixture file.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use cggmp21::PregeneratedPrimes;
use cggmp21::rug::Integer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Level;

/// A file of pregenerated primes, one pair per node index.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrimesFixture {
    /// How the primes were made (for the reader; not checked).
    pub generated_by: String,
    /// One pair per node, node index 1 first.
    pub parties: Vec<PrimePair>,
}

/// Two safe primes, hex.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimePair {
    /// The first prime, hex.
    pub p: String,
    /// The second prime, hex.
    pub q: String,
}

/// The public test primes the repository ships (`testvectors/cggmp21-primes.json`): anyone can
/// read them, so a node holding them has no secret Paillier key.
const TEST_FIXTURE: &str = include_str!("../../../../testvectors/cggmp21-primes.json");

/// The SHA-256 digests of the public test primes: a node's secret primes are compared by
/// digest, so the comparison says nothing about them through its timing.
static TEST_PRIMES: LazyLock<BTreeSet<[u8; 32]>> = LazyLock::new(|| {
    serde_json::from_str::<PrimesFixture>(TEST_FIXTURE)
        .map(|fixture| digests(&fixture).collect())
        .unwrap_or_default()
});

/// The digests of a fixture's primes.
fn digests(fixture: &PrimesFixture) -> impl Iterator<Item = [u8; 32]> + '_ {
    fixture
        .parties
        .iter()
        .flat_map(|pair| [&pair.p, &pair.q])
        .filter_map(|hex| Integer::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
        .map(|prime| prime_digest(&prime))
}

fn prime_digest(prime: &Integer) -> [u8; 32] {
    let digits = Zeroizing::new(prime.to_digits::<u8>(cggmp21::rug::integer::Order::Msf));
    Sha256::digest(&*digits).into()
}

/// Whether either prime is one of the public test primes the repository ships. Fails closed:
/// were the built-in fixture ever unreadable, every pair counts as test primes.
pub fn are_test_primes(primes: &PregeneratedPrimes<Level>) -> bool {
    let (p, q) = primes.clone().split();
    TEST_PRIMES.is_empty()
        || TEST_PRIMES.contains(&prime_digest(&p))
        || TEST_PRIMES.contains(&prime_digest(&q))
}

/// Whether the fixture file at `path` holds any of the public test primes.
pub fn fixture_has_test_primes(path: &Path) -> Result<bool, String> {
    let fixture = read_fixture(path)?;
    let found = digests(&fixture).any(|digest| TEST_PRIMES.contains(&digest));
    Ok(found)
}

/// Generates a node's primes (slow: two 1536-bit safe primes).
pub fn generate() -> PregeneratedPrimes<Level> {
    PregeneratedPrimes::generate(&mut rand::rngs::OsRng)
}

/// The fixture file at `path`, parsed.
fn read_fixture(path: &Path) -> Result<PrimesFixture, String> {
    // Real primes are a node's Paillier secret: the text read is zeroized.
    let text = std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|error| format!("primes fixture {}: {error}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|error| format!("primes fixture {}: {error}", path.display()))
}

/// The primes of node `index` (1-based) in the fixture file at `path`.
pub fn from_fixture(path: &Path, index: u16) -> Result<PregeneratedPrimes<Level>, String> {
    let fixture = read_fixture(path)?;
    let pair = usize::from(index)
        .checked_sub(1)
        .and_then(|position| fixture.parties.get(position))
        .ok_or_else(|| {
            format!(
                "primes fixture {} has {} pairs, none for node index {index}",
                path.display(),
                fixture.parties.len()
            )
        })?;
    let number = |name: &str, hex: &str| {
        Integer::from_str_radix(hex.trim_start_matches("0x"), 16)
            .map_err(|error| format!("primes fixture: {name} of node {index}: {error}"))
    };
    PregeneratedPrimes::new(number("p", &pair.p)?, number("q", &pair.q)?).ok_or_else(|| {
        format!("primes fixture: the primes of node {index} are smaller than 1536 bits")
    })
}

/// A fixture with freshly generated primes for `n` nodes.
pub fn generate_fixture(n: u16) -> PrimesFixture {
    let parties = (0..n)
        .map(|_| {
            let (p, q) = generate().split();
            PrimePair {
                p: p.to_string_radix(16),
                q: q.to_string_radix(16),
            }
        })
        .collect();
    PrimesFixture {
        generated_by: "cargo run --release -p thresig-sidecar --example cggmp21_primes".into(),
        parties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_test_primes_are_known_and_fresh_ones_are_not() {
        assert_eq!(TEST_PRIMES.len(), 48, "24 pairs of distinct primes");
        let fixture = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testvectors/cggmp21-primes.json"
        ));
        assert!(fixture_has_test_primes(fixture).unwrap());
        for index in [1, 5, 24] {
            assert!(are_test_primes(&from_fixture(fixture, index).unwrap()));
        }
        // Test primes paired differently are still test primes.
        let (p1, q1) = from_fixture(fixture, 1).unwrap().split();
        let (_, q2) = from_fixture(fixture, 2).unwrap().split();
        assert!(are_test_primes(
            &PregeneratedPrimes::new(p1.clone(), q2).unwrap()
        ));
        // Primes of the same size that are not in the fixture are not.
        let other = |prime: &Integer| {
            let mut moved = prime.clone();
            moved += Integer::from(1) << 200u32;
            moved.next_prime()
        };
        let fresh = PregeneratedPrimes::new(other(&p1), other(&q1)).unwrap();
        assert!(!are_test_primes(&fresh));
    }
}
