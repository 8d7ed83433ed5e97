//! Site-wide counts for `/v1/stats/site` (contract §10.1).

use chrono::{Duration, NaiveDateTime};
use sea_query::{Condition, Expr, ExprTrait};

use super::photos::{self, PhotoFilter};
use super::{Counted, Db, DbError, Tlog, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteStats {
    pub total_trigs: i64,
    pub total_users: i64,
    pub total_logs: i64,
    pub total_photos: i64,
    pub recent_logs_7d: i64,
    pub recent_users_30d: i64,
}

pub async fn site(db: &Db) -> Result<SiteStats, DbError> {
    let now: NaiveDateTime = super::now();
    let recent_logs = Condition::all().add(Expr::col(Tlog::UpdTimestamp).gte(now - Duration::days(7)));
    let recent_users = Condition::all().add(Expr::col(User::CrtDate).gte((now - Duration::days(30)).date()));
    let all_photos = PhotoFilter::default();
    // Independent counts run concurrently on the pool: the latency is the slowest one's.
    let (total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d) = tokio::try_join!(
        db.count(Counted::Trig, Condition::all()),
        db.count(Counted::User, Condition::all()),
        db.count(Counted::Tlog, Condition::all()),
        photos::count(db, &all_photos),
        db.count(Counted::Tlog, recent_logs),
        db.count(Counted::User, recent_users),
    )?;
    Ok(SiteStats { total_trigs, total_users, total_logs, total_photos, recent_logs_7d, recent_users_30d })
}
