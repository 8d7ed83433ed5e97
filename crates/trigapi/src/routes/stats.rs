//! `GET /v1/stats/site`.

use axum::extract::State;
use axum::response::Response;

use crate::cache::{Cached, Resource, ttl};
use crate::db;
use crate::error::ApiError;
use crate::routes::extract::CacheRequest;
use crate::state::AppState;
use crate::wire::stats::SiteStatsResponse;

/// Site-wide totals.
#[utoipa::path(get, path = "/v1/stats/site", tag = "stats",
    responses((status = 200, body = SiteStatsResponse)))]
pub async fn site(State(app): State<AppState>, request: CacheRequest) -> Result<Response, ApiError> {
    Cached::new(Resource::STATS_SITE, ttl::STATS_SITE)
        .json(&app, &request, |app| async move { Ok(SiteStatsResponse::from(db::stats::site(&app.db).await?)) })
        .await
}
