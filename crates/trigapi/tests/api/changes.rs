//! The change stream (`CHANGE_STREAM=on`) on SQLite, PostgreSQL and MariaDB: writes made by
//! another program (the `sqlite3` shell, `psql` or `mariadb`, as the legacy site or an
//! administrator would) reach warm cached reads in milliseconds; a reader that lost changes
//! invalidates everything; when the instance reading the stream dies, another takes over from
//! its position and misses nothing.
//!
//! PostgreSQL's and MariaDB's tests run on servers of their own, with `wal_level=logical`
//! (`TEST_POSTGRES_LOGICAL_URL`) and with a row-based binlog (`TEST_MYSQL_BINLOG_URL`), which
//! `scripts/test-services.sh` starts on free ports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;
use trigapi::config::Switch;

use crate::cache::{Invalidation, admin, app, private_database};
use crate::helpers::{TestApp, replace_database, seed_demo};
use crate::redis_harness::{RedisServer, redis_available};

/// How long a change may take to reach the cache here (the goal is milliseconds; the margin is
/// for a loaded CI machine).
const WINDOW: Duration = Duration::from_secs(3);

/// Where a test's database lives.
#[derive(Clone, Copy, Debug)]
enum Server {
    Sqlite,
    /// The server with `wal_level=logical`.
    Postgres,
    /// The MariaDB with a row-based binlog.
    MariaDb,
}

impl Server {
    /// A private copy of the seeded database; `None` when this server is not configured here.
    async fn database(self) -> Option<String> {
        match self {
            Self::Sqlite => Some(private_database()),
            Self::Postgres => logical_database().await,
            Self::MariaDb => binlog_database().await,
        }
    }

    /// On MariaDB: a hold on the binlog's files, which the purge test removes (a reader that
    /// reconnects while it runs would find its position gone).
    async fn keep_binlog(self) -> Option<tokio::sync::RwLockReadGuard<'static, ()>> {
        match self {
            Self::MariaDb => Some(BINLOG_FILES.read().await),
            Self::Sqlite | Self::Postgres => None,
        }
    }
}

/// Held to read by the MariaDB tests, to write by the one that purges the binlog.
static BINLOG_FILES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A database of its own on the MariaDB server with a row-based binlog, seeded.
pub(crate) async fn binlog_database() -> Option<String> {
    static ORPHANS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Some(server) = std::env::var("TEST_MYSQL_BINLOG_URL").ok().filter(|v| !v.is_empty()) else {
        eprintln!("skipped: TEST_MYSQL_BINLOG_URL is not set");
        return None;
    };
    ORPHANS.get_or_init(|| drop_orphan_schemas(&server)).await;
    let name = format!("trigapi_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    outside(&server, &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}")).await;
    let database = replace_database(&server, &name);
    seed_demo(&database).await.expect("seed a database on the binlog server");
    Some(database)
}

/// Drop the MariaDB databases of test processes that have exited.
async fn drop_orphan_schemas(server: &str) {
    let db = trigapi::db::Db::connect(server, 1).await.expect("connect to the binlog server");
    let trigapi::db::Db::MySql(pool) = &db else { panic!("TEST_MYSQL_BINLOG_URL names MySQL/MariaDB") };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'trigapi\\_test\\_%'",
    )
    .fetch_all(pool)
    .await
    .expect("list test databases");
    for name in names {
        let pid = name.split('_').nth(2).unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(pool).await;
        }
    }
    db.close().await;
}

/// A database of its own on the PostgreSQL server with `wal_level=logical`, copied from one
/// seeded once per test process.
pub(crate) async fn logical_database() -> Option<String> {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Some(server) = std::env::var("TEST_POSTGRES_LOGICAL_URL").ok().filter(|v| !v.is_empty()) else {
        eprintln!("skipped: TEST_POSTGRES_LOGICAL_URL is not set");
        return None;
    };
    let pid = std::process::id();
    let template = TEMPLATE
        .get_or_init(|| async {
            drop_orphans(&server).await;
            let name = format!("trigapi_test_{pid}_template");
            outside(&server, &format!("DROP DATABASE IF EXISTS {name}")).await;
            outside(&server, &format!("CREATE DATABASE {name}")).await;
            seed_demo(&replace_database(&server, &name)).await.expect("seed the template database");
            name
        })
        .await;
    let name = format!("trigapi_test_{pid}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    outside(&server, &format!("DROP DATABASE IF EXISTS {name}")).await;
    outside(&server, &format!("CREATE DATABASE {name} TEMPLATE {template}")).await;
    Some(replace_database(&server, &name))
}

/// Drop the databases, and their replication slots, of test processes that have exited.
async fn drop_orphans(server: &str) {
    let db = trigapi::db::Db::connect(server, 1).await.expect("connect to the logical server");
    let trigapi::db::Db::Postgres(pool) = &db else { panic!("TEST_POSTGRES_LOGICAL_URL names PostgreSQL") };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'trigapi\\_test\\_%'")
            .fetch_all(pool)
            .await
            .expect("list test databases");
    for name in names {
        let pid = name.split('_').nth(2).unwrap_or("");
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = sqlx::query(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active",
        )
        .bind(&name)
        .execute(pool)
        .await;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(pool).await;
    }
    db.close().await;
}

/// Run `sql` on `database` as another program: the `sqlite3` shell on a SQLite file, `psql`
/// on PostgreSQL, the `mariadb` client on MariaDB (with `ANSI_QUOTES`, so `"user"` names the
/// table on all three).
pub(crate) async fn outside(database: &str, sql: &str) {
    if database.starts_with("mysql") {
        let url = url::Url::parse(database).expect("a MySQL URL");
        let mut args = vec![
            "--protocol=TCP".to_owned(),
            format!("--host={}", url.host_str().unwrap_or("127.0.0.1")),
            format!("--port={}", url.port().unwrap_or(3306)),
            format!("--user={}", url.username()),
        ];
        if let Some(password) = url.password() {
            args.push(format!("--password={password}"));
        }
        args.extend([
            url.path().trim_start_matches('/').to_owned(),
            "-e".to_owned(),
            format!("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'); {sql}"),
        ]);
        let out = tokio::task::spawn_blocking(move || std::process::Command::new("mariadb").args(args).output())
            .await
            .expect("mariadb thread")
            .expect("the mariadb client runs");
        assert!(out.status.success(), "mariadb {sql}: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    if database.starts_with("postgres") {
        let (url, text) = (database.to_owned(), sql.to_owned());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-c", &text]).output()
        })
        .await
        .expect("psql thread")
        .expect("psql runs");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    sqlite_shell(database, sql).await;
}

/// Run `sql` in the `sqlite3` shell on `database`: another program writing the file. Like
/// any writer of a shared SQLite file it tries again when the database stays locked past its
/// busy timeout (a script that failed left nothing behind: `-bail` ends it, and an open
/// transaction rolls back when the shell exits).
async fn sqlite_shell(database: &str, sql: &str) {
    let path = database.trim_start_matches("sqlite://").to_owned();
    for attempt in 1.. {
        let (path, text) = (path.clone(), sql.to_owned());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sqlite3").args(["-bail", "-cmd", ".timeout 10000", &path, &text]).output()
        })
        .await
        .expect("sqlite3 thread")
        .expect("the sqlite3 shell (Debian's sqlite3 package) runs");
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return;
        }
        assert!(err.contains("database is locked") && attempt < 5, "sqlite3 {sql}: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Read `uri` until `fresh` holds for its body; panics after `within`. Returns how long it took.
async fn until(app: &TestApp, uri: &str, within: Duration, fresh: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let r = app.get(uri).await;
        if fresh(&r.body) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{uri} still stale after {within:?}: {}", r.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Warm `uri`: the second read must be a hit.
async fn warm(app: &TestApp, uri: &str) -> Value {
    app.get(uri).await;
    let r = app.get(uri).await;
    assert_eq!(r.headers["x-cache-status"], "HIT", "{uri}");
    r.body
}

fn streaming(c: &mut trigapi::config::Config) {
    c.cache.change_stream = Switch::On;
}

async fn stream_stats(app: &TestApp) -> Value {
    let stats = admin(app, Method::GET, "/v1/admin/cache/stats").await;
    stats.body["change_stream"].clone()
}

/// A private copy of the seeded database and a server over it (with Redis at `redis`) that
/// reads the change stream, once it has started reading; `None` when `server` is not
/// configured here.
async fn reading_on(server: Server, redis: Option<&RedisServer>) -> Option<(String, TestApp)> {
    let database = server.database().await?;
    let app = app(&database, redis, streaming).await;
    started(&app).await;
    Some((database, app))
}

async fn reading(redis: Option<&RedisServer>) -> (String, TestApp) {
    reading_on(Server::Sqlite, redis).await.expect("SQLite is always configured")
}

/// Wait until `app` reads the stream and has made its start (on PostgreSQL, a slot made anew
/// bumps everything once).
pub(crate) async fn started(app: &TestApp) {
    leading(app, WINDOW).await;
    let start = start_fallbacks(app);
    stream_until(app, WINDOW, "never started reading", |s| s["fallbacks"] == start).await;
}

/// The fallbacks a new reader counts: a PostgreSQL slot made anew, or a binlog read from its
/// end, cannot say what was committed before it.
fn start_fallbacks(app: &TestApp) -> u64 {
    u64::from(app.db.backend() != trigapi::db::Backend::Sqlite)
}

/// Wait until `app` reads the stream.
async fn leading(app: &TestApp, within: Duration) {
    stream_until(app, within, "never took the change stream", |s| s["leading"] == true).await;
}

/// Wait until `app`'s change-stream stats satisfy `done`; fail with `failure` after `within`.
async fn stream_until(app: &TestApp, within: Duration, failure: &str, done: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let stats = stream_stats(app).await;
        if done(&stats) {
            return;
        }
        assert!(started.elapsed() < within, "{failure}: {stats}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The ids of the first five logs.
async fn five_logs(app: &TestApp) -> Vec<i64> {
    let logs: Vec<i64> = app.ok("/v1/logs?limit=5").await["items"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["id"].as_i64())
        .collect();
    assert_eq!(logs.len(), 5);
    logs
}

/// A log with a photo, its trig and user, and another trig.
struct Ids {
    log: i64,
    trig: i64,
    user: i64,
    photo: i64,
    other_trig: i64,
}

async fn ids(app: &TestApp) -> Ids {
    let photo = &app.ok("/v1/photos?limit=1").await["items"][0];
    let log_id = photo["log_id"].as_i64().expect("photo log_id");
    let log = app.ok(&format!("/v1/logs/{log_id}")).await;
    let trig = log["trig_id"].as_i64().expect("trig_id");
    let trigs = app.ok("/v1/trigs?limit=5").await;
    let other_trig = trigs["items"]
        .as_array()
        .expect("trigs")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .find(|id| *id != trig)
        .expect("another trig");
    Ids {
        log: log_id,
        trig,
        user: log["user_id"].as_i64().expect("user_id"),
        photo: photo["id"].as_i64().expect("photo id"),
        other_trig,
    }
}

async fn writes_from_another_program_reach_warm_reads(server: Server, redis: Option<&RedisServer>) {
    let _kept = server.keep_binlog().await;
    let Some((database, app)) = reading_on(server, redis).await else { return };
    // A second server over the same file without the stream: the control, which stays stale.
    let control = crate::cache::app(&database, None, |_| {}).await;
    let Ids { log, trig, user, photo, other_trig } = ids(&app).await;
    let (log_uri, user_uri, trig_uri) =
        (format!("/v1/logs/{log}"), format!("/v1/users/{user}"), format!("/v1/trigs/{trig}"));
    let photo_uri = format!("/v1/photos/{photo}");
    let (trig_logs, other_logs) =
        (format!("/v1/trigs/{trig}/logs?limit=100"), format!("/v1/trigs/{other_trig}/logs?limit=100"));
    let places = "/v1/locations/search/places?q=zzyzx".to_owned();
    for uri in [&log_uri, &user_uri, &trig_uri, &photo_uri, &trig_logs, &other_logs, &places] {
        warm(&app, uri).await;
    }
    warm(&control, &log_uri).await;

    outside(&database, &format!("UPDATE tlog SET comment = 'Changed outside' WHERE id = {log}")).await;
    until(&app, &log_uri, WINDOW, |b| b["comment"] == "Changed outside").await;
    let stale = control.get(&log_uri).await;
    assert_eq!(stale.headers["x-cache-status"], "HIT", "the control serves its entry");
    assert_ne!(stale.body["comment"], "Changed outside", "without the stream the entry stays stale");

    outside(&database, &format!(r#"UPDATE "user" SET name = 'Outside Name' WHERE id = {user}"#)).await;
    until(&app, &user_uri, WINDOW, |b| b["name"] == "Outside Name").await;
    until(&app, &log_uri, WINDOW, |b| b["user_name"] == "Outside Name").await;

    outside(&database, &format!("UPDATE trig SET name = 'Renamed Pillar' WHERE id = {trig}")).await;
    until(&app, &trig_uri, WINDOW, |b| b["name"] == "Renamed Pillar").await;
    until(&app, &log_uri, WINDOW, |b| b["trig_name"] == "Renamed Pillar").await;

    outside(&database, &format!("UPDATE tphoto SET name = 'Captioned outside' WHERE id = {photo}")).await;
    until(&app, &photo_uri, WINDOW, |b| b["caption"] == "Captioned outside").await;

    // A log moved to another trig leaves one trig's list and joins the other's.
    let lists = |b: &Value| b["items"].as_array().is_some_and(|items| items.iter().any(|l| l["id"] == log));
    assert!(lists(&warm(&app, &trig_logs).await) && !lists(&warm(&app, &other_logs).await));
    outside(&database, &format!("UPDATE tlog SET trig_id = {other_trig} WHERE id = {log}")).await;
    until(&app, &other_logs, WINDOW, lists).await;
    until(&app, &trig_logs, WINDOW, |b| !lists(b)).await;

    outside(
        &database,
        "INSERT INTO town (name, wgs_lat, wgs_long, osgb_eastings, osgb_northings) VALUES ('Zzyzx', 53.1, -1.8, 410000, 370000)",
    )
    .await;
    until(&app, &places, WINDOW, |b| b["total"].as_i64() > Some(0)).await;

    let stats = stream_stats(&app).await;
    assert_eq!(stats["fallbacks"], start_fallbacks(&app), "{stats}");
    assert!(stats["changes"].as_u64() >= Some(6), "{stats}");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("trigapi_change_stream_changes_total"), "{metrics}");
    // PostgreSQL: the WAL the slot holds back, for the alert on a slot nobody reads.
    let postgres = app.db.backend() == trigapi::db::Backend::Postgres;
    assert_eq!(stats["slot_retained_bytes"].is_u64(), postgres, "{stats}");
    // (The exporter is the process's: a gauge another test's app set stays, so only its
    // presence is checked.)
    assert!(!postgres || metrics.contains("trigapi_change_stream_slot_retained_bytes "), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_another_program_reach_warm_reads_in_process() {
    writes_from_another_program_reach_warm_reads(Server::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_psql_reach_warm_reads_in_process() {
    writes_from_another_program_reach_warm_reads(Server::Postgres, None).await;
}

/// With `sslmode=require` in `DATABASE_URL` the replication session runs over TLS too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replication_session_speaks_tls_when_the_url_asks() {
    let Some(database) = logical_database().await else { return };
    let database = format!("{database}?sslmode=require");
    let app = app(&database, None, streaming).await;
    started(&app).await;
    let trigapi::db::Db::Postgres(pool) = &app.db else { panic!("a PostgreSQL app") };
    let ssl: Option<bool> = sqlx::query_scalar(
        "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) \
         WHERE r.application_name = 'trigapi-change-stream' AND s.pid IN \
           (SELECT active_pid FROM pg_replication_slots WHERE database = current_database())",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_ssl");
    assert_eq!(ssl, Some(true), "the replication session is encrypted");
    let Ids { log, .. } = ids(&app).await;
    let uri = format!("/v1/logs/{log}");
    warm(&app, &uri).await;
    outside(&database, &format!("UPDATE tlog SET comment = 'Over TLS' WHERE id = {log}")).await;
    until(&app, &uri, WINDOW, |b| b["comment"] == "Over TLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_psql_reach_warm_reads_through_redis() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    writes_from_another_program_reach_warm_reads(Server::Postgres, Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_another_program_reach_warm_reads_through_redis() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    writes_from_another_program_reach_warm_reads(Server::Sqlite, Some(&redis)).await;
}

/// Changes deleted before the reader saw them: it cannot know what they touched, so it
/// invalidates everything, and says so in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_lost_changes_invalidates_everything() {
    let (database, app) = reading(None).await;
    let Ids { log, other_trig, .. } = ids(&app).await;
    let unrelated = format!("/v1/trigs/{other_trig}");
    warm(&app, &unrelated).await;
    // The change and its record, then the record deleted: all in one transaction.
    outside(
        &database,
        &format!(
            "BEGIN IMMEDIATE; UPDATE tlog SET comment = 'Lost' WHERE id = {log}; DELETE FROM trigapi_change; COMMIT;"
        ),
    )
    .await;
    stream_until(&app, WINDOW, "no fallback", |s| s["fallbacks"] == 1).await;
    assert_eq!(app.get(&unrelated).await.headers["x-cache-status"], "MISS", "everything was invalidated");
    assert_eq!(app.ok(&format!("/v1/logs/{log}")).await["comment"], "Lost");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("trigapi_change_stream_fallbacks_total 1"), "{metrics}");
}

/// Two instances share Redis and the file; the one reading the stream dies while another
/// program writes. The other takes over from the stored position: every change arrives, and
/// nothing was lost (no fallback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_takes_over_and_misses_nothing() {
    takes_over(Server::Sqlite).await;
}

/// The same on PostgreSQL: the slot keeps what the dead reader had not confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_takes_over_the_slot_and_misses_nothing() {
    takes_over(Server::Postgres).await;
}

async fn takes_over(server: Server) {
    if !redis_available() {
        return;
    }
    let _kept = server.keep_binlog().await;
    let redis = RedisServer::start();
    let Some((database, first)) = reading_on(server, Some(&redis)).await else { return };
    let second = app(&database, Some(&redis), streaming).await;
    let logs = five_logs(&second).await;
    for l in &logs {
        warm(&second, &format!("/v1/logs/{l}")).await;
    }
    assert_eq!(stream_stats(&second).await["leading"], false, "one reader at a time");

    // The reader dies (its role lapses after five seconds) while writes keep coming.
    drop(first);
    for round in 0..10 {
        for l in &logs {
            outside(&database, &format!("UPDATE tlog SET comment = 'Round {round}' WHERE id = {l}")).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    leading(&second, Duration::from_secs(10)).await;
    for l in &logs {
        until(&second, &format!("/v1/logs/{l}"), WINDOW, |b| b["comment"] == "Round 9").await;
    }
    assert_eq!(stream_stats(&second).await["fallbacks"], 0, "it resumed from the stored position");
}

/// The reading instance takes a change while the network to Redis drops everything it sends
/// (Redis itself is fine: the other instance reaches it): its bump can only wait in the process
/// for replay. It dies before the network heals, and the bump with it. Its position must not
/// have moved past the change: the instance that takes over reads it again, and the entry in
/// Redis does not stay stale. (A frozen Redis would not do: it runs the commands waiting in
/// its socket when it thaws.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_dies_with_its_bumps_unshared_leaves_the_change_to_the_next() {
    if !redis_available() {
        return;
    }
    for attempt in 1.. {
        let redis = RedisServer::start();
        let cut_off = Blackhole::start(&redis.url()).await;
        let database = private_database();
        let via = cut_off.url.clone();
        let first = app(&database, Some(&redis), |c| {
            streaming(c);
            c.cache.redis_url = Some(via.into());
        })
        .await;
        started(&first).await;
        let second = app(&database, Some(&redis), streaming).await;
        let Ids { log, .. } = ids(&second).await;
        let uri = format!("/v1/logs/{log}");
        warm(&second, &uri).await;
        cut_off.cut.store(true, Ordering::Relaxed);
        outside(&database, &format!("UPDATE tlog SET comment = 'Unshared' WHERE id = {log}")).await;
        // The first reads it, unless its lease renewal met the cut first (then the run proves
        // nothing, and is made again).
        let started = Instant::now();
        let mut taken = false;
        while !taken && started.elapsed() < Duration::from_secs(2) {
            taken = stream_stats(&first).await["changes"].as_u64() >= Some(1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first);
        if !taken {
            assert!(attempt < 3, "the reader never took the change while cut off from Redis");
            continue;
        }
        leading(&second, Duration::from_secs(10)).await;
        until(&second, &uri, WINDOW, |b| b["comment"] == "Unshared").await;
        return;
    }
}

/// A TCP proxy to Redis that, once `cut`, swallows whatever either side sends: a network that
/// drops packets, with Redis alive behind it.
struct Blackhole {
    url: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Blackhole {
    async fn start(redis: &str) -> Self {
        let target = url::Url::parse(redis).expect("a Redis URL").port().expect("a port");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swallow = std::sync::Arc::clone(&cut);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { continue };
                let ((client_read, client_write), (server_read, server_write)) =
                    (client.into_split(), server.into_split());
                tokio::spawn(pipe(client_read, server_write, std::sync::Arc::clone(&swallow)));
                tokio::spawn(pipe(server_read, client_write, std::sync::Arc::clone(&swallow)));
            }
        });
        Self { url: format!("redis://127.0.0.1:{port}"), cut }
    }
}

/// Copy `from` to `to`, dropping what arrives while `cut`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if !cut.load(Ordering::Relaxed) && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The replication slot dropped (by an administrator, or invalidated): what was committed
/// meanwhile is unknown, so the reader makes a new slot and invalidates everything once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_slot_invalidates_everything() {
    let redis = redis_available().then(RedisServer::start);
    let Some((database, app)) = reading_on(Server::Postgres, redis.as_ref()).await else { return };
    let Ids { log, other_trig, .. } = ids(&app).await;
    let unrelated = format!("/v1/trigs/{other_trig}");
    warm(&app, &unrelated).await;
    // End the reader's session and drop its slot (ending the session again if the reader came
    // back meanwhile).
    outside(
        &database,
        "DO $$ BEGIN FOR i IN 1..100 LOOP BEGIN \
           PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots \
             WHERE database = current_database() AND active_pid IS NOT NULL; \
           PERFORM pg_sleep(0.01); \
           PERFORM pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database(); \
           RETURN; EXCEPTION WHEN object_in_use THEN NULL; END; END LOOP; \
           RAISE 'the slot stayed in use'; END $$",
    )
    .await;
    outside(&database, &format!("UPDATE tlog SET comment = 'While dropped' WHERE id = {log}")).await;
    stream_until(&app, Duration::from_secs(10), "no fallback", |s| s["fallbacks"] == 2).await;
    assert_eq!(app.get(&unrelated).await.headers["x-cache-status"], "MISS", "everything was invalidated");
    assert_eq!(app.ok(&format!("/v1/logs/{log}")).await["comment"], "While dropped");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("trigapi_change_stream_fallbacks_total 2"), "{metrics}");
}

/// The replication session is cut again and again (the server ends it) while another program
/// writes: the reader reconnects to its slot each time and resumes from the position it
/// confirmed, so every write arrives and nothing counts as lost. (With Redis: the fleet's slot
/// is permanent. A process without Redis has a temporary slot, gone with the session, so there
/// each cut is a fallback.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_replication_session_resumes_and_misses_nothing() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    resumes_after_cuts(Server::Postgres, Some(&redis)).await;
}

/// Six rounds of writes from another program, each followed by the server ending the reader's
/// session: every write arrives, and no reconnect counted as a loss.
async fn resumes_after_cuts(server: Server, redis: Option<&RedisServer>) {
    let _kept = server.keep_binlog().await;
    let Some((database, app)) = reading_on(server, redis).await else { return };
    let logs = five_logs(&app).await;
    for l in &logs {
        warm(&app, &format!("/v1/logs/{l}")).await;
    }
    for round in 0..6 {
        for l in &logs {
            outside(&database, &format!("UPDATE tlog SET comment = 'Cut {round}' WHERE id = {l}")).await;
        }
        cut_session(&app, &database).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    for l in &logs {
        until(&app, &format!("/v1/logs/{l}"), Duration::from_secs(10), |b| b["comment"] == "Cut 5").await;
    }
    let stats = stream_stats(&app).await;
    assert_eq!(stats["fallbacks"], start_fallbacks(&app), "it resumed from its position: {stats}");
    assert!(stats["errors"].as_u64() >= Some(1), "the session was cut: {stats}");
}

/// The database server ends the sessions that stream `database`'s changes: PostgreSQL's
/// replication session, MariaDB's binlog dump.
async fn cut_session(app: &TestApp, database: &str) {
    match &app.db {
        trigapi::db::Db::Postgres(_) => {
            let cut = "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                       WHERE database = current_database() AND active_pid IS NOT NULL";
            outside(database, cut).await;
        }
        trigapi::db::Db::MySql(pool) => {
            let sessions: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%' AND db = DATABASE()",
            )
            .fetch_all(pool)
            .await
            .expect("the binlog sessions");
            for id in sessions {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}"))).execute(pool).await;
            }
        }
        trigapi::db::Db::Sqlite(_) => panic!("SQLite has no session to cut"),
    }
}

/// A server whose PostgreSQL cannot carry the stream (the machine's own: `wal_level=replica`)
/// refuses to start, and says what is missing.
#[tokio::test]
async fn a_server_without_logical_replication_refuses_to_start() {
    let Some(url) = crate::helpers::seeded_database(trigapi::db::Backend::Postgres) else { return };
    let mut config = crate::helpers::test_config(&url);
    config.server.bind_addr = "127.0.0.1:0".into();
    streaming(&mut config);
    let error = match trigapi::startup::Application::build(config).await {
        Ok(_) => panic!("started with CHANGE_STREAM=on and wal_level=replica"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("wal_level = logical"), "{error}");
}

/// Another program drops a trigger and writes: that write was never recorded. The reader
/// notices at its next heartbeat (ten seconds), puts the triggers back and invalidates
/// everything; the writes after that are recorded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_triggers_are_put_back_and_everything_invalidated() {
    let (database, app) = reading(None).await;
    let Ids { log, user, .. } = ids(&app).await;
    let log_uri = format!("/v1/logs/{log}");
    warm(&app, &log_uri).await;
    outside(
        &database,
        &format!("DROP TRIGGER IF EXISTS trigapi_tlog_UPDATE; UPDATE tlog SET comment = 'Unrecorded' WHERE id = {log}"),
    )
    .await;
    until(&app, &log_uri, Duration::from_secs(20), |b| b["comment"] == "Unrecorded").await;
    assert_eq!(stream_stats(&app).await["fallbacks"], 1);
    let user_uri = format!("/v1/users/{user}");
    warm(&app, &user_uri).await;
    outside(&database, &format!(r#"UPDATE "user" SET name = 'Recorded Again' WHERE id = {user}"#)).await;
    until(&app, &user_uri, WINDOW, |b| b["name"] == "Recorded Again").await;
    outside(&database, &format!("UPDATE tlog SET comment = 'Recorded' WHERE id = {log}")).await;
    until(&app, &log_uri, WINDOW, |b| b["comment"] == "Recorded").await;
}

/// The consistency checker with writers that never invalidate (they write the database behind
/// the API's back, as the legacy site does), two instances sharing Redis, the change stream on:
/// no read returns a version older than one committed more than the window before it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_read_past_the_window_when_only_the_stream_invalidates() {
    only_the_stream_invalidates(Server::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_read_past_the_window_when_only_the_stream_invalidates_on_postgres() {
    only_the_stream_invalidates(Server::Postgres, None).await;
}

/// The same while Redis is frozen (SIGSTOP: slow, not gone) for 1.5 s mid-run: the reading
/// instance cannot renew its role or bump in Redis for that long, and changes keep coming.
/// No request fails, no read is stale for longer than the freeze and the window, and after the
/// thaw both instances show every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_redis_loses_no_change_from_the_stream() {
    only_the_stream_invalidates(Server::Sqlite, Some(Duration::from_millis(1_500))).await;
}

async fn only_the_stream_invalidates(server: Server, freeze: Option<Duration>) {
    if !redis_available() {
        return;
    }
    let _kept = server.keep_binlog().await;
    let redis = RedisServer::start();
    let Some((database, writer)) = reading_on(server, Some(&redis)).await else { return };
    let writer = std::sync::Arc::new(writer);
    let other = std::sync::Arc::new(app(&database, Some(&redis), streaming).await);
    let readers = vec![std::sync::Arc::clone(&writer), std::sync::Arc::clone(&other)];
    let fault = async {
        if let Some(freeze) = freeze {
            tokio::time::sleep(Duration::from_millis(300)).await;
            redis.signal("-STOP");
            tokio::time::sleep(freeze).await;
            redis.signal("-CONT");
        }
    };
    let report =
        crate::cache::check_writes(std::sync::Arc::clone(&writer), readers, 6_000, fault, Invalidation::Stream).await;
    eprintln!(
        "writers behind the API's back, the change stream invalidating on {server:?} (Redis frozen for {freeze:?}): \
         {report:?}"
    );
    assert_eq!(report.errors, 0, "{report:?}");
    let window = Duration::from_millis(500) + freeze.unwrap_or_default();
    assert!(report.max_staleness < window, "stale past the window: {report:?}");
    // The run is short: the cached reads must also have caught up with the last writes.
    for id in crate::cache::HOT {
        let uri = format!("/v1/trigs/{id}?include=details,stats,attrs");
        let last = crate::cache::get_with(&writer, &uri, &[("cache-control", "no-cache")]).await.body["name"].clone();
        for reader in [&writer, &other] {
            until(reader, &uri, WINDOW, |b| b["name"] == last).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_mariadb_reach_warm_reads_in_process() {
    writes_from_another_program_reach_warm_reads(Server::MariaDb, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_mariadb_reach_warm_reads_through_redis() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    writes_from_another_program_reach_warm_reads(Server::MariaDb, Some(&redis)).await;
}

/// The same on MariaDB: the position stored in the database is where the next reader starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_takes_over_the_binlog_and_misses_nothing() {
    takes_over(Server::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_read_past_the_window_when_only_the_stream_invalidates_on_mariadb() {
    only_the_stream_invalidates(Server::MariaDb, None).await;
}

/// The binlog session is killed on the server again and again while another program writes:
/// the reader reconnects and resumes from the position it applied, so every write arrives and
/// nothing counts as lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_binlog_session_resumes_and_misses_nothing() {
    let redis = redis_available().then(RedisServer::start);
    resumes_after_cuts(Server::MariaDb, redis.as_ref()).await;
}

/// The binlog files holding the stored position purged while no instance read them: what was
/// committed meanwhile is unknown, so the next reader starts at the end of the binlog and
/// invalidates everything once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_binlog_invalidates_everything() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let Some((database, first)) = reading_on(Server::MariaDb, Some(&redis)).await else { return };
    let Ids { log, other_trig, .. } = ids(&first).await;
    let unrelated = format!("/v1/trigs/{other_trig}");
    warm(&first, &unrelated).await;
    let trigapi::db::Db::MySql(pool) = &first.db else { panic!("a MariaDB app") };
    let pool = pool.clone();
    let stored = async || -> Option<String> {
        sqlx::query_scalar("SELECT file FROM trigapi_binlog_position WHERE reader = 'fleet'")
            .fetch_optional(&pool)
            .await
            .expect("the stored position")
    };
    let started = Instant::now();
    while stored().await.is_none() {
        assert!(started.elapsed() < WINDOW, "the reader never stored its position");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The reader stops; a write comes; the binlog moves to a new file and the old ones go.
    drop(first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    outside(&database, &format!("UPDATE tlog SET comment = 'While purged' WHERE id = {log}")).await;
    {
        let _purging = BINLOG_FILES.write().await;
        let before = stored().await.expect("a stored position");
        outside(&database, "FLUSH BINARY LOGS").await;
        let files = sqlx::query("SHOW BINARY LOGS").fetch_all(&pool).await.expect("the binlog's files");
        let last: String = files.last().and_then(|f| sqlx::Row::try_get(f, 0).ok()).expect("a binlog file");
        assert_ne!(before, last);
        // The server keeps a file a binlog session still reads: the dead reader's, until the
        // server notices it is gone.
        let started = Instant::now();
        loop {
            outside(&database, &format!("PURGE BINARY LOGS TO '{last}'")).await;
            let files = sqlx::query("SHOW BINARY LOGS").fetch_all(&pool).await.expect("the binlog's files");
            if files.len() == 1 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the old binlog files were not purged");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let second = app(&database, Some(&redis), streaming).await;
    leading(&second, Duration::from_secs(10)).await;
    stream_until(&second, WINDOW, "no fallback", |s| s["fallbacks"] == 1).await;
    assert_eq!(second.get(&unrelated).await.headers["x-cache-status"], "MISS", "everything was invalidated");
    assert_eq!(second.ok(&format!("/v1/logs/{log}")).await["comment"], "While purged");
}

/// A server whose MariaDB writes no binlog (the machine's own) refuses to start with the
/// stream on, and says what is missing.
#[tokio::test]
async fn a_server_without_a_binlog_refuses_to_start() {
    let Some(url) = crate::helpers::seeded_database(trigapi::db::Backend::MySql) else { return };
    let mut config = crate::helpers::test_config(&url);
    config.server.bind_addr = "127.0.0.1:0".into();
    streaming(&mut config);
    let error = match trigapi::startup::Application::build(config).await {
        Ok(_) => panic!("started with CHANGE_STREAM=on and no binlog"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("log_bin is OFF"), "{error}");
}
