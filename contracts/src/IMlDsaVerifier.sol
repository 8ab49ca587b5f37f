// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title ML-DSA (FIPS 204) verifier precompile at 0x0200000000000000000000000000000000000006.
interface IMlDsaVerifier {
    /// @notice ML-DSA-44/65/87, chosen by key length (1312/1952/2592 bytes); the external, pure
    /// interface with an empty context string.
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool);
}
