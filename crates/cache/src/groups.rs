//! Figures per group of responses: a [`crate::Policy`] may name its group (an endpoint
//! family, say, with [`crate::Policy::group`]); the cache counts each group's outcomes and how
//! long its hits and misses took, in fixed buckets, for a dashboard or a metrics exporter.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// The group of a policy that names none.
pub const DEFAULT_GROUP: &str = "default";

/// Upper bounds of the latency buckets, in microseconds (the last bucket is unbounded).
const BOUNDS_MICROS: [u64; 17] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000,
];

/// A latency histogram: one relaxed increment per observation.
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_MICROS.partition_point(|&b| b < micros);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Latency {
        let mut cumulative = 0;
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, count)| {
                cumulative += count.load(Ordering::Relaxed);
                let le = BOUNDS_MICROS.get(i).map_or(f64::INFINITY, |&b| b as f64 / 1e6);
                (le, cumulative)
            })
            .collect();
        Latency { buckets, sum_secs: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6 }
    }
}

/// A latency histogram at one moment, Prometheus style: cumulative counts per upper bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// `(upper bound in seconds, observations at or under it)`, the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of all observations, in seconds.
    pub sum_secs: f64,
}

impl Latency {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |&(_, n)| n)
    }

    /// The `q` quantile (0..=1) in seconds, interpolated inside its bucket as Prometheus's
    /// `histogram_quantile` does; `None` without observations. In the unbounded bucket it is
    /// the highest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = (0.0, 0u64);
        for &(le, n) in &self.buckets {
            if n as f64 >= rank {
                if le.is_infinite() {
                    return Some(below.0);
                }
                let inside = (n - below.1) as f64;
                let share = if inside == 0.0 { 1.0 } else { (rank - below.1 as f64) / inside };
                return Some(below.0 + (le - below.0) * share);
            }
            below = (le, n);
        }
        Some(below.0)
    }
}

/// One group's counters.
#[derive(Default)]
pub(crate) struct GroupCounters {
    hits: AtomicU64,
    stale: AtomicU64,
    misses: AtomicU64,
    bypass: AtomicU64,
    hit_time: Histogram,
    miss_time: Histogram,
}

/// What one response was, for its group's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Served {
    Hit,
    Stale,
    Miss,
    Bypass,
}

impl GroupCounters {
    pub(crate) fn record(&self, served: Served, took: Duration) {
        let (counter, time) = match served {
            Served::Hit => (&self.hits, Some(&self.hit_time)),
            Served::Stale => (&self.stale, Some(&self.hit_time)),
            Served::Miss => (&self.misses, Some(&self.miss_time)),
            Served::Bypass => (&self.bypass, None),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(time) = time {
            time.observe(took);
        }
    }
}

/// One group's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GroupStats {
    /// The group's name ([`crate::Policy::group`]; [`DEFAULT_GROUP`] for policies naming none).
    pub name: String,
    /// Fresh hits, from either tier.
    pub hits: u64,
    /// Served stale inside grace.
    pub stale: u64,
    /// Computed by the origin.
    pub misses: u64,
    /// Asked to skip the cache.
    pub bypass: u64,
    /// How long hits (stale ones included) took inside the cache.
    pub hit_latency: Latency,
    /// How long misses took, the origin included.
    pub miss_latency: Latency,
}

impl GroupStats {
    /// Hits (stale included) over hits and misses, 0..=1; `None` before any.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.hits + self.stale;
        let all = hits + self.misses;
        (all > 0).then(|| hits as f64 / all as f64)
    }
}

/// Every group's counters, made on first use.
#[derive(Default)]
pub(crate) struct Groups {
    map: RwLock<HashMap<Cow<'static, str>, GroupCounters, foldhash::fast::RandomState>>,
}

impl Groups {
    /// Count one response of group `name` (made on first use), without taking a reference to
    /// its counters: no shared reference count moves on the hit path.
    pub(crate) fn record(&self, name: &str, served: Served, took: Duration) {
        if let Some(found) = self.map.read().unwrap_or_else(PoisonError::into_inner).get(name) {
            found.record(served, took);
            return;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(Cow::Owned(name.to_owned())).or_default().record(served, took);
    }

    /// Every group's figures, by name.
    pub(crate) fn snapshot(&self) -> Vec<GroupStats> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut groups: Vec<GroupStats> = map
            .iter()
            .map(|(name, c)| GroupStats {
                name: name.to_string(),
                hits: c.hits.load(Ordering::Relaxed),
                stale: c.stale.load(Ordering::Relaxed),
                misses: c.misses.load(Ordering::Relaxed),
                bypass: c.bypass.load(Ordering::Relaxed),
                hit_latency: c.hit_time.snapshot(),
                miss_latency: c.miss_time.snapshot(),
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_micros(80)); // the 50..100 µs bucket
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(3)); // the 2.5..5 ms bucket
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        let p50 = s.quantile(0.5).expect("observations");
        assert!((50e-6..=100e-6).contains(&p50), "{p50}");
        let p99 = s.quantile(0.99).expect("observations");
        assert!((2.5e-3..=5e-3).contains(&p99), "{p99}");
        assert_eq!(Latency::default().quantile(0.5), None);
    }

    #[test]
    fn an_observation_past_the_last_bound_counts_as_that_bound() {
        let h = Histogram::default();
        h.observe(Duration::from_secs(60));
        assert_eq!(h.snapshot().quantile(0.99), Some(5.0));
    }

    #[test]
    fn groups_are_made_once_and_listed_by_name() {
        let groups = Groups::default();
        groups.record("b", Served::Hit, Duration::from_micros(10));
        groups.record("a", Served::Miss, Duration::from_millis(10));
        groups.record("b", Served::Miss, Duration::from_millis(10));
        let s = groups.snapshot();
        assert_eq!(s.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((s[1].hits, s[1].misses, s[1].hit_ratio()), (1, 1, Some(0.5)));
    }
}
