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
//!
//! The same four operations are one seam, [`ChainAdapter`] (module [`chain`]), implemented by
//! [`Bitcoin`] (a PSBT; the network and whether partial sighash types may be signed are the
//! adapter's fields), [`Ethereum`] (a [`ethereum::TxEip1559`]) and [`Solana`] (a
//! [`solana::Message`]). A caller written once over the trait parses the group key, shows the
//! [`PolicyView`] to its policy, signs each [`MessageToSign`] as its [`SignatureScheme`] says
//! (BIP-340 under the Taproot-tweaked key, Ed25519, or ECDSA on a prehash), and passes the
//! 64-byte signatures, in order, to [`ChainAdapter::assemble`], which verifies each before it
//! inserts it; the result says through [`SignedTransaction`] whether it is complete, its
//! broadcast form and its id. The trait is a thin layer over the chain functions above.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bitcoin;
pub mod chain;
pub mod ethereum;
pub mod policy;
pub mod solana;

pub use chain::{
    AssembledPsbt, Bitcoin, ChainAdapter, Ethereum, MessageToSign, SignatureScheme,
    SignedTransaction, Solana,
};
pub use policy::{Chain, PolicyView, Transfer};
