//! The contracts' ABI as alloy `sol!` types, mirroring `contracts/src/*.sol` (a test checks every
//! function, event and error against the compiled ABI). The precompile interfaces themselves are
//! `thresig_precompiles::abi`.
#![allow(missing_docs)]

alloy_sol_types::sol! {
    /// `contracts/src/BridgeVault.sol`: ETH released on EIP-712 messages signed by a FROST
    /// BIP-340 group key, which rotates only with the current key's signature.
    #[derive(Debug, PartialEq, Eq)]
    contract BridgeVault {
        event Deposited(address indexed from, uint256 amount);
        event Withdrawn(address indexed recipient, uint256 amount, uint256 indexed nonce);
        event GroupKeyRotated(bytes32 indexed previousKey, bytes32 indexed newKey, uint32 threshold, uint32 totalSigners);

        error NonceAlreadyUsed(uint256 nonce);
        error SignatureExpired(uint256 deadline, uint256 timestamp);
        error InvalidSignature();
        error InsufficientBalance(uint256 balance, uint256 amount);
        error TransferFailed(address recipient, uint256 amount);
        error InvalidSignerSet(uint32 threshold, uint32 totalSigners);
        error NewKeyNotProven();
        error PrecompileCallFailed(address precompile);
        error MalformedPrecompileResult(address precompile, bytes result);

        constructor(bytes32 key, uint32 keyThreshold, uint32 keyTotalSigners) payable;

        function DOMAIN_TYPEHASH() external view returns (bytes32);
        function WITHDRAW_TYPEHASH() external view returns (bytes32);
        function ROTATE_TYPEHASH() external view returns (bytes32);
        function VERSION() external view returns (string);
        function MAX_TOTAL_SIGNERS() external view returns (uint32);
        function groupKey() external view returns (bytes32);
        function threshold() external view returns (uint32);
        function totalSigners() external view returns (uint32);
        function nonceUsed(uint256 nonce) external view returns (bool);
        function domainSeparator() external view returns (bytes32);
        function withdrawDigest(address recipient, uint256 amount, uint256 nonce, uint256 deadline) external view returns (bytes32);
        function rotateDigest(bytes32 newGroupKey, uint32 newThreshold, uint32 newTotalSigners, uint256 nonce, uint256 deadline) external view returns (bytes32);
        function withdraw(address recipient, uint256 amount, uint256 nonce, uint256 deadline, bytes signature) external;
        function rotateGroupKey(bytes32 newGroupKey, uint32 newThreshold, uint32 newTotalSigners, uint256 nonce, uint256 deadline, bytes signature, bytes newKeySignature) external;
    }

    /// `contracts/src/PqBridgeVault.sol`: the same withdrawals, guarded by an ML-DSA-65 key.
    #[derive(Debug, PartialEq, Eq)]
    contract PqBridgeVault {
        event Deposited(address indexed from, uint256 amount);
        event Withdrawn(address indexed recipient, uint256 amount, uint256 indexed nonce);

        error NonceAlreadyUsed(uint256 nonce);
        error SignatureExpired(uint256 deadline, uint256 timestamp);
        error InvalidSignature();
        error InsufficientBalance(uint256 balance, uint256 amount);
        error TransferFailed(address recipient, uint256 amount);
        error InvalidPublicKeyLength(uint256 length);
        error PrecompileCallFailed(address precompile);
        error MalformedPrecompileResult(address precompile, bytes result);

        constructor(bytes key) payable;

        function DOMAIN_TYPEHASH() external view returns (bytes32);
        function WITHDRAW_TYPEHASH() external view returns (bytes32);
        function VERSION() external view returns (string);
        function PUBLIC_KEY_LENGTH() external view returns (uint256);
        function publicKeyStore() external view returns (address);
        function publicKey() external view returns (bytes key);
        function nonceUsed(uint256 nonce) external view returns (bool);
        function domainSeparator() external view returns (bytes32);
        function withdrawDigest(address recipient, uint256 amount, uint256 nonce, uint256 deadline) external view returns (bytes32);
        function withdraw(address recipient, uint256 amount, uint256 nonce, uint256 deadline, bytes signature) external;
    }

    /// `contracts/src/VerifierProbe.sol`: each `ThresigVerifier` library function, callable.
    #[derive(Debug, PartialEq, Eq)]
    contract VerifierProbe {
        error PrecompileCallFailed(address precompile);
        error MalformedPrecompileResult(address precompile, bytes result);

        function verifyBip340(uint32 t, uint32 n, bytes32 key, bytes32 messageHash, bytes signature) external view returns (bool);
        function verifyEd25519(uint32 t, uint32 n, bytes32 key, bytes message, bytes signature) external view returns (bool);
        function verifyEcdsa(uint32 t, uint32 n, bytes key, bytes32 messageHash, bytes signature) external view returns (bool);
        function verifyMlDsa(bytes key, bytes message, bytes signature) external view returns (bool);
        function verifySlhDsa(bytes key, bytes message, bytes signature) external view returns (bool);
        function verifySlhDsaShake(bytes key, bytes message, bytes signature) external view returns (bool);
        function verifyRingtail(uint32 t, uint32 n, bytes32 messageHash, bytes signature) external view returns (bool);
    }
}
