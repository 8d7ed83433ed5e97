//! [`Cache`]: the two tiers, single flight, leases, freshness and invalidation put together
//! behind one call, [`Cache::serve`].

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Response};
use http_body_util::Full;

use crate::envelope::{Entry, EntryMeta};
use crate::events;
use crate::flight::{Aborted, SingleFlight};
use crate::freshness::{Freshness, Timing, assess};
use crate::generations::{GLOBAL, Generations, Lookup, Sequence, parse_announcement};
use crate::http::{Outcome, Render, RequestView, render};
use crate::local::{LocalLookup, LocalTier};
use crate::stats::{Counters, Snapshot};
use crate::stored::Stored;
use crate::tier_redis::{Connection, RedisTier, RedisTierConfig};

/// Settings. [`CacheConfig::new`] gives sane defaults; adjust fields as needed.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Prefix of every key and generation this cache writes (`{app}:{environment}`).
    pub namespace: String,
    /// The cache's name in `Cache-Status` headers.
    pub name: String,
    /// `redis://` or `rediss://` URL; `None` runs the in-process tier alone (one instance).
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
    /// Larger responses are served but not stored.
    pub max_entry_bytes: usize,
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
    /// **Test only; never in production.** Stamp entries with the generations current when
    /// they are *stored* instead of those read *before computing*. That brings back the
    /// classic stale-set race (a value read before a write, stored after its invalidation,
    /// served as fresh); consistency checkers turn it on to prove they can catch that race.
    pub unsafe_stamp_at_store: bool,
}

impl CacheConfig {
    /// Defaults for `namespace`: Redis at `redis://127.0.0.1:6379`, 64 MiB in process, 5 min
    /// grace, compression from 1 KiB, 16 MiB entries, 2 s leases.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: "cache".into(),
            redis_url: Some("redis://127.0.0.1:6379".into()),
            redis: RedisTierConfig::default(),
            local_max_bytes: 64 << 20,
            local_ttl: Duration::from_secs(300),
            grace: Duration::from_secs(300),
            compress_at: 1024,
            max_entry_bytes: 16 << 20,
            strict: false,
            lease_ttl: Duration::from_secs(2),
            lease_wait: Duration::from_millis(250),
            max_pending: 10_000,
            subscription_timeout: Duration::from_secs(1),
            early_refresh_beta: 1.0,
            unsafe_stamp_at_store: false,
        }
    }
}

/// What one response depends on and how long it keeps.
#[derive(Debug, Clone)]
pub struct Policy {
    key: String,
    tags: Vec<String>,
    ttl: Duration,
    cache_control: Option<HeaderValue>,
}

impl Policy {
    /// `key` (from [`crate::key::KeyBuilder::build`]), the tags it depends on (usually
    /// [`crate::key::KeyBuilder::tags`]) and its TTL.
    pub fn new(key: String, tags: Vec<String>, ttl: Duration) -> Self {
        Self { key, tags: Generations::tag_set(tags), ttl, cache_control: None }
    }

    /// Also depend on `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// `Cache-Control` to send to clients with every response of this policy.
    pub fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(HeaderValue::from_static(value));
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A successful origin response: what gets stored.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl Rendered {
    /// A body of the given content type.
    pub fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self { content_type, body: body.into() }
    }

    /// An `application/json` body.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self { content_type: "application/json", body: body.into() }
    }
}

/// The computation behind a response: called on a miss, at most once per call of
/// [`Cache::serve`], in a task of its own. Any `FnOnce() -> impl Future<Output = Result<Rendered, E>>`
/// that is `Send + 'static` is one.
pub trait Origin<E>: FnOnce() -> <Self as Origin<E>>::Future + Send + 'static {
    /// What the closure returns.
    type Future: Future<Output = Result<Rendered, E>> + Send + 'static;
}

impl<F, Fut, E> Origin<E> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Rendered, E>> + Send + 'static,
{
    type Future = Fut;
}

/// An origin's error type: cloned to every request that waited on the failed computation, and
/// built from [`Aborted`] when the computation panicked.
pub trait OriginError: Clone + From<Aborted> + Send + Sync + 'static {}

impl<E: Clone + From<Aborted> + Send + Sync + 'static> OriginError for E {}

/// What an admin flush targets, parsed from a glob pattern by [`Target::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `*`: everything in the namespace (one global bump).
    All,
    /// `a:b:*`: every entry tagged `a:b` (one bump).
    Tag(String),
    /// No wildcard: one key (namespace prefix added), deleted.
    Key(String),
}

/// A pattern that is neither `*`, `prefix:*` nor an exact key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedPattern(pub String);

impl std::fmt::Display for UnsupportedPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Unsupported cache pattern '{}'. Supported forms: '*' (everything), '<prefix>:*' with a literal \
             prefix such as 'trig:*', 'trig:123:*', 'trigs:list:*' or 'stats:site:*', or an exact key without \
             wildcards",
            self.0
        )
    }
}

impl std::error::Error for UnsupportedPattern {}

impl Target {
    /// `*` → [`Target::All`]; `a:b:*` → [`Target::Tag`]`("a:b")`; a pattern with no glob
    /// characters → [`Target::Key`]. Anything else would need a keyspace scan and is refused.
    pub fn parse(pattern: &str) -> Result<Self, UnsupportedPattern> {
        let glob = |s: &str| s.contains(['*', '?', '[', ']', '\\']);
        let p = pattern.trim();
        if p == "*" {
            return Ok(Target::All);
        }
        if let Some(prefix) = p.strip_suffix(":*")
            && !prefix.is_empty()
            && !glob(prefix)
        {
            return Ok(Target::Tag(prefix.to_owned()));
        }
        if !p.is_empty() && !glob(p) {
            return Ok(Target::Key(p.to_owned()));
        }
        Err(UnsupportedPattern(pattern.to_owned()))
    }
}

/// Facts about the Redis server, for an admin page.
#[derive(Debug, Clone, Default)]
pub struct RedisInfo {
    /// `redis_version`.
    pub version: String,
    /// `uptime_in_seconds`.
    pub uptime_secs: u64,
    /// `connected_clients`.
    pub connected_clients: u64,
    /// `used_memory`.
    pub used_memory_bytes: u64,
    /// `used_memory_human`.
    pub used_memory_human: String,
    /// `keyspace_hits`.
    pub keyspace_hits: u64,
    /// `keyspace_misses`.
    pub keyspace_misses: u64,
    /// Keys in the selected database (all applications).
    pub total_keys: u64,
    /// Keys under this cache's namespace, counted by a SCAN bounded in time.
    pub namespace_keys: u64,
    /// False when the bounded SCAN stopped before the end.
    pub namespace_keys_complete: bool,
}

/// Everything an admin page shows.
#[derive(Debug, Clone)]
pub struct Stats {
    /// This process's counters.
    pub counters: Snapshot,
    /// Entries in the in-process tier.
    pub local_entries: u64,
    /// Bytes they weigh.
    pub local_bytes: u64,
    /// Upper bound of the in-process tier.
    pub local_max_bytes: u64,
    /// Whether the in-process tier serves (false while invalidations may be missed).
    pub local_active: bool,
    /// Whether a Redis URL is configured.
    pub redis_configured: bool,
    /// Whether Redis is reachable and in sync now.
    pub redis_available: bool,
    /// Invalidations waiting for Redis.
    pub pending_invalidations: usize,
    /// Redis's own figures, when it answered.
    pub redis: Option<RedisInfo>,
    /// Redis's `maxmemory-policy`, as read at the last (re)connection (where allowed).
    pub redis_eviction_policy: Option<String>,
}

impl Stats {
    /// True when Redis's eviction policy may evict keys without a TTL (`allkeys-*`):
    /// generation counters could then be dropped. Use `volatile-*` or `noeviction`.
    pub fn eviction_may_drop_generations(&self) -> bool {
        self.redis_eviction_policy.as_deref().is_some_and(may_evict_generations)
    }
}

/// The cache. Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use trigapi_cache::{Aborted, Cache, CacheConfig, Policy, Rendered, RequestView, key::KeyBuilder};
///
/// #[derive(Clone, Debug)]
/// struct AppError; // the application's error type: cloneable, and built from `Aborted`
/// impl From<Aborted> for AppError {
///     fn from(_: Aborted) -> Self { AppError }
/// }
///
/// let cache = Cache::new(CacheConfig::new("myapp:production")).await?;
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
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("namespace", &self.inner.config.namespace).finish_non_exhaustive()
    }
}

struct Inner {
    config: CacheConfig,
    enabled: bool,
    local: LocalTier,
    remote: Option<Remote>,
    /// One [`SingleFlight`] per origin error type (the map is keyed by its `TypeId`).
    flights: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    counters: Counters,
    /// Bumped by every invalidation: flights started before it are never joined after it.
    sequence: AtomicU64,
}

struct Remote {
    generations: Generations,
    /// Mirrors "`pending` is not empty", so the request path needs no lock to know.
    has_pending: AtomicBool,
    /// The tier epoch the generations were last checked at (restart check, replay).
    synced_epoch: AtomicU64,
    pending: Mutex<Pending>,
    sync: tokio::sync::Mutex<()>,
    subscribed: AtomicBool,
    /// What the subscription heard, for deciding whether an outage may have hidden a bump.
    hearing: Hearing,
    /// `maxmemory-policy`, read at each (re)connection.
    eviction_policy: Mutex<Option<String>>,
}

/// What the invalidation subscription has heard: when it last heard anything, the longest
/// silence since Redis was last known healthy, and a count of breaks (losses and gaps in the
/// numbered announcements).
struct Hearing {
    started: Instant,
    last_heard_ms: AtomicU64,
    longest_silence_ms: AtomicU64,
    breaks: AtomicU64,
    breaks_when_healthy: AtomicU64,
    /// A heartbeat or background resync is running (one at a time).
    busy: AtomicBool,
}

impl Hearing {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_heard_ms: AtomicU64::new(0),
            longest_silence_ms: AtomicU64::new(0),
            breaks: AtomicU64::new(0),
            breaks_when_healthy: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Something arrived: note the silence it ended.
    fn heard(&self) {
        let now = self.now_ms();
        let before = self.last_heard_ms.swap(now, Ordering::AcqRel);
        self.longest_silence_ms.fetch_max(now.saturating_sub(before), Ordering::AcqRel);
    }

    /// How long nothing has arrived, noted as a silence too.
    fn silence(&self) -> Duration {
        let silent = self.now_ms().saturating_sub(self.last_heard_ms.load(Ordering::Acquire));
        self.longest_silence_ms.fetch_max(silent, Ordering::AcqRel);
        Duration::from_millis(silent)
    }

    /// Redis is healthy and in sync now: measure from here.
    fn healthy(&self) {
        self.longest_silence_ms.store(0, Ordering::Release);
        self.breaks_when_healthy.store(self.breaks.load(Ordering::Acquire), Ordering::Release);
    }

    /// Whether, since Redis was last healthy, an announcement may have gone unheard.
    fn may_have_missed(&self, timeout: Duration) -> bool {
        self.silence();
        self.breaks.load(Ordering::Acquire) != self.breaks_when_healthy.load(Ordering::Acquire)
            || Duration::from_millis(self.longest_silence_ms.load(Ordering::Acquire)) > timeout / 2
    }
}

#[derive(Default)]
struct Pending {
    /// Each tag waiting for replay, with the version at which it was last remembered.
    tags: BTreeMap<String, u64>,
    overflowed: bool,
    /// Bumped by every remembered invalidation. A replay forgets only what was remembered up
    /// to the version it read: a write that remembers a tag again while the replay's bump is
    /// on its way committed after that bump may have reached Redis, so it keeps its own.
    version: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.tags.is_empty() && !self.overflowed
    }

    /// Keep `tags` for replay (beyond `max` tags, replay one global bump instead).
    fn remember(&mut self, tags: &[String], max: usize) {
        self.version += 1;
        let version = self.version;
        if self.tags.len() + tags.len() > max {
            self.overflowed = true;
            self.tags.clear();
        } else if !self.overflowed {
            self.tags.extend(tags.iter().map(|t| (t.clone(), version)));
        }
    }

    /// What a replay sends: the tags (or everything, after an overflow) and the version they
    /// were read at.
    fn snapshot(&self) -> (Vec<String>, bool, u64) {
        (self.tags.keys().cloned().collect(), self.overflowed, self.version)
    }

    /// A replay of the snapshot taken at `version` reached Redis: forget what it covered.
    fn replayed(&mut self, version: u64) {
        self.tags.retain(|_, remembered| *remembered > version);
        if self.overflowed && self.version == version {
            self.overflowed = false;
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    key: String,
    generations: Option<Vec<u64>>,
    sequence: u64,
}

type Filled<E> = Result<(Arc<Stored>, bool), E>;

/// Where a miss computes from: the generations read before computing (`None`: unknown, so the
/// result is not stored), the local epoch they were read at, and whether an entry was replaced.
#[derive(Clone)]
struct MissContext {
    generations: Option<Vec<u64>>,
    token: Option<u64>,
    replaced: bool,
}

impl MissContext {
    /// Refresh an entry served from the local tier, under the generations it was checked at.
    fn refreshing(stored: &Stored, token: Option<u64>) -> Self {
        Self { generations: Some(stored.entry.meta().generations.clone()), token, replaced: true }
    }

    fn replacing(&self) -> Self {
        Self { replaced: true, ..self.clone() }
    }
}

/// How often the subscriber checks that Redis still answers.
const HEARTBEAT: Duration = Duration::from_millis(200);

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

impl Cache {
    /// Build the cache. Only a malformed Redis URL is an error: an unreachable Redis is
    /// retried in the background, and requests are served from the origin meanwhile.
    pub async fn new(config: CacheConfig) -> Result<Self, redis::RedisError> {
        let remote = match &config.redis_url {
            Some(url) => {
                let tier = RedisTier::connect(url, config.redis).await?;
                Some(Remote {
                    generations: Generations::new(tier, config.namespace.clone()),
                    has_pending: AtomicBool::new(false),
                    synced_epoch: AtomicU64::new(u64::MAX),
                    pending: Mutex::new(Pending::default()),
                    sync: tokio::sync::Mutex::new(()),
                    subscribed: AtomicBool::new(false),
                    hearing: Hearing::new(),
                    eviction_policy: Mutex::new(None),
                })
            }
            None => None,
        };
        let local = LocalTier::new(config.local_max_bytes, config.local_ttl, remote.is_none());
        let cache = Self { inner: Arc::new(Inner::new(config, true, local, remote)) };
        if cache.inner.remote.is_some() {
            cache.spawn_subscriber();
        }
        Ok(cache)
    }

    /// A cache that stores nothing: every request goes to the origin, with no cache headers.
    pub fn disabled() -> Self {
        let config = CacheConfig::new("disabled");
        let local = LocalTier::new(0, Duration::from_secs(1), true);
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
    /// away does not cancel it. Its errors are returned as they are and never stored.
    pub async fn serve<F, E>(
        &self,
        request: &RequestView,
        policy: Policy,
        origin: F,
    ) -> Result<Response<Full<Bytes>>, E>
    where
        F: Origin<E>,
        E: OriginError,
    {
        if !self.inner.enabled {
            let rendered = origin().await?;
            let mut response = Response::new(Full::new(rendered.body));
            response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
            if let Some(cc) = &policy.cache_control {
                response.headers_mut().insert(http::header::CACHE_CONTROL, cc.clone());
            }
            return Ok(response);
        }
        let tags = &policy.tags;
        let remote = self.remote_ready().await;
        self.gate_local(remote.is_some());
        let sequence = self.inner.sequence.load(Ordering::Acquire);
        let (outcome, stored) = if request.bypass {
            self.bypass(&policy, tags, remote, origin).await?
        } else {
            self.lookup_or_fill(&policy, tags, remote, sequence, origin).await?
        };
        let r = Render {
            name: &self.inner.config.name,
            key: &policy.key,
            tags: &policy.tags,
            ttl_secs: policy.ttl.as_secs(),
            cache_control: policy.cache_control.as_ref(),
        };
        Ok(render(&stored, outcome, request, &r))
    }

    async fn lookup_or_fill<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        remote: Option<&Remote>,
        sequence: u64,
        origin: F,
    ) -> Result<(Outcome, Arc<Stored>), E>
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
                Counters::add(if tier == Tier::Local { &c.local_hits } else { &c.redis_hits }, 1);
                tracing::debug!(event = events::CACHE_HIT, key = %policy.key, age = age_secs, tier = tier.name());
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

    async fn bypass<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        remote: Option<&Remote>,
        origin: F,
    ) -> Result<(Outcome, Arc<Stored>), E>
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

    /// The flights for origin error type `E`.
    fn flights<E: OriginError>(&self) -> SingleFlight<FlightKey, Filled<E>> {
        let mut map = self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
        let slot =
            map.entry(TypeId::of::<E>()).or_insert_with(|| Box::new(SingleFlight::<FlightKey, Filled<E>>::new()));
        match slot.downcast_ref::<SingleFlight<FlightKey, Filled<E>>>() {
            Some(flights) => flights.clone(),
            // Unreachable (the map is keyed by the type), but harmless: an unshared flight.
            None => SingleFlight::new(),
        }
    }

    async fn fill_shared<F, E>(
        &self,
        policy: &Policy,
        tags: &[String],
        ctx: MissContext,
        sequence: u64,
        origin: F,
    ) -> Result<(Arc<Stored>, bool, bool), E>
    where
        F: Origin<E>,
        E: OriginError,
    {
        let this = self.clone();
        let (policy, tags) = (policy.clone(), tags.to_vec());
        if ctx.generations.is_none() && self.inner.config.strict && self.inner.remote.is_some() {
            // Redis is unreachable, so other instances' writes cannot be known: a computation
            // already running may predate one. Strict mode does not share it.
            let (stored, was_stored) = this.fill(policy, tags, ctx, origin).await?;
            return Ok((stored, was_stored, false));
        }
        let flight_key = FlightKey { key: policy.key.clone(), generations: ctx.generations.clone(), sequence };
        match self.flights::<E>().run(flight_key, move || this.fill(policy, tags, ctx, origin)).await {
            Ok(shared) => {
                if shared.coalesced {
                    Counters::add(&self.inner.counters.coalesced, 1);
                }
                let (stored, was_stored) = shared.value?;
                Ok((stored, was_stored, shared.coalesced))
            }
            // The computation panicked: nothing to share; the caller maps it to its 500.
            Err(aborted) => Err(E::from(aborted)),
        }
    }

    fn spawn_refresh<F, E>(&self, policy: &Policy, tags: &[String], ctx: MissContext, sequence: u64, origin: F)
    where
        F: Origin<E>,
        E: OriginError,
    {
        Counters::add(&self.inner.counters.refreshes, 1);
        let this = self.clone();
        let (policy, tags) = (policy.clone(), tags.to_vec());
        tokio::spawn(async move {
            let key = FlightKey { key: policy.key.clone(), generations: ctx.generations.clone(), sequence };
            let worker = this.clone();
            let _ = this.flights::<E>().run(key, move || worker.fill(policy, tags, ctx, origin)).await;
        });
    }

    /// Run the origin and store its result when the generations it was computed under are known.
    async fn fill<F, E>(self, policy: Policy, tags: Vec<String>, ctx: MissContext, origin: F) -> Filled<E>
    where
        F: Origin<E>,
    {
        let remote = self.inner.remote.as_ref();
        let lease = match (remote, &ctx.generations) {
            (Some(remote), Some(generations)) if !self.inner.config.lease_ttl.is_zero() => {
                match self.acquire_lease(remote, &policy.key, generations, &tags).await {
                    LeaseOutcome::Won => Some(lease_key(&policy.key, Some(generations))),
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
                self.release_lease(remote, lease.as_deref()).await;
                return Err(e);
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
        let meta = EntryMeta {
            status: 200,
            content_type: rendered.content_type.to_owned(),
            ttl_secs: u32::try_from(policy.ttl.as_secs()).unwrap_or(u32::MAX),
            grace_secs: u32::try_from(config.grace.as_secs()).unwrap_or(u32::MAX),
            compute_micros,
            generations: ctx.generations.clone().unwrap_or_default(),
        };
        let entry = Entry::new(meta, &rendered.body, now_millis(), config.compress_at);
        let stored = Arc::new(Stored::fresh(entry, rendered.body, &policy.key));
        let Some(_) = ctx.generations else { return Ok((stored, false)) };
        if stored.identity.len() > config.max_entry_bytes {
            self.release_lease(remote, lease.as_deref()).await;
            Counters::add(&self.inner.counters.skips, 1);
            tracing::info!(event = events::CACHE_SKIP, key = %policy.key, reason = "entry over the size limit",
                size = stored.identity.len(), limit = config.max_entry_bytes);
            return Ok((stored, false));
        }
        if let Some(remote) = remote {
            let bytes = stored.entry.encode();
            let expire = policy.ttl.as_secs() + config.grace.as_secs();
            let key = policy.key.clone();
            let release = lease.clone();
            let written = remote
                .generations
                .tier()
                .call(|mut c| async move {
                    let mut pipe = redis::pipe();
                    pipe.cmd("SET").arg(&key).arg(bytes).arg("EX").arg(expire.max(1)).ignore();
                    if let Some(lease) = release {
                        pipe.cmd("DEL").arg(lease).ignore();
                    }
                    pipe.query_async::<()>(&mut c).await
                })
                .await;
            if let Err(error) = written {
                self.release_lease(Some(remote), lease.as_deref()).await;
                Counters::add(&self.inner.counters.store_errors, 1);
                tracing::warn!(event = events::CACHE_STORE_ERROR, key = %policy.key, error = %error);
                return Ok((stored, false));
            }
        }
        self.inner.local.insert(ctx.token, policy.key.clone(), Arc::clone(&stored));
        Counters::add(&self.inner.counters.stores, 1);
        tracing::debug!(event = events::CACHE_MISS_STORED, key = %policy.key, ttl = policy.ttl.as_secs());
        Ok((stored, true))
    }

    /// Give up a lease whose entry will not be stored, so waiters stop waiting for it.
    async fn release_lease(&self, remote: Option<&Remote>, lease: Option<&str>) {
        if let (Some(remote), Some(lease)) = (remote, lease) {
            let _ = remote.generations.tier().del(lease).await;
        }
    }

    /// Take the lease on computing `key` under `generations`, or wait (briefly) for the
    /// instance holding it. Leases are per generations: a request that saw a newer write never
    /// waits for a computation that started before it.
    async fn acquire_lease(&self, remote: &Remote, key: &str, generations: &[u64], tags: &[String]) -> LeaseOutcome {
        let tier = remote.generations.tier();
        let lease = lease_key(key, Some(generations));
        let ttl_ms = self.inner.config.lease_ttl.as_millis() as u64;
        let take = lease.clone();
        let won: Result<Option<String>, _> = tier
            .call(|mut c| async move {
                redis::cmd("SET").arg(&take).arg(1).arg("NX").arg("PX").arg(ttl_ms.max(1)).query_async(&mut c).await
            })
            .await;
        match won {
            Ok(Some(_)) => return LeaseOutcome::Won,
            Ok(None) => {}
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
            let check = lease.clone();
            let held =
                tier.call(|mut c| async move { redis::cmd("EXISTS").arg(&check).query_async::<u64>(&mut c).await });
            if !matches!(held.await, Ok(1)) {
                // Released: its holder stored the entry (in the same round trip) or failed.
                if let Some(stored) = self.current_entry(remote, key, tags).await {
                    return LeaseOutcome::Lost(stored);
                }
                break;
            }
        }
        LeaseOutcome::Unavailable
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

    fn freshness(&self, stored: &Stored) -> Freshness {
        let beta = self.inner.config.early_refresh_beta;
        let r = if beta > 0.0 { fastrand::f64().max(f64::MIN_POSITIVE) } else { 1.0 };
        assess(&Timing::from(&stored.entry), now_millis(), r, beta)
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
        let _ = remote.generations.tier().del(key).await;
        self.inner.local.remove(key);
    }
}

/// Whether Redis's `maxmemory-policy` may evict keys that have no TTL.
fn may_evict_generations(policy: &str) -> bool {
    policy.starts_with("allkeys")
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

enum LeaseOutcome {
    Won,
    Lost(Arc<Stored>),
    Unavailable,
}

/// The lease on computing `key` under `generations`. The key in braces is a hash tag: on a
/// cluster the lease lives in the entry's slot, so releasing it goes with the store.
fn lease_key(key: &str, generations: Option<&[u64]>) -> String {
    let generations: Vec<String> = generations.unwrap_or_default().iter().map(u64::to_string).collect();
    format!("{{{key}}}:lease:{}", generations.join("."))
}

impl Inner {
    fn new(config: CacheConfig, enabled: bool, local: LocalTier, remote: Option<Remote>) -> Self {
        Self {
            config,
            enabled,
            local,
            remote,
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            sequence: AtomicU64::new(0),
        }
    }
}

impl Remote {
    /// Checked for a restart since connection `epoch` was installed, with nothing to replay.
    fn in_sync(&self, epoch: u64) -> bool {
        self.synced_epoch.load(Ordering::Acquire) == epoch && !self.has_pending.load(Ordering::Acquire)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Outage handling and invalidation.
impl Cache {
    /// Redis, if it may be used now: reachable, checked for a restart since the last
    /// reconnect, and with no invalidation waiting to be replayed. The first caller after a
    /// reconnect (a request, or the heartbeat) does the check and the replay; callers arriving
    /// meanwhile wait for it for one command timeout, then do without Redis.
    async fn remote_ready(&self) -> Option<&Remote> {
        let remote = self.inner.remote.as_ref()?;
        let tier = remote.generations.tier();
        if !tier.is_available() {
            return None;
        }
        let epoch = tier.epoch();
        if remote.in_sync(epoch) {
            return Some(remote);
        }
        let _guard = match remote.sync.try_lock() {
            Ok(guard) => guard,
            Err(_) => tokio::time::timeout(tier.current_timeout(), remote.sync.lock()).await.ok()?,
        };
        if remote.in_sync(epoch) {
            // The caller that held the lock finished the check and the replay.
            return Some(remote);
        }
        let synced = remote.synced_epoch.load(Ordering::Acquire);
        if synced != epoch {
            let restarted = remote.generations.check_restart().await.ok()?;
            let mut flushed = restarted;
            if restarted {
                Counters::add(&self.inner.counters.redis_restarts, 1);
                if synced == u64::MAX {
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
            } else if synced != u64::MAX {
                // Back after an outage. If the subscription may have missed an announcement
                // (it was lost, skipped a number, or heard nothing for long: Redis itself was
                // down or frozen), other instances may have completed writes they could not
                // announce: nothing stored before can be trusted. If it heard every change
                // throughout, only this instance's own commands were slow: nothing was missed.
                let subscribed = remote.subscribed.load(Ordering::Acquire);
                if !subscribed || remote.hearing.may_have_missed(self.inner.config.subscription_timeout) {
                    self.inner.local.suspend();
                    remote.generations.bump(&[GLOBAL]).await.ok()?;
                    flushed = true;
                    Counters::add(&self.inner.counters.outage_flushes, 1);
                    tracing::warn!(
                        event = events::CACHE_OUTAGE_FLUSH,
                        "redis back after an outage; entries stored before it invalidated"
                    );
                } else {
                    Counters::add(&self.inner.counters.resyncs_without_flush, 1);
                    tracing::info!(
                        event = events::CACHE_REDIS_RESYNCED,
                        "redis answering again; the subscription heard every change meanwhile, nothing invalidated"
                    );
                }
            }
            if flushed {
                self.inner.local.suspend();
            }
            self.check_eviction_policy(remote).await;
        }
        self.replay_pending(remote).await?;
        remote.synced_epoch.store(epoch, Ordering::Release);
        remote.hearing.healthy();
        Some(remote)
    }

    /// Warn when Redis may evict keys without a TTL: generation counters never expire, and one
    /// evicted and recreated at 0 could make an old entry look current again.
    async fn check_eviction_policy(&self, remote: &Remote) {
        let policy = remote.generations.eviction_policy().await;
        *remote.eviction_policy.lock().unwrap_or_else(PoisonError::into_inner) = policy.clone();
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
    async fn replay_pending(&self, remote: &Remote) -> Option<()> {
        let (tags, overflowed, version) = remote.pending().snapshot();
        if tags.is_empty() && !overflowed {
            return Some(());
        }
        let to_bump = if overflowed { vec![GLOBAL.to_owned()] } else { tags.clone() };
        remote.generations.bump(&to_bump).await.ok()?;
        let mut p = remote.pending();
        p.replayed(version);
        remote.has_pending.store(!p.is_empty(), Ordering::Release);
        drop(p);
        Counters::add(&self.inner.counters.replayed_invalidations, to_bump.len() as u64);
        tracing::info!(event = events::CACHE_INVALIDATION_REPLAYED, tags = ?to_bump, overflowed);
        Some(())
    }

    /// Serve from the in-process tier only while its table can be trusted.
    ///
    /// That is while the subscription hears every announcement and no invalidation of this
    /// instance waits for replay. A slow Redis (an open breaker, a resync under way) does not
    /// suspend it: the announcements still arrive. Strict mode checks every hit against Redis,
    /// so it needs Redis ready.
    fn gate_local(&self, remote_ready: bool) {
        let Some(remote) = &self.inner.remote else { return };
        let allowed = remote.subscribed.load(Ordering::Acquire)
            && !remote.has_pending.load(Ordering::Acquire)
            && (remote_ready || !self.inner.config.strict);
        if allowed {
            self.inner.local.resume();
        } else if self.inner.local.is_active() {
            self.inner.local.suspend();
        }
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
                let _ = self.inner.local.bump(&tags);
            }
            Some(remote) => {
                let bumped = match self.remote_ready().await {
                    Some(_) => remote.generations.bump(&tags).await.ok(),
                    None => None,
                };
                match bumped {
                    Some(generations) => {
                        self.inner.local.learn(tags.iter().map(String::as_str).zip(generations));
                    }
                    None => self.remember(remote, &tags),
                }
            }
        }
        tracing::info!(event = events::CACHE_INVALIDATED, tags = ?tags);
    }

    fn remember(&self, remote: &Remote, tags: &[String]) {
        {
            let mut p = remote.pending();
            p.remember(tags, self.inner.config.max_pending);
            remote.has_pending.store(true, Ordering::Release);
        }
        self.inner.local.suspend();
        Counters::add(&self.inner.counters.pending_invalidations, tags.len() as u64);
        tracing::warn!(event = events::CACHE_INVALIDATION_PENDING, tags = ?tags,
            "redis unreachable; invalidation kept for replay, redis reads suspended");
    }

    /// Flush what `target` names. `All` and `Tag` are one bump (returns 0); `Key` deletes one
    /// key (returns how many keys were deleted).
    pub async fn flush(&self, target: &Target) -> u64 {
        let deleted = match target {
            Target::All => {
                self.invalidate(&[GLOBAL]).await;
                self.inner.local.clear_entries();
                0
            }
            Target::Tag(tag) => {
                self.invalidate(&[tag.as_str()]).await;
                0
            }
            Target::Key(key) => {
                let full = format!("{}:{key}", self.inner.config.namespace);
                self.inner.sequence.fetch_add(1, Ordering::AcqRel);
                let local = self.inner.local.remove(&full);
                let remote = match self.remote_ready().await {
                    Some(remote) => {
                        let key = full.clone();
                        let del = |mut c: Connection| async move {
                            redis::cmd("DEL").arg(&key).query_async::<u64>(&mut c).await
                        };
                        let deleted = remote.generations.tier().call(del).await.unwrap_or_default();
                        // Other instances drop their in-process copies too.
                        let _ = remote.generations.announce_deleted(std::slice::from_ref(&full)).await;
                        deleted
                    }
                    None => 0,
                };
                remote.max(u64::from(local))
            }
        };
        tracing::info!(event = events::CACHE_DELETE_PATTERN, target = ?target, deleted_count = deleted);
        deleted
    }

    /// Counters, tier sizes and Redis's own figures (an `INFO` and a bounded `SCAN`: for an
    /// admin page, not for frequent scrapes; see [`Cache::local_stats`]).
    pub async fn stats(&self) -> Stats {
        self.collect_stats(true).await
    }

    /// Counters and tier sizes without asking Redis anything (for a metrics scrape).
    pub async fn local_stats(&self) -> Stats {
        self.collect_stats(false).await
    }

    async fn collect_stats(&self, with_redis: bool) -> Stats {
        let (local_entries, local_bytes) = self.inner.local.size();
        let remote = self.remote_ready().await;
        let redis = match remote {
            Some(remote) if with_redis => self.redis_info(remote).await,
            _ => None,
        };
        let policy = self
            .inner
            .remote
            .as_ref()
            .and_then(|r| r.eviction_policy.lock().unwrap_or_else(PoisonError::into_inner).clone());
        let mut counters = self.inner.counters.snapshot();
        counters.local_suspensions = self.inner.local.suspensions();
        counters.breaker_openings = self.inner.remote.as_ref().map_or(0, |r| r.generations.tier().trips());
        Stats {
            counters,
            local_entries,
            local_bytes,
            local_max_bytes: self.inner.config.local_max_bytes,
            local_active: self.inner.local.is_active(),
            redis_configured: self.inner.remote.is_some(),
            redis_available: remote.is_some(),
            pending_invalidations: self.inner.remote.as_ref().map_or(0, |r| r.pending().tags.len()),
            redis,
            redis_eviction_policy: policy,
        }
    }

    async fn redis_info(&self, remote: &Remote) -> Option<RedisInfo> {
        let tier = remote.generations.tier();
        // On a cluster: the figures of the node holding this namespace's generations.
        let marker = remote.generations.key(GLOBAL);
        let info = |mut c: Connection| async move {
            redis::cmd("EVAL").arg("return redis.call('INFO')").arg(1).arg(marker).query_async(&mut c).await
        };
        let text: String = tier.call(info).await.ok()?;
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim).unwrap_or_default()
        };
        let num = |name: &str| field(name).parse::<u64>().unwrap_or_default();
        let total_keys = text
            .lines()
            .filter(|l| l.starts_with("db"))
            .filter_map(|l| l.split_once("keys=")?.1.split(',').next()?.parse::<u64>().ok())
            .sum();
        let (namespace_keys, namespace_keys_complete) = self.count_namespace_keys(tier).await;
        Some(RedisInfo {
            version: field("redis_version").to_owned(),
            uptime_secs: num("uptime_in_seconds"),
            connected_clients: num("connected_clients"),
            used_memory_bytes: num("used_memory"),
            used_memory_human: field("used_memory_human").to_owned(),
            keyspace_hits: num("keyspace_hits"),
            keyspace_misses: num("keyspace_misses"),
            total_keys,
            namespace_keys,
            namespace_keys_complete,
        })
    }

    /// SCAN for this namespace's keys, for at most 200 ms (each call bounded by the tier).
    async fn count_namespace_keys(&self, tier: &RedisTier) -> (u64, bool) {
        if tier.is_cluster() {
            // A SCAN cursor walks one node; counting a cluster's keys is not worth the trouble.
            return (0, false);
        }
        let pattern = format!("{}:*", self.inner.config.namespace);
        let deadline = Instant::now() + Duration::from_millis(200);
        let (mut cursor, mut count) = (0u64, 0u64);
        loop {
            let pattern = pattern.clone();
            let page: Result<(u64, Vec<String>), _> = tier
                .call(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await;
            let Ok((next, keys)) = page else { return (count, false) };
            count += keys.len() as u64;
            cursor = next;
            if cursor == 0 {
                return (count, true);
            }
            if Instant::now() >= deadline {
                return (count, false);
            }
        }
    }

    /// Listen for other instances' announcements. While the subscription is down the
    /// in-process tier is suspended (see [`crate::local`]).
    ///
    /// Liveness is judged by what arrives, not by how fast a command answers: every instance
    /// publishes the current change sequence five times a second, so a subscription that
    /// hears nothing for [`CacheConfig::subscription_timeout`] is lost (Redis frozen, or the
    /// connection silently dead), and one that hears a number out of order missed a bump.
    /// A slow heartbeat is neither.
    fn spawn_subscriber(&self) {
        let Some(remote) = &self.inner.remote else { return };
        let client = remote.generations.tier().client().clone();
        let channel = remote.generations.channel();
        let weak = Arc::downgrade(&self.inner);
        let (connect_timeout, pause) =
            (self.inner.config.redis.connect_timeout, self.inner.config.redis.probe_interval);
        let timeout = self.inner.config.subscription_timeout;
        tokio::spawn(async move {
            loop {
                let subscribed = async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                };
                if let Ok(Ok(pubsub)) = tokio::time::timeout(connect_timeout * 2, subscribed).await {
                    {
                        let Some(inner) = weak.upgrade() else { return };
                        if let Some(r) = &inner.remote {
                            r.hearing.heard();
                            r.subscribed.store(true, Ordering::Release);
                        }
                    }
                    let mut messages = pubsub.into_on_message();
                    let mut heartbeat = tokio::time::interval(HEARTBEAT);
                    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut last: Option<u64> = None;
                    loop {
                        tokio::select! {
                            message = messages.next() => {
                                let Some(message) = message else { break };
                                let Some(inner) = weak.upgrade() else { return };
                                let payload: String = message.get_payload().unwrap_or_default();
                                Cache { inner }.receive(&payload, &mut last);
                            }
                            _ = heartbeat.tick() => {
                                let Some(inner) = weak.upgrade() else { return };
                                let Some(r) = &inner.remote else { return };
                                if r.hearing.silence() > timeout {
                                    break;
                                }
                                Cache { inner }.spawn_heartbeat();
                            }
                        }
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    if let Some(r) = &inner.remote {
                        r.subscribed.store(false, Ordering::Release);
                        r.hearing.breaks.fetch_add(1, Ordering::AcqRel);
                    }
                    inner.local.suspend();
                    Counters::add(&inner.counters.subscription_losses, 1);
                    tracing::warn!(
                        event = events::CACHE_SUBSCRIPTION_LOST,
                        "invalidation subscription lost; in-process tier suspended"
                    );
                }
                if weak.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        });
    }

    /// Apply one announcement: learn its bumps, drop deleted keys, and check its number
    /// against the last one heard (`last`). A number out of sequence means an announcement
    /// was missed (or Redis lost its counters): the in-process tier starts over.
    fn receive(&self, payload: &str, last: &mut Option<u64>) {
        let Some(remote) = &self.inner.remote else { return };
        remote.hearing.heard();
        let announcement = parse_announcement(payload);
        let gap = match (announcement.sequence, *last) {
            (Some(Sequence::Change(n)), Some(l)) => n != l + 1,
            (Some(Sequence::Current(n)), Some(l)) => n != l,
            _ => false,
        };
        if let Some(Sequence::Change(n) | Sequence::Current(n)) = announcement.sequence {
            *last = Some(n);
        }
        if gap {
            remote.hearing.breaks.fetch_add(1, Ordering::AcqRel);
            Counters::add(&self.inner.counters.sequence_gaps, 1);
            self.inner.local.suspend();
            tracing::warn!(
                event = events::CACHE_SUBSCRIPTION_GAP,
                "an invalidation announcement was missed; in-process tier restarted"
            );
        }
        self.inner.local.learn(announcement.bumps);
        for key in announcement.deleted {
            self.inner.local.remove(key);
        }
    }

    /// Publish the change sequence, and resynchronise with Redis when a reconnect or a replay
    /// waits (so they happen without waiting for a request); one at a time, never holding up
    /// the subscriber.
    fn spawn_heartbeat(self) {
        let Some(remote) = &self.inner.remote else { return };
        if remote.hearing.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(async move {
            if let Some(remote) = &self.inner.remote {
                let _ = remote.generations.heartbeat().await;
                let tier = remote.generations.tier();
                let healthy = tier.is_available() && remote.in_sync(tier.epoch());
                if healthy {
                    remote.hearing.healthy();
                } else if tier.is_available() {
                    let _ = self.remote_ready().await;
                }
                remote.hearing.busy.store(false, Ordering::Release);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|t| (*t).to_owned()).collect()
    }

    /// A write that remembers a tag again while a replay of that tag is on its way may have
    /// committed after the replay's bump reached Redis: its invalidation must stay pending.
    /// (Forgetting every replayed tag by name lost it: a stale read after a completed write.)
    #[test]
    fn a_tag_remembered_again_during_a_replay_stays_pending() {
        let mut p = Pending::default();
        p.remember(&tags(&["trig:1", "logs:list"]), 100);
        let (sent, _, version) = p.snapshot();
        assert_eq!(sent, ["logs:list", "trig:1"]);
        p.remember(&tags(&["trig:1"]), 100);
        p.replayed(version);
        assert_eq!(p.snapshot().0, ["trig:1"], "the later write's tag is replayed again");
        let (_, _, version) = p.snapshot();
        p.replayed(version);
        assert!(p.is_empty());
    }

    #[test]
    fn an_overflow_replays_one_global_bump_and_keeps_what_came_after() {
        let mut p = Pending::default();
        p.remember(&tags(&["a", "b", "c"]), 2);
        let (sent, overflowed, version) = p.snapshot();
        assert!(sent.is_empty() && overflowed);
        p.remember(&tags(&["d"]), 2);
        p.replayed(version);
        assert!(p.overflowed, "remembered after the snapshot: still to replay");
        let (_, _, version) = p.snapshot();
        p.replayed(version);
        assert!(p.is_empty());
    }
}
