//! The inputs gas-bench times: every precompile function over its input classes, and the
//! anchors (revm's own ecrecover, sha256 and p256verify).
//!
//! Signatures are made fresh each run by libraries other than the verifiers (secp256k1,
//! ed25519-dalek, fips204, fips205, p256), so "valid" inputs really verify.

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;
use anyhow::{Context, Result, anyhow, ensure};
use ed25519_dalek::Signer as _;
use fips204::traits::{SerDes as _, Signer as _};
use fips205::traits::{SerDes as _, Signer as _};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use revm::precompile::{Precompile, Precompiles};
use revm::primitives::address;
use thresig_precompiles::abi::{
    IFrostVerifier, IMlDsaVerifier, ISlhDsaVerifier, IThresholdEcdsaVerifier,
};
use thresig_precompiles::ml_dsa::MlDsaParameterSet;
use thresig_precompiles::precompile::decode;
use thresig_precompiles::slh_dsa::SlhDsaParameterSet;
use thresig_precompiles::{Function, Scheme};

/// The message lengths every function with a variable message is timed at: empty, one word,
/// 10 KiB, and 64 KiB, long enough for the per-word cost to stand out of the timing noise.
pub const MESSAGE_LENGTHS: [usize; 4] = [0, 32, 10_240, 65_536];
/// The `totalSigners` values the threshold functions are timed at.
pub const SIGNER_COUNTS: [u32; 2] = [1, 1000];

/// One of revm's own precompiles, timed as a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// `ecrecover` at 0x01, 3,000 gas: the baseline.
    Ecrecover,
    /// `sha256` at 0x02, 60 + 12 per word.
    Sha256,
    /// `p256verify` at 0x0100, 6,900 gas since Osaka (EIP-7951).
    P256Verify,
}

impl Anchor {
    /// The precompile's address.
    pub fn address(self) -> Address {
        match self {
            Anchor::Ecrecover => address!("0x0000000000000000000000000000000000000001"),
            Anchor::Sha256 => address!("0x0000000000000000000000000000000000000002"),
            Anchor::P256Verify => address!("0x0000000000000000000000000000000000000100"),
        }
    }

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Anchor::Ecrecover => "ecrecover",
            Anchor::Sha256 => "sha256",
            Anchor::P256Verify => "p256verify",
        }
    }

    /// revm's implementation, from the Osaka precompile set.
    pub fn precompile(self) -> Result<&'static Precompile> {
        Precompiles::osaka()
            .get(&self.address())
            .ok_or_else(|| anyhow!("revm's Osaka set has no {}", self.name()))
    }
}

/// What a case calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A thresig precompile function; `scheme` is the parameter set the input selects (`None`
    /// for a key of a length no set uses).
    Thresig {
        /// The function.
        function: Function,
        /// The parameter set the input is priced and verified under.
        scheme: Option<Scheme>,
    },
    /// One of revm's precompiles, priced by revm.
    Anchor(Anchor),
}

impl Target {
    /// The address called.
    pub fn address(self) -> Address {
        match self {
            Target::Thresig { function, .. } => function.address(),
            Target::Anchor(anchor) => anchor.address(),
        }
    }
}

/// Whether the signature of a case verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// A real signature over the message.
    Valid,
    /// A real signature over another message: the full verification runs and fails.
    Invalid,
    /// A key that no parameter set uses or that does not decode: rejected before verifying.
    Malformed,
}

impl Validity {
    /// `valid`, `invalid` or `malformed`.
    pub const fn name(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Malformed => "malformed",
        }
    }
}

/// One timed input.
#[derive(Debug, Clone)]
pub struct Case {
    /// What is called.
    pub target: Target,
    /// The input class, as `key=value` pairs.
    pub label: String,
    /// The calldata (for the anchors, their raw input).
    pub calldata: Bytes,
    /// Whether the signature verifies (anchors: valid).
    pub validity: Validity,
    /// The message length in bytes (the fitted variable).
    pub message_len: usize,
    /// `totalSigners`, for the threshold functions.
    pub total_signers: Option<u32>,
}

impl Case {
    /// The precompile column: the contract at the address.
    pub fn precompile_name(&self) -> &'static str {
        match self.target {
            Target::Thresig { function, .. } => match function {
                Function::FrostBip340 | Function::FrostEd25519 => "FROST",
                Function::ThresholdEcdsa => "threshold ECDSA",
                Function::MlDsa => "ML-DSA",
                Function::SlhDsaSha2 | Function::SlhDsaShake => "SLH-DSA",
            },
            Target::Anchor(anchor) => anchor.name(),
        }
    }

    /// The function column: the Solidity function name, or the anchor's name.
    pub fn function_name(&self) -> &'static str {
        match self.target {
            Target::Thresig { function, .. } => match function {
                Function::FrostEd25519 => "verifyEd25519",
                Function::SlhDsaShake => "verifyShake",
                _ => "verify",
            },
            Target::Anchor(anchor) => anchor.name(),
        }
    }

    /// The scheme the case is priced under, if it is a thresig case that selects one.
    pub fn scheme(&self) -> Option<Scheme> {
        match self.target {
            Target::Thresig { scheme, .. } => scheme,
            Target::Anchor(_) => None,
        }
    }
}

/// How many signatures to make: `quick` signs the slow SLH-DSA "s" sets over the 32-byte
/// message only (its signature then stands as the invalid one for the other lengths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseOptions {
    /// Sign less, for the quick run.
    pub quick: bool,
}

/// A message of `len` bytes; `salt` makes a different message of the same length.
fn message(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

fn signers_label(total_signers: u32) -> String {
    format!("signers={total_signers}")
}

/// Every case, anchors first (ecrecover is always the first case).
pub fn all_cases(options: CaseOptions) -> Result<Vec<Case>> {
    let mut cases = anchors()?;
    cases.extend(bip340()?);
    cases.extend(ed25519()?);
    cases.extend(ecdsa()?);
    for set in MlDsaParameterSet::ALL {
        cases.extend(ml_dsa(set)?);
    }
    // SLH-DSA signing takes seconds per set: one thread per set, before anything is timed.
    let slh_dsa_cases = std::thread::scope(|scope| {
        let signers: Vec<_> = SlhDsaParameterSet::ALL
            .into_iter()
            .map(|set| scope.spawn(move || slh_dsa(set, options)))
            .collect();
        signers
            .into_iter()
            .map(|signer| {
                signer
                    .join()
                    .map_err(|_| anyhow!("an SLH-DSA signing thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
    })?;
    cases.extend(slh_dsa_cases.into_iter().flatten());
    cases.extend(malformed()?);
    Ok(cases)
}

fn anchor_case(anchor: Anchor, label: String, input: Vec<u8>) -> Case {
    Case {
        target: Target::Anchor(anchor),
        label,
        message_len: input.len(),
        calldata: input.into(),
        validity: Validity::Valid,
        total_signers: None,
    }
}

fn anchors() -> Result<Vec<Case>> {
    let hash = [0x17u8; 32];
    // ecrecover: hash, v as a 32-byte word (27 or 28), r, s.
    let secret = secp256k1::SecretKey::from_byte_array([0x42; 32])?;
    let (recovery_id, rs) = secp256k1::SECP256K1
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &secret)
        .serialize_compact();
    let mut ecrecover = hash.to_vec();
    let mut v = [0u8; 32];
    v[31] = 27 + u8::try_from(i32::from(recovery_id))?;
    ecrecover.extend(v);
    ecrecover.extend(rs);
    // p256verify: hash, r, s, x, y.
    let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32])?;
    let signature: p256::ecdsa::Signature = key.sign_prehash(&hash)?;
    let point = key.verifying_key().to_encoded_point(false);
    let mut p256 = hash.to_vec();
    p256.extend(signature.to_bytes());
    p256.extend(point.x().context("uncompressed point has x")?);
    p256.extend(point.y().context("uncompressed point has y")?);
    Ok(vec![
        anchor_case(Anchor::Ecrecover, "sig=valid".into(), ecrecover),
        anchor_case(Anchor::Sha256, "msg=32".into(), message(32, 0)),
        anchor_case(Anchor::Sha256, "msg=10240".into(), message(10_240, 0)),
        anchor_case(Anchor::P256Verify, "sig=valid".into(), p256),
    ])
}

/// A thresig case; what it selects (function, parameter set, message length, signers) is read
/// back from the calldata by the precompile's own decoder.
fn thresig_case(
    function: Function,
    label: String,
    calldata: Vec<u8>,
    validity: Validity,
) -> Result<Case> {
    let call = decode(&function.address(), &calldata)
        .with_context(|| format!("{} {label}", function.label()))?;
    Ok(Case {
        target: Target::Thresig {
            function: call.function,
            scheme: call
                .function
                .scheme_for(call.public_key.len(), call.signature.len()),
        },
        label,
        calldata: calldata.into(),
        validity,
        message_len: call.message.len(),
        total_signers: call.signers.map(|(_, total)| total),
    })
}

fn bip340() -> Result<Vec<Case>> {
    let keypair = secp256k1::Keypair::from_seckey_byte_array(secp256k1::SECP256K1, [0x42; 32])?;
    let public_key = B256::from(keypair.x_only_public_key().0.serialize());
    let signed = [0x17u8; 32];
    let signature = secp256k1::SECP256K1.sign_schnorr_no_aux_rand(&signed, &keypair);
    let mut cases = Vec::new();
    for (validity, message_hash) in [(Validity::Valid, signed), (Validity::Invalid, [0x18; 32])] {
        for total_signers in SIGNER_COUNTS {
            let calldata = IFrostVerifier::verifyCall {
                threshold: 1,
                totalSigners: total_signers,
                publicKey: public_key,
                messageHash: B256::from(message_hash),
                signature: signature.to_byte_array().to_vec().into(),
            }
            .abi_encode();
            cases.push(thresig_case(
                Function::FrostBip340,
                format!("sig={} {}", validity.name(), signers_label(total_signers)),
                calldata,
                validity,
            )?);
        }
    }
    Ok(cases)
}

fn ed25519() -> Result<Vec<Case>> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
    let public_key = B256::from(key.verifying_key().to_bytes());
    let mut cases = Vec::new();
    for len in MESSAGE_LENGTHS {
        let signed = message(len, 0);
        // The invalid case signs another message of the same length.
        for (validity, signature) in [
            (Validity::Valid, key.sign(&signed)),
            (Validity::Invalid, key.sign(&message(len + 1, 0))),
        ] {
            for total_signers in SIGNER_COUNTS {
                let calldata = IFrostVerifier::verifyEd25519Call {
                    threshold: 1,
                    totalSigners: total_signers,
                    publicKey: public_key,
                    message: signed.clone().into(),
                    signature: signature.to_bytes().to_vec().into(),
                }
                .abi_encode();
                cases.push(thresig_case(
                    Function::FrostEd25519,
                    format!(
                        "sig={} msg={len} {}",
                        validity.name(),
                        signers_label(total_signers)
                    ),
                    calldata,
                    validity,
                )?);
            }
        }
    }
    Ok(cases)
}

fn ecdsa() -> Result<Vec<Case>> {
    let secret = secp256k1::SecretKey::from_byte_array([0x33; 32])?;
    let public_key = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &secret);
    let hash = [0x17u8; 32];
    let (recovery_id, rs) = secp256k1::SECP256K1
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash), &secret)
        .serialize_compact();
    let mut signature = rs.to_vec();
    signature.push(u8::try_from(i32::from(recovery_id))?);
    let mut cases = Vec::new();
    for (key_name, key) in [
        ("compressed", public_key.serialize().to_vec()),
        ("uncompressed", public_key.serialize_uncompressed().to_vec()),
    ] {
        for (validity, message_hash) in [(Validity::Valid, hash), (Validity::Invalid, [0x18; 32])] {
            for total_signers in SIGNER_COUNTS {
                let calldata = IThresholdEcdsaVerifier::verifyCall {
                    threshold: 1,
                    totalSigners: total_signers,
                    publicKey: key.clone().into(),
                    messageHash: B256::from(message_hash),
                    signature: signature.clone().into(),
                }
                .abi_encode();
                cases.push(thresig_case(
                    Function::ThresholdEcdsa,
                    format!(
                        "key={key_name} sig={} {}",
                        validity.name(),
                        signers_label(total_signers)
                    ),
                    calldata,
                    validity,
                )?);
            }
        }
    }
    Ok(cases)
}

/// ABI-encodes a post-quantum call from the key, the message and the signature.
type Encoder = fn(Vec<u8>, Vec<u8>, Vec<u8>) -> Vec<u8>;

/// A public key and one signature per message in `messages` (`None`: not signed).
type Signed = (Vec<u8>, Vec<Option<Vec<u8>>>);

/// Cases for a scheme without signers: each length valid (its own signature) and invalid (the
/// signature of the next length's message, a different message that was already signed).
fn post_quantum_cases(
    function: Function,
    scheme: Scheme,
    (public_key, signatures): Signed,
    encode: Encoder,
) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (index, len) in MESSAGE_LENGTHS.into_iter().enumerate() {
        let own = signatures[index].clone();
        // The quick run may have signed one message only: then that length has no invalid case.
        let other = (1..MESSAGE_LENGTHS.len())
            .map(|step| (index + step) % MESSAGE_LENGTHS.len())
            .find_map(|other| signatures[other].clone());
        for (validity, signature) in [(Validity::Valid, own), (Validity::Invalid, other)] {
            let Some(signature) = signature else { continue };
            cases.push(thresig_case(
                function,
                format!("set={scheme} sig={} msg={len}", validity.name()),
                encode(public_key.clone(), message(len, 0), signature),
                validity,
            )?);
        }
    }
    Ok(cases)
}

fn encode_ml_dsa(public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> Vec<u8> {
    IMlDsaVerifier::verifyCall {
        publicKey: public_key.into(),
        message: message.into(),
        signature: signature.into(),
    }
    .abi_encode()
}

fn encode_slh_dsa_sha2(public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> Vec<u8> {
    ISlhDsaVerifier::verifyCall {
        publicKey: public_key.into(),
        message: message.into(),
        signature: signature.into(),
    }
    .abi_encode()
}

fn encode_slh_dsa_shake(public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> Vec<u8> {
    ISlhDsaVerifier::verifyShakeCall {
        publicKey: public_key.into(),
        message: message.into(),
        signature: signature.into(),
    }
    .abi_encode()
}

/// Signs `messages[i]` where `wanted[i]` with a fresh key of `$module` (fips204 or fips205).
macro_rules! sign_each {
    ($module:path, $wanted:expr, |$key:ident, $message:ident| $sign:expr) => {{
        use $module as m;
        let (public_key, $key) = m::try_keygen().map_err(anyhow::Error::msg)?;
        let mut signatures = Vec::new();
        for (len, wanted) in MESSAGE_LENGTHS.into_iter().zip($wanted) {
            let $message = message(len, 0);
            signatures.push(if wanted {
                Some($sign.map_err(anyhow::Error::msg)?.to_vec())
            } else {
                None
            });
        }
        (public_key.into_bytes().to_vec(), signatures)
    }};
}

fn ml_dsa(set: MlDsaParameterSet) -> Result<Vec<Case>> {
    let all = [true; 4];
    let signed: Signed = match set {
        MlDsaParameterSet::MlDsa44 => {
            sign_each!(fips204::ml_dsa_44, all, |key, m| key.try_sign(&m, b""))
        }
        MlDsaParameterSet::MlDsa65 => {
            sign_each!(fips204::ml_dsa_65, all, |key, m| key.try_sign(&m, b""))
        }
        MlDsaParameterSet::MlDsa87 => {
            sign_each!(fips204::ml_dsa_87, all, |key, m| key.try_sign(&m, b""))
        }
    };
    ensure!(signed.0.len() == set.public_key_len(), "{set:?} key length");
    post_quantum_cases(Function::MlDsa, Scheme::MlDsa(set), signed, encode_ml_dsa)
}

fn slh_dsa(set: SlhDsaParameterSet, options: CaseOptions) -> Result<Vec<Case>> {
    // The small ("s") sets take up to seconds to sign; the quick run signs the 32-byte
    // message only. SLH-DSA verification runs the same steps whether or not it succeeds.
    let small = set.name().ends_with('s');
    let wanted = if options.quick && small {
        [false, true, false, false]
    } else {
        [true; 4]
    };
    macro_rules! sign {
        ($module:path) => {
            sign_each!($module, wanted, |key, m| key.try_sign(&m, b"", false))
        };
    }
    use SlhDsaParameterSet as S;
    let signed: Signed = match set {
        S::Sha2_128s => sign!(fips205::slh_dsa_sha2_128s),
        S::Sha2_128f => sign!(fips205::slh_dsa_sha2_128f),
        S::Sha2_192s => sign!(fips205::slh_dsa_sha2_192s),
        S::Sha2_192f => sign!(fips205::slh_dsa_sha2_192f),
        S::Sha2_256s => sign!(fips205::slh_dsa_sha2_256s),
        S::Sha2_256f => sign!(fips205::slh_dsa_sha2_256f),
        S::Shake128s => sign!(fips205::slh_dsa_shake_128s),
        S::Shake128f => sign!(fips205::slh_dsa_shake_128f),
        S::Shake192s => sign!(fips205::slh_dsa_shake_192s),
        S::Shake192f => sign!(fips205::slh_dsa_shake_192f),
        S::Shake256s => sign!(fips205::slh_dsa_shake_256s),
        S::Shake256f => sign!(fips205::slh_dsa_shake_256f),
    };
    ensure!(signed.0.len() == set.public_key_len(), "{set:?} key length");
    let (function, encode): (_, Encoder) = match set.family() {
        thresig_precompiles::slh_dsa::SlhDsaFamily::Sha2 => {
            (Function::SlhDsaSha2, encode_slh_dsa_sha2)
        }
        thresig_precompiles::slh_dsa::SlhDsaFamily::Shake => {
            (Function::SlhDsaShake, encode_slh_dsa_shake)
        }
    };
    post_quantum_cases(function, Scheme::SlhDsa(set), signed, encode)
}

/// One case per function whose key no parameter set uses or does not decode: the call
/// returns `false` before verifying, priced at the function's lowest price.
fn malformed() -> Result<Vec<Case>> {
    let signature: Bytes = vec![0x01; 64].into();
    let frost = |signers| IFrostVerifier::verifyCall {
        threshold: 1,
        totalSigners: signers,
        // x = 0 is not on secp256k1 (0³ + 7 is not a square mod p).
        publicKey: B256::ZERO,
        messageHash: B256::repeat_byte(0x17),
        signature: signature.clone(),
    };
    let inputs: [(Function, Vec<u8>); 6] = [
        (Function::FrostBip340, frost(1).abi_encode()),
        (
            Function::FrostEd25519,
            IFrostVerifier::verifyEd25519Call {
                threshold: 1,
                totalSigners: 1,
                // y = 2^255 - 1 ≥ p: not a canonical encoding.
                publicKey: B256::repeat_byte(0xff),
                message: message(32, 0).into(),
                signature: signature.clone(),
            }
            .abi_encode(),
        ),
        (
            Function::ThresholdEcdsa,
            IThresholdEcdsaVerifier::verifyCall {
                threshold: 1,
                totalSigners: 1,
                // 0x05 is no SEC1 tag.
                publicKey: vec![0x05; 33].into(),
                messageHash: B256::repeat_byte(0x17),
                signature: vec![0x01; 65].into(),
            }
            .abi_encode(),
        ),
        (
            Function::MlDsa,
            encode_ml_dsa(vec![1; 1000], message(32, 0), vec![2; 2420]),
        ),
        (
            Function::SlhDsaSha2,
            encode_slh_dsa_sha2(vec![1; 33], message(32, 0), vec![2; 7856]),
        ),
        (
            Function::SlhDsaShake,
            encode_slh_dsa_shake(vec![1; 33], message(32, 0), vec![2; 7856]),
        ),
    ];
    inputs
        .into_iter()
        .map(|(function, calldata)| {
            thresig_case(
                function,
                "sig=malformed msg=32".into(),
                calldata,
                Validity::Malformed,
            )
        })
        .collect()
}

/// Cases shaped like [`all_cases`] (every scheme, length and signer count) with unsigned,
/// zero-filled keys and signatures: for tests of the arithmetic, which need no real signature.
#[cfg(test)]
pub fn unsigned_cases() -> Result<Vec<Case>> {
    let mut cases = anchors()?;
    let zeros = |len: usize| Bytes::from(vec![0u8; len]);
    for validity in [Validity::Valid, Validity::Invalid] {
        for total_signers in SIGNER_COUNTS {
            let label = format!("sig={} {}", validity.name(), signers_label(total_signers));
            let call = IFrostVerifier::verifyCall {
                threshold: 1,
                totalSigners: total_signers,
                publicKey: B256::ZERO,
                messageHash: B256::ZERO,
                signature: zeros(64),
            };
            cases.push(thresig_case(
                Function::FrostBip340,
                label.clone(),
                call.abi_encode(),
                validity,
            )?);
            let call = IThresholdEcdsaVerifier::verifyCall {
                threshold: 1,
                totalSigners: total_signers,
                publicKey: zeros(33),
                messageHash: B256::ZERO,
                signature: zeros(65),
            };
            cases.push(thresig_case(
                Function::ThresholdEcdsa,
                label,
                call.abi_encode(),
                validity,
            )?);
            for len in MESSAGE_LENGTHS {
                let call = IFrostVerifier::verifyEd25519Call {
                    threshold: 1,
                    totalSigners: total_signers,
                    publicKey: B256::ZERO,
                    message: zeros(len),
                    signature: zeros(64),
                };
                let label = format!(
                    "sig={} msg={len} {}",
                    validity.name(),
                    signers_label(total_signers)
                );
                cases.push(thresig_case(
                    Function::FrostEd25519,
                    label,
                    call.abi_encode(),
                    validity,
                )?);
            }
        }
        for len in MESSAGE_LENGTHS {
            let label = format!("sig={} msg={len}", validity.name());
            for set in MlDsaParameterSet::ALL {
                let calldata = encode_ml_dsa(
                    vec![0; set.public_key_len()],
                    vec![0; len],
                    vec![0; set.signature_len()],
                );
                cases.push(thresig_case(
                    Function::MlDsa,
                    label.clone(),
                    calldata,
                    validity,
                )?);
            }
            for set in SlhDsaParameterSet::ALL {
                let (key, signature) =
                    (vec![0; set.public_key_len()], vec![0; set.signature_len()]);
                let (function, calldata) = match set.family() {
                    thresig_precompiles::slh_dsa::SlhDsaFamily::Sha2 => (
                        Function::SlhDsaSha2,
                        encode_slh_dsa_sha2(key, vec![0; len], signature),
                    ),
                    thresig_precompiles::slh_dsa::SlhDsaFamily::Shake => (
                        Function::SlhDsaShake,
                        encode_slh_dsa_shake(key, vec![0; len], signature),
                    ),
                };
                cases.push(thresig_case(function, label.clone(), calldata, validity)?);
            }
        }
    }
    cases.extend(malformed()?);
    Ok(cases)
}
