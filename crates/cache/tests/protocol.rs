//! The cache protocol at its edges, against real `redis-server` processes: restart detection
//! that never moves the global generation backwards, exact-key flushes that reach other
//! instances, leases released whatever happens, lease waiters that do not hammer Redis, a slow
//! Redis that is not taken for a dead one (and a frozen one that still is), missed
//! announcements noticed by their numbers, and an eviction policy that could drop generations.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;
use trigapi_cache::internals::{Generations, RedisTier};
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Aborted, Cache, CacheBuilder, Policy, RedisTierConfig, Rendered, RequestView, Target};

use common::{RedisServer, redis_available};

#[derive(Debug, Clone)]
struct Failed;

impl From<Aborted> for Failed {
    fn from(_: Aborted) -> Self {
        Failed
    }
}

const NAMESPACE: &str = "test:env";

fn policy(id: u32) -> Policy {
    let key = KeyBuilder::new("test", "env", "item").id(id);
    let tags = key.tags();
    Policy::new(key.build("v1"), tags, Duration::from_secs(600))
}

fn config(server: &RedisServer) -> CacheBuilder {
    CacheBuilder::new(NAMESPACE).redis(server.url()).early_refresh_beta(0.0)
}

/// Serve item `id` with an origin that counts its calls, sleeps `delay` and answers `body`
/// (or fails); returns the cache status.
async fn serve(cache: &Cache, id: u32, calls: &Arc<AtomicU64>, delay: Duration, body: Result<String, ()>) -> String {
    let calls = Arc::clone(calls);
    let origin = move || async move {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        body.map(Rendered::json).map_err(|()| Failed)
    };
    match cache.serve(&RequestView::new(&HeaderMap::new()), policy(id), origin).await {
        Ok(r) => r.headers()["x-cache-status"].to_str().unwrap_or("").to_owned(),
        Err(_) => "ERROR".into(),
    }
}

async fn ok(cache: &Cache, id: u32, calls: &Arc<AtomicU64>) -> String {
    serve(cache, id, calls, Duration::ZERO, Ok(format!(r#"{{"id":{id}}}"#))).await
}

/// An instance over `server` with `config`, serving from process.
async fn instance(config: CacheBuilder) -> Cache {
    let cache = config.build().await.expect("cache");
    ready(&cache).await;
    cache
}

/// Two instances sharing `server`, both serving from process.
async fn two_instances(server: &RedisServer) -> (Cache, Cache) {
    (instance(config(server)).await, instance(config(server)).await)
}

/// Wait until the in-process tier serves (the subscription is up; a request opens the gate).
async fn ready(cache: &Cache) {
    let calls = Arc::new(AtomicU64::new(0));
    for _ in 0..200 {
        ok(cache, 999_999, &calls).await;
        if cache.local_stats().await.local_active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the in-process tier never became active");
}

fn client(server: &RedisServer) -> redis::Client {
    redis::Client::open(server.url()).expect("client")
}

async fn redis_cmd<T: redis::FromRedisValue>(server: &RedisServer, cmd: &mut redis::Cmd) -> T {
    let mut c = client(server).get_multiplexed_async_connection().await.expect("connect");
    cmd.query_async(&mut c).await.expect("command")
}

/// A restart detected after the global generation was raised far above the clock (by bumps,
/// or an earlier detection on a fast clock) must not lower it: the old code set it to the
/// clock, so entries stored under an old, equal value could come back to life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_detection_never_moves_the_global_generation_backwards() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let tier = RedisTier::connect(&server.url(), RedisTierConfig::default()).await.expect("tier");
    let generations = Generations::new(tier, NAMESPACE);
    assert!(generations.check_restart().await.expect("first check"), "a server run not seen before");
    let global = generations.key("*");
    let high: u64 = 1_000_000_000_000_000;
    let _: () = redis_cmd(&server, redis::cmd("SET").arg(&global).arg(high)).await;
    let _: () =
        redis_cmd(&server, redis::cmd("SET").arg(format!("{{{NAMESPACE}}}:gen-run-id")).arg("another-run")).await;
    // Several instances notice at once: exactly one resets, and only upwards.
    let checks = futures_util::future::join_all((0..4).map(|_| generations.check_restart())).await;
    let resets = checks.into_iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(resets, 1, "one instance resets the generations");
    let now: u64 = redis_cmd(&server, redis::cmd("GET").arg(&global)).await;
    assert!(now > high, "the global generation moved from {high} to {now}");
}

/// An exact-key flush on one instance removes the entry from the other's in-process tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_key_flush_reaches_other_instances() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (a, b) = two_instances(&server).await;
    let calls = Arc::new(AtomicU64::new(0));
    assert_eq!(ok(&b, 1, &calls).await, "MISS");
    assert_eq!(ok(&b, 1, &calls).await, "HIT");
    let key = policy(1).key().strip_prefix(&format!("{NAMESPACE}:")).expect("namespaced").to_owned();
    a.flush(&Target::Key(key)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ok(&b, 1, &calls).await, "MISS", "b dropped its in-process copy");
}

async fn lease_keys(server: &RedisServer) -> Vec<String> {
    redis_cmd(server, redis::cmd("KEYS").arg("*:lease:*")).await
}

/// A lease is given up when its entry is not stored (too large) and when the origin fails, so
/// no other instance waits for an entry that will never come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_released_when_nothing_is_stored() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let cache = instance(config(&server).max_entry_bytes(64)).await;
    let calls = Arc::new(AtomicU64::new(0));
    let big = Ok(format!(r#"{{"pad":"{}"}}"#, "x".repeat(1000)));
    assert_eq!(serve(&cache, 1, &calls, Duration::ZERO, big).await, "MISS");
    assert_eq!(lease_keys(&server).await, Vec::<String>::new(), "the lease of an entry too large to store");
    assert_eq!(serve(&cache, 2, &calls, Duration::ZERO, Err(())).await, "ERROR");
    assert_eq!(lease_keys(&server).await, Vec::<String>::new(), "the lease of a failed origin");
}

/// An instance waiting on another's lease looks for the entry a few times, not every 5 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_waiters_do_not_poll_redis_every_few_milliseconds() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (a, b) = two_instances(&server).await;
    let _: () = redis_cmd(&server, redis::cmd("CONFIG").arg("RESETSTAT")).await;
    let calls = Arc::new(AtomicU64::new(0));
    let slow = serve(&a, 1, &calls, Duration::from_millis(400), Ok("{}".into()));
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        serve(&b, 1, &calls, Duration::ZERO, Ok("{}".into())).await
    };
    let (_, waited) = tokio::join!(slow, waiter);
    assert_eq!(waited, "MISS");
    let info: String = redis_cmd(&server, redis::cmd("INFO").arg("commandstats")).await;
    let exists = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_exists:calls=")?.split(',').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    // 250 ms of waiting: 5, 10, 20, then 40 ms apart is about eight looks (every 5 ms was 50).
    assert!(exists <= 12, "the waiter asked whether the lease is held {exists} times");
}

/// Redis that stalls for 120 ms at a time (a busy host, a slow fork) is slow, not down: the
/// subscription keeps hearing announcements, so the in-process tier is never suspended and
/// nothing is flushed. (With a heartbeat that had to answer within the 50 ms command timeout,
/// each stall dropped the subscription and emptied the in-process tier.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_is_not_taken_for_a_dead_one() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let (a, b) = two_instances(&server).await;
    let calls = Arc::new(AtomicU64::new(0));
    for id in 0..20 {
        ok(&a, id, &calls).await;
        ok(&b, id, &calls).await;
    }
    let before = [a.local_stats().await.counters, b.local_stats().await.counters];
    let stalls = async {
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(280)).await;
            server.signal("-STOP");
            tokio::time::sleep(Duration::from_millis(120)).await;
            server.signal("-CONT");
        }
    };
    let readers = async {
        let deadline = Instant::now() + Duration::from_millis(4_800);
        while Instant::now() < deadline {
            for id in 0..20 {
                ok(&b, id, &calls).await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::join!(stalls, readers);
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (cache, before) in [&a, &b].into_iter().zip(before) {
        let c = cache.local_stats().await.counters;
        assert_eq!(c.subscription_losses, before.subscription_losses, "stalls are not a lost subscription: {c:?}");
        assert_eq!(c.outage_flushes, before.outage_flushes, "nothing was missed, nothing is flushed: {c:?}");
        assert_eq!(c.local_suspensions, before.local_suspensions, "the in-process tier kept serving: {c:?}");
    }
    let after = b.local_stats().await.counters;
    assert!(after.local_hits > before[1].local_hits + 1000, "served from process throughout: {after:?}");
}

/// A frozen Redis (the subscription hears nothing) still suspends the in-process tier within
/// the subscription timeout, and leaving the freeze invalidates what was stored before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_subscription_still_suspends_the_in_process_tier() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let cache = instance(config(&server)).await;
    let calls = Arc::new(AtomicU64::new(0));
    ok(&cache, 1, &calls).await;
    assert_eq!(ok(&cache, 1, &calls).await, "HIT");
    server.signal("-STOP");
    // Traffic meanwhile: its Redis calls time out and open the breaker.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < deadline {
        ok(&cache, 3, &calls).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = cache.local_stats().await;
    server.signal("-CONT");
    assert!(!during.local_active, "suspended while frozen");
    assert!(during.counters.subscription_losses >= 1, "{:?}", during.counters);
    for _ in 0..200 {
        let s = cache.local_stats().await;
        if s.redis_available && s.local_active {
            break;
        }
        ok(&cache, 2, &calls).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cache.local_stats().await.counters.outage_flushes >= 1, "the freeze hid any bump made meanwhile");
}

/// An announcement whose number skips one (a missed bump) restarts the in-process tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_announcement_restarts_the_in_process_tier() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let cache = instance(config(&server)).await;
    let calls = Arc::new(AtomicU64::new(0));
    cache.invalidate(&["unrelated"]).await;
    ok(&cache, 1, &calls).await;
    assert_eq!(ok(&cache, 1, &calls).await, "HIT");
    // A bump this instance never heard: the sequence moves on without an announcement.
    let _: i64 = redis_cmd(&server, redis::cmd("INCR").arg(format!("{{{NAMESPACE}}}:gen-seq"))).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = cache.local_stats().await.counters;
    assert!(c.sequence_gaps >= 1, "the next heartbeat shows the gap: {c:?}");
    ok(&cache, 1, &calls).await;
    let after = cache.local_stats().await.counters;
    assert_eq!(after.local_hits, c.local_hits, "the in-process copy was dropped");
    assert_eq!(after.redis_hits, c.redis_hits + 1, "the entry came from Redis again");
}

/// Generation counters never expire; a server that may evict keys without a TTL could drop
/// one and make an old entry current again. The cache reports such a policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_policy_that_could_drop_generations_is_reported() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let _: () = redis_cmd(&server, redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("allkeys-lru")).await;
    let cache = instance(config(&server)).await;
    let stats = cache.local_stats().await;
    assert_eq!(stats.redis_eviction_policy.as_deref(), Some("allkeys-lru"));
    assert!(stats.eviction_may_drop_generations());
}
