//! The API's accept loop: axum's router behind hyper's HTTP/1 server with a
//! header-read timeout and a cap on open connections.
//!
//! `axum::serve` has neither: 1,100 connections that never finished their
//! request headers held 1,011 file descriptors for over a minute, so the
//! node (at 1,024 open files) could answer neither `/healthz` nor libp2p
//! handshakes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send its request line and headers. A
/// local client (the CLI, a household app on the LAN) sends them in one
/// write; 5 s covers a phone on weak Wi-Fi many times over, and frees a
/// slot held by a client that never finishes within 5 s.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most API connections open at once. A household runs the CLI, a few apps
/// and their live feeds (one long-lived connection each): 128 is far above
/// that and well within the file-descriptor budget in
/// deploy/stoopd.service. Connections past it are closed at once.
pub const MAX_CONNECTIONS: usize = 128;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `stop` completes. Each request
/// carries the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, stop: impl Future<Output = ()> + Send) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (socket, remote) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "API accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "API connection refused: {MAX_CONNECTIONS} already open");
            drop(socket);
            continue;
        };
        // Handlers that care who connected (the web page trusts loopback
        // browsers) read it as axum's ConnectInfo.
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let mut router = router.clone();
            tower::Service::call(&mut router, req)
        });
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            // One request per connection: hyper's header-read timer also
            // runs while a kept-alive connection waits for its next request,
            // so an idle pooled connection would be closed after 5 s, racing
            // a client that reuses it just then. Local clients lose only a
            // loopback handshake per request.
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(false);
            let conn = builder.serve_connection(TokioIo::new(socket), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%remote, error = %e, "API connection ended with an error");
                    }
                }
                _ = stop_rx.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
}
