//! `AppState`: what every handler gets, cheap to clone.

use std::sync::Arc;

use trigapi_cache::Cache;

use crate::auth::{AuthConfigError, Authenticator};
use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The response cache (possibly disabled).
    pub cache: Cache,
    /// Bearer token verification in the configured mode.
    pub auth: Arc<Authenticator>,
}

impl AppState {
    /// The state over `db` and `cache`, with token verification as `config` says.
    pub fn new(db: Db, config: Config, cache: Cache) -> Result<Self, AuthConfigError> {
        let auth = Arc::new(Authenticator::from_config(&config)?);
        Ok(Self { db, config: Arc::new(config), cache, auth })
    }
}
