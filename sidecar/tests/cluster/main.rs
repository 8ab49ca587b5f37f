//! The sidecar against an in-process cluster (`thresig_testkit::cluster`): real node states
//! over loopback mutual TLS and a coordinator in this process, no spawned processes, so each
//! test takes a second or so. Protocols (both FROST suites, hostile nodes on every abort
//! path), the node handlers' refusals and the JSON-RPC module's errors. Spawned devnets
//! (cli/tests) stay for what needs processes: ports, signals, HSM tokens, crashes.

mod cggmp;
mod node_handlers;
mod protocols;
mod rpc;
mod transactions;

use serde_json::{Value, json};
use thresig_sidecar::api::rpc::codes;
use thresig_testkit::cluster::InProcessCluster;

/// `thresig_createWallet` of `scheme` at `threshold` among every node, client-signed.
pub async fn create(cluster: &InProcessCluster, scheme: &str, threshold: u16) -> Value {
    cluster
        .rpc(
            "thresig_createWallet",
            json!({ "scheme": scheme, "threshold": threshold }),
        )
        .await
}

/// `thresig_signMessage` of `message` with `tweak`, client-signed.
pub async fn sign(cluster: &InProcessCluster, wallet: &str, message: &[u8], tweak: &str) -> Value {
    cluster
        .rpc(
            "thresig_signMessage",
            json!({
                "walletId": wallet,
                "message": format!("0x{}", hex::encode(message)),
                "tweak": tweak,
            }),
        )
        .await
}

/// The error of a JSON-RPC response, panicking on a result.
pub fn error_of(response: &Value) -> &Value {
    response
        .get("error")
        .unwrap_or_else(|| panic!("expected an error, got {response}"))
}

/// Asserts a protocol abort that blames `culprit` for a reason that says `why`.
pub fn assert_blames(response: &Value, culprit: &str, why: &str) {
    let error = error_of(response);
    assert_eq!(error["code"], codes::PROTOCOL_ABORT, "{why}: {response}");
    assert_eq!(error["data"]["culprit"], culprit, "{why}: {response}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "expected {why:?} in {response}");
}

/// Asserts an error with `code` whose message contains `text`.
pub fn assert_error(response: &Value, code: i32, text: &str) {
    let error = error_of(response);
    assert_eq!(error["code"], code, "{response}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(text), "expected {text:?} in {response}");
}
