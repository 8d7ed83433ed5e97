//! The HTTP surface: one file per resource, the router and the OpenAPI document.
//!
//! | file | endpoints |
//! |---|---|
//! | `stats.rs` | `GET /v1/stats/site` |
//! | `trigs.rs` | `/v1/trigs`, `/v1/trigs/{id}`, `/waypoint/{wp}`, `/export`, `/geojson`, `/{id}/logs`, `/{id}/photos` |
//! | `users.rs` | `/v1/users`, `/v1/users/{id}`, `/{id}/logs`, `/{id}/photos`; `GET`/`PATCH /v1/users/me`; `POST /v1/users` (webhook) |
//! | `logs.rs` | `/v1/logs`, `/v1/logs/{id}`, `/v1/logs/{id}/photos`; `POST /v1/logs`, `PATCH`/`DELETE /v1/logs/{id}` |
//! | `images.rs` | `/v1/trigs/{id}/map`, `/v1/users/{id}/map`, `/v1/users/{id}/badge` (PNG) |
//! | `photos.rs` | `/v1/photos`, `/v1/photos/{id}` |
//! | `photo_writes.rs` | `POST /v1/photos?log_id=` (upload), `PATCH`/`DELETE /v1/photos/{id}`, `POST /v1/photos/{id}/rotate` |
//! | `admin.rs` | `GET /v1/admin/cache/stats`, `DELETE /v1/admin/cache[?pattern=]`, `DELETE /v1/admin/cache/trigs/export` |
//! | `health.rs` | `GET /health` |
//! | `metrics.rs` | `GET /metrics` (Prometheus) |
//! | `docs.rs` | `GET /v1/openapi.json`, `GET /docs` |

mod admin;
mod docs;
mod health;
mod images;
mod logs;
mod metrics;
mod photo_writes;
mod photos;
mod stats;
mod trigs;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;
use tower_http::compression::CompressionLayer;

use crate::state::AppState;

pub use docs::ApiDoc;

/// All routes, without the middleware common to all (see `startup::build_router`).
///
/// Cached endpoints encode their bodies themselves (stored compressed, sent as stored), so only
/// the others go through the compression layer: a cache hit then pays for nothing it does not use.
pub fn routes() -> Router<AppState> {
    let uncached = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/trigs/waypoint/{waypoint}", get(trigs::by_waypoint))
        .route("/v1/admin/cache/stats", get(admin::stats))
        .route("/v1/admin/cache", delete(admin::flush))
        .route("/v1/admin/cache/trigs/export", delete(admin::flush_export))
        .merge(docs::routes())
        .layer(CompressionLayer::new());
    Router::new()
        .route("/v1/stats/site", get(stats::site))
        .route("/v1/trigs", get(trigs::list))
        .route("/v1/trigs/export", get(trigs::export))
        .route("/v1/trigs/geojson", get(trigs::geojson))
        .route("/v1/trigs/{trig_id}", get(trigs::get_one))
        .route("/v1/trigs/{trig_id}/logs", get(trigs::logs))
        .route("/v1/trigs/{trig_id}/photos", get(trigs::photos))
        .route("/v1/trigs/{trig_id}/map", get(images::trig_map))
        .route("/v1/users", get(users::list).post(users::register))
        .route("/v1/users/me", get(users::me).patch(users::update_me))
        .route("/v1/users/{user_id}", get(users::get_one))
        .route("/v1/users/{user_id}/logs", get(users::logs))
        .route("/v1/users/{user_id}/photos", get(users::photos))
        .route("/v1/users/{user_id}/map", get(images::user_map))
        .route("/v1/users/{user_id}/badge", get(images::badge))
        .route("/v1/logs", get(logs::list).post(logs::create))
        .route("/v1/logs/{log_id}", get(logs::get_one).patch(logs::update).delete(logs::delete))
        .route("/v1/logs/{log_id}/photos", get(logs::photos))
        .route(
            "/v1/photos",
            get(photos::list).post(photo_writes::create).layer(DefaultBodyLimit::max(photo_writes::UPLOAD_BODY_LIMIT)),
        )
        .route("/v1/photos/{photo_id}", get(photos::get_one).patch(photo_writes::update).delete(photo_writes::delete))
        .route("/v1/photos/{photo_id}/rotate", post(photo_writes::rotate))
        .merge(uncached)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The caller's address as the original records it: `CF-Connecting-IP`, the first
/// `X-Forwarded-For` entry, `X-Real-IP`, else the socket peer; cut to the 15 characters the
/// legacy `ip_addr` columns hold.
pub(crate) struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let ip = header("cf-connecting-ip")
            .or_else(|| header("x-forwarded-for").and_then(|v| v.split(',').next()).map(str::trim))
            .or_else(|| header("x-real-ip"))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string())
            })
            .unwrap_or_default();
        Ok(ClientIp(ip.chars().take(15).collect()))
    }
}

/// Run CPU-heavy work (drawing an image, processing a photo) on a blocking thread, at most two
/// at a time: a 4000 px map or a 100-megapixel upload holds hundreds of MB while it runs.
pub(crate) async fn on_cpu<T, F>(work: F) -> Result<T, crate::error::ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _slot = SLOTS.acquire().await.map_err(|_| crate::error::ApiError::Internal("the CPU slots are closed"))?;
    tokio::task::spawn_blocking(work).await.map_err(|_| crate::error::ApiError::Internal("CPU work panicked"))
}

async fn method_not_allowed() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "detail": "Method Not Allowed" }))).into_response()
}

/// FastAPI answers unknown paths with `{"detail":"Not Found"}` and redirects a trailing slash
/// (`/v1/trigs/` → 307 `/v1/trigs`).
async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let mut target = path.trim_end_matches('/').to_owned();
        if let Some(q) = uri.query() {
            target.push('?');
            target.push_str(q);
        }
        return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not Found" }))).into_response()
}
