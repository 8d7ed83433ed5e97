//! trigapi: the TrigpointingUK API, wire-compatible with the original, on SQLite, PostgreSQL and
//! MySQL/MariaDB.
//!
//! The major components:
//! * [`routes`]: one file per resource; handlers parse inputs, call [`db`], map rows to [`wire`]
//!   types. The router and the OpenAPI document live in `routes/mod.rs` and `routes/docs.rs`.
//! * [`domain`]: request inputs parsed once (pagination, include sets, the trig list filters),
//!   with the contract's 422 validation errors.
//! * [`db`]: sea-query statements run on any of the three backends; migrations; row types.
//! * [`wire`]: the JSON shapes of the contract, separate from rows.
//! * [`cache`]: the response cache (crate `trigapi-cache`) as the API uses it: key shape, TTL
//!   table, and `Cached`, which every cacheable handler goes through; admin endpoints in
//!   `routes/admin.rs`, the operators' dashboard in `routes/dashboard.rs`; [`warm`] replays the
//!   hottest requests after the cache lost its entries.
//! * [`invalidation`]: the table from each write to the cache tags it invalidates; [`cdn`]
//!   sends those tags on to a CDN in front, to purge.
//! * [`error`]: `ApiError`, the single mapping from errors to HTTP.
//! * [`imaging`], [`storage`]: uploaded photos decoded, turned upright and re-encoded; the
//!   directory or S3 bucket their files go to.
//! * [`render`]: the PNG maps and badge, drawn as vectors with tiny-skia (no HTTP, no SQL).
//! * [`seed`]: the real OS trig archive plus deterministic synthetic users, logs and photos.
//! * [`gazetteer`]: the places and postcodes of the location search, vendored and imported.
//! * [`cpu`]: the queues that keep CPU-heavy work (renders, photo processing) off the async
//!   threads and fair between clients.
//! * [`startup`], [`config`], [`cli`], [`telemetry`], [`state`]: building and running the server.

pub mod auth;
pub mod cache;
pub mod cdn;
pub mod changes;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod db;
pub mod domain;
pub mod error;
pub mod front_door;
pub mod gazetteer;
pub mod imaging;
pub mod invalidation;
pub mod render;
mod request_id;
pub mod resource;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod warm;
pub mod wire;
