//! A domain-free HTTP response cache (work in progress).
//!
//! This crate will hold the two-tier response cache described in the project's cache design:
//! canonical keys, tag generations for O(1) race-free invalidation, an in-process tier in front
//! of Redis, single flight and stale-while-revalidate. It knows nothing about the application
//! that uses it. For now it provides the canonical key builder.

#![warn(missing_docs)]
#![deny(unreachable_pub)]

pub mod key;
