//! The operators' cockpit: `GET /admin/cache`, a page that draws the cache's figures live, and
//! `GET /v1/admin/cache/dashboard` (`api:admin`), the figures it polls.
//!
//! The page loads without a token; its data needs the admin token (typed once into the page
//! and kept in the browser's local storage) or an `api:admin` bearer. It charts the last
//! minutes with uPlot, vendored into the binary (`assets/dashboard/`), so it works offline.
//!
//! [`Figures`] is read once per request and is where `/metrics` takes its numbers too: the page
//! and a Prometheus scrape cannot disagree on a figure.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use serde::Serialize;
use trigapi_cache::{GroupStats, Latency, Stats};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::extract::Admin;
use crate::state::AppState;
use crate::wire::admin::ChangeStreamBody;

/// Hot requests the dashboard lists.
const HOTTEST: usize = 15;

/// Everything the dashboard and `/metrics` show, read at one moment.
pub(crate) struct Figures {
    pub(crate) stats: Stats,
    pub(crate) front_door_routes: u64,
    pub(crate) writes_in_flight: usize,
}

impl Figures {
    /// The figures of `app`; with Redis's `INFO` when `redis_info` (the dashboard; a scrape
    /// asks Redis nothing).
    pub(crate) async fn read(app: &AppState, redis_info: bool) -> Self {
        let stats = if redis_info { app.cache.stats_with_info().await } else { app.cache.local_stats().await };
        Self { stats, front_door_routes: app.cache.front_door_routes(), writes_in_flight: app.writes.count() }
    }

    /// Every group's figures, and their sum as the group `all`.
    pub(crate) fn groups(&self) -> Vec<GroupStats> {
        let mut all = GroupStats::default();
        all.name = "all".into();
        for g in &self.stats.groups {
            all.hits += g.hits;
            all.stale += g.stale;
            all.misses += g.misses;
            all.bypass += g.bypass;
            add(&mut all.hit_latency, &g.hit_latency);
            add(&mut all.miss_latency, &g.miss_latency);
        }
        std::iter::once(all).chain(self.stats.groups.iter().cloned()).collect()
    }
}

/// `into += more`, bucket by bucket (both have the same bounds, or `into` none yet).
fn add(into: &mut Latency, more: &Latency) {
    if into.buckets.is_empty() {
        into.buckets.clone_from(&more.buckets);
    } else {
        for (a, b) in into.buckets.iter_mut().zip(&more.buckets) {
            a.1 += b.1;
        }
    }
    into.sum_secs += more.sum_secs;
}

/// `GET /v1/admin/cache/dashboard`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardBody {
    /// When these figures were read, Unix ms.
    pub at_ms: u64,
    /// This process's cache counters since it started, by name (`local_hits`, `misses`, …):
    /// the page charts their rates.
    #[schema(value_type = Object)]
    pub counters: serde_json::Map<String, serde_json::Value>,
    /// Per endpoint family, and `all`.
    pub groups: Vec<GroupBody>,
    pub local: LocalBody,
    pub redis: RedisBody,
    /// The latest tags invalidated, newest first.
    pub latest_invalidations: Vec<InvalidationBody>,
    /// The hottest requests (sampled), hottest first.
    pub hottest: Vec<HotBody>,
    pub warm: WarmBody,
    pub change_stream: Option<ChangeStreamBody>,
    pub front_door_routes: u64,
    pub writes_in_flight: usize,
}

/// One endpoint family.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBody {
    pub name: String,
    pub hits: u64,
    pub stale: u64,
    pub misses: u64,
    pub bypass: u64,
    /// Hits (stale included) per hit or miss, 0..1.
    pub hit_ratio: Option<f64>,
    /// Quantiles of the time spent in the cache, ms (a miss includes the computation).
    pub hit_p50_ms: Option<f64>,
    pub hit_p99_ms: Option<f64>,
    pub miss_p50_ms: Option<f64>,
    pub miss_p99_ms: Option<f64>,
}

impl From<&GroupStats> for GroupBody {
    fn from(g: &GroupStats) -> Self {
        let ms = |l: &Latency, q| l.quantile(q).map(|s| (s * 1e6).round() / 1e3);
        Self {
            name: g.name.clone(),
            hits: g.hits,
            stale: g.stale,
            misses: g.misses,
            bypass: g.bypass,
            hit_ratio: g.hit_ratio(),
            hit_p50_ms: ms(&g.hit_latency, 0.5),
            hit_p99_ms: ms(&g.hit_latency, 0.99),
            miss_p50_ms: ms(&g.miss_latency, 0.5),
            miss_p99_ms: ms(&g.miss_latency, 0.99),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocalBody {
    pub active: bool,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    /// Times it was suspended (invalidations might have been missed).
    pub suspensions: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedisBody {
    pub configured: bool,
    pub available: bool,
    pub version: Option<String>,
    pub used_memory_bytes: Option<u64>,
    pub used_memory_human: Option<String>,
    pub keys: Option<u64>,
    pub uptime_secs: Option<u64>,
    pub connected_clients: Option<u64>,
    pub pending_invalidations: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidationBody {
    pub at_ms: u64,
    pub tag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HotBody {
    /// The request as sent (path and query).
    pub target: String,
    /// The requests it stood for lately (sampled; halved every ten minutes).
    pub score: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarmBody {
    pub running: bool,
    /// The current or last run: replays done of those planned.
    pub done: u64,
    pub planned: u64,
    pub runs: u64,
    pub replayed: u64,
    pub failed: u64,
    pub last_seconds: f64,
}

/// The figures the cockpit draws.
#[utoipa::path(get, path = "/v1/admin/cache/dashboard", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = DashboardBody), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 503, body = crate::error::ErrorDetail)))]
pub async fn data(_: Admin, State(app): State<AppState>) -> Result<Json<DashboardBody>, ApiError> {
    if !app.cache.is_enabled() {
        return Err(ApiError::Unavailable("Cache unavailable or not configured"));
    }
    let figures = Figures::read(&app, true).await;
    let s = &figures.stats;
    let redis = s.redis.as_ref();
    let (done, planned) = app.warm.progress();
    let [runs, replayed, failed] = app.warm.counters().map(|(_, v)| v);
    Ok(Json(DashboardBody {
        at_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default(),
        counters: s.counters.pairs().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect(),
        groups: figures.groups().iter().map(GroupBody::from).collect(),
        local: LocalBody {
            active: s.local_active,
            entries: s.local_entries,
            bytes: s.local_bytes,
            max_bytes: s.local_max_bytes,
            suspensions: s.counters.local_suspensions,
        },
        redis: RedisBody {
            configured: s.redis_configured,
            available: s.redis_available,
            version: redis.map(|r| r.version.clone()),
            used_memory_bytes: redis.map(|r| r.used_memory_bytes),
            used_memory_human: redis.map(|r| r.used_memory_human.clone()),
            keys: redis.map(|r| r.total_keys),
            uptime_secs: redis.map(|r| r.uptime_secs),
            connected_clients: redis.map(|r| r.connected_clients),
            pending_invalidations: s.pending_invalidations,
        },
        latest_invalidations: app
            .cache
            .latest_invalidations()
            .into_iter()
            .map(|(at_ms, tag)| InvalidationBody { at_ms, tag })
            .collect(),
        hottest: app
            .cache
            .hottest(HOTTEST)
            .await
            .into_iter()
            .map(|(target, score)| HotBody { target, score })
            .collect(),
        warm: WarmBody {
            running: app.warm.running(),
            done,
            planned,
            runs,
            replayed,
            failed,
            last_seconds: app.warm.last_seconds(),
        },
        change_stream: app.changes.as_deref().map(Into::into),
        front_door_routes: figures.front_door_routes,
        writes_in_flight: figures.writes_in_flight,
    }))
}

/// `GET /admin/cache`: the page (no data in it; it asks for the figures with the token).
pub async fn page() -> impl IntoResponse {
    let mut response = Html(include_str!("../../assets/dashboard/index.html")).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// uPlot's script (uPlot 1.6.32 from npm, MIT; `assets/dashboard/`).
pub async fn uplot_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript")], include_str!("../../assets/dashboard/uPlot.iife.min.js"))
}

/// uPlot's stylesheet.
pub async fn uplot_style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css")], include_str!("../../assets/dashboard/uPlot.min.css"))
}
