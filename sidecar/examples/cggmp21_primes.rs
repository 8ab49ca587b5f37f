//! Prints a fixture of pregenerated CGGMP21 safe primes for N nodes (default 5) as JSON: the
//! file `thresig node --cggmp21-primes` and `thresig devnet --cggmp21-primes` take.
//!
//! `cargo run --release -p thresig-sidecar --example cggmp21_primes -- 24 > primes.json`
//! takes minutes per node: each pair is two 1536-bit safe primes.

fn main() {
    let nodes: u16 = match std::env::args().nth(1).map(|arg| arg.parse()) {
        None => 5,
        Some(Ok(nodes)) if nodes > 0 => nodes,
        Some(_) => {
            eprintln!("usage: cggmp21_primes [NODES]  (NODES a positive number; default 5)");
            std::process::exit(2);
        }
    };
    let fixture = thresig_sidecar::protocols::cggmp::primes::generate_fixture(nodes);
    match serde_json::to_string_pretty(&fixture) {
        Ok(json) => println!("{json}"),
        Err(error) => {
            eprintln!("cggmp21_primes: {error}");
            std::process::exit(1);
        }
    }
}
