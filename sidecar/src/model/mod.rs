//! Domain types with no I/O: schemes, the client-signed requests nodes re-check, node
//! identities and the one transcript encoder every signed or sealed byte string goes through.

pub mod identity;
pub mod requests;
pub mod scheme;
pub(crate) mod transcript;
pub mod wallet;
