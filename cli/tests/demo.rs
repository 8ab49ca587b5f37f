//! `thresig demo` (the README's main job) and `thresig client`, run as a user runs them.

use std::process::Command;

use serde_json::Value;
use thresig_testkit::devnet::{Devnet, ThresigBinary, free_port, temp_dir};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

#[test]
fn demo_runs_every_step_and_verifies() {
    let dir = temp_dir("demo");
    let output = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.join("cluster"))
        .env("THRESIG_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for number in 1..=7 {
        assert!(
            stdout.contains(&format!("  ok  {number}. ")),
            "step {number} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("bcrt1p"), "{stdout}");
    assert!(stdout.contains("1.5 ETH paid, replay refused"), "{stdout}");
    assert!(stdout.ends_with("demo: every step verified\n"), "{stdout}");
    // The cluster is stopped: nothing listens on the coordinator's port any more.
    let url = stdout
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .expect("step 1 names the coordinator's URL");
    let address = url.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the coordinator still listens on {address}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_prints_results_and_errors_as_json() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let client = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_thresig"))
            .args(["client", "--url", &devnet.url()])
            .args(args)
            .output()
            .unwrap()
    };
    let health = client(&["thresig_health"]);
    assert_eq!(health.status.code(), Some(0));
    let health: Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(health["status"], "ok");

    // Unsigned, a request that creates a key is refused; --data-dir signs it with the
    // devnet's client key.
    let unsigned = client(&["thresig_createWallet", r#"{"scheme":"frost-ed25519"}"#]);
    assert_eq!(unsigned.status.code(), Some(1));
    let unsigned: Value = serde_json::from_slice(&unsigned.stdout).unwrap();
    assert_eq!(unsigned["error"]["code"], -32007, "{unsigned}");
    assert!(
        unsigned["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.auth is missing"),
        "{unsigned}"
    );
    let data_dir = devnet.data_dir().display().to_string();
    let created = client(&[
        "--data-dir",
        &data_dir,
        "thresig_createWallet",
        r#"{"scheme":"frost-ed25519"}"#,
    ]);
    assert_eq!(created.status.code(), Some(0));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(created["addresses"]["solana"].is_string(), "{created}");

    let refused = client(&["thresig_getWallet", r#"{"walletId":"nope"}"#]);
    assert_eq!(refused.status.code(), Some(1));
    let refused: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused["error"]["code"], -32001, "{refused}");

    let malformed = client(&["thresig_health", "[1,2]"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("one JSON object"));

    let unreachable = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args([
            "client",
            "--url",
            &format!("http://127.0.0.1:{}", free_port()),
        ])
        .arg("thresig_health")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2));
}
