//! Helpers the thresig test suites share. Test code only: every function panics with a message
//! that says what was wrong instead of returning errors.

pub mod vectors;

#[cfg(feature = "bitcoin-core")]
pub mod bitcoin_core;

#[cfg(feature = "devnet")]
pub mod devnet;

#[cfg(feature = "cluster")]
pub mod cluster;
