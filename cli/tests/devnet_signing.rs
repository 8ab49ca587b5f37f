//! The sidecar as real processes: devnets from the built binary create wallets of both FROST
//! schemes and sign, and the signatures verify with libraries independent of the frost crates
//! (libsecp256k1 for BIP-340 with and without the BIP-86 tweak, ed25519-dalek for Ed25519).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use thresig_testkit::devnet::{
    Devnet, ThresigBinary, temp_dir, unhex, verify_bip340, verify_ed25519,
};

/// The `thresig` binary Cargo built for these tests.
const THRESIG: ThresigBinary = ThresigBinary(env!("CARGO_BIN_EXE_thresig"));

fn tagged_hash(tag: &str, data: &[u8]) -> [u8; 32] {
    let tag = Sha256::digest(tag.as_bytes());
    Sha256::new()
        .chain_update(tag)
        .chain_update(tag)
        .chain_update(data)
        .finalize()
        .into()
}

/// The BIP-86 output key of an x-only internal key, computed with libsecp256k1.
fn bip86_output_key(internal: &[u8]) -> [u8; 32] {
    let secp = secp256k1::Secp256k1::verification_only();
    let key = secp256k1::XOnlyPublicKey::from_byte_array(internal.try_into().unwrap()).unwrap();
    let tweak = secp256k1::Scalar::from_be_bytes(tagged_hash("TapTweak", internal)).unwrap();
    key.add_tweak(&secp, &tweak).unwrap().0.serialize()
}

fn sign(devnet: &Devnet, wallet: &str, message: &[u8], tweak: Option<&str>) -> Value {
    let mut params =
        json!({ "walletId": wallet, "message": format!("0x{}", hex::encode(message)) });
    if let Some(tweak) = tweak {
        params["tweak"] = json!(tweak);
    }
    devnet.result("thresig_signMessage", params)
}

/// Creates one wallet of each scheme, signs with each (Taproot with and without BIP-86), and
/// checks every signature and address independently.
fn exercise(devnet: &Devnet) {
    let health = devnet.result("thresig_health", json!({}));
    assert_eq!(health["status"], "ok");
    assert_eq!(health["threshold"], devnet.threshold);
    assert_eq!(
        health["nodes"].as_array().unwrap().len(),
        usize::from(devnet.nodes)
    );

    let taproot = devnet.result(
        "thresig_createWallet",
        json!({ "scheme": "frost-secp256k1-tr" }),
    );
    assert_eq!(taproot["threshold"], devnet.threshold);
    assert_eq!(taproot["parties"], devnet.nodes);
    let internal = unhex(taproot["publicKey"].as_str().unwrap());
    assert_eq!(internal.len(), 32, "x-only group key");
    let address = taproot["addresses"]["bitcoin"].as_str().unwrap();
    assert!(
        address.starts_with("bcrt1p"),
        "regtest P2TR address, got {address}"
    );
    let wallet = taproot["walletId"].as_str().unwrap();

    for length in [32usize, 0, 100] {
        let message: Vec<u8> = (0..length).map(|_| rand::random::<u8>()).collect();
        let plain = sign(devnet, wallet, &message, None);
        assert_eq!(unhex(plain["publicKey"].as_str().unwrap()), internal);
        assert_eq!(
            plain["signers"].as_array().unwrap().len(),
            usize::from(devnet.threshold)
        );
        assert!(
            verify_bip340(
                &internal,
                &message,
                &unhex(plain["signature"].as_str().unwrap())
            ),
            "untweaked, {length} bytes"
        );

        let tweaked = sign(devnet, wallet, &message, Some("bip86"));
        let output_key = bip86_output_key(&internal);
        assert_eq!(unhex(tweaked["publicKey"].as_str().unwrap()), output_key);
        let signature = unhex(tweaked["signature"].as_str().unwrap());
        assert!(
            verify_bip340(&output_key, &message, &signature),
            "BIP-86 tweaked, {length} bytes"
        );
        assert!(
            !verify_bip340(&internal, &message, &signature),
            "a tweaked signature is not one under the internal key"
        );
    }

    let ed = devnet.result("thresig_createWallet", json!({ "scheme": "frost-ed25519" }));
    let key = unhex(ed["publicKey"].as_str().unwrap());
    assert_eq!(
        bs58::decode(ed["addresses"]["solana"].as_str().unwrap())
            .into_vec()
            .unwrap(),
        key
    );
    let ed_wallet = ed["walletId"].as_str().unwrap();
    for message in [b"solana transfer".to_vec(), vec![], vec![7u8; 1000]] {
        let signed = sign(devnet, ed_wallet, &message, None);
        assert!(verify_ed25519(
            &key,
            &message,
            &unhex(signed["signature"].as_str().unwrap())
        ));
    }
    let refused = devnet.call(
        "thresig_signMessage",
        json!({ "walletId": ed_wallet, "message": "0x00", "tweak": "bip86" }),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    assert_eq!(
        devnet.result("thresig_getWallet", json!({ "walletId": wallet })),
        taproot
    );
    let listed = devnet.result("thresig_listWallets", json!({}));
    let ids: Vec<&str> = listed["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|wallet| wallet["walletId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&wallet) && ids.contains(&ed_wallet),
        "{listed}"
    );
}

#[test]
fn two_of_three_devnet_signs_with_both_schemes() {
    let devnet = Devnet::start(THRESIG, 3, 2);
    exercise(&devnet);
}

#[test]
fn three_of_five_devnet_signs_with_both_schemes() {
    let devnet = Devnet::start(THRESIG, 5, 3);
    exercise(&devnet);
    // A 2-of-3 wallet among the five nodes works too.
    let small = devnet.result(
        "thresig_createWallet",
        json!({ "scheme": "frost-ed25519", "threshold": 2, "parties": 3 }),
    );
    assert_eq!(small["nodes"].as_array().unwrap().len(), 3);
    let key = unhex(small["publicKey"].as_str().unwrap());
    let signed = sign(
        &devnet,
        small["walletId"].as_str().unwrap(),
        b"subset",
        None,
    );
    assert!(verify_ed25519(
        &key,
        b"subset",
        &unhex(signed["signature"].as_str().unwrap())
    ));
}

#[test]
fn a_devnet_whose_root_keys_are_in_softhsm_tokens_signs_with_both_schemes() {
    let dir = temp_dir("softhsm");
    let devnet = Devnet::start_with(THRESIG, dir.clone(), 3, 2, &[], &["--hsm", "softhsm"], true);
    // Each node has a token of its own and no key file: its root secret is in the token.
    for index in 1..=3 {
        let node = dir.join(format!("node-{index}"));
        assert!(node.join("softhsm2.conf").exists());
        assert!(std::fs::read_dir(node.join("tokens")).unwrap().count() > 0);
        assert!(!node.join("root.key").exists());
    }
    exercise(&devnet);
}
