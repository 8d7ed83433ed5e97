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
//! | `photo_files.rs` | `/photos/{key}`: the store's files, only while a live photo names them |
//! | `search.rs` | `/v1/locations/search`, `/search/all`, `/search/{trigpoints,station-numbers,places,users,postcodes}`, `/search/logs/{substring,regex}` |
//! | `admin.rs` | `GET /v1/admin/cache/stats`, `DELETE /v1/admin/cache[?pattern=]`, `DELETE /v1/admin/cache/trigs/export` |
//! | `dashboard.rs` | `GET /admin/cache` (the cockpit page and its vendored uPlot), `GET /v1/admin/cache/dashboard` |
//! | `health.rs` | `GET /health` |
//! | `metrics.rs` | `GET /metrics` (Prometheus) |
//! | `docs.rs` | `GET /v1/openapi.json`, `GET /docs`, `GET /redoc` |

pub(crate) mod admin;
pub(crate) mod dashboard;
mod docs;
pub(crate) mod extract;
mod health;
mod images;
mod logs;
mod metrics;
pub(crate) mod photo_files;
mod photo_writes;
mod photos;
mod scope;
mod search;
mod stats;
mod trigs;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{StatusCode, header};
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
        .route("/v1/admin/cache/dashboard", get(dashboard::data))
        .route("/admin/cache", get(dashboard::page))
        .route("/admin/cache/uPlot.iife.min.js", get(dashboard::uplot_script))
        .route("/admin/cache/uPlot.min.css", get(dashboard::uplot_style))
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
        .route("/v1/locations/search", get(search::search))
        .route("/v1/locations/search/all", get(search::all))
        .route("/v1/locations/search/trigpoints", get(search::search_trigpoints))
        .route("/v1/locations/search/station-numbers", get(search::search_station_numbers))
        .route("/v1/locations/search/places", get(search::search_places))
        .route("/v1/locations/search/users", get(search::search_users))
        .route("/v1/locations/search/postcodes", get(search::search_postcodes))
        .route("/v1/locations/search/logs/substring", get(search::search_logs_substring))
        .route("/v1/locations/search/logs/regex", get(search::search_logs_regex))
        .merge(uncached)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn method_not_allowed() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "detail": "Method Not Allowed" }))).into_response()
}

/// FastAPI answers unknown paths with `{"detail":"Not Found"}` and redirects a trailing slash
/// (`/v1/trigs/` → 307 `http://host/v1/trigs`), to an absolute URL as Starlette builds it: the
/// scheme (`X-Forwarded-Proto` when a trusted proxy sends it) and the `Host` the client named.
///
/// The path always stays on that host: leading slashes and backslashes fold into one `/`,
/// since a browser reads `//evil.example` and `/\evil.example` as another host. Without a
/// usable `Host` the target is the path alone.
async fn not_found(State(app): State<AppState>, parts: axum::http::request::Parts) -> Response {
    let uri = &parts.uri;
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let local = path.trim_end_matches('/').trim_start_matches(['/', '\\']);
        let mut target = format!("/{local}");
        if let Some(q) = uri.query() {
            target.push('?');
            target.push_str(q);
        }
        let target = match origin(&app, &parts) {
            Some(origin) => format!("{origin}{target}"),
            None => target,
        };
        return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not Found" }))).into_response()
}

/// `scheme://host` of the request as its client addressed it, if the host is a valid
/// authority (no path, user info or stray characters can ride in on it).
fn origin(app: &AppState, parts: &axum::http::request::Parts) -> Option<String> {
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(parts.uri.host())?;
    let authority =
        host.parse::<axum::http::uri::Authority>().ok().filter(|a| a.as_str() == host && !host.contains('@'))?;
    let trusted = extract::peer(parts).is_some_and(|ip| app.trusts(ip));
    let forwarded = parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(str::trim);
    let scheme = match forwarded {
        Some("https") if trusted => "https",
        _ => parts.uri.scheme_str().filter(|s| *s == "https").unwrap_or("http"),
    };
    Some(format!("{scheme}://{authority}"))
}
