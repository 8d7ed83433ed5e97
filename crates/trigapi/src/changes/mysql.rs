//! The MySQL/MariaDB source: the row-based binary log, read as a replica reads it (a binlog
//! dump from a position), with each row's old and new values and its columns' names.
//!
//! - The position is a binlog file and offset, always a commit's end. With Redis the fleet
//!   keeps it in `trigapi_binlog_position` (written at most every second, after the tags of
//!   the transactions before it are bumped), so a consumer that dies, or the instance that
//!   takes over, re-reads what was not confirmed: at least once. Without Redis each process has
//!   a cache of its own and starts at the end of the binlog.
//! - A position that cannot be resumed (its file was purged, or none was stored) starts at the
//!   end of the binlog and invalidates everything once.
//! - Changes made by statements rather than rows (DDL, or a session that switched to
//!   `binlog_format=STATEMENT`) to a table the cache reads invalidate everything, as do
//!   row events this source cannot read (MariaDB's compressed ones).
//!
//! The binlog's event timestamps are whole seconds: a change's commit time is taken as when it
//! arrived when that is within the second the event names, so the lag figures stay in
//! milliseconds.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, EventData, OptionalMetadataField, RowsEventData, TableMapEvent};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Opts, OptsBuilder, SslOpts, Value};
use sqlx::mysql::MySqlPool;

use super::{BATCH, Batch, Columns, TABLES, now_ms};
use crate::invalidation::RowChange;

/// Where the fleet keeps its position; its own writes are not changes to look at.
const POSITION_TABLE: &str = "trigapi_binlog_position";
/// How long a read waits for the first change before it lets the caller renew its role.
const WAIT: Duration = Duration::from_millis(250);
/// How often the server sends a heartbeat while the binlog is quiet.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence this long means the session is dead: reconnect.
const SILENCE: Duration = Duration::from_secs(5);
/// How often the position is written while it moves.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The MySQL error for a binlog position the server no longer has (or never had).
const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;
/// Ids looked up at once when a batch's photos and owners are read.
const FILL_CHUNK: usize = 10_000;
/// MariaDB's compressed row events (`log_bin_compress`), which this source cannot read.
const MARIADB_COMPRESSED_ROWS: std::ops::RangeInclusive<u8> = 166..=171;

/// Check that this server can carry the change stream and make what it needs: the position
/// table. Says everything that is missing at once.
pub(super) async fn prepare(pool: &MySqlPool) -> anyhow::Result<()> {
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
         ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')",
    )
    .fetch_all(pool)
    .await?;
    let setting = |name: &str| settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_ascii_uppercase());
    let mut missing = Vec::new();
    if setting("log_bin").as_deref() != Some("ON") {
        missing.push("log_bin is OFF: start the server with --log-bin".to_owned());
    }
    for (name, wanted) in [("binlog_format", "ROW"), ("binlog_row_image", "FULL"), ("binlog_row_metadata", "FULL")] {
        match setting(name) {
            Some(value) if value == wanted => {}
            Some(value) => missing.push(format!(
                "{name} is {value}: SET GLOBAL {name} = '{wanted}' (and set it in the server's configuration)"
            )),
            None => missing.push(format!("this server has no {name} (MySQL 8.0.1 or MariaDB 10.5 and later have)")),
        }
    }
    let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS").fetch_all(pool).await?;
    let granted = |privilege: &str| {
        grants.iter().any(|g| g.contains(" ON *.*") && (g.contains(privilege) || g.contains("ALL PRIVILEGES")))
    };
    if !granted("REPLICATION SLAVE") && !granted("REPLICATION REPLICA") {
        missing.push("this user may not read the binlog: GRANT REPLICATION SLAVE ON *.* TO it".to_owned());
    }
    if missing.is_empty()
        && let Err(error) = end_of_binlog(pool).await
    {
        missing.push(format!(
            "this user may not see where the binlog ends ({error}): GRANT BINLOG MONITOR (MariaDB) or \
             REPLICATION CLIENT (MySQL) ON *.* TO it"
        ));
    }
    anyhow::ensure!(missing.is_empty(), "CHANGE_STREAM=on on MySQL/MariaDB needs: {}", missing.join("; "));
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS trigapi_binlog_position (reader VARCHAR(64) NOT NULL PRIMARY KEY, \
         file VARCHAR(255) NOT NULL, pos BIGINT UNSIGNED NOT NULL, saved_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Where the binlog ends now (MySQL 8.4 renamed the statement).
async fn end_of_binlog(pool: &MySqlPool) -> anyhow::Result<Position> {
    use sqlx::Row;
    let row = match sqlx::query("SHOW MASTER STATUS").fetch_optional(pool).await {
        Ok(row) => row,
        // A syntax error: MySQL 8.4 and later.
        Err(sqlx::Error::Database(e))
            if e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| e.number() == 1064) =>
        {
            sqlx::query("SHOW BINARY LOG STATUS").fetch_optional(pool).await?
        }
        Err(e) => return Err(e.into()),
    };
    let row = row.ok_or_else(|| anyhow::anyhow!("the server writes no binlog"))?;
    Ok(Position { file: row.try_get(0)?, pos: row.try_get(1)? })
}

/// How the binlog session connects: `DATABASE_URL`'s server, user, password, database and
/// TLS (`ssl-mode`, `ssl-ca`, as sqlx reads them).
pub(super) fn binlog_options(url: &str) -> anyhow::Result<Opts> {
    let parsed = url::Url::parse(url)?;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let database = decode(parsed.path().trim_start_matches('/'));
    anyhow::ensure!(!database.is_empty(), "CHANGE_STREAM=on on MySQL/MariaDB needs the database named in DATABASE_URL");
    let host = parsed.host_str().filter(|h| !h.is_empty()).unwrap_or("localhost").to_owned();
    let param =
        |names: &[&str]| parsed.query_pairs().find(|(k, _)| names.contains(&k.as_ref())).map(|(_, v)| v.into_owned());
    let mode = param(&["ssl-mode", "sslmode"]).unwrap_or_default().to_ascii_uppercase().replace('-', "_");
    let roots = param(&["ssl-ca", "sslrootcert"]).map(|path| vec![std::path::PathBuf::from(path).into()]);
    let tls = match mode.as_str() {
        "" | "DISABLED" | "PREFERRED" => None,
        "REQUIRED" => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
        }
        "VERIFY_CA" => {
            Some(SslOpts::default().with_root_certs(roots.unwrap_or_default()).with_danger_skip_domain_validation(true))
        }
        "VERIFY_IDENTITY" => Some(SslOpts::default().with_root_certs(roots.unwrap_or_default())),
        other => anyhow::bail!("ssl-mode {other} in DATABASE_URL is not one the change stream knows"),
    };
    if tls.is_some() {
        // One crypto provider for the process, the one sqlx and the Redis tier use.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(parsed.port().unwrap_or(3306))
        .user(Some(decode(parsed.username())))
        .pass(parsed.password().map(decode))
        .db_name(Some(database))
        .prefer_socket(false)
        .ssl_opts(tls);
    Ok(opts.into())
}

/// A place in the binlog.
#[derive(Clone, Debug, PartialEq)]
struct Position {
    file: String,
    pos: u64,
}

/// A table the cache reads, as a table map event described it.
struct Table {
    name: &'static str,
    columns: Vec<String>,
}

pub(super) struct Source {
    pool: MySqlPool,
    opts: Opts,
    /// The database (schema) whose tables are read.
    database: String,
    /// The fleet's position, kept in the database; `false`: this process's own, from the end.
    fleet: bool,
    /// Distinct from the real replicas' ids.
    server_id: u32,
    stream: Option<BinlogStream>,
    /// The binlog file being read.
    file: String,
    /// When the server last said anything.
    heard: Instant,
    /// The session's format description was read.
    described: bool,
    /// The server refused to send from the position: the next session starts at the end.
    unreadable_position: bool,
    /// Table ids in the current session that are tables the cache reads.
    tables: HashMap<u64, Table>,
    /// The changes of the transaction being received.
    open: Vec<RowChange>,
    /// Whether it wrote a table other than the position table.
    open_foreign: bool,
    /// A `BEGIN` was read and its commit was not.
    in_transaction: bool,
    /// Transactions committed and received, not yet read.
    ready: VecDeque<Transaction>,
    /// The end of the last transaction read and not yet applied.
    claimed: Option<Position>,
    /// The position applied (this instance's own, newer than the stored one).
    position: Option<Position>,
    /// The position moved since it was written.
    unsaved: bool,
    saved_at: Instant,
    /// Changes were lost for this reason: say so with the next batch.
    lose: Option<&'static str>,
}

struct Transaction {
    changes: Vec<RowChange>,
    at_ms: i64,
    end: Position,
    /// It wrote something other than the position: the position is worth writing after it.
    foreign: bool,
}

impl Source {
    pub(super) fn new(pool: MySqlPool, opts: Opts, fleet: bool) -> Self {
        Self {
            pool,
            database: opts.db_name().unwrap_or_default().to_owned(),
            opts,
            fleet,
            server_id: fastrand::u32(0x4000_0000..0x7fff_ffff),
            stream: None,
            file: String::new(),
            heard: Instant::now(),
            described: false,
            unreadable_position: false,
            tables: HashMap::new(),
            open: Vec::new(),
            open_foreign: false,
            in_transaction: false,
            ready: VecDeque::new(),
            claimed: None,
            position: None,
            unsaved: false,
            saved_at: Instant::now(),
            lose: None,
        }
    }

    /// Give up the stream (another instance reads now): forget what was received and not
    /// applied, and the position, which the other instance moves.
    pub(super) fn release(&mut self) {
        self.drop_session();
        self.position = None;
        self.unsaved = false;
    }

    /// Forget the session and what it received and was not applied: the next read starts
    /// again from the position.
    fn drop_session(&mut self) {
        self.stream = None;
        self.open.clear();
        self.in_transaction = false;
        self.ready.clear();
        self.claimed = None;
    }

    /// Open a binlog session at the position, or at the end of the binlog when the position
    /// is unknown or gone (then what came before it is unknown).
    async fn connect(&mut self) -> anyhow::Result<BinlogStream> {
        prepare(&self.pool).await?;
        self.tables.clear();
        let mut conn = Conn::new(self.opts.clone()).await?;
        let start = match self.position.clone() {
            Some(position) => Some(position),
            None if self.fleet => stored(&self.pool).await?,
            None => None,
        };
        let files: Vec<String> =
            conn.query::<mysql_async::Row, _>("SHOW BINARY LOGS").await?.iter().filter_map(|r| r.get(0)).collect();
        let unreadable = std::mem::take(&mut self.unreadable_position);
        let start = match start {
            Some(position) if files.contains(&position.file) && !unreadable => position,
            found => {
                self.lose = Some(match (found, self.fleet) {
                    (Some(_), _) if unreadable => "the server could not send the binlog from the stored position",
                    (Some(_), _) => "the binlog at the stored position was purged",
                    (None, true) => "no binlog position was stored (the first start, or it was removed)",
                    (None, false) => "a new reader: what was committed before it is unknown",
                });
                let end = end_of_binlog(&self.pool).await?;
                self.position = Some(end.clone());
                self.unsaved = true;
                end
            }
        };
        // MySQL 8.4 reads the second name.
        let period = HEARTBEAT.as_nanos();
        conn.query_drop(format!("SET @master_heartbeat_period = {period}, @source_heartbeat_period = {period}"))
            .await?;
        let request = BinlogStreamRequest::new(self.server_id).with_filename(start.file.as_bytes()).with_pos(start.pos);
        let stream = conn.get_binlog_stream(request).await?;
        self.file = start.file;
        self.heard = Instant::now();
        self.described = false;
        Ok(stream)
    }

    /// The transactions committed since the last read, up to [`BATCH`] changes: waits a
    /// moment for the first; `None` when nothing came.
    pub(super) async fn read(&mut self) -> anyhow::Result<Option<Batch>> {
        if let Err(error) = self.receive().await {
            // Start again from the position applied.
            self.drop_session();
            return Err(error);
        }
        let mut taken = Vec::new();
        let mut end = None;
        let mut foreign = false;
        // Whole transactions: the position stored is a commit's.
        while self.ready.front().is_some_and(|tx| taken.is_empty() || taken.len() + tx.changes.len() <= BATCH as usize)
        {
            let Some(tx) = self.ready.pop_front() else { break };
            end = Some(tx.end);
            foreign |= tx.foreign;
            taken.extend(tx.changes.into_iter().map(|c| (c, tx.at_ms)));
        }
        if taken.is_empty() && self.lose.is_none() {
            // Transactions that touched nothing the cache reads: the position moves past them.
            if let Some(end) = end.filter(|_| foreign) {
                self.position = Some(end);
                self.unsaved = true;
            }
            self.save_when_due().await?;
            return Ok(None);
        }
        if let Err(error) = fill(&self.pool, &mut taken).await {
            self.drop_session();
            return Err(error);
        }
        self.claimed = end;
        let behind = self.ready.iter().map(|tx| tx.changes.len() as u64).sum();
        Ok(Some(Batch { changes: taken, lost: self.lose.take(), more: !self.ready.is_empty(), behind }))
    }

    /// Receive events: wait up to [`WAIT`] for the first when nothing is ready, then take what
    /// has already arrived.
    async fn receive(&mut self) -> anyhow::Result<()> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => self.connect().await?,
        };
        let mut wait = self.ready.is_empty();
        let mut received: usize = self.ready.iter().map(|tx| tx.changes.len()).sum();
        while received < BATCH as usize {
            // The first event is waited for; after it, only what has already arrived is taken
            // (a zero timeout would wait for the timer's next tick, a millisecond in which the
            // next commit may come, and so on: at 1,000 commits/s a batch would never end).
            let next = if std::mem::take(&mut wait) {
                tokio::time::timeout(WAIT, stream.next()).await.ok()
            } else {
                // Polled once, with this task's waker (the session's reader keeps the waker it
                // was first polled with).
                std::future::poll_fn(|cx| match stream.poll_next_unpin(cx) {
                    Poll::Ready(event) => Poll::Ready(Some(event)),
                    Poll::Pending => Poll::Ready(None),
                })
                .await
            };
            let event = match next {
                None if self.heard.elapsed() > SILENCE => {
                    anyhow::bail!("the binlog session was silent for {SILENCE:?}")
                }
                None => break,
                Some(None) => anyhow::bail!("the binlog session ended"),
                Some(Some(Err(mysql_async::Error::Server(e)))) if e.code == ER_MASTER_FATAL_ERROR_READING_BINLOG => {
                    // The position is gone: the next session starts at the end, and says so.
                    self.unreadable_position = true;
                    anyhow::bail!("the server cannot send the binlog from the position: {}", e.message)
                }
                Some(Some(event)) => event?,
            };
            self.heard = Instant::now();
            if let Some(n) = self.event(&stream, &event) {
                received += n;
            }
        }
        self.stream = Some(stream);
        Ok(())
    }

    /// Take in one event; `Some(changes)` when it ended a transaction.
    fn event(&mut self, stream: &BinlogStream, event: &Event) -> Option<usize> {
        let header = event.header();
        let (end, at) = (u64::from(header.log_pos()), header.timestamp());
        if MARIADB_COMPRESSED_ROWS.contains(&header.event_type_raw()) {
            return self.unreadable("a compressed row event");
        }
        let data = match event.read_data() {
            Ok(data) => data,
            Err(_) => return self.unreadable("an event that cannot be parsed"),
        };
        match data {
            // The first event, a rotate to the file asked for, comes before the format
            // description that says events end in a checksum, so its name would end in one.
            Some(EventData::RotateEvent(rotate)) if self.described => self.file = rotate.name().into_owned(),
            Some(EventData::FormatDescriptionEvent(_)) => self.described = true,
            Some(EventData::TableMapEvent(map)) => self.map(&map),
            Some(EventData::RowsEvent(rows)) => self.rows(stream, &rows),
            Some(EventData::XidEvent(_)) => return Some(self.commit(end, at)),
            Some(EventData::QueryEvent(query)) => {
                let text = query.query();
                let statement = text.trim_start();
                let starts = |word: &str| statement.get(..word.len()).is_some_and(|s| s.eq_ignore_ascii_case(word));
                if starts("BEGIN") {
                    self.open.clear();
                    self.open_foreign = false;
                    self.in_transaction = true;
                } else if starts("COMMIT") {
                    // Tables without transactions end their changes so.
                    return Some(self.commit(end, at));
                } else if !starts("#") {
                    // DDL, which commits on its own, or a change logged as a statement.
                    if let Some(change) = statement_change(&query.schema(), &self.database, statement) {
                        self.open.push(change);
                    }
                    if !self.in_transaction {
                        return Some(self.commit(end, at));
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// An event that cannot be read in the open transaction: invalidate everything.
    fn unreadable(&mut self, what: &'static str) -> Option<usize> {
        tracing::warn!(event = "cache_change_stream_unreadable", what, "an unreadable change: invalidating everything");
        self.open.push(RowChange::Everything);
        None
    }

    /// A table map: remember the ids of the tables the cache reads, with their columns.
    fn map(&mut self, map: &TableMapEvent) {
        let name = map.table_name();
        if name != POSITION_TABLE {
            self.open_foreign = true;
        }
        let table = (map.database_name() == self.database)
            .then(|| TABLES.iter().find(|t| **t == name))
            .flatten()
            .map(|name| Table { name, columns: column_names(map) });
        match table {
            Some(table) => self.tables.insert(map.table_id(), table),
            None => self.tables.remove(&map.table_id()),
        };
    }

    /// The row changes of a rows event on a table the cache reads.
    fn rows(&mut self, stream: &BinlogStream, rows: &RowsEventData) {
        let Some(table) = self.tables.get(&rows.table_id()) else { return };
        let Some(map) = stream.get_tme(rows.table_id()) else {
            self.open.push(RowChange::Everything);
            return;
        };
        for row in rows.rows(map) {
            let change = row.ok().and_then(|(before, after)| {
                let (old, new) = (before.map(|r| Row { table, row: r }), after.map(|r| Row { table, row: r }));
                super::row_change(table.name, old.as_ref(), new.as_ref())
            });
            self.open.push(change.unwrap_or_else(|| {
                tracing::warn!(
                    event = "cache_change_stream_unreadable",
                    table = table.name,
                    "an unreadable row change: invalidating everything"
                );
                RowChange::Everything
            }));
        }
    }

    /// A transaction ended at `end` in the current file, committed at `at` (Unix seconds): the
    /// changes it made.
    fn commit(&mut self, end: u64, at: u32) -> usize {
        let end = Position { file: self.file.clone(), pos: end };
        self.in_transaction = false;
        let received = now_ms();
        let at_ms = i64::from(at) * 1000;
        let at_ms = if received - at_ms < 1000 { received.max(at_ms) } else { at_ms };
        let changes = std::mem::take(&mut self.open);
        let n = changes.len();
        let foreign = std::mem::take(&mut self.open_foreign);
        self.ready.push_back(Transaction { changes, at_ms, end, foreign });
        n
    }

    /// The changes read last are applied: the position moves past them.
    pub(super) async fn applied(&mut self) -> anyhow::Result<()> {
        if let Some(end) = self.claimed.take() {
            self.position = Some(end);
            self.unsaved = true;
        }
        self.save_when_due().await
    }

    /// Write the fleet's position if it moved and was last written [`SAVE_EVERY`] ago.
    async fn save_when_due(&mut self) -> anyhow::Result<()> {
        let Some(position) = self.position.as_ref().filter(|_| self.fleet && self.unsaved) else { return Ok(()) };
        if self.saved_at.elapsed() < SAVE_EVERY {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO trigapi_binlog_position (reader, file, pos, saved_at) VALUES ('fleet', ?, ?, ?) \
             ON DUPLICATE KEY UPDATE file = VALUES(file), pos = VALUES(pos), saved_at = VALUES(saved_at)",
        )
        .bind(&position.file)
        .bind(position.pos)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.unsaved = false;
        self.saved_at = Instant::now();
        Ok(())
    }
}

/// The fleet's stored position, if any.
async fn stored(pool: &MySqlPool) -> anyhow::Result<Option<Position>> {
    let row: Option<(String, u64)> =
        sqlx::query_as("SELECT file, pos FROM trigapi_binlog_position WHERE reader = 'fleet'")
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(file, pos)| Position { file, pos }))
}

/// The column names a table map carries (`binlog_row_metadata=FULL`); empty without them,
/// and then no row of the table can be read.
fn column_names(map: &TableMapEvent) -> Vec<String> {
    map.iter_optional_meta()
        .filter_map(Result::ok)
        .find_map(|field| match field {
            OptionalMetadataField::ColumnName(names) => {
                Some(names.iter_names().filter_map(Result::ok).map(|n| n.name().into_owned()).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// What a statement logged as text does to the tables the cache reads: `None` when it names
/// none of them (or another database's); a whole-table change for places and postcodes;
/// everything otherwise (DDL such as `TRUNCATE tlog` or `ALTER TABLE`, which row events do not
/// describe).
fn statement_change(schema: &str, database: &str, statement: &str) -> Option<RowChange> {
    let lower = statement.to_ascii_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    let named: Vec<&str> = TABLES.iter().copied().filter(|t| words.contains(t)).collect();
    if named.is_empty() || (schema != database && !words.contains(&database.to_ascii_lowercase().as_str())) {
        return None;
    }
    let wholes: Vec<RowChange> = named.iter().filter_map(|t| super::whole(t)).collect();
    match wholes.first() {
        Some(first) if wholes.len() == named.len() && wholes.iter().all(|w| w == first) => Some(first.clone()),
        _ => Some(RowChange::Everything),
    }
}

/// A log's live photos and a photo's log's trig and user: read now, for the whole batch (in
/// chunks: a statement takes at most 65,535 parameters).
async fn fill(pool: &MySqlPool, changes: &mut [(RowChange, i64)]) -> anyhow::Result<()> {
    let (logs, photo_logs) = super::wanted(changes);
    let mut photos: Vec<(i32, i32)> = Vec::new();
    for chunk in logs.chunks(FILL_CHUNK) {
        photos.extend(
            rows_in::<(i32, i32)>(pool, "SELECT tlog_id, id FROM tphoto WHERE deleted_ind <> 'Y' AND tlog_id", chunk)
                .await?,
        );
    }
    photos.sort_unstable_by_key(|(_, photo)| *photo);
    let mut owners: Vec<(i32, i32, i32)> = Vec::new();
    for chunk in photo_logs.chunks(FILL_CHUNK) {
        owners.extend(rows_in::<(i32, i32, i32)>(pool, "SELECT id, trig_id, user_id FROM tlog WHERE id", chunk).await?);
    }
    super::fill(changes, photos, owners);
    Ok(())
}

/// The rows of `select` followed by ` IN (ids)`.
async fn rows_in<T>(pool: &MySqlPool, select: &str, ids: &[i32]) -> anyhow::Result<Vec<T>>
where
    T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::mysql::MySqlRow>,
{
    let mut query = sqlx::QueryBuilder::new(format!("{select} IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    Ok(query.build_query_as().fetch_all(pool).await?)
}

/// A row of a table the cache reads, as a rows event carried it.
struct Row<'a> {
    table: &'a Table,
    row: BinlogRow,
}

impl Columns for Row<'_> {
    fn text(&self, column: &str) -> Option<Cow<'_, str>> {
        match self.value(column)? {
            Value::Bytes(bytes) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            Value::Int(n) => Some(Cow::Owned(n.to_string())),
            Value::UInt(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    fn int(&self, column: &str) -> Option<i32> {
        match self.value(column)? {
            Value::Int(n) => i32::try_from(*n).ok(),
            Value::UInt(n) => i32::try_from(*n).ok(),
            Value::Bytes(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            _ => None,
        }
    }
}

impl Row<'_> {
    fn value(&self, column: &str) -> Option<&Value> {
        let i = self.table.columns.iter().position(|c| c == column)?;
        match self.row.as_ref(i)? {
            BinlogValue::Value(value) => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_on_the_tables_the_cache_reads() {
        let db = "trig";
        assert_eq!(statement_change(db, db, "TRUNCATE TABLE town"), Some(RowChange::Places));
        assert_eq!(statement_change(db, db, "truncate postcodes"), Some(RowChange::Postcodes));
        assert_eq!(statement_change(db, db, "TRUNCATE tlog"), Some(RowChange::Everything));
        assert_eq!(statement_change(db, db, "ALTER TABLE `user` ADD COLUMN x INT"), Some(RowChange::Everything));
        assert_eq!(statement_change(db, db, "DROP TABLE town, tlog"), Some(RowChange::Everything));
        assert_eq!(statement_change(db, db, "CREATE TABLE scratch (id INT)"), None);
        assert_eq!(statement_change("other", db, "TRUNCATE tlog"), None);
        assert_eq!(statement_change("other", db, "TRUNCATE trig.tlog"), Some(RowChange::Everything));
    }
}
