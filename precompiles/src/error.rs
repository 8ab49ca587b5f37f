//! The one error a verification function returns: input it cannot even interpret.

use thiserror::Error;

/// Input that is not a well-formed verification request for the scheme it names.
///
/// A signature that simply does not verify is not an error: verification functions return
/// `Ok(false)` for it. The precompiles turn every `MalformedInput` into `false` as well (DESIGN.md:
/// a key or signature of a length no parameter set uses returns `false`); the CLI reports it as
/// malformed input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedInput {
    /// A field has a length the scheme does not use.
    #[error("{field} must be {expected} bytes for {scheme}, got {actual}")]
    WrongLength {
        /// The scheme that was asked for.
        scheme: &'static str,
        /// Which field: public key, signature or message.
        field: &'static str,
        /// The lengths the scheme accepts, in words.
        expected: String,
        /// The length that was given.
        actual: usize,
    },
    /// The FIPS 204/205 context string is longer than 255 bytes.
    #[error("the context string is {0} bytes; FIPS 204 and FIPS 205 allow at most 255")]
    ContextTooLong(usize),
    /// A context string or the internal interface was asked of a scheme that has neither.
    #[error("{option} applies only to ML-DSA and SLH-DSA, not to {scheme}")]
    OptionNotApplicable {
        /// The option: `context` or `internal`.
        option: &'static str,
        /// The scheme that was asked for.
        scheme: &'static str,
    },
    /// A context string was given together with the internal interface, whose M' already
    /// carries any context.
    #[error(
        "a context string cannot be combined with the internal interface: M' already holds the context"
    )]
    ContextWithInternal,
    /// The scheme name is not one this crate knows.
    #[error("unknown scheme {0:?}; known schemes: {known}", known = crate::scheme::Scheme::NAMES.join(", "))]
    UnknownScheme(String),
}

/// Shorthand for checking a field's exact length.
pub(crate) fn expect_len(
    scheme: &'static str,
    field: &'static str,
    bytes: &[u8],
    len: usize,
) -> Result<(), MalformedInput> {
    if bytes.len() == len {
        Ok(())
    } else {
        Err(MalformedInput::WrongLength {
            scheme,
            field,
            expected: len.to_string(),
            actual: bytes.len(),
        })
    }
}
