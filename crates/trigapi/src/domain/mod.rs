//! Parsed request inputs. Each is parsed once, at the edge, into a type whose canonical form is
//! what both the SQL layer and (later) the cache key see.

pub mod body;
pub mod condition;
pub mod include;
pub mod location;
pub mod log;
pub mod log_pattern;
pub mod pagination;
pub mod params;
pub mod photo;
pub mod profile;
pub mod trig_query;
