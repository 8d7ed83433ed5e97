//! Tag generations: O(1) invalidation that cannot lose a race with a concurrent miss.
//!
//! Every entry depends on a few *tags* (the application chooses them, e.g. `trig:123`,
//! `trigs:list`), always including the namespace-wide [`GLOBAL`] tag. Each tag has a
//! generation counter in Redis. Invalidating a tag is one `INCR`, however many keys depend on
//! it; flushing everything is one `INCR` of the global tag.
//!
//! The protocol that makes it race-free:
//! 1. a miss reads the current generations of the entry's tags **before** computing;
//! 2. the entry is stored with those generations ([`crate::envelope::EntryMeta::generations`]);
//! 3. a write bumps its tags **after** its database commit;
//! 4. a read fetches the entry and the current generations in one round trip
//!    ([`Generations::lookup`]) and treats any difference as a miss.
//!
//! A result computed from pre-write data therefore carries pre-bump generations and is dead on
//! arrival, even when it is stored after the write's invalidation.
//!
//! Generation keys live under `{namespace}:gen:{tag}` and never expire, so they are not evicted
//! before the entries that depend on them as long as Redis evicts only volatile keys.

use crate::envelope::{DecodeError, Entry};
use crate::tier_redis::{RedisTier, TierError};

/// The tag every entry depends on; bumping it invalidates the whole namespace.
pub const GLOBAL: &str = "*";

/// Generation counters of one namespace (`{prefix}:{environment}`), stored in Redis.
#[derive(Debug, Clone)]
pub struct Generations {
    tier: RedisTier,
    namespace: String,
}

/// What [`Generations::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// No entry under the key.
    Missing,
    /// The entry is current: its stored generations equal the tags' generations now.
    Current(Entry),
    /// The entry exists but a tag was bumped since it was computed.
    Invalidated,
    /// The stored bytes are not a readable entry (callers delete it and log).
    Corrupt(DecodeError),
}

impl Generations {
    /// Counters for `namespace` on `tier`.
    pub fn new(tier: RedisTier, namespace: impl Into<String>) -> Self {
        Self { tier, namespace: namespace.into() }
    }

    /// The Redis key holding `tag`'s generation.
    pub fn key(&self, tag: &str) -> String {
        format!("{}:gen:{tag}", self.namespace)
    }

    fn keys(&self, tags: &[impl AsRef<str>]) -> Vec<String> {
        tags.iter().map(|t| self.key(t.as_ref())).collect()
    }

    /// `tags` with [`GLOBAL`] first and no duplicates: the order generations are stored in.
    pub fn tag_set<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out = vec![GLOBAL.to_owned()];
        for t in tags {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_owned());
            }
        }
        out
    }

    /// Current generations of `tags` (0 for a tag never bumped), in the same order.
    pub async fn read(&self, tags: &[String]) -> Result<Vec<u64>, TierError> {
        let keys = self.keys(tags);
        self.tier
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.cmd("GET").arg(k);
                }
                let values: Vec<Option<u64>> = pipe.query_async(&mut c).await?;
                Ok(values.into_iter().map(Option::unwrap_or_default).collect())
            })
            .await
    }

    /// Invalidate `tags`: one `INCR` each, in one round trip. Call after the write commits.
    pub async fn bump(&self, tags: &[&str]) -> Result<(), TierError> {
        let keys = self.keys(tags);
        self.tier
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.cmd("INCR").arg(k).ignore();
                }
                pipe.query_async::<()>(&mut c).await
            })
            .await
    }

    /// Fetch the entry under `key` and the current generations of its `tags` in one round trip.
    pub async fn lookup(&self, key: &str, tags: &[String]) -> Result<Lookup, TierError> {
        let gen_keys = self.keys(tags);
        let (bytes, now): (Option<Vec<u8>>, Vec<u64>) = self
            .tier
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                pipe.cmd("GET").arg(key);
                for k in &gen_keys {
                    pipe.cmd("GET").arg(k);
                }
                let mut values: Vec<redis::Value> = pipe.query_async(&mut c).await?;
                let gens = values.split_off(1.min(values.len()));
                let entry: Option<Vec<u8>> = match values.pop() {
                    Some(v) => redis::from_redis_value(v)?,
                    None => None,
                };
                let gens =
                    gens.into_iter().map(redis::from_redis_value::<Option<u64>>).collect::<Result<Vec<_>, _>>()?;
                Ok((entry, gens.into_iter().map(Option::unwrap_or_default).collect()))
            })
            .await?;
        let Some(bytes) = bytes else { return Ok(Lookup::Missing) };
        match Entry::decode(&bytes) {
            Err(e) => Ok(Lookup::Corrupt(e)),
            Ok(entry) if entry.meta().generations == now => Ok(Lookup::Current(entry)),
            Ok(_) => Ok(Lookup::Invalidated),
        }
    }
}
