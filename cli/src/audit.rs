//! `thresig audit verify`: checks every node's hash-chained audit log against the node's
//! identity key in the cluster manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use thresig_sidecar::cluster::layout::ClusterLayout;
use thresig_sidecar::cluster::manifest::Manifest;
use thresig_sidecar::custody::audit::{AuditError, verify_log};
use thresig_sidecar::custody::store::read_audit_anchor;

/// Arguments of `thresig audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check each node's audit log (NODE-ID/audit.log): every record chains to the one before
    /// and carries the node's signature, and the log still reaches the last record the node's
    /// store anchored (so records cut off the end, or a deleted log, are found). Prints one
    /// line per node and the first bad record.
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
        let node_layout = layout.node(&node.id);
        let path = node_layout.audit_log();
        let anchor = match read_audit_anchor(&node_layout.db_dir()) {
            Ok(anchor) => anchor,
            Err(error) => {
                eprintln!("error: {}: reading its audit anchor: {error}", node.id);
                return ExitCode::from(2);
            }
        };
        if let Some(anchor) = &anchor
            && !anchor.verify(&node.id, &node.identity)
        {
            intact = false;
            println!(
                "{}: the audit anchor in its store does not carry its signature",
                node.id
            );
            continue;
        }
        match verify_log(&path, &node.identity, anchor.as_ref()) {
            Ok(summary) => {
                let torn = summary.torn_tail.map_or(String::new(), |torn| {
                    format!(
                        "; a torn last record ({} bytes, a write cut short by a crash) is \
                         dropped at the node's next start",
                        torn.bytes
                    )
                });
                println!(
                    "{}: {} records, chain intact{torn}",
                    node.id, summary.records
                );
            }
            Err(AuditError::Broken { line, reason, .. }) => {
                intact = false;
                println!("{}: record {line} is bad: {reason}", node.id);
            }
            Err(AuditError::Truncated {
                records, anchored, ..
            }) => {
                intact = false;
                println!(
                    "{}: the log holds {records} records but the node anchored record \
                     {anchored}: records were cut off the end or the log was deleted",
                    node.id
                );
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
