//! `thresig`: verify signatures, call the precompiles in revm, run and use the signer cluster.
//!
//! The subcommands and their output are stable: scripts depend on them (docs/precompiles.md).

mod audit;
mod client;
mod cluster;
mod demo;
mod hex_arg;
mod precompile_call;
mod verify;
mod wallet;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Threshold signatures for blockchains.
#[derive(Debug, Parser)]
#[command(name = "thresig", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a signature with the precompiles' verification rules.
    ///
    /// Exit status: 0 valid, 1 invalid, 2 malformed input (the reason on stderr). With --batch:
    /// 0 once every line was answered, 2 if the file cannot be read.
    Verify(verify::VerifyArgs),
    /// Work with the EVM precompiles.
    Precompile(PrecompileArgs),
    /// Run a signer node: one share of every wallet, served to coordinators over mutual TLS.
    Node(cluster::NodeArgs),
    /// Run the coordinator: the public JSON-RPC API, driving the nodes.
    Coordinator(cluster::CoordinatorArgs),
    /// Run a whole cluster on this machine until SIGINT or SIGTERM; prints a JSON line when ready.
    Devnet(cluster::DevnetArgs),
    /// Call the coordinator's JSON-RPC API once and print the result as JSON.
    ///
    /// Exit status: 0 with the result on stdout, 1 with the JSON-RPC error on stdout, 2 when the
    /// arguments are malformed or the coordinator cannot be reached, 3 when a wallet answer's
    /// attestations do not verify against the cluster manifest (the node named on stderr).
    Client(client::ClientArgs),
    /// Work with the nodes' audit logs.
    Audit(audit::AuditArgs),
    /// Check wallet answers against the cluster manifest.
    Wallet(wallet::WalletArgs),
    /// The whole toolkit in one run: a devnet, wallets by DKG, a Taproot PSBT and a Solana
    /// transfer signed by the cluster and checked, and a BridgeVault withdrawal the cluster
    /// signed executed in revm; exit 0 only if every step verified.
    Demo(demo::DemoArgs),
}

#[derive(Debug, Args)]
struct PrecompileArgs {
    #[command(subcommand)]
    command: PrecompileCommand,
}

#[derive(Debug, Subcommand)]
enum PrecompileCommand {
    /// Execute a real transaction to a precompile in revm and print one JSON line:
    /// {"success":bool,"precompile_gas":N,"output":"0x...","error":"..."}.
    ///
    /// Exit status: 0 when the transaction executed (whatever the precompile answered), 2 when
    /// the arguments are malformed or the transaction is invalid.
    Call(precompile_call::CallArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; stdout carries only command output.
    let filter = tracing_subscriber::EnvFilter::try_from_env("THRESIG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Node(args) => cluster::node(args),
        Command::Coordinator(args) => cluster::coordinator(args),
        Command::Devnet(args) => cluster::devnet(args),
        Command::Client(args) => client::run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Audit(args) => audit::run(args),
        Command::Wallet(args) => wallet::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Precompile(PrecompileArgs {
            command: PrecompileCommand::Call(args),
        }) => precompile_call::run(args),
    }
}

/// Prints `message` as a malformed-input error and returns exit status 2.
fn malformed(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// A `FILE` argument where `-` means standard input.
fn is_stdin(path: &std::path::Path) -> bool {
    path == std::path::Path::new("-")
}
