//! The API test binary: contract shape tests on every backend, property tests, and a test of
//! the binary as a newcomer runs it.

mod helpers;
#[path = "../../../cache/tests/common/mod.rs"]
mod redis_harness;

mod auth;
mod cache;
mod changes;
mod cockpit;

mod cli;
mod counts;
mod fidelity;
mod fresh_clone;
mod front_door;
mod hostile;
mod images;
mod legacy;
mod logs;
mod matrix;
mod misc;
mod photos;
mod properties;
mod s3;
mod search;
mod trigs;
mod uploads;
mod users;
mod write_safety;
mod writes;
