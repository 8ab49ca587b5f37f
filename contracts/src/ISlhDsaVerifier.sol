// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title SLH-DSA (FIPS 205) verifier precompile at 0x0200000000000000000000000000000000000007.
/// @notice The parameter set is chosen by key and signature length; pure interface, empty
/// context string.
interface ISlhDsaVerifier {
    /// @notice The SHA2 parameter sets.
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool);

    /// @notice The SHAKE parameter sets.
    function verifyShake(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool);
}
