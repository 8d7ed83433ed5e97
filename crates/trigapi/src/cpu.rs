//! CPU-heavy work (drawing a PNG, processing a photo) runs on blocking threads, in queues of
//! its own kind, so that one kind cannot hold up another: a burst of large user maps no
//! longer delays badges or uploads.
//!
//! Each queue has a few slots (work running), room for more waiting, and a limit per client
//! (an address for drawings, a user for photos) on both together. Beyond either limit the
//! request is a `429 Too Many Requests` with `Retry-After`, at once: a queue that only grows
//! turns a burst into minutes of latency for everyone. Only cache misses get here; hits, and requests coalesced onto a computation
//! already running, never queue.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The kinds of CPU-heavy work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// User maps: up to a second or two each at the largest size.
    Map,
    /// Badges and trig maps: milliseconds each.
    Image,
    /// Photo uploads and rotations: decode, resize and encode a photo.
    Photo,
}

/// One queue: its slots, and who is in it.
struct Queue {
    slots: Semaphore,
    /// Running and waiting together, at most.
    capacity: usize,
    /// Per client, running and waiting together, at most.
    per_client: usize,
    /// Seconds a client told to come back should wait.
    retry_after_secs: u64,
    members: Mutex<Members>,
}

#[derive(Default)]
struct Members {
    total: usize,
    by_client: HashMap<String, usize>,
}

/// The queues of an application.
pub struct CpuQueues {
    map: Queue,
    image: Queue,
    photo: Queue,
}

impl Default for CpuQueues {
    fn default() -> Self {
        Self {
            map: Queue::new(2, 6, 2, 5),
            image: Queue::new(2, 32, 8, 1),
            // Photos are counted per user, not per address (many walkers share one), and the
            // web app uploads a visit's photos side by side: a burst waits rather than fails.
            photo: Queue::new(2, 30, 6, 5),
        }
    }
}

impl CpuQueues {
    /// Run `work` of kind `kind` for `client` on a blocking thread once a slot is free, or
    /// refuse it with a 429 when the queue, or the client's share of it, is full.
    pub async fn run<T, F>(&self, kind: Work, client: &str, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let queue = match kind {
            Work::Map => &self.map,
            Work::Image => &self.image,
            Work::Photo => &self.photo,
        };
        let _member = queue.join(client)?;
        let _slot = queue.slots.acquire().await.map_err(|_| ApiError::Internal("the CPU slots are closed"))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::Internal("CPU work panicked"))
    }
}

impl Queue {
    fn new(slots: usize, waiting: usize, per_client: usize, retry_after_secs: u64) -> Self {
        Self {
            slots: Semaphore::new(slots),
            capacity: slots + waiting,
            per_client,
            retry_after_secs,
            members: Mutex::default(),
        }
    }

    /// A place in the queue for `client`, given back when the guard drops.
    fn join(&self, client: &str) -> Result<Member<'_>, ApiError> {
        let busy = ApiError::TooManyRequests { retry_after_secs: self.retry_after_secs };
        let mut members = self.members.lock().map_err(|_| ApiError::Internal("a CPU queue's lock is poisoned"))?;
        let mine = members.by_client.get(client).copied().unwrap_or(0);
        if members.total >= self.capacity || mine >= self.per_client {
            return Err(busy);
        }
        members.total += 1;
        *members.by_client.entry(client.to_owned()).or_default() += 1;
        Ok(Member { queue: self, client: client.to_owned() })
    }
}

/// A place held in a queue.
struct Member<'a> {
    queue: &'a Queue,
    client: String,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        // A poisoned lock means a panic while it was held; the counts then stay as they are.
        if let Ok(mut members) = self.queue.members.lock() {
            members.total = members.total.saturating_sub(1);
            if let Some(n) = members.by_client.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    members.by_client.remove(&self.client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_or_share_is_refused_and_places_are_given_back() {
        let q = Queue::new(1, 1, 1, 3);
        let a = q.join("a").expect("a's first place");
        assert!(matches!(q.join("a"), Err(ApiError::TooManyRequests { retry_after_secs: 3 })), "a's share is full");
        let b = q.join("b").expect("b's place");
        assert!(q.join("c").is_err(), "the queue is full");
        drop(a);
        let _c = q.join("c").expect("a place came free");
        drop(b);
        assert_eq!(q.members.lock().map(|m| (m.total, m.by_client.len())).ok(), Some((1, 1)));
    }
}
