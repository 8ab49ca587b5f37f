//! The FROST protocols, written once over the ciphersuite and run for both suites, at 2-of-3
//! and 3-of-5. Every abort path has a hostile node (a hook that rewrites what it sends, signing
//! or sealing as that node where a hostile node could) and must end with the coordinator
//! naming it, and with no honest node keeping the wallet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use frost_core::keys::SigningShare;
use frost_core::keys::dkg::round2;
use frost_core::{Ciphersuite, Field, Group};
use serde_json::{Value, json};
use thresig_sidecar::api::rpc::codes;
use thresig_sidecar::model::identity::NodeIdentity;
use thresig_sidecar::wire::envelope::{self, SealedEnvelope, SignedStatement};
use thresig_sidecar::wire::{paths, purposes};
use thresig_testkit::cluster::{Hook, InProcessCluster};

use crate::{assert_blames, create, error_of, sign};
use thresig_testkit::devnet::{unhex, verify_bip340, verify_ed25519};

type Tr = frost_secp256k1_tr::Secp256K1Sha256TR;
type Ed = frost_ed25519::Ed25519Sha512;

/// What the generic tests need of a FROST suite besides its ciphersuite.
trait Suite: Ciphersuite {
    /// The scheme name the API takes.
    const SCHEME: &'static str;
    /// Tweaks a wallet of the suite signs with besides none.
    const TWEAKS: &'static [&'static str];
    /// Where the low byte of a serialized proof-of-knowledge `z` is, counted from the end of a
    /// round-1 package (flipping its low bit keeps the scalar canonical and breaks the proof).
    const PROOF_Z_LOW_BYTE_FROM_END: usize;
    /// Verifies with a library the project did not write.
    fn verifies(key: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

impl Suite for Tr {
    const SCHEME: &'static str = "frost-secp256k1-tr";
    const TWEAKS: &'static [&'static str] = &["bip86"];
    // z is a big-endian scalar at the end.
    const PROOF_Z_LOW_BYTE_FROM_END: usize = 1;
    fn verifies(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        verify_bip340(key, message, signature)
    }
}

impl Suite for Ed {
    const SCHEME: &'static str = "frost-ed25519";
    const TWEAKS: &'static [&'static str] = &[];
    // z is a little-endian scalar, the last 32 bytes.
    const PROOF_Z_LOW_BYTE_FROM_END: usize = 32;
    fn verifies(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        verify_ed25519(key, message, signature)
    }
}

/// A serialized scalar (a signing share, a signature share) plus one: still a valid encoding,
/// now a wrong value.
fn scalar_plus_one<C: Ciphersuite>(bytes: &[u8]) -> Vec<u8> {
    let share = SigningShare::<C>::deserialize(bytes).unwrap();
    let one = <<C::Group as Group>::Field as Field>::one();
    SigningShare::<C>::new(share.to_scalar() + one).serialize()
}

fn statement(value: &Value) -> SignedStatement {
    serde_json::from_value(value.clone()).unwrap()
}

/// Flips one hex digit of a string field: the same length, another value.
pub fn flip_hex(field: &mut Value) {
    let mut text = field.as_str().unwrap().to_owned();
    let last = text.pop().unwrap();
    text.push(if last == '0' { '1' } else { '0' });
    *field = Value::String(text);
}

/// The payload of `statement` replaced by `rewrite(payload)`, signed again by its sender with
/// its `identity` (a hostile node holds its own) for `purpose`.
fn resigned(
    identity: &NodeIdentity,
    purpose: String,
    statement_json: &Value,
    rewrite: impl Fn(&mut Vec<u8>),
) -> Value {
    let original = statement(statement_json);
    let mut payload = hex::decode(&original.payload).unwrap();
    rewrite(&mut payload);
    serde_json::to_value(envelope::sign_statement(
        &purpose,
        &original.session,
        &original.sender,
        identity,
        &payload,
    ))
    .unwrap()
}

/// A DKG and signatures under it, checked by independent verifiers.
async fn check_dkg_and_sign<C: Suite>(nodes: u16, threshold: u16) {
    let cluster = InProcessCluster::start(nodes, threshold).await;
    let wallet = create(&cluster, C::SCHEME, threshold).await;
    let wallet = &wallet["result"];
    assert_eq!(wallet["scheme"], C::SCHEME, "{wallet}");
    assert_eq!(wallet["threshold"], threshold);
    assert_eq!(wallet["parties"], nodes);
    assert_eq!(wallet["nodes"], json!(cluster.node_ids()));
    // Every holder attests the wallet, and getWallet describes it as createWallet did.
    assert_eq!(
        wallet["attestations"].as_array().unwrap().len(),
        nodes as usize
    );
    let id = wallet["walletId"].as_str().unwrap();
    let got = cluster
        .result("thresig_getWallet", json!({ "walletId": id }))
        .await;
    assert_eq!(got["publicKey"], wallet["publicKey"]);
    assert_eq!(got["addresses"], wallet["addresses"]);
    let key = unhex(wallet["publicKey"].as_str().unwrap());
    for (index, tweak) in ["none"].iter().chain(C::TWEAKS).enumerate() {
        for message in [b"in-process cluster".to_vec(), vec![index as u8; 32]] {
            let signed = sign(&cluster, id, &message, tweak).await;
            let signed = &signed["result"];
            let signature = unhex(signed["signature"].as_str().unwrap());
            let verifying = unhex(signed["publicKey"].as_str().unwrap());
            assert_eq!(verifying == key, *tweak == "none", "{tweak}: {signed}");
            assert!(
                C::verifies(&verifying, &message, &signature),
                "{tweak} signature does not verify: {signed}"
            );
            assert!(!C::verifies(&verifying, b"another message", &signature));
            assert_eq!(
                signed["signers"].as_array().unwrap().len(),
                threshold as usize
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkg_and_sign_frost_secp256k1_tr_2_of_3() {
    check_dkg_and_sign::<Tr>(3, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkg_and_sign_frost_secp256k1_tr_3_of_5() {
    check_dkg_and_sign::<Tr>(5, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkg_and_sign_frost_ed25519_2_of_3() {
    check_dkg_and_sign::<Ed>(3, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkg_and_sign_frost_ed25519_3_of_5() {
    check_dkg_and_sign::<Ed>(5, 3).await;
}

/// The wallet ids of the DKGs a hooked node took part in.
type Seen = Arc<Mutex<Vec<String>>>;

/// A round of a FROST run as a node answers it on the start/step relay.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// The DKG's start: one broadcast round-1 package.
    DkgRound1,
    /// The DKG's first step: one sealed share to each other party.
    DkgRound2,
    /// The DKG's second step: the node's result (its public key package).
    DkgRound3,
    /// The signing start: one broadcast of commitments.
    SignRound1,
    /// The signing step: the node's result (its signature share).
    SignRound2,
}

impl Round {
    /// The round `answer` (to `request` on `path`) is of, if it is one of these.
    fn of(path: &str, request: &Value, answer: &Value) -> Option<Round> {
        let first_p2p = |value: &Value| value["messages"][0].get("p2p").is_some();
        if path == paths::START {
            return match request["protocol"].as_str() {
                Some("keygen") => Some(Round::DkgRound1),
                Some("sign") => Some(Round::SignRound1),
                _ => None,
            };
        }
        if path != paths::STEP {
            None
        } else if first_p2p(answer) {
            Some(Round::DkgRound2)
        } else if answer["result"].is_null() {
            None
        } else if first_p2p(request) {
            // The DKG step that takes the shares; a signing step takes commitments.
            Some(Round::DkgRound3)
        } else {
            Some(Round::SignRound2)
        }
    }

    /// The part of the answer a hostile node rewrites: the broadcast statement, the list of
    /// messages (round 2 of a DKG) or the result statement.
    fn item(self, answer: &mut Value) -> &mut Value {
        match self {
            Round::DkgRound1 | Round::SignRound1 => &mut answer["messages"][0]["broadcast"],
            Round::DkgRound2 => &mut answer["messages"],
            Round::DkgRound3 | Round::SignRound2 => &mut answer["result"],
        }
    }
}

/// A hostile node on one cluster: its id, the wallets of the DKGs it joined, and how many
/// wallets the cluster should hold.
struct Hostile<'a> {
    cluster: &'a InProcessCluster,
    node: &'static str,
    seen: Seen,
    wallets: usize,
}

/// Notes the wallet of a DKG start.
fn note_dkg(seen: &Seen, path: &str, request: &Value) {
    if path == paths::START
        && request["protocol"] == "keygen"
        && let Some(wallet) = request["params"]["wallet_id"].as_str()
    {
        seen.lock().unwrap().push(wallet.to_owned());
    }
}

impl Hostile<'_> {
    /// A hook that rewrites the hostile node's answers of `round` with `rewrite(item)` (the
    /// part [`Round::item`] names) and notes the wallet id of every DKG it is asked to join.
    fn answers_on(
        &self,
        round: Round,
        rewrite: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> Hook {
        let seen = Arc::clone(&self.seen);
        Hook::on_response(move |at, request, answer| {
            note_dkg(&seen, at, request);
            if Round::of(at, request, answer) == Some(round) {
                rewrite(round.item(answer));
            }
        })
    }

    /// Runs a DKG with the node acting as `hook` says; returns the coordinator's error, after
    /// checking that no node kept the wallet.
    async fn dkg(&self, scheme: &str, hook: Hook) -> Value {
        self.cluster.set_hook(self.node, hook);
        let response = create(self.cluster, scheme, 2).await;
        self.cluster.clear_hooks();
        let wallet = self.seen.lock().unwrap().pop();
        let wallet = wallet.expect("the hostile node joined the DKG");
        let kept = self
            .cluster
            .rpc("thresig_getWallet", json!({ "walletId": wallet }))
            .await;
        assert_eq!(error_of(&kept)["code"], codes::UNKNOWN_WALLET, "{kept}");
        self.assert_wallets().await;
        response
    }

    /// Signs with `wallet` with the node acting as `hook` says; the coordinator's answer.
    async fn sign(&self, wallet: &str, hook: Hook) -> Value {
        self.cluster.set_hook(self.node, hook);
        let response = sign(self.cluster, wallet, b"signed by node-1 and node-2", "none").await;
        self.cluster.clear_hooks();
        response
    }

    /// The cluster lists as many wallets as it should.
    async fn assert_wallets(&self) {
        let listed = self.cluster.result("thresig_listWallets", json!({})).await;
        let listed = listed["wallets"].as_array().unwrap().len();
        assert_eq!(listed, self.wallets, "wallets listed");
    }
}

/// Every abort path of a FROST DKG and signature, each with node-2 hostile, on one 2-of-3
/// cluster: the coordinator's error names node-2, and nothing half-made is kept.
async fn check_hostile_parties<C: Suite>() {
    // Hooks hold identities, never the cluster, so that dropping it stops every server.
    let cluster = InProcessCluster::start(3, 2).await;
    let mut hostile = Hostile {
        cluster: &cluster,
        node: "node-2",
        seen: Arc::default(),
        wallets: 0,
    };
    let node = hostile.node;
    let identity = cluster.identity(node);
    let bad_signature = "signature of node-2 does not verify";
    let flip_signature = |item: &mut Value| flip_hex(&mut item["signature"]);

    // DKG round 1: a package whose signature does not verify. The coordinator checks it as
    // it arrives, before relaying it (a node it reached could not tell who spoiled it).
    let hook = hostile.answers_on(Round::DkgRound1, flip_signature);
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(&response, node, bad_signature);

    // DKG round 1: a validly signed package with a proof of knowledge that does not verify.
    let (signer, joined) = (Arc::clone(&identity), Arc::clone(&hostile.seen));
    let hook = hostile.answers_on(Round::DkgRound1, move |item| {
        let wallet = joined.lock().unwrap().last().cloned().unwrap();
        *item = resigned(&signer, purposes::dkg_round1(&wallet), item, |package| {
            let at = package.len() - C::PROOF_Z_LOW_BYTE_FROM_END;
            package[at] ^= 1;
        });
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(&response, node, "The proof of knowledge is not valid");

    // DKG round 2: an envelope whose ciphertext was altered after it was signed.
    let hook = hostile.answers_on(Round::DkgRound2, |messages| {
        flip_hex(&mut messages[0]["p2p"]["ciphertext"])
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(
        &response,
        node,
        &format!("sent a message that does not check: {bad_signature}"),
    );

    // DKG round 2: a validly sealed share that does not match the sender's commitment. The
    // test opens the envelope with its recipient's identity; a hostile node has the plaintext.
    let identities: HashMap<String, Arc<NodeIdentity>> = cluster
        .node_ids()
        .into_iter()
        .map(|node| (node.clone(), cluster.identity(&node)))
        .collect();
    let hook = hostile.answers_on(Round::DkgRound2, move |messages| {
        let sealed: SealedEnvelope = serde_json::from_value(messages[0]["p2p"].clone()).unwrap();
        let (recipient, sender) = (&identities[&sealed.recipient], &identities[&sealed.sender]);
        let package = envelope::open(
            &sealed,
            &sealed.session,
            &sealed.recipient,
            recipient,
            &sender.public(),
        )
        .unwrap();
        let package = round2::Package::<C>::deserialize(&package).unwrap();
        let wrong = scalar_plus_one::<C>(&package.signing_share().serialize());
        let wrong = round2::Package::<C>::new(SigningShare::deserialize(&wrong).unwrap());
        let resealed = envelope::seal(
            &sealed.session,
            &sealed.sender,
            sender,
            &sealed.recipient,
            &recipient.public(),
            &wrong.serialize().unwrap(),
        )
        .unwrap();
        messages[0]["p2p"] = serde_json::to_value(resealed).unwrap();
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(&response, node, "Invalid secret share");

    // DKG round 2: no envelope for one of the parties (a recipient alone cannot tell whether
    // the sender or the coordinator dropped it; the coordinator can).
    let hook = hostile.answers_on(Round::DkgRound2, |messages| {
        messages.as_array_mut().unwrap().remove(0);
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(&response, node, "not one for each of");

    // DKG round 2: the node claims a party's round-1 package never reached it; it is the one
    // that aborts, blaming no one.
    let seen = Arc::clone(&hostile.seen);
    let hook = Hook::on_request(move |path, request| {
        note_dkg(&seen, path, request);
        let round1 = path == paths::STEP && request["messages"][0].get("broadcast").is_some();
        if round1 {
            request["messages"].as_array_mut().unwrap().remove(0);
        }
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    let error = error_of(&response);
    assert_eq!(error["code"], codes::PROTOCOL_ABORT, "{response}");
    assert_eq!(error["data"]["node"], node, "{response}");

    // DKG round 3: a result whose signature does not verify.
    let hook = hostile.answers_on(Round::DkgRound3, flip_signature);
    let response = hostile.dkg(C::SCHEME, hook).await;
    assert_blames(&response, node, bad_signature);

    // DKG round 3: a validly signed result with another group key.
    let (signer, joined) = (Arc::clone(&identity), Arc::clone(&hostile.seen));
    let hook = hostile.answers_on(Round::DkgRound3, move |item| {
        let wallet = joined.lock().unwrap().last().cloned().unwrap();
        *item = resigned(&signer, purposes::dkg_result(&wallet), item, |package| {
            let last = package.len() - 1;
            package[last] ^= 1;
        });
    });
    let response = hostile.dkg(C::SCHEME, hook).await;
    let error = error_of(&response);
    assert_eq!(error["code"], codes::INCONSISTENT, "{response}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("node-2 ended session"), "{response}");

    // The same cluster, honest again, makes and signs with a wallet.
    let wallet = create(&cluster, C::SCHEME, 2).await["result"].clone();
    hostile.wallets += 1;
    let id = wallet["walletId"].as_str().unwrap().to_owned();
    let honest = hostile.sign(&id, Hook::default()).await;
    assert!(honest.get("result").is_some(), "{honest}");

    // Signing round 1: commitments whose signature does not verify.
    let hook = hostile.answers_on(Round::SignRound1, flip_signature);
    assert_blames(&hostile.sign(&id, hook).await, node, bad_signature);

    // Signing round 1: validly signed commitments that do not decode.
    let (signer, wallet_id) = (Arc::clone(&identity), id.clone());
    let hook = hostile.answers_on(Round::SignRound1, move |item| {
        let purpose = purposes::sign_commitments(&wallet_id);
        *item = resigned(&signer, purpose, item, |commitments| {
            commitments.truncate(commitments.len() / 2)
        });
    });
    assert_blames(
        &hostile.sign(&id, hook).await,
        node,
        "commitments do not decode",
    );

    // Signing round 2: a share whose signature does not verify.
    let hook = hostile.answers_on(Round::SignRound2, flip_signature);
    assert_blames(&hostile.sign(&id, hook).await, node, bad_signature);

    // Signing round 2: a validly signed share that is wrong.
    let (signer, wallet_id) = (Arc::clone(&identity), id.clone());
    let hook = hostile.answers_on(Round::SignRound2, move |item| {
        *item = resigned(&signer, purposes::sign_share(&wallet_id), item, |share| {
            *share = scalar_plus_one::<C>(share)
        });
    });
    assert_blames(
        &hostile.sign(&id, hook).await,
        node,
        "Invalid signature share",
    );

    // Honest again: the wallet still signs, and no wallet was added or lost.
    let signed = hostile.sign(&id, Hook::default()).await;
    let signed = &signed["result"];
    assert!(C::verifies(
        &unhex(signed["publicKey"].as_str().unwrap()),
        b"signed by node-1 and node-2",
        &unhex(signed["signature"].as_str().unwrap())
    ));
    hostile.assert_wallets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_parties_are_named_frost_secp256k1_tr() {
    check_hostile_parties::<Tr>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_parties_are_named_frost_ed25519() {
    check_hostile_parties::<Ed>().await;
}
