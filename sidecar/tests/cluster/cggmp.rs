//! CGGMP21 through the node handlers and the coordinator's drivers, in process with the public
//! test primes: aux info on start, a keygen, presigning and one-round signing, each signature
//! recovered by libsecp256k1 to the wallet's key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1};
use serde_json::json;
use thresig_sidecar::api::rpc::codes;
use thresig_sidecar::wire::paths;
use thresig_testkit::cluster::{ClusterOptions, Hook, InProcessCluster};
use thresig_testkit::devnet::unhex;

use crate::error_of;

const PRIMES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testvectors/cggmp21-primes.json"
);

/// The key a 65-byte r ‖ s ‖ v signature over `digest` recovers to, by libsecp256k1.
fn recover(digest: [u8; 32], signature: &[u8]) -> PublicKey {
    assert_eq!(signature.len(), 65, "r ‖ s ‖ v");
    let id = RecoveryId::try_from(i32::from(signature[64])).unwrap();
    let recoverable = RecoverableSignature::from_compact(&signature[..64], id).unwrap();
    SECP256K1
        .recover_ecdsa(Message::from_digest(digest), &recoverable)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cggmp21_wallets_sign_in_process() {
    let started = Instant::now();
    let cluster = InProcessCluster::start_with(ClusterOptions {
        // Two nodes: aux info, most of this test's time, grows with the square of the nodes.
        nodes: 2,
        threshold: 2,
        cggmp21_primes: Some(PRIMES.into()),
    })
    .await;
    // Aux info, which the coordinator starts on its own.
    loop {
        let health = cluster.result("thresig_health", json!({})).await;
        let status = &health["cggmp21"]["auxInfo"]["status"];
        assert_ne!(status, "failed", "{health}");
        if status == "ready" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scheme = "cggmp21-secp256k1";
    let wallet = crate::create(&cluster, scheme, 2).await;
    let wallet = &wallet["result"];
    assert_eq!(wallet["scheme"], scheme, "{wallet}");
    let key = PublicKey::from_slice(&unhex(wallet["publicKey"].as_str().unwrap())).unwrap();
    let id = wallet["walletId"].as_str().unwrap();
    for message in [b"first".as_slice(), b"second"] {
        let signed = cluster
            .result(
                "thresig_signMessage",
                json!({
                    "walletId": id,
                    "message": format!("0x{}", hex::encode(message)),
                    "encoding": "eip191",
                }),
            )
            .await;
        let digest = alloy_primitives::eip191_hash_message(message).0;
        let signature = unhex(signed["signature"].as_str().unwrap());
        assert_eq!(recover(digest, &signature), key, "{signed}");
    }
    // A hostile node-2: a keygen message, a keygen result and a partial signature whose
    // signatures do not verify are each blamed on it, and no keygen leaves a wallet.
    let started_keygens: Arc<Mutex<Vec<String>>> = Arc::default();
    for (path, what) in [(paths::START, "message"), (paths::STEP, "result")] {
        let seen = Arc::clone(&started_keygens);
        cluster.set_hook(
            "node-2",
            Hook::on_response(move |at, request, answer| {
                if at == paths::START
                    && let Some(wallet) = request["params"]["wallet_id"].as_str()
                {
                    seen.lock().unwrap().push(wallet.to_owned());
                }
                if at != path || seen.lock().unwrap().is_empty() {
                    return;
                }
                let field = match what {
                    "result" if answer["result"].is_object() => &mut answer["result"]["signature"],
                    "message" => {
                        let message = &mut answer["messages"][0];
                        let kind = if message["broadcast"].is_object() {
                            "broadcast"
                        } else {
                            "p2p"
                        };
                        &mut message[kind]["signature"]
                    }
                    _ => return,
                };
                crate::protocols::flip_hex(field);
            }),
        );
        let response = crate::create(&cluster, scheme, 2).await;
        cluster.clear_hooks();
        crate::assert_blames(&response, "node-2", "does not verify");
        let wallet = started_keygens
            .lock()
            .unwrap()
            .pop()
            .expect("a keygen started");
        let kept = cluster
            .rpc("thresig_getWallet", json!({ "walletId": wallet }))
            .await;
        assert_eq!(error_of(&kept)["code"], codes::UNKNOWN_WALLET, "{kept}");
    }
    cluster.set_hook(
        "node-2",
        Hook::on_response(|at, _, answer| {
            if at == paths::CGGMP_SIGN {
                crate::protocols::flip_hex(&mut answer["signature"]);
            }
        }),
    );
    let response = cluster
        .rpc(
            "thresig_signMessage",
            json!({ "walletId": id, "message": "0x0102", "encoding": "eip191" }),
        )
        .await;
    cluster.clear_hooks();
    crate::assert_blames(&response, "node-2", "does not verify");
    let listed = cluster.result("thresig_listWallets", json!({})).await;
    assert_eq!(listed["wallets"].as_array().unwrap().len(), 1, "{listed}");

    // A raw digest is never signed by a CGGMP21 wallet.
    let raw = cluster
        .rpc(
            "thresig_signMessage",
            json!({ "walletId": id, "message": format!("0x{}", hex::encode([7u8; 32])) }),
        )
        .await;
    assert_eq!(error_of(&raw)["code"], -32602, "{raw}");
}
