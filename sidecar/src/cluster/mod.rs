//! The set-up every process of a cluster reads: the manifest, the on-disk layout, the cluster's
//! PKI (CA, node and coordinator certificates) and client authorization keys.

pub mod client_auth;
pub mod layout;
pub mod manifest;
pub mod pki;
