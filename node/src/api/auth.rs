//! The bearer-token check in front of every endpoint but `/healthz`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;

/// Whether `presented` is `token`, in a time that does not depend on where
/// they first differ. A length mismatch is answered at once: that reveals
/// only the length, which is public (64 hex digits), never a prefix.
fn token_matches(presented: &[u8], token: &[u8]) -> bool {
    presented.len() == token.len() && bool::from(presented.ct_eq(token))
}

/// Refuses requests without the right `Authorization: Bearer` token.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if token_matches(t.as_bytes(), state.token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", "the bearer token is wrong").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send Authorization: Bearer <token from the data directory's api.token>",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_exact_token_matches() {
        let token = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(token_matches(token, token));
        let mut last = *token;
        last[63] = b'0';
        assert!(!token_matches(&last, token), "differs in the last byte");
        assert!(!token_matches(&token[..63], token), "a prefix");
        assert!(!token_matches(b"", token), "empty");
        let mut longer = token.to_vec();
        longer.push(b'0');
        assert!(!token_matches(&longer, token), "the token and more");
    }
}
