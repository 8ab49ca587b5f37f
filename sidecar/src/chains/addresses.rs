//! Addresses and key forms of group keys, through the chain adapters: the Taproot (BIP-86)
//! address and output key of a secp256k1 group key, and the Solana address of an Ed25519 key.

use bitcoin::Network;
use thresig_adapters::{bitcoin as btc, solana};

/// The Bitcoin network called `name`: bitcoin (mainnet), testnet, signet or regtest.
pub fn bitcoin_network(name: &str) -> Result<Network, String> {
    match name {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(format!(
            "unknown bitcoin network {other:?}; use bitcoin, testnet, signet or regtest"
        )),
    }
}

/// The x-only key of a 33-byte compressed secp256k1 point.
pub fn x_only(compressed: &[u8]) -> Result<[u8; 32], String> {
    if compressed.len() != 33 {
        return Err(format!(
            "expected a 33-byte compressed point, got {} bytes",
            compressed.len()
        ));
    }
    btc::parse_group_key(compressed)
        .map(|key| key.serialize())
        .map_err(|error| error.to_string())
}

/// The BIP-86 output key (x-only) for the internal x-only key: P + hash_TapTweak(P)·G.
pub fn bip86_output_key(internal: &[u8; 32]) -> Result<[u8; 32], String> {
    let key = btc::parse_group_key(internal).map_err(|error| error.to_string())?;
    Ok(btc::output_key(key, None)
        .to_x_only_public_key()
        .serialize())
}

/// The P2TR address paying to the BIP-86 output key of `internal` on `network`.
pub fn p2tr_bip86(internal: &[u8; 32], network: Network) -> Result<String, String> {
    let key = btc::parse_group_key(internal).map_err(|error| error.to_string())?;
    Ok(btc::p2tr_address(key, network).to_string())
}

/// The Solana address of an Ed25519 key: its base58 encoding.
pub fn solana(public_key: &[u8; 32]) -> Result<String, String> {
    solana::address(public_key).map_err(|error| error.to_string())
}
