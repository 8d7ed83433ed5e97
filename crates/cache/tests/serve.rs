//! `Cache::serve` end to end, with counting origins: header semantics, freshness and grace,
//! single flight, corrupt and oversized entries. Redis-backed cases run against a real
//! `redis-server` started on a free port.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Aborted, Cache, CacheBuilder, Clock, Policy, Rendered, RequestView};

use common::{RedisServer, redis_available};

#[derive(Debug, Clone, PartialEq)]
struct OriginDown;

impl From<Aborted> for OriginDown {
    fn from(_: Aborted) -> Self {
        OriginDown
    }
}

/// An origin that counts its calls, answers `{"version":N}` (N = the call number), and can be
/// made slow or failing.
#[derive(Clone, Default)]
struct Origin {
    calls: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    body_len: Arc<AtomicU64>,
}

impl Origin {
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn run(&self) -> impl FnOnce() -> futures_like::Fut + Send + 'static {
        let me = self.clone();
        move || {
            Box::pin(async move {
                let n = me.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let delay = me.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                if me.failing.load(Ordering::SeqCst) {
                    return Err(OriginDown);
                }
                let pad = "x".repeat(me.body_len.load(Ordering::SeqCst) as usize);
                Ok(Rendered::json(format!(r#"{{"version":{n},"pad":"{pad}"}}"#)))
            })
        }
    }
}

mod futures_like {
    use std::future::Future;
    use std::pin::Pin;

    pub type Fut = Pin<Box<dyn Future<Output = Result<trigapi_cache::Rendered, super::OriginDown>> + Send>>;
}

fn policy(id: u32, ttl: Duration) -> Policy {
    let key = KeyBuilder::new("test", "env", "item").id(id);
    let tags = key.tags();
    Policy::new(key.build("v1"), tags, ttl)
}

fn local_config() -> CacheBuilder {
    CacheBuilder::new("test:env").early_refresh_beta(0.0)
}

fn redis_config(server: &RedisServer) -> CacheBuilder {
    local_config().redis(server.url())
}

/// A Redis-backed cache whose invalidation subscription is up (so its local tier serves).
async fn redis_cache(config: CacheBuilder) -> Cache {
    let cache = config.build().await.expect("cache");
    for _ in 0..100 {
        if cache.stats().await.local_active || cache.config().strict {
            break;
        }
        // A request resumes the local tier once the subscription is up.
        let _ = cache
            .serve(
                &RequestView::new(&HeaderMap::new()),
                policy(u32::MAX, Duration::from_secs(1)),
                Origin::default().run(),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cache
}

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn cache_status(&self) -> &str {
        self.headers.get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn version(&self) -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["version"].as_u64().unwrap_or(0)
    }
}

async fn got(r: Result<Response<Full<Bytes>>, Arc<OriginDown>>) -> Result<Got, OriginDown> {
    let r = r.map_err(|e| (*e).clone())?;
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok(Got { status, headers, body })
}

async fn get(cache: &Cache, origin: &Origin, p: Policy, headers: &[(&'static str, &'static str)]) -> Got {
    try_get(cache, origin, p, headers).await.expect("origin succeeded")
}

async fn try_get(
    cache: &Cache,
    origin: &Origin,
    p: Policy,
    headers: &[(&'static str, &'static str)],
) -> Result<Got, OriginDown> {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, HeaderValue::from_static(v));
    }
    got(cache.serve(&RequestView::new(&h), p, origin.run()).await).await
}

#[tokio::test]
async fn miss_hit_bypass_hit_with_every_header() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (clock, hand) = Clock::mock();
    let cache = redis_cache(redis_config(&server).clock(clock.clone())).await;
    let origin = Origin::default();
    let ttl = Duration::from_secs(3600);

    let miss = get(&cache, &origin, policy(1, ttl), &[]).await;
    assert_eq!((miss.status, miss.cache_status()), (StatusCode::OK, "MISS"));
    assert_eq!(miss.header("x-cache-ttl"), "3600", "the configured TTL on a miss");
    assert!(miss.header("x-cache-key").starts_with("test:env:item:1:v1"));
    assert_eq!(miss.header("cache-status"), "cache; fwd=uri-miss; stored");
    assert_eq!(miss.header("content-type"), "application/json");
    assert!(miss.headers.get("x-cache-age").is_none());
    let etag = miss.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "strong ETag: {etag}");

    hand.advance(Duration::from_secs(5));
    let hit = get(&cache, &origin, policy(1, ttl), &[]).await;
    assert_eq!(hit.cache_status(), "HIT");
    assert_eq!(hit.body, miss.body);
    assert_eq!(hit.header("etag"), etag);
    assert_eq!(hit.header("x-cache-ttl"), "3595", "the remaining TTL, not the configured one");
    assert_eq!(hit.header("x-cache-age"), "5");
    assert_eq!(hit.header("cache-status"), "cache; hit; ttl=3595");

    let bypass = get(&cache, &origin, policy(1, ttl), &[("cache-control", "no-cache")]).await;
    assert_eq!(bypass.cache_status(), "BYPASS");
    assert_eq!(bypass.version(), 2, "recomputed");
    assert_eq!(bypass.header("cache-status"), "cache; fwd=bypass; stored");
    let after = get(&cache, &origin, policy(1, ttl), &[]).await;
    assert_eq!((after.cache_status(), after.version()), ("HIT", 2), "the bypass refreshed the entry");
    assert_eq!(origin.calls(), 2);

    // A second process sharing Redis hits Redis (its own tier is empty).
    let other = redis_config(&server).clock(clock).build().await.expect("cache");
    let from_redis = get(&other, &origin, policy(1, ttl), &[]).await;
    assert_eq!((from_redis.cache_status(), from_redis.version()), ("HIT", 2));
    assert_eq!(other.stats().await.counters.redis_hits, 1);
    assert!(cache.stats().await.counters.local_hits >= 2);
}

#[tokio::test]
async fn if_none_match_answers_304_and_encodings_are_served_as_stored() {
    let cache = local_config().build().await.expect("cache");
    let origin = Origin::default();
    origin.body_len.store(5000, Ordering::SeqCst);
    let ttl = Duration::from_secs(60);
    let first = get(&cache, &origin, policy(2, ttl), &[]).await;
    let etag: &'static str = Box::leak(first.header("etag").to_owned().into_boxed_str());
    let not_modified = get(&cache, &origin, policy(2, ttl), &[("if-none-match", etag)]).await;
    assert_eq!((not_modified.status, not_modified.cache_status()), (StatusCode::NOT_MODIFIED, "HIT"));
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), etag);
    let other = get(&cache, &origin, policy(2, ttl), &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(other.status, StatusCode::OK);

    let zstd = get(&cache, &origin, policy(2, ttl), &[("accept-encoding", "gzip, zstd")]).await;
    assert_eq!(zstd.header("content-encoding"), "zstd");
    assert_eq!(zstd::stream::decode_all(zstd.body.as_ref()).expect("zstd"), first.body.as_ref());
    assert!(zstd.body.len() < first.body.len() / 10);
    let gzip = get(&cache, &origin, policy(2, ttl), &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gzip.body.as_ref()), &mut inflated).expect("gzip");
    assert_eq!(inflated, first.body.as_ref());
    assert_eq!(gzip.header("vary"), "accept-encoding");
    assert_eq!(origin.calls(), 1);
}

#[tokio::test]
async fn past_the_ttl_inside_grace_is_stale_once_then_refreshed() {
    let (clock, hand) = Clock::mock();
    let cache = local_config().grace(Duration::from_secs(1800)).clock(clock).build().await.expect("cache");
    let origin = Origin::default();
    let ttl = Duration::from_secs(3600);
    assert_eq!(get(&cache, &origin, policy(3, ttl), &[]).await.cache_status(), "MISS");
    hand.advance(Duration::from_secs(3600 + 60));
    let stale = get(&cache, &origin, policy(3, ttl), &[]).await;
    assert_eq!((stale.cache_status(), stale.version()), ("STALE", 1));
    assert_eq!(stale.header("x-cache-ttl"), "0");
    assert_eq!(stale.header("cache-status"), "cache; fwd=stale; ttl=-60");
    // The background refresh replaces it.
    for _ in 0..50 {
        if origin.calls() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fresh = get(&cache, &origin, policy(3, ttl), &[]).await;
    assert_eq!((fresh.cache_status(), fresh.version()), ("HIT", 2));
}

#[tokio::test]
async fn a_failing_origin_is_covered_by_grace_and_only_by_grace() {
    let (clock, hand) = Clock::mock();
    let cache = local_config().grace(Duration::from_secs(600)).clock(clock).build().await.expect("cache");
    let origin = Origin::default();
    let ttl = Duration::from_secs(3600);
    get(&cache, &origin, policy(4, ttl), &[]).await;
    origin.failing.store(true, Ordering::SeqCst);
    hand.advance(Duration::from_secs(3600 + 1));
    assert_eq!(get(&cache, &origin, policy(4, ttl), &[]).await.cache_status(), "STALE", "stale-if-error");
    hand.advance(Duration::from_secs(600));
    assert_eq!(try_get(&cache, &origin, policy(4, ttl), &[]).await.err(), Some(OriginDown), "past grace: the error");
    // Never cached: the next success is a miss.
    origin.failing.store(false, Ordering::SeqCst);
    assert_eq!(get(&cache, &origin, policy(4, ttl), &[]).await.cache_status(), "MISS");
}

#[tokio::test]
async fn an_invalidated_entry_is_never_served_even_inside_grace() {
    let (clock, hand) = Clock::mock();
    let cache = local_config().grace(Duration::from_secs(3600)).clock(clock).build().await.expect("cache");
    let origin = Origin::default();
    let ttl = Duration::from_secs(60);
    get(&cache, &origin, policy(5, ttl), &[]).await;
    hand.advance(Duration::from_secs(61));
    cache.invalidate(&["item:5"]).await;
    let after = get(&cache, &origin, policy(5, ttl), &[]).await;
    assert_eq!((after.cache_status(), after.version()), ("MISS", 2));
    assert_eq!(after.header("cache-status"), "cache; fwd=miss; stored", "an entry existed and was replaced");
    // Other items are untouched.
    get(&cache, &origin, policy(6, Duration::from_secs(60)), &[]).await;
    cache.invalidate(&["item:5"]).await;
    assert_eq!(get(&cache, &origin, policy(6, Duration::from_secs(60)), &[]).await.cache_status(), "HIT");
}

#[tokio::test]
async fn two_hundred_concurrent_misses_compute_once_and_a_cancelled_caller_cancels_nothing() {
    let cache = local_config().build().await.expect("cache");
    let origin = Origin::default();
    origin.delay_ms.store(100, Ordering::SeqCst);
    // The first caller goes away mid-computation.
    let first = tokio::spawn({
        let (cache, origin) = (cache.clone(), origin.clone());
        async move { get(&cache, &origin, policy(7, Duration::from_secs(60)), &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (cache, origin) = (cache.clone(), origin.clone());
            tokio::spawn(async move { get(&cache, &origin, policy(7, Duration::from_secs(60)), &[]).await })
        })
        .collect();
    for t in tasks {
        let g = t.await.expect("task");
        assert_eq!((g.status, g.version()), (StatusCode::OK, 1));
    }
    assert_eq!(origin.calls(), 1, "one computation for 201 callers");
    assert_eq!(cache.stats().await.counters.coalesced, 200);
}

#[tokio::test]
async fn concurrent_misses_across_two_instances_compute_about_once() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (a, b) = (redis_cache(redis_config(&server)).await, redis_cache(redis_config(&server)).await);
    let origin = Origin::default();
    origin.delay_ms.store(100, Ordering::SeqCst);
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (cache, origin) = (if i % 2 == 0 { a.clone() } else { b.clone() }, origin.clone());
            tokio::spawn(async move { get(&cache, &origin, policy(8, Duration::from_secs(60)), &[]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task").version(), 1, "everyone got the one computation");
    }
    assert_eq!(origin.calls(), 1, "the lease loser waited for the winner's entry");
    let lease = a.stats().await.counters.lease_coalesced + b.stats().await.counters.lease_coalesced;
    assert_eq!(lease, 1, "exactly one instance waited on the lease");
}

#[tokio::test]
async fn a_corrupt_entry_is_a_miss_and_is_replaced() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let cache = redis_config(&server).build().await.expect("cache");
    let origin = Origin::default();
    let p = policy(9, Duration::from_secs(60));
    let key = p.key().to_owned();
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(r#"{"value": {"id": 1}, "ttl": 60}"#)
        .query_async(&mut conn)
        .await
        .expect("set");
    let g = get(&cache, &origin, p.clone(), &[]).await;
    assert_eq!((g.status, g.cache_status(), g.version()), (StatusCode::OK, "MISS", 1));
    assert_eq!(cache.stats().await.counters.corrupt, 1);
    let stored: Vec<u8> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.expect("get");
    assert!(stored.starts_with(b"TGC"), "replaced by a valid entry");
}

#[tokio::test]
async fn an_entry_over_the_size_limit_is_served_but_not_stored() {
    let config = local_config().max_entry_bytes(100);
    let cache = config.build().await.expect("cache");
    let origin = Origin::default();
    origin.body_len.store(1000, Ordering::SeqCst);
    let p = policy(10, Duration::from_secs(60));
    let first = get(&cache, &origin, p.clone(), &[]).await;
    assert_eq!((first.cache_status(), first.header("cache-status")), ("MISS", "cache; fwd=uri-miss"));
    assert_eq!(get(&cache, &origin, p, &[]).await.cache_status(), "MISS");
    assert_eq!((origin.calls(), cache.stats().await.counters.skips), (2, 2));
}

#[tokio::test]
async fn an_entry_under_the_size_floor_is_served_but_not_stored_unless_its_policy_says_otherwise() {
    let cache = local_config().min_entry_bytes(500).build().await.expect("cache");
    let origin = Origin::default();
    origin.body_len.store(100, Ordering::SeqCst);
    let small = policy(12, Duration::from_secs(60));
    for _ in 0..2 {
        assert_eq!(get(&cache, &origin, small.clone(), &[]).await.cache_status(), "MISS");
    }
    // One response's own bounds replace the cache's: no floor here, a ceiling of 50 there.
    let kept = policy(13, Duration::from_secs(60)).min_entry_bytes(0);
    get(&cache, &origin, kept.clone(), &[]).await;
    assert_eq!(get(&cache, &origin, kept, &[]).await.cache_status(), "HIT");
    let capped = policy(14, Duration::from_secs(60)).min_entry_bytes(0).max_entry_bytes(50);
    get(&cache, &origin, capped.clone(), &[]).await;
    assert_eq!(get(&cache, &origin, capped, &[]).await.cache_status(), "MISS");
    assert_eq!((origin.calls(), cache.stats().await.counters.skips), (5, 4));
}

#[tokio::test]
async fn invalidations_are_announced_to_subscribers_after_their_bumps() {
    let cache = local_config().build().await.expect("cache");
    let mut announced = cache.subscribe_invalidations();
    let origin = Origin::default();
    let p = policy(15, Duration::from_secs(60));
    get(&cache, &origin, p.clone(), &[]).await;
    cache.invalidate(&["item:15", "item"]).await;
    let tags = announced.recv().await.expect("announced");
    assert_eq!(&tags[..], ["item:15", "item"]);
    // By the time it is heard, the entry is already invalid.
    assert_eq!(get(&cache, &origin, p, &[]).await.cache_status(), "MISS");
    cache.flush(&trigapi_cache::Target::All).await;
    assert_eq!(&announced.recv().await.expect("announced")[..], [trigapi_cache::GLOBAL]);
}

#[tokio::test]
async fn a_disabled_cache_always_asks_the_origin_and_adds_no_headers() {
    let cache = Cache::disabled();
    let origin = Origin::default();
    let p = policy(11, Duration::from_secs(60));
    let g = get(&cache, &origin, p.clone(), &[]).await;
    assert!(g.headers.get("x-cache-status").is_none());
    get(&cache, &origin, p, &[]).await;
    assert_eq!(origin.calls(), 2);
}

/// A status and headers of the origin's own are stored with the body and sent with every
/// response made from it, from either tier; only a `200` answers `If-None-Match` with `304`.
#[tokio::test]
async fn the_origins_status_and_headers_are_kept_in_both_tiers() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let a = redis_cache(redis_config(&server)).await;
    let b = redis_config(&server).build().await.expect("cache");
    let calls = Arc::new(AtomicU64::new(0));
    let origin = |calls: Arc<AtomicU64>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let link = HeaderValue::from_static("</items?page=2>; rel=\"next\"");
            let gone = Rendered::json(r#"{"detail":"No such item"}"#).status(StatusCode::NOT_FOUND);
            Ok::<_, OriginDown>(gone.header(http::header::LINK, link))
        }
    };
    let p = policy(12, Duration::from_secs(60));
    let serve = |cache: &Cache, headers: HeaderMap| {
        let (cache, p, origin) = (cache.clone(), p.clone(), origin(Arc::clone(&calls)));
        async move { got(cache.serve(&RequestView::new(&headers), p, origin).await).await.expect("served") }
    };
    let miss = serve(&a, HeaderMap::new()).await;
    let local = serve(&a, HeaderMap::new()).await;
    let remote = serve(&b, HeaderMap::new()).await;
    for (g, status) in [(&miss, "MISS"), (&local, "HIT"), (&remote, "HIT")] {
        assert_eq!((g.status, g.cache_status()), (StatusCode::NOT_FOUND, status));
        assert_eq!(g.header("link"), "</items?page=2>; rel=\"next\"");
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.body.as_ref(), br#"{"detail":"No such item"}"#);
    }
    assert_eq!(b.stats().await.counters.redis_hits, 1, "the second instance read it from Redis");
    let mut conditional = HeaderMap::new();
    conditional.insert("if-none-match", HeaderValue::from_str(miss.header("etag")).expect("etag"));
    assert_eq!(serve(&a, conditional).await.status, StatusCode::NOT_FOUND, "a 404 is never a 304");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A role is held by one instance at a time: taken when free, kept while renewed, and taken
/// over by another once its holder stops renewing (as a dead instance would).
#[tokio::test]
async fn one_instance_holds_a_role_until_it_stops_renewing() {
    let alone = local_config().build().await.expect("cache");
    assert!(alone.hold("reader", Duration::from_millis(300)).await, "without Redis an instance is alone");
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (a, b) = (redis_config(&server).build().await.expect("a"), redis_config(&server).build().await.expect("b"));
    let ttl = Duration::from_millis(300);
    assert!(a.hold("reader", ttl).await);
    assert!(!b.hold("reader", ttl).await, "taken");
    assert!(b.hold("another role", ttl).await, "roles are apart");
    for _ in 0..4 {
        tokio::time::sleep(ttl / 3).await;
        assert!(a.hold("reader", ttl).await, "renewed by its holder");
        assert!(!b.hold("reader", ttl).await, "still held");
    }
    tokio::time::sleep(ttl + ttl / 3).await;
    assert!(b.hold("reader", ttl).await, "lapsed: taken over");
    assert!(!a.hold("reader", ttl).await, "the old holder does not get it back");
}
