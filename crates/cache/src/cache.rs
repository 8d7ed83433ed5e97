//! [`Cache`]: the serve path. The two tiers, single flight, leases and freshness put together
//! behind one call, [`Cache::serve`]; [`Cache::invalidate`] on the write path.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use crate::config::{BuildError, CacheConfig};
use crate::events;
use crate::flight::{Aborted, SingleFlight};
use crate::freshness::{Freshness, Timing, assess};
use crate::front_door::{self, FrontDoor};
use crate::generations::{GLOBAL, Generations, Lookup};
use crate::groups::{Groups, Served};
use crate::hot::Heat;
use crate::http::{Outcome, Render, RequestView, render};
use crate::local::{LocalLookup, LocalTier};
use crate::policy::{Origin, OriginError, Policy, Rendered};
use crate::remote::Remote;
use crate::stats::Counters;
use crate::store::Store;
use crate::stored::Stored;

/// The cache. Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use trigapi_cache::{Aborted, CacheBuilder, Policy, Rendered, RequestView, key::KeyBuilder};
///
/// #[derive(Debug)]
/// struct AppError; // the application's error type, built from `Aborted` (a panicked origin)
/// impl From<Aborted> for AppError {
///     fn from(_: Aborted) -> Self { AppError }
/// }
///
/// let cache = CacheBuilder::new("myapp:production").redis("redis://127.0.0.1:6379").build().await?;
/// let key = KeyBuilder::new("myapp", "production", "item").id(7);
/// let tags = key.tags(); // ["item", "item:7"]
/// let policy = Policy::new(key.build("v1"), tags, Duration::from_secs(3600));
/// let request = RequestView::new(&http::HeaderMap::new()); // from the request's headers
/// let response = cache
///     .serve(&request, policy, || async { Ok::<_, AppError>(Rendered::json(r#"{"id":7}"#)) })
///     .await
///     .map_err(|_| "origin failed")?;
/// assert_eq!(response.headers()["x-cache-status"], "MISS");
/// // After a write that changed item 7 has committed:
/// cache.invalidate(&["item:7"]).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("namespace", &self.inner.config.namespace).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) config: CacheConfig,
    enabled: bool,
    pub(crate) local: LocalTier,
    pub(crate) remote: Option<Remote>,
    /// Requests as sent → the policies of their entries (see [`Cache::front_door`]).
    pub(crate) front: FrontDoor,
    /// The computations under way, shared by the requests that need them.
    pub(crate) flights: SingleFlight<FlightKey, Filled>,
    pub(crate) counters: Counters,
    /// Figures per group of responses ([`Policy::group`]).
    pub(crate) groups: Groups,
    /// The record of hot requests ([`Cache::hottest`]).
    pub(crate) heat: Heat,
    /// Uses of owners' entries counted here (to order those of one millisecond).
    pub(crate) owned_uses: AtomicU64,
    /// The latest tags invalidated, newest last ([`Cache::latest_invalidations`]).
    pub(crate) latest: std::sync::Mutex<std::collections::VecDeque<(u64, String)>>,
    /// Bumped by every invalidation: flights started before it are never joined after it.
    pub(crate) sequence: AtomicU64,
    /// The tags of each invalidation this instance makes ([`Cache::subscribe_invalidations`]).
    announced: tokio::sync::broadcast::Sender<Arc<[String]>>,
    /// This instance among those sharing Redis, for the roles it holds ([`Cache::hold`]).
    instance: String,
}

/// Invalidations a subscriber may fall behind by before it misses some
/// ([`Cache::subscribe_invalidations`]).
const ANNOUNCED: usize = 1024;

/// One computation: a key under the generations (and invalidation count) it was started at,
/// for one origin error type (the error is shared type-erased and recovered by this type).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct FlightKey {
    key: String,
    generations: Option<Vec<u64>>,
    sequence: u64,
    error: TypeId,
}

impl FlightKey {
    pub(crate) fn new<E: 'static>(key: &str, ctx: &MissContext, sequence: u64) -> Self {
        Self { key: key.to_owned(), generations: ctx.generations.clone(), sequence, error: TypeId::of::<E>() }
    }
}

/// What a computation leaves its waiters: the entry and whether it was stored, or the
/// origin's error with its type erased (the [`FlightKey`] names the type).
pub(crate) type Filled = Result<(Arc<Stored>, bool), Arc<dyn Any + Send + Sync>>;

pub(crate) fn erase<E: Send + Sync + 'static>(error: Arc<E>) -> Arc<dyn Any + Send + Sync> {
    error
}

pub(crate) fn unerase<E: OriginError>(error: Arc<dyn Any + Send + Sync>) -> Arc<E> {
    // The flight key includes the error's type, so this cannot fail; if it did, the waiter
    // would get the error a panicked computation gives.
    error.downcast::<E>().unwrap_or_else(|_| Arc::new(E::from(Aborted)))
}

/// Where a miss computes from: the generations read before computing (`None`: unknown, so the
/// result is not stored), the local epoch they were read at, and whether an entry was replaced.
#[derive(Clone)]
pub(crate) struct MissContext {
    pub(crate) generations: Option<Vec<u64>>,
    pub(crate) token: Option<u64>,
    pub(crate) replaced: bool,
}

impl MissContext {
    /// Refresh an entry served from the local tier, under the generations it was checked at.
    pub(crate) fn refreshing(stored: &Stored, token: Option<u64>) -> Self {
        Self { generations: Some(stored.entry.meta().generations.clone()), token, replaced: true }
    }

    pub(crate) fn replacing(&self) -> Self {
        Self { replaced: true, ..self.clone() }
    }
}

/// The shared store at `url`.
#[cfg(feature = "redis")]
async fn connect(url: &str, config: &CacheConfig) -> Result<crate::shared::SharedStore, BuildError> {
    Ok(crate::tier_redis::RedisTier::connect(url, config.redis).await?)
}

/// Built without Redis: a URL is a mistake to report, not one to ignore.
#[cfg(not(feature = "redis"))]
async fn connect(_: &str, _: &CacheConfig) -> Result<crate::shared::SharedStore, BuildError> {
    Err(BuildError::new("a Redis URL was given, but trigapi-cache was built without the `redis` feature"))
}

/// The origin's response as it is, for a disabled cache.
fn uncached(rendered: Rendered, policy: &Policy) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(rendered.body));
    *response.status_mut() = rendered.status;
    let h = response.headers_mut();
    for (name, value) in rendered.headers {
        h.append(name, value);
    }
    h.insert(http::header::CONTENT_TYPE, rendered.content_type);
    if let Some(cc) = &policy.cache_control {
        h.insert(http::header::CACHE_CONTROL, cc.clone());
    }
    response
}

impl Cache {
    /// Build the cache ([`crate::CacheBuilder`] is the friendlier way). Only a malformed Redis
    /// URL is an error: an unreachable Redis is retried in the background, and requests are
    /// served from the origin meanwhile.
    pub async fn new(config: CacheConfig) -> Result<Self, BuildError> {
        let remote = match &config.redis_url {
            Some(url) => {
                let store = connect(url, &config).await?;
                Some(Remote::new(Generations::new(store, config.namespace.clone()), &config))
            }
            None => None,
        };
        let local =
            LocalTier::new(config.local_max_bytes, config.local_ttl, remote.is_none(), config.per_owner_max_entries);
        let inner = Arc::new(Inner::new(config, true, local, remote));
        inner.subscribe();
        inner.record_heat();
        Ok(Self { inner })
    }

    /// A cache that stores nothing: every request goes to the origin, with no cache headers.
    pub fn disabled() -> Self {
        let config = CacheConfig::new("disabled");
        let local = LocalTier::new(0, std::time::Duration::from_secs(1), true, 0);
        Self { inner: Arc::new(Inner::new(config, false, local, None)) }
    }

    /// False for [`Cache::disabled`].
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The settings.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// Answer a request through the cache.
    ///
    /// `request` is read from the request's headers ([`RequestView::new`]: `Cache-Control:
    /// no-cache`, `If-None-Match`, `Accept-Encoding`). `origin` computes the response when no servable entry exists; it runs
    /// in its own task, shared by concurrent requests for the same key, so a client that goes
    /// away does not cancel it. Its errors are never stored; every request that waited on the
    /// failed computation gets the same one, shared.
    pub async fn serve<F, E>(
        &self,
        request: &RequestView,
        policy: Policy,
        origin: F,
    ) -> Result<Response<Full<Bytes>>, Arc<E>>
    where
        F: Origin<E>,
        E: OriginError,
    {
        if let Some(slot) = &request.explain {
            let _ = slot.set(policy);
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            return Ok(response);
        }
        if !self.inner.enabled {
            return Ok(uncached(origin().await?, &policy));
        }
        let started = std::time::Instant::now();
        let tags = &policy.tags;
        let remote = self.remote_gating_local().await;
        let sequence = self.inner.sequence.load(Ordering::Acquire);
        let groups = &self.inner.groups;
        let (outcome, stored) = if request.bypass {
            let served = self.bypass(&policy, tags, remote, origin).await;
            groups.record(&policy.group, Served::Bypass, started.elapsed());
            served?
        } else {
            let served = self.lookup_or_fill(&policy, tags, remote, sequence, origin).await;
            let kind = served.as_ref().map_or(Served::Miss, |(outcome, _)| served_as(*outcome));
            groups.record(&policy.group, kind, started.elapsed());
            served?
        };
        let response = render(&stored, outcome, request, &Render::of(&self.inner.config.name, &policy));
        if let Some(target) = &request.target {
            if !request.unrecorded {
                self.inner.heat.record(target);
            }
            self.inner.front.learn(target, policy);
        }
        Ok(response)
    }

    /// Answer a repeat request at the front door, before any of the application's code: a
    /// fresh in-process hit under the policy an earlier request with the same target taught
    /// [`Cache::serve`] (see [`RequestView::of`]), with the headers and counters `serve` gives
    /// a hit. `None` in every other case (the door does not know the target, the entry is
    /// absent, invalidated, stale or due for an early refresh, the request asks to bypass the
    /// cache or is not a plain `GET`): then answer the request through `serve` as usual.
    ///
    /// It takes the request's head (`Request::into_parts`), which is `Sync` where a body may not be.
    pub async fn front_door(&self, request: &http::request::Parts) -> Option<Response<Full<Bytes>>> {
        if !self.inner.enabled {
            return None;
        }
        let started = std::time::Instant::now();
        let target = front_door::target(&request.method, &request.uri, &request.headers)?;
        let policy = self.inner.front.route(target)?;
        let view = RequestView::new(&request.headers);
        if view.bypass {
            return None;
        }
        let remote = self.remote_gating_local().await;
        let LocalLookup::Valid(stored) = self.local_get(&policy.key, &policy.tags, remote).await else {
            return None;
        };
        let Freshness::Fresh { remaining_secs, age_secs, refresh_early: false } = self.freshness(&stored) else {
            return None;
        };
        Counters::add(&self.inner.counters.front_door_hits, 1);
        self.count_hit(Tier::Local, &policy.key, age_secs);
        self.inner.heat.record(target);
        let outcome = Outcome::Hit { remaining_secs, age_secs };
        let response = render(&stored, outcome, &view, &Render::of(&self.inner.config.name, &policy));
        self.inner.groups.record(&policy.group, Served::Hit, started.elapsed());
        Some(response)
    }

    /// Routes the front door knows.
    pub fn front_door_routes(&self) -> u64 {
        self.inner.front.len()
    }

    fn count_hit(&self, tier: Tier, key: &str, age_secs: u64) {
        let c = &self.inner.counters;
        Counters::add(if tier == Tier::Local { &c.local_hits } else { &c.redis_hits }, 1);
        tracing::debug!(event = events::CACHE_HIT, key, age = age_secs, tier = tier.name());
    }

    async fn lookup_or_fill<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        remote: Option<&Remote>,
        sequence: u64,
        origin: F,
    ) -> Result<(Outcome, Arc<Stored>), Arc<E>>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let token = self.inner.local.token();
        // 1. In process.
        let mut ctx = MissContext { generations: None, token, replaced: false };
        let mut origin = origin;
        match self.local_get(&policy.key, tags, remote).await {
            LocalLookup::Valid(stored) => {
                // An owner's entry is used: last in its owner's order, here and in Redis.
                self.own(policy, remote).await;
                let refresh = MissContext::refreshing(&stored, token);
                match self.serve_found(Tier::Local, policy, tags, stored, refresh, sequence, origin) {
                    Ok(served) => return Ok(served),
                    Err(expired) => (origin, ctx.replaced) = (expired, true),
                }
            }
            LocalLookup::Invalidated => ctx.replaced = true,
            LocalLookup::Absent => {}
        }
        // 2. Redis, or the local table when there is no Redis.
        if let Some(remote) = remote {
            // On a Redis error, compute and store nothing (the generations are unknown).
            if let Ok((found, now)) = remote.generations.lookup(&policy.key, tags).await {
                self.inner.local.merge(token, tags, &now);
                ctx.generations = Some(now);
                match found {
                    Lookup::Current(entry) => match Stored::new(entry, &policy.key) {
                        Ok(stored) => {
                            let stored = Arc::new(stored);
                            self.inner.local.insert(token, policy.key.clone(), Arc::clone(&stored));
                            self.own(policy, Some(remote)).await;
                            let refresh = ctx.replacing();
                            match self.serve_found(Tier::Redis, policy, tags, stored, refresh, sequence, origin) {
                                Ok(served) => return Ok(served),
                                Err(expired) => (origin, ctx.replaced) = (expired, true),
                            }
                        }
                        Err(error) => self.discard_corrupt(remote, &policy.key, &error.to_string()).await,
                    },
                    Lookup::Corrupt(error) => self.discard_corrupt(remote, &policy.key, &error.to_string()).await,
                    Lookup::Invalidated => ctx.replaced = true,
                    Lookup::Missing => {}
                }
            }
        } else {
            ctx.generations = self.inner.local.generations(tags);
        }
        // 3. Miss: one computation per key and generations in this process.
        Counters::add(&self.inner.counters.misses, 1);
        let replaced = ctx.replaced;
        let (stored, was_stored, coalesced) = self.fill_shared(policy, tags, ctx, sequence, origin).await?;
        Ok((Outcome::Miss { stored: was_stored, coalesced, replaced }, stored))
    }

    /// Serve a current entry found in `tier` if its age allows: a hit (with an early refresh
    /// when XFetch asks), or stale inside grace while `refresh` recomputes it. Past grace, the
    /// origin is handed back for the miss path.
    #[allow(clippy::too_many_arguments, reason = "two call sites, all parts of one request")]
    fn serve_found<F, E>(
        &self,
        tier: Tier,
        policy: &Policy,
        tags: &[String],
        stored: Arc<Stored>,
        refresh: MissContext,
        sequence: u64,
        origin: F,
    ) -> Result<(Outcome, Arc<Stored>), F>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let c = &self.inner.counters;
        match self.freshness(&stored) {
            Freshness::Fresh { remaining_secs, age_secs, refresh_early } => {
                self.count_hit(tier, &policy.key, age_secs);
                if refresh_early {
                    self.spawn_refresh(policy, tags, refresh, sequence, origin);
                }
                Ok((Outcome::Hit { remaining_secs, age_secs }, stored))
            }
            Freshness::Stale { age_secs } => {
                Counters::add(&c.stale, 1);
                tracing::debug!(event = events::CACHE_STALE, key = %policy.key, age = age_secs);
                self.spawn_refresh(policy, tags, refresh, sequence, origin);
                let over_secs = age_secs.saturating_sub(u64::from(stored.entry.meta().ttl_secs));
                Ok((Outcome::Stale { age_secs, over_secs }, stored))
            }
            Freshness::Expired => Err(origin),
        }
    }

    pub(crate) fn freshness(&self, stored: &Stored) -> Freshness {
        let beta = self.inner.config.early_refresh_beta;
        let r = if beta > 0.0 { fastrand::f64().max(f64::MIN_POSITIVE) } else { 1.0 };
        assess(&Timing::from(&stored.entry), self.inner.config.clock.now_millis(), r, beta)
    }

    /// The in-process entry for `key`, and whether it is current.
    async fn local_get(&self, key: &str, tags: &[String], remote: Option<&Remote>) -> LocalLookup {
        let local = &self.inner.local;
        if !local.is_active() {
            return LocalLookup::Absent;
        }
        match (self.inner.config.strict, remote) {
            (true, Some(remote)) => {
                let Some(stored) = local.get_unchecked(key) else { return LocalLookup::Absent };
                match remote.generations.read(tags).await {
                    Ok(now) if now == stored.entry.meta().generations => LocalLookup::Valid(stored),
                    _ => LocalLookup::Invalidated,
                }
            }
            _ => local.get(key, tags),
        }
    }

    async fn discard_corrupt(&self, remote: &Remote, key: &str, error: &str) {
        Counters::add(&self.inner.counters.corrupt, 1);
        tracing::warn!(event = events::CACHE_CORRUPT_ENTRY, key, error, "corrupt cache entry deleted");
        let _ = remote.store().delete(key).await;
        self.inner.local.remove(key);
    }

    /// Redis, if it may be used now, with the in-process tier suspended or resumed to match:
    /// what every lookup starts with.
    async fn remote_gating_local(&self) -> Option<&Remote> {
        let remote = self.remote_ready().await;
        if let Some(r) = &self.inner.remote {
            r.gate_local(&self.inner.local, remote.is_some());
        }
        remote
    }

    /// Redis, if it may be used now (see [`Remote::ready`]).
    pub(crate) async fn remote_ready(&self) -> Option<&Remote> {
        let remote = self.inner.remote.as_ref()?;
        remote.ready(&self.inner.local, &self.inner.counters).await.then_some(remote)
    }

    /// Invalidate every entry tagged with one of `tags`: one generation bump each, whatever
    /// the number of entries. Call it after the write's transaction has committed and before
    /// answering the write. It cannot fail: with Redis unreachable the bumps are remembered,
    /// Redis is not read again until they are replayed, and the in-process tier is dropped.
    pub async fn invalidate(&self, tags: &[&str]) {
        if !self.inner.enabled || tags.is_empty() {
            return;
        }
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        self.inner.sequence.fetch_add(1, Ordering::AcqRel);
        Counters::add(&self.inner.counters.invalidations, tags.len() as u64);
        match &self.inner.remote {
            None => {
                self.inner.remember_invalidated(tags.iter().map(String::as_str));
                let _ = self.inner.local.bump(&tags);
                if tags.iter().any(|t| t == GLOBAL) {
                    Counters::add(&self.inner.counters.everything_invalidated, 1);
                }
            }
            Some(remote) => remote.invalidate(&tags, &self.inner.local, &self.inner.counters).await,
        }
        tracing::info!(event = events::CACHE_INVALIDATED, tags = ?tags);
        if self.inner.announced.receiver_count() > 0 {
            // A subscriber gone meanwhile is not an error.
            let _ = self.inner.announced.send(tags.into());
        }
    }

    /// The latest tags invalidated, newest first, with the time (Unix ms) this instance heard
    /// of them: every instance's through Redis, or this one's without it. At most 32.
    pub fn latest_invalidations(&self) -> Vec<(u64, String)> {
        let latest = self.inner.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        latest.iter().rev().cloned().collect()
    }

    /// Invalidations this instance made that have not reached Redis yet (it could not be
    /// reached): they are replayed, in order, once it answers. Work that must not be marked done
    /// before its invalidations are shared (a change stream's position) waits for 0. Always 0
    /// without Redis.
    pub fn pending_invalidations(&self) -> usize {
        self.inner.remote.as_ref().map_or(0, Remote::pending_count)
    }

    /// The tags of every invalidation this instance makes from now on, after its bumps are
    /// done: for those who must hear of them too, such as a CDN purged by tag. Invalidations
    /// other instances make (heard through Redis) are not repeated here, so across a fleet
    /// each is announced once. A flush of everything is announced as [`crate::GLOBAL`]. A
    /// subscriber that falls more than 1,024 behind gets `RecvError::Lagged` with the number
    /// it missed.
    pub fn subscribe_invalidations(&self) -> tokio::sync::broadcast::Receiver<Arc<[String]>> {
        self.inner.announced.subscribe()
    }

    /// Whether this instance holds `role` among the instances sharing the cache's Redis, for
    /// work only one of them should do at a time (reading a change stream, warming): the role
    /// is taken when nobody holds it and extended when this instance does, for `ttl`. Call it
    /// again well within `ttl` (a third of it, say) while doing the work, and stop the work
    /// when it answers false. When the holder dies, another instance gets the role once `ttl`
    /// has run out. Without Redis the instance is alone and holds every role; while Redis
    /// cannot be reached it holds none.
    pub async fn hold(&self, role: &str, ttl: std::time::Duration) -> bool {
        let Some(remote) = &self.inner.remote else { return self.inner.enabled };
        let key = format!("{}:role:{role}", self.inner.config.namespace);
        matches!(remote.store().hold(&key, &self.inner.instance, ttl).await, Ok(true))
    }
}

/// How a response was served, for its group's figures.
fn served_as(outcome: Outcome) -> Served {
    match outcome {
        Outcome::Hit { .. } => Served::Hit,
        Outcome::Stale { .. } => Served::Stale,
        Outcome::Miss { .. } => Served::Miss,
        Outcome::Bypass { .. } => Served::Bypass,
    }
}

/// Which tier an entry came from (for counters and events).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Local,
    Redis,
}

impl Tier {
    fn name(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Redis => "redis",
        }
    }
}

/// Tags [`Cache::latest_invalidations`] remembers.
const LATEST: usize = 32;

impl Inner {
    /// Remember `tags` as the latest invalidated (heard through Redis, or made here without it).
    pub(crate) fn remember_invalidated<'a>(&self, tags: impl IntoIterator<Item = &'a str>) {
        let now = self.config.clock.now_millis();
        let mut latest = self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for tag in tags {
            if latest.len() == LATEST {
                latest.pop_front();
            }
            latest.push_back((now, tag.to_owned()));
        }
    }

    fn new(config: CacheConfig, enabled: bool, local: LocalTier, remote: Option<Remote>) -> Self {
        Self {
            enabled,
            local,
            front: FrontDoor::new(if enabled { config.front_door_max_bytes } else { 0 }),
            heat: Heat::new(if enabled { config.hot_sample_every } else { 0 }, config.hot_max_targets),
            latest: std::sync::Mutex::default(),
            owned_uses: AtomicU64::new(0),
            config,
            remote,
            flights: SingleFlight::new(),
            counters: Counters::default(),
            groups: Groups::default(),
            sequence: AtomicU64::new(0),
            announced: tokio::sync::broadcast::channel(ANNOUNCED).0,
            instance: format!("{:016x}", fastrand::u64(..)),
        }
    }
}
