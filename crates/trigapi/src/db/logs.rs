//! Queries over `tlog` (visit logs), with the trig and user names joined in.

use chrono::{NaiveDate, NaiveTime};
use sea_query::{Condition, Expr, ExprTrait, Order, Query, SelectStatement};

use super::{Counted, Db, DbError, Tlog, Trig, User};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: i32,
    pub trig_id: i32,
    pub user_id: i32,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub osgb_eastings: Option<i32>,
    pub osgb_northings: Option<i32>,
    pub osgb_gridref: Option<String>,
    pub fb_number: String,
    pub condition: String,
    pub comment: String,
    pub score: i32,
    pub source: String,
    pub trig_name: Option<String>,
    pub user_name: Option<String>,
}

/// Columns a client may sort `/logs` by (`order=-date,id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogColumn {
    Id,
    TrigId,
    UserId,
    Date,
    Time,
    OsgbEastings,
    OsgbNorthings,
    OsgbGridref,
    FbNumber,
    Condition,
    Comment,
    Score,
    Source,
}

impl LogColumn {
    pub const ALL: [(&'static str, LogColumn); 13] = [
        ("id", LogColumn::Id),
        ("trig_id", LogColumn::TrigId),
        ("user_id", LogColumn::UserId),
        ("date", LogColumn::Date),
        ("time", LogColumn::Time),
        ("osgb_eastings", LogColumn::OsgbEastings),
        ("osgb_northings", LogColumn::OsgbNorthings),
        ("osgb_gridref", LogColumn::OsgbGridref),
        ("fb_number", LogColumn::FbNumber),
        ("condition", LogColumn::Condition),
        ("comment", LogColumn::Comment),
        ("score", LogColumn::Score),
        ("source", LogColumn::Source),
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    fn iden(self) -> Tlog {
        match self {
            LogColumn::Id => Tlog::Id,
            LogColumn::TrigId => Tlog::TrigId,
            LogColumn::UserId => Tlog::UserId,
            LogColumn::Date => Tlog::Date,
            LogColumn::Time => Tlog::Time,
            LogColumn::OsgbEastings => Tlog::OsgbEastings,
            LogColumn::OsgbNorthings => Tlog::OsgbNorthings,
            LogColumn::OsgbGridref => Tlog::OsgbGridref,
            LogColumn::FbNumber => Tlog::FbNumber,
            LogColumn::Condition => Tlog::Condition,
            LogColumn::Comment => Tlog::Comment,
            LogColumn::Score => Tlog::Score,
            LogColumn::Source => Tlog::Source,
        }
    }
}

/// `(column, descending)` pairs; the default is newest first.
pub type LogOrder = Vec<(LogColumn, bool)>;

pub fn default_order() -> LogOrder {
    vec![(LogColumn::Date, true), (LogColumn::Time, true), (LogColumn::Id, true)]
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub trig_id: Option<i32>,
    pub user_id: Option<i32>,
}

fn select() -> SelectStatement {
    Query::select()
        .columns([
            (Tlog::Table, Tlog::Id),
            (Tlog::Table, Tlog::TrigId),
            (Tlog::Table, Tlog::UserId),
            (Tlog::Table, Tlog::Date),
            (Tlog::Table, Tlog::Time),
            (Tlog::Table, Tlog::OsgbEastings),
            (Tlog::Table, Tlog::OsgbNorthings),
            (Tlog::Table, Tlog::OsgbGridref),
            (Tlog::Table, Tlog::FbNumber),
            (Tlog::Table, Tlog::Condition),
            (Tlog::Table, Tlog::Comment),
            (Tlog::Table, Tlog::Score),
            (Tlog::Table, Tlog::Source),
        ])
        .expr_as(Expr::col((Trig::Table, Trig::Name)), "trig_name")
        .expr_as(Expr::col((User::Table, User::Name)), "user_name")
        .from(Tlog::Table)
        .left_join(Trig::Table, Expr::col((Trig::Table, Trig::Id)).equals((Tlog::Table, Tlog::TrigId)))
        .left_join(User::Table, Expr::col((User::Table, User::Id)).equals((Tlog::Table, Tlog::UserId)))
        .to_owned()
}

fn condition(f: &LogFilter) -> Condition {
    let mut cond = Condition::all();
    if let Some(t) = f.trig_id {
        cond = cond.add(Expr::col((Tlog::Table, Tlog::TrigId)).eq(t));
    }
    if let Some(u) = f.user_id {
        cond = cond.add(Expr::col((Tlog::Table, Tlog::UserId)).eq(u));
    }
    cond
}

pub async fn get(db: &Db, id: i32) -> Result<Option<LogRow>, DbError> {
    db.fetch_optional(&select().and_where(Expr::col((Tlog::Table, Tlog::Id)).eq(id)).to_owned()).await
}

/// One page of logs and the filtered total. `id` is appended as a tie-breaker so pages never
/// overlap.
pub async fn list(
    db: &Db,
    f: &LogFilter,
    order: &LogOrder,
    limit: u64,
    offset: u64,
) -> Result<(Vec<LogRow>, i64), DbError> {
    let mut stmt = select().cond_where(condition(f)).to_owned();
    for (col, desc) in order {
        stmt.order_by((Tlog::Table, col.iden()), if *desc { Order::Desc } else { Order::Asc });
    }
    if !order.iter().any(|(c, _)| *c == LogColumn::Id) {
        stmt.order_by((Tlog::Table, Tlog::Id), Order::Desc);
    }
    stmt.limit(limit).offset(offset);
    Ok(tokio::try_join!(db.fetch_all(&stmt), db.count(Counted::Tlog, condition(f)))?)
}
