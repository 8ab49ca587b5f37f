//! Which FIPS 204/205 interface a post-quantum verification uses.

use crate::error::MalformedInput;

/// The FIPS 204/205 verification interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface<'a> {
    /// The external, pure interface (ML-DSA.Verify, slh_verify) with a context string of at
    /// most 255 bytes. The precompiles use this with an empty context.
    External {
        /// The context string.
        context: &'a [u8],
    },
    /// The internal interface (ML-DSA.Verify_internal, slh_verify_internal): the message is
    /// taken as already formatted, as the NIST ACVP vectors need.
    Internal,
}

impl Interface<'_> {
    /// The precompiles' interface: external, pure, empty context.
    pub const PURE_EMPTY_CONTEXT: Interface<'static> = Interface::External { context: &[] };

    pub(crate) fn check_context(&self) -> Result<(), MalformedInput> {
        match self {
            Interface::External { context } if context.len() > 255 => {
                Err(MalformedInput::ContextTooLong(context.len()))
            }
            _ => Ok(()),
        }
    }
}
