//! Invalidations that could not reach the shared store, kept for replay.
//!
//! While Redis is unreachable a write's bumps are remembered here (and the in-process tier is
//! suspended); the first caller to find Redis back replays them before anything is read from
//! it. Past a bound, one global bump replaces them.

use std::collections::BTreeMap;

#[derive(Default)]
pub(crate) struct Pending {
    /// Each tag waiting for replay, with the version at which it was last remembered.
    pub(crate) tags: BTreeMap<String, u64>,
    pub(crate) overflowed: bool,
    /// Bumped by every remembered invalidation. A replay forgets only what was remembered up
    /// to the version it read: a write that remembers a tag again while the replay's bump is
    /// on its way committed after that bump may have reached Redis, so it keeps its own.
    version: u64,
}

impl Pending {
    pub(crate) fn is_empty(&self) -> bool {
        self.tags.is_empty() && !self.overflowed
    }

    /// Keep `tags` for replay (beyond `max` tags, replay one global bump instead).
    pub(crate) fn remember(&mut self, tags: &[String], max: usize) {
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
    pub(crate) fn snapshot(&self) -> (Vec<String>, bool, u64) {
        (self.tags.keys().cloned().collect(), self.overflowed, self.version)
    }

    /// A replay of the snapshot taken at `version` reached Redis: forget what it covered.
    pub(crate) fn replayed(&mut self, version: u64) {
        self.tags.retain(|_, remembered| *remembered > version);
        if self.overflowed && self.version == version {
            self.overflowed = false;
        }
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
        p.remember(&tags(&["item:1", "items:list"]), 100);
        let (sent, _, version) = p.snapshot();
        assert_eq!(sent, ["item:1", "items:list"]);
        p.remember(&tags(&["item:1"]), 100);
        p.replayed(version);
        assert_eq!(p.snapshot().0, ["item:1"], "the later write's tag is replayed again");
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
