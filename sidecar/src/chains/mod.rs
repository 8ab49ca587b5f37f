//! What a transaction asks a wallet to sign, one copy for nodes and the coordinator, over the
//! chain adapters: addresses of group keys, messages to sign, assembly, policy views.

pub mod addresses;
pub mod transactions;
