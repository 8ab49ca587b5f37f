//! A node's refusal on the wire: a stable kind (the serde tag) with its data, and a message
//! for people. Coordinators match the kind, never the message.
//!
//! The JSON is `{"kind": "...", <the kind's fields>, "message": "...", "culprit": ...}`.
//! `culprit` is the first blamed node of an abort (null otherwise): coordinators that predate
//! `blamed` read it, so nodes can be upgraded before coordinators.

use serde::{Deserialize, Serialize};

/// A node's refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireBody", into = "WireBody")]
pub struct ErrorBody {
    /// What kind of refusal, with its data.
    pub kind: ErrorKind,
    /// What was wrong, for people; never parsed.
    pub message: String,
}

/// Why a node refused, as a stable code (`kind` in the JSON) and the data that goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request is malformed or asks for something this node does not do (400).
    BadRequest,
    /// The client's signed request is missing, invalid, expired, replayed or does not cover
    /// this (401).
    Unauthorized,
    /// The coordinator's certificate role does not allow this (403).
    Forbidden {
        /// The certificate's role name; none when it carries no role.
        role: Option<String>,
    },
    /// This node holds no such wallet (404).
    UnknownWallet {
        /// The wallet asked for.
        wallet_id: String,
    },
    /// The wallet id was claimed or used before; ids are used once (409).
    WalletIdTaken {
        /// The wallet id.
        wallet_id: String,
    },
    /// No such session in progress: unknown, ended, timed out, or its nonces or presignature
    /// were used (409).
    UnknownSession {
        /// The session, or the presignature, asked for.
        session: String,
    },
    /// The node is at a limit; retry later (503 for a coordinator's run cap, else 409).
    Busy {
        /// Which limit.
        reason: BusyReason,
    },
    /// The node cannot do this yet (503).
    NotReady {
        /// What it lacks.
        reason: NotReadyReason,
    },
    /// The protocol was aborted (422): the nodes blamed, empty when nobody can be.
    Abort {
        /// The blamed nodes.
        #[serde(default)]
        blamed: Vec<String>,
    },
    /// The path belongs to another version of the node API than this node serves (404): the
    /// coordinator and the nodes are of different releases.
    UnsupportedVersion {
        /// The path prefix this node serves.
        serves: String,
    },
    /// Something failed at the node (500).
    Internal,
    /// A kind this build does not know (from a newer node): read, never sent.
    #[serde(other)]
    Other,
}

/// Which limit a busy node is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusyReason {
    /// The coordinator (its client certificate) has as many CGGMP21 runs open as it may.
    PeerCap,
    /// An aux-info run is in progress here already.
    AuxInfoRunning,
    /// The wallet's presignatures are at their cap (complete or awaiting confirmation).
    PresignatureCap,
}

/// What a node lacks for CGGMP21.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotReadyReason {
    /// CGGMP21 is off at the node (`--cggmp21 off`).
    CggmpOff,
    /// Its safe primes are still being made.
    NoPrimes,
    /// It holds no cluster aux info yet.
    NoAuxInfo,
}

impl ErrorKind {
    /// The stable code, as in the JSON's `kind`.
    pub const fn code(&self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden { .. } => "forbidden",
            ErrorKind::UnknownWallet { .. } => "unknown-wallet",
            ErrorKind::WalletIdTaken { .. } => "wallet-id-taken",
            ErrorKind::UnknownSession { .. } => "unknown-session",
            ErrorKind::Busy { .. } => "busy",
            ErrorKind::NotReady { .. } => "not-ready",
            ErrorKind::Abort { .. } => "abort",
            ErrorKind::UnsupportedVersion { .. } => "unsupported-version",
            ErrorKind::Internal => "internal",
            ErrorKind::Other => "other",
        }
    }

    /// The HTTP status a node answers with.
    pub const fn status(&self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden { .. } => 403,
            ErrorKind::UnknownWallet { .. } | ErrorKind::UnsupportedVersion { .. } => 404,
            ErrorKind::WalletIdTaken { .. } | ErrorKind::UnknownSession { .. } => 409,
            ErrorKind::Busy {
                reason: BusyReason::PeerCap,
            } => 503,
            ErrorKind::Busy { .. } => 409,
            ErrorKind::NotReady { .. } => 503,
            ErrorKind::Abort { .. } => 422,
            ErrorKind::Internal | ErrorKind::Other => 500,
        }
    }

    /// The nodes an abort blames (none for any other kind).
    pub fn blamed(&self) -> &[String] {
        match self {
            ErrorKind::Abort { blamed } => blamed,
            _ => &[],
        }
    }
}

/// The JSON form: the body plus `culprit`, the first blamed node, for older coordinators.
#[derive(Serialize, Deserialize)]
struct WireBody {
    #[serde(flatten)]
    kind: ErrorKind,
    message: String,
    #[serde(default)]
    culprit: Option<String>,
}

impl From<ErrorBody> for WireBody {
    fn from(body: ErrorBody) -> Self {
        Self {
            culprit: body.kind.blamed().first().cloned(),
            kind: body.kind,
            message: body.message,
        }
    }
}

impl From<WireBody> for ErrorBody {
    fn from(wire: WireBody) -> Self {
        // A node that predates `blamed` names its culprit only.
        let kind = match (wire.kind, wire.culprit) {
            (ErrorKind::Abort { blamed }, Some(culprit)) if blamed.is_empty() => ErrorKind::Abort {
                blamed: vec![culprit],
            },
            (kind, _) => kind,
        };
        Self {
            kind,
            message: wire.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn body(kind: ErrorKind) -> ErrorBody {
        ErrorBody {
            kind,
            message: "what was wrong".into(),
        }
    }

    /// Every kind's JSON and status, pinned: these are the contract with other versions.
    #[test]
    fn every_kind_has_a_stable_code_fields_and_status() {
        let cases: Vec<(ErrorKind, Value, u16)> = vec![
            (ErrorKind::BadRequest, json!({"kind": "bad-request"}), 400),
            (
                ErrorKind::Unauthorized,
                json!({"kind": "unauthorized"}),
                401,
            ),
            (
                ErrorKind::Forbidden {
                    role: Some("signing".into()),
                },
                json!({"kind": "forbidden", "role": "signing"}),
                403,
            ),
            (
                ErrorKind::Forbidden { role: None },
                json!({"kind": "forbidden", "role": null}),
                403,
            ),
            (
                ErrorKind::UnknownWallet {
                    wallet_id: "w-1".into(),
                },
                json!({"kind": "unknown-wallet", "wallet_id": "w-1"}),
                404,
            ),
            (
                ErrorKind::WalletIdTaken {
                    wallet_id: "w-1".into(),
                },
                json!({"kind": "wallet-id-taken", "wallet_id": "w-1"}),
                409,
            ),
            (
                ErrorKind::UnknownSession {
                    session: "s-1".into(),
                },
                json!({"kind": "unknown-session", "session": "s-1"}),
                409,
            ),
            (
                ErrorKind::Busy {
                    reason: BusyReason::PeerCap,
                },
                json!({"kind": "busy", "reason": "peer-cap"}),
                503,
            ),
            (
                ErrorKind::Busy {
                    reason: BusyReason::AuxInfoRunning,
                },
                json!({"kind": "busy", "reason": "aux-info-running"}),
                409,
            ),
            (
                ErrorKind::Busy {
                    reason: BusyReason::PresignatureCap,
                },
                json!({"kind": "busy", "reason": "presignature-cap"}),
                409,
            ),
            (
                ErrorKind::NotReady {
                    reason: NotReadyReason::CggmpOff,
                },
                json!({"kind": "not-ready", "reason": "cggmp-off"}),
                503,
            ),
            (
                ErrorKind::NotReady {
                    reason: NotReadyReason::NoPrimes,
                },
                json!({"kind": "not-ready", "reason": "no-primes"}),
                503,
            ),
            (
                ErrorKind::NotReady {
                    reason: NotReadyReason::NoAuxInfo,
                },
                json!({"kind": "not-ready", "reason": "no-aux-info"}),
                503,
            ),
            (
                ErrorKind::Abort { blamed: Vec::new() },
                json!({"kind": "abort", "blamed": []}),
                422,
            ),
            (
                ErrorKind::Abort {
                    blamed: vec!["node-2".into(), "node-3".into()],
                },
                json!({"kind": "abort", "blamed": ["node-2", "node-3"], "culprit": "node-2"}),
                422,
            ),
            (
                ErrorKind::UnsupportedVersion {
                    serves: "/v2/".into(),
                },
                json!({"kind": "unsupported-version", "serves": "/v2/"}),
                404,
            ),
            (ErrorKind::Internal, json!({"kind": "internal"}), 500),
        ];
        for (kind, fields, status) in cases {
            let mut expected = fields.clone();
            let object = expected.as_object_mut().unwrap();
            object.insert("message".into(), json!("what was wrong"));
            object.entry("culprit").or_insert(Value::Null);
            let sent = serde_json::to_value(body(kind.clone())).unwrap();
            assert_eq!(sent, expected, "{kind:?}");
            assert_eq!(kind.status(), status, "{kind:?}");
            assert_eq!(sent["kind"], kind.code(), "{kind:?}");
            let read: ErrorBody = serde_json::from_value(sent).unwrap();
            assert_eq!(read, body(kind));
        }
    }

    #[test]
    fn an_older_nodes_abort_is_read_with_its_culprit_and_an_unknown_kind_as_other() {
        let old = json!({"kind": "abort", "message": "m", "culprit": "node-3"});
        let read: ErrorBody = serde_json::from_value(old).unwrap();
        assert_eq!(read.kind.blamed(), ["node-3".to_owned()]);
        let none = json!({"kind": "abort", "message": "m", "culprit": null});
        let read: ErrorBody = serde_json::from_value(none).unwrap();
        assert_eq!(read.kind, ErrorKind::Abort { blamed: Vec::new() });
        let newer = json!({"kind": "rate-limited", "retry": 3, "message": "m"});
        let read: ErrorBody = serde_json::from_value(newer).unwrap();
        assert_eq!((read.kind, read.message.as_str()), (ErrorKind::Other, "m"));
        // A known kind without its data is not a valid body.
        let bare = json!({"kind": "unknown-wallet", "message": "unknown wallet w-1"});
        assert!(serde_json::from_value::<ErrorBody>(bare).is_err());
    }
}
