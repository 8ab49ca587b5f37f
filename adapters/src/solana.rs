//! Solana: legacy and v0 messages and transactions, byte-exact both ways.
//!
//! Wire format (as the Solana runtime reads it):
//! - transaction: `compact_u16 n`, `n` 64-byte Ed25519 signatures, then the message;
//! - message: for v0 a prefix byte `0x80 | version`; the header (`num_required_signatures`,
//!   `num_readonly_signed_accounts`, `num_readonly_unsigned_accounts`); `compact_u16`-prefixed
//!   32-byte account keys; the 32-byte recent blockhash; `compact_u16`-prefixed instructions
//!   (`program_id_index`, `compact_u16`-prefixed account indexes, `compact_u16`-prefixed data);
//!   for v0, `compact_u16`-prefixed address-table lookups (table key, writable and read-only
//!   index arrays).
//!
//! `compact_u16` is Solana's `short_vec` length: 7 bits a byte, low bits first, at most three
//! bytes and at most `u16::MAX`; non-canonical encodings (a trailing zero byte) are refused, as
//! the runtime refuses them, so decoding and encoding again gives back the same bytes.
//!
//! Each signer signs the serialised message bytes with Ed25519; the signature in slot `i`
//! belongs to account key `i`, the first signature is the transaction id.
//!
//! The policy fee is an upper bound: 5,000 lamports per signature (transaction signatures and
//! those checked by the Ed25519 / secp256k1 / secp256r1 precompile instructions) plus the
//! priority fee `ceil(unit_price * unit_limit / 10^6)`, where the unit limit, when no
//! compute-budget instruction sets it, is 200,000 per instruction up to 1,400,000.

use std::fmt;
use std::str::FromStr;

use base64::Engine;

use crate::policy::{Chain, PolicyView, Transfer};

/// Everything that can go wrong in the Solana adapter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SolanaError {
    /// The bytes ended before a field was complete.
    #[error("input ends at byte {at}: {field} needs {needed} bytes, {left} left")]
    UnexpectedEnd {
        /// Offset where the field starts.
        at: usize,
        /// What was being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        left: usize,
    },
    /// A compact-u16 length longer than three bytes or above `u16::MAX`.
    #[error("compact-u16 at byte {0} overflows 16 bits")]
    CompactU16Overflow(usize),
    /// A compact-u16 length with a redundant trailing zero byte.
    #[error("compact-u16 at byte {0} is not in its shortest form")]
    CompactU16NonCanonical(usize),
    /// A versioned message of a version other than 0.
    #[error("message version {0} is not supported (only legacy and v0)")]
    UnsupportedVersion(u8),
    /// Bytes left after the message.
    #[error("{0} bytes left after the message")]
    TrailingBytes(usize),
    /// The message breaks one of the runtime's sanitize rules.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The number of signatures is not the number of required signers.
    #[error("transaction carries {found} signatures, the message requires {required}")]
    SignatureCount {
        /// `num_required_signatures`.
        required: usize,
        /// Signatures present.
        found: usize,
    },
    /// [`crate::ChainAdapter::assemble`] got a number of signatures other than one per message.
    #[error("{found} signatures for {expected} messages to sign")]
    WrongSignatureCount {
        /// Messages to sign.
        expected: usize,
        /// Signatures given.
        found: usize,
    },
    /// An array too long for a compact-u16 length, or a legacy message with lookups.
    #[error("cannot serialise: {0}")]
    Unencodable(String),
    /// A signature was offered by a key that is not one of the message's signers.
    #[error("{0} is not a signer of this message")]
    NotASigner(Pubkey),
    /// A signature did not verify over the message bytes.
    #[error("signature of {0} does not verify over the message")]
    BadSignature(Pubkey),
    /// A public key had the wrong length.
    #[error("Ed25519 public key must be 32 bytes, got {0}")]
    KeyLength(usize),
    /// A public key is not a valid Ed25519 point.
    #[error("{0} is not a valid Ed25519 public key")]
    InvalidKey(Pubkey),
    /// Text was not valid base58 of the expected length.
    #[error("invalid base58: {0}")]
    Base58(String),
    /// Text was not valid base64.
    #[error("invalid base64: {0}")]
    Base64(String),
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, SolanaError>;

/// A 32-byte account address (an Ed25519 public key, or a program-derived address).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pubkey(pub [u8; 32]);

impl fmt::Display for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pubkey({self})")
    }
}

impl FromStr for Pubkey {
    type Err = SolanaError;
    fn from_str(text: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        let written = bs58::decode(text)
            .onto(&mut bytes[..])
            .map_err(|error| SolanaError::Base58(error.to_string()))?;
        if written != 32 {
            return Err(SolanaError::Base58(format!(
                "{text:?} decodes to {written} bytes, not 32"
            )));
        }
        Ok(Pubkey(bytes))
    }
}

/// The System Program, `11111111111111111111111111111111`.
pub const SYSTEM_PROGRAM: Pubkey = Pubkey([0; 32]);
/// The Compute Budget program, `ComputeBudget111111111111111111111111111111`.
pub const COMPUTE_BUDGET_PROGRAM: Pubkey = Pubkey([
    0x03, 0x06, 0x46, 0x6f, 0xe5, 0x21, 0x17, 0x32, 0xff, 0xec, 0xad, 0xba, 0x72, 0xc3, 0x9b, 0xe7,
    0xbc, 0x8c, 0xe5, 0xbb, 0xc5, 0xf7, 0x12, 0x6b, 0x2c, 0x43, 0x9b, 0x3a, 0x40, 0x00, 0x00, 0x00,
]);
/// The Ed25519 signature-verification precompile, `Ed25519SigVerify111111111111111111111111111`.
pub const ED25519_PROGRAM: Pubkey = Pubkey([
    0x03, 0x7d, 0x46, 0xd6, 0x7c, 0x93, 0xfb, 0xbe, 0x12, 0xf9, 0x42, 0x8f, 0x83, 0x8d, 0x40, 0xff,
    0x05, 0x70, 0x74, 0x49, 0x27, 0xf4, 0x8a, 0x64, 0xfc, 0xca, 0x70, 0x44, 0x80, 0x00, 0x00, 0x00,
]);
/// The secp256k1 recovery precompile, `KeccakSecp256k11111111111111111111111111111`.
pub const SECP256K1_PROGRAM: Pubkey = Pubkey([
    0x04, 0xc6, 0xfc, 0x20, 0xf0, 0x50, 0xcc, 0xf0, 0x55, 0x84, 0xd7, 0x21, 0x1c, 0x9f, 0x8c, 0xf5,
    0x9e, 0xc1, 0x47, 0x85, 0xbb, 0x16, 0x6a, 0x1e, 0x28, 0x30, 0xe8, 0x12, 0x20, 0x00, 0x00, 0x00,
]);
/// The secp256r1 precompile, `Secp256r1SigVerify1111111111111111111111111`.
pub const SECP256R1_PROGRAM: Pubkey = Pubkey([
    0x06, 0x92, 0x0d, 0xec, 0x2f, 0xea, 0x71, 0xb5, 0xb7, 0x23, 0x81, 0x4d, 0x74, 0x2d, 0xa9, 0x03,
    0x1c, 0x83, 0xe7, 0x5f, 0xdb, 0x79, 0x5d, 0x56, 0x8e, 0x75, 0x47, 0x80, 0x20, 0x00, 0x00, 0x00,
]);

/// Lamports charged per signature on mainnet.
pub const LAMPORTS_PER_SIGNATURE: u128 = 5_000;

/// The base58 address of an Ed25519 public key (32 bytes, a valid curve point).
pub fn address(ed25519_public_key: &[u8]) -> Result<String> {
    parse_public_key(ed25519_public_key).map(|key| key.to_string())
}

/// Parses an Ed25519 public key: 32 bytes that are a valid curve point.
pub fn parse_public_key(ed25519_public_key: &[u8]) -> Result<Pubkey> {
    let bytes: [u8; 32] = ed25519_public_key
        .try_into()
        .map_err(|_| SolanaError::KeyLength(ed25519_public_key.len()))?;
    let key = Pubkey(bytes);
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| SolanaError::InvalidKey(key))?;
    Ok(key)
}

/// Appends `value` as a compact-u16.
pub fn write_compact_u16(out: &mut Vec<u8>, value: u16) {
    let mut rest = value;
    loop {
        let low = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads a compact-u16 at the start of `bytes`; returns the value and how many bytes it took.
pub fn read_compact_u16(bytes: &[u8]) -> Result<(u16, usize)> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.compact_u16()?;
    Ok((value, reader.pos))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: usize, field: &'static str) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.pos;
        if needed > left {
            return Err(SolanaError::UnexpectedEnd {
                at: self.pos,
                field,
                needed,
                left,
            });
        }
        let slice = &self.bytes[self.pos..self.pos + needed];
        self.pos += needed;
        Ok(slice)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }

    fn array32(&mut self, field: &'static str) -> Result<[u8; 32]> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32, field)?);
        Ok(out)
    }

    fn compact_u16(&mut self) -> Result<u16> {
        let start = self.pos;
        let mut value: u32 = 0;
        for index in 0..3 {
            let byte = self.u8("compact-u16 length")?;
            if index == 2 && byte > 0x03 {
                return Err(SolanaError::CompactU16Overflow(start));
            }
            value |= u32::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 {
                    return Err(SolanaError::CompactU16NonCanonical(start));
                }
                return u16::try_from(value).map_err(|_| SolanaError::CompactU16Overflow(start));
            }
        }
        Err(SolanaError::CompactU16Overflow(start))
    }

    fn bytes_vec(&mut self, field: &'static str) -> Result<Vec<u8>> {
        let len = self.compact_u16()?;
        Ok(self.take(usize::from(len), field)?.to_vec())
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

fn write_len(out: &mut Vec<u8>, len: usize, what: &str) -> Result<()> {
    let len = u16::try_from(len)
        .map_err(|_| SolanaError::Unencodable(format!("{len} {what} exceed a compact-u16")))?;
    write_compact_u16(out, len);
    Ok(())
}

/// The three-byte message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageHeader {
    /// Signatures the message requires; the first this many account keys sign.
    pub num_required_signatures: u8,
    /// How many of the signing keys are read-only (the last ones of them).
    pub num_readonly_signed_accounts: u8,
    /// How many of the non-signing static keys are read-only (the last ones).
    pub num_readonly_unsigned_accounts: u8,
}

/// An instruction with its program and accounts given as indexes into the account list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompiledInstruction {
    /// Index of the program's account key.
    pub program_id_index: u8,
    /// Indexes of the accounts the instruction uses.
    pub accounts: Vec<u8>,
    /// The instruction data.
    pub data: Vec<u8>,
}

/// A v0 reference to accounts stored in an on-chain address lookup table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressTableLookup {
    /// The lookup table's address.
    pub account_key: Pubkey,
    /// Table indexes loaded as writable.
    pub writable_indexes: Vec<u8>,
    /// Table indexes loaded as read-only.
    pub readonly_indexes: Vec<u8>,
}

/// Message format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageVersion {
    /// The original format, no version prefix, no lookups.
    Legacy,
    /// Version 0: prefix byte 0x80 and address-table lookups.
    V0,
}

/// A legacy or v0 message: what the signers sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Legacy or v0.
    pub version: MessageVersion,
    /// The header.
    pub header: MessageHeader,
    /// The static account keys; signers first.
    pub account_keys: Vec<Pubkey>,
    /// The recent blockhash (or durable nonce).
    pub recent_blockhash: [u8; 32],
    /// The instructions.
    pub instructions: Vec<CompiledInstruction>,
    /// Address-table lookups (always empty for legacy messages).
    pub address_table_lookups: Vec<AddressTableLookup>,
}

fn invalid(text: impl Into<String>) -> SolanaError {
    SolanaError::Invalid(text.into())
}

impl Message {
    fn read(reader: &mut Reader<'_>) -> Result<Self> {
        let first = reader.u8("message header")?;
        let (version, num_required_signatures) = if first & 0x80 != 0 {
            let version = first & 0x7f;
            if version != 0 {
                return Err(SolanaError::UnsupportedVersion(version));
            }
            (MessageVersion::V0, reader.u8("message header")?)
        } else {
            (MessageVersion::Legacy, first)
        };
        let header = MessageHeader {
            num_required_signatures,
            num_readonly_signed_accounts: reader.u8("message header")?,
            num_readonly_unsigned_accounts: reader.u8("message header")?,
        };
        let key_count = reader.compact_u16()?;
        let mut account_keys = Vec::with_capacity(usize::from(key_count).min(reader.left() / 32));
        for _ in 0..key_count {
            account_keys.push(Pubkey(reader.array32("account key")?));
        }
        let recent_blockhash = reader.array32("recent blockhash")?;
        let instruction_count = reader.compact_u16()?;
        let mut instructions =
            Vec::with_capacity(usize::from(instruction_count).min(reader.left()));
        for _ in 0..instruction_count {
            instructions.push(CompiledInstruction {
                program_id_index: reader.u8("program id index")?,
                accounts: reader.bytes_vec("instruction accounts")?,
                data: reader.bytes_vec("instruction data")?,
            });
        }
        let mut address_table_lookups = Vec::new();
        if version == MessageVersion::V0 {
            let lookup_count = reader.compact_u16()?;
            for _ in 0..lookup_count {
                address_table_lookups.push(AddressTableLookup {
                    account_key: Pubkey(reader.array32("lookup table key")?),
                    writable_indexes: reader.bytes_vec("writable indexes")?,
                    readonly_indexes: reader.bytes_vec("read-only indexes")?,
                });
            }
        }
        Ok(Message {
            version,
            header,
            account_keys,
            recent_blockhash,
            instructions,
            address_table_lookups,
        })
    }

    /// Decodes a serialised message (legacy or v0); the bytes must hold exactly one message.
    /// The result is not sanitised: see [`Message::sanitize`].
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader { bytes, pos: 0 };
        let message = Self::read(&mut reader)?;
        match reader.left() {
            0 => Ok(message),
            left => Err(SolanaError::TrailingBytes(left)),
        }
    }

    /// Serialises the message in the wire format.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.version == MessageVersion::V0 {
            out.push(0x80);
        } else if !self.address_table_lookups.is_empty() {
            return Err(SolanaError::Unencodable(
                "a legacy message cannot hold address-table lookups".into(),
            ));
        } else if self.header.num_required_signatures & 0x80 != 0 {
            // The first byte of a legacy message would read as a version prefix.
            return Err(SolanaError::Unencodable(format!(
                "a legacy message cannot require {} (>= 128) signatures",
                self.header.num_required_signatures
            )));
        }
        out.push(self.header.num_required_signatures);
        out.push(self.header.num_readonly_signed_accounts);
        out.push(self.header.num_readonly_unsigned_accounts);
        write_len(&mut out, self.account_keys.len(), "account keys")?;
        for key in &self.account_keys {
            out.extend_from_slice(&key.0);
        }
        out.extend_from_slice(&self.recent_blockhash);
        write_len(&mut out, self.instructions.len(), "instructions")?;
        for instruction in &self.instructions {
            out.push(instruction.program_id_index);
            write_len(&mut out, instruction.accounts.len(), "instruction accounts")?;
            out.extend_from_slice(&instruction.accounts);
            write_len(&mut out, instruction.data.len(), "instruction data bytes")?;
            out.extend_from_slice(&instruction.data);
        }
        if self.version == MessageVersion::V0 {
            write_len(&mut out, self.address_table_lookups.len(), "lookups")?;
            for lookup in &self.address_table_lookups {
                out.extend_from_slice(&lookup.account_key.0);
                write_len(&mut out, lookup.writable_indexes.len(), "writable indexes")?;
                out.extend_from_slice(&lookup.writable_indexes);
                write_len(&mut out, lookup.readonly_indexes.len(), "read-only indexes")?;
                out.extend_from_slice(&lookup.readonly_indexes);
            }
        }
        Ok(out)
    }

    /// Number of accounts the lookups load.
    fn loaded_count(&self) -> usize {
        self.address_table_lookups
            .iter()
            .map(|lookup| lookup.writable_indexes.len() + lookup.readonly_indexes.len())
            .sum()
    }

    /// Checks the runtime's structural rules: the signers and read-only counts fit the keys, the
    /// fee payer is a writable signer, at most 256 accounts, every index points at an account,
    /// programs are static keys other than the fee payer, no lookup is empty.
    pub fn sanitize(&self) -> Result<()> {
        let header = &self.header;
        let static_keys = self.account_keys.len();
        let required = usize::from(header.num_required_signatures);
        if required + usize::from(header.num_readonly_unsigned_accounts) > static_keys {
            return Err(invalid(format!(
                "{required} signers and {} read-only unsigned accounts exceed {static_keys} account keys",
                header.num_readonly_unsigned_accounts
            )));
        }
        if header.num_readonly_signed_accounts >= header.num_required_signatures {
            return Err(invalid(
                "the fee payer must be a writable signer (read-only signers >= signers)",
            ));
        }
        let total = static_keys + self.loaded_count();
        if total > 256 {
            return Err(invalid(format!("{total} accounts exceed 256")));
        }
        if self
            .address_table_lookups
            .iter()
            .any(|lookup| lookup.writable_indexes.is_empty() && lookup.readonly_indexes.is_empty())
        {
            return Err(invalid("an address-table lookup loads no account"));
        }
        for (number, instruction) in self.instructions.iter().enumerate() {
            let program = usize::from(instruction.program_id_index);
            if program == 0 || program >= static_keys {
                return Err(invalid(format!(
                    "instruction {number}: program index {program} is not a static non-payer key"
                )));
            }
            if let Some(index) = instruction
                .accounts
                .iter()
                .find(|&&index| usize::from(index) >= total)
            {
                return Err(invalid(format!(
                    "instruction {number}: account index {index} is past the {total} accounts"
                )));
            }
        }
        Ok(())
    }

    /// The fee payer: the first account key.
    pub fn fee_payer(&self) -> Option<Pubkey> {
        self.account_keys.first().copied()
    }

    /// The keys that must sign, in signature-slot order.
    pub fn signers(&self) -> &[Pubkey] {
        let required =
            usize::from(self.header.num_required_signatures).min(self.account_keys.len());
        &self.account_keys[..required]
    }

    /// A label for account `index`: its base58 key, or `lookup:<table>:<table index>` for
    /// accounts a v0 message loads from an address table (writable ones first, as the runtime
    /// orders them).
    pub fn account_label(&self, index: u8) -> String {
        let index = usize::from(index);
        if let Some(key) = self.account_keys.get(index) {
            return key.to_string();
        }
        let mut position = self.account_keys.len();
        for writable in [true, false] {
            for lookup in &self.address_table_lookups {
                let indexes = if writable {
                    &lookup.writable_indexes
                } else {
                    &lookup.readonly_indexes
                };
                for table_index in indexes {
                    if position == index {
                        return format!("lookup:{}:{table_index}", lookup.account_key);
                    }
                    position += 1;
                }
            }
        }
        format!("missing:{index}")
    }
}

/// A legacy System Program transfer of `lamports` from `from` (fee payer and signer) to `to`.
pub fn transfer_message(
    from: Pubkey,
    to: Pubkey,
    lamports: u64,
    recent_blockhash: [u8; 32],
) -> Message {
    let mut data = 2u32.to_le_bytes().to_vec();
    data.extend_from_slice(&lamports.to_le_bytes());
    let (account_keys, accounts) = if from == to {
        (vec![from, SYSTEM_PROGRAM], vec![0, 0])
    } else {
        (vec![from, to, SYSTEM_PROGRAM], vec![0, 1])
    };
    let program_id_index = (account_keys.len() - 1) as u8;
    Message {
        version: MessageVersion::Legacy,
        header: MessageHeader {
            num_required_signatures: 1,
            num_readonly_signed_accounts: 0,
            num_readonly_unsigned_accounts: 1,
        },
        account_keys,
        recent_blockhash,
        instructions: vec![CompiledInstruction {
            program_id_index,
            accounts,
            data,
        }],
        address_table_lookups: Vec::new(),
    }
}

/// A transaction: signatures and the message they sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolanaTransaction {
    /// One 64-byte Ed25519 signature per required signer (all zero while unsigned).
    pub signatures: Vec<[u8; 64]>,
    /// The message.
    pub message: Message,
}

/// What the signers must sign for a Solana transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolanaSigningRequest {
    /// The exact message bytes each signer signs with Ed25519.
    pub message: Vec<u8>,
    /// The required signers, in signature-slot order.
    pub signers: Vec<Pubkey>,
}

impl SolanaTransaction {
    /// Decodes a wire-format transaction; the bytes must hold exactly one transaction. The
    /// result is sanitised: the signature count must equal the message's required signers.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader { bytes, pos: 0 };
        let count = reader.compact_u16()?;
        let mut signatures = Vec::with_capacity(usize::from(count).min(reader.left() / 64));
        for _ in 0..count {
            let mut signature = [0u8; 64];
            signature.copy_from_slice(reader.take(64, "signature")?);
            signatures.push(signature);
        }
        let message = Message::read(&mut reader)?;
        if reader.left() != 0 {
            return Err(SolanaError::TrailingBytes(reader.left()));
        }
        let transaction = SolanaTransaction {
            signatures,
            message,
        };
        transaction.sanitize()?;
        Ok(transaction)
    }

    /// Decodes a base64 wire-format transaction.
    pub fn from_base64(text: &str) -> Result<Self> {
        Self::deserialize(&decode_base64(text)?)
    }

    /// Serialises in the wire format.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_len(&mut out, self.signatures.len(), "signatures")?;
        for signature in &self.signatures {
            out.extend_from_slice(signature);
        }
        out.extend_from_slice(&self.message.serialize()?);
        Ok(out)
    }

    /// Serialises in the wire format, base64.
    pub fn to_base64(&self) -> Result<String> {
        Ok(base64::engine::general_purpose::STANDARD.encode(self.serialize()?))
    }

    /// Checks the message rules and that there is one signature per required signer.
    pub fn sanitize(&self) -> Result<()> {
        self.message.sanitize()?;
        let required = usize::from(self.message.header.num_required_signatures);
        if self.signatures.len() != required {
            return Err(SolanaError::SignatureCount {
                required,
                found: self.signatures.len(),
            });
        }
        Ok(())
    }

    /// The message bytes and the keys that must sign them.
    pub fn signing_request(&self) -> Result<SolanaSigningRequest> {
        Ok(SolanaSigningRequest {
            message: self.message.serialize()?,
            signers: self.message.signers().to_vec(),
        })
    }

    /// The transaction id: the first signature, base58.
    pub fn id(&self) -> Option<String> {
        self.signatures
            .first()
            .map(|signature| bs58::encode(signature).into_string())
    }
}

/// Decodes standard base64 (with padding).
pub fn decode_base64(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|error| SolanaError::Base64(error.to_string()))
}

/// The signing request for serialised message bytes (what `thresig_signTransaction` receives):
/// the message is decoded and sanitised first.
pub fn signing_request(message_bytes: &[u8]) -> Result<SolanaSigningRequest> {
    let message = Message::deserialize(message_bytes)?;
    message.sanitize()?;
    Ok(SolanaSigningRequest {
        message: message_bytes.to_vec(),
        signers: message.signers().to_vec(),
    })
}

/// A signed transaction as `thresig_signTransaction` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSolanaTransaction {
    /// The transaction.
    pub transaction: SolanaTransaction,
    /// Its wire format, base64.
    pub base64: String,
    /// The first signature (the transaction id), base58.
    pub signature: String,
}

/// Assembles a transaction from serialised message bytes and `(signer, signature)` pairs.
/// Every signature is verified (Ed25519, strict) over the message bytes; required signers with
/// no signature get an all-zero slot, to be filled by other parties.
pub fn assemble(
    message_bytes: &[u8],
    signatures: &[(Pubkey, [u8; 64])],
) -> Result<SignedSolanaTransaction> {
    let message = Message::deserialize(message_bytes)?;
    message.sanitize()?;
    let signers = message.signers();
    let mut slots = vec![[0u8; 64]; signers.len()];
    for (key, signature) in signatures {
        let slot = signers
            .iter()
            .position(|signer| signer == key)
            .ok_or(SolanaError::NotASigner(*key))?;
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.0)
            .map_err(|_| SolanaError::InvalidKey(*key))?;
        verifying
            .verify_strict(
                message_bytes,
                &ed25519_dalek::Signature::from_bytes(signature),
            )
            .map_err(|_| SolanaError::BadSignature(*key))?;
        slots[slot] = *signature;
    }
    let transaction = SolanaTransaction {
        signatures: slots,
        message,
    };
    let signature = transaction.id().unwrap_or_default();
    Ok(SignedSolanaTransaction {
        base64: transaction.to_base64()?,
        signature,
        transaction,
    })
}

fn le_u32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)
}

fn le_u64(data: &[u8], at: usize) -> Option<u64> {
    data.get(at..at + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes)
}

/// The policy view of a message: the fee payer, System Program transfers (Transfer,
/// TransferWithSeed, CreateAccount), and the fee upper bound described in the module docs.
pub fn policy_view(message: &Message) -> PolicyView {
    let mut transfers = Vec::new();
    let mut opaque_actions = 0usize;
    let mut signature_count = u128::from(message.header.num_required_signatures);
    let mut unit_limit: Option<u128> = None;
    let mut unit_price: u128 = 0;
    let mut other_instructions: u128 = 0;
    for instruction in &message.instructions {
        let program = message
            .account_keys
            .get(usize::from(instruction.program_id_index));
        let data = &instruction.data;
        let account = |position: usize| {
            instruction
                .accounts
                .get(position)
                .map(|&index| message.account_label(index))
        };
        if program == Some(&COMPUTE_BUDGET_PROGRAM) {
            match data.first() {
                Some(2) => match le_u32(data, 1) {
                    Some(limit) => unit_limit = Some(u128::from(limit)),
                    None => opaque_actions += 1,
                },
                Some(3) => match le_u64(data, 1) {
                    Some(price) => unit_price = u128::from(price),
                    None => opaque_actions += 1,
                },
                Some(1) | Some(4) => {}
                _ => opaque_actions += 1,
            }
            continue;
        }
        other_instructions += 1;
        if program == Some(&SYSTEM_PROGRAM) {
            // (tag, lamports offset, recipient position) of the System instructions that move
            // lamports: CreateAccount, Transfer, TransferWithSeed.
            let moved = match le_u32(data, 0) {
                Some(0) => le_u64(data, 4).zip(account(1)),
                Some(2) => le_u64(data, 4).zip(account(1)),
                Some(11) => le_u64(data, 4).zip(account(2)),
                Some(4) => {
                    // AdvanceNonceAccount moves nothing.
                    continue;
                }
                _ => None,
            };
            match moved {
                Some((lamports, recipient)) => transfers.push(Transfer {
                    recipient,
                    amount: u128::from(lamports),
                }),
                None => opaque_actions += 1,
            }
            continue;
        }
        if program == Some(&ED25519_PROGRAM)
            || program == Some(&SECP256K1_PROGRAM)
            || program == Some(&SECP256R1_PROGRAM)
        {
            signature_count += u128::from(data.first().copied().unwrap_or(0));
            continue;
        }
        opaque_actions += 1;
    }
    let limit = unit_limit.unwrap_or_else(|| (other_instructions * 200_000).min(1_400_000));
    let priority = (unit_price * limit).div_ceil(1_000_000);
    PolicyView {
        chain: Chain::Solana,
        payer: message.fee_payer().map(|key| key.to_string()),
        transfers,
        fee: signature_count * LAMPORTS_PER_SIGNATURE + priority,
        opaque_actions,
    }
}
