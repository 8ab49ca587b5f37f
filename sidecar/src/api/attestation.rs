//! Checking wallet answers against the cluster manifest: every node that holds a share attests
//! the wallet (`wire::attestation`), no other node does, and the addresses are those of the
//! public key. `thresig client`, the proxy and `thresig wallet verify` run these checks.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::cluster::manifest::Manifest;
use crate::coordinator::WalletView;
use crate::model::scheme::WalletScheme;
use crate::wire::attestation::{addresses, statement, verifies};

/// A wallet answer that must not be trusted.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AttestationError {
    /// A node holding a share did not attest the wallet.
    #[error("wallet {wallet}: {node} holds a share but its attestation is missing")]
    Missing {
        /// The wallet.
        wallet: String,
        /// The node.
        node: String,
    },
    /// A node's signature does not verify over the wallet as answered.
    #[error(
        "wallet {wallet}: {node}'s attestation does not verify under its manifest identity: the \
         answer is not what {node} holds"
    )]
    BadSignature {
        /// The wallet.
        wallet: String,
        /// The node.
        node: String,
    },
    /// An attestation from a node that is not one of the wallet's holders.
    #[error("wallet {wallet}: an attestation from {node}, which is not one of its holders")]
    Unexpected {
        /// The wallet.
        wallet: String,
        /// The node.
        node: String,
    },
    /// A holder that the manifest does not list.
    #[error("wallet {wallet}: holder {node} is not a node of the cluster manifest")]
    UnknownNode {
        /// The wallet.
        wallet: String,
        /// The node.
        node: String,
    },
    /// An address that the wallet's public key does not give.
    #[error("wallet {wallet}: the {chain} address is not the one its public key gives")]
    Address {
        /// The wallet.
        wallet: String,
        /// The chain.
        chain: String,
    },
    /// The answer is not a wallet answer.
    #[error("not a wallet answer: {0}")]
    Malformed(String),
}

/// Checks a wallet answer: every holder of a share attests it with a valid signature, no one
/// else does, and its addresses are those of its public key.
pub fn verify_view(view: &WalletView, manifest: &Manifest) -> Result<(), AttestationError> {
    let wallet = || view.wallet_id.clone();
    let malformed = |reason: String| {
        AttestationError::Malformed(format!("wallet {}: {reason}", view.wallet_id))
    };
    let public_key = crate::model::requests::decode_hex(&view.public_key)
        .map_err(|error| malformed(format!("publicKey: {error}")))?;
    // The holders are what the attestations are counted against: a wallet with none, or with a
    // count or threshold that does not fit them, would need no signature at all.
    if view.nodes.is_empty() {
        return Err(malformed("it names no node holding a share".into()));
    }
    if usize::from(view.parties) != view.nodes.len() {
        return Err(malformed(format!(
            "parties is {} but {} nodes are named",
            view.parties,
            view.nodes.len()
        )));
    }
    if view.threshold < 2 || view.threshold > view.parties {
        return Err(malformed(format!(
            "threshold {} is not between 2 and its {} parties",
            view.threshold, view.parties
        )));
    }
    for (position, node) in view.nodes.iter().enumerate() {
        if view.nodes[..position].contains(node) {
            return Err(malformed(format!("{node} is named twice")));
        }
    }
    for node in &view.nodes {
        if manifest.node(node).is_none() {
            return Err(AttestationError::UnknownNode {
                wallet: wallet(),
                node: node.clone(),
            });
        }
    }
    for (position, attestation) in view.attestations.iter().enumerate() {
        let repeated = view.attestations[..position]
            .iter()
            .any(|earlier| earlier.node == attestation.node);
        if !view.nodes.contains(&attestation.node) || repeated {
            return Err(AttestationError::Unexpected {
                wallet: wallet(),
                node: attestation.node.clone(),
            });
        }
    }
    let signed = statement(
        &view.wallet_id,
        &view.scheme,
        view.threshold,
        view.parties,
        &view.nodes,
        &public_key,
    );
    for node in &view.nodes {
        let attestation = view
            .attestations
            .iter()
            .find(|attestation| attestation.node == *node)
            .ok_or_else(|| AttestationError::Missing {
                wallet: wallet(),
                node: node.clone(),
            })?;
        if !verifies(&signed, attestation, manifest) {
            return Err(AttestationError::BadSignature {
                wallet: wallet(),
                node: node.clone(),
            });
        }
    }
    // The nodes attest the key; the addresses shown must be the key's.
    let scheme: WalletScheme = view
        .scheme
        .parse()
        .map_err(|error: String| malformed(format!("scheme: {error}")))?;
    let network = crate::chains::addresses::bitcoin_network(&manifest.bitcoin_network)
        .map_err(AttestationError::Malformed)?;
    let expected = addresses(scheme, &public_key, network).map_err(malformed)?;
    let chains = view.addresses.keys().chain(expected.keys());
    for chain in chains {
        if view.addresses.get(chain) != expected.get(chain) {
            return Err(AttestationError::Address {
                wallet: wallet(),
                chain: chain.clone(),
            });
        }
    }
    Ok(())
}

/// What a wallet answer holds: one wallet (createWallet, deriveWallet, getWallet) or a page of
/// them (listWallets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerShape {
    /// One wallet.
    OneWallet,
    /// `{wallets, nextCursor}`.
    Page,
}

impl AnswerShape {
    /// The shape of `method`'s result, for the methods that answer wallets.
    pub fn of_method(method: &str) -> Option<Self> {
        match method {
            "thresig_createWallet" | "thresig_deriveWallet" | "thresig_getWallet" => {
                Some(AnswerShape::OneWallet)
            }
            "thresig_listWallets" => Some(AnswerShape::Page),
            _ => None,
        }
    }
}

/// A page of wallets as `thresig_listWallets` answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WalletPage {
    wallets: Vec<WalletView>,
    #[allow(dead_code)]
    next_cursor: Option<String>,
}

/// A JSON-RPC response holding a wallet answer (a saved `thresig_*` response).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[allow(dead_code)]
    jsonrpc: String,
    #[allow(dead_code)]
    id: Value,
    result: Value,
}

/// Checks a wallet answer as JSON, parsed strictly as `shape` (no field that is not checked):
/// returns how many wallets it checked. With no shape (a saved answer of unknown method), a
/// JSON-RPC response is unwrapped once, and an object with `wallets` is read as a page, any
/// other as one wallet, strictly too.
pub fn verify_answer(
    answer: &Value,
    shape: Option<AnswerShape>,
    manifest: &Manifest,
) -> Result<usize, AttestationError> {
    let shape = match shape {
        Some(shape) => shape,
        None if answer.get("jsonrpc").is_some() => {
            let envelope: Envelope = strict(answer)?;
            return verify_answer(&envelope.result, Some(shape_of(&envelope.result)), manifest);
        }
        None => shape_of(answer),
    };
    match shape {
        AnswerShape::OneWallet => {
            verify_view(&strict(answer)?, manifest)?;
            Ok(1)
        }
        AnswerShape::Page => {
            let page: WalletPage = strict(answer)?;
            for wallet in &page.wallets {
                verify_view(wallet, manifest)?;
            }
            Ok(page.wallets.len())
        }
    }
}

fn shape_of(answer: &Value) -> AnswerShape {
    if answer.get("wallets").is_some() {
        AnswerShape::Page
    } else {
        AnswerShape::OneWallet
    }
}

fn strict<T: for<'de> Deserialize<'de>>(value: &Value) -> Result<T, AttestationError> {
    T::deserialize(value).map_err(|error| AttestationError::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::NodeIdentity;
    use crate::model::wallet::WalletRecord;
    use crate::wire::attestation::{Attestation, attest, public_key};

    /// A 3-node manifest, the nodes' identities, and a cggmp21 wallet view all three attest.
    fn fixture() -> (Manifest, Vec<NodeIdentity>, WalletRecord) {
        let identities: Vec<NodeIdentity> = (0..3).map(|_| NodeIdentity::generate()).collect();
        let manifest = Manifest::for_tests(&identities);
        // Any valid compressed point will do: the generator.
        let generator = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let record = WalletRecord {
            wallet_id: "w-1".into(),
            scheme: "cggmp21-secp256k1".into(),
            threshold: 2,
            parties: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            public_key_package: generator.into(),
            created_at: 1,
            confirmed: true,
        };
        (manifest, identities, record)
    }

    fn view_of(record: &WalletRecord, identities: &[NodeIdentity]) -> WalletView {
        let public_key = public_key(record).unwrap();
        WalletView {
            wallet_id: record.wallet_id.clone(),
            scheme: record.scheme.clone(),
            threshold: record.threshold,
            parties: record.parties.len() as u16,
            nodes: record.parties.clone(),
            public_key: format!("0x{}", hex::encode(&public_key)),
            addresses: addresses(
                WalletScheme::Cggmp21Secp256k1,
                &public_key,
                bitcoin::Network::Regtest,
            )
            .unwrap(),
            created_at: record.created_at,
            attestations: record
                .parties
                .iter()
                .zip(identities)
                .map(|(node, identity)| attest(record, node, identity).unwrap())
                .collect(),
        }
    }

    #[test]
    fn the_statement_encoding_is_length_prefixed_and_domain_tagged() {
        let encoded = statement("w", "s", 2, 3, &["a".into(), "bc".into()], &[0xff]);
        let mut expected = Vec::new();
        expected.extend_from_slice(&29u32.to_be_bytes());
        expected.extend_from_slice(b"thresig/wallet-attestation/v1");
        expected.extend_from_slice(&[0, 0, 0, 1, b'w', 0, 0, 0, 1, b's']);
        expected.extend_from_slice(&[0, 2, 0, 3, 0, 0, 0, 2]);
        expected.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 2, b'b', b'c']);
        expected.extend_from_slice(&[0, 0, 0, 1, 0xff]);
        assert_eq!(encoded, expected);
        // Fields cannot slide into each other.
        assert_ne!(
            statement("w-1", "s", 2, 3, &[], &[]),
            statement("w", "-1s", 2, 3, &[], &[])
        );
    }

    #[test]
    fn an_answer_every_holder_attests_verifies_and_any_change_names_the_node() {
        let (manifest, identities, record) = fixture();
        let view = view_of(&record, &identities);
        verify_view(&view, &manifest).unwrap();
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            verify_answer(&json, Some(AnswerShape::OneWallet), &manifest),
            Ok(1)
        );
        let page = serde_json::json!({ "wallets": [json.clone(), json], "nextCursor": null });
        assert_eq!(
            verify_answer(&page, Some(AnswerShape::Page), &manifest),
            Ok(2)
        );
        assert_eq!(verify_answer(&page, None, &manifest), Ok(2));

        // The coordinator's own key, with the address it gives: node-1 (the first holder) is
        // named, since its signature no longer verifies.
        let mut tampered = view.clone();
        let other = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        tampered.public_key = format!("0x{other}");
        tampered.addresses = addresses(
            WalletScheme::Cggmp21Secp256k1,
            &hex::decode(other).unwrap(),
            bitcoin::Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            verify_view(&tampered, &manifest),
            Err(AttestationError::BadSignature {
                wallet: "w-1".into(),
                node: "node-1".into()
            })
        );

        // The right key with another address.
        let mut address = view.clone();
        address.addresses.insert(
            "ethereum".into(),
            "0x0000000000000000000000000000000000000001".into(),
        );
        assert!(matches!(
            verify_view(&address, &manifest),
            Err(AttestationError::Address { chain, .. }) if chain == "ethereum"
        ));

        // A holder's attestation left out.
        let mut missing = view.clone();
        missing.attestations.remove(1);
        assert_eq!(
            verify_view(&missing, &manifest),
            Err(AttestationError::Missing {
                wallet: "w-1".into(),
                node: "node-2".into()
            })
        );

        // node-3's signature by node-2's key.
        let mut wrong = view.clone();
        wrong.attestations[2].signature =
            attest(&record, "node-3", &identities[1]).unwrap().signature;
        assert_eq!(
            verify_view(&wrong, &manifest),
            Err(AttestationError::BadSignature {
                wallet: "w-1".into(),
                node: "node-3".into()
            })
        );

        // An extra attestation from a node the manifest does not know, and a holder it does not
        // know.
        let mut extra = view.clone();
        extra.attestations.push(Attestation {
            node: "node-9".into(),
            signature: view.attestations[0].signature.clone(),
        });
        assert_eq!(
            verify_view(&extra, &manifest),
            Err(AttestationError::Unexpected {
                wallet: "w-1".into(),
                node: "node-9".into()
            })
        );
        let mut stranger = view.clone();
        stranger.nodes.push("node-9".into());
        stranger.parties += 1;
        assert!(matches!(
            verify_view(&stranger, &manifest),
            Err(AttestationError::UnknownNode { node, .. }) if node == "node-9"
        ));

        // Another threshold than the nodes signed.
        let mut threshold = view;
        threshold.threshold = 3;
        assert!(matches!(
            verify_view(&threshold, &manifest),
            Err(AttestationError::BadSignature { .. })
        ));
    }

    #[test]
    fn an_answer_that_needs_no_signature_or_hides_fields_is_refused() {
        let (manifest, identities, record) = fixture();
        let view = view_of(&record, &identities);
        // The coordinator's own key and its address, with no holder to attest it.
        let other = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        let mut forged = view.clone();
        forged.public_key = format!("0x{other}");
        forged.addresses = addresses(
            WalletScheme::Cggmp21Secp256k1,
            &hex::decode(other).unwrap(),
            bitcoin::Network::Regtest,
        )
        .unwrap();
        let mut empty = forged.clone();
        empty.nodes.clear();
        empty.attestations.clear();
        empty.parties = 0;
        empty.threshold = 0;
        assert!(matches!(
            verify_view(&empty, &manifest),
            Err(AttestationError::Malformed(reason)) if reason.contains("names no node")
        ));
        // Counts that do not fit the holders, or a holder named twice.
        let mut count = view.clone();
        count.parties = 2;
        assert!(matches!(
            verify_view(&count, &manifest),
            Err(AttestationError::Malformed(_))
        ));
        let mut low = view.clone();
        low.threshold = 1;
        assert!(matches!(
            verify_view(&low, &manifest),
            Err(AttestationError::Malformed(_))
        ));
        let mut twice = view.clone();
        twice.nodes[2] = "node-1".into();
        assert!(matches!(
            verify_view(&twice, &manifest),
            Err(AttestationError::Malformed(reason)) if reason.contains("named twice")
        ));

        // Decoys: an empty page, or a verified wallet, beside the fields a reader would use.
        let forged = serde_json::to_value(&forged).unwrap();
        let mut decoy_page = forged.clone();
        decoy_page["wallets"] = serde_json::json!([]);
        for shape in [Some(AnswerShape::OneWallet), None] {
            assert!(
                matches!(
                    verify_answer(&decoy_page, shape, &manifest),
                    Err(AttestationError::Malformed(_))
                ),
                "{shape:?}"
            );
        }
        let mut decoy_result = forged;
        decoy_result["result"] = serde_json::to_value(&view).unwrap();
        assert!(matches!(
            verify_answer(&decoy_result, Some(AnswerShape::OneWallet), &manifest),
            Err(AttestationError::Malformed(_))
        ));
        // A saved JSON-RPC response is unwrapped once, strictly.
        let envelope = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "result": serde_json::to_value(&view).unwrap()
        });
        assert_eq!(verify_answer(&envelope, None, &manifest), Ok(1));
        let mut padded = envelope;
        padded["addresses"] = serde_json::json!({ "ethereum": "0x01" });
        assert!(matches!(
            verify_answer(&padded, None, &manifest),
            Err(AttestationError::Malformed(_))
        ));
    }
}
