//! A FROST DKG at a node (frost-secp256k1-tr and frost-ed25519 wallets): round 1 broadcasts a
//! signed package with a proof of knowledge, round 2 seals one share to each other party,
//! round 3 derives the key, stores the wallet pending and ends with its public key package,
//! which the confirmation step activates once every party shows the same one.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use super::runs::{Advanced, Confirming, Handler, Keeps, Opened, RunState, Session};
use super::{Derivation, NodeError, NodeState};
use crate::custody::store::WalletRecord;
use crate::model::scheme::{FrostSuite, WalletScheme};
use crate::protocols::cggmp::runner::{RawIncoming, RawOutgoing};
use crate::protocols::frost::{self as frost_ops, DkgSecret};
use crate::wire::KeygenRequest;
use crate::with_ciphersuite;

/// A FROST DKG in progress at this node.
pub(in crate::node) struct DkgRun {
    suite: FrostSuite,
    threshold: u16,
    /// The client request that asked for the DKG.
    client: String,
    request_id: String,
    /// For a passphrase derivation, its tag (recorded with the wallet once confirmed).
    derive_tag: Option<String>,
    phase: Phase,
}

/// Where this node's DKG stands.
enum Phase {
    /// Not started: the randomness of round 1 (fixed by a derivation, else fresh).
    Fresh(Option<Zeroizing<[u8; 32]>>),
    /// Round 1 sent.
    AfterRound1(DkgSecret),
    /// Round 2 sent; the state holds the others' decoded round-1 packages.
    AfterRound2(DkgSecret),
}

/// Checks a DKG start against the cluster and the client's signed request, claims the wallet
/// id, and opens the run.
pub(in crate::node) fn open(
    state: &NodeState,
    request: KeygenRequest,
) -> Result<Opened, NodeError> {
    check_id_parties(state, &request)?;
    let suite = request.scheme.frost().ok_or_else(|| {
        NodeError::bad_request(format!(
            "{} wallets are made by a CGGMP21 keygen, not a FROST DKG",
            request.scheme
        ))
    })?;
    state.check_wallet_id_free(&request.wallet_id)?;
    let (verified, derivation) = state.authorize_dkg(&request)?;
    // One DKG per request (a replay under a new session id is refused here), and one session
    // per wallet id, ever.
    state.claim_wallet_id(&verified, &request.wallet_id, &request.session, false)?;
    let (seed, derive_tag) = match derivation {
        Some(Derivation { seed, tag }) => (Some(seed), Some(tag)),
        None => (None, None),
    };
    Ok(Opened {
        parties: request.parties,
        state: RunState::FrostDkg(DkgRun {
            suite,
            threshold: request.threshold,
            client: verified.client().to_owned(),
            request_id: verified.request_id().to_owned(),
            derive_tag,
            phase: Phase::Fresh(seed),
        }),
        claim_session: true,
    })
}

/// The parties are distinct cluster nodes, this one among them; the threshold fits them.
fn check_id_parties(state: &NodeState, request: &KeygenRequest) -> Result<(), NodeError> {
    super::check_id("wallet id", &request.wallet_id)?;
    let parties = &request.parties;
    super::runs::check_parties(state, parties)?;
    let max =
        u16::try_from(parties.len()).map_err(|_| NodeError::bad_request("too many parties"))?;
    if request.threshold < 2 || request.threshold > max {
        return Err(NodeError::bad_request(format!(
            "threshold {} must be between 2 and the {max} parties",
            request.threshold
        )));
    }
    Ok(())
}

impl Handler for DkgRun {
    async fn advance(
        self,
        node: &NodeState,
        session: &Session,
        incoming: Option<Vec<RawIncoming>>,
    ) -> Result<Advanced, NodeError> {
        let DkgRun {
            suite,
            threshold,
            client,
            request_id,
            derive_tag,
            phase,
        } = self;
        let next = |phase| {
            RunState::FrostDkg(DkgRun {
                suite,
                threshold,
                client: client.clone(),
                request_id: request_id.clone(),
                derive_tag: derive_tag.clone(),
                phase,
            })
        };
        match (phase, incoming) {
            (Phase::Fresh(seed), None) => {
                // A derivation's randomness comes from the node's root key and the
                // passphrase, so the same passphrase and root keys always give the same shares.
                let mut rng = match seed {
                    Some(seed) => ChaCha20Rng::from_seed(*seed),
                    None => ChaCha20Rng::from_entropy(),
                };
                let parties = session.parties.len() as u16;
                let (secret, package) = with_ciphersuite!(suite, C => frost_ops::dkg_part1::<C>(node.index, parties, threshold, &mut rng))
                    .map_err(|error| node.blame(error, "DKG round 1"))?;
                Ok(Advanced::Next {
                    sent: vec![RawOutgoing {
                        recipient: None,
                        payload: Zeroizing::new(package),
                    }],
                    state: next(Phase::AfterRound1(secret)),
                })
            }
            (Phase::AfterRound1(secret), Some(incoming)) => {
                let round1: BTreeMap<u16, Vec<u8>> = super::runs::one_from_each_other(
                    node,
                    session,
                    "round-1 package",
                    incoming,
                    true,
                )?
                .into_iter()
                .map(|(index, payload)| (index, payload.to_vec()))
                .collect();
                let (secret, outgoing) =
                    with_ciphersuite!(suite, C => frost_ops::dkg_part2::<C>(secret, &round1))
                        .map_err(|error| node.blame(error, "DKG round 2"))?;
                let mut sent = Vec::with_capacity(outgoing.len());
                for (index, package) in outgoing {
                    let recipient = node.id_of(index);
                    let position = session
                        .position_of(&recipient)
                        .ok_or_else(|| NodeError::internal("a share for no party"))?;
                    sent.push(RawOutgoing {
                        recipient: Some(position),
                        payload: package_fault(&node.node_id, package),
                    });
                }
                Ok(Advanced::Next {
                    sent,
                    state: next(Phase::AfterRound2(secret)),
                })
            }
            (Phase::AfterRound2(secret), Some(incoming)) => {
                let round2 = super::runs::one_from_each_other(
                    node,
                    session,
                    "round-2 package",
                    incoming,
                    false,
                )?;
                let output = with_ciphersuite!(suite, C => frost_ops::dkg_part3::<C>(node.index, &secret, &round2))
                    .map_err(|error| node.blame(error, "DKG round 3"))?;
                let record = WalletRecord {
                    wallet_id: session.wallet_id.clone(),
                    scheme: WalletScheme::Frost(suite).name().to_owned(),
                    threshold,
                    parties: session.parties.clone(),
                    public_key_package: hex::encode(&output.public_key_package),
                    created_at: super::now(),
                    confirmed: false,
                };
                // Stored pending: the wallet exists only once every party confirms the same
                // group key.
                node.store
                    .put_wallet(&record, &output.key_package, &session.id)?;
                Ok(Advanced::Ended {
                    sent: Vec::new(),
                    result: output.public_key_package.clone(),
                    confirming: Some(Confirming {
                        own_result: output.public_key_package,
                        keeps: Keeps::Wallet {
                            client,
                            request_id,
                            derive_tag,
                        },
                    }),
                })
            }
            (_, _) => Err(NodeError::bad_request(format!(
                "DKG session {} got a round out of order",
                session.id
            ))),
        }
    }
}

/// Test fault injection: with the `test-faults` feature and
/// `THRESIG_TEST_FAULT=corrupt-dkg-share:NODE-ID` in its environment, that node sends corrupted
/// round-2 shares (a misbehaving node), so tests can check that honest nodes abort and name it.
/// Without the feature this is the identity.
#[cfg(feature = "test-faults")]
fn package_fault(node_id: &str, package: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    if std::env::var("THRESIG_TEST_FAULT").ok() == Some(format!("corrupt-dkg-share:{node_id}")) {
        tracing::warn!(node = node_id, "test fault: corrupting DKG round-2 shares");
        let mut package = package;
        if let Some(last) = package.last_mut() {
            *last ^= 1;
        }
        return package;
    }
    package
}

#[cfg(not(feature = "test-faults"))]
fn package_fault(_node_id: &str, package: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    package
}
