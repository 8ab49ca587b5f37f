//! The one dispatch over the chains: [`Chain`] holds one of the `adapters` crate's
//! [`ChainAdapter`]s, and each operation (what a request asks to sign, a wallet's key and
//! address, the answer of a signed transaction) is one generic function over the trait that
//! [`with_adapter!`] instantiates per chain. Nodes check signing sessions against
//! [`Chain::sessions`]; the coordinator signs [`plan`]'s messages and assembles them with the
//! same adapter, so what it asks nodes to sign is, by construction, what they accept.

use bitcoin::Network;
use serde_json::Value;
use thresig_adapters::bitcoin as btc;
use thresig_adapters::ethereum as eth;
use thresig_adapters::solana as sol;
use thresig_adapters::{
    Bitcoin, ChainAdapter, Ethereum, MessageToSign, PolicyView, SignatureScheme, SignedTransaction,
    Solana,
};

use crate::chains::error::ChainError;
use crate::chains::transactions::{MAX_SIGNED_INPUTS, SignedTransactionView};
use crate::model::scheme::{Tweak, WalletScheme};
use crate::model::wallet::WalletRecord;
use crate::with_ciphersuite;

/// A chain the sidecar signs on, with its adapter's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Base64 PSBTs whose BIP-86 Taproot inputs a frost-secp256k1-tr wallet signs.
    Bitcoin(Bitcoin),
    /// EIP-1559 transactions (fields or 0x-hex) a cggmp21-secp256k1 wallet signs.
    Ethereum(Ethereum),
    /// Base64 Solana messages (legacy or v0) a frost-ed25519 wallet signs as one signer.
    Solana(Solana),
}

/// Evaluates `$body` with `$adapter` bound to `$chain`'s adapter, typed: the one match over
/// the chains, so that each operation is written once, generically, over [`WalletChain`].
macro_rules! with_adapter {
    ($chain:expr, $adapter:ident => $body:expr) => {
        match $chain {
            $crate::chains::Chain::Bitcoin($adapter) => $body,
            $crate::chains::Chain::Ethereum($adapter) => $body,
            $crate::chains::Chain::Solana($adapter) => $body,
        }
    };
}
pub(crate) use with_adapter;

impl Chain {
    /// The chain a request names; Bitcoin inputs whose sighash type leaves outputs or inputs
    /// unsigned are signed only when `allow_partial_sighash`.
    pub fn parse(
        name: &str,
        network: Network,
        allow_partial_sighash: bool,
    ) -> Result<Chain, ChainError> {
        match name {
            Bitcoin::NAME => Ok(Chain::Bitcoin(Bitcoin {
                network,
                allow_partial_sighash,
            })),
            Ethereum::NAME => Ok(Chain::Ethereum(Ethereum)),
            Solana::NAME => Ok(Chain::Solana(Solana)),
            other => Err(ChainError::UnknownChain(other.to_owned())),
        }
    }

    /// The chain whose wallets have `scheme` (each scheme signs on one chain).
    pub fn of_scheme(scheme: WalletScheme, network: Network) -> Chain {
        match scheme {
            WalletScheme::FROST_SECP256K1_TR => Chain::Bitcoin(Bitcoin {
                network,
                allow_partial_sighash: false,
            }),
            WalletScheme::Cggmp21Secp256k1 => Chain::Ethereum(Ethereum),
            WalletScheme::FROST_ED25519 => Chain::Solana(Solana),
        }
    }

    /// The chain's name in the API.
    pub fn name(&self) -> &'static str {
        with_adapter!(self, adapter => name_of(adapter))
    }

    /// The scheme of the wallets that sign on this chain.
    pub fn scheme(&self) -> WalletScheme {
        with_adapter!(self, adapter => scheme_of(adapter))
    }

    /// What a request with `transaction` asks `record`'s wallet to sign, one (message, tweak)
    /// per signing session: what a node checks each session against.
    pub fn sessions(
        &self,
        record: &WalletRecord,
        transaction: &Value,
    ) -> Result<Vec<(Vec<u8>, Tweak)>, ChainError> {
        with_adapter!(self, adapter => plan(adapter, record, transaction).map(|plan| plan.sessions()))
    }

    /// The wallet's public key as answers and attestations show it: x-only (Bitcoin), 33-byte
    /// compressed SEC1 (Ethereum), the Ed25519 key (Solana).
    pub fn public_key(&self, record: &WalletRecord) -> Result<Vec<u8>, ChainError> {
        with_adapter!(self, adapter => public_key_of(adapter, record))
    }

    /// The address of a public key in [`Chain::public_key`]'s form.
    pub fn address(&self, public_key: &[u8]) -> Result<String, ChainError> {
        with_adapter!(self, adapter => address_of(adapter, public_key))
    }
}

/// The answer fields only one chain has.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// Bitcoin: the PSBT, base64.
    psbt: Option<String>,
    /// Bitcoin: the inputs signed.
    signed_inputs: Option<Vec<usize>>,
    /// Solana and Ethereum: the wallet's signature.
    signature: Option<String>,
}

/// What the sidecar adds to a chain's adapter: the scheme of the wallets that sign there, how a
/// request carries the transaction, and the answer fields only that chain has.
pub(crate) trait WalletChain: ChainAdapter<Error: Into<ChainError>> {
    /// The scheme of the wallets that sign on this chain.
    const SCHEME: WalletScheme;

    /// The unsigned transaction of a request's `transaction` field, for the wallet `key`.
    fn unsigned(
        &self,
        transaction: &Value,
        key: &Self::GroupKey,
    ) -> Result<Self::Unsigned, ChainError>;

    /// The key as answers show it.
    fn key_bytes(key: &Self::GroupKey) -> Vec<u8>;

    /// The chain's own answer fields of `signed`, whose wallet signatures are over `messages`.
    fn extras(signed: &Self::Signed, messages: &[MessageToSign]) -> Extras;
}

/// The base64 text of a Bitcoin or Solana request.
fn text<'a>(transaction: &'a Value, chain: &'static str) -> Result<&'a str, ChainError> {
    transaction.as_str().ok_or(ChainError::NotAString(chain))
}

impl WalletChain for Bitcoin {
    const SCHEME: WalletScheme = WalletScheme::FROST_SECP256K1_TR;

    fn unsigned(
        &self,
        transaction: &Value,
        _key: &Self::GroupKey,
    ) -> Result<Self::Unsigned, ChainError> {
        Ok(btc::psbt_from_base64(text(transaction, Self::NAME)?)?)
    }

    fn key_bytes(key: &Self::GroupKey) -> Vec<u8> {
        key.serialize().to_vec()
    }

    fn extras(signed: &Self::Signed, _messages: &[MessageToSign]) -> Extras {
        Extras {
            psbt: Some(btc::psbt_to_base64(&signed.psbt)),
            signed_inputs: Some(signed.signed_inputs.clone()),
            signature: None,
        }
    }
}

impl WalletChain for Ethereum {
    const SCHEME: WalletScheme = WalletScheme::Cggmp21Secp256k1;

    /// An object of fields as `eth_signTransaction` takes them (a `from` must be the wallet),
    /// or the 0x-hex unsigned payload `0x02 || rlp(...)`.
    fn unsigned(
        &self,
        transaction: &Value,
        key: &Self::GroupKey,
    ) -> Result<Self::Unsigned, ChainError> {
        if let Value::String(text) = transaction {
            let bytes = crate::model::requests::decode_hex(text)?;
            return Ok(eth::decode_unsigned(&bytes)?);
        }
        let wallet = eth::address_of(key);
        match eth::transaction_from_fields(transaction)? {
            (_, Some(from)) if from != wallet => Err(ChainError::WrongSender {
                from: eth::checksum_address(&from),
                wallet: eth::checksum_address(&wallet),
            }),
            (tx, _) => Ok(tx),
        }
    }

    fn key_bytes(key: &Self::GroupKey) -> Vec<u8> {
        // k256 compresses SEC1 points: 33 bytes.
        key.to_sec1_bytes().to_vec()
    }

    fn extras(signed: &Self::Signed, _messages: &[MessageToSign]) -> Extras {
        let signature = &signed.signature;
        let mut bytes = Vec::with_capacity(65);
        bytes.extend_from_slice(&signature.r().to_be_bytes::<32>());
        bytes.extend_from_slice(&signature.s().to_be_bytes::<32>());
        bytes.push(u8::from(signature.v()));
        Extras {
            signature: Some(format!("0x{}", hex::encode(bytes))),
            ..Extras::default()
        }
    }
}

impl WalletChain for Solana {
    const SCHEME: WalletScheme = WalletScheme::FROST_ED25519;

    /// Only the canonical serialisation is taken, so the wallet signs the client's exact bytes.
    fn unsigned(
        &self,
        transaction: &Value,
        key: &Self::GroupKey,
    ) -> Result<Self::Unsigned, ChainError> {
        let bytes = sol::decode_base64(text(transaction, Self::NAME)?)?;
        let message = sol::Message::deserialize(&bytes).map_err(ChainError::NotASolanaMessage)?;
        if message.serialize().map_err(ChainError::NotASolanaMessage)? != bytes {
            return Err(ChainError::NotASolanaMessage(sol::SolanaError::Invalid(
                "not in its canonical serialisation".to_owned(),
            )));
        }
        if !message.signers().contains(key) {
            return Err(ChainError::NotASigner {
                wallet: *key,
                signers: message.signers().to_vec(),
            });
        }
        Ok(message)
    }

    fn key_bytes(key: &Self::GroupKey) -> Vec<u8> {
        key.0.to_vec()
    }

    fn extras(signed: &Self::Signed, messages: &[MessageToSign]) -> Extras {
        let ours = messages
            .first()
            .and_then(|message| signed.transaction.signatures.get(message.slot));
        Extras {
            signature: ours.map(|signature| bs58::encode(signature).into_string()),
            ..Extras::default()
        }
    }
}

fn name_of<A: ChainAdapter>(_adapter: &A) -> &'static str {
    A::NAME
}

fn scheme_of<A: WalletChain>(_adapter: &A) -> WalletScheme {
    A::SCHEME
}

/// What one request asks a wallet to sign, and what assembly needs afterwards.
pub(crate) struct Plan<A: ChainAdapter> {
    /// The wallet's key.
    pub key: A::GroupKey,
    /// The transaction.
    pub unsigned: A::Unsigned,
    /// One message per signing session, in the order assembly takes the signatures.
    pub messages: Vec<MessageToSign>,
}

impl<A: ChainAdapter> Plan<A> {
    /// The (message, tweak) of each signing session.
    pub fn sessions(&self) -> Vec<(Vec<u8>, Tweak)> {
        self.messages
            .iter()
            .map(|message| (message.message.clone(), tweak_of(&message.scheme)))
            .collect()
    }
}

/// The FROST tweak a message is signed under ([`plan`] has refused script-tree tweaks, which
/// the nodes do not sign).
pub(crate) fn tweak_of(scheme: &SignatureScheme) -> Tweak {
    match scheme {
        SignatureScheme::Bip340Taproot { .. } => Tweak::Bip86,
        SignatureScheme::Ed25519 | SignatureScheme::EcdsaPrehash => Tweak::None,
    }
}

/// The wallet's key, parsed by the adapter, once the wallet's scheme is the chain's.
fn wallet_key<A: WalletChain>(
    adapter: &A,
    record: &WalletRecord,
) -> Result<A::GroupKey, ChainError> {
    let scheme: WalletScheme = record.scheme.parse().map_err(ChainError::UnknownScheme)?;
    if scheme != A::SCHEME {
        return Err(ChainError::WrongScheme {
            chain: A::NAME,
            needed: A::SCHEME,
            wallet: record.wallet_id.clone(),
            scheme,
        });
    }
    let fault = |source: Box<dyn std::error::Error + Send + Sync>| ChainError::WalletKey {
        wallet: record.wallet_id.clone(),
        scheme,
        source,
    };
    let stored = hex::decode(&record.public_key_package).map_err(|error| fault(error.into()))?;
    // A FROST record holds the public key package; a CGGMP21 record the key itself.
    let bytes = match scheme.frost() {
        Some(suite) => {
            with_ciphersuite!(suite, C => crate::protocols::frost::group_key::<C>(&stored))
                .map_err(|error| fault(error.into()))?
        }
        None => stored,
    };
    adapter
        .group_key(&bytes)
        .map_err(|error| fault(Box::new(error)))
}

/// What a request with `transaction` asks `record`'s wallet to sign, with every check the
/// sidecar adds to the adapter's: at most [`MAX_SIGNED_INPUTS`] sessions, no script-tree spends.
pub(crate) fn plan<A: WalletChain>(
    adapter: &A,
    record: &WalletRecord,
    transaction: &Value,
) -> Result<Plan<A>, ChainError> {
    let key = wallet_key(adapter, record)?;
    let unsigned = adapter.unsigned(transaction, &key)?;
    let messages = adapter
        .messages_to_sign(&unsigned, &key)
        .map_err(Into::into)?;
    if messages.len() > MAX_SIGNED_INPUTS {
        return Err(ChainError::TooManyInputs(messages.len()));
    }
    if let Some(scripted) = messages.iter().find(|message| {
        matches!(
            message.scheme,
            SignatureScheme::Bip340Taproot {
                merkle_root: Some(_),
                ..
            }
        )
    }) {
        return Err(ChainError::ScriptTree(scripted.slot));
    }
    Ok(Plan {
        key,
        unsigned,
        messages,
    })
}

fn public_key_of<A: WalletChain>(
    adapter: &A,
    record: &WalletRecord,
) -> Result<Vec<u8>, ChainError> {
    wallet_key(adapter, record).map(|key| A::key_bytes(&key))
}

fn address_of<A: WalletChain>(adapter: &A, public_key: &[u8]) -> Result<String, ChainError> {
    let key = adapter
        .group_key(public_key)
        .map_err(|error| ChainError::PublicKey {
            scheme: A::SCHEME,
            source: Box::new(error),
        })?;
    Ok(adapter.address(&key))
}

/// The answer of a transaction `signed` from `messages`, doing what `summary` says, signed by
/// `signers`.
pub(crate) fn answer<A: WalletChain>(
    signed: &A::Signed,
    messages: &[MessageToSign],
    summary: PolicyView,
    signers: Vec<String>,
) -> SignedTransactionView {
    let extras = A::extras(signed, messages);
    SignedTransactionView {
        chain: A::NAME.to_owned(),
        complete: signed.is_complete(),
        signed_transaction: signed.encoded(),
        txid: signed.id(),
        psbt: extras.psbt,
        signed_inputs: extras.signed_inputs,
        signature: extras.signature,
        summary: summary.into(),
        signers,
    }
}
