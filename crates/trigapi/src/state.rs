//! `AppState`: what every handler gets, cheap to clone.

use std::sync::Arc;

use anyhow::Context;
use trigapi_cache::Cache;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::db::Db;
use crate::storage::PhotoStore;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The response cache (possibly disabled).
    pub cache: Cache,
    /// Bearer token verification in the configured mode.
    pub auth: Arc<Authenticator>,
    /// Where photo files are written and read.
    pub photos: PhotoStore,
    /// Writes running to completion in tasks of their own (waited for at shutdown).
    pub writes: crate::startup::WritesInFlight,
    /// `TRUSTED_PROXIES`: whose forwarding headers name the client.
    pub proxies: Arc<[ipnet::IpNet]>,
    /// The queues of CPU-heavy work (renders, photo processing).
    pub cpu: Arc<crate::routes::cpu::CpuQueues>,
}

impl AppState {
    /// The state over `db` and `cache`, with token verification and the photo store as
    /// `config` says.
    pub fn new(db: Db, config: Config, cache: Cache) -> anyhow::Result<Self> {
        let auth = Arc::new(Authenticator::from_config(&config).context("configuring authentication")?);
        let photos = PhotoStore::from_config(&config).context("configuring the photo store")?;
        let proxies = config.trusted_proxies().map_err(anyhow::Error::msg)?.into();
        Ok(Self {
            db,
            config: Arc::new(config),
            cache,
            auth,
            photos,
            writes: Default::default(),
            proxies,
            cpu: Default::default(),
        })
    }
}
