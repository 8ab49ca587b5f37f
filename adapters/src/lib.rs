//! Chain adapters for thresig (DESIGN.md section 3): the address of a group key, the message(s)
//! a signer must sign for an unsigned transaction, assembly of the signed transaction from the
//! signature(s), and decoding of a transaction into a [`PolicyView`] for policy checks.
//!
//! Every function works offline. One module per chain:
//! - [`bitcoin`]: P2TR key-path spends (BIP-86 / BIP-341 tweak), BIP-341 signature hashes for
//!   every sighash type over a PSBT (BIP-174, BIP-371), witness insertion, finalisation,
//!   extraction of the raw transaction and txid.
//! - [`ethereum`]: EIP-1559 signing hash, EIP-2718 encoding and decoding, sender recovery,
//!   EIP-55 addresses, EIP-191 and EIP-712 message hashes.
//! - [`solana`]: legacy and v0 messages with compact-u16 arrays and address-table lookups,
//!   byte-exact serialisation both ways, transaction assembly, base58 addresses.
//!
//! A sidecar implementing `thresig_signTransaction` calls, per chain, one function that lists
//! what to sign ([`bitcoin::signing_requests`], [`ethereum::signing_hash`],
//! [`solana::SolanaTransaction::signing_request`]), then one that assembles the signed
//! transaction ([`bitcoin::sign_and_finalize`], [`ethereum::assemble_signed`],
//! [`solana::assemble`]). Decoders return errors, never panic, on arbitrary input.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bitcoin;
pub mod ethereum;
pub mod policy;
pub mod solana;

pub use policy::{Chain, PolicyView, Transfer};
