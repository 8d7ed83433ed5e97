//! Queries over `tlog` (visit logs), with the trig and user names joined in.

use chrono::{NaiveDate, NaiveTime};
use sea_query::{Condition, Expr, ExprTrait, Order, Query, SelectStatement};

use super::trigstats::Recount;
use super::{Counted, Db, DbError, Tlog, Tphoto, Trig, User};
use crate::domain::log::{LogPatch, NewLog};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: i32,
    pub trig_id: i32,
    pub user_id: i32,
    #[sqlx(flatten)]
    pub fields: LogFields,
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
    IpAddr,
    UpdTimestamp,
}

impl LogColumn {
    pub const ALL: [(&'static str, LogColumn); 15] = [
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
        ("ip_addr", LogColumn::IpAddr),
        ("upd_timestamp", LogColumn::UpdTimestamp),
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
            LogColumn::IpAddr => Tlog::IpAddr,
            LogColumn::UpdTimestamp => Tlog::UpdTimestamp,
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

/// Logs with their trig's and author's names (`LogRow`).
pub(crate) fn select() -> SelectStatement {
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

/// Log `id`.
fn one(id: i32) -> SelectStatement {
    select().and_where(Expr::col((Tlog::Table, Tlog::Id)).eq(id)).to_owned()
}

pub async fn get(db: &Db, id: i32) -> Result<Option<LogRow>, DbError> {
    db.fetch_optional(&one(id)).await
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
    let ordered = |stmt: &mut SelectStatement| {
        for (col, desc) in order {
            stmt.order_by((Tlog::Table, col.iden()), if *desc { Order::Desc } else { Order::Asc });
        }
        if !order.iter().any(|(c, _)| *c == LogColumn::Id) {
            stmt.order_by((Tlog::Table, Tlog::Id), Order::Desc);
        }
    };
    let mut page =
        Query::select().column((Tlog::Table, Tlog::Id)).from(Tlog::Table).cond_where(condition(f)).to_owned();
    ordered(&mut page);
    page.limit(limit).offset(offset);
    let mut stmt = super::deferred_page(select(), Tlog::Table, page);
    ordered(&mut stmt);
    Ok(tokio::try_join!(db.fetch_all(&stmt), db.count(Counted::Tlog, condition(f)))?)
}

/// The columns of a log its author writes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogFields {
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
}

impl NewLog {
    fn columns(&self) -> [(Tlog, Expr); 10] {
        [
            (Tlog::Date, Expr::val(self.date)),
            (Tlog::Time, Expr::val(self.time)),
            (Tlog::OsgbEastings, Expr::val(self.osgb_eastings)),
            (Tlog::OsgbNorthings, Expr::val(self.osgb_northings)),
            (Tlog::OsgbGridref, Expr::val(self.osgb_gridref.clone())),
            (Tlog::FbNumber, Expr::val(self.fb_number.clone())),
            (Tlog::Condition, Expr::val(self.condition.code())),
            (Tlog::Comment, Expr::val(self.comment.clone())),
            (Tlog::Score, Expr::val(self.score)),
            (Tlog::Source, Expr::val(self.source.clone())),
        ]
    }
}

/// Insert a log by `user_id` on `trig_id` and refresh the trig's stats, in one transaction;
/// `None` when user `user_id` no longer exists (a token outliving its user writes nothing).
pub async fn create(db: &Db, trig_id: i32, user_id: i32, ip_addr: &str, f: &NewLog) -> Result<Option<i32>, DbError> {
    let mut tx = db.begin().await?;
    if !tx.exists_locked(User::Table, user_id).await? {
        return Ok(None);
    }
    let columns = f.columns();
    let mut insert = Query::insert();
    insert
        .into_table(Tlog::Table)
        .columns(
            [Tlog::TrigId, Tlog::UserId, Tlog::IpAddr, Tlog::UpdTimestamp]
                .into_iter()
                .chain(columns.iter().map(|(c, _)| *c)),
        )
        .values(
            [Expr::val(trig_id), Expr::val(user_id), Expr::val(ip_addr.to_owned()), Expr::val(super::now())]
                .into_iter()
                .chain(columns.into_iter().map(|(_, v)| v)),
        )?;
    let id = tx.insert(&insert).await?;
    let id = i32::try_from(id).map_err(|_| DbError::Sqlx(sqlx::Error::Protocol("log id out of range".into())))?;
    super::trigstats::refresh(&mut tx, trig_id, Recount::Logs).await?;
    tx.commit().await?;
    Ok(Some(id))
}

impl LogPatch {
    /// The columns it sets, and nothing else.
    fn columns(&self) -> Vec<(Tlog, Expr)> {
        let text = |col, v: &Option<String>| v.clone().map(|v| (col, Expr::val(v)));
        [
            self.date.map(|v| (Tlog::Date, Expr::val(v))),
            self.time.map(|v| (Tlog::Time, Expr::val(v))),
            self.osgb_eastings.map(|v| (Tlog::OsgbEastings, Expr::val(v))),
            self.osgb_northings.map(|v| (Tlog::OsgbNorthings, Expr::val(v))),
            text(Tlog::OsgbGridref, &self.osgb_gridref),
            text(Tlog::FbNumber, &self.fb_number),
            self.condition.map(|c| (Tlog::Condition, Expr::val(c.code()))),
            text(Tlog::Comment, &self.comment),
            self.score.map(|v| (Tlog::Score, Expr::val(v))),
            text(Tlog::Source, &self.source),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A log write as committed: the row before and after it, and the ids of the log's photos
/// (they show its date, so the write invalidates them too).
#[derive(Debug, Clone)]
pub struct Changed {
    pub before: LogRow,
    pub after: Option<LogRow>,
    pub photos: Vec<i32>,
}

/// Set the columns `patch` names on log `id` (and `upd_timestamp`) and refresh its trig's
/// stats, in one transaction that holds the log's row lock from the read to the commit, so
/// concurrent edits of different fields all stick. `authorize` sees the row as locked and may
/// refuse. `None` when there is no such log.
pub async fn update<E: From<DbError>>(
    db: &Db,
    id: i32,
    patch: &LogPatch,
    authorize: impl FnOnce(&LogRow) -> Result<(), E>,
) -> Result<Option<Changed>, E> {
    let mut tx = db.begin().await?;
    let Some(before) = tx.fetch_locked::<LogRow>(Tlog::Table, id, &one(id)).await? else { return Ok(None) };
    authorize(&before)?;
    let photos = live_photos(&mut tx, id).await?;
    let mut update = Query::update();
    update
        .table(Tlog::Table)
        .values(patch.columns())
        .value(Tlog::UpdTimestamp, super::now())
        .and_where(Expr::col(Tlog::Id).eq(id));
    tx.execute(&update).await?;
    super::trigstats::refresh(&mut tx, before.trig_id, Recount::Logs).await?;
    let after = tx.fetch_optional(&one(id)).await?;
    tx.commit().await?;
    Ok(Some(Changed { before, after, photos }))
}

#[derive(sqlx::FromRow)]
struct PhotoId {
    id: i32,
}

/// The ids of log `id`'s photos that are not deleted.
async fn live_photos(tx: &mut super::Tx, id: i32) -> Result<Vec<i32>, DbError> {
    let photos = Query::select()
        .column(Tphoto::Id)
        .from(Tphoto::Table)
        .and_where(Expr::col(Tphoto::TlogId).eq(id))
        .and_where(Expr::col(Tphoto::DeletedInd).ne("Y"))
        .to_owned();
    Ok(tx.fetch_all::<PhotoId>(&photos).await?.into_iter().map(|p| p.id).collect())
}

/// Soft-delete log `id`'s photos, delete the log and refresh its trig's stats, in one
/// transaction holding the log's row lock; `authorize` sees the row as locked and may refuse.
/// `None` when there is no such log.
pub async fn delete<E: From<DbError>>(
    db: &Db,
    id: i32,
    authorize: impl FnOnce(&LogRow) -> Result<(), E>,
) -> Result<Option<Changed>, E> {
    let mut tx = db.begin().await?;
    let Some(before) = tx.fetch_locked::<LogRow>(Tlog::Table, id, &one(id)).await? else { return Ok(None) };
    authorize(&before)?;
    let photos = live_photos(&mut tx, id).await?;
    if !photos.is_empty() {
        let soft = Query::update()
            .table(Tphoto::Table)
            .value(Tphoto::DeletedInd, "Y")
            .and_where(Expr::col(Tphoto::Id).is_in(photos.iter().copied()))
            .to_owned();
        tx.execute(&soft).await?;
    }
    tx.execute(&Query::delete().from_table(Tlog::Table).and_where(Expr::col(Tlog::Id).eq(id)).to_owned()).await?;
    super::trigstats::refresh(&mut tx, before.trig_id, Recount::LogsAndPhotos).await?;
    tx.commit().await?;
    Ok(Some(Changed { before, after: None, photos }))
}
