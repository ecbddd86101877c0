//! Node configuration: defaults, then `stoop.toml` in the data directory,
//! then `STOOP_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable does not parse or names an unknown key.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A value parses but is out of range.
    #[error("invalid configuration: {key}: {why}")]
    Value {
        /// Key.
        key: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// Keys that may come from `STOOP_*` variables (others, like
/// `STOOP_DATA_DIR`, belong to the command line).
const ENV_KEYS: [&str; 14] = [
    "listen",
    "api",
    "web",
    "web_hosts",
    "web_trust_loopback",
    "mdns",
    "upnp",
    "bootstrap",
    "cache_mib",
    "max_connections",
    "outbound_peers",
    "resync_secs",
    "admission",
    "external_addresses",
];

/// Who may connect to the node (PROTOCOL.md, "Admission").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Admission {
    /// Only holders of the hood secret: TCP runs under the hood's pnet key.
    #[default]
    Required,
    /// Anyone: no pnet. Only for a hood founded before hood secrets existed,
    /// whose nodes have no `hood.secret`; anyone can then read the hood.
    Open,
}

/// Everything a node can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Local API address (loopback unless you know why not).
    pub api: String,
    /// The web page's address: loopback by default, a LAN address such as
    /// `0.0.0.0:4013` to pair phones, `""` or `"off"` for none.
    pub web: String,
    /// Host names besides IP addresses and `localhost` the web page may be
    /// opened by (e.g. `stoop.local`); anything else is refused (DNS rebinding).
    pub web_hosts: Vec<String>,
    /// Whether browsers on this machine use the web page without pairing,
    /// like the CLI (turn off on a machine shared with people you do not
    /// want acting as this node).
    pub web_trust_loopback: bool,
    /// LAN discovery by multicast DNS.
    pub mdns: bool,
    /// Router port mapping by UPnP.
    pub upnp: bool,
    /// Peers to dial at start (multiaddrs with /p2p/ ids).
    pub bootstrap: Vec<String>,
    /// sled page cache, MiB.
    pub cache_mib: u64,
    /// Most established connections.
    pub max_connections: u32,
    /// Most peers this node dials itself; others may still dial it.
    pub outbound_peers: u32,
    /// How often each connected peer is asked for what this node missed.
    pub resync_secs: u64,
    /// Who may connect: `required` (default) or `open`.
    pub admission: Admission,
    /// Addresses that reach this node from other networks, for a port
    /// forward, a static IP or a DNS name (`/dns4/home.example.org/tcp/4011`).
    pub external_addresses: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/0.0.0.0/tcp/4011".into(), "/ip6/::/tcp/4011".into()],
            api: "127.0.0.1:4012".into(),
            web: "127.0.0.1:4013".into(),
            web_hosts: Vec::new(),
            web_trust_loopback: true,
            mdns: true,
            upnp: true,
            bootstrap: Vec::new(),
            cache_mib: 8,
            max_connections: 64,
            outbound_peers: crate::core::dial_budget::DEFAULT_OUTBOUND_PEERS as u32,
            resync_secs: crate::core::sync::RESYNC_INTERVAL_SECS,
            admission: Admission::Required,
            external_addresses: Vec::new(),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw values.
    pub config: Config,
    /// Parsed listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Parsed API address.
    pub api: SocketAddr,
    /// Parsed web page address (None: off).
    pub web: Option<SocketAddr>,
    /// Parsed bootstrap addresses.
    pub bootstrap: Vec<Multiaddr>,
    /// Parsed external addresses.
    pub external: Vec<Multiaddr>,
}

/// Parser errors come with multi-line source snippets; the daemon reports
/// one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Config {
    /// Loads defaults < `file` (if it exists) < `STOOP_*` environment.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if file.exists() {
            // Read it ourselves so a truncated or binary file gets one clear error.
            let text =
                std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid(format!("{}: {e}", file.display())))?;
            fig = fig.merge(Toml::string(&text));
        }
        fig = fig.merge(Env::prefixed("STOOP_").only(&ENV_KEYS));
        fig.extract().map_err(|e| ConfigError::Invalid(format!("{}: {}", file.display(), one_line(&e.to_string()))))
    }

    /// Parses and checks every value.
    pub fn check(self) -> Result<Settings, ConfigError> {
        let addr = |key: &'static str, s: &str| {
            s.parse::<Multiaddr>().map_err(|e| ConfigError::Value { key, why: format!("{s:?}: {e}") })
        };
        let listen = self.listen.iter().map(|s| addr("listen", s)).collect::<Result<Vec<_>, _>>()?;
        if listen.is_empty() {
            return Err(ConfigError::Value { key: "listen", why: "at least one address is needed".into() });
        }
        let bootstrap = self.bootstrap.iter().map(|s| addr("bootstrap", s)).collect::<Result<Vec<_>, _>>()?;
        let external =
            self.external_addresses.iter().map(|s| addr("external_addresses", s)).collect::<Result<Vec<_>, _>>()?;
        let api: SocketAddr =
            self.api.parse().map_err(|e| ConfigError::Value { key: "api", why: format!("{:?}: {e}", self.api) })?;
        let web = match self.web.trim() {
            "" | "off" => None,
            w => Some(w.parse().map_err(|e| ConfigError::Value { key: "web", why: format!("{w:?}: {e}") })?),
        };
        if !(1..=1024).contains(&self.cache_mib) {
            return Err(ConfigError::Value { key: "cache_mib", why: "must be 1..=1024".into() });
        }
        if !(1..=86_400).contains(&self.resync_secs) {
            return Err(ConfigError::Value { key: "resync_secs", why: "must be 1..=86400".into() });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Value { key: "max_connections", why: "must be at least 1".into() });
        }
        if self.outbound_peers == 0 || self.outbound_peers > self.max_connections {
            return Err(ConfigError::Value { key: "outbound_peers", why: "must be 1..=max_connections".into() });
        }
        Ok(Settings { config: self, listen, api, web, bootstrap, external })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_errors() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("stoop.toml");
        assert_eq!(Config::load(&file)?, Config::default());
        std::fs::write(&file, "mdns = false\napi = \"127.0.0.1:0\"\n")?;
        let c = Config::load(&file)?;
        assert!(!c.mdns);
        assert_eq!(c.check()?.api.port(), 0);
        std::fs::write(&file, "admission = \"open\"\n")?;
        assert_eq!(Config::load(&file)?.admission, Admission::Open);
        std::fs::write(&file, "admission = \"maybe\"\n")?;
        assert!(Config::load(&file).is_err(), "unknown admission mode");
        std::fs::write(&file, "external_addresses = [\"/dns4/home.example.org/tcp/4011\"]\n")?;
        assert_eq!(Config::load(&file)?.check()?.external[0].to_string(), "/dns4/home.example.org/tcp/4011");
        std::fs::write(&file, "external_addresses = [\"home.example.org:4011\"]\n")?;
        assert!(matches!(Config::load(&file)?.check(), Err(ConfigError::Value { key: "external_addresses", .. })));
        std::fs::write(&file, "web = \"off\"\n")?;
        assert_eq!(Config::load(&file)?.check()?.web, None);
        std::fs::write(&file, "web = \"\"\n")?;
        assert_eq!(Config::load(&file)?.check()?.web, None);
        std::fs::write(&file, "web = \"0.0.0.0:4013\"\n")?;
        assert_eq!(Config::load(&file)?.check()?.web.map(|w| w.port()), Some(4013));
        std::fs::write(&file, "web = \"my-laptop\"\n")?;
        assert!(matches!(Config::load(&file)?.check(), Err(ConfigError::Value { key: "web", .. })));
        assert_eq!(Config::default().check()?.web.map(|w| w.to_string()), Some("127.0.0.1:4013".into()));
        std::fs::write(&file, "mdsn = false\n")?;
        let err = Config::load(&file).err().ok_or("unknown key accepted")?;
        assert!(err.to_string().contains("mdsn"), "{err}");
        std::fs::write(&file, "listen = [\"/ip4/127.0.0.1/tcp/")?;
        assert!(Config::load(&file).is_err(), "truncated file");
        std::fs::write(&file, "listen = [\"nonsense\"]\n")?;
        assert!(matches!(Config::load(&file)?.check(), Err(ConfigError::Value { key: "listen", .. })));
        Ok(())
    }
}
