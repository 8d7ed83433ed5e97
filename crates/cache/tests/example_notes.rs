//! The `notes` example, driven through its router: reads are cached (a 404 too), a write
//! invalidates exactly what it changed, and the writer's next read sees it. In process only,
//! so it runs without Redis and without the `redis` feature.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/notes.rs"]
mod notes;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use trigapi_cache::CacheBuilder;

async fn call(app: &notes::App, method: Method, uri: &str, body: &str) -> (StatusCode, String, String) {
    let request = Request::builder().method(method).uri(uri).body(Body::from(body.to_owned())).expect("request");
    let response = notes::router(app.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let cache = response.headers().get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, cache, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn reads_are_cached_and_a_write_invalidates_what_it_changed() {
    let app = notes::App::new(CacheBuilder::new("notes:test").build().await.expect("cache"));
    let get = |uri: &'static str| call(&app, Method::GET, uri, "");
    assert_eq!(get("/notes/1").await, (StatusCode::NOT_FOUND, "MISS".into(), "no such note".into()));
    assert_eq!(get("/notes/1").await, (StatusCode::NOT_FOUND, "HIT".into(), "no such note".into()));
    assert_eq!(get("/notes/2").await.1, "MISS");
    assert_eq!(get("/notes").await, (StatusCode::OK, "MISS".into(), "[]".into()));

    let put = call(&app, Method::PUT, "/notes/1", "buy milk").await;
    assert_eq!(put.0, StatusCode::NO_CONTENT);
    assert_eq!(get("/notes/1").await, (StatusCode::OK, "MISS".into(), "buy milk".into()), "the writer sees it");
    assert_eq!(get("/notes/1").await.1, "HIT");
    assert_eq!(get("/notes/2").await.1, "HIT", "another note was not invalidated");
    assert_eq!(get("/notes").await, (StatusCode::OK, "MISS".into(), "[1]".into()));
}
