//! `GET /v1/stats/site`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::stats::SiteStats;

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteStatsResponse {
    pub total_trigs: i64,
    pub total_users: i64,
    pub total_logs: i64,
    pub total_photos: i64,
    pub recent_logs_7d: i64,
    pub recent_users_30d: i64,
}

impl From<SiteStats> for SiteStatsResponse {
    fn from(s: SiteStats) -> Self {
        let SiteStats { total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d } = s;
        Self { total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d }
    }
}
