//! A chain in revm with thresig's precompiles on which the contracts are deployed and driven:
//! committed transactions from one operator account, free gas, a fixed block timestamp.

use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_sol_types::{SolCall, SolConstructor, SolInterface};
use thresig_precompiles::GasSchedule;
use thresig_precompiles::evm::{Receipt, Transactor};

use crate::ContractsError;
use crate::artifacts::{self, Artifact};
use crate::bindings::{BridgeVault, PqBridgeVault};
use crate::eip712::Withdraw;

/// The account that deploys the contracts and sends every transaction.
pub const OPERATOR: Address = address!("0x000000000000000000000000000000000000a11a");
/// The operator's starting balance: one million ether.
pub const OPERATOR_FUNDS: U256 = U256::from_limbs([0x1bce_cced_a100_0000, 0xd3c2, 0, 0]);
/// The block timestamp a new chain starts at (2026-01-01T00:00:00Z).
pub const GENESIS_TIMESTAMP: u64 = 1_767_225_600;
/// Gas limit of each transaction: ample for a deployment, under the EIP-7825 cap.
pub const GAS_LIMIT: u64 = 10_000_000;
/// Gas a view call may spend.
const VIEW_GAS: u64 = 10_000_000;

/// A deployed contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// Where it lives.
    pub address: Address,
    /// Gas the deployment transaction used.
    pub gas_used: u64,
}

/// A committed call to a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call succeeded.
    pub success: bool,
    /// Gas the transaction used, intrinsic gas included.
    pub gas_used: u64,
    /// Return data, or revert data when it reverted.
    pub output: Bytes,
    /// Why it halted, when it did.
    pub halt: Option<String>,
}

impl Call {
    /// The custom error the call reverted with, decoded as one of `E`'s; `None` when the call
    /// succeeded, halted or reverted with data `E` does not know.
    pub fn revert<E: SolInterface>(&self) -> Option<E> {
        if self.success {
            return None;
        }
        E::abi_decode(&self.output).ok()
    }
}

impl From<Receipt> for Call {
    fn from(receipt: Receipt) -> Self {
        Self {
            success: receipt.success,
            gas_used: receipt.gas_used,
            output: receipt.output,
            halt: receipt.halt,
        }
    }
}

/// One chain: revm on the latest mainnet spec with thresig's precompiles.
#[derive(Debug)]
pub struct Chain {
    evm: Transactor,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new(GasSchedule::SEED)
    }
}

impl Chain {
    /// A fresh chain whose precompiles are priced by `schedule`, with a funded [`OPERATOR`].
    pub fn new(schedule: GasSchedule) -> Self {
        let mut evm = Transactor::new(schedule);
        evm.set_balance(OPERATOR, OPERATOR_FUNDS);
        evm.set_timestamp(GENESIS_TIMESTAMP);
        Self { evm }
    }

    /// The chain id (part of every EIP-712 domain).
    pub fn chain_id(&self) -> u64 {
        self.evm.chain_id()
    }

    /// The current block timestamp.
    pub fn timestamp(&self) -> u64 {
        self.evm.timestamp()
    }

    /// Moves the clock to `timestamp`.
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.evm.set_timestamp(timestamp);
    }

    /// The balance of `address` in wei.
    pub fn balance(&self, address: Address) -> U256 {
        self.evm.balance(address)
    }

    /// Deploys `artifact` with ABI-encoded `constructor_args`, sending it `value` wei.
    pub fn deploy(
        &mut self,
        artifact: &Artifact,
        constructor_args: &[u8],
        value: U256,
    ) -> Result<Deployment, ContractsError> {
        let initcode = [artifact.bytecode()?.as_ref(), constructor_args].concat();
        let receipt = self
            .evm
            .transact(OPERATOR, None, value, initcode.into(), GAS_LIMIT)?;
        let failed = |reason: String| ContractsError::Failed {
            what: format!("deploying {}", artifact.name),
            reason,
        };
        match receipt.created {
            Some(address) if receipt.success => Ok(Deployment {
                address,
                gas_used: receipt.gas_used,
            }),
            _ => {
                Err(failed(receipt.halt.unwrap_or_else(|| {
                    format!("reverted with {}", receipt.output)
                })))
            }
        }
    }

    /// Deploys a `BridgeVault` guarded by the x-only BIP-340 `group_key` of a `threshold`-of-
    /// `total_signers` group, holding `funds` wei.
    pub fn deploy_bridge_vault(
        &mut self,
        group_key: B256,
        threshold: u32,
        total_signers: u32,
        funds: U256,
    ) -> Result<Deployment, ContractsError> {
        let args = BridgeVault::constructorCall {
            key: group_key,
            keyThreshold: threshold,
            keyTotalSigners: total_signers,
        }
        .abi_encode();
        self.deploy(&artifacts::BRIDGE_VAULT, &args, funds)
    }

    /// Deploys a `PqBridgeVault` guarded by the ML-DSA-65 `public_key`, holding `funds` wei.
    pub fn deploy_pq_bridge_vault(
        &mut self,
        public_key: &[u8],
        funds: U256,
    ) -> Result<Deployment, ContractsError> {
        let args = PqBridgeVault::constructorCall {
            key: public_key.to_vec().into(),
        }
        .abi_encode();
        self.deploy(&artifacts::PQ_BRIDGE_VAULT, &args, funds)
    }

    /// The digest the vault at `vault` (either kind: both inherit `ThresholdVault`'s
    /// `withdrawDigest`) computes for `message`.
    pub fn withdraw_digest(
        &mut self,
        vault: Address,
        message: &Withdraw,
    ) -> Result<B256, ContractsError> {
        let call = BridgeVault::withdrawDigestCall {
            recipient: message.recipient,
            amount: message.amount,
            nonce: message.nonce,
            deadline: message.deadline,
        };
        self.view(vault, &call)
    }

    /// Sends `message` with `signature` to the vault at `vault` (either kind: both inherit
    /// `ThresholdVault`'s `withdraw`).
    pub fn withdraw(
        &mut self,
        vault: Address,
        message: &Withdraw,
        signature: Bytes,
    ) -> Result<Call, ContractsError> {
        let call = BridgeVault::withdrawCall {
            recipient: message.recipient,
            amount: message.amount,
            nonce: message.nonce,
            deadline: message.deadline,
            signature,
        };
        self.send(vault, &call)
    }

    /// Sends `call` to `to` from [`OPERATOR`] in a committed transaction.
    pub fn send<C: SolCall>(&mut self, to: Address, call: &C) -> Result<Call, ContractsError> {
        let receipt = self.evm.transact(
            OPERATOR,
            Some(to),
            U256::ZERO,
            call.abi_encode().into(),
            GAS_LIMIT,
        )?;
        Ok(receipt.into())
    }

    /// Calls the view function `call` on `to` without committing anything; its decoded answer.
    pub fn view<C: SolCall>(&mut self, to: Address, call: &C) -> Result<C::Return, ContractsError> {
        let report = self.evm.call(to, call.abi_encode().into(), VIEW_GAS)?;
        if !report.success {
            return Err(ContractsError::Failed {
                what: C::SIGNATURE.to_owned(),
                reason: report.error.map_or_else(
                    || report.output.to_string(),
                    |error| format!("{error} {}", report.output),
                ),
            });
        }
        C::abi_decode_returns(&report.output).map_err(|source| ContractsError::Decode {
            what: C::SIGNATURE,
            source,
        })
    }
}
