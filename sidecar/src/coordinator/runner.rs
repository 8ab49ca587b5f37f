//! The coordinator's one round runner, the same for every protocol: it starts a run at its
//! parties, relays each round's messages, collects every party's signed result and, for a
//! protocol that confirms, shows each party the others' results as the run's last step.
//!
//! Every message and result is checked as its node's answer arrives, before it is relayed: a
//! recipient could not tell whether its sender or the relay spoiled a bad one, but the
//! coordinator got it straight from its sender, so it names the sender itself.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Coordinator, CoordinatorError, abort_from, node_client::all_ok};
use crate::cluster::manifest::Manifest;
use crate::coordinator::verify;
use crate::wire::envelope::{self, SignedStatement};
use crate::wire::{
    Confirmed, RelayedMessage, RunProtocol, StartRequest, StepRequest, StepResponse, paths,
};

/// The most rounds a run may take before the coordinator gives up on it (CGGMP21 presigning,
/// the longest, takes four).
const MAX_ROUNDS: usize = 12;

/// How a run ended: every party's result and, for a protocol that confirms, what each kept.
pub(super) struct RunEnd {
    /// Each party's signed result and its payload, in party order, each checked.
    pub(super) results: Vec<(String, SignedStatement, Vec<u8>)>,
    /// For a protocol that confirms: each party's confirmation, in party order.
    pub(super) confirmed: Vec<(String, Confirmed)>,
}

impl RunEnd {
    /// The payload every party ended with, which must be the same (an aux-info digest): a
    /// party that differs is named.
    pub(super) fn agreed(
        &self,
        manifest: &Manifest,
        purpose: &str,
        session: &str,
    ) -> Result<Vec<u8>, CoordinatorError> {
        let answered: Vec<(String, SignedStatement)> = self
            .results
            .iter()
            .map(|(party, statement, _)| (party.clone(), statement.clone()))
            .collect();
        verify::agreed(manifest, &answered, purpose, session)
    }
}

/// One node's answer, checked: its messages by recipient and its result, if it ended.
struct Checked {
    /// Its P2P messages, by recipient, and its broadcasts (recipient `None`).
    messages: Vec<(Option<String>, RelayedMessage)>,
    /// Its result and the result's payload.
    result: Option<(SignedStatement, Vec<u8>)>,
}

/// What a node's messages and result are checked against.
struct Rules<'a> {
    manifest: &'a Manifest,
    session: &'a str,
    parties: &'a [String],
    broadcast_purpose: String,
    result_purpose: String,
}

impl Rules<'_> {
    /// Checks `node`'s answer: every message signed by it as it stands (and, if P2P, to another
    /// party), its result signed by it for the protocol's result purpose.
    fn check(&self, node: &str, answer: StepResponse) -> Result<Checked, CoordinatorError> {
        let identity = &self
            .manifest
            .node(node)
            .ok_or_else(|| CoordinatorError::Internal(format!("unknown node {node}")))?
            .identity;
        let mut messages = Vec::with_capacity(answer.messages.len());
        for message in answer.messages {
            if message.sender() != node {
                return Err(abort_from(
                    node,
                    format!("sent a message signed as {}", message.sender()),
                ));
            }
            let (recipient, checked) = match &message {
                RelayedMessage::P2p(sealed) => {
                    if !self.parties.contains(&sealed.recipient) || sealed.recipient == node {
                        return Err(abort_from(
                            node,
                            format!(
                                "addressed a message to {}, not another party",
                                sealed.recipient
                            ),
                        ));
                    }
                    (
                        Some(sealed.recipient.clone()),
                        envelope::verify_seal(sealed, identity),
                    )
                }
                RelayedMessage::Broadcast(statement) => (
                    None,
                    envelope::verify_statement(
                        statement,
                        &self.broadcast_purpose,
                        self.session,
                        identity,
                    )
                    .map(|_| ()),
                ),
            };
            checked.map_err(|error| {
                abort_from(node, format!("sent a message that does not check: {error}"))
            })?;
            messages.push((recipient, message));
        }
        self.check_p2p_fan(node, &messages)?;
        let result = answer
            .result
            .map(|statement| {
                verify::answer(
                    self.manifest,
                    node,
                    &statement,
                    &self.result_purpose,
                    self.session,
                )
                .map(|(_, payload)| (statement, payload))
            })
            .transpose()?;
        Ok(Checked { messages, result })
    }
}

impl Rules<'_> {
    /// A round's P2P messages from `node` are none, or one to each other party: a recipient
    /// missing one cannot tell whether its sender or the relay dropped it, the coordinator can.
    fn check_p2p_fan(
        &self,
        node: &str,
        messages: &[(Option<String>, RelayedMessage)],
    ) -> Result<(), CoordinatorError> {
        let mut sent: Vec<&str> = messages
            .iter()
            .filter_map(|(recipient, _)| recipient.as_deref())
            .collect();
        if sent.is_empty() {
            return Ok(());
        }
        sent.sort_unstable();
        let mut expected: Vec<&str> = self
            .parties
            .iter()
            .map(String::as_str)
            .filter(|party| *party != node)
            .collect();
        expected.sort_unstable();
        if sent != expected {
            return Err(abort_from(
                node,
                format!(
                    "sent P2P messages for [{}], not one for each of [{}]",
                    sent.join(", "),
                    expected.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

impl Coordinator {
    /// Runs `start` among `parties` to its end, each call within `round_timeout`.
    pub(super) async fn run(
        &self,
        start: &StartRequest,
        parties: &[String],
        round_timeout: Duration,
    ) -> Result<RunEnd, CoordinatorError> {
        let answers = self
            .client
            .fan_out(parties, paths::START, round_timeout, |_| start)
            .await;
        let answers = all_ok(answers)?;
        self.relay(start, parties, answers, round_timeout).await
    }

    /// Relays a run that `parties` started (their answers to the start, in party order) to
    /// its end.
    pub(super) async fn relay(
        &self,
        start: &StartRequest,
        parties: &[String],
        answers: Vec<(String, StepResponse)>,
        round_timeout: Duration,
    ) -> Result<RunEnd, CoordinatorError> {
        let protocol = start.protocol();
        let session = start.session();
        let rules = Rules {
            manifest: self.manifest(),
            session,
            parties,
            broadcast_purpose: protocol.broadcast_purpose(start.wallet_id()),
            result_purpose: protocol.result_purpose(start.wallet_id()),
        };
        let mut checked: Vec<(String, Checked)> = answers
            .into_iter()
            .map(|(node, answer)| Ok((node.clone(), rules.check(&node, answer)?)))
            .collect::<Result<_, CoordinatorError>>()?;
        let mut results: BTreeMap<String, (SignedStatement, Vec<u8>)> = BTreeMap::new();
        for _ in 0..MAX_ROUNDS {
            let mut inboxes: BTreeMap<&str, Vec<RelayedMessage>> = BTreeMap::new();
            for (node, answer) in checked {
                if let Some(result) = answer.result {
                    results.insert(node.clone(), result);
                }
                for (recipient, message) in answer.messages {
                    match recipient {
                        Some(recipient) => {
                            let party = parties
                                .iter()
                                .find(|party| **party == recipient)
                                .ok_or_else(|| CoordinatorError::Internal("no party".into()))?;
                            inboxes.entry(party).or_default().push(message);
                        }
                        None => {
                            for party in parties.iter().filter(|party| **party != node) {
                                inboxes.entry(party).or_default().push(message.clone());
                            }
                        }
                    }
                }
            }
            let pending: Vec<String> = parties
                .iter()
                .filter(|party| !results.contains_key(*party))
                .cloned()
                .collect();
            if pending.is_empty() {
                let run = (protocol, session, start.wallet_id());
                return self.end(run, parties, results, round_timeout).await;
            }
            if pending
                .iter()
                .all(|party| inboxes.get(party.as_str()).is_none_or(Vec::is_empty))
            {
                return Err(CoordinatorError::Inconsistent(format!(
                    "{} session {session} stalled: {} wait for messages nobody sent",
                    protocol.name(),
                    pending.join(", ")
                )));
            }
            let requests: BTreeMap<String, StepRequest> = pending
                .iter()
                .map(|party| {
                    let request = StepRequest {
                        session: session.to_owned(),
                        messages: inboxes.remove(party.as_str()).unwrap_or_default(),
                        results: Vec::new(),
                    };
                    self.observe(paths::STEP, &request);
                    (party.clone(), request)
                })
                .collect();
            // Each answer is checked as it arrives, while slower nodes still compute.
            let answers = self
                .client
                .fan_out_then(
                    &pending,
                    paths::STEP,
                    round_timeout,
                    |node| &requests[node],
                    |node, answer: StepResponse| rules.check(node, answer),
                )
                .await;
            checked = all_ok(answers)?
                .into_iter()
                .map(|(node, answer)| Ok((node, answer?)))
                .collect::<Result<_, CoordinatorError>>()?;
        }
        Err(CoordinatorError::Inconsistent(format!(
            "{} session {session} did not end within {MAX_ROUNDS} rounds",
            protocol.name()
        )))
    }

    /// Every party has its result: for a protocol that confirms, the results must agree, and
    /// each party is shown the others' as the last step.
    async fn end(
        &self,
        (protocol, session, wallet_id): (RunProtocol, &str, &str),
        parties: &[String],
        mut results: BTreeMap<String, (SignedStatement, Vec<u8>)>,
        round_timeout: Duration,
    ) -> Result<RunEnd, CoordinatorError> {
        let results: Vec<(String, SignedStatement, Vec<u8>)> = parties
            .iter()
            .filter_map(|party| {
                let (statement, payload) = results.remove(party)?;
                Some((party.clone(), statement, payload))
            })
            .collect();
        if !protocol.confirms() {
            return Ok(RunEnd {
                results,
                confirmed: Vec::new(),
            });
        }

        let end = RunEnd {
            results,
            confirmed: Vec::new(),
        };
        // Checked here first, so that a party that ended differently is named.
        end.agreed(
            self.manifest(),
            &protocol.result_purpose(wallet_id),
            session,
        )?;
        let results = end.results;
        let shown = |node: &str| StepRequest {
            session: session.to_owned(),
            messages: Vec::new(),
            results: results
                .iter()
                .filter(|(party, _, _)| party != node)
                .map(|(_, statement, _)| statement.clone())
                .collect(),
        };
        let answers = self
            .client
            .fan_out(parties, paths::STEP, round_timeout, shown)
            .await;
        let confirmed = all_ok::<StepResponse>(answers)?
            .into_iter()
            .map(|(node, answer)| match answer.confirmed {
                Some(confirmed) => Ok((node, confirmed)),
                None => Err(abort_from(
                    &node,
                    format!(
                        "answered the confirmation of {} session {session} without confirming",
                        protocol.name()
                    ),
                )),
            })
            .collect::<Result<_, CoordinatorError>>()?;
        Ok(RunEnd { results, confirmed })
    }
}
