//! Names of the structured log events (the `event` field of `tracing` records, target
//! `trigapi_cache`), so that dashboards and alerts can match them exactly.

/// A response was served from a tier.
pub const CACHE_HIT: &str = "cache_hit";
/// A response was computed and stored.
pub const CACHE_MISS_STORED: &str = "cache_miss_stored";
/// The request asked to skip the cache.
pub const CACHE_BYPASS: &str = "cache_bypass";
/// A response was not stored (over the size limit).
pub const CACHE_SKIP: &str = "cache_skip";
/// Storing to Redis failed.
pub const CACHE_STORE_ERROR: &str = "cache_store_error";
/// Tags were invalidated.
pub const CACHE_INVALIDATED: &str = "cache_invalidated";
/// An admin flush (pattern or everything).
pub const CACHE_DELETE_PATTERN: &str = "cache_delete_pattern";
/// A connection to Redis is (re-)established.
pub const CACHE_REDIS_CONNECTED: &str = "cache_redis_connected";
/// The breaker opened: Redis calls stop until the probe reconnects.
pub const CACHE_REDIS_CONNECTION_FAILED: &str = "cache_redis_connection_failed";
/// An entry past its TTL was served inside grace while a refresh runs.
pub const CACHE_STALE: &str = "cache_stale";
/// A corrupt or foreign value was found and deleted.
pub const CACHE_CORRUPT_ENTRY: &str = "cache_corrupt_entry";
/// An invalidation could not reach Redis and waits to be replayed.
pub const CACHE_INVALIDATION_PENDING: &str = "cache_invalidation_pending";
/// Pending invalidations were replayed after Redis came back.
pub const CACHE_INVALIDATION_REPLAYED: &str = "cache_invalidation_replayed";
/// Redis restarted (or first started): everything stored before is invalid.
pub const CACHE_REDIS_RESTART_DETECTED: &str = "cache_redis_restart_detected";
/// Redis is back after an outage: everything stored before it is invalidated.
pub const CACHE_OUTAGE_FLUSH: &str = "cache_outage_flush";
/// The pub/sub subscription dropped: the in-process tier is suspended.
pub const CACHE_SUBSCRIPTION_LOST: &str = "cache_subscription_lost";
/// A numbered announcement was missed: the in-process tier starts over.
pub const CACHE_SUBSCRIPTION_GAP: &str = "cache_subscription_gap";
/// Redis answers again after an outage that the subscription heard through: nothing is
/// invalidated.
pub const CACHE_REDIS_RESYNCED: &str = "cache_redis_resynced";
/// Redis may evict keys without a TTL (generation counters).
pub const CACHE_EVICTION_UNSAFE: &str = "cache_eviction_unsafe";
