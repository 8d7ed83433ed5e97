//! `AppState`: what every handler gets, cheap to clone.

use std::sync::Arc;

use trigapi_cache::Cache;

use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The response cache (possibly disabled).
    pub cache: Cache,
}
