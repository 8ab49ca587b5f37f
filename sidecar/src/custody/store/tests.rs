//! The store's tests: records sealed in place, claims made once, nonces and presignatures
//! used once, across reopens.

use super::*;
use crate::custody::key_provider::FileKeyProvider;

fn temp_store(label: &str) -> (std::path::PathBuf, NodeStore) {
    let dir = std::env::temp_dir().join(format!(
        "thresig-store-{label}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let provider = FileKeyProvider::create(&dir.join("root.key"), b"test passphrase").unwrap();
    let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
    (dir, store)
}

fn record(wallet_id: &str) -> WalletRecord {
    WalletRecord {
        wallet_id: wallet_id.into(),
        scheme: "frost-ed25519".into(),
        threshold: 2,
        parties: vec!["node-1".into(), "node-2".into()],
        public_key_package: "00".into(),
        created_at: 1,
        confirmed: true,
    }
}

/// A client request for a DKG, its id unique to `label`.
fn dkg_request(label: &str) -> RequestClaim<'_> {
    RequestClaim {
        client: "c1",
        request_id: label,
        scope: "dkg",
        expires_at: u64::MAX,
    }
}

/// Claims the record's id for session `s-<id>` and stores it.
fn put(store: &NodeStore, record: &WalletRecord, share: &[u8]) {
    let session = format!("s-{}", record.wallet_id);
    assert_eq!(
        store
            .claim_wallet(
                &record.wallet_id,
                &session,
                &dkg_request(&record.wallet_id),
                false
            )
            .unwrap(),
        WalletClaim::Claimed
    );
    store.put_wallet(record, share, &session).unwrap();
}

#[test]
fn the_wallet_count_follows_confirmations_and_survives_a_reopen() {
    let (dir, store) = temp_store("count");
    let pending = WalletRecord {
        confirmed: false,
        ..record("w-pending")
    };
    put(&store, &pending, b"share");
    put(&store, &record("w-done"), b"share");
    assert_eq!(store.wallet_count(), 1, "only confirmed wallets count");
    store
        .confirm_wallet("w-pending", "s-w-pending", "00")
        .unwrap()
        .unwrap();
    store
        .confirm_wallet("w-pending", "s-w-pending", "00")
        .unwrap()
        .unwrap();
    assert_eq!(
        store.wallet_count(),
        2,
        "a second confirmation adds nothing"
    );
    drop(store);
    let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
    let reopened = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
    assert_eq!(reopened.wallet_count(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_share_altered_or_moved_to_another_wallet_fails_to_decrypt_with_an_error() {
    let (dir, store) = temp_store("moved");
    put(&store, &record("w-a"), b"share of wallet a");
    put(&store, &record("w-b"), b"share of wallet b");
    assert_eq!(
        store.key_package("w-a").unwrap().unwrap().as_slice(),
        b"share of wallet a"
    );
    let sealed_a = store.raw("share/w-a").unwrap().unwrap();
    assert!(
        !sealed_a
            .windows(b"share of wallet a".len())
            .any(|window| window == b"share of wallet a"),
        "the share is stored in the clear"
    );

    // Wallet a's sealed share copied under wallet b's key.
    store.put_raw("share/w-b", &sealed_a).unwrap();
    let error = store.key_package("w-b").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("record share/w-b: sealed record does not authenticate"),
        "{error}"
    );

    // One byte of wallet a's record flipped.
    let mut altered = sealed_a.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    store.put_raw("share/w-a", &altered).unwrap();
    let error = store.key_package("w-a").unwrap_err();
    assert!(
        error.to_string().contains("does not authenticate"),
        "{error}"
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn request_ids_and_abandoned_nonces_are_forgotten_after_their_request_expires() {
    let (dir, store) = temp_store("claims");
    let claim = |client, scope, expires_at| RequestClaim {
        client,
        request_id: "r-1",
        scope,
        expires_at,
    };
    // Expiry times ahead of the clock: a claim is only written while its request is valid.
    let t = crate::cluster::client_auth::now_secs() + 1000;
    assert!(store.claim_request(&claim("c1", "dkg", t + 100)).unwrap());
    assert!(!store.claim_request(&claim("c1", "dkg", t + 100)).unwrap());
    assert!(store.claim_request(&claim("c1", "msg-2", t + 100)).unwrap());
    assert!(store.claim_request(&claim("c2", "dkg", t + 200)).unwrap());
    assert_eq!(store.prune_requests(t + 150).unwrap(), 2);
    assert!(!store.claim_request(&claim("c2", "dkg", t + 200)).unwrap());
    assert!(store.claim_request(&claim("c1", "dkg", t + 300)).unwrap());

    // Nonces go in with their claim, or not at all.
    let pending = PendingSignature {
        wallet_id: "w-1".into(),
        message: "01".into(),
        tweak: "none".into(),
        commitments: "02".into(),
        client: Some("c3".into()),
        request_id: Some("r-1".into()),
    };
    let sign = claim("c3", "sign-01", t + 400);
    assert!(store.put_nonces("s-1", &pending, b"nonces", &sign).unwrap());
    assert!(!store.put_nonces("s-2", &pending, b"nonces", &sign).unwrap());
    assert_eq!(store.peek_nonces("s-1").unwrap(), Some(pending.clone()));
    assert_eq!(store.peek_nonces("s-2").unwrap(), None);

    // Abandoned sessions' nonces go once their request has expired, the others stay.
    let later = claim("c3", "sign-02", t + 500);
    assert!(
        store
            .put_nonces("s-3", &pending, b"nonces", &later)
            .unwrap()
    );
    assert_eq!(store.prune_nonces(t + 400).unwrap(), 0);
    assert_eq!(store.prune_nonces(t + 401).unwrap(), 1);
    assert_eq!(store.peek_nonces("s-1").unwrap(), None);
    assert!(store.consume_nonces("s-1").unwrap().is_none());
    assert_eq!(store.peek_nonces("s-3").unwrap(), Some(pending));
    assert_eq!(store.prune_nonces(t + 501).unwrap(), 1);
    assert!(store.consume_nonces("s-3").unwrap().is_none());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_request_id_is_never_claimed_after_it_could_have_been_forgotten() {
    let (dir, store) = temp_store("expiry-edge");
    let now = crate::cluster::client_auth::now_secs();
    let claim = |request_id, expires_at| RequestClaim {
        client: "c1",
        request_id,
        scope: "dkg",
        expires_at,
    };
    // Expiring this very second: pruning at `now` may forget it, so it is not claimed.
    assert!(matches!(
        store.claim_request(&claim("r-now", now)),
        Err(StoreError::Expired { expires_at, .. }) if expires_at == now
    ));
    assert!(matches!(
        store.claim_request(&claim("r-past", now - 5)),
        Err(StoreError::Expired { .. })
    ));
    // Claimed while valid; pruning at any second before its expiry keeps it, so a replay
    // until then is a replay, and from its expiry on it is refused as expired.
    assert!(store.claim_request(&claim("r-1", now + 30)).unwrap());
    assert_eq!(store.prune_requests(now + 29).unwrap(), 0);
    assert!(!store.claim_request(&claim("r-1", now + 30)).unwrap());
    assert_eq!(store.prune_requests(now + 30).unwrap(), 1);
    // Pruned as of now + 30 while the clock says now (it was stepped back): a request that
    // expires by then was forgotten, or could have been, so it is not claimed.
    assert!(matches!(
        store.claim_request(&claim("r-1", now + 30)),
        Err(StoreError::Expired { .. })
    ));
    assert!(store.claim_request(&claim("r-2", now + 31)).unwrap());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn records_sealed_under_the_node_wide_key_are_resealed_per_wallet_at_start() {
    let (dir, store) = temp_store("sealing-v2");
    let legacy = |aad: &[u8], plain: &[u8]| sealing::seal(&store.storage_key, aad, plain).unwrap();
    // Records as an earlier version wrote them: sealed under the storage key itself.
    let share = legacy(&store.aad("w-2", "key-package"), b"share of w-2");
    store.db.put(b"share/w-2", &share).unwrap();
    store
        .db
        .put(
            b"secret/primes",
            legacy(&store.aad("node", "primes"), b"p and q"),
        )
        .unwrap();
    let nonce_aad = store.nonce_aad("s-1", "w-2", "01", "none", "02");
    let nonce = NonceRecord {
        wallet_id: "w-2".into(),
        message: "01".into(),
        tweak: "none".into(),
        commitments: "02".into(),
        sealed_nonces: hex::encode(legacy(&nonce_aad, b"nonces")),
        client: None,
        request_id: None,
        expires_at: None,
    };
    store
        .db
        .put(b"nonce/s-1", serde_json::to_vec(&nonce).unwrap())
        .unwrap();
    let signers = vec!["node-1".to_owned(), "node-2".to_owned()];
    let presignature = PresignatureRecord {
        signers: signers.clone(),
        created_at: 1,
        sealed: hex::encode(legacy(
            &store.presignature_aad("w-2", "p-1", &signers),
            b"presignature",
        )),
        point: String::new(),
        complete: true,
    };
    store
        .db
        .put(
            b"presignature/w-2/p-1",
            serde_json::to_vec(&presignature).unwrap(),
        )
        .unwrap();
    // And records that no longer open: they must not keep the node from starting.
    store
        .db
        .put(b"share/w-rotten", b"not a sealed record at all")
        .unwrap();
    store.db.put(b"nonce/s-rotten", b"{}").unwrap();
    store.db.delete(SEALING_V2_KEY.as_bytes()).unwrap();
    let storage_key = store.storage_key.clone();
    drop(store);

    let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
    let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
    assert_eq!(
        store.key_package("w-2").unwrap().unwrap().as_slice(),
        b"share of w-2"
    );
    assert_eq!(store.raw("share/w-rotten").unwrap(), None);
    assert_eq!(
        store.raw("quarantine/share/w-rotten").unwrap().as_deref(),
        Some(b"not a sealed record at all".as_slice())
    );
    assert_eq!(store.raw("nonce/s-rotten").unwrap(), None);
    let resealed = store.raw("share/w-2").unwrap().unwrap();
    assert_ne!(resealed, share);
    let aad = store.aad("w-2", "key-package");
    assert!(sealing::open(&storage_key, &aad, &resealed, "node").is_err());
    // Each wallet has its own key: another wallet's key does not open it.
    assert!(sealing::open(&store.wallet_key("w-1"), &aad, &resealed, "node").is_err());
    assert!(sealing::open(&store.wallet_key("w-2"), &aad, &resealed, "node").is_ok());
    assert_eq!(
        store.secret("primes").unwrap().unwrap().as_slice(),
        b"p and q"
    );
    assert_eq!(
        store
            .consume_nonces("s-1")
            .unwrap()
            .unwrap()
            .nonces
            .as_slice(),
        b"nonces"
    );
    let claim = RequestClaim {
        client: "c1",
        request_id: "r-1",
        scope: "sign-01",
        expires_at: crate::cluster::client_auth::now_secs() + 60,
    };
    match store.take_presignature("w-2", "p-1", &claim).unwrap() {
        PresignatureTake::Taken { presignature, .. } => {
            assert_eq!(presignature.as_slice(), b"presignature")
        }
        _ => panic!("the presignature did not survive the re-sealing"),
    }
    // Once is enough: a second start finds the marker and changes nothing.
    let wallet_share = store.raw("share/w-2").unwrap();
    drop(store);
    let store = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
    assert_eq!(store.raw("share/w-2").unwrap(), wallet_share);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wallet_id_is_claimed_once_and_a_stored_wallet_is_never_overwritten() {
    let (dir, store) = temp_store("claim-once");
    let pending = WalletRecord {
        confirmed: false,
        ..record("w-1")
    };
    let claim = |session, request| {
        store
            .claim_wallet("w-1", session, &dkg_request(request), false)
            .unwrap()
    };
    assert_eq!(claim("s-a", "r-a"), WalletClaim::Claimed);
    // A second session under the same id, even with a fresh request, is refused; the
    // request stays unused.
    assert_eq!(claim("s-b", "r-b"), WalletClaim::Taken);
    assert!(store.claim_request(&dkg_request("r-b")).unwrap());
    // The same request again is a replay, whatever the id.
    assert_eq!(
        store
            .claim_wallet("w-2", "s-c", &dkg_request("r-a"), false)
            .unwrap(),
        WalletClaim::Replayed
    );
    assert_eq!(store.wallet_claim("w-2").unwrap(), None);

    // Only the claiming session stores the wallet, once.
    let refused = store.put_wallet(&pending, b"b's share", "s-b").unwrap_err();
    assert!(
        refused.to_string().contains("claimed by another session"),
        "{refused}"
    );
    store.put_wallet(&pending, b"a's share", "s-a").unwrap();
    let again = store
        .put_wallet(&pending, b"a's other share", "s-a")
        .unwrap_err();
    assert!(again.to_string().contains("never replaced"), "{again}");
    assert_eq!(
        store.key_package("w-1").unwrap().unwrap().as_slice(),
        b"a's share"
    );

    // Confirmation needs the claiming session and the key it produced.
    let wrong_session = store.confirm_wallet("w-1", "s-b", "00").unwrap_err();
    assert!(
        wrong_session.to_string().contains("another session"),
        "{wrong_session}"
    );
    let wrong_key = store.confirm_wallet("w-1", "s-a", "01").unwrap_err();
    assert!(
        wrong_key
            .to_string()
            .contains("not the one session s-a produced"),
        "{wrong_key}"
    );
    assert_eq!(store.wallet("w-1").unwrap(), None, "still pending");
    let confirmed = store.confirm_wallet("w-1", "s-a", "00").unwrap().unwrap();
    assert!(confirmed.confirmed);

    // Confirmed, the wallet is not replaced, not by its own session either, and the id is
    // never claimed again.
    let refused = store.put_wallet(&pending, b"overwrite", "s-a").unwrap_err();
    assert!(refused.to_string().contains("never replaced"), "{refused}");
    assert_eq!(claim("s-d", "r-d"), WalletClaim::Taken);
    assert_eq!(store.wallet("w-1").unwrap(), Some(confirmed));
    assert_eq!(
        store.key_package("w-1").unwrap().unwrap().as_slice(),
        b"a's share"
    );

    // An id with a record but no claim (written before claims existed) is not claimable.
    store
        .put_raw(
            "wallet/w-old",
            &serde_json::to_vec(&record("w-old")).unwrap(),
        )
        .unwrap();
    assert_eq!(
        store
            .claim_wallet("w-old", "s-e", &dkg_request("r-e"), false)
            .unwrap(),
        WalletClaim::Taken
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_abandoned_claim_survives_a_reopen_and_a_keygen_claims_its_session_with_the_id() {
    let (dir, store) = temp_store("claim-abandoned");
    assert_eq!(
        store
            .claim_wallet("w-1", "s-1", &dkg_request("r-1"), true)
            .unwrap(),
        WalletClaim::Claimed
    );
    // The session id went in with the claim.
    assert!(!store.claim_session("s-1").unwrap());
    assert_eq!(
        store
            .claim_wallet("w-2", "s-1", &dkg_request("r-2"), true)
            .unwrap(),
        WalletClaim::SessionUsed
    );
    assert_eq!(store.wallet_claim("w-2").unwrap(), None);
    drop(store);
    let provider = FileKeyProvider::open(&dir.join("root.key"), b"test passphrase").unwrap();
    let reopened = NodeStore::open(&dir.join("db"), "node-1", &provider).unwrap();
    // The session never stored a wallet: the id stays taken, and nothing lists it.
    assert_eq!(
        reopened.wallet_claim("w-1").unwrap().as_deref(),
        Some("s-1")
    );
    assert_eq!(
        reopened
            .claim_wallet("w-1", "s-9", &dkg_request("r-9"), false)
            .unwrap(),
        WalletClaim::Taken
    );
    assert_eq!(reopened.wallets(None, 10).unwrap(), Vec::new());
    assert_eq!(reopened.wallet_count(), 0);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_presignature_is_pending_until_confirmed_and_a_stale_pending_one_is_pruned() {
    let (dir, store) = temp_store("presign");
    let signers: Vec<String> = vec!["node-1".into(), "node-2".into()];
    store
        .put_presignature("w", "old", &signers, b"secret", &[2; 33], 100)
        .unwrap();
    store
        .put_presignature("w", "new", &signers, b"secret", &[3; 33], 200)
        .unwrap();
    let held = store.presignatures("w").unwrap();
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|held| !held.complete));
    // In id order.
    assert_eq!((held[0].id.as_str(), held[1].id.as_str()), ("new", "old"));
    assert_eq!(held[0].point, vec![3; 33]);
    let claim = RequestClaim {
        client: "c",
        request_id: "r-1",
        scope: "sign",
        expires_at: u64::MAX,
    };
    // A pending one is not handed out for signing, and the request is not used up.
    assert!(matches!(
        store.take_presignature("w", "new", &claim).unwrap(),
        PresignatureTake::Unconfirmed
    ));
    assert!(store.confirm_presignature("w", "new").unwrap());
    assert!(!store.confirm_presignature("w", "missing").unwrap());
    // Only pending ones made before the cut-off go.
    assert_eq!(store.prune_pending_presignatures("w", 300).unwrap(), 1);
    let held = store.presignatures("w").unwrap();
    assert_eq!(held.len(), 1);
    assert!(held[0].id == "new" && held[0].complete);
    assert!(matches!(
        store.take_presignature("w", "new", &claim).unwrap(),
        PresignatureTake::Taken { .. }
    ));
    assert!(store.presignatures("w").unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_orphaned_presignature_is_discarded_and_earlier_records_count_as_complete() {
    let (dir, store) = temp_store("orphan");
    let signers: Vec<String> = vec!["node-1".into(), "node-2".into()];
    store
        .put_presignature("w", "p", &signers, b"secret", &[2; 33], 100)
        .unwrap();
    store.confirm_presignature("w", "p").unwrap();
    assert!(store.discard_presignature("w", "p").unwrap());
    assert!(!store.discard_presignature("w", "p").unwrap());
    assert!(store.presignatures("w").unwrap().is_empty());
    // A record written before presignatures were confirmed.
    store
        .put_raw(
            "presignature/w/legacy",
            br#"{"signers":["node-1","node-2"],"created_at":1,"sealed":"00"}"#,
        )
        .unwrap();
    let held = store.presignatures("w").unwrap();
    assert!(held.len() == 1 && held[0].complete && held[0].point.is_empty());
    assert_eq!(store.prune_pending_presignatures("w", u64::MAX).unwrap(), 0);
    let _ = std::fs::remove_dir_all(dir);
}
