//! The record of hot requests: which requests (their targets as sent, the front door's
//! [`crate::RequestView::of`]) are asked for most, for warming the cache after it lost its
//! entries ([`crate::Cache::hottest`]).
//!
//! One request in [`crate::CacheConfig::hot_sample_every`] is counted, in process, in one
//! relaxed random draw and, for the sampled one, a short lock. Once a second (`hot_flush`) the counts go to
//! Redis as one script (a sorted set of the hottest targets, bounded, every score halved once
//! per [`HALF_LIFE`] so that yesterday's favourites fade), and into a copy of the ranking kept
//! in process, which serves when there is no Redis and outlives a Redis restart.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Every score is halved this often.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(600);

type Counts<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

pub(crate) struct Heat {
    pub(crate) sample_every: u32,
    pub(crate) keep: usize,
    /// Sampled since the last flush.
    pending: Mutex<Counts<u64>>,
    /// The ranking as this process knows it.
    known: Mutex<Counts<f64>>,
}

impl Heat {
    pub(crate) fn new(sample_every: u32, keep: usize) -> Self {
        Self { sample_every, keep, pending: Mutex::default(), known: Mutex::default() }
    }

    /// Count `target` if this request is one of the sampled.
    pub(crate) fn record(&self, target: &str) {
        if self.sample_every == 0 || fastrand::u32(..self.sample_every) != 0 {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pending.get_mut(target) {
            *n += 1;
        } else if pending.len() < self.keep {
            pending.insert(target.into(), 1);
        }
    }

    /// The counts sampled since the last call, each scaled to the requests it stands for; also
    /// added to the ranking kept in process.
    pub(crate) fn take(&self) -> Vec<(String, u64)> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let scale = u64::from(self.sample_every);
        let taken: Vec<(String, u64)> = pending.into_iter().map(|(t, n)| (t.into(), n * scale)).collect();
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        for (target, n) in &taken {
            *known.entry(target.as_str().into()).or_default() += *n as f64;
        }
        trim(&mut known, self.keep);
        taken
    }

    /// Replace the ranking kept in process by Redis's (the fleet's).
    pub(crate) fn adopt(&self, ranking: &[(String, f64)]) {
        if ranking.is_empty() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.clear();
        known.extend(ranking.iter().map(|(t, s)| (t.as_str().into(), *s)));
    }

    /// Halve the ranking kept in process.
    pub(crate) fn decay(&self) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.retain(|_, s| {
            *s /= 2.0;
            *s >= 1.0
        });
    }

    /// The `n` hottest targets this process knows, hottest first.
    pub(crate) fn local_hottest(&self, n: usize) -> Vec<(String, f64)> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(String, f64)> = known.iter().map(|(t, s)| (t.to_string(), *s)).collect();
        drop(known);
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// Keep the `keep` highest of `counts` once it holds twice that many.
fn trim(counts: &mut Counts<f64>, keep: usize) {
    if counts.len() <= keep.saturating_mul(2) {
        return;
    }
    let mut scores: Vec<f64> = counts.values().copied().collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    let floor = scores.get(keep.saturating_sub(1)).copied().unwrap_or(0.0);
    counts.retain(|_, s| *s >= floor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sampled_request_counts_for_the_requests_it_stands_for() {
        let heat = Heat::new(1, 10);
        for _ in 0..3 {
            heat.record("/a");
        }
        heat.record("/b");
        let mut taken = heat.take();
        taken.sort();
        assert_eq!(taken, [("/a".to_owned(), 3), ("/b".to_owned(), 1)]);
        assert!(heat.take().is_empty());
        assert_eq!(heat.local_hottest(1), [("/a".to_owned(), 3.0)]);
    }

    #[test]
    fn the_ranking_in_process_stays_bounded_and_fades() {
        let heat = Heat::new(1, 2);
        for (target, n) in [("/a", 8), ("/b", 4), ("/c", 2), ("/d", 1), ("/e", 1)] {
            for _ in 0..n {
                heat.record(target);
            }
        }
        heat.take();
        let hottest: Vec<String> = heat.local_hottest(10).into_iter().map(|(t, _)| t).collect();
        assert_eq!(hottest, ["/a", "/b"], "the two of the first two kept while pending");
        heat.decay();
        assert_eq!(heat.local_hottest(1), [("/a".to_owned(), 4.0)]);
    }

    #[test]
    fn sampling_counts_about_one_in_n() {
        let heat = Heat::new(16, 10);
        for _ in 0..16_000 {
            heat.record("/a");
        }
        let n = heat.take()[0].1;
        assert!((12_000..=20_000).contains(&n), "{n}");
    }
}
