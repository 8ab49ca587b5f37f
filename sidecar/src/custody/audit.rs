//! A node's audit log: one JSON line per DKG and signature the node takes part in, each record
//! carrying the SHA-256 of the previous one (a hash chain) and the node's Ed25519 signature over
//! its own hash. Changing, dropping or reordering any record breaks the chain at that record;
//! rewriting the tail needs the node's identity key, which is sealed under its key provider.
//! Records hold no secrets: wallet ids, session ids and message digests, never messages or
//! shares.
//!
//! Two faults a chain alone cannot show are handled here too. A crash while a record is written
//! leaves a torn last line, which the node drops at its next start (and records that it did).
//! A log cut short or deleted still verifies as a chain, so after each record the node keeps an
//! [`AuditAnchor`] (count and hash of its last record, signed) in its store, and both the node
//! and `thresig audit verify` refuse a log that no longer reaches its anchor.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::model::identity::{NodeIdentity, PublicIdentity};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditEvent {
    /// A distributed key generation.
    Dkg,
    /// A signature share.
    Sign,
    /// The node dropped a torn last record (a write cut short by a crash) at start.
    Repair,
}

/// What the caller records; the log adds sequence, time and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// DKG or signature.
    pub event: AuditEvent,
    /// The protocol session.
    pub session: String,
    /// The client's request id, when the request carried one.
    pub request_id: Option<String>,
    /// The client key that authorised the request, when it carried one.
    pub client: Option<String>,
    /// The wallet.
    pub wallet_id: String,
    /// SHA-256 of the message signed (signatures only), hex.
    pub message_digest: Option<String>,
    /// `ok`, or `refused: <reason>`.
    pub outcome: String,
}

/// The hashed part of a record, in a fixed field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    seq: u64,
    time: u64,
    node: String,
    event: AuditEvent,
    session: String,
    request_id: Option<String>,
    client: Option<String>,
    wallet_id: String,
    message_digest: Option<String>,
    outcome: String,
    prev: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(flatten)]
    body: Body,
    /// SHA-256 of the body's JSON, hex.
    hash: String,
    /// The node's Ed25519 signature over the hash, hex.
    signature: String,
}

/// Why the log cannot be used or does not verify.
#[derive(Debug, Error)]
pub enum AuditError {
    /// The file could not be read or written.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record does not verify: the first bad one.
    #[error("audit log {path}: record {line} is bad: {reason}")]
    Broken {
        /// The file.
        path: String,
        /// Its line number (1-based), which is also its sequence number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The log ends before the record the node's store last anchored: records were cut off the
    /// end, or the whole log was deleted or replaced.
    #[error(
        "audit log {path}: it holds {records} records, but the node's store anchors record \
         {anchored}: records were cut off the end or the log was deleted"
    )]
    Truncated {
        /// The file.
        path: String,
        /// Whole records in the file.
        records: u64,
        /// The sequence number the store's anchor names.
        anchored: u64,
    },
    /// The anchor of a record just written could not be kept.
    #[error("keeping the audit anchor: {0}")]
    Anchor(String),
    /// The store's anchor itself does not verify against the node's identity.
    #[error("audit anchor of {path}: {reason}")]
    BadAnchor {
        /// The log the anchor is for.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a node's log ended when it last appended: the count and hash of its last record, signed
/// by the node, kept in the node's store (outside the log file) so that truncation is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditAnchor {
    /// The sequence number of the last record (the count of records).
    pub seq: u64,
    /// That record's hash, hex.
    pub hash: String,
    /// The node's Ed25519 signature over [`AuditAnchor::signed_bytes`], hex.
    pub signature: String,
}

impl AuditAnchor {
    /// What the node signs: a domain tag, the node id, the sequence number and the hash, each
    /// length-prefixed so no two anchors share an encoding.
    pub fn signed_bytes(node_id: &str, seq: u64, hash: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        for part in [
            b"thresig audit anchor v1".as_slice(),
            node_id.as_bytes(),
            &seq.to_be_bytes(),
            hash.as_bytes(),
        ] {
            bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        bytes
    }

    fn new(node_id: &str, seq: u64, hash: String, identity: &NodeIdentity) -> Self {
        let signature = hex::encode(identity.sign(&Self::signed_bytes(node_id, seq, &hash)));
        Self {
            seq,
            hash,
            signature,
        }
    }

    /// Whether `node` signed this anchor for `node_id`.
    pub fn verify(&self, node_id: &str, node: &PublicIdentity) -> bool {
        hex::decode(&self.signature).is_ok_and(|signature| {
            node.verify(
                &Self::signed_bytes(node_id, self.seq, &self.hash),
                &signature,
            )
        })
    }
}

/// What checking a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Whole records, all verified.
    pub records: u64,
    /// The last record's hash ([`GENESIS`] for an empty log).
    pub last_hash: String,
    /// Bytes after the last whole record that end in no newline: a write a crash cut short.
    pub torn_tail: Option<TornTail>,
}

/// An unfinished last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where it starts (the length of the log's whole records).
    pub offset: u64,
    /// How long it is.
    pub bytes: u64,
}

fn body_hash(body: &Body) -> String {
    // Serialising a struct gives its fields in declaration order, so this is canonical.
    let json = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Checks the log at `path` (a missing file is an empty log): every whole record chains, is canonical and carries `node`'s
/// signature; with an `anchor` (already verified), the log must still hold the anchored record,
/// with the anchored hash. An unterminated last line is reported as [`LogSummary::torn_tail`].
pub fn verify_log(
    path: &Path,
    node: &PublicIdentity,
    anchor: Option<&AuditAnchor>,
) -> Result<LogSummary, AuditError> {
    let shown = path.display().to_string();
    let io = |source| AuditError::Io {
        path: shown.clone(),
        source,
    };
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    let mut offset = 0u64;
    let mut torn_tail = None;
    match File::open(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io(source)),
        Ok(file) => {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line).map_err(io)?;
                if read == 0 {
                    break;
                }
                if line.pop() != Some(b'\n') {
                    // Records are written whole with their newline before anything leaves the
                    // node, so an unterminated last line is a write a crash interrupted.
                    torn_tail = Some(TornTail {
                        offset,
                        bytes: read as u64,
                    });
                    break;
                }
                let number = count + 1;
                let record =
                    check_record(&line, number, &prev).map_err(|reason| AuditError::Broken {
                        path: shown.clone(),
                        line: number,
                        reason,
                    })?;
                if !node.verify(record.hash.as_bytes(), &record.signature_bytes()) {
                    return Err(AuditError::Broken {
                        path: shown.clone(),
                        line: number,
                        reason: "the node's signature does not verify".into(),
                    });
                }
                if anchor.is_some_and(|anchor| anchor.seq == number && anchor.hash != record.hash) {
                    return Err(AuditError::Broken {
                        path: shown.clone(),
                        line: number,
                        reason: "it is not the record the node's store anchored here (the log \
                                 was replaced from this record on)"
                            .into(),
                    });
                }
                prev = record.hash;
                count = number;
                offset += read as u64;
            }
        }
    }
    if let Some(anchor) = anchor
        && anchor.seq > count
    {
        return Err(AuditError::Truncated {
            path: shown,
            records: count,
            anchored: anchor.seq,
        });
    }
    Ok(LogSummary {
        records: count,
        last_hash: prev,
        torn_tail,
    })
}

/// Checks one line as record `number` after `prev`, all but its signature.
fn check_record(line: &[u8], number: u64, prev: &str) -> Result<Record, String> {
    let record: Record =
        serde_json::from_slice(line).map_err(|error| format!("not a record: {error}"))?;
    // Records are written in one canonical form; anything else (an added, renamed or dropped
    // field that would parse to the same contents) was altered after writing.
    if serde_json::to_vec(&record).ok().as_deref() != Some(line) {
        return Err("it is not in the form the node writes".into());
    }
    if record.body.seq != number {
        return Err(format!(
            "sequence number {} where {number} belongs",
            record.body.seq
        ));
    }
    if record.body.prev != prev {
        return Err(
            "it does not chain to the record before it (a record was changed, removed or \
             inserted)"
                .into(),
        );
    }
    if body_hash(&record.body) != record.hash {
        return Err("its contents do not match its hash".into());
    }
    Ok(record)
}

impl Record {
    /// The signature's bytes; malformed hex gives none, which no key verifies.
    fn signature_bytes(&self) -> Vec<u8> {
        hex::decode(&self.signature).unwrap_or_default()
    }
}

/// The open log of a running node.
pub struct AuditLog {
    path: PathBuf,
    node_id: String,
    state: Mutex<Tail>,
}

/// Where the chain ends.
struct Tail {
    file: File,
    seq: u64,
    prev: String,
}

impl AuditLog {
    /// Opens (or creates) the log at `path` after checking its whole chain, and against
    /// `anchor`, the node's last [`AuditAnchor`] from its store (none on a node's first start
    /// with this version): a node refuses to extend a log that does not verify or that no longer
    /// reaches its anchor. A torn last line is cut off and a `repair` record says so.
    pub fn open(
        path: &Path,
        node_id: &str,
        identity: &NodeIdentity,
        anchor: Option<&AuditAnchor>,
    ) -> Result<(Self, Opened), AuditError> {
        let shown = path.display().to_string();
        if let Some(anchor) = anchor
            && !anchor.verify(node_id, &identity.public())
        {
            return Err(AuditError::BadAnchor {
                path: shown,
                reason: "the node's signature on it does not verify".into(),
            });
        }
        let summary = verify_log(path, &identity.public(), anchor)?;
        let io = |source| AuditError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if let Some(torn) = summary.torn_tail {
            file.set_len(torn.offset).map_err(io)?;
            file.sync_all().map_err(io)?;
            // Append mode writes at the end whatever the position; the seek only keeps the
            // handle's idea of the position honest.
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let log = Self {
            path: path.to_path_buf(),
            node_id: node_id.to_owned(),
            state: Mutex::new(Tail {
                file,
                seq: summary.records,
                prev: summary.last_hash,
            }),
        };
        let anchor = match summary.torn_tail {
            Some(torn) => log.append(
                AuditEntry {
                    event: AuditEvent::Repair,
                    session: String::new(),
                    request_id: None,
                    client: None,
                    wallet_id: String::new(),
                    message_digest: None,
                    outcome: format!(
                        "dropped a torn last record of {} bytes (a write cut short by a crash)",
                        torn.bytes
                    ),
                },
                identity,
            )?,
            None => log.anchor(identity)?,
        };
        Ok((
            log,
            Opened {
                records: summary.records,
                repaired: summary.torn_tail,
                anchor,
            },
        ))
    }

    /// The anchor of the log as it stands.
    fn anchor(&self, identity: &NodeIdentity) -> Result<AuditAnchor, AuditError> {
        let tail = self.state.lock().map_err(|_| AuditError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other("audit lock poisoned"),
        })?;
        Ok(AuditAnchor::new(
            &self.node_id,
            tail.seq,
            tail.prev.clone(),
            identity,
        ))
    }

    /// Appends `entry`, signed by `identity`, and syncs it to disk before returning the new
    /// anchor.
    pub fn append(
        &self,
        entry: AuditEntry,
        identity: &NodeIdentity,
    ) -> Result<AuditAnchor, AuditError> {
        self.append_and_keep(entry, identity, |_| Ok(()))
    }

    /// [`AuditLog::append`], then `keep` (which stores the anchor in the node's store) while the
    /// log is still locked, so anchors are kept in the order of their records and never move
    /// back.
    pub fn append_and_keep(
        &self,
        entry: AuditEntry,
        identity: &NodeIdentity,
        keep: impl FnOnce(&AuditAnchor) -> Result<(), String>,
    ) -> Result<AuditAnchor, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut tail = self
            .state
            .lock()
            .map_err(|_| io(std::io::Error::other("audit lock poisoned")))?;
        let body = Body {
            seq: tail.seq + 1,
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or(0),
            node: self.node_id.clone(),
            event: entry.event,
            session: entry.session,
            request_id: entry.request_id,
            client: entry.client,
            wallet_id: entry.wallet_id,
            message_digest: entry.message_digest,
            outcome: entry.outcome,
            prev: tail.prev.clone(),
        };
        let hash = body_hash(&body);
        let signature = hex::encode(identity.sign(hash.as_bytes()));
        let seq = body.seq;
        let record = Record {
            body,
            hash: hash.clone(),
            signature,
        };
        let mut line = serde_json::to_vec(&record).map_err(|error| io(error.into()))?;
        line.push(b'\n');
        tail.file.write_all(&line).map_err(io)?;
        tail.file.sync_data().map_err(io)?;
        tail.seq = seq;
        tail.prev = hash.clone();
        let anchor = AuditAnchor::new(&self.node_id, seq, hash, identity);
        keep(&anchor).map_err(AuditError::Anchor)?;
        Ok(anchor)
    }
}

/// How [`AuditLog::open`] found the log.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Whole records it held.
    pub records: u64,
    /// The torn last line it cut off, if any.
    pub repaired: Option<TornTail>,
    /// The anchor of the log as opened (after the repair record, if any).
    pub anchor: AuditAnchor,
}

/// The hex SHA-256 of a message, as records carry it.
pub fn message_digest(message: &[u8]) -> String {
    hex::encode(Sha256::digest(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> AuditEntry {
        AuditEntry {
            event: AuditEvent::Sign,
            session: format!("s-{n}"),
            request_id: None,
            client: None,
            wallet_id: "w-1".into(),
            message_digest: Some(message_digest(&[n])),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn the_chain_verifies_and_any_changed_byte_is_found_at_its_record() {
        let dir = std::env::temp_dir().join(format!("thresig-audit-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let identity = NodeIdentity::generate();
        let (log, _) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        for n in 0..5 {
            log.append(entry(n), &identity).unwrap();
        }
        drop(log);
        // Reopening continues the chain.
        let (log, _) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        log.append(entry(9), &identity).unwrap();
        assert_eq!(
            verify_log(&path, &identity.public(), None).unwrap().records,
            6
        );
        // Another node's key does not verify it.
        let other = NodeIdentity::generate().public();
        assert!(matches!(
            verify_log(&path, &other, None),
            Err(AuditError::Broken { line: 1, .. })
        ));

        let original = std::fs::read(&path).unwrap();
        let third = original
            .split(|&byte| byte == b'\n')
            .take(2)
            .map(|line| line.len() + 1)
            .sum::<usize>();
        // Flip each byte of the third record in turn: every change is caught at record 3.
        let end = third + original[third..].iter().position(|&b| b == b'\n').unwrap();
        for at in third..end {
            let mut tampered = original.clone();
            tampered[at] ^= 0x01;
            std::fs::write(&path, &tampered).unwrap();
            match verify_log(&path, &identity.public(), None) {
                Err(AuditError::Broken { line: 3, .. }) => {}
                other => panic!("byte {at}: {other:?}"),
            }
        }
        // Dropping a record breaks the chain where it was.
        let lines: Vec<&[u8]> = original.split(|&byte| byte == b'\n').collect();
        let mut dropped = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            if index != 1 && !line.is_empty() {
                dropped.extend_from_slice(line);
                dropped.push(b'\n');
            }
        }
        std::fs::write(&path, &dropped).unwrap();
        assert!(matches!(
            verify_log(&path, &identity.public(), None),
            Err(AuditError::Broken { line: 2, .. })
        ));
        // A node will not extend a broken log.
        assert!(AuditLog::open(&path, "node-1", &identity, None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
    fn temp_log(label: &str) -> (PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("thresig-audit-{label}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        (dir, path)
    }

    #[test]
    fn a_torn_last_line_is_cut_off_at_open_and_a_repair_record_says_so() {
        let (dir, path) = temp_log("torn");
        let identity = NodeIdentity::generate();
        let (log, _) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        for n in 0..3 {
            log.append(entry(n), &identity).unwrap();
        }
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        // A crash in the middle of the fourth record's write.
        let mut torn = whole.clone();
        torn.extend_from_slice(br#"{"seq":4,"time":17,"node":"node-1","ev"#);
        std::fs::write(&path, &torn).unwrap();
        let summary = verify_log(&path, &identity.public(), None).unwrap();
        assert_eq!(summary.records, 3);
        assert_eq!(
            summary.torn_tail,
            Some(TornTail {
                offset: whole.len() as u64,
                bytes: 38
            })
        );

        let (log, opened) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        assert_eq!(opened.records, 3);
        assert_eq!(opened.repaired.map(|torn| torn.bytes), Some(38));
        assert_eq!(opened.anchor.seq, 4, "the repair record is record 4");
        log.append(entry(7), &identity).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(std::str::from_utf8(&whole).unwrap()));
        let repair: serde_json::Value = serde_json::from_str(text.lines().nth(3).unwrap()).unwrap();
        assert_eq!(repair["event"], "repair");
        assert!(repair["outcome"].as_str().unwrap().contains("38 bytes"));
        let summary = verify_log(&path, &identity.public(), None).unwrap();
        assert_eq!((summary.records, summary.torn_tail), (5, None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_anchor_finds_a_log_cut_short_deleted_or_replaced_and_must_be_the_nodes() {
        let (dir, path) = temp_log("anchor");
        let identity = NodeIdentity::generate();
        let (log, opened) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        assert_eq!(opened.anchor.seq, 0);
        let mut anchor = opened.anchor;
        for n in 0..4 {
            anchor = log.append(entry(n), &identity).unwrap();
        }
        drop(log);
        assert_eq!(anchor.seq, 4);
        assert!(anchor.verify("node-1", &identity.public()));
        assert!(!anchor.verify("node-2", &identity.public()));
        // Reopening at the anchor works and keeps it.
        let (log, opened) = AuditLog::open(&path, "node-1", &identity, Some(&anchor)).unwrap();
        assert_eq!(opened.anchor, anchor);
        drop(log);
        let whole = std::fs::read(&path).unwrap();

        // The last record dropped: the chain still verifies on its own, the anchor does not.
        let last = whole[..whole.len() - 1]
            .iter()
            .rposition(|&byte| byte == b'\n')
            .unwrap();
        std::fs::write(&path, &whole[..=last]).unwrap();
        assert_eq!(
            verify_log(&path, &identity.public(), None).unwrap().records,
            3
        );
        match AuditLog::open(&path, "node-1", &identity, Some(&anchor)) {
            Err(AuditError::Truncated {
                records: 3,
                anchored: 4,
                ..
            }) => {}
            other => panic!("{:?}", other.map(|(_, opened)| opened)),
        }
        // Cut mid-record, so it looks like a crash: the anchor still names the lost record.
        std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
        assert!(matches!(
            verify_log(&path, &identity.public(), Some(&anchor)),
            Err(AuditError::Truncated { records: 3, .. })
        ));
        // Deleted.
        std::fs::remove_file(&path).unwrap();
        let error = AuditLog::open(&path, "node-1", &identity, Some(&anchor))
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("holds 0 records, but the node's store anchors record 4"),
            "{error}"
        );
        // Replaced by another log of the same node, as long or longer.
        let (log, _) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        for n in 10..15 {
            log.append(entry(n), &identity).unwrap();
        }
        drop(log);
        assert!(matches!(
            verify_log(&path, &identity.public(), Some(&anchor)),
            Err(AuditError::Broken { line: 4, .. })
        ));
        // A forged or altered anchor is refused before the log is read.
        std::fs::write(&path, &whole).unwrap();
        let mut altered = anchor.clone();
        altered.seq = 3;
        assert!(matches!(
            AuditLog::open(&path, "node-1", &identity, Some(&altered)),
            Err(AuditError::BadAnchor { .. })
        ));
        // An anchor one record behind the log (a crash between the log's sync and the store's
        // write) is fine: the log only ever runs ahead.
        let mut behind = None;
        let (log, _) = AuditLog::open(&path, "node-1", &identity, None).unwrap();
        for n in 0..2 {
            behind = Some(log.append(entry(n), &identity).unwrap());
        }
        log.append(entry(2), &identity).unwrap();
        drop(log);
        assert!(AuditLog::open(&path, "node-1", &identity, behind.as_ref()).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
