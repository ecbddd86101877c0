//! The `stoopd` daemon: `init`, `join` and `run`, as library functions the
//! binary and the tests call the same way.
//!
//! It wires the pieces together: opens the store, starts the service
//! (the replica thread), the network loop and the API, and carries out the
//! outbox.
//!
//! # Layout
//! - [`config`]: `stoop.toml` + `STOOP_*` + flags.
//! - [`datadir`]: keys, token and address files, with permission checks.
//! - [`system`]: `init --system` / `join --system` for the packaged service.
//! - [`clock`], [`ticket`]: re-exported from the service, where they live.

pub mod config;
pub mod datadir;
pub mod system;

pub use crate::service::{clock, ticket};

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::identity;
use tokio::sync::watch;

use self::config::{Admission, Config, ConfigError, Settings};
use self::datadir::{DataDir, DataDirError};
use crate::api::{self, ApiState};
use crate::core::admission::{HoodSecret, network_key};
use crate::core::area::Cell;
use crate::core::charter::{Charter, CharterError, SignedCharter};
use crate::core::keys::AuthorKey;
use crate::core::message::{Join, Payload};
use crate::core::verdict::{IgnoreReason, Verdict};
use crate::net::behaviour::{BehaviourConfig, hood_topic};
use crate::net::swarm::{self, SwarmError, is_loopback};
use crate::net::{EventLoop, NetClient};
use crate::replica::Replica;
use crate::service::clock::{CLOCK_OFFSET_ENV, Clock, ClockError, unix_now};
use crate::service::ticket::{Issuer, Ticket, TicketError, os_random};
use crate::service::{Node, ServiceError};
use crate::store::{LoadReport, Store, StoreConfig, StoreError};
use crate::web;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad clock offset.
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// The replica thread could not start or stopped early.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The swarm could not be built.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    /// Data directory problem.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// Store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad charter input.
    #[error(transparent)]
    Charter(#[from] CharterError),
    /// Bad ticket.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// Bad `--area`.
    #[error("--area: {0:?} is not a geohash cell (e.g. dr5ru)")]
    Area(String),
    /// Network setup failed.
    #[error("network: {0}")]
    Network(String),
    /// The store is corrupt and there is no charter copy to rebuild it.
    #[error("{source}; no charter copy at {charter} to rebuild it from: move the store aside and join the hood again")]
    Unrecoverable {
        /// What the store reported.
        source: StoreError,
        /// Where the charter copy should be.
        charter: PathBuf,
    },
    /// No hood secret and admission not explicitly open.
    #[error(
        "{path} is missing: this node predates admission control; get a new ticket and `stoopd join` it in a fresh data directory, or set admission = \"open\" in stoop.toml to run without it (anyone who can reach the node can then read the hood)"
    )]
    NoHoodSecret {
        /// Where the secret should be.
        path: PathBuf,
    },
    /// The API address could not be bound.
    #[error("cannot listen for the API on {addr}: {source}")]
    ApiBind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<Vec<String>>,
    /// `--api`.
    pub api: Option<String>,
}

impl Overrides {
    fn apply(&self, mut c: Config) -> Config {
        if let Some(l) = &self.listen {
            c.listen = l.clone();
        }
        if let Some(a) = &self.api {
            c.api = a.clone();
        }
        c
    }
}

/// The default data directory: `$STATE_DIRECTORY` (systemd), else the XDG
/// state directory (`~/.local/state/stoop`).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "stoop")
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from("stoop-data"))
}

/// First line of a written `stoop.toml`.
const CONFIG_HEADER: &str = "# Stoop node configuration. Every key can also be set with a STOOP_<KEY> variable.\n";

fn write_config(dir: &DataDir, config: &Config) -> Result<(), DaemonError> {
    let body =
        toml::to_string(config).map_err(|e| ConfigError::Invalid(format!("cannot write the configuration: {e}")))?;
    let text = format!("{CONFIG_HEADER}{body}");
    std::fs::write(dir.config_file(), text).map_err(|source| DataDirError::Io { path: dir.config_file(), source })?;
    Ok(())
}

/// What `init` created.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// Hood id.
    pub hood: String,
    /// The founder's author key (hex).
    pub author: String,
}

/// Charter rules `init` lets a founder choose (the rest are defaults).
#[derive(Debug, Clone, Copy)]
pub struct HoodRules {
    /// Alerts per member per hour.
    pub per_hour: u32,
    /// Alerts per member per day.
    pub per_day: u32,
}

impl Default for HoodRules {
    fn default() -> Self {
        Self { per_hour: 6, per_day: 20 }
    }
}

/// Creates a new hood with this node's author key as its founder.
pub fn init(
    dir: &DataDir,
    hood_name: &str,
    area: &[String],
    rules: HoodRules,
    overrides: &Overrides,
) -> Result<Initialized, DaemonError> {
    let cells = area
        .iter()
        .map(|a| Cell::parse(a.trim()).map_err(|_| DaemonError::Area(a.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let author = AuthorKey::generate().map_err(|e| DaemonError::Network(format!("no randomness: {e}")))?;
    let mut charter = Charter::new(hood_name, cells, vec![author.public()], unix_now());
    charter.quotas.per_hour = rules.per_hour;
    charter.quotas.per_day = rules.per_day;
    let charter = SignedCharter::sign(charter, &[&author])?;
    let hood_secret = HoodSecret::generate().map_err(|e| DaemonError::Network(format!("no randomness: {e}")))?;
    dir.create()?;
    let config = overrides.apply(Config::load(&dir.config_file())?);
    config.clone().check()?;
    let store = Store::open(&StoreConfig::at(dir.store_dir()))?;
    store.set_charter(&charter)?;
    dir.write_charter(&charter)?;
    dir.write_keys(&identity::Keypair::generate_ed25519(), &author)?;
    dir.write_hood_secret(&hood_secret)?;
    write_config(dir, &config)?;
    Ok(Initialized { hood: charter.hood().to_hex(), author: author.public().to_hex() })
}

/// Joins a hood with a ticket: new keys, the hood's charter, and a signed
/// join waiting in the outbox until the node runs and can announce it.
pub fn join(dir: &DataDir, ticket_text: &str, overrides: &Overrides) -> Result<Initialized, DaemonError> {
    let ticket = Ticket::decode(ticket_text)?;
    let author = AuthorKey::generate().map_err(|e| DaemonError::Network(format!("no randomness: {e}")))?;
    let join = Join::create(ticket.charter.hood(), ticket.invite.clone(), &ticket.secret, &author.public(), unix_now())
        .map_err(|e| DaemonError::Ticket(TicketError::Invite(e.to_string())))?;
    let envelope = Payload::Join(join).seal(&author);
    dir.create()?;
    let mut config = overrides.apply(Config::load(&dir.config_file())?);
    config.bootstrap = ticket.dial_addrs(&mut os_random)?.iter().map(ToString::to_string).collect();
    if ticket.hood_secret.is_none() {
        // The inviter runs an open hood (see Admission): so must we, or we
        // could not reach it.
        config.admission = Admission::Open;
    }
    config.clone().check()?;
    let store = Store::open(&StoreConfig::at(dir.store_dir()))?;
    store.set_charter(&ticket.charter)?;
    dir.write_charter(&ticket.charter)?;
    dir.write_keys(&identity::Keypair::generate_ed25519(), &author)?;
    if let Some(secret) = &ticket.hood_secret {
        dir.write_hood_secret(secret)?;
    }
    dir.set_outbox(&[envelope.to_bytes()])?;
    write_config(dir, &config)?;
    Ok(Initialized { hood: ticket.charter.hood().to_hex(), author: author.public().to_hex() })
}

/// Loads and checks the configuration for `run`.
pub fn settings(dir: &DataDir, overrides: &Overrides) -> Result<Settings, DaemonError> {
    dir.check_owner()?;
    if !dir.is_initialized() {
        return Err(DataDirError::NotInitialized(dir.root().to_path_buf()).into());
    }
    Ok(overrides.apply(Config::load(&dir.config_file())?).check()?)
}

/// Runs the node until `shutdown` completes; flushes the store on the way out.
pub async fn run(dir: DataDir, settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let node_key = dir.node_key()?;
    let author = dir.author_key()?;
    let author_key = author.clone();
    let clock = Clock::from_env()?;
    if clock.offset_secs() != 0 {
        tracing::warn!(
            offset_secs = clock.offset_secs(),
            "the node's clock is shifted from the system clock ({CLOCK_OFFSET_ENV})"
        );
    }
    let cache = settings.config.cache_mib * 1024 * 1024;
    let store_cfg = StoreConfig { cache_bytes: cache, ..StoreConfig::at(dir.store_dir()) };
    let (replica, report, quarantined) = open_replica(&dir, &store_cfg, clock.now())?;
    tracing::info!(messages = report.messages, repaired = report.repaired, dropped = report.dropped, "store opened");
    let hood = replica.ledger().hood();
    let node = Arc::new(Node::start(replica, author, clock)?);
    if quarantined {
        node.metrics.store_quarantines.inc();
    }

    // LAN discovery and router port mapping are pointless for a node that
    // only listens on loopback (a test or a same-machine demo), and would
    // send multicast and SSDP traffic for nothing.
    let on_lan = settings.listen.iter().any(|a| !is_loopback(a));
    if !on_lan && (settings.config.mdns || settings.config.upnp) {
        tracing::info!("listening on loopback only: mDNS and UPnP stay off");
    }
    let behaviour_cfg = BehaviourConfig {
        mdns: settings.config.mdns && on_lan,
        upnp: settings.config.upnp && on_lan,
        max_connections: settings.config.max_connections,
        outbound_peers: settings.config.outbound_peers as usize,
        ..BehaviourConfig::default()
    };
    let hood_secret = admission_secret(&dir, settings.config.admission)?;
    let pnet_key = hood_secret.as_ref().map(|secret| network_key(&hood, secret));
    let swarm = swarm::build(&node_key, &behaviour_cfg, &hood, &settings.listen, pnet_key)?;
    let peer_id = node_key.public().to_peer_id().to_string();
    let issuer = Arc::new(Issuer::new(author_key, hood_secret, node_key.public().to_peer_id()));
    let (event_loop, net) = EventLoop::new(swarm, node.clone(), hood_topic(&hood), settings.config.resync_secs);
    let event_loop = event_loop.with_bootstrap(settings.bootstrap.clone()).with_external_addresses(&settings.external);
    let event_loop = event_loop.with_address_book(&dir.root().join("peers.addrs"));
    let listen_task = tokio::spawn(publish_listen_addrs(dir.clone(), event_loop.watch_listen_addrs()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let net_task = tokio::spawn(event_loop.run(stop_rx.clone()));

    let listener = tokio::net::TcpListener::bind(settings.api)
        .await
        .map_err(|source| DaemonError::ApiBind { addr: settings.api, source })?;
    let api_addr = listener.local_addr().map_err(|source| DaemonError::ApiBind { addr: settings.api, source })?;
    let token = dir.new_token()?;
    dir.write_api_addr(&api_addr)?;
    tracing::info!(%api_addr, %peer_id, hood = %hood, "stoopd running");
    let state = ApiState {
        node: node.clone(),
        net: Arc::new(net.clone()),
        token: token.into(),
        started: Instant::now(),
        peer_id,
        issuer,
    };
    let web = start_web(&dir, &settings, state.clone(), stop_rx.clone()).await;
    let api_router = api::router(state.clone()).merge(web::cli_routes(state, web));
    let mut api_stop = stop_rx.clone();
    let api_task = tokio::spawn(async move {
        api::serve::serve(listener, api_router, async move {
            let _ = api_stop.changed().await;
        })
        .await;
    });
    let outbox_task = tokio::spawn(deliver_outbox(dir.clone(), node.clone(), net.clone(), stop_rx.clone()));

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for task in [net_task, api_task, outbox_task] {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    listen_task.abort();
    let (_replica, flushed) = node.close().await?;
    flushed?;
    tracing::info!("store flushed; bye");
    Ok(())
}

/// Starts the web page when `web` is set. It is a convenience next to the
/// node's real work (gossip, the API), so a failure to start it is logged
/// and the node runs on without it rather than not at all.
async fn start_web(
    dir: &DataDir,
    settings: &Settings,
    api: ApiState,
    mut stop: watch::Receiver<bool>,
) -> Option<Arc<web::WebState>> {
    let addr = settings.web?;
    let listener = match tokio::net::TcpListener::bind(addr).await.and_then(|l| l.local_addr().map(|a| (l, a))) {
        Ok(bound) => bound,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen for the web page; running without it");
            return None;
        }
    };
    let (listener, bound) = listener;
    let opts = web::WebOptions {
        hosts: settings.config.web_hosts.clone(),
        trust_loopback: settings.config.web_trust_loopback,
    };
    let state = match web::WebState::new(api, dir.clone(), bound, opts) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the web page; running without it");
            return None;
        }
    };
    if let Err(e) = dir.write_web_addr(&bound) {
        tracing::warn!(error = %e, "could not write the web address file");
    }
    tracing::info!(web = %format!("http://{bound}"), "web page listening");
    let serving = state.clone();
    tokio::spawn(async move {
        web::serve(listener, serving, async move {
            let _ = stop.changed().await;
        })
        .await;
    });
    Some(state)
}

/// The hood secret the node runs with: the data directory's, or none
/// when admission is explicitly open. A missing secret is not replaced by
/// a fresh one: that would put this node on a network of its own, split
/// from the hood without saying so.
fn admission_secret(dir: &DataDir, admission: Admission) -> Result<Option<HoodSecret>, DaemonError> {
    match admission {
        Admission::Open => {
            tracing::warn!("admission = \"open\": no network key; anyone who can reach this node can read the hood");
            Ok(None)
        }
        Admission::Required => match dir.hood_secret()? {
            Some(secret) => Ok(Some(secret)),
            None => Err(DaemonError::NoHoodSecret { path: dir.hood_secret_file() }),
        },
    }
}

/// The hood's pnet key for the node in `dir`, if it has a hood secret (for
/// tests and tools that connect to it as a member).
pub fn dir_network_key(dir: &DataDir) -> Result<Option<[u8; 32]>, DaemonError> {
    let Some(secret) = dir.hood_secret()? else { return Ok(None) };
    let charter = dir.charter()?.ok_or_else(|| DataDirError::NotInitialized(dir.root().to_path_buf()))?;
    Ok(Some(network_key(&charter.hood(), &secret)))
}

/// Whether a store error means the files are damaged (rather than locked,
/// from another version, or unreadable for a reason a restart may fix).
fn is_corruption(e: &StoreError) -> bool {
    matches!(e, StoreError::Corrupt(_) | StoreError::Charter(_) | StoreError::NoHood)
}

/// Opens the hood's store. A corrupt one is not a reason to fail every
/// start (a crash loop): it is moved aside to `store.corrupt-<time>/`,
/// an empty store is bound to the same hood from the charter copy, and
/// sync refetches everything from peers (what this node alone had and no
/// peer holds is in the quarantined directory, not deleted). Returns
/// whether that happened.
fn open_replica(dir: &DataDir, cfg: &StoreConfig, now: u64) -> Result<(Replica, LoadReport, bool), DaemonError> {
    let err = match Store::open(cfg).and_then(Replica::open) {
        Ok((replica, report)) => {
            // Nodes set up before the charter copy existed get one now.
            if dir.charter()?.is_none() {
                dir.write_charter(replica.ledger().signed_charter())?;
            }
            return Ok((replica, report, false));
        }
        Err(e) if is_corruption(&e) => e,
        Err(e) => return Err(e.into()),
    };
    let Some(charter) = dir.charter()? else {
        return Err(DaemonError::Unrecoverable { source: err, charter: dir.charter_file() });
    };
    let moved = dir.quarantine_store(now)?;
    tracing::error!(
        error = %err,
        moved_to = %moved.display(),
        "the store is corrupt: moved it aside and started an empty one for the same hood; resyncing from peers"
    );
    let (replica, report) = Replica::create(Store::open(cfg)?, charter)?;
    Ok((replica, report, true))
}

/// Publishes what `join` left in the outbox. A join can only be checked
/// locally once sync has brought the inviter's own membership, so it is
/// gossiped as soon as there are peers (they can check it already) and
/// removed once this node's own ledger accepts it too.
async fn deliver_outbox(dir: DataDir, node: Arc<Node>, net: NetClient, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let frames = match dir.outbox() {
            Ok(f) if f.is_empty() => return,
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                return;
            }
        };
        let has_peers = net.peers().await.map(|p| !p.is_empty()).unwrap_or(false);
        if !has_peers {
            continue;
        }
        let mut left = Vec::new();
        for frame in frames {
            let _ = net.publish(frame.clone()).await;
            let Ok(outcome) = node.ingest_local(frame.clone(), node.now()).await else { return };
            match outcome.verdict {
                Verdict::Accept | Verdict::Ignore(IgnoreReason::Duplicate) => {
                    tracing::info!(kind = outcome.kind.map_or("unknown", |k| k.name()), "outbox message delivered");
                }
                Verdict::Reject(r) if r.code() != "inviter_not_member" => {
                    tracing::error!(reason = r.code(), "outbox message refused: {r}");
                }
                _ => left.push(frame),
            }
        }
        if let Err(e) = dir.set_outbox(&left) {
            tracing::warn!(error = %e, "cannot update the outbox");
        }
    }
}

/// Writes the swarm's listen addresses for the CLI each time they change.
async fn publish_listen_addrs(dir: DataDir, mut addrs: watch::Receiver<Vec<libp2p::Multiaddr>>) {
    while addrs.changed().await.is_ok() {
        let current = addrs.borrow_and_update().clone();
        if let Err(e) = dir.write_listen_addrs(&current) {
            tracing::warn!(error = %e, "could not write the listen address file");
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_config_with_quotes_backslashes_and_unicode_reads_back_the_same()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = DataDir::new(tmp.path());
        dir.create()?;
        let config = Config {
            api: "say \"hi\" C:\\path\ttab".into(),
            // A combining accent: Rust's {:?} writes it as \u{301}, which is not TOML.
            bootstrap: vec!["caf\u{e9} cafe\u{301} \u{1F3E0} \u{200B}".into(), "'single' and \"double\"".into()],
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Config::default()
        };
        write_config(&dir, &config)?;
        assert_eq!(Config::load(&dir.config_file())?, config);
        Ok(())
    }
}
