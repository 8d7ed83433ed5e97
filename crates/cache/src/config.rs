//! Settings, and [`CacheBuilder`], the way to make a [`Cache`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), trigapi_cache::BuildError> {
//! use std::time::Duration;
//! use trigapi_cache::CacheBuilder;
//!
//! // One process, no Redis: the in-process tier alone.
//! let cache = CacheBuilder::new("shop:production").local_max_bytes(16 << 20).build().await?;
//! assert!(cache.is_enabled());
//!
//! // Several instances sharing Redis (an unreachable server is retried, not an error; a build
//! // without the `redis` feature refuses the URL).
//! let shared = CacheBuilder::new("shop:production")
//!     .redis("redis://127.0.0.1:6379")
//!     .grace(Duration::from_secs(60))
//!     .build()
//!     .await;
//! assert_eq!(shared.is_ok(), cfg!(feature = "redis"));
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::Cache;
use crate::clock::Clock;

/// Timeouts and circuit breaker of the Redis tier.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RedisTierConfig {
    /// Bound for one command, round trip included, while round trips are fast; it grows with
    /// the measured round trips up to `max_command_timeout`.
    pub command_timeout: Duration,
    /// The most the adaptive bound may grow to.
    pub max_command_timeout: Duration,
    /// Upper bound for establishing a connection.
    pub connect_timeout: Duration,
    /// Consecutive failures that open the breaker.
    pub failures_to_open: u32,
    /// Pause between reconnect attempts while open.
    pub probe_interval: Duration,
}

impl RedisTierConfig {
    /// The largest bound a command gets: `max_command_timeout`, never under `command_timeout`.
    pub(crate) fn ceiling(&self) -> Duration {
        self.max_command_timeout.max(self.command_timeout)
    }
}

impl Default for RedisTierConfig {
    /// 50 ms per command (growing with the measured round trips up to 500 ms), 250 ms to
    /// connect, open after 3 failures, probe every 500 ms.
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_millis(50),
            max_command_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(250),
            failures_to_open: 3,
            probe_interval: Duration::from_millis(500),
        }
    }
}

/// Settings of a [`Cache`], as [`CacheBuilder`] makes them. Read them with [`Cache::config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Prefix of every key and generation this cache writes (`{app}:{environment}`).
    pub namespace: String,
    /// The cache's name in `Cache-Status` headers.
    pub name: String,
    /// `redis://` or `rediss://` URL (a comma-separated list is a cluster); `None` runs the
    /// in-process tier alone (one instance).
    pub redis_url: Option<String>,
    /// Timeouts and circuit breaker of the Redis tier.
    pub redis: RedisTierConfig,
    /// Upper bound of the in-process tier, in bytes.
    pub local_max_bytes: u64,
    /// Safety TTL of in-process entries (they are also checked against generations).
    pub local_ttl: Duration,
    /// How long past its TTL an entry may still be served stale.
    pub grace: Duration,
    /// Bodies of at least this many bytes are stored compressed.
    pub compress_at: usize,
    /// Larger responses are served but not stored ([`crate::Policy::max_entry_bytes`] sets
    /// it for one response).
    pub max_entry_bytes: usize,
    /// Smaller responses are served but not stored: cheap to compute, not worth a slot
    /// (zero stores every size; [`crate::Policy::min_entry_bytes`] sets it for one response).
    pub min_entry_bytes: usize,
    /// Validate every in-process hit against Redis generations (no cross-instance window).
    pub strict: bool,
    /// Redis lease on a miss, so about one instance computes a cold key (zero disables).
    pub lease_ttl: Duration,
    /// How long an instance that lost the lease waits for the winner's entry.
    pub lease_wait: Duration,
    /// Invalidations remembered while Redis is unreachable; beyond this, everything is flushed
    /// on reconnect instead.
    pub max_pending: usize,
    /// How long the invalidation subscription may hear nothing (every instance announces the
    /// change sequence five times a second) before it counts as lost and the in-process tier
    /// is suspended. A slow answer is not a loss; silence this long is. Leaving an outage
    /// invalidates everything when the subscription was lost, missed a numbered announcement,
    /// or was silent for half this long.
    pub subscription_timeout: Duration,
    /// XFetch `beta` (0 disables early refresh).
    pub early_refresh_beta: f64,
    /// Upper bound, in bytes, of the front door's map from requests as sent to policies
    /// ([`Cache::front_door`]); zero closes the door.
    pub front_door_max_bytes: u64,
    /// Entries each owner ([`crate::Policy::owner`]) keeps in each tier, at most; the least
    /// recently used go first (zero: no bound).
    pub per_owner_max_entries: usize,
    /// One request in this many is counted in the record of hot requests
    /// ([`Cache::hottest`]); zero keeps no record.
    pub hot_sample_every: u32,
    /// Requests the record of hot requests keeps, the hottest.
    pub hot_max_targets: usize,
    /// The time entries are judged by ([`Clock::system`] unless a test mocks it).
    pub clock: Clock,
    /// **Test only; never in production.** Stamp entries with the generations current when
    /// they are *stored* instead of those read *before computing*. That brings back the
    /// classic stale-set race (a value read before a write, stored after its invalidation,
    /// served as fresh); consistency checkers turn it on to prove they can catch that race.
    pub unsafe_stamp_at_store: bool,
}

impl CacheConfig {
    /// Defaults for `namespace`: no Redis, 64 MiB in process, 5 min grace, compression from
    /// 1 KiB, entries of any size up to 16 MiB, 2 s leases, 8 MiB of front-door routes, 50
    /// entries per owner, one request in 16 sampled for the 10,000 hottest.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: "cache".into(),
            redis_url: None,
            redis: RedisTierConfig::default(),
            local_max_bytes: 64 << 20,
            local_ttl: Duration::from_secs(300),
            grace: Duration::from_secs(300),
            compress_at: 1024,
            max_entry_bytes: 16 << 20,
            min_entry_bytes: 0,
            strict: false,
            lease_ttl: Duration::from_secs(2),
            lease_wait: Duration::from_millis(250),
            max_pending: 10_000,
            subscription_timeout: Duration::from_secs(1),
            early_refresh_beta: 1.0,
            front_door_max_bytes: 8 << 20,
            per_owner_max_entries: 50,
            hot_sample_every: 16,
            hot_max_targets: 10_000,
            clock: Clock::system(),
            unsafe_stamp_at_store: false,
        }
    }
}

/// Why a cache could not be built: a malformed Redis URL, or one given to a build without the
/// `redis` feature. An unreachable server is not an error: it is retried in the background.
#[derive(Debug)]
pub struct BuildError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BuildError {
    #[cfg_attr(feature = "redis", allow(dead_code))]
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for BuildError {
    fn from(e: redis::RedisError) -> Self {
        Self { message: format!("invalid redis url: {e}"), source: Some(Box::new(e)) }
    }
}

/// Builds a [`Cache`]. The defaults ([`CacheConfig::new`]) need no Redis.
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    config: CacheConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.config.$name = $name;
                self
            }
        )*
    };
}

impl CacheBuilder {
    /// A cache for `namespace` (`{app}:{environment}`: the prefix of every key it writes).
    pub fn new(namespace: impl Into<String>) -> Self {
        Self { config: CacheConfig::new(namespace) }
    }

    /// Share entries and invalidations through Redis at `url` (`redis://host:port/db`,
    /// `rediss://…` for TLS with `#insecure` to skip certificate checks, or a comma-separated
    /// list of a cluster's nodes).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.config.redis_url = Some(url.into());
        self
    }

    /// The cache's name in `Cache-Status` headers.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Timeouts and circuit breaker of the Redis tier.
    pub fn redis_timeouts(mut self, timeouts: RedisTierConfig) -> Self {
        self.config.redis = timeouts;
        self
    }

    setters! {
        /// Upper bound of the in-process tier, in bytes.
        local_max_bytes: u64,
        /// Safety TTL of in-process entries.
        local_ttl: Duration,
        /// How long past its TTL an entry may still be served stale.
        grace: Duration,
        /// Bodies of at least this many bytes are stored compressed.
        compress_at: usize,
        /// Larger responses are served but not stored.
        max_entry_bytes: usize,
        /// Smaller responses are served but not stored (zero stores every size).
        min_entry_bytes: usize,
        /// Validate every in-process hit against Redis generations.
        strict: bool,
        /// Redis lease on a miss (zero disables).
        lease_ttl: Duration,
        /// How long an instance that lost the lease waits for the winner's entry.
        lease_wait: Duration,
        /// Invalidations remembered while Redis is unreachable.
        max_pending: usize,
        /// How long the invalidation subscription may hear nothing before it counts as lost.
        subscription_timeout: Duration,
        /// XFetch `beta` (0 disables early refresh).
        early_refresh_beta: f64,
        /// Bytes of routes the front door remembers (zero closes it).
        front_door_max_bytes: u64,
        /// Entries each owner keeps in each tier (zero: no bound).
        per_owner_max_entries: usize,
        /// One request in this many is counted in the record of hot requests (zero: none).
        hot_sample_every: u32,
        /// Requests the record of hot requests keeps.
        hot_max_targets: usize,
        /// The time entries are judged by (tests pass a [`Clock::mock`]).
        clock: Clock,
    }

    /// **Test only; never in production**: see [`CacheConfig::unsafe_stamp_at_store`].
    #[doc(hidden)]
    pub fn unsafe_stamp_at_store(mut self, on: bool) -> Self {
        self.config.unsafe_stamp_at_store = on;
        self
    }

    /// The settings as they stand.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Make the cache. Needs a Tokio runtime; only a malformed Redis URL is an error.
    pub async fn build(self) -> Result<Cache, BuildError> {
        Cache::new(self.config).await
    }
}
