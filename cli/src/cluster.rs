//! `thresig node`, `thresig coordinator` and `thresig devnet`: the sidecar's processes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use thresig_sidecar::coordinator::{self, CoordinatorOptions};
use thresig_sidecar::devnet::{self, DevnetOptions};
use thresig_sidecar::keyprovider::FileKeyProvider;
use thresig_sidecar::layout::ClusterLayout;
use thresig_sidecar::node::{self, NodeOptions};

/// Arguments of `thresig node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The cluster directory: cluster.json, ca/ca.pem and this node's directory NODE-ID/.
    #[arg(long)]
    data_dir: PathBuf,
    /// This node's id in the manifest, e.g. node-1.
    #[arg(long)]
    node_id: String,
    /// File holding the key file's passphrase; otherwise $THRESIG_NODE_PASSPHRASE.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

/// Arguments of `thresig coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// The cluster directory: cluster.json, ca/ca.pem, coordinator/cert.pem and key.pem.
    #[arg(long)]
    data_dir: PathBuf,
    /// The JSON-RPC port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

/// Arguments of `thresig devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of signer nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Signatures need this many nodes (the default for new wallets).
    #[arg(long, default_value_t = 2)]
    threshold: u16,
    /// The cluster directory; created on first start, reused (with every wallet) after.
    #[arg(long, default_value = "thresig-devnet")]
    data_dir: PathBuf,
    /// The coordinator's JSON-RPC port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Bitcoin network for Taproot addresses: bitcoin, testnet, signet or regtest.
    #[arg(long, default_value = "regtest")]
    network: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    thresig_sidecar::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("error: starting the async runtime: {error}");
            ExitCode::FAILURE
        })
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Runs `thresig node`.
pub fn node(args: NodeArgs) -> ExitCode {
    let layout = ClusterLayout::new(&args.data_dir);
    let node_layout = layout.node(&args.node_id);
    let passphrase = match &args.passphrase_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|text| text.trim_end().to_owned())
            .map_err(|error| format!("passphrase file {}: {error}", path.display())),
        None => std::env::var("THRESIG_NODE_PASSPHRASE")
            .map_err(|_| "no --passphrase-file and THRESIG_NODE_PASSPHRASE is not set".to_owned()),
    };
    let passphrase = match passphrase {
        Ok(passphrase) => zeroize::Zeroizing::new(passphrase),
        Err(message) => return fail(message),
    };
    let provider = match FileKeyProvider::open(&node_layout.key_file(), passphrase.as_bytes()) {
        Ok(provider) => provider,
        Err(error) => return fail(format!("node {} refuses to start: {error}", args.node_id)),
    };
    drop(passphrase);
    let options = NodeOptions {
        dir: node_layout.dir().to_path_buf(),
        node_id: args.node_id.clone(),
        manifest: layout.manifest(),
        ca_cert: layout.ca_cert(),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(node::run(options, Box::new(provider))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(format!("node {} refuses to start: {error}", args.node_id)),
    }
}

/// Runs `thresig coordinator`.
pub fn coordinator(args: CoordinatorArgs) -> ExitCode {
    let layout = ClusterLayout::new(&args.data_dir);
    let options = CoordinatorOptions {
        manifest: layout.manifest(),
        ca_cert: layout.ca_cert(),
        cert: layout.coordinator_dir().join("cert.pem"),
        key: layout.coordinator_dir().join("key.pem"),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(coordinator::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(format!("coordinator: {error}")),
    }
}

/// Runs `thresig devnet`.
pub fn devnet(args: DevnetArgs) -> ExitCode {
    let executable = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => return fail(format!("finding the thresig executable: {error}")),
    };
    let options = DevnetOptions {
        nodes: args.nodes,
        threshold: args.threshold,
        data_dir: args.data_dir,
        port: args.port,
        network: args.network,
        executable,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(devnet::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(format!("devnet: {error}")),
    }
}
