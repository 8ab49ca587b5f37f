//! A coordinator is untrusted too. Acting as one with the cluster's coordinator certificate,
//! these tests replay and alter signing requests, capture everything relayed during a DKG, and
//! run a cluster with a node that corrupts its DKG shares.

use std::sync::{Arc, Mutex};

use serde_json::json;
use thresig_sidecar::cluster::client_auth::ClientRequest;
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::{Coordinator, NodeCallError, NodeClient};
use thresig_sidecar::custody::key_provider::FileKeyProvider;
use thresig_sidecar::model::scheme::{Tweak, WalletScheme};
use thresig_sidecar::wire::envelope::{self, SignedStatement};
use thresig_sidecar::wire::{
    RelayedMessage, SignRequest, StartRequest, StepRequest, StepResponse, paths, purposes,
};
use thresig_testkit::devnet::{Devnet, ThresigBinary, node_client, temp_dir};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

fn client(dir: &std::path::Path) -> NodeClient {
    node_client(dir, CoordinatorRole::All)
}

fn runtime() -> tokio::runtime::Runtime {
    thresig_sidecar::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Starts signing at `node`: its signed commitments, checked.
async fn commit(
    client: &NodeClient,
    node: &str,
    session: &str,
    wallet: &str,
    message: &[u8],
    authorization: &ClientRequest,
) -> SignedStatement {
    let request = StartRequest::Sign(SignRequest {
        session: session.into(),
        wallet_id: wallet.into(),
        message: hex::encode(message),
        tweak: Tweak::None,
        authorization: authorization.clone(),
    });
    let answer: StepResponse = client
        .call(
            node,
            paths::START,
            &request,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    let Some(RelayedMessage::Broadcast(statement)) = answer.messages.into_iter().next() else {
        panic!("{node} started signing without its commitments");
    };
    let entry = client.manifest().node(node).unwrap();
    envelope::verify_statement(
        &statement,
        &purposes::sign_commitments(wallet),
        session,
        &entry.identity,
    )
    .unwrap();
    statement
}

/// The signing step at `node` with the other signers' `commitments`: its signature share.
async fn round2(
    client: &NodeClient,
    node: &str,
    session: &str,
    commitments: &[SignedStatement],
) -> Result<SignedStatement, NodeCallError> {
    let request = StepRequest {
        session: session.into(),
        messages: commitments
            .iter()
            .cloned()
            .map(RelayedMessage::Broadcast)
            .collect(),
        results: Vec::new(),
    };
    let answer: StepResponse = client
        .call(
            node,
            paths::STEP,
            &request,
            std::time::Duration::from_secs(10),
        )
        .await?;
    Ok(answer.result.expect("a signing step ends with a share"))
}

fn refusal(result: Result<SignedStatement, NodeCallError>) -> (u16, String) {
    match result {
        Err(NodeCallError::Refused { status, body, .. }) => (status, body.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn replayed_or_altered_round_two_requests_are_refused_even_across_a_restart() {
    let dir = temp_dir("replay");
    let mut devnet = Devnet::start_in(THRESIG, dir.clone(), 3, 2, &[], false);
    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let wallet = wallet["walletId"].as_str().unwrap().to_owned();
    let message = b"pay 1 BTC to alice".to_vec();
    let client = client(&dir);
    let runtime = runtime();
    let session = "replay-session-1";
    let authorization = devnet.signed_request(
        "thresig_signMessage",
        json!({ "walletId": wallet, "message": format!("0x{}", hex::encode(&message)) }),
    );
    let (first, second) = runtime.block_on(async {
        let first = commit(
            &client,
            "node-1",
            session,
            &wallet,
            &message,
            &authorization,
        )
        .await;
        let second = commit(
            &client,
            "node-2",
            session,
            &wallet,
            &message,
            &authorization,
        )
        .await;
        // node-2's genuine commitments of another session (another request for the same
        // message) relayed into this one are refused, and leave the nonces unused.
        let elsewhere = devnet.signed_request(
            "thresig_signMessage",
            json!({ "walletId": wallet, "message": format!("0x{}", hex::encode(&message)) }),
        );
        let other = commit(
            &client,
            "node-2",
            "replay-other",
            &wallet,
            &message,
            &elsewhere,
        )
        .await;
        let (status, text) = refusal(round2(&client, "node-1", session, &[other]).await);
        assert_eq!(status, 422);
        assert!(text.contains("does not verify"), "{text}");
        // Dropping node-2's commitment is refused too: below the threshold.
        let (_, text) = refusal(round2(&client, "node-1", session, &[]).await);
        assert!(text.contains("needs 2"), "{text}");

        round2(&client, "node-1", session, std::slice::from_ref(&second))
            .await
            .expect("the genuine request is answered once");
        let (status, text) =
            refusal(round2(&client, "node-1", session, std::slice::from_ref(&second)).await);
        assert_eq!(status, 409);
        assert!(text.contains("already used"), "{text}");
        (first, second)
    });
    devnet.stop();
    drop(devnet);
    // node-1's audit log records both refusals and the one share, in order, for the session.
    let log = std::fs::read_to_string(dir.join("node-1").join("audit.log")).unwrap();
    let outcomes: Vec<String> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|record| record["session"] == session)
        .map(|record| record["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(outcomes[0].starts_with("refused: ") && outcomes[0].contains("does not verify"));
    assert!(outcomes[1].starts_with("refused: ") && outcomes[1].contains("needs 2"));
    assert_eq!(outcomes[2], "ok");
    let devnet = Devnet::start_in(THRESIG, dir.clone(), 3, 2, &[], true);
    let client = support_client(&devnet);
    runtime.block_on(async {
        let (status, _) =
            refusal(round2(&client, "node-1", session, std::slice::from_ref(&second)).await);
        assert_eq!(
            status, 409,
            "consumed nonces stay consumed across a restart"
        );
        // node-2 never answered round 2: its nonces survive the restart, once.
        round2(&client, "node-2", session, std::slice::from_ref(&first))
            .await
            .expect("node-2's nonces are still there");
        let (status, _) =
            refusal(round2(&client, "node-2", session, std::slice::from_ref(&first)).await);
        assert_eq!(status, 409);
    });
}

fn support_client(devnet: &Devnet) -> NodeClient {
    client(devnet.data_dir())
}

/// Every `(node path, payload)` the coordinator relayed.
type Relayed = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[test]
fn nothing_the_coordinator_relays_during_a_dkg_contains_a_share() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let captured: Relayed = Arc::default();
    let sink = captured.clone();
    let coordinator = Coordinator::new(support_client(&devnet))
        .unwrap()
        .with_relay_observer(Arc::new(move |path: &str, bytes: &[u8]| {
            sink.lock().unwrap().push((path.to_owned(), bytes.to_vec()))
        }));
    let runtime = runtime();
    let authorization = devnet.signed_request(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    );
    let wallet = runtime
        .block_on(coordinator.create_wallet(
            WalletScheme::FROST_SECP256K1_TR,
            None,
            None,
            &authorization,
        ))
        .unwrap();
    let captured = captured.lock().unwrap().clone();
    assert!(captured.iter().any(|(path, _)| path == paths::STEP));

    // Open every envelope with its recipient's own keys (the test reads the devnet's key
    // files): these are the secret shares f_i(j) the nodes exchanged.
    let layout = ClusterLayout::new(devnet.data_dir());
    let manifest = Manifest::load(&layout.manifest()).unwrap();
    let mut shares = Vec::new();
    for (path, bytes) in captured.iter().filter(|(path, _)| path == paths::STEP) {
        let request: StepRequest =
            serde_json::from_slice(bytes).unwrap_or_else(|error| panic!("{path}: {error}"));
        let sealed_shares = request.messages.iter().filter_map(|message| match message {
            RelayedMessage::P2p(sealed) => Some(sealed),
            RelayedMessage::Broadcast(_) => None,
        });
        for sealed in sealed_shares {
            let node = layout.node(&sealed.recipient);
            let passphrase = std::fs::read_to_string(node.passphrase_file()).unwrap();
            let provider =
                FileKeyProvider::open(&node.key_file(), passphrase.trim().as_bytes()).unwrap();
            let identity = thresig_sidecar::custody::identity::load(
                &node.identity_file(),
                &sealed.recipient,
                &provider,
            )
            .unwrap();
            let sender = &manifest.node(&sealed.sender).unwrap().identity;
            let plaintext = envelope::open(
                sealed,
                &request.session,
                &sealed.recipient,
                &identity,
                sender,
            )
            .unwrap();
            let package = frost_core::keys::dkg::round2::Package::<
                frost_secp256k1_tr::Secp256K1Sha256TR,
            >::deserialize(&plaintext)
            .unwrap();
            shares.push(package.signing_share().serialize());
            // Another node cannot open it.
            let other = manifest
                .nodes
                .iter()
                .find(|entry| entry.id != sealed.recipient && entry.id != sealed.sender)
                .unwrap();
            let other_layout = layout.node(&other.id);
            let other_passphrase = std::fs::read_to_string(other_layout.passphrase_file()).unwrap();
            let other_provider =
                FileKeyProvider::open(&other_layout.key_file(), other_passphrase.trim().as_bytes())
                    .unwrap();
            let other_identity = thresig_sidecar::custody::identity::load(
                &other_layout.identity_file(),
                &other.id,
                &other_provider,
            )
            .unwrap();
            assert!(
                envelope::open(
                    sealed,
                    &request.session,
                    &sealed.recipient,
                    &other_identity,
                    sender
                )
                .is_err()
            );
        }
    }
    assert_eq!(shares.len(), 6, "3 nodes each send a share to the 2 others");
    for share in &shares {
        assert_eq!(share.len(), 32);
        let as_hex = hex::encode(share);
        for (path, bytes) in &captured {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains(&as_hex), "{path} carries a share in hex");
            assert!(
                !bytes.windows(32).any(|window| window == &share[..]),
                "{path} carries a share in binary"
            );
        }
    }
    assert!(wallet.public_key.starts_with("0x"));
}

#[test]
fn a_node_that_corrupts_its_dkg_shares_is_named_and_the_dkg_aborts() {
    let devnet = Devnet::start_in(
        THRESIG,
        temp_dir("corrupt"),
        3,
        2,
        &[("THRESIG_TEST_FAULT", "corrupt-dkg-share:node-2")],
        true,
    );
    let response = devnet.call(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    );
    let error = &response["error"];
    assert_eq!(error["code"], -32003, "{response}");
    assert_eq!(error["data"]["culprit"], "node-2", "{response}");
    assert!(error["message"].as_str().unwrap().contains("node-2"));
    // No node kept a wallet from the aborted DKG.
    let listed = devnet.result("thresig_listWallets", json!({}));
    assert_eq!(listed["wallets"], json!([]));
}
