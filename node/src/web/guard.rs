//! The browser-facing checks in front of every web request, as pure
//! functions (tested below) and the middleware that applies them:
//!
//! 1. Host allow-list (DNS rebinding): the `Host` header must be an IP
//!    literal, `localhost`, or a name from `web_hosts`, on the listener's
//!    port. A rebinding attack needs a DNS name the attacker controls, so
//!    it always arrives with that name in `Host`.
//! 2. Who is asking: a paired device (session cookie), a browser on this
//!    machine (loopback peer, trusted like the CLI unless
//!    `web_trust_loopback = false`), or nobody, who gets the pairing page.
//! 3. Writes (any method but GET/HEAD) need an `Origin` equal to the page's
//!    own (`http://<Host>`), and, past pairing, the `X-Stoop-Csrf` token,
//!    which only same-origin script can read (from `GET /web/session`).
//! 4. Every response carries a strict CSP, frame denial and nosniff.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::WebState;

/// The session cookie's name.
pub const COOKIE: &str = "stoop_session";
/// The header carrying the CSRF token on writes.
pub const CSRF_HEADER: &str = "x-stoop-csrf";
/// The Content-Security-Policy of every response: nothing but this node.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Paths served before pairing: the pairing page and what it needs.
const PUBLIC_PATHS: [&str; 5] = ["/pair", "/pair.js", "/app.css", "/favicon.svg", "/web/pair"];

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A paired device (its id), with its cookie value for the CSRF token.
    Device {
        /// Device id.
        id: String,
        /// Cookie value.
        cookie: String,
    },
    /// A browser on this machine, trusted like the CLI.
    Loopback,
    /// Nobody known: only the pairing page.
    Stranger,
}

/// Whether `host` (a `Host` header) names this listener (on `port`) in a
/// form DNS rebinding cannot produce: an IP literal, `localhost`, or one of
/// `extra` (the owner's `web_hosts`, e.g. `stoop.local`).
pub fn host_allowed(host: &str, port: u16, extra: &[String]) -> bool {
    let (name, host_port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        (v6, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let port_ok = match host_port {
        None => port == 80,
        Some(p) => p.parse::<u16>().is_ok_and(|p| p == port),
    };
    let name_ok = name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || extra.iter().any(|e| e.eq_ignore_ascii_case(name));
    port_ok && !name.is_empty() && name_ok
}

/// Whether a write's `Origin` is the page's own: `http://<host>`. A missing
/// or `null` origin is refused: every browser sends one on a cross-site or
/// scripted write, and the web listener serves only browsers.
pub fn origin_allowed(origin: Option<&str>, host: &str) -> bool {
    origin.is_some_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")))
}

/// The CSRF token of a session: a hash of its cookie value (which page
/// script cannot read: the cookie is HttpOnly), or of the node's per-run
/// loopback key for a trusted local browser.
pub fn csrf_token(access: &Access, loopback_key: &[u8; 32]) -> Option<String> {
    let mut h = Sha256::new();
    h.update(b"stoop-web-csrf\0");
    match access {
        Access::Device { cookie, .. } => h.update(cookie.as_bytes()),
        Access::Loopback => h.update(loopback_key),
        Access::Stranger => return None,
    }
    Some(hex::encode(h.finalize()))
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn csrf_ok(presented: Option<&str>, access: &Access, loopback_key: &[u8; 32]) -> bool {
    match (presented, csrf_token(access, loopback_key)) {
        (Some(p), Some(t)) => bool::from(p.as_bytes().ct_eq(t.as_bytes())),
        _ => false,
    }
}

/// Whether `peer` is this machine.
pub fn is_loopback_peer(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|p| p.ip().to_canonical().is_loopback())
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

fn refuse(status: StatusCode, reason: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "reason": reason, "message": message } }))).into_response()
}

/// Whether `path` is served before pairing.
fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
}

/// The middleware: checks 1 to 3 of the module doc, then the headers of 4.
pub(super) async fn guard(State(web): State<Arc<WebState>>, mut req: Request, next: Next) -> Response {
    let mut out = match admit(&web, &mut req) {
        None => next.run(req).await,
        Some(refused) => refused,
    };
    secure_headers(out.headers_mut());
    out
}

/// Checks 1 to 3: the refusal, or None when the request may go on (it
/// then carries its [`Access`]).
fn admit(web: &WebState, req: &mut Request) -> Option<Response> {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    if !host_allowed(&host, web.port, &web.hosts) {
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "bad_host",
            "open this page by the node's IP address or localhost (or add the name to web_hosts)",
        ));
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let access = web.access(session_cookie(headers), is_loopback_peer(peer));
    let path = req.uri().path();
    let public = is_public(path);
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if write && !origin_allowed(origin, &host) {
        return Some(refuse(StatusCode::FORBIDDEN, "cross_site", "writes are only taken from this node's own page"));
    }
    if access == Access::Stranger && !public {
        let page = !write && !path.starts_with("/api/") && !path.starts_with("/web/");
        return Some(if page {
            Redirect::to("/pair").into_response()
        } else {
            refuse(StatusCode::UNAUTHORIZED, "not_paired", "pair this browser first: run `stoop web pair` on the node")
        });
    }
    if write && !public {
        let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !csrf_ok(presented, &access, &web.loopback_key) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "bad_csrf",
                "missing or wrong X-Stoop-Csrf token; reload the page",
            ));
        }
    }
    req.extensions_mut().insert(access);
    None
}

/// Adds the headers every response carries.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_dns_rebinding_cannot_produce_are_refused() {
        let extra = vec!["stoop.local".to_owned()];
        for ok in [
            "127.0.0.1:4013",
            "localhost:4013",
            "LOCALHOST:4013",
            "[::1]:4013",
            "192.168.1.20:4013",
            "stoop.local:4013",
        ] {
            assert!(host_allowed(ok, 4013, &extra), "{ok} refused");
        }
        for bad in [
            "evil.example:4013",
            "127.0.0.1.nip.io:4013",
            "localhost.evil.example:4013",
            "127.0.0.1:80",
            "127.0.0.1",
            "127.0.0.1:4013:4013",
            "[::1",
            "[nonsense]:4013",
            "",
            ":4013",
        ] {
            assert!(!host_allowed(bad, 4013, &extra), "{bad} allowed");
        }
        assert!(host_allowed("10.0.0.2", 80, &[]), "no port means 80");
    }

    #[test]
    fn only_the_pages_own_origin_may_write() {
        assert!(origin_allowed(Some("http://127.0.0.1:4013"), "127.0.0.1:4013"));
        assert!(!origin_allowed(Some("http://evil.example"), "127.0.0.1:4013"));
        assert!(!origin_allowed(Some("https://127.0.0.1:4013"), "127.0.0.1:4013"));
        assert!(!origin_allowed(Some("null"), "127.0.0.1:4013"));
        assert!(!origin_allowed(None, "127.0.0.1:4013"));
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let key = [7; 32];
        let a = Access::Device { id: "a".into(), cookie: "a.secret".into() };
        let b = Access::Device { id: "b".into(), cookie: "b.other".into() };
        let token = csrf_token(&a, &key);
        assert!(csrf_ok(token.as_deref(), &a, &key));
        assert!(!csrf_ok(token.as_deref(), &b, &key), "another device's token");
        assert!(!csrf_ok(token.as_deref(), &Access::Loopback, &key));
        assert!(!csrf_ok(None, &a, &key));
        assert!(!csrf_ok(Some(""), &Access::Stranger, &key), "strangers have no token");
        let local = csrf_token(&Access::Loopback, &key);
        assert!(csrf_ok(local.as_deref(), &Access::Loopback, &key));
        assert!(!csrf_ok(local.as_deref(), &Access::Loopback, &[8; 32]), "another run's key");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; stoop_session=id.sec; b=2"));
        assert_eq!(session_cookie(&h), Some("id.sec"));
        h.insert(header::COOKIE, HeaderValue::from_static("stoop_sessionx=1"));
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn loopback_peers() {
        let peer = |s: &str| s.parse::<SocketAddr>().ok();
        assert!(is_loopback_peer(peer("127.0.0.1:5000")));
        assert!(is_loopback_peer(peer("[::ffff:127.0.0.1]:5000")));
        assert!(is_loopback_peer(peer("[::1]:5000")));
        assert!(!is_loopback_peer(peer("192.168.1.9:5000")));
        assert!(!is_loopback_peer(None));
    }
}
