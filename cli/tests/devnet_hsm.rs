//! Nodes whose root secrets are non-extractable HMAC keys in SoftHSM2 tokens, reached through
//! PKCS#11: a `--hsm softhsm` devnet keeps its wallets across a restart, refuses to restart as
//! `--hsm file`, and a node with the wrong PIN, a missing token or a missing key refuses to start
//! and says which.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, devnet_command, free_port, run_briefly, temp_dir,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

/// Runs `thresig node` for `node-1` of the cluster in `dir` with the token environment and
/// `extra` arguments; returns (exit success, stderr).
fn start_node_1(dir: &Path, pin_file: &Path, extra: &[&str]) -> (bool, String) {
    let node = dir.join("node-1");
    // A node that opens its token serves until stopped: it is given a moment, then stopped.
    let (ended, stderr) = run_briefly(
        Command::new(env!("CARGO_BIN_EXE_thresig"))
            .args(["node", "--node-id", "node-1", "--key-provider", "pkcs11"])
            .arg("--data-dir")
            .arg(dir)
            .arg("--pin-file")
            .arg(pin_file)
            .args(extra)
            .env("SOFTHSM2_CONF", node.join("softhsm2.conf")),
    );
    (ended.is_some_and(|status| status.success()), stderr)
}

#[test]
fn softhsm_nodes_keep_wallets_across_restarts_and_refuse_a_wrong_pin_token_or_key() {
    let dir = temp_dir("hsm-restart");
    // With nothing on PATH the devnet cannot run softhsm2-util: it initialises the tokens
    // itself, through PKCS#11, and no PIN is ever on a command line.
    let mut devnet = Devnet::start_with(
        THRESIG,
        dir.clone(),
        3,
        2,
        &[("PATH", "/nonexistent")],
        &["--hsm", "softhsm"],
        false,
    );
    let wallet = devnet.result(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    );
    let id = wallet["walletId"].as_str().unwrap().to_owned();
    devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x01" }),
    );
    devnet.stop();
    drop(devnet);

    // The same tokens open the same records: the wallet is there and signs.
    let mut devnet = Devnet::start_with(
        THRESIG,
        dir.clone(),
        3,
        2,
        &[],
        &["--hsm", "softhsm"],
        false,
    );
    assert_eq!(
        devnet.result("thresig_getWallet", json!({ "walletId": id })),
        wallet
    );
    let signed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x02" }),
    );
    assert_eq!(signed["publicKey"], wallet["publicKey"]);
    devnet.stop();
    drop(devnet);

    // The cluster's nodes keep their secrets in tokens: a file-key restart is refused.
    let output = devnet_command(THRESIG, &dir, 3, 2)
        .args(["--hsm", "file"])
        .args(["--port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pass --hsm softhsm"), "{stderr}");

    let pin_file = dir.join("node-1").join("hsm-pin");
    let wrong_pin = dir.join("wrong-pin");
    std::fs::write(&wrong_pin, "not-the-pin").unwrap();
    let (started, stderr) = start_node_1(&dir, &wrong_pin, &[]);
    assert!(!started);
    assert!(
        stderr.contains("node node-1 refuses to start")
            && stderr.contains("wrong PIN for PKCS#11 token \"node-1\""),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-pin"), "the PIN is never echoed");

    let (started, stderr) = start_node_1(&dir, &pin_file, &["--token-label", "node-9"]);
    assert!(!started);
    assert!(
        stderr.contains("no PKCS#11 token labelled \"node-9\"") && stderr.contains("node-1"),
        "names the missing token and the tokens present: {stderr}"
    );

    let (started, stderr) = start_node_1(&dir, &pin_file, &["--key-label", "other-key"]);
    assert!(!started);
    assert!(
        stderr.contains("PKCS#11 token \"node-1\" has no key labelled \"other-key\""),
        "{stderr}"
    );

    let (started, stderr) = start_node_1(
        &dir,
        &pin_file,
        &["--pkcs11-module", "/nonexistent/libpkcs11.so"],
    );
    assert!(!started);
    assert!(
        stderr.contains("PKCS#11 module /nonexistent/libpkcs11.so"),
        "{stderr}"
    );

    // --init-token refuses a label that a token has already: two tokens of one label would
    // leave the node's key to whichever the module lists first.
    let init = |provider: &str, token: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_thresig"))
            .args(["node", "--init", "--init-token", "--node-id", "node-9"])
            .args(["--key-provider", provider, "--token-label", token])
            .arg("--data-dir")
            .arg(&dir)
            .arg("--pin-file")
            .arg(&pin_file)
            .env("SOFTHSM2_CONF", dir.join("node-1").join("softhsm2.conf"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let _ = std::fs::remove_dir_all(dir.join("node-9"));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = init("pkcs11", "node-1");
    assert!(
        stderr.contains("initialising token node-1")
            && stderr.contains("a token with this label exists already"),
        "{stderr}"
    );
    // node-1's token still holds its key: the cluster restarts and the wallet signs.
    let mut devnet = Devnet::start_with(
        THRESIG,
        dir.clone(),
        3,
        2,
        &[],
        &["--hsm", "softhsm"],
        false,
    );
    devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x03" }),
    );
    devnet.stop();
    drop(devnet);
    let stderr = init("pkcs11", &"n".repeat(33));
    assert!(
        stderr.contains("a token label is 1 to 32 bytes, this one is 33"),
        "{stderr}"
    );
    let stderr = init("file", "node-9");
    assert!(
        stderr.contains("--init-token is for --key-provider pkcs11"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
