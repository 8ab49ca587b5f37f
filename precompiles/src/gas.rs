//! Gas schedules: what each precompile function charges, selectable by the node.
//!
//! A price is chosen from what the ABI-decoded call says before any verification: the function,
//! and for ML-DSA and SLH-DSA the parameter set its key (and signature) lengths select.

use core::fmt;
use core::str::FromStr;

use thiserror::Error;

use crate::ml_dsa::MlDsaParameterSet;
use crate::precompile::Function;
use crate::scheme::Scheme;
use crate::slh_dsa::SlhDsaParameterSet;

/// The price of one precompile function: a base plus terms that grow with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A price with a base only.
    pub const fn base(base: u64) -> Price {
        Price {
            base,
            per_signer: 0,
            per_message_byte: 0,
            per_message_word: 0,
        }
    }

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

    /// The term-by-term minimum of `prices`: no more than any of them for any input. `None` when
    /// there are none.
    pub fn lowest(prices: impl IntoIterator<Item = Price>) -> Option<Price> {
        prices.into_iter().reduce(|a, b| Price {
            base: a.base.min(b.base),
            per_signer: a.per_signer.min(b.per_signer),
            per_message_byte: a.per_message_byte.min(b.per_message_byte),
            per_message_word: a.per_message_word.min(b.per_message_word),
        })
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

impl ScheduleName {
    /// Both schedules, `seed` first.
    pub const ALL: [ScheduleName; 2] = [ScheduleName::Seed, ScheduleName::Calibrated];
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
}

/// The price of every precompile function, per parameter set where the sets differ in cost.
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
    /// ML-DSA `verify`, one price per parameter set in [`MlDsaParameterSet::ALL`] order.
    pub ml_dsa: [Price; 3],
    /// SLH-DSA `verify` and `verifyShake`, one price per parameter set in
    /// [`SlhDsaParameterSet::ALL`] order (the six SHA2 sets, then the six SHAKE sets).
    pub slh_dsa: [Price; 12],
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
    /// 250,000 + 20·len(message), whatever the parameter set.
    pub const SEED: GasSchedule = GasSchedule {
        name: ScheduleName::Seed,
        frost_bip340: price(50_000, 5_000, 0),
        frost_ed25519: price(50_000, 5_000, 0),
        threshold_ecdsa: price(75_000, 10_000, 0),
        ml_dsa: [price(100_000, 0, 10); 3],
        slh_dsa: [price(250_000, 0, 20); 12],
    };

    /// The schedule gas-bench derived from measured time so that every precompile earns about
    /// ecrecover's gas per second (generated into `calibrated_schedule.rs`; see docs/gas.md).
    pub const CALIBRATED: GasSchedule = crate::calibrated_schedule::CALIBRATED;

    /// The schedule called `name`.
    pub const fn named(name: ScheduleName) -> GasSchedule {
        match name {
            ScheduleName::Seed => GasSchedule::SEED,
            ScheduleName::Calibrated => GasSchedule::CALIBRATED,
        }
    }

    /// The price of verifying under `scheme`.
    pub const fn price(&self, scheme: Scheme) -> Price {
        match scheme {
            Scheme::Bip340 => self.frost_bip340,
            Scheme::Ed25519 => self.frost_ed25519,
            Scheme::EcdsaSecp256k1 => self.threshold_ecdsa,
            Scheme::MlDsa(set) => self.ml_dsa[set.index()],
            Scheme::SlhDsa(set) => self.slh_dsa[set.index()],
        }
    }

    /// The price of `scheme`, to change it.
    pub const fn price_mut(&mut self, scheme: Scheme) -> &mut Price {
        match scheme {
            Scheme::Bip340 => &mut self.frost_bip340,
            Scheme::Ed25519 => &mut self.frost_ed25519,
            Scheme::EcdsaSecp256k1 => &mut self.threshold_ecdsa,
            Scheme::MlDsa(set) => &mut self.ml_dsa[set.index()],
            Scheme::SlhDsa(set) => &mut self.slh_dsa[set.index()],
        }
    }

    /// The price of a call to `function` whose key and signature have these lengths: the price
    /// of the parameter set they select, or, when they select none (the call returns `false`
    /// without verifying), the lowest price among the function's sets.
    pub fn call_price(
        &self,
        function: Function,
        public_key_len: usize,
        signature_len: usize,
    ) -> Price {
        if let Some(scheme) = function.scheme_for(public_key_len, signature_len) {
            return self.price(scheme);
        }
        let sets = function.schemes().map(|scheme| self.price(scheme));
        // Every function has at least one scheme, so the fallback is never taken.
        Price::lowest(sets).unwrap_or(Price::base(u64::MAX))
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule::SEED
    }
}

/// Where each scheme's price sits, for code that walks a schedule: every scheme the
/// precompiles serve, in schedule order.
pub fn priced_schemes() -> impl Iterator<Item = Scheme> {
    [Scheme::Bip340, Scheme::Ed25519, Scheme::EcdsaSecp256k1]
        .into_iter()
        .chain(MlDsaParameterSet::ALL.map(Scheme::MlDsa))
        .chain(SlhDsaParameterSet::ALL.map(Scheme::SlhDsa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_the_same_for_every_parameter_set_and_as_designed() {
        let seed = GasSchedule::SEED;
        for set in MlDsaParameterSet::ALL {
            assert_eq!(seed.price(Scheme::MlDsa(set)).cost(0, 100), 101_000);
        }
        for set in SlhDsaParameterSet::ALL {
            assert_eq!(seed.price(Scheme::SlhDsa(set)).cost(0, 100), 252_000);
        }
        assert_eq!(seed.price(Scheme::Bip340).cost(3, 32), 65_000);
        assert_eq!(seed.price(Scheme::Ed25519).cost(1000, 10_240), 5_050_000);
        assert_eq!(seed.price(Scheme::EcdsaSecp256k1).cost(5, 32), 125_000);
    }

    #[test]
    fn parameter_set_indices_follow_all() {
        for (index, set) in MlDsaParameterSet::ALL.into_iter().enumerate() {
            assert_eq!(set.index(), index);
        }
        for (index, set) in SlhDsaParameterSet::ALL.into_iter().enumerate() {
            assert_eq!(set.index(), index);
        }
        assert_eq!(priced_schemes().count(), 18);
    }

    #[test]
    fn a_call_is_priced_by_the_set_its_lengths_select_or_the_lowest_of_its_function() {
        let mut schedule = GasSchedule::SEED;
        let sets = SlhDsaParameterSet::ALL;
        for (i, set) in sets.into_iter().enumerate() {
            let n = u64::try_from(i).unwrap();
            // Bases rise and per-word terms fall, so the lowest price mixes two sets.
            *schedule.price_mut(Scheme::SlhDsa(set)) = Price {
                base: 1_000 * (n + 1),
                per_signer: 0,
                per_message_byte: 0,
                per_message_word: 100 - n,
            };
        }
        let shake_256f = SlhDsaParameterSet::Shake256f;
        let chosen = schedule.call_price(
            Function::SlhDsaShake,
            shake_256f.public_key_len(),
            shake_256f.signature_len(),
        );
        assert_eq!(chosen, schedule.price(Scheme::SlhDsa(shake_256f)));
        // A SHA2 set's lengths sent to verifyShake select no SHAKE set.
        let sha2_128s = SlhDsaParameterSet::Sha2_128s;
        let unknown = schedule.call_price(
            Function::SlhDsaShake,
            sha2_128s.public_key_len() + 1,
            sha2_128s.signature_len(),
        );
        assert_eq!(unknown.base, 7_000, "Shake128s, the cheapest SHAKE base");
        assert_eq!(
            unknown.per_message_word, 89,
            "Shake256f, the cheapest SHAKE word"
        );
        let ml_dsa = schedule.call_price(Function::MlDsa, 5, 5);
        assert_eq!(ml_dsa, GasSchedule::SEED.ml_dsa[0]);
    }

    #[test]
    fn names_round_trip_and_select_their_schedule() {
        for name in ScheduleName::ALL {
            assert_eq!(name.to_string().parse::<ScheduleName>(), Ok(name));
            assert_eq!(GasSchedule::named(name).name, name);
        }
        assert!("cheap".parse::<ScheduleName>().is_err());
    }
}
