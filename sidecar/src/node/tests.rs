//! Unit tests of the node's local logic.

use crate::custody::key_provider::FileKeyProvider;
use crate::model::scheme::WalletScheme;

use super::derive_wallet_secrets;

#[test]
fn a_derivation_seed_binds_the_node_so_one_root_key_never_reuses_it_under_another_identifier() {
    let dir = std::env::temp_dir().join(format!("thresig-derive-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let provider = FileKeyProvider::create(&dir.join("root.key"), b"test passphrase").unwrap();
    let derive = |node: (&str, u16), passphrase: &str| {
        derive_wallet_secrets(
            &provider,
            node,
            WalletScheme::FROST_SECP256K1_TR,
            2,
            3,
            passphrase,
        )
        .unwrap()
    };
    let first = derive(("node-1", 1), "correct horse");
    let again = derive(("node-1", 1), "correct horse");
    assert_eq!(*first.seed, *again.seed, "a derivation is deterministic");
    assert_eq!(first.tag, again.tag);
    // The same root key under another identifier or node id: another seed, the same tag.
    for other in [("node-1", 2), ("node-2", 1)] {
        let moved = derive(other, "correct horse");
        assert_ne!(*moved.seed, *first.seed, "{other:?}");
        assert_eq!(moved.tag, first.tag, "{other:?}");
    }
    assert_ne!(*derive(("node-1", 1), "battery staple").seed, *first.seed);
    let _ = std::fs::remove_dir_all(&dir);
}
