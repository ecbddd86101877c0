//! The neighbors' web page: a browser app served by stoopd on its own
//! listener (`web` in `stoop.toml`, loopback by default).
//!
//! Its JSON is the local API's own: `/api/v1/...` runs the same axum
//! handlers as `/v1/...` on the API listener (see `api::v1_routes`), behind
//! the browser checks of [`guard`] instead of the bearer token. Assets are
//! embedded in the binary and load nothing from anywhere else.
//!
//! # Layout
//! - this file: [`WebState`], the routers and [`serve`].
//! - [`guard`]: Host allow-list, who is asking, Origin and CSRF checks,
//!   security headers.
//! - [`devices`]: pairing codes, device sessions, attempt limits (pure).
//! - `pairing`: the pairing endpoints (browser side and, on the API
//!   listener, `stoop web pair|devices|revoke`).
//! - `assets`: the embedded pages, script and style.
//! - `qr`: QR codes as SVG for invite tickets.
//! - `quota`: when a member's alert quota frees up.

pub mod devices;
pub mod guard;

mod assets;
mod pairing;
mod qr;
mod quota;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use self::devices::Devices;
use self::guard::Access;
use crate::api::{self, ApiState};
use crate::daemon::datadir::DataDir;

/// Largest request body the web listener takes (the API's bound).
pub const MAX_BODY_BYTES: usize = api::MAX_BODY_BYTES;

/// How the web listener is set up.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Extra host names the page may be opened by (e.g. `stoop.local`).
    pub hosts: Vec<String>,
    /// Whether browsers on this machine act without pairing, like the CLI.
    pub trust_loopback: bool,
}

/// What web handlers share.
#[derive(Debug)]
pub struct WebState {
    api: ApiState,
    devices: Mutex<Devices>,
    dir: DataDir,
    /// Where the listener is bound.
    listen: SocketAddr,
    port: u16,
    hosts: Vec<String>,
    trust_loopback: bool,
    /// Per-run key for the CSRF token of trusted loopback browsers.
    loopback_key: [u8; 32],
}

/// Why the web page could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// `web-devices.json` is unreadable or damaged.
    #[error("{path}: {why}")]
    Devices {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
    /// No randomness for the loopback key.
    #[error("no randomness: {0}")]
    Random(String),
}

impl WebState {
    /// State for a listener bound at `listen`, with the devices paired so far.
    pub fn new(api: ApiState, dir: DataDir, listen: SocketAddr, opts: WebOptions) -> Result<Self, WebError> {
        let path = dir.web_devices_file();
        let devices = match dir.read_web_devices() {
            Ok(None) => Devices::default(),
            Ok(Some(bytes)) => {
                Devices::from_json(&bytes).map_err(|e| WebError::Devices { path: path.clone(), why: e.to_string() })?
            }
            Err(e) => return Err(WebError::Devices { path, why: e.to_string() }),
        };
        let mut loopback_key = [0u8; 32];
        getrandom::fill(&mut loopback_key).map_err(|e| WebError::Random(e.to_string()))?;
        Ok(Self {
            api,
            devices: Mutex::new(devices),
            dir,
            listen,
            port: listen.port(),
            hosts: opts.hosts,
            trust_loopback: opts.trust_loopback,
            loopback_key,
        })
    }

    /// The device list, even if a thread panicked while holding it (the
    /// list itself is always consistent: every change is one call).
    fn devices(&self) -> MutexGuard<'_, Devices> {
        self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who a request with this cookie from this peer is.
    fn access(&self, cookie: Option<&str>, loopback_peer: bool) -> Access {
        if let Some(c) = cookie
            && let Some(d) = self.devices().session(c)
        {
            return Access::Device { id: d.id.clone(), cookie: c.to_owned() };
        }
        if loopback_peer && self.trust_loopback { Access::Loopback } else { Access::Stranger }
    }

    /// Writes the device list to the data directory.
    fn save(&self, devices: &Devices) {
        if let Err(e) = self.dir.write_web_devices(&devices.to_json()) {
            tracing::error!(error = %e, "could not save the paired web devices");
        }
    }
}

/// The web listener's routes.
pub fn router(web: Arc<WebState>) -> Router {
    let api_routes = api::v1_routes()
        .route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(api::MAX_CONCURRENT_REQUESTS))
        .with_state(web.api.clone());
    Router::new()
        .route("/", get(assets::index))
        .route("/pair", get(assets::pair_page))
        .route("/app.js", get(assets::app_js))
        .route("/pair.js", get(assets::pair_js))
        .route("/app.css", get(assets::app_css))
        .route("/favicon.svg", get(assets::favicon))
        .route("/web/pair", post(pairing::pair))
        .route("/web/session", get(pairing::session))
        .route("/web/quota", get(quota::quota))
        .route("/web/qr", post(qr::qr))
        .nest("/api", api_routes)
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(web.clone(), guard::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(web)
}

/// The pairing endpoints `stoop web` uses, for the API listener (behind its
/// bearer token). `web` is None when the web page is off.
pub fn cli_routes(api_state: ApiState, web: Option<Arc<WebState>>) -> Router {
    Router::new()
        .route("/v1/web/pairings", post(pairing::new_code))
        .route("/v1/web/devices", get(pairing::list_devices))
        .route("/v1/web/devices/{id}/revoke", post(pairing::revoke))
        .route_layer(middleware::from_fn_with_state(api_state, api::auth::require_token))
        .with_state(web)
}

/// Serves the web page on `listener` until `stop` completes, with the
/// API's accept loop (header timeout, connection cap).
pub async fn serve(listener: TcpListener, web: Arc<WebState>, stop: impl Future<Output = ()> + Send) {
    api::serve::serve(listener, router(web), stop).await;
}
