//! A domain-free HTTP response cache with two tiers and race-free O(1) invalidation.
//!
//! [`Cache::serve`] answers a request from the in-process tier, then Redis, then the origin
//! (a closure the application passes), and sets the cache headers (`X-Cache-*`, RFC 9211
//! `Cache-Status`, a strong `ETag`, `304` on `If-None-Match`). [`Cache::invalidate`] takes
//! tags, not key patterns: each is one generation bump in Redis, whatever the number of keys.
//!
//! The guarantees, and where they live:
//! * No stale read after a completed write ([`generations`]): a miss reads its tags'
//!   generations before computing and stores them with the result, so a value computed from
//!   pre-write data is dead on arrival. Single flights are keyed by those generations
//!   ([`flight`]), so a request that starts after a write never joins a computation that
//!   started before it.
//! * Invalidations survive outages: a bump Redis cannot take is remembered and replayed
//!   before Redis is read again; reconnecting after an outage invalidates everything stored
//!   before it (another instance may hold bumps it has not replayed yet), and so does a Redis
//!   restart (new `run_id`, [`generations::Generations::check_restart`]).
//! * The in-process tier follows other instances' bumps through pub/sub. The announcements
//!   are numbered and every instance publishes the current number five times a second, so the
//!   tier is suspended when the subscription falls silent or skips a number, not when one
//!   heartbeat is slow; `strict` mode checks each in-process hit against Redis instead.
//! * Redis never slows a request by more than a short timeout, which adapts to the measured
//!   round trips (a busy CPU is not a dead Redis), and a circuit breaker stops trying while it
//!   is down ([`tier_redis`]). Leaving an outage invalidates everything only when an
//!   announcement may have been missed.
//! * One origin computation per key at a time in a process, and about one across processes
//!   (a Redis lease); stale-while-revalidate inside a grace window and XFetch early refresh
//!   ([`freshness`]).
//! * Bounded memory: the in-process tier is bounded in bytes, entries over a size limit are
//!   not stored, Redis entries always expire.
//! * A corrupt or foreign value is a miss (deleted and logged), never an error ([`envelope`]).

#![warn(missing_docs)]
#![deny(unreachable_pub)]

mod cache;
pub mod envelope;
pub mod flight;
pub mod freshness;
pub mod generations;
pub mod http;
pub mod key;
mod local;
pub mod stats;
mod stored;
pub mod tier_redis;

pub use cache::{
    Cache, CacheConfig, Origin, OriginError, Policy, RedisInfo, Rendered, Stats, Target, UnsupportedPattern,
};
pub use flight::Aborted;
pub use http::RequestView;

/// Names of the structured log events (`event` field), shared by every module.
pub mod events {
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
}
