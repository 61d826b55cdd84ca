//! API errors: a stable machine `code`, the HTTP status, and a message that says what to do next.
//! Serialised as `{"code": ..., "message": ..., "details": ...}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use telederm_store::StoreError;
use telederm_store::blobs::BlobError;

#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `illegal_transition`.
    pub code: String,
    /// What went wrong and what to do next, for a person.
    pub message: String,
    /// Extra structured detail (for example the eligibility reasons or the fields to fix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { code: code.into(), message: message.into(), details: None } }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = Some(details);
        self
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.body.code = code.into();
        self
    }

    /// Seconds to wait before retrying, from `details.retry_after_seconds` (sent as `Retry-After`).
    pub fn retry_after(&self) -> Option<i64> {
        self.body.details.as_ref()?.get("retry_after_seconds")?.as_i64()
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in first: POST /api/v1/auth/sign-in with your email and password.")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("No {what} with that id that you can see. Check the link or go back to your list."))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    /// The database cannot be reached (down, restarting, or every connection busy): nothing was
    /// changed, and the same request can be sent again shortly (`Retry-After`).
    pub fn database_unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(%err, "the database is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database cannot be reached just now, so nothing was changed. Try again in a few seconds; if it keeps happening, contact your administrator.",
        )
        .with_details(serde_json::json!({ "retry_after_seconds": 5 }))
    }

    /// The photo store cannot be reached: an upload stored nothing that a referral refers to, a
    /// download sent nothing; the same request can be sent again shortly.
    pub fn blob_store_unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(%err, "the blob store is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "blob_store_unavailable",
            "The photo store cannot be reached just now, so the photo was not saved or sent. Try again in a minute; if it keeps happening, contact your administrator.",
        )
        .with_details(serde_json::json!({ "retry_after_seconds": 30 }))
    }

    /// A store error that is not the caller's doing: `database_unavailable` when the database
    /// cannot be reached, else `internal_error`.
    pub fn store_failure(context: &str, err: StoreError) -> Self {
        if err.is_unavailable() { Self::database_unavailable(err) } else { Self::internal(context, err) }
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side and nothing was changed. Try again; if it keeps happening, contact your administrator.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after();
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("record"),
            StoreError::Conflict(msg) => ApiError::conflict("conflict", msg),
            other => ApiError::store_failure("store", other),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => ApiError::not_found("photo"),
            // A key configuration problem: fail closed, say which setting to fix (the message
            // names key ids, never key material), and keep saying it until it is fixed.
            e @ (BlobError::KeyMismatch { .. } | BlobError::KeyMissing { .. }) => {
                tracing::error!(error = %e, "photo blob key problem");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "blob_key_mismatch",
                    format!("Photos cannot be read: {e}. Ask the administrator to fix the setting and restart."),
                )
            }
            e @ BlobError::NotEncrypted { .. } => {
                tracing::error!(error = %e, "photo blob stored unencrypted");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "blob_not_encrypted", format!("Photos cannot be read: {e}."))
            }
            // The disk (or quota) of a file store is full: nothing was stored for this photo.
            e if e.is_full() => {
                tracing::error!(error = %e, "the blob store is full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "blob_store_full",
                    "The photo store is full, so the photo was not saved. Nothing else was changed. Tell your administrator; photos already sent are safe.",
                )
            }
            e if e.is_unavailable() => ApiError::blob_store_unavailable(e),
            other => ApiError::internal("blob store", other),
        }
    }
}

impl From<telederm_domain::referral::IllegalTransition> for ApiError {
    fn from(e: telederm_domain::referral::IllegalTransition) -> Self {
        ApiError::conflict("illegal_transition", e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
