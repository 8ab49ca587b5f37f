//! FROST signing at a node. The start commits to nonces for a message the client's signed
//! request covers and broadcasts the commitments; the one step takes the other signers'
//! signed commitments, builds the signing package from them and this node's own (so the
//! package always carries the message and commitments this node bound at the start), uses the
//! nonces once, and ends with the signature share.
//!
//! A signing run lives in the store, not the session table: its nonces are durable before the
//! commitments leave, so a restart between the two rounds keeps (or, once consumed, loses)
//! exactly these nonces.

use std::collections::BTreeMap;

use std::time::Instant;

use super::runs::{self, Session};
use super::{NodeError, NodeState, claimed, parse_scheme, request_claim};
use crate::custody::audit::{self, AuditEntry, AuditEvent};
use crate::custody::store::PendingSignature;
use crate::model::scheme::{FrostSuite, Tweak};
use crate::model::wallet::WalletRecord;
use crate::protocols::frost as frost_ops;
use crate::wire::envelope;
use crate::wire::statements::StatementFault;
use crate::wire::{RelayedMessage, RunProtocol, SignRequest, StepRequest, StepResponse, purposes};
use crate::with_ciphersuite;

/// Commits to nonces for the request's message and answers with the signed commitments.
pub(super) fn start(state: &NodeState, request: SignRequest) -> Result<StepResponse, NodeError> {
    let record = state.wallet(&request.wallet_id)?;
    let scheme = parse_scheme(&record)?;
    if !record.parties.contains(&state.node_id) {
        return Err(NodeError::bad_request(format!(
            "{} holds no share of wallet {}",
            state.node_id, record.wallet_id
        )));
    }
    let Some(suite) = scheme.frost() else {
        return Err(NodeError::bad_request(format!(
            "wallet {} is {scheme}: it signs with presignatures, not FROST rounds",
            record.wallet_id
        )));
    };
    if request.tweak == Tweak::Bip86 && suite != FrostSuite::Secp256k1Tr {
        return Err(NodeError::bad_request(format!(
            "tweak bip86 applies only to frost-secp256k1-tr, not {scheme}"
        )));
    }
    let message = hex::decode(&request.message)
        .map_err(|error| NodeError::bad_request(format!("message: {error}")))?;
    let verified =
        state.authorize_signature(&request.authorization, &message, request.tweak, &record)?;
    if state.store.peek_nonces(&request.session)?.is_some() {
        return Err(NodeError::unknown_session(
            &request.session,
            format!("signing session {} already exists", request.session),
        ));
    }
    let key_package = state
        .store
        .key_package(&record.wallet_id)?
        .ok_or_else(|| NodeError::internal("wallet without key package"))?;
    let (nonces, commitments) =
        with_ciphersuite!(suite, C => frost_ops::commit::<C>(&key_package, &mut rand::rngs::OsRng))
            .map_err(|error| state.blame(error, "signing round 1"))?;
    // Each message a request covers is signed at most once: a replayed request is refused.
    let scope = format!(
        "sign-{}-{}",
        request.tweak.name(),
        audit::message_digest(&message)
    );
    let pending = PendingSignature {
        wallet_id: record.wallet_id.clone(),
        message: request.message.clone(),
        tweak: request.tweak.name().to_owned(),
        commitments: hex::encode(&commitments),
        client: Some(verified.client().to_owned()),
        request_id: Some(verified.request_id().to_owned()),
    };
    // Durable before the commitments leave, the request's claim in the same write.
    let fresh = state.store.put_nonces(
        &request.session,
        &pending,
        &nonces,
        &request_claim(&verified, &scope),
    )?;
    claimed(&verified, fresh)?;
    Ok(StepResponse {
        messages: vec![RelayedMessage::Broadcast(envelope::sign_statement(
            &purposes::sign_commitments(&record.wallet_id),
            &request.session,
            &state.node_id,
            &state.identity,
            &commitments,
        ))],
        ..StepResponse::default()
    })
}

/// The other signers' commitments in, this node's signature share out; the nonces are used
/// once, and only after the commitments check. `may_sign` says whether the coordinator's role
/// may sign, asked once the session is known to be a signing one (so that any coordinator
/// hears of an unknown session as such).
pub(super) async fn step(
    state: &NodeState,
    may_sign: impl FnOnce() -> Result<(), NodeError>,
    request: StepRequest,
) -> Result<StepResponse, NodeError> {
    let _serial = state.round2.lock().await;
    let unknown = || {
        NodeError::unknown_session(
            &request.session,
            format!(
                "no run {} is in progress here (unknown, ended, or a signing session whose \
                 nonces were already used)",
                request.session
            ),
        )
    };
    let PendingSignature {
        wallet_id,
        message,
        tweak,
        commitments,
        client,
        request_id,
    } = state
        .store
        .peek_nonces(&request.session)?
        .ok_or_else(unknown)?;
    may_sign()?;
    let message = hex::decode(&message)
        .map_err(|error| NodeError::internal(format!("stored message: {error}")))?;
    let audit = |outcome: String| AuditEntry {
        event: AuditEvent::Sign,
        session: request.session.clone(),
        request_id: request_id.clone(),
        client: client.clone(),
        wallet_id: wallet_id.clone(),
        message_digest: Some(audit::message_digest(&message)),
        outcome,
    };
    // The commitments are checked before the nonces are touched: a bad set is refused (and
    // recorded) and the nonces stay unused.
    let checked = (|| -> Result<_, NodeError> {
        let record = state.wallet(&wallet_id)?;
        let scheme = parse_scheme(&record)?;
        let suite = scheme.frost().ok_or_else(|| {
            NodeError::internal(format!("signing nonces of {scheme} wallet {wallet_id}"))
        })?;
        let own = hex::decode(&commitments)
            .map_err(|error| NodeError::internal(format!("stored commitments: {error}")))?;
        let all = signers_commitments(state, &record, &request, own)?;
        if all.len() < usize::from(record.threshold) {
            return Err(NodeError::bad_request(format!(
                "the signing package has {} signers; wallet {} needs {}",
                all.len(),
                record.wallet_id,
                record.threshold
            )));
        }
        let (_, package) =
            with_ciphersuite!(suite, C => frost_ops::build_signing_package::<C>(&all, &message))
                .map_err(|error| state.blame(error, "signing package"))?;
        Ok((record, suite, package))
    })();
    let (record, suite, package) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            state.record(audit(format!("refused: {}", error.message())))?;
            return Err(error);
        }
    };
    // The nonces' deletion and the audit record are two synced writes to different files;
    // they run side by side, and the share is made only once both are on disk.
    // No thread, no signature: refused before the nonces are touched.
    let (consumed, recorded) = std::thread::scope(|scope| {
        let recorded = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn_scoped(scope, || state.record(audit("ok".into())))
            .map_err(|error| NodeError::internal(format!("starting the audit writer: {error}")))?;
        let consumed = state.store.consume_nonces(&request.session);
        let recorded = recorded
            .join()
            .unwrap_or_else(|_| Err(NodeError::internal("the audit writer panicked")));
        Ok::<_, NodeError>((consumed, recorded))
    })?;
    recorded?;
    let after_record = |error: NodeError| {
        let outcome = format!("failed after it was recorded: {}", error.message());
        match state.record(audit(outcome)) {
            Ok(()) => error,
            Err(audit_error) => {
                // The caller hears of the audit failure; the original error is kept here.
                tracing::error!(session = %request.session, error = %error.message(),
                    "signing round 2 failed after its audit record, and recording that failed too");
                audit_error
            }
        }
    };
    let consumed = consumed
        .map_err(NodeError::from)
        .and_then(|consumed| consumed.ok_or_else(unknown))
        .map_err(after_record)?;
    let key_package = state
        .store
        .key_package(&record.wallet_id)
        .map_err(NodeError::from)
        .and_then(|key_package| {
            key_package.ok_or_else(|| NodeError::internal("wallet without key package"))
        })
        .map_err(after_record)?;
    let share = if tweak == Tweak::Bip86.name() {
        frost_ops::sign_bip86(&package, &consumed.nonces, &key_package)
    } else {
        with_ciphersuite!(suite, C => frost_ops::sign::<C>(&package, &consumed.nonces, &key_package))
    }
    .map_err(|error| after_record(state.blame(error, "signing round 2")))?;
    Ok(StepResponse {
        result: Some(envelope::sign_statement(
            &purposes::sign_share(&record.wallet_id),
            &request.session,
            &state.node_id,
            &state.identity,
            &share,
        )),
        ..StepResponse::default()
    })
}

/// Every signer's commitments by FROST index: this node's own as it stored them, and one
/// signed commitment broadcast from each other signer, each a party of the wallet, checked as
/// every relayed message is (`runs::incoming`). A doubled or stray one blames nobody.
fn signers_commitments(
    state: &NodeState,
    record: &WalletRecord,
    request: &StepRequest,
    own: Vec<u8>,
) -> Result<BTreeMap<u16, Vec<u8>>, NodeError> {
    const WHAT: &str = "signing commitment";
    if !request.results.is_empty() {
        return Err(NodeError::bad_request(
            "a signing step carries the other signers' commitments, not results",
        ));
    }
    // The run as the relay sees it: the wallet's parties may sign.
    let run = Session {
        id: request.session.clone(),
        protocol: RunProtocol::FrostSign,
        wallet_id: record.wallet_id.clone(),
        parties: record.parties.clone(),
        last_active: Instant::now(),
        state: None,
    };
    let mut all = BTreeMap::from([(state.index, own)]);
    for message in runs::incoming(state, &run, &request.messages)? {
        let sender = run
            .parties
            .get(usize::from(message.sender))
            .ok_or_else(|| NodeError::internal("a message from no party"))?;
        if !message.broadcast {
            return Err(StatementFault::Stranger {
                what: WHAT,
                sender: sender.clone(),
            }
            .into());
        }
        if all
            .insert(state.index_of(sender)?, message.payload.to_vec())
            .is_some()
        {
            return Err(StatementFault::Count {
                what: WHAT,
                party: sender.clone(),
                count: 2,
            }
            .into());
        }
    }
    Ok(all)
}
