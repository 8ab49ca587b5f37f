//! Gas schedules: what each precompile function charges, selectable by the node.

use core::fmt;
use core::str::FromStr;

use thiserror::Error;

use crate::precompile::Function;

/// The price of one precompile function: a base plus terms that grow with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Charged on every call.
    pub base: u64,
    /// Charged per unit of `totalSigners`.
    pub per_signer: u64,
    /// Charged per byte of the message.
    pub per_message_byte: u64,
    /// Charged per 32-byte word of the message, rounded up.
    pub per_message_word: u64,
}

impl Price {
    /// The gas for a call with `total_signers` signers and a `message_len`-byte message.
    /// Saturates rather than wrapping, so an absurd input costs `u64::MAX`, never little.
    pub fn cost(&self, total_signers: u32, message_len: usize) -> u64 {
        let message_len = u64::try_from(message_len).unwrap_or(u64::MAX);
        let words = message_len.div_ceil(32);
        self.base
            .saturating_add(self.per_signer.saturating_mul(u64::from(total_signers)))
            .saturating_add(self.per_message_byte.saturating_mul(message_len))
            .saturating_add(self.per_message_word.saturating_mul(words))
    }
}

/// The names of the schedules a node can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScheduleName {
    /// The published design's prices (DESIGN.md section 1); the default.
    #[default]
    Seed,
    /// Prices derived by gas-bench from measured time, relative to ecrecover.
    Calibrated,
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleName::Seed => "seed",
            ScheduleName::Calibrated => "calibrated",
        })
    }
}

impl FromStr for ScheduleName {
    type Err = ScheduleError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "seed" => Ok(ScheduleName::Seed),
            "calibrated" => Ok(ScheduleName::Calibrated),
            other => Err(ScheduleError::Unknown(other.to_owned())),
        }
    }
}

/// A schedule that cannot be selected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// The name is neither `seed` nor `calibrated`.
    #[error("unknown gas schedule {0:?}; the schedules are seed and calibrated")]
    Unknown(String),
    /// gas-bench has not produced a calibrated schedule in this build.
    #[error(
        "the calibrated gas schedule has not been generated yet: gas-bench derives it from \
         measurement; use the seed schedule until then"
    )]
    NotCalibrated,
}

/// The price of every precompile function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GasSchedule {
    /// Which schedule this is.
    pub name: ScheduleName,
    /// FROST `verify` (BIP-340).
    pub frost_bip340: Price,
    /// FROST `verifyEd25519`.
    pub frost_ed25519: Price,
    /// Threshold ECDSA `verify`.
    pub threshold_ecdsa: Price,
    /// ML-DSA `verify`.
    pub ml_dsa: Price,
    /// SLH-DSA `verify` (SHA2 sets).
    pub slh_dsa_sha2: Price,
    /// SLH-DSA `verifyShake` (SHAKE sets).
    pub slh_dsa_shake: Price,
}

const fn price(base: u64, per_signer: u64, per_message_byte: u64) -> Price {
    Price {
        base,
        per_signer,
        per_message_byte,
        per_message_word: 0,
    }
}

impl GasSchedule {
    /// The published design's schedule: FROST 50,000 + 5,000·totalSigners; CGGMP21
    /// 75,000 + 10,000·totalSigners; ML-DSA 100,000 + 10·len(message); SLH-DSA
    /// 250,000 + 20·len(message).
    pub const SEED: GasSchedule = GasSchedule {
        name: ScheduleName::Seed,
        frost_bip340: price(50_000, 5_000, 0),
        frost_ed25519: price(50_000, 5_000, 0),
        threshold_ecdsa: price(75_000, 10_000, 0),
        ml_dsa: price(100_000, 0, 10),
        slh_dsa_sha2: price(250_000, 0, 20),
        slh_dsa_shake: price(250_000, 0, 20),
    };

    /// The schedule called `name`.
    pub fn named(name: ScheduleName) -> Result<GasSchedule, ScheduleError> {
        match name {
            ScheduleName::Seed => Ok(GasSchedule::SEED),
            ScheduleName::Calibrated => Err(ScheduleError::NotCalibrated),
        }
    }

    /// The price of `function`.
    pub fn price(&self, function: Function) -> Price {
        match function {
            Function::FrostBip340 => self.frost_bip340,
            Function::FrostEd25519 => self.frost_ed25519,
            Function::ThresholdEcdsa => self.threshold_ecdsa,
            Function::MlDsa => self.ml_dsa,
            Function::SlhDsaSha2 => self.slh_dsa_sha2,
            Function::SlhDsaShake => self.slh_dsa_shake,
        }
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule::SEED
    }
}
