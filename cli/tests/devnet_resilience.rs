//! Losing nodes, restarting the cluster, malformed requests, callers from foreign web pages and
//! connection floods: clear JSON-RPC errors, never a hang, and wallets that outlive the
//! processes.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::node::MAX_HANDSHAKES;
use thresig_testkit::devnet::{
    Devnet, Proxy, RawAnswer, ThresigBinary, devnet_command, free_port, raw_http, raw_text_call,
    temp_dir, unhex, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

#[test]
fn signing_goes_on_without_one_node_and_names_the_missing_ones_below_threshold() {
    let devnet = Devnet::start(THRESIG, 3, 2);
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
        let devnet = Devnet::start_in(THRESIG, dir.clone(), 3, 2, &[], false);
        let taproot = devnet.result(
            "thresig_createWallet",
            json!({ "scheme": "frost-secp256k1-tr" }),
        );
        let ed = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
        (taproot, ed)
    };
    let devnet = Devnet::start_in(THRESIG, dir.clone(), 3, 2, &[], true);
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
    let output = devnet_command(THRESIG, &dir, 5, 3)
        .args(["--port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds a 2-of-3 cluster"));
}

#[test]
fn malformed_requests_foreign_web_callers_and_connection_floods_leave_the_cluster_working() {
    let devnet = Devnet::start(THRESIG, 3, 2);
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
    foreign_web_callers_are_refused(&devnet);
    let key = unhex(wallet["publicKey"].as_str().unwrap());
    a_connection_flood_does_not_stop_signing(&devnet, id, &key);
}

/// An HTTP refusal as the servers answer it: the status, and a JSON-RPC error whose data names
/// what was refused.
fn assert_refused(answer: &RawAnswer, status: u16, refused: &str, case: &str) {
    assert_eq!(answer.status, status, "{case}: {}", answer.body);
    let body = answer.json();
    let code = if status == 401 { -32007 } else { -32008 };
    assert_eq!(body["jsonrpc"], "2.0", "{case}: {body}");
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    assert_eq!(body["error"]["data"]["refused"], refused, "{case}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    let word = if refused == "token" {
        "bearer token"
    } else {
        refused
    };
    assert!(
        message.to_ascii_lowercase().contains(word),
        "{case}: {message:?} does not say {word}"
    );
    assert!(body.get("result").is_none(), "{case}: {body}");
}

/// The coordinator and the Ethereum proxy answer only requests addressed to them (not a name
/// rebound to 127.0.0.1), from no foreign web page, over plain HTTP (no WebSocket), and the proxy
/// only with its bearer token; raw requests as a browser would send them get 403 or 401.
fn foreign_web_callers_are_refused(devnet: &Devnet) {
    let proxy = Proxy::start(devnet);
    let mode = std::fs::metadata(&proxy.token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is the owner's only");
    let coordinator = format!("127.0.0.1:{}", devnet.port);
    let health = json!({ "jsonrpc": "2.0", "id": 1, "method": "thresig_health", "params": {} });
    let accounts = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": [] });
    let bearer = format!("Authorization: Bearer {}", proxy.token);
    let servers = [
        ("coordinator", &coordinator, health, ""),
        ("proxy", &proxy.listen, accounts, bearer.as_str()),
    ];
    for (server, address, body, credentials) in servers {
        let body = body.to_string();
        let send = |method: &str, host: &str, extra: &[&str]| {
            let mut head = format!("{method} / HTTP/1.1\r\nHost: {host}");
            for line in [&["Content-Type: application/json", credentials][..], extra].concat() {
                if !line.is_empty() {
                    head.push_str("\r\n");
                    head.push_str(line);
                }
            }
            raw_http(address, &head, &body)
        };
        let port = address.rsplit(':').next().unwrap();
        for host in [address.clone(), format!("localhost:{port}")] {
            let answer = send("POST", &host, &[]);
            assert_eq!(answer.status, 200, "{server} as {host}: {}", answer.body);
            assert!(answer.json()["result"].is_object() || answer.json()["result"].is_array());
        }
        let rebound = format!("wallet-drainer.example:{port}");
        let cases = [
            ("a foreign Host", send("POST", &rebound, &[]), "host"),
            ("another port", send("POST", "127.0.0.1:1", &[]), "host"),
            (
                "a foreign Origin",
                send("POST", address, &["Origin: https://wallet-drainer.example"]),
                "origin",
            ),
            (
                "an opaque Origin",
                send("POST", address, &["Origin: null"]),
                "origin",
            ),
            (
                "a WebSocket upgrade",
                send(
                    "GET",
                    address,
                    &[
                        "Connection: Upgrade",
                        "Upgrade: websocket",
                        "Sec-WebSocket-Version: 13",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    ],
                ),
                "websocket",
            ),
        ];
        for (case, answer, refused) in cases {
            assert_refused(&answer, 403, refused, &format!("{server}, {case}"));
        }
    }
    // The proxy wants its token: none, a wrong one, or one of another scheme are refused.
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": [] });
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json",
        proxy.listen
    );
    let (kept, last) = proxy.token.split_at(proxy.token.len() - 1);
    let wrong = format!("{kept}{}", if last == "0" { "1" } else { "0" });
    for (case, credentials) in [
        ("no token", String::new()),
        (
            "a wrong token",
            format!("\r\nAuthorization: Bearer {wrong}"),
        ),
        (
            "basic credentials",
            format!("\r\nAuthorization: Basic {}", proxy.token),
        ),
    ] {
        let answer = raw_http(
            &proxy.listen,
            &format!("{head}{credentials}"),
            &body.to_string(),
        );
        assert_refused(&answer, 401, "token", &format!("proxy, {case}"));
        assert!(
            answer.has_header("www-authenticate: bearer"),
            "{case}: {:?}",
            answer.headers
        );
    }
    assert_eq!(proxy.result("eth_accounts", json!([])), json!([]));
    drop(proxy);

    // What the operator allows is served: WebSocket, and a web origin (with CORS headers).
    let proxy = Proxy::start_with(
        devnet,
        &["--websocket", "--allow-origin", "https://app.example"],
    );
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}",
        proxy.listen, proxy.token
    );
    let allowed = raw_http(
        &proxy.listen,
        &format!("{head}\r\nContent-Type: application/json\r\nOrigin: https://app.example"),
        &body.to_string(),
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.json()["result"], json!([]));
    assert!(
        allowed.has_header("access-control-allow-origin: https://app.example"),
        "{:?}",
        allowed.headers
    );
    let upgrade = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    .join("\r\n");
    let websocket = raw_http(
        &proxy.listen,
        &format!("{}\r\n{upgrade}", head.replacen("POST", "GET", 1)),
        "",
    );
    assert_eq!(websocket.status, 101, "{}", websocket.body);
    let anonymous = raw_http(
        &proxy.listen,
        &format!("GET / HTTP/1.1\r\nHost: {}\r\n{upgrade}", proxy.listen),
        "",
    );
    assert_refused(
        &anonymous,
        401,
        "token",
        "a WebSocket upgrade without the token",
    );
}

/// Raises this process's soft limit on open files to its hard limit; returns the limit.
fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    hard
}

/// Whether the node has closed `stream` (or answered it, as it answers garbage with an alert).
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        // End of stream (closed) or an alert (garbage refused): the node is done with it.
        Ok(0 | 1) => true,
        Ok(_) => unreachable!("read one byte at most"),
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Opens `count` TCP connections to `node` that never start a TLS handshake (every eighth sends
/// garbage instead), reports how many the node has closed once it has caught up, then keeps up
/// the pressure, replacing the oldest connection with a new one every 2 ms, until `stop`.
fn flood(
    node: String,
    count: usize,
    stop: Arc<AtomicBool>,
    report: std::sync::mpsc::Sender<(String, usize, usize)>,
) {
    let open = |index: usize| -> Option<TcpStream> {
        let mut stream =
            TcpStream::connect_timeout(&node.parse().unwrap(), Duration::from_secs(2)).ok()?;
        if index.is_multiple_of(8) {
            let _ = stream.write_all(&rand::random::<[u8; 32]>());
        }
        stream.set_nonblocking(true).ok()?;
        Some(stream)
    };
    let mut held: VecDeque<TcpStream> = (0..count).filter_map(&open).collect();
    // The node accepts from its backlog at its own pace: wait (less than the handshake
    // timeout, so that only the cap can explain what is closed) until it has caught up.
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut closed = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        closed = held
            .iter_mut()
            .map(closed_by_peer)
            .filter(|closed| *closed)
            .count();
        if closed + 2 * MAX_HANDSHAKES >= held.len() {
            break;
        }
    }
    let _ = report.send((node.clone(), held.len(), closed));
    let mut index = count;
    while !stop.load(Ordering::Relaxed) {
        held.pop_front();
        if let Some(stream) = open(index) {
            held.push_back(stream);
        }
        index += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Thousands of unauthenticated connections to every node (idle or sending garbage) do not keep
/// the coordinator from signing through the nodes: the nodes keep only MAX_HANDSHAKES of them,
/// dropping the oldest for each new one, and a signature under the flood takes at most 2 s more
/// than one before it.
fn a_connection_flood_does_not_stop_signing(devnet: &Devnet, wallet: &str, key: &[u8]) {
    let sign = |message: &[u8]| -> Duration {
        let started = Instant::now();
        let signed = devnet.result(
            "thresig_signMessage",
            json!({ "walletId": wallet, "message": format!("0x{}", hex::encode(message)) }),
        );
        let elapsed = started.elapsed();
        let signature = unhex(signed["signature"].as_str().unwrap());
        assert!(verify_ed25519(key, message, &signature), "{signed}");
        elapsed
    };
    let normal = sign(b"before the flood");

    let limit = raise_open_file_limit();
    let nodes: Vec<String> = Manifest::load(&ClusterLayout::new(&devnet.dir).manifest())
        .unwrap()
        .nodes
        .into_iter()
        .map(|node| node.endpoint.trim_start_matches("https://").to_owned())
        .collect();
    // Leave room for the rest of the test process (other tests' devnets and clients).
    let per_node = 1500.min(usize::try_from(limit.saturating_sub(512)).unwrap() / nodes.len());
    assert!(
        per_node >= 4 * MAX_HANDSHAKES,
        "the open-file limit {limit} is too low for this test; raise it to 8192"
    );
    let stop = Arc::new(AtomicBool::new(false));
    // A failed assertion below stops the floods too: no thread goes on flooding after this test.
    let _stop_on_exit = StopOnDrop(Arc::clone(&stop));
    let (report, reports) = std::sync::mpsc::channel();
    let floods: Vec<_> = nodes
        .iter()
        .map(|node| {
            let (node, stop, report) = (node.clone(), Arc::clone(&stop), report.clone());
            std::thread::spawn(move || flood(node, per_node, stop, report))
        })
        .collect();
    for _ in &nodes {
        let (node, opened, closed) = reports.recv_timeout(Duration::from_secs(120)).unwrap();
        assert!(
            opened >= per_node / 2,
            "only {opened} connections to {node} opened"
        );
        assert!(
            closed + 2 * MAX_HANDSHAKES >= opened,
            "{node} still holds {} of {opened} unauthenticated connections",
            opened - closed
        );
    }
    // The coordinator's pooled connections to the nodes expire after 5 idle seconds, so that the
    // next signature needs new handshakes through the flood, which goes on meanwhile.
    std::thread::sleep(Duration::from_secs(6));
    let loaded = sign(b"during the flood");
    stop.store(true, Ordering::Relaxed);
    for flood in floods {
        flood.join().unwrap();
    }
    assert!(
        loaded <= normal + Duration::from_secs(2),
        "a signature took {loaded:?} under the flood, {normal:?} before it"
    );
    let _: Value = devnet.result("thresig_health", json!({}));
}
