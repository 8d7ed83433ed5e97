//! The shared tier's state as one instance sees it: whether Redis may be read now, the
//! invalidations it still owes Redis, and whether the in-process tier may serve.
//!
//! Redis may be read only when it is reachable, has been checked for a restart since the last
//! reconnect, and nothing waits to be replayed ([`Remote::ready`]). The in-process tier serves
//! only while the subscription hears every announcement and nothing waits to be replayed
//! ([`Remote::gate_local`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::config::CacheConfig;
use crate::events;
use crate::generations::{GLOBAL, Generations};
use crate::hearing::Hearing;
use crate::local::LocalTier;
use crate::pending::Pending;
use crate::stats::Counters;
use crate::store::Store;

/// One instance's view of Redis.
pub(crate) struct Remote<S: Store = crate::shared::SharedStore> {
    pub(crate) generations: Generations<S>,
    /// Mirrors "`pending` is not empty", so the request path needs no lock to know.
    has_pending: AtomicBool,
    /// The store epoch the generations were last checked at (restart check, replay).
    synced_epoch: AtomicU64,
    pending: Mutex<Pending>,
    sync: tokio::sync::Mutex<()>,
    /// The subscription is up (set by the subscriber task).
    pub(crate) subscribed: AtomicBool,
    /// What the subscription heard, for deciding whether an outage may have hidden a bump.
    pub(crate) hearing: Hearing,
    /// `maxmemory-policy`, read at each (re)connection.
    eviction_policy: Mutex<Option<String>>,
    max_pending: usize,
    subscription_timeout: Duration,
    strict: bool,
}

impl<S: Store> Remote<S> {
    pub(crate) fn new(generations: Generations<S>, config: &CacheConfig) -> Self {
        Self {
            generations,
            has_pending: AtomicBool::new(false),
            synced_epoch: AtomicU64::new(u64::MAX),
            pending: Mutex::new(Pending::default()),
            sync: tokio::sync::Mutex::new(()),
            subscribed: AtomicBool::new(false),
            hearing: Hearing::new(),
            eviction_policy: Mutex::new(None),
            max_pending: config.max_pending,
            subscription_timeout: config.subscription_timeout,
            strict: config.strict,
        }
    }

    pub(crate) fn store(&self) -> &S {
        self.generations.store()
    }

    /// Checked for a restart since connection `epoch` was installed, with nothing to replay.
    pub(crate) fn in_sync(&self, epoch: u64) -> bool {
        self.synced_epoch.load(Ordering::Acquire) == epoch && !self.has_pending.load(Ordering::Acquire)
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Invalidations waiting for Redis.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending().tags.len()
    }

    /// `maxmemory-policy` as read at the last (re)connection.
    pub(crate) fn eviction_policy(&self) -> Option<String> {
        self.eviction_policy.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether Redis may be used now: reachable, checked for a restart since the last
    /// reconnect, and with no invalidation waiting to be replayed. The first caller after a
    /// reconnect (a request, or the heartbeat) does the check and the replay; callers arriving
    /// meanwhile wait for it for one command timeout, then do without Redis.
    pub(crate) async fn ready(&self, local: &LocalTier, counters: &Counters) -> bool {
        let store = self.store();
        if !store.is_available() {
            return false;
        }
        let epoch = store.epoch();
        if self.in_sync(epoch) {
            return true;
        }
        let _guard = match self.sync.try_lock() {
            Ok(guard) => guard,
            Err(_) => match tokio::time::timeout(store.current_timeout(), self.sync.lock()).await {
                Ok(guard) => guard,
                Err(_) => return false,
            },
        };
        if self.in_sync(epoch) {
            // The caller that held the lock finished the check and the replay.
            return true;
        }
        if self.synced_epoch.load(Ordering::Acquire) != epoch && self.resync(local, counters).await.is_none() {
            return false;
        }
        if self.replay_pending(counters).await.is_none() {
            return false;
        }
        self.synced_epoch.store(epoch, Ordering::Release);
        self.hearing.healthy();
        true
    }

    /// After a (re)connection: detect a restart of Redis, or decide whether the outage just
    /// left may have hidden another instance's bump; flush everything when so.
    async fn resync(&self, local: &LocalTier, counters: &Counters) -> Option<()> {
        let first = self.synced_epoch.load(Ordering::Acquire) == u64::MAX;
        let restarted = self.generations.check_restart().await.ok()?;
        let mut flushed = restarted;
        if restarted {
            Counters::add(&counters.redis_restarts, 1);
            if !first {
                Counters::add(&counters.everything_invalidated, 1);
            }
            if first {
                // This process's first connection: nothing of its own to lose.
                tracing::info!(
                    event = events::CACHE_REDIS_RESTART_DETECTED,
                    "redis generations (re)initialised for a server run not seen before"
                );
            } else {
                tracing::warn!(
                    event = events::CACHE_REDIS_RESTART_DETECTED,
                    "redis restarted; every entry stored before is invalid"
                );
            }
        } else if !first {
            // Back after an outage. If the subscription may have missed an announcement (it
            // was lost, skipped a number, or heard nothing for long: Redis itself was down or
            // frozen), other instances may have completed writes they could not announce:
            // nothing stored before can be trusted. If it heard every change throughout, only
            // this instance's own commands were slow: nothing was missed.
            let subscribed = self.subscribed.load(Ordering::Acquire);
            if !subscribed || self.hearing.may_have_missed(self.subscription_timeout) {
                local.suspend();
                self.generations.bump(&[GLOBAL]).await.ok()?;
                flushed = true;
                Counters::add(&counters.outage_flushes, 1);
                Counters::add(&counters.everything_invalidated, 1);
                tracing::warn!(
                    event = events::CACHE_OUTAGE_FLUSH,
                    "redis back after an outage; entries stored before it invalidated"
                );
            } else {
                Counters::add(&counters.resyncs_without_flush, 1);
                tracing::info!(
                    event = events::CACHE_REDIS_RESYNCED,
                    "redis answering again; the subscription heard every change meanwhile, nothing invalidated"
                );
            }
        }
        if flushed {
            local.suspend();
        }
        self.check_eviction_policy().await;
        Some(())
    }

    /// Warn when Redis may evict keys without a TTL: generation counters never expire, and one
    /// evicted and recreated at 0 could make an old entry look current again.
    async fn check_eviction_policy(&self) {
        let policy = self.generations.eviction_policy().await;
        *self.eviction_policy.lock().unwrap_or_else(PoisonError::into_inner) = policy.clone();
        if let Some(policy) = policy
            && may_evict_generations(&policy)
        {
            tracing::warn!(
                event = events::CACHE_EVICTION_UNSAFE,
                policy = %policy,
                "redis may evict generation counters (maxmemory-policy allkeys-*); use volatile-lru, volatile-lfu or noeviction"
            );
        }
    }

    /// Replay the invalidations Redis missed; `None` if it failed again.
    async fn replay_pending(&self, counters: &Counters) -> Option<()> {
        let (tags, overflowed, version) = self.pending().snapshot();
        if tags.is_empty() && !overflowed {
            return Some(());
        }
        let to_bump = if overflowed { vec![GLOBAL.to_owned()] } else { tags };
        self.generations.bump(&to_bump).await.ok()?;
        let mut p = self.pending();
        p.replayed(version);
        self.has_pending.store(!p.is_empty(), Ordering::Release);
        drop(p);
        Counters::add(&counters.replayed_invalidations, to_bump.len() as u64);
        tracing::info!(event = events::CACHE_INVALIDATION_REPLAYED, tags = ?to_bump, overflowed);
        Some(())
    }

    /// Let the in-process tier serve only while its table can be trusted.
    ///
    /// That is while the subscription hears every announcement and no invalidation of this
    /// instance waits for replay. A slow Redis (an open breaker, a resync under way) does not
    /// suspend it: the announcements still arrive. Strict mode checks every hit against Redis,
    /// so it needs Redis ready.
    pub(crate) fn gate_local(&self, local: &LocalTier, ready: bool) {
        let allowed = self.subscribed.load(Ordering::Acquire)
            && !self.has_pending.load(Ordering::Acquire)
            && (ready || !self.strict);
        if allowed {
            local.resume();
        } else if local.is_active() {
            local.suspend();
        }
    }

    /// Bump `tags` in Redis, or remember them for replay when it cannot be reached (and stop
    /// serving from process meanwhile).
    pub(crate) async fn invalidate(&self, tags: &[String], local: &LocalTier, counters: &Counters) {
        let bumped = if self.ready(local, counters).await { self.generations.bump(tags).await.ok() } else { None };
        match bumped {
            Some(generations) => local.learn(tags.iter().map(String::as_str).zip(generations)),
            None => self.remember(tags, local, counters),
        }
    }

    fn remember(&self, tags: &[String], local: &LocalTier, counters: &Counters) {
        {
            let mut p = self.pending();
            p.remember(tags, self.max_pending);
            self.has_pending.store(true, Ordering::Release);
        }
        local.suspend();
        Counters::add(&counters.pending_invalidations, tags.len() as u64);
        tracing::warn!(event = events::CACHE_INVALIDATION_PENDING, tags = ?tags,
            "redis unreachable; invalidation kept for replay, redis reads suspended");
    }
}

/// Whether Redis's `maxmemory-policy` may evict keys that have no TTL.
pub(crate) fn may_evict_generations(policy: &str) -> bool {
    policy.starts_with("allkeys")
}
