//! Losing nodes, restarting the cluster, and malformed requests: clear JSON-RPC errors, never a
//! hang, and wallets that outlive the processes.

mod support;

use serde_json::json;
use support::{Devnet, raw_text_call, temp_dir, unhex};

#[test]
fn signing_goes_on_without_one_node_and_names_the_missing_ones_below_threshold() {
    let devnet = Devnet::start(3, 2);
    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let id = wallet["walletId"].as_str().unwrap();

    devnet.kill_process("node-1");
    let signed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x01" }),
    );
    let signers: Vec<&str> = signed["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|signer| signer.as_str().unwrap())
        .collect();
    assert_eq!(signers, ["node-2", "node-3"]);
    let health = devnet.result("thresig_health", json!({}));
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["nodes"][0],
        json!({ "id": "node-1", "reachable": false })
    );

    devnet.kill_process("node-2");
    let refused = devnet.call(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x01" }),
    );
    let error = &refused["error"];
    assert_eq!(error["code"], -32002, "{refused}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("node-1") && message.contains("node-2"),
        "{message}"
    );
    assert_eq!(error["data"]["unreachable"], json!(["node-1", "node-2"]));
    assert_eq!(
        devnet.result("thresig_health", json!({}))["status"],
        "degraded"
    );
    // Creating a wallet needs every party: refused the same way.
    let refused = devnet.call("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    assert_eq!(refused["error"]["code"], -32002);
}

#[test]
fn a_restarted_cluster_keeps_its_wallets_and_signs() {
    let dir = temp_dir("restart");
    let (taproot, ed) = {
        let devnet = Devnet::start_in(dir.clone(), 3, 2, &[], false);
        let taproot = devnet.result(
            "thresig_createWallet",
            json!({ "scheme": "frost-secp256k1-tr" }),
        );
        let ed = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
        (taproot, ed)
    };
    let devnet = Devnet::start_in(dir.clone(), 3, 2, &[], true);
    for wallet in [&taproot, &ed] {
        let id = wallet["walletId"].as_str().unwrap();
        assert_eq!(
            &devnet.result("thresig_getWallet", json!({ "walletId": id })),
            wallet
        );
        let signed = devnet.result(
            "thresig_signMessage",
            json!({ "walletId": id, "message": "0xabcdef" }),
        );
        assert_eq!(signed["publicKey"], wallet["publicKey"]);
        assert_eq!(unhex(signed["signature"].as_str().unwrap()).len(), 64);
    }
    // The same directory cannot be reused with another shape.
    let output = support::devnet_command(&dir, 5, 3)
        .args(["--port", &support::free_port().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds a 2-of-3 cluster"));
}

#[test]
fn malformed_requests_get_json_rpc_errors_that_say_what_is_wrong() {
    let devnet = Devnet::start(3, 2);
    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let id = wallet["walletId"].as_str().unwrap();
    let cases = [
        (
            "thresig_signMessage",
            json!({ "walletId": id, "message": "0xzz" }),
            -32602,
            "message is not hex",
        ),
        (
            "thresig_signMessage",
            json!({ "walletId": 7, "message": "0x00" }),
            -32602,
            "invalid type",
        ),
        (
            "thresig_signMessage",
            json!({ "walletId": id }),
            -32602,
            "missing field `message`",
        ),
        (
            "thresig_signMessage",
            json!({ "walletId": id, "message": "0x00", "tweak": "bip32" }),
            -32602,
            "tweak must be",
        ),
        (
            "thresig_signMessage",
            json!({ "walletId": "w-nope", "message": "0x00" }),
            -32001,
            "unknown wallet w-nope",
        ),
        (
            "thresig_createWallet",
            json!({ "scheme": "rsa" }),
            -32602,
            "unknown scheme \"rsa\"",
        ),
        (
            "thresig_createWallet",
            json!({ "scheme": "frost-ed25519", "threshold": 4 }),
            -32602,
            "threshold must be between 2 and parties (3), got 4",
        ),
        (
            "thresig_createWallet",
            json!({ "scheme": "frost-ed25519", "parties": 9 }),
            -32602,
            "parties must be between 2",
        ),
        (
            "thresig_createWallet",
            json!({ "scheme": "frost-ed25519", "colour": "red" }),
            -32602,
            "unknown field `colour`",
        ),
        (
            "thresig_createWallet",
            json!(["frost-ed25519"]),
            -32602,
            "one JSON object",
        ),
        (
            "thresig_getWallet",
            json!({ "walletId": "w-missing" }),
            -32001,
            "unknown wallet",
        ),
        (
            "thresig_listWallets",
            json!({ "limit": 0 }),
            -32602,
            "limit must be between 1 and 1000",
        ),
        ("thresig_noSuchMethod", json!({}), -32601, "not found"),
    ];
    for (method, params, code, text) in cases {
        let response = devnet.call(method, params.clone());
        let error = &response["error"];
        assert_eq!(error["code"], code, "{method} {params}: {response}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(text),
            "{method} {params}: {message:?} lacks {text:?}"
        );
    }
    let garbage = raw_text_call(&devnet.url(), "{\"jsonrpc\": \"2.0\", \"method\": ");
    assert_eq!(garbage["error"]["code"], -32700, "{garbage}");
    // The cluster still works after all that.
    devnet.result(
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x00" }),
    );
}
