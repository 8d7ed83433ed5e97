//! A domain-free HTTP response cache (work in progress).
//!
//! This crate will hold the two-tier response cache described in the project's cache design:
//! canonical keys, tag generations for O(1) race-free invalidation, an in-process tier in front
//! of Redis, single flight and stale-while-revalidate. It knows nothing about the application
//! that uses it.
//!
//! Done so far, each usable on its own:
//! * [`key`]: canonical keys (`{prefix}:{env}:{resource}[:{id}][:{sub}][:params_{hash}]:{version}`).
//! * [`envelope`]: the stored entry (compressed body, strong ETag, timing, generations) with a
//!   validated byte format: a corrupt or foreign value decodes to an error, never a panic.
//! * [`freshness`]: the pure fresh / stale / expired verdict with XFetch early refresh.
//! * [`flight`]: single flight; the shared computation runs in its own task, so a caller that
//!   goes away does not cancel it for the others.
//! * [`generations`]: tag generations in Redis: O(1) invalidation per tag, and the entry plus
//!   its tags' current generations in one round trip, so a value computed before a write is
//!   never served after it.
//! * [`tier_redis`]: Redis calls bounded by a short timeout behind a circuit breaker with a
//!   background reconnect probe.

#![warn(missing_docs)]
#![deny(unreachable_pub)]

pub mod envelope;
pub mod flight;
pub mod freshness;
pub mod generations;
pub mod key;
pub mod tier_redis;
