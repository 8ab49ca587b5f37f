//! Runs CGGMP21 protocols among parties in one process through the node's protocol runner,
//! routing their messages here as the coordinator would.

use std::time::Duration;

use serde_json::Value;
use thresig_sidecar::protocols::cggmp::runner::{ProtocolRun, RawIncoming, RunEvent};

/// Runs `runs` (party `i` at position `i`) to their ends: each party's output and the
/// broadcasts it sent, decoded.
pub fn run_all<O: Send + 'static>(mut runs: Vec<ProtocolRun<O>>) -> (Vec<O>, Vec<Vec<Value>>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = runs.len();
    runtime.block_on(async {
        let mut inboxes: Vec<Option<Vec<RawIncoming>>> = (0..n).map(|_| None).collect();
        let mut outputs: Vec<Option<O>> = (0..n).map(|_| None).collect();
        let mut broadcasts: Vec<Vec<Value>> = vec![Vec::new(); n];
        for _round in 0..12 {
            let mut next: Vec<Vec<RawIncoming>> = (0..n).map(|_| Vec::new()).collect();
            for i in 0..n {
                if outputs[i].is_some() {
                    continue;
                }
                let batch = inboxes[i].take();
                let (sent, output) = match runs[i].step(batch, Duration::from_secs(600)).await {
                    Ok(RunEvent::Messages(sent)) => (sent, None),
                    Ok(RunEvent::Finished(sent, output)) => (sent, Some(output)),
                    Err(failure) => panic!("party {i}: {failure:?}"),
                };
                if let Some(output) = output {
                    outputs[i] =
                        Some(output.unwrap_or_else(|failure| panic!("party {i}: {failure:?}")));
                }
                for message in sent {
                    match message.recipient {
                        None => {
                            broadcasts[i].push(serde_json::from_slice(&message.payload).unwrap());
                            for (j, inbox) in next.iter_mut().enumerate() {
                                if j != i {
                                    inbox.push(RawIncoming {
                                        sender: i as u16,
                                        broadcast: true,
                                        payload: message.payload.clone(),
                                    });
                                }
                            }
                        }
                        Some(j) => next[usize::from(j)].push(RawIncoming {
                            sender: i as u16,
                            broadcast: false,
                            payload: message.payload.clone(),
                        }),
                    }
                }
            }
            if outputs.iter().all(Option::is_some) {
                return (outputs.into_iter().flatten().collect(), broadcasts);
            }
            for (inbox, batch) in inboxes.iter_mut().zip(next) {
                *inbox = Some(batch);
            }
        }
        panic!("the run did not end within 12 rounds");
    })
}
