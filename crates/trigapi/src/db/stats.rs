//! Site-wide counts for `/v1/stats/site` (contract §10.1).

use chrono::{Duration, NaiveDateTime, Timelike, Utc};
use sea_query::{Asterisk, Expr, ExprTrait, Func, IntoTableRef, Query, SelectStatement};

use super::{Db, DbError, Tlog, Tphoto, Trig, User};

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
    Query::select().expr_as(Func::count(Expr::col(Asterisk)), "n").from(table).to_owned()
}

pub async fn site(db: &Db) -> Result<SiteStats, DbError> {
    let now: NaiveDateTime = Utc::now().naive_utc().with_nanosecond(0).unwrap_or_else(|| Utc::now().naive_utc());
    let photos = count(Tphoto::Table).and_where(Expr::col(Tphoto::DeletedInd).ne("Y")).to_owned();
    let recent_logs =
        count(Tlog::Table).and_where(Expr::col(Tlog::UpdTimestamp).gte(now - Duration::days(7))).to_owned();
    let recent_users =
        count(User::Table).and_where(Expr::col(User::CrtDate).gte((now - Duration::days(30)).date())).to_owned();
    Ok(SiteStats {
        total_trigs: db.fetch_count(&count(Trig::Table)).await?,
        total_users: db.fetch_count(&count(User::Table)).await?,
        total_logs: db.fetch_count(&count(Tlog::Table)).await?,
        total_photos: db.fetch_count(&photos).await?,
        recent_logs_7d: db.fetch_count(&recent_logs).await?,
        recent_users_30d: db.fetch_count(&recent_users).await?,
    })
}
