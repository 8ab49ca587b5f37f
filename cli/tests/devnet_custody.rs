//! Custody: passphrase wallets survive the loss of every database (the HSM keys and the
//! passphrase are enough), nothing secret is left on disk in the clear, and a coordinator can
//! neither forge, replay nor exceed its role: every node checks the client's signed request and
//! the role in the coordinator's certificate itself.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thresig_sidecar::cluster::client_auth::{ClientKey, ClientRequest};
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::{NodeCallError, NodeClient};
use thresig_sidecar::custody::key_provider::FileKeyProvider;
use thresig_sidecar::custody::store::NodeStore;
use thresig_sidecar::model::scheme::{Tweak, WalletScheme};
use thresig_sidecar::wire::{KeygenRequest, SignRequest, StartRequest, StepResponse, paths};
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, free_port, node_client, raw_call, runtime, temp_dir, unhex,
    verify_bip340, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

const SCHEMES: [&str; 2] = ["frost-secp256k1-tr", "frost-ed25519"];

fn derive(devnet: &Devnet, scheme: &str, passphrase: &str) -> Value {
    devnet.result(
        "thresig_deriveWallet",
        json!({ "scheme": scheme, "passphrase": passphrase }),
    )
}

/// Signs `message` with the wallet and checks the signature with an independent library.
fn sign_and_verify(devnet: &Devnet, wallet: &Value, message: &[u8]) {
    let signed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": wallet["walletId"], "message": format!("0x{}", hex::encode(message)) }),
    );
    let key = unhex(wallet["publicKey"].as_str().unwrap());
    let signature = unhex(signed["signature"].as_str().unwrap());
    let valid = match wallet["scheme"].as_str().unwrap() {
        "frost-secp256k1-tr" => verify_bip340(&key, message, &signature),
        _ => verify_ed25519(&key, message, &signature),
    };
    assert!(valid, "{signed} does not verify under {wallet}");
}

#[test]
fn slow_recovery_drill_derives_the_same_wallets_after_every_database_is_deleted() {
    let dir = temp_dir("recovery");
    let hsm = ["--hsm", "softhsm"];
    let mut devnet = Devnet::start_with(THRESIG, dir.clone(), 3, 2, &[], &hsm, false);
    let passphrases: Vec<String> = (0..20)
        .map(|index| format!("recovery drill passphrase #{index}"))
        .collect();
    let mut before = Vec::new();
    for scheme in SCHEMES {
        for passphrase in &passphrases {
            before.push(derive(&devnet, scheme, passphrase));
        }
    }
    let mut keys: Vec<&str> = before
        .iter()
        .map(|wallet| wallet["publicKey"].as_str().unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        40,
        "every passphrase and scheme gives its own key"
    );
    // Deriving again returns the stored wallet.
    let again = derive(&devnet, SCHEMES[0], &passphrases[0]);
    assert_eq!(again, before[0]);
    devnet.stop();

    let layout = ClusterLayout::new(&dir);
    for node in 1..=3 {
        let node = layout.node(&format!("node-{node}"));
        std::fs::remove_dir_all(node.db_dir()).unwrap();
        assert!(node.token_dir().is_dir(), "the token stays");
    }
    let devnet = Devnet::start_with(THRESIG, dir, 3, 2, &[], &hsm, true);
    assert_eq!(
        devnet.result("thresig_listWallets", json!({}))["wallets"],
        json!([]),
        "the databases are gone"
    );
    let mut position = 0;
    for scheme in SCHEMES {
        for passphrase in &passphrases {
            let old = &before[position];
            let new = derive(&devnet, scheme, passphrase);
            assert_eq!(new["publicKey"], old["publicKey"], "{passphrase} {scheme}");
            assert_eq!(new["addresses"], old["addresses"], "{passphrase} {scheme}");
            sign_and_verify(
                &devnet,
                &new,
                format!("after recovery {position}").as_bytes(),
            );
            position += 1;
        }
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The signing share inside a node's key package, as FROST serializes it.
fn signing_share(scheme: &str, key_package: &[u8]) -> Vec<u8> {
    match scheme {
        "frost-secp256k1-tr" => frost_secp256k1_tr::keys::KeyPackage::deserialize(key_package)
            .unwrap()
            .signing_share()
            .serialize(),
        _ => frost_ed25519::keys::KeyPackage::deserialize(key_package)
            .unwrap()
            .signing_share()
            .serialize(),
    }
}

#[test]
fn node_directories_hold_no_share_and_no_passphrase_in_the_clear() {
    let dir = temp_dir("at-rest");
    let mut devnet = Devnet::start_in(THRESIG, dir.clone(), 3, 2, &[], false);
    let passphrase = "at-rest passphrase that must never be written";
    let mut wallets = Vec::new();
    for scheme in SCHEMES {
        let created = devnet.result("thresig_createWallet", json!({ "scheme": scheme }));
        sign_and_verify(&devnet, &created, b"at rest, created");
        wallets.push(created);
        let derived = derive(&devnet, scheme, passphrase);
        sign_and_verify(&devnet, &derived, b"at rest, derived");
        wallets.push(derived);
    }
    devnet.stop();

    // The test opens each node's store with the node's own key to learn the shares, then looks
    // for them, raw and hex, in every file of every node directory.
    let layout = ClusterLayout::new(&dir);
    let manifest = Manifest::load(&layout.manifest()).unwrap();
    let mut secrets: Vec<Vec<u8>> = vec![passphrase.as_bytes().to_vec()];
    for node in &manifest.nodes {
        let node_layout = layout.node(&node.id);
        let node_passphrase = std::fs::read_to_string(node_layout.passphrase_file()).unwrap();
        let provider =
            FileKeyProvider::open(&node_layout.key_file(), node_passphrase.trim().as_bytes())
                .unwrap();
        let store = NodeStore::open(&node_layout.db_dir(), &node.id, &provider).unwrap();
        for wallet in &wallets {
            let key_package = store
                .key_package(wallet["walletId"].as_str().unwrap())
                .unwrap()
                .unwrap();
            let share = signing_share(wallet["scheme"].as_str().unwrap(), &key_package);
            assert_eq!(share.len(), 32);
            secrets.push(hex::encode(&share).into_bytes());
            secrets.push(share);
        }
    }
    assert_eq!(secrets.len(), 1 + 3 * 4 * 2);
    let mut scanned = 0;
    for node in &manifest.nodes {
        for file in files(layout.node(&node.id).dir()) {
            let bytes = std::fs::read(&file).unwrap();
            scanned += bytes.len();
            for secret in &secrets {
                assert!(
                    !bytes
                        .windows(secret.len())
                        .any(|window| window == &secret[..]),
                    "{} holds a secret in the clear",
                    file.display()
                );
            }
        }
    }
    assert!(
        scanned > 10_000,
        "the scan read the databases ({scanned} bytes)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends signing round 1 for `message` under `authorization` to `node`; the node's refusal
/// kind and message, or `None` if it answered.
fn round1(
    client: &NodeClient,
    node: &str,
    wallet: &str,
    message: &[u8],
    authorization: &ClientRequest,
) -> Option<(String, String)> {
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let session = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request = StartRequest::Sign(SignRequest {
        session: format!("custody-{}-{session}", std::process::id()),
        wallet_id: wallet.to_owned(),
        message: hex::encode(message),
        tweak: Tweak::None,
        authorization: authorization.clone(),
    });
    let answer: Result<StepResponse, NodeCallError> =
        runtime().block_on(client.call(node, paths::START, &request, Duration::from_secs(10)));
    match answer {
        Ok(_) => None,
        Err(NodeCallError::Refused { body, .. }) => {
            Some((body.kind.code().to_owned(), body.message))
        }
        Err(other) => panic!("{node}: {other}"),
    }
}

fn sign_params(wallet: &str, message: &[u8]) -> Value {
    json!({ "walletId": wallet, "message": format!("0x{}", hex::encode(message)) })
}

/// A coordinator process of `role` on the devnet's nodes.
fn coordinator(dir: &Path, role: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_thresig"))
        .args(["coordinator", "--role", role, "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn call_at(port: u16, method: &str, params: Value) -> Value {
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(url.trim_start_matches("http://")).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    raw_call(
        &url,
        &json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }),
    )
}

#[test]
fn forged_replayed_and_out_of_role_requests_are_refused_by_every_node() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let dir = devnet.data_dir().to_path_buf();
    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let wallet = wallet["walletId"].as_str().unwrap().to_owned();
    let nodes = ["node-1", "node-2", "node-3"];
    let coordinator_client = node_client(&dir, CoordinatorRole::All);
    let message = b"pay 1 BTC to alice";

    // A coordinator that forges: no client signature, a signature by a key the manifest does
    // not list, and a genuine request for another message.
    let unsigned = ClientRequest {
        method: "thresig_signMessage".into(),
        params: sign_params(&wallet, message),
    };
    let stranger = ClientRequest {
        method: "thresig_signMessage".into(),
        params: ClientKey::generate()
            .authorize("thresig_signMessage", &sign_params(&wallet, message), 60)
            .unwrap(),
    };
    let other_message =
        devnet.signed_request("thresig_signMessage", sign_params(&wallet, b"pay 1 sat"));
    for node in nodes {
        let (kind, text) = round1(&coordinator_client, node, &wallet, message, &unsigned).unwrap();
        assert_eq!(kind, "unauthorized");
        assert!(text.contains("params.auth is missing"), "{node}: {text}");
        let (kind, text) = round1(&coordinator_client, node, &wallet, message, &stranger).unwrap();
        assert_eq!(kind, "unauthorized");
        assert!(text.contains("is not authorised"), "{node}: {text}");
        let (kind, text) =
            round1(&coordinator_client, node, &wallet, message, &other_message).unwrap();
        assert_eq!(kind, "unauthorized");
        assert!(
            text.contains("does not ask for this message"),
            "{node}: {text}"
        );
    }

    // A coordinator that replays: the genuine request is answered once by each node, then
    // refused, whatever session it comes in.
    let genuine = devnet.signed_request("thresig_signMessage", sign_params(&wallet, message));
    for node in nodes {
        assert_eq!(
            round1(&coordinator_client, node, &wallet, message, &genuine),
            None
        );
        let (kind, text) = round1(&coordinator_client, node, &wallet, message, &genuine).unwrap();
        assert_eq!(kind, "unauthorized");
        assert!(text.contains("already used (replay)"), "{node}: {text}");
    }
    // Through the coordinator too: a request sent twice is refused the second time.
    let params = devnet
        .client_key()
        .authorize("thresig_signMessage", &sign_params(&wallet, b"once"), 60)
        .unwrap();
    assert!(devnet.call_unsigned("thresig_signMessage", params.clone())["result"].is_object());
    let replayed = devnet.call_unsigned("thresig_signMessage", params);
    assert_eq!(replayed["error"]["code"], -32007, "{replayed}");

    // An address-role coordinator asks for a signature, a signing-role one for a DKG.
    let address_client = node_client(&dir, CoordinatorRole::Address);
    let fresh = devnet.signed_request("thresig_signMessage", sign_params(&wallet, message));
    let signing_client = node_client(&dir, CoordinatorRole::Signing);
    let create =
        devnet.signed_request("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    for node in nodes {
        let (kind, text) = round1(&address_client, node, &wallet, message, &fresh).unwrap();
        assert_eq!(kind, "forbidden");
        assert!(text.contains("role address may not sign"), "{node}: {text}");
        let request = StartRequest::Keygen(KeygenRequest {
            session: "role-check".into(),
            wallet_id: "w-role-check".into(),
            scheme: WalletScheme::FROST_ED25519,
            threshold: 2,
            parties: nodes.iter().map(|node| node.to_string()).collect(),
            authorization: create.clone(),
        });
        let refused: Result<StepResponse, NodeCallError> = runtime().block_on(signing_client.call(
            node,
            paths::START,
            &request,
            Duration::from_secs(10),
        ));
        match refused {
            Err(NodeCallError::Refused { body, .. }) => {
                assert_eq!(body.kind.code(), "forbidden");
                assert!(body.message.contains("role signing may not create wallets"));
            }
            other => panic!("{node}: {other:?}"),
        }
    }

    // The coordinator processes: `--role address` creates but does not sign, `--role signing`
    // signs but does not create.
    let address_port = free_port();
    let mut address = coordinator(&dir, "address", address_port);
    let signing_port = free_port();
    let mut signing = coordinator(&dir, "signing", signing_port);
    let key = devnet.client_key();
    let call = |port: u16, method: &str, params: Value| {
        call_at(port, method, key.authorize(method, &params, 60).unwrap())
    };
    let create = json!({ "scheme": "frost-ed25519" });
    let created = call(address_port, "thresig_createWallet", create.clone());
    let created_id = created["result"]["walletId"].as_str().unwrap().to_owned();
    let refused = call(
        address_port,
        "thresig_signMessage",
        sign_params(&created_id, b"x"),
    );
    assert_eq!(refused["error"]["code"], -32008, "{refused}");
    let signed = call(
        signing_port,
        "thresig_signMessage",
        sign_params(&created_id, b"x"),
    );
    assert!(signed["result"]["signature"].is_string(), "{signed}");
    let refused = call(signing_port, "thresig_createWallet", create);
    assert_eq!(refused["error"]["code"], -32008, "{refused}");
    for child in [&mut address, &mut signing] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn expired_and_tampered_client_requests_get_clear_errors() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    let key = devnet.client_key();
    let create = json!({ "scheme": "frost-ed25519" });
    let expired = key
        .authorize_with(
            "thresig_createWallet",
            &create,
            "expired-1",
            thresig_sidecar::cluster::client_auth::now_secs() - 5,
        )
        .unwrap();
    let response = devnet.call_unsigned("thresig_createWallet", expired);
    assert_eq!(response["error"]["code"], -32007, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request expired-1 expired"),
        "{response}"
    );
    let mut tampered = key.authorize("thresig_createWallet", &create, 60).unwrap();
    tampered["threshold"] = json!(3);
    let response = devnet.call_unsigned("thresig_createWallet", tampered);
    assert_eq!(response["error"]["code"], -32007, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{response}"
    );
    // Read-only methods need no signature.
    assert_eq!(devnet.result("thresig_health", json!({}))["status"], "ok");
}
