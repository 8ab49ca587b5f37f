//! The Solidity interfaces of the precompiles (DESIGN.md section 1), as alloy `sol!` types.
#![allow(missing_docs)]

alloy_sol_types::sol! {
    /// FROST Schnorr verifier at 0x020000000000000000000000000000000000000C.
    interface IFrostVerifier {
        /// BIP-340 over secp256k1: x-only key, 64-byte signature over the 32-byte message.
        function verify(uint32 threshold, uint32 totalSigners, bytes32 publicKey, bytes32 messageHash, bytes signature) external view returns (bool);
        /// FROST(Ed25519, SHA-512): an RFC 8032 signature over any message.
        function verifyEd25519(uint32 threshold, uint32 totalSigners, bytes32 publicKey, bytes message, bytes signature) external view returns (bool);
    }

    /// Threshold ECDSA (CGGMP21) verifier at 0x020000000000000000000000000000000000000D.
    interface IThresholdEcdsaVerifier {
        /// secp256k1 ECDSA, low s, r‖s‖v; the recovered key must equal `publicKey`.
        function verify(uint32 threshold, uint32 totalSigners, bytes publicKey, bytes32 messageHash, bytes signature) external view returns (bool);
    }

    /// ML-DSA (FIPS 204) verifier at 0x0200000000000000000000000000000000000006.
    interface IMlDsaVerifier {
        /// ML-DSA-44/65/87, chosen by key length; pure interface, empty context.
        function verify(bytes publicKey, bytes message, bytes signature) external view returns (bool);
    }

    /// SLH-DSA (FIPS 205) verifier at 0x0200000000000000000000000000000000000007.
    interface ISlhDsaVerifier {
        /// The SHA2 parameter sets, chosen by key and signature length.
        function verify(bytes publicKey, bytes message, bytes signature) external view returns (bool);
        /// The SHAKE parameter sets, chosen by key and signature length.
        function verifyShake(bytes publicKey, bytes message, bytes signature) external view returns (bool);
    }
}
