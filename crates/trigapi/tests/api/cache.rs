//! The response cache through the real router: every cacheable endpoint, canonical keys, the
//! admin endpoints, and the invariants under concurrency and faults (a concurrent consistency
//! checker, Redis killed / frozen / restarted, the database gone).
//!
//! Each test has its own copy of the seeded SQLite database (they write to it) and, where Redis
//! is involved, its own `redis-server` on a free port.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use sea_query::{Expr, ExprTrait, Query};
use trigapi::config::Config;
use trigapi::db::{Backend, Trig};

use crate::helpers::{TestApp, TestResponse, seeded_database, test_config};
use crate::redis_harness::{RedisServer, redis_available};

pub(crate) const ADMIN: &str = "test-admin-token";

/// A private copy of the seeded SQLite database.
pub(crate) fn private_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let url = seeded_database(Backend::Sqlite).expect("SQLite is always configured");
    let src = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    let dir = std::env::temp_dir().join(format!("trigapi-cache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dst = dir.join(format!("db{}.sqlite", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::copy(&src, &dst).expect("copy the seeded database");
    let wal = src.with_extension("sqlite-wal");
    if wal.exists() {
        std::fs::copy(&wal, dst.with_extension("sqlite-wal")).expect("copy its WAL");
    }
    format!("sqlite://{}", dst.display())
}

/// An app over `database` with Redis at `redis` (or the in-process tier alone).
pub(crate) async fn app(database: &str, redis: Option<&RedisServer>, change: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(database);
    config.cache.redis_url = redis.map(|r| r.url().into());
    config.auth.admin_token = Some(ADMIN.into());
    change(&mut config);
    let app = TestApp::with_config(config).await;
    if redis.is_some() {
        // The in-process tier serves once the invalidation subscription is up.
        for _ in 0..100 {
            let stats = admin(&app, Method::GET, "/v1/admin/cache/stats").await;
            if stats.body["local_tier"]["active"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    app
}

pub(crate) async fn admin(app: &TestApp, method: Method, uri: &str) -> TestResponse {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("request");
    app.send(req).await
}

pub(crate) async fn get_with(app: &TestApp, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

pub(crate) fn header<'a>(r: &'a TestResponse, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub(crate) fn cache_status(r: &TestResponse) -> &str {
    header(r, "x-cache-status")
}

/// Every cacheable endpoint of the contract's TTL table, with its TTL and key prefix.
pub(crate) const CACHEABLE: &[(&str, u64, &str)] = &[
    ("/v1/stats/site", 3600, "trigapi:development:stats:site:v1"),
    ("/v1/trigs/1", 86_400, "trigapi:development:trig:1:v1"),
    ("/v1/trigs/1?include=stats", 86_400, "trigapi:development:trig:1:params_"),
    ("/v1/trigs?limit=5", 43_200, "trigapi:development:trigs:list:params_"),
    ("/v1/trigs/export", 31_536_000, "trigapi:development:trigs:export:v1"),
    ("/v1/trigs/geojson", 31_536_000, "trigapi:development:trigs:geojson:params_"),
    ("/v1/trigs/1/logs", 7200, "trigapi:development:trig:1:logs:params_"),
    ("/v1/trigs/1/photos", 7200, "trigapi:development:trig:1:photos:params_"),
    ("/v1/users/1", 21_600, "trigapi:development:user:1:v1"),
    ("/v1/users", 43_200, "trigapi:development:users:list:params_"),
    ("/v1/users/1/logs", 7200, "trigapi:development:user:1:logs:params_"),
    ("/v1/users/1/photos", 7200, "trigapi:development:user:1:photos:params_"),
    ("/v1/logs", 3600, "trigapi:development:logs:list:params_"),
    ("/v1/logs/1", 21_600, "trigapi:development:log:1:v1"),
    ("/v1/logs/1/photos", 21_600, "trigapi:development:log:1:photos:params_"),
    ("/v1/photos", 3600, "trigapi:development:photos:list:params_"),
];

#[tokio::test]
async fn every_cacheable_endpoint_misses_then_hits_with_the_same_body() {
    let app = app(&private_database(), None, |_| {}).await;
    let photo = app.ok("/v1/photos?limit=1").await["items"][0]["id"].as_i64().expect("a photo");
    let photo_uri = format!("/v1/photos/{photo}");
    let mut all: Vec<(&str, u64, &str)> = CACHEABLE.to_vec();
    all.push((&photo_uri, 43_200, "trigapi:development:photo:"));
    for (uri, ttl, key) in all {
        let miss = app.get(uri).await;
        assert_eq!((miss.status, cache_status(&miss)), (StatusCode::OK, "MISS"), "{uri}");
        assert!(header(&miss, "x-cache-key").starts_with(key), "{uri}: {}", header(&miss, "x-cache-key"));
        assert_eq!(header(&miss, "x-cache-ttl"), ttl.to_string(), "{uri}");
        let hit = app.get(uri).await;
        assert_eq!(cache_status(&hit), "HIT", "{uri}");
        assert_eq!(hit.text, miss.text, "{uri}: the cached body is the computed body");
        assert_eq!(header(&hit, "etag"), header(&miss, "etag"));
        assert!(header(&hit, "cache-status").starts_with("trigapi; hit; ttl="));
    }
    let export = app.get("/v1/trigs/export").await;
    assert_eq!(header(&export, "cache-control"), "public, max-age=31536000", "handler headers are kept");
    let waypoint = app.get("/v1/trigs/waypoint/TP0001").await;
    assert!(waypoint.headers.get("x-cache-status").is_none(), "waypoint lookups are not cached");
}

#[tokio::test]
async fn keys_are_canonical() {
    let app = app(&private_database(), None, |_| {}).await;
    let key = |r: &TestResponse| header(r, "x-cache-key").to_owned();
    let same = [
        ("/v1/trigs/1?include=details,stats", "/v1/trigs/1?include=stats,details,stats"),
        ("/v1/trigs", "/v1/trigs?limit=10&skip=0&exclude_found=false"),
        ("/v1/trigs?lat=57.5&lon=-4", "/v1/trigs?lon=-4.0&lat=57.50"),
        ("/v1/logs?limit=5", "/v1/logs?limit=5&unknown=1"),
    ];
    for (a, b) in same {
        let (ra, rb) = (app.get(a).await, app.get(b).await);
        assert_eq!(key(&ra), key(&rb), "{a} ~ {b}");
        assert_eq!(cache_status(&rb), "HIT", "{b}");
        assert_eq!(ra.text, rb.text);
    }
    let different = [("/v1/trigs?limit=5", "/v1/trigs?limit=6"), ("/v1/trigs/1", "/v1/trigs/1?include=stats")];
    for (a, b) in different {
        assert_ne!(key(&app.get(a).await), key(&app.get(b).await), "{a} vs {b}");
    }
    let params = key(&app.get("/v1/trigs?limit=5").await);
    let hash = params.split("params_").nth(1).and_then(|s| s.split(':').next()).unwrap_or("");
    assert_eq!(hash.len(), 16, "64-bit parameter hash: {params}");
}

#[tokio::test]
async fn bypass_refreshes_and_conditional_requests_get_304() {
    let app = app(&private_database(), None, |_| {}).await;
    let first = app.get("/v1/trigs/2").await;
    let etag = header(&first, "etag").to_owned();
    let not_modified = get_with(&app, "/v1/trigs/2", &[("if-none-match", &etag)]).await;
    assert_eq!((not_modified.status, not_modified.text.as_str()), (StatusCode::NOT_MODIFIED, ""));
    rename(&app, 2, "Renamed behind the cache's back").await;
    assert_eq!(app.get("/v1/trigs/2").await.body["name"], first.body["name"], "a HIT: nobody invalidated");
    let bypass = get_with(&app, "/v1/trigs/2", &[("cache-control", "no-cache")]).await;
    assert_eq!(
        (cache_status(&bypass), &bypass.body["name"]),
        ("BYPASS", &serde_json::json!("Renamed behind the cache's back"))
    );
    assert_eq!(header(&bypass, "cache-status"), "trigapi; fwd=bypass; stored");
    let after = app.get("/v1/trigs/2").await;
    assert_eq!((cache_status(&after), &after.body["name"]), ("HIT", &bypass.body["name"]), "the bypass stored it");
    let old = get_with(&app, "/v1/trigs/2", &[("if-none-match", &etag)]).await;
    assert_eq!(old.status, StatusCode::OK, "the old ETag no longer matches");
}

#[tokio::test]
async fn stored_compressed_bodies_are_sent_as_they_are() {
    let app = app(&private_database(), None, |_| {}).await;
    let plain = app.get("/v1/trigs/export").await;
    for (coding, header_value) in [("zstd", "zstd"), ("gzip", "gzip"), ("br, gzip;q=0.5", "gzip")] {
        let req = Request::builder().uri("/v1/trigs/export").header("accept-encoding", coding).body(Body::empty());
        let res = tower::ServiceExt::oneshot(app.router(), req.expect("request")).await.expect("response");
        assert_eq!(res.headers()["content-encoding"], header_value);
        assert_eq!(res.headers()["x-cache-status"], "HIT");
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await.expect("body").to_bytes();
        let inflated = match header_value {
            "zstd" => zstd_decode(&bytes),
            _ => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_ref()), &mut out).expect("gzip");
                out
            }
        };
        assert_eq!(inflated, plain.text.as_bytes(), "{coding}");
    }
}

fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(bytes).expect("zstd")
}

#[tokio::test]
async fn cors_lets_browsers_read_the_cache_headers() {
    let app = app(&private_database(), None, |c| c.server.backend_cors_origins = "http://localhost:5173".into()).await;
    let r = get_with(&app, "/v1/stats/site", &[("origin", "http://localhost:5173")]).await;
    let exposed = header(&r, "access-control-expose-headers").to_ascii_lowercase();
    for h in ["x-cache-status", "x-cache-key", "x-cache-ttl", "x-cache-age", "cache-status", "etag"] {
        assert!(exposed.contains(h), "{h} not in {exposed}");
    }
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let app = app(&private_database(), None, |_| {}).await;
    for (method, uri) in [
        (Method::GET, "/v1/admin/cache/stats"),
        (Method::DELETE, "/v1/admin/cache"),
        (Method::DELETE, "/v1/admin/cache?pattern=trig:*"),
        (Method::DELETE, "/v1/admin/cache/trigs/export"),
    ] {
        let anonymous = app.request(method.clone(), uri).await;
        assert_eq!(
            (anonymous.status, &anonymous.body),
            (StatusCode::UNAUTHORIZED, &serde_json::json!({"detail": "Not authenticated"}))
        );
        assert_eq!(header(&anonymous, "www-authenticate"), "Bearer");
        let req =
            Request::builder().method(method).uri(uri).header("authorization", "Bearer wrong").body(Body::empty());
        let wrong = app.send(req.expect("request")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(wrong.body["detail"], "Could not validate credentials");
    }
    let unconfigured = self::app(&private_database(), None, |c| c.auth.admin_token = None).await;
    assert_eq!(admin(&unconfigured, Method::GET, "/v1/admin/cache/stats").await.status, StatusCode::UNAUTHORIZED);
}

pub(crate) const SECRET: &str = "test-jwt-secret";

pub(crate) fn token(user: i32, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    trigapi::auth::mint(SECRET, user, &scopes, Duration::from_secs(600)).expect("mint")
}

pub(crate) async fn get_as(app: &TestApp, uri: &str, token: &str) -> TestResponse {
    get_with(app, uri, &[("authorization", &format!("Bearer {token}"))]).await
}

#[tokio::test]
async fn the_admin_scope_opens_the_admin_endpoints_and_its_absence_is_403() {
    let app = app(&private_database(), None, |c| c.auth.jwt_hs256_secret = Some(SECRET.into())).await;
    let admin = get_as(&app, "/v1/admin/cache/stats", &token(1, &["api:admin"])).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);
    let writer = get_as(&app, "/v1/admin/cache/stats", &token(1, &["api:write"])).await;
    assert_eq!(
        (writer.status, &writer.body),
        (StatusCode::FORBIDDEN, &serde_json::json!({"detail": "Missing required scope: api:admin"}))
    );
    let forged =
        trigapi::auth::mint("another-secret", 1, &["api:admin".to_owned()], Duration::from_secs(60)).expect("mint");
    let r = get_as(&app, "/v1/admin/cache/stats", &forged).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Could not validate credentials"))
    );
}

/// `exclude_found` lists depend on the caller: each caller's list is keyed by the caller, marked
/// private, and never served to another caller or to an anonymous one.
#[tokio::test]
async fn personalised_lists_are_never_shared() {
    let app = app(&private_database(), None, |c| c.auth.jwt_hs256_secret = Some(SECRET.into())).await;
    // Two users with logs, and different numbers of logged trigs.
    let users = app.ok("/v1/users?include=stats&limit=50").await;
    let mut logged: Vec<(i64, i64)> = users["items"]
        .as_array()
        .map(|items| {
            items.iter().filter_map(|u| Some((u["id"].as_i64()?, u["stats"]["total_trigs_logged"].as_i64()?))).collect()
        })
        .unwrap_or_default();
    logged.retain(|(_, n)| *n > 0);
    logged.sort_by_key(|(_, n)| -*n);
    let ((alice, alice_logged), (bob, bob_logged)) = (logged[0], logged[logged.len() - 1]);
    assert_ne!(alice_logged, bob_logged, "{logged:?}");
    let uri = "/v1/trigs?exclude_found=true&limit=100";
    let anonymous_total = app.ok("/v1/trigs?limit=100").await["pagination"]["total"].as_i64().unwrap_or(0);
    let (ta, tb) = (token(alice as i32, &[]), token(bob as i32, &[]));

    let a1 = get_as(&app, uri, &ta).await;
    assert_eq!((cache_status(&a1), header(&a1, "cache-control")), ("MISS", "private"));
    // A CDN in front must not keep one caller's list.
    assert_eq!((header(&a1, "surrogate-control"), header(&a1, "cdn-cache-control")), ("no-store", "no-store"));
    assert_eq!(
        a1.body["pagination"]["total"].as_i64(),
        Some(anonymous_total - alice_logged),
        "alice's found trigs are gone"
    );
    let b1 = get_as(&app, uri, &tb).await;
    assert_eq!(cache_status(&b1), "MISS", "bob never gets alice's entry");
    assert_eq!(b1.body["pagination"]["total"].as_i64(), Some(anonymous_total - bob_logged));
    assert_ne!(header(&a1, "x-cache-key"), header(&b1, "x-cache-key"));
    let anonymous = app.get(uri).await;
    assert_eq!(anonymous.body["pagination"]["total"].as_i64(), Some(anonymous_total), "anonymous: nothing excluded");
    assert_ne!(header(&anonymous, "cache-control"), "private");
    assert!(header(&anonymous, "surrogate-control").starts_with("max-age="), "{:?}", anonymous.headers);
    // Hits stay with their caller.
    for _ in 0..2 {
        let (a, b, anon) = (get_as(&app, uri, &ta).await, get_as(&app, uri, &tb).await, app.get(uri).await);
        assert_eq!((cache_status(&a), a.text.as_str()), ("HIT", a1.text.as_str()));
        assert_eq!((cache_status(&b), b.text.as_str()), ("HIT", b1.text.as_str()));
        assert_eq!(anon.text, anonymous.text);
    }
    // A token that does not verify is refused, not quietly served as anonymous (the caller
    // asked for their own list and would get everybody's).
    let forged = get_as(&app, uri, "not.a.token").await;
    assert_eq!(forged.status, axum::http::StatusCode::UNAUTHORIZED, "{}", forged.text);
    assert_eq!(forged.body["detail"], "Could not validate credentials");
}

#[tokio::test]
async fn pattern_flushes_invalidate_exactly_their_tags_and_nothing_outside_the_namespace() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let app = app(&private_database(), Some(&server), |_| {}).await;
    let client = redis::Client::open(server.url()).expect("client");
    let mut redis = client.get_multiplexed_async_connection().await.expect("connect");
    let _: () = redis::cmd("SET").arg("someone-else:key").arg("theirs").query_async(&mut redis).await.expect("set");
    let uris = ["/v1/trigs/1", "/v1/trigs/1/logs", "/v1/trigs/12", "/v1/trigs?limit=5", "/v1/stats/site"];
    statuses(&app, &uris).await;
    let r = admin(&app, Method::DELETE, "/v1/admin/cache?pattern=trig:1:*").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["pattern"], "trigapi:development:trig:1:*");
    assert_eq!(statuses(&app, &uris).await, ["MISS", "MISS", "HIT", "HIT", "HIT"], "trig:1:* spares trig 12");
    admin(&app, Method::DELETE, "/v1/admin/cache?pattern=trigs:list:*").await;
    assert_eq!(statuses(&app, &uris).await, ["HIT", "HIT", "HIT", "MISS", "HIT"]);
    admin(&app, Method::DELETE, "/v1/admin/cache?pattern=trig:*").await;
    assert_eq!(statuses(&app, &uris).await, ["MISS", "MISS", "MISS", "HIT", "HIT"], "the trig family");
    let all = admin(&app, Method::DELETE, "/v1/admin/cache").await;
    assert_eq!(all.body["message"], "Flushed all cache entries for development environment");
    assert_eq!(statuses(&app, &uris).await, ["MISS"; 5]);
    let exact =
        header(&app.get("/v1/stats/site").await, "x-cache-key").trim_start_matches("trigapi:development:").to_owned();
    let deleted = admin(&app, Method::DELETE, &format!("/v1/admin/cache?pattern={exact}")).await;
    assert_eq!(deleted.body["deleted_count"], 1, "an exact key is deleted: {}", deleted.text);
    assert_eq!(cache_status(&app.get("/v1/stats/site").await), "MISS");
    for bad in ["trig:1*", "tr?g:*", "*:1:*", "[a-z]*"] {
        let r = admin(&app, Method::DELETE, &format!("/v1/admin/cache?pattern={bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body["detail"].as_str().unwrap_or("").contains("Supported forms"), "{}", r.text);
    }
    app.get("/v1/trigs/export").await;
    app.get("/v1/trigs/geojson").await;
    admin(&app, Method::DELETE, "/v1/admin/cache/trigs/export").await;
    assert_eq!(cache_status(&app.get("/v1/trigs/export").await), "MISS");
    assert_eq!(cache_status(&app.get("/v1/trigs/geojson").await), "MISS", "geojson is cleared with the export");
    let theirs: Option<String> = redis::cmd("GET").arg("someone-else:key").query_async(&mut redis).await.expect("get");
    assert_eq!(theirs.as_deref(), Some("theirs"), "flushes never touch other applications' keys");
    let stats = admin(&app, Method::GET, "/v1/admin/cache/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
    for field in [
        "redis_version",
        "total_keys",
        "memory_used_bytes",
        "memory_used_human",
        "keyspace_hits",
        "keyspace_misses",
        "hit_rate_percent",
        "connected_clients",
        "app_env_keys_count",
    ] {
        assert!(!stats.body[field].is_null(), "{field} in {}", stats.text);
    }
    assert_eq!(stats.body["app_env_pattern"], "trigapi:development:*");
    assert!(stats.body["counters"]["local_hits"].as_u64().unwrap_or(0) > 0);
}

#[tokio::test]
async fn two_hundred_concurrent_cold_requests_compute_once() {
    let app = Arc::new(app(&private_database(), None, |_| {}).await);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.get("/v1/users/1?include=stats,breakdown").await })
        })
        .collect();
    let mut bodies = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(r.status, StatusCode::OK);
        bodies.insert(r.text);
    }
    assert_eq!(bodies.len(), 1);
    let stats = admin(&app, Method::GET, "/v1/admin/cache/stats").await;
    assert_eq!(stats.body["counters"]["origin_runs"], 1, "one database computation: {}", stats.text);
}

#[tokio::test]
async fn metrics_expose_the_cache_counters() {
    let app = app(&private_database(), None, |_| {}).await;
    app.get("/v1/trigs/5").await;
    app.get("/v1/trigs/5").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    let value =
        |name: &str| r.text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(-1.0);
    assert_eq!(value("trigapi_cache_origin_runs_total "), 1.0, "{}", r.text);
    assert_eq!(value("trigapi_cache_local_hits_total "), 1.0);
    assert_eq!(value("trigapi_cache_local_entries "), 1.0);
    assert!(r.text.contains("# TYPE trigapi_cache_misses_total counter"), "{}", r.text);
}

#[tokio::test]
async fn entries_over_the_size_limit_are_not_stored() {
    let app = app(&private_database(), None, |c| c.cache.cache_max_entry_bytes = 10_000).await;
    assert_eq!(cache_status(&app.get("/v1/trigs/export").await), "MISS");
    assert_eq!(cache_status(&app.get("/v1/trigs/export").await), "MISS", "5 MB is over the 10 kB limit");
    app.get("/v1/trigs/1").await;
    assert_eq!(cache_status(&app.get("/v1/trigs/1").await), "HIT", "small entries are stored");
}

#[tokio::test]
async fn entries_under_the_size_floor_are_not_stored_unless_their_family_says_otherwise() {
    let server = redis_available().then(RedisServer::start);
    let database = private_database();
    // Two answers of the `trig` family (one trig and what hangs off it), of known sizes.
    let (small, large) = ("/v1/trigs/1", "/v1/trigs/1?include=details,stats,attrs");
    let sizes = app(&database, None, |_| {}).await;
    let (small_bytes, large_bytes) = (sizes.get(small).await.text.len(), sizes.get(large).await.text.len());
    assert!(small_bytes < large_bytes && large_bytes < 100_000, "{small_bytes} and {large_bytes} bytes");
    let app = app(&database, server.as_ref(), |c| {
        c.cache.cache_min_entry_bytes = 100_000;
        let family = format!("trig=0..{small_bytes}");
        c.cache.cache_entry_bytes_by_family = trigapi::config::entry_bytes_by_family(&family).expect("valid sizes");
    })
    .await;
    let stored = |r: &TestResponse| header(r, "cache-status").contains("stored");
    // The site's stats are a few hundred bytes: under the floor, answered every time, never kept.
    for _ in 0..2 {
        let r = app.get("/v1/stats/site").await;
        assert_eq!((r.status, cache_status(&r), stored(&r)), (StatusCode::OK, "MISS", false), "{:?}", r.headers);
        assert!(r.text.len() < 100_000);
    }
    // Over the floor: kept.
    assert!(stored(&app.get("/v1/trigs/export").await));
    assert_eq!(cache_status(&app.get("/v1/trigs/export").await), "HIT");
    // The `trig` family has no floor, and a ceiling of its own.
    assert!(stored(&app.get(small).await));
    assert_eq!(cache_status(&app.get(small).await), "HIT");
    let over = app.get(large).await;
    assert!(!stored(&over), "{:?}", over.headers);
    assert_eq!(cache_status(&app.get(large).await), "MISS");
}

#[tokio::test]
async fn cdn_headers_name_the_tags_and_the_remaining_ttl() {
    let server = redis_available().then(RedisServer::start);
    let app = app(&private_database(), server.as_ref(), |_| {}).await;
    for (uri, ttl, _) in CACHEABLE {
        let miss = app.get(uri).await;
        let keys = header(&miss, "surrogate-key");
        assert!(!keys.is_empty(), "{uri}");
        assert_eq!(header(&miss, "cache-tag"), keys.replace(' ', ","), "{uri}");
        assert_eq!(header(&miss, "surrogate-control"), format!("max-age={ttl}"), "{uri}");
        assert_eq!(header(&miss, "cdn-cache-control"), format!("max-age={ttl}"), "{uri}");
        let hit = app.get(uri).await;
        assert_eq!(cache_status(&hit), "HIT", "{uri}");
        let remaining = header(&hit, "x-cache-ttl").parse::<u64>().expect("ttl");
        assert!(remaining <= *ttl, "{uri}");
        assert_eq!(header(&hit, "surrogate-control"), format!("max-age={remaining}"), "{uri}");
        assert_eq!(header(&hit, "cache-tag"), header(&miss, "cache-tag"), "{uri}");
    }
}

/// A CDN's purge API, as a test sees it: every request it accepted (path, headers, body), after
/// answering the first `failing` with 503, each answer taking `delay`.
struct PurgeApi {
    base: String,
    accepted: Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>,
}

impl PurgeApi {
    async fn start(failing: usize, delay: Duration) -> Self {
        let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicUsize::new(failing));
        let seen = Arc::clone(&accepted);
        let purge = move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| async move {
            tokio::time::sleep(delay).await;
            if failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            seen.lock().expect("lock").push((uri.path().to_owned(), headers, body));
            StatusCode::OK
        };
        let router = axum::Router::new().route("/{*path}", axum::routing::post(purge));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, accepted }
    }

    /// The accepted requests once `enough` says they are all there (at most 10 s).
    async fn wait_until(
        &self,
        enough: impl Fn(&[(String, axum::http::HeaderMap, String)]) -> bool,
    ) -> Vec<(String, axum::http::HeaderMap, String)> {
        for _ in 0..500 {
            let got = self.accepted.lock().expect("lock").clone();
            if enough(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the CDN got only {:?}", self.accepted.lock().expect("lock"));
    }
}

#[tokio::test]
async fn invalidations_purge_a_fastly_cdn_by_tag_with_retries() {
    let server = redis_available().then(RedisServer::start);
    let cdn = PurgeApi::start(2, Duration::ZERO).await;
    let app = app(&private_database(), server.as_ref(), |c| {
        c.cache.cdn_purge_url = Some(format!("{}/service/svc1/purge", cdn.base));
        c.cache.cdn_purge_token = Some("cdn-secret".into());
    })
    .await;
    // What a CDN stored under the export's tags is what the purge names.
    let export = app.get("/v1/trigs/export").await;
    assert!(header(&export, "surrogate-key").split(' ').any(|t| t == "trigs:export"), "{:?}", export.headers);
    assert_eq!(admin(&app, Method::DELETE, "/v1/admin/cache/trigs/export").await.status, StatusCode::OK);
    let got = cdn.wait_until(|got| !got.is_empty()).await;
    let (path, headers, _) = &got[0];
    assert_eq!(path, "/service/svc1/purge");
    assert_eq!(headers["fastly-key"], "cdn-secret");
    let mut keys: Vec<&str> = headers["surrogate-key"].to_str().expect("ascii").split(' ').collect();
    keys.sort_unstable();
    assert_eq!(keys, ["trigs:export", "trigs:geojson"]);
    // The two 503s were retried, and counted.
    let metrics = app.get("/metrics").await.text;
    for line in
        ["trigapi_cdn_purge_retries_total 2", "trigapi_cdn_purge_requests_total 1", "trigapi_cdn_purge_tags_total 2"]
    {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // A flush of everything purges everything.
    admin(&app, Method::DELETE, "/v1/admin/cache").await;
    let got = cdn.wait_until(|got| got.len() == 2).await;
    assert_eq!(got[1].0, "/service/svc1/purge_all");
}

#[tokio::test]
async fn invalidations_purge_a_cloudflare_cdn_in_batches_of_thirty() {
    let server = redis_available().then(RedisServer::start);
    // A slow CDN: what is invalidated during one purge waits for the next, in batches.
    let cdn = PurgeApi::start(0, Duration::from_millis(300)).await;
    let app = app(&private_database(), server.as_ref(), |c| {
        c.cache.cdn_purge_url = Some(format!("{}/client/v4/zones/zone1/purge_cache", cdn.base));
        c.cache.cdn_purge_format = trigapi::config::PurgeFormat::Cloudflare;
        c.cache.cdn_purge_token = Some("cf-secret".into());
    })
    .await;
    let expected: std::collections::BTreeSet<String> = (1..=75).map(|i| format!("trig:{i}")).collect();
    for i in 1..=75 {
        admin(&app, Method::DELETE, &format!("/v1/admin/cache?pattern=trig:{i}:*")).await;
    }
    let tags_of = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        v["tags"].as_array().expect("tags").iter().map(|t| t.as_str().expect("tag").to_owned()).collect()
    };
    let got = cdn
        .wait_until(|got| {
            got.iter().flat_map(|(_, _, b)| tags_of(b)).collect::<std::collections::BTreeSet<_>>() == expected
        })
        .await;
    for (path, headers, body) in &got {
        assert_eq!(path, "/client/v4/zones/zone1/purge_cache");
        assert_eq!(headers["authorization"], "Bearer cf-secret");
        assert_eq!(headers["content-type"], "application/json");
        assert!((1..=30).contains(&tags_of(body).len()), "{body}");
    }
    assert!(got.iter().any(|(_, _, body)| tags_of(body).len() == 30), "full batches: {got:?}");
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_read_metrics_that_exist() {
    let cdn = PurgeApi::start(0, Duration::ZERO).await;
    let app = app(&private_database(), None, |c| {
        c.cache.cdn_purge_url = Some(format!("{}/purge", cdn.base));
        c.cache.change_stream = trigapi::config::Switch::On;
    })
    .await;
    app.get("/v1/trigs/1").await;
    let metrics = app.get("/metrics").await.text;
    let exposed: std::collections::BTreeSet<&str> =
        metrics.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split([' ', '{']).next()).collect();
    let name = regex::Regex::new(r"\btrigapi_[a-z0-9_]+").expect("pattern");
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    for file in ["grafana/trigapi-cache.json", "prometheus/trigapi-alerts.yml", "prometheus/trigapi-alerts.test.yml"] {
        let text = std::fs::read_to_string(deploy.join(file)).expect("a deploy file");
        let named: Vec<&str> = name.find_iter(&text).map(|m| m.as_str()).collect();
        assert!(named.len() >= 5, "{file} names metrics");
        // Exposed by a server reading PostgreSQL's stream alone: `changes::writes_from_psql_*`
        // check it there.
        let postgres_only = ["trigapi_change_stream_slot_retained_bytes"];
        for metric in named.into_iter().filter(|m| !postgres_only.contains(m)) {
            assert!(exposed.contains(metric), "{file} reads {metric}, which /metrics does not expose");
        }
    }
}

#[tokio::test]
async fn the_cache_command_shows_and_flushes_the_shared_tier_without_a_server() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let database = private_database();
    let app = app(&database, Some(&server), |_| {}).await;
    for uri in ["/v1/trigs/1", "/v1/trigs/2", "/v1/trigs/1", "/v1/trigs/2"] {
        app.get(uri).await;
    }
    assert_eq!(statuses(&app, &["/v1/trigs/1", "/v1/trigs/2"]).await, ["HIT", "HIT"]);
    let dir = std::env::temp_dir();
    let cli = |args: &[&str], redis: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trigapi"))
            .args(args)
            .current_dir(&dir)
            .env("DATABASE_URL", &database)
            .env("REDIS_URL", redis)
            .env_remove("TRIGAPI_CONFIG")
            .output()
            .expect("run trigapi")
    };

    let out = cli(&["cache", "stats"], &server.url());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON stats");
    assert_eq!(stats["redis_available"], true, "{stats}");
    assert!(stats["app_env_keys_count"].as_u64() >= Some(2), "{stats}");

    let out = cli(&["cache", "flush", "trig:1:*"], &server.url());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("invalidated trigapi:development:trig:1:*"), "{err}");
    // The running server heard of it; the other trig stays.
    let mut flushed = false;
    for _ in 0..100 {
        if cache_status(&app.get("/v1/trigs/1").await) == "MISS" {
            flushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(flushed, "trig 1 was invalidated");
    assert_eq!(statuses(&app, &["/v1/trigs/2"]).await, ["HIT"]);

    // A pattern the cache cannot flush, and a Redis that is not there: errors, never a quiet
    // success.
    let out = cli(&["cache", "flush", "trig*1"], &server.url());
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nowhere = format!("redis://127.0.0.1:{}", crate::redis_harness::free_port());
    let out = cli(&["cache", "flush"], &nowhere);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Redis did not answer"), "{err}");
}

#[tokio::test]
async fn with_the_database_gone_cached_entries_are_served_and_the_rest_is_503() {
    let app = app(&private_database(), None, |_| {}).await;
    app.get("/v1/trigs/3").await;
    app.db.close().await;
    let cached = app.get("/v1/trigs/3").await;
    assert_eq!((cached.status, cache_status(&cached)), (StatusCode::OK, "HIT"));
    let uncached = app.get("/v1/trigs/4").await;
    assert_eq!(
        (uncached.status, &uncached.body),
        (StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({"detail": "Database unavailable"}))
    );
    assert!(uncached.headers.get("x-cache-status").is_none(), "errors are not cached");
}

/// A caller who sent a token is never quietly served as anonymous: when the database cannot
/// say who the token's subject is, the answer is 503, not everybody's list.
#[tokio::test]
async fn an_optional_token_that_cannot_be_checked_is_503_not_anonymous() {
    let app = app(&private_database(), None, |c| c.auth.jwt_hs256_secret = Some(SECRET.into())).await;
    let anonymous = app.get("/v1/trigs?exclude_found=true&limit=5").await;
    assert_eq!(anonymous.status, StatusCode::OK);
    app.db.close().await;
    let r = get_as(&app, "/v1/trigs?exclude_found=true&limit=5", &token(7, &[])).await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({"detail": "Database unavailable"})),
        "{}",
        r.text
    );
}

pub(crate) async fn statuses(app: &TestApp, uris: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for u in uris {
        out.push(cache_status(&app.get(u).await).to_owned());
    }
    out
}

/// Rename trig `id` in the database (a write the cache does not see by itself).
async fn rename(app: &TestApp, id: i32, name: &str) {
    let update =
        Query::update().table(Trig::Table).value(Trig::Name, name).and_where(Expr::col(Trig::Id).eq(id)).to_owned();
    assert_eq!(app.db.execute(&update).await.expect("update"), 1);
}

// ---------------------------------------------------------------------------------------------
// The concurrent consistency checker.
//
// Writers bump a trig's name to `v{n}` in the database and then invalidate `trig:{id}:*`
// through the admin endpoint, like a write endpoint would after its commit; a write is complete
// when that call returns. Readers GET the trig and check the version against the history: a
// read that started after version n was complete must return at least n.

pub(crate) const HOT: [i32; 6] = [1, 2, 3, 4, 5, 6];

struct History {
    /// Per trig: the newest version whose write has completed.
    completed: Vec<AtomicU64>,
    /// Per trig: when each version completed.
    completed_at: Vec<std::sync::Mutex<Vec<Instant>>>,
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    reads: u64,
    writes: u64,
    stale: u64,
    /// Of those, reads served by another instance than the writer's.
    stale_elsewhere: u64,
    /// The largest time between a version's completion and the start of a read that still
    /// returned an older one.
    pub(crate) max_staleness: Duration,
    max_latency: Duration,
    /// What the slowest operation was.
    slowest: &'static str,
    pub(crate) errors: u64,
}

impl Report {
    fn merge(&mut self, o: Report) {
        self.reads += o.reads;
        self.writes += o.writes;
        self.stale += o.stale;
        self.stale_elsewhere += o.stale_elsewhere;
        self.errors += o.errors;
        self.max_staleness = self.max_staleness.max(o.max_staleness);
        if o.max_latency > self.max_latency {
            self.max_latency = o.max_latency;
            self.slowest = o.slowest;
        }
    }
}

/// Run `ops` operations (about 1 write in 8), reads spread over `readers`, writes through
/// `writer`; `fault` runs alongside.
async fn check(writer: Arc<TestApp>, readers: Vec<Arc<TestApp>>, ops: u64, fault: impl Future<Output = ()>) -> Report {
    check_writes(writer, readers, ops, fault, Invalidation::Admin).await
}

/// How the checker's writes reach the cache.
#[derive(Clone, Copy)]
pub(crate) enum Invalidation {
    /// The writer invalidates through the admin endpoint after its commit, as a write endpoint
    /// does: the write is complete when that call returns.
    Admin,
    /// Nobody invalidates: the change stream must. The write is complete at its commit.
    Stream,
}

pub(crate) async fn check_writes(
    writer: Arc<TestApp>,
    readers: Vec<Arc<TestApp>>,
    ops: u64,
    fault: impl Future<Output = ()>,
    invalidation: Invalidation,
) -> Report {
    // Windows and latencies are measured: nothing CPU-heavy runs meanwhile.
    let _turn = crate::helpers::timing_sensitive().await;
    for id in HOT {
        rename(&writer, id, "v0").await;
    }
    admin(&writer, Method::DELETE, "/v1/admin/cache").await;
    let history = Arc::new(History {
        completed: HOT.iter().map(|_| AtomicU64::new(0)).collect(),
        completed_at: HOT.iter().map(|_| std::sync::Mutex::new(vec![Instant::now()])).collect(),
    });
    let budget = Arc::new(AtomicU64::new(ops));
    let fault_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Go on until the budget is spent and the fault has run its course.
    let take = {
        let fault_done = Arc::clone(&fault_done);
        move |budget: &AtomicU64| {
            let left = budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(1)).is_ok();
            left || !fault_done.load(Ordering::Acquire)
        }
    };
    let mut tasks = Vec::new();
    // One writer task per hot trig keeps each trig's versions in order.
    for (slot, id) in HOT.into_iter().enumerate() {
        let (app, history, budget, take) =
            (Arc::clone(&writer), Arc::clone(&history), Arc::clone(&budget), take.clone());
        tasks.push(tokio::spawn(async move {
            let mut report = Report::default();
            let mut version = 0;
            while take(&budget) {
                version += 1;
                let started = Instant::now();
                rename(&app, id, &format!("v{version}")).await;
                let renamed = started.elapsed();
                let failed = match invalidation {
                    Invalidation::Admin => {
                        let uri = format!("/v1/admin/cache?pattern=trig:{id}:*");
                        admin(&app, Method::DELETE, &uri).await.status != StatusCode::OK
                    }
                    Invalidation::Stream => false,
                };
                if started.elapsed() > report.max_latency {
                    report.max_latency = started.elapsed();
                    report.slowest =
                        if renamed * 2 > report.max_latency { "write: database update" } else { "write: invalidation" };
                }
                if failed {
                    report.errors += 1;
                }
                history.completed_at[slot].lock().map(|mut v| v.push(Instant::now())).ok();
                history.completed[slot].store(version, Ordering::Release);
                report.writes += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            report
        }));
    }
    for reader in 0..8 {
        let (app, history, budget) =
            (Arc::clone(&readers[reader % readers.len()]), Arc::clone(&history), Arc::clone(&budget));
        let elsewhere = !Arc::ptr_eq(&app, &writer);
        let take = take.clone();
        tasks.push(tokio::spawn(async move {
            let mut report = Report::default();
            while take(&budget) {
                // A hit completes without ever waiting: yield, or eight readers would hold
                // every worker thread and starve the writers (a server's requests are separate
                // tasks that wait on their sockets).
                tokio::task::yield_now().await;
                let slot = fastrand::usize(..HOT.len());
                let floor = history.completed[slot].load(Ordering::Acquire);
                let started = Instant::now();
                let r = app.get(&format!("/v1/trigs/{}?include=details,stats,attrs", HOT[slot])).await;
                if started.elapsed() > report.max_latency {
                    report.max_latency = started.elapsed();
                    report.slowest = "read";
                }
                report.reads += 1;
                if r.status != StatusCode::OK {
                    report.errors += 1;
                    continue;
                }
                let seen: u64 =
                    r.body["name"].as_str().and_then(|n| n.strip_prefix('v')).and_then(|n| n.parse().ok()).unwrap_or(0);
                if seen < floor {
                    report.stale += 1;
                    report.stale_elsewhere += u64::from(elsewhere);
                    let newer = history.completed_at[slot].lock().ok().and_then(|v| v.get(seen as usize + 1).copied());
                    if let Some(t) = newer {
                        report.max_staleness = report.max_staleness.max(started.saturating_duration_since(t));
                    }
                }
            }
            report
        }));
    }
    fault.await;
    fault_done.store(true, Ordering::Release);
    let mut total = Report::default();
    for t in tasks {
        total.merge(t.await.expect("checker task"));
    }
    // At least 2% writes (a couple of hundred): enough writes for reads to race with.
    assert!(total.writes * 50 >= total.reads + total.writes, "the writers were starved: {total:?}");
    total
}

use std::future::Future;

async fn no_fault() {}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_read_after_a_completed_write_on_one_instance() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let app = Arc::new(app(&private_database(), Some(&server), |_| {}).await);
    let report = check(Arc::clone(&app), vec![Arc::clone(&app)], 12_000, no_fault()).await;
    eprintln!("one instance with Redis: {report:?}");
    assert!(report.reads + report.writes >= 10_000);
    assert_eq!((report.stale, report.errors), (0, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_read_on_one_instance_without_redis() {
    let app = Arc::new(app(&private_database(), None, |_| {}).await);
    let report = check(Arc::clone(&app), vec![Arc::clone(&app)], 10_000, no_fault()).await;
    eprintln!("one instance, in-process tier only: {report:?}");
    assert_eq!((report.stale, report.errors), (0, 0), "{report:?}");
}

/// The checker catches the classic race: with entries stamped at store time instead of before
/// computing, values read before a write and stored after its invalidation are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_checker_catches_the_stale_set_race_when_the_generation_check_is_off() {
    let app = Arc::new(app(&private_database(), None, |c| c.cache.cache_unsafe_stamp_at_store = true).await);
    let mut report = Report::default();
    for _ in 0..10 {
        report.merge(check(Arc::clone(&app), vec![Arc::clone(&app)], 10_000, no_fault()).await);
        if report.stale > 0 {
            break;
        }
    }
    eprintln!("generation check off: {report:?}");
    assert!(report.stale > 0, "the checker must see stale reads when the protection is off: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_redis_window_is_measured_and_strict_mode_closes_it() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let database = private_database();
    let a = Arc::new(app(&database, Some(&server), |_| {}).await);
    let b = Arc::new(app(&database, Some(&server), |_| {}).await);
    let report = check(Arc::clone(&a), vec![Arc::clone(&a), Arc::clone(&b)], 12_000, no_fault()).await;
    eprintln!("two instances, pub/sub invalidation: {report:?}");
    assert_eq!(report.errors, 0);
    assert!(report.max_staleness < Duration::from_millis(250), "the cross-instance window: {report:?}");

    let a = Arc::new(app(&database, Some(&server), |c| c.cache.cache_strict = true).await);
    let b = Arc::new(app(&database, Some(&server), |c| c.cache.cache_strict = true).await);
    let report = check(Arc::clone(&a), vec![Arc::clone(&a), Arc::clone(&b)], 12_000, no_fault()).await;
    eprintln!("two instances, strict: {report:?}");
    assert_eq!((report.stale, report.errors), (0, 0), "{report:?}");
}

/// What happens to Redis during a fault scenario, step by step (each after a pause in ms).
#[derive(Clone, Copy)]
enum Step {
    Kill,
    Restart,
    Freeze,
    Thaw,
    Snapshot,
}

/// Under load, with two instances (the writer's own, and a strict one): no 5xx, no stale read
/// on either, and no request slower than a bounded number of Redis timeouts plus the database
/// time, whatever happens to Redis; after recovery both see every write. Returns the writer's
/// counters.
async fn survive(what: &str, script: &[(u64, Step)], persistent: bool) -> Option<serde_json::Value> {
    if !redis_available() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("trigapi-redis-{}-{}", std::process::id(), fastrand::u64(..)));
    let mut server = if persistent { RedisServer::start_persistent(&dir) } else { RedisServer::start() };
    let database = private_database();
    let a = Arc::new(app(&database, Some(&server), |_| {}).await);
    let b = Arc::new(app(&database, Some(&server), |c| c.cache.cache_strict = true).await);
    let fault = async {
        for (pause, step) in script {
            tokio::time::sleep(Duration::from_millis(*pause)).await;
            match step {
                Step::Kill => server.kill(),
                Step::Restart => server.restart(),
                Step::Freeze => server.signal("-STOP"),
                Step::Thaw => server.signal("-CONT"),
                Step::Snapshot => server.save(),
            }
        }
    };
    let report = check(Arc::clone(&a), vec![Arc::clone(&a), Arc::clone(&b)], 10_000, fault).await;
    // After recovery, a last sequential round sees every write.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for id in HOT {
        rename(&a, id, "final").await;
        admin(&a, Method::DELETE, &format!("/v1/admin/cache?pattern=trig:{id}:*")).await;
        let r = a.get(&format!("/v1/trigs/{id}?include=details,stats,attrs")).await;
        assert_eq!(r.body["name"], "final", "read after recovery, same instance");
        let r = b.get(&format!("/v1/trigs/{id}?include=details,stats,attrs")).await;
        assert_eq!(r.body["name"], "final", "read after recovery, other instance");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut stats = admin(&a, Method::GET, "/v1/admin/cache/stats").await.body;
    for _ in 0..100 {
        if stats["redis_available"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = admin(&a, Method::GET, "/v1/admin/cache/stats").await.body;
    }
    let counters = stats["counters"].clone();
    eprintln!("{what}: {report:?}\n  writer's counters: {counters}");
    assert_eq!(report.errors, 0, "{what}: no 5xx");
    assert_eq!(report.stale, 0, "{what}: no stale read");
    // Debug build on two cores: a request may meet up to three Redis timeouts (50 ms) before
    // the breaker opens, plus the database time.
    assert!(report.max_latency < Duration::from_millis(600), "{what}: {report:?}");
    drop(server);
    Some(counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_load_then_back_empty() {
    let script = [(300, Step::Kill), (800, Step::Restart)];
    let Some(c) = survive("redis killed, restarted empty", &script, false).await else { return };
    assert!(c["pending_invalidations"].as_u64() > Some(0), "writes happened during the outage");
    assert!(c["replayed_invalidations"].as_u64() > Some(0), "and were replayed");
    assert!(recoveries(&c) >= 2, "the first start, then the restart or outage: {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_frozen_mid_load() {
    let script = [(300, Step::Freeze), (1000, Step::Thaw)];
    let Some(c) = survive("redis frozen (SIGSTOP) for 1 s", &script, false).await else { return };
    assert!(c["pending_invalidations"].as_u64() > Some(0), "writes happened during the freeze");
    assert!(c["outage_flushes"].as_u64() > Some(0), "reconnecting invalidated what was stored before");
}

/// Times the writer found Redis's generations untrustworthy and invalidated everything: its first
/// connection, then a restart (new run id) or the end of an outage, whichever it saw first.
fn recoveries(counters: &serde_json::Value) -> u64 {
    counters["redis_restarts"].as_u64().unwrap_or(0) + counters["outage_flushes"].as_u64().unwrap_or(0)
}

/// Snapshot, let writes bump generations after it, then come back from the snapshot: its
/// entries and counters predate those writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_with_old_data_that_missed_invalidations() {
    let script = [(300, Step::Snapshot), (300, Step::Restart)];
    let Some(c) = survive("redis restarted from an older snapshot", &script, true).await else { return };
    assert!(recoveries(&c) >= 2, "the first start, then the restart: {c}");
}
