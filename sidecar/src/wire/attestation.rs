//! Wallet attestations: every node that holds a share of a wallet signs, with its Ed25519
//! identity key (the one the cluster manifest lists), what the wallet is: its id, scheme,
//! threshold, parties, holders and public key. Clients check the coordinator's wallet
//! answers against the manifest (`api::attestation`), so a coordinator cannot hand out a key or
//! an address of its own. The byte encoding is documented in docs/sidecar.md ("Wallet attestations").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::manifest::Manifest;
use crate::model::identity::NodeIdentity;
use crate::model::scheme::WalletScheme;
use crate::model::wallet::WalletRecord;

/// The domain tag that starts every attested statement.
pub const DOMAIN: &[u8] = b"thresig/wallet-attestation/v1";

/// One node's signature over a wallet's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The node, as the manifest names it.
    pub node: String,
    /// Its Ed25519 signature over the statement, hex (64 bytes).
    pub signature: String,
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a node signs for a wallet: each variable field is a 4-byte big-endian length
/// then its bytes; numbers are big-endian (docs/sidecar.md, "Wallet attestations").
pub fn statement(
    wallet_id: &str,
    scheme: &str,
    threshold: u16,
    parties: u16,
    nodes: &[String],
    public_key: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 16 * nodes.len());
    field(&mut out, DOMAIN);
    field(&mut out, wallet_id.as_bytes());
    field(&mut out, scheme.as_bytes());
    out.extend_from_slice(&threshold.to_be_bytes());
    out.extend_from_slice(&parties.to_be_bytes());
    out.extend_from_slice(&(nodes.len() as u32).to_be_bytes());
    for node in nodes {
        field(&mut out, node.as_bytes());
    }
    field(&mut out, public_key);
    out
}

/// The wallet's public key as answers show it: x-only (32 bytes) for frost-secp256k1-tr,
/// 32 bytes for frost-ed25519, 33-byte compressed SEC1 for cggmp21-secp256k1.
pub fn public_key(record: &WalletRecord) -> Result<Vec<u8>, String> {
    crate::chains::addresses::wallet_public_key(record).map_err(|error| error.to_string())
}

/// The chain addresses of a wallet's public key (as [`public_key`] gives it).
pub fn addresses(
    scheme: WalletScheme,
    public_key: &[u8],
    network: bitcoin::Network,
) -> Result<BTreeMap<String, String>, String> {
    crate::chains::addresses::wallet_addresses(scheme, public_key, network)
        .map_err(|error| error.to_string())
}

/// The statement of a stored wallet.
pub fn record_statement(record: &WalletRecord) -> Result<Vec<u8>, String> {
    let parties = u16::try_from(record.parties.len()).map_err(|_| "too many parties")?;
    Ok(statement(
        &record.wallet_id,
        &record.scheme,
        record.threshold,
        parties,
        &record.parties,
        &public_key(record)?,
    ))
}

/// A node's attestation of a wallet it holds (confirmed: the caller makes sure).
pub fn attest(
    record: &WalletRecord,
    node_id: &str,
    identity: &NodeIdentity,
) -> Result<Attestation, String> {
    Ok(Attestation {
        node: node_id.to_owned(),
        signature: hex::encode(identity.sign(&record_statement(record)?)),
    })
}

/// Whether `attestation` is a valid signature over `statement` by the manifest's node it names.
pub fn verifies(statement: &[u8], attestation: &Attestation, manifest: &Manifest) -> bool {
    let (Some(node), Ok(signature)) = (
        manifest.node(&attestation.node),
        hex::decode(&attestation.signature),
    ) else {
        return false;
    };
    node.identity.verify(statement, &signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secp256k1 generator, compressed: the public key of private key 1.
    const KEY_OF_ONE: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    /// Known answer: the statement of a cggmp21 wallet, byte for byte as docs/sidecar.md
    /// ("Wallet attestations") lays it out, so a change to the encoding or the key form fails
    /// here even if signing and checking change together.
    #[test]
    fn a_cggmp21_wallets_statement_and_address_are_as_documented() {
        let record = WalletRecord {
            wallet_id: "w-1".into(),
            scheme: "cggmp21-secp256k1".into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            public_key_package: KEY_OF_ONE.into(),
            created_at: 7,
            confirmed: true,
        };
        let ascii = |text: &str| hex::encode(text.as_bytes());
        let expected = [
            "0000001d".to_owned() + &ascii("thresig/wallet-attestation/v1"),
            "00000003".to_owned() + &ascii("w-1"),
            "00000011".to_owned() + &ascii("cggmp21-secp256k1"),
            "0002".into(),
            "0003".into(),
            "00000003".into(),
            "00000006".to_owned() + &ascii("node-1"),
            "00000006".to_owned() + &ascii("node-2"),
            "00000006".to_owned() + &ascii("node-3"),
            "00000021".to_owned() + KEY_OF_ONE,
        ]
        .concat();
        assert_eq!(hex::encode(record_statement(&record).unwrap()), expected);
        // The address of private key 1 is public knowledge.
        let key = public_key(&record).unwrap();
        let addresses = addresses(
            WalletScheme::Cggmp21Secp256k1,
            &key,
            bitcoin::Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            addresses.get("ethereum").map(String::as_str),
            Some("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
        );
    }
}
