//! The one check of signed items that arrive from the parties of a run, shared by nodes and
//! coordinators: exactly one from each party and none from anyone else, each verified (a
//! statement) or opened (a sealed envelope), and whom a refusal blames.

use thiserror::Error;

use crate::cluster::manifest::Manifest;
use crate::model::identity::PublicIdentity;
use crate::wire::envelope::{self, EnvelopeError, SealedEnvelope, SignedStatement};

/// Something that arrives signed by a node: a statement or a sealed envelope.
pub trait FromNode {
    /// The node that claims to have sent it.
    fn sender(&self) -> &str;
}

impl FromNode for SignedStatement {
    fn sender(&self) -> &str {
        &self.sender
    }
}

impl FromNode for SealedEnvelope {
    fn sender(&self) -> &str {
        &self.sender
    }
}

/// Why a set of signed items is refused, and whom that blames ([`StatementFault::blamed`]).
#[derive(Debug, PartialEq, Eq, Error)]
pub enum StatementFault {
    /// A party's item is missing or doubled: the relay dropped or doubled it, so nobody is
    /// blamed.
    #[error("expected one {what} from {party}, got {count}")]
    Count {
        /// What was expected.
        what: &'static str,
        /// The party.
        party: String,
        /// How many came from it.
        count: usize,
    },
    /// An item from a node that is not a party here: the relay added it, nobody is blamed.
    #[error("a {what} from {sender}, which is not expected here")]
    Stranger {
        /// What it is.
        what: &'static str,
        /// Its sender.
        sender: String,
    },
    /// An item that does not verify or open: its signer is blamed.
    #[error("{what}: {source}")]
    Bad {
        /// What it is.
        what: &'static str,
        /// Why it is refused; its culprit is blamed.
        source: EnvelopeError,
    },
    /// A node answered with a statement another node signed: the answerer is blamed.
    #[error("answered with a statement signed as {sender}")]
    Relayed {
        /// The node that answered.
        answerer: String,
        /// The statement's signer.
        sender: String,
    },
    /// A party's payload differs from the others' (or this node's own): the party is blamed.
    #[error("{party} ended session {session} with another {what} than the others")]
    Disagrees {
        /// What was compared.
        what: &'static str,
        /// The party.
        party: String,
        /// The session.
        session: String,
    },
    /// The parties asked for name one node twice (a caller's mistake or a hostile relay's
    /// request): nothing is checked, nobody is blamed.
    #[error("{party} is named twice among the parties of a {what}")]
    RepeatedParty {
        /// What was expected.
        what: &'static str,
        /// The party named twice.
        party: String,
    },
    /// Nothing to agree on.
    #[error("no {what} to agree on")]
    Empty {
        /// What was expected.
        what: &'static str,
    },
}

impl StatementFault {
    /// The nodes a node that got the items relayed may blame: as [`StatementFault::blamed`],
    /// but a bad signature or an undecodable field blames nobody, since the relay could have
    /// made it (the coordinator, which gets each item straight from its sender, checks those
    /// and names the sender itself).
    pub fn blamed_when_relayed(&self) -> Vec<String> {
        match self {
            StatementFault::Bad { source, .. } if !source.proves_sender() => Vec::new(),
            _ => self.blamed(),
        }
    }

    /// The nodes this fault blames (none when the relay, not a party, may be at fault).
    pub fn blamed(&self) -> Vec<String> {
        match self {
            StatementFault::Count { .. }
            | StatementFault::Stranger { .. }
            | StatementFault::RepeatedParty { .. }
            | StatementFault::Empty { .. } => Vec::new(),
            StatementFault::Bad { source, .. } => vec![source.culprit().to_owned()],
            StatementFault::Relayed { answerer, .. } => vec![answerer.clone()],
            StatementFault::Disagrees { party, .. } => vec![party.clone()],
        }
    }
}

/// Exactly one item from each of `from` and none from anyone else, each passing `check`
/// (given the sender's position in `from`): the results, in `from` order.
pub fn one_from_each<'a, M: FromNode, T>(
    what: &'static str,
    items: &'a [M],
    from: &[String],
    mut check: impl FnMut(usize, &'a M) -> Result<T, EnvelopeError>,
) -> Result<Vec<(String, T)>, StatementFault> {
    if let Some((_, party)) = from
        .iter()
        .enumerate()
        .find(|(position, party)| from[..*position].contains(party))
    {
        return Err(StatementFault::RepeatedParty {
            what,
            party: party.clone(),
        });
    }
    if let Some(stranger) = items
        .iter()
        .find(|item| !from.iter().any(|party| party == item.sender()))
    {
        return Err(StatementFault::Stranger {
            what,
            sender: stranger.sender().to_owned(),
        });
    }
    let mut checked = Vec::with_capacity(from.len());
    for (position, party) in from.iter().enumerate() {
        let mut sent = items.iter().filter(|item| item.sender() == party);
        let (Some(item), None) = (sent.next(), sent.next()) else {
            let count = items.iter().filter(|item| item.sender() == party).count();
            return Err(StatementFault::Count {
                what,
                party: party.clone(),
                count,
            });
        };
        let value = check(position, item).map_err(|source| StatementFault::Bad { what, source })?;
        checked.push((party.clone(), value));
    }
    Ok(checked)
}

/// The manifest identities of `parties`, in order; a node the manifest does not list is a
/// stranger.
pub fn identities<'m>(
    manifest: &'m Manifest,
    parties: &[String],
    what: &'static str,
) -> Result<Vec<&'m PublicIdentity>, StatementFault> {
    parties
        .iter()
        .map(|party| {
            manifest
                .node(party)
                .map(|node| &node.identity)
                .ok_or_else(|| StatementFault::Stranger {
                    what,
                    sender: party.clone(),
                })
        })
        .collect()
}

/// [`one_from_each`] for statements signed for `purpose` in `session` under the manifest's
/// identities: each party's payload, in `from` order.
pub fn verify_all(
    what: &'static str,
    statements: &[SignedStatement],
    from: &[String],
    (purpose, session): (&str, &str),
    manifest: &Manifest,
) -> Result<Vec<(String, Vec<u8>)>, StatementFault> {
    let identities = identities(manifest, from, what)?;
    one_from_each(what, statements, from, |position, statement| {
        envelope::verify_statement(statement, purpose, session, identities[position])
    })
}

/// The statements nodes answered with, each paired with the node that answered: each must be
/// signed by its answerer (else the answerer relayed another's and is blamed), then as
/// [`verify_all`].
pub fn verify_answers(
    what: &'static str,
    answers: &[(String, SignedStatement)],
    purpose_session: (&str, &str),
    manifest: &Manifest,
) -> Result<Vec<(String, Vec<u8>)>, StatementFault> {
    if let Some((answerer, statement)) = answers
        .iter()
        .find(|(answerer, statement)| statement.sender != *answerer)
    {
        return Err(StatementFault::Relayed {
            answerer: answerer.clone(),
            sender: statement.sender.clone(),
        });
    }
    let (from, statements): (Vec<String>, Vec<SignedStatement>) = answers.iter().cloned().unzip();
    verify_all(what, &statements, &from, purpose_session, manifest)
}

/// All payloads equal (to `own`, when given): the agreed payload. The first party that
/// differs is blamed.
pub fn agreed(
    what: &'static str,
    payloads: &[(String, Vec<u8>)],
    own: Option<&[u8]>,
    session: &str,
) -> Result<Vec<u8>, StatementFault> {
    let reference = match (own, payloads.first()) {
        (Some(own), _) => own,
        (None, Some((_, first))) => first.as_slice(),
        (None, None) => return Err(StatementFault::Empty { what }),
    };
    if let Some((party, _)) = payloads
        .iter()
        .find(|(_, payload)| payload.as_slice() != reference)
    {
        return Err(StatementFault::Disagrees {
            what,
            party: party.clone(),
            session: session.to_owned(),
        });
    }
    Ok(reference.to_vec())
}

#[cfg(test)]
mod tests {
    use crate::model::identity::NodeIdentity;

    use super::*;

    const PURPOSE: &str = "dkg-result/w-1";

    /// A manifest of three nodes and their identities.
    fn cluster() -> (Manifest, Vec<NodeIdentity>) {
        let identities: Vec<NodeIdentity> = (0..3).map(|_| NodeIdentity::generate()).collect();
        (Manifest::for_tests(&identities), identities)
    }

    fn parties(ids: &[u16]) -> Vec<String> {
        ids.iter().map(|id| format!("node-{id}")).collect()
    }

    fn signed(identities: &[NodeIdentity], id: u16, payload: &[u8]) -> SignedStatement {
        let identity = &identities[usize::from(id - 1)];
        envelope::sign_statement(PURPOSE, "s-1", &format!("node-{id}"), identity, payload)
    }

    #[test]
    fn one_statement_from_each_party_is_verified_and_returned_in_party_order() {
        let (manifest, ids) = cluster();
        let statements = vec![signed(&ids, 2, b"b"), signed(&ids, 1, b"a")];
        let checked = verify_all(
            "DKG result",
            &statements,
            &parties(&[1, 2]),
            (PURPOSE, "s-1"),
            &manifest,
        )
        .unwrap();
        assert_eq!(
            checked,
            vec![
                ("node-1".into(), b"a".to_vec()),
                ("node-2".into(), b"b".to_vec())
            ]
        );
    }

    #[test]
    fn parties_named_twice_are_refused_before_anything_is_checked() {
        let (manifest, ids) = cluster();
        let statements = vec![signed(&ids, 1, b"a"), signed(&ids, 2, b"b")];
        // Without the check, node-1's one statement would count for both of its places.
        let fault = verify_all(
            "DKG result",
            &statements,
            &parties(&[1, 1, 2]),
            (PURPOSE, "s-1"),
            &manifest,
        )
        .unwrap_err();
        assert_eq!(
            fault,
            StatementFault::RepeatedParty {
                what: "DKG result",
                party: "node-1".into()
            }
        );
        assert!(fault.blamed().is_empty());
    }

    #[test]
    fn a_missing_doubled_or_strangers_statement_is_refused_blaming_nobody() {
        let (manifest, ids) = cluster();
        let from = parties(&[1, 2]);
        let check = |statements: &[SignedStatement]| {
            verify_all("DKG result", statements, &from, (PURPOSE, "s-1"), &manifest).unwrap_err()
        };
        let missing = check(&[signed(&ids, 1, b"a")]);
        assert_eq!(
            missing,
            StatementFault::Count {
                what: "DKG result",
                party: "node-2".into(),
                count: 0
            }
        );
        assert_eq!(
            missing.to_string(),
            "expected one DKG result from node-2, got 0"
        );
        let doubled = check(&[
            signed(&ids, 1, b"a"),
            signed(&ids, 2, b"b"),
            signed(&ids, 2, b"b"),
        ]);
        assert!(
            matches!(doubled, StatementFault::Count { count: 2, .. }),
            "{doubled:?}"
        );
        // node-3 is a cluster node, but not a party of this run.
        let stranger = check(&[
            signed(&ids, 1, b"a"),
            signed(&ids, 2, b"b"),
            signed(&ids, 3, b"c"),
        ]);
        assert_eq!(
            stranger,
            StatementFault::Stranger {
                what: "DKG result",
                sender: "node-3".into()
            }
        );
        for fault in [missing, doubled, stranger] {
            assert!(fault.blamed().is_empty(), "{fault:?}");
        }
    }

    #[test]
    fn a_statement_that_does_not_verify_blames_its_signer() {
        let (manifest, ids) = cluster();
        let from = parties(&[1, 2]);
        // node-2's statement signed with node-1's key, and one of another session.
        let forged = envelope::sign_statement(PURPOSE, "s-1", "node-2", &ids[0], b"b");
        let other_session = envelope::sign_statement(PURPOSE, "s-2", "node-2", &ids[1], b"b");
        for bad in [forged, other_session] {
            let fault = verify_all(
                "DKG result",
                &[signed(&ids, 1, b"a"), bad],
                &from,
                (PURPOSE, "s-1"),
                &manifest,
            )
            .unwrap_err();
            assert!(matches!(fault, StatementFault::Bad { .. }), "{fault:?}");
            assert_eq!(fault.blamed(), vec!["node-2".to_owned()]);
            // A node got it through the coordinator, which could have forged it: nobody.
            assert!(fault.blamed_when_relayed().is_empty(), "{fault:?}");
            assert_eq!(
                fault.to_string(),
                "DKG result: signature of node-2 does not verify"
            );
        }
        // What the sender signed and is still wrong is the sender's, relayed or not.
        let undecryptable = StatementFault::Bad {
            what: "round-2 package",
            source: EnvelopeError::Decrypt {
                sender: "node-2".into(),
            },
        };
        assert_eq!(
            undecryptable.blamed_when_relayed(),
            vec!["node-2".to_owned()]
        );
    }

    #[test]
    fn an_answer_signed_by_another_node_blames_the_node_that_relayed_it() {
        let (manifest, ids) = cluster();
        let genuine = signed(&ids, 2, b"b");
        let answers = vec![
            ("node-1".to_owned(), genuine.clone()),
            ("node-2".to_owned(), genuine.clone()),
        ];
        let fault = verify_answers("result", &answers, (PURPOSE, "s-1"), &manifest).unwrap_err();
        assert_eq!(fault.blamed(), vec!["node-1".to_owned()]);
        assert_eq!(
            fault.to_string(),
            "answered with a statement signed as node-2"
        );
        // In a set of statements, a relayed copy is a doubled one and a missing one.
        let fault = verify_all(
            "result",
            &[genuine.clone(), genuine],
            &parties(&[1, 2]),
            (PURPOSE, "s-1"),
            &manifest,
        )
        .unwrap_err();
        assert!(
            matches!(fault, StatementFault::Count { count: 0, .. }),
            "{fault:?}"
        );
    }

    #[test]
    fn sealed_envelopes_are_counted_and_opened_the_same_way() {
        let (manifest, ids) = cluster();
        let seal = |from: u16| {
            envelope::seal(
                "s-1",
                &format!("node-{from}"),
                &ids[usize::from(from - 1)],
                "node-3",
                &ids[2].public(),
                b"share",
            )
            .unwrap()
        };
        let from = parties(&[1, 2]);
        let senders = identities(&manifest, &from, "round-2 package").unwrap();
        let open = |envelopes: &[SealedEnvelope]| {
            one_from_each("round-2 package", envelopes, &from, |position, sealed| {
                envelope::open(sealed, "s-1", "node-3", &ids[2], senders[position])
            })
        };
        let opened = open(&[seal(1), seal(2)]).unwrap();
        assert_eq!(opened.len(), 2);
        assert_eq!(&opened[1].1[..], b"share");
        let mut altered = seal(2);
        altered.ciphertext = seal(1).ciphertext;
        let fault = open(&[seal(1), altered]).unwrap_err();
        assert_eq!(fault.blamed(), vec!["node-2".to_owned()]);
        let fault = open(&[seal(1)]).unwrap_err();
        assert!(fault.blamed().is_empty(), "{fault:?}");
    }

    #[test]
    fn agreement_names_the_first_party_that_differs() {
        let payloads = |list: &[(u16, &[u8])]| -> Vec<(String, Vec<u8>)> {
            list.iter()
                .map(|(id, payload)| (format!("node-{id}"), payload.to_vec()))
                .collect()
        };
        let same = payloads(&[(1, b"k"), (2, b"k"), (3, b"k")]);
        assert_eq!(agreed("result", &same, None, "s-1").unwrap(), b"k");
        assert_eq!(agreed("result", &same, Some(b"k"), "s-1").unwrap(), b"k");
        let fault = agreed("result", &same, Some(b"own"), "s-1").unwrap_err();
        assert_eq!(fault.blamed(), vec!["node-1".to_owned()]);
        let split = payloads(&[(1, b"k"), (2, b"x"), (3, b"y")]);
        let fault = agreed("result", &split, None, "s-1").unwrap_err();
        assert_eq!(fault.blamed(), vec!["node-2".to_owned()]);
        assert_eq!(
            fault.to_string(),
            "node-2 ended session s-1 with another result than the others"
        );
        assert_eq!(
            agreed("result", &[], None, "s-1").unwrap_err(),
            StatementFault::Empty { what: "result" }
        );
    }
}
