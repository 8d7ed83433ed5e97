//! What an operator sees and steers: [`Cache::flush`] by [`Target`], and [`Cache::stats`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cache::Cache;
use crate::envelope::Entry;
use crate::events;
use crate::generations::GLOBAL;
use crate::groups::GroupStats;
use crate::policy::Policy;
use crate::remote::{Remote, may_evict_generations};
use crate::stats::Snapshot;
use crate::store::Store;

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
            "Unsupported cache pattern '{}'. Supported forms: '*' (everything), '<tag>:*' with a literal tag \
             such as 'item:*' or 'item:123:*', or an exact key without wildcards",
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
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// Figures per group of responses ([`crate::Policy::group`]), by name.
    pub groups: Vec<GroupStats>,
}

/// Where one entry stands: what [`Cache::inspect`] finds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// The key.
    pub key: String,
    /// The tags it depends on, the namespace-wide one included.
    pub tags: Vec<String>,
    /// How long it is fresh once stored.
    pub ttl: Duration,
    /// Each tag's current generation, in the order of `tags` (`None` when it could not be
    /// read: Redis is configured but does not answer, or the in-process table does not know it).
    pub generations: Vec<Option<u64>>,
    /// The entry in the in-process tier, if there is one.
    pub local: Option<EntryState>,
    /// The entry in Redis, if there is one (`None` also when Redis does not answer).
    pub redis: Option<EntryState>,
    /// Whether Redis answered (false without Redis).
    pub redis_answered: bool,
}

/// One stored copy of an entry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntryState {
    /// Seconds since it was stored.
    pub age_secs: u64,
    /// Seconds of freshness left (negative once past its TTL, when only grace serves it).
    pub fresh_secs_left: i64,
    /// The generations it was computed under, in the order of the tags.
    pub stamped: Vec<u64>,
    /// Whether those are the current generations: whether it may be served.
    pub current: bool,
    /// Its body's size, as sent without compression.
    pub body_bytes: usize,
}

impl Stats {
    /// True when Redis's eviction policy may evict keys without a TTL (`allkeys-*`):
    /// generation counters could then be dropped. Use `volatile-*` or `noeviction`.
    pub fn eviction_may_drop_generations(&self) -> bool {
        self.redis_eviction_policy.as_deref().is_some_and(may_evict_generations)
    }
}

impl RedisInfo {
    /// The fields of an `INFO` report (the key counts are left at zero).
    fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim).unwrap_or_default()
        };
        let num = |name: &str| field(name).parse::<u64>().unwrap_or_default();
        let total_keys = text
            .lines()
            .filter(|l| l.starts_with("db"))
            .filter_map(|l| l.split_once("keys=")?.1.split(',').next()?.parse::<u64>().ok())
            .sum();
        Self {
            version: field("redis_version").to_owned(),
            uptime_secs: num("uptime_in_seconds"),
            connected_clients: num("connected_clients"),
            used_memory_bytes: num("used_memory"),
            used_memory_human: field("used_memory_human").to_owned(),
            keyspace_hits: num("keyspace_hits"),
            keyspace_misses: num("keyspace_misses"),
            total_keys,
            namespace_keys: 0,
            namespace_keys_complete: false,
        }
    }
}

/// Flushing and figures.
impl Cache {
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
                        let deleted = remote.store().delete(&full).await.unwrap_or_default();
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
        self.collect_stats(Ask::InfoAndKeys).await
    }

    /// Counters, tier sizes and Redis's `INFO`, without counting keys: cheap enough for a
    /// dashboard polling every few seconds.
    pub async fn stats_with_info(&self) -> Stats {
        self.collect_stats(Ask::Info).await
    }

    /// Counters and tier sizes without asking Redis anything (for a metrics scrape).
    pub async fn local_stats(&self) -> Stats {
        self.collect_stats(Ask::Nothing).await
    }

    async fn collect_stats(&self, ask: Ask) -> Stats {
        let (local_entries, local_bytes) = self.inner.local.size();
        let remote = self.remote_ready().await;
        let redis = match remote {
            Some(remote) if ask != Ask::Nothing => self.redis_info(remote, ask == Ask::InfoAndKeys).await,
            _ => None,
        };
        let policy = self.inner.remote.as_ref().and_then(Remote::eviction_policy);
        let mut counters = self.inner.counters.snapshot();
        counters.local_suspensions = self.inner.local.suspensions();
        counters.breaker_openings = self.inner.remote.as_ref().map_or(0, |r| Store::trips(r.store()));
        Stats {
            counters,
            local_entries,
            local_bytes,
            local_max_bytes: self.inner.config.local_max_bytes,
            local_active: self.inner.local.is_active(),
            redis_configured: self.inner.remote.is_some(),
            redis_available: remote.is_some(),
            pending_invalidations: self.inner.remote.as_ref().map_or(0, Remote::pending_count),
            redis,
            redis_eviction_policy: policy,
            groups: self.inner.groups.snapshot(),
        }
    }

    /// The `n` requests asked for most, hottest first, as `(target, score)`: a target is a
    /// request's path and query as sent (only requests made with [`crate::RequestView::of`]
    /// and open to the front door are counted), a score the requests it stood for, halved
    /// every ten minutes. The fleet's record in Redis when it answers, else this process's
    /// copy. A warmer replays them, hottest first, after the entries were lost
    /// ([`crate::Snapshot::everything_invalidated`]): each replay is a request like any
    /// other, so what it stores passes the same generation check.
    pub async fn hottest(&self, n: usize) -> Vec<(String, f64)> {
        if let Some(remote) = self.remote_ready().await {
            let (key, _) = self.inner.heat_keys();
            if let Ok(ranking) = remote.store().hottest(&key, n).await
                && !ranking.is_empty()
            {
                return ranking;
            }
        }
        self.inner.heat.local_hottest(n)
    }

    /// Times every entry was invalidated at once, as this instance saw it (cheap: for a
    /// warmer polling it).
    pub fn everything_invalidated(&self) -> u64 {
        self.inner.counters.everything_invalidated.load(Ordering::Relaxed)
    }

    /// Where the entry of `policy` stands, in both tiers, without serving or changing anything:
    /// for an operator asking why a response is (not) cached.
    pub async fn inspect(&self, policy: &Policy) -> Inspection {
        let now = self.inner.config.clock.now_millis();
        let state = |entry: &Entry, generations: &[Option<u64>]| {
            let stamped = entry.meta().generations.clone();
            let age_ms = now.saturating_sub(entry.stored_at_millis());
            EntryState {
                age_secs: age_ms / 1000,
                fresh_secs_left: i64::from(entry.meta().ttl_secs) - i64::try_from(age_ms / 1000).unwrap_or(i64::MAX),
                current: stamped.len() == generations.len()
                    && stamped.iter().zip(generations).all(|(s, g)| Some(*s) == *g),
                stamped,
                body_bytes: entry.identity_body().map_or(0, |b| b.len()),
            }
        };
        let tags = policy.tags.clone();
        let (mut generations, mut redis, mut redis_answered) = (vec![None; tags.len()], None, false);
        match self.remote_ready().await {
            Some(remote) => {
                let keys: Vec<String> = tags.iter().map(|t| remote.generations.key(t)).collect();
                if let Ok((value, counters)) = remote.store().get_with_counters(&policy.key, &keys).await {
                    redis_answered = true;
                    generations = counters.into_iter().map(Some).collect();
                    redis = value.and_then(|v| Entry::decode(&v).ok()).map(|e| state(&e, &generations));
                }
            }
            None if self.inner.remote.is_none() => {
                generations = self.inner.local.known_generations(&tags);
            }
            None => {}
        }
        let local = self.inner.local.get_unchecked(&policy.key).map(|s| state(&s.entry, &generations));
        Inspection { key: policy.key.clone(), ttl: policy.ttl, tags, generations, local, redis, redis_answered }
    }

    /// Redis's `INFO`, and with `count_keys` a count of the namespace's keys bounded in time.
    async fn redis_info(&self, remote: &Remote, count_keys: bool) -> Option<RedisInfo> {
        // On a cluster: the figures of the node holding this namespace's generations.
        let text = remote.store().server_info(&remote.generations.key(GLOBAL)).await.ok()?;
        let info = RedisInfo::parse(&text);
        if !count_keys {
            return Some(info);
        }
        let pattern = format!("{}:*", self.inner.config.namespace);
        let (namespace_keys, namespace_keys_complete) =
            remote.store().count_keys(&pattern, Duration::from_millis(200)).await;
        Some(RedisInfo { namespace_keys, namespace_keys_complete, ..info })
    }
}

/// What [`Cache::collect_stats`] asks Redis.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ask {
    Nothing,
    Info,
    InfoAndKeys,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_everything_a_tag_or_a_key() {
        assert_eq!(Target::parse("*"), Ok(Target::All));
        assert_eq!(Target::parse("item:123:*"), Ok(Target::Tag("item:123".into())));
        assert_eq!(Target::parse("ns:item:1:v1"), Ok(Target::Key("ns:item:1:v1".into())));
        for bad in ["", "item*", "it?m:*", ":*", "a:[b]:*"] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn info_fields_and_key_counts_are_read() {
        let text = "# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:42\r\n# Keyspace\r\n\
                    db0:keys=10,expires=2,avg_ttl=0\r\ndb1:keys=5,expires=0,avg_ttl=0\r\n";
        let info = RedisInfo::parse(text);
        assert_eq!((info.version.as_str(), info.uptime_secs, info.total_keys), ("7.2.4", 42, 15));
    }
}
