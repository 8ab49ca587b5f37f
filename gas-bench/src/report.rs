//! The report: `gas-report.csv`, `gas-report.md` and `gas-report.svg` in the output folder.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::calibrate::{BAND, ECRECOVER_GAS, Verdict, earned};
use crate::cases::Target;
use crate::schedule_file::group_digits;
use crate::{CallPath, Run, chart};

/// Gas per second in millions for `gas` in `ns` nanoseconds.
pub fn mgas_per_s(gas: u64, ns: f64) -> f64 {
    gas as f64 / ns * 1_000.0
}

/// Writes the CSV, the markdown and the chart into the run's output folder.
pub fn write_all(run: &Run) -> Result<()> {
    let out = &run.config.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("gas-report.csv", csv(run))?;
    write("gas-report.md", markdown(run)?)?;
    chart::write_svg(run, &out.join("gas-report.svg"))
}

/// The schedules a case's rows are given under: its own gas for an anchor.
fn schedules(run: &Run, i: usize) -> Vec<(&'static str, u64)> {
    let (seed, calibrated) = run.gas[i];
    match run.cases[i].target {
        Target::Anchor(_) => vec![("revm", seed)],
        Target::Thresig { .. } => vec![("seed", seed), ("calibrated", calibrated)],
    }
}

/// `precompile,function,input,schedule,gas,ns_per_call,mgas_per_s`, one row per path, case
/// and schedule; the path is the last `key=value` of `input`.
pub fn csv(run: &Run) -> String {
    let mut text = String::from("precompile,function,input,schedule,gas,ns_per_call,mgas_per_s\n");
    for path in CallPath::ALL {
        for (i, (case, timing)) in run.cases.iter().zip(run.timings(path)).enumerate() {
            for (schedule, gas) in schedules(run, i) {
                // Writing to a String cannot fail.
                let _ = writeln!(
                    text,
                    "{},{},{} path={},{schedule},{gas},{:.1},{:.3}",
                    case.precompile_name(),
                    case.function_name(),
                    case.label,
                    path.name(),
                    timing.ns,
                    mgas_per_s(gas, timing.ns)
                );
            }
        }
    }
    text
}

fn pass_word(verdict: &Verdict) -> &'static str {
    if verdict.pass() { "PASS" } else { "FAIL" }
}

/// The PASS/FAIL line of a verdict, as the binary prints it.
pub fn verdict_line(run: &Run, verdict: &Verdict) -> String {
    format!("{} {}", pass_word(verdict), verdict_detail(run, verdict))
}

/// What a verdict found, without the verdict: the group, its worst input and what it earns.
pub fn verdict_detail(run: &Run, verdict: &Verdict) -> String {
    let case = &run.cases[verdict.worst];
    let band = match verdict.upper {
        Some(upper) => format!("{:.2}–{upper:.2}", BAND.0),
        None => format!("≥ {:.2}", BAND.0),
    };
    format!(
        "{}: worst input {} {} earns {:.3}× ecrecover's gas/s (band {band}) at {} gas",
        verdict.group,
        case.function_name(),
        case.label,
        verdict.ratio,
        group_digits(run.gas[verdict.worst].1, ',')
    )
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1_000.0)
}

/// `gas-report.md`: the machine, the method in brief, the verdicts, the schedule, the anchors,
/// the paths, and every case.
pub fn markdown(run: &Run) -> Result<String> {
    let mut md = String::new();
    let machine = &run.machine;
    let settings = run.settings;
    let ecrecover = &run.validation[0];
    writeln!(md, "# gas-bench report\n")?;
    writeln!(md, "Command: `{}`  ", run.config.command)?;
    writeln!(md, "Date: {} (UTC)  ", machine.date)?;
    writeln!(
        md,
        "Machine: {}; {}; load average {} at the start  ",
        machine.summary(),
        machine.rustc,
        machine.load
    )?;
    writeln!(
        md,
        "Mode: {}; per input {} ms warm-up, {} samples of at least {} ms, each paired with an \
         ecrecover sample; run took {:.0} s  ",
        if run.config.quick { "quick" } else { "full" },
        settings.warm_up.as_millis(),
        settings.samples,
        settings.sample_time.as_millis(),
        run.elapsed.as_secs_f64()
    )?;
    writeln!(
        md,
        "ecrecover (revm, {ECRECOVER_GAS} gas): {} µs median, {:.1} Mgas/s\n",
        us(ecrecover.ns),
        mgas_per_s(ECRECOVER_GAS, ecrecover.ns)
    )?;
    writeln!(
        md,
        "Method (docs/gas.md): ecrecover is the baseline. Each input is timed in samples paired \
         with ecrecover samples, and its time relative to ecrecover's is the median of the \
         per-pair ratios. The calibrated price of each parameter set is fitted on the even rounds \
         of samples (3,000 × t/t_ecrecover: a base, per-word and per-signer terms, {:.0}% margin, \
         rounded up) and checked on the odd rounds, disjoint samples taken alternately with them: \
         the input earning the least gas per second must earn {:.2} to {:.2} times ecrecover's. `× ecr` below is that multiple. \
         {}\n",
        run.config.margin * 100.0,
        BAND.0,
        BAND.1,
        if run.config.quick {
            "This quick run is judged on the derivation samples; the held-out verdicts are \
             reported, not enforced (a quick run shares CI's machine with other jobs)."
        } else {
            "This full run is judged on the held-out samples."
        }
    )?;

    writeln!(
        md,
        "## Check: the slowest input per gas of each parameter set\n"
    )?;
    writeln!(
        md,
        "| parameter set | slowest input (calibrated) | µs | calibrated gas | × ecr | × ecr, derivation samples | seed gas | seed × ecr (same input) | held-out verdict | derivation verdict |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---|---|")?;
    for (verdict, first) in run.verdicts.iter().zip(&run.calibration_verdicts) {
        let i = verdict.worst;
        let case = &run.cases[i];
        let timing = &run.validation[i];
        writeln!(
            md,
            "| {} | {} {} | {} | {} | {:.3} | {:.3} | {} | {:.3} | {} | {} |",
            verdict.group,
            case.function_name(),
            case.label,
            us(timing.ns),
            group_digits(run.gas[i].1, ','),
            verdict.ratio,
            first.ratio,
            group_digits(run.gas[i].0, ','),
            earned(run.gas[i].0, timing),
            pass_word(verdict),
            pass_word(first)
        )?;
    }

    writeln!(md, "\n## The calibrated schedule\n")?;
    writeln!(
        md,
        "Written to {}.\n",
        run.schedule_paths
            .iter()
            .map(|path| {
                // Relative to the working folder where it can be, so the report is portable.
                let cwd = std::env::current_dir().unwrap_or_default();
                format!("`{}`", path.strip_prefix(&cwd).unwrap_or(path).display())
            })
            .collect::<Vec<_>>()
            .join(" and ")
    )?;
    writeln!(
        md,
        "| parameter set | base | per signer | per 32-byte word | fitted at parity: base, per signer, per word | base set by |"
    )?;
    writeln!(md, "|---|---:|---:|---:|---|---|")?;
    for fit in &run.fits {
        writeln!(
            md,
            "| {} | {} | {} | {} | {:.0}, {:.2}, {:.2} | {} |",
            fit.scheme,
            group_digits(fit.price.base, ','),
            fit.price.per_signer,
            fit.price.per_message_word,
            fit.base,
            fit.per_signer,
            fit.per_word,
            run.cases[fit.binding].label
        )?;
    }

    writeln!(md, "\n## Anchors (revm's own precompiles)\n")?;
    writeln!(md, "| precompile | input | gas | µs | Mgas/s | × ecr |")?;
    writeln!(md, "|---|---|---:|---:|---:|---:|")?;
    for (i, case) in run.cases.iter().enumerate() {
        if let Target::Anchor(_) = case.target {
            let timing = &run.validation[i];
            writeln!(
                md,
                "| {} | {} | {} | {} | {:.1} | {:.3} |",
                case.precompile_name(),
                case.label,
                group_digits(run.gas[i].0, ','),
                us(timing.ns),
                mgas_per_s(run.gas[i].0, timing.ns),
                earned(run.gas[i].0, timing)
            )?;
        }
    }

    writeln!(
        md,
        "\n## Through revm transactions\n\nThe slowest direct input of each parameter set, sent \
         in a transaction to the precompile and to a contract that forwards it with STATICCALL \
         (ecrecover through the same path is the baseline; transaction overhead is in both \
         times). Reported, not enforced.\n"
    )?;
    writeln!(
        md,
        "| parameter set | input | direct µs | × ecr | transaction µs | × ecr | contract µs | × ecr |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for verdict in &run.verdicts {
        let i = verdict.worst;
        write!(md, "| {} | {} |", verdict.group, run.cases[i].label)?;
        for path in CallPath::ALL {
            let timing = &run.timings(path)[i];
            write!(
                md,
                " {} | {:.3} |",
                us(timing.ns),
                earned(run.gas[i].1, timing)
            )?;
        }
        writeln!(md)?;
    }
    let worst = |path: CallPath| {
        run.verdicts_of(path)
            .iter()
            .filter(|verdict| verdict.upper.is_some())
            .map(|verdict| verdict.ratio)
            .fold(f64::INFINITY, f64::min)
    };
    writeln!(
        md,
        "\nLowest multiple of ecrecover's gas/s over all parameter sets (each set's slowest input \
         on that path): direct {:.3}, transaction {:.3}, contract {:.3}.",
        worst(CallPath::Direct),
        worst(CallPath::Transaction),
        worst(CallPath::Contract)
    )?;

    writeln!(md, "\n## Every input (direct, validation samples)\n")?;
    writeln!(
        md,
        "| precompile | function | input | µs | spread (IQR) | seed gas | seed Mgas/s | seed × ecr | calibrated gas | calibrated Mgas/s | calibrated × ecr |"
    )?;
    writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for (i, case) in run.cases.iter().enumerate() {
        let timing = &run.validation[i];
        let (seed, calibrated) = run.gas[i];
        writeln!(
            md,
            "| {} | {} | {} | {} | {:.1}% | {} | {:.1} | {:.3} | {} | {:.1} | {:.3} |",
            case.precompile_name(),
            case.function_name(),
            case.label,
            us(timing.ns),
            timing.spread() * 100.0,
            group_digits(seed, ','),
            mgas_per_s(seed, timing.ns),
            earned(seed, timing),
            group_digits(calibrated, ','),
            mgas_per_s(calibrated, timing.ns),
            earned(calibrated, timing)
        )?;
    }
    writeln!(md, "\n## Verdicts\n\n```text")?;
    for verdict in run.enforced_verdicts() {
        writeln!(md, "{}", verdict_line(run, verdict))?;
    }
    writeln!(md, "```")?;
    Ok(md)
}
