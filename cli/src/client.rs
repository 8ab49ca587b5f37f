//! `thresig client`: one JSON-RPC call to a coordinator, the result printed as JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cluster::AccessArgs;
use serde_json::{Value, json};
use thresig_sidecar::api::attestation;
use thresig_sidecar::api::client::{ClientError, RpcClient, RpcError};
use thresig_sidecar::api::ethproxy::{self, EthProxy};
use thresig_sidecar::api::http_access;
use thresig_sidecar::cluster::client_auth::ClientKey;
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use zeroize::Zeroizing;

/// Arguments of `thresig client`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ClientArgs {
    #[command(subcommand)]
    command: Option<ClientCommand>,
    #[command(flatten)]
    connection: Connection,
    /// The method, e.g. thresig_createWallet.
    method: Option<String>,
    /// The params: one JSON object with the parameters by name (default `{}`).
    #[arg(conflicts_with = "params_file")]
    params: Option<String>,
    /// Read the params from this file instead, `-` for standard input, so a passphrase need
    /// not appear on the command line.
    #[arg(long)]
    params_file: Option<PathBuf>,
}

/// `thresig client` subcommands.
#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Serve Ethereum remote-signer methods (eth_accounts, eth_sign, personal_sign,
    /// eth_signTransaction, eth_signTypedData_v4) for cggmp21-secp256k1 wallets, signing each
    /// request with the client key on its way to the coordinator; prints a JSON line when
    /// ready and serves until SIGINT or SIGTERM.
    // Boxed: the proxy's arguments are most of the size of the whole command line.
    Proxy(Box<ProxyArgs>),
}

/// Arguments of `thresig client proxy`.
#[derive(Debug, Args)]
struct ProxyArgs {
    #[command(flatten)]
    connection: Connection,
    /// Where to serve the Ethereum methods (keep it on loopback: whoever reaches it can sign).
    #[arg(long, default_value = "127.0.0.1:8545")]
    listen: std::net::SocketAddr,
    /// A wallet to serve (repeatable); default: every cggmp21-secp256k1 wallet of the cluster.
    #[arg(long)]
    wallet: Vec<String>,
    /// The file holding the bearer token every request must carry (`Authorization: Bearer
    /// TOKEN`); created with a random token, mode 0600, if it does not exist. Default:
    /// DATA_DIR/client/proxy.token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    access: AccessArgs,
}

/// How to reach and sign for a coordinator.
#[derive(Debug, Args)]
struct Connection {
    /// The coordinator's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// A devnet's cluster directory: requests that need a client signature are signed with
    /// its client key (DIR/client/client.key).
    #[arg(long, conflicts_with = "client_key")]
    data_dir: Option<PathBuf>,
    /// The client key file (hex Ed25519 secret) that signs requests; the cluster manifest must
    /// list its public key.
    #[arg(long)]
    client_key: Option<PathBuf>,
    /// The cluster manifest that wallet answers are checked against (default with --data-dir:
    /// DIR/cluster.json).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// The methods whose answers describe wallets: their attestations are checked.
const WALLET_METHODS: [&str; 4] = [
    "thresig_createWallet",
    "thresig_deriveWallet",
    "thresig_getWallet",
    "thresig_listWallets",
];

/// Exit status when the coordinator's answer fails its attestation check.
const UNATTESTED: u8 = 3;

impl Connection {
    /// The cluster manifest answers are checked against, if one is given.
    fn manifest(&self) -> Result<Option<Manifest>, String> {
        crate::wallet::manifest_path(self.data_dir.as_deref(), self.manifest.as_deref())
            .map(|path| Manifest::load(&path).map_err(|error| error.to_string()))
            .transpose()
    }

    /// A client of the coordinator, with the client key when one is given.
    fn client(&self) -> Result<RpcClient, String> {
        let key_file = match (&self.data_dir, &self.client_key) {
            (Some(dir), _) => Some(ClusterLayout::new(dir).client_key()),
            (None, file) => file.clone(),
        };
        let key = key_file.map(|file| ClientKey::load(&file)).transpose()?;
        let mut client = RpcClient::new(self.url.clone(), Duration::from_secs(self.timeout))
            .map_err(|error| error.to_string())?;
        if let Some(key) = key {
            client = client.with_client_key(key);
        }
        Ok(client)
    }
}

/// The params text: the argument, the file, standard input, or `{}`.
fn params_text(args: &ClientArgs) -> Result<Zeroizing<String>, String> {
    match (&args.params, &args.params_file) {
        (Some(text), _) => Ok(Zeroizing::new(text.clone())),
        (None, None) => Ok(Zeroizing::new("{}".to_owned())),
        (None, Some(file)) => {
            let mut text = Zeroizing::new(String::new());
            let read = if crate::is_stdin(file) {
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| ())
            } else {
                std::fs::File::open(file)
                    .and_then(|mut opened| std::io::Read::read_to_string(&mut opened, &mut text))
                    .map(|_| ())
            };
            read.map_err(|error| format!("reading the params from {}: {error}", file.display()))?;
            Ok(text)
        }
    }
}

/// Runs `thresig client`: prints the result (exit 0) or the JSON-RPC error object (exit 1) as
/// one JSON line on stdout; bad arguments or an unreachable coordinator exit 2, a wallet
/// answer whose attestations do not verify against the manifest exits 3 (nothing on stdout).
pub fn run(args: ClientArgs) -> ExitCode {
    if let Some(ClientCommand::Proxy(proxy)) = args.command {
        return run_proxy(*proxy);
    }
    let text = match params_text(&args) {
        Ok(text) => text,
        Err(error) => return crate::malformed(error),
    };
    let Some(method) = args.method else {
        return crate::malformed("METHOD is required (or the subcommand proxy)");
    };
    let params: Value = match serde_json::from_str(&text) {
        Ok(params @ Value::Object(_)) => params,
        Ok(_) => return crate::malformed("PARAMS must be one JSON object"),
        Err(error) => return crate::malformed(format!("PARAMS is not JSON: {error}")),
    };
    let checks_wallets = WALLET_METHODS.contains(&method.as_str());
    let manifest = match args.connection.manifest() {
        Ok(manifest) => manifest,
        Err(error) => return crate::malformed(error),
    };
    // A signed request would make a wallet this command could then not check: refused first.
    if checks_wallets
        && manifest.is_none()
        && args.connection.client_key.is_some()
        && matches!(
            method.as_str(),
            "thresig_createWallet" | "thresig_deriveWallet"
        )
    {
        return crate::malformed(format!(
            "{method} answers a wallet that is checked against the cluster manifest: give \
             --data-dir or --manifest"
        ));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return crate::malformed(format!("starting the async runtime: {error}")),
    };
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(error) => return crate::malformed(error),
    };
    let outcome = runtime.block_on(client.call(&method, params));
    match outcome {
        Ok(result) => {
            if checks_wallets {
                let Some(manifest) = &manifest else {
                    return crate::malformed(
                        "the answer describes wallets, which are checked against the cluster \
                         manifest: give --data-dir or --manifest",
                    );
                };
                let shape = attestation::AnswerShape::of_method(&method);
                if let Err(error) = attestation::verify_answer(&result, shape, manifest) {
                    eprintln!("error: the coordinator's answer does not verify: {error}");
                    return ExitCode::from(UNATTESTED);
                }
            }
            println!("{result}");
            ExitCode::SUCCESS
        }
        Err(ClientError::Rpc(error)) => {
            let RpcError {
                code,
                message,
                data,
                ..
            } = *error;
            println!(
                "{}",
                json!({ "error": { "code": code, "message": message, "data": data } })
            );
            ExitCode::FAILURE
        }
        Err(error) => crate::malformed(error),
    }
}

/// Runs `thresig client proxy` until SIGINT or SIGTERM.
fn run_proxy(args: ProxyArgs) -> ExitCode {
    if args.connection.data_dir.is_none() && args.connection.client_key.is_none() {
        return crate::malformed(
            "the proxy signs every request it forwards: give --data-dir or --client-key",
        );
    }
    let token_file = match (&args.token_file, &args.connection.data_dir) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => ClusterLayout::new(dir)
            .client_key()
            .with_file_name("proxy.token"),
        (None, None) => {
            return crate::malformed(
                "the proxy needs a bearer token: give --token-file (or --data-dir)",
            );
        }
    };
    let token = match http_access::load_or_create_token(&token_file) {
        Ok((token, created)) => {
            if created {
                eprintln!(
                    "proxy: created the bearer token file {}",
                    token_file.display()
                );
            }
            token
        }
        Err(error) => return crate::malformed(format!("proxy: {error}")),
    };
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(error) => return crate::malformed(error),
    };
    let manifest = match args.connection.manifest() {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            return crate::malformed(
                "the proxy checks each account's attestations against the cluster manifest: \
                 give --data-dir or --manifest",
            );
        }
        Err(error) => return crate::malformed(error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return crate::malformed(format!("starting the async runtime: {error}")),
    };
    let outcome = runtime.block_on(async {
        let proxy = std::sync::Arc::new(EthProxy::connect(client, &args.wallet, &manifest).await?);
        let accounts = proxy.addresses();
        let (handle, address) =
            ethproxy::serve(proxy, args.listen, &args.access.options(), token).await?;
        println!(
            "{}",
            json!({
                "ready": true,
                "listen": address.to_string(),
                "accounts": accounts,
                "tokenFile": token_file,
            })
        );
        thresig_sidecar::run::shutdown_signal().await;
        let _ = handle.stop();
        handle.stopped().await;
        Ok::<_, String>(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => crate::malformed(format!("proxy: {error}")),
    }
}
