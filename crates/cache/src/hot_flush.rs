//! Flushing the record of hot requests ([`crate::hot`]) once a second: the sampled counts to
//! Redis (one script), and the fleet's ranking back into this process's copy every half minute.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cache::Inner;
use crate::hot::HALF_LIFE;
use crate::store::Store;

/// How often the sampled counts are flushed.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Inner {
    /// Flush the sampled counts once a second for as long as the cache lives.
    pub(crate) fn record_heat(self: &Arc<Self>) {
        if self.heat.sample_every == 0 {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut flushes: u64 = 0;
            loop {
                tick.tick().await;
                if !flush(&weak, flushes).await {
                    return;
                }
                flushes += 1;
            }
        });
    }

    /// The Redis keys of the ranking and of its halving gate (one cluster slot).
    pub(crate) fn heat_keys(&self) -> (String, String) {
        let ns = &self.config.namespace;
        (format!("{{{ns}}}:hot"), format!("{{{ns}}}:hot-halved"))
    }
}

/// One flush; false once the cache is gone.
async fn flush(weak: &Weak<Inner>, flushes: u64) -> bool {
    let Some(inner) = weak.upgrade() else { return false };
    let taken = inner.heat.take();
    let per_half_life = HALF_LIFE.as_secs() / FLUSH_EVERY.as_secs();
    let Some(remote) = &inner.remote else {
        if flushes % per_half_life == per_half_life - 1 {
            inner.heat.decay();
        }
        return true;
    };
    if !remote.store().is_available() {
        return true;
    }
    let (key, gate) = inner.heat_keys();
    if !taken.is_empty() {
        let _ = remote.store().add_heat(&key, &gate, &taken, inner.heat.keep, HALF_LIFE).await;
    }
    // Every half minute, the fleet's ranking becomes this process's copy.
    if flushes.is_multiple_of(30)
        && let Ok(ranking) = remote.store().hottest(&key, inner.heat.keep).await
    {
        inner.heat.adopt(&ranking);
    }
    true
}
