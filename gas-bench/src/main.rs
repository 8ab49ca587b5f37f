//! `gas-bench [--quick] [--out DIR]`: measures every thresig precompile against revm's
//! ecrecover, writes the calibrated schedule and the report, and exits non-zero when the
//! schedule it just wrote fails the check (a full run: on samples it was not derived from; a
//! quick run: on the run's own samples, with the held-out check reported).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gas_bench::report::{verdict_detail, verdict_line};
use gas_bench::schedule_file::crate_schedule_path;
use gas_bench::{Config, run};

/// Measured gas per second for every thresig precompile, a calibrated schedule, a report.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Fewer and shorter samples (for CI); the schedule goes only into DIR unless
    /// --schedule-file says otherwise.
    #[arg(long)]
    quick: bool,
    /// Where gas-report.{csv,md,svg} and a copy of the schedule go.
    #[arg(long, value_name = "DIR", default_value = "gas-report")]
    out: PathBuf,
    /// Where the precompiles crate reads the calibrated schedule (default for a full run:
    /// precompiles/src/calibrated_schedule.rs of this source tree).
    #[arg(long, value_name = "PATH")]
    schedule_file: Option<PathBuf>,
    /// Margin of the calibrated prices over parity with ecrecover, as a fraction.
    #[arg(long, default_value_t = 0.10)]
    margin: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let schedule_file = match (&args.schedule_file, args.quick) {
        (Some(path), _) => Some(path.clone()),
        (None, false) => Some(crate_schedule_path()),
        (None, true) => None,
    };
    let mut command = String::from("cargo run -p gas-bench --release --");
    if args.quick {
        command.push_str(" --quick");
    }
    command.push_str(&format!(" --out {}", args.out.display()));
    let config = Config {
        quick: args.quick,
        out: args.out,
        schedule_file,
        margin: args.margin,
        command,
    };
    let run = match run(&config, &mut std::io::stderr()) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("gas-bench: {error:#}");
            return ExitCode::from(2);
        }
    };
    let enforced = run.enforced_verdicts();
    for verdict in enforced {
        println!("{}", verdict_line(&run, verdict));
    }
    if args.quick {
        let in_band = run.verdicts.iter().filter(|verdict| verdict.pass()).count();
        println!(
            "held-out samples (reported, not enforced in --quick): {in_band} of {} in band",
            run.verdicts.len()
        );
        for verdict in run.verdicts.iter().filter(|verdict| !verdict.pass()) {
            println!("  out of band: {}", verdict_detail(&run, verdict));
        }
    }
    let failed = enforced.iter().filter(|verdict| !verdict.pass()).count();
    println!(
        "{} of {} checks passed in {:.0} s; report in {}",
        enforced.len() - failed,
        enforced.len(),
        run.elapsed.as_secs_f64(),
        config.out.display()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
