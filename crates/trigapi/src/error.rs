//! `ApiError`: the one error type handlers return, and the one place errors become HTTP.
//!
//! Bodies follow the contract: `{"detail": "<message>"}` for raised errors and
//! `{"detail": [{"type","loc","msg","input"[,"ctx"]}]}` (pydantic v2 shape) for 422 validation.
//! 5xx bodies are generic; the cause is logged once, here, and never echoed to the client.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One item of a 422 body, in pydantic v2's shape.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where: `["query", "limit"]`, `["body", "score"]`, or `["body", 12]` (an offset into a
    /// body that is not valid JSON).
    #[schema(value_type = Vec<String>)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[schema(value_type = Object)]
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(kind: &'static str, source: &str, name: &str, msg: impl Into<String>, input: Value) -> Self {
        Self { kind, loc: vec![source.into(), name.into()], msg: msg.into(), input, ctx: None }
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 404 with the contract's message (`Trigpoint not found`, …).
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// 400 with a message (invalid `include`, invalid `order`, …).
    #[error("{0}")]
    BadRequest(String),
    /// 422 with pydantic-shaped items.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The database failed: logged, answered 500 (or 503 when it is unreachable). Shared
    /// (`Arc`) so one failure can answer every request that waited on the same computation.
    /// The database layer makes it (`impl From<DbError> for ApiError` in `db`), so this layer
    /// depends on none below it.
    #[error("{0}")]
    Database(Arc<DatabaseFailure>),
    /// 401 with `WWW-Authenticate: Bearer` (`Not authenticated`, `Could not validate credentials`).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401 with `WWW-Authenticate: X-Webhook-Secret` (the registration webhook).
    #[error("{0}")]
    WebhookSecret(&'static str),
    /// 403 (`Missing required scope: api:admin`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// 429 with `Retry-After`: a queue of CPU-heavy work is full (see the `cpu` module).
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// 413 with a message (a JSON body over the limit).
    #[error("{0}")]
    TooLarge(&'static str),
    /// 409 with a message (`Username '…' is already taken`).
    #[error("{0}")]
    Conflict(String),
    /// The photo store failed: logged, answered 503 (try later); a missing file is a 404.
    #[error(transparent)]
    Storage(Arc<crate::storage::StoreError>),
    /// 502 with a message: a server we fetch from failed (`Failed to download photo`).
    #[error("{0}")]
    Upstream(&'static str),
    /// 503 with a message (`Cache unavailable or not configured`).
    #[error("{0}")]
    Unavailable(&'static str),
    /// A bug (a panicking computation, a body that would not serialise): a generic 500.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ApiError {
    /// The first error of `checks`, with the 422 items of all of them merged into one (query
    /// and body are validated together, as FastAPI does).
    pub fn all_valid(checks: impl IntoIterator<Item = Result<(), ApiError>>) -> Result<(), ApiError> {
        let mut items = Vec::new();
        for check in checks {
            match check {
                Ok(()) => {}
                Err(ApiError::Validation(more)) => items.extend(more),
                Err(other) => return Err(other),
            }
        }
        if items.is_empty() { Ok(()) } else { Err(ApiError::Validation(items)) }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::NotFound(message.into())
    }
}

impl From<crate::storage::StoreError> for ApiError {
    fn from(e: crate::storage::StoreError) -> Self {
        ApiError::Storage(Arc::new(e))
    }
}

impl From<trigapi_cache::Aborted> for ApiError {
    fn from(_: trigapi_cache::Aborted) -> Self {
        ApiError::Internal("the shared computation ended without a result")
    }
}

/// Body of `{"detail": "..."}` errors, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub detail: String,
}

/// Body of 422 errors, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(msg) => (StatusCode::NOT_FOUND, Json(json!({ "detail": msg }))).into_response(),
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, Json(json!({ "detail": msg }))).into_response(),
            ApiError::Validation(items) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "detail": items }))).into_response()
            }
            ApiError::Unauthorized(msg) => (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "detail": msg })),
            )
                .into_response(),
            ApiError::WebhookSecret(msg) => (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "X-Webhook-Secret")],
                Json(json!({ "detail": msg })),
            )
                .into_response(),
            ApiError::Unavailable(msg) => {
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "detail": msg }))).into_response()
            }
            ApiError::Forbidden(msg) => (StatusCode::FORBIDDEN, Json(json!({ "detail": msg }))).into_response(),
            ApiError::Conflict(msg) => (StatusCode::CONFLICT, Json(json!({ "detail": msg }))).into_response(),
            ApiError::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, retry_after_secs.to_string())],
                Json(json!({ "detail": "Too many requests of this kind are running; try again shortly" })),
            )
                .into_response(),
            ApiError::TooLarge(msg) => (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({ "detail": msg }))).into_response(),
            ApiError::Upstream(msg) => (StatusCode::BAD_GATEWAY, Json(json!({ "detail": msg }))).into_response(),
            ApiError::Storage(err) if err.is_missing() => {
                tracing::warn!(error = %err, "a photo's file is missing from the store");
                (StatusCode::NOT_FOUND, Json(json!({ "detail": "Photo file not found" }))).into_response()
            }
            ApiError::Storage(err) => {
                tracing::error!(error = %err, "photo store error");
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "detail": "Photo storage unavailable" })))
                    .into_response()
            }
            ApiError::Internal(what) => {
                tracing::error!(error = what, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "detail": "Internal Server Error" }))).into_response()
            }
            ApiError::Database(err) => {
                let unavailable = err.unavailable;
                tracing::error!(error = %err, unavailable, "database error");
                if unavailable {
                    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "detail": "Database unavailable" }))).into_response()
                } else {
                    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "detail": "Internal Server Error" })))
                        .into_response()
                }
            }
        }
    }
}

/// A database failure as the HTTP layer sees it: what happened (logged, never sent) and
/// whether it means "try later" (the database is unreachable) rather than "bug".
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct DatabaseFailure {
    pub error: Box<dyn std::error::Error + Send + Sync>,
    pub unavailable: bool,
}
