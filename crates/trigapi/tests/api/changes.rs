//! The change stream on SQLite (`CHANGE_STREAM=on`): writes made by another program (the
//! `sqlite3` shell, as the legacy site or an administrator would) reach warm cached reads in
//! milliseconds; a reader that lost changes invalidates everything; when the instance reading
//! the stream dies, another takes over from its position and misses nothing.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;
use trigapi::config::Switch;

use crate::cache::{Invalidation, admin, app, private_database};
use crate::helpers::TestApp;
use crate::redis_harness::{RedisServer, redis_available};

/// How long a change may take to reach the cache here (the goal is milliseconds; the margin is
/// for a loaded CI machine).
const WINDOW: Duration = Duration::from_secs(3);

/// Run `sql` in the `sqlite3` shell on `database`: another program writing the file. Like
/// any writer of a shared SQLite file it tries again when the database stays locked past its
/// busy timeout (a script that failed left nothing behind: `-bail` ends it, and an open
/// transaction rolls back when the shell exits).
pub(crate) async fn outside(database: &str, sql: &str) {
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
/// reads the change stream.
async fn reading(redis: Option<&RedisServer>) -> (String, TestApp) {
    let database = private_database();
    let app = app(&database, redis, streaming).await;
    leading(&app, WINDOW).await;
    (database, app)
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

async fn writes_from_another_program_reach_warm_reads(redis: Option<&RedisServer>) {
    let (database, app) = reading(redis).await;
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
    assert_eq!(stats["fallbacks"], 0, "{stats}");
    assert!(stats["changes"].as_u64() >= Some(6), "{stats}");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("trigapi_change_stream_changes_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_another_program_reach_warm_reads_in_process() {
    writes_from_another_program_reach_warm_reads(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_another_program_reach_warm_reads_through_redis() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    writes_from_another_program_reach_warm_reads(Some(&redis)).await;
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
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let (database, first) = reading(Some(&redis)).await;
    let second = app(&database, Some(&redis), streaming).await;
    let logs: Vec<i64> = second.ok("/v1/logs?limit=5").await["items"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["id"].as_i64())
        .collect();
    assert_eq!(logs.len(), 5);
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
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let (database, writer) = reading(Some(&redis)).await;
    let writer = std::sync::Arc::new(writer);
    let other = std::sync::Arc::new(app(&database, Some(&redis), streaming).await);
    let readers = vec![std::sync::Arc::clone(&writer), other];
    let report =
        crate::cache::check_writes(std::sync::Arc::clone(&writer), readers, 6_000, async {}, Invalidation::Stream)
            .await;
    eprintln!("writers behind the API's back, the change stream invalidating: {report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(report.max_staleness < Duration::from_millis(500), "stale past the window: {report:?}");
}
