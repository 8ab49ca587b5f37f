//! Safe primes for CGGMP21 aux info: each node's Paillier key is the product of two 1536-bit
//! safe primes. Finding them takes from seconds to minutes per node, so a node generates its
//! own in the background when it first starts (and keeps them sealed in its store), and tests
//! start nodes with pregenerated primes from a fixture file.

use std::path::Path;

use cggmp21::PregeneratedPrimes;
use cggmp21::rug::Integer;
use serde::{Deserialize, Serialize};

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

/// Generates a node's primes (slow: two 1536-bit safe primes).
pub fn generate() -> PregeneratedPrimes<Level> {
    PregeneratedPrimes::generate(&mut rand::rngs::OsRng)
}

/// The primes of node `index` (1-based) in the fixture file at `path`.
pub fn from_fixture(path: &Path, index: u16) -> Result<PregeneratedPrimes<Level>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("primes fixture {}: {error}", path.display()))?;
    let fixture: PrimesFixture = serde_json::from_str(&text)
        .map_err(|error| format!("primes fixture {}: {error}", path.display()))?;
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
