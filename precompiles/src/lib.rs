//! EVM precompiles for revm that verify threshold and post-quantum signatures.
//!
//! One verification function per scheme ([`bip340`], [`ed25519`], [`ecdsa`], [`ml_dsa`],
//! [`slh_dsa`]), shared by the precompiles ([`precompile`], wired into revm by
//! [`ThresigPrecompiles`]), the `thresig verify` CLI and the signer sidecar through
//! [`verify`]. The consensus rules are DESIGN.md section 1, documented in docs/precompiles.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod abi;
pub mod bip340;
mod calibrated_schedule;
pub mod ecdsa;
pub mod ed25519;
pub mod error;
pub mod evm;
pub mod gas;
pub mod interface;
pub mod ml_dsa;
pub mod precompile;
pub mod provider;
pub mod scheme;
pub mod slh_dsa;

pub use error::MalformedInput;
pub use gas::{GasSchedule, Price, ScheduleError, ScheduleName};
pub use interface::Interface;
pub use precompile::{CallError, CallSuccess, Function, execute};
pub use provider::ThresigPrecompiles;
pub use scheme::{Scheme, VerifyRequest, verify};
