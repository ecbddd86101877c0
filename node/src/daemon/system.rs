//! The packaged node: what `stoopd init --system` and `stoopd join --system`
//! set up for the Debian package's `stoopd.service`, and the API token mode
//! that lets the household's `stoop` group use the CLI.
//!
//! The package (`deploy/debian/`) creates a static `stoop` user and group and
//! `/var/lib/stoop` (stoop:stoop, 0750); the service runs as that user with
//! its data directory there. Root makes the node, so `--system`:
//! - refuses anyone but root, and a system without the `stoop` user, with one
//!   line saying what to do;
//! - links the data directory's `stoop.toml` to `/etc/stoop/stoop.toml`, so
//!   the node has one configuration file, where an admin looks for it, and
//!   init/join record their flags (and a ticket's bootstrap peers) there;
//! - then hands every file to stoop:stoop and sets the directory to 0750, so
//!   group members reach the token and address files but not the 0600 keys.

use std::fs;
use std::path::{Path, PathBuf};

use super::datadir::DataDir;

/// The packaged node's data directory (the unit's `StateDirectory=stoop`).
pub const DATA_DIR: &str = "/var/lib/stoop";

/// The packaged node's configuration file (a dpkg conffile).
pub const CONFIG_FILE: &str = "/etc/stoop/stoop.toml";

/// The user and group the service runs as; the group is the household's
/// key to the CLI.
pub const SERVICE_USER: &str = "stoop";

/// Where system accounts are listed. The package creates `stoop` with
/// adduser/useradd `--system`, which always writes the local files, so the
/// lookup needs no NSS.
const PASSWD_FILE: &str = "/etc/passwd";

/// The packaged data directory: the group may traverse it (to the token and
/// address files), others may not enter.
const DATA_DIR_MODE: u32 = 0o750;

/// Why `--system` refused.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// Only root can write the service's state directory and hand it over.
    #[error("--system sets up the packaged node in {DATA_DIR} and needs root: run it with sudo")]
    NotRoot,
    /// The package was not installed (or its user was removed).
    #[error(
        "there is no `{SERVICE_USER}` user: install the stoop package (it creates one), or run: sudo adduser --system --group {SERVICE_USER}"
    )]
    NoServiceUser,
    /// `--system` and `--data-dir` name two different places.
    #[error("--system always uses {DATA_DIR}; leave out --data-dir")]
    DataDirGiven,
    /// Not a Unix system: there is no service user to hand files to.
    #[error("--system is for Linux home servers with the stoop package")]
    Unsupported,
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl SystemError {
    /// Stable snake_case reason.
    pub fn code(&self) -> &'static str {
        match self {
            SystemError::NotRoot => "not_root",
            SystemError::NoServiceUser => "no_service_user",
            SystemError::DataDirGiven => "data_dir_given",
            SystemError::Unsupported => "unsupported",
            SystemError::Io { .. } => "io",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SystemError + '_ {
    move |source| SystemError::Io { path: path.to_path_buf(), source }
}

/// The service account's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id (the `stoop` group).
    pub gid: u32,
}

/// Finds `name` in the text of a passwd file (`name:x:uid:gid:...`).
fn find_account(passwd: &str, name: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some(Account { uid: f.next()?.parse().ok()?, gid: f.next()?.parse().ok()? })
    })
}

/// Checks that this process may set up the packaged node: root, and the
/// `stoop` account exists. Returns the account.
pub fn service_account() -> Result<Account, SystemError> {
    #[cfg(unix)]
    {
        if !rustix::process::geteuid().is_root() {
            return Err(SystemError::NotRoot);
        }
        let passwd = fs::read_to_string(PASSWD_FILE).map_err(io(Path::new(PASSWD_FILE)))?;
        find_account(&passwd, SERVICE_USER).ok_or(SystemError::NoServiceUser)
    }
    #[cfg(not(unix))]
    Err(SystemError::Unsupported)
}

/// Before init/join: creates the data directory and links its `stoop.toml`
/// to `config_file`. Leaves an initialized directory alone (init/join refuse
/// it with their own message) and keeps a `stoop.toml` already there.
pub fn prepare(dir: &DataDir, config_file: &Path) -> Result<(), SystemError> {
    if dir.is_initialized() {
        return Ok(());
    }
    fs::create_dir_all(dir.root()).map_err(io(dir.root()))?;
    // Without the package (a hand-made `stoop` user) /etc/stoop is missing,
    // and init would fail writing through the link.
    if let Some(parent) = config_file.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let link = dir.config_file();
    match fs::symlink_metadata(&link) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => symlink(config_file, &link),
        Err(e) => Err(io(&link)(e)),
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<(), SystemError> {
    std::os::unix::fs::symlink(target, link).map_err(io(link))
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> Result<(), SystemError> {
    Err(SystemError::Unsupported)
}

/// After init/join: gives every file under `root` to `account` (symlinks
/// themselves, not their targets: `/etc` stays root's) and sets the
/// directory to 0750.
pub fn hand_over(root: &Path, account: Account) -> Result<(), SystemError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Depth-first without recursion; only real directories are entered,
        // so a symlink cannot lead the walk out of the data directory.
        let mut todo = vec![root.to_path_buf()];
        while let Some(path) = todo.pop() {
            std::os::unix::fs::lchown(&path, Some(account.uid), Some(account.gid)).map_err(io(&path))?;
            let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
            if meta.is_dir() {
                for entry in fs::read_dir(&path).map_err(io(&path))? {
                    todo.push(entry.map_err(io(&path))?.path());
                }
            }
        }
        fs::set_permissions(root, fs::Permissions::from_mode(DATA_DIR_MODE)).map_err(io(root))
    }
    #[cfg(not(unix))]
    {
        let _ = (root, account);
        Err(SystemError::Unsupported)
    }
}

/// The mode of the API token file in the data directory `root`: readable by
/// the group only when the directory lets the group in (the packaged node's
/// 0750 `/var/lib/stoop`, group `stoop`: the household's CLI), else by the
/// owner only. A node in a private 0700 directory keeps a 0600 token.
pub fn token_mode(root: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::metadata(root) {
            Ok(m) if m.permissions().mode() & 0o010 != 0 => 0o640,
            _ => 0o600,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = root;
        0o600
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn mode(path: &Path) -> std::io::Result<u32> {
        Ok(fs::symlink_metadata(path)?.permissions().mode() & 0o777)
    }

    #[test]
    fn finds_the_service_account_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      stoopy:x:998:998::/nonexistent:/usr/sbin/nologin\n\
                      stoop:x:999:997:Stoop node:/var/lib/stoop:/usr/sbin/nologin\n";
        assert_eq!(find_account(passwd, "stoop"), Some(Account { uid: 999, gid: 997 }));
        assert_eq!(find_account(passwd, "sto"), None);
        assert_eq!(find_account("stoop:x:notanumber:1::/:/bin/false\n", "stoop"), None);
        assert_eq!(find_account("", "stoop"), None);
    }

    #[test]
    fn the_packaged_config_parses_and_holds_the_defaults() -> Result<(), Box<dyn std::error::Error>> {
        // The conffile the .deb installs as /etc/stoop/stoop.toml: a key the
        // node no longer knows would stop the service (unknown keys are
        // refused), and its values are documented as the defaults.
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("stoop.toml");
        fs::write(&file, include_str!("../../../deploy/debian/stoop.toml"))?;
        assert_eq!(super::super::config::Config::load(&file)?, super::super::config::Config::default());
        Ok(())
    }

    #[test]
    fn refusals_have_codes_and_say_what_to_do() {
        assert_eq!(SystemError::NotRoot.code(), "not_root");
        assert!(SystemError::NotRoot.to_string().contains("sudo"));
        assert_eq!(SystemError::NoServiceUser.code(), "no_service_user");
        assert!(SystemError::NoServiceUser.to_string().contains("adduser --system"));
        assert!(!SystemError::NoServiceUser.to_string().contains('\n'));
    }

    #[test]
    fn the_token_is_group_readable_only_in_a_group_directory() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        // A private node (what `DataDir::create` makes): owner only.
        let private = DataDir::new(tmp.path().join("private"));
        private.create()?;
        private.new_token()?;
        assert_eq!(mode(&private.token_file())?, 0o600);
        // The packaged node's directory lets the group in: the token follows.
        let packaged = DataDir::new(tmp.path().join("packaged"));
        packaged.create()?;
        fs::set_permissions(packaged.root(), fs::Permissions::from_mode(DATA_DIR_MODE))?;
        packaged.new_token()?;
        assert_eq!(mode(&packaged.token_file())?, 0o640);
        // Rewritten at the next start with the same mode.
        packaged.new_token()?;
        assert_eq!(mode(&packaged.token_file())?, 0o640);
        Ok(())
    }

    #[test]
    fn prepare_links_the_config_and_hand_over_sets_owner_and_modes() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let etc = tmp.path().join("stoop.toml");
        fs::write(&etc, "mdns = false\n")?;
        let dir = DataDir::new(tmp.path().join("lib"));
        prepare(&dir, &etc)?;
        assert_eq!(fs::read_link(dir.config_file())?, etc);
        // A second prepare keeps the link (and a file an admin put there).
        prepare(&dir, &etc)?;
        assert_eq!(fs::read_link(dir.config_file())?, etc);

        dir.create()?;
        assert_eq!(mode(dir.root())?, 0o700);
        fs::create_dir_all(dir.store_dir())?;
        fs::write(dir.store_dir().join("db"), b"x")?;
        // Hand over to ourselves: the test need not run as root, and the
        // walk and the modes are what is checked.
        let me = fs::metadata(tmp.path())?;
        let account = Account { uid: me.uid(), gid: me.gid() };
        hand_over(dir.root(), account)?;
        assert_eq!(mode(dir.root())?, DATA_DIR_MODE);
        for path in [dir.root().to_path_buf(), dir.store_dir(), dir.store_dir().join("db"), dir.config_file()] {
            let m = fs::symlink_metadata(&path)?;
            assert_eq!((m.uid(), m.gid()), (account.uid, account.gid), "{}", path.display());
        }
        // The symlink's target was not touched (it stays where it was, and
        // its mode is its own).
        assert_eq!(fs::read_to_string(dir.config_file())?, "mdns = false\n");
        Ok(())
    }
}
