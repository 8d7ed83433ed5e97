//! The time entries are judged by: stored-at stamps, TTLs, grace and early refresh.
//!
//! [`Clock::system`] reads the wall clock. [`Clock::mock`] (as moka's `Clock::mock`) starts at the
//! wall clock's reading and then moves only when told, so a test of a one-hour TTL advances an
//! hour instead of sleeping one:
//!
//! ```
//! use std::time::Duration;
//! use trigapi_cache::Clock;
//!
//! let (clock, mock) = Clock::mock();
//! let before = clock.now_millis();
//! mock.advance(Duration::from_secs(3600));
//! assert_eq!(clock.now_millis() - before, 3_600_000);
//! ```
//!
//! Only the entries' own timing follows this clock. Liveness (command timeouts, the
//! subscription's silence, lease waits) is about real I/O and always uses real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now" in Unix milliseconds. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    mock: Option<Arc<MockClock>>,
}

/// The hand of a [`Clock::mock`]: moves the clocks made with it.
#[derive(Debug)]
pub struct MockClock {
    now_millis: AtomicU64,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands still until [`MockClock::advance`] moves it.
    pub fn mock() -> (Self, Arc<MockClock>) {
        let hand = Arc::new(MockClock { now_millis: AtomicU64::new(system_millis()) });
        (Self { mock: Some(Arc::clone(&hand)) }, hand)
    }

    /// Now, in Unix milliseconds.
    pub fn now_millis(&self) -> u64 {
        match &self.mock {
            Some(hand) => hand.now_millis.load(Ordering::Acquire),
            None => system_millis(),
        }
    }
}

impl MockClock {
    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_millis.fetch_add(millis, Ordering::AcqRel);
    }
}

fn system_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}
