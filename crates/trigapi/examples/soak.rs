//! The write-safety soak: a mixed read and write workload, with clients hanging up, against
//! two instances that share one database and one Redis (`scripts/soak.sh` starts them).
//!
//! `cargo run --example soak -- URL_A URL_B SECONDS HS256_SECRET`
//!
//! Writers own disjoint logs and write each one's comment as a rising counter, sequentially,
//! through either instance; one write in ten (`SOAK_HANGUP_ONE_IN`) hangs up 0-5 ms after
//! sending, and the writer waits until a fresh read shows what that write did before it
//! writes the log again (a write left behind must not commit after the next one). Readers read those logs through either
//! instance and compare the counter with the last write completed before the read began: a
//! lower one is a stale read, counted apart when it is within the cross-instance window (the
//! other instance's in-process tier hearing of the bump, ~ms). At the end every log is read
//! fresh and compared with its last write (a lost update when it differs). Prints one JSON
//! object: counts, p50/p99, and the instances' cache counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Stale reads closer than this to the write they missed are the documented cross-instance
/// window, not a broken guarantee.
const WINDOW: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    writes: AtomicU64,
    hangups: AtomicU64,
    hangups_committed: AtomicU64,
    errors_5xx: AtomicU64,
    stale_same_instance: AtomicU64,
    stale_in_window: AtomicU64,
    stale_beyond_window: AtomicU64,
}

/// Per log: the highest counter whose write has completed, when, and through which instance.
#[derive(Default)]
struct Floor {
    value: AtomicU64,
    at_micros: AtomicU64,
    via: AtomicU64,
}

impl Floor {
    /// The write of `counter` through `instance` completed `at_micros` into the run.
    fn completed(&self, counter: u64, at_micros: u64, instance: usize) {
        self.at_micros.store(at_micros, Ordering::Release);
        self.via.store(instance as u64, Ordering::Release);
        self.value.fetch_max(counter, Ordering::AcqRel);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, secs, secret] = args.as_slice() else {
        anyhow::bail!("usage: soak URL_A URL_B SECONDS HS256_SECRET");
    };
    let instances = Arc::new([a.trim_end_matches('/').to_owned(), b.trim_end_matches('/').to_owned()]);
    let duration = Duration::from_secs(secs.parse()?);
    // One write in N hangs up (SOAK_HANGUP_ONE_IN, default 10; 0 = none).
    let hangup_one_in: u8 = std::env::var("SOAK_HANGUP_ONE_IN").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let admin = trigapi::auth::mint(secret, 1, &["api:write".into(), "api:admin".into()], Duration::from_secs(86_400))?;

    // The logs under test: the first 16 of the newest page.
    let page: Value =
        serde_json::from_slice(&client.get(format!("{a}/v1/logs?limit=16")).send().await?.bytes().await?)?;
    let logs: Vec<i64> = page["items"].as_array().into_iter().flatten().filter_map(|l| l["id"].as_i64()).collect();
    anyhow::ensure!(logs.len() == 16, "the database has logs");
    let floors: Arc<Vec<Floor>> = Arc::new(logs.iter().map(|_| Floor::default()).collect());
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + duration;
    let rss_start = rss_of_instances();

    let (mut writers, mut readers) = (Vec::new(), Vec::new());
    // Four writers, four logs each.
    for w in 0..4 {
        let (client, instances, floors, tally, admin, logs) = (
            client.clone(),
            Arc::clone(&instances),
            Arc::clone(&floors),
            Arc::clone(&tally),
            admin.clone(),
            logs.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut counter = 0u64;
            while Instant::now() < deadline {
                for slot in (w * 4)..(w * 4 + 4) {
                    counter += 1;
                    let instance = fastrand::usize(0..2);
                    let base = &instances[instance];
                    let body = json!({ "comment": format!("soak {counter:012}") }).to_string();
                    let path = format!("/v1/logs/{}", logs[slot]);
                    if hangup_one_in > 0 && fastrand::u8(0..hangup_one_in) == 0 {
                        hang_up(base, &path, &admin, &body).await;
                        tally.hangups.fetch_add(1, Ordering::Relaxed);
                        // The write left behind runs to its end on the server (or never
                        // started). Wait until a fresh read shows it, so that it cannot commit
                        // after this log's next write; once seen, and given time to finish its
                        // invalidation, it counts as completed.
                        let started_wait = Instant::now();
                        while started_wait.elapsed() < Duration::from_secs(2) {
                            if fresh_counter(&client, base, &path).await >= counter {
                                tally.hangups_committed.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                floors[slot].completed(counter, started.elapsed().as_micros() as u64, instance);
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        continue;
                    }
                    let t = Instant::now();
                    let res = client
                        .patch(format!("{base}{path}"))
                        .bearer_auth(&admin)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    tally.writes.fetch_add(1, Ordering::Relaxed);
                    match res {
                        Ok(r) if r.status().is_success() => {
                            floors[slot].completed(counter, started.elapsed().as_micros() as u64, instance);
                        }
                        Ok(r) if r.status().is_server_error() => {
                            tally.errors_5xx.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            }
            latencies
        }));
    }
    // Eight readers.
    for _ in 0..8 {
        let (client, instances, floors, tally, logs) =
            (client.clone(), Arc::clone(&instances), Arc::clone(&floors), Arc::clone(&tally), logs.clone());
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let slot = fastrand::usize(0..logs.len());
                let instance = fastrand::usize(0..2);
                let base = &instances[instance];
                let floor = floors[slot].value.load(Ordering::Acquire);
                let floor_at = floors[slot].at_micros.load(Ordering::Acquire);
                let via = floors[slot].via.load(Ordering::Acquire);
                let t = Instant::now();
                let Ok(res) = client.get(format!("{base}/v1/logs/{}", logs[slot])).send().await else { continue };
                let status = res.status();
                let body = res.bytes().await.unwrap_or_default();
                latencies.push(t.elapsed());
                tally.reads.fetch_add(1, Ordering::Relaxed);
                if status.is_server_error() {
                    tally.errors_5xx.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let seen = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["comment"].as_str()?.strip_prefix("soak ")?.parse::<u64>().ok())
                    .unwrap_or(0);
                if seen < floor && via == instance as u64 {
                    tally.stale_same_instance.fetch_add(1, Ordering::Relaxed);
                } else if seen < floor {
                    let since = (t - started).as_micros() as u64 - floor_at.min((t - started).as_micros() as u64);
                    if Duration::from_micros(since) <= WINDOW {
                        tally.stale_in_window.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tally.stale_beyond_window.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for t in writers {
        writes.extend(t.await?);
    }
    for t in readers {
        reads.extend(t.await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Lost updates: the last completed write of each log is what a fresh read shows.
    let mut lost = 0;
    for (slot, id) in logs.iter().enumerate() {
        let fresh: Value = serde_json::from_slice(
            &client.get(format!("{a}/v1/logs/{id}")).header("cache-control", "no-cache").send().await?.bytes().await?,
        )?;
        let seen = fresh["comment"].as_str().and_then(|c| c.strip_prefix("soak ")?.parse::<u64>().ok()).unwrap_or(0);
        if seen < floors[slot].value.load(Ordering::Acquire) {
            lost += 1;
        }
    }
    let rss_end = rss_of_instances();
    let mut counters = Vec::new();
    for base in instances.iter() {
        let stats: Value = serde_json::from_slice(
            &client.get(format!("{base}/v1/admin/cache/stats")).bearer_auth(&admin).send().await?.bytes().await?,
        )?;
        counters.push(stats["counters"].clone());
    }
    let report = json!({
        "seconds": started.elapsed().as_secs(),
        "reads": tally.reads.load(Ordering::Relaxed),
        "writes": tally.writes.load(Ordering::Relaxed),
        "hangups": tally.hangups.load(Ordering::Relaxed),
        "hangups_committed": tally.hangups_committed.load(Ordering::Relaxed),
        "errors_5xx": tally.errors_5xx.load(Ordering::Relaxed),
        "stale_reads_on_the_writing_instance": tally.stale_same_instance.load(Ordering::Relaxed),
        "stale_reads_other_instance_beyond_window": tally.stale_beyond_window.load(Ordering::Relaxed),
        "stale_reads_other_instance_within_window": tally.stale_in_window.load(Ordering::Relaxed),
        "lost_updates": lost,
        "read_ms": percentiles(&mut reads),
        "write_ms": percentiles(&mut writes),
        "rss_kib_start": rss_start,
        "rss_kib_end": rss_end,
        "counters": counters,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The counter in a log's comment, read fresh (`no-cache`), or 0.
async fn fresh_counter(client: &reqwest::Client, base: &str, path: &str) -> u64 {
    let Ok(res) = client.get(format!("{base}{path}")).header("cache-control", "no-cache").send().await else {
        return 0;
    };
    let body = res.bytes().await.unwrap_or_default();
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["comment"].as_str()?.strip_prefix("soak ")?.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Send a PATCH and hang up 0-5 ms later without reading the answer.
async fn hang_up(base: &str, path: &str, token: &str, body: &str) {
    let Some(host) = base.strip_prefix("http://") else { return };
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else { return };
    let request = format!(
        "PATCH {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    tokio::time::sleep(Duration::from_micros(fastrand::u64(0..5_000))).await;
}

/// `{p50, p99}` in milliseconds.
fn percentiles(samples: &mut [Duration]) -> Value {
    samples.sort_unstable();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0)
    };
    json!({ "p50": at(0.50), "p99": at(0.99), "count": samples.len() })
}

/// The resident set (KiB) of each instance, whose process ids `scripts/soak.sh` passes in
/// `SOAK_PIDS` (the driver cannot know the processes otherwise).
fn rss_of_instances() -> Vec<u64> {
    std::env::var("SOAK_PIDS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
            status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect()
}
