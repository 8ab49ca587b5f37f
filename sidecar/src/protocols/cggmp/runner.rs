//! Runs one CGGMP21 protocol execution (aux info, keygen, presigning) on its own thread, one
//! round at a time, for a node whose messages arrive in batches relayed by the coordinator.
//!
//! The `cggmp21` crate exposes each protocol as a `round_based` state machine. The machine
//! borrows its randomness and key share, so it lives on a dedicated thread that owns both; the
//! node's request handlers talk to it over channels. The thread proceeds until the machine
//! wants a message it does not have, then hands over everything it sent since the last batch
//! and waits for the next one. The arithmetic (Paillier, range proofs) takes from milliseconds
//! to seconds per round, so it is kept off the async runtime.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Duration;

use cggmp21::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp21::round_based::{Incoming, MessageDestination, MessageType};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A protocol message from one party, as the node received and authenticated it. No `Debug`:
/// a P2P payload carries secret shares.
pub struct RawIncoming {
    /// The sender's index in the protocol.
    pub sender: u16,
    /// Whether it was broadcast to every party (otherwise sent to this party alone).
    pub broadcast: bool,
    /// The serialised `cggmp21` message.
    pub payload: zeroize::Zeroizing<Vec<u8>>,
}

/// A protocol message this party sends (no `Debug`, as [`RawIncoming`]).
pub struct RawOutgoing {
    /// The recipient's index in the protocol; `None` for a broadcast.
    pub recipient: Option<u16>,
    /// The serialised `cggmp21` message (a P2P one carries secret shares for its recipient
    /// until it is sealed).
    pub payload: zeroize::Zeroizing<Vec<u8>>,
}

/// Why a run ended without output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// What went wrong.
    pub message: String,
    /// The party blamed, by protocol index, when the failure is attributable.
    pub culprit: Option<u16>,
}

/// What a run reports after each batch.
pub enum RunEvent<O> {
    /// The messages sent since the last batch; the run waits for the next batch.
    Messages(Vec<RawOutgoing>),
    /// The run ended: the last messages it sent, and its output or failure.
    Finished(Vec<RawOutgoing>, Result<O, RunFailure>),
}

/// A protocol execution on its thread.
pub struct ProtocolRun<O> {
    to_run: mpsc::Sender<Vec<RawIncoming>>,
    from_run: tokio::sync::mpsc::Receiver<RunEvent<O>>,
}

impl<O: Send + 'static> ProtocolRun<O> {
    /// Starts `body` on a new thread. `body` builds the state machine (which may borrow what it
    /// owns) and hands it to [`drive`] with the channels it is given.
    pub fn spawn<F>(name: &str, body: F) -> Result<Self, RunFailure>
    where
        F: FnOnce(Mailbox<O>) + Send + 'static,
    {
        let (to_run, inbox) = mpsc::channel();
        let (outbox, from_run) = tokio::sync::mpsc::channel(4);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(Mailbox { inbox, outbox }))
            .map_err(|error| RunFailure {
                message: format!("cannot start the protocol thread: {error}"),
                culprit: None,
            })?;
        Ok(Self { to_run, from_run })
    }

    /// Delivers a batch (`None` for the first call, which collects the first round's messages)
    /// and waits up to `timeout` for the run to need the next batch or to end.
    pub async fn step(
        &mut self,
        batch: Option<Vec<RawIncoming>>,
        timeout: Duration,
    ) -> Result<RunEvent<O>, RunFailure> {
        if let Some(batch) = batch
            && self.to_run.send(batch).is_err()
        {
            return Err(RunFailure {
                message: "the protocol run has already ended".into(),
                culprit: None,
            });
        }
        match tokio::time::timeout(timeout, self.from_run.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(RunFailure {
                message: "the protocol run ended without a result".into(),
                culprit: None,
            }),
            Err(_) => Err(RunFailure {
                message: format!("the protocol round took longer than {timeout:?}"),
                culprit: None,
            }),
        }
    }
}

/// The run thread's ends of the channels.
pub struct Mailbox<O> {
    inbox: mpsc::Receiver<Vec<RawIncoming>>,
    outbox: tokio::sync::mpsc::Sender<RunEvent<O>>,
}

impl<O> Mailbox<O> {
    /// Reports a failure that happened before the state machine could start.
    pub fn fail(self, failure: RunFailure) {
        let _ = self
            .outbox
            .blocking_send(RunEvent::Finished(Vec::new(), Err(failure)));
    }
}

/// Drives `machine` to its end, exchanging batches through `mailbox`, and reports the output.
/// A batch that does not come within `idle` ends the run (the coordinator gave up on it).
pub fn drive<SM, O, E>(mut machine: SM, mailbox: Mailbox<O>, idle: Duration)
where
    SM: StateMachine<Output = Result<O, E>>,
    SM::Msg: Serialize + DeserializeOwned,
    E: std::error::Error,
{
    let mut pending: VecDeque<Incoming<SM::Msg>> = VecDeque::new();
    let mut sent = Vec::new();
    let mut next_id = 0u64;
    let result = loop {
        match machine.proceed() {
            ProceedResult::SendMsg(outgoing) => {
                let recipient = match outgoing.recipient {
                    MessageDestination::AllParties => None,
                    MessageDestination::OneParty(index) => Some(index),
                };
                match serde_json::to_vec(&outgoing.msg) {
                    Ok(payload) => sent.push(RawOutgoing {
                        recipient,
                        payload: zeroize::Zeroizing::new(payload),
                    }),
                    Err(error) => {
                        break Err(RunFailure {
                            message: format!("cannot encode an outgoing message: {error}"),
                            culprit: None,
                        });
                    }
                }
            }
            ProceedResult::NeedsOneMoreMessage => {
                while pending.is_empty() {
                    let report = RunEvent::Messages(std::mem::take(&mut sent));
                    if mailbox.outbox.blocking_send(report).is_err() {
                        return;
                    }
                    let batch = match mailbox.inbox.recv_timeout(idle) {
                        Ok(batch) => batch,
                        // The node dropped the session (expired or aborted): nothing to report.
                        Err(_) => return,
                    };
                    for raw in batch {
                        let msg = match serde_json::from_slice(&raw.payload) {
                            Ok(msg) => msg,
                            Err(error) => {
                                return mailbox.fail(RunFailure {
                                    message: format!(
                                        "party {} sent a message that does not decode: {error}",
                                        raw.sender
                                    ),
                                    culprit: Some(raw.sender),
                                });
                            }
                        };
                        pending.push_back(Incoming {
                            id: next_id,
                            sender: raw.sender,
                            msg_type: if raw.broadcast {
                                MessageType::Broadcast
                            } else {
                                MessageType::P2P
                            },
                            msg,
                        });
                        next_id += 1;
                    }
                }
                if let Some(message) = pending.pop_front() {
                    let sender = message.sender;
                    if machine.received_msg(message).is_err() {
                        break Err(RunFailure {
                            message: format!("the protocol refused a message from party {sender}"),
                            culprit: Some(sender),
                        });
                    }
                }
            }
            ProceedResult::Output(Ok(output)) => break Ok(output),
            ProceedResult::Output(Err(error)) => {
                break Err(RunFailure {
                    message: crate::error_chain(&error),
                    culprit: None,
                });
            }
            ProceedResult::Yielded => {}
            ProceedResult::Error(error) => {
                break Err(RunFailure {
                    message: format!("protocol execution failed: {error}"),
                    culprit: None,
                });
            }
        }
    };
    let _ = mailbox
        .outbox
        .blocking_send(RunEvent::Finished(sent, result));
}
