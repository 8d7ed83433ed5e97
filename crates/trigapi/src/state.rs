//! `AppState`: what every handler gets, cheap to clone.

use std::sync::Arc;
use std::time::Duration;

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
    pub writes: WritesInFlight,
    /// `TRUSTED_PROXIES`: whose forwarding headers name the client.
    pub proxies: Arc<[ipnet::IpNet]>,
    /// The queues of CPU-heavy work (renders, photo processing).
    pub cpu: Arc<crate::cpu::CpuQueues>,
    /// The CDN purger's counters, when `CDN_PURGE_URL` is set.
    pub cdn: Option<Arc<crate::cdn::PurgeStats>>,
    /// The change stream's counters, when `CHANGE_STREAM=on`.
    pub changes: Option<Arc<crate::changes::ChangeStats>>,
    /// The warmer's figures (`crate::warm`).
    pub warm: Arc<crate::warm::WarmStats>,
}

impl AppState {
    /// Whether `peer` is one of `TRUSTED_PROXIES`, whose forwarding headers name the client.
    pub fn trusts(&self, peer: std::net::IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(&peer))
    }

    /// The state over `db` and `cache`, with token verification and the photo store as
    /// `config` says.
    pub fn new(db: Db, config: Config, cache: Cache) -> anyhow::Result<Self> {
        let auth = Arc::new(Authenticator::from_config(&config).context("configuring authentication")?);
        let photos = PhotoStore::from_config(&config).context("configuring the photo store")?;
        let proxies = config.trusted_proxies().map_err(anyhow::Error::msg)?.into();
        let cdn = crate::cdn::spawn(&cache, &config.cache).context("configuring the CDN purge")?;
        let changes = crate::changes::spawn(&db, &cache, &config).context("starting the change stream")?;
        Ok(Self {
            db,
            config: Arc::new(config),
            cache,
            auth,
            photos,
            writes: Default::default(),
            proxies,
            cpu: Default::default(),
            cdn,
            changes,
            warm: Default::default(),
        })
    }
}

/// Writes running in tasks of their own (the startup layer that runs writes to completion). Shutdown waits for
/// them before closing the pool: a write cut off after its commit and before its invalidation
/// would leave the old data cached for a whole TTL.
#[derive(Clone, Default)]
pub struct WritesInFlight(Arc<WritesCount>);

#[derive(Default)]
struct WritesCount {
    running: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One running write; dropping it (even by a panic) ends it.
pub(crate) struct RunningWrite(WritesInFlight);

impl Drop for RunningWrite {
    fn drop(&mut self) {
        if self.0.0.running.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.0.0.idle.notify_waiters();
        }
    }
}

impl WritesInFlight {
    pub(crate) fn start(&self) -> RunningWrite {
        self.0.running.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        RunningWrite(self.clone())
    }

    /// Writes running now.
    pub fn count(&self) -> usize {
        self.0.running.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Wait until no write runs, for at most `limit`; false if some still do.
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a last write ending in between still wakes us.
            let idle = self.0.idle.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}
