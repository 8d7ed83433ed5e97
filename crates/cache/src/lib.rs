//! A domain-free HTTP response cache with two tiers and race-free O(1) invalidation.
//!
//! Start with [`CacheBuilder`]; the crate's README has a guide to designing tags and
//! `examples/notes.rs` a complete axum app.
//!
//! [`Cache::serve`] answers a request from the in-process tier, then Redis, then the origin
//! (a closure the application passes), and sets the cache headers (`X-Cache-*`, RFC 9211
//! `Cache-Status`, a strong `ETag`, `304` on `If-None-Match`). [`Cache::invalidate`] takes
//! tags, not key patterns: each is one generation bump in Redis, whatever the number of keys.
//!
//! The guarantees, and where they live:
//! * No stale read after a completed write (tag generations): a miss reads its tags'
//!   generations before computing and stores them with the result, so a value computed from
//!   pre-write data is dead on arrival. Single flights are keyed by those generations
//!   ([`flight`]), so a request that starts after a write never joins a computation that
//!   started before it.
//! * Invalidations survive outages: a bump Redis cannot take is remembered and replayed
//!   before Redis is read again; reconnecting after an outage invalidates everything stored
//!   before it (another instance may hold bumps it has not replayed yet), and so does a Redis
//!   restart (a new `run_id`).
//! * The in-process tier follows other instances' bumps through pub/sub. The announcements
//!   are numbered and every instance publishes the current number five times a second, so the
//!   tier is suspended when the subscription falls silent or skips a number, not when one
//!   heartbeat is slow; `strict` mode checks each in-process hit against Redis instead.
//! * Redis never slows a request by more than a short timeout, which adapts to the measured
//!   round trips (a busy CPU is not a dead Redis), and a circuit breaker stops trying while it
//!   is down ([`RedisTierConfig`]). Leaving an outage invalidates everything only when an
//!   announcement may have been missed.
//! * One origin computation per key at a time in a process, and about one across processes
//!   (a Redis lease); stale-while-revalidate inside a grace window and XFetch early refresh
//!   ([`freshness`]).
//! * Bounded memory: the in-process tier is bounded in bytes, entries over a size limit are
//!   not stored, Redis entries always expire.
//! * A corrupt or foreign value is a miss (deleted and logged), never an error (the entry envelope is versioned and checked).

#![warn(missing_docs)]
#![deny(unreachable_pub)]
// Without the `redis` feature the shared-tier code still compiles (over a store type that has no
// values), so that both builds check the same code; there it is dead, and says so.
#![cfg_attr(not(feature = "redis"), allow(dead_code, unreachable_code, unused_variables))]

mod admin;
mod cache;
mod clock;
mod config;
mod envelope;
pub mod events;
mod fill;
pub mod flight;
pub mod freshness;
mod front_door;
mod generations;
mod groups;
mod hearing;
mod hot;
mod hot_flush;
pub mod http;
pub mod key;
mod lease;
mod local;
mod pending;
mod policy;
mod remote;
mod shared;
mod stats;
mod store;
mod stored;
mod subscriber;
#[cfg(feature = "redis")]
mod tier_redis;

pub use admin::{EntryState, Inspection, RedisInfo, Stats, Target, UnsupportedPattern};
pub use cache::Cache;
pub use clock::{Clock, MockClock};
pub use config::{BuildError, CacheBuilder, CacheConfig, RedisTierConfig};
pub use flight::Aborted;
pub use generations::GLOBAL;
pub use groups::{DEFAULT_GROUP, GroupStats, Latency};
pub use http::RequestView;
pub use policy::{Origin, OriginError, Policy, Rendered};
pub use stats::Snapshot;

/// The README's examples, compiled with the doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The building blocks under [`Cache`], for this crate's own tests and benches. Not part of the
/// API: anything here may change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::envelope::{BodyEncoding, DecodeError, Entry, EntryMeta};
    pub use crate::generations::{Announcement, GLOBAL, Generations, Lookup, Sequence, parse_announcement};
    pub use crate::store::{Answer, Bookkeeping, Store, TierError};
    #[cfg(feature = "redis")]
    pub use crate::tier_redis::{Connection, RedisTier};
}
