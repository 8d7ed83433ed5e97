//! The in-process tier: decoded entries in a byte-bounded moka cache, and a table of the tag
//! generations this process knows to be current.
//!
//! A local entry is served only when every one of its tags is in the table with the generation
//! the entry was computed under. The table is fed by Redis reads, by this process's own bumps
//! and by the bumps other processes announce; it only ever moves forward (max-merge), so a
//! slow reader cannot put an old generation back.
//!
//! The table is only trustworthy while the announcements arrive. When they may not (the
//! subscription dropped, Redis is unreachable, an invalidation is waiting to be replayed), the
//! tier is *suspended*: the table and the entries are dropped and nothing is served or learnt
//! until it is resumed. Every suspension and resumption starts a new *epoch*; a reader captures
//! the epoch before it reads generations from Redis, and what it learnt is discarded if the
//! epoch moved meanwhile. Without that, a value read before an outage could be merged after
//! it and vouch for an entry that other processes invalidated while nobody was listening.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::stored::Stored;

/// Where a local lookup stands.
pub(crate) enum LocalLookup {
    /// Current entry.
    Valid(Arc<Stored>),
    /// An entry whose generations are not (known to be) current.
    Invalidated,
    /// No entry.
    Absent,
}

pub(crate) struct LocalTier {
    entries: moka::sync::Cache<String, Arc<Stored>, foldhash::fast::RandomState>,
    /// Changes of epoch and activity, serialised.
    state: Mutex<()>,
    /// `epoch * 2 + active`, written under `state`, read without it (one load per hit).
    status: AtomicU64,
    generations: RwLock<HashMap<String, u64, foldhash::fast::RandomState>>,
    /// In authority mode (no Redis at all) this table *is* the source of truth: unknown tags
    /// are at generation 0 and bumps happen here.
    authority: bool,
    /// Times the tier went from serving to suspended.
    suspensions: AtomicU64,
    /// Each owner's keys, least recently used first ([`crate::Policy::owner`]).
    owned: Mutex<HashMap<String, VecDeque<String>, foldhash::fast::RandomState>>,
    per_owner_max: usize,
}

/// Owners tracked before those whose entries are all gone are forgotten.
const OWNERS_TRACKED: usize = 10_000;

impl LocalTier {
    pub(crate) fn new(max_bytes: u64, safety_ttl: Duration, authority: bool, per_owner_max: usize) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &String, v: &Arc<Stored>| u32::try_from(v.weight()).unwrap_or(u32::MAX))
            .time_to_live(safety_ttl)
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self {
            entries,
            state: Mutex::new(()),
            status: AtomicU64::new(u64::from(authority)),
            generations: RwLock::new(HashMap::default()),
            authority,
            suspensions: AtomicU64::new(0),
            owned: Mutex::default(),
            per_owner_max,
        }
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, u64, foldhash::fast::RandomState>> {
        self.generations.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn table_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, u64, foldhash::fast::RandomState>> {
        self.generations.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch to quote when merging what is about to be read, or `None` while suspended.
    pub(crate) fn token(&self) -> Option<u64> {
        let status = self.status.load(Ordering::Acquire);
        (status & 1 == 1).then_some(status >> 1)
    }

    pub(crate) fn is_active(&self) -> bool {
        self.status.load(Ordering::Acquire) & 1 == 1
    }

    /// Stop trusting the table: drop it and every entry.
    pub(crate) fn suspend(&self) {
        if self.authority {
            return;
        }
        {
            let _serial = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let status = self.status.load(Ordering::Acquire);
            if status & 1 == 1 {
                self.suspensions.fetch_add(1, Ordering::Relaxed);
            }
            let epoch = status >> 1;
            // Inactive first, so no reader trusts the table while it is cleared.
            self.status.store((epoch + 1) << 1, Ordering::Release);
            self.table_mut().clear();
        }
        self.entries.invalidate_all();
    }

    /// Times the tier was suspended while serving.
    pub(crate) fn suspensions(&self) -> u64 {
        self.suspensions.load(Ordering::Relaxed)
    }

    /// Start trusting announcements again (they arrive from now on).
    pub(crate) fn resume(&self) {
        if self.is_active() {
            return;
        }
        let _serial = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let status = self.status.load(Ordering::Acquire);
        if status & 1 == 0 {
            self.table_mut().clear();
            self.status.store((((status >> 1) + 1) << 1) | 1, Ordering::Release);
        }
    }

    /// Drop every entry (flush), keeping the table.
    pub(crate) fn clear_entries(&self) {
        self.entries.invalidate_all();
    }

    /// Record generations known to be current at some point after `token` was taken.
    pub(crate) fn merge(&self, token: Option<u64>, tags: &[String], generations: &[u64]) {
        if token.is_none() {
            return;
        }
        let mut table = self.table_mut();
        // Checked under the table's lock: a suspension clears the table under it too, after
        // changing the status, so a merge either sees the change or is cleared by it.
        if token != self.token() {
            return;
        }
        for (tag, &g) in tags.iter().zip(generations) {
            let slot = table.entry(tag.clone()).or_insert(g);
            *slot = (*slot).max(g);
        }
    }

    /// Generations announced by a bump (ours or another process's): always current.
    pub(crate) fn learn<'a>(&self, bumps: impl IntoIterator<Item = (&'a str, u64)>) {
        let mut table = self.table_mut();
        if !self.is_active() {
            return;
        }
        for (tag, g) in bumps {
            let slot = table.entry(tag.to_owned()).or_insert(g);
            *slot = (*slot).max(g);
        }
    }

    /// Authority mode: bump `tags` here and return their new generations.
    pub(crate) fn bump(&self, tags: &[String]) -> Vec<u64> {
        let mut table = self.table_mut();
        tags.iter()
            .map(|t| {
                let slot = table.entry(t.clone()).or_insert(0);
                *slot += 1;
                *slot
            })
            .collect()
    }

    /// The generations of `tags` as this table knows them; `None` if any is unknown.
    pub(crate) fn generations(&self, tags: &[String]) -> Option<Vec<u64>> {
        let table = self.table();
        if !self.is_active() {
            return None;
        }
        tags.iter().map(|t| self.known(&table, t)).collect()
    }

    /// Each tag's generation as this table knows it (for an inspection).
    pub(crate) fn known_generations(&self, tags: &[String]) -> Vec<Option<u64>> {
        let table = self.table();
        tags.iter().map(|t| self.known(&table, t)).collect()
    }

    /// `tag`'s generation as far as `table` knows; in authority mode an unseen tag is at 0.
    fn known(&self, table: &HashMap<String, u64, foldhash::fast::RandomState>, tag: &str) -> Option<u64> {
        table.get(tag).copied().or(self.authority.then_some(0))
    }

    pub(crate) fn get(&self, key: &str, tags: &[String]) -> LocalLookup {
        let Some(stored) = self.entries.get(key) else { return LocalLookup::Absent };
        let stamped = &stored.entry.meta().generations;
        let table = self.table();
        let current = self.is_active()
            && stamped.len() == tags.len()
            && tags
                .iter()
                .zip(stamped)
                .all(|(tag, g)| table.get(tag).copied().or(if self.authority { Some(0) } else { None }) == Some(*g));
        drop(table);
        if current { LocalLookup::Valid(stored) } else { LocalLookup::Invalidated }
    }

    /// An entry without checking generations (strict mode checks them against Redis itself).
    pub(crate) fn get_unchecked(&self, key: &str) -> Option<Arc<Stored>> {
        self.entries.get(key)
    }

    /// Keep `stored` if the tier was active at `token` and still is.
    pub(crate) fn insert(&self, token: Option<u64>, key: String, stored: Arc<Stored>) {
        if token.is_some() && token == self.token() {
            self.entries.insert(key, stored);
        }
    }

    /// `owner` used `key` now (stored or served it): it goes last in the owner's order, and
    /// the owner's least recently used entries beyond the bound are dropped.
    pub(crate) fn touch_owned(&self, owner: &str, key: &str) {
        if self.per_owner_max == 0 {
            return;
        }
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        if owned.len() >= OWNERS_TRACKED && !owned.contains_key(owner) {
            owned.retain(|_, keys| keys.iter().any(|k| self.entries.contains_key(k)));
        }
        let keys = owned.entry(owner.to_owned()).or_default();
        if let Some(at) = keys.iter().position(|k| k == key) {
            keys.remove(at);
        }
        keys.push_back(key.to_owned());
        while keys.len() > self.per_owner_max {
            if let Some(oldest) = keys.pop_front() {
                self.entries.invalidate(&oldest);
            }
        }
    }

    /// Drop `key`; true if it was there.
    pub(crate) fn remove(&self, key: &str) -> bool {
        self.entries.remove(key).is_some()
    }

    /// (entries, weighted bytes), after running pending evictions.
    pub(crate) fn size(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}
