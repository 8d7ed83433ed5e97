//! Site-wide counts for `/v1/stats/site` (contract §10.1).

use chrono::{Duration, NaiveDateTime, Timelike, Utc};
use sea_query::{Condition, Expr, ExprTrait, IntoTableRef, SelectStatement};

use super::photos::{self, PhotoFilter};
use super::{Db, DbError, Tlog, Trig, User, count_where};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteStats {
    pub total_trigs: i64,
    pub total_users: i64,
    pub total_logs: i64,
    pub total_photos: i64,
    pub recent_logs_7d: i64,
    pub recent_users_30d: i64,
}

fn count(table: impl IntoTableRef) -> SelectStatement {
    count_where(table, Condition::all())
}

pub async fn site(db: &Db) -> Result<SiteStats, DbError> {
    let now: NaiveDateTime = Utc::now().naive_utc().with_nanosecond(0).unwrap_or_else(|| Utc::now().naive_utc());
    let recent_logs =
        count(Tlog::Table).and_where(Expr::col(Tlog::UpdTimestamp).gte(now - Duration::days(7))).to_owned();
    let recent_users =
        count(User::Table).and_where(Expr::col(User::CrtDate).gte((now - Duration::days(30)).date())).to_owned();
    let (trigs, users, logs) = (count(Trig::Table), count(User::Table), count(Tlog::Table));
    let all_photos = PhotoFilter::default();
    // Independent counts run concurrently on the pool: the latency is the slowest one's.
    let (total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d) = tokio::try_join!(
        db.fetch_count(&trigs),
        db.fetch_count(&users),
        db.fetch_count(&logs),
        photos::count(db, &all_photos),
        db.fetch_count(&recent_logs),
        db.fetch_count(&recent_users),
    )?;
    Ok(SiteStats { total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d })
}
