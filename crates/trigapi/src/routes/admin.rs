//! Cache administration (`api:admin`): statistics and flushes.
//!
//! Flushes are generation bumps, so they cost the same whatever the number of keys, and they
//! never touch keys outside this deployment's namespace (`trigapi:{environment}:`): old
//! entries stay in Redis until their TTL but can no longer be served. Hence `deleted_count`
//! is 0 for tag flushes; an exact key is deleted and counted.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use trigapi_cache::{Stats, Target};

use crate::cache::namespace;
use crate::domain::params::QueryParams;
use crate::error::ApiError;
use crate::routes::extract::Admin;
use crate::state::AppState;
use crate::wire::admin::{CacheStatsBody, LocalTierBody};

/// Answer of the flush endpoints.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FlushResponse {
    /// Keys deleted outright (an exact key); tag flushes invalidate without deleting.
    pub deleted_count: u64,
    /// The pattern, with this deployment's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub message: String,
}

/// Redis figures, this process's counters and the in-process tier.
#[utoipa::path(get, path = "/v1/admin/cache/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = CacheStatsBody), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 503, body = crate::error::ErrorDetail)))]
pub async fn stats(_: Admin, State(app): State<AppState>) -> Result<Json<CacheStatsBody>, ApiError> {
    if !app.cache.is_enabled() {
        return Err(ApiError::Unavailable("Cache unavailable or not configured"));
    }
    let mut body = stats_body(&namespace(&app.config), &app.cache.stats().await, &app.cache, app.writes.count());
    body.change_stream = app.changes.as_deref().map(Into::into);
    Ok(Json(body))
}

/// The stats of `cache` (in `namespace`) as the admin endpoint and `trigapi cache stats` show
/// them; `writes_in_flight` is the serving process's.
pub(crate) fn stats_body(
    namespace: &str,
    s: &Stats,
    cache: &trigapi_cache::Cache,
    writes_in_flight: usize,
) -> CacheStatsBody {
    let redis = s.redis.as_ref();
    let counters = s.counters.pairs().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
    CacheStatsBody {
        redis_version: redis.map(|r| r.version.clone()),
        uptime_in_seconds: redis.map(|r| r.uptime_secs),
        connected_clients: redis.map(|r| r.connected_clients),
        used_memory_human: redis.map(|r| r.used_memory_human.clone()),
        memory_used_bytes: redis.map(|r| r.used_memory_bytes),
        memory_used_human: redis.map(|r| r.used_memory_human.clone()),
        total_keys: redis.map(|r| r.total_keys),
        keyspace_hits: redis.map(|r| r.keyspace_hits),
        keyspace_misses: redis.map(|r| r.keyspace_misses),
        app_env_keys_count: redis.map(|r| r.namespace_keys),
        app_env_keys_count_complete: redis.map(|r| r.namespace_keys_complete),
        app_env_pattern: format!("{namespace}:*"),
        hit_rate_percent: s.counters.hit_rate_percent(),
        redis_configured: s.redis_configured,
        redis_available: s.redis_available,
        pending_invalidations: s.pending_invalidations,
        redis_eviction_policy: s.redis_eviction_policy.clone(),
        eviction_may_drop_generations: s.eviction_may_drop_generations(),
        local_tier: LocalTierBody {
            active: s.local_active,
            entries: s.local_entries,
            bytes: s.local_bytes,
            max_bytes: s.local_max_bytes,
        },
        front_door_routes: cache.front_door_routes(),
        writes_in_flight,
        counters,
        change_stream: None,
    }
}

/// Flush this deployment's entries: all of them, or those a pattern names (`trig:123:*`,
/// `trigs:list:*`, `stats:site:*`, `trig:*`, `*`, or one exact key).
#[utoipa::path(delete, path = "/v1/admin/cache", tag = "admin", security(("bearer" = [])),
    params(("pattern" = Option<String>, Query, description = "`*`, `<prefix>:*` or an exact key")),
    responses((status = 200, body = FlushResponse), (status = 400, body = crate::error::ErrorDetail),
              (status = 401, body = crate::error::ErrorDetail), (status = 403, body = crate::error::ErrorDetail)))]
pub async fn flush(
    _: Admin,
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<FlushResponse>, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let pattern = q.string("pattern").filter(|p| !p.trim().is_empty());
    q.finish()?;
    let ns = namespace(&app.config);
    let Some(pattern) = pattern else {
        app.cache.flush(&Target::All).await;
        let message =
            format!("Flushed all cache entries for {} environment", app.config.server.environment.to_lowercase());
        return Ok(Json(FlushResponse { deleted_count: 0, pattern: None, message }));
    };
    let target = Target::parse(&pattern).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let deleted_count = app.cache.flush(&target).await;
    let full = format!("{ns}:{}", pattern.trim());
    let message = match target {
        Target::Key(_) => format!("Deleted {deleted_count} cache keys matching pattern '{full}'"),
        Target::All | Target::Tag(_) => format!("Invalidated every cache entry matching pattern '{full}'"),
    };
    Ok(Json(FlushResponse { deleted_count, pattern: Some(full), message }))
}

/// Flush the trig export and the GeoJSON (both built from the whole trig table).
#[utoipa::path(delete, path = "/v1/admin/cache/trigs/export", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = FlushResponse), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail)))]
pub async fn flush_export(_: Admin, State(app): State<AppState>) -> Json<FlushResponse> {
    app.cache.invalidate(&["trigs:export", "trigs:geojson"]).await;
    let message = "Cleared cache for trigs export and geojson".to_owned();
    Json(FlushResponse { deleted_count: 0, pattern: None, message })
}
