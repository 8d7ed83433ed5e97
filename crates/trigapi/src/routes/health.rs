//! `GET /health`: liveness plus a database round trip.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `healthy` with `database: connected`, or 503 with the contract's `detail` object.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy"), (status = 503, description = "Database unreachable")))]
pub async fn health(State(app): State<AppState>) -> Response {
    let base = |database: &str| {
        json!({
            "status": if database == "connected" { "healthy" } else { "unhealthy" },
            "environment": app.config.server.environment,
            "version": env!("CARGO_PKG_VERSION"),
            "build_time": option_env!("TRIGAPI_BUILD_TIME").unwrap_or("unknown"),
            "database": database,
        })
    };
    match app.db.ping().await {
        Ok(()) => Json(base("connected")).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unreachable");
            let mut detail = base("error");
            detail["error"] = json!("database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "detail": detail }))).into_response()
        }
    }
}
