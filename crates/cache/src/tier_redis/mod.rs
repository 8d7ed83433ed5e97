//! The Redis tier's connection discipline: every call is bounded by a short timeout, and a
//! circuit breaker stops calling a Redis that keeps failing until a background probe sees it
//! answer again.
//!
//! A slow or frozen Redis therefore costs at most one timeout per request while the breaker
//! is closed, and nothing once it has opened: callers get [`TierError::Unavailable`] at once
//! and serve from the origin. Redis being down at start-up is not an error: the tier starts
//! open and the probe connects when it can.
//!
//! Slow is not down. The timeout of a command adapts to the round trips measured lately (four
//! times their moving average, never under the configured `command_timeout` nor over
//! `max_command_timeout`): on a busy machine a command's round trip includes the time its
//! task waits for a CPU, and a fixed 50 ms bound would call a healthy Redis dead. A frozen or
//! unreachable server answers nothing at all, so its calls still fail within the bound.
//!
//! Events (`tracing`, target `trigapi_cache`): `cache_redis_connection_failed` when the breaker
//! opens, `cache_redis_connected` when a connection is (re-)established.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
#[cfg(feature = "cluster")]
use redis::cluster::ClusterClient;
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::config::RedisTierConfig;
use crate::events;
pub(crate) use crate::store::TierError;

mod commands;

/// A connection to one server or to a cluster: both run every command the cache sends (the
/// cache keeps the keys of one multi-key command in one hash slot).
#[derive(Clone)]
pub enum Connection {
    /// One server (`redis://` or `rediss://`).
    Single(MultiplexedConnection),
    /// Redis Cluster: commands are routed by slot.
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// What the tier connects to, from its URL.
enum Target {
    Single(Client),
    /// The first node's client serves pub/sub (a cluster forwards PUBLISH to every node).
    #[cfg(feature = "cluster")]
    Cluster(Box<ClusterClient>, Client),
}

/// A handle to one Redis server or cluster. Cheap to clone.
#[derive(Clone)]
pub struct RedisTier {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    config: RedisTierConfig,
    /// A std lock: held only to clone or replace the (cheaply cloned) connection.
    conn: RwLock<Option<Connection>>,
    failures: AtomicU32,
    open: AtomicBool,
    probing: AtomicBool,
    /// Connections installed so far: a change means "reconnected since you last looked".
    epoch: AtomicU64,
    /// Moving average of successful round trips, in microseconds.
    round_trip_micros: AtomicU64,
    /// Times the breaker opened.
    trips: AtomicU64,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier").field("available", &self.is_available()).finish()
    }
}

impl RedisTier {
    /// Parse `url` and try to connect. Only a malformed URL is an error: an unreachable server
    /// leaves the breaker open and a probe retrying in the background. Needs a Tokio runtime.
    ///
    /// `redis://host:port/db` or `rediss://…` (TLS; append `#insecure` to skip certificate
    /// checks) is one server; a comma-separated list of node URLs is a Redis Cluster.
    pub async fn connect(url: &str, config: RedisTierConfig) -> Result<Self, RedisError> {
        let nodes: Vec<&str> = url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        #[cfg(feature = "tls")]
        if nodes.iter().any(|u| u.starts_with("rediss://")) {
            // rustls needs a process-wide crypto provider; keep one already installed.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let target = match nodes.as_slice() {
            [one] => Target::Single(Client::open(*one)?),
            #[cfg(not(feature = "cluster"))]
            _ => {
                let why = "a list of nodes is a Redis Cluster: build trigapi-cache with the `cluster` feature";
                return Err(RedisError::from((redis::ErrorKind::InvalidClientConfig, why)));
            }
            #[cfg(feature = "cluster")]
            _ => {
                let cluster = ClusterClient::builder(nodes.iter().copied())
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.ceiling())
                    .build()?;
                Target::Cluster(Box::new(cluster), Client::open(nodes.first().copied().unwrap_or_default())?)
            }
        };
        let tier = Self {
            inner: Arc::new(Inner {
                target,
                config,
                conn: RwLock::new(None),
                failures: AtomicU32::new(0),
                open: AtomicBool::new(false),
                probing: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                round_trip_micros: AtomicU64::new(0),
                trips: AtomicU64::new(0),
            }),
        };
        match tier.inner.connect_once().await {
            Ok(conn) => tier.inner.install(conn),
            Err(e) => tier.trip(&e.to_string()),
        }
        Ok(tier)
    }

    /// False while the breaker is open.
    pub fn is_available(&self) -> bool {
        !self.inner.open.load(Ordering::Acquire)
    }

    /// How many connections have been installed. It changes on every reconnect, so a caller
    /// that must resynchronise after an outage (replay writes, check for a restart) compares
    /// it with the value it last synchronised at.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// How many times the breaker has opened.
    pub fn trips(&self) -> u64 {
        self.inner.trips.load(Ordering::Relaxed)
    }

    /// The bound the next command gets: four times the recent round trips, within the
    /// configured range.
    pub fn current_timeout(&self) -> Duration {
        let average = Duration::from_micros(self.inner.round_trip_micros.load(Ordering::Relaxed));
        (average * 4).clamp(self.inner.config.command_timeout, self.inner.config.ceiling())
    }

    /// A client for connections of another kind (pub/sub); on a cluster, the first node's.
    pub fn client(&self) -> &Client {
        match &self.inner.target {
            Target::Single(c) => c,
            #[cfg(feature = "cluster")]
            Target::Cluster(_, c) => c,
        }
    }

    /// True when connected to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        return matches!(self.inner.target, Target::Cluster(..));
        #[cfg(not(feature = "cluster"))]
        false
    }

    /// Run one command on the shared connection, bounded by the command timeout and counted
    /// by the breaker.
    pub async fn call<T, F, Fut>(&self, command: F) -> Result<T, TierError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        if !self.is_available() {
            return Err(TierError::Unavailable);
        }
        let conn = self.connection()?;
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.current_timeout(), command(conn)).await {
            Ok(Ok(v)) => {
                self.inner.record_round_trip(started.elapsed());
                Ok(v)
            }
            Ok(Err(e)) if !is_connection_error(&e) => {
                // Redis answered (e.g. WRONGTYPE): the connection is healthy.
                self.inner.failures.store(0, Ordering::Release);
                return Err(TierError::Redis(e));
            }
            // The client's own response timeout may fire first; it is the same outcome.
            Ok(Err(e)) if e.is_timeout() => Err(TierError::Timeout),
            Ok(Err(e)) => Err(TierError::Redis(e)),
            Err(_) => Err(TierError::Timeout),
        };
        match &result {
            Ok(_) => self.inner.failures.store(0, Ordering::Release),
            Err(e) => {
                let n = self.inner.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if n >= self.inner.config.failures_to_open {
                    self.trip(&e.to_string());
                }
            }
        }
        result
    }

    /// Run one command on the current connection even while the breaker is open, bounded by
    /// the current timeout and not counted by the breaker: for the heartbeat, which must tell
    /// a slow Redis (it still answers, later) from a dead one.
    pub async fn call_unguarded<T, F, Fut>(&self, command: F) -> Result<T, TierError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.inner.config.ceiling(), command(self.connection()?)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TierError::Redis(e)),
            Err(_) => Err(TierError::Timeout),
        }
    }

    /// The current connection (`Unavailable` before the first one).
    fn connection(&self) -> Result<Connection, TierError> {
        self.inner.conn.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(TierError::Unavailable)
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, TierError> {
        self.call(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await }).await
    }

    /// `SET key value EX ttl`.
    pub async fn set_ex(&self, key: &str, value: &[u8], ttl_secs: u64) -> Result<(), TierError> {
        self.call(|mut c| async move {
            redis::cmd("SET").arg(key).arg(value).arg("EX").arg(ttl_secs).query_async(&mut c).await
        })
        .await
    }
}

impl Inner {
    /// Fold one round trip into the moving average (weight 1/8).
    fn record_round_trip(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self.round_trip_micros.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
            Some(if avg == 0 { sample } else { avg - avg / 8 + sample / 8 })
        });
    }

    /// A new connection that has answered `PING`, within the connect budget.
    async fn connect_once(&self) -> Result<Connection, TierError> {
        // The client's own bound is the largest the adaptive one may be; `call` applies that.
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.ceiling()));
        let attempt = async {
            let mut conn = match &self.target {
                Target::Single(client) => {
                    Connection::Single(client.get_multiplexed_async_connection_with_config(&cfg).await?)
                }
                #[cfg(feature = "cluster")]
                Target::Cluster(cluster, _) => Connection::Cluster(cluster.get_async_connection().await?),
            };
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok::<_, RedisError>(conn)
        };
        let budget = self.config.connect_timeout + self.config.command_timeout;
        tokio::time::timeout(budget, attempt).await.map_err(|_| TierError::Timeout)?.map_err(TierError::Redis)
    }

    /// Use `conn` from now on and close the breaker.
    fn install(&self, conn: Connection) {
        *self.conn.write().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.failures.store(0, Ordering::Release);
        self.open.store(false, Ordering::Release);
        tracing::info!(event = events::CACHE_REDIS_CONNECTED, "redis connected");
    }
}

impl RedisTier {
    /// Open the breaker and make sure exactly one probe is reconnecting.
    fn trip(&self, reason: &str) {
        if !self.inner.open.swap(true, Ordering::AcqRel) {
            self.inner.trips.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event = events::CACHE_REDIS_CONNECTION_FAILED,
                error = reason,
                "redis unavailable; circuit open"
            );
        }
        if self.inner.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        // The probe holds only a weak reference: dropping the last handle ends it.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                tokio::time::sleep(inner.config.probe_interval).await;
                if let Ok(conn) = inner.connect_once().await {
                    // Clear `probing` before closing the breaker: a failure that trips it again
                    // in between then starts a new probe instead of finding this one finished.
                    inner.probing.store(false, Ordering::Release);
                    inner.install(conn);
                    return;
                }
            }
        });
    }
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}
