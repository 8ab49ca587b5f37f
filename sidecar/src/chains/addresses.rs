//! Addresses and key forms of group keys, through the chain adapters: a wallet's key as answers
//! show it and its address ([`Chain::public_key`], [`Chain::address`]), the x-only and BIP-86
//! output keys the coordinator checks Taproot signatures under, and the Bitcoin network names.

use std::collections::BTreeMap;

use bitcoin::Network;
use thresig_adapters::bitcoin as btc;

use crate::chains::chain::Chain;
use crate::chains::error::ChainError;
use crate::model::scheme::WalletScheme;
use crate::model::wallet::WalletRecord;

/// The Bitcoin network called `name`: bitcoin (mainnet), testnet, signet or regtest.
pub fn network(name: &str) -> Result<Network, ChainError> {
    match name {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(ChainError::UnknownNetwork(other.to_owned())),
    }
}

/// [`network`], its error as text for the manifest's and the coordinator's set-up checks.
pub fn bitcoin_network(name: &str) -> Result<Network, String> {
    network(name).map_err(|error| error.to_string())
}

/// The wallet's public key as answers and attestations show it (x-only for
/// frost-secp256k1-tr, 32 bytes for frost-ed25519, 33-byte compressed SEC1 for
/// cggmp21-secp256k1), parsed by its chain's adapter.
pub fn wallet_public_key(record: &WalletRecord) -> Result<Vec<u8>, ChainError> {
    let scheme: WalletScheme = record.scheme.parse().map_err(ChainError::UnknownScheme)?;
    // The network plays no part in a key.
    Chain::of_scheme(scheme, Network::Regtest).public_key(record)
}

/// The chain addresses of a wallet's public key (in [`wallet_public_key`]'s form): one, on the
/// chain of its scheme, computed by that chain's adapter.
pub fn wallet_addresses(
    scheme: WalletScheme,
    public_key: &[u8],
    network: Network,
) -> Result<BTreeMap<String, String>, ChainError> {
    let chain = Chain::of_scheme(scheme, network);
    Ok(BTreeMap::from([(
        chain.name().to_owned(),
        chain.address(public_key)?,
    )]))
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

/// The Solana address of an Ed25519 key (its base58 encoding), through the Solana adapter.
pub fn solana(public_key: &[u8; 32]) -> Result<String, String> {
    Chain::of_scheme(WalletScheme::FROST_ED25519, Network::Regtest)
        .address(public_key)
        .map_err(|error| error.to_string())
}
