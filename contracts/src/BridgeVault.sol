// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ThresholdVault} from "./ThresholdVault.sol";
import {ThresigVerifier} from "./ThresigVerifier.sol";

/// @title A bridge vault guarded by a FROST BIP-340 group key (a thresig `frost-secp256k1-tr`
/// wallet's x-only key, signing with tweak "none").
/// @notice Withdrawals and key rotations are EIP-712 messages signed by the group key; the
/// threshold and signer count are passed to the precompile, which prices the call by them.
contract BridgeVault is ThresholdVault {
    /// @notice EIP-712 type hash of a key rotation.
    bytes32 public constant ROTATE_TYPEHASH = keccak256(
        "RotateGroupKey(bytes32 newGroupKey,uint32 newThreshold,uint32 newTotalSigners,uint256 nonce,uint256 deadline)"
    );
    /// @notice The largest signer count the precompile accepts.
    uint32 public constant MAX_TOTAL_SIGNERS = 1000;

    /// @notice The x-only BIP-340 group key that signs for the vault.
    bytes32 public groupKey;
    /// @notice Signatures need this many of the group's signers.
    uint32 public threshold;
    /// @notice The number of signers holding a share of the group key.
    uint32 public totalSigners;

    /// @notice The vault is now guarded by `newKey`.
    event GroupKeyRotated(bytes32 indexed previousKey, bytes32 indexed newKey, uint32 threshold, uint32 totalSigners);

    /// @notice The precompile would refuse these signer bounds.
    error InvalidSignerSet(uint32 threshold, uint32 totalSigners);
    /// @notice The rotation is not also signed by the new key, so it may not be usable.
    error NewKeyNotProven();

    constructor(bytes32 key, uint32 keyThreshold, uint32 keyTotalSigners)
        payable
        ThresholdVault("Thresig BridgeVault")
    {
        _setKey(key, keyThreshold, keyTotalSigners);
    }

    /// @notice The EIP-712 digest a key rotation's signers sign.
    function rotateDigest(
        bytes32 newGroupKey,
        uint32 newThreshold,
        uint32 newTotalSigners,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return _typedDigest(
            keccak256(abi.encode(ROTATE_TYPEHASH, newGroupKey, newThreshold, newTotalSigners, nonce, deadline))
        );
    }

    /// @notice Replaces the group key. The message must be signed by the current key, which
    /// authorizes the change, and by the new key, which proves it can sign (a mistyped key
    /// would lock the vault for good).
    function rotateGroupKey(
        bytes32 newGroupKey,
        uint32 newThreshold,
        uint32 newTotalSigners,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature,
        bytes calldata newKeySignature
    ) external {
        _checkSignerSet(newThreshold, newTotalSigners);
        bytes32 digest = rotateDigest(newGroupKey, newThreshold, newTotalSigners, nonce, deadline);
        _authorize(digest, nonce, deadline, signature);
        if (!ThresigVerifier.verifyBip340(newThreshold, newTotalSigners, newGroupKey, digest, newKeySignature)) {
            revert NewKeyNotProven();
        }
        _setKey(newGroupKey, newThreshold, newTotalSigners);
    }

    function _setKey(bytes32 key, uint32 keyThreshold, uint32 keyTotalSigners) private {
        _checkSignerSet(keyThreshold, keyTotalSigners);
        emit GroupKeyRotated(groupKey, key, keyThreshold, keyTotalSigners);
        groupKey = key;
        threshold = keyThreshold;
        totalSigners = keyTotalSigners;
    }

    function _checkSignerSet(uint32 keyThreshold, uint32 keyTotalSigners) private pure {
        if (keyThreshold == 0 || keyThreshold > keyTotalSigners || keyTotalSigners > MAX_TOTAL_SIGNERS) {
            revert InvalidSignerSet(keyThreshold, keyTotalSigners);
        }
    }

    function _verify(bytes32 digest, bytes calldata signature) internal view override returns (bool) {
        return ThresigVerifier.verifyBip340(threshold, totalSigners, groupKey, digest, signature);
    }
}
