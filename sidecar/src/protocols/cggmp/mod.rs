//! Threshold ECDSA over secp256k1 with CGGMP21 (the `cggmp21` crate): aux info from
//! pregenerated safe primes, threshold keygen, presigning, and one-round online signing.
//!
//! Each node runs its side of a protocol with [`runner`]; the coordinator relays the messages
//! (P2P ones encrypted to the receiver, broadcasts signed, both by the node layer). The crate's
//! reliable-broadcast check is on, every run has an execution id derived from the session, the
//! protocol and its parties, and presignatures are used once: the node deletes one durably
//! before its partial signature leaves.

pub mod primes;
pub mod runner;

use cggmp21::generic_ec::{NonZero, Point, Scalar};
use cggmp21::key_share::{AuxInfo, IncompleteKeyShare, KeyShare};
use cggmp21::security_level::SecurityLevel128;
use cggmp21::supported_curves::Secp256k1;
use cggmp21::{DataToSign, ExecutionId, PartialSignature, PregeneratedPrimes, Presignature};
use rand::SeedableRng;
use rand::rngs::OsRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use self::runner::{Mailbox, ProtocolRun, RunFailure, drive};

/// The curve.
pub type Curve = Secp256k1;
/// The security level (1536-bit safe primes, 3072-bit Paillier moduli).
pub type Level = SecurityLevel128;

/// How long a run waits for its next batch before it gives up.
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// The CGGMP21 protocols a node runs with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Paillier keys and ring-Pedersen parameters of every node, once per cluster.
    AuxInfo,
    /// A wallet's threshold key shares.
    Keygen,
    /// One presignature of a wallet for one signer set.
    Presign,
}

impl Protocol {
    /// The protocol's name, as in statements and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::AuxInfo => "aux-info",
            Protocol::Keygen => "keygen",
            Protocol::Presign => "presign",
        }
    }
}

/// The execution id of one run: every party derives it from what the run is, so a message of
/// one run is meaningless in any other.
/// `context` is anything else the parties must agree on (a keygen's aux info digest).
pub fn execution_id(
    protocol: Protocol,
    session: &str,
    wallet_id: &str,
    parties: &[String],
    context: &[u8],
) -> [u8; 32] {
    let mut parts: Vec<&[u8]> = vec![
        b"thresig/cggmp21/execution-id/v1",
        protocol.name().as_bytes(),
        session.as_bytes(),
        wallet_id.as_bytes(),
        context,
    ];
    parts.extend(parties.iter().map(|party| party.as_bytes()));
    Sha256::digest(crate::model::transcript::binding(&parts)).into()
}

fn failure(message: impl Into<String>) -> RunFailure {
    RunFailure {
        message: message.into(),
        culprit: None,
    }
}

/// Starts this node's side (index `i` of `n`) of aux info generation with its primes.
pub fn start_aux_info(
    eid: [u8; 32],
    i: u16,
    n: u16,
    primes: PregeneratedPrimes<Level>,
) -> Result<ProtocolRun<AuxInfo<Level>>, RunFailure> {
    ProtocolRun::spawn(
        "cggmp21-aux-info",
        move |mailbox: Mailbox<AuxInfo<Level>>| {
            let mut rng = OsRng;
            let machine = cggmp21::aux_info_gen(ExecutionId::new(&eid), i, n, primes)
                .into_state_machine(&mut rng);
            drive(machine, mailbox, IDLE);
        },
    )
}

/// Where a keygen's randomness comes from.
pub enum KeygenRandomness {
    /// The operating system: a new key.
    Fresh,
    /// A passphrase derivation's seed: the same key every time (see [`DerivationRng`]).
    Derived([u8; 32]),
}

/// The randomness of a passphrase-derived keygen. The `cggmp21` keygen draws, in this order,
/// its 48-byte `rid`, the 32-byte nonce of its Schnorr proof, then its polynomial (and a
/// commitment nonce). The first two come from the operating system and the rest from the
/// seed: the polynomial, and so the shares and the key, are the same in every run, while the
/// proof's nonce is new each time. With a seeded nonce, two runs under different execution ids
/// would publish `z = r + c·x` twice with the same `r` and reveal the share `x`. The test
/// `derived_keygens_repeat_the_key_but_not_the_proof_nonce` pins this order.
pub struct DerivationRng {
    fresh_left: usize,
    seeded: ChaCha20Rng,
}

/// Bytes drawn from the operating system before the seed takes over: `rid` (48 bytes at
/// security level 128) and the Schnorr nonce (32).
const DERIVATION_FRESH_PREFIX: usize = 48 + 32;

impl DerivationRng {
    /// The generator for `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            fresh_left: DERIVATION_FRESH_PREFIX,
            seeded: ChaCha20Rng::from_seed(seed),
        }
    }
}

impl rand::RngCore for DerivationRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let fresh = self.fresh_left.min(dest.len());
        OsRng.fill_bytes(&mut dest[..fresh]);
        self.fresh_left -= fresh;
        self.seeded.fill_bytes(&mut dest[fresh..]);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand::CryptoRng for DerivationRng {}

/// Starts this node's side (index `i` of `n`, threshold `t`) of a threshold keygen.
pub fn start_keygen(
    eid: [u8; 32],
    i: u16,
    n: u16,
    t: u16,
    randomness: KeygenRandomness,
) -> Result<ProtocolRun<IncompleteKeyShare<Curve>>, RunFailure> {
    ProtocolRun::spawn(
        "cggmp21-keygen",
        move |mailbox: Mailbox<IncompleteKeyShare<Curve>>| match randomness {
            KeygenRandomness::Fresh => {
                let mut rng = OsRng;
                let machine = cggmp21::keygen::<Curve>(ExecutionId::new(&eid), i, n)
                    .set_threshold(t)
                    .into_state_machine(&mut rng);
                drive(machine, mailbox, IDLE);
            }
            KeygenRandomness::Derived(seed) => {
                let mut rng = DerivationRng::new(seed);
                let machine = cggmp21::keygen::<Curve>(ExecutionId::new(&eid), i, n)
                    .set_threshold(t)
                    .into_state_machine(&mut rng);
                drive(machine, mailbox, IDLE);
            }
        },
    )
}

/// Starts this node's side of presigning: it is signer `i` of the set whose keygen indices are
/// `signers`.
pub fn start_presign(
    eid: [u8; 32],
    i: u16,
    signers: Vec<u16>,
    key_share: KeyShare<Curve, Level>,
) -> Result<ProtocolRun<Presignature<Curve>>, RunFailure> {
    ProtocolRun::spawn(
        "cggmp21-presign",
        move |mailbox: Mailbox<Presignature<Curve>>| {
            let mut rng = OsRng;
            let machine = cggmp21::signing(ExecutionId::new(&eid), i, &signers, &key_share)
                .generate_presignature_sync(&mut rng);
            drive(machine, mailbox, IDLE);
        },
    )
}

/// Joins a wallet's keygen output with the cluster's aux info into a full key share, which the
/// crate validates (index, party count, Paillier key sizes).
pub fn key_share(
    core: IncompleteKeyShare<Curve>,
    aux: AuxInfo<Level>,
) -> Result<KeyShare<Curve, Level>, RunFailure> {
    KeyShare::from_parts((core, aux)).map_err(|error| {
        failure(format!(
            "the key share does not fit the aux info: {}",
            error.error()
        ))
    })
}

/// The compressed (33-byte SEC1) public key of a key share.
pub fn public_key(core: &IncompleteKeyShare<Curve>) -> [u8; 33] {
    compressed(&core.shared_public_key)
}

fn compressed(point: &NonZero<Point<Curve>>) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(point.to_bytes(true).as_bytes());
    out
}

/// The public nonce point R of a presignature, compressed: every signer of the set must hold
/// the same one.
pub fn presignature_point(presignature: &Presignature<Curve>) -> [u8; 33] {
    compressed(&presignature.R)
}

/// A digest of the public part of aux info (every node's Paillier modulus and ring-Pedersen
/// parameters): every node must end the run with the same one.
pub fn aux_info_digest(aux: &AuxInfo<Level>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"thresig/cggmp21/aux-info/v1");
    for party in &aux.parties {
        for number in [&party.N, &party.s, &party.t] {
            let digits = number.to_digits::<u8>(cggmp21::rug::integer::Order::Msf);
            hasher.update((digits.len() as u64).to_be_bytes());
            hasher.update(&digits);
        }
    }
    hasher.finalize().into()
}

/// Serialises a secret protocol value (key share, presignature, aux info) for sealed storage.
pub fn to_secret_bytes<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, String> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|error| format!("cannot encode: {error}"))
}

/// Parses a value stored with [`to_secret_bytes`].
pub fn from_secret_bytes<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    // serde's message could quote the secret it failed on: say only where it failed.
    serde_json::from_slice(bytes).map_err(|error| {
        format!(
            "stored record does not decode (line {}, column {})",
            error.line(),
            error.column()
        )
    })
}

/// The message of a `cggmp21-secp256k1` signature: the 32-byte hash the chain signs (an
/// Ethereum transaction's signing hash, an EIP-191 or EIP-712 digest).
pub fn message_hash(message: &[u8]) -> Result<[u8; 32], String> {
    message.try_into().map_err(|_| {
        format!(
            "cggmp21-secp256k1 signs a 32-byte message hash, got {} bytes",
            message.len()
        )
    })
}

/// This signer's partial signature of `hash` with a presignature, which is consumed.
pub fn issue_partial(
    presignature: Presignature<Curve>,
    hash: &[u8; 32],
) -> Result<Vec<u8>, String> {
    let data = DataToSign::from_scalar(Scalar::<Curve>::from_be_bytes_mod_order(hash));
    let partial = presignature.issue_partial_signature(data);
    serde_json::to_vec(&partial)
        .map_err(|error| format!("cannot encode the partial signature: {error}"))
}

/// Combines the signer set's partial signatures into `r ‖ s ‖ v` (low s, v the recovery id),
/// and checks it with the precompile crate's ECDSA verification against `public_key`.
pub fn combine(
    partials: &[Vec<u8>],
    public_key: &[u8; 33],
    hash: &[u8; 32],
) -> Result<[u8; 65], String> {
    let partials = partials
        .iter()
        .map(|bytes| serde_json::from_slice::<PartialSignature<Curve>>(bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("a partial signature does not decode: {error}"))?;
    let signature = PartialSignature::combine(&partials)
        .ok_or("the partial signatures do not combine (zero r or s)")?
        .normalize_s();
    let mut out = [0u8; 65];
    signature.write_to_slice(&mut out[..64]);
    for v in [0u8, 1] {
        out[64] = v;
        if thresig_precompiles::ecdsa::verify(public_key, hash, &out) == Ok(true) {
            return Ok(out);
        }
    }
    Err("the combined signature does not verify under the wallet key".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_differ_by_protocol_session_wallet_and_parties() {
        let parties = vec!["node-1".to_owned(), "node-2".to_owned()];
        let base = execution_id(Protocol::Presign, "s", "w", &parties, b"");
        assert_ne!(
            base,
            execution_id(Protocol::Keygen, "s", "w", &parties, b"")
        );
        assert_ne!(
            base,
            execution_id(Protocol::Presign, "t", "w", &parties, b"")
        );
        assert_ne!(
            base,
            execution_id(Protocol::Presign, "s", "v", &parties, b"")
        );
        assert_ne!(
            base,
            execution_id(Protocol::Presign, "s", "w", &parties[..1], b"")
        );
        assert_ne!(
            base,
            execution_id(Protocol::Presign, "s", "w", &parties, b"aux")
        );
    }

    #[test]
    fn a_message_that_is_not_a_32_byte_hash_is_refused_with_its_length() {
        assert!(message_hash(&[0u8; 32]).is_ok());
        let error = message_hash(b"hello").unwrap_err();
        assert!(error.contains("got 5 bytes"), "{error}");
    }
}
