//! Queries over `tphoto`, joined through `tlog` to its user and trig, and to `server` for URLs.
//! Soft-deleted photos (`deleted_ind = 'Y'`) are excluded from every read.

use chrono::NaiveDate;
use sea_query::{Condition, Expr, ExprTrait, Order, Query, SelectStatement};

use super::trigstats::{self, Recount};
use super::{Counted, Db, DbError, Server, Tlog, Tphoto, Trig, Tx, User, count_where};
use crate::domain::photo::PhotoPatch;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PhotoRow {
    pub id: i32,
    pub log_id: i32,
    pub user_id: Option<i32>,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub filesize: i32,
    pub height: i32,
    pub width: i32,
    pub icon_filesize: i32,
    pub icon_height: i32,
    pub icon_width: i32,
    pub caption: String,
    pub text_desc: String,
    pub license: String,
    pub filename: String,
    pub icon_filename: String,
    pub server_id: i32,
    pub server_url: Option<String>,
    pub user_name: Option<String>,
    pub trig_id: Option<i32>,
    pub trig_name: Option<String>,
    pub log_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct PhotoFilter {
    pub trig_id: Option<i32>,
    pub log_id: Option<i32>,
    pub user_id: Option<i32>,
    pub log_ids: Option<Vec<i32>>,
}

fn select() -> SelectStatement {
    Query::select()
        .column((Tphoto::Table, Tphoto::Id))
        .expr_as(Expr::col((Tphoto::Table, Tphoto::TlogId)), "log_id")
        .expr_as(Expr::col((Tlog::Table, Tlog::UserId)), "user_id")
        .columns([
            (Tphoto::Table, Tphoto::Type),
            (Tphoto::Table, Tphoto::Filesize),
            (Tphoto::Table, Tphoto::Height),
            (Tphoto::Table, Tphoto::Width),
            (Tphoto::Table, Tphoto::IconFilesize),
            (Tphoto::Table, Tphoto::IconHeight),
            (Tphoto::Table, Tphoto::IconWidth),
        ])
        .expr_as(Expr::col((Tphoto::Table, Tphoto::Name)), "caption")
        .column((Tphoto::Table, Tphoto::TextDesc))
        .expr_as(Expr::col((Tphoto::Table, Tphoto::PublicInd)), "license")
        .columns([(Tphoto::Table, Tphoto::Filename), (Tphoto::Table, Tphoto::IconFilename)])
        .column((Tphoto::Table, Tphoto::ServerId))
        .expr_as(Expr::col((Server::Table, Server::Url)), "server_url")
        .expr_as(Expr::col((User::Table, User::Name)), "user_name")
        .expr_as(Expr::col((Tlog::Table, Tlog::TrigId)), "trig_id")
        .expr_as(Expr::col((Trig::Table, Trig::Name)), "trig_name")
        .expr_as(Expr::col((Tlog::Table, Tlog::Date)), "log_date")
        .from(Tphoto::Table)
        .left_join(Tlog::Table, Expr::col((Tlog::Table, Tlog::Id)).equals((Tphoto::Table, Tphoto::TlogId)))
        .left_join(User::Table, Expr::col((User::Table, User::Id)).equals((Tlog::Table, Tlog::UserId)))
        .left_join(Trig::Table, Expr::col((Trig::Table, Trig::Id)).equals((Tlog::Table, Tlog::TrigId)))
        .left_join(Server::Table, Expr::col((Server::Table, Server::Id)).equals((Tphoto::Table, Tphoto::ServerId)))
        .to_owned()
}

fn condition(f: &PhotoFilter) -> Condition {
    let mut cond = Condition::all().add(Expr::col((Tphoto::Table, Tphoto::DeletedInd)).ne("Y"));
    if let Some(t) = f.trig_id {
        cond = cond.add(Expr::col((Tlog::Table, Tlog::TrigId)).eq(t));
    }
    if let Some(u) = f.user_id {
        cond = cond.add(Expr::col((Tlog::Table, Tlog::UserId)).eq(u));
    }
    if let Some(l) = f.log_id {
        cond = cond.add(Expr::col((Tphoto::Table, Tphoto::TlogId)).eq(l));
    }
    if let Some(ids) = &f.log_ids {
        cond = cond.add(Expr::col((Tphoto::Table, Tphoto::TlogId)).is_in(ids.iter().copied()));
    }
    cond
}

/// Live photo `id`.
fn one(id: i32) -> SelectStatement {
    let f = PhotoFilter::default();
    select().cond_where(condition(&f)).and_where(Expr::col((Tphoto::Table, Tphoto::Id)).eq(id)).to_owned()
}

pub async fn get(db: &Db, id: i32) -> Result<Option<PhotoRow>, DbError> {
    db.fetch_optional(&one(id)).await
}

/// Whether a live photo of this server's store has `key` as its current file or thumbnail:
/// the files of deleted photos, and those a rotation replaced, stay in the store (for
/// moderation) but are no longer served. `id` is the photo the key's name gives, when it
/// follows the store's layout ([`crate::storage::photo_id_of`]); other names (the demo pool)
/// are looked up by name.
pub async fn serves_file(db: &Db, key: &str, id: Option<i32>) -> Result<bool, DbError> {
    let mut stmt = Query::select()
        .expr_as(Expr::col(Tphoto::Id), "id")
        .from(Tphoto::Table)
        .and_where(Expr::col(Tphoto::DeletedInd).ne("Y"))
        .and_where(Expr::col(Tphoto::ServerId).eq(crate::storage::PHOTOS_SERVER_ID))
        .cond_where(
            Condition::any().add(Expr::col(Tphoto::Filename).eq(key)).add(Expr::col(Tphoto::IconFilename).eq(key)),
        )
        .limit(1)
        .to_owned();
    if let Some(id) = id {
        stmt.and_where(Expr::col(Tphoto::Id).eq(id));
    }
    Ok(db.fetch_optional::<super::IdOnly>(&stmt).await?.is_some())
}

/// Newest first (`tphoto.id DESC`).
pub async fn list(db: &Db, f: &PhotoFilter, limit: u64, offset: u64) -> Result<(Vec<PhotoRow>, i64), DbError> {
    let mut page = Query::select().column((Tphoto::Table, Tphoto::Id)).from(Tphoto::Table).to_owned();
    if f.trig_id.is_some() || f.user_id.is_some() {
        page.inner_join(Tlog::Table, Expr::col((Tlog::Table, Tlog::Id)).equals((Tphoto::Table, Tphoto::TlogId)));
    }
    page.cond_where(condition(f)).order_by((Tphoto::Table, Tphoto::Id), Order::Desc).limit(limit).offset(offset);
    let stmt = super::deferred_page(select(), Tphoto::Table, page)
        .order_by((Tphoto::Table, Tphoto::Id), Order::Desc)
        .to_owned();
    Ok(tokio::try_join!(db.fetch_all(&stmt), count(db, f))?)
}

/// Live photos matching `f`. Unfiltered, it is "all rows minus deleted rows": both are cheap
/// (a table count and an index range), where `deleted_ind <> 'Y'` would scan every row.
pub async fn count(db: &Db, f: &PhotoFilter) -> Result<i64, DbError> {
    let unfiltered = f.trig_id.is_none() && f.user_id.is_none() && f.log_id.is_none() && f.log_ids.is_none();
    if unfiltered {
        let deleted = Condition::all().add(Expr::col(Tphoto::DeletedInd).eq("Y"));
        let (all, deleted) =
            tokio::try_join!(db.count(Counted::Tphoto, Condition::all()), db.count(Counted::Tphoto, deleted))?;
        return Ok(all - deleted);
    }
    let mut count = count_where(Tphoto::Table, Condition::all());
    if f.trig_id.is_some() || f.user_id.is_some() {
        count.inner_join(Tlog::Table, Expr::col((Tlog::Table, Tlog::Id)).equals((Tphoto::Table, Tphoto::TlogId)));
    }
    db.fetch_count(&count.cond_where(condition(f)).to_owned()).await
}

/// Every live photo of the given logs, newest first (for `include=photos`).
pub async fn for_logs(db: &Db, log_ids: &[i32]) -> Result<Vec<PhotoRow>, DbError> {
    if log_ids.is_empty() {
        return Ok(Vec::new());
    }
    let f = PhotoFilter { log_ids: Some(log_ids.to_vec()), ..Default::default() };
    db.fetch_all(&select().cond_where(condition(&f)).order_by((Tphoto::Table, Tphoto::Id), Order::Desc).to_owned())
        .await
}

/// The columns a photo's owner writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoText {
    pub caption: String,
    pub text_desc: String,
    /// `T`, `F`, `L`, `P` or `O`.
    pub kind: String,
    /// `Y`, `C` or `N`.
    pub license: String,
}

/// Where a photo's files are and what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoFiles {
    pub server_id: i32,
    pub filename: String,
    pub filesize: i32,
    pub width: i32,
    pub height: i32,
    pub icon_filename: String,
    pub icon_filesize: i32,
    pub icon_width: i32,
    pub icon_height: i32,
}

impl PhotoFiles {
    fn columns(&self) -> [(Tphoto, Expr); 9] {
        [
            (Tphoto::ServerId, Expr::val(self.server_id)),
            (Tphoto::Filename, Expr::val(self.filename.clone())),
            (Tphoto::Filesize, Expr::val(self.filesize)),
            (Tphoto::Width, Expr::val(self.width)),
            (Tphoto::Height, Expr::val(self.height)),
            (Tphoto::IconFilename, Expr::val(self.icon_filename.clone())),
            (Tphoto::IconFilesize, Expr::val(self.icon_filesize)),
            (Tphoto::IconWidth, Expr::val(self.icon_width)),
            (Tphoto::IconHeight, Expr::val(self.icon_height)),
        ]
    }
}

impl PhotoText {
    fn columns(&self) -> [(Tphoto, Expr); 4] {
        [
            (Tphoto::Name, Expr::val(self.caption.clone())),
            (Tphoto::TextDesc, Expr::val(self.text_desc.clone())),
            (Tphoto::Type, Expr::val(self.kind.clone())),
            (Tphoto::PublicInd, Expr::val(self.license.clone())),
        ]
    }
}

/// Insert a live photo of `log_id` (source `F`, an API upload) and return its id. Its files are
/// set with [`set_files`] in the same transaction, once the id has named them.
pub async fn insert(tx: &mut Tx, log_id: i32, text: &PhotoText, files: &PhotoFiles, ip: &str) -> Result<i32, DbError> {
    let columns = files.columns().into_iter().chain(text.columns());
    let mut insert = Query::insert();
    let (names, values): (Vec<_>, Vec<_>) = columns
        .chain([
            (Tphoto::TlogId, Expr::val(log_id)),
            (Tphoto::IpAddr, Expr::val(ip.to_owned())),
            (Tphoto::DeletedInd, Expr::val("N")),
            (Tphoto::Source, Expr::val("F")),
            (Tphoto::CrtTimestamp, Expr::val(super::now())),
        ])
        .unzip();
    insert.into_table(Tphoto::Table).columns(names).values(values)?;
    let id = tx.insert(&insert).await?;
    i32::try_from(id).map_err(|_| DbError::Sqlx(sqlx::Error::Protocol("photo id out of range".into())))
}

/// Point photo `id` at new files; `source` records why (`R` for a rotation).
pub async fn set_files(tx: &mut Tx, id: i32, files: &PhotoFiles, source: Option<&str>) -> Result<(), DbError> {
    let mut update = Query::update();
    update.table(Tphoto::Table).values(files.columns()).and_where(Expr::col(Tphoto::Id).eq(id));
    if let Some(source) = source {
        update.value(Tphoto::Source, source);
    }
    tx.execute(&update).await?;
    Ok(())
}

/// Lock live photo `id` for a change of its files, if its file is still `filename`: `false`
/// when another change came first (or the photo is gone). The lock is held until `tx` ends,
/// so two changes of one photo cannot interleave.
pub async fn claim(tx: &mut Tx, id: i32, filename: &str) -> Result<bool, DbError> {
    let update = Query::update()
        .table(Tphoto::Table)
        .value(Tphoto::Filename, filename)
        .and_where(Expr::col(Tphoto::Id).eq(id))
        .and_where(Expr::col(Tphoto::Filename).eq(filename))
        .and_where(Expr::col(Tphoto::DeletedInd).ne("Y"))
        .to_owned();
    Ok(tx.execute(&update).await? == 1)
}

/// Set the columns `patch` names on live photo `id`, in one transaction holding the photo's
/// row lock from the read to the commit; `authorize` sees the row as locked and may refuse.
/// Returns the photo as committed, or `None` when there is no such live photo.
pub async fn update_text<E: From<DbError>>(
    db: &Db,
    id: i32,
    patch: &PhotoPatch,
    authorize: impl FnOnce(&PhotoRow) -> Result<(), E>,
) -> Result<Option<PhotoRow>, E> {
    let mut tx = db.begin().await?;
    let Some(before) = tx.fetch_locked::<PhotoRow>(Tphoto::Table, id, &one(id)).await? else { return Ok(None) };
    authorize(&before)?;
    let text = |col, v: &Option<String>| v.clone().map(|v| (col, Expr::val(v)));
    let values: Vec<(Tphoto, Expr)> = [
        text(Tphoto::Name, &patch.caption),
        text(Tphoto::TextDesc, &patch.text_desc),
        text(Tphoto::Type, &patch.kind),
        text(Tphoto::PublicInd, &patch.license),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !values.is_empty() {
        let update =
            Query::update().table(Tphoto::Table).values(values).and_where(Expr::col(Tphoto::Id).eq(id)).to_owned();
        tx.execute(&update).await?;
    }
    let after = tx.fetch_optional(&one(id)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Soft-delete live photo `id` and recount its trig's photos, in one transaction holding the
/// photo's row lock; `authorize` sees the row as locked and may refuse. Returns the photo as
/// it was, or `None` when there is no such live photo.
pub async fn soft_delete<E: From<DbError>>(
    db: &Db,
    id: i32,
    authorize: impl FnOnce(&PhotoRow) -> Result<(), E>,
) -> Result<Option<PhotoRow>, E> {
    let mut tx = db.begin().await?;
    let Some(before) = tx.fetch_locked::<PhotoRow>(Tphoto::Table, id, &one(id)).await? else { return Ok(None) };
    authorize(&before)?;
    let update = Query::update()
        .table(Tphoto::Table)
        .value(Tphoto::DeletedInd, "Y")
        .and_where(Expr::col(Tphoto::Id).eq(id))
        .to_owned();
    tx.execute(&update).await?;
    if let Some(trig) = before.trig_id {
        trigstats::refresh(&mut tx, trig, Recount::LogsAndPhotos).await?;
    }
    tx.commit().await?;
    Ok(Some(before))
}
