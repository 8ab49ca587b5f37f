//! Real transactions to a precompile in revm: what `thresig precompile call`, the tests and
//! gas-bench use to exercise the provider end to end.

use revm::bytecode::Bytecode;
use revm::context::result::{ExecutionResult, HaltReason, Output};
use revm::context::{Evm, TxEnv};
use revm::context_interface::ContextTr;
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use revm::database::{CacheDB, EmptyDB};
use revm::handler::instructions::EthInstructions;
use revm::handler::{EthFrame, MainnetContext};
use revm::inspector::Inspector;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::{CallInputs, CallOutcome};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, U256, address};
use revm::state::AccountInfo;
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, InspectEvm, MainBuilder, MainContext};
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
    /// Gas the called frame used (all of it when the call halted): the precompile's gas when
    /// the transaction calls a precompile directly.
    pub precompile_gas: u64,
    /// Gas the first call made from the called frame used, when it made one: the precompile's
    /// gas when the transaction calls a contract that forwards to a precompile.
    pub inner_call_gas: Option<u64>,
    /// The return data.
    pub output: Bytes,
    /// Why the call failed, when it did.
    pub error: Option<String>,
}

/// What a committed transaction ([`Transactor::transact`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction succeeded (neither reverted nor halted).
    pub success: bool,
    /// Gas the whole transaction used, intrinsic gas included, as a receipt reports it.
    pub gas_used: u64,
    /// The return data, or the revert data of a reverted transaction.
    pub output: Bytes,
    /// The address of the contract a successful CREATE transaction made.
    pub created: Option<Address>,
    /// Why the transaction halted, when it did.
    pub halt: Option<String>,
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

/// Records the gas the top-level call frame, and the first call it made, spent. It counts call
/// depth itself: the journal's depth at `call_end` differs between calls to precompiles and to
/// contracts.
#[derive(Debug, Default)]
struct FrameGas {
    depth: usize,
    spent: Option<u64>,
    inner: Option<u64>,
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for FrameGas {
    fn call(&mut self, _context: &mut CTX, _inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.depth += 1;
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        let spent = outcome.result.gas.total_gas_spent();
        match self.depth {
            0 | 1 => self.spent = Some(spent),
            2 => {
                self.inner.get_or_insert(spent);
            }
            _ => {}
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

type Db = CacheDB<EmptyDB>;
type Ctx = MainnetContext<Db>;
type ThresigEvm = Evm<
    Ctx,
    FrameGas,
    EthInstructions<EthInterpreter, Ctx>,
    ThresigPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// One revm instance on the default (latest) mainnet spec with thresig's precompiles, which
/// runs any number of transactions against the same state, so a benchmark times transactions
/// rather than EVM construction. [`Transactor::call`] and [`Transactor::execute`] commit
/// nothing; [`Transactor::transact`] commits, for contracts that keep state.
pub struct Transactor {
    evm: ThresigEvm,
    spec: SpecId,
}

impl core::fmt::Debug for Transactor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transactor")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Transactor {
    /// A fresh chain whose thresig precompiles are priced by `schedule`. EIP-7623's calldata
    /// floor is switched off: it is a transaction-level charge that has nothing to do with the
    /// precompile, and with it a large signature would hand the frame more gas than asked for.
    pub fn new(schedule: GasSchedule) -> Self {
        let mut context = Context::mainnet().with_db(Db::default());
        context.cfg.disable_eip7623 = true;
        let spec = context.cfg.spec;
        let evm = context
            .build_mainnet_with_inspector(FrameGas::default())
            .with_precompiles(ThresigPrecompiles::new(spec, schedule));
        Self { evm, spec }
    }

    /// Puts a contract with runtime code `code` at `address`.
    pub fn deploy(&mut self, address: Address, code: Bytes) {
        let info = AccountInfo::default().with_code(Bytecode::new_raw(code));
        self.evm.ctx.db_mut().insert_account_info(address, info);
    }

    /// The balance of `address`.
    pub fn balance(&self, address: Address) -> U256 {
        self.account(address)
            .map_or(U256::ZERO, |info| info.balance)
    }

    /// Sets the balance of `address`, as a genesis allocation does.
    pub fn set_balance(&mut self, address: Address, balance: U256) {
        let info = self.account(address).unwrap_or_default();
        let info = AccountInfo { balance, ..info };
        self.evm.ctx.db_mut().insert_account_info(address, info);
    }

    /// Sets the timestamp of the block the next transactions run in.
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.evm.ctx.block.timestamp = U256::from(timestamp);
    }

    /// The timestamp of the block the next transactions run in.
    pub fn timestamp(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to()
    }

    /// The chain id transactions run under.
    pub fn chain_id(&self) -> u64 {
        self.evm.ctx.cfg.chain_id
    }

    /// The account as committed so far (the database is in memory, so the cache is all of it).
    fn account(&self, address: Address) -> Option<AccountInfo> {
        let cache = &self.evm.ctx.db_ref().cache;
        cache
            .accounts
            .get(&address)
            .and_then(|account| account.info())
    }

    /// Executes a transaction from `caller` (which pays nothing for gas) and commits its
    /// effects: a contract creation when `to` is `None`, with `value` wei and `gas_limit` for
    /// the whole transaction.
    pub fn transact(
        &mut self,
        caller: Address,
        to: Option<Address>,
        value: U256,
        input: Bytes,
        gas_limit: u64,
    ) -> Result<Receipt, TransactionError> {
        let mut tx = TxEnv::builder()
            .caller(caller)
            .kind(to.map_or(TxKind::Create, TxKind::Call))
            .value(value)
            .data(input)
            .gas_limit(gas_limit)
            .build()
            .map_err(|error| TransactionError::Invalid(format!("{error:?}")))?;
        tx.nonce = self.account(caller).map_or(0, |info| info.nonce);
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|error| TransactionError::Invalid(error.to_string()))?;
        let gas_used = result.tx_gas_used();
        let created = result.created_address();
        Ok(match result {
            ExecutionResult::Success { output, .. } => Receipt {
                success: true,
                gas_used,
                output: output.into_data(),
                created,
                halt: None,
            },
            ExecutionResult::Revert { output, .. } => Receipt {
                success: false,
                gas_used,
                output,
                created: None,
                halt: None,
            },
            ExecutionResult::Halt { reason, .. } => Receipt {
                success: false,
                gas_used,
                output: Bytes::new(),
                created: None,
                halt: Some(describe_halt(&reason)),
            },
        })
    }

    /// A transaction from [`CALLER`] to `to` whose called frame gets exactly `call_gas` gas.
    fn transaction(
        &self,
        to: Address,
        input: Bytes,
        call_gas: u64,
    ) -> Result<TxEnv, TransactionError> {
        let mut tx = TxEnv::builder()
            .caller(CALLER)
            .kind(TxKind::Call(to))
            .data(input)
            .build()
            .map_err(|error| TransactionError::Invalid(format!("{error:?}")))?;
        // CALLER may have sent committed transactions ([`Transactor::transact`]).
        tx.nonce = self.account(CALLER).map_or(0, |info| info.nonce);
        let intrinsic = calculate_initial_tx_gas_for_tx(&tx, self.spec, None);
        tx.gas_limit = intrinsic
            .initial_total_gas()
            .checked_add(call_gas)
            .ok_or(TransactionError::GasLimitTooLarge(call_gas))?;
        Ok(tx)
    }

    /// Sends `input` to `to`, giving the called frame `call_gas` gas, and reports what happened,
    /// with the gas of the called frame and of the first call it made.
    pub fn call(
        &mut self,
        to: Address,
        input: Bytes,
        call_gas: u64,
    ) -> Result<TransactionReport, TransactionError> {
        let tx = self.transaction(to, input, call_gas)?;
        self.evm.inspector = FrameGas::default();
        let result = self
            .evm
            .inspect_tx(tx)
            .map_err(|error| TransactionError::Invalid(error.to_string()))?;
        let precompile_gas = self.evm.inspector.spent.unwrap_or(0);
        let inner_call_gas = self.evm.inspector.inner;
        Ok(match result.result {
            ExecutionResult::Success { output, .. } => TransactionReport {
                success: true,
                precompile_gas,
                inner_call_gas,
                output: match output {
                    Output::Call(bytes) | Output::Create(bytes, _) => bytes,
                },
                error: None,
            },
            ExecutionResult::Revert { output, .. } => TransactionReport {
                success: false,
                precompile_gas,
                inner_call_gas,
                output,
                error: Some("reverted".to_owned()),
            },
            ExecutionResult::Halt { reason, .. } => TransactionReport {
                success: false,
                precompile_gas,
                inner_call_gas,
                output: Bytes::new(),
                error: Some(describe_halt(&reason)),
            },
        })
    }

    /// Sends `input` to `to` as [`Transactor::call`] does but without the inspector, as a node
    /// executes transactions; returns whether the transaction succeeded.
    pub fn execute(
        &mut self,
        to: Address,
        input: Bytes,
        call_gas: u64,
    ) -> Result<bool, TransactionError> {
        let tx = self.transaction(to, input, call_gas)?;
        let result = self
            .evm
            .transact(tx)
            .map_err(|error| TransactionError::Invalid(error.to_string()))?;
        Ok(result.result.is_success())
    }
}

/// Sends `input` to `to` in a transaction on a fresh chain that gives the called frame exactly
/// `call_gas` gas, with thresig's precompiles priced by `schedule` (see [`Transactor::new`]).
pub fn call_precompile(
    to: Address,
    input: Bytes,
    call_gas: u64,
    schedule: GasSchedule,
) -> Result<TransactionReport, TransactionError> {
    Transactor::new(schedule).call(to, input, call_gas)
}

fn describe_halt(reason: &HaltReason) -> String {
    match reason {
        HaltReason::PrecompileErrorWithContext(message) => message.clone(),
        HaltReason::OutOfGas(_) => "out of gas".to_owned(),
        other => format!("{other:?}"),
    }
}
