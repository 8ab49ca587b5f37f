//! `thresig node`, `thresig coordinator` and `thresig devnet`: the sidecar's processes.

use std::path::PathBuf;
use std::process::ExitCode;

use std::path::Path;

use clap::{Args, ValueEnum};
use thresig_sidecar::api::http_access::AccessOptions;
use thresig_sidecar::cluster::layout::{ClusterLayout, NodeLayout};
use thresig_sidecar::cluster::pki::CoordinatorRole;
use thresig_sidecar::custody::key_provider::{FileKeyProvider, KeyProvider};
use thresig_sidecar::custody::pkcs11::{self as hsm, MissingKey, Pkcs11Config, Pkcs11KeyProvider};
use thresig_sidecar::model::identity::NodeIdentity;
use thresig_sidecar::run::coordinator::{self, CoordinatorOptions};
use thresig_sidecar::run::devnet::{self, DevnetOptions, HsmChoice, ROOT_KEY_LABEL};
use thresig_sidecar::run::node::{self, NodeOptions};
use zeroize::Zeroizing;

/// Where a node's root secret lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyProviderKind {
    /// A key file encrypted with a passphrase (Argon2id, AES-256-GCM): NODE-ID/root.key.
    File,
    /// A non-extractable HMAC key in a PKCS#11 token (an HSM; SoftHSM2 on a devnet).
    Pkcs11,
}

/// Arguments of `thresig node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The cluster directory: cluster.json, ca/ca.pem and this node's directory NODE-ID/.
    #[arg(long)]
    data_dir: PathBuf,
    /// This node's id in the manifest, e.g. node-1.
    #[arg(long)]
    node_id: String,
    /// Where the node's root secret lives.
    #[arg(long, value_enum, default_value = "file")]
    key_provider: KeyProviderKind,
    /// file: the file holding the key file's passphrase; otherwise $THRESIG_NODE_PASSPHRASE.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// pkcs11: the PKCS#11 module (default: SoftHSM2's, where it is installed).
    #[arg(long)]
    pkcs11_module: Option<PathBuf>,
    /// pkcs11: the label of the node's token (default: the node id).
    #[arg(long)]
    token_label: Option<String>,
    /// pkcs11: the label of the root key in the token.
    #[arg(long, default_value = ROOT_KEY_LABEL)]
    key_label: String,
    /// pkcs11: the file holding the token's user PIN; otherwise $THRESIG_HSM_PIN.
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// Create the node's root secret (pkcs11: the key, in the token) and its sealed identity,
    /// print the identity's public keys as JSON and exit.
    #[arg(long)]
    init: bool,
    /// pkcs11, with --init: first initialise a free token of the module, labelled as
    /// --token-label says, with the PIN of --pin-file or $THRESIG_HSM_PIN as its user PIN. The
    /// security officer's PIN is random and not kept (devnets).
    #[arg(long, requires = "init")]
    init_token: bool,
    /// A file of pregenerated CGGMP21 safe primes (one pair per node index; otherwise
    /// $THRESIG_CGGMP21_PRIMES). Without either, a node with no primes yet generates its own
    /// in the background, which takes minutes.
    #[arg(long)]
    cggmp21_primes: Option<PathBuf>,
    /// Accept the public test primes of testvectors/cggmp21-primes.json, which a node refuses
    /// otherwise: anyone can read them, so the node's Paillier key is no secret. Test clusters
    /// only (`thresig devnet` passes it when its primes are those); logged at every start.
    #[arg(long)]
    insecure_test_primes: bool,
    /// off: this node takes no part in CGGMP21 (no primes, no aux info), for clusters that
    /// serve only the FROST schemes.
    #[arg(long, value_enum, default_value = "on")]
    cggmp21: Switch,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    /// On.
    On,
    /// Off.
    Off,
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
    /// What this coordinator serves: address (create and derive wallets, never sign), signing
    /// (sign, never create) or all. Its certificate (coordinator/, coordinator-address/ or
    /// coordinator-signing/ in the cluster directory) carries the role and the nodes enforce it.
    #[arg(long, value_enum, default_value = "all")]
    role: RoleArg,
    /// Presignatures to keep ready per cggmp21-secp256k1 wallet, made in the background
    /// (0: each signature makes its own first, which adds the presigning rounds to it).
    #[arg(long, default_value_t = thresig_sidecar::coordinator::DEFAULT_PRESIGNATURE_POOL)]
    presignature_pool: usize,
    #[command(flatten)]
    access: AccessArgs,
}

/// Who may call a JSON-RPC server (the coordinator's, the proxy's) over HTTP.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Also accept requests whose Host header is this (host:port, or host for any port;
    /// repeatable). Without it only the listen address is accepted, and localhost:PORT when
    /// that is a loopback address: a web page that rebinds a DNS name to 127.0.0.1 is refused.
    #[arg(long)]
    allow_host: Vec<String>,
    /// Accept requests that carry this Origin header (scheme://host[:port]; repeatable). Requests
    /// with any other Origin, i.e. from other web pages, are refused with HTTP 403.
    #[arg(long)]
    allow_origin: Vec<String>,
    /// Serve JSON-RPC over WebSocket too (off: upgrades are refused with HTTP 403).
    #[arg(long)]
    websocket: bool,
}

impl AccessArgs {
    /// The options the sidecar's servers take.
    pub fn options(&self) -> AccessOptions {
        AccessOptions {
            allow_hosts: self.allow_host.clone(),
            allow_origins: self.allow_origin.clone(),
            websocket: self.websocket,
        }
    }
}

/// `thresig coordinator --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    /// Create and derive wallets.
    Address,
    /// Sign.
    Signing,
    /// Both.
    All,
}

impl From<RoleArg> for CoordinatorRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Address => CoordinatorRole::Address,
            RoleArg::Signing => CoordinatorRole::Signing,
            RoleArg::All => CoordinatorRole::All,
        }
    }
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
    /// The coordinator's JSON-RPC port on 127.0.0.1; 0 picks a free one, which the ready line
    /// gives.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Bitcoin network for Taproot addresses: bitcoin, testnet, signet or regtest.
    #[arg(long, default_value = "regtest")]
    network: String,
    /// Where each node's root secret lives: a passphrase-encrypted key file, or a SoftHSM2
    /// token of its own (initialised on first start; needs softhsm2 installed).
    #[arg(long, value_enum, default_value = "file")]
    hsm: DevnetHsm,
    /// A file of pregenerated CGGMP21 safe primes, one pair per node (tests); without it each
    /// node generates its own in the background on first start.
    #[arg(long)]
    cggmp21_primes: Option<PathBuf>,
    /// off: the nodes take no part in CGGMP21 (no primes, no aux info; FROST schemes only).
    #[arg(long, value_enum, default_value = "on")]
    cggmp21: Switch,
    /// Presignatures the coordinator keeps ready per cggmp21-secp256k1 wallet.
    #[arg(long, default_value_t = thresig_sidecar::coordinator::DEFAULT_PRESIGNATURE_POOL)]
    presignature_pool: usize,
}

/// `thresig devnet --hsm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DevnetHsm {
    /// A key file per node.
    File,
    /// A SoftHSM2 token per node.
    Softhsm,
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

/// Prints `message` and exits with the status that tells a devnet to try another port.
fn port_taken(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(thresig_sidecar::run::EXIT_ADDRESS_IN_USE)
}

/// A secret from `file` (its first line), or else from the environment variable `variable`.
fn read_secret(
    file: Option<&Path>,
    variable: &str,
    flag: &str,
) -> Result<Zeroizing<String>, String> {
    match file {
        // The whole text is a secret too (the line and what follows it): zeroized as well.
        Some(path) => std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map(|text| Zeroizing::new(text.trim_end().to_owned()))
            .map_err(|error| format!("{flag} {}: {error}", path.display())),
        None => std::env::var(variable)
            .map(Zeroizing::new)
            .map_err(|_| format!("no {flag} and {variable} is not set")),
    }
}

/// The module, token and key a `pkcs11` node uses.
fn pkcs11_config(args: &NodeArgs) -> Result<Pkcs11Config, String> {
    let module = match &args.pkcs11_module {
        Some(module) => module.clone(),
        None => hsm::find_softhsm2_module().ok_or_else(|| {
            format!(
                "no --pkcs11-module, and SoftHSM2 is not installed in any of {}",
                hsm::SOFTHSM2_MODULES.join(", ")
            )
        })?,
    };
    Ok(Pkcs11Config {
        module,
        token_label: args.token_label.clone().unwrap_or(args.node_id.clone()),
        key_label: args.key_label.clone(),
    })
}

/// Opens (or, with `--init`, creates) the key provider `args` describe.
fn key_provider(args: &NodeArgs, node: &NodeLayout) -> Result<Box<dyn KeyProvider>, String> {
    match args.key_provider {
        KeyProviderKind::File => {
            if args.init_token {
                return Err(
                    "--init-token is for --key-provider pkcs11; a key file needs none".into(),
                );
            }
            let passphrase = read_secret(
                args.passphrase_file.as_deref(),
                "THRESIG_NODE_PASSPHRASE",
                "--passphrase-file",
            )?;
            let provider = if args.init {
                FileKeyProvider::create(&node.key_file(), passphrase.as_bytes())
            } else {
                FileKeyProvider::open(&node.key_file(), passphrase.as_bytes())
            };
            Ok(Box::new(provider.map_err(|error| error.to_string())?))
        }
        KeyProviderKind::Pkcs11 => {
            let config = pkcs11_config(args)?;
            let pin = read_secret(args.pin_file.as_deref(), "THRESIG_HSM_PIN", "--pin-file")?;
            if args.init_token {
                hsm::init_free_token(&config.module, &config.token_label, &pin)
                    .map_err(|error| error.to_string())?;
            }
            let missing = if args.init {
                MissingKey::Generate
            } else {
                MissingKey::Refuse
            };
            let provider = Pkcs11KeyProvider::open(&config, &pin, missing)
                .map_err(|error| error.to_string())?;
            Ok(Box::new(provider))
        }
    }
}

/// `thresig node --init`: the node's identity, sealed under its new root secret.
fn init_node(args: &NodeArgs, node: &NodeLayout) -> ExitCode {
    if node.identity_file().exists() {
        return fail(format!(
            "node {} is initialised already ({} exists)",
            args.node_id,
            node.identity_file().display()
        ));
    }
    if let Err(error) = thresig_sidecar::fsutil::create_private_dir(node.dir()) {
        return fail(format!("creating {}: {error}", node.dir().display()));
    }
    let provider = match key_provider(args, node) {
        Ok(provider) => provider,
        Err(message) => return fail(format!("node {}: {message}", args.node_id)),
    };
    let identity = NodeIdentity::generate();
    if let Err(error) = thresig_sidecar::custody::identity::save(
        &identity,
        &node.identity_file(),
        &args.node_id,
        provider.as_ref(),
    ) {
        return fail(format!("node {}: {error}", args.node_id));
    }
    match serde_json::to_string(&identity.public()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(error),
    }
}

/// Runs `thresig node`.
pub fn node(args: NodeArgs) -> ExitCode {
    let layout = ClusterLayout::new(&args.data_dir);
    let node_layout = layout.node(&args.node_id);
    if args.init {
        return init_node(&args, &node_layout);
    }
    let provider = match key_provider(&args, &node_layout) {
        Ok(provider) => provider,
        Err(message) => return fail(format!("node {} refuses to start: {message}", args.node_id)),
    };
    let options = NodeOptions {
        dir: node_layout.dir().to_path_buf(),
        node_id: args.node_id.clone(),
        manifest: layout.manifest(),
        ca_cert: layout.ca_cert(),
        primes: match (
            args.cggmp21,
            args.cggmp21_primes
                .clone()
                .or_else(|| std::env::var_os("THRESIG_CGGMP21_PRIMES").map(PathBuf::from)),
        ) {
            (Switch::Off, _) => thresig_sidecar::node::PrimesSource::Disabled,
            (Switch::On, Some(path)) => thresig_sidecar::node::PrimesSource::Fixture(path),
            (Switch::On, None) => thresig_sidecar::node::PrimesSource::Generate,
        },
        insecure_test_primes: args.insecure_test_primes,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(node::run(options, provider)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(node::NodeStartError::Listen(error)) if error.is_address_in_use() => {
            port_taken(format!("node {} refuses to start: {error}", args.node_id))
        }
        Err(error) => fail(format!("node {} refuses to start: {error}", args.node_id)),
    }
}

/// Runs `thresig coordinator`.
pub fn coordinator(args: CoordinatorArgs) -> ExitCode {
    let layout = ClusterLayout::new(&args.data_dir);
    let role = CoordinatorRole::from(args.role);
    let dir = layout.coordinator_dir_for(role);
    let options = CoordinatorOptions {
        manifest: layout.manifest(),
        ca_cert: layout.ca_cert(),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        role,
        presignature_pool: args.presignature_pool,
        access: args.access.options(),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(coordinator::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(coordinator::CoordinatorRunError::Listen(error)) if error.is_address_in_use() => {
            port_taken(format!("coordinator: {error}"))
        }
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
        hsm: match args.hsm {
            DevnetHsm::File => HsmChoice::File,
            DevnetHsm::Softhsm => HsmChoice::SoftHsm,
        },
        cggmp21_primes: args.cggmp21_primes,
        cggmp21: args.cggmp21 == Switch::On,
        presignature_pool: args.presignature_pool,
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
