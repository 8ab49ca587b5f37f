//! The revm `PrecompileProvider`: Ethereum's precompiles for the spec, plus thresig's.

use revm::context::Cfg;
use revm::context_interface::{ContextTr, JournalTr, LocalContextTr};
use revm::handler::{EthPrecompiles, PrecompileProvider, precompile_output_to_interpreter_result};
use revm::interpreter::{CallInputs, InterpreterResult};
use revm::precompile::{PrecompileHalt, PrecompileOutput};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, AddressSet};

use crate::gas::GasSchedule;
use crate::precompile::{ADDRESSES, CallError, execute};

/// revm's Ethereum precompiles for the current spec with thresig's added at their addresses,
/// priced by a node-selected [`GasSchedule`]. Build an EVM with
/// `Context::mainnet()...build_mainnet().with_precompiles(ThresigPrecompiles::new(spec, schedule))`.
#[derive(Debug, Clone)]
pub struct ThresigPrecompiles {
    eth: EthPrecompiles,
    schedule: GasSchedule,
    warm_addresses: AddressSet,
}

impl ThresigPrecompiles {
    /// Ethereum's precompiles of `spec` plus thresig's, priced by `schedule`.
    pub fn new(spec: SpecId, schedule: GasSchedule) -> Self {
        let eth = EthPrecompiles::new(spec);
        let warm_addresses = Self::union(&eth);
        Self {
            eth,
            schedule,
            warm_addresses,
        }
    }

    /// The gas schedule in force.
    pub fn schedule(&self) -> &GasSchedule {
        &self.schedule
    }

    fn union(eth: &EthPrecompiles) -> AddressSet {
        let mut addresses = eth.warm_addresses().clone();
        addresses.extend(ADDRESSES);
        addresses
    }

    fn is_thresig(address: &Address) -> bool {
        ADDRESSES.contains(address)
    }
}

impl<CTX> PrecompileProvider<CTX> for ThresigPrecompiles
where
    CTX: ContextTr,
    EthPrecompiles: PrecompileProvider<CTX, Output = InterpreterResult>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm_addresses = Self::union(&self.eth);
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        if !Self::is_thresig(&inputs.bytecode_address) {
            return self.eth.run(context, inputs);
        }
        let result = execute(
            &inputs.bytecode_address,
            &inputs.input.as_bytes(context),
            inputs.gas_limit,
            &self.schedule,
        );
        let output = match result {
            Ok(success) => {
                PrecompileOutput::new(success.gas_used, success.output(), inputs.reservoir)
            }
            Err(CallError::OutOfGas { .. }) => {
                PrecompileOutput::halt(PrecompileHalt::OutOfGas, inputs.reservoir)
            }
            Err(error) => {
                // As revm does for its own precompiles: a top-level call keeps the reason so
                // the transaction result can say what was wrong.
                if context.journal().depth() == 1 {
                    context
                        .local_mut()
                        .set_precompile_error_context(error.to_string());
                }
                PrecompileOutput::halt(PrecompileHalt::other(error.to_string()), inputs.reservoir)
            }
        };
        Ok(Some(precompile_output_to_interpreter_result(
            output,
            inputs.gas_limit,
        )))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm_addresses
    }

    fn contains(&self, address: &Address) -> bool {
        Self::is_thresig(address) || self.eth.contains(address)
    }
}
