//! The cache admin's answers.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /v1/admin/cache/stats` (the Redis fields are `null` when Redis is not configured or
/// does not answer).
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStatsBody {
    pub redis_version: Option<String>,
    pub uptime_in_seconds: Option<u64>,
    pub connected_clients: Option<u64>,
    pub used_memory_human: Option<String>,
    pub memory_used_bytes: Option<u64>,
    pub memory_used_human: Option<String>,
    pub total_keys: Option<u64>,
    pub keyspace_hits: Option<u64>,
    pub keyspace_misses: Option<u64>,
    /// Keys under this deployment's namespace (a SCAN bounded in time)...
    pub app_env_keys_count: Option<u64>,
    /// ...and whether it reached the end.
    pub app_env_keys_count_complete: Option<bool>,
    pub app_env_pattern: String,
    /// Hits (both tiers, and stale) per request that reached the cache, in percent.
    pub hit_rate_percent: f64,
    pub redis_configured: bool,
    pub redis_available: bool,
    pub pending_invalidations: usize,
    pub redis_eviction_policy: Option<String>,
    pub eviction_may_drop_generations: bool,
    pub local_tier: LocalTierBody,
    /// Routes the front door knows (requests as sent, each mapped to the key that serves it).
    pub front_door_routes: u64,
    /// Writes running now, including those whose clients hung up (they run to their end).
    pub writes_in_flight: usize,
    /// This process's counters, by name (`local_hits`, `misses`, …).
    #[schema(value_type = Object)]
    pub counters: serde_json::Map<String, serde_json::Value>,
    /// The change stream, when `CHANGE_STREAM=on`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_stream: Option<ChangeStreamBody>,
}

/// The change stream of `CacheStatsBody`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeStreamBody {
    /// Whether this instance reads the stream (one instance does at a time).
    pub leading: bool,
    /// Row changes applied, batches, fallbacks to invalidating everything, failed reads.
    pub changes: u64,
    pub batches: u64,
    pub fallbacks: u64,
    pub errors: u64,
    /// Changes committed and not yet applied, as of the last read.
    pub lag_changes: u64,
    /// How far behind the commits the cache is: the age of the last change applied while more
    /// wait; 0 once caught up.
    pub lag_seconds: f64,
    /// The delay from commit to bump over the latest changes (up to 4,096), ms.
    pub delay_p50_ms: Option<u64>,
    pub delay_p99_ms: Option<u64>,
    /// PostgreSQL: the WAL the replication slot holds back on the database server, bytes, as
    /// the reading instance last looked (every ten seconds); `null` elsewhere.
    pub slot_retained_bytes: Option<u64>,
}

impl From<&crate::changes::ChangeStats> for ChangeStreamBody {
    fn from(s: &crate::changes::ChangeStats) -> Self {
        let [changes, batches, fallbacks, errors] = s.counters().map(|(_, v)| v);
        Self {
            leading: s.leading(),
            changes,
            batches,
            fallbacks,
            errors,
            lag_changes: s.lag_changes(),
            lag_seconds: s.lag_seconds(),
            delay_p50_ms: s.delay_quantile_ms(0.5),
            delay_p99_ms: s.delay_quantile_ms(0.99),
            slot_retained_bytes: s.slot_retained_bytes(),
        }
    }
}

/// The in-process tier of `CacheStatsBody`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocalTierBody {
    /// Whether it serves (false while invalidations may be missed).
    pub active: bool,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}
