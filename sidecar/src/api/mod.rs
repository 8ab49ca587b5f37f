//! The public side: the JSON-RPC server over a coordinator, its HTTP access layer, a client for
//! it, and the `eth_*` proxy for Ethereum tooling.

pub mod attestation;
pub mod client;
pub mod errors;
pub mod ethproxy;
pub mod http_access;
pub mod rpc;
