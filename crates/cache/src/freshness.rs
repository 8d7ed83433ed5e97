//! Pure freshness decisions: given an entry's timing and the time now, may it be served, and
//! should a refresh start? No I/O and no clock reads, so every branch is testable.
//!
//! * **Fresh**: younger than its TTL. Probabilistic early refresh (XFetch, Vattani et al.,
//!   VLDB 2015) asks for a background refresh when `now - delta * beta * ln(r) >= expiry`,
//!   with `delta` the computation time and `r` uniform in (0, 1]: hot keys are refreshed
//!   shortly before they expire, expensive ones earlier, and they never all expire at once.
//! * **Stale**: past the TTL but inside the grace window: may be served once while one
//!   refresh runs (stale-while-revalidate), or when the origin fails (stale-if-error).
//! * **Expired**: past TTL + grace: a miss.
//!
//! Staleness is about time only. An entry whose generations no longer match is invalid
//! whatever this module says; that check belongs to the tiers.
//!
//! ```
//! use trigapi_cache::freshness::{Freshness, Timing, assess};
//! let t = Timing { stored_at_millis: 0, ttl_secs: 60, grace_secs: 30, compute_micros: 1_000 };
//! assert!(matches!(assess(&t, 10_000, 1.0, 1.0), Freshness::Fresh { refresh_early: false, .. }));
//! assert!(matches!(assess(&t, 70_000, 1.0, 1.0), Freshness::Stale { .. }));
//! assert_eq!(assess(&t, 95_000, 1.0, 1.0), Freshness::Expired);
//! ```

use crate::envelope::Entry;

/// The timing fields of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Unix ms when stored.
    pub stored_at_millis: u64,
    /// Seconds fresh.
    pub ttl_secs: u32,
    /// Seconds servable as stale after the TTL.
    pub grace_secs: u32,
    /// Origin computation time.
    pub compute_micros: u32,
}

impl From<&Entry> for Timing {
    fn from(e: &Entry) -> Self {
        Self {
            stored_at_millis: e.stored_at_millis(),
            ttl_secs: e.meta().ttl_secs,
            grace_secs: e.meta().grace_secs,
            compute_micros: e.meta().compute_micros,
        }
    }
}

/// The verdict for one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it. `remaining_secs` is the TTL left (rounded up), `age_secs` the time since store.
    Fresh {
        /// Whole seconds of TTL left, rounded up.
        remaining_secs: u64,
        /// Whole seconds since it was stored.
        age_secs: u64,
        /// Start one background refresh now (XFetch).
        refresh_early: bool,
    },
    /// Past its TTL, inside grace: serve while refreshing, or when the origin fails.
    Stale {
        /// Whole seconds since it was stored.
        age_secs: u64,
    },
    /// Past TTL and grace: a miss.
    Expired,
}

/// Decide for `timing` at `now_millis`. `r` is a uniform random number in (0, 1]
/// (1 disables early refresh); `beta` scales it (1.0 is the paper's default).
pub fn assess(timing: &Timing, now_millis: u64, r: f64, beta: f64) -> Freshness {
    let age_millis = now_millis.saturating_sub(timing.stored_at_millis);
    let ttl_millis = u64::from(timing.ttl_secs) * 1000;
    let grace_millis = u64::from(timing.grace_secs) * 1000;
    let age_secs = age_millis / 1000;
    if age_millis < ttl_millis {
        let remaining = ttl_millis - age_millis;
        let delta_millis = f64::from(timing.compute_micros) / 1000.0;
        let gap = -delta_millis * beta * r.clamp(f64::MIN_POSITIVE, 1.0).ln();
        Freshness::Fresh { remaining_secs: remaining.div_ceil(1000), age_secs, refresh_early: gap >= remaining as f64 }
    } else if age_millis < ttl_millis + grace_millis {
        Freshness::Stale { age_secs }
    } else {
        Freshness::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing { stored_at_millis: 1_000_000, ttl_secs: 100, grace_secs: 20, compute_micros: 50_000 };

    #[test]
    fn boundaries_are_exact() {
        let at = |ms| assess(&T, T.stored_at_millis + ms, 1.0, 1.0);
        assert_eq!(at(0), Freshness::Fresh { remaining_secs: 100, age_secs: 0, refresh_early: false });
        assert_eq!(at(99_001), Freshness::Fresh { remaining_secs: 1, age_secs: 99, refresh_early: false });
        assert_eq!(at(100_000), Freshness::Stale { age_secs: 100 });
        assert_eq!(at(119_999), Freshness::Stale { age_secs: 119 });
        assert_eq!(at(120_000), Freshness::Expired);
    }

    #[test]
    fn a_clock_behind_the_store_time_counts_as_just_stored() {
        assert!(matches!(assess(&T, 0, 1.0, 1.0), Freshness::Fresh { remaining_secs: 100, age_secs: 0, .. }));
    }

    #[test]
    fn early_refresh_grows_as_expiry_nears() {
        // delta = 50 ms; with r = e^-10, the gap is 500 ms: refresh only in the last 500 ms.
        let r = (-10.0f64).exp();
        let at = |ms| match assess(&T, T.stored_at_millis + ms, r, 1.0) {
            Freshness::Fresh { refresh_early, .. } => refresh_early,
            other => panic!("{other:?}"),
        };
        assert!(!at(99_000));
        assert!(at(99_600));
        // r = 1 never refreshes early. The window is bounded: r is clamped to the smallest
        // positive float, so -ln(r) <= 708 and early refresh starts at most 708 * delta
        // (35.4 s for 50 ms) before expiry.
        assert!(matches!(
            assess(&T, T.stored_at_millis + 99_990, 1.0, 1.0),
            Freshness::Fresh { refresh_early: false, .. }
        ));
        let early =
            |ms| matches!(assess(&T, T.stored_at_millis + ms, 0.0, 1.0), Freshness::Fresh { refresh_early: true, .. });
        assert!(!early(60_000));
        assert!(early(65_000));
    }

    #[test]
    fn no_grace_means_expired_at_the_ttl() {
        let t = Timing { grace_secs: 0, ..T };
        assert_eq!(assess(&t, t.stored_at_millis + 100_000, 1.0, 1.0), Freshness::Expired);
    }
}
