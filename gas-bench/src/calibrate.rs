//! From measured time to gas: the calibrated schedule (gas = 3,000 · t_op / t_ecrecover, with a
//! base plus per-word and per-signer terms fitted over the input classes, a margin, rounded up)
//! and the check that every parameter set's slowest input earns 1.0 to 1.25 times ecrecover's
//! gas per second.

use anyhow::{Result, anyhow, bail};
use thresig_precompiles::gas::priced_schemes;
use thresig_precompiles::precompile::decode;
use thresig_precompiles::{GasSchedule, Price, ScheduleName, Scheme};

use crate::cases::{Case, Target, Validity};
use crate::timing::Timing;

/// ecrecover's gas: the baseline every price is relative to.
pub const ECRECOVER_GAS: u64 = 3_000;
/// The band the slowest input of every parameter set must earn, in multiples of ecrecover's
/// gas per second.
pub const BAND: (f64, f64) = (1.0, 1.25);
/// Bases are rounded up to a multiple of this.
pub const BASE_GRANULARITY: u64 = 100;
/// A growth in `totalSigners` smaller than this share of the time is taken as noise.
const SIGNER_NOISE: f64 = 0.03;

/// The gas a case would need to earn exactly ecrecover's gas per second:
/// 3,000 · t_op / t_ecrecover, with the ratio from paired samples.
pub fn parity_gas(timing: &Timing) -> f64 {
    ECRECOVER_GAS as f64 * timing.ratio
}

/// The multiple of ecrecover's gas per second that `gas` earns on a case timed as `timing`.
pub fn earned(gas: u64, timing: &Timing) -> f64 {
    gas as f64 / parity_gas(timing)
}

/// The gas `case` is charged: by the precompile's own pricing under `schedule`, or, for an
/// anchor, by revm.
pub fn gas_of(case: &Case, schedule: &GasSchedule) -> Result<u64> {
    match case.target {
        Target::Thresig { function, .. } => {
            Ok(decode(&function.address(), &case.calldata)?.cost(schedule))
        }
        Target::Anchor(anchor) => anchor
            .precompile()?
            .execute(&case.calldata, u64::MAX, 0)
            .map(|output| output.gas_used)
            .map_err(|error| anyhow!("{}: {error:?}", anchor.name())),
    }
}

/// How one parameter set's price was fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The parameter set.
    pub scheme: Scheme,
    /// Fitted base at parity, before the margin and rounding.
    pub base: f64,
    /// Fitted gas per 32-byte message word at parity.
    pub per_word: f64,
    /// Fitted gas per signer at parity (0 when `totalSigners` does not change the time).
    pub per_signer: f64,
    /// The case whose time set the base.
    pub binding: usize,
    /// The price written.
    pub price: Price,
}

/// Cases of `scheme` that verify (valid or invalid, not malformed): the ones a price must cover.
fn members(cases: &[Case], scheme: Scheme) -> Vec<usize> {
    (0..cases.len())
        .filter(|&i| cases[i].scheme() == Some(scheme) && cases[i].validity != Validity::Malformed)
        .collect()
}

/// The case's label without its `key=value` token for `key`: what identifies the cases that
/// differ only in that variable.
fn label_without(case: &Case, key: &str) -> String {
    case.label
        .split(' ')
        .filter(|token| !token.starts_with(key))
        .collect::<Vec<_>>()
        .join(" ")
}

fn words(case: &Case) -> f64 {
    case.message_len.div_ceil(32) as f64
}

fn signers(case: &Case) -> f64 {
    f64::from(case.total_signers.unwrap_or(0))
}

/// The slope of parity gas against `x`: for each group of cases that agree on `key`, the rise
/// from the group's smallest to its largest `x` over that run (the widest span, where timing
/// noise matters least), averaged over the groups that `accept` keeps and clamped at 0.
fn slope<K: PartialEq>(
    cases: &[Case],
    timings: &[Timing],
    members: &[usize],
    x: fn(&Case) -> f64,
    key: impl Fn(&Case) -> K,
    accept: impl Fn(usize, usize) -> bool,
) -> f64 {
    let mut slopes = Vec::new();
    let mut seen: Vec<K> = Vec::new();
    for &first in members {
        let group_key = key(&cases[first]);
        if seen.contains(&group_key) {
            continue;
        }
        let group: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| key(&cases[i]) == group_key)
            .collect();
        seen.push(group_key);
        let by_x = |a: &usize, b: &usize| x(&cases[*a]).total_cmp(&x(&cases[*b]));
        let (Some(low), Some(high)) = (
            group.iter().copied().min_by(by_x),
            group.iter().copied().max_by(by_x),
        ) else {
            continue;
        };
        let run = x(&cases[high]) - x(&cases[low]);
        if run > 0.0 && accept(low, high) {
            slopes.push((parity_gas(&timings[high]) - parity_gas(&timings[low])) / run);
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    (slopes.iter().sum::<f64>() / slopes.len() as f64).max(0.0)
}

/// Derives the calibrated schedule from `timings` (one per case): for each parameter set, a
/// per-word slope from the shortest to the longest message, a per-signer slope where
/// `totalSigners` measurably changes the time, and the base that covers the slowest case; then `margin` on top and
/// everything rounded up. Every measured case of a set is then charged at least its parity gas.
pub fn derive(cases: &[Case], timings: &[Timing], margin: f64) -> Result<(GasSchedule, Vec<Fit>)> {
    if cases.len() != timings.len() {
        bail!("{} cases but {} timings", cases.len(), timings.len());
    }
    let mut schedule = GasSchedule::SEED;
    schedule.name = ScheduleName::Calibrated;
    let mut fits = Vec::new();
    for scheme in priced_schemes() {
        let members = members(cases, scheme);
        if members.is_empty() {
            bail!("no measured case for {scheme}");
        }
        let per_word = slope(
            cases,
            timings,
            &members,
            words,
            |case| label_without(case, "msg="),
            |_, _| true,
        );
        let per_signer = slope(
            cases,
            timings,
            &members,
            signers,
            |case| label_without(case, "signers="),
            |low, high| {
                let (low_gas, high_gas) = (parity_gas(&timings[low]), parity_gas(&timings[high]));
                let noise = SIGNER_NOISE
                    .max(2.0 * timings[low].spread())
                    .max(2.0 * timings[high].spread());
                high_gas - low_gas > noise * low_gas
            },
        );
        let residual = |i: usize| {
            parity_gas(&timings[i]) - per_word * words(&cases[i]) - per_signer * signers(&cases[i])
        };
        let binding = members
            .iter()
            .copied()
            .max_by(|&a, &b| residual(a).total_cmp(&residual(b)))
            .ok_or_else(|| anyhow!("no measured case for {scheme}"))?;
        let base = residual(binding);
        let scale = 1.0 + margin;
        let price = Price {
            base: round_up(base * scale, BASE_GRANULARITY),
            per_signer: round_up(per_signer * scale, 1),
            per_message_byte: 0,
            per_message_word: round_up(per_word * scale, 1),
        };
        *schedule.price_mut(scheme) = price;
        fits.push(Fit {
            scheme,
            base,
            per_word,
            per_signer,
            binding,
            price,
        });
    }
    Ok((schedule, fits))
}

/// `value` rounded up to a multiple of `granularity`; at least `granularity` when positive.
fn round_up(value: f64, granularity: u64) -> u64 {
    if value <= 0.0 || !value.is_finite() {
        return 0;
    }
    let steps = (value / granularity as f64).ceil() as u64;
    steps.max(1) * granularity
}

/// The outcome of the check for one group of cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What was checked: a parameter set, or a function's malformed inputs.
    pub group: String,
    /// The case that earns the least gas per second.
    pub worst: usize,
    /// What it earns, in multiples of ecrecover's gas per second.
    pub ratio: f64,
    /// The highest acceptable ratio (`None`: only the lower bound applies).
    pub upper: Option<f64>,
}

impl Verdict {
    /// Whether the ratio is within the band.
    pub fn pass(&self) -> bool {
        self.ratio >= BAND.0 && self.upper.is_none_or(|upper| self.ratio <= upper)
    }
}

/// Checks `schedule` against `timings`: for every parameter set, the case earning the least gas
/// per second must earn between 1.0 and 1.25 times ecrecover's; inputs that select no parameter
/// set (malformed keys) must earn at least ecrecover's.
pub fn check(cases: &[Case], timings: &[Timing], schedule: &GasSchedule) -> Result<Vec<Verdict>> {
    let earned_by =
        |i: usize| -> Result<f64> { Ok(earned(gas_of(&cases[i], schedule)?, &timings[i])) };
    let worst_of = |group: String, indices: Vec<usize>, upper: Option<f64>| -> Result<Verdict> {
        let mut worst: Option<(usize, f64)> = None;
        for i in indices {
            let ratio = earned_by(i)?;
            if worst.is_none_or(|(_, least)| ratio < least) {
                worst = Some((i, ratio));
            }
        }
        let (worst, ratio) = worst.ok_or_else(|| anyhow!("no measured case for {group}"))?;
        Ok(Verdict {
            group,
            worst,
            ratio,
            upper,
        })
    };
    let mut verdicts = Vec::new();
    for scheme in priced_schemes() {
        let indices: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].scheme() == Some(scheme))
            .collect();
        verdicts.push(worst_of(scheme.to_string(), indices, Some(BAND.1))?);
    }
    let unpriced: Vec<usize> = (0..cases.len())
        .filter(|&i| matches!(cases[i].target, Target::Thresig { scheme: None, .. }))
        .collect();
    for i in unpriced {
        let case = &cases[i];
        let group = format!(
            "{} {} {}",
            case.precompile_name(),
            case.function_name(),
            case.label
        );
        verdicts.push(worst_of(group, vec![i], None)?);
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::unsigned_cases;

    fn timing(ratio: f64) -> Timing {
        Timing {
            ns: ratio * 1_000.0,
            quartiles: (ratio * 990.0, ratio * 1_010.0),
            ratio,
            reference_ns: 1_000.0,
            iterations: 1,
        }
    }

    /// Synthetic times that grow with the message and, for one scheme, with the signers.
    fn synthetic(cases: &[Case]) -> Vec<Timing> {
        cases
            .iter()
            .map(|case| {
                let mut ratio = 3.0 + 0.01 * words(case);
                if case.scheme() == Some(Scheme::EcdsaSecp256k1) {
                    ratio += 0.002 * signers(case);
                }
                if case.validity == Validity::Malformed {
                    ratio = 0.05;
                }
                timing(ratio)
            })
            .collect()
    }

    #[test]
    fn derived_prices_cover_every_case_and_the_check_passes_on_the_same_times() {
        let cases = unsigned_cases().unwrap();
        let timings = synthetic(&cases);
        let (schedule, fits) = derive(&cases, &timings, 0.1).unwrap();
        assert_eq!(fits.len(), 18);
        let ed25519 = schedule.price(Scheme::Ed25519);
        // 0.01 ratio per word is 30 gas per word at parity; 33 with the margin.
        assert_eq!(ed25519.per_message_word, 33);
        assert_eq!(ed25519.per_signer, 0);
        // 0.002 per signer is 6 gas; 6.6 with the margin, rounded up.
        assert_eq!(schedule.price(Scheme::EcdsaSecp256k1).per_signer, 7);
        for verdict in check(&cases, &timings, &schedule).unwrap() {
            assert!(verdict.pass(), "{verdict:?}");
            if verdict.upper.is_some() {
                assert!(
                    verdict.ratio >= 1.1 - 1e-9,
                    "{verdict:?}: the margin is kept"
                );
            }
        }
    }

    #[test]
    fn a_schedule_that_undercharges_fails_the_check() {
        let cases = unsigned_cases().unwrap();
        let timings = synthetic(&cases);
        let (mut schedule, _) = derive(&cases, &timings, 0.1).unwrap();
        schedule.frost_bip340.base /= 2;
        schedule.slh_dsa[0].base *= 3;
        let verdicts = check(&cases, &timings, &schedule).unwrap();
        let failed: Vec<&str> = verdicts
            .iter()
            .filter(|verdict| !verdict.pass())
            .map(|verdict| verdict.group.as_str())
            .collect();
        assert_eq!(failed, ["bip340", "slh-dsa-sha2-128s"]);
    }

    #[test]
    fn rounding_is_up_to_the_granularity() {
        assert_eq!(round_up(10_001.0, 100), 10_100);
        assert_eq!(round_up(10_000.0, 100), 10_000);
        assert_eq!(round_up(0.2, 1), 1);
        assert_eq!(round_up(-3.0, 1), 0);
    }
}
