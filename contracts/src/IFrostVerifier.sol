// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title FROST Schnorr verifier precompile at 0x020000000000000000000000000000000000000C.
/// @notice Returns false for a signature that does not verify; halts on calldata that does not
/// decode, threshold == 0, threshold > totalSigners or totalSigners > 1000.
interface IFrostVerifier {
    /// @notice BIP-340 over secp256k1: x-only key, 64-byte signature over the 32-byte message.
    function verify(
        uint32 threshold,
        uint32 totalSigners,
        bytes32 publicKey,
        bytes32 messageHash,
        bytes calldata signature
    ) external view returns (bool);

    /// @notice FROST(Ed25519, SHA-512): an RFC 8032 signature over any message.
    function verifyEd25519(
        uint32 threshold,
        uint32 totalSigners,
        bytes32 publicKey,
        bytes calldata message,
        bytes calldata signature
    ) external view returns (bool);
}
