//! The storage seam: every command the cache sends to its shared store, as verbs of the
//! protocol rather than as Redis commands.
//!
//! The rest of the crate speaks only these verbs; the Redis tier (`tier_redis`) is where they
//! become Redis commands (and Lua scripts, for the steps that must be atomic). Another store (a
//! different client, a cluster proxy, a store for a single process) implements this trait and
//! nothing else changes.
//!
//! Every call is bounded in time by the implementation and fails with a [`TierError`] rather
//! than waiting: the cache serves from the origin when the store does not answer.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::BoxStream;

/// Why a store call returned no answer.
#[derive(Debug)]
pub enum TierError {
    /// The breaker is open (or there is no connection yet): not attempted.
    Unavailable,
    /// No answer within the command timeout.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    #[cfg(feature = "redis")]
    Redis(redis::RedisError),
}

impl std::fmt::Display for TierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TierError::Unavailable => f.write_str("redis unavailable (circuit open)"),
            TierError::Timeout => f.write_str("redis command timed out"),
            #[cfg(feature = "redis")]
            TierError::Redis(e) => write!(f, "redis error: {e}"),
        }
    }
}

impl std::error::Error for TierError {}

/// No shared store (the crate was built without Redis): there is never a value of this type,
/// so every method is unreachable.
#[cfg(not(feature = "redis"))]
#[derive(Debug, Clone)]
pub enum NoStore {}

#[cfg(not(feature = "redis"))]
impl Store for NoStore {
    fn is_available(&self) -> bool {
        match *self {}
    }
    fn epoch(&self) -> u64 {
        match *self {}
    }
    fn trips(&self) -> u64 {
        match *self {}
    }
    fn current_timeout(&self) -> Duration {
        match *self {}
    }
    async fn get_with_counters(&self, _: &str, _: &[String]) -> Answer<(Option<Vec<u8>>, Vec<u64>)> {
        match *self {}
    }
    async fn counters(&self, _: &[String]) -> Answer<Vec<u64>> {
        match *self {}
    }
    async fn put(&self, _: &str, _: Vec<u8>, _: u64, _: Option<&str>) -> Answer<()> {
        match *self {}
    }
    async fn delete(&self, _: &str) -> Answer<u64> {
        match *self {}
    }
    async fn try_lock(&self, _: &str, _: Duration) -> Answer<bool> {
        match *self {}
    }
    async fn exists(&self, _: &str) -> Answer<bool> {
        match *self {}
    }
    async fn hold(&self, _: &str, _: &str, _: Duration) -> Answer<bool> {
        match *self {}
    }
    async fn bump(&self, _: Bookkeeping<'_>, _: &[String], _: &[String]) -> Answer<Vec<u64>> {
        match *self {}
    }
    async fn announce_deleted(&self, _: Bookkeeping<'_>, _: &[String]) -> Answer<()> {
        match *self {}
    }
    async fn announce_current(&self, _: Bookkeeping<'_>) -> Answer<()> {
        match *self {}
    }
    async fn adopt_server_run(&self, _: Bookkeeping<'_>, _: &str, _: &str, _: u64) -> Answer<bool> {
        match *self {}
    }
    async fn subscribe(&self, _: &str) -> Answer<BoxStream<'static, String>> {
        match *self {}
    }
    async fn eviction_policy(&self) -> Option<String> {
        match *self {}
    }
    async fn server_info(&self, _: &str) -> Answer<String> {
        match *self {}
    }
    async fn count_keys(&self, _: &str, _: Duration) -> (u64, bool) {
        match *self {}
    }
    async fn add_heat(&self, _: &str, _: &str, _: &[(String, u64)], _: usize, _: Duration) -> Answer<()> {
        match *self {}
    }
    async fn hottest(&self, _: &str, _: usize) -> Answer<Vec<(String, f64)>> {
        match *self {}
    }
    async fn own(&self, _: &str, _: &str, _: usize, _: u64, _: u64) -> Answer<Vec<String>> {
        match *self {}
    }
}

/// What a store answers, or why it did not.
pub type Answer<T> = Result<T, TierError>;

/// The keys of one namespace's bookkeeping (its generations name them).
#[derive(Debug, Clone, Copy)]
pub struct Bookkeeping<'a> {
    /// The namespace's numbered change sequence.
    pub sequence: &'a str,
    /// The channel every change is announced on.
    pub channel: &'a str,
}

/// A shared store of entries and generation counters, with a channel for announcements.
pub trait Store: Clone + Send + Sync + 'static {
    /// False while the store is known to be unreachable (its circuit breaker is open).
    fn is_available(&self) -> bool;

    /// Connections made so far: a change means "reconnected since you last looked".
    fn epoch(&self) -> u64;

    /// Times the store was found unreachable (the breaker opened).
    fn trips(&self) -> u64;

    /// How long the next call may take before it counts as failed.
    fn current_timeout(&self) -> Duration;

    /// The value under `key` and the counters under `counters` (0 when unset), together.
    fn get_with_counters(
        &self,
        key: &str,
        counters: &[String],
    ) -> impl Future<Output = Answer<(Option<Vec<u8>>, Vec<u64>)>> + Send;

    /// The counters under `keys` (0 when unset), in order.
    fn counters(&self, keys: &[String]) -> impl Future<Output = Answer<Vec<u64>>> + Send;

    /// Store `value` under `key` for `ttl_secs`, and delete `release` in the same round trip.
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_secs: u64,
        release: Option<&str>,
    ) -> impl Future<Output = Answer<()>> + Send;

    /// Delete `key`; how many keys were deleted (0 or 1).
    fn delete(&self, key: &str) -> impl Future<Output = Answer<u64>> + Send;

    /// Take `key` for `ttl` if nobody holds it; true when taken.
    fn try_lock(&self, key: &str, ttl: Duration) -> impl Future<Output = Answer<bool>> + Send;

    /// Whether `key` exists.
    fn exists(&self, key: &str) -> impl Future<Output = Answer<bool>> + Send;

    /// Hold `key` for `holder` for `ttl`: take it if nobody holds it, extend it if `holder`
    /// does. True when `holder` holds it now.
    fn hold(&self, key: &str, holder: &str, ttl: Duration) -> impl Future<Output = Answer<bool>> + Send;

    /// Increment the counters under `counter_keys` and announce the new values for `tags` with
    /// the next change number, atomically. Returns the new values, in order.
    fn bump(
        &self,
        book: Bookkeeping<'_>,
        counter_keys: &[String],
        tags: &[String],
    ) -> impl Future<Output = Answer<Vec<u64>>> + Send;

    /// Announce, with the next change number, that the entries under `keys` were deleted.
    fn announce_deleted(&self, book: Bookkeeping<'_>, keys: &[String]) -> impl Future<Output = Answer<()>> + Send;

    /// Announce the latest change number, even while the breaker is open (a slow store still
    /// carries it, a dead one does not).
    fn announce_current(&self, book: Bookkeeping<'_>) -> impl Future<Output = Answer<()>> + Send;

    /// If the server run recorded under `run_key` is not the one answering now, record it, set
    /// the counter `global_key` to more than both its value and `floor`, and announce that;
    /// true when that happened. One atomic step.
    fn adopt_server_run(
        &self,
        book: Bookkeeping<'_>,
        run_key: &str,
        global_key: &str,
        floor: u64,
    ) -> impl Future<Output = Answer<bool>> + Send;

    /// Every announcement on `channel` from now on, until the subscription is lost (the
    /// stream ends).
    fn subscribe(&self, channel: &str) -> impl Future<Output = Answer<BoxStream<'static, String>>> + Send;

    /// The server's eviction policy, where it tells (`None` where it refuses).
    fn eviction_policy(&self) -> impl Future<Output = Option<String>> + Send;

    /// The server's own report (`INFO`), from the node that holds `route_key`.
    fn server_info(&self, route_key: &str) -> impl Future<Output = Answer<String>> + Send;

    /// How many keys match `pattern`, counting for at most `budget`; false when the count
    /// stopped before the end.
    fn count_keys(&self, pattern: &str, budget: Duration) -> impl Future<Output = (u64, bool)> + Send;

    /// Add `increments` to the scores of their members in the ranking under `key`, keep its
    /// `keep` highest, and halve every score once per `half_life` (the key `gate` marks the
    /// last halving). `key` and `gate` share a cluster slot.
    fn add_heat(
        &self,
        key: &str,
        gate: &str,
        increments: &[(String, u64)],
        keep: usize,
        half_life: Duration,
    ) -> impl Future<Output = Answer<()>> + Send;

    /// The `n` highest members of the ranking under `key`, highest first, with their scores.
    fn hottest(&self, key: &str, n: usize) -> impl Future<Output = Answer<Vec<(String, f64)>>> + Send;

    /// Mark `member` used at `used` (a number that grows with time) in the index under `index`
    /// (kept for `ttl_secs`), and
    /// drop from it the least recently used beyond `max`: returns those dropped, whose entries
    /// the caller deletes.
    fn own(
        &self,
        index: &str,
        member: &str,
        max: usize,
        used: u64,
        ttl_secs: u64,
    ) -> impl Future<Output = Answer<Vec<String>>> + Send;
}
