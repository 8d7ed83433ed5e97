//! The database layer: one set of sea-query statements run on SQLite, PostgreSQL or MySQL/MariaDB.
//!
//! [`Db`] wraps one sqlx pool per backend. Every query module (`trigs`, `logs`, `photos`, `users`,
//! `stats`) builds backend-neutral [`sea_query`] statements and hands them to the small set of
//! dispatch methods here, which render them with the right dialect and decode rows through a
//! single `#[derive(sqlx::FromRow)]` struct. SQL lives only in this module tree.

pub mod gazetteer;
pub mod logs;
pub mod migrate;
pub mod photos;
mod schema;
pub mod search;
pub mod seed_writer;
pub mod stats;
pub mod trigs;
pub mod trigstats;
pub mod users;

use std::str::FromStr;

use chrono::Timelike;
use std::time::Duration;

use sea_query::{Expr, ExprTrait, MysqlQueryBuilder, PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow};

pub use schema::*;

/// Errors of the database layer. Callers map them to HTTP in the error module.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL scheme in {0:?} (use sqlite://, postgres:// or mysql://)")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("building a statement: {0}")]
    Statement(#[from] sea_query::error::Error),
}

impl DbError {
    /// Connection-level failures (pool timeout, refused, closed) mean "try later", not "bug".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Sqlx(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            )
        )
    }
}

impl From<DbError> for crate::error::ApiError {
    fn from(e: DbError) -> Self {
        let unavailable = e.is_unavailable();
        Self::Database(std::sync::Arc::new(crate::error::DatabaseFailure { error: Box::new(e), unavailable }))
    }
}

/// Which SQL dialect a [`Db`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    /// Name used in logs and test names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// The name of a 64-bit integer type in `CAST(… AS …)`.
    pub(crate) fn bigint(self) -> &'static str {
        match self {
            Backend::MySql => "SIGNED",
            _ => "BIGINT",
        }
    }

    /// `CAST(col AS <double>)`: DECIMAL columns (`wgs_lat`, `score_mean`, …) are read as `f64` on
    /// every backend; the wire layer re-applies the column's scale where the contract wants strings.
    pub(crate) fn as_double(self, col: impl Into<Expr>) -> Expr {
        let ty = match self {
            Backend::Sqlite => "REAL",
            Backend::Postgres => "DOUBLE PRECISION",
            Backend::MySql => "DOUBLE",
        };
        col.into().cast_as(sea_query::Alias::new(ty))
    }
}

/// A pooled connection to one of the three supported databases. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Rows that decode on all three backends.
pub trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}

/// Build a statement for the pool's dialect and run one sqlx call on it.
macro_rules! dispatch {
    ($db:expr, $stmt:expr, |$sql:ident, $values:ident, $pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                $body
            }
            Db::Postgres($pool) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                $body
            }
            Db::MySql($pool) => {
                let ($sql, $values) = $stmt.build_sqlx(MysqlQueryBuilder);
                $body
            }
        }
    };
}

impl Db {
    /// Connect to `url` (`sqlite://…`, `postgres://…`, `mysql://…`). SQLite files are created on
    /// first use, run in WAL mode, and get a pool sized for concurrent readers.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        let acquire = Duration::from_secs(5);
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                // `REGEXP`, from the regex crate (linear-time): log patterns are matched inside
                // the database (`search::logs_matching_in_db`).
                .with_regexp()
                // Every pooled connection has its own page cache; memory-map the file so large
                // index scans (site-wide counts) read shared pages instead of copying them.
                .pragma("mmap_size", "1073741824")
                .pragma("cache_size", "-16384");
            if let Some(dir) = opts.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| DbError::Sqlx(sqlx::Error::Io(e)))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool =
                PgPoolOptions::new().max_connections(max_connections).acquire_timeout(acquire).connect(url).await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let url = url.replacen("mariadb:", "mysql:", 1);
            let pool = MySqlPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire)
                // TIMESTAMP columns are read and written as naive UTC, as on the other backends.
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::Executor::execute(conn, "SET time_zone = '+00:00'").await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            Ok(Db::MySql(pool))
        } else {
            Err(DbError::UnsupportedUrl(redact_url(url)))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
            Db::MySql(_) => Backend::MySql,
        }
    }

    pub async fn fetch_all<T: AnyRow>(&self, stmt: &SelectStatement) -> Result<Vec<T>, DbError> {
        dispatch!(self, stmt, |sql, values, pool| {
            Ok(sqlx::query_as_with(AssertSqlSafe(sql), values).fetch_all(pool).await?)
        })
    }

    pub async fn fetch_optional<T: AnyRow>(&self, stmt: &SelectStatement) -> Result<Option<T>, DbError> {
        dispatch!(self, stmt, |sql, values, pool| {
            Ok(sqlx::query_as_with(AssertSqlSafe(sql), values).fetch_optional(pool).await?)
        })
    }

    /// Run a `SELECT COUNT(*) …` (or any single-`i64` select).
    pub async fn fetch_count(&self, stmt: &SelectStatement) -> Result<i64, DbError> {
        let row: Option<Count> = self.fetch_optional(stmt).await?;
        Ok(row.map(|c| c.n).unwrap_or(0))
    }

    /// Rows of `table` matching `cond`. A whole-table count on PostgreSQL reads the trigger-kept
    /// counter (`migrations/postgres/0004_row_counts.sql`), falling back to `COUNT(*)` if the
    /// counter is missing; SQLite and MySQL count directly.
    pub(crate) async fn count(&self, table: Counted, cond: sea_query::Condition) -> Result<i64, DbError> {
        if cond.is_empty() && self.backend() == Backend::Postgres {
            let stmt = sea_query::Query::select()
                .expr_as(Expr::col(RowCounts::N), "n")
                .from(RowCounts::Table)
                .and_where(Expr::col(RowCounts::TableName).eq(table.table().to_string()))
                .to_owned();
            match self.fetch_optional::<Count>(&stmt).await {
                Ok(Some(c)) => return Ok(c.n),
                Ok(None) => {}
                Err(err) => tracing::debug!(error = %err, "row counter unavailable, counting rows"),
            }
        }
        self.fetch_count(&count_where(table.table(), cond)).await
    }

    /// Run one data-changing statement (INSERT, UPDATE, DELETE); returns the rows affected.
    pub async fn execute<S: SqlxBinder>(&self, stmt: &S) -> Result<u64, DbError> {
        dispatch!(self, stmt, |sql, values, pool| {
            Ok(sqlx::query_with(AssertSqlSafe(sql), values).execute(pool).await?.rows_affected())
        })
    }

    /// Execute raw SQL text that is the same on every backend (admin/seed use only).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), DbError> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Db::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop)?,
            Db::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop)?,
            Db::MySql(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// `SELECT 1`-style liveness probe used by `/health`.
    pub async fn ping(&self) -> Result<(), DbError> {
        let stmt = sea_query::Query::select().expr_as(Expr::val(1i64), "n").to_owned();
        self.fetch_count(&stmt).await.map(drop)
    }

    /// Connections idle in the pool, and whether the pool may open more: none idle and no room
    /// means live requests are waiting for the database (what background work yields to).
    pub fn saturated(&self) -> bool {
        let (idle, size, max) = match self {
            Db::Sqlite(p) => (p.num_idle(), p.size(), p.options().get_max_connections()),
            Db::Postgres(p) => (p.num_idle(), p.size(), p.options().get_max_connections()),
            Db::MySql(p) => (p.num_idle(), p.size(), p.options().get_max_connections()),
        };
        idle == 0 && size >= max
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
            Db::MySql(p) => p.close().await,
        }
    }
}

/// A transaction on one of the three backends: the statements of one write, committed together
/// or (when dropped without [`Tx::commit`]) not at all.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    MySql(sqlx::Transaction<'static, sqlx::MySql>),
}

/// Build a statement for the transaction's dialect and run one sqlx call on its connection.
macro_rules! dispatch_tx {
    ($tx:expr, $stmt:expr, |$sql:ident, $values:ident, $conn:ident| $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                let $conn = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                let $conn = &mut **t;
                $body
            }
            Tx::MySql(t) => {
                let ($sql, $values) = $stmt.build_sqlx(MysqlQueryBuilder);
                let $conn = &mut **t;
                $body
            }
        }
    };
}

impl Db {
    /// Start a write transaction.
    ///
    /// On SQLite it begins `IMMEDIATE`: it takes the database's write lock at once, waiting
    /// for it up to the busy timeout. A deferred transaction that reads first and writes later
    /// cannot wait when another writer holds the lock (SQLite answers `SQLITE_BUSY` at once to
    /// avoid a deadlock), which is how two concurrent writes got a 500.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
            Db::MySql(p) => Tx::MySql(p.begin().await?),
        })
    }
}

/// The time every write stamps (`upd_timestamp`, `crt_timestamp`, `crt_date`/`crt_time`):
/// UTC, naive, to the second. MySQL's `TIMESTAMP` columns are stored in UTC and converted
/// through the session's time zone, which this server pins to UTC (see [`Db::connect`]), so
/// its stamps and the legacy site's agree there; the "since" figures (`recent_logs_7d`,
/// `recent_users_30d`) are computed from this same clock.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(0).unwrap_or(now)
}

/// `lower(column) LIKE '%text%'` with `text` taken literally: `%`, `_` and the escape
/// character itself are escaped, so a name filter of `50%` finds "50%" and not everything.
pub fn contains_ignoring_case(column: Expr, text: &str) -> Expr {
    sea_query::Func::lower(column).like(sea_query::LikeExpr::new(format!("%{}%", like_literal(text))).escape('!'))
}

/// `lower(column) LIKE 'text%'`, `text` taken literally as in [`contains_ignoring_case`].
pub fn starts_with_ignoring_case(column: Expr, text: &str) -> Expr {
    sea_query::Func::lower(column).like(sea_query::LikeExpr::new(format!("{}%", like_literal(text))).escape('!'))
}

/// `text` in lower case with the `LIKE` wildcards and the escape character `!` escaped.
pub(crate) fn like_literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern
}

impl Tx {
    /// Which SQL dialect the transaction speaks.
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
            Tx::MySql(_) => Backend::MySql,
        }
    }

    pub async fn fetch_optional<T: AnyRow>(&mut self, stmt: &SelectStatement) -> Result<Option<T>, DbError> {
        dispatch_tx!(self, stmt, |sql, values, conn| {
            Ok(sqlx::query_as_with(AssertSqlSafe(sql), values).fetch_optional(conn).await?)
        })
    }

    pub async fn fetch_all<T: AnyRow>(&mut self, stmt: &SelectStatement) -> Result<Vec<T>, DbError> {
        dispatch_tx!(self, stmt, |sql, values, conn| {
            Ok(sqlx::query_as_with(AssertSqlSafe(sql), values).fetch_all(conn).await?)
        })
    }

    /// Run one INSERT, UPDATE or DELETE; returns the rows affected.
    pub async fn execute<S: SqlxBinder>(&mut self, stmt: &S) -> Result<u64, DbError> {
        dispatch_tx!(self, stmt, |sql, values, conn| {
            Ok(sqlx::query_with(AssertSqlSafe(sql), values).execute(conn).await?.rows_affected())
        })
    }

    /// Run an INSERT into a table whose `id` the database assigns; returns the new id.
    pub async fn insert(&mut self, stmt: &sea_query::InsertStatement) -> Result<i64, DbError> {
        match self {
            Tx::Postgres(t) => {
                let stmt = stmt.clone().returning_col(sea_query::Alias::new("id")).to_owned();
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                let (id,): (i32,) = sqlx::query_as_with(AssertSqlSafe(sql), values).fetch_one(&mut **t).await?;
                Ok(id.into())
            }
            Tx::Sqlite(t) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                Ok(sqlx::query_with(AssertSqlSafe(sql), values).execute(&mut **t).await?.last_insert_rowid())
            }
            Tx::MySql(t) => {
                let (sql, values) = stmt.build_sqlx(MysqlQueryBuilder);
                let id = sqlx::query_with(AssertSqlSafe(sql), values).execute(&mut **t).await?.last_insert_id();
                Ok(i64::try_from(id).unwrap_or(i64::MAX))
            }
        }
    }

    /// Lock row `id` of `table` until the transaction ends, then read it with `read` (`None`
    /// when there is no such row). The lock is `SELECT … FOR UPDATE` on the bare row (the
    /// reads join other tables, which PostgreSQL cannot lock through an outer join and MariaDB
    /// cannot name with `FOR UPDATE OF`); on SQLite the transaction's `IMMEDIATE` write lock
    /// already excludes every other writer. What is read is what the transaction changes.
    pub async fn fetch_locked<T: AnyRow>(
        &mut self,
        table: impl sea_query::IntoTableRef,
        id: i32,
        read: &SelectStatement,
    ) -> Result<Option<T>, DbError> {
        if self.fetch_optional::<IdOnly>(&lock_row(table, id, sea_query::LockType::Update)).await?.is_none() {
            return Ok(None);
        }
        self.fetch_optional(read).await
    }

    /// Whether row `id` of `table` exists, holding a shared lock on it until the transaction
    /// ends, so that it cannot be deleted before the rows that name it are committed (on SQLite
    /// the `IMMEDIATE` write lock already excludes every other writer).
    pub async fn exists_locked(&mut self, table: impl sea_query::IntoTableRef, id: i32) -> Result<bool, DbError> {
        Ok(self.fetch_optional::<IdOnly>(&lock_row(table, id, sea_query::LockType::Share)).await?.is_some())
    }

    /// Serialise the writes that must keep user names, e-mail addresses and identity-provider
    /// ids unique (registrations, renames, address changes) until the transaction ends. The
    /// legacy schema has no unique index on them (and its data may not allow one), so the
    /// check and the write run under one lock: on PostgreSQL a transaction-scoped advisory
    /// lock, on MySQL/MariaDB the row lock of the first user (every such write takes it first,
    /// so they queue on it), on SQLite the `IMMEDIATE` write lock the transaction holds.
    pub async fn lock_user_identities(&mut self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(_) => {}
            Tx::Postgres(t) => {
                sqlx::query("SELECT pg_advisory_xact_lock(7460312905)").execute(&mut **t).await?;
            }
            Tx::MySql(t) => {
                sqlx::query("SELECT id FROM `user` ORDER BY id LIMIT 1 FOR UPDATE").fetch_optional(&mut **t).await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
            Tx::MySql(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// The big tables whose row counts hot paths ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Trig,
    User,
    Tlog,
    Tphoto,
}

impl Counted {
    fn table(self) -> sea_query::DynIden {
        use sea_query::IntoIden;
        match self {
            Counted::Trig => Trig::Table.into_iden(),
            Counted::User => User::Table.into_iden(),
            Counted::Tlog => Tlog::Table.into_iden(),
            Counted::Tphoto => Tphoto::Table.into_iden(),
        }
    }
}

/// `SELECT COUNT(*) AS n FROM table [WHERE cond]`. An empty condition adds no `WHERE` at all:
/// SQLite answers a bare whole-table `COUNT(*)` from the b-tree without reading rows (2.7 ms
/// instead of 8 ms over 470k logs), and a `WHERE TRUE` would defeat that.
pub(crate) fn count_where(table: impl sea_query::IntoTableRef, cond: sea_query::Condition) -> SelectStatement {
    let mut stmt = sea_query::Query::select()
        .expr_as(sea_query::Func::count(Expr::col(sea_query::Asterisk)), "n")
        .from(table)
        .to_owned();
    if !cond.is_empty() {
        stmt.cond_where(cond);
    }
    stmt
}

/// `rows` cut to one page by a deferred join: `page` selects only the page's ids (`SELECT
/// table.id … ORDER BY … LIMIT … OFFSET …`), so the offset is walked in the narrowest index
/// that serves the order, and only the page's rows are read and joined. `rows` must still
/// be ordered: the derived table's order does not carry over.
///
/// Joining `trig` and `user` for every skipped row cost 2 s for the last page of logs.
pub(crate) fn deferred_page(
    mut rows: SelectStatement,
    table: impl sea_query::IntoIden,
    page: SelectStatement,
) -> SelectStatement {
    let alias = sea_query::Alias::new("page");
    let on = Expr::col((alias.clone(), Id)).equals((table.into_iden(), Id));
    rows.join_subquery(sea_query::JoinType::InnerJoin, page, alias, on);
    rows
}

/// `SELECT id FROM table WHERE id = ? FOR UPDATE|SHARE` (SQLite drops the lock clause: its
/// transactions take the write lock when they begin).
fn lock_row(table: impl sea_query::IntoTableRef, id: i32, lock: sea_query::LockType) -> SelectStatement {
    sea_query::Query::select()
        .expr_as(Expr::col(Id), "id")
        .from(table)
        .and_where(Expr::col(Id).eq(id))
        .lock(lock)
        .to_owned()
}

/// The `id` column of any table.
#[derive(sea_query::Iden)]
struct Id;

/// One `i32` column named `id`.
#[derive(sqlx::FromRow)]
pub(crate) struct IdOnly {
    #[expect(dead_code, reason = "only whether a row came back matters")]
    id: i32,
}

/// One `i64` column named `n`.
#[derive(sqlx::FromRow)]
pub(crate) struct Count {
    pub n: i64,
}

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_condition_adds_no_where_clause() {
        // SQLite only takes its fast whole-table COUNT(*) path without a WHERE clause.
        let sql = count_where(Tlog::Table, sea_query::Condition::all()).to_string(SqliteQueryBuilder);
        assert_eq!(sql, r#"SELECT COUNT(*) AS "n" FROM "tlog""#);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
