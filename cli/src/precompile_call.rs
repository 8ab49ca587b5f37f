//! `thresig precompile call`: a real transaction to a precompile, executed in revm.

use std::process::ExitCode;

use clap::Args;
use revm::primitives::Address;
use serde::Serialize;
use thresig_precompiles::evm::call_precompile;
use thresig_precompiles::{GasSchedule, ScheduleName};

use crate::{hex_arg, malformed};

/// Arguments of `thresig precompile call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The precompile address, hex.
    #[arg(long)]
    address: String,
    /// The calldata, hex: the 4-byte selector and the ABI-encoded arguments.
    #[arg(long)]
    input: String,
    /// Gas given to the precompile's call frame; the transaction's limit is this plus its
    /// intrinsic gas (EIP-7623's calldata floor is off, so the frame gets exactly this).
    #[arg(long, default_value_t = 10_000_000)]
    gas_limit: u64,
    /// The gas schedule: seed or calibrated.
    #[arg(long, default_value = "seed")]
    schedule: String,
}

/// The JSON line printed.
#[derive(Debug, Serialize)]
struct CallReport {
    success: bool,
    precompile_gas: u64,
    output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `thresig precompile call`.
pub fn run(args: CallArgs) -> ExitCode {
    let address: Address = match args.address.parse() {
        Ok(address) => address,
        Err(error) => return malformed(format!("address: {error}")),
    };
    let input = match hex_arg::decode("input", &args.input) {
        Ok(input) => input,
        Err(reason) => return malformed(reason),
    };
    let schedule = match args
        .schedule
        .parse::<ScheduleName>()
        .map(GasSchedule::named)
    {
        Ok(schedule) => schedule,
        Err(error) => return malformed(format!("schedule: {error}")),
    };
    match call_precompile(address, input.into(), args.gas_limit, schedule) {
        Ok(report) => {
            let report = CallReport {
                success: report.success,
                precompile_gas: report.precompile_gas,
                output: hex_arg::encode(&report.output),
                error: report.error,
            };
            match serde_json::to_string(&report) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(error) => malformed(format!("encoding the report: {error}")),
            }
        }
        Err(error) => malformed(error),
    }
}
