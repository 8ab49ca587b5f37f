//! The node's handlers, asked directly over mutual TLS with each coordinator certificate, as a
//! hostile coordinator could: what each refuses, with which status, and that refusals leave
//! the node's wallets as they were.

use std::time::Duration;

use serde_json::{Value, json};
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::NodeCallError;
use thresig_sidecar::wire::paths;
use thresig_testkit::cluster::InProcessCluster;

use crate::create;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks `node` on `path` with the certificate of `role`; the answer or the refusal's HTTP
/// status and text.
async fn ask(
    cluster: &InProcessCluster,
    role: CoordinatorRole,
    node: &str,
    path: &str,
    body: &Value,
) -> Result<Value, (u16, String)> {
    match cluster
        .node_client(role)
        .call::<Value, Value>(node, path, body, TIMEOUT)
        .await
    {
        Ok(answer) => Ok(answer),
        Err(error @ NodeCallError::Refused { status, .. }) => Err((status, error.to_string())),
        Err(other) => panic!("{path} at {node}: no answer: {other}"),
    }
}

/// Asserts that `node` refuses `body` on `path` with `status` and a message containing `text`.
async fn assert_refused(
    cluster: &InProcessCluster,
    role: CoordinatorRole,
    (node, path): (&str, &str),
    body: &Value,
    (status, text): (u16, &str),
) {
    match ask(cluster, role, node, path, body).await {
        Err((got, message)) => {
            assert_eq!(got, status, "{path} at {node}: {message}");
            assert!(
                message.contains(text),
                "{path}: expected {text:?} in {message}"
            );
        }
        Ok(answer) => panic!("{path} at {node} was accepted: {answer}"),
    }
}

/// A client-signed request for `method` with `params`, as the nodes receive it.
fn authorization(cluster: &InProcessCluster, method: &str, params: Value) -> Value {
    let params = thresig_testkit::devnet::signed_params(cluster.client_key(), method, params);
    json!({ "method": method, "params": params })
}

/// The start of a DKG among every node at threshold 2.
fn round1(session: &str, wallet: &str, scheme: &str, authorization: &Value) -> Value {
    json!({
        "protocol": "keygen",
        "params": {
            "session": session,
            "wallet_id": wallet,
            "scheme": scheme,
            "threshold": 2,
            "parties": ["node-1", "node-2", "node-3"],
            "authorization": authorization,
        },
    })
}

/// A step of `session` carrying `messages` and `results`.
fn step(session: &str, messages: Value, results: Value) -> Value {
    json!({ "session": session, "messages": messages, "results": results })
}

async fn wallets_at(cluster: &InProcessCluster, node: &str) -> u64 {
    let health = ask(
        cluster,
        CoordinatorRole::All,
        node,
        paths::HEALTH,
        &json!({}),
    )
    .await
    .unwrap();
    health["wallets"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handlers_refuse_what_no_coordinator_may_ask() {
    let cluster = InProcessCluster::start(3, 2).await;
    let scheme = "frost-ed25519";
    let wallet = create(&cluster, scheme, 2).await["result"].clone();
    let wallet_id = wallet["walletId"].as_str().unwrap().to_owned();
    let create_params = json!({ "scheme": scheme, "threshold": 2 });
    let node = "node-1";
    let all = CoordinatorRole::All;

    // Roles: a signing coordinator makes no wallet, an address coordinator signs nothing.
    let dkg = authorization(&cluster, "thresig_createWallet", create_params.clone());
    let request = round1("s-roles", "w-roles", scheme, &dkg);
    let forbidden = (403, "may not create wallets");
    let signing = CoordinatorRole::Signing;
    assert_refused(&cluster, signing, (node, paths::START), &request, forbidden).await;
    // A DKG's steps are refused to it too (started here by a coordinator that may).
    let roles_dkg = authorization(&cluster, "thresig_createWallet", create_params.clone());
    let started_roles = round1("s-roles-2", "w-roles-2", scheme, &roles_dkg);
    ask(&cluster, all, node, paths::START, &started_roles)
        .await
        .expect("a DKG starts for a coordinator that may create wallets");
    let body = step("s-roles-2", json!([]), json!([]));
    assert_refused(&cluster, signing, (node, paths::STEP), &body, forbidden).await;
    let message = "00aa";
    let sign_params = json!({ "walletId": wallet_id, "message": format!("0x{message}") });
    let sign = json!({
        "protocol": "sign",
        "params": {
            "session": "s-sign",
            "wallet_id": wallet_id,
            "message": message,
            "authorization": authorization(&cluster, "thresig_signMessage", sign_params.clone()),
        },
    });
    let address = CoordinatorRole::Address;
    let may_not_sign = (403, "may not sign");
    assert_refused(&cluster, address, (node, paths::START), &sign, may_not_sign).await;

    // Ids from the coordinator are checked before anything is stored.
    let bad_session = round1("../escape", "w-ids", scheme, &dkg);
    let plain = (400, "must be 1 to 64 characters");
    assert_refused(&cluster, all, (node, paths::START), &bad_session, plain).await;
    let mut stranger = round1("s-stranger", "w-stranger", scheme, &dkg);
    stranger["params"]["parties"] = json!(["node-1", "node-2", "node-9"]);
    let unknown_party = (400, "node-9 is not a node of this cluster");
    assert_refused(
        &cluster,
        all,
        (node, paths::START),
        &stranger,
        unknown_party,
    )
    .await;

    // The DKG must be what the client signed: here it asked for threshold 3.
    let three = authorization(
        &cluster,
        "thresig_createWallet",
        json!({ "scheme": scheme, "threshold": 3 }),
    );
    let mismatch = (401, "threshold 3");
    let request = round1("s-mismatch", "w-mismatch", scheme, &three);
    assert_refused(&cluster, all, (node, paths::START), &request, mismatch).await;

    // One DKG per signed request, one DKG per wallet id.
    let started = round1("s-first", "w-first", scheme, &dkg);
    ask(&cluster, all, node, paths::START, &started)
        .await
        .expect("a fresh DKG starts");
    let replayed = round1("s-replay", "w-replay", scheme, &dkg);
    let replay = (401, "already used (replay)");
    assert_refused(&cluster, all, (node, paths::START), &replayed, replay).await;
    let fresh = authorization(&cluster, "thresig_createWallet", create_params.clone());
    let reused = round1("s-reuse", "w-first", scheme, &fresh);
    let taken = (409, "w-first was claimed");
    assert_refused(&cluster, all, (node, paths::START), &reused, taken).await;
    let taken_by_wallet = round1("s-taken", &wallet_id, scheme, &fresh);
    assert_refused(
        &cluster,
        all,
        (node, paths::START),
        &taken_by_wallet,
        (409, "was claimed"),
    )
    .await;

    // Rounds out of order or of no session.
    let no_session = step("s-none", json!([]), json!([]));
    let unknown_session = (409, "no run s-none is in progress here");
    assert_refused(
        &cluster,
        all,
        (node, paths::STEP),
        &no_session,
        unknown_session,
    )
    .await;
    let result =
        json!({ "session": "s-first", "sender": "node-2", "payload": "00", "signature": "00" });
    let early = step("s-first", json!([]), json!([result]));
    let out_of_order = (400, "results are shown only at its confirmation");
    assert_refused(&cluster, all, (node, paths::STEP), &early, out_of_order).await;
    // The refusal ended that run here: its session is gone.
    let ended = step("s-first", json!([]), json!([]));
    let gone = (409, "no run s-first is in progress here");
    assert_refused(&cluster, all, (node, paths::STEP), &ended, gone).await;

    // A coordinator of an earlier release is told the node serves another version.
    let old = json!({ "session": "s-old", "round1": [] });
    let version = (404, "serves version 2 of the node API");
    assert_refused(&cluster, all, (node, "/v1/dkg/round2"), &old, version).await;

    // Unknown wallets.
    let unknown = json!({ "wallet_id": "w-unknown" });
    let not_found = (404, "unknown wallet w-unknown");
    assert_refused(
        &cluster,
        all,
        (node, paths::WALLET_GET),
        &unknown,
        not_found,
    )
    .await;
    let mut elsewhere = sign.clone();
    elsewhere["params"]["wallet_id"] = json!("w-unknown");
    assert_refused(&cluster, all, (node, paths::START), &elsewhere, not_found).await;

    // A signature the client did not ask for: another message, another wallet's request.
    let mut other_message = sign.clone();
    other_message["params"]["message"] = json!("00bb");
    let not_asked = (401, "does not ask for this message");
    assert_refused(
        &cluster,
        all,
        (node, paths::START),
        &other_message,
        not_asked,
    )
    .await;
    let mut other_wallet = sign.clone();
    other_wallet["params"]["authorization"] = authorization(
        &cluster,
        "thresig_signMessage",
        json!({ "walletId": "w-other", "message": format!("0x{message}") }),
    );
    let wrong_wallet = (401, "is for wallet w-other");
    assert_refused(
        &cluster,
        all,
        (node, paths::START),
        &other_wallet,
        wrong_wallet,
    )
    .await;
    // A request to create a wallet does not authorise a signature.
    let mut not_signing = sign.clone();
    not_signing["params"]["authorization"] = fresh;
    let wrong_method = (401, "does not authorise this");
    assert_refused(
        &cluster,
        all,
        (node, paths::START),
        &not_signing,
        wrong_method,
    )
    .await;

    // A signing request is used once: the same signed request in a new session is refused.
    ask(&cluster, all, node, paths::START, &sign)
        .await
        .expect("a fresh signing session starts");
    // Its step is refused to a coordinator that may not sign (an unknown session is unknown to
    // any coordinator).
    let round2 = step("s-sign", json!([]), json!([]));
    assert_refused(
        &cluster,
        address,
        (node, paths::STEP),
        &round2,
        may_not_sign,
    )
    .await;
    let mut again = sign.clone();
    again["params"]["session"] = json!("s-sign-again");
    let replay = (401, "already used (replay)");
    assert_refused(&cluster, all, (node, paths::START), &again, replay).await;

    // None of the refusals left a wallet behind, at any node.
    for node in cluster.node_ids() {
        assert_eq!(wallets_at(&cluster, &node).await, 1, "{node}");
    }
}

/// A hostile coordinator that spoils one node's signed round-1 package before relaying it
/// cannot make an honest node blame that node: the receiving node cannot tell who spoiled it,
/// so it aborts blaming nobody (the coordinator, which got the package straight from its
/// sender, is the one that names a sender for a bad signature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_package_spoiled_in_transit_blames_nobody() {
    let cluster = InProcessCluster::start(3, 2).await;
    let all = CoordinatorRole::All;
    let dkg = authorization(
        &cluster,
        "thresig_createWallet",
        json!({ "scheme": "frost-ed25519", "threshold": 2 }),
    );
    let start = round1("s-framed", "w-framed", "frost-ed25519", &dkg);
    let mut round1 = Vec::new();
    for node in ["node-1", "node-2", "node-3"] {
        let answer = ask(&cluster, all, node, paths::START, &start)
            .await
            .expect("round 1 starts");
        round1.push(answer["messages"][0].clone());
    }
    let signature = round1[1]["broadcast"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    round1[1]["broadcast"]["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    // node-1 gets the others' packages, node-2's spoiled.
    let relayed = step("s-framed", json!([round1[1], round1[2]]), json!([]));
    let refusal = cluster
        .node_client(all)
        .call::<Value, Value>("node-1", paths::STEP, &relayed, TIMEOUT)
        .await
        .expect_err("a spoiled package is refused");
    let NodeCallError::Refused { status, body, .. } = refusal else {
        panic!("expected a refusal, got {refusal}");
    };
    assert_eq!(status, 422, "{}", body.message);
    assert!(
        body.message.contains("signature of node-2 does not verify"),
        "{}",
        body.message
    );
    assert_eq!(
        body.kind,
        thresig_sidecar::wire::error::ErrorKind::Abort { blamed: vec![] },
        "{}",
        body.message
    );
}
