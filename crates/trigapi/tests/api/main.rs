//! The API test binary: contract shape tests on every backend, property tests, and a test of
//! the binary as a newcomer runs it.

mod helpers;

mod cli;
mod counts;
mod fresh_clone;
mod legacy;
mod logs;
mod misc;
mod photos;
mod properties;
mod trigs;
mod users;
