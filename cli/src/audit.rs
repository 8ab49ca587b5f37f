//! `thresig audit verify`: checks every node's hash-chained audit log against the node's
//! identity key in the cluster manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use thresig_sidecar::audit::{AuditError, verify_file};
use thresig_sidecar::layout::ClusterLayout;
use thresig_sidecar::manifest::Manifest;

/// Arguments of `thresig audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check each node's audit log (NODE-ID/audit.log): every record chains to the one before
    /// and carries the node's signature. Prints one line per node and the first bad record.
    ///
    /// Exit status: 0 when every log verifies, 1 when one does not, 2 when the cluster
    /// directory cannot be read.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The cluster directory (cluster.json and one directory per node).
    #[arg(long)]
    data_dir: PathBuf,
    /// Only this node (default: every node of the manifest).
    #[arg(long)]
    node_id: Option<String>,
}

/// Runs `thresig audit`.
pub fn run(args: AuditArgs) -> ExitCode {
    let AuditCommand::Verify(args) = args.command;
    let layout = ClusterLayout::new(&args.data_dir);
    let manifest = match Manifest::load(&layout.manifest()) {
        Ok(manifest) => manifest,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let nodes: Vec<_> = manifest
        .nodes
        .iter()
        .filter(|node| args.node_id.as_deref().is_none_or(|id| id == node.id))
        .collect();
    if nodes.is_empty() {
        eprintln!(
            "error: no node {} in {}",
            args.node_id.unwrap_or_default(),
            layout.manifest().display()
        );
        return ExitCode::from(2);
    }
    let mut intact = true;
    for node in nodes {
        let path = layout.node(&node.id).audit_log();
        match verify_file(&path, &node.identity) {
            Ok((records, _)) => println!("{}: {records} records, chain intact", node.id),
            Err(AuditError::Broken { line, reason, .. }) => {
                intact = false;
                println!("{}: record {line} is bad: {reason}", node.id);
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
