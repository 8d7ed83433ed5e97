//! The same cache over the other Redis topologies `REDIS_URL` can name: a Redis Cluster (a
//! comma-separated list of nodes) and a TLS-only server (`rediss://`). Two instances share the
//! Redis; hits, cross-instance hits, invalidation and flushes behave as on a single server.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Aborted, Cache, CacheBuilder, Policy, RedisTierConfig, Rendered, RequestView, Target};

use common::{RedisCluster, RedisServer, redis_available};

#[derive(Debug, Clone)]
struct Never;

impl From<Aborted> for Never {
    fn from(_: Aborted) -> Self {
        Never
    }
}

fn policy(id: u32) -> Policy {
    let key = KeyBuilder::new("test", "env", "item").id(id);
    let tags = key.tags();
    Policy::new(key.build("v1"), tags, Duration::from_secs(600))
}

async fn status(cache: &Cache, calls: &Arc<AtomicU64>, id: u32) -> String {
    let calls = Arc::clone(calls);
    let origin = move || async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Never>(Rendered::json(format!(r#"{{"id":{id}}}"#)))
    };
    let response =
        cache.serve(&RequestView::new(&HeaderMap::new()), policy(id), origin).await.expect("origin never fails");
    response.headers()["x-cache-status"].to_str().unwrap_or("").to_owned()
}

async fn exercise(url: String) {
    let mut timeouts = RedisTierConfig::default();
    timeouts.connect_timeout = Duration::from_secs(2);
    timeouts.command_timeout = Duration::from_millis(500);
    let config = CacheBuilder::new("test:env").redis(url).early_refresh_beta(0.0).redis_timeouts(timeouts);
    let a = config.clone().build().await.expect("cache a");
    let b = config.build().await.expect("cache b");
    assert!(a.stats().await.redis_available, "connected");
    let calls = Arc::new(AtomicU64::new(0));
    // Enough keys to land in every node's slots.
    for id in 0..30 {
        assert_eq!(status(&a, &calls, id).await, "MISS");
        assert_eq!(status(&b, &calls, id).await, "HIT", "item {id} from Redis");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 30);
    assert_eq!(b.stats().await.counters.redis_hits, 30);
    a.invalidate(&["item:7"]).await;
    // b's in-process tier hears of the bump through pub/sub: the cross-instance window.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&b, &calls, 7).await, "MISS", "the bump reached the other instance");
    assert_eq!(status(&b, &calls, 8).await, "HIT");
    b.flush(&Target::All).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for id in [3, 19, 28] {
        assert_eq!(status(&a, &calls, id).await, "MISS", "item {id} after a flush");
    }
}

#[tokio::test]
async fn a_redis_cluster() {
    if !redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trigapi-cluster-{}", std::process::id()));
    let cluster = RedisCluster::start(&dir);
    exercise(cluster.url()).await;
}

#[tokio::test]
async fn a_tls_only_redis() {
    if !redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trigapi-tls-{}", std::process::id()));
    let server = RedisServer::start_tls(&dir);
    assert!(server.url().starts_with("rediss://"));
    exercise(server.url()).await;
    let _ = std::fs::remove_dir_all(&dir);
}
