//! A node's audit log: one JSON line per DKG and signature the node takes part in, each record
//! carrying the SHA-256 of the previous one (a hash chain) and the node's Ed25519 signature over
//! its own hash. Changing, dropping or reordering any record breaks the chain at that record;
//! rewriting the tail needs the node's identity key, which is sealed under its key provider.
//! Records hold no secrets: wallet ids, session ids and message digests, never messages or
//! shares.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::identity::{NodeIdentity, PublicIdentity};

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
}

fn body_hash(body: &Body) -> String {
    // Serialising a struct gives its fields in declaration order, so this is canonical.
    let json = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Checks the log at `path` against the node's public identity; returns how many records it
/// holds and the last hash, or the first bad record. A missing file is an empty log.
pub fn verify_file(path: &Path, node: &PublicIdentity) -> Result<(u64, String), AuditError> {
    let shown = path.display().to_string();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((0, GENESIS.to_owned()));
        }
        Err(source) => {
            return Err(AuditError::Io {
                path: shown,
                source,
            });
        }
    };
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let broken = |reason: String| AuditError::Broken {
            path: shown.clone(),
            line: number,
            reason,
        };
        let line = line.map_err(|source| AuditError::Io {
            path: shown.clone(),
            source,
        })?;
        let record: Record = serde_json::from_slice(&line)
            .map_err(|error| broken(format!("not a record: {error}")))?;
        // Records are written in one canonical form; anything else (an added, renamed or
        // dropped field that would parse to the same contents) was altered after writing.
        if serde_json::to_vec(&record).ok().as_deref() != Some(line.as_slice()) {
            return Err(broken("it is not in the form the node writes".into()));
        }
        if record.body.seq != number {
            return Err(broken(format!(
                "sequence number {} where {number} belongs",
                record.body.seq
            )));
        }
        if record.body.prev != prev {
            return Err(broken(
                "it does not chain to the record before it (a record was changed, removed or \
                 inserted)"
                    .into(),
            ));
        }
        if body_hash(&record.body) != record.hash {
            return Err(broken("its contents do not match its hash".into()));
        }
        let signature = hex::decode(&record.signature)
            .map_err(|error| broken(format!("signature: {error}")))?;
        if !node.verify(record.hash.as_bytes(), &signature) {
            return Err(broken("the node's signature does not verify".into()));
        }
        prev = record.hash;
        count = number;
    }
    Ok((count, prev))
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
    /// Opens (or creates) the log at `path` after checking its whole chain: a node refuses to
    /// extend a log that does not verify.
    pub fn open(path: &Path, node_id: &str, identity: &NodeIdentity) -> Result<Self, AuditError> {
        let (seq, prev) = verify_file(path, &identity.public())?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            node_id: node_id.to_owned(),
            state: Mutex::new(Tail { file, seq, prev }),
        })
    }

    /// Appends `entry`, signed by `identity`, and syncs it to disk before returning.
    pub fn append(&self, entry: AuditEntry, identity: &NodeIdentity) -> Result<(), AuditError> {
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
        let record = Record {
            body,
            hash: hash.clone(),
            signature,
        };
        let mut line = serde_json::to_vec(&record).map_err(|error| io(error.into()))?;
        line.push(b'\n');
        tail.file.write_all(&line).map_err(io)?;
        tail.file.sync_data().map_err(io)?;
        tail.seq += 1;
        tail.prev = hash;
        Ok(())
    }
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
        let log = AuditLog::open(&path, "node-1", &identity).unwrap();
        for n in 0..5 {
            log.append(entry(n), &identity).unwrap();
        }
        drop(log);
        // Reopening continues the chain.
        let log = AuditLog::open(&path, "node-1", &identity).unwrap();
        log.append(entry(9), &identity).unwrap();
        assert_eq!(verify_file(&path, &identity.public()).unwrap().0, 6);
        // Another node's key does not verify it.
        let other = NodeIdentity::generate().public();
        assert!(matches!(
            verify_file(&path, &other),
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
            match verify_file(&path, &identity.public()) {
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
            verify_file(&path, &identity.public()),
            Err(AuditError::Broken { line: 2, .. })
        ));
        // A node will not extend a broken log.
        assert!(AuditLog::open(&path, "node-1", &identity).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
