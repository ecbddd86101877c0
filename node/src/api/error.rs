//! The API's error type and body parsing: every failure is a JSON body
//! `{"error": {"reason", "message"}}` with a stable snake_case `reason`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::core::ids::MessageId;
use crate::store::StoreError;

/// An API error with a named reason.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    reason: String,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        Self { status, reason: reason.to_owned(), message: message.into() }
    }

    pub(super) fn bad_request(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    pub(super) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 404 for an alert id this node does not hold.
    pub(super) fn unknown_alert(id: &MessageId) -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_alert", format!("alert {id} is not held here"))
    }

    /// The store failed: 503, as retrying later may work.
    /// The node is shutting down (its replica thread has stopped).
    pub(super) fn stopped(e: &dyn std::fmt::Display) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string())
    }

    pub(super) fn store(e: &StoreError) -> Self {
        tracing::error!(error = %e, "store failed during an API call");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_error", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "reason": self.reason, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// `Json` whose rejections are JSON errors (400, 413, 415) with a reason.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let status = rejection.status();
                let (status, reason) = match &rejection {
                    _ if status == StatusCode::PAYLOAD_TOO_LARGE => (status, "body_too_large"),
                    JsonRejection::MissingJsonContentType(_) => (status, "not_json"),
                    JsonRejection::JsonSyntaxError(_) => (status, "invalid_json"),
                    // axum says 422 here; the API keeps 422 for the ledger's
                    // Reject, and a body of the wrong shape is a bad request.
                    JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
                    _ => (status, "bad_body"),
                };
                Err(ApiError::new(status, reason, rejection.body_text()))
            }
        }
    }
}

/// A JSON body that may be left out (empty means all defaults).
pub(super) fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let reason = if e.is_syntax() || e.is_eof() { "invalid_json" } else { "invalid_body" };
        ApiError::bad_request(reason, e.to_string())
    })
}
