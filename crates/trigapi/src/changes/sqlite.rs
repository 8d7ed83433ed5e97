//! The SQLite source: triggers record each committed change in `trigapi_change`
//! (`sqlite_capture.sql`, installed when the stream is turned on), whoever wrote it. A
//! connection of its own watches `PRAGMA data_version`, which moves when another connection
//! (this server's pool, or another process) commits, and reads the new rows then.
//!
//! Each reader keeps its position in `trigapi_change_reader`: the last change read (claimed,
//! before its tags are bumped) and the last applied (after). The change numbers have no gaps
//! (`AUTOINCREMENT` rolls back with the transaction), so a reader whose next row is not the one
//! after its position knows that rows it never read were deleted.

use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{ConnectOptions, Connection, Row};

use super::{BATCH, Batch};
use crate::invalidation::{Change, LogRow, PhotoRow, RowChange, UserRow};

/// The change table and its readers' positions.
const TABLES: &str = include_str!("sqlite_capture.sql");

/// The tables recorded row by row, and what a change keeps of a row (`{r}` is `OLD` or `NEW`):
/// a log's trig, user and live photos (which show its date); a photo's log, the log's trig and
/// user (null when the log is gone) and whether it is deleted (photos are deleted by a flag); a
/// user's name (other rows' entries show it); a trig's id.
const ROWS: &[(&str, &str)] = &[
    (
        "tlog",
        "json_object('id', {r}.id, 'trig', {r}.trig_id, 'user', {r}.user_id, 'photos', \
         json((SELECT json_group_array(id) FROM tphoto WHERE tlog_id = {r}.id AND deleted_ind <> 'Y')))",
    ),
    (
        "tphoto",
        "json_object('id', {r}.id, 'log', {r}.tlog_id, 'deleted', {r}.deleted_ind, \
         'trig', (SELECT trig_id FROM tlog WHERE id = {r}.tlog_id), \
         'user', (SELECT user_id FROM tlog WHERE id = {r}.tlog_id))",
    ),
    ("user", "json_object('id', {r}.id, 'name', {r}.name)"),
    ("trig", "json_object('id', {r}.id)"),
    ("trigstats", "json_object('id', {r}.id)"),
];

/// Places and postcodes: their searches are invalidated as a whole and a load writes millions
/// of rows, so a change is recorded only while none is pending: not yet claimed by any reader.
/// A reader claims what it read (in a write, so after any writer that saw the row pending has
/// committed) before it bumps the tags, so the bump follows every write that relied on it.
const WHOLE: &[&str] = &["town", "postcode6", "postcodes"];

/// The triggers installed: one per table and kind of change.
const TRIGGERS: i64 = ((ROWS.len() + WHOLE.len()) * 3) as i64;

/// The change table and the triggers: plain SQL that any SQLite from 3.38 (JSON built in)
/// runs, so an older `sqlite3` shell writing the file still fires them. The triggers are made
/// anew at every start, in one transaction (no write runs between the drop and the create),
/// so they follow the tables' columns after a migration. An update is recorded
/// only when it changed a column: SQLite fires update triggers for rows set to what they were
/// (a recount that found the same numbers), and those change no entry.
async fn capture(pool: &SqlitePool) -> anyhow::Result<String> {
    let mut sql = format!("BEGIN IMMEDIATE;\n{TABLES}");
    for (table, row) in ROWS {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?)").bind(table).fetch_all(pool).await?;
        anyhow::ensure!(!columns.is_empty(), "the change stream needs table {table}, which this database lacks");
        let all = |r: &str| columns.iter().map(|c| format!("{r}.\"{c}\"")).collect::<Vec<_>>().join(", ");
        let changed = format!("WHEN ({}) IS NOT ({})", all("OLD"), all("NEW"));
        for (event, old, new) in
            [("INSERT", None, Some("NEW")), ("UPDATE", Some("OLD"), Some("NEW")), ("DELETE", Some("OLD"), None)]
        {
            let values = |r: Option<&str>| r.map_or_else(|| "NULL".to_owned(), |r| row.replace("{r}", r));
            let when = if event == "UPDATE" { changed.as_str() } else { "" };
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS trigapi_{table}_{event}; \
                 CREATE TRIGGER trigapi_{table}_{event} AFTER {event} ON \"{table}\" {when} BEGIN \
                 INSERT INTO trigapi_change (tbl, old, new) VALUES ('{table}', {}, {}); END;\n",
                values(old),
                values(new),
            ));
        }
    }
    for table in WHOLE {
        for event in ["INSERT", "UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS trigapi_{table}_{event}; \
                 CREATE TRIGGER trigapi_{table}_{event} AFTER {event} ON {table} \
                 WHEN NOT EXISTS (SELECT 1 FROM trigapi_change WHERE tbl = '{table}' \
                 AND seq > (SELECT coalesce(max(claimed), 0) FROM trigapi_change_reader)) \
                 BEGIN INSERT INTO trigapi_change (tbl) VALUES ('{table}'); END;\n"
            ));
        }
    }
    sql.push_str("COMMIT;\n");
    Ok(sql)
}

/// A reader silent this long is dropped (it falls back to a global bump if it comes back).
const READER_TIMEOUT_MS: i64 = 60_000;
/// How often an idle reader says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

pub(super) struct Source {
    pool: SqlitePool,
    /// Watches `data_version` (which counts other connections' commits) and claims batches.
    conn: Option<SqliteConnection>,
    reader: String,
    poll: Duration,
    registered: bool,
    data_version: Option<i64>,
    /// The last change read and not yet applied.
    claimed: Option<i64>,
    /// Whether the last read left rows unread.
    more: bool,
    /// Changes were lost for this reason (the triggers were removed): say so with the next batch.
    lose: Option<&'static str>,
    seen: Instant,
}

impl Source {
    pub(super) fn new(pool: SqlitePool, reader: String, poll: Duration) -> Self {
        Self {
            pool,
            conn: None,
            reader,
            poll,
            registered: false,
            data_version: None,
            claimed: None,
            more: false,
            lose: None,
            seen: Instant::now(),
        }
    }

    pub(super) fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// Read again even if nothing seems to have changed (another instance may have read).
    pub(super) fn forget_version(&mut self) {
        self.data_version = None;
    }

    /// The changes after this reader's position, claimed; `None` when nothing was committed
    /// since the last look.
    pub(super) async fn read(&mut self) -> anyhow::Result<Option<Batch>> {
        if !self.registered {
            self.register().await?;
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.pool.connect_options().connect().await?),
        };
        let version: i64 = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut *conn).await?;
        if Some(version) == self.data_version && !self.more {
            if self.seen.elapsed() >= HEARTBEAT {
                sqlx::query("UPDATE trigapi_change_reader SET seen_ms = ? WHERE name = ?")
                    .bind(super::now_ms())
                    .bind(&self.reader)
                    .execute(&mut *conn)
                    .await?;
                self.seen = Instant::now();
                let triggers: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'trigapi\\_%' ESCAPE '\\'",
                )
                .fetch_one(&mut *conn)
                .await?;
                if triggers < TRIGGERS {
                    // Whatever was written since they went was not recorded.
                    self.register().await?;
                    self.lose = Some("the change triggers were removed");
                    self.data_version = None;
                }
            }
            return Ok(None);
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let position: Option<i64> = sqlx::query_scalar("SELECT seq FROM trigapi_change_reader WHERE name = ?")
            .bind(&self.reader)
            .fetch_optional(&mut *tx)
            .await?;
        let newest: i64 =
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'trigapi_change'")
                .fetch_one(&mut *tx)
                .await?;
        let (position, reset) = match position {
            Some(p) if p <= newest => (p, None),
            Some(_) => (newest, Some("the change table was recreated")),
            None => (newest, Some("this reader was dropped after a minute of silence")),
        };
        if reset.is_some() {
            sqlx::query(
                "INSERT OR REPLACE INTO trigapi_change_reader (name, seq, claimed, seen_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(&self.reader)
            .bind(position)
            .bind(position)
            .bind(super::now_ms())
            .execute(&mut *tx)
            .await?;
        }
        let rows =
            sqlx::query("SELECT seq, at_ms, tbl, old, new FROM trigapi_change WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(position)
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await?;
        let first = rows.first().map(|r| r.get::<i64, _>(0));
        let trimmed = first.map_or(newest > position, |f| f != position + 1);
        let lost = reset.or(self.lose.take()).or(trimmed.then_some("the change table was trimmed past this reader"));
        let last = rows.last().map_or(newest.max(position), |r| r.get::<i64, _>(0));
        sqlx::query("UPDATE trigapi_change_reader SET claimed = ?, seen_ms = ? WHERE name = ?")
            .bind(last)
            .bind(super::now_ms())
            .bind(&self.reader)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.seen = Instant::now();
        self.data_version = Some(version);
        self.more = rows.len() as i64 == BATCH;
        self.claimed = Some(last);
        let changes = rows
            .iter()
            .map(|r| {
                let change = parse(r.get(2), r.get(3), r.get(4));
                (change, r.get::<i64, _>(1))
            })
            .collect();
        let behind = u64::try_from(newest - last).unwrap_or(0);
        Ok(Some(Batch { changes, lost, more: self.more, behind }))
    }

    /// Record the claimed changes as applied, and trim what every reader has applied.
    pub(super) async fn applied(&mut self) -> anyhow::Result<()> {
        let (Some(claimed), Some(conn)) = (self.claimed.take(), &mut self.conn) else { return Ok(()) };
        let now = super::now_ms();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE trigapi_change_reader SET seq = ?, seen_ms = ? WHERE name = ?")
            .bind(claimed)
            .bind(now)
            .bind(&self.reader)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM trigapi_change_reader WHERE seen_ms < ? AND name <> ?")
            .bind(now - READER_TIMEOUT_MS)
            .bind(&self.reader)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM trigapi_change WHERE seq <= (SELECT min(seq) FROM trigapi_change_reader)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Install the change table and triggers, and start this reader at the newest change if
    /// it has no position yet (nothing before the stream was turned on was recorded).
    async fn register(&mut self) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(capture(&self.pool).await?)).execute(&self.pool).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO trigapi_change_reader (name, seq, claimed, seen_ms) \
             SELECT ?, s, s, ? FROM (SELECT coalesce(max(seq), 0) AS s FROM sqlite_sequence WHERE name = 'trigapi_change')",
        )
        .bind(&self.reader)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await?;
        self.registered = true;
        Ok(())
    }
}

#[derive(Deserialize)]
struct LogJson {
    id: i32,
    trig: i32,
    user: i32,
    #[serde(default)]
    photos: Vec<i32>,
}

#[derive(Deserialize)]
struct PhotoJson {
    id: i32,
    log: i32,
    #[serde(default)]
    deleted: Option<String>,
    trig: Option<i32>,
    user: Option<i32>,
}

#[derive(Deserialize)]
struct UserJson {
    id: i32,
    name: String,
}

#[derive(Deserialize)]
struct IdJson {
    id: i32,
}

/// One row of `trigapi_change` as a row change; a row that cannot be read invalidates
/// everything (it is never skipped). A deleted photo reads as no row: flagging it is deleting
/// it, and unflagging it adding it.
fn parse(table: &str, old: Option<&str>, new: Option<&str>) -> RowChange {
    fn change<J: for<'de> Deserialize<'de>, R>(
        old: Option<&str>,
        new: Option<&str>,
        row: impl Fn(J) -> Option<R>,
    ) -> Option<Change<R>> {
        let read = |text: Option<&str>| -> Option<Option<R>> {
            match text {
                None => Some(None),
                Some(t) => serde_json::from_str::<J>(t).ok().map(&row),
            }
        };
        Some(Change { old: read(old)?, new: read(new)? })
    }
    let log = |j: LogJson| Some(LogRow { id: j.id, trig: j.trig, user: j.user, photos: j.photos });
    let photo = |j: PhotoJson| {
        (j.deleted.as_deref() != Some("Y")).then(|| PhotoRow { id: j.id, log: j.log, owner: j.trig.zip(j.user) })
    };
    let parsed = match table {
        "tlog" => change(old, new, log).map(RowChange::Log),
        "tphoto" => change(old, new, photo).map(RowChange::Photo),
        "user" => change(old, new, |j: UserJson| Some(UserRow { id: j.id, name: j.name })).map(RowChange::User),
        "trig" => change(old, new, |j: IdJson| Some(j.id)).map(RowChange::Trig),
        "trigstats" => change(old, new, |j: IdJson| Some(j.id)).map(RowChange::TrigStats),
        "town" => Some(RowChange::Places),
        "postcode6" | "postcodes" => Some(RowChange::Postcodes),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        tracing::warn!(
            event = "cache_change_stream_unreadable",
            table,
            "an unreadable change: invalidating everything"
        );
        RowChange::Everything
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_with_their_old_and_new_values() {
        let moved = parse(
            "tlog",
            Some(r#"{"id":5,"trig":1,"user":2,"photos":[7]}"#),
            Some(r#"{"id":5,"trig":3,"user":2,"photos":[7]}"#),
        );
        let RowChange::Log(Change { old: Some(old), new: Some(new) }) = moved else { panic!("{moved:?}") };
        assert_eq!((old.trig, new.trig, new.photos), (1, 3, vec![7]));
        let orphan = parse("tphoto", Some(r#"{"id":9,"log":5,"trig":null,"user":null}"#), None);
        assert_eq!(orphan, RowChange::Photo(Change::deleted(PhotoRow { id: 9, log: 5, owner: None })));
        let flagged = parse(
            "tphoto",
            Some(r#"{"id":9,"log":5,"deleted":"N","trig":1,"user":2}"#),
            Some(r#"{"id":9,"log":5,"deleted":"Y","trig":1,"user":2}"#),
        );
        assert_eq!(flagged, RowChange::Photo(Change::deleted(PhotoRow { id: 9, log: 5, owner: Some((1, 2)) })));
    }

    #[test]
    fn an_unreadable_change_invalidates_everything() {
        assert_eq!(parse("tlog", Some("{not json"), None), RowChange::Everything);
        assert_eq!(parse("attrval", None, Some("{}")), RowChange::Everything);
    }
}
