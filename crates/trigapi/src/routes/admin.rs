//! Cache administration (`api:admin`): statistics and flushes.
//!
//! Flushes are generation bumps, so they cost the same whatever the number of keys, and they
//! never touch keys outside this deployment's namespace (`trigapi:{environment}:`): old
//! entries stay in Redis until their TTL but can no longer be served. Hence `deleted_count`
//! is 0 for tag flushes; an exact key is deleted and counted.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use serde_json::{Value, json};
use trigapi_cache::{RedisInfo, Stats, Target};

use crate::auth::Admin;
use crate::cache::namespace;
use crate::domain::params::QueryParams;
use crate::error::ApiError;
use crate::state::AppState;

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
    responses((status = 200, body = crate::wire::bodies::CacheStatsBody), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 503, body = crate::error::ErrorDetail)))]
pub async fn stats(_: Admin, State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !app.cache.is_enabled() {
        return Err(ApiError::Unavailable("Cache unavailable or not configured"));
    }
    Ok(Json(stats_body(&app.cache.stats().await, &namespace(&app.config))))
}

fn stats_body(s: &Stats, namespace: &str) -> Value {
    let redis = s.redis.clone().unwrap_or_default();
    let known = s.redis.is_some();
    let some = |v: Value| if known { v } else { Value::Null };
    let counters: serde_json::Map<String, Value> =
        s.counters.pairs().into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
    let RedisInfo { version, uptime_secs, connected_clients, used_memory_bytes, used_memory_human, .. } = redis.clone();
    json!({
        "redis_version": some(json!(version)),
        "uptime_in_seconds": some(json!(uptime_secs)),
        "connected_clients": some(json!(connected_clients)),
        "used_memory_human": some(json!(used_memory_human)),
        "memory_used_bytes": some(json!(used_memory_bytes)),
        "memory_used_human": some(json!(used_memory_human)),
        "total_keys": some(json!(redis.total_keys)),
        "keyspace_hits": some(json!(redis.keyspace_hits)),
        "keyspace_misses": some(json!(redis.keyspace_misses)),
        "app_env_keys_count": some(json!(redis.namespace_keys)),
        "app_env_keys_count_complete": some(json!(redis.namespace_keys_complete)),
        "app_env_pattern": format!("{namespace}:*"),
        "hit_rate_percent": s.counters.hit_rate_percent(),
        "redis_configured": s.redis_configured,
        "redis_available": s.redis_available,
        "pending_invalidations": s.pending_invalidations,
        "redis_eviction_policy": s.redis_eviction_policy,
        "eviction_may_drop_generations": s.eviction_may_drop_generations(),
        "local_tier": {
            "active": s.local_active,
            "entries": s.local_entries,
            "bytes": s.local_bytes,
            "max_bytes": s.local_max_bytes,
        },
        "counters": counters,
    })
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
        let message = format!("Flushed all cache entries for {} environment", app.config.environment.to_lowercase());
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
