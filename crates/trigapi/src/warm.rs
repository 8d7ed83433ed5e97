//! Warming: the hottest requests (the cache's sampled record of them,
//! [`trigapi_cache::Cache::hottest`]) replayed through the server's own router after the cache
//! lost its entries: after a Redis restart, a flush of everything, at start-up when
//! `CACHE_WARM_ON_START=true`, and on `trigapi cache warm`.
//!
//! A replay is a `GET` like any client's, so what it stores passes the same generation check
//! as any miss: a write that lands while a replay computes makes that replay's value dead on
//! arrival, as it would a client's. Replays are left out of the record they come from.
//!
//! Warming is throttled: at most `CACHE_WARM_CONCURRENCY` replays at once and
//! `CACHE_WARM_RATE` a second, and none starts while the database pool has no connection to
//! spare (live requests are waiting for it). One instance of a fleet warms at a time (the
//! `warm` role); the others find the entries in Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use tower::ServiceExt;
use trigapi_cache::Cache;

use crate::config::CacheSettings;
use crate::db::Db;

/// The server as one service (the startup module's `App`), spelt out here: the router is handed to
/// the warmer, which does not otherwise depend on how it is built.
type App = tower::util::BoxCloneSyncService<Request<Body>, axum::response::Response, std::convert::Infallible>;

/// How a warming runs.
#[derive(Debug, Clone, Copy)]
pub struct WarmSettings {
    /// The hottest requests replayed.
    pub top: usize,
    /// Replays at once.
    pub concurrency: usize,
    /// Replays started per second, at most.
    pub rate: u32,
}

impl From<&CacheSettings> for WarmSettings {
    fn from(s: &CacheSettings) -> Self {
        Self { top: s.cache_warm_top, concurrency: s.cache_warm_concurrency, rate: s.cache_warm_rate }
    }
}

/// A warming's figures, for `/metrics`, the dashboard and the CLI.
#[derive(Debug, Default)]
pub struct WarmStats {
    running: AtomicBool,
    runs: AtomicU64,
    /// The current (or last) run: targets planned, replayed.
    planned: AtomicU64,
    done: AtomicU64,
    /// Every run: replays answered (any status under 500), failed.
    replayed: AtomicU64,
    failed: AtomicU64,
    /// The last run's duration, ms.
    last_millis: AtomicU64,
}

impl WarmStats {
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// (done, planned) of the current or last run.
    pub fn progress(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.planned.load(Ordering::Relaxed))
    }

    /// Counters, `(name, value)`, for `trigapi_cache_warm_{name}_total`.
    pub fn counters(&self) -> [(&'static str, u64); 3] {
        [
            ("runs", self.runs.load(Ordering::Relaxed)),
            ("replayed", self.replayed.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
        ]
    }

    /// The last run's duration, seconds.
    pub fn last_seconds(&self) -> f64 {
        self.last_millis.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Replay the `settings.top` hottest requests through `app`, hottest first; `report` hears of
/// the progress after each. Returns (replayed, failed).
pub async fn warm(
    app: &App,
    cache: &Cache,
    db: &Db,
    settings: WarmSettings,
    stats: &WarmStats,
    report: impl Fn(u64, u64) + Send + Sync,
) -> (u64, u64) {
    let started = Instant::now();
    let targets = cache.hottest(settings.top).await;
    stats.running.store(true, Ordering::Relaxed);
    stats.runs.fetch_add(1, Ordering::Relaxed);
    stats.planned.store(targets.len() as u64, Ordering::Relaxed);
    stats.done.store(0, Ordering::Relaxed);
    tracing::info!(event = "cache_warm_started", targets = targets.len(), "warming the hottest entries");
    let gap = Duration::from_secs(1) / settings.rate.max(1);
    let first = tokio::time::Instant::now();
    let failed = AtomicU64::new(0);
    let total = targets.len() as u64;
    let replays = targets.into_iter().zip(0u32..).map(|((target, _), i)| {
        let (app, failed, report) = (app.clone(), &failed, &report);
        async move {
            // Paced: each replay waits for its turn and for a spare database connection.
            tokio::time::sleep_until(first + gap * i).await;
            while db.saturated() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if replay(app, &target).await {
                stats.replayed.fetch_add(1, Ordering::Relaxed);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            report(stats.done.fetch_add(1, Ordering::Relaxed) + 1, total);
        }
    });
    let paced = futures_util::stream::iter(replays);
    paced.buffer_unordered(settings.concurrency.max(1)).collect::<()>().await;
    let failed = failed.load(Ordering::Relaxed);
    stats.last_millis.store(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    stats.running.store(false, Ordering::Relaxed);
    tracing::info!(
        event = "cache_warm_finished",
        replayed = total - failed,
        failed,
        seconds = started.elapsed().as_secs_f64(),
        "warming done"
    );
    (total - failed, failed)
}

/// One replay: true when the server answered (under 500).
async fn replay(app: App, target: &str) -> bool {
    let Ok(request) = Request::get(target).extension(Warming).body(Body::empty()) else { return false };
    match app.oneshot(request).await {
        Ok(response) => {
            let ok = response.status() < StatusCode::INTERNAL_SERVER_ERROR;
            // Drain the body: a streamed one computes as it is read.
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            ok
        }
        Err(never) => match never {},
    }
}

/// Marks a warmer's replay (an extension no client can send): left out of the hot record.
#[derive(Debug, Clone, Copy)]
pub struct Warming;

/// How often the server looks for a reason to warm.
const WATCH: Duration = Duration::from_secs(1);
/// How long a warming holds the fleet's `warm` role between renewals.
const ROLE_TTL: Duration = Duration::from_secs(30);

/// The server's warmer: warms after everything was invalidated (a Redis restart, a flush of
/// everything, an outage flush), and once at start when `on_start`.
pub fn spawn(app: App, cache: Cache, db: Db, settings: WarmSettings, on_start: bool, stats: Arc<WarmStats>) {
    if !cache.is_enabled() || settings.top == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut seen = if on_start { u64::MAX } else { cache.everything_invalidated() };
        let mut watch = tokio::time::interval(WATCH);
        loop {
            watch.tick().await;
            let now = cache.everything_invalidated();
            if now == seen {
                continue;
            }
            // Let a flush settle (the other instances hear of it), then warm once for all
            // that happened meanwhile.
            tokio::time::sleep(WATCH).await;
            seen = cache.everything_invalidated();
            if !cache.hold("warm", ROLE_TTL).await {
                continue;
            }
            let renew = {
                let cache = cache.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(ROLE_TTL / 3).await;
                        if !cache.hold("warm", ROLE_TTL).await {
                            return;
                        }
                    }
                })
            };
            warm(&app, &cache, &db, settings, &stats, |_, _| {}).await;
            renew.abort();
        }
    });
}
