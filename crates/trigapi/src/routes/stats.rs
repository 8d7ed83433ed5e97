//! `GET /v1/stats/site`.

use axum::Json;
use axum::extract::State;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::stats::SiteStatsResponse;

/// Site-wide totals.
#[utoipa::path(get, path = "/v1/stats/site", tag = "stats",
    responses((status = 200, body = SiteStatsResponse)))]
pub async fn site(State(app): State<AppState>) -> Result<Json<SiteStatsResponse>, ApiError> {
    Ok(Json(db::stats::site(&app.db).await?.into()))
}
