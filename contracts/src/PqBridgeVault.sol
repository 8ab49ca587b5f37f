// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ThresholdVault} from "./ThresholdVault.sol";
import {ThresigVerifier} from "./ThresigVerifier.sol";

/// @title The bridge vault's post-quantum variant, guarded by an ML-DSA-65 (FIPS 204) key.
/// @notice The key signs the 32-byte EIP-712 digest as its message (pure interface, empty
/// context).
contract PqBridgeVault is ThresholdVault {
    /// @notice The length of an ML-DSA-65 public key.
    uint256 public constant PUBLIC_KEY_LENGTH = 1952;

    /// @notice The account whose code, after a leading STOP byte, is the public key: reading
    /// 1,952 bytes of code costs a few thousand gas where 61 storage slots would cost 128,000.
    address public immutable publicKeyStore;

    /// @notice The key is not an ML-DSA-65 public key.
    error InvalidPublicKeyLength(uint256 length);

    constructor(bytes memory key) payable ThresholdVault("Thresig PqBridgeVault") {
        if (key.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(key.length);
        publicKeyStore = address(new PublicKeyStore(key));
    }

    /// @notice The ML-DSA-65 public key that signs for the vault.
    function publicKey() public view returns (bytes memory key) {
        key = new bytes(PUBLIC_KEY_LENGTH);
        address store = publicKeyStore;
        assembly ("memory-safe") {
            extcodecopy(store, add(key, 32), 1, mload(key))
        }
    }

    function _verify(bytes32 digest, bytes calldata signature) internal view override returns (bool) {
        return ThresigVerifier.verifyMlDsa(publicKey(), abi.encodePacked(digest), signature);
    }
}

/// @title Holds data as its code (behind a STOP byte, so calling it does nothing).
contract PublicKeyStore {
    constructor(bytes memory data) {
        bytes memory code = abi.encodePacked(hex"00", data);
        assembly ("memory-safe") {
            return(add(code, 32), mload(code))
        }
    }
}
