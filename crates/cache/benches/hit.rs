//! The cost of one hit, without HTTP: [`Cache::front_door`] (a request answered before the
//! application runs) and [`Cache::serve`] (a hit through the application's handler), from the
//! in-process tier, with the record of hot requests sampling one request in N.
//!
//! Each cell runs 20 batches of 100,000 hits on one task and reports the median and the best
//! batch's time per hit: the spread between batches is the noise any change must be measured
//! against.
//!
//! Run: `cargo bench -p trigapi-cache --bench hit` (no Redis needed).

use std::time::{Duration, Instant};

use trigapi_cache::{Cache, CacheBuilder, Policy, Rendered, RequestView};

const BATCHES: usize = 20;
const HITS: u32 = 100_000;

fn request(uri: &str) -> http::request::Parts {
    http::Request::get(uri).header("accept-encoding", "gzip").body(()).expect("request").into_parts().0
}

fn policy() -> Policy {
    Policy::new("bench:item:1:v1".into(), vec!["item".into(), "item:1".into()], Duration::from_secs(3600)).group("item")
}

async fn serve(cache: &Cache, parts: &http::request::Parts) {
    let view = RequestView::of(parts);
    let served = cache.serve(&view, policy(), || async { Ok::<_, Error>(Rendered::json(&br#"{"id":1}"#[..])) }).await;
    assert!(served.is_ok());
}

#[derive(Debug)]
struct Error;

impl From<trigapi_cache::Aborted> for Error {
    fn from(_: trigapi_cache::Aborted) -> Self {
        Error
    }
}

/// Nanoseconds per hit: (median batch, best batch).
async fn time<F, Fut>(mut hit: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut batches = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..HITS {
            hit().await;
        }
        batches.push(started.elapsed().as_nanos() as f64 / f64::from(HITS));
    }
    batches.sort_by(f64::total_cmp);
    (batches[BATCHES / 2], batches[0])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| path | sampled | ns/hit (median of {BATCHES}) | ns/hit (best) |");
    println!("|---|---|---|---|");
    for every in [0u32, 16, 1] {
        let cache = CacheBuilder::new("bench").hot_sample_every(every).build().await.expect("cache");
        let parts = request("/item/1?fields=all");
        serve(&cache, &parts).await; // the miss that stores it and teaches the door
        let sampled = if every == 0 { "off".to_owned() } else { format!("1 in {every}") };
        let (median, best) = time(|| async {
            assert!(cache.front_door(&parts).await.is_some());
        })
        .await;
        println!("| front door | {sampled} | {median:.0} | {best:.0} |");
        let (median, best) = time(|| serve(&cache, &parts)).await;
        println!("| serve | {sampled} | {median:.0} | {best:.0} |");
    }
}
