//! Latency and throughput of a live devnet over loopback, from the built `thresig` binary:
//! DKG and signing latency (p50, p99) at 3-of-5 (root secrets in key files, and in SoftHSM2
//! tokens) and 16-of-24, signing throughput with 16 concurrent clients at 3-of-5, and for
//! CGGMP21 at 3-of-5: aux-info and keygen time, presignature rate, and online signing latency
//! with a warm presignature pool.
//!
//! `cargo bench -p thresig --bench cluster` (`-- --quick` for fewer rounds; `-- frost` or
//! `-- cggmp` for one part).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thresig_sidecar::api::client::RpcClient;
use thresig_testkit::devnet::{Devnet, ThresigBinary, temp_dir};

/// The `thresig` binary Cargo built for this bench.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

/// Calls `method` (signed with the devnet's client key where the method needs it).
async fn call(client: &RpcClient, method: &str, params: Value) -> Value {
    client
        .call(method, params)
        .await
        .unwrap_or_else(|error| panic!("{method}: {error}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time the devnet's processes have used so far, nodes and coordinator apart, from
/// `/proc/PID/stat` (utime + stime, in the kernel's fixed USER_HZ of 100 ticks a second).
fn cpu_used(cluster: &Devnet) -> (Duration, Duration) {
    let mut nodes = Duration::ZERO;
    let mut coordinator = Duration::ZERO;
    for (name, pid) in &cluster.pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|field| field.parse::<u64>().ok()))
            .sum();
        let used = Duration::from_millis(ticks * 10);
        if name == "coordinator" {
            coordinator += used;
        } else {
            nodes += used;
        }
    }
    (nodes, coordinator)
}

/// Prints the CPU time per operation the devnet used since `before` (from [`cpu_used`]), and the
/// latency that much CPU allows at best on this machine's cores.
fn report_cpu(label: &str, cluster: &Devnet, before: (Duration, Duration), operations: usize) {
    let after = cpu_used(cluster);
    let per_op = |used: Duration| used.as_secs_f64() * 1e3 / operations as f64;
    let nodes = per_op(after.0 - before.0);
    let coordinator = per_op(after.1 - before.1);
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    println!(
        "{:<40} cpu {:>7.2} ms/op (nodes {:.2}, coordinator {:.2}); at best {:.2} ms on {cores} cores",
        format!("  {label}"),
        nodes + coordinator,
        nodes,
        coordinator,
        (nodes + coordinator) / cores as f64
    );
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<40} n={:<4} p50={:>8.2} ms  p99={:>8.2} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3
    );
}

/// DKG and signing latency of both schemes on an n-node devnet whose nodes keep their root
/// secrets as `hsm` says (`file` or `softhsm`).
async fn latency(nodes: u16, threshold: u16, rounds: usize, hsm: &str) {
    let cluster = Devnet::start_with(
        THRESIG,
        temp_dir("bench"),
        nodes,
        threshold,
        &[],
        &["--hsm", hsm],
        true,
    );
    let client = cluster.rpc_client();
    let setup = if hsm == "file" {
        String::new()
    } else {
        format!(", --hsm {hsm}")
    };
    for scheme in ["frost-secp256k1-tr", "frost-ed25519"] {
        let mut dkg = Vec::new();
        let mut wallet = String::new();
        let before = cpu_used(&cluster);
        for _ in 0..rounds.div_ceil(4).max(5) {
            let start = Instant::now();
            let created = call(&client, "thresig_createWallet", json!({ "scheme": scheme })).await;
            dkg.push(start.elapsed());
            wallet = created["walletId"].as_str().unwrap().to_owned();
        }
        let label = format!("DKG {scheme} {threshold}-of-{nodes}{setup}");
        report_cpu(&label, &cluster, before, dkg.len());
        report(&label, dkg);
        let mut sign = Vec::new();
        let before = cpu_used(&cluster);
        for round in 0..rounds {
            let message = format!("0x{:064x}", round);
            let start = Instant::now();
            call(
                &client,
                "thresig_signMessage",
                json!({ "walletId": wallet, "message": message }),
            )
            .await;
            sign.push(start.elapsed());
        }
        let label = format!("sign {scheme} {threshold}-of-{nodes}{setup}");
        report_cpu(&label, &cluster, before, sign.len());
        report(&label, sign);
    }
}

async fn throughput(clients: usize, per_client: usize) {
    let cluster = Devnet::start(THRESIG, 5, 3);
    let client = cluster.rpc_client();
    let wallet = call(
        &client,
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    )
    .await;
    let wallet = wallet["walletId"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|worker| {
            let (client, wallet) = (client.clone(), wallet.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                for round in 0..per_client {
                    let message = format!("0x{:032x}{:032x}", worker, round);
                    let begin = Instant::now();
                    call(
                        &client,
                        "thresig_signMessage",
                        json!({ "walletId": wallet, "message": message }),
                    )
                    .await;
                    samples.push(begin.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    let total = samples.len();
    report(
        &format!("sign frost-secp256k1-tr 3-of-5, {clients} clients"),
        samples,
    );
    println!(
        "{:<40} {:.1} signatures/s ({total} in {:.2} s)",
        "throughput",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

/// Polls health until `done` holds for its cggmp21 part.
async fn wait_cggmp(client: &RpcClient, done: impl Fn(&Value) -> bool) {
    loop {
        let health = call(client, "thresig_health", json!({})).await;
        assert_ne!(health["cggmp21"]["auxInfo"]["status"], "failed", "{health}");
        if done(&health["cggmp21"]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CGGMP21 at 3-of-5: aux info from the primes fixture, keygen, the presignature rate, and
/// online signing with a warm pool (the pool is back at its target before each signature).
async fn cggmp(rounds: usize) {
    const POOL: u64 = 4;
    let started = Instant::now();
    let cluster = Devnet::start_with(
        THRESIG,
        temp_dir("bench"),
        5,
        3,
        &[],
        &[
            "--cggmp21-primes",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../testvectors/cggmp21-primes.json"
            ),
            "--presignature-pool",
            &POOL.to_string(),
        ],
        true,
    );
    let client = cluster.rpc_client();
    wait_cggmp(&client, |cggmp| cggmp["auxInfo"]["status"] == "ready").await;
    println!(
        "{:<40} {:>8.2} s (devnet start to aux info ready)",
        "aux info cggmp21-secp256k1 5 nodes",
        started.elapsed().as_secs_f64()
    );
    let mut keygen = Vec::new();
    let mut wallet = String::new();
    for _ in 0..5 {
        let start = Instant::now();
        let created = call(
            &client,
            "thresig_createWallet",
            json!({ "scheme": "cggmp21-secp256k1" }),
        )
        .await;
        keygen.push(start.elapsed());
        wallet = created["walletId"].as_str().unwrap().to_owned();
    }
    report("keygen cggmp21-secp256k1 3-of-5", keygen);
    // Every wallet's pool fills in the background; the rate is over all of them.
    let start = Instant::now();
    wait_cggmp(&client, |cggmp| {
        cggmp["presignatures"].as_u64().unwrap_or(0) >= 5 * POOL
    })
    .await;
    let elapsed = start.elapsed();
    println!(
        "{:<40} {:.2} presignatures/s ({} in {:.2} s)",
        "presign cggmp21-secp256k1 3-of-5",
        (5 * POOL) as f64 / elapsed.as_secs_f64(),
        5 * POOL,
        elapsed.as_secs_f64()
    );
    let mut sign = Vec::new();
    for round in 0..rounds {
        wait_cggmp(&client, |cggmp| {
            cggmp["presignatures"].as_u64().unwrap_or(0) >= 5 * POOL
        })
        .await;
        let message = format!("0x{:064x}", round + 1);
        let start = Instant::now();
        call(
            &client,
            "thresig_signMessage",
            json!({ "walletId": wallet, "message": message, "encoding": "eip191" }),
        )
        .await;
        sign.push(start.elapsed());
    }
    report("sign cggmp21-secp256k1 3-of-5, warm pool", sign);
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    // `cargo test --benches` runs bench targets with --bench absent; only run when benching.
    if !std::env::args().any(|arg| arg == "--bench") && !quick {
        println!("cluster bench: run with `cargo bench -p thresig --bench cluster`");
        return;
    }
    let rounds = if quick { 20 } else { 200 };
    thresig_sidecar::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = |part: &str| {
        let parts = ["frost", "cggmp"];
        let chosen: Vec<String> = std::env::args()
            .filter(|arg| parts.contains(&arg.as_str()))
            .collect();
        chosen.is_empty() || chosen.iter().any(|arg| arg == part)
    };
    runtime.block_on(async {
        if only("frost") {
            latency(5, 3, rounds, "file").await;
            latency(5, 3, rounds, "softhsm").await;
            latency(24, 16, rounds / 4, "file").await;
            throughput(16, if quick { 5 } else { 25 }).await;
        }
        if only("cggmp") {
            cggmp(rounds / 2).await;
        }
    });
}
