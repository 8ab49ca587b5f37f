//! The thresig signer sidecar: signer nodes that each hold one share of every wallet, a
//! coordinator that serves the public JSON-RPC API and drives the protocols without being able
//! to read any share, and a devnet that runs a whole cluster on one machine.
//!
//! DESIGN.md section 2 is the contract; docs/sidecar.md documents the API and the trust model.
// `deny`, not `forbid`: one function (a thread's scheduling priority through libc) needs an
// `unsafe` call and says why it is sound where it allows it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod addresses;
pub mod attestation;
pub mod audit;
pub mod auth;
pub mod cggmp;
pub mod client;
pub mod coordinator;
pub mod devnet;
pub mod dkg_shares;
pub mod envelope;
pub mod ethproxy;
pub mod frost_ops;
pub mod fsutil;
pub mod hsm;
pub mod http_access;
pub mod identity;
pub mod keyprovider;
pub mod layout;
pub mod manifest;
pub mod node;
pub mod pki;
pub mod protocol;
pub mod requests;
pub mod rpc;
pub mod scheme;
pub mod sealing;
pub mod store;
pub mod transactions;

/// Makes ring the process's rustls crypto provider (reqwest needs one even for plain HTTP).
/// Idempotent: a provider already installed stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The exit status of a node or coordinator whose listening port is taken. A devnet that chose
/// the port itself then starts its processes again on other ports.
pub const EXIT_ADDRESS_IN_USE: u8 = 98;

/// A listening socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("listening on {address}: {source}")]
pub struct ListenError {
    /// The address.
    pub address: String,
    /// Why.
    pub source: std::io::Error,
}

impl ListenError {
    /// Whether another socket holds the address already.
    pub fn is_address_in_use(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AddrInUse
    }
}

/// An error and its sources, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Completes when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the process still stops on the default action.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}
