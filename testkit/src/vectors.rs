//! Where the public vectors live (`../shared/testvectors`, see its SOURCES.md) and how to read
//! their JSON.

use std::path::PathBuf;

/// `../shared/testvectors` relative to the project root, or `$THRESIG_TESTVECTORS`.
/// Missing vectors fail the test: a vector suite never passes by skipping.
pub fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("THRESIG_TESTVECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testvectors")
        });
    assert!(
        dir.join("SOURCES.md").is_file(),
        "public test vectors not found at {}; set THRESIG_TESTVECTORS",
        dir.display()
    );
    dir
}

/// Reads a vector file as text.
pub fn read_text(relative: &str) -> String {
    let path = vectors_dir().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Reads a vector file as JSON.
pub fn read_json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&read_text(relative))
        .unwrap_or_else(|error| panic!("parsing {relative}: {error}"))
}

/// Decodes hex (either case, optional 0x).
pub fn unhex(text: &str) -> Vec<u8> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(text).unwrap_or_else(|error| panic!("bad hex {text:?}: {error}"))
}

/// A JSON string field.
pub fn str_field<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// A JSON hex string field as bytes.
pub fn hex_field(value: &serde_json::Value, key: &str) -> Vec<u8> {
    unhex(str_field(value, key))
}

/// A JSON hex string field as 32 bytes.
pub fn hex32(value: &serde_json::Value, key: &str) -> [u8; 32] {
    hex_field(value, key)
        .try_into()
        .unwrap_or_else(|_| panic!("{key} is not 32 bytes in {value}"))
}
