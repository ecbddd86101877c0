//! The parts of a node's data directory the CLI reads: where it is by
//! default, the API address and token files, and author key files.
//!
//! This mirrors `node/src/daemon/datadir.rs` and `default_data_dir` in
//! `node/src/daemon/mod.rs` instead of calling them, so that the CLI does not
//! depend on `stoop-node` (and through it on libp2p, sled and axum). Keep the
//! file names, the default location and the key file checks in step with
//! those.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use stoop_core::keys::AuthorKey;

/// The file in which a running node writes its API's actual address.
pub const API_ADDR_FILE: &str = "api.addr";

/// The file in which a running node writes its API bearer token (0600).
pub const API_TOKEN_FILE: &str = "api.token";

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A key file others can read.
    #[error(
        "{path} has permissions {mode:o}; it holds a secret key, so only its owner may read it (run: chmod 600 {path})"
    )]
    LoosePermissions {
        /// File.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A key file with the wrong content.
    #[error("{path} is not a valid key file: {why}")]
    BadKey {
        /// File.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The data directory `stoopd` uses when given none: `$STATE_DIRECTORY`
/// (systemd's `StateDirectory=`), else the platform's state (or local data)
/// directory for "stoop", else `./stoop-data`.
pub fn default_data_dir() -> PathBuf {
    default_data_dir_from(std::env::var_os("STATE_DIRECTORY"))
}

/// [`default_data_dir`] with the environment passed in, so tests need not
/// change the process environment.
fn default_data_dir_from(state_directory: Option<OsString>) -> PathBuf {
    if let Some(dir) = state_directory.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "stoop")
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from("stoop-data"))
}

/// Reads a secret file, refusing it if group or others can read it: a key
/// that others could have copied should not be used to sign.
fn read_private(path: &Path) -> Result<Vec<u8>, DataDirError> {
    let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DataDirError::LoosePermissions { path: path.to_path_buf(), mode });
        }
    }
    std::fs::read(path).map_err(io)
}

/// Reads an author key file (64 hex digits), refusing loose permissions.
pub fn read_author_key(path: &Path) -> Result<AuthorKey, DataDirError> {
    let text = read_private(path)?;
    let text = String::from_utf8_lossy(&text);
    let bytes = hex::decode(text.trim())
        .map_err(|_| DataDirError::BadKey { path: path.to_path_buf(), why: "expected 64 hex digits".into() })?;
    AuthorKey::from_secret_slice(&bytes)
        .map_err(|_| DataDirError::BadKey { path: path.to_path_buf(), why: "expected 32 bytes".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` to `path` with `mode` (on unix).
    fn write_with_mode(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
        std::fs::write(path, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        Ok(())
    }

    #[test]
    fn state_directory_wins_unless_empty() {
        assert_eq!(default_data_dir_from(Some("/var/lib/stoop".into())), PathBuf::from("/var/lib/stoop"));
        // An empty STATE_DIRECTORY is as good as unset: the platform default.
        let fallback = default_data_dir_from(None);
        assert_eq!(default_data_dir_from(Some(OsString::new())), fallback);
        assert_ne!(fallback, PathBuf::from(""));
    }

    #[test]
    fn reads_a_key_file_as_the_node_writes_it() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let key = AuthorKey::generate()?;
        let path = tmp.path().join("author.key");
        // The node writes the hex secret without a newline; people editing
        // the file by hand add one.
        write_with_mode(&path, &hex::encode(key.secret_bytes()), 0o600)?;
        assert_eq!(read_author_key(&path)?.public(), key.public());
        write_with_mode(&path, &format!("{}\n", hex::encode(key.secret_bytes())), 0o600)?;
        assert_eq!(read_author_key(&path)?.public(), key.public());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let key = AuthorKey::generate()?;
        let path = tmp.path().join("author.key");
        for mode in [0o644, 0o640, 0o604] {
            write_with_mode(&path, &hex::encode(key.secret_bytes()), mode)?;
            let err = read_author_key(&path).err().ok_or("loose key accepted")?;
            assert!(matches!(err, DataDirError::LoosePermissions { mode: m, .. } if m == mode), "{err}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        // Positive control: the same file at 0400 is accepted.
        write_with_mode(&path, &hex::encode(key.secret_bytes()), 0o400)?;
        assert_eq!(read_author_key(&path)?.public(), key.public());
        Ok(())
    }

    #[test]
    fn bad_key_files_are_named() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("author.key");
        write_with_mode(&path, "not hex", 0o600)?;
        let err = read_author_key(&path).err().ok_or("bad hex accepted")?;
        assert!(matches!(&err, DataDirError::BadKey { why, .. } if why.contains("64 hex digits")), "{err}");
        write_with_mode(&path, "abcd", 0o600)?;
        let err = read_author_key(&path).err().ok_or("short key accepted")?;
        assert!(matches!(&err, DataDirError::BadKey { why, .. } if why.contains("32 bytes")), "{err}");
        let missing = tmp.path().join("missing.key");
        let err = read_author_key(&missing).err().ok_or("missing file accepted")?;
        assert!(matches!(err, DataDirError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing.key"), "{err}");
        Ok(())
    }
}
