//! `GET /v1/stats/site`.

use axum::extract::State;
use axum::response::Response;

use crate::cache::{CacheRequest, Cached, ttl};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::stats::SiteStatsResponse;

/// Site-wide totals.
#[utoipa::path(get, path = "/v1/stats/site", tag = "stats",
    responses((status = 200, body = SiteStatsResponse)))]
pub async fn site(State(app): State<AppState>, request: CacheRequest) -> Result<Response, ApiError> {
    Cached::new("stats", ttl::STATS_SITE)
        .subresource("site")
        .json(&app, &request, |app| async move { Ok(SiteStatsResponse::from(db::stats::site(&app.db).await?)) })
        .await
}
