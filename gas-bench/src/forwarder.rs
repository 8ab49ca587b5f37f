//! A minimal contract that forwards its calldata to one precompile with STATICCALL and returns
//! what the precompile returned (or reverts with it), so gas-bench can time a precompile called
//! from a contract, as Solidity code calls it. Assembled here from opcodes: the repository has
//! no Solidity compiler yet.

use alloy_primitives::{Address, Bytes};

// The opcodes used (Ethereum yellow paper / evm.codes numbering).
const CALLDATASIZE: u8 = 0x36;
const CALLDATACOPY: u8 = 0x37;
const RETURNDATASIZE: u8 = 0x3d;
const RETURNDATACOPY: u8 = 0x3e;
const JUMPDEST: u8 = 0x5b;
const PUSH0: u8 = 0x5f;
const PUSH1: u8 = 0x60;
const PUSH20: u8 = 0x73;
const GAS: u8 = 0x5a;
const JUMPI: u8 = 0x57;
const STATICCALL: u8 = 0xfa;
const RETURN: u8 = 0xf3;
const REVERT: u8 = 0xfd;

/// The runtime code of a forwarder to `target`.
pub fn runtime_code(target: Address) -> Bytes {
    let mut code = vec![
        // memory[0..size] = calldata: CALLDATACOPY(destOffset = 0, offset = 0, size).
        CALLDATASIZE,
        PUSH0,
        PUSH0,
        CALLDATACOPY,
        // STATICCALL(gas, address, argsOffset, argsSize, retOffset, retSize), pushed last
        // argument first; the return data is read with RETURNDATACOPY below, so retSize = 0.
        PUSH0,        // retSize
        PUSH0,        // retOffset
        CALLDATASIZE, // argsSize
        PUSH0,        // argsOffset
        PUSH20,
    ];
    code.extend_from_slice(target.as_slice()); // address
    code.extend_from_slice(&[
        GAS, // all the gas left (the callee gets 63/64 of it)
        STATICCALL,
        // memory[0..n] = return data, then return it or revert with it by the call's result.
        RETURNDATASIZE,
        PUSH0,
        PUSH0,
        RETURNDATACOPY,
        PUSH1,
        0,     // patched below: the offset of the JUMPDEST
        JUMPI, // jump to the success path when STATICCALL pushed 1
        RETURNDATASIZE,
        PUSH0,
        REVERT, // revert(0, returndatasize)
        JUMPDEST,
        RETURNDATASIZE,
        PUSH0,
        RETURN, // return(0, returndatasize)
    ]);
    let jumpdest = code.len() - 4;
    let push_operand = code.len() - 9;
    // The code is under 256 bytes, so the offset fits PUSH1's one byte.
    code[push_operand] = jumpdest as u8;
    Bytes::from(code)
}

/// Where gas-bench deploys the forwarder to `target`: `0xf0…` followed by the target's last
/// two bytes, distinct for every precompile it calls.
pub fn address_for(target: Address) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xf0;
    bytes[18..].copy_from_slice(&target.as_slice()[18..]);
    Address::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jump_lands_on_the_jumpdest() {
        let code = runtime_code(Address::repeat_byte(0x42));
        let push = code.iter().position(|&byte| byte == PUSH1).unwrap();
        let target = usize::from(code[push + 1]);
        assert_eq!(code[target], JUMPDEST);
        assert_eq!(code[push + 2], JUMPI);
        assert_eq!(*code.last().unwrap(), RETURN);
        assert_eq!(code[8], PUSH20);
        assert_eq!(&code[9..29], Address::repeat_byte(0x42).as_slice());
    }
}
