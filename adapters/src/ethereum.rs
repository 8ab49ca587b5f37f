//! Ethereum: EIP-1559 transactions, EIP-55 addresses, EIP-191 and EIP-712 message hashes.
//!
//! The unsigned transaction is alloy's [`TxEip1559`]; its signing hash is
//! `keccak256(0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas,
//! gas_limit, to, value, data, access_list]))`. A threshold ECDSA signer returns `(r, s)`;
//! [`assemble_signed`] normalises `s` to the low half (EIP-2), finds the recovery parity that
//! recovers the wallet's address, and returns the EIP-2718 encoding `0x02 || rlp([..., y_parity,
//! r, s])` with its transaction hash.

use alloy_consensus::transaction::RlpEcdsaDecodableTx;
use alloy_consensus::{SignableTransaction, Signed, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{B256, Signature, TxKind, U256, keccak256};

pub use alloy_consensus::TxEip1559;
pub use alloy_primitives::Address;

use crate::policy::{Chain, PolicyView, Transfer};

/// Everything that can go wrong in the Ethereum adapter.
#[derive(Debug, thiserror::Error)]
pub enum EthereumError {
    /// A public key was not 33 (compressed) or 65 (uncompressed) SEC1 bytes.
    #[error("public key must be 33 or 65 SEC1 bytes, got {0} bytes")]
    KeyLength(usize),
    /// A public key was not a point on secp256k1 or had a wrong SEC1 tag.
    #[error("public key is not a valid SEC1 secp256k1 point")]
    InvalidKey,
    /// No input bytes.
    #[error("transaction bytes are empty")]
    Empty,
    /// The EIP-2718 type byte was not 0x02.
    #[error("transaction type {0:#04x} is not EIP-1559 (0x02)")]
    WrongType(u8),
    /// The bytes are not a valid EIP-2718 transaction.
    #[error("transaction does not decode: {0}")]
    Decode(#[from] alloy_eips::eip2718::Eip2718Error),
    /// The RLP body does not decode.
    #[error("transaction RLP does not decode: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// Bytes were left after the transaction.
    #[error("{0} bytes left after the transaction")]
    TrailingBytes(usize),
    /// A signature scalar was zero or not below the group order.
    #[error("signature scalar {0} is zero or not below the secp256k1 group order")]
    ScalarRange(&'static str),
    /// A signature's `s` is in the upper half of the group order, which EIP-2 forbids.
    #[error("signature s is in the upper half of the group order (EIP-2 forbids it)")]
    HighS,
    /// Neither recovery parity recovers the expected signer.
    #[error("signature does not recover to {expected} with either parity")]
    WrongSigner {
        /// The address the signature should have recovered to.
        expected: Address,
    },
    /// [`crate::ChainAdapter::assemble`] got a number of signatures other than one per message.
    #[error("{found} signatures for {expected} messages to sign")]
    WrongSignatureCount {
        /// Messages to sign.
        expected: usize,
        /// Signatures given.
        found: usize,
    },
    /// Public-key recovery failed.
    #[error("sender recovery failed: {0}")]
    Recovery(#[from] alloy_primitives::SignatureError),
    /// The EIP-712 typed data was not valid JSON of the eth_signTypedData_v4 shape.
    #[error("typed data is not valid eth_signTypedData_v4 JSON: {0}")]
    TypedDataJson(#[from] serde_json::Error),
    /// The EIP-712 typed data did not hash (unknown type, value of the wrong type, ...).
    #[error("typed data does not hash: {0}")]
    TypedData(#[from] alloy_dyn_abi::Error),
    /// A transaction object (as `eth_signTransaction` takes it) has a missing or bad field.
    #[error("transaction field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, EthereumError>;

/// The secp256k1 group order n.
const SECP256K1_ORDER: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// The address of a secp256k1 public key given as 33 (compressed) or 65 (uncompressed) SEC1
/// bytes: the last 20 bytes of keccak256 of the uncompressed x‖y.
pub fn address_from_public_key(sec1: &[u8]) -> Result<Address> {
    parse_public_key(sec1).map(|key| address_of(&key))
}

/// Parses a secp256k1 public key of 33 (compressed) or 65 (uncompressed) SEC1 bytes.
pub fn parse_public_key(sec1: &[u8]) -> Result<k256::PublicKey> {
    if sec1.len() != 33 && sec1.len() != 65 {
        return Err(EthereumError::KeyLength(sec1.len()));
    }
    k256::PublicKey::from_sec1_bytes(sec1).map_err(|_| EthereumError::InvalidKey)
}

/// The address of a secp256k1 public key: the last 20 bytes of keccak256 of its uncompressed
/// x‖y.
pub fn address_of(key: &k256::PublicKey) -> Address {
    let point = k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(key, false);
    // An uncompressed SEC1 point is the tag 0x04 and then x‖y.
    Address::from_word(keccak256(&point.as_bytes()[1..]))
}

/// The EIP-55 mixed-case checksum form of an address.
pub fn checksum_address(address: &Address) -> String {
    address.to_checksum(None)
}

/// The EIP-55 address of a SEC1 public key (33 or 65 bytes).
pub fn eip55_address(sec1: &[u8]) -> Result<String> {
    address_from_public_key(sec1).map(|address| checksum_address(&address))
}

/// The EIP-1559 signing hash: keccak256 of [`encode_unsigned`].
pub fn signing_hash(tx: &TxEip1559) -> B256 {
    tx.signature_hash()
}

/// The unsigned EIP-1559 payload `0x02 || rlp([fields])`, which the signing hash covers.
pub fn encode_unsigned(tx: &TxEip1559) -> Vec<u8> {
    tx.encoded_for_signing()
}

/// Decodes an unsigned EIP-1559 payload `0x02 || rlp([fields])`, rejecting trailing bytes.
pub fn decode_unsigned(bytes: &[u8]) -> Result<TxEip1559> {
    let (&ty, mut body) = bytes.split_first().ok_or(EthereumError::Empty)?;
    if ty != 0x02 {
        return Err(EthereumError::WrongType(ty));
    }
    let tx = TxEip1559::rlp_decode(&mut body)?;
    if !body.is_empty() {
        return Err(EthereumError::TrailingBytes(body.len()));
    }
    Ok(tx)
}

/// A signed EIP-1559 transaction ready to broadcast (`eth_sendRawTransaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEip1559 {
    /// The EIP-2718 encoding `0x02 || rlp([..., y_parity, r, s])`.
    pub raw: Vec<u8>,
    /// The transaction hash, keccak256 of `raw`.
    pub hash: B256,
    /// The sender the signature recovers to.
    pub sender: Address,
    /// The signature, with low `s`.
    pub signature: Signature,
}

fn scalar(bytes: &[u8; 32], name: &'static str) -> Result<U256> {
    let value = U256::from_be_bytes(*bytes);
    if value.is_zero() || value >= SECP256K1_ORDER {
        return Err(EthereumError::ScalarRange(name));
    }
    Ok(value)
}

/// Assembles the signed transaction from an ECDSA signature `(r, s)` over [`signing_hash`] by
/// the key of `expected_sender`: normalises `s` to the low half and picks the recovery parity
/// that recovers `expected_sender`.
pub fn assemble_signed(
    tx: TxEip1559,
    r: &[u8; 32],
    s: &[u8; 32],
    expected_sender: Address,
) -> Result<SignedEip1559> {
    let r = scalar(r, "r")?;
    let mut s = scalar(s, "s")?;
    if s > SECP256K1_ORDER >> 1 {
        s = SECP256K1_ORDER - s;
    }
    let hash = tx.signature_hash();
    for parity in [false, true] {
        let signature = Signature::new(r, s, parity);
        if signature.recover_address_from_prehash(&hash).ok() == Some(expected_sender) {
            return Ok(finish(tx.into_signed(signature), expected_sender));
        }
    }
    Err(EthereumError::WrongSigner {
        expected: expected_sender,
    })
}

/// Assembles the signed transaction from a complete signature (with its parity), checking the
/// EIP-2 low-`s` rule and recovering the sender.
pub fn assemble_with_signature(tx: TxEip1559, signature: Signature) -> Result<SignedEip1559> {
    let signed = tx.into_signed(signature);
    let sender = recover_sender(&signed)?;
    Ok(finish(signed, sender))
}

fn finish(signed: Signed<TxEip1559>, sender: Address) -> SignedEip1559 {
    let signature = *signed.signature();
    let hash = *signed.hash();
    SignedEip1559 {
        raw: signed.encoded_2718(),
        hash,
        sender,
        signature,
    }
}

/// Decodes a signed EIP-2718 transaction, which must be of type 0x02 (EIP-1559), rejecting
/// trailing bytes.
pub fn decode_signed(bytes: &[u8]) -> Result<Signed<TxEip1559>> {
    let &ty = bytes.first().ok_or(EthereumError::Empty)?;
    if ty != 0x02 {
        return Err(EthereumError::WrongType(ty));
    }
    match TxEnvelope::decode_2718_exact(bytes)? {
        TxEnvelope::Eip1559(signed) => Ok(signed),
        other => Err(EthereumError::WrongType(other.tx_type() as u8)),
    }
}

/// The EIP-2718 encoding of a signed transaction.
pub fn encode_signed(signed: &Signed<TxEip1559>) -> Vec<u8> {
    signed.encoded_2718()
}

/// Recovers the sender of a signed transaction; a high-`s` signature is refused (EIP-2).
pub fn recover_sender(signed: &Signed<TxEip1559>) -> Result<Address> {
    let signature = signed.signature();
    if signature.s() > SECP256K1_ORDER >> 1 {
        return Err(EthereumError::HighS);
    }
    Ok(signature.recover_address_from_prehash(&signed.tx().signature_hash())?)
}

/// An EIP-1559 transaction given as the JSON object `eth_signTransaction` takes: `chainId`,
/// `nonce`, `gas` (or `gasLimit`), `maxFeePerGas`, `maxPriorityFeePerGas`, `to` (absent or null
/// to create a contract), `value`, `data` (or `input`), optional `accessList` and `type` (must
/// be 2), and optional `from`, which is returned for the caller to check. Quantities are JSON
/// numbers or strings, hex with 0x or decimal.
pub fn transaction_from_fields(fields: &serde_json::Value) -> Result<(TxEip1559, Option<Address>)> {
    let object = fields.as_object().ok_or(EthereumError::Field {
        field: "transaction",
        reason: "must be a JSON object of EIP-1559 fields".into(),
    })?;
    const KNOWN: [&str; 13] = [
        "chainId",
        "nonce",
        "gas",
        "gasLimit",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "to",
        "value",
        "data",
        "input",
        "accessList",
        "type",
        "from",
    ];
    if let Some(unknown) = object.keys().find(|key| !KNOWN.contains(&key.as_str())) {
        return Err(EthereumError::Field {
            field: "transaction",
            reason: format!("unknown field {unknown:?} (EIP-1559 transactions only)"),
        });
    }
    let field = |name: &'static str| object.get(name).filter(|value| !value.is_null());
    let either = |first: &'static str, second: &'static str| field(first).or_else(|| field(second));
    if let Some(kind) = field("type")
        && quantity("type", kind)? != U256::from(2)
    {
        return Err(EthereumError::Field {
            field: "type",
            reason: "only EIP-1559 (type 2) transactions are signed".into(),
        });
    }
    let narrow = |name: &'static str, value: U256| -> Result<u128> {
        u128::try_from(value).map_err(|_| EthereumError::Field {
            field: name,
            reason: "too large".into(),
        })
    };
    let small = |name: &'static str, value: U256| -> Result<u64> {
        u64::try_from(value).map_err(|_| EthereumError::Field {
            field: name,
            reason: "does not fit 64 bits".into(),
        })
    };
    let to = match field("to") {
        None => TxKind::Create,
        Some(value) => TxKind::Call(address_field("to", value)?),
    };
    let input = match either("data", "input") {
        None => Default::default(),
        Some(value) => bytes_field("data", value)?.into(),
    };
    let access_list = match field("accessList") {
        None => Default::default(),
        Some(value) => access_list_field(value)?,
    };
    let tx = TxEip1559 {
        chain_id: small(
            "chainId",
            quantity("chainId", required("chainId", field("chainId"))?)?,
        )?,
        nonce: small(
            "nonce",
            quantity("nonce", required("nonce", field("nonce"))?)?,
        )?,
        gas_limit: small(
            "gas",
            quantity("gas", required("gas", either("gas", "gasLimit"))?)?,
        )?,
        max_fee_per_gas: narrow(
            "maxFeePerGas",
            quantity(
                "maxFeePerGas",
                required("maxFeePerGas", field("maxFeePerGas"))?,
            )?,
        )?,
        max_priority_fee_per_gas: narrow(
            "maxPriorityFeePerGas",
            quantity(
                "maxPriorityFeePerGas",
                required("maxPriorityFeePerGas", field("maxPriorityFeePerGas"))?,
            )?,
        )?,
        to,
        value: match field("value") {
            None => U256::ZERO,
            Some(value) => quantity("value", value)?,
        },
        access_list,
        input,
    };
    let from = field("from")
        .map(|value| address_field("from", value))
        .transpose()?;
    Ok((tx, from))
}

fn required<'a>(
    field: &'static str,
    value: Option<&'a serde_json::Value>,
) -> Result<&'a serde_json::Value> {
    value.ok_or(EthereumError::Field {
        field,
        reason: "missing".into(),
    })
}

/// A quantity: a JSON number, or a string of hex (0x) or decimal digits.
fn quantity(field: &'static str, value: &serde_json::Value) -> Result<U256> {
    let bad = |reason: String| EthereumError::Field { field, reason };
    match value {
        serde_json::Value::Number(number) => number
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| bad(format!("{number} is not a non-negative integer"))),
        serde_json::Value::String(text) => {
            let parsed = match text.strip_prefix("0x") {
                Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16),
                Some(_) => return Err(bad("\"0x\" has no digits".into())),
                None => U256::from_str_radix(text, 10),
            };
            parsed.map_err(|error| bad(format!("{text:?}: {error}")))
        }
        other => Err(bad(format!("expected a number or a string, got {other}"))),
    }
}

fn address_field(field: &'static str, value: &serde_json::Value) -> Result<Address> {
    let text = value.as_str().ok_or(EthereumError::Field {
        field,
        reason: "must be a 0x-hex address string".into(),
    })?;
    text.parse().map_err(|error| EthereumError::Field {
        field,
        reason: format!("{text:?}: {error}"),
    })
}

fn access_list_field(value: &serde_json::Value) -> Result<alloy_eips::eip2930::AccessList> {
    let bad = |reason: &str| EthereumError::Field {
        field: "accessList",
        reason: reason.to_owned(),
    };
    let entries = value.as_array().ok_or_else(|| bad("must be an array"))?;
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        let address = entry
            .get("address")
            .ok_or_else(|| bad("an entry has no address"))?;
        let keys = entry
            .get("storageKeys")
            .and_then(|keys| keys.as_array())
            .ok_or_else(|| bad("an entry has no storageKeys array"))?;
        let storage_keys = keys
            .iter()
            .map(|key| {
                let bytes = bytes_field("accessList", key)?;
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map(B256::from)
                    .map_err(|_| bad("a storage key is not 32 bytes"))
            })
            .collect::<Result<Vec<_>>>()?;
        items.push(alloy_eips::eip2930::AccessListItem {
            address: address_field("accessList", address)?,
            storage_keys,
        });
    }
    Ok(alloy_eips::eip2930::AccessList(items))
}

fn bytes_field(field: &'static str, value: &serde_json::Value) -> Result<Vec<u8>> {
    let text = value.as_str().ok_or(EthereumError::Field {
        field,
        reason: "must be a 0x-hex string".into(),
    })?;
    let hex = text.strip_prefix("0x").unwrap_or(text);
    alloy_primitives::hex::decode(hex).map_err(|error| EthereumError::Field {
        field,
        reason: error.to_string(),
    })
}

/// The EIP-191 (version 0x45, `personal_sign`) hash of a message:
/// keccak256("\x19Ethereum Signed Message:\n" || len || message).
pub fn personal_message_hash(message: &[u8]) -> B256 {
    alloy_primitives::eip191_hash_message(message)
}

/// The EIP-712 signing hash `keccak256(0x19 0x01 || domainSeparator || hashStruct(message))` of
/// typed data in the JSON form `eth_signTypedData_v4` takes (`types`, `primaryType`, `domain`,
/// `message`).
pub fn typed_data_hash(json: &str) -> Result<B256> {
    let typed: alloy_dyn_abi::TypedData = serde_json::from_str(json)?;
    Ok(typed.eip712_signing_hash()?)
}

/// The EIP-712 signing hash of typed data already parsed as JSON.
pub fn typed_data_hash_value(value: &serde_json::Value) -> Result<B256> {
    let typed: alloy_dyn_abi::TypedData = serde_json::from_value(value.clone())?;
    Ok(typed.eip712_signing_hash()?)
}

/// The policy view of an EIP-1559 transaction: the recipient and value, and the maximum fee
/// `gas_limit * max_fee_per_gas`. `sender` is the recovered sender, when signed. Values that do
/// not fit 128 bits saturate (no funded account holds that much).
pub fn policy_view(tx: &TxEip1559, sender: Option<Address>) -> PolicyView {
    let amount = u128::try_from(tx.value).unwrap_or(u128::MAX);
    let (recipient, creates) = match tx.to {
        TxKind::Call(to) => (checksum_address(&to), false),
        TxKind::Create => ("create".to_owned(), true),
    };
    let fee = u128::from(tx.gas_limit).saturating_mul(tx.max_fee_per_gas);
    PolicyView {
        chain: Chain::Ethereum {
            chain_id: tx.chain_id,
        },
        payer: sender.map(|sender| checksum_address(&sender)),
        transfers: vec![Transfer { recipient, amount }],
        fee,
        opaque_actions: usize::from(creates || !tx.input.is_empty()),
    }
}
