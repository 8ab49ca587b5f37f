//! `thresig wallet verify`: checks a saved wallet answer's attestations against the cluster
//! manifest, as `thresig client` checks live answers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use thresig_sidecar::api::attestation;
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;

/// Arguments of `thresig wallet`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(Debug, Subcommand)]
enum WalletCommand {
    /// Check a saved wallet answer (createWallet, deriveWallet, getWallet or listWallets, bare
    /// or as a JSON-RPC response): every node holding a share must attest it under its
    /// manifest identity, and the addresses must be those of the attested key. Prints
    /// {"valid":true,"wallets":N} when it holds.
    ///
    /// Exit status: 0 valid, 1 invalid (the reason, naming the node, on stderr), 2 when the
    /// input or the manifest cannot be read.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The cluster directory whose cluster.json lists the nodes.
    #[arg(long, required_unless_present = "manifest")]
    data_dir: Option<PathBuf>,
    /// The cluster manifest (instead of --data-dir).
    #[arg(long, conflicts_with = "data_dir")]
    manifest: Option<PathBuf>,
    /// The saved answer (JSON); `-` for standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// The manifest a command checks answers against: `--manifest FILE`, or DIR/cluster.json.
pub fn manifest_path(data_dir: Option<&Path>, manifest: Option<&Path>) -> Option<PathBuf> {
    manifest
        .map(Path::to_path_buf)
        .or_else(|| data_dir.map(|dir| ClusterLayout::new(dir).manifest()))
}

/// Runs `thresig wallet`.
pub fn run(args: WalletArgs) -> ExitCode {
    let WalletCommand::Verify(args) = args.command;
    let Some(path) = manifest_path(args.data_dir.as_deref(), args.manifest.as_deref()) else {
        return crate::malformed("give --data-dir or --manifest");
    };
    let manifest = match Manifest::load(&path) {
        Ok(manifest) => manifest,
        Err(error) => return crate::malformed(error),
    };
    let mut text = String::new();
    let read = if crate::is_stdin(&args.file) {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(&args.file).map(|contents| text = contents)
    };
    if let Err(error) = read {
        return crate::malformed(format!("reading {}: {error}", args.file.display()));
    }
    let answer: Value = match serde_json::from_str(&text) {
        Ok(answer) => answer,
        Err(error) => return crate::malformed(format!("the answer is not JSON: {error}")),
    };
    match attestation::verify_answer(&answer, None, &manifest) {
        Ok(wallets) => {
            println!("{}", json!({ "valid": true, "wallets": wallets }));
            ExitCode::SUCCESS
        }
        Err(attestation::AttestationError::Malformed(reason)) => crate::malformed(reason),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
