//! Leases: about one instance computes a cold key, the others wait briefly for its entry.
//!
//! A lease is taken per key *and generations*: a request that saw a newer write never waits
//! for a computation that started before it. The holder releases it in the round trip that
//! stores the entry, or at once when it will store nothing; a lease outlives a crashed holder
//! only by its TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::freshness::Freshness;
use crate::generations::Lookup;
use crate::remote::Remote;
use crate::stats::Counters;
use crate::store::Store;
use crate::stored::Stored;

pub(crate) enum LeaseOutcome {
    /// This instance computes; release the lease named here.
    Won(String),
    /// Another instance stored the entry meanwhile.
    Lost(Arc<Stored>),
    /// No lease could be had (Redis failed, or the holder gave up): compute without one.
    Unavailable,
}

/// The lease on computing `key` under `generations`. The key in braces is a hash tag: on a
/// cluster the lease lives in the entry's slot, so releasing it goes with the store.
fn lease_key(key: &str, generations: &[u64]) -> String {
    let generations: Vec<String> = generations.iter().map(u64::to_string).collect();
    format!("{{{key}}}:lease:{}", generations.join("."))
}

impl Cache {
    /// Take the lease on computing `key` under `generations`, or wait (briefly) for the
    /// instance holding it.
    pub(crate) async fn acquire_lease(
        &self,
        remote: &Remote,
        key: &str,
        generations: &[u64],
        tags: &[String],
    ) -> LeaseOutcome {
        let store = remote.store();
        let lease = lease_key(key, generations);
        match store.try_lock(&lease, self.inner.config.lease_ttl).await {
            Ok(true) => return LeaseOutcome::Won(lease),
            Ok(false) => {}
            Err(_) => return LeaseOutcome::Unavailable,
        }
        // Another instance is computing it: wait for its entry while its lease lasts, looking
        // again after 5, 10, 20, then every 40 ms (jittered), not hammering Redis meanwhile.
        let deadline = Instant::now() + self.inner.config.lease_wait;
        let mut pause = Duration::from_millis(5);
        while Instant::now() < deadline {
            let jitter = Duration::from_micros(fastrand::u64(..=pause.as_micros() as u64 / 4));
            tokio::time::sleep((pause + jitter).min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(40));
            if let Some(stored) = self.current_entry(remote, key, tags).await {
                return LeaseOutcome::Lost(stored);
            }
            if !matches!(store.exists(&lease).await, Ok(true)) {
                // Released: its holder stored the entry (in the same round trip) or failed.
                if let Some(stored) = self.current_entry(remote, key, tags).await {
                    return LeaseOutcome::Lost(stored);
                }
                break;
            }
        }
        LeaseOutcome::Unavailable
    }

    /// Give up a lease whose entry will not be stored, so waiters stop waiting for it.
    pub(crate) async fn release_lease(&self, lease: Option<&str>) {
        if let (Some(remote), Some(lease)) = (&self.inner.remote, lease) {
            let _ = remote.store().delete(lease).await;
        }
    }

    /// The entry under `key` if it is current and fresh (what a lease waiter is waiting for).
    async fn current_entry(&self, remote: &Remote, key: &str, tags: &[String]) -> Option<Arc<Stored>> {
        let (Lookup::Current(entry), _) = remote.generations.lookup(key, tags).await.ok()? else { return None };
        let stored = Stored::new(entry, key).ok()?;
        matches!(self.freshness(&stored), Freshness::Fresh { .. }).then(|| {
            Counters::add(&self.inner.counters.lease_coalesced, 1);
            Arc::new(stored)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lease_lives_in_its_entrys_slot_and_names_its_generations() {
        assert_eq!(super::lease_key("ns:item:1:v1", &[3, 0, 7]), "{ns:item:1:v1}:lease:3.0.7");
    }
}
