//! The coordinator's one statement check: what nodes answer with, verified through
//! [`crate::wire::statements`] (the check the nodes use), as a [`CoordinatorError`] that
//! blames the node at fault.

use crate::cluster::manifest::Manifest;
use crate::coordinator::CoordinatorError;
use crate::wire::envelope::SignedStatement;
use crate::wire::statements::{self, StatementFault};

/// Each answer signed by the node that answered (else "answered with a statement signed as
/// X", blaming the answerer) for `purpose` in `session`: each node's FROST index and payload,
/// in the answers' order.
pub(crate) fn answers(
    manifest: &Manifest,
    answers: &[(String, SignedStatement)],
    purpose: &str,
    session: &str,
) -> Result<Vec<(String, u16, Vec<u8>)>, CoordinatorError> {
    statements::verify_answers("statement", answers, (purpose, session), manifest)
        .map_err(fault)?
        .into_iter()
        .map(|(node, payload)| {
            let index = manifest
                .node(&node)
                .map(|entry| entry.index)
                .ok_or_else(|| CoordinatorError::Internal(format!("unknown node {node}")))?;
            Ok((node, index, payload))
        })
        .collect()
}

/// [`answers`] for one node's answer: its FROST index and the payload.
pub(crate) fn answer(
    manifest: &Manifest,
    node: &str,
    statement: &SignedStatement,
    purpose: &str,
    session: &str,
) -> Result<(u16, Vec<u8>), CoordinatorError> {
    let mut checked = answers(
        manifest,
        &[(node.to_owned(), statement.clone())],
        purpose,
        session,
    )?;
    checked
        .pop()
        .map(|(_, index, payload)| (index, payload))
        .ok_or_else(|| CoordinatorError::Internal(format!("no answer of {node} to check")))
}

/// Every party's result (each answered by that party) verified and equal: the agreed payload
/// (a DKG's group key, an aux-info digest, a presignature's point). A disagreement is
/// `Inconsistent`; a bad statement an `Abort` naming its sender.
pub(crate) fn agreed(
    manifest: &Manifest,
    results: &[(String, SignedStatement)],
    purpose: &str,
    session: &str,
) -> Result<Vec<u8>, CoordinatorError> {
    let payloads = statements::verify_answers("result", results, (purpose, session), manifest)
        .map_err(fault)?;
    statements::agreed("result", &payloads, None, session).map_err(fault)
}

/// A refused statement as the API reports it: blamed on the node at fault where there is one.
pub(crate) fn fault(fault: StatementFault) -> CoordinatorError {
    match fault {
        StatementFault::Relayed { ref answerer, .. } => CoordinatorError::Abort {
            node: answerer.clone(),
            culprit: Some(answerer.clone()),
            message: fault.to_string(),
        },
        StatementFault::Bad { source, .. } => CoordinatorError::Abort {
            node: source.culprit().to_owned(),
            culprit: Some(source.culprit().to_owned()),
            message: source.to_string(),
        },
        StatementFault::Empty { .. } | StatementFault::RepeatedParty { .. } => {
            CoordinatorError::Internal(fault.to_string())
        }
        StatementFault::Disagrees { .. }
        | StatementFault::Count { .. }
        | StatementFault::Stranger { .. } => CoordinatorError::Inconsistent(fault.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::NodeIdentity;
    use crate::wire::envelope;
    use crate::wire::purposes;

    /// Two nodes' manifest and identities.
    fn two_nodes() -> (Manifest, Vec<NodeIdentity>) {
        let identities = vec![NodeIdentity::generate(), NodeIdentity::generate()];
        (Manifest::for_tests(&identities), identities)
    }

    #[test]
    fn a_statement_counts_only_from_the_node_that_signed_it_for_this_purpose_and_session() {
        let (manifest, identities) = two_nodes();
        let purpose = purposes::sign_commitments("w-1");
        let genuine =
            envelope::sign_statement(&purpose, "s-1", "node-2", &identities[1], b"commitments");
        assert_eq!(
            answer(&manifest, "node-2", &genuine, &purpose, "s-1").unwrap(),
            (2, b"commitments".to_vec())
        );

        // node-1 passing on node-2's genuine statement as its own answer is blamed.
        let relayed = answer(&manifest, "node-1", &genuine, &purpose, "s-1").unwrap_err();
        assert!(
            matches!(&relayed, CoordinatorError::Abort { node, culprit: Some(culprit), message }
                if node == "node-1" && culprit == "node-1"
                    && message == "answered with a statement signed as node-2"),
            "{relayed:?}"
        );

        // Another session, another purpose, or a signature by the wrong key: refused.
        let wrong = [
            (genuine.clone(), purpose.clone(), "s-2"),
            (genuine.clone(), purposes::sign_share("w-1"), "s-1"),
            (
                envelope::sign_statement(&purpose, "s-1", "node-2", &identities[0], b"x"),
                purpose.clone(),
                "s-1",
            ),
        ];
        for (statement, purpose, session) in wrong {
            let error = answer(&manifest, "node-2", &statement, &purpose, session).unwrap_err();
            assert!(
                matches!(&error, CoordinatorError::Abort { culprit: Some(culprit), .. }
                    if culprit == "node-2"),
                "{error:?}"
            );
        }
    }

    #[test]
    fn results_that_disagree_are_inconsistent_and_a_relayed_result_blames_its_relay() {
        let (manifest, identities) = two_nodes();
        let purpose = purposes::dkg_result("w-1");
        let result = |index: usize, payload: &[u8]| {
            let node = format!("node-{}", index + 1);
            let statement =
                envelope::sign_statement(&purpose, "s-1", &node, &identities[index], payload);
            (node, statement)
        };
        let same = [result(0, b"key"), result(1, b"key")];
        assert_eq!(agreed(&manifest, &same, &purpose, "s-1").unwrap(), b"key");
        let split = [result(0, b"key"), result(1, b"other")];
        let error = agreed(&manifest, &split, &purpose, "s-1").unwrap_err();
        assert!(
            matches!(&error, CoordinatorError::Inconsistent(message)
                if message == "node-2 ended session s-1 with another result than the others"),
            "{error:?}"
        );
        // node-2 answering with node-1's result: it is blamed, though the payloads agree.
        let relayed = [
            result(0, b"key"),
            ("node-2".to_owned(), result(0, b"key").1),
        ];
        let error = agreed(&manifest, &relayed, &purpose, "s-1").unwrap_err();
        assert!(
            matches!(&error, CoordinatorError::Abort { culprit: Some(culprit), .. }
                if culprit == "node-2"),
            "{error:?}"
        );
    }
}
