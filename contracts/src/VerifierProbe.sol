// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ThresigVerifier} from "./ThresigVerifier.sol";

/// @title Every ThresigVerifier function as an external call, so tests (and anyone checking a
/// chain's precompiles) can exercise the library from outside.
contract VerifierProbe {
    /// @notice ThresigVerifier.verifyBip340.
    function verifyBip340(uint32 t, uint32 n, bytes32 key, bytes32 messageHash, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifyBip340(t, n, key, messageHash, signature);
    }

    /// @notice ThresigVerifier.verifyEd25519.
    function verifyEd25519(uint32 t, uint32 n, bytes32 key, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifyEd25519(t, n, key, message, signature);
    }

    /// @notice ThresigVerifier.verifyEcdsa.
    function verifyEcdsa(uint32 t, uint32 n, bytes calldata key, bytes32 messageHash, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifyEcdsa(t, n, key, messageHash, signature);
    }

    /// @notice ThresigVerifier.verifyMlDsa.
    function verifyMlDsa(bytes calldata key, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifyMlDsa(key, message, signature);
    }

    /// @notice ThresigVerifier.verifySlhDsa.
    function verifySlhDsa(bytes calldata key, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifySlhDsa(key, message, signature);
    }

    /// @notice ThresigVerifier.verifySlhDsaShake.
    function verifySlhDsaShake(bytes calldata key, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifySlhDsaShake(key, message, signature);
    }

    /// @notice ThresigVerifier.verifyRingtail.
    function verifyRingtail(uint32 t, uint32 n, bytes32 messageHash, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return ThresigVerifier.verifyRingtail(t, n, messageHash, signature);
    }
}
