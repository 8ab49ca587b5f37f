//! The JSON-RPC module (api::rpc) called in process: each method's params errors, the stable
//! error codes and their data, and what the coordinator refuses before asking any node.

use serde_json::json;
use thresig_sidecar::api::rpc::codes;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_testkit::cluster::InProcessCluster;

use crate::{assert_error, create, error_of, sign};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_methods_answer_with_their_codes() {
    let cluster = InProcessCluster::start(3, 2).await;
    let health = cluster.result("thresig_health", json!({})).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["threshold"], 2);
    let nodes = health["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.iter().all(|node| node["reachable"] == true),
        "{health}"
    );

    // Params: by name, known fields, valid values.
    let invalid = codes::INVALID_PARAMS;
    let by_position = cluster.rpc_unsigned("thresig_health", json!([1])).await;
    assert_error(&by_position, invalid, "params must be one JSON object");
    let create_params = json!({ "scheme": "frost-ed25519", "colour": "blue" });
    let unknown_field = cluster.rpc("thresig_createWallet", create_params).await;
    assert_error(&unknown_field, invalid, "unknown field `colour`");
    let scheme = cluster
        .rpc("thresig_createWallet", json!({ "scheme": "frost-p256" }))
        .await;
    assert_error(&scheme, invalid, "scheme");
    let too_high = create(&cluster, "frost-ed25519", 4).await;
    assert_error(
        &too_high,
        invalid,
        "threshold must be between 2 and parties (3), got 4",
    );
    let no_id = cluster.rpc("thresig_getWallet", json!({})).await;
    assert_error(&no_id, invalid, "missing field `walletId`");
    let limit = cluster
        .rpc("thresig_listWallets", json!({ "limit": 0 }))
        .await;
    assert_error(&limit, invalid, "limit must be between 1 and 1000, got 0");
    let chain = cluster
        .rpc(
            "thresig_signTransaction",
            json!({ "walletId": "w-x", "chain": "dogecoin", "transaction": {} }),
        )
        .await;
    assert_eq!(error_of(&chain)["code"], invalid, "{chain}");
    let method = cluster.rpc_unsigned("thresig_mintCoins", json!({})).await;
    assert_eq!(error_of(&method)["code"], -32601, "{method}");

    // The client's signature: required, over exactly these params.
    let unsigned = cluster
        .rpc_unsigned("thresig_createWallet", json!({ "scheme": "frost-ed25519" }))
        .await;
    assert_eq!(
        error_of(&unsigned)["code"],
        codes::UNAUTHORIZED,
        "{unsigned}"
    );
    let mut altered = thresig_testkit::devnet::signed_params(
        cluster.client_key(),
        "thresig_createWallet",
        json!({ "scheme": "frost-ed25519", "threshold": 2 }),
    );
    altered["threshold"] = json!(3);
    let altered = cluster.rpc_unsigned("thresig_createWallet", altered).await;
    assert_eq!(error_of(&altered)["code"], codes::UNAUTHORIZED, "{altered}");

    // A coordinator's role is checked before any node is asked.
    let address = cluster
        .rpc_as(
            CoordinatorRole::Address,
            "thresig_signMessage",
            json!({ "walletId": "w-x", "message": "0x00" }),
        )
        .await;
    assert_error(&address, codes::FORBIDDEN, "role address");
    let signing = cluster
        .rpc_as(
            CoordinatorRole::Signing,
            "thresig_createWallet",
            json!({ "scheme": "frost-ed25519" }),
        )
        .await;
    assert_error(&signing, codes::FORBIDDEN, "role signing");

    // Unknown wallets: -32001 with the id as data.
    let unknown = cluster
        .rpc("thresig_getWallet", json!({ "walletId": "w-unknown" }))
        .await;
    assert_eq!(
        error_of(&unknown)["code"],
        codes::UNKNOWN_WALLET,
        "{unknown}"
    );
    assert_eq!(error_of(&unknown)["data"]["walletId"], "w-unknown");
    let unknown = sign(&cluster, "w-unknown", b"x", "none").await;
    assert_eq!(
        error_of(&unknown)["code"],
        codes::UNKNOWN_WALLET,
        "{unknown}"
    );

    // A wallet: listed, signs once per signed request, refuses a tweak of another suite.
    let wallet = create(&cluster, "frost-ed25519", 2).await["result"].clone();
    let id = wallet["walletId"].as_str().unwrap();
    let listed = cluster
        .result("thresig_listWallets", json!({ "limit": 1 }))
        .await;
    assert_eq!(listed["wallets"][0]["walletId"], id, "{listed}");
    let request = thresig_testkit::devnet::signed_params(
        cluster.client_key(),
        "thresig_signMessage",
        json!({ "walletId": id, "message": "0x0102" }),
    );
    let first = cluster
        .rpc_unsigned("thresig_signMessage", request.clone())
        .await;
    assert!(first.get("result").is_some(), "{first}");
    let replayed = cluster.rpc_unsigned("thresig_signMessage", request).await;
    assert_error(&replayed, codes::UNAUTHORIZED, "replay");
    let tweak = sign(&cluster, id, b"x", "bip86").await;
    assert_error(&tweak, invalid, "bip86 applies only to frost-secp256k1-tr");
    let tweak = sign(&cluster, id, b"x", "sideways").await;
    assert_eq!(error_of(&tweak)["code"], invalid, "{tweak}");

    // Derived wallets: the same passphrase gives the same wallet again (found, not made
    // twice), another passphrase another; an empty one is refused.
    let derive = |passphrase: &str| json!({ "scheme": "frost-secp256k1-tr", "passphrase": passphrase, "threshold": 2 });
    let first = cluster
        .result("thresig_deriveWallet", derive("correct horse"))
        .await;
    let again = cluster
        .result("thresig_deriveWallet", derive("correct horse"))
        .await;
    assert_eq!(again["walletId"], first["walletId"], "{again}");
    assert_eq!(again["publicKey"], first["publicKey"]);
    let other = cluster
        .result("thresig_deriveWallet", derive("battery staple"))
        .await;
    assert_ne!(other["publicKey"], first["publicKey"], "{other}");
    let empty = cluster.rpc("thresig_deriveWallet", derive("")).await;
    assert_error(&empty, invalid, "passphrase is empty");
    let listed = cluster.result("thresig_listWallets", json!({})).await;
    assert_eq!(listed["wallets"].as_array().unwrap().len(), 3, "{listed}");
}
