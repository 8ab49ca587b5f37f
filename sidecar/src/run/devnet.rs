//! `thresig devnet`: a whole cluster on this machine. It creates the cluster CA and
//! certificates, each node's key file and identity, and the manifest (once; a restart on the
//! same directory reuses them and so keeps every wallet), starts one process per node and one
//! coordinator, and stops them all on SIGINT or SIGTERM.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::RngCore;
use serde_json::json;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::cluster::client_auth::ClientKey;
use crate::cluster::layout::{ClusterLayout, NodeLayout};
use crate::cluster::manifest::{ClientEntry, Manifest, NodeEntry};
use crate::cluster::pki::{self, CoordinatorRole, Role};
use crate::custody::key_provider::FileKeyProvider;
use crate::model::identity::{NodeIdentity, PublicIdentity};

/// The devnet could not start or run.
#[derive(Debug, Error)]
pub enum DevnetError {
    /// The options or the data directory are not usable.
    #[error("{0}")]
    Setup(String),
    /// A process could not be started or died during start-up.
    #[error("{0}")]
    Process(String),
    /// A process exited during start-up because another program holds its port.
    #[error("{message}")]
    PortTaken {
        /// The process: node-1 … node-N or coordinator.
        process: String,
        /// What it said, with the last lines of its log.
        message: String,
    },
}

/// Options of `thresig devnet`.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Number of signer nodes.
    pub nodes: u16,
    /// Default threshold.
    pub threshold: u16,
    /// The cluster directory.
    pub data_dir: PathBuf,
    /// The coordinator's JSON-RPC port on 127.0.0.1; 0 lets the devnet pick a free one.
    pub port: u16,
    /// The Bitcoin network for Taproot addresses.
    pub network: String,
    /// The `thresig` executable to start the processes with.
    pub executable: PathBuf,
    /// Where each node's root secret lives.
    pub hsm: HsmChoice,
    /// A file of pregenerated CGGMP21 safe primes for the nodes (otherwise each node generates
    /// its own in the background on first start).
    pub cggmp21_primes: Option<PathBuf>,
    /// Whether the nodes take part in CGGMP21 (`false`: no primes, no aux info).
    pub cggmp21: bool,
    /// Presignatures the coordinator keeps ready per cggmp21-secp256k1 wallet.
    pub presignature_pool: usize,
}

/// Where a devnet's nodes keep their root secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HsmChoice {
    /// A passphrase-encrypted key file per node (the embedded default).
    File,
    /// A SoftHSM2 token per node, reached through PKCS#11.
    SoftHsm,
}

impl HsmChoice {
    /// The name `--hsm` takes.
    pub fn name(self) -> &'static str {
        match self {
            HsmChoice::File => "file",
            HsmChoice::SoftHsm => "softhsm",
        }
    }

    /// What the node directory `node` was created with.
    fn of(node: &NodeLayout) -> Self {
        if node.softhsm_conf().exists() {
            HsmChoice::SoftHsm
        } else {
            HsmChoice::File
        }
    }
}

/// The label of every node's root key in its token.
pub const ROOT_KEY_LABEL: &str = "thresig-root";

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> Result<u16, DevnetError> {
    free_port_except(&[])
}

/// A port on 127.0.0.1 that nothing listens on now and that is not in `taken`.
fn free_port_except(taken: &[u16]) -> Result<u16, DevnetError> {
    // Below Linux's ephemeral range (32768 and up by default): a port the kernel may hand to
    // any outgoing connection could be taken between now and the node binding it on a later
    // start (seen in tests).
    for _ in 0..200 {
        let port = 20_000 + (rand::random::<u16>() % 12_000);
        if !taken.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(DevnetError::Setup(
        "found no free port on 127.0.0.1 between 20000 and 32000 in 200 tries".to_owned(),
    ))
}

/// `count` distinct free ports, none of them in `taken`.
fn free_ports(count: usize, taken: &[u16]) -> Result<Vec<u16>, DevnetError> {
    let mut ports = taken.to_vec();
    for _ in 0..count {
        let port = free_port_except(&ports)?;
        ports.push(port);
    }
    Ok(ports.split_off(taken.len()))
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), DevnetError> {
    let result = if private {
        crate::fsutil::write_private(path, bytes)
    } else {
        crate::fsutil::write_public(path, bytes)
    };
    result.map_err(|error| DevnetError::Setup(format!("writing {}: {error}", path.display())))
}

/// Creates the cluster of `options` in `layout` if it has no manifest yet; returns the
/// manifest.
pub fn init_cluster(
    layout: &ClusterLayout,
    options: &DevnetOptions,
) -> Result<Manifest, DevnetError> {
    let (nodes, threshold, network) = (options.nodes, options.threshold, &options.network);
    if layout.manifest().exists() {
        let manifest = Manifest::load(&layout.manifest())
            .map_err(|error| DevnetError::Setup(error.to_string()))?;
        if manifest.nodes.len() != usize::from(nodes) || manifest.threshold != threshold {
            return Err(DevnetError::Setup(format!(
                "{} holds a {}-of-{} cluster, not {threshold}-of-{nodes}; use another --data-dir",
                layout.root().display(),
                manifest.threshold,
                manifest.nodes.len()
            )));
        }
        for node in &manifest.nodes {
            let created = HsmChoice::of(&layout.node(&node.id));
            if created != options.hsm {
                return Err(DevnetError::Setup(format!(
                    "{} keeps {}'s root secret with --hsm {}, not --hsm {}; pass --hsm {}",
                    layout.root().display(),
                    node.id,
                    created.name(),
                    options.hsm.name(),
                    created.name()
                )));
            }
        }
        return Ok(manifest);
    }
    if nodes < 2 || threshold < 2 || threshold > nodes {
        return Err(DevnetError::Setup(format!(
            "need 2 <= threshold <= nodes, got threshold {threshold} of {nodes} nodes"
        )));
    }
    crate::chains::addresses::bitcoin_network(network).map_err(DevnetError::Setup)?;
    let mkdir = |path: &Path| {
        crate::fsutil::create_private_dir(path)
            .map_err(|error| DevnetError::Setup(format!("creating {}: {error}", path.display())))
    };
    mkdir(&layout.ca_dir())?;
    let ca = pki::generate_ca().map_err(|error| DevnetError::Setup(error.to_string()))?;
    write(&layout.ca_cert(), ca.cert_pem.as_bytes(), false)?;
    write(&layout.ca_key(), ca.key_pem.as_bytes(), true)?;
    for role in CoordinatorRole::ALL {
        let dir = layout.coordinator_dir_for(role);
        mkdir(&dir)?;
        let coordinator = pki::issue(&ca, "coordinator", Role::Coordinator(role))
            .map_err(|error| DevnetError::Setup(error.to_string()))?;
        write(
            &dir.join("cert.pem"),
            coordinator.cert_pem.as_bytes(),
            false,
        )?;
        write(&dir.join("key.pem"), coordinator.key_pem.as_bytes(), true)?;
    }
    let client_key = layout.client_key();
    if let Some(dir) = client_key.parent() {
        mkdir(dir)?;
    }
    let client = ClientKey::generate();
    client.save(&client_key).map_err(DevnetError::Setup)?;
    let ports = free_ports(usize::from(nodes), &[options.port])?;
    let mut entries = Vec::new();
    for (index, port) in (1..=nodes).zip(ports) {
        let id = format!("node-{index}");
        let node = layout.node(&id);
        mkdir(node.dir())?;
        let identity = match options.hsm {
            HsmChoice::File => init_file_node(&node, &id)?,
            HsmChoice::SoftHsm => init_softhsm_node(&node, &id, layout, &options.executable)?,
        };
        let certified = pki::issue(&ca, &id, Role::Node)
            .map_err(|error| DevnetError::Setup(error.to_string()))?;
        write(&node.cert(), certified.cert_pem.as_bytes(), false)?;
        write(&node.key(), certified.key_pem.as_bytes(), true)?;
        entries.push(NodeEntry {
            id,
            index,
            endpoint: node_endpoint(port),
            identity,
        });
    }
    let manifest = Manifest {
        version: 1,
        threshold,
        bitcoin_network: network.to_owned(),
        nodes: entries,
        clients: vec![ClientEntry {
            name: "devnet-client".into(),
            public_key: client.public_hex(),
        }],
    };
    manifest.check().map_err(DevnetError::Setup)?;
    manifest
        .save(&layout.manifest())
        .map_err(|error| DevnetError::Setup(error.to_string()))?;
    Ok(manifest)
}

fn node_endpoint(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// Gives every node of `manifest` a new free port, other than `coordinator_port`, and saves it.
fn move_nodes_to_new_ports(
    layout: &ClusterLayout,
    mut manifest: Manifest,
    coordinator_port: u16,
) -> Result<Manifest, DevnetError> {
    // Not the ports the nodes just failed on either.
    let mut taken = node_ports(&manifest);
    taken.push(coordinator_port);
    let ports = free_ports(manifest.nodes.len(), &taken)?;
    for (node, port) in manifest.nodes.iter_mut().zip(ports) {
        node.endpoint = node_endpoint(port);
    }
    manifest
        .save(&layout.manifest())
        .map_err(|error| DevnetError::Setup(error.to_string()))?;
    Ok(manifest)
}

/// A random secret for a devnet file, as hex.
fn devnet_secret(bytes: usize) -> Zeroizing<String> {
    let mut secret = Zeroizing::new(vec![0u8; bytes]);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    Zeroizing::new(hex::encode(&*secret))
}

/// A node whose root secret is in a key file: the file, its passphrase (devnet only: beside it;
/// production nodes take it from the environment or a file the operator provides) and the
/// identity sealed under it.
fn init_file_node(node: &NodeLayout, id: &str) -> Result<PublicIdentity, DevnetError> {
    let passphrase = devnet_secret(32);
    write(&node.passphrase_file(), passphrase.as_bytes(), true)?;
    let provider = FileKeyProvider::create(&node.key_file(), passphrase.as_bytes())
        .map_err(|error| DevnetError::Setup(error.to_string()))?;
    let identity = NodeIdentity::generate();
    crate::custody::identity::save(&identity, &node.identity_file(), id, &provider)
        .map_err(|error| DevnetError::Setup(error.to_string()))?;
    Ok(identity.public())
}

/// A node whose root secret is in its own SoftHSM2 token: `thresig node --init --init-token`,
/// in the node's own environment, initialises the token through PKCS#11 (no PIN on any command
/// line; the security officer's PIN is random and not kept), generates the root key inside it
/// and seals the identity under it. SoftHSM2 reads its configuration from the process
/// environment, which is why each node's set-up runs in a process of its own.
fn init_softhsm_node(
    node: &NodeLayout,
    id: &str,
    layout: &ClusterLayout,
    executable: &Path,
) -> Result<PublicIdentity, DevnetError> {
    crate::fsutil::create_private_dir(&node.token_dir()).map_err(|error| {
        DevnetError::Setup(format!("creating {}: {error}", node.token_dir().display()))
    })?;
    let conf = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        node.token_dir().display()
    );
    write(&node.softhsm_conf(), conf.as_bytes(), false)?;
    let pin = devnet_secret(16);
    write(&node.pin_file(), pin.as_bytes(), true)?;
    let what = "initialising the SoftHSM2 token, its root key and the identity";
    let output = Command::new(executable)
        .args(["node", "--init", "--init-token", "--key-provider", "pkcs11"])
        .args(["--node-id", id])
        .arg("--data-dir")
        .arg(layout.root())
        .arg("--pin-file")
        .arg(node.pin_file())
        .env("SOFTHSM2_CONF", node.softhsm_conf())
        .stdin(Stdio::null())
        .output()
        .map_err(|error| DevnetError::Setup(format!("{what} for {id}: {error}")))?;
    if !output.status.success() {
        return Err(DevnetError::Setup(format!(
            "{what} for {id} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let stdout = output.stdout;
    serde_json::from_slice(&stdout).map_err(|error| {
        DevnetError::Setup(format!(
            "thresig node --init for {id} printed no identity: {error}"
        ))
    })
}

/// The arguments and environment that start `node` with its key provider.
fn node_command(layout: &ClusterLayout, id: &str) -> (Vec<String>, Vec<(String, PathBuf)>) {
    let node = layout.node(id);
    let mut args = vec![
        "node".to_owned(),
        "--data-dir".to_owned(),
        layout.root().display().to_string(),
        "--node-id".to_owned(),
        id.to_owned(),
    ];
    match HsmChoice::of(&node) {
        HsmChoice::File => {
            args.push("--passphrase-file".to_owned());
            args.push(node.passphrase_file().display().to_string());
            (args, Vec::new())
        }
        HsmChoice::SoftHsm => {
            args.extend(["--key-provider".to_owned(), "pkcs11".to_owned()]);
            args.push("--pin-file".to_owned());
            args.push(node.pin_file().display().to_string());
            (
                args,
                vec![("SOFTHSM2_CONF".to_owned(), node.softhsm_conf())],
            )
        }
    }
}

/// A started child process and where its log goes.
struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

fn spawn(
    executable: &Path,
    name: &str,
    args: &[String],
    env: &[(String, PathBuf)],
    log: PathBuf,
) -> Result<Running, DevnetError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|error| DevnetError::Process(format!("{name} log {}: {error}", log.display())))?;
    let errors = file
        .try_clone()
        .map_err(|error| DevnetError::Process(error.to_string()))?;
    let child = Command::new(executable)
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(errors)
        .spawn()
        .map_err(|error| {
            DevnetError::Process(format!(
                "starting {name} ({}): {error}",
                executable.display()
            ))
        })?;
    Ok(Running {
        name: name.to_owned(),
        child,
        log,
    })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Stops every child: SIGTERM, then SIGKILL after five seconds.
fn stop_all(children: &mut [Running]) {
    for running in children.iter() {
        if let Ok(pid) = i32::try_from(running.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for running in children.iter_mut() {
        loop {
            match running.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = running.child.kill();
                    let _ = running.child.wait();
                    break;
                }
            }
        }
    }
}

/// A devnet whose processes are running and healthy. Dropping it stops every process.
pub struct RunningDevnet {
    layout: ClusterLayout,
    port: u16,
    children: Vec<Running>,
}

impl RunningDevnet {
    /// The coordinator's JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The cluster directory.
    pub fn data_dir(&self) -> &Path {
        self.layout.root()
    }

    /// `(name, pid)` of every process: node-1 … node-N, then the coordinator.
    pub fn processes(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .map(|running| (running.name.clone(), running.child.id()))
            .collect()
    }

    /// Stops every process: SIGTERM, then SIGKILL after five seconds.
    pub fn stop(mut self) {
        stop_all(&mut self.children);
        // Reaped: Drop must not signal their (possibly reused) pids again.
        self.children.clear();
    }
}

impl Drop for RunningDevnet {
    fn drop(&mut self) {
        stop_all(&mut self.children);
    }
}

/// How many times a devnet starts its processes when one of them finds its port taken: another
/// program on the machine may bind a port between the devnet finding it free and using it.
const START_ATTEMPTS: usize = 4;

/// Creates the cluster if needed, starts its processes and waits until every node answers.
pub async fn start(options: &DevnetOptions) -> Result<RunningDevnet, DevnetError> {
    let layout = ClusterLayout::new(&options.data_dir);
    // The nodes of a cluster created by this call may move to other ports: no one else has
    // seen its manifest yet. An existing cluster keeps the ports its manifest gives.
    let created = !layout.manifest().exists();
    let mut manifest = init_cluster(&layout, options)?;
    let pick_coordinator_port = |manifest: &Manifest| free_port_except(&node_ports(manifest));
    if options.port != 0 && node_ports(&manifest).contains(&options.port) {
        return Err(DevnetError::Setup(format!(
            "--port {} is a node's port in {}; pass another, or --port 0 for any free one",
            options.port,
            layout.manifest().display()
        )));
    }
    let mut port = match options.port {
        0 => pick_coordinator_port(&manifest)?,
        port => port,
    };
    let mut attempt = 1;
    loop {
        let (process, message) = match launch(&layout, &manifest, options, port).await {
            Err(DevnetError::PortTaken { process, message }) => (process, message),
            result => return result,
        };
        let is_coordinator = process == COORDINATOR;
        let movable = if is_coordinator {
            options.port == 0
        } else {
            created
        };
        if !movable || attempt == START_ATTEMPTS {
            let hint = match (is_coordinator, movable) {
                (true, false) => "pass another --port, or --port 0 for any free one",
                (false, false) => {
                    "the cluster's node ports are in its cluster.json: stop what holds the \
                     port, or use another --data-dir"
                }
                (_, true) => "ports were taken on every one of the devnet's tries",
            };
            return Err(DevnetError::PortTaken {
                process,
                message: format!("{message}\n{hint}"),
            });
        }
        tracing::warn!(%process, %message, "port taken; starting again on another");
        if is_coordinator {
            port = pick_coordinator_port(&manifest)?;
        } else {
            manifest = move_nodes_to_new_ports(&layout, manifest, port)?;
        }
        attempt += 1;
    }
}

/// The name of the coordinator process.
const COORDINATOR: &str = "coordinator";

/// The ports of the nodes' endpoints.
fn node_ports(manifest: &Manifest) -> Vec<u16> {
    manifest
        .nodes
        .iter()
        .filter_map(|node| node.endpoint.rsplit(':').next()?.parse().ok())
        .collect()
}

/// Starts the cluster's processes, the coordinator on `port`, and waits until every node
/// answers. If any process fails, those that did start are stopped.
async fn launch(
    layout: &ClusterLayout,
    manifest: &Manifest,
    options: &DevnetOptions,
    port: u16,
) -> Result<RunningDevnet, DevnetError> {
    // A port held for good (another devnet's coordinator, say) is found before anything
    // starts: otherwise the health check below could be answered by whatever holds it.
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Err(DevnetError::PortTaken {
            process: COORDINATOR.to_owned(),
            message: format!("the coordinator's port 127.0.0.1:{port} is taken"),
        });
    }
    let path = |path: PathBuf| path.display().to_string();
    // Built up inside the struct so that a failure part-way stops what did start.
    let mut devnet = RunningDevnet {
        layout: layout.clone(),
        port,
        children: Vec::new(),
    };
    for node in &manifest.nodes {
        let (mut args, env) = node_command(layout, &node.id);
        if let Some(primes) = &options.cggmp21_primes {
            args.push("--cggmp21-primes".to_owned());
            args.push(path(primes.clone()));
            // A node refuses the public test primes unless told this is a test cluster; a
            // fixture that does not read is left to the node to report.
            if crate::protocols::cggmp::primes::fixture_has_test_primes(primes).unwrap_or(false) {
                args.push("--insecure-test-primes".to_owned());
            }
        }
        if !options.cggmp21 {
            args.extend(["--cggmp21".to_owned(), "off".to_owned()]);
        }
        let log = layout.node(&node.id).dir().join("node.log");
        devnet
            .children
            .push(spawn(&options.executable, &node.id, &args, &env, log)?);
    }
    let args = vec![
        COORDINATOR.to_owned(),
        "--data-dir".to_owned(),
        path(layout.root().to_path_buf()),
        "--port".to_owned(),
        port.to_string(),
        "--presignature-pool".to_owned(),
        options.presignature_pool.to_string(),
    ];
    let log = layout.coordinator_dir().join("coordinator.log");
    devnet
        .children
        .push(spawn(&options.executable, COORDINATOR, &args, &[], log)?);
    wait_until_healthy(port, &mut devnet.children).await?;
    Ok(devnet)
}

/// Runs the devnet until SIGINT or SIGTERM; prints one JSON line when the cluster is ready.
pub async fn run(options: DevnetOptions) -> Result<(), DevnetError> {
    let devnet = start(&options).await?;
    let ready = json!({
        "ready": true,
        "rpc": devnet.url(),
        "dataDir": devnet.data_dir().display().to_string(),
        "processes": devnet
            .processes()
            .into_iter()
            .map(|(name, pid)| json!({ "name": name, "pid": pid }))
            .collect::<Vec<_>>(),
    });
    println!("{ready}");
    tracing::info!("devnet ready; stop with SIGINT or SIGTERM");
    crate::run::shutdown_signal().await;
    devnet.stop();
    Ok(())
}

async fn wait_until_healthy(port: u16, children: &mut [Running]) -> Result<(), DevnetError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|error| DevnetError::Process(error.to_string()))?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for running in children.iter_mut() {
            if let Ok(Some(status)) = running.child.try_wait() {
                let message = format!(
                    "{} exited during start-up ({status}); last log lines:\n{}",
                    running.name,
                    log_tail(&running.log)
                );
                return Err(
                    if status.code() == Some(i32::from(crate::run::EXIT_ADDRESS_IN_USE)) {
                        DevnetError::PortTaken {
                            process: running.name.clone(),
                            message,
                        }
                    } else {
                        DevnetError::Process(message)
                    },
                );
            }
        }
        let request =
            json!({ "jsonrpc": "2.0", "id": 1, "method": "thresig_health", "params": {} });
        if let Ok(response) = client.post(&url).json(&request).send().await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && body["result"]["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().all(|node| node["reachable"] == true))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DevnetError::Process(format!(
                "the cluster did not become healthy within 60 s; see the logs under {url}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
