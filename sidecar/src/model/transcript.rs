//! The one encoder for byte strings that are signed, sealed or hashed: a domain tag, then each
//! part length-prefixed (u32 big-endian), so no two different part lists encode the same.

/// `thresig-record-v1`, then each part length-prefixed: associated data, seeds and ids.
pub fn binding(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = b"thresig-record-v1".to_vec();
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
