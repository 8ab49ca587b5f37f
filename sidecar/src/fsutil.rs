//! Small file helpers: files are replaced atomically and durably, secrets are owner-only from
//! the moment they exist, and data directories are owner-only.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` readable by the owner only, replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Writes a public file (certificates, manifests) atomically.
pub fn write_public(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes, 0o644)
}

/// Creates `path` and any missing parents owner-only (0700), as every data directory is: node
/// stores, keys and audit logs are nobody else's to list.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Writes through a temporary file beside `path`, then renames it over `path` and syncs the
/// directory, so a crash leaves the old file or the new one, never a part. The temporary file
/// has a random name and is created new with its final mode: nothing planted at a predictable
/// name (a symlink, a file others can read) is ever followed or reused.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let temporary = directory.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    // The rename is durable only once the directory entry is.
    File::open(&directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("thresig-fs-{label}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_private_file_is_owner_only_replaced_whole_and_leaves_no_temporary_file() {
        let dir = temp_dir("private");
        let path = dir.join("root.key");
        write_private(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        // Replacing a file others could read gives an owner-only file.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(mode(&path), 0o600);
        write_public(&dir.join("cluster.json"), b"{}").unwrap();
        assert_eq!(mode(&dir.join("cluster.json")), 0o644);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_symlink_planted_at_the_old_temporary_name_is_not_followed() {
        let dir = temp_dir("planted");
        let path = dir.join("root.key");
        let elsewhere = dir.join("attacker-reads-this");
        // The name earlier versions wrote through, with create and truncate.
        std::os::unix::fs::symlink(&elsewhere, path.with_extension("tmp")).unwrap();
        write_private(&path, b"secret").unwrap();
        assert!(
            !elsewhere.exists(),
            "the secret was written through the link"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn data_directories_are_created_owner_only() {
        let dir = temp_dir("dirs");
        let nested = dir.join("cluster").join("node-1");
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.join("cluster")), 0o700);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
