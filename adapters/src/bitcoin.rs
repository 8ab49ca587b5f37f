//! Bitcoin: P2TR key-path spends by a threshold group key.
//!
//! The group key is an x-only (BIP-340) internal key. Its wallet address is the BIP-86 output
//! key: the internal key tweaked with `TapTweak(internal_key)` and no script tree. Inputs whose
//! PSBT carries a `tap_merkle_root` (BIP-371) are key-path spends of the tweak with that root.
//!
//! Flow for a sidecar: [`psbt_from_base64`], [`signing_requests`] (one BIP-341 signature hash per
//! input the group key owns, in the sighash type the PSBT asks), have the threshold signers sign
//! each hash under the tweaked key, then [`sign_and_finalize`], which checks every signature
//! against the output key before it writes the witness, and returns the raw transaction, its
//! txid and the signed PSBT.

use std::str::FromStr;

use ::bitcoin::hashes::Hash;
use ::bitcoin::key::{TapTweak, TweakedPublicKey};
use ::bitcoin::secp256k1::{self, Secp256k1, VerifyOnly};
use ::bitcoin::sighash::{Prevouts, SighashCache, TaprootError};
use ::bitcoin::taproot::{TapNodeHash, TapTweakHash};
use ::bitcoin::{Address, Network, OutPoint, Psbt, ScriptBuf, Transaction, TxOut, Txid, Witness};

pub use ::bitcoin::TapSighashType;
pub use ::bitcoin::XOnlyPublicKey;

use crate::policy::{Chain, PolicyView, Transfer};

/// Everything that can go wrong in the Bitcoin adapter.
#[derive(Debug, thiserror::Error)]
pub enum BitcoinError {
    /// A group key had a length other than 32 (x-only) or 33 (SEC1 compressed) bytes.
    #[error("group key must be 32 bytes (x-only) or 33 bytes (SEC1 compressed), got {0} bytes")]
    KeyLength(usize),
    /// A group key was not a point on secp256k1.
    #[error("group key is not a valid secp256k1 public key: {0}")]
    InvalidKey(secp256k1::Error),
    /// The PSBT text was not base64 or not a valid PSBT.
    #[error("PSBT does not parse: {0}")]
    PsbtParse(#[from] ::bitcoin::psbt::PsbtParseError),
    /// The PSBT bytes were not a valid PSBT.
    #[error("PSBT does not parse: {0}")]
    Psbt(#[from] ::bitcoin::psbt::Error),
    /// The PSBT's input or output maps do not match its unsigned transaction.
    #[error(
        "PSBT has {input_maps} input maps and {output_maps} output maps for a transaction with {inputs} inputs and {outputs} outputs"
    )]
    Shape {
        /// Input maps in the PSBT.
        input_maps: usize,
        /// Output maps in the PSBT.
        output_maps: usize,
        /// Inputs of the unsigned transaction.
        inputs: usize,
        /// Outputs of the unsigned transaction.
        outputs: usize,
    },
    /// An input index past the end of the transaction.
    #[error("input {index} does not exist: the transaction has {count} inputs")]
    InputIndex {
        /// The index asked for.
        index: usize,
        /// How many inputs there are.
        count: usize,
    },
    /// An input had neither `witness_utxo` nor `non_witness_utxo`.
    #[error("input {0} has no spent output (neither witness_utxo nor non_witness_utxo is set)")]
    MissingUtxo(usize),
    /// A `non_witness_utxo` was not the transaction the input spends.
    #[error(
        "input {index}: non_witness_utxo is transaction {found}, but the input spends {spends}"
    )]
    UtxoTxid {
        /// The input.
        index: usize,
        /// The txid of the supplied previous transaction.
        found: Txid,
        /// The outpoint the input spends.
        spends: OutPoint,
    },
    /// A `non_witness_utxo` had no output at the spent index.
    #[error(
        "input {index}: non_witness_utxo has {outputs} outputs, the input spends output {vout}"
    )]
    UtxoVout {
        /// The input.
        index: usize,
        /// Outputs of the previous transaction.
        outputs: usize,
        /// The output index the input spends.
        vout: u32,
    },
    /// The PSBT asked for a sighash type that taproot does not have.
    #[error("input {index}: sighash type {value:#x} is not a taproot sighash type")]
    SighashType {
        /// The input.
        index: usize,
        /// The PSBT_IN_SIGHASH_TYPE value.
        value: u32,
    },
    /// BIP-341 refused to hash (for example SIGHASH_SINGLE with no output at the input's index).
    #[error("input {index}: no BIP-341 signature hash: {source}")]
    Sighash {
        /// The input.
        index: usize,
        /// Why.
        source: TaprootError,
    },
    /// A signature was offered for an input that is not a key-path spend of the group key.
    #[error("input {0} is not a taproot key-path spend of the group key")]
    NotOwned(usize),
    /// A signature did not verify under the input's output key.
    #[error("input {index}: signature does not verify under output key {output_key}")]
    BadSignature {
        /// The input.
        index: usize,
        /// The tweaked output key it was checked against.
        output_key: XOnlyPublicKey,
    },
    /// No input of the PSBT is a key-path spend of the group key.
    #[error(
        "no input spends the wallet's Taproot output {address}; an input is signed when its \
         witness_utxo or non_witness_utxo pays to that address"
    )]
    NothingToSign {
        /// The wallet's BIP-86 address.
        address: String,
    },
    /// An input asks for a sighash type that leaves outputs or other inputs unsigned, and the
    /// caller did not allow it.
    #[error(
        "input {index} asks for sighash type {sighash_type}, which does not commit to every \
         output and input, so whoever holds the signature can change what the transaction pays"
    )]
    PartialSighash {
        /// The input.
        index: usize,
        /// The sighash type it asks for.
        sighash_type: TapSighashType,
    },
    /// [`crate::ChainAdapter::assemble`] got a number of signatures other than one per message.
    #[error("{found} signatures for {expected} messages to sign")]
    WrongSignatureCount {
        /// Messages to sign.
        expected: usize,
        /// Signatures given.
        found: usize,
    },
    /// Some inputs have no final scriptSig or witness yet, so no transaction can be extracted.
    #[error("inputs {0:?} are not finalised (signatures of other keys are still missing)")]
    NotFinalized(Vec<usize>),
    /// The outputs spend more than the inputs bring.
    #[error("outputs total {outputs} sat, more than the {inputs} sat the inputs spend")]
    NegativeFee {
        /// Sum of the spent outputs.
        inputs: u64,
        /// Sum of the new outputs.
        outputs: u64,
    },
    /// A sum of amounts overflowed 64 bits.
    #[error("amounts overflow 64 bits")]
    AmountOverflow,
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, BitcoinError>;

fn secp() -> Secp256k1<VerifyOnly> {
    Secp256k1::verification_only()
}

/// Parses a group key: 32 bytes x-only, or 33 bytes SEC1 compressed (its x coordinate is used).
pub fn parse_group_key(bytes: &[u8]) -> Result<XOnlyPublicKey> {
    match bytes.len() {
        32 => XOnlyPublicKey::from_slice(bytes).map_err(BitcoinError::InvalidKey),
        33 => secp256k1::PublicKey::from_slice(bytes)
            .map(|key| key.x_only_public_key().0)
            .map_err(BitcoinError::InvalidKey),
        other => Err(BitcoinError::KeyLength(other)),
    }
}

/// The BIP-341 tweak `t = TapTweak(internal_key || merkle_root)` as 32 big-endian bytes.
pub fn taproot_tweak(internal_key: XOnlyPublicKey, merkle_root: Option<TapNodeHash>) -> [u8; 32] {
    TapTweakHash::from_key_and_tweak(internal_key, merkle_root).to_byte_array()
}

/// The tweaked output key `Q = P + t·G` (BIP-86 when `merkle_root` is `None`).
pub fn output_key(
    internal_key: XOnlyPublicKey,
    merkle_root: Option<TapNodeHash>,
) -> TweakedPublicKey {
    internal_key.tap_tweak(&secp(), merkle_root).0
}

/// The P2TR scriptPubKey `OP_1 <Q>` of an internal key and optional script-tree root.
pub fn p2tr_script_pubkey(
    internal_key: XOnlyPublicKey,
    merkle_root: Option<TapNodeHash>,
) -> ScriptBuf {
    ScriptBuf::new_p2tr(&secp(), internal_key, merkle_root)
}

/// The BIP-86 P2TR address (bech32m) of a group key on `network`.
pub fn p2tr_address(group_key: XOnlyPublicKey, network: Network) -> Address {
    Address::p2tr(&secp(), group_key, None, network)
}

/// The P2TR address of an internal key with a script-tree root on `network`.
pub fn p2tr_address_with_root(
    internal_key: XOnlyPublicKey,
    merkle_root: Option<TapNodeHash>,
    network: Network,
) -> Address {
    Address::p2tr(&secp(), internal_key, merkle_root, network)
}

/// Parses a base64 PSBT (BIP-174, with the BIP-371 taproot fields).
pub fn psbt_from_base64(text: &str) -> Result<Psbt> {
    let psbt = Psbt::from_str(text.trim())?;
    check_shape(&psbt)?;
    Ok(psbt)
}

/// Parses a binary PSBT.
pub fn psbt_from_bytes(bytes: &[u8]) -> Result<Psbt> {
    let psbt = Psbt::deserialize(bytes)?;
    check_shape(&psbt)?;
    Ok(psbt)
}

/// Serialises a PSBT as base64.
pub fn psbt_to_base64(psbt: &Psbt) -> String {
    psbt.to_string()
}

fn check_shape(psbt: &Psbt) -> Result<()> {
    let tx = &psbt.unsigned_tx;
    if psbt.inputs.len() != tx.input.len() || psbt.outputs.len() != tx.output.len() {
        return Err(BitcoinError::Shape {
            input_maps: psbt.inputs.len(),
            output_maps: psbt.outputs.len(),
            inputs: tx.input.len(),
            outputs: tx.output.len(),
        });
    }
    Ok(())
}

/// The output that input `index` spends, from `witness_utxo` or else `non_witness_utxo`
/// (checked against the outpoint the input names).
pub fn spent_output(psbt: &Psbt, index: usize) -> Result<&TxOut> {
    check_shape(psbt)?;
    let count = psbt.inputs.len();
    let (input, txin) = psbt
        .inputs
        .get(index)
        .zip(psbt.unsigned_tx.input.get(index))
        .ok_or(BitcoinError::InputIndex { index, count })?;
    if let Some(utxo) = &input.witness_utxo {
        return Ok(utxo);
    }
    let previous = input
        .non_witness_utxo
        .as_ref()
        .ok_or(BitcoinError::MissingUtxo(index))?;
    let spends = txin.previous_output;
    let found = previous.compute_txid();
    if found != spends.txid {
        return Err(BitcoinError::UtxoTxid {
            index,
            found,
            spends,
        });
    }
    usize::try_from(spends.vout)
        .ok()
        .and_then(|vout| previous.output.get(vout))
        .ok_or(BitcoinError::UtxoVout {
            index,
            outputs: previous.output.len(),
            vout: spends.vout,
        })
}

/// The outputs spent by every input, in input order.
pub fn spent_outputs(psbt: &Psbt) -> Result<Vec<TxOut>> {
    (0..psbt.inputs.len())
        .map(|index| spent_output(psbt, index).cloned())
        .collect()
}

/// The sighash type input `index` asks for (`SIGHASH_DEFAULT` when the PSBT says nothing).
pub fn sighash_type(psbt: &Psbt, index: usize) -> Result<TapSighashType> {
    let count = psbt.inputs.len();
    let input = psbt
        .inputs
        .get(index)
        .ok_or(BitcoinError::InputIndex { index, count })?;
    match input.sighash_type {
        None => Ok(TapSighashType::Default),
        Some(ty) => ty.taproot_hash_ty().map_err(|_| BitcoinError::SighashType {
            index,
            value: ty.to_u32(),
        }),
    }
}

/// The BIP-341 key-path signature hash of input `index` of `tx`, given the outputs it spends.
///
/// `prevouts` holds every spent output in input order; with an ANYONECANPAY type it may instead
/// hold just the one this input spends.
pub fn key_spend_sighash(
    tx: &Transaction,
    prevouts: &[TxOut],
    index: usize,
    sighash_type: TapSighashType,
) -> Result<[u8; 32]> {
    let anyone_can_pay = matches!(
        sighash_type,
        TapSighashType::AllPlusAnyoneCanPay
            | TapSighashType::NonePlusAnyoneCanPay
            | TapSighashType::SinglePlusAnyoneCanPay
    );
    let mut cache = SighashCache::new(tx);
    let hash = if anyone_can_pay && prevouts.len() == 1 {
        let prevouts = Prevouts::One(index, &prevouts[0]);
        cache.taproot_key_spend_signature_hash(index, &prevouts, sighash_type)
    } else {
        cache.taproot_key_spend_signature_hash(index, &Prevouts::All(prevouts), sighash_type)
    };
    hash.map(|hash| hash.to_byte_array())
        .map_err(|source| BitcoinError::Sighash { index, source })
}

/// The BIP-341 key-path signature hash of PSBT input `index` in the sighash type it asks for.
pub fn psbt_key_spend_sighash(psbt: &Psbt, index: usize) -> Result<[u8; 32]> {
    let ty = sighash_type(psbt, index)?;
    let anyone_can_pay = matches!(
        ty,
        TapSighashType::AllPlusAnyoneCanPay
            | TapSighashType::NonePlusAnyoneCanPay
            | TapSighashType::SinglePlusAnyoneCanPay
    );
    if anyone_can_pay {
        let own = spent_output(psbt, index)?.clone();
        key_spend_sighash(&psbt.unsigned_tx, std::slice::from_ref(&own), index, ty)
    } else {
        key_spend_sighash(&psbt.unsigned_tx, &spent_outputs(psbt)?, index, ty)
    }
}

/// What the signers must sign for one input: a BIP-340 signature over `sighash` under
/// `output_key`, whose secret is the group secret tweaked by `tweak` (negated as BIP-341 says
/// when the internal key has odd y).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRequest {
    /// The input index.
    pub input_index: usize,
    /// The sighash type, as the PSBT asks.
    pub sighash_type: TapSighashType,
    /// The 32-byte BIP-341 signature hash: the BIP-340 message.
    pub sighash: [u8; 32],
    /// The internal (group) key.
    pub internal_key: XOnlyPublicKey,
    /// The script-tree root (`None` for BIP-86).
    pub merkle_root: Option<TapNodeHash>,
    /// The BIP-341 tweak scalar, big-endian.
    pub tweak: [u8; 32],
    /// The tweaked output key the signature must verify under.
    pub output_key: XOnlyPublicKey,
}

/// Whether input `index` is a key-path spend of `group_key`: the spent output is
/// P2TR(group_key, tap_merkle_root), and `tap_internal_key`, when set, is the group key.
fn owns_input(psbt: &Psbt, group_key: XOnlyPublicKey, index: usize) -> Result<bool> {
    let count = psbt.inputs.len();
    let input = psbt
        .inputs
        .get(index)
        .ok_or(BitcoinError::InputIndex { index, count })?;
    if input.tap_internal_key.is_some_and(|key| key != group_key) {
        return Ok(false);
    }
    let Ok(spent) = spent_output(psbt, index) else {
        return Ok(false);
    };
    Ok(spent.script_pubkey == p2tr_script_pubkey(group_key, input.tap_merkle_root))
}

/// The inputs that are taproot key-path spends of `group_key` (BIP-86 or with the PSBT's
/// `tap_merkle_root`). Inputs without a spent output are not counted as owned.
pub fn owned_inputs(psbt: &Psbt, group_key: XOnlyPublicKey) -> Result<Vec<usize>> {
    check_shape(psbt)?;
    let mut owned = Vec::new();
    for index in 0..psbt.inputs.len() {
        if owns_input(psbt, group_key, index)? {
            owned.push(index);
        }
    }
    Ok(owned)
}

fn request_for(psbt: &Psbt, group_key: XOnlyPublicKey, index: usize) -> Result<SigningRequest> {
    if !owns_input(psbt, group_key, index)? {
        return Err(BitcoinError::NotOwned(index));
    }
    let merkle_root = psbt.inputs[index].tap_merkle_root;
    Ok(SigningRequest {
        input_index: index,
        sighash_type: sighash_type(psbt, index)?,
        sighash: psbt_key_spend_sighash(psbt, index)?,
        internal_key: group_key,
        merkle_root,
        tweak: taproot_tweak(group_key, merkle_root),
        output_key: output_key(group_key, merkle_root).to_x_only_public_key(),
    })
}

/// One [`SigningRequest`] per input the group key owns, in input order.
pub fn signing_requests(psbt: &Psbt, group_key: XOnlyPublicKey) -> Result<Vec<SigningRequest>> {
    owned_inputs(psbt, group_key)?
        .into_iter()
        .map(|index| request_for(psbt, group_key, index))
        .collect()
}

/// Checks a 64-byte BIP-340 signature for input `index` against its output key and sighash, and
/// stores it as the input's `tap_key_sig` (with the input's sighash type).
pub fn insert_key_spend_signature(
    psbt: &mut Psbt,
    group_key: XOnlyPublicKey,
    index: usize,
    signature: &[u8; 64],
) -> Result<()> {
    let request = request_for(psbt, group_key, index)?;
    let bad = || BitcoinError::BadSignature {
        index,
        output_key: request.output_key,
    };
    let signature = secp256k1::schnorr::Signature::from_slice(signature).map_err(|_| bad())?;
    let message = secp256k1::Message::from_digest(request.sighash);
    secp()
        .verify_schnorr(&signature, &message, &request.output_key)
        .map_err(|_| bad())?;
    psbt.inputs[index].tap_key_sig = Some(::bitcoin::taproot::Signature {
        signature,
        sighash_type: request.sighash_type,
    });
    Ok(())
}

/// Finalises every input that has a `tap_key_sig` (BIP-174 finalizer role): writes the key-path
/// witness and clears the fields a finalised input must not keep. Returns the finalised indices.
pub fn finalize_key_spends(psbt: &mut Psbt) -> Vec<usize> {
    let mut done = Vec::new();
    for (index, input) in psbt.inputs.iter_mut().enumerate() {
        let Some(signature) = input.tap_key_sig.take() else {
            continue;
        };
        input.final_script_witness = Some(Witness::p2tr_key_spend(&signature));
        input.partial_sigs.clear();
        input.sighash_type = None;
        input.redeem_script = None;
        input.witness_script = None;
        input.bip32_derivation.clear();
        input.tap_script_sigs.clear();
        input.tap_scripts.clear();
        input.tap_key_origins.clear();
        input.tap_internal_key = None;
        input.tap_merkle_root = None;
        done.push(index);
    }
    done
}

/// The network transaction of a fully finalised PSBT. Fails with the list of inputs that have
/// neither a final scriptSig nor a final witness.
pub fn extract_transaction(psbt: &Psbt) -> Result<Transaction> {
    check_shape(psbt)?;
    let missing: Vec<usize> = psbt
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| {
            input.final_script_sig.is_none() && input.final_script_witness.is_none()
        })
        .map(|(index, _)| index)
        .collect();
    if !missing.is_empty() {
        return Err(BitcoinError::NotFinalized(missing));
    }
    Ok(psbt.clone().extract_tx_unchecked_fee_rate())
}

/// A signed, finalised Bitcoin transaction, as `thresig_signTransaction` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBitcoinTransaction {
    /// The network transaction.
    pub transaction: Transaction,
    /// Its consensus serialisation (with witnesses), lower-case hex.
    pub raw_hex: String,
    /// Its txid.
    pub txid: Txid,
    /// The signed, finalised PSBT, base64.
    pub psbt_base64: String,
}

/// Inserts one signature per input (checked as in [`insert_key_spend_signature`]), finalises
/// those inputs and extracts the transaction. When inputs of other keys are still unsigned this
/// fails with [`BitcoinError::NotFinalized`]; `psbt` then holds the finalised inputs, ready to be
/// passed on as [`psbt_to_base64`].
pub fn sign_and_finalize(
    psbt: &mut Psbt,
    group_key: XOnlyPublicKey,
    signatures: &[(usize, [u8; 64])],
) -> Result<SignedBitcoinTransaction> {
    for (index, signature) in signatures {
        insert_key_spend_signature(psbt, group_key, *index, signature)?;
    }
    finalize_key_spends(psbt);
    let transaction = extract_transaction(psbt)?;
    Ok(SignedBitcoinTransaction {
        raw_hex: ::bitcoin::consensus::encode::serialize_hex(&transaction),
        txid: transaction.compute_txid(),
        transaction,
        psbt_base64: psbt_to_base64(psbt),
    })
}

/// The policy view of a PSBT: every output (address on `network`, or `script:<hex>`), and the
/// fee as spent outputs minus new outputs.
pub fn policy_view(psbt: &Psbt, network: Network) -> Result<PolicyView> {
    let spent = spent_outputs(psbt)?;
    let inputs = spent
        .iter()
        .try_fold(0u64, |sum, out| sum.checked_add(out.value.to_sat()))
        .ok_or(BitcoinError::AmountOverflow)?;
    let outputs = psbt
        .unsigned_tx
        .output
        .iter()
        .try_fold(0u64, |sum, out| sum.checked_add(out.value.to_sat()))
        .ok_or(BitcoinError::AmountOverflow)?;
    let fee = inputs
        .checked_sub(outputs)
        .ok_or(BitcoinError::NegativeFee { inputs, outputs })?;
    let transfers = psbt
        .unsigned_tx
        .output
        .iter()
        .map(|out| Transfer {
            recipient: Address::from_script(&out.script_pubkey, network)
                .map(|address| address.to_string())
                .unwrap_or_else(|_| format!("script:{:x}", out.script_pubkey)),
            amount: u128::from(out.value.to_sat()),
        })
        .collect();
    Ok(PolicyView {
        chain: Chain::Bitcoin(network),
        payer: None,
        transfers,
        fee: u128::from(fee),
        opaque_actions: 0,
    })
}
