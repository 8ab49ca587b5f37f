//! The composition roots: the only code that wires a role (node, coordinator, devnet) to its
//! servers and processes.

pub mod coordinator;
pub mod devnet;
pub mod node;

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
