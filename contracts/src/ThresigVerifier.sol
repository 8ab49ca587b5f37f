// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IFrostVerifier} from "./IFrostVerifier.sol";
import {IMlDsaVerifier} from "./IMlDsaVerifier.sol";
import {IRingtailVerifier} from "./IRingtailVerifier.sol";
import {ISlhDsaVerifier} from "./ISlhDsaVerifier.sol";
import {IThresholdEcdsaVerifier} from "./IThresholdEcdsaVerifier.sol";

/// @title Calls to the thresig precompiles.
/// @notice Each function returns whether the signature verifies. It reverts, with a named error,
/// only when the precompile could not answer: the call halted (malformed input, bad signer
/// bounds, out of gas) or the answer is not an ABI `bool` (for example, no precompile is served
/// at the address on this chain, which a plain interface call would take for an empty revert).
library ThresigVerifier {
    /// @notice FROST Schnorr (BIP-340 and Ed25519).
    address internal constant FROST = 0x020000000000000000000000000000000000000c;
    /// @notice Threshold ECDSA over secp256k1.
    address internal constant THRESHOLD_ECDSA = 0x020000000000000000000000000000000000000D;
    /// @notice ML-DSA (FIPS 204).
    address internal constant ML_DSA = 0x0200000000000000000000000000000000000006;
    /// @notice SLH-DSA (FIPS 205).
    address internal constant SLH_DSA = 0x0200000000000000000000000000000000000007;
    /// @notice Ringtail (reserved, not served yet).
    address internal constant RINGTAIL = 0x020000000000000000000000000000000000000B;

    /// @notice The precompile at `precompile` halted instead of answering.
    error PrecompileCallFailed(address precompile);
    /// @notice The precompile at `precompile` answered `result`, which is not an ABI `bool`.
    error MalformedPrecompileResult(address precompile, bytes result);

    /// @notice BIP-340 Schnorr (FROST secp256k1) over a 32-byte message.
    function verifyBip340(
        uint32 threshold,
        uint32 totalSigners,
        bytes32 publicKey,
        bytes32 messageHash,
        bytes memory signature
    ) internal view returns (bool) {
        return _call(
            FROST,
            abi.encodeCall(IFrostVerifier.verify, (threshold, totalSigners, publicKey, messageHash, signature))
        );
    }

    /// @notice FROST(Ed25519, SHA-512) over any message.
    function verifyEd25519(
        uint32 threshold,
        uint32 totalSigners,
        bytes32 publicKey,
        bytes memory message,
        bytes memory signature
    ) internal view returns (bool) {
        return _call(
            FROST,
            abi.encodeCall(IFrostVerifier.verifyEd25519, (threshold, totalSigners, publicKey, message, signature))
        );
    }

    /// @notice Threshold ECDSA over secp256k1 (CGGMP21 output).
    function verifyEcdsa(
        uint32 threshold,
        uint32 totalSigners,
        bytes memory publicKey,
        bytes32 messageHash,
        bytes memory signature
    ) internal view returns (bool) {
        return _call(
            THRESHOLD_ECDSA,
            abi.encodeCall(
                IThresholdEcdsaVerifier.verify, (threshold, totalSigners, publicKey, messageHash, signature)
            )
        );
    }

    /// @notice ML-DSA-44/65/87, chosen by key length.
    function verifyMlDsa(bytes memory publicKey, bytes memory message, bytes memory signature)
        internal
        view
        returns (bool)
    {
        return _call(ML_DSA, abi.encodeCall(IMlDsaVerifier.verify, (publicKey, message, signature)));
    }

    /// @notice SLH-DSA, SHA2 parameter sets.
    function verifySlhDsa(bytes memory publicKey, bytes memory message, bytes memory signature)
        internal
        view
        returns (bool)
    {
        return _call(SLH_DSA, abi.encodeCall(ISlhDsaVerifier.verify, (publicKey, message, signature)));
    }

    /// @notice SLH-DSA, SHAKE parameter sets.
    function verifySlhDsaShake(bytes memory publicKey, bytes memory message, bytes memory signature)
        internal
        view
        returns (bool)
    {
        return _call(SLH_DSA, abi.encodeCall(ISlhDsaVerifier.verifyShake, (publicKey, message, signature)));
    }

    /// @notice Ringtail threshold signature; reverts with MalformedPrecompileResult until a chain
    /// serves the precompile.
    function verifyRingtail(uint32 threshold, uint32 totalParties, bytes32 messageHash, bytes memory signature)
        internal
        view
        returns (bool)
    {
        return _call(
            RINGTAIL,
            abi.encodeCall(IRingtailVerifier.verifyThreshold, (threshold, totalParties, messageHash, signature))
        );
    }

    /// @dev A low-level staticcall rather than an interface call, so that a halt, an empty
    /// answer and a non-canonical bool each get a named error instead of an empty revert.
    function _call(address precompile, bytes memory input) private view returns (bool) {
        (bool success, bytes memory result) = precompile.staticcall(input);
        if (!success) revert PrecompileCallFailed(precompile);
        if (result.length != 32) revert MalformedPrecompileResult(precompile, result);
        uint256 word = abi.decode(result, (uint256));
        if (word > 1) revert MalformedPrecompileResult(precompile, result);
        return word == 1;
    }
}
