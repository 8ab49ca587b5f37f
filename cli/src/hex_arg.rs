//! Hex arguments: with or without `0x`, an even number of digits.

/// Decodes `text` (hex, optional `0x`), naming `field` in the error.
pub fn decode(field: &str, text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(digits).map_err(|error| match error {
        hex::FromHexError::OddLength => {
            format!("{field}: odd number of hex digits ({})", digits.len())
        }
        hex::FromHexError::InvalidHexCharacter { c, index } => {
            format!("{field}: {c:?} at position {index} is not a hex digit")
        }
        other => format!("{field}: {other}"),
    })
}

/// Encodes `bytes` as 0x-prefixed lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
