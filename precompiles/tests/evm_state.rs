//! The committing side of the `Transactor`: value transfers, contract creation, nonces,
//! balances and the block timestamp persist from one transaction to the next.

use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_sol_types::SolCall;
use thresig_precompiles::GasSchedule;
use thresig_precompiles::abi::IFrostVerifier;
use thresig_precompiles::evm::{CALLER, Transactor};
use thresig_precompiles::precompile::FROST_ADDRESS;

const ALICE: Address = address!("0x00000000000000000000000000000000000a11ce");
const BOB: Address = address!("0x0000000000000000000000000000000000000b0b");

#[test]
fn transfers_commit_and_nonces_advance() {
    let mut chain = Transactor::new(GasSchedule::SEED);
    chain.set_balance(ALICE, U256::from(1_000));
    for round in 1..=2u64 {
        // The second transfer only executes if the first one's nonce was committed.
        let receipt = chain
            .transact(ALICE, Some(BOB), U256::from(300), Bytes::new(), 100_000)
            .unwrap();
        assert!(receipt.success, "{receipt:?}");
        assert_eq!(receipt.gas_used, 21_000);
        assert_eq!(chain.balance(BOB), U256::from(300 * round));
        assert_eq!(chain.balance(ALICE), U256::from(1_000 - 300 * round));
    }
    // More than the balance is refused before execution.
    assert!(
        chain
            .transact(ALICE, Some(BOB), U256::from(1_000), Bytes::new(), 100_000)
            .is_err()
    );
}

#[test]
fn create_makes_an_account_at_the_sender_derived_address() {
    let mut chain = Transactor::new(GasSchedule::SEED);
    chain.set_balance(ALICE, U256::from(10));
    let receipt = chain
        .transact(ALICE, None, U256::from(7), Bytes::new(), 100_000)
        .unwrap();
    assert!(receipt.success, "{receipt:?}");
    let created = receipt.created.expect("a created address");
    assert_eq!(created, ALICE.create(0));
    assert_eq!(chain.balance(created), U256::from(7));
    assert_eq!(chain.balance(ALICE), U256::from(3));
}

#[test]
fn calls_still_run_after_the_caller_committed_a_transaction() {
    let mut chain = Transactor::new(GasSchedule::SEED);
    chain.set_timestamp(1_700_000_000);
    assert_eq!(chain.timestamp(), 1_700_000_000);
    assert_eq!(chain.chain_id(), 1);
    let receipt = chain
        .transact(CALLER, Some(BOB), U256::ZERO, Bytes::new(), 100_000)
        .unwrap();
    assert!(receipt.success);
    let input = IFrostVerifier::verifyCall {
        threshold: 2,
        totalSigners: 3,
        publicKey: B256::repeat_byte(1),
        messageHash: B256::repeat_byte(2),
        signature: vec![3; 64].into(),
    }
    .abi_encode();
    let report = chain.call(FROST_ADDRESS, input.into(), 65_000).unwrap();
    assert!(report.success, "{report:?}");
    assert_eq!(chain.timestamp(), 1_700_000_000);
}
