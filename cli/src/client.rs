//! `thresig client`: one JSON-RPC call to a coordinator, the result printed as JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use thresig_sidecar::auth::ClientKey;
use thresig_sidecar::client::{ClientError, RpcClient, RpcError};
use thresig_sidecar::layout::ClusterLayout;

/// Arguments of `thresig client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
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
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// The method, e.g. thresig_createWallet.
    method: String,
    /// The params: one JSON object with the parameters by name.
    #[arg(default_value = "{}")]
    params: String,
}

/// Runs `thresig client`: prints the result (exit 0) or the JSON-RPC error object (exit 1) as
/// one JSON line on stdout; bad arguments or an unreachable coordinator exit 2.
pub fn run(args: ClientArgs) -> ExitCode {
    let params: Value = match serde_json::from_str(&args.params) {
        Ok(params @ Value::Object(_)) => params,
        Ok(_) => return crate::malformed("PARAMS must be one JSON object"),
        Err(error) => return crate::malformed(format!("PARAMS is not JSON: {error}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return crate::malformed(format!("starting the async runtime: {error}")),
    };
    let key_file = match (&args.data_dir, &args.client_key) {
        (Some(dir), _) => Some(ClusterLayout::new(dir).client_key()),
        (None, file) => file.clone(),
    };
    let key = match key_file.map(|file| ClientKey::load(&file)).transpose() {
        Ok(key) => key,
        Err(error) => return crate::malformed(error),
    };
    let outcome = runtime.block_on(async {
        let mut client = RpcClient::new(args.url.clone(), Duration::from_secs(args.timeout))?;
        if let Some(key) = key {
            client = client.with_client_key(key);
        }
        client.call(&args.method, params).await
    });
    match outcome {
        Ok(result) => {
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
