//! The change stream (`CHANGE_STREAM=on`): every committed change to a table the cache reads,
//! from any program that writes the database (the legacy site, an administrator's SQL, a batch
//! job), bumps the tags it affects, in milliseconds rather than at the end of a TTL.
//!
//! A source reads the database's own record of committed row changes, with the old and new
//! values the invalidation table needs ([`RowChange`]), and the same table the API's own writes
//! use ([`crate::invalidation::tags`]) turns them into tags. So the two cannot disagree, and a
//! write whose handler died between its commit and its invalidation is still caught.
//!
//! - Delivery is at least once: a source's position moves only after the bumps for the changes
//!   before it are done. A change applied twice costs a recomputation, never a stale read.
//! - Losing the position is never silent: when changes may have been missed (the change table
//!   was trimmed past the reader, or recreated), everything is invalidated at once, logged
//!   (`cache_change_stream_fallback`) and counted.
//! - One reader at a time among the instances sharing Redis: the `change-stream` role
//!   ([`trigapi_cache::Cache::hold`]), renewed every second and given up after five without
//!   renewal, so another instance takes over within seconds, from the stored position.
//! - A batch too broad to be worth naming tag by tag (a bulk update of a whole table) bumps
//!   everything instead: one bump rather than hundreds of thousands.
//!
//! Sources: SQLite (triggers into a change table, read when `PRAGMA data_version` moves),
//! PostgreSQL (logical replication with `pgoutput`, through a replication slot) and
//! MySQL/MariaDB (the row-based binary log, read as a replica reads it).

mod mysql;
mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use trigapi_cache::{Cache, Clock, GLOBAL, Target};

use crate::config::Config;
use crate::db::Db;
use crate::invalidation::{self, Change, LogRow, PhotoRow, RowChange, UserRow};

/// The tables the cache reads, as the replication sources name them (unquoted).
const TABLES: &[&str] = &["tlog", "tphoto", "user", "trig", "trigstats", "town", "postcode6", "postcodes"];
/// The role only one instance holds at a time.
const ROLE: &str = "change-stream";
/// How long the role lasts without renewal.
const ROLE_TTL: Duration = Duration::from_secs(5);
/// How often it is renewed (and how often a waiting instance asks for it).
const ROLE_RENEW: Duration = Duration::from_secs(1);
/// Beyond this many distinct tags in one batch, everything is bumped instead.
const MAX_BATCH_TAGS: usize = 10_000;
/// Changes read at once.
const BATCH: i64 = 5_000;
/// Pause after a failed read before the next try.
const RETRY: Duration = Duration::from_secs(1);
/// Delays kept for the percentiles.
const DELAYS_KEPT: usize = 4_096;
/// How often a reader whose bumps wait for Redis looks whether they were replayed.
const REPLAY_CHECK: Duration = Duration::from_millis(100);
/// How often the reader looks at what its source holds back (PostgreSQL: the slot's WAL).
const LOOK: Duration = Duration::from_secs(10);
/// `slot_retained_bytes` not known (not PostgreSQL, or not looked at yet).
const UNKNOWN: u64 = u64::MAX;

/// Start the change stream if `CHANGE_STREAM=on`: `Ok(None)` when it is off, an error when
/// this database cannot carry one.
pub fn spawn(db: &Db, cache: &Cache, config: &Config) -> anyhow::Result<Option<Arc<ChangeStats>>> {
    if !config.cache.change_stream.is_on() {
        return Ok(None);
    }
    // One reader for the fleet when instances share Redis; without Redis each process has a
    // cache of its own and reads every change itself.
    let fleet = config.cache.redis_url.is_some();
    let source = match db {
        Db::Sqlite(pool) => {
            let reader = if fleet { "fleet".to_owned() } else { format!("process-{:016x}", fastrand::u64(..)) };
            let poll = Duration::from_millis(config.cache.change_stream_poll_ms.max(1));
            Source::Sqlite(sqlite::Source::new(pool.clone(), reader, poll))
        }
        Db::Postgres(pool) => {
            let replication = postgres::replication_config(config.database.database_url.expose(), fleet)?;
            Source::Postgres(Box::new(postgres::Source::new(pool.clone(), replication, !fleet)))
        }
        Db::MySql(pool) => {
            let options = mysql::binlog_options(config.database.database_url.expose())?;
            Source::MySql(Box::new(mysql::Source::new(pool.clone(), options, fleet)))
        }
    };
    let stats = Arc::new(ChangeStats::default());
    tokio::spawn(run(source, cache.clone(), Arc::downgrade(&stats)));
    Ok(Some(stats))
}

/// Check, before the server starts, that this database can carry the change stream when it is
/// on, and make what it needs (on PostgreSQL: the publication and the tables' replica
/// identity); the error says everything that is missing.
pub async fn prepare(db: &Db, config: &Config) -> anyhow::Result<()> {
    match db {
        _ if !config.cache.change_stream.is_on() => Ok(()),
        Db::Postgres(pool) => postgres::prepare(pool).await,
        Db::MySql(pool) => mysql::prepare(pool).await,
        Db::Sqlite(_) => Ok(()),
    }
}

/// Where committed changes are read from.
enum Source {
    Sqlite(sqlite::Source),
    Postgres(Box<postgres::Source>),
    MySql(Box<mysql::Source>),
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
            Self::MySql(_) => "mysql",
        }
    }

    /// The changes committed since the last read, claimed; `None` when there are none.
    async fn read(&mut self) -> anyhow::Result<Option<Batch>> {
        match self {
            Self::Sqlite(source) => source.read().await,
            Self::Postgres(source) => source.read().await,
            Self::MySql(source) => source.read().await,
        }
    }

    /// The changes read last are applied: move the position past them.
    async fn applied(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(source) => source.applied().await,
            Self::Postgres(source) => {
                source.applied();
                Ok(())
            }
            Self::MySql(source) => source.applied().await,
        }
    }

    /// This instance reads the stream now (another one may have moved the position).
    fn resume(&mut self) {
        match self {
            Self::Sqlite(source) => source.forget_version(),
            Self::Postgres(_) | Self::MySql(_) => {}
        }
    }

    /// Another instance reads the stream now: let go of what it needs.
    fn release(&mut self) {
        match self {
            Self::Sqlite(_) => {}
            Self::Postgres(source) => source.release(),
            Self::MySql(source) => source.release(),
        }
    }

    /// What the source holds back on the database server, bytes: a PostgreSQL slot's WAL.
    async fn retained_bytes(&self) -> anyhow::Result<Option<u64>> {
        match self {
            Self::Sqlite(_) | Self::MySql(_) => Ok(None),
            Self::Postgres(source) => source.retained_bytes().await.map(Some),
        }
    }

    /// How long to wait after a read that found nothing (a PostgreSQL read waits itself).
    fn idle(&self) -> Duration {
        match self {
            Self::Sqlite(source) => source.poll_interval(),
            Self::Postgres(_) | Self::MySql(_) => Duration::ZERO,
        }
    }
}

/// What one read of a source gave.
struct Batch {
    /// The changes, oldest first, each with when it was committed (Unix ms).
    changes: Vec<(RowChange, i64)>,
    /// Why changes may have been missed before these: then everything is invalidated.
    lost: Option<&'static str>,
    /// More changes wait to be read.
    more: bool,
    /// Changes committed after the last one read.
    behind: u64,
}

/// Where the consumer is, for `/metrics` and `/v1/admin/cache/stats`.
pub struct ChangeStats {
    changes: AtomicU64,
    batches: AtomicU64,
    fallbacks: AtomicU64,
    errors: AtomicU64,
    /// Whether this instance reads the stream now.
    leading: AtomicBool,
    /// Changes committed and not yet applied, as of the last read.
    lag_changes: AtomicU64,
    /// How far behind the commits the cache is, ms: the age of the last change applied while
    /// more wait; 0 once caught up.
    lag_millis: AtomicU64,
    /// The same, for the latest changes (one sample per change, at most [`DELAYS_KEPT`]).
    delays: Mutex<VecDeque<u64>>,
    /// The WAL the PostgreSQL slot holds back, bytes ([`UNKNOWN`] elsewhere); 0 on an
    /// instance that does not read the stream.
    slot_retained: AtomicU64,
}

impl Default for ChangeStats {
    fn default() -> Self {
        Self {
            changes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            leading: AtomicBool::new(false),
            lag_changes: AtomicU64::new(0),
            lag_millis: AtomicU64::new(0),
            delays: Mutex::default(),
            slot_retained: AtomicU64::new(UNKNOWN),
        }
    }
}

impl ChangeStats {
    /// Counters, as `(name, value)`: `trigapi_change_stream_{name}_total`.
    pub fn counters(&self) -> [(&'static str, u64); 4] {
        [
            ("changes", self.changes.load(Ordering::Relaxed)),
            ("batches", self.batches.load(Ordering::Relaxed)),
            ("fallbacks", self.fallbacks.load(Ordering::Relaxed)),
            ("errors", self.errors.load(Ordering::Relaxed)),
        ]
    }

    /// Whether this instance reads the stream now.
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// PostgreSQL: the WAL the replication slot holds back on the database server, bytes (0
    /// on an instance that does not read the stream); `None` elsewhere.
    pub fn slot_retained_bytes(&self) -> Option<u64> {
        Some(self.slot_retained.load(Ordering::Relaxed)).filter(|b| *b != UNKNOWN)
    }

    /// Changes not applied yet, as of the last read.
    pub fn lag_changes(&self) -> u64 {
        self.lag_changes.load(Ordering::Relaxed)
    }

    /// How far behind the commits the cache is, seconds (0 once caught up).
    pub fn lag_seconds(&self) -> f64 {
        self.lag_millis.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The `q` quantile (0..=1) of the delay from commit to bump over the latest changes, ms.
    pub fn delay_quantile_ms(&self, q: f64) -> Option<u64> {
        let mut delays: Vec<u64> = self.delays.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect();
        if delays.is_empty() {
            return None;
        }
        delays.sort_unstable();
        let rank = ((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len());
        Some(delays[rank - 1])
    }

    /// Count a batch applied at `now_ms`; `behind`: changes committed after it. The lag is the
    /// age of the last change applied while more wait, and nothing once the stream caught up.
    fn record(&self, applied: &[(RowChange, i64)], now_ms: i64, behind: u64) {
        let mut delays = self.delays.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, at_ms) in applied {
            if delays.len() == DELAYS_KEPT {
                delays.pop_front();
            }
            delays.push_back(u64::try_from(now_ms - at_ms).unwrap_or(0));
        }
        let last = applied.last().map_or(0, |(_, at_ms)| u64::try_from(now_ms - at_ms).unwrap_or(0));
        self.lag_millis.store(if behind > 0 { last } else { 0 }, Ordering::Relaxed);
        self.lag_changes.store(behind, Ordering::Relaxed);
        self.changes.fetch_add(applied.len() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// Nothing was committed since the last read: caught up.
    fn idle(&self) {
        self.lag_millis.store(0, Ordering::Relaxed);
        self.lag_changes.store(0, Ordering::Relaxed);
    }
}

/// Read the stream while this instance holds the role, until the server that started it is
/// gone (its state, which holds the stats, dropped): then the role lapses and another instance
/// takes over, as it would after a crash.
async fn run(mut source: Source, cache: Cache, stats: std::sync::Weak<ChangeStats>) {
    let mut renew_at = tokio::time::Instant::now();
    let mut look_at = tokio::time::Instant::now();
    let mut failing = false;
    // The last batch's bumps wait in this process for Redis: its position moves once they are
    // replayed, so a process that dies meanwhile leaves the batch to the next reader.
    let mut unshared = false;
    while let Some(stats) = stats.upgrade() {
        if tokio::time::Instant::now() >= renew_at {
            let held = cache.hold(ROLE, ROLE_TTL).await;
            renew_at = tokio::time::Instant::now() + ROLE_RENEW;
            if held != stats.leading.swap(held, Ordering::Relaxed) {
                if held {
                    tracing::info!(
                        event = "cache_change_stream_started",
                        source = source.name(),
                        "reading the change stream"
                    );
                    source.resume();
                } else {
                    tracing::warn!(event = "cache_change_stream_stopped", "another instance reads the change stream");
                    source.release();
                    unshared = false;
                    if stats.slot_retained_bytes().is_some() {
                        stats.slot_retained.store(0, Ordering::Relaxed);
                    }
                }
            }
        }
        if !stats.leading() {
            tokio::time::sleep_until(renew_at).await;
            continue;
        }
        if tokio::time::Instant::now() >= look_at {
            look_at = tokio::time::Instant::now() + LOOK;
            match source.retained_bytes().await {
                Ok(Some(bytes)) => stats.slot_retained.store(bytes.min(UNKNOWN - 1), Ordering::Relaxed),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(event = "cache_change_stream_error", error = %error, "looking at the slot failed")
                }
            }
        }
        if unshared {
            // Looking drives the replay once Redis answers again.
            if cache.local_stats().await.pending_invalidations > 0 {
                tokio::time::sleep(REPLAY_CHECK).await;
                continue;
            }
            unshared = false;
            if let Err(error) = source.applied().await {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = "cache_change_stream_error", error = %error, "moving the position failed");
            }
            continue;
        }
        match read_and_apply(&mut source, &cache, &stats).await {
            Ok(Applied::Waiting) => unshared = true,
            Ok(Applied::Done { more }) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(event = "cache_change_stream_resumed", "the change stream is read again");
                }
                if !more {
                    tokio::time::sleep(source.idle()).await;
                }
            }
            Err(error) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(event = "cache_change_stream_error", error = %error, "reading the change stream failed; retrying");
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// What applying a batch came to.
enum Applied {
    /// Its position moved; `more` changes wait.
    Done { more: bool },
    /// Its bumps wait for Redis, and so does its position.
    Waiting,
}

/// Apply what the source has.
async fn read_and_apply(source: &mut Source, cache: &Cache, stats: &ChangeStats) -> anyhow::Result<Applied> {
    let Some(mut batch) = source.read().await? else {
        stats.idle();
        return Ok(Applied::Done { more: false });
    };
    if let Some(reason) = batch.lost {
        stats.fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            event = "cache_change_stream_fallback",
            reason,
            "changes may have been missed: invalidating everything"
        );
        // Everything, this batch's changes included.
        cache.flush(&Target::All).await;
    } else {
        let tags = batch_tags(&mut batch.changes);
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        cache.invalidate(&tags).await;
    }
    stats.record(&batch.changes, now_ms(), batch.behind);
    if cache.pending_invalidations() > 0 {
        return Ok(Applied::Waiting);
    }
    source.applied().await?;
    let lag = stats.lag_millis.load(Ordering::Relaxed);
    if lag > 1_000 {
        tracing::warn!(
            event = "cache_change_stream_lag",
            lag_ms = lag,
            behind = batch.behind,
            "the change stream is behind"
        );
    }
    Ok(Applied::Done { more: batch.more })
}

/// The tags of a batch: photo owners the source could not read are taken from the batch's own
/// log changes (a log deleted with its photos), and a batch naming too many tags bumps
/// everything instead.
fn batch_tags(changes: &mut [(RowChange, i64)]) -> Vec<String> {
    let owners: HashMap<i32, (i32, i32)> = changes
        .iter()
        .filter_map(|(c, _)| match c {
            RowChange::Log(change) => change.old.as_ref().or(change.new.as_ref()).map(|l| (l.id, (l.trig, l.user))),
            _ => None,
        })
        .collect();
    for (change, _) in changes.iter_mut() {
        if let RowChange::Photo(photo) = change {
            for row in [&mut photo.old, &mut photo.new].into_iter().flatten() {
                row.owner = row.owner.or_else(|| owners.get(&row.log).copied());
            }
        }
    }
    let tags = invalidation::tags(changes.iter().map(|(change, _)| change));
    if tags.len() > MAX_BATCH_TAGS { vec![GLOBAL.to_owned()] } else { tags }
}

/// A row as a replication source reads it: its columns by name. PostgreSQL sends text,
/// the binary log typed values.
trait Columns {
    /// The text of `column`; `None` when it is null, not sent, or not a column.
    fn text(&self, column: &str) -> Option<Cow<'_, str>>;

    fn int(&self, column: &str) -> Option<i32> {
        self.text(column)?.parse().ok()
    }
}

/// A change to a row of `table` (old and new values, either absent for an insert or a
/// delete) as the invalidation table reads it; `None` when a row cannot be read (the source
/// then invalidates everything) or the table is not one the cache reads.
fn row_change<C: Columns>(table: &str, old: Option<&C>, new: Option<&C>) -> Option<RowChange> {
    match table {
        "tlog" => change(old, new, |t| {
            let (id, trig, user) = (t.int("id")?, t.int("trig_id")?, t.int("user_id")?);
            Some(Some(LogRow { id, trig, user, photos: Vec::new() }))
        })
        .map(RowChange::Log),
        // A photo flagged deleted is gone, as far as any entry shows.
        "tphoto" => change(old, new, |t| {
            let live = t.text("deleted_ind").as_deref() != Some("Y");
            Some(live.then_some(PhotoRow { id: t.int("id")?, log: t.int("tlog_id")?, owner: None }))
        })
        .map(RowChange::Photo),
        "user" => change(old, new, |t| Some(Some(UserRow { id: t.int("id")?, name: t.text("name")?.into_owned() })))
            .map(RowChange::User),
        "trig" => change(old, new, |t| Some(Some(t.int("id")?))).map(RowChange::Trig),
        "trigstats" => change(old, new, |t| Some(Some(t.int("id")?))).map(RowChange::TrigStats),
        other => whole(other),
    }
}

/// The change from `old` to `new`, each row read by `row`: `Some(None)` for a row that is no
/// row to the cache (a photo flagged deleted), `None` for one that cannot be read (then
/// neither can the change).
fn change<C, R>(old: Option<&C>, new: Option<&C>, row: impl Fn(&C) -> Option<Option<R>>) -> Option<Change<R>> {
    let read = |r: Option<&C>| r.map_or(Some(None), &row);
    Some(Change { old: read(old)?, new: read(new)? })
}

/// A table whose rows are invalidated together.
fn whole(table: &str) -> Option<RowChange> {
    match table {
        "town" => Some(RowChange::Places),
        "postcode6" | "postcodes" => Some(RowChange::Postcodes),
        _ => None,
    }
}

/// The logs whose live photos, and the logs whose trig and user, a batch from a replication
/// source needs (the SQLite triggers read them at the time of the change; a replication
/// source reads them after it, for the whole batch at once).
fn wanted(changes: &[(RowChange, i64)]) -> (Vec<i32>, Vec<i32>) {
    let (mut logs, mut photo_logs) = (Vec::new(), Vec::new());
    for (change, _) in changes {
        match change {
            RowChange::Log(c) => logs.extend([&c.old, &c.new].into_iter().flatten().map(|l| l.id)),
            RowChange::Photo(c) => photo_logs.extend([&c.old, &c.new].into_iter().flatten().map(|p| p.log)),
            _ => {}
        }
    }
    for ids in [&mut logs, &mut photo_logs] {
        ids.sort_unstable();
        ids.dedup();
    }
    (logs, photo_logs)
}

/// Fill in what [`wanted`] asked for: `photos` (log, live photo) and `owners` (log, trig,
/// user) as read from the database.
fn fill(changes: &mut [(RowChange, i64)], photos: Vec<(i32, i32)>, owners: Vec<(i32, i32, i32)>) {
    let mut by_log: HashMap<i32, Vec<i32>> = HashMap::new();
    for (log, photo) in photos {
        by_log.entry(log).or_default().push(photo);
    }
    let owners: HashMap<i32, (i32, i32)> = owners.into_iter().map(|(id, trig, user)| (id, (trig, user))).collect();
    for (change, _) in changes.iter_mut() {
        match change {
            RowChange::Log(c) => {
                for row in [&mut c.old, &mut c.new].into_iter().flatten() {
                    row.photos = by_log.get(&row.id).cloned().unwrap_or_default();
                }
            }
            RowChange::Photo(c) => {
                for row in [&mut c.old, &mut c.new].into_iter().flatten() {
                    row.owner = owners.get(&row.log).copied();
                }
            }
            _ => {}
        }
    }
}

/// Now, in Unix milliseconds (the triggers stamp changes with the same wall clock).
fn now_ms() -> i64 {
    i64::try_from(Clock::system().now_millis()).unwrap_or(i64::MAX)
}
