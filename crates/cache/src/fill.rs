//! The miss path: one computation per key and generations (single flight), a lease so that
//! about one instance computes a cold key, and storing the result in both tiers, stamped with
//! the generations read *before* computing.

use std::sync::Arc;
use std::time::Instant;

use crate::cache::{Cache, Filled, FlightKey, MissContext, erase, unerase};
use crate::envelope::{Entry, EntryMeta};
use crate::events;
use crate::flight::{Aborted, Shared};
use crate::http::Outcome;
use crate::lease::LeaseOutcome;
use crate::policy::{Origin, OriginError, Policy};
use crate::remote::Remote;
use crate::stats::Counters;
use crate::store::Store;
use crate::stored::Stored;

impl Cache {
    pub(crate) async fn bypass<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        remote: Option<&Remote>,
        origin: F,
    ) -> Result<(Outcome, Arc<Stored>), Arc<E>>
    where
        F: Origin<E>,
        E: OriginError,
    {
        Counters::add(&self.inner.counters.bypass, 1);
        tracing::debug!(event = events::CACHE_BYPASS, key = %policy.key, reason = "request cache-control");
        let token = self.inner.local.token();
        let generations = match remote {
            Some(remote) => remote.generations.read(tags).await.ok(),
            None => self.inner.local.generations(tags),
        };
        if let Some(g) = &generations {
            self.inner.local.merge(token, tags, g);
        }
        let ctx = MissContext { generations, token, replaced: false };
        let (stored, was_stored) = self.clone().fill(policy.clone(), tags.to_vec(), ctx, origin).await?;
        Ok((Outcome::Bypass { stored: was_stored }, stored))
    }

    pub(crate) async fn fill_shared<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        ctx: MissContext,
        sequence: u64,
        origin: F,
    ) -> Result<(Arc<Stored>, bool, bool), Arc<E>>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let (policy, tags) = (policy.clone(), tags.to_vec());
        if ctx.generations.is_none() && self.inner.config.strict && self.inner.remote.is_some() {
            // Redis is unreachable, so other instances' writes cannot be known: a computation
            // already running may predate one. Strict mode does not share it.
            let (stored, was_stored) = self.clone().fill(policy, tags, ctx, origin).await?;
            return Ok((stored, was_stored, false));
        }
        match self.in_flight(policy, tags, ctx, sequence, origin).await {
            Ok(shared) => {
                if shared.coalesced {
                    Counters::add(&self.inner.counters.coalesced, 1);
                }
                let (stored, was_stored) = shared.value.map_err(unerase::<E>)?;
                Ok((stored, was_stored, shared.coalesced))
            }
            // The computation panicked: nothing to share; the caller maps it to its 500.
            Err(aborted) => Err(Arc::new(E::from(aborted))),
        }
    }

    pub(crate) fn spawn_refresh<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        ctx: MissContext,
        sequence: u64,
        origin: F,
    ) where
        F: Origin<E>,
        E: OriginError,
    {
        Counters::add(&self.inner.counters.refreshes, 1);
        let this = self.clone();
        let (policy, tags) = (policy.clone(), tags.to_vec());
        tokio::spawn(async move {
            let _ = this.in_flight(policy, tags, ctx, sequence, origin).await;
        });
    }

    /// Compute in the flight for this key, generations and invalidation count (joining the one
    /// under way, if any).
    async fn in_flight<F, E>(
        &self,
        policy: Policy,
        tags: Vec<String>,
        ctx: MissContext,
        sequence: u64,
        origin: F,
    ) -> Result<Shared<Filled>, Aborted>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let key = FlightKey::new::<E>(&policy.key, &ctx, sequence);
        let worker = self.clone();
        let fill = move || async move { worker.fill(policy, tags, ctx, origin).await.map_err(erase) };
        self.inner.flights.run(key, fill).await
    }

    /// Run the origin and store its result when the generations it was computed under are known.
    async fn fill<F, E>(
        self,
        policy: Policy,
        tags: Vec<String>,
        ctx: MissContext,
        origin: F,
    ) -> Result<(Arc<Stored>, bool), Arc<E>>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let remote = self.inner.remote.as_ref();
        let lease = match (remote, &ctx.generations) {
            (Some(remote), Some(generations)) if !self.inner.config.lease_ttl.is_zero() => {
                match self.acquire_lease(remote, &policy.key, generations, &tags).await {
                    LeaseOutcome::Won(lease) => Some(lease),
                    LeaseOutcome::Lost(stored) => return Ok((stored, false)),
                    LeaseOutcome::Unavailable => None,
                }
            }
            _ => None,
        };
        let started = Instant::now();
        Counters::add(&self.inner.counters.origin_runs, 1);
        let rendered = match origin().await {
            Ok(r) => r,
            Err(e) => {
                Counters::add(&self.inner.counters.origin_errors, 1);
                self.release_lease(lease.as_deref()).await;
                return Err(Arc::new(e));
            }
        };
        let compute_micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let config = &self.inner.config;
        let mut ctx = ctx;
        if config.unsafe_stamp_at_store && ctx.generations.is_some() {
            ctx.generations = match remote {
                Some(remote) => remote.generations.read(&tags).await.ok(),
                None => self.inner.local.generations(&tags),
            };
        }
        let headers = rendered.headers.iter().filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())));
        let meta = EntryMeta {
            status: rendered.status.as_u16(),
            content_type: rendered.content_type.to_str().unwrap_or_default().to_owned(),
            headers: headers.collect(),
            ttl_secs: u32::try_from(policy.ttl.as_secs()).unwrap_or(u32::MAX),
            grace_secs: u32::try_from(config.grace.as_secs()).unwrap_or(u32::MAX),
            compute_micros,
            generations: ctx.generations.clone().unwrap_or_default(),
        };
        let entry = Entry::new(meta, &rendered.body, config.clock.now_millis(), config.compress_at);
        let stored = Arc::new(Stored::fresh(entry, rendered.body, &policy.key));
        let Some(_) = ctx.generations else { return Ok((stored, false)) };
        let size = stored.identity.len();
        let (min, max) = (
            policy.min_entry_bytes.unwrap_or(config.min_entry_bytes),
            policy.max_entry_bytes.unwrap_or(config.max_entry_bytes),
        );
        if size > max || size < min {
            self.release_lease(lease.as_deref()).await;
            Counters::add(&self.inner.counters.skips, 1);
            let reason = if size > max { "entry over the size limit" } else { "entry under the size floor" };
            tracing::info!(event = events::CACHE_SKIP, key = %policy.key, reason, size, min, max);
            return Ok((stored, false));
        }
        if let Some(remote) = remote {
            let expire = policy.ttl.as_secs() + config.grace.as_secs();
            let written = remote.store().put(&policy.key, stored.entry.encode(), expire, lease.as_deref()).await;
            if let Err(error) = written {
                self.release_lease(lease.as_deref()).await;
                Counters::add(&self.inner.counters.store_errors, 1);
                tracing::warn!(event = events::CACHE_STORE_ERROR, key = %policy.key, error = %error);
                return Ok((stored, false));
            }
        }
        self.inner.local.insert(ctx.token, policy.key.clone(), Arc::clone(&stored));
        self.own(&policy, remote).await;
        Counters::add(&self.inner.counters.stores, 1);
        tracing::debug!(event = events::CACHE_MISS_STORED, key = %policy.key, ttl = policy.ttl.as_secs());
        Ok((stored, true))
    }

    /// Count a use of an owner's entry ([`Policy::owner`]) in both tiers, and delete the
    /// entries it pushes past the owner's bound. A hit waits for it too (one round trip, for
    /// an owner's entries only): the order in Redis is then the order of use, as it is here.
    pub(crate) async fn own(&self, policy: &Policy, remote: Option<&Remote>) {
        let Some(owner) = &policy.owner else { return };
        let max = self.inner.config.per_owner_max_entries;
        if max == 0 {
            return;
        }
        self.inner.local.touch_owned(owner, &policy.key);
        let Some(remote) = remote else { return };
        let index = format!("{}:owner:{owner}", self.inner.config.namespace);
        let ttl = policy.ttl.as_secs() + self.inner.config.grace.as_secs();
        // Ordered by time, and among uses in the same millisecond by this process's count.
        let tick = self.inner.owned_uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
        let used = self.inner.config.clock.now_millis() * 1000 + tick;
        let Ok(dropped) = remote.store().own(&index, &policy.key, max, used, ttl).await else { return };
        for key in dropped {
            let _ = remote.store().delete(&key).await;
        }
    }
}
