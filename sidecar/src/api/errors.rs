//! The public API's stable error codes, shared by the JSON-RPC server, its HTTP access layer
//! and the proxy.

/// Stable JSON-RPC error codes.
pub mod codes {
    /// Invalid params (JSON-RPC standard).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal error (JSON-RPC standard).
    pub const INTERNAL: i32 = -32603;
    /// No node knows the wallet.
    pub const UNKNOWN_WALLET: i32 = -32001;
    /// Fewer nodes are reachable than needed; `data.unreachable` lists the others.
    pub const NOT_ENOUGH_NODES: i32 = -32002;
    /// A node aborted the protocol; `data.node` and `data.culprit` say who and whom it blames.
    pub const PROTOCOL_ABORT: i32 = -32003;
    /// Nodes gave inconsistent answers.
    pub const INCONSISTENT: i32 = -32004;
    /// The aggregate signature failed verification and was not returned.
    pub const VERIFICATION_FAILED: i32 = -32005;
    /// The session timed out.
    pub const TIMEOUT: i32 = -32006;
    /// The client's signed request is missing, invalid, expired, replayed or does not cover
    /// what was asked.
    pub const UNAUTHORIZED: i32 = -32007;
    /// The coordinator's role does not allow the method.
    pub const FORBIDDEN: i32 = -32008;
    /// The cluster is not ready for the request yet (CGGMP21 aux info still being made).
    pub const NOT_READY: i32 = -32009;
}
