//! The front door (`Cache::front_door`): what it learns from `serve`, what it answers, and
//! everything it must leave to the full path. Against a real `redis-server` on a free port
//! where Redis is involved.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Aborted, Cache, CacheBuilder, Policy, Rendered, RequestView};

use common::{RedisServer, redis_available};

#[derive(Debug)]
struct Failed;

impl From<Aborted> for Failed {
    fn from(_: Aborted) -> Self {
        Failed
    }
}

fn head(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).expect("request").into_parts().0
}

/// The policy an application would give `/items/{id}?…`: the id's entry, whatever the query.
fn policy(id: u32) -> Policy {
    let key = KeyBuilder::new("test", "env", "item").id(id);
    let tags = key.tags();
    Policy::new(key.build("v1"), tags, Duration::from_secs(3600))
}

/// Serve `request` the full way; the origin answers `{"version":N}` and counts.
async fn serve(cache: &Cache, request: &Parts, id: u32, calls: &Arc<AtomicU64>) -> Response<Full<Bytes>> {
    let calls = Arc::clone(calls);
    let origin = move || async move {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok::<_, Failed>(Rendered::json(format!(r#"{{"version":{n}}}"#)))
    };
    cache.serve(&RequestView::of(request), policy(id), origin).await.expect("origin succeeded")
}

async fn body(response: Response<Full<Bytes>>) -> String {
    let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn status(response: &Response<Full<Bytes>>) -> &str {
    response.headers().get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn front_door_hits(cache: &Cache) -> u64 {
    cache.stats().await.counters.front_door_hits
}

#[tokio::test]
async fn a_repeat_request_is_answered_at_the_door_with_the_full_paths_headers() {
    let cache = CacheBuilder::new("test:env").early_refresh_beta(0.0).build().await.expect("cache");
    let calls = Arc::new(AtomicU64::new(0));
    let request = head("/items/7?b=2&a=1", &[]);
    assert!(cache.front_door(&request).await.is_none(), "nothing learnt yet");
    let miss = serve(&cache, &request, 7, &calls).await;
    assert_eq!(status(&miss), "MISS");
    let full_hit = serve(&cache, &request, 7, &calls).await;
    let door_hit = cache.front_door(&request).await.expect("learnt from the full path");
    assert_eq!(front_door_hits(&cache).await, 1);
    let mut full_headers = full_hit.headers().clone();
    let mut door_headers = door_hit.headers().clone();
    for h in [&mut full_headers, &mut door_headers] {
        // Seconds that may tick between the two.
        h.remove("x-cache-ttl");
        h.remove("x-cache-age");
        h.remove("cache-status");
    }
    assert_eq!(door_headers, full_headers);
    assert_eq!(status(&door_hit), "HIT");
    assert_eq!(body(door_hit).await, r#"{"version":1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Another spelling of the same parameters is another target: the full path teaches it.
    let other = head("/items/7?a=1&b=2", &[]);
    assert!(cache.front_door(&other).await.is_none());
    assert_eq!(status(&serve(&cache, &other, 7, &calls).await), "HIT", "the same canonical entry");
    assert!(cache.front_door(&other).await.is_some());
    assert_eq!(cache.front_door_routes(), 2);
}

#[tokio::test]
async fn the_door_leaves_to_the_full_path_what_it_may_not_answer() {
    let cache = CacheBuilder::new("test:env").early_refresh_beta(0.0).build().await.expect("cache");
    let calls = Arc::new(AtomicU64::new(0));
    let plain = head("/items/1", &[]);
    serve(&cache, &plain, 1, &calls).await;
    assert!(cache.front_door(&plain).await.is_some());

    // Asking for the caller's own answer, or to bypass, or another method: never at the door.
    for headers in [[("authorization", "Bearer x")], [("cookie", "session=1")], [("cache-control", "no-cache")]] {
        assert!(cache.front_door(&head("/items/1", &headers)).await.is_none(), "{headers:?}");
    }
    let mut head_request = head("/items/1", &[]);
    head_request.method = http::Method::HEAD;
    assert!(cache.front_door(&head_request).await.is_none(), "HEAD goes the full way");

    // Requests carrying a caller teach the door nothing.
    let private = head("/items/2", &[("authorization", "Bearer x")]);
    serve(&cache, &private, 2, &calls).await;
    assert!(cache.front_door(&head("/items/2", &[])).await.is_none(), "learnt from a caller's request");

    // Invalidated: the door declines, the full path recomputes and the door serves the new body.
    cache.invalidate(&["item:1"]).await;
    assert!(cache.front_door(&plain).await.is_none(), "an invalidated entry is never served");
    assert_eq!(body(serve(&cache, &plain, 1, &calls).await).await, r#"{"version":3}"#);
    let hit = cache.front_door(&plain).await.expect("current again");
    assert_eq!(body(hit).await, r#"{"version":3}"#);
}

#[tokio::test]
async fn conditional_and_compressed_requests_are_answered_as_the_full_path_answers_them() {
    let cache = CacheBuilder::new("test:env").early_refresh_beta(0.0).build().await.expect("cache");
    let plain = head("/items/3", &[]);
    let large = move || async move { Ok::<_, Failed>(Rendered::json(format!(r#"{{"pad":"{}"}}"#, "x".repeat(4096)))) };
    let miss = cache.serve(&RequestView::of(&plain), policy(3), large).await.expect("origin succeeded");
    let etag = miss.headers()["etag"].to_str().expect("etag").to_owned();
    let conditional = head("/items/3", &[("if-none-match", &etag)]);
    let not_modified = cache.front_door(&conditional).await.expect("learnt");
    assert_eq!(not_modified.status(), http::StatusCode::NOT_MODIFIED);
    let zstd = cache.front_door(&head("/items/3", &[("accept-encoding", "zstd")])).await.expect("learnt");
    assert_eq!(zstd.headers()["content-encoding"], "zstd");
}

#[tokio::test]
async fn routes_are_bounded_in_bytes() {
    let cache = CacheBuilder::new("test:env").front_door_max_bytes(16 << 10).build().await.expect("cache");
    let calls = Arc::new(AtomicU64::new(0));
    for n in 0..2_000 {
        serve(&cache, &head(&format!("/items/1?junk={n}"), &[]), 1, &calls).await;
    }
    let routes = cache.front_door_routes();
    assert!((1..=128).contains(&routes), "16 KiB of routes, not one per request: {routes}");
    let closed = CacheBuilder::new("test:env").front_door_max_bytes(0).build().await.expect("cache");
    serve(&closed, &head("/items/1", &[]), 1, &calls).await;
    assert!(closed.front_door(&head("/items/1", &[])).await.is_none(), "zero bytes: the door is closed");
}

/// Whether the door stops answering `request` within `tries` looks, 10 ms apart.
async fn door_closes(cache: &Cache, request: &Parts, tries: u32) -> bool {
    for _ in 0..tries {
        if cache.front_door(request).await.is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// With Redis: another instance's write reaches the door through the same generation table as
/// the full path, and an unreachable Redis closes it with the in-process tier.
#[tokio::test]
async fn with_redis_another_instances_write_and_an_outage_close_the_door() {
    if !redis_available() {
        eprintln!("skipped: redis-server not on PATH");
        return;
    }
    let mut redis = RedisServer::start();
    let build = || CacheBuilder::new("test:env").redis(redis.url()).early_refresh_beta(0.0).build();
    let (reader, writer) = (build().await.expect("cache"), build().await.expect("cache"));
    let calls = Arc::new(AtomicU64::new(0));
    let plain = head("/items/5", &[]);
    // The in-process tier serves once the subscription is up.
    let mut learnt = false;
    for _ in 0..200 {
        serve(&reader, &plain, 5, &calls).await;
        if reader.front_door(&plain).await.is_some() {
            learnt = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(learnt, "the door answers once the in-process tier serves");
    writer.invalidate(&["item:5"]).await;
    assert!(door_closes(&reader, &plain, 200).await, "the other instance's bump reached the door");
    serve(&reader, &plain, 5, &calls).await;
    assert!(reader.front_door(&plain).await.is_some(), "recomputed, the door answers again");
    redis.kill();
    let gated = door_closes(&reader, &plain, 400).await;
    assert!(gated, "with the subscription lost, nothing is answered from the process");
}
