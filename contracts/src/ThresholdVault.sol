// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title A vault that pays out ETH against an EIP-712 `Withdraw` message signed by its key.
/// @notice Each signed message carries a nonce (usable once, shared with any other message the
/// vault accepts) and a deadline (the last block timestamp at which it is valid). How the
/// signature is checked, and by which key, is the concrete vault's.
abstract contract ThresholdVault {
    /// @notice EIP-712 type hash of the domain: name, version, chain id, this vault's address.
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice EIP-712 type hash of a withdrawal.
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(address recipient,uint256 amount,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 domain version.
    string public constant VERSION = "1";

    /// @dev keccak256 of the EIP-712 domain name, which tells the vault kinds apart.
    bytes32 private immutable _nameHash;

    /// @notice Whether a nonce has been used.
    mapping(uint256 nonce => bool) public nonceUsed;

    /// @notice ETH arrived.
    event Deposited(address indexed from, uint256 amount);
    /// @notice A signed withdrawal paid `amount` to `recipient`.
    event Withdrawn(address indexed recipient, uint256 amount, uint256 indexed nonce);

    /// @notice The nonce was used by an earlier message.
    error NonceAlreadyUsed(uint256 nonce);
    /// @notice The message's deadline is before the current block's timestamp.
    error SignatureExpired(uint256 deadline, uint256 timestamp);
    /// @notice The signature does not verify against the vault's key for this message.
    error InvalidSignature();
    /// @notice The vault holds less than the amount asked for.
    error InsufficientBalance(uint256 balance, uint256 amount);
    /// @notice The recipient did not accept the payment.
    error TransferFailed(address recipient, uint256 amount);

    constructor(string memory name) {
        _nameHash = keccak256(bytes(name));
    }

    /// @notice Accepts deposits.
    receive() external payable {
        emit Deposited(msg.sender, msg.value);
    }

    /// @notice The EIP-712 domain separator. Computed on each call so that a chain split, which
    /// changes the chain id, does not leave both sides accepting the same messages.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, _nameHash, keccak256(bytes(VERSION)), block.chainid, address(this)));
    }

    /// @notice The EIP-712 digest a withdrawal's signer signs.
    function withdrawDigest(address recipient, uint256 amount, uint256 nonce, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _typedDigest(keccak256(abi.encode(WITHDRAW_TYPEHASH, recipient, amount, nonce, deadline)));
    }

    /// @notice Pays `amount` wei to `recipient` if `signature` by the vault's key covers exactly
    /// these fields, the nonce is unused and the deadline has not passed.
    function withdraw(
        address payable recipient,
        uint256 amount,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _authorize(withdrawDigest(recipient, amount, nonce, deadline), nonce, deadline, signature);
        if (amount > address(this).balance) revert InsufficientBalance(address(this).balance, amount);
        emit Withdrawn(recipient, amount, nonce);
        // The nonce is spent before the call, so a re-entering recipient cannot replay it.
        (bool paid,) = recipient.call{value: amount}("");
        if (!paid) revert TransferFailed(recipient, amount);
    }

    /// @dev Checks the deadline, the nonce and the signature over `digest`, then spends the nonce.
    function _authorize(bytes32 digest, uint256 nonce, uint256 deadline, bytes calldata signature) internal {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        if (nonceUsed[nonce]) revert NonceAlreadyUsed(nonce);
        if (!_verify(digest, signature)) revert InvalidSignature();
        nonceUsed[nonce] = true;
    }

    /// @dev The EIP-712 digest of a message whose struct hash is `structHash`.
    function _typedDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @dev Whether `signature` by the vault's current key verifies over `digest`.
    function _verify(bytes32 digest, bytes calldata signature) internal view virtual returns (bool);
}
