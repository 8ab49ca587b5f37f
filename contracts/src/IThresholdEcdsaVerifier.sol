// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title Threshold ECDSA (CGGMP21) verifier precompile at 0x020000000000000000000000000000000000000D.
interface IThresholdEcdsaVerifier {
    /// @notice secp256k1 ECDSA with low s; `publicKey` is 33 bytes compressed or 65 uncompressed,
    /// `signature` is r ‖ s ‖ v (65 bytes, v in {0, 1, 27, 28}) and the key it recovers must be
    /// `publicKey`.
    function verify(
        uint32 threshold,
        uint32 totalSigners,
        bytes calldata publicKey,
        bytes32 messageHash,
        bytes calldata signature
    ) external view returns (bool);
}
