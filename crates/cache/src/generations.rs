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
//! Generation keys live under `{namespace}:gen:{tag}` (the braces are literal: a cluster hash
//! tag) and never expire, so they are not evicted
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

/// INCR each key, then announce `"{generation} {tag}\n"` lines on the channel.
const BUMP_SCRIPT: &str = r"
local out, msg = {}, {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCR', key)
  msg[i] = string.format('%d ', out[i]) .. ARGV[i + 1]
end
redis.call('PUBLISH', ARGV[1], table.concat(msg, '\n'))
return out
";

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

/// What a bump published, parsed back by subscribers: `(tag, new generation)` pairs.
pub fn parse_message(payload: &str) -> Vec<(&str, u64)> {
    payload
        .lines()
        .filter_map(|line| {
            let (generation, tag) = line.split_once(' ')?;
            Some((tag, generation.parse().ok()?))
        })
        .collect()
}

impl Generations {
    /// Counters for `namespace` on `tier`.
    pub fn new(tier: RedisTier, namespace: impl Into<String>) -> Self {
        Self { tier, namespace: namespace.into() }
    }

    /// The tier the counters live on.
    pub fn tier(&self) -> &RedisTier {
        &self.tier
    }

    /// The Redis key holding `tag`'s generation. The namespace in braces is a hash tag: on a
    /// cluster every generation of a namespace lives in one slot, so a bump of several tags (a
    /// script) and a read of an entry's generations stay single-slot.
    pub fn key(&self, tag: &str) -> String {
        format!("{{{}}}:gen:{tag}", self.namespace)
    }

    /// The pub/sub channel every bump is announced on.
    pub fn channel(&self) -> String {
        format!("{}:gen", self.namespace)
    }

    fn keys(&self, tags: &[impl AsRef<str>]) -> Vec<String> {
        tags.iter().map(|t| self.key(t.as_ref())).collect()
    }

    /// `tags` with [`GLOBAL`] first and no duplicates: the order generations are stored in.
    /// Takes the tags by value, so owned strings are moved, not copied.
    pub fn tag_set(tags: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        let mut out = vec![GLOBAL.to_owned()];
        for t in tags {
            let t = t.into();
            if !out.contains(&t) {
                out.push(t);
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

    /// Invalidate `tags`: one `INCR` each and one `PUBLISH` of the new values, atomically and
    /// in one round trip (a short server-side script). Returns the new generations, in the
    /// order of `tags`. Call after the write commits.
    pub async fn bump(&self, tags: &[impl AsRef<str>]) -> Result<Vec<u64>, TierError> {
        let keys = self.keys(tags);
        let channel = self.channel();
        let tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        self.tier
            .call(|mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(BUMP_SCRIPT).arg(keys.len()).arg(&keys).arg(channel).arg(&tags);
                cmd.query_async(&mut c).await
            })
            .await
    }

    /// Make sure the generations are those of the Redis server now answering. Redis does not
    /// keep counters across a restart without persistence, and one restored from a snapshot
    /// has lost the bumps made after it: either way an old entry could look current. The run
    /// id the counters belong to is kept next to them; when it differs from the server's
    /// (a restart, or a first start), the global generation is set to a value never used
    /// before (the clock in milliseconds, far above any count of bumps), which invalidates
    /// every entry stored under the old counters. Returns true when that happened.
    pub async fn check_restart(&self) -> Result<bool, TierError> {
        let marker = format!("{{{}}}:gen-run-id", self.namespace);
        let global = self.key(GLOBAL);
        let channel = self.channel();
        self.tier
            .call(|mut c| async move {
                // Through a script keyed by the marker, so that on a cluster the answer comes
                // from the node holding this namespace's generations.
                let info: String = redis::cmd("EVAL")
                    .arg("return redis.call('INFO', 'server')")
                    .arg(1)
                    .arg(&marker)
                    .query_async(&mut c)
                    .await?;
                let run_id =
                    info.lines().find_map(|l| l.strip_prefix("run_id:")).map(str::trim).unwrap_or_default().to_owned();
                let known: Option<String> = redis::cmd("GET").arg(&marker).query_async(&mut c).await?;
                if known.as_deref() == Some(run_id.as_str()) {
                    return Ok(false);
                }
                let unique = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or_default();
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("SET")
                    .arg(&global)
                    .arg(unique)
                    .ignore()
                    .cmd("SET")
                    .arg(&marker)
                    .arg(&run_id)
                    .ignore();
                pipe.query_async::<()>(&mut c).await?;
                // Apart from the transaction: on a cluster the channel name counts as a key of
                // another slot.
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(format!("{unique} {GLOBAL}\n"))
                    .query_async::<i64>(&mut c)
                    .await?;
                Ok(true)
            })
            .await
    }

    /// Fetch the entry under `key` and the current generations of its `tags` in one round
    /// trip. The generations are returned whatever was found: a miss computes under them.
    pub async fn lookup(&self, key: &str, tags: &[String]) -> Result<(Lookup, Vec<u64>), TierError> {
        let (bytes, now) = if self.tier.is_cluster() {
            // The entry and the generations live in different slots: two commands, sent at once.
            let entry = self.tier.get(key);
            let gens = self.read(tags);
            let (entry, gens) = tokio::join!(entry, gens);
            (entry?, gens?)
        } else {
            let gen_keys = self.keys(tags);
            self.tier
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
                    Ok((entry, gens.into_iter().map(Option::unwrap_or_default).collect::<Vec<u64>>()))
                })
                .await?
        };
        let Some(bytes) = bytes else { return Ok((Lookup::Missing, now)) };
        let found = match Entry::decode(&bytes) {
            Err(e) => Lookup::Corrupt(e),
            Ok(entry) if entry.meta().generations == now => Lookup::Current(entry),
            Ok(_) => Lookup::Invalidated,
        };
        Ok((found, now))
    }
}
