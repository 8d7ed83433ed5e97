//! What the invalidation subscription has heard, for deciding whether an outage of Redis may
//! have hidden another instance's bump.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the invalidation subscription has heard: when it last heard anything, the longest
/// silence since Redis was last known healthy, and a count of breaks (losses and gaps in the
/// numbered announcements).
pub(crate) struct Hearing {
    started: Instant,
    last_heard_ms: AtomicU64,
    longest_silence_ms: AtomicU64,
    pub(crate) breaks: AtomicU64,
    breaks_when_healthy: AtomicU64,
    /// A heartbeat or background resync is running (one at a time).
    pub(crate) busy: AtomicBool,
}

impl Hearing {
    pub(crate) fn new() -> Self {
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
    pub(crate) fn heard(&self) {
        let now = self.now_ms();
        let before = self.last_heard_ms.swap(now, Ordering::AcqRel);
        self.longest_silence_ms.fetch_max(now.saturating_sub(before), Ordering::AcqRel);
    }

    /// How long nothing has arrived, noted as a silence too.
    pub(crate) fn silence(&self) -> Duration {
        let silent = self.now_ms().saturating_sub(self.last_heard_ms.load(Ordering::Acquire));
        self.longest_silence_ms.fetch_max(silent, Ordering::AcqRel);
        Duration::from_millis(silent)
    }

    /// Redis is healthy and in sync now: measure from here.
    pub(crate) fn healthy(&self) {
        self.longest_silence_ms.store(0, Ordering::Release);
        self.breaks_when_healthy.store(self.breaks.load(Ordering::Acquire), Ordering::Release);
    }

    /// Whether, since Redis was last healthy, an announcement may have gone unheard.
    pub(crate) fn may_have_missed(&self, timeout: Duration) -> bool {
        self.silence();
        self.breaks.load(Ordering::Acquire) != self.breaks_when_healthy.load(Ordering::Acquire)
            || Duration::from_millis(self.longest_silence_ms.load(Ordering::Acquire)) > timeout / 2
    }
}
