//! Single flight: concurrent requests for one key share one origin computation.
//!
//! The first caller (the leader) spawns the computation on the runtime; everyone, leader
//! included, waits for its result. Because the computation runs in its own task, a caller that
//! goes away (a client disconnect drops its request future) does not cancel the work the
//! others are waiting on.
//!
//! Consistency note for users: a caller that joins a flight gets a value whose computation
//! started before it arrived. Callers that must not see data older than some event (a write
//! that completed before they started) should include what they read about that event in the
//! key, e.g. the tag generations read before computing; then a later reader that saw newer
//! generations starts a new flight instead of joining an older one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use trigapi_cache::flight::SingleFlight;
//!
//! let flights = SingleFlight::<&str, u64>::new();
//! let calls = Arc::new(AtomicUsize::new(0));
//! let run = |calls: Arc<AtomicUsize>| flights.run("key", move || async move {
//!     calls.fetch_add(1, Ordering::SeqCst);
//!     tokio::task::yield_now().await;
//!     42
//! });
//! let (a, b) = tokio::join!(run(calls.clone()), run(calls.clone()));
//! assert_eq!((a.expect("a").value, b.expect("b").value), (42, 42));
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The result of [`SingleFlight::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared<V> {
    /// The computed value.
    pub value: V,
    /// True when this caller joined a computation another caller started.
    pub coalesced: bool,
}

/// The computation ended without a value (it panicked or its task was aborted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared computation ended without a result")
    }
}

impl std::error::Error for Aborted {}

type Waiters<K, V> = Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>;

/// In-flight computations by key. Cheap to clone; clones share the same flights.
#[derive(Debug)]
pub struct SingleFlight<K, V> {
    inflight: Waiters<K, V>,
}

impl<K, V> Clone for SingleFlight<K, V> {
    fn clone(&self) -> Self {
        Self { inflight: Arc::clone(&self.inflight) }
    }
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self { inflight: Arc::new(Mutex::new(HashMap::new())) }
    }
}

/// Removes the key when the computation's task ends, however it ends (value, panic, abort).
struct Done<K: Eq + Hash, V> {
    key: Option<K>,
    inflight: Waiters<K, V>,
}

impl<K: Eq + Hash, V> Drop for Done<K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.inflight.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// No flights yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys being computed right now.
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Compute `key` with `compute`, unless a computation for it is already running, in which
    /// case wait for that one. `compute` is only called by the leader. Must run inside a Tokio
    /// runtime.
    pub async fn run<F, Fut>(&self, key: K, compute: F) -> Result<Shared<V>, Aborted>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        // A std Mutex, not Tokio's: it is never held across an await.
        let (mut rx, coalesced) = {
            let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get(&key) {
                Some(rx) => (rx.clone(), true),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.clone(), rx.clone());
                    let fut = compute();
                    let done = Done { key: Some(key), inflight: Arc::clone(&self.inflight) };
                    tokio::spawn(async move {
                        let value = fut.await;
                        // Publish, then let `done` remove the key: a caller arriving in
                        // between joins and still gets this value.
                        let _ = tx.send(Some(value));
                        drop(done);
                    });
                    (rx, false)
                }
            }
        };
        let value = rx.wait_for(Option::is_some).await.map_err(|_| Aborted)?.clone();
        value.map(|value| Shared { value, coalesced }).ok_or(Aborted)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn two_hundred_callers_share_one_computation() {
        let flights = SingleFlight::<u32, String>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (flights, calls, mut go) = (flights.clone(), calls.clone(), go_rx.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run(7, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = go.wait_for(|g| *g).await;
                        "v".to_owned()
                    })
                    .await
            }));
        }
        while flights.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let _ = go_tx.send(true);
        let mut coalesced = 0;
        for t in tasks {
            let shared = t.await.expect("task").expect("value");
            assert_eq!(shared.value, "v");
            coalesced += usize::from(shared.coalesced);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(coalesced, 199);
        assert_eq!(flights.in_flight(), 0, "finished flights are forgotten");
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_cancel_the_computation() {
        let flights = SingleFlight::<&str, u32>::new();
        let (go_tx, go_rx) = watch::channel(false);
        let leader = {
            let (flights, mut go) = (flights.clone(), go_rx.clone());
            tokio::spawn(async move {
                flights
                    .run("k", move || async move {
                        let _ = go.wait_for(|g| *g).await;
                        1
                    })
                    .await
            })
        };
        while flights.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let _ = leader.await;
        let follower = tokio::spawn({
            let flights = flights.clone();
            async move { flights.run("k", || async { 2 }).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = go_tx.send(true);
        let shared = follower.await.expect("task").expect("value");
        assert_eq!(shared, Shared { value: 1, coalesced: true }, "the leader's computation finished for the follower");
    }

    #[tokio::test]
    async fn a_panicking_computation_is_reported_and_forgotten() {
        let flights = SingleFlight::<&str, u32>::new();
        let r = flights.run("k", || async { panic!("origin failed") }).await;
        assert_eq!(r, Err(Aborted));
        assert_eq!(flights.in_flight(), 0);
        let again = flights.run("k", || async { 3 }).await.expect("value");
        assert_eq!(again, Shared { value: 3, coalesced: false });
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let flights = SingleFlight::<u8, u8>::new();
        let (a, b) = tokio::join!(flights.run(1, || async { 10 }), flights.run(2, || async { 20 }));
        assert_eq!((a.expect("a").value, b.expect("b").value), (10, 20));
    }
}
