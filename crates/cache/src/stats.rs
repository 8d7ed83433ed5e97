//! The cache's counters, kept in one place: relaxed atomics bumped on the request path and read
//! as a [`Snapshot`] (for an admin endpoint or a metrics exporter).

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// The counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Snapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl Snapshot {
            /// `(name, value)` pairs, for exporters.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Fresh hits served by the in-process tier.
    local_hits,
    /// Of the in-process hits, those answered at the front door (before the application ran).
    front_door_hits,
    /// Fresh hits served by Redis.
    redis_hits,
    /// Requests computed by the origin because no servable entry was found.
    misses,
    /// Entries served past their TTL inside grace.
    stale,
    /// Requests that asked to skip the cache.
    bypass,
    /// Misses that joined a computation already running in this process.
    coalesced,
    /// Misses that waited for another instance's computation (Redis lease) and used its result.
    lease_coalesced,
    /// Origin computations run (misses, bypasses and refreshes; coalesced callers excluded).
    origin_runs,
    /// Background refreshes started (stale-while-revalidate and early refresh).
    refreshes,
    /// Entries written to the tiers.
    stores,
    /// Entries that could not be written to Redis.
    store_errors,
    /// Entries not stored because they exceed the size limit.
    skips,
    /// Corrupt or foreign values found (and deleted).
    corrupt,
    /// Origin computations that failed.
    origin_errors,
    /// Tags invalidated.
    invalidations,
    /// Invalidations that could not reach Redis and wait to be replayed.
    pending_invalidations,
    /// Pending invalidations replayed after Redis came back.
    replayed_invalidations,
    /// Redis restarts (or first starts) detected.
    redis_restarts,
    /// Reconnections after an outage in which announcements may have been missed (each
    /// invalidates everything stored before it).
    outage_flushes,
    /// Reconnections after an outage through which the subscription heard every change (no
    /// flush needed).
    resyncs_without_flush,
    /// Times the in-process tier was suspended while serving (filled in from the tier).
    local_suspensions,
    /// Times the Redis circuit breaker opened (filled in from the tier).
    breaker_openings,
    /// Times the invalidation subscription was lost (closed, or silent for too long).
    subscription_losses,
    /// Gaps in the numbered sequence of announcements (a missed bump).
    sequence_gaps,
    /// Times every entry was invalidated at once, as this instance saw it: a flush of
    /// everything (its own or another instance's), a Redis restart, an outage flush. What a
    /// warmer waits for ([`crate::Cache::hottest`]).
    everything_invalidated,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Snapshot {
    /// Fresh hits over all lookups that were not bypassed, in percent (0 when there were none).
    pub fn hit_rate_percent(&self) -> f64 {
        let hits = self.local_hits + self.redis_hits + self.stale;
        let total = hits + self.misses;
        if total == 0 { 0.0 } else { (hits as f64 * 10_000.0 / total as f64).round() / 100.0 }
    }
}
