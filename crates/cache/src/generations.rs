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
//! tag) and never expire, so they are not evicted before the entries that depend on them as
//! long as Redis evicts only volatile keys (`volatile-*` or `noeviction`; the cache reads
//! `maxmemory-policy` at every connection and warns about `allkeys-*`, under which an evicted
//! counter would restart at 0 and could make an old entry current again).
//!
//! Every change is announced on the namespace's channel with a number from one counter
//! (`#n`), and [`Generations::heartbeat`] publishes the latest number (`=n`), so a subscriber
//! can tell a quiet channel from a lost one, and a missed announcement from none.

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

/// INCR each generation key (all but the last key), then announce the change on the channel:
/// `"#{sequence}"`, then `"{generation} {tag}"` lines. The last key is the namespace's change
/// sequence, numbered so that a subscriber can tell when it missed an announcement.
const BUMP_SCRIPT: &str = r"
local n = #KEYS - 1
local out, msg = {}, {}
msg[1] = '#' .. redis.call('INCR', KEYS[#KEYS])
for i = 1, n do
  out[i] = redis.call('INCR', KEYS[i])
  msg[i + 1] = string.format('%d ', out[i]) .. ARGV[i + 1]
end
redis.call('PUBLISH', ARGV[1], table.concat(msg, '\n'))
return out
";

/// Announce that the entries under ARGV[2..] were deleted: `"#{sequence}"`, then `"D {key}"`
/// lines. KEYS[1] is the change sequence.
const DELETED_SCRIPT: &str = r"
local msg = { '#' .. redis.call('INCR', KEYS[1]) }
for i = 2, #ARGV do
  msg[i] = 'D ' .. ARGV[i]
end
redis.call('PUBLISH', ARGV[1], table.concat(msg, '\n'))
return 1
";

/// Announce the current change sequence (`"={sequence}"`): a subscriber that has not seen it
/// missed something, and one that hears nothing for long has lost its subscription.
const HEARTBEAT_SCRIPT: &str = r"
local s = redis.call('GET', KEYS[1]) or '0'
redis.call('PUBLISH', ARGV[1], '=' .. s)
return 1
";

/// Make the generations those of the server now answering (see
/// [`Generations::check_restart`]). KEYS: the run-id marker, the global generation, the change
/// sequence; ARGV: the clock in milliseconds, the channel. Returns 0 when the marker already
/// names this server run, else the new global generation: the larger of the clock and the
/// current value plus one, so it never moves backwards, set in the same atomic step as the
/// marker.
const RESTART_SCRIPT: &str = r"
local info = redis.call('INFO', 'server')
local run_id = string.match(info, 'run_id:(%w+)') or ''
if redis.call('GET', KEYS[1]) == run_id then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local unique = math.max(current + 1, tonumber(ARGV[1]))
local generation = string.format('%d', unique)
redis.call('SET', KEYS[2], generation)
redis.call('SET', KEYS[1], run_id)
local seq = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], '#' .. seq .. '\n' .. generation .. ' *')
return unique
";

/// Where an announcement stands in the namespace's numbered sequence of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// `#n`: the `n`th change (a bump, a restart, a deletion).
    Change(u64),
    /// `=n`: a heartbeat; the latest change is the `n`th.
    Current(u64),
}

/// One message of the channel, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Announcement<'a> {
    /// Its place in the sequence (absent in messages of older versions).
    pub sequence: Option<Sequence>,
    /// `(tag, new generation)` pairs.
    pub bumps: Vec<(&'a str, u64)>,
    /// Keys whose entries were deleted.
    pub deleted: Vec<&'a str>,
}

/// Parse a message of the channel (what [`Generations::bump`], [`Generations::announce_deleted`]
/// and [`Generations::heartbeat`] publish). Lines it does not know are skipped.
pub fn parse_announcement(payload: &str) -> Announcement<'_> {
    let mut out = Announcement::default();
    for line in payload.lines() {
        if let Some(n) = line.strip_prefix('#').and_then(|n| n.parse().ok()) {
            out.sequence = Some(Sequence::Change(n));
        } else if let Some(n) = line.strip_prefix('=').and_then(|n| n.parse().ok()) {
            out.sequence = Some(Sequence::Current(n));
        } else if let Some(key) = line.strip_prefix("D ") {
            out.deleted.push(key);
        } else if let Some(bump) = parse_bump(line) {
            out.bumps.push(bump);
        }
    }
    out
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

/// What a bump published, parsed back by subscribers: `(tag, new generation)` pairs.
pub fn parse_message(payload: &str) -> Vec<(&str, u64)> {
    payload.lines().filter_map(parse_bump).collect()
}

/// One `"{generation} {tag}"` line.
fn parse_bump(line: &str) -> Option<(&str, u64)> {
    let (generation, tag) = line.split_once(' ')?;
    Some((tag, generation.parse().ok()?))
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

    /// The key of the namespace's change sequence (in the generations' slot).
    fn sequence_key(&self) -> String {
        format!("{{{}}}:gen-seq", self.namespace)
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
        let mut keys = self.keys(tags);
        keys.push(self.sequence_key());
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

    /// Tell every subscriber that the entries under `keys` were deleted (an exact-key flush),
    /// so that they drop their in-process copies too.
    pub async fn announce_deleted(&self, keys: &[String]) -> Result<(), TierError> {
        let (sequence, channel) = (self.sequence_key(), self.channel());
        self.tier
            .call(|mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(DELETED_SCRIPT).arg(1).arg(&sequence).arg(channel).arg(keys);
                cmd.query_async::<i64>(&mut c).await.map(drop)
            })
            .await
    }

    /// Publish the current change sequence (see [`Sequence::Current`]), even while the
    /// breaker is open: a slow Redis still carries it, a dead one does not.
    pub async fn heartbeat(&self) -> Result<(), TierError> {
        let (sequence, channel) = (self.sequence_key(), self.channel());
        self.tier
            .call_unguarded(|mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(HEARTBEAT_SCRIPT).arg(1).arg(&sequence).arg(channel);
                cmd.query_async::<i64>(&mut c).await.map(drop)
            })
            .await
    }

    /// Redis's `maxmemory-policy`, where `CONFIG GET` is allowed (`None` elsewhere, e.g. on
    /// managed services that rename or refuse it).
    pub async fn eviction_policy(&self) -> Option<String> {
        let answer: Result<Vec<String>, _> =
            self.tier
                .call(|mut c| async move {
                    redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(&mut c).await
                })
                .await;
        answer.ok()?.into_iter().nth(1)
    }

    /// Make sure the generations are those of the Redis server now answering. Redis does not
    /// keep counters across a restart without persistence, and one restored from a snapshot
    /// has lost the bumps made after it: either way an old entry could look current. The run
    /// id the counters belong to is kept next to them; when it differs from the server's
    /// (a restart, or a first start), the global generation is set to a value never used
    /// before (the clock in milliseconds, far above any count of bumps), which invalidates
    /// every entry stored under the old counters. Returns true when that happened.
    pub async fn check_restart(&self) -> Result<bool, TierError> {
        let keys = [format!("{{{}}}:gen-run-id", self.namespace), self.key(GLOBAL), self.sequence_key()];
        let channel = self.channel();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        // One script: on a cluster its keys share the namespace's slot (and INFO answers from
        // that node); everywhere, no other instance can interleave between the check and the
        // set, so the global generation never moves backwards.
        let set: u64 = self
            .tier
            .call(|mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RESTART_SCRIPT).arg(keys.len()).arg(&keys).arg(now).arg(channel);
                cmd.query_async(&mut c).await
            })
            .await?;
        Ok(set != 0)
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
