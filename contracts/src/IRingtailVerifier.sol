// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title Ringtail lattice threshold verifier precompile at 0x020000000000000000000000000000000000000B.
/// @notice Reserved by the design and not served yet: a call finds no code there.
interface IRingtailVerifier {
    /// @notice A Ringtail threshold signature over the 32-byte message.
    function verifyThreshold(
        uint32 threshold,
        uint32 totalParties,
        bytes32 messageHash,
        bytes calldata signature
    ) external view returns (bool);
}
