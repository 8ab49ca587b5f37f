//! gas-bench: times every thresig precompile function over its input classes against revm's
//! own ecrecover (and sha256 and p256verify) in one run, derives the `calibrated` gas schedule
//! from half of the samples, checks it against the other half, and writes the report
//! (CSV, markdown, SVG chart). Method: docs/gas.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calibrate;
pub mod cases;
pub mod chart;
pub mod forwarder;
pub mod machine;
pub mod report;
pub mod schedule_file;
pub mod timing;

use std::collections::BTreeSet;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use anyhow::{Context, Result, bail, ensure};
use thresig_precompiles::evm::Transactor;
use thresig_precompiles::{GasSchedule, execute};

use crate::calibrate::{Fit, Verdict, check, derive, gas_of};
use crate::cases::{Case, CaseOptions, Target, Validity, all_cases};
use crate::machine::Machine;
use crate::schedule_file::Provenance;
use crate::timing::{Samples, Settings, Side, Timing, measure_interleaved};

/// Gas given to the called frame of every timed transaction: more than any price of either
/// schedule, well under the transaction gas cap.
const CALL_GAS: u64 = 10_000_000;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The quick run (fewer, shorter samples; fewer SLH-DSA signatures), for CI.
    pub quick: bool,
    /// Where the report goes.
    pub out: PathBuf,
    /// Where the generated schedule goes (besides a copy in `out`); `None`: only into `out`.
    pub schedule_file: Option<PathBuf>,
    /// The margin over parity the calibrated prices carry, as a fraction (0.1 = 10%).
    pub margin: f64,
    /// The command line, for the report and the generated file's header.
    pub command: String,
}

/// How a precompile is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPath {
    /// The precompile function itself (thresig's `execute`, revm's `Precompile::execute`):
    /// ABI decoding, pricing and verification.
    Direct,
    /// A transaction to the precompile's address in revm.
    Transaction,
    /// A transaction to a contract that forwards the calldata with STATICCALL.
    Contract,
}

impl CallPath {
    /// All paths.
    pub const ALL: [CallPath; 3] = [CallPath::Direct, CallPath::Transaction, CallPath::Contract];

    /// `direct`, `transaction` or `contract`.
    pub const fn name(self) -> &'static str {
        match self {
            CallPath::Direct => "direct",
            CallPath::Transaction => "transaction",
            CallPath::Contract => "contract",
        }
    }
}

/// Everything one run measured and derived.
#[derive(Debug, Clone)]
pub struct Run {
    /// The configuration.
    pub config: Config,
    /// The timing settings used.
    pub settings: Settings,
    /// The machine.
    pub machine: Machine,
    /// The inputs; the first is ecrecover.
    pub cases: Vec<Case>,
    /// Seed and calibrated gas of each case (anchors: revm's gas, twice).
    pub gas: Vec<(u64, u64)>,
    /// Direct timings the schedule was derived from (the even rounds).
    pub calibration: Vec<Timing>,
    /// Direct timings from the other, disjoint samples (the odd rounds): what the check judges.
    pub validation: Vec<Timing>,
    /// Timings of transactions to the precompile.
    pub transaction: Vec<Timing>,
    /// Timings of transactions to a forwarding contract.
    pub contract: Vec<Timing>,
    /// The calibrated schedule derived.
    pub schedule: GasSchedule,
    /// How each price was fitted.
    pub fits: Vec<Fit>,
    /// The check on the validation samples: decides PASS or FAIL.
    pub verdicts: Vec<Verdict>,
    /// The same check on the data the schedule was derived from.
    pub calibration_verdicts: Vec<Verdict>,
    /// The same check through transactions (reported, not enforced).
    pub transaction_verdicts: Vec<Verdict>,
    /// The same check through the forwarding contract (reported, not enforced).
    pub contract_verdicts: Vec<Verdict>,
    /// Where the schedule was written.
    pub schedule_paths: Vec<PathBuf>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// The timings of `path` (direct: the validation samples).
    pub fn timings(&self, path: CallPath) -> &[Timing] {
        match path {
            CallPath::Direct => &self.validation,
            CallPath::Transaction => &self.transaction,
            CallPath::Contract => &self.contract,
        }
    }

    /// The verdicts of `path`.
    pub fn verdicts_of(&self, path: CallPath) -> &[Verdict] {
        match path {
            CallPath::Direct => &self.verdicts,
            CallPath::Transaction => &self.transaction_verdicts,
            CallPath::Contract => &self.contract_verdicts,
        }
    }

    /// The verdicts that decide the run. A full run is judged on the held-out samples: it is
    /// meant for a quiet machine, and writes the schedule validators use. A quick run, on CI's
    /// shared machine where other jobs change the load between the two halves, is judged on the
    /// samples its schedule was derived from (every price covers and stays within the band of the
    /// run that measured it); its held-out verdicts are reported, not enforced.
    pub fn enforced_verdicts(&self) -> &[Verdict] {
        if self.config.quick {
            &self.calibration_verdicts
        } else {
            &self.verdicts
        }
    }

    /// Whether every enforced verdict passed.
    pub fn passed(&self) -> bool {
        self.enforced_verdicts().iter().all(Verdict::pass)
    }
}

/// Runs one case directly, as the EVM calls the precompile function: whether the signature
/// verified (for an anchor, whether it returned anything).
fn call_direct(case: &Case) -> Result<bool> {
    Ok(match case.target {
        Target::Thresig { function, .. } => {
            execute(
                &function.address(),
                &case.calldata,
                u64::MAX,
                &GasSchedule::SEED,
            )?
            .valid
        }
        Target::Anchor(anchor) => !anchor
            .precompile()?
            .execute(&case.calldata, u64::MAX, 0)
            .map_err(|error| anyhow::anyhow!("{}: {error:?}", anchor.name()))?
            .bytes
            .is_empty(),
    })
}

/// Checks, untimed, that each case does what its label says on the direct path.
fn check_direct(cases: &[Case]) -> Result<()> {
    for case in cases {
        let what = format!("{} {}", case.precompile_name(), case.label);
        let answer = call_direct(case).with_context(|| what.clone())?;
        ensure!(
            answer == (case.validity == Validity::Valid),
            "{what}: answered {answer}"
        );
    }
    Ok(())
}

/// A chain with a forwarding contract for every address the cases call.
fn chain(cases: &[Case], schedule: &GasSchedule) -> Transactor {
    let mut transactor = Transactor::new(schedule.clone());
    let targets: BTreeSet<Address> = cases.iter().map(|case| case.target.address()).collect();
    for target in targets {
        transactor.deploy(
            forwarder::address_for(target),
            forwarder::runtime_code(target),
        );
    }
    transactor
}

/// The address a transaction on `path` is sent to for `case`.
fn destination(case: &Case, path: CallPath) -> Address {
    let target = case.target.address();
    match path {
        CallPath::Contract => forwarder::address_for(target),
        CallPath::Direct | CallPath::Transaction => target,
    }
}

/// Checks, untimed, that each case does what its label says through `path`, and that the
/// precompile charged what the schedule says.
fn check_transactions(
    cases: &[Case],
    transactor: &mut Transactor,
    schedule: &GasSchedule,
    path: CallPath,
) -> Result<()> {
    for case in cases {
        let report = transactor.call(destination(case, path), case.calldata.clone(), CALL_GAS)?;
        let what = format!(
            "{} {} via {}",
            case.precompile_name(),
            case.label,
            path.name()
        );
        ensure!(report.success, "{what}: {:?}", report.error);
        let charged = match path {
            CallPath::Contract => report.inner_call_gas,
            CallPath::Direct | CallPath::Transaction => Some(report.precompile_gas),
        };
        ensure!(
            charged == Some(gas_of(case, schedule)?),
            "{what}: charged {charged:?}"
        );
        let answer = match case.target {
            Target::Thresig { .. } => report.output.last() == Some(&1),
            Target::Anchor(_) => !report.output.is_empty(),
        };
        ensure!(
            answer == (case.validity == Validity::Valid),
            "{what}: answered {answer}"
        );
    }
    Ok(())
}

/// Times every case on `path` for `rounds` rounds, each sample paired with one of ecrecover (the
/// first case) on the same path.
fn measure_path(
    cases: &[Case],
    settings: Settings,
    rounds: usize,
    path: CallPath,
    transactor: &mut Transactor,
) -> Result<Vec<Samples>> {
    let reference = cases.first().context("no cases")?;
    Ok(match path {
        CallPath::Direct => measure_interleaved(settings, rounds, cases.len(), &mut |i, side| {
            let case = if side == Side::Op {
                &cases[i]
            } else {
                reference
            };
            black_box(call_direct(case).is_ok());
        }),
        CallPath::Transaction | CallPath::Contract => {
            let reference_to = destination(reference, path);
            measure_interleaved(settings, rounds, cases.len(), &mut |i, side| {
                let (to, input) = match side {
                    Side::Op => (destination(&cases[i], path), cases[i].calldata.clone()),
                    Side::Reference => (reference_to, reference.calldata.clone()),
                };
                black_box(transactor.execute(to, input, CALL_GAS).is_ok());
            })
        }
    })
}

/// Logs each case's timing on `path`.
fn log_timings(
    log: &mut dyn Write,
    cases: &[Case],
    timings: &[Timing],
    path: CallPath,
) -> Result<()> {
    for (case, timing) in cases.iter().zip(timings) {
        writeln!(
            log,
            "  {} {} {}: {:.1} µs, {:.3}× ecrecover's time",
            path.name(),
            case.precompile_name(),
            case.label,
            timing.ns / 1_000.0,
            timing.ratio
        )?;
    }
    Ok(())
}

/// Runs gas-bench: measures, derives and writes the schedule, checks it on other samples,
/// measures through transactions, and writes the report into `config.out`. Progress goes to
/// `log`. The caller decides what a failed check means (the binary exits non-zero).
pub fn run(config: &Config, log: &mut dyn Write) -> Result<Run> {
    let started = Instant::now();
    if !(0.0..0.25).contains(&config.margin) {
        bail!(
            "the margin must be at least 0 and below 0.25, got {}",
            config.margin
        );
    }
    let settings = if config.quick {
        Settings::QUICK
    } else {
        Settings::FULL
    };
    let machine = Machine::read();
    writeln!(
        log,
        "gas-bench on {}; load {}",
        machine.summary(),
        machine.load
    )?;
    let stamp = |what: &str| format!("[{:5.1} s] {what}", started.elapsed().as_secs_f64());
    writeln!(log, "{}", stamp("signing the inputs"))?;
    let cases = all_cases(CaseOptions {
        quick: config.quick,
    })?;
    check_direct(&cases)?;

    // One direct measurement, its rounds split in two: the schedule is derived from the even
    // rounds and checked against the odd ones. The halves are disjoint samples taken alternately,
    // so a change of load during the run affects both alike.
    writeln!(
        log,
        "{}",
        stamp(&format!("direct measurement ({} inputs)", cases.len()))
    )?;
    let mut transactor = Transactor::new(GasSchedule::SEED);
    let direct = measure_path(
        &cases,
        settings,
        2 * settings.samples,
        CallPath::Direct,
        &mut transactor,
    )?;
    let (calibration, validation): (Vec<Timing>, Vec<Timing>) =
        direct.iter().map(Samples::halves).unzip();
    log_timings(log, &cases, &validation, CallPath::Direct)?;
    let (schedule, fits) = derive(&cases, &calibration, config.margin)?;
    let provenance = Provenance {
        command: config.command.clone(),
        date: machine.date.clone(),
        machine: machine.summary(),
        rustc: machine.rustc.clone(),
        ecrecover_ns: calibration[0].ns,
        margin: config.margin,
    };
    let mut schedule_paths = vec![config.out.join("calibrated_schedule.rs")];
    schedule_paths.extend(config.schedule_file.clone());
    for path in &schedule_paths {
        schedule_file::write(path, &schedule, &provenance)?;
        writeln!(log, "wrote the calibrated schedule to {}", path.display())?;
    }

    // The same inputs through revm transactions, to the precompile and through a contract.
    let mut transactor = chain(&cases, &schedule);
    let mut by_path = Vec::new();
    for path in [CallPath::Transaction, CallPath::Contract] {
        check_transactions(&cases, &mut transactor, &schedule, path)?;
        writeln!(log, "{}", stamp(&format!("{} measurement", path.name())))?;
        let samples = measure_path(&cases, settings, settings.samples, path, &mut transactor)?;
        let timings: Vec<Timing> = samples.iter().map(|input| input.timing(|_| true)).collect();
        log_timings(log, &cases, &timings, path)?;
        by_path.push(timings);
    }
    let contract = by_path.pop().context("contract pass")?;
    let transaction = by_path.pop().context("transaction pass")?;

    let gas = cases
        .iter()
        .map(|case| Ok((gas_of(case, &GasSchedule::SEED)?, gas_of(case, &schedule)?)))
        .collect::<Result<Vec<_>>>()?;
    let run = Run {
        verdicts: check(&cases, &validation, &schedule)?,
        calibration_verdicts: check(&cases, &calibration, &schedule)?,
        transaction_verdicts: check(&cases, &transaction, &schedule)?,
        contract_verdicts: check(&cases, &contract, &schedule)?,
        config: config.clone(),
        settings,
        machine,
        cases,
        gas,
        calibration,
        validation,
        transaction,
        contract,
        schedule,
        fits,
        schedule_paths,
        elapsed: started.elapsed(),
    };
    report::write_all(&run)?;
    writeln!(log, "wrote the report to {}", config.out.display())?;
    Ok(run)
}
