//! A hostile coordinator can neither reuse a wallet id (and so destroy a wallet's key on every
//! node) nor hand out a key or address of its own: nodes claim an id once, for one session,
//! and attest every wallet they hold; `thresig client`, `thresig client proxy` and
//! `thresig wallet verify` check the attestations against the cluster manifest; and the
//! coordinator accepts at a node's endpoint only that node's certificate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thresig_sidecar::cluster::layout::{ClusterLayout, read_certified_key};
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::{NodeCallError, NodeClient};
use thresig_sidecar::model::scheme::WalletScheme;
use thresig_sidecar::wire::envelope::{self, SignedStatement};
use thresig_sidecar::wire::{
    Confirmed, HealthResponse, KeygenRequest, RelayedMessage, StartRequest, StepRequest,
    StepResponse, paths, purposes,
};
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, free_port, node_client, runtime, unhex, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];
const TIMEOUT: Duration = Duration::from_secs(10);

/// The start of a DKG for `wallet_id` in `session`, under a fresh client request.
fn round1_request(devnet: &Devnet, session: &str, wallet_id: &str) -> StartRequest {
    StartRequest::Keygen(KeygenRequest {
        session: session.to_owned(),
        wallet_id: wallet_id.to_owned(),
        scheme: WalletScheme::FROST_ED25519,
        threshold: 2,
        parties: NODES.map(str::to_owned).to_vec(),
        authorization: devnet.signed_request(
            "thresig_createWallet",
            json!({ "scheme": "frost-ed25519", "threshold": 2 }),
        ),
    })
}

/// Round 1 of a DKG at every node: each node's answer.
async fn round1(
    client: &NodeClient,
    request: &StartRequest,
) -> Vec<Result<StepResponse, NodeCallError>> {
    let mut answers = Vec::new();
    for node in NODES {
        answers.push(client.call(node, paths::START, request, TIMEOUT).await);
    }
    answers
}

/// Calls `node` with one step of `session`.
async fn step(
    client: &NodeClient,
    node: &str,
    session: &str,
    (messages, results): (Vec<RelayedMessage>, Vec<SignedStatement>),
) -> Result<StepResponse, NodeCallError> {
    let request = StepRequest {
        session: session.to_owned(),
        messages,
        results,
    };
    client.call(node, paths::STEP, &request, TIMEOUT).await
}

/// The messages of `answers` (by node, in `nodes` order) for `node`: the others' broadcasts
/// and the P2P ones sealed to it, as a coordinator relays them.
fn inbox(nodes: &[&str], answers: &[StepResponse], node: &str) -> Vec<RelayedMessage> {
    nodes
        .iter()
        .zip(answers)
        .filter(|(sender, _)| **sender != node)
        .flat_map(|(_, answer)| answer.messages.iter())
        .filter(|message| match message {
            RelayedMessage::Broadcast(_) => true,
            RelayedMessage::P2p(sealed) => sealed.recipient == node,
        })
        .cloned()
        .collect()
}

/// Rounds 2 and 3 of a DKG among `nodes`, whose start each answered: their signed results.
async fn dkg_results(
    client: &NodeClient,
    nodes: &[&str],
    session: &str,
    round1: Vec<StepResponse>,
) -> Vec<SignedStatement> {
    let mut round2 = Vec::new();
    for &node in nodes {
        let messages = inbox(nodes, &round1, node);
        round2.push(
            step(client, node, session, (messages, Vec::new()))
                .await
                .unwrap(),
        );
    }
    let mut results: Vec<SignedStatement> = Vec::new();
    for &node in nodes {
        let messages = inbox(nodes, &round2, node);
        let answer = step(client, node, session, (messages, Vec::new()))
            .await
            .unwrap();
        results.push(answer.result.expect("round 3 ends with a result"));
    }
    results
}

/// The results of `results` (in `nodes` order) that are not `node`'s own.
fn others(nodes: &[&str], results: &[SignedStatement], node: &str) -> Vec<SignedStatement> {
    nodes
        .iter()
        .zip(results)
        .filter(|(sender, _)| **sender != node)
        .map(|(_, result)| result.clone())
        .collect()
}

/// Rounds 2 and 3 and the confirmation of a DKG whose start every node answered; returns the
/// group key (from node-1's signed round-3 result, decoded by frost-ed25519).
async fn finish_dkg(
    client: &NodeClient,
    session: &str,
    wallet_id: &str,
    round1: Vec<StepResponse>,
) -> Vec<u8> {
    let results = dkg_results(client, &NODES, session, round1).await;
    let identity = &client.manifest().node("node-1").unwrap().identity;
    let package = envelope::verify_statement(
        &results[0],
        &purposes::dkg_result(wallet_id),
        session,
        identity,
    )
    .unwrap();
    let package = frost_ed25519::keys::PublicKeyPackage::deserialize(&package).unwrap();
    for node in NODES {
        let shown = others(&NODES, &results, node);
        let confirmed = step(client, node, session, (Vec::new(), shown))
            .await
            .unwrap()
            .confirmed;
        let Some(Confirmed::Wallet(confirmed)) = confirmed else {
            panic!("{node} did not confirm the wallet: {confirmed:?}");
        };
        assert_eq!(confirmed.record.wallet_id, wallet_id);
        assert!(
            confirmed.attestation.is_some(),
            "{node} attests on confirming"
        );
    }
    package.verifying_key().serialize().unwrap()
}

/// A genuine statement of node-3 from a session of its own: the round-1 package of a DKG it
/// starts alone with the hostile coordinator.
async fn round1_third_party(client: &NodeClient, devnet: &Devnet) -> SignedStatement {
    let wallet_id = format!("w-third-{}", rand::random::<u32>());
    let request = round1_request(devnet, "hostile-third-party", &wallet_id);
    let answer: StepResponse = client
        .call("node-3", paths::START, &request, TIMEOUT)
        .await
        .unwrap();
    match answer.messages.into_iter().next() {
        Some(RelayedMessage::Broadcast(statement)) => statement,
        other => panic!("node-3 started a DKG without its broadcast: {other:?}"),
    }
}

/// A refusal's HTTP status and kind.
fn refusal<T: std::fmt::Debug>(answer: Result<T, NodeCallError>) -> (u16, String, String) {
    match answer {
        Err(NodeCallError::Refused { status, body, .. }) => {
            (status, body.kind.code().to_owned(), body.message)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn thresig(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // A command that refuses its arguments exits without reading its input.
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A JSON-RPC server that answers every method with `answer(method)`, as a hostile coordinator
/// would; serves until the test process ends.
fn fake_coordinator(answer: impl Fn(&str) -> Value + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let response = json!({
                "jsonrpc": "2.0",
                "id": request["id"],
                "result": answer(request["method"].as_str().unwrap_or_default()),
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{response}",
                response.len()
            );
        }
    });
    url
}

#[test]
fn a_hostile_coordinator_can_neither_reuse_a_wallet_id_nor_hand_out_its_own_key() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let dir = devnet.data_dir().display().to_string();
    let hostile = node_client(devnet.data_dir(), CoordinatorRole::Address);
    let runtime = runtime();

    // Two DKGs under one new id, the second started before the first stored anything: every
    // node refuses the second at round 1, so it can never overwrite the first one's key.
    let wallet_id = format!("w-hostile-{}", rand::random::<u32>());
    let first = round1_request(&devnet, "hostile-first", &wallet_id);
    let second = round1_request(&devnet, "hostile-second", &wallet_id);
    let group_key = runtime.block_on(async {
        let round1_first: Vec<StepResponse> = round1(&hostile, &first)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        for answer in round1(&hostile, &second).await {
            let (status, kind, message) = refusal(answer);
            assert_eq!(
                (status, kind.as_str()),
                (409, "wallet-id-taken"),
                "{message}"
            );
            assert!(message.contains(&wallet_id), "{message}");
        }
        let group_key = finish_dkg(&hostile, "hostile-first", &wallet_id, round1_first).await;
        // Once confirmed, another DKG under the id is refused too, and a confirmation for
        // the refused session finds nothing to confirm.
        let third = round1_request(&devnet, "hostile-third", &wallet_id);
        for answer in round1(&hostile, &third).await {
            assert_eq!(refusal(answer).1, "wallet-id-taken");
        }
        let confirmation = (Vec::new(), Vec::new());
        let answer = step(&hostile, "node-1", "hostile-second", confirmation).await;
        assert_eq!(refusal(answer).1, "unknown-session");

        // A confirmation carries one result from each party and none from anyone else: a DKG
        // of node-1 and node-2 is not confirmed with a genuine statement of node-3 (from
        // another session) added, which nodes once ignored.
        let pair = ["node-1", "node-2"];
        let pair_request = StartRequest::Keygen(KeygenRequest {
            session: "hostile-pair".into(),
            wallet_id: format!("w-pair-{}", rand::random::<u32>()),
            scheme: WalletScheme::FROST_ED25519,
            threshold: 2,
            parties: pair.map(str::to_owned).to_vec(),
            authorization: devnet.signed_request(
                "thresig_createWallet",
                json!({ "scheme": "frost-ed25519", "threshold": 2, "parties": 2 }),
            ),
        });
        let mut pair_round1 = Vec::new();
        for node in pair {
            let answer: StepResponse = hostile
                .call(node, paths::START, &pair_request, TIMEOUT)
                .await
                .unwrap();
            pair_round1.push(answer);
        }
        let results = dkg_results(&hostile, &pair, "hostile-pair", pair_round1).await;
        // (Confirmed nowhere: the listing below holds the first wallet and one made later.)
        let mut padded = others(&pair, &results, "node-1");
        padded.push(round1_third_party(&hostile, &devnet).await);
        let answer = step(&hostile, "node-1", "hostile-pair", (Vec::new(), padded)).await;
        let (status, kind, message) = refusal(answer);
        assert_eq!((status, kind.as_str()), (422, "abort"), "{message}");
        assert!(
            message.contains("from node-3, which is not expected here"),
            "{message}"
        );
        group_key
    });

    // The wallet signs with the key of its DKG, checked by ed25519-dalek.
    let wallet = devnet.result("thresig_getWallet", json!({ "walletId": wallet_id }));
    assert_eq!(unhex(wallet["publicKey"].as_str().unwrap()), group_key);
    let message = b"still the first DKG's key";
    let signed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": wallet_id, "message": format!("0x{}", hex::encode(message)) }),
    );
    let signature = unhex(signed["signature"].as_str().unwrap());
    assert!(verify_ed25519(&group_key, message, &signature), "{signed}");

    // A wallet the coordinator made: `thresig client` checks the attestations (the params
    // come from standard input) and `thresig wallet verify` checks the saved answer.
    let created = thresig(
        &[
            "client",
            "--url",
            &devnet.url(),
            "--data-dir",
            &dir,
            "--params-file",
            "-",
            "thresig_createWallet",
        ],
        Some(r#"{"scheme":"frost-ed25519"}"#),
    );
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let attested: Vec<&str> = created["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attestation| attestation["node"].as_str().unwrap())
        .collect();
    assert_eq!(attested, NODES);
    let created_id = created["walletId"].as_str().unwrap().to_owned();
    let saved = devnet.data_dir().join("created.json");
    std::fs::write(&saved, created.to_string()).unwrap();
    let verify = |input: &Value| {
        thresig(
            &["wallet", "verify", "--data-dir", &dir],
            Some(&input.to_string()),
        )
    };
    let valid = thresig(
        &[
            "wallet",
            "verify",
            "--data-dir",
            &dir,
            saved.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(valid.status.code(), Some(0), "{}", stderr(&valid));
    let listed = thresig(
        &[
            "client",
            "--url",
            &devnet.url(),
            "--data-dir",
            &dir,
            "thresig_listWallets",
        ],
        None,
    );
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["wallets"].as_array().unwrap().len(), 2);
    assert_eq!(verify(&listed).status.code(), Some(0));

    // The coordinator's own key and the address it gives, in place of the wallet's.
    let own = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let own_key = own.verifying_key().to_bytes();
    let mut tampered = created.clone();
    tampered["publicKey"] = json!(format!("0x{}", hex::encode(own_key)));
    tampered["addresses"]["solana"] =
        json!(thresig_sidecar::chains::addresses::solana(&own_key).unwrap());
    let refused = verify(&tampered);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("node-1's attestation does not verify"),
        "{}",
        stderr(&refused)
    );
    // The right key with another address; a holder's attestation left out.
    let mut address = created.clone();
    address["addresses"]["solana"] = tampered["addresses"]["solana"].clone();
    let refused = verify(&address);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("solana address"),
        "{}",
        stderr(&refused)
    );
    let mut missing = created.clone();
    missing["attestations"].as_array_mut().unwrap().remove(2);
    let refused = verify(&missing);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("node-3"), "{}", stderr(&refused));

    // `thresig client` in front of a coordinator that answers the tampered wallet refuses it,
    // naming the node, and prints nothing.
    let get_from = |lie: Value| {
        let fake = fake_coordinator(move |_| lie.clone());
        let answer = thresig(
            &[
                "client",
                "--url",
                &fake,
                "--data-dir",
                &dir,
                "thresig_getWallet",
                &json!({ "walletId": created_id }).to_string(),
            ],
            None,
        );
        assert_eq!(answer.status.code(), Some(3), "{}", stderr(&answer));
        assert!(answer.stdout.is_empty());
        stderr(&answer)
    };
    let said = get_from(tampered.clone());
    assert!(said.contains("node-1"), "{said}");
    // Answers that need no signature: the coordinator's key with no holder named, or beside an
    // empty `wallets` a reader might take for a listing.
    let mut unheld = tampered.clone();
    unheld["nodes"] = json!([]);
    unheld["attestations"] = json!([]);
    unheld["parties"] = json!(0);
    let mut decoy = tampered.clone();
    decoy["wallets"] = json!([]);
    for lie in [unheld, decoy] {
        assert_eq!(verify(&lie).status.code(), Some(2), "{lie}");
        get_from(lie);
    }

    // `thresig client proxy` refuses to serve an Ethereum account that its holders do not
    // attest (here: signatures by nobody).
    let key = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let forged = json!({
        "walletId": "w-forged",
        "scheme": "cggmp21-secp256k1",
        "threshold": 2,
        "parties": 3,
        "nodes": NODES,
        "publicKey": format!("0x{key}"),
        "addresses": {
            "ethereum": thresig_adapters::ethereum::eip55_address(&hex::decode(key).unwrap())
                .unwrap()
        },
        "createdAt": 1,
        "attestations": NODES.map(|node| json!({ "node": node, "signature": "00".repeat(64) })),
    });
    let proxy_before = |listing: Value| {
        let fake = fake_coordinator(move |_| listing.clone());
        thresig(
            &[
                "client",
                "proxy",
                "--url",
                &fake,
                "--data-dir",
                &dir,
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ],
            None,
        )
    };
    let proxy = proxy_before(json!({ "wallets": [forged], "nextCursor": null }));
    assert_eq!(proxy.status.code(), Some(2), "{}", stderr(&proxy));
    assert!(proxy.stdout.is_empty(), "the proxy served");
    assert!(
        stderr(&proxy).contains("refusing to serve the account")
            && stderr(&proxy).contains("node-1"),
        "{}",
        stderr(&proxy)
    );
    // A listing whose cursor never moves on does not keep the proxy listing forever.
    let proxy = proxy_before(json!({ "wallets": [], "nextCursor": "w-0" }));
    assert_eq!(proxy.status.code(), Some(2), "{}", stderr(&proxy));
    assert!(
        stderr(&proxy).contains("wallet listing does not end"),
        "{}",
        stderr(&proxy)
    );

    // Params from a file give the same as from standard input; both at once are refused.
    let params = devnet.data_dir().join("derive.json");
    std::fs::write(
        &params,
        r#"{"scheme":"frost-ed25519","passphrase":"never on a command line"}"#,
    )
    .unwrap();
    let url = devnet.url();
    let derive = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["client", "--url", url.as_str(), "--data-dir", dir.as_str()];
        all.extend_from_slice(args);
        all.push("thresig_deriveWallet");
        thresig(&all, stdin)
    };
    let from_file = derive(&["--params-file", params.to_str().unwrap()], None);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let from_stdin = derive(
        &["--params-file", "-"],
        Some(&std::fs::read_to_string(&params).unwrap()),
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    let (from_file, from_stdin): (Value, Value) = (
        serde_json::from_slice(&from_file.stdout).unwrap(),
        serde_json::from_slice(&from_stdin.stdout).unwrap(),
    );
    assert_eq!(from_file["walletId"], from_stdin["walletId"]);
    let mut both = vec!["client", "--data-dir", dir.as_str(), "--params-file", "-"];
    both.extend(["thresig_deriveWallet", "{}"]);
    assert_eq!(thresig(&both, Some("{}")).status.code(), Some(2));

    // Node certificates are pinned to their manifest entries: node-2 answering at node-1's
    // endpoint is refused, though its certificate is the cluster CA's and names 127.0.0.1.
    let layout = ClusterLayout::new(devnet.data_dir());
    let mut manifest = Manifest::load(&layout.manifest()).unwrap();
    manifest.nodes[0].endpoint = manifest.nodes[1].endpoint.clone();
    let ca = std::fs::read_to_string(layout.ca_cert()).unwrap();
    let cert_dir = layout.coordinator_dir_for(CoordinatorRole::All);
    let identity =
        read_certified_key(&cert_dir.join("cert.pem"), &cert_dir.join("key.pem")).unwrap();
    let misdirected = NodeClient::new(manifest, &ca, &identity).unwrap();
    runtime.block_on(async {
        let answer: Result<HealthResponse, _> = misdirected
            .call("node-1", paths::HEALTH, &json!({}), TIMEOUT)
            .await;
        match answer {
            Err(NodeCallError::Unreachable { node, reason }) => {
                assert_eq!(node, "node-1");
                assert!(reason.contains("certificate"), "{reason}");
            }
            other => panic!("node-2's certificate was accepted for node-1: {other:?}"),
        }
        let answer: HealthResponse = misdirected
            .call("node-2", paths::HEALTH, &json!({}), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(answer.node_id, "node-2");
    });
}
