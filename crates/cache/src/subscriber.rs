//! The invalidation subscription: how the in-process tier follows other instances' bumps.
//!
//! Liveness is judged by what arrives, not by how fast a command answers: every instance
//! publishes the current change sequence five times a second ([`HEARTBEAT`]), so a
//! subscription that hears nothing for [`crate::CacheConfig::subscription_timeout`] is lost
//! (Redis frozen, or the connection silently dead), and one that hears a number out of order
//! missed a bump. A slow heartbeat is neither. While the subscription is down the in-process
//! tier is suspended (see [`crate::local`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use crate::cache::Inner;
use crate::events;
use crate::generations::{GLOBAL, Sequence, parse_announcement};
use crate::stats::Counters;
use crate::store::Store;

/// How often the subscriber checks that Redis still answers.
const HEARTBEAT: Duration = Duration::from_millis(200);

impl Inner {
    /// Subscribe this cache to its namespace's announcements, for as long as the cache lives
    /// (the task holds only a weak reference). Nothing to do without Redis.
    pub(crate) fn subscribe(self: &Arc<Self>) {
        spawn(self);
    }
}

fn spawn(inner: &Arc<Inner>) {
    let Some(remote) = &inner.remote else { return };
    let store = remote.generations.store().clone();
    let channel = remote.generations.channel().to_owned();
    let weak = Arc::downgrade(inner);
    let pause = inner.config.redis.probe_interval;
    let timeout = inner.config.subscription_timeout;
    tokio::spawn(async move {
        loop {
            if let Ok(messages) = store.subscribe(&channel).await
                && !listen(&weak, messages, timeout).await
            {
                return;
            }
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    });
}

/// Apply what arrives until the subscription is lost (then suspend the in-process tier and
/// return true) or the cache is dropped (return false).
async fn listen(
    weak: &Weak<Inner>,
    messages: futures_util::stream::BoxStream<'static, String>,
    timeout: Duration,
) -> bool {
    {
        let Some(inner) = weak.upgrade() else { return false };
        if let Some(r) = &inner.remote {
            r.hearing.heard();
            r.subscribed.store(true, Ordering::Release);
        }
    }
    let mut messages = messages;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<u64> = None;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(payload) = message else { break };
                let Some(inner) = weak.upgrade() else { return false };
                receive(&inner, &payload, &mut last);
            }
            _ = heartbeat.tick() => {
                let Some(inner) = weak.upgrade() else { return false };
                let Some(r) = &inner.remote else { return false };
                if r.hearing.silence() > timeout {
                    break;
                }
                spawn_heartbeat(inner);
            }
        }
    }
    let Some(inner) = weak.upgrade() else { return false };
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
    true
}

/// Apply one announcement: learn its bumps, drop deleted keys, and check its number against
/// the last one heard (`last`). A number out of sequence means an announcement was missed (or
/// Redis lost its counters): the in-process tier starts over.
fn receive(inner: &Inner, payload: &str, last: &mut Option<u64>) {
    let Some(remote) = &inner.remote else { return };
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
        Counters::add(&inner.counters.sequence_gaps, 1);
        inner.local.suspend();
        tracing::warn!(
            event = events::CACHE_SUBSCRIPTION_GAP,
            "an invalidation announcement was missed; in-process tier restarted"
        );
    }
    if announcement.bumps.iter().any(|(tag, _)| *tag == GLOBAL) {
        Counters::add(&inner.counters.everything_invalidated, 1);
    }
    inner.remember_invalidated(announcement.bumps.iter().map(|(tag, _)| *tag));
    inner.local.learn(announcement.bumps);
    for key in announcement.deleted {
        inner.local.remove(key);
    }
}

/// Publish the change sequence, and resynchronise with Redis when a reconnect or a replay
/// waits (so they happen without waiting for a request); one at a time, never holding up the
/// subscriber.
fn spawn_heartbeat(inner: Arc<Inner>) {
    let Some(remote) = &inner.remote else { return };
    if remote.hearing.busy.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        if let Some(remote) = &inner.remote {
            let _ = remote.generations.heartbeat().await;
            let store = remote.generations.store();
            let healthy = store.is_available() && remote.in_sync(store.epoch());
            if healthy {
                remote.hearing.healthy();
            } else if store.is_available() {
                let _ = remote.ready(&inner.local, &inner.counters).await;
            }
            remote.hearing.busy.store(false, Ordering::Release);
        }
    });
}
