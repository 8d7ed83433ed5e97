//! The operators' cockpit: the dashboard page in a real browser, the figures it shows against
//! `/metrics`, `trigapi cache explain` and `cache warm`, the record of hot requests, warming
//! after a flush, and the per-user bound on personalised entries.

use std::process::{Command, Output};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::cache::{ADMIN, SECRET, admin, app, cache_status, get_as, private_database, statuses, token};
use crate::redis_harness::{RedisServer, redis_available};

/// A server listening on a port of its own (for a browser and for the warmer, which runs only
/// in a built application).
struct Listening {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Listening {
    async fn start(database: &str, redis: &RedisServer, change: impl FnOnce(&mut trigapi::config::Config)) -> Self {
        let mut config = crate::helpers::test_config(database);
        config.cache.redis_url = Some(redis.url().into());
        config.auth.admin_token = Some(ADMIN.into());
        config.server.bind_addr = "127.0.0.1:0".into();
        change(&mut config);
        let app = trigapi::startup::Application::build(config).await.expect("build the server");
        let base = format!("http://{}", app.local_addr().expect("bound"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let server = Self { base, stop: Some(stop) };
        for _ in 0..200 {
            if server.dashboard().await["local"]["active"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        server
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base)).await.expect("the server answers")
    }

    async fn status(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.headers().get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let _ = response.bytes().await;
        status
    }

    async fn dashboard(&self) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/admin/cache/dashboard", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("the server answers");
        json(response).await
    }

    /// The warmer's figures once a run of `planned` replays has finished (or after 15 s). A
    /// warming of nothing may run at start: a new Redis counts as a restart.
    async fn warming_of(&self, planned: u64) -> Value {
        let mut warm = Value::Null;
        for _ in 0..150 {
            warm = self.dashboard().await["warm"].clone();
            if warm["planned"].as_u64() == Some(planned) && warm["running"] == false {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        warm
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics")
    }
}

/// A response's body as JSON (`null` if it is not).
async fn json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The value of the sample `name{labels}` (labels as exposed, in any order) in `/metrics` text.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let wanted = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        wanted.then(|| value.parse().ok()).flatten()
    })
}

/// Debian's Chromium, if installed (CI installs it; `TRIGAPI_REQUIRE_CHROMIUM` makes its
/// absence a failure).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var("TRIGAPI_REQUIRE_CHROMIUM").is_err(), "chromium is required (TRIGAPI_REQUIRE_CHROMIUM)");
        eprintln!("skipped: chromium not found");
    }
    found
}

/// The page at `url` in headless Chromium, after its scripts ran for `budget_ms` of virtual
/// time: its DOM, or a screenshot written to `shot`.
async fn browse(chromium: &'static str, url: &str, shot: Option<&std::path::Path>) -> Output {
    let (url, shot) = (url.to_owned(), shot.map(std::path::Path::to_path_buf));
    // Off the runtime's thread: the server under test runs on it.
    tokio::task::spawn_blocking(move || browse_now(chromium, &url, shot.as_deref())).await.expect("chromium ran")
}

fn browse_now(chromium: &str, url: &str, shot: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(chromium);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=8000"]);
    cmd.arg(format!(
        "--user-data-dir={}",
        std::env::temp_dir().join(format!("trigapi-chromium-{}", std::process::id())).display()
    ));
    match shot {
        Some(path) => cmd.args(["--window-size=1400,1150".to_owned(), format!("--screenshot={}", path.display())]),
        None => cmd.args(["--dump-dom"]),
    };
    cmd.arg(url).output().expect("run chromium")
}

/// The text of the element whose `data-figure` is `name`, in a DOM dump.
fn figure(dom: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("data-figure=\"{name}\""))?;
    let text = &dom[at..];
    let start = text.find('>')? + 1;
    let end = text[start..].find('<')?;
    Some(text[start..start + end].replace(',', ""))
}

#[tokio::test]
async fn the_dashboard_page_draws_the_figures_metrics_reports() {
    let Some(chromium) = chromium() else { return };
    if !redis_available() {
        return;
    }
    let _turn = crate::helpers::cpu_heavy().await;
    let redis = RedisServer::start();
    let server = Listening::start(&private_database(), &redis, |c| c.cache.cache_hot_sample_every = 1).await;
    // Known traffic: trig 1 three times (a miss, two hits), trig 2 once, a list twice.
    for path in ["/v1/trigs/1", "/v1/trigs/1", "/v1/trigs/1", "/v1/trigs/2", "/v1/trigs?limit=3", "/v1/trigs?limit=3"] {
        server.status(path).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await; // the record of hot requests is flushed
    let metrics = server.metrics().await;
    let group = |g: &str, outcome: &str| {
        sample(&metrics, "trigapi_cache_group_requests_total", &[("group", g), ("outcome", outcome)])
    };
    assert_eq!((group("trig", "hit"), group("trig", "miss")), (Some(2.0), Some(2.0)), "{metrics}");
    assert_eq!((group("trigs", "hit"), group("trigs", "miss")), (Some(1.0), Some(1.0)));

    // Without a token the page asks for one, and the figures stay closed.
    let dom = String::from_utf8_lossy(&browse(chromium, &format!("{}/admin/cache", server.base), None).await.stdout)
        .into_owned();
    assert!(dom.contains("a token is needed"), "{dom}");
    let forged = reqwest::Client::new()
        .get(format!("{}/v1/admin/cache/dashboard", server.base))
        .bearer_auth("forged")
        .send()
        .await
        .expect("answer");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // With it, every figure the page draws is the one /metrics reports.
    let url = format!("{}/admin/cache#token={ADMIN}", server.base);
    let out = browse(chromium, &url, None).await;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page rendered figures: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics = server.metrics().await;
    for (family, outcome, column) in
        [("trig", "hit", "hits"), ("trig", "miss", "misses"), ("trigs", "hit", "hits"), ("trigs", "miss", "misses")]
    {
        let shown = figure(&dom, &format!("group.{family}.{column}")).and_then(|t| t.parse::<f64>().ok());
        let exposed =
            sample(&metrics, "trigapi_cache_group_requests_total", &[("group", family), ("outcome", outcome)]);
        assert_eq!(shown, exposed, "{family} {column}");
    }
    let gauge = |name: &str| sample(&metrics, name, &[]);
    let shown = |name: &str| figure(&dom, name).and_then(|t| t.parse::<f64>().ok());
    assert_eq!(shown("local.entries"), gauge("trigapi_cache_local_entries"), "in-process entries");
    assert_eq!(shown("local.entries"), Some(3.0));
    assert_eq!(shown("counters.invalidations"), gauge("trigapi_cache_invalidations_total"));
    assert_eq!(shown("local.suspensions"), gauge("trigapi_cache_local_suspensions_total"));
    assert_eq!(figure(&dom, "redis.state").as_deref(), Some("up"));
    assert!(dom.contains("/v1/trigs/1</td>"), "the hottest requests are listed: {dom}");

    // The picture, kept as the test's artifact.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let shot = dir.join("cockpit.png");
    let _ = std::fs::remove_file(&shot);
    let out = browse(chromium, &url, Some(&shot)).await;
    assert!(shot.metadata().is_ok_and(|m| m.len() > 20_000), "a screenshot: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test]
async fn the_metrics_latency_histograms_are_well_formed_and_count_every_request() {
    let app = app(&private_database(), None, |_| {}).await;
    for path in ["/v1/trigs/5", "/v1/trigs/5", "/v1/trigs/5", "/v1/users/1"] {
        app.get(path).await;
    }
    let metrics = app.get("/metrics").await.text;
    let count = |group: &str, outcome: &str| {
        sample(&metrics, "trigapi_cache_group_seconds_count", &[("group", group), ("outcome", outcome)])
    };
    assert_eq!((count("trig", "hit"), count("trig", "miss"), count("user", "miss")), (Some(2.0), Some(1.0), Some(1.0)));
    // Cumulative buckets ending in +Inf at the count.
    let buckets: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("trigapi_cache_group_seconds_bucket{group=\"trig\",outcome=\"hit\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]) && buckets.last() == Some(&2.0), "{buckets:?}");
    assert!(metrics.contains("trigapi_cache_group_seconds_bucket{group=\"trig\",outcome=\"hit\",le=\"+Inf\"} 2"));
}

/// `trigapi ARGS` against `database` and `redis`, off the runtime's thread (an app under test
/// may run on it).
async fn cli(database: &str, redis: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trigapi"));
    cmd.args(args)
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", database)
        .env("REDIS_URL", redis)
        .env("JWT_HS256_SECRET", SECRET)
        .env_remove("TRIGAPI_CONFIG");
    tokio::task::spawn_blocking(move || cmd.output().expect("run trigapi")).await.expect("ran")
}

#[tokio::test]
async fn cache_explain_shows_the_key_tags_generations_age_and_the_writes_that_reach_it() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let database = private_database();
    let app = app(&database, Some(&redis), |_| {}).await;
    app.get("/v1/trigs/1/logs").await;

    let out = cli(&database, &redis.url(), &["cache", "explain", "/v1/trigs/1/logs"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("key          trigapi:development:trig:1:logs:params_"), "{text}");
    assert!(text.contains("ttl          7200 s"), "{text}");
    assert!(text.contains("  trig:1:logs "), "its tags: {text}");
    assert!(text.contains("(current: served)"), "Redis holds it, current: {text}");
    assert!(text.contains("  log created (trig 1)"), "a log on trig 1 reaches it: {text}");
    assert!(!text.contains("places changed"), "no place import does: {text}");

    // After a flush of its tag, the same entry is still in Redis but no longer served.
    let out = cli(&database, &redis.url(), &["cache", "flush", "trig:1:*"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&database, &redis.url(), &["cache", "explain", "http://example.org/v1/trigs/1/logs"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("invalidated since"), "{text}");

    // A caller's own list needs the caller; an uncached endpoint says so.
    let out =
        cli(&database, &redis.url(), &["cache", "explain", "/v1/trigs?exclude_found=true", "--bearer", &token(3, &[])])
            .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("redis        no entry") && text.contains("  found:3 "),
        "keyed and tagged by the caller: {text}"
    );
    let out = cli(&database, &redis.url(), &["cache", "explain", "/health"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not served from the cache"));
}

#[tokio::test]
async fn the_hottest_requests_are_recorded_and_cache_warm_refills_them_after_a_flush() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let database = private_database();
    let app = app(&database, Some(&redis), |c| c.cache.cache_hot_sample_every = 1).await;
    // Heat: trig 3 most, then 2, then 1; one request to trig 9.
    for (trig, n) in [(3, 6), (2, 4), (1, 2), (9, 1)] {
        for _ in 0..n {
            app.get(&format!("/v1/trigs/{trig}")).await;
        }
    }
    let mut hottest = Vec::new();
    for _ in 0..60 {
        let body = admin(&app, Method::GET, "/v1/admin/cache/dashboard").await.body;
        hottest = body["hottest"].as_array().cloned().unwrap_or_default();
        if hottest.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let targets: Vec<&str> = hottest.iter().filter_map(|h| h["target"].as_str()).collect();
    assert_eq!(targets, ["/v1/trigs/3", "/v1/trigs/2", "/v1/trigs/1", "/v1/trigs/9"], "{hottest:?}");
    assert_eq!(hottest[0]["score"], 6.0);

    // Everything flushed; `cache warm --top 3` recomputes the three hottest, and only them.
    admin(&app, Method::DELETE, "/v1/admin/cache").await;
    let out = cli(&database, &redis.url(), &["cache", "warm", "--top", "3"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("warmed 3 entries"), "{err}");
    assert!(err.contains("3/3 replayed"), "progress is shown: {err}");
    // The server finds them in Redis (its own copies were dropped by the flush).
    assert_eq!(
        statuses(&app, &["/v1/trigs/3", "/v1/trigs/2", "/v1/trigs/1", "/v1/trigs/9"]).await,
        ["HIT", "HIT", "HIT", "MISS"]
    );
}

#[tokio::test]
async fn a_flush_of_everything_is_followed_by_warming_and_a_write_during_it_is_never_hidden() {
    if !redis_available() {
        return;
    }
    let _turn = crate::helpers::cpu_heavy().await;
    let redis = RedisServer::start();
    let database = private_database();
    let server = Listening::start(&database, &redis, |c| {
        c.cache.cache_hot_sample_every = 1;
        c.cache.cache_warm_rate = 50;
    })
    .await;
    let paths: Vec<String> = (1..=40).map(|t| format!("/v1/trigs/{t}?include=stats")).collect();
    for path in &paths {
        server.status(path).await;
        server.status(path).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // the record reaches Redis
    let flushed = reqwest::Client::new()
        .delete(format!("{}/v1/admin/cache", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("flush");
    assert_eq!(flushed.status(), StatusCode::OK);
    // While the warmer replays them (40 at 50/s), trig 20's stats change behind the API's back
    // and are invalidated as a write would invalidate them.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let db = trigapi::db::Db::connect(&database, 1).await.expect("connect");
    db.execute_raw("UPDATE trigstats SET logged_count = logged_count + 1000 WHERE id = 20").await.expect("update");
    let cache = trigapi::cache::build(&{
        let mut c = crate::helpers::test_config(&database);
        c.cache.redis_url = Some(redis.url().into());
        c
    })
    .await
    .expect("cache");
    for _ in 0..100 {
        if cache.local_stats().await.redis_available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cache.invalidate(&["trigstats:20"]).await;
    let warm = server.warming_of(40).await;
    assert_eq!((warm["running"].clone(), warm["planned"].as_u64()), (Value::Bool(false), Some(40)), "{warm}");
    assert_eq!(warm["replayed"].as_u64(), Some(40), "{warm}");
    let metrics = server.metrics().await;
    assert_eq!(sample(&metrics, "trigapi_cache_warm_replayed_total", &[]), Some(40.0));
    // Every warmed entry is a hit, and none hides the write.
    let mut misses = Vec::new();
    for path in &paths {
        if server.status(path).await != "HIT" {
            misses.push(path.clone());
        }
    }
    assert!(misses.len() <= 1, "warmed entries are hits (trig 20's may have been recomputed): {misses:?}");
    let shown = json(server.get("/v1/trigs/20?include=stats").await).await;
    let fresh = reqwest::Client::new()
        .get(format!("{}/v1/trigs/20?include=stats", server.base))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("answer");
    let fresh = json(fresh).await;
    assert_eq!(shown["stats"], fresh["stats"], "the warmed entry shows the write");
}

#[tokio::test]
async fn each_user_keeps_at_most_their_bound_of_personalised_entries_least_recent_first() {
    if !redis_available() {
        return;
    }
    let redis = RedisServer::start();
    let app = app(&private_database(), Some(&redis), |c| {
        c.auth.jwt_hs256_secret = Some(SECRET.into());
        c.cache.cache_per_user_max_entries = 5;
    })
    .await;
    let (alice, bob) = (token(2, &[]), token(3, &[]));
    let list = |n: u32| format!("/v1/trigs?exclude_found=true&limit={n}");
    let shared = "/v1/trigs?limit=7";
    app.get(shared).await;
    assert_eq!(cache_status(&get_as(&app, &list(1), &bob).await), "MISS");
    for n in 1..=5 {
        assert_eq!(cache_status(&get_as(&app, &list(n), &alice).await), "MISS");
    }
    // Alice uses her first list again, then makes a sixth: her least recently used (2) goes.
    assert_eq!(cache_status(&get_as(&app, &list(1), &alice).await), "HIT");
    assert_eq!(cache_status(&get_as(&app, &list(6), &alice).await), "MISS");
    for n in [1, 3, 4, 5, 6] {
        assert_eq!(cache_status(&get_as(&app, &list(n), &alice).await), "HIT", "alice's list {n}");
    }
    // Bob's entry and the shared one are untouched by all of Alice's.
    assert_eq!(cache_status(&get_as(&app, &list(1), &bob).await), "HIT", "bob's list");
    assert_eq!(cache_status(&app.get(shared).await), "HIT", "the shared list");
    // Redis holds five of Alice's lists, Bob's and the shared one: seven, not eight.
    let mut con =
        redis::Client::open(redis.url()).expect("client").get_multiplexed_async_connection().await.expect("redis");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg("trigapi:development:trigs:list:*").query_async(&mut con).await.expect("keys");
    assert_eq!(keys.len(), 7, "{keys:?}");
    // The evicted list is computed again.
    assert_eq!(cache_status(&get_as(&app, &list(2), &alice).await), "MISS");
}

#[tokio::test]
async fn after_redis_restarts_empty_the_hottest_entries_are_warmed_from_the_record_kept_in_process() {
    if !redis_available() {
        return;
    }
    let _turn = crate::helpers::cpu_heavy().await;
    let mut redis = RedisServer::start();
    let server = Listening::start(&private_database(), &redis, |c| c.cache.cache_hot_sample_every = 1).await;
    let paths: Vec<String> = (1..=10).map(|t| format!("/v1/trigs/{t}/logs")).collect();
    for path in &paths {
        server.status(path).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // the record is flushed
    // Redis comes back empty: entries, generations and the fleet's record are gone.
    redis.restart();
    let warm = server.warming_of(10).await;
    assert_eq!((warm["planned"].as_u64(), warm["replayed"].as_u64()), (Some(10), Some(10)), "{warm}");
    let mut statuses = Vec::new();
    for path in &paths {
        statuses.push(server.status(path).await);
    }
    assert!(statuses.iter().all(|s| s == "HIT"), "warmed after the restart: {statuses:?}");
}
