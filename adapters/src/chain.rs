//! One seam over the three chains: [`ChainAdapter`] has DESIGN.md section 3's four operations
//! (address of a group key, messages to sign, assembly, policy view), implemented by
//! [`Bitcoin`], [`Ethereum`] and [`Solana`] on top of the chain modules' own functions.
//!
//! Every signature scheme the project signs with gives 64 bytes (BIP-340 `R.x ‖ s`, Ed25519
//! `R ‖ S`, ECDSA `r ‖ s`), so signatures cross the seam as `[u8; 64]`, one per
//! [`MessageToSign`], in the order [`ChainAdapter::messages_to_sign`] lists them.

use ::bitcoin::hashes::Hash;
use ::bitcoin::{Network, Psbt, TapSighashType, XOnlyPublicKey};

use crate::bitcoin::{self as btc, BitcoinError, SignedBitcoinTransaction};
use crate::ethereum::{self as eth, EthereumError, SignedEip1559, TxEip1559};
use crate::policy::PolicyView;
use crate::solana::{self as sol, Message, Pubkey, SignedSolanaTransaction, SolanaError};

/// How one message must be signed, and under which key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// BIP-340 Schnorr over the 32-byte message under the Taproot output key: the group key
    /// tweaked (BIP-341) by `tweak`, the secret negated first when the group key has odd y.
    Bip340Taproot {
        /// The script-tree root the tweak commits to; `None` is a BIP-86 key-path spend.
        merkle_root: Option<[u8; 32]>,
        /// The BIP-341 tweak scalar `TapTweak(group_key ‖ merkle_root)`, big-endian.
        tweak: [u8; 32],
        /// The x-only output key the signature must verify under.
        output_key: [u8; 32],
    },
    /// Ed25519 (RFC 8032, pure) over the message bytes under the group key itself.
    Ed25519,
    /// ECDSA over secp256k1 with the 32-byte message as the prehash (no further hashing), under
    /// the group key; either half of `s` is accepted (assembly normalises it, EIP-2).
    EcdsaPrehash,
}

/// One message a signer must sign for a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageToSign {
    /// Where the signature goes: the Bitcoin input index, the Solana signature slot, 0 for
    /// Ethereum.
    pub slot: usize,
    /// The exact bytes to sign: a BIP-341 sighash, the serialised Solana message, or the
    /// EIP-1559 signing hash.
    pub message: Vec<u8>,
    /// How to sign them.
    pub scheme: SignatureScheme,
}

/// What callers read of an assembled transaction, whatever its chain.
pub trait SignedTransaction {
    /// Whether every signature the transaction needs is present, so it can be broadcast.
    fn is_complete(&self) -> bool;
    /// The broadcast form when complete: raw hex (Bitcoin), base64 wire format (Solana, also
    /// when other signers' slots are still zero), 0x-hex EIP-2718 bytes (Ethereum).
    fn encoded(&self) -> Option<String>;
    /// The transaction id once it is fixed: the txid (Bitcoin), the first signature in base58
    /// (Solana), the 0x-hex transaction hash (Ethereum).
    fn id(&self) -> Option<String>;
}

/// A chain's adapter: the four offline operations of DESIGN.md section 3.
///
/// A caller parses the group key once ([`ChainAdapter::group_key`]), shows
/// [`ChainAdapter::policy_view`] to its policy, has every [`MessageToSign`] signed, and hands
/// the signatures to [`ChainAdapter::assemble`], which checks each one before it uses it.
pub trait ChainAdapter {
    /// The chain's name in the API (`bitcoin`, `ethereum`, `solana`).
    const NAME: &'static str;
    /// The group key in the form this chain uses.
    type GroupKey;
    /// The unsigned transaction.
    type Unsigned;
    /// The assembled transaction.
    type Signed: SignedTransaction;
    /// The chain's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Parses a group key from its bytes (the wallet's public key as the protocol gives it).
    fn group_key(&self, bytes: &[u8]) -> Result<Self::GroupKey, Self::Error>;

    /// The wallet address of a group key, in the chain's text form.
    fn address(&self, key: &Self::GroupKey) -> String;

    /// What the group key must sign for `unsigned`: at least one message, or an error saying
    /// why the wallet signs nothing there.
    fn messages_to_sign(
        &self,
        unsigned: &Self::Unsigned,
        key: &Self::GroupKey,
    ) -> Result<Vec<MessageToSign>, Self::Error>;

    /// The signed transaction from one signature per [`ChainAdapter::messages_to_sign`]
    /// message, in that order; each is verified before it is inserted.
    fn assemble(
        &self,
        unsigned: Self::Unsigned,
        key: &Self::GroupKey,
        signatures: &[[u8; 64]],
    ) -> Result<Self::Signed, Self::Error>;

    /// What `unsigned` does, for policy checks, when signed by `key`.
    fn policy_view(
        &self,
        unsigned: &Self::Unsigned,
        key: &Self::GroupKey,
    ) -> Result<PolicyView, Self::Error>;
}

/// Bitcoin: PSBTs whose Taproot key-path inputs the group key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitcoin {
    /// The network addresses are for.
    pub network: Network,
    /// Whether inputs may ask for sighash types that leave outputs or other inputs unsigned
    /// (NONE, SINGLE, ANYONECANPAY). Off, [`ChainAdapter::messages_to_sign`] refuses them:
    /// whoever holds such a signature can change what the transaction pays.
    pub allow_partial_sighash: bool,
}

/// A PSBT after [`Bitcoin`]'s assembly: the wallet's inputs signed and finalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledPsbt {
    /// The PSBT with the wallet's inputs finalised, to hand on when others must still sign.
    pub psbt: Psbt,
    /// The inputs the wallet signed.
    pub signed_inputs: Vec<usize>,
    /// Inputs still without a final witness or scriptSig (other keys must sign them).
    pub unsigned_inputs: Vec<usize>,
    /// The network transaction, when no input is left unsigned.
    pub transaction: Option<SignedBitcoinTransaction>,
}

impl SignedTransaction for AssembledPsbt {
    fn is_complete(&self) -> bool {
        self.transaction.is_some()
    }

    fn encoded(&self) -> Option<String> {
        self.transaction
            .as_ref()
            .map(|signed| signed.raw_hex.clone())
    }

    fn id(&self) -> Option<String> {
        self.transaction
            .as_ref()
            .map(|signed| signed.txid.to_string())
    }
}

fn commits_to_everything(ty: TapSighashType) -> bool {
    matches!(ty, TapSighashType::Default | TapSighashType::All)
}

impl ChainAdapter for Bitcoin {
    const NAME: &'static str = "bitcoin";
    type GroupKey = XOnlyPublicKey;
    type Unsigned = Psbt;
    type Signed = AssembledPsbt;
    type Error = BitcoinError;

    fn group_key(&self, bytes: &[u8]) -> Result<XOnlyPublicKey, BitcoinError> {
        btc::parse_group_key(bytes)
    }

    fn address(&self, key: &XOnlyPublicKey) -> String {
        btc::p2tr_address(*key, self.network).to_string()
    }

    fn messages_to_sign(
        &self,
        psbt: &Psbt,
        key: &XOnlyPublicKey,
    ) -> Result<Vec<MessageToSign>, BitcoinError> {
        let requests = btc::signing_requests(psbt, *key)?;
        if requests.is_empty() {
            return Err(BitcoinError::NothingToSign {
                address: self.address(key),
            });
        }
        if !self.allow_partial_sighash
            && let Some(request) = requests
                .iter()
                .find(|request| !commits_to_everything(request.sighash_type))
        {
            return Err(BitcoinError::PartialSighash {
                index: request.input_index,
                sighash_type: request.sighash_type,
            });
        }
        Ok(requests
            .into_iter()
            .map(|request| MessageToSign {
                slot: request.input_index,
                message: request.sighash.to_vec(),
                scheme: SignatureScheme::Bip340Taproot {
                    merkle_root: request.merkle_root.map(|root| root.to_byte_array()),
                    tweak: request.tweak,
                    output_key: request.output_key.serialize(),
                },
            })
            .collect())
    }

    fn assemble(
        &self,
        mut psbt: Psbt,
        key: &XOnlyPublicKey,
        signatures: &[[u8; 64]],
    ) -> Result<AssembledPsbt, BitcoinError> {
        let owned = btc::owned_inputs(&psbt, *key)?;
        if owned.len() != signatures.len() {
            return Err(BitcoinError::WrongSignatureCount {
                expected: owned.len(),
                found: signatures.len(),
            });
        }
        let signed: Vec<(usize, [u8; 64])> = owned.into_iter().zip(signatures.to_vec()).collect();
        let signed_inputs = signed.iter().map(|(index, _)| *index).collect();
        match btc::sign_and_finalize(&mut psbt, *key, &signed) {
            Ok(transaction) => Ok(AssembledPsbt {
                psbt,
                signed_inputs,
                unsigned_inputs: Vec::new(),
                transaction: Some(transaction),
            }),
            Err(BitcoinError::NotFinalized(unsigned_inputs)) => Ok(AssembledPsbt {
                psbt,
                signed_inputs,
                unsigned_inputs,
                transaction: None,
            }),
            Err(error) => Err(error),
        }
    }

    fn policy_view(&self, psbt: &Psbt, _key: &XOnlyPublicKey) -> Result<PolicyView, BitcoinError> {
        btc::policy_view(psbt, self.network)
    }
}

/// Ethereum: EIP-1559 transactions signed by a threshold ECDSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ethereum;

impl SignedTransaction for SignedEip1559 {
    fn is_complete(&self) -> bool {
        true
    }

    fn encoded(&self) -> Option<String> {
        Some(format!("0x{}", alloy_primitives::hex::encode(&self.raw)))
    }

    fn id(&self) -> Option<String> {
        Some(format!("0x{}", alloy_primitives::hex::encode(self.hash)))
    }
}

impl ChainAdapter for Ethereum {
    const NAME: &'static str = "ethereum";
    type GroupKey = k256::PublicKey;
    type Unsigned = TxEip1559;
    type Signed = SignedEip1559;
    type Error = EthereumError;

    fn group_key(&self, bytes: &[u8]) -> Result<k256::PublicKey, EthereumError> {
        eth::parse_public_key(bytes)
    }

    fn address(&self, key: &k256::PublicKey) -> String {
        eth::checksum_address(&eth::address_of(key))
    }

    fn messages_to_sign(
        &self,
        tx: &TxEip1559,
        _key: &k256::PublicKey,
    ) -> Result<Vec<MessageToSign>, EthereumError> {
        Ok(vec![MessageToSign {
            slot: 0,
            message: eth::signing_hash(tx).to_vec(),
            scheme: SignatureScheme::EcdsaPrehash,
        }])
    }

    fn assemble(
        &self,
        tx: TxEip1559,
        key: &k256::PublicKey,
        signatures: &[[u8; 64]],
    ) -> Result<SignedEip1559, EthereumError> {
        let [signature] = signatures else {
            return Err(EthereumError::WrongSignatureCount {
                expected: 1,
                found: signatures.len(),
            });
        };
        let (mut r, mut s) = ([0u8; 32], [0u8; 32]);
        r.copy_from_slice(&signature[..32]);
        s.copy_from_slice(&signature[32..]);
        eth::assemble_signed(tx, &r, &s, eth::address_of(key))
    }

    fn policy_view(
        &self,
        tx: &TxEip1559,
        key: &k256::PublicKey,
    ) -> Result<PolicyView, EthereumError> {
        Ok(eth::policy_view(tx, Some(eth::address_of(key))))
    }
}

/// Solana: legacy and v0 messages the group key signs as one of their signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Solana;

impl SignedTransaction for SignedSolanaTransaction {
    fn is_complete(&self) -> bool {
        self.transaction
            .signatures
            .iter()
            .all(|slot| slot != &[0u8; 64])
    }

    fn encoded(&self) -> Option<String> {
        Some(self.base64.clone())
    }

    fn id(&self) -> Option<String> {
        self.transaction
            .signatures
            .first()
            .filter(|first| *first != &[0u8; 64])
            .map(|first| bs58::encode(first).into_string())
    }
}

impl ChainAdapter for Solana {
    const NAME: &'static str = "solana";
    type GroupKey = Pubkey;
    type Unsigned = Message;
    type Signed = SignedSolanaTransaction;
    type Error = SolanaError;

    fn group_key(&self, bytes: &[u8]) -> Result<Pubkey, SolanaError> {
        sol::parse_public_key(bytes)
    }

    fn address(&self, key: &Pubkey) -> String {
        key.to_string()
    }

    fn messages_to_sign(
        &self,
        message: &Message,
        key: &Pubkey,
    ) -> Result<Vec<MessageToSign>, SolanaError> {
        message.sanitize()?;
        let slot = message
            .signers()
            .iter()
            .position(|signer| signer == key)
            .ok_or(SolanaError::NotASigner(*key))?;
        Ok(vec![MessageToSign {
            slot,
            message: message.serialize()?,
            scheme: SignatureScheme::Ed25519,
        }])
    }

    fn assemble(
        &self,
        message: Message,
        key: &Pubkey,
        signatures: &[[u8; 64]],
    ) -> Result<SignedSolanaTransaction, SolanaError> {
        let [signature] = signatures else {
            return Err(SolanaError::WrongSignatureCount {
                expected: 1,
                found: signatures.len(),
            });
        };
        sol::assemble(&message.serialize()?, &[(*key, *signature)])
    }

    fn policy_view(&self, message: &Message, _key: &Pubkey) -> Result<PolicyView, SolanaError> {
        Ok(sol::policy_view(message))
    }
}
