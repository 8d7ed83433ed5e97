//! Parsed request inputs. Each is parsed once, at the edge, into a type whose canonical form is
//! what both the SQL layer and (later) the cache key see.

pub mod body;
pub mod include;
pub mod pagination;
pub mod params;
pub mod trig_query;
