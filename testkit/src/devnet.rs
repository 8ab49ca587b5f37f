//! A devnet started from the built `thresig` binary, for tests: free ports, a temporary data
//! directory, JSON-RPC calls, and every process stopped when the handle drops. Only Cargo knows
//! where the binary is (`CARGO_BIN_EXE_thresig`, set for the `thresig` package's own tests and
//! benches), so callers hand it in as a [`ThresigBinary`].

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
// Every sidecar item this module uses, in one place.
use thresig_sidecar::{
    api::client::RpcClient,
    cluster::client_auth::{AUTHORIZED_METHODS, ClientKey, ClientRequest, DEFAULT_VALIDITY_SECS},
    cluster::layout::{ClusterLayout, read_certified_key},
    cluster::manifest::Manifest,
    cluster::pki::CoordinatorRole,
    coordinator::NodeClient,
    install_crypto_provider,
    run::devnet::free_port as sidecar_free_port,
};

/// The path of a built `thresig` binary: `ThresigBinary(env!("CARGO_BIN_EXE_thresig"))`.
#[derive(Clone, Copy, Debug)]
pub struct ThresigBinary(pub &'static str);

impl ThresigBinary {
    /// A command that runs this binary.
    pub fn command(self) -> Command {
        Command::new(self.0)
    }
}

/// A current-thread runtime (with the crypto provider installed) for tests that call nodes
/// directly.
pub fn runtime() -> tokio::runtime::Runtime {
    install_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a `thresig` process for up to five seconds (stdout discarded, stderr kept): its exit
/// status if it ended by then, `None` if it was still running (it is then killed), and what it
/// wrote to stderr.
pub fn run_briefly(command: &mut Command) -> (Option<std::process::ExitStatus>, String) {
    let mut child = command
        .env("THRESIG_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ended = None;
    for _ in 0..100 {
        ended = child.try_wait().unwrap();
        if ended.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if ended.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    (ended, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A running devnet.
pub struct Devnet {
    /// Its data directory.
    pub dir: PathBuf,
    /// The coordinator's JSON-RPC port.
    pub port: u16,
    /// How many nodes it runs.
    pub nodes: u16,
    /// Its signing threshold.
    pub threshold: u16,
    binary: ThresigBinary,
    child: Option<Child>,
    /// Process ids by name (node-1 ..., coordinator).
    pub pids: Vec<(String, u32)>,
    owns_dir: bool,
}

/// A port on 127.0.0.1 that was free when asked.
pub fn free_port() -> u16 {
    sidecar_free_port().expect("a free port on 127.0.0.1")
}

/// `thresig devnet --nodes N --threshold T --data-dir DIR`, for a test to add to and run.
pub fn devnet_command(binary: ThresigBinary, dir: &Path, nodes: u16, threshold: u16) -> Command {
    let mut command = binary.command();
    command
        .args(["devnet", "--nodes", &nodes.to_string()])
        .args(["--threshold", &threshold.to_string()])
        .arg("--data-dir")
        .arg(dir);
    command
}

/// A fresh directory under the system's temporary directory, named after `label`.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "thresig-test-{label}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Devnet {
    /// Starts an n-node devnet with threshold t in a fresh directory.
    pub fn start(binary: ThresigBinary, nodes: u16, threshold: u16) -> Self {
        Self::start_in(binary, temp_dir("devnet"), nodes, threshold, &[], true)
    }

    /// Starts a devnet in `dir` (reusing a cluster there), with extra environment.
    pub fn start_in(
        binary: ThresigBinary,
        dir: PathBuf,
        nodes: u16,
        threshold: u16,
        env: &[(&str, &str)],
        owns_dir: bool,
    ) -> Self {
        Self::start_with(binary, dir, nodes, threshold, env, &[], owns_dir)
    }

    /// Starts a devnet in `dir` (reusing a cluster there), with extra environment and extra
    /// `thresig devnet` arguments.
    pub fn start_with(
        binary: ThresigBinary,
        dir: PathBuf,
        nodes: u16,
        threshold: u16,
        env: &[(&str, &str)],
        args: &[&str],
        owns_dir: bool,
    ) -> Self {
        // Devnets of tests that are not about CGGMP21 make no primes and no aux info: minutes
        // of arithmetic each, which would only slow the suite.
        let cggmp21_off: &[&str] = if args.contains(&"--cggmp21-primes") {
            &[]
        } else {
            &["--cggmp21", "off"]
        };
        let mut command = devnet_command(binary, &dir, nodes, threshold);
        command
            // The devnet picks a free port, and another if a process finds its port taken.
            .args(["--port", "0"])
            .args(cggmp21_off)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // The processes' logs go nowhere; formatting them would only cost time.
            .env("THRESIG_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("devnet starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        // Read to the end so that the devnet never blocks on a full pipe; a failed start shows
        // what it said.
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut devnet = Devnet {
            dir,
            port: 0,
            nodes,
            threshold,
            binary,
            child: Some(child),
            pids: Vec::new(),
            owns_dir,
        };
        // No ready line (or not one that parses): stop the devnet and show what it said.
        let fail = |problem: String| -> ! {
            let mut child = devnet.child.take().unwrap();
            let _ = child.kill();
            let status = child.wait();
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let said = errors.join().unwrap_or_default();
            panic!("{problem}; the devnet ended ({status:?}) saying:\n{said}")
        };
        let line = match receiver.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => fail("the devnet printed no ready line within 120 s".to_owned()),
        };
        let ready: Value = match serde_json::from_str(line.trim()) {
            Ok(ready) => ready,
            Err(error) => fail(format!("ready line {line:?}: {error}")),
        };
        assert_eq!(ready["ready"], true);
        devnet.port = ready["rpc"]
            .as_str()
            .and_then(|url| url.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no port in the ready line {ready}"));
        devnet.pids = ready["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|process| {
                (
                    process["name"].as_str().unwrap().to_owned(),
                    process["pid"].as_u64().unwrap() as u32,
                )
            })
            .collect();
        devnet
    }

    /// The coordinator's JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id of `name` (node-1 ..., coordinator).
    pub fn pid(&self, name: &str) -> u32 {
        self.pids
            .iter()
            .find(|(process, _)| process == name)
            .map(|(_, pid)| *pid)
            .unwrap_or_else(|| panic!("no process {name:?} in the devnet: {:?}", self.pids))
    }

    /// SIGKILLs one process of the cluster.
    pub fn kill_process(&self, name: &str) {
        kill(Pid::from_raw(self.pid(name) as i32), Signal::SIGKILL).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Stops the devnet with SIGTERM and waits for it (and its children) to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        for _ in 0..200 {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the process group goes too.
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
    }

    /// The devnet's client key, which its manifest authorises.
    pub fn client_key(&self) -> ClientKey {
        ClientKey::load(&ClusterLayout::new(&self.dir).client_key()).unwrap()
    }

    /// A Rust client of the coordinator that signs with the devnet's client key.
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient::new(self.url(), Duration::from_secs(60))
            .unwrap()
            .with_client_key(self.client_key())
    }

    /// `method` with `params`, signed with the devnet's client key, as the coordinator forwards
    /// it to the nodes.
    pub fn signed_request(&self, method: &str, params: Value) -> ClientRequest {
        ClientRequest {
            method: method.to_owned(),
            params: self
                .client_key()
                .authorize(method, &params, DEFAULT_VALIDITY_SECS)
                .unwrap(),
        }
    }

    /// Calls `method` with by-name `params`, signed with the devnet's client key when the
    /// method needs it; returns the whole JSON-RPC response.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.call_unsigned(method, signed_params(&self.client_key(), method, params))
    }

    /// Calls `method` with `params` as given (no client signature added).
    pub fn call_unsigned(&self, method: &str, params: Value) -> Value {
        raw_call(
            &self.url(),
            &json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }),
        )
    }

    /// Calls `method` and returns its result, panicking on an error.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A node client with the certificate of the coordinator with `role`.
pub fn node_client(dir: &Path, role: CoordinatorRole) -> NodeClient {
    let layout = ClusterLayout::new(dir);
    let manifest = Manifest::load(&layout.manifest()).unwrap();
    let ca = std::fs::read_to_string(layout.ca_cert()).unwrap();
    let cert_dir = layout.coordinator_dir_for(role);
    let identity =
        read_certified_key(&cert_dir.join("cert.pem"), &cert_dir.join("key.pem")).unwrap();
    NodeClient::new(manifest, &ca, &identity).unwrap()
}

/// `params` signed with `key` when `method` needs a client signature (and `params` is an
/// object, so that tests of malformed params get them through as given); otherwise `params`.
pub fn signed_params(key: &ClientKey, method: &str, params: Value) -> Value {
    if AUTHORIZED_METHODS.contains(&method) && params.is_object() {
        key.authorize(method, &params, DEFAULT_VALIDITY_SECS)
            .unwrap()
    } else {
        params
    }
}

/// POSTs a JSON body to a JSON-RPC endpoint (blocking, on a private runtime).
pub fn raw_call(url: &str, body: &Value) -> Value {
    bearer_call(url, None, body)
}

/// POSTs a JSON body to a JSON-RPC endpoint with `Authorization: Bearer TOKEN` when given.
pub fn bearer_call(url: &str, token: Option<&str>, body: &Value) -> Value {
    runtime().block_on(async {
        let mut request = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(60))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        response.json::<Value>().await.expect("a JSON-RPC response")
    })
}

/// An HTTP answer read off the socket: status code, lower-cased header lines, body.
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<String>,
    pub body: String,
}

impl RawAnswer {
    /// Whether the answer has this header line (lower case, `name: value`).
    pub fn has_header(&self, line: &str) -> bool {
        self.headers.iter().any(|header| header == line)
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {} {:?}", self.status, self.body))
    }
}

/// Sends `head` (request line and headers, CRLF-separated, no final blank line) and `body` to
/// `address` over plain TCP exactly as given, and reads the answer (to the end of the
/// connection, or of the head of a 101 Switching Protocols).
pub fn raw_http(address: &str, head: &str, body: &str) -> RawAnswer {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).unwrap();
        answer.extend_from_slice(&buffer[..read]);
        // A switch of protocols (WebSocket) keeps the connection open: its head is all of it.
        let switched = answer.starts_with(b"HTTP/1.1 101")
            && answer.windows(4).any(|window| window == b"\r\n\r\n");
        if read == 0 || switched {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
    let body = if headers
        .iter()
        .any(|line| line == "transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    RawAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut text: &str) -> String {
    let mut body = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    body
}

/// `thresig client proxy` for a devnet's wallets (with extra arguments), until dropped.
pub struct Proxy {
    child: Child,
    /// host:port it serves on.
    pub listen: String,
    /// Its URL.
    pub url: String,
    /// The accounts it announced.
    pub accounts: Vec<String>,
    /// Its bearer token, read from the token file it announced.
    pub token: String,
    /// The token file it announced.
    pub token_file: PathBuf,
}

impl Proxy {
    /// Starts a proxy for `devnet` (from the devnet's binary).
    pub fn start(devnet: &Devnet) -> Self {
        Self::start_with(devnet, &[])
    }

    /// Starts a proxy for `devnet` with extra `thresig client proxy` arguments.
    pub fn start_with(devnet: &Devnet, args: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut child = devnet
            .binary
            .command()
            .args([
                "client",
                "proxy",
                "--url",
                &devnet.url(),
                "--listen",
                &listen,
            ])
            .arg("--data-dir")
            .arg(&devnet.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
        assert_eq!(ready["ready"], true);
        let token_file = PathBuf::from(ready["tokenFile"].as_str().unwrap());
        let token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_owned();
        Proxy {
            child,
            url: format!("http://{listen}"),
            listen,
            accounts: ready["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|account| account.as_str().unwrap().to_owned())
                .collect(),
            token,
            token_file,
        }
    }

    /// Calls `method` with the proxy's token; returns the whole JSON-RPC response.
    pub fn call(&self, method: &str, params: Value) -> Value {
        bearer_call(
            &self.url,
            Some(&self.token),
            &json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params }),
        )
    }

    /// Calls `method` and returns its result, panicking on an error.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts raw text (for malformed-JSON tests).
pub fn raw_text_call(url: &str, text: &str) -> Value {
    runtime().block_on(async {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(text.to_owned())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

/// Hex (with or without `0x`) decoded.
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim_start_matches("0x")).unwrap()
}

/// Verifies a BIP-340 signature with libsecp256k1.
pub fn verify_bip340(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let secp = secp256k1::Secp256k1::verification_only();
    let key = secp256k1::XOnlyPublicKey::from_byte_array(key.try_into().unwrap()).unwrap();
    let signature = secp256k1::schnorr::Signature::from_byte_array(signature.try_into().unwrap());
    secp.verify_schnorr(&signature, message, &key).is_ok()
}

/// Verifies an Ed25519 signature with ed25519-dalek (strict and cofactored rules).
pub fn verify_ed25519(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let key = ed25519_dalek::VerifyingKey::from_bytes(key.try_into().unwrap()).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(signature).unwrap();
    key.verify_strict(message, &signature).is_ok()
        && ed25519_dalek::Verifier::verify(&key, message, &signature).is_ok()
}
