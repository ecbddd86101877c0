//! The embedded page, script, style and icon. Hand-written, no build step;
//! nothing in them names another host (a test in `tests/tests/web.rs`
//! checks every asset for `http`/`//` URLs).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The app page (feed, alert, post, map, moderation, node).
pub const INDEX_HTML: &str = include_str!("../../web/index.html");
/// The pairing page, the only page a stranger sees.
pub const PAIR_HTML: &str = include_str!("../../web/pair.html");
/// The app's script.
pub const APP_JS: &str = include_str!("../../web/app.js");
/// The pairing page's script.
pub const PAIR_JS: &str = include_str!("../../web/pair.js");
/// The style of both pages.
pub const APP_CSS: &str = include_str!("../../web/app.css");
/// The tab icon.
pub const FAVICON_SVG: &str = include_str!("../../web/favicon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    // no-cache, not no-store: the browser may keep a copy but asks first,
    // so an upgraded node's page is never stale.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub(super) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub(super) async fn pair_page() -> Response {
    asset("text/html; charset=utf-8", PAIR_HTML)
}

pub(super) async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub(super) async fn pair_js() -> Response {
    asset("text/javascript; charset=utf-8", PAIR_JS)
}

pub(super) async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

pub(super) async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON_SVG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_asset_names_another_host_or_runs_inline_code() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("pair.html", PAIR_HTML),
            ("app.js", APP_JS),
            ("pair.js", PAIR_JS),
            ("app.css", APP_CSS),
            ("favicon.svg", FAVICON_SVG),
        ] {
            // The SVG namespace is a name, not a request.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            for bad in ["http:", "https:", "//cdn", "url(", "@import", "<style", "javascript:", "eval("] {
                assert!(!text.contains(bad), "{name} has {bad:?}");
            }
            if name.ends_with(".html") {
                assert!(!text.contains("<script>"), "{name} has an inline script");
                let handler = text.split_whitespace().find(|w| w.starts_with("on") && w.contains('='));
                assert_eq!(handler, None, "{name} has an inline event handler");
                assert!(!text.contains(" style="), "{name} has an inline style");
            }
        }
    }
}
