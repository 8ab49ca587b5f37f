//! The `ChainAdapter` seam, through one generic round trip written once over the trait and run
//! for Bitcoin, Ethereum and Solana with real keys (a `secp256k1` keypair tweaked as the
//! adapter asks, a `k256` ECDSA key, an `ed25519-dalek` key) signing exactly the messages the
//! adapter lists. Each assembled transaction is then checked by code the project did not write:
//! Bitcoin Core's script interpreter (libbitcoinconsensus, through `thresig_testkit`), alloy's
//! sender recovery, and Solana's own `solana-transaction` verifier plus `ed25519-dalek`.

use bitcoin::absolute::LockTime;
use bitcoin::key::{Keypair, Secp256k1};
use bitcoin::psbt::PsbtSighashType;
use bitcoin::secp256k1::{Scalar, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Network, Psbt, ScriptBuf, TapSighashType, Transaction, TxOut};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use solana_transaction::versioned::VersionedTransaction;
use thresig_adapters::bitcoin::{self as btc, BitcoinError};
use thresig_adapters::ethereum::{self as eth, EthereumError, TxEip1559};
use thresig_adapters::solana::{self as sol, Message, Pubkey, SolanaError};
use thresig_adapters::{
    Bitcoin, Chain, ChainAdapter, Ethereum, MessageToSign, PolicyView, SignatureScheme,
    SignedTransaction, Solana,
};
use thresig_testkit::bitcoin_core;

mod support;
use support::TYPES;

/// A real secret key of one chain's signature scheme.
trait TestSigner {
    /// The group key bytes as the protocols give them.
    fn public_key(&self) -> Vec<u8>;
    /// Signs `message` as its scheme says.
    fn sign(&self, message: &MessageToSign) -> [u8; 64];
}

/// What a round trip gives back for the chain's own checks.
struct RoundTrip<A: ChainAdapter> {
    signed: A::Signed,
    view: PolicyView,
    messages: Vec<MessageToSign>,
}

fn message_of<E: std::fmt::Display>(result: Result<impl Sized, E>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

/// The one generic test: addresses differ per key, the stranger's key cannot assemble the
/// wallet's signatures, a wrong number of signatures or a corrupted or foreign signature is
/// refused with a clear error, and the wallet's own signatures assemble a complete transaction.
/// `bad_signature` is the phrase the chain's error uses for a signature that does not verify.
fn sign_and_assemble_round_trip<A>(
    adapter: &A,
    wallet: &impl TestSigner,
    stranger: &impl TestSigner,
    unsigned: A::Unsigned,
    bad_signature: &str,
) -> RoundTrip<A>
where
    A: ChainAdapter,
    A::Unsigned: Clone,
{
    let key = adapter.group_key(&wallet.public_key()).unwrap();
    let other = adapter.group_key(&stranger.public_key()).unwrap();
    assert_ne!(adapter.address(&key), adapter.address(&other));

    let view = adapter.policy_view(&unsigned, &key).unwrap();
    let messages = adapter.messages_to_sign(&unsigned, &key).unwrap();
    assert!(!messages.is_empty());
    let signatures: Vec<[u8; 64]> = messages.iter().map(|m| wallet.sign(m)).collect();
    let count = signatures.len();

    // One signature too few, none, one too many.
    let mut too_many = signatures.clone();
    too_many.push(signatures[0]);
    for wrong in [&signatures[..count - 1], &[][..], &too_many[..]] {
        let error = message_of(adapter.assemble(unsigned.clone(), &key, wrong));
        assert_eq!(
            error,
            format!("{} signatures for {count} messages to sign", wrong.len())
        );
    }

    // A flipped bit in the last signature.
    let mut corrupted = signatures.clone();
    corrupted[count - 1][5] ^= 1;
    let error = message_of(adapter.assemble(unsigned.clone(), &key, &corrupted));
    assert!(
        error.contains(bad_signature),
        "{} corrupted: {error}",
        A::NAME
    );

    // The stranger signs the same messages: not the wallet's signatures.
    let foreign: Vec<[u8; 64]> = messages.iter().map(|m| stranger.sign(m)).collect();
    let error = message_of(adapter.assemble(unsigned.clone(), &key, &foreign));
    assert!(
        error.contains(bad_signature),
        "{} foreign: {error}",
        A::NAME
    );

    // The wallet's signatures assembled for the stranger's key.
    adapter
        .assemble(unsigned.clone(), &other, &signatures)
        .err()
        .unwrap_or_else(|| panic!("{}: assembled under the wrong key", A::NAME));

    let signed = adapter.assemble(unsigned, &key, &signatures).unwrap();
    assert!(signed.encoded().is_some());
    RoundTrip {
        signed,
        view,
        messages,
    }
}

// ---------------------------------------------------------------------------------------------
// Bitcoin

struct TaprootSigner(Keypair);

impl TaprootSigner {
    fn new(seed: u8) -> Self {
        let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
        TaprootSigner(Keypair::from_secret_key(&Secp256k1::new(), &secret))
    }
}

impl TestSigner for TaprootSigner {
    fn public_key(&self) -> Vec<u8> {
        // 33-byte SEC1, as FROST gives the group key.
        self.0.public_key().serialize().to_vec()
    }

    fn sign(&self, message: &MessageToSign) -> [u8; 64] {
        let SignatureScheme::Bip340Taproot { tweak, .. } = message.scheme else {
            panic!("Bitcoin asks for BIP-340, got {:?}", message.scheme);
        };
        let secp = Secp256k1::new();
        // secp256k1's x-only tweak negates the secret for an odd-y key, as BIP-341 says.
        let tweaked = self
            .0
            .add_xonly_tweak(&secp, &Scalar::from_be_bytes(tweak).unwrap())
            .unwrap();
        let digest: [u8; 32] = message.message.as_slice().try_into().unwrap();
        let signature = secp
            .sign_schnorr_no_aux_rand(&bitcoin::secp256k1::Message::from_digest(digest), &tweaked);
        *signature.as_ref()
    }
}

/// One input per `(owner, sighash type)`, each spending a P2TR output of its owner; as many
/// outputs as inputs, so every SIGHASH_SINGLE input has its output.
fn psbt(inputs: &[(&TaprootSigner, TapSighashType)]) -> Psbt {
    let script = |signer: &TaprootSigner| {
        let key = btc::parse_group_key(&signer.public_key()).unwrap();
        btc::p2tr_address(key, Network::Regtest).script_pubkey()
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..inputs.len() as u8).map(support::input).collect(),
        output: (0..inputs.len() as u64)
            .map(|i| TxOut {
                value: Amount::from_sat(40_000 + i),
                script_pubkey: ScriptBuf::new_op_return([i as u8]),
            })
            .collect(),
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (index, (input, (owner, ty))) in psbt.inputs.iter_mut().zip(inputs).enumerate() {
        input.witness_utxo = Some(TxOut {
            value: Amount::from_sat(100_000 + index as u64),
            script_pubkey: script(owner),
        });
        input.sighash_type = Some(PsbtSighashType::from(*ty));
    }
    psbt
}

const BITCOIN: Bitcoin = Bitcoin {
    network: Network::Regtest,
    allow_partial_sighash: true,
};

#[test]
fn bitcoin_round_trip_is_accepted_by_bitcoin_core() {
    let wallet = TaprootSigner::new(0x11);
    let stranger = TaprootSigner::new(0x22);
    let unsigned = psbt(&TYPES.map(|ty| (&wallet, ty)));
    let prevouts = btc::spent_outputs(&unsigned).unwrap();

    let round = sign_and_assemble_round_trip(
        &BITCOIN,
        &wallet,
        &stranger,
        unsigned,
        "does not verify under output key",
    );
    assert_eq!(
        round.messages.iter().map(|m| m.slot).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    let key = BITCOIN.group_key(&wallet.public_key()).unwrap();
    for message in &round.messages {
        let SignatureScheme::Bip340Taproot {
            merkle_root,
            output_key,
            ..
        } = message.scheme
        else {
            panic!("{:?}", message.scheme);
        };
        assert_eq!(merkle_root, None);
        assert_eq!(
            output_key,
            btc::output_key(key, None)
                .to_x_only_public_key()
                .serialize()
        );
    }
    assert_eq!(round.view.chain, Chain::Bitcoin(Network::Regtest));
    assert_eq!(round.view.transfers.len(), 7);

    let signed = &round.signed;
    assert!(signed.is_complete());
    assert_eq!(signed.signed_inputs, (0..7).collect::<Vec<_>>());
    assert!(signed.unsigned_inputs.is_empty());
    let tx = &signed.transaction.as_ref().unwrap().transaction;
    assert_eq!(signed.id(), Some(tx.compute_txid().to_string()));
    let raw: Transaction =
        bitcoin::consensus::encode::deserialize_hex(&signed.encoded().unwrap()).unwrap();
    assert_eq!(&raw, tx);
    for index in 0..raw.input.len() {
        assert!(
            bitcoin_core::verifies(&raw, &prevouts, index),
            "input {index}"
        );
    }
}

#[test]
fn bitcoin_refuses_partial_sighash_unless_allowed_and_inputs_it_does_not_own() {
    let wallet = TaprootSigner::new(0x11);
    let stranger = TaprootSigner::new(0x22);
    let strict = Bitcoin {
        allow_partial_sighash: false,
        ..BITCOIN
    };
    let key = strict.group_key(&wallet.public_key()).unwrap();
    let full = psbt(&[
        (&wallet, TapSighashType::Default),
        (&wallet, TapSighashType::All),
    ]);
    assert_eq!(strict.messages_to_sign(&full, &key).unwrap().len(), 2);
    for ty in &TYPES[2..] {
        let partial = psbt(&[(&wallet, TapSighashType::All), (&wallet, *ty)]);
        let error = strict.messages_to_sign(&partial, &key).unwrap_err();
        assert!(
            matches!(error, BitcoinError::PartialSighash { index: 1, sighash_type } if sighash_type == *ty),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("input 1 asks for sighash type {ty}")),
            "{error}"
        );
        assert_eq!(BITCOIN.messages_to_sign(&partial, &key).unwrap().len(), 2);
    }

    // Only the stranger's inputs: nothing to sign, and the error names the wallet's address.
    let theirs = psbt(&[(&stranger, TapSighashType::Default)]);
    let error = strict.messages_to_sign(&theirs, &key).unwrap_err();
    assert!(error.to_string().contains(&strict.address(&key)), "{error}");
}

#[test]
fn bitcoin_assembly_with_inputs_of_another_key_hands_back_the_psbt() {
    let wallet = TaprootSigner::new(0x11);
    let stranger = TaprootSigner::new(0x22);
    let unsigned = psbt(&[
        (&wallet, TapSighashType::Default),
        (&stranger, TapSighashType::Default),
        (&wallet, TapSighashType::Default),
    ]);
    let prevouts = btc::spent_outputs(&unsigned).unwrap();
    let key = BITCOIN.group_key(&wallet.public_key()).unwrap();
    let messages = BITCOIN.messages_to_sign(&unsigned, &key).unwrap();
    assert_eq!(messages.iter().map(|m| m.slot).collect::<Vec<_>>(), [0, 2]);
    let signatures: Vec<_> = messages.iter().map(|m| wallet.sign(m)).collect();
    let ours = BITCOIN.assemble(unsigned, &key, &signatures).unwrap();
    assert!(!ours.is_complete());
    assert_eq!((ours.encoded(), ours.id()), (None, None));
    assert_eq!(ours.signed_inputs, [0, 2]);
    assert_eq!(ours.unsigned_inputs, [1]);

    // The stranger finishes the handed-on PSBT through the same seam.
    let handed_on = btc::psbt_from_base64(&btc::psbt_to_base64(&ours.psbt)).unwrap();
    let their_key = BITCOIN.group_key(&stranger.public_key()).unwrap();
    let messages = BITCOIN.messages_to_sign(&handed_on, &their_key).unwrap();
    assert_eq!(messages.iter().map(|m| m.slot).collect::<Vec<_>>(), [1]);
    let signatures: Vec<_> = messages.iter().map(|m| stranger.sign(m)).collect();
    let done = BITCOIN
        .assemble(handed_on, &their_key, &signatures)
        .unwrap();
    assert!(done.is_complete());
    let tx = &done.transaction.unwrap().transaction;
    for index in 0..3 {
        assert!(
            bitcoin_core::verifies(tx, &prevouts, index),
            "input {index}"
        );
    }
}

#[test]
fn bitcoin_malformed_input_is_refused_clearly() {
    assert_eq!(
        message_of(BITCOIN.group_key(&[2; 31])),
        "group key must be 32 bytes (x-only) or 33 bytes (SEC1 compressed), got 31 bytes"
    );
    assert!(message_of(btc::psbt_from_base64("cHNidP8=")).starts_with("PSBT does not parse"));
    let wallet = TaprootSigner::new(0x11);
    let key = BITCOIN.group_key(&wallet.public_key()).unwrap();
    let mut unsigned = psbt(&[(&wallet, TapSighashType::Default)]);
    unsigned.inputs[0].witness_utxo = None;
    assert_eq!(
        message_of(BITCOIN.policy_view(&unsigned, &key)),
        "input 0 has no spent output (neither witness_utxo nor non_witness_utxo is set)"
    );
    assert!(matches!(
        BITCOIN.messages_to_sign(&unsigned, &key),
        Err(BitcoinError::NothingToSign { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Ethereum

struct EcdsaSigner(k256::ecdsa::SigningKey);

impl EcdsaSigner {
    fn new(seed: u8) -> Self {
        EcdsaSigner(k256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }

    fn address(&self) -> alloy_primitives::Address {
        alloy_primitives::Address::from_public_key(self.0.verifying_key())
    }
}

impl TestSigner for EcdsaSigner {
    fn public_key(&self) -> Vec<u8> {
        // 33-byte SEC1, as CGGMP21 gives the group key.
        self.0
            .verifying_key()
            .as_affine()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    fn sign(&self, message: &MessageToSign) -> [u8; 64] {
        assert_eq!(message.scheme, SignatureScheme::EcdsaPrehash);
        let (signature, _) = self.0.sign_prehash_recoverable(&message.message).unwrap();
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(&signature.to_bytes());
        bytes
    }
}

fn eip1559() -> TxEip1559 {
    TxEip1559 {
        chain_id: 11_155_111,
        nonce: 7,
        gas_limit: 21_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(0x42)),
        value: alloy_primitives::U256::from(123_456_789u64),
        access_list: Default::default(),
        input: Default::default(),
    }
}

#[test]
fn ethereum_round_trip_recovers_to_the_wallet_with_alloy() {
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_eips::eip2718::Decodable2718;

    let wallet = EcdsaSigner::new(0x31);
    let stranger = EcdsaSigner::new(0x32);
    let round = sign_and_assemble_round_trip(
        &Ethereum,
        &wallet,
        &stranger,
        eip1559(),
        "does not recover to",
    );
    assert_eq!(round.messages.len(), 1);
    assert_eq!(round.messages[0].message, eth::signing_hash(&eip1559()).0);
    assert_eq!(
        round.view.chain,
        Chain::Ethereum {
            chain_id: 11_155_111
        }
    );
    assert_eq!(round.view.payer, Some(wallet.address().to_checksum(None)));
    let key = Ethereum.group_key(&wallet.public_key()).unwrap();
    assert_eq!(Ethereum.address(&key), wallet.address().to_checksum(None));

    let signed = &round.signed;
    assert!(signed.is_complete());
    let encoded = signed.encoded().unwrap();
    let raw = alloy_primitives::hex::decode(encoded.strip_prefix("0x").unwrap()).unwrap();
    let envelope = alloy_consensus::TxEnvelope::decode_2718_exact(&raw).unwrap();
    assert_eq!(envelope.recover_signer().unwrap(), wallet.address());
    assert_eq!(signed.id(), Some(format!("{:#x}", envelope.tx_hash())));
}

#[test]
fn ethereum_malformed_input_is_refused_clearly() {
    assert_eq!(
        message_of(Ethereum.group_key(&[2; 32])),
        "public key must be 33 or 65 SEC1 bytes, got 32 bytes"
    );
    assert_eq!(
        message_of(eth::decode_unsigned(&[0x01, 0xc0])),
        "transaction type 0x01 is not EIP-1559 (0x02)"
    );
    let key = Ethereum
        .group_key(&EcdsaSigner::new(0x31).public_key())
        .unwrap();
    let mut zero_r = [0u8; 64];
    zero_r[63] = 1;
    assert_eq!(
        message_of(Ethereum.assemble(eip1559(), &key, &[zero_r])),
        "signature scalar r is zero or not below the secp256k1 group order"
    );
    assert!(matches!(
        Ethereum.assemble(eip1559(), &key, &[[0xff; 64]]),
        Err(EthereumError::ScalarRange("r"))
    ));
}

// ---------------------------------------------------------------------------------------------
// Solana

struct Ed25519Signer(ed25519_dalek::SigningKey);

impl Ed25519Signer {
    fn new(seed: u8) -> Self {
        Ed25519Signer(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    fn pubkey(&self) -> Pubkey {
        Pubkey(self.0.verifying_key().to_bytes())
    }
}

impl TestSigner for Ed25519Signer {
    fn public_key(&self) -> Vec<u8> {
        self.0.verifying_key().to_bytes().to_vec()
    }

    fn sign(&self, message: &MessageToSign) -> [u8; 64] {
        assert_eq!(message.scheme, SignatureScheme::Ed25519);
        ed25519_dalek::Signer::sign(&self.0, &message.message).to_bytes()
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    sol::decode_base64(text).unwrap()
}

#[test]
fn solana_round_trip_is_accepted_by_solana_crates() {
    let wallet = Ed25519Signer::new(0x41);
    let stranger = Ed25519Signer::new(0x42);
    let message = sol::transfer_message(wallet.pubkey(), Pubkey([9; 32]), 2_500_000, [3; 32]);
    let round = sign_and_assemble_round_trip(
        &Solana,
        &wallet,
        &stranger,
        message.clone(),
        "does not verify over the message",
    );
    assert_eq!(round.messages.len(), 1);
    assert_eq!(round.messages[0].slot, 0);
    assert_eq!(round.messages[0].message, message.serialize().unwrap());
    assert_eq!(round.view.chain, Chain::Solana);
    assert_eq!(round.view.payer, Some(wallet.pubkey().to_string()));
    assert_eq!(round.view.transfers[0].amount, 2_500_000);

    let signed = &round.signed;
    assert!(signed.is_complete());
    let bytes = decode_base64(&signed.encoded().unwrap());
    let theirs: VersionedTransaction = wincode::deserialize(&bytes).unwrap();
    theirs
        .verify_and_hash_message()
        .expect("Solana's verifier accepts it");
    let signature = ed25519_dalek::Signature::from_slice(theirs.signatures[0].as_ref()).unwrap();
    wallet
        .0
        .verifying_key()
        .verify_strict(&round.messages[0].message, &signature)
        .unwrap();
    assert_eq!(
        signed.id(),
        Some(bs58::encode(signature.to_bytes()).into_string())
    );
}

/// A transfer from `payer` that `second` co-signs (as a read-only signer).
fn two_signer_message(payer: Pubkey, second: Pubkey) -> Message {
    let mut message = sol::transfer_message(payer, Pubkey([9; 32]), 10, [5; 32]);
    message.account_keys.insert(1, second);
    message.header.num_required_signatures = 2;
    message.header.num_readonly_signed_accounts = 1;
    for instruction in &mut message.instructions {
        instruction.program_id_index += 1;
        for account in &mut instruction.accounts {
            if *account >= 1 {
                *account += 1;
            }
        }
    }
    message
}

#[test]
fn solana_second_signer_fills_its_own_slot_only() {
    let payer = Ed25519Signer::new(0x41);
    let wallet = Ed25519Signer::new(0x43);
    let message = two_signer_message(payer.pubkey(), wallet.pubkey());
    message.sanitize().unwrap();
    let key = Solana.group_key(&wallet.public_key()).unwrap();
    let messages = Solana.messages_to_sign(&message, &key).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].slot, 1);
    let signed = Solana
        .assemble(message, &key, &[wallet.sign(&messages[0])])
        .unwrap();
    assert!(!signed.is_complete());
    // The first slot (the payer's, the transaction id) is still empty.
    assert_eq!(signed.id(), None);
    assert_eq!(signed.transaction.signatures[0], [0; 64]);
    assert_ne!(signed.transaction.signatures[1], [0; 64]);
    assert!(signed.encoded().is_some());
}

#[test]
fn solana_malformed_input_is_refused_clearly() {
    assert_eq!(
        message_of(Solana.group_key(&[1; 31])),
        "Ed25519 public key must be 32 bytes, got 31"
    );
    assert!(matches!(
        Message::deserialize(&[0x81, 1, 0, 0]),
        Err(SolanaError::UnsupportedVersion(1))
    ));
    let wallet = Ed25519Signer::new(0x41);
    let key = Solana.group_key(&wallet.public_key()).unwrap();
    // The fee payer made read-only: the runtime's sanitize rule refuses it.
    let mut message = sol::transfer_message(wallet.pubkey(), Pubkey([9; 32]), 10, [5; 32]);
    message.header.num_readonly_signed_accounts = 1;
    assert_eq!(
        message_of(Solana.messages_to_sign(&message, &key)),
        "invalid message: the fee payer must be a writable signer (read-only signers >= signers)"
    );
    // A message the wallet does not sign.
    let other = sol::transfer_message(Pubkey([8; 32]), Pubkey([9; 32]), 10, [5; 32]);
    assert_eq!(
        message_of(Solana.messages_to_sign(&other, &key)),
        format!("{} is not a signer of this message", wallet.pubkey())
    );
}
