//! Tag generations: O(1) invalidation that cannot lose a race with a concurrent miss.
//!
//! Every entry depends on a few *tags* (the application chooses them, e.g. `item:123`,
//! `items:list`), always including the namespace-wide [`GLOBAL`] tag. Each tag has a
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
use crate::shared::SharedStore;
use crate::store::{Bookkeeping, Store, TierError};

/// The tag every entry depends on; bumping it invalidates the whole namespace.
pub const GLOBAL: &str = "*";

/// Generation counters of one namespace (`{prefix}:{environment}`), kept in a [`Store`].
#[derive(Debug, Clone)]
pub struct Generations<S = SharedStore> {
    store: S,
    namespace: String,
    channel: String,
    sequence: String,
}

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

/// One `"{generation} {tag}"` line.
fn parse_bump(line: &str) -> Option<(&str, u64)> {
    let (generation, tag) = line.split_once(' ')?;
    Some((tag, generation.parse().ok()?))
}

impl<S: Store> Generations<S> {
    /// Counters for `namespace` in `store`.
    pub fn new(store: S, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let channel = format!("{namespace}:gen");
        let sequence = format!("{{{namespace}}}:gen-seq");
        Self { store, namespace, channel, sequence }
    }

    /// The store the counters live in.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The Redis key holding `tag`'s generation. The namespace in braces is a hash tag: on a
    /// cluster every generation of a namespace lives in one slot, so a bump of several tags (a
    /// script) and a read of an entry's generations stay single-slot.
    pub fn key(&self, tag: &str) -> String {
        format!("{{{}}}:gen:{tag}", self.namespace)
    }

    /// The pub/sub channel every bump is announced on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The namespace's change sequence and channel.
    fn book(&self) -> Bookkeeping<'_> {
        Bookkeeping { sequence: &self.sequence, channel: &self.channel }
    }

    fn keys(&self, tags: &[impl AsRef<str>]) -> Vec<String> {
        tags.iter().map(|t| self.key(t.as_ref())).collect()
    }

    /// Current generations of `tags` (0 for a tag never bumped), in the same order.
    pub async fn read(&self, tags: &[String]) -> Result<Vec<u64>, TierError> {
        self.store.counters(&self.keys(tags)).await
    }

    /// Invalidate `tags`: one `INCR` each and one `PUBLISH` of the new values, atomically and
    /// in one round trip (a short server-side script). Returns the new generations, in the
    /// order of `tags`. Call after the write commits.
    pub async fn bump(&self, tags: &[impl AsRef<str>]) -> Result<Vec<u64>, TierError> {
        let names: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        self.store.bump(self.book(), &self.keys(tags), &names).await
    }

    /// Tell every subscriber that the entries under `keys` were deleted (an exact-key flush),
    /// so that they drop their in-process copies too.
    pub async fn announce_deleted(&self, keys: &[String]) -> Result<(), TierError> {
        self.store.announce_deleted(self.book(), keys).await
    }

    /// Publish the current change sequence (see [`Sequence::Current`]), even while the
    /// breaker is open: a slow Redis still carries it, a dead one does not.
    pub async fn heartbeat(&self) -> Result<(), TierError> {
        self.store.announce_current(self.book()).await
    }

    /// Redis's `maxmemory-policy`, where `CONFIG GET` is allowed (`None` elsewhere, e.g. on
    /// managed services that rename or refuse it).
    pub async fn eviction_policy(&self) -> Option<String> {
        self.store.eviction_policy().await
    }

    /// Make sure the generations are those of the Redis server now answering. Redis does not
    /// keep counters across a restart without persistence, and one restored from a snapshot
    /// has lost the bumps made after it: either way an old entry could look current. The run
    /// id the counters belong to is kept next to them; when it differs from the server's
    /// (a restart, or a first start), the global generation is set to a value never used
    /// before (the wall clock in milliseconds, far above any count of bumps), which
    /// invalidates every entry stored under the old counters. Returns true when that happened.
    pub async fn check_restart(&self) -> Result<bool, TierError> {
        let run_key = format!("{{{}}}:gen-run-id", self.namespace);
        // The wall clock, not the cache's [`crate::Clock`]: this is a number never used
        // before, not a time an entry is judged by.
        let floor = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        self.store.adopt_server_run(self.book(), &run_key, &self.key(GLOBAL), floor).await
    }

    /// Fetch the entry under `key` and the current generations of its `tags` in one round
    /// trip. The generations are returned whatever was found: a miss computes under them.
    pub async fn lookup(&self, key: &str, tags: &[String]) -> Result<(Lookup, Vec<u64>), TierError> {
        let (bytes, now) = self.store.get_with_counters(key, &self.keys(tags)).await?;
        let Some(bytes) = bytes else { return Ok((Lookup::Missing, now)) };
        let found = match Entry::decode(&bytes) {
            Err(e) => Lookup::Corrupt(e),
            Ok(entry) if entry.meta().generations == now => Lookup::Current(entry),
            Ok(_) => Lookup::Invalidated,
        };
        Ok((found, now))
    }
}

impl Generations {
    /// `tags` with [`GLOBAL`] first and no duplicates: the order generations are stored in.
    /// Takes the tags by value, so owned strings are moved, not copied.
    pub fn tag_set(tags: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        tag_set(tags)
    }
}

/// `tags` with [`GLOBAL`] first and no duplicates: the order generations are stored in.
pub(crate) fn tag_set(tags: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut out = vec![GLOBAL.to_owned()];
    for t in tags {
        let t = t.into();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
