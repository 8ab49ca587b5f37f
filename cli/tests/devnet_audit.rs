//! Every node keeps a hash-chained, signed audit log of the DKGs and signatures it takes part
//! in; `thresig audit verify` checks it after a workload and finds a changed byte, a log cut
//! short or deleted (through the anchor each node keeps in its store), and a node refuses to
//! start on such a log; a torn last record (a crash mid-write) is repaired at start.

use std::process::Command;

use serde_json::{Value, json};
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, run_briefly, temp_dir, unhex, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

fn audit_verify(dir: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn records(dir: &std::path::Path, node: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(node).join("audit.log"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn the_audit_chain_verifies_after_a_workload_and_reports_a_changed_byte() {
    let dir = temp_dir("audit");
    let mut devnet = Devnet::start_with(THRESIG, dir.clone(), 3, 2, &[], &[], false);
    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let id = wallet["walletId"].as_str().unwrap();
    let mut signed_by = Vec::new();
    for round in 0..4u8 {
        let signed = devnet.result(
            "thresig_signMessage",
            json!({ "walletId": id, "message": format!("0x{round:02x}") }),
        );
        signed_by.push(signed["signers"].clone());
    }
    devnet.stop();

    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 0, "{stdout}");
    // node-1: one DKG, and one record per signature it took part in, each naming the wallet
    // and the digest of the message, never the message.
    let node_1 = records(&dir, "node-1");
    let signatures = signed_by
        .iter()
        .filter(|signers| signers.as_array().unwrap().contains(&json!("node-1")))
        .count();
    assert_eq!(node_1.len(), 1 + signatures, "{node_1:?}");
    assert_eq!(node_1[0]["event"], "dkg");
    assert!(node_1[1..].iter().all(|record| record["event"] == "sign"
        && record["walletId"] == id
        && record["outcome"] == "ok"
        && record["messageDigest"].as_str().unwrap().len() == 64));
    // Each record names the client key that authorised it and its request id, one per request.
    let client = devnet.client_key().public_hex();
    assert!(
        node_1
            .iter()
            .all(|record| record["client"] == client.as_str())
    );
    let mut request_ids: Vec<&str> = node_1
        .iter()
        .map(|record| record["requestId"].as_str().unwrap())
        .collect();
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(request_ids.len(), node_1.len(), "{node_1:?}");
    assert!(stdout.contains(&format!("node-1: {} records, chain intact", node_1.len())));

    // One changed byte in the second record of node-1's log is found there.
    let path = dir.join("node-1").join("audit.log");
    let text = std::fs::read_to_string(&path).unwrap();
    let second = text.find('\n').unwrap() + 1;
    let at = second + text[second..].find("\"outcome\":\"ok\"").unwrap() + "\"outcome\":\"".len();
    let original = text.clone().into_bytes();
    let mut bytes = text.into_bytes();
    bytes[at] = b'O';
    std::fs::write(&path, &bytes).unwrap();
    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("node-1: record 2 is bad: its contents do not match its hash"),
        "{stdout}"
    );
    assert!(
        stdout.contains("node-2: "),
        "other nodes are still checked: {stdout}"
    );
    std::fs::write(&path, &original).unwrap();
    assert_eq!(audit_verify(&dir).0, 0);

    // The last record cut off node-1's log: the chain alone still verifies, the anchor does not,
    // and the node will not start on it.
    let last = original[..original.len() - 1]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .unwrap();
    std::fs::write(&path, &original[..=last]).unwrap();
    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 1, "{stdout}");
    let anchored = node_1.len();
    assert!(
        stdout.contains(&format!(
            "node-1: the log holds {} records but the node anchored record {anchored}: records \
             were cut off the end or the log was deleted",
            anchored - 1
        )),
        "{stdout}"
    );
    let (started, stderr) = start_node(&dir, "node-1");
    assert!(!started, "node-1 started on a truncated log");
    assert!(
        stderr.contains("records were cut off the end or the log was deleted"),
        "{stderr}"
    );
    std::fs::write(&path, &original).unwrap();

    // node-2's log deleted.
    let path_2 = dir.join("node-2").join("audit.log");
    let original_2 = std::fs::read(&path_2).unwrap();
    std::fs::remove_file(&path_2).unwrap();
    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("node-2: the log holds 0 records"),
        "{stdout}"
    );
    std::fs::write(&path_2, &original_2).unwrap();

    // A crash in the middle of writing node-3's next record: reported, not an error, and the
    // node drops it at start and records the repair; the cluster then signs as before.
    let path_3 = dir.join("node-3").join("audit.log");
    let records_3 = records(&dir, "node-3").len();
    let mut torn = std::fs::read(&path_3).unwrap();
    torn.extend_from_slice(br#"{"seq":99,"time":1,"no"#);
    std::fs::write(&path_3, &torn).unwrap();
    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "node-3: {records_3} records, chain intact; a torn last record (22 bytes"
        )),
        "{stdout}"
    );
    let devnet = Devnet::start_with(THRESIG, dir.clone(), 3, 2, &[], &[], false);
    let signed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x0a" }),
    );
    assert!(verify_ed25519(
        &unhex(signed["publicKey"].as_str().unwrap()),
        &[0x0a],
        &unhex(signed["signature"].as_str().unwrap()),
    ));
    let node_3 = records(&dir, "node-3");
    assert_eq!(node_3[records_3]["event"], "repair", "{node_3:?}");
    assert!(
        node_3[records_3]["outcome"]
            .as_str()
            .unwrap()
            .contains("dropped a torn last record of 22 bytes")
    );
    let (code, stdout) = audit_verify(&dir);
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("torn"), "{stdout}");
    drop(devnet);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `thresig node` for `node` of the devnet cluster in `dir` (its key file and passphrase
/// as the devnet made them); returns (still serving after a moment, stderr).
fn start_node(dir: &std::path::Path, node: &str) -> (bool, String) {
    let (ended, stderr) = run_briefly(
        Command::new(env!("CARGO_BIN_EXE_thresig"))
            .args(["node", "--node-id", node, "--data-dir"])
            .arg(dir)
            .arg("--passphrase-file")
            .arg(dir.join(node).join("passphrase")),
    );
    (ended.is_none(), stderr)
}
