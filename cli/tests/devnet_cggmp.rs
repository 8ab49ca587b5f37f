//! CGGMP21 threshold ECDSA across real node processes: a 3-of-5 devnet generates its aux info
//! (from the primes fixture), makes cggmp21-secp256k1 wallets, keeps presignatures ready and
//! signs in one round. Every signature is checked with libsecp256k1 (the `secp256k1` crate),
//! which shares no code with `cggmp21` or the precompiles; Ethereum transactions are decoded by
//! alloy and executed in revm.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, U256, keccak256};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1};
use serde_json::{Value, json};
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::coordinator::NodeCallError;
use thresig_sidecar::model::scheme::WalletScheme;
use thresig_sidecar::wire::envelope::SignedStatement;
use thresig_sidecar::wire::{
    CggmpPresignaturesRequest, CggmpPresignaturesResponse, CggmpSignRequest, HealthResponse,
    KeygenRequest, StartRequest, StepResponse, paths,
};
use thresig_testkit::devnet::{
    Devnet, Proxy, ThresigBinary, node_client, raw_http, runtime, temp_dir, unhex,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

const PRIMES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testvectors/cggmp21-primes.json"
);
const SCHEME: &str = "cggmp21-secp256k1";

fn start(dir: &std::path::Path) -> Devnet {
    Devnet::start_with(
        THRESIG,
        dir.to_path_buf(),
        5,
        3,
        &[],
        &["--cggmp21-primes", PRIMES, "--presignature-pool", "2"],
        false,
    )
}

/// Polls health until `done` holds for its cggmp21 part, failing on an aux-info failure.
fn wait_for(devnet: &Devnet, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let health = devnet.result("thresig_health", json!({}));
        let cggmp = &health["cggmp21"];
        assert_ne!(
            cggmp["auxInfo"]["status"], "failed",
            "aux info failed: {health}"
        );
        if done(cggmp) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {timeout:?}: {health}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn wait_for_aux_info(devnet: &Devnet) {
    wait_for(devnet, "aux info", Duration::from_secs(1200), |cggmp| {
        cggmp["auxInfo"]["status"] == "ready"
    });
}

/// The EIP-55 address of a SEC1 key, computed here with libsecp256k1 and alloy's keccak.
fn address_of(public_key: &[u8]) -> Address {
    let key = PublicKey::from_slice(public_key).unwrap();
    Address::from_slice(&keccak256(&key.serialize_uncompressed()[1..])[12..])
}

/// The key `signature` (r ‖ s ‖ v, v in {0, 1, 27, 28}) over `hash` recovers to, by libsecp256k1;
/// also checks that s is low.
fn recover(hash: &[u8; 32], signature: &[u8]) -> PublicKey {
    assert_eq!(signature.len(), 65, "r ‖ s ‖ v");
    let v = match signature[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        other => panic!("recovery byte {other}"),
    };
    let recoverable =
        RecoverableSignature::from_compact(&signature[..64], RecoveryId::try_from(v).unwrap())
            .unwrap();
    let mut standard = recoverable.to_standard();
    let before = standard;
    standard.normalize_s();
    assert_eq!(before, standard, "s must be low");
    SECP256K1
        .recover_ecdsa(Message::from_digest(*hash), &recoverable)
        .unwrap()
}

/// Signs `message` as EIP-191 (the nodes hash it); returns the answer and the digest, computed
/// here by alloy.
fn sign_personal(devnet: &Devnet, wallet: &str, message: &[u8]) -> (Value, [u8; 32]) {
    let answer = devnet.result(
        "thresig_signMessage",
        json!({
            "walletId": wallet,
            "message": format!("0x{}", hex::encode(message)),
            "encoding": "eip191"
        }),
    );
    (answer, alloy_primitives::eip191_hash_message(message).0)
}

/// Asks `node` directly for a partial signature with presignature `id`, as a coordinator
/// would: for the EIP-191 digest of `message` under a fresh client request for it, or (`raw`)
/// for `message` itself as a raw digest under a client request for that.
fn sign_at_node(
    devnet: &Devnet,
    node: &str,
    wallet: &str,
    id: &str,
    message: &[u8],
    raw: bool,
) -> Result<SignedStatement, NodeCallError> {
    let text = format!("0x{}", hex::encode(message));
    let (params, digest) = if raw {
        (
            json!({ "walletId": wallet, "message": text }),
            message.to_vec(),
        )
    } else {
        (
            json!({ "walletId": wallet, "message": text, "encoding": "eip191" }),
            alloy_primitives::eip191_hash_message(message).to_vec(),
        )
    };
    let request = CggmpSignRequest {
        session: format!("direct-{}", rand::random::<u32>()),
        wallet_id: wallet.to_owned(),
        presignature: id.to_owned(),
        message: hex::encode(digest),
        authorization: devnet.signed_request("thresig_signMessage", params),
    };
    let client = node_client(&devnet.dir, CoordinatorRole::All);
    runtime().block_on(client.call(node, paths::CGGMP_SIGN, &request, Duration::from_secs(10)))
}

fn presignatures_at(devnet: &Devnet, node: &str, wallet: &str) -> CggmpPresignaturesResponse {
    let client = node_client(&devnet.dir, CoordinatorRole::All);
    runtime()
        .block_on(client.call(
            node,
            paths::CGGMP_PRESIGNATURES,
            &CggmpPresignaturesRequest {
                wallet_id: wallet.to_owned(),
            },
            Duration::from_secs(10),
        ))
        .unwrap()
}

fn aux_digest_at(devnet: &Devnet, node: &str) -> Option<String> {
    let client = node_client(&devnet.dir, CoordinatorRole::All);
    let health: HealthResponse = runtime()
        .block_on(client.call(node, paths::HEALTH, &json!({}), Duration::from_secs(10)))
        .unwrap();
    health.cggmp21.aux_info
}

/// Executes a signed EIP-1559 transaction in revm, the sender funded by a genesis allocation;
/// returns the recipient's balance afterwards.
fn execute_in_revm(raw: &[u8], sender: Address, funding: U256) -> U256 {
    use revm::context::TxEnv;
    use revm::context_interface::ContextTr;
    use revm::database::{CacheDB, EmptyDB};
    use revm::primitives::TxKind;
    use revm::state::AccountInfo;
    use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

    let envelope = TxEnvelope::decode_2718(&mut &raw[..]).unwrap();
    let TxEnvelope::Eip1559(signed) = envelope else {
        panic!("not an EIP-1559 transaction");
    };
    let tx = signed.tx();
    let to = tx.to().unwrap();
    let mut db = CacheDB::new(EmptyDB::default());
    db.insert_account_info(
        sender,
        AccountInfo {
            balance: funding,
            ..Default::default()
        },
    );
    let mut context = Context::mainnet().with_db(db);
    context.cfg.chain_id = tx.chain_id;
    context.block.basefee = 1_000_000_000;
    let mut evm = context.build_mainnet();
    let env = TxEnv::builder()
        .tx_type(Some(2))
        .caller(sender)
        .kind(TxKind::Call(to))
        .value(tx.value)
        .data(tx.input.clone())
        .gas_limit(tx.gas_limit)
        .gas_price(tx.max_fee_per_gas)
        .gas_priority_fee(Some(tx.max_priority_fee_per_gas))
        .chain_id(Some(tx.chain_id))
        .nonce(tx.nonce)
        .build()
        .unwrap();
    let result = evm.transact_commit(env).unwrap();
    assert!(result.is_success(), "{result:?}");
    evm.ctx
        .db_ref()
        .cache
        .accounts
        .get(&to)
        .and_then(|account| account.info())
        .map_or(U256::ZERO, |info| info.balance)
}

/// Runs `command` to its exit (killed and failed after 60 s): its status and standard error.
fn exit_of(mut command: Command) -> (std::process::ExitStatus, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// Asserts that a node refused the call because the wallet id is taken.
fn taken<T: std::fmt::Debug>(answer: Result<T, NodeCallError>) {
    match answer {
        Err(NodeCallError::Refused { status, body, .. }) => assert_eq!(
            (status, body.kind.code()),
            (409, "wallet-id-taken"),
            "{body:?}"
        ),
        other => panic!("expected the wallet id to be refused, got {other:?}"),
    }
}

/// EIP-712 typed data of a bridge withdrawal.
fn typed_data() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" },
                { "name": "verifyingContract", "type": "address" }
            ],
            "Withdrawal": [
                { "name": "to", "type": "address" },
                { "name": "amount", "type": "uint256" },
                { "name": "nonce", "type": "uint256" }
            ]
        },
        "primaryType": "Withdrawal",
        "domain": {
            "name": "BridgeVault",
            "version": "1",
            "chainId": 1337,
            "verifyingContract": "0x00000000000000000000000000000000000b1d9e"
        },
        "message": {
            "to": "0x1111111111111111111111111111111111111111",
            "amount": "1000000000000000000",
            "nonce": 7
        }
    })
}

#[test]
fn slow_cggmp21_wallets_sign_in_one_round_and_serve_ethereum_tooling() {
    let dir = temp_dir("cggmp");
    let mut devnet = start(&dir);
    wait_for_aux_info(&devnet);

    // A cggmp21 wallet belongs to every node: the aux info is the cluster's.
    let refused = devnet.call(
        "thresig_createWallet",
        json!({ "scheme": SCHEME, "parties": 4 }),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    let wallet = devnet.result("thresig_createWallet", json!({ "scheme": SCHEME }));
    let wallet_id = wallet["walletId"].as_str().unwrap().to_owned();
    assert_eq!(wallet["threshold"], 3);
    assert_eq!(wallet["parties"], 5);
    let public_key = unhex(wallet["publicKey"].as_str().unwrap());
    assert_eq!(public_key.len(), 33);
    let address = address_of(&public_key);
    assert_eq!(
        wallet["addresses"]["ethereum"],
        address.to_checksum(None),
        "EIP-55 address of the wallet key"
    );
    assert_eq!(
        devnet.result("thresig_getWallet", json!({ "walletId": wallet_id })),
        wallet
    );

    // One-round signing of an EIP-191 message the nodes hash themselves; libsecp256k1
    // recovers the wallet key from r ‖ s ‖ v.
    let (signed, digest) = sign_personal(&devnet, &wallet_id, b"thresig cggmp21: first");
    let signature = unhex(signed["signature"].as_str().unwrap());
    assert_eq!(recover(&digest, &signature).serialize(), public_key[..]);
    assert_eq!(signed["publicKey"], wallet["publicKey"]);
    assert_eq!(signed["signers"].as_array().unwrap().len(), 3);

    // A hostile address-role coordinator cannot reuse a wallet id: not the funded wallet's
    // (by keygen or FROST DKG), and not one another keygen claimed before storing anything.
    let hostile = node_client(&dir, CoordinatorRole::Address);
    let hostile_runtime = runtime();
    let keygen = |session: &str, wallet_id: &str| {
        StartRequest::Keygen(KeygenRequest {
            session: session.to_owned(),
            wallet_id: wallet_id.to_owned(),
            scheme: WalletScheme::Cggmp21Secp256k1,
            threshold: 3,
            parties: (1..=5).map(|index| format!("node-{index}")).collect(),
            authorization: devnet
                .signed_request("thresig_createWallet", json!({ "scheme": SCHEME })),
        })
    };
    let start_at = |node: &str, request: &StartRequest| {
        hostile_runtime.block_on(hostile.call::<_, StepResponse>(
            node,
            paths::START,
            request,
            Duration::from_secs(60),
        ))
    };
    taken(start_at("node-1", &keygen("hostile-keygen-1", &wallet_id)));
    let StartRequest::Keygen(mut frost) = keygen("hostile-dkg-1", &wallet_id) else {
        unreachable!("a keygen start")
    };
    frost.scheme = WalletScheme::FROST_SECP256K1_TR;
    frost.authorization = devnet.signed_request(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr", "threshold": 3 }),
    );
    taken(start_at("node-1", &StartRequest::Keygen(frost)));
    let fresh = format!("w-hostile-{}", rand::random::<u32>());
    start_at("node-2", &keygen("hostile-keygen-2", &fresh)).expect("a keygen under a new id");
    taken(start_at("node-2", &keygen("hostile-keygen-3", &fresh)));
    // The wallet still signs with its key.
    let (after, hash) = sign_personal(
        &devnet,
        &wallet_id,
        b"thresig cggmp21: after a hostile keygen",
    );
    let after = unhex(after["signature"].as_str().unwrap());
    assert_eq!(recover(&hash, &after).serialize(), public_key[..]);

    // EIP-712 typed data, hashed by every node; the digest here is alloy's.
    let typed = typed_data();
    let signed_typed = devnet.result(
        "thresig_signMessage",
        json!({ "walletId": wallet_id, "message": typed.to_string(), "encoding": "eip712" }),
    );
    let digest = serde_json::from_value::<alloy_dyn_abi::TypedData>(typed)
        .unwrap()
        .eip712_signing_hash()
        .unwrap();
    let signature = unhex(signed_typed["signature"].as_str().unwrap());
    assert_eq!(
        address_of(&recover(&digest.0, &signature).serialize()),
        address
    );

    // The presignature forgery (CVE-2025-66017) needs a chosen raw digest signed: the API
    // refuses one for a cggmp21 wallet, and so does every node, even under a client's signed
    // request for it, before it touches a presignature.
    let chosen: [u8; 32] = keccak256(b"h = h* r / r*").0;
    let refused = devnet.call(
        "thresig_signMessage",
        json!({ "walletId": wallet_id, "message": format!("0x{}", hex::encode(chosen)) }),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let reason = refused["error"]["message"].as_str().unwrap();
    assert!(reason.contains("does not sign a raw digest"), "{refused}");
    assert!(reason.contains("eip191"), "{refused}");

    // The pool fills in the background for the preferred signer set.
    wait_for(
        &devnet,
        "a presignature pool",
        Duration::from_secs(300),
        |cggmp| cggmp["presignatures"].as_u64().unwrap_or(0) >= 2,
    );

    // A presignature signs once: a second request for it, even a fresh client request, is
    // refused by the node, which deleted it before its first partial signature left.
    let pool = presignatures_at(&devnet, "node-1", &wallet_id).presignatures;
    let used = pool.first().expect("node-1 holds presignatures").clone();
    let raw = sign_at_node(&devnet, "node-1", &wallet_id, &used.id, &chosen, true)
        .expect_err("a raw digest is refused by the node");
    assert!(
        raw.to_string().contains("does not sign a raw digest"),
        "{raw}"
    );
    assert!(
        presignatures_at(&devnet, "node-1", &wallet_id)
            .presignatures
            .contains(&used),
        "a refused request uses no presignature"
    );
    let replay = b"thresig cggmp21: replay";
    sign_at_node(&devnet, "node-1", &wallet_id, &used.id, replay, false)
        .expect("the first use of a presignature");
    let again = sign_at_node(&devnet, "node-1", &wallet_id, &used.id, b"other", false)
        .expect_err("a presignature is used once");
    assert!(again.to_string().contains("already used"), "{again}");
    assert!(
        !presignatures_at(&devnet, "node-1", &wallet_id)
            .presignatures
            .contains(&used)
    );

    // The presignature node-1 used alone is an orphan at the other signers of its set.
    let orphaned_at: Vec<String> = used
        .signers
        .iter()
        .filter(|signer| *signer != "node-1")
        .cloned()
        .collect();
    for signer in &orphaned_at {
        assert!(
            presignatures_at(&devnet, signer, &wallet_id)
                .presignatures
                .contains(&used)
        );
    }

    // A node of the preferred set dies between presigning and signing: the signature comes
    // from another signer set and a presignature made for it.
    let preferred: Vec<String> = signed["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|signer| signer.as_str().unwrap().to_owned())
        .collect();
    let victim = preferred[1].clone();
    devnet.kill_process(&victim);
    let (signed, hash) = sign_personal(&devnet, &wallet_id, b"thresig cggmp21: after a node died");
    let signers: Vec<&str> = signed["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|signer| signer.as_str().unwrap())
        .collect();
    assert_eq!(signers.len(), 3);
    assert!(!signers.contains(&victim.as_str()), "{signers:?}");
    let signature = unhex(signed["signature"].as_str().unwrap());
    assert_eq!(recover(&hash, &signature).serialize(), public_key[..]);

    // Ethereum tooling through the proxy, which signs each request with the client key.
    let proxy = Proxy::start(&devnet);
    assert_eq!(proxy.accounts, vec![address.to_checksum(None)]);
    assert_eq!(
        proxy.result("eth_accounts", json!([])),
        json!([address.to_checksum(None)])
    );

    let message = b"thresig signs for Ethereum tooling";
    let signature = proxy.result(
        "eth_sign",
        json!([
            address.to_checksum(None),
            format!("0x{}", hex::encode(message))
        ]),
    );
    let signature = unhex(signature.as_str().unwrap());
    assert!(matches!(signature[64], 27 | 28));
    let digest = alloy_primitives::eip191_hash_message(message);
    assert_eq!(
        address_of(&recover(&digest.0, &signature).serialize()),
        address
    );

    let typed = typed_data();
    let signature = proxy.result(
        "eth_signTypedData_v4",
        json!([address.to_checksum(None), typed.to_string()]),
    );
    let signature = unhex(signature.as_str().unwrap());
    let parsed: alloy_dyn_abi::TypedData = serde_json::from_value(typed).unwrap();
    let digest = parsed.eip712_signing_hash().unwrap();
    assert_eq!(
        address_of(&recover(&digest.0, &signature).serialize()),
        address
    );

    let recipient: Address = "0x2222222222222222222222222222222222222222"
        .parse()
        .unwrap();
    let value = U256::from(123_456_789_000_000_000u64);
    let raw = proxy.result(
        "eth_signTransaction",
        json!([{
            "from": address.to_checksum(None),
            "to": recipient.to_checksum(None),
            "value": format!("{value:#x}"),
            "gas": "0x5208",
            "maxFeePerGas": "0x77359400",
            "maxPriorityFeePerGas": "0x3b9aca00",
            "nonce": "0x0",
            "chainId": "0x539"
        }]),
    );
    let raw = unhex(raw.as_str().unwrap());
    let decoded = TxEnvelope::decode_2718(&mut &raw[..]).unwrap();
    assert_eq!(decoded.recover_signer().unwrap(), address);
    assert_eq!(decoded.value(), value);
    assert_eq!(decoded.chain_id(), Some(1337));
    let funding = U256::from(10u64).pow(U256::from(18));
    assert_eq!(execute_in_revm(&raw, address, funding), value);

    // A transaction from another account is refused before anything is signed.
    let foreign = proxy.call(
        "eth_signTransaction",
        json!([{ "from": recipient.to_checksum(None), "to": recipient.to_checksum(None),
                 "gas": "0x5208", "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x1",
                 "nonce": "0x0", "chainId": "0x1" }]),
    );
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    // Without the proxy's bearer token (a web page, another local user) nothing is signed.
    let sign_request = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_sign",
        "params": [address.to_checksum(None), "0x00"] });
    let anonymous = raw_http(
        &proxy.listen,
        &format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json",
            proxy.listen
        ),
        &sign_request.to_string(),
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.json()["error"]["data"]["refused"], "token");
    drop(proxy);

    // A restart keeps the aux info (nothing is generated again), the wallet and the pool; the
    // used presignature stays used.
    let digest_before = aux_digest_at(&devnet, "node-1").expect("aux info at node-1");
    devnet.stop();

    // A node refuses the public test primes, given or already stored, without
    // --insecure-test-primes; the devnet passes that flag, and the node warns of it.
    let node_1 = ClusterLayout::new(&dir).node("node-1");
    for primes in [Some(PRIMES), None] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_thresig"));
        command
            .args(["node", "--node-id", "node-1", "--data-dir"])
            .arg(&dir)
            .arg("--passphrase-file")
            .arg(node_1.passphrase_file());
        if let Some(primes) = primes {
            command.args(["--cggmp21-primes", primes]);
        }
        let (status, stderr) = exit_of(command);
        assert!(!status.success(), "{stderr}");
        assert!(
            stderr.contains("public test primes") && stderr.contains("--insecure-test-primes"),
            "{stderr}"
        );
    }
    let devnet = start(&dir);
    let log = std::fs::read_to_string(node_1.dir().join("node.log")).unwrap();
    assert!(log.contains("started with --insecure-test-primes"), "{log}");
    assert_eq!(aux_digest_at(&devnet, "node-1"), Some(digest_before));
    wait_for_aux_info(&devnet);
    let again = sign_at_node(&devnet, "node-1", &wallet_id, &used.id, replay, false)
        .expect_err("still used after a restart");
    assert!(again.to_string().contains("already used"), "{again}");
    let (signed, hash) = sign_personal(&devnet, &wallet_id, b"thresig cggmp21: after a restart");
    let signature = unhex(signed["signature"].as_str().unwrap());
    assert_eq!(recover(&hash, &signature).serialize(), public_key[..]);
    // The restarted coordinator surveys the pool at every node and deletes the orphans.
    let deadline = Instant::now() + Duration::from_secs(60);
    for signer in &orphaned_at {
        loop {
            let held = presignatures_at(&devnet, signer, &wallet_id);
            if !held.presignatures.contains(&used) && !held.pending.contains(&used) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{signer} still holds the orphan {}",
                used.id
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    // Derivation from a passphrase gives the same wallet again.
    let first = devnet.result(
        "thresig_deriveWallet",
        json!({ "scheme": SCHEME, "passphrase": "cggmp21 recovery drill" }),
    );
    let second = devnet.result(
        "thresig_deriveWallet",
        json!({ "scheme": SCHEME, "passphrase": "cggmp21 recovery drill" }),
    );
    assert_eq!(first, second);
    assert_ne!(first["walletId"], wallet["walletId"]);

    // One coordinator (here one with the signing role, which the devnet's own does not use)
    // may keep only so many CGGMP21 runs, a thread each, open at a node.
    let client = node_client(&devnet.dir, CoordinatorRole::Signing);
    let runtime = runtime();
    let open = |n: u32| {
        let start = StartRequest::Presign {
            session: format!("flood-{n}-{}", rand::random::<u32>()),
            wallet_id: wallet_id.clone(),
            signers: vec!["node-1".into(), "node-2".into(), "node-3".into()],
        };
        runtime.block_on(client.call::<_, StepResponse>(
            "node-1",
            paths::START,
            &start,
            Duration::from_secs(60),
        ))
    };
    for n in 0..16 {
        open(n).unwrap_or_else(|error| panic!("run {n}: {error}"));
    }
    let refused = open(16).expect_err("a 17th run at once is refused");
    assert!(
        refused
            .to_string()
            .contains("the most one coordinator may have at once"),
        "{refused}"
    );

    drop(devnet);
    let _ = std::fs::remove_dir_all(&dir);
}
