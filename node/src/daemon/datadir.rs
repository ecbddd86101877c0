//! The data directory: where a node keeps its keys, store, config and the
//! files the CLI reads to find it.
//!
//! ```text
//! DATA_DIR/
//!   stoop.toml     config (optional)
//!   node.key       libp2p node key (0600)
//!   author.key     author signing key (0600)
//!   hood.secret    the hood's network secret, hex (0600; see PROTOCOL.md
//!                  "Admission"): from `init`, or from the ticket at `join`
//!   store/         sled store
//!   store.corrupt-<unix time>/  a store that failed to open as corrupt,
//!                  moved aside (kept for inspection; safe to delete)
//!   charter        the hood's signed charter, a copy of the one in the
//!                  store, to rebuild an empty store for the same hood
//!   api.token      bearer token for the local API (0600, or 0640 in a
//!                  0750 directory: the packaged node; new every start)
//!   api.addr       the API's actual address (written at start)
//!   listen.addrs   the swarm's actual listen addresses (written at start)
//!   outbox         signed messages waiting to be published (a join)
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::{Multiaddr, identity};

use crate::core::admission::HoodSecret;
use crate::core::charter::SignedCharter;
use crate::core::keys::AuthorKey;

/// Quarantined stores kept in the data directory (the newest ones).
pub const KEEP_QUARANTINED: usize = 3;

/// Why the data directory could not be used.
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
    /// Something already exists where init would create it.
    #[error("{0} already holds a node; refusing to overwrite it")]
    AlreadyInitialized(PathBuf),
    /// Nothing was initialized here.
    #[error("{0} holds no node: run `stoopd init` or `stoopd join TICKET` first")]
    NotInitialized(PathBuf),
    /// The directory belongs to another user.
    #[error(
        "{path} belongs to uid {owner} but stoopd runs as uid {me}; run stoopd as its owner (or chown -R the directory)"
    )]
    NotOwner {
        /// Directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },
    /// The charter copy does not parse.
    #[error("{path} is not a valid charter: {why}")]
    BadCharter {
        /// File.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.to_path_buf(), source }
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), DataDirError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), DataDirError> {
    Ok(())
}

/// Writes a file only its owner can read, atomically (temp file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    write_with_mode(path, bytes, 0o600)
}

/// Writes a file with `mode`, atomically (temp file + rename).
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DataDirError> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    set_mode(&tmp, mode)?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Reads a secret file, refusing it if group or others can read it.
fn read_private(path: &Path) -> Result<Vec<u8>, DataDirError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DataDirError::LoosePermissions { path: path.to_path_buf(), mode });
        }
    }
    fs::read(path).map_err(io(path))
}

impl DataDir {
    /// A data directory at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `stoop.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("stoop.toml")
    }

    /// The sled store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The API token file.
    pub fn token_file(&self) -> PathBuf {
        self.root.join("api.token")
    }

    /// The API address file.
    pub fn api_addr_file(&self) -> PathBuf {
        self.root.join("api.addr")
    }

    /// The web page's address file (`web.addr`), written when it listens.
    pub fn web_addr_file(&self) -> PathBuf {
        self.root.join("web.addr")
    }

    /// The paired web devices (`web-devices.json`: ids, names, secret hashes).
    pub fn web_devices_file(&self) -> PathBuf {
        self.root.join("web-devices.json")
    }

    /// The listen address file.
    pub fn listen_file(&self) -> PathBuf {
        self.root.join("listen.addrs")
    }

    /// The copy of the hood's signed charter.
    pub fn charter_file(&self) -> PathBuf {
        self.root.join("charter")
    }

    fn node_key_file(&self) -> PathBuf {
        self.root.join("node.key")
    }

    fn author_key_file(&self) -> PathBuf {
        self.root.join("author.key")
    }

    /// The hood secret file.
    pub fn hood_secret_file(&self) -> PathBuf {
        self.root.join("hood.secret")
    }

    fn outbox_file(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// Whether a node was initialized here.
    pub fn is_initialized(&self) -> bool {
        self.author_key_file().exists()
    }

    /// Creates the directory (0700) for a new node, refusing an existing one.
    pub fn create(&self) -> Result<(), DataDirError> {
        if self.is_initialized() {
            return Err(DataDirError::AlreadyInitialized(self.root.clone()));
        }
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        set_mode(&self.root, 0o700)
    }

    /// Writes new node and author keys.
    pub fn write_keys(&self, node: &identity::Keypair, author: &AuthorKey) -> Result<(), DataDirError> {
        let node_bytes = node
            .to_protobuf_encoding()
            .map_err(|e| DataDirError::BadKey { path: self.node_key_file(), why: e.to_string() })?;
        write_private(&self.node_key_file(), &node_bytes)?;
        write_private(&self.author_key_file(), hex::encode(author.secret_bytes()).as_bytes())
    }

    /// Loads the node key.
    pub fn node_key(&self) -> Result<identity::Keypair, DataDirError> {
        let path = self.node_key_file();
        if !path.exists() {
            return Err(DataDirError::NotInitialized(self.root.clone()));
        }
        let bytes = read_private(&path)?;
        identity::Keypair::from_protobuf_encoding(&bytes).map_err(|e| DataDirError::BadKey { path, why: e.to_string() })
    }

    /// Loads the author key.
    pub fn author_key(&self) -> Result<AuthorKey, DataDirError> {
        let path = self.author_key_file();
        if !path.exists() {
            return Err(DataDirError::NotInitialized(self.root.clone()));
        }
        read_author_key(&path)
    }

    /// Writes the hood secret (0600).
    pub fn write_hood_secret(&self, secret: &HoodSecret) -> Result<(), DataDirError> {
        write_private(&self.hood_secret_file(), secret.to_hex().as_bytes())
    }

    /// The hood secret, if this data directory has one (a node set up
    /// before admission existed has none).
    pub fn hood_secret(&self) -> Result<Option<HoodSecret>, DataDirError> {
        let path = self.hood_secret_file();
        if !path.exists() {
            return Ok(None);
        }
        let text = read_private(&path)?;
        HoodSecret::from_hex(&String::from_utf8_lossy(&text))
            .map(Some)
            .map_err(|e| DataDirError::BadKey { path, why: e.to_string() })
    }

    /// Refuses a directory owned by another user: its files (keys, store)
    /// would be written with the wrong owner, or not be readable at all.
    #[cfg(unix)]
    pub fn check_owner(&self) -> Result<(), DataDirError> {
        use std::os::unix::fs::MetadataExt;
        let owner = match fs::metadata(&self.root) {
            Ok(m) => m.uid(),
            // A missing directory is reported by whoever needs it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&self.root)(e)),
        };
        let me = rustix::process::geteuid().as_raw();
        if owner != me {
            return Err(DataDirError::NotOwner { path: self.root.clone(), owner, me });
        }
        Ok(())
    }

    /// No ownership to check off Unix.
    #[cfg(not(unix))]
    pub fn check_owner(&self) -> Result<(), DataDirError> {
        Ok(())
    }

    /// Keeps a copy of the hood's signed charter next to the store.
    pub fn write_charter(&self, charter: &SignedCharter) -> Result<(), DataDirError> {
        write_public(&self.charter_file(), &charter.to_bytes())
    }

    /// The charter copy, if there is one.
    pub fn charter(&self) -> Result<Option<SignedCharter>, DataDirError> {
        let path = self.charter_file();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        SignedCharter::from_bytes(&bytes).map(Some).map_err(|e| DataDirError::BadCharter { path, why: e.to_string() })
    }

    /// Moves the store directory aside to `store.corrupt-<now>` and returns
    /// where it went.
    pub fn quarantine_store(&self, now: u64) -> Result<PathBuf, DataDirError> {
        let from = self.store_dir();
        let mut to = self.root.join(format!("store.corrupt-{now}"));
        let mut n = 1;
        while to.exists() {
            to = self.root.join(format!("store.corrupt-{now}.{n}"));
            n += 1;
        }
        fs::rename(&from, &to).map_err(io(&from))?;
        self.prune_quarantined();
        Ok(to)
    }

    /// Keeps the newest [`KEEP_QUARANTINED`] quarantined stores: a disk that
    /// corrupts the store at every start must not fill up with copies.
    /// Best effort: a copy that cannot be removed is only logged.
    fn prune_quarantined(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else { return };
        let mut found: Vec<((u64, u64), PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let rest = name.strip_prefix("store.corrupt-")?;
                let (time, n) = rest.split_once('.').unwrap_or((rest, "0"));
                Some(((time.parse().ok()?, n.parse().ok()?), e.path()))
            })
            .collect();
        found.sort();
        let excess = found.len().saturating_sub(KEEP_QUARANTINED);
        for (_, path) in found.into_iter().take(excess) {
            if let Err(e) = fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove an old quarantined store");
            }
        }
    }

    /// Writes a fresh API token (0600, or 0640 in a group directory: see
    /// `system::token_mode`) and returns it.
    pub fn new_token(&self) -> Result<String, DataDirError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| DataDirError::Io { path: self.token_file(), source: std::io::Error::other(e.to_string()) })?;
        let token = hex::encode(bytes);
        write_with_mode(&self.token_file(), token.as_bytes(), super::system::token_mode(&self.root))?;
        Ok(token)
    }

    /// Records where the API listens.
    pub fn write_api_addr(&self, addr: &std::net::SocketAddr) -> Result<(), DataDirError> {
        write_public(&self.api_addr_file(), format!("{addr}\n").as_bytes())
    }

    /// Records where the web page listens.
    pub fn write_web_addr(&self, addr: &std::net::SocketAddr) -> Result<(), DataDirError> {
        write_public(&self.web_addr_file(), format!("{addr}\n").as_bytes())
    }

    /// The paired web devices file's bytes, if there is one (0600: the
    /// hashes are no sessions, but the names are the household's).
    pub fn read_web_devices(&self) -> Result<Option<Vec<u8>>, DataDirError> {
        let path = self.web_devices_file();
        if !path.exists() {
            return Ok(None);
        }
        read_private(&path).map(Some)
    }

    /// Replaces the paired web devices file (0600).
    pub fn write_web_devices(&self, bytes: &[u8]) -> Result<(), DataDirError> {
        write_private(&self.web_devices_file(), bytes)
    }

    /// Records where the swarm listens.
    pub fn write_listen_addrs(&self, addrs: &[Multiaddr]) -> Result<(), DataDirError> {
        let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
        write_public(&self.listen_file(), text.as_bytes())
    }

    /// Signed messages waiting to be published (hex, one per line).
    pub fn outbox(&self) -> Result<Vec<Vec<u8>>, DataDirError> {
        let path = self.outbox_file();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        Ok(text.lines().filter_map(|l| hex::decode(l.trim()).ok()).collect())
    }

    /// Replaces the outbox.
    pub fn set_outbox(&self, frames: &[Vec<u8>]) -> Result<(), DataDirError> {
        let path = self.outbox_file();
        if frames.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
                _ => Ok(()),
            };
        }
        let text: String = frames.iter().map(|f| format!("{}\n", hex::encode(f))).collect();
        write_private(&path, text.as_bytes())
    }
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

/// Writes an author key file (0600).
pub fn write_author_key(path: &Path, key: &AuthorKey) -> Result<(), DataDirError> {
    write_private(path, hex::encode(key.secret_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_quarantined_stores_are_kept() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = DataDir::new(tmp.path().join("node"));
        dir.create()?;
        for (i, now) in [100u64, 100, 300, 200, 400].into_iter().enumerate() {
            fs::create_dir_all(dir.store_dir())?;
            fs::write(dir.store_dir().join("db"), [i as u8])?;
            dir.quarantine_store(now)?;
        }
        let mut left: Vec<String> = fs::read_dir(tmp.path().join("node"))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("store.corrupt-"))
            .collect();
        left.sort();
        assert_eq!(left, ["store.corrupt-200", "store.corrupt-300", "store.corrupt-400"]);
        Ok(())
    }

    #[test]
    fn keys_round_trip_and_loose_permissions_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = DataDir::new(tmp.path().join("node"));
        dir.create()?;
        let node = identity::Keypair::generate_ed25519();
        let author = AuthorKey::generate()?;
        dir.write_keys(&node, &author)?;
        assert_eq!(dir.author_key()?.public(), author.public());
        assert_eq!(dir.node_key()?.public(), node.public());
        assert!(matches!(dir.create(), Err(DataDirError::AlreadyInitialized(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.author_key_file(), fs::Permissions::from_mode(0o644))?;
            let err = dir.author_key().err().ok_or("loose key accepted")?;
            assert!(matches!(err, DataDirError::LoosePermissions { mode: 0o644, .. }), "{err}");
            assert!(err.to_string().contains("chmod 600"));
        }
        Ok(())
    }

    #[test]
    fn hood_secret_round_trips_and_loose_permissions_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = DataDir::new(tmp.path().join("node"));
        dir.create()?;
        assert_eq!(dir.hood_secret()?, None, "a new directory has no secret");
        let secret = HoodSecret::from_bytes([5; 32]);
        dir.write_hood_secret(&secret)?;
        assert_eq!(dir.hood_secret()?, Some(secret));
        set_mode(&dir.hood_secret_file(), 0o644)?;
        assert!(matches!(dir.hood_secret(), Err(DataDirError::LoosePermissions { .. })));
        set_mode(&dir.hood_secret_file(), 0o600)?;
        fs::write(dir.hood_secret_file(), "nope")?;
        assert!(matches!(dir.hood_secret(), Err(DataDirError::BadKey { .. })));
        Ok(())
    }
}
