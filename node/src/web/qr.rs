//! QR codes as SVG, drawn here so the page needs no script library and no
//! outside service: `POST /web/qr {"text"}` answers `image/svg+xml`.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;

/// Light modules around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QrRequest {
    text: String,
}

/// `text` as an SVG QR code: one path of dark modules on a white square.
pub fn svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)?;
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color == Color::Dark {
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

pub(super) async fn qr(body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<QrRequest>(&body) else {
        return (StatusCode::BAD_REQUEST, "send {\"text\": \"...\"}\n").into_response();
    };
    match svg(&req.text) {
        Ok(s) => ([(header::CONTENT_TYPE, "image/svg+xml")], s).into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("cannot draw a QR code: {e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_a_square_svg_with_modules() -> Result<(), Box<dyn std::error::Error>> {
        let s = super::svg("stoop1:abc")?;
        assert!(s.starts_with("<svg") && s.contains("viewBox=\"0 0 29 29\"") && s.contains("h1v1h-1z"), "{s}");
        assert!(!s.contains("http://") || s.matches("http://").count() == 1, "only the SVG namespace");
        Ok(())
    }
}
