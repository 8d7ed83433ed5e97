//! The front door (issue 18): a repeat `GET` answered before routing must be the response the
//! full path gives, header for header and byte for byte, for every cacheable endpoint and every
//! request variant a client sends; and what it may not answer goes the full way.
//!
//! Two routers share one cache, as they would share one process: `full` has the door closed
//! (`CACHE_FRONT_DOOR=false`), `door` has it open. Both run over real Redis.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use trigapi_cache::Cache;

use crate::cache::{CACHEABLE, get_with, header, private_database};
use crate::helpers::{TestApp, TestResponse, test_config};
use crate::redis_harness::{RedisServer, redis_available};

const ORIGIN: &str = "http://localhost:5173";
const ADMIN: &str = "front-door-admin-token";

struct Pair {
    full: TestApp,
    door: TestApp,
    cache: Cache,
    _redis: RedisServer,
}

async fn pair() -> Pair {
    let redis = RedisServer::start();
    let mut config = test_config(&private_database());
    config.cache.redis_url = Some(redis.url().into());
    config.server.backend_cors_origins = ORIGIN.into();
    config.auth.admin_token = Some(ADMIN.into());
    let cache = trigapi::cache::build(&config).await.expect("cache");
    let mut closed = config.clone();
    closed.cache.cache_front_door = false;
    let full = TestApp::with_cache(closed, cache.clone()).await;
    let door = TestApp::with_cache(config, cache.clone()).await;
    // The in-process tier (and so the door) serves once the invalidation subscription is up.
    for _ in 0..200 {
        if cache.stats().await.local_active {
            break;
        }
        full.get("/v1/trigs/2").await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Pair { full, door, cache, _redis: redis }
}

async fn door_hits(cache: &Cache) -> u64 {
    cache.stats().await.counters.front_door_hits
}

/// The headers that may differ between two hits a moment apart (the seconds of TTL and age
/// tick, also in what a CDN is told) and the request id (a new one per request unless the
/// client sent one).
const MOMENTARY: [&str; 6] =
    ["x-cache-ttl", "x-cache-age", "cache-status", "x-request-id", "surrogate-control", "cdn-cache-control"];

fn lasting(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !MOMENTARY.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    all.sort();
    all
}

fn assert_same(what: &str, full: &TestResponse, door: &TestResponse) {
    assert_eq!(door.status, full.status, "{what}: status");
    assert_eq!(lasting(&door.headers), lasting(&full.headers), "{what}: headers");
    assert_eq!(door.bytes, full.bytes, "{what}: body");
    for name in MOMENTARY {
        assert_eq!(door.headers.contains_key(name), full.headers.contains_key(name), "{what}: {name}");
    }
    let ttl = |r: &TestResponse| header(r, "x-cache-ttl").parse::<i64>().unwrap_or(-1);
    assert!((ttl(door) - ttl(full)).abs() <= 1, "{what}: TTL {} against {}", ttl(door), ttl(full));
    // A CDN is told the TTL each answer reports.
    for r in [full, door] {
        let cdn = header(r, "surrogate-control");
        assert!(cdn == "no-store" || cdn == format!("max-age={}", ttl(r)), "{what}: {cdn} with TTL {}", ttl(r));
        assert_eq!(header(r, "cdn-cache-control"), cdn, "{what}");
    }
}

#[tokio::test]
async fn every_cacheable_endpoint_is_answered_at_the_door_as_the_full_path_answers_it() {
    if !redis_available() {
        return;
    }
    let Pair { full, door, cache, _redis } = pair().await;
    let photo = full.ok("/v1/photos?limit=1").await["items"][0]["id"].as_i64().expect("a photo");
    let mut uris: Vec<String> = CACHEABLE.iter().map(|(uri, _, _)| (*uri).to_owned()).collect();
    uris.extend([
        format!("/v1/photos/{photo}"),
        "/v1/trigs/1/map".into(),
        "/v1/users/1/badge?scale=0.5".into(),
        "/v1/users/1/map?height=200".into(),
        "/v1/trigs?limit=5&skip=0&order=name".into(),
    ]);
    for uri in &uris {
        let miss = full.get(uri).await;
        assert_eq!((miss.status, header(&miss, "x-cache-status")), (StatusCode::OK, "MISS"), "{uri}");
        let etag = header(&miss, "etag").to_owned();
        let variants: [&[(&str, &str)]; 7] = [
            &[],
            &[("accept-encoding", "gzip")],
            &[("accept-encoding", "zstd, gzip")],
            &[("origin", ORIGIN)],
            &[("origin", "http://elsewhere.example")],
            &[("x-request-id", "client-chosen-id")],
            &[("if-none-match", &etag)],
        ];
        for headers in variants {
            let what = format!("GET {uri} {headers:?}");
            let before = door_hits(&cache).await;
            let by_full = get_with(&full, uri, headers).await;
            assert_eq!(door_hits(&cache).await, before, "{what}: the closed door answered");
            assert_eq!(header(&by_full, "x-cache-status"), "HIT", "{what}");
            let by_door = get_with(&door, uri, headers).await;
            assert_eq!(door_hits(&cache).await, before + 1, "{what}: not answered at the door");
            assert_same(&what, &by_full, &by_door);
        }
        let echoed = get_with(&door, uri, &[("x-request-id", "client-chosen-id")]).await;
        assert_eq!(header(&echoed, "x-request-id"), "client-chosen-id", "{uri}");
        assert_eq!(header(&door.get(uri).await, "x-request-id").len(), 36, "{uri}: a new id");
    }
    let metrics = door.get("/metrics").await;
    let counted =
        metrics.text.lines().find_map(|l| l.strip_prefix("trigapi_cache_front_door_hits_total ")?.parse().ok());
    assert_eq!(counted, Some(door_hits(&cache).await as f64), "door hits are in /metrics");
}

#[tokio::test]
async fn what_the_door_may_not_answer_goes_the_full_way() {
    if !redis_available() {
        return;
    }
    let Pair { full, door, cache, _redis } = pair().await;
    let uri = "/v1/trigs/1?include=stats";
    full.get(uri).await;
    assert_eq!(header(&door.get(uri).await, "x-cache-status"), "HIT");
    let before = door_hits(&cache).await;
    for headers in [&[("authorization", "Bearer not-a-token")][..], &[("cache-control", "no-cache")][..]] {
        let r = get_with(&door, uri, headers).await;
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{headers:?}");
    }
    let head = door.send(Request::builder().method(Method::HEAD).uri(uri).body(Body::empty()).expect("HEAD")).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(door_hits(&cache).await, before, "a caller, a bypass and a HEAD all went the full way");

    // A flush through the admin endpoint: the door declines the invalidated entry, the full
    // path recomputes, and the door serves the new entry again.
    let flush = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/admin/cache?pattern=trig:1:*")
        .header("authorization", format!("Bearer {ADMIN}"));
    assert_eq!(door.send(flush.body(Body::empty()).expect("request")).await.status, StatusCode::OK);
    let after = door.get(uri).await;
    assert_eq!(header(&after, "x-cache-status"), "MISS", "an invalidated entry is never answered at the door");
    assert_eq!(header(&door.get(uri).await, "x-cache-status"), "HIT");
    assert_eq!(door_hits(&cache).await, before + 1);
}
