//! Invalidation cost against the number of keys in Redis.
//!
//! Fills a private `redis-server` (started on a free port) with 1k, 100k and 1M unrelated keys
//! and times, at each size:
//! * a tag flush (`item:123:*`, what an admin pattern flush and every write do): one bump;
//! * a write's invalidation (six tags in one round trip);
//! * for contrast, invalidation by key pattern: one `SCAN MATCH … COUNT 100` pass over the keyspace.
//!
//! Run: `cargo bench -p trigapi-cache --bench invalidation` (needs `redis-server` on PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use trigapi_cache::{CacheBuilder, RedisTierConfig, Target};

const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];
const ROUNDS: usize = 2_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

async fn fill(conn: &mut redis::aio::MultiplexedConnection, from: u64, to: u64) {
    let mut next = from;
    while next < to {
        let end = (next + 10_000).min(to);
        let mut pipe = redis::pipe();
        for i in next..end {
            // Unrelated keys of a realistic size, as other applications and old entries leave them.
            pipe.cmd("SET").arg(format!("other:app:key:{i}")).arg([b'x'; 64].as_slice()).ignore();
        }
        let _: () = pipe.query_async(conn).await.expect("fill");
        next = end;
    }
}

async fn time<F, Fut>(rounds: usize, mut op: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        op().await;
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !common::redis_available() {
        return;
    }
    let server = common::RedisServer::start();
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    // Generous timeout: this measures Redis work, not the breaker.
    let mut timeouts = RedisTierConfig::default();
    timeouts.command_timeout = Duration::from_secs(5);
    let cache =
        CacheBuilder::new("bench:env").redis(server.url()).redis_timeouts(timeouts).build().await.expect("cache");
    let tag = Target::parse("item:123:*").expect("tag pattern");
    let write = ["item:123", "user:45", "comment:6789", "comments:list", "stats:site", "users:list"];

    println!("| keys in Redis | tag flush p50 | p99 | write invalidation (6 tags) p50 | p99 | one SCAN pass |");
    println!("|---|---|---|---|---|---|");
    let mut filled = 0;
    let mut flush_p50 = Vec::new();
    for size in SIZES {
        fill(&mut conn, filled, size).await;
        filled = size;
        let (f50, f99) = time(ROUNDS, || cache.flush(&tag).map_unit()).await;
        let (w50, w99) = time(ROUNDS, || cache.invalidate(&write)).await;
        let scan_started = Instant::now();
        let mut cursor = 0u64;
        loop {
            let (next, _keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("other:app:item:123:*")
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await
                .expect("scan");
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let scan = scan_started.elapsed();
        println!(
            "| {size} | {} | {} | {} | {} | {:.1} ms |",
            micros(f50),
            micros(f99),
            micros(w50),
            micros(w99),
            scan.as_secs_f64() * 1e3
        );
        flush_p50.push(f50);
    }
    let ratio = flush_p50[2].as_secs_f64() / flush_p50[0].as_secs_f64();
    println!("\ntag flush p50 ratio, 1M keys / 1k keys: {ratio:.2} (must stay under 1.5)");
    assert!(ratio < 1.5, "invalidation cost grows with the keyspace: {ratio:.2}");
}

trait MapUnit {
    fn map_unit(self) -> impl std::future::Future<Output = ()>;
}

impl<F: std::future::Future> MapUnit for F {
    async fn map_unit(self) {
        self.await;
    }
}
