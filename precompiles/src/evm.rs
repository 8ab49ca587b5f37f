//! One real transaction to a precompile in a fresh revm instance: what `thresig precompile call`,
//! the tests and gas-bench use to exercise the provider end to end.

use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, HaltReason, Output};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use revm::context_interface::{ContextTr, JournalTr};
use revm::database::{CacheDB, EmptyDB};
use revm::inspector::Inspector;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::{CallInputs, CallOutcome};
use revm::primitives::{Address, Bytes, TxKind, address};
use revm::{Context, InspectEvm, MainBuilder, MainContext};
use thiserror::Error;

use crate::gas::GasSchedule;
use crate::provider::ThresigPrecompiles;

/// The account that sends the transactions; gas is free (base fee and gas price 0).
pub const CALLER: Address = address!("0x00000000000000000000000000000000000c0de5");

/// What a transaction to a precompile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionReport {
    /// The transaction succeeded (the precompile returned).
    pub success: bool,
    /// Gas the precompile's call frame used (all of it when the call halted).
    pub precompile_gas: u64,
    /// The return data.
    pub output: Bytes,
    /// Why the call failed, when it did.
    pub error: Option<String>,
}

/// A transaction that could not be executed at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransactionError {
    /// The requested gas does not fit in a transaction.
    #[error("gas limit {0} is too large for a transaction")]
    GasLimitTooLarge(u64),
    /// revm refused the transaction (for example, over the spec's transaction gas cap).
    #[error("the transaction is invalid: {0}")]
    Invalid(String),
}

/// Records the gas the top-level call frame spent.
#[derive(Debug, Default)]
struct FrameGas {
    spent: Option<u64>,
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for FrameGas {
    fn call_end(&mut self, context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        if context.journal().depth() <= 1 {
            self.spent = Some(outcome.result.gas.total_gas_spent());
        }
    }
}

/// Sends `input` to `to` in a transaction that gives the called frame exactly `call_gas` gas, on
/// the default (latest) mainnet spec with thresig's precompiles priced by `schedule`.
///
/// The transaction's gas limit is `call_gas` plus the intrinsic gas. EIP-7623's calldata floor is
/// switched off: it is a transaction-level charge that has nothing to do with the precompile, and
/// with it a large signature would hand the frame more gas than asked for.
pub fn call_precompile(
    to: Address,
    input: Bytes,
    call_gas: u64,
    schedule: GasSchedule,
) -> Result<TransactionReport, TransactionError> {
    let mut context = Context::mainnet().with_db(CacheDB::<EmptyDB>::default());
    context.cfg.disable_eip7623 = true;
    let spec = context.cfg.spec;
    let precompiles = ThresigPrecompiles::new(spec, schedule);
    let mut evm = context
        .build_mainnet_with_inspector(FrameGas::default())
        .with_precompiles(precompiles);

    let mut tx = TxEnv::builder()
        .caller(CALLER)
        .kind(TxKind::Call(to))
        .data(input)
        .build()
        .map_err(|error| TransactionError::Invalid(format!("{error:?}")))?;
    let intrinsic = calculate_initial_tx_gas_for_tx(&tx, spec, None);
    tx.gas_limit = intrinsic
        .initial_total_gas()
        .checked_add(call_gas)
        .ok_or(TransactionError::GasLimitTooLarge(call_gas))?;

    let result = evm
        .inspect_tx(tx)
        .map_err(|error| TransactionError::Invalid(error.to_string()))?;
    let precompile_gas = evm.inspector.spent.unwrap_or(0);
    Ok(match result.result {
        ExecutionResult::Success { output, .. } => TransactionReport {
            success: true,
            precompile_gas,
            output: match output {
                Output::Call(bytes) | Output::Create(bytes, _) => bytes,
            },
            error: None,
        },
        ExecutionResult::Revert { output, .. } => TransactionReport {
            success: false,
            precompile_gas,
            output,
            error: Some("reverted".to_owned()),
        },
        ExecutionResult::Halt { reason, .. } => TransactionReport {
            success: false,
            precompile_gas,
            output: Bytes::new(),
            error: Some(describe_halt(&reason)),
        },
    })
}

fn describe_halt(reason: &HaltReason) -> String {
    match reason {
        HaltReason::PrecompileErrorWithContext(message) => message.clone(),
        HaltReason::OutOfGas(_) => "out of gas".to_owned(),
        other => format!("{other:?}"),
    }
}
