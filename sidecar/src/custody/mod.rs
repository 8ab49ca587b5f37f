//! What a signer node keeps at rest and the keys that protect it: key providers (a passphrase
//! file or a PKCS#11 token), record sealing, the node's identity file, the audit log and the
//! RocksDB store. Only node code uses this area.

pub mod audit;
pub mod identity;
pub mod key_provider;
pub mod pkcs11;
pub(crate) mod sealing;
pub mod store;
