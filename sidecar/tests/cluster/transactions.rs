//! `thresig_signTransaction` in process: the coordinator's transaction driver and the nodes'
//! check that a signed transaction covers each message they sign (Solana, one signer).

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use thresig_adapters::solana::{self as sol, Pubkey};
use thresig_sidecar::api::rpc::codes;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::NodeCallError;
use thresig_sidecar::wire::paths;
use thresig_testkit::cluster::InProcessCluster;
use thresig_testkit::devnet::{signed_params, verify_ed25519};

use crate::{assert_error, create};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_transactions_sign_in_process() {
    let cluster = InProcessCluster::start(3, 2).await;
    let wallet = create(&cluster, "frost-ed25519", 2).await["result"].clone();
    let id = wallet["walletId"].as_str().unwrap();
    let address = wallet["addresses"]["solana"].as_str().unwrap();
    let from: Pubkey = address.parse().unwrap();
    let to = Pubkey([9u8; 32]);
    let message = sol::transfer_message(from, to, 1_500_000, [3u8; 32])
        .serialize()
        .unwrap();
    let params = json!({ "walletId": id, "chain": "solana", "transaction": b64(&message) });
    let signed = cluster
        .result("thresig_signTransaction", params.clone())
        .await;
    assert_eq!(signed["complete"], true, "{signed}");
    assert_eq!(signed["summary"]["payer"], address);
    assert_eq!(signed["summary"]["transfers"][0]["amount"], "1500000");
    let signature = bs58::decode(signed["signature"].as_str().unwrap())
        .into_vec()
        .unwrap();
    // The fee payer's signature over the message bytes, by ed25519-dalek.
    assert!(verify_ed25519(&from.0, &message, &signature), "{signed}");
    assert!(!verify_ed25519(&from.0, b"another message", &signature));

    // A message the transaction does not contain is not signed under its request, at a node.
    let other = sol::transfer_message(from, to, 1_500_001, [3u8; 32])
        .serialize()
        .unwrap();
    let authorization = signed_params(cluster.client_key(), "thresig_signTransaction", params);
    let request = json!({
        "protocol": "sign",
        "params": {
            "session": "s-other-message",
            "wallet_id": id,
            "message": hex::encode(&other),
            "authorization": { "method": "thresig_signTransaction", "params": authorization },
        },
    });
    let answer = cluster
        .node_client(CoordinatorRole::All)
        .call::<Value, Value>("node-1", paths::START, &request, Duration::from_secs(10))
        .await;
    match answer {
        Err(error @ NodeCallError::Refused { status: 401, .. }) => {
            assert!(
                error.to_string().contains("does not ask for this message"),
                "{error}"
            )
        }
        other => panic!("node-1 signs a message outside the transaction: {other:?}"),
    }

    // Bad transactions are refused with invalid params, saying what is wrong.
    for (chain, transaction, needle) in [
        ("solana", json!("not base64 !"), "transaction"),
        (
            "bitcoin",
            json!(b64(&message)),
            "needs a frost-secp256k1-tr wallet",
        ),
        ("ethereum", json!({}), "cggmp21-secp256k1"),
    ] {
        let response = cluster
            .rpc(
                "thresig_signTransaction",
                json!({ "walletId": id, "chain": chain, "transaction": transaction }),
            )
            .await;
        assert_error(&response, codes::INVALID_PARAMS, needle);
    }
}
