//! Configuration: defaults, then an optional TOML file, then environment variables.
//! `Config::load` is the only reader of the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables read (each maps to the lower-cased field).
pub const ENV_VARS: &[&str] = &[
    "BIND_ADDR",
    "DATABASE_URL",
    "ENVIRONMENT",
    "DB_MAX_CONNECTIONS",
    "AUTO_MIGRATE",
    "PHOTOS_DIR",
    "PHOTOS_S3_BUCKET",
    "PHOTOS_S3_REGION",
    "PHOTOS_S3_ENDPOINT",
    "PHOTOS_S3_ACCESS_KEY_ID",
    "PHOTOS_S3_SECRET_ACCESS_KEY",
    "PUBLIC_URL",
    "LOG_FORMAT",
    "BACKEND_CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "REDIS_URL",
    "CACHE_ENABLED",
    "CACHE_LOCAL_MAX_MB",
    "CACHE_GRACE_SECS",
    "CACHE_COMPRESS_MIN_BYTES",
    "CACHE_MAX_ENTRY_BYTES",
    "CACHE_MIN_ENTRY_BYTES",
    "CACHE_ENTRY_BYTES_BY_FAMILY",
    "CDN_PURGE_URL",
    "CDN_PURGE_FORMAT",
    "CDN_PURGE_TOKEN",
    "CACHE_STRICT",
    "CACHE_FRONT_DOOR",
    "CACHE_PER_USER_MAX_ENTRIES",
    "CACHE_HOT_SAMPLE_EVERY",
    "CACHE_WARM_ON_START",
    "CACHE_WARM_TOP",
    "CACHE_WARM_CONCURRENCY",
    "CACHE_WARM_RATE",
    "CACHE_REDIS_TIMEOUT_MS",
    "CACHE_LEASE_MS",
    "CHANGE_STREAM",
    "CHANGE_STREAM_POLL_MS",
    "ADMIN_TOKEN",
    "JWT_HS256_SECRET",
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_JWKS_REFETCH_SECS",
    "JWT_JWKS_TTL_SECS",
    "WEBHOOK_SHARED_SECRET",
];

/// Everything the server reads at start, in sections. Every setting keeps its one flat name in
/// a TOML file and as an environment variable (`DB_MAX_CONNECTIONS`, `CACHE_STRICT`; see
/// [`ENV_VARS`]); an empty optional setting is `None`, and secrets never print.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub photos: PhotoSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
}

/// A value that must never reach a log or a terminal: its `Debug` is `[redacted]`. Read it
/// with [`Secret::expose`] where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Where the server listens and who it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Listen address.
    pub bind_addr: String,
    /// `development`, `staging`, `production` (reported by `/health`; part of every cache key).
    pub environment: String,
    /// Public base URL of this server; the seed writes `{public_url}/photos/` into `server`.
    pub public_url: String,
    /// `json` (one object per line) or `pretty`.
    pub log_format: LogFormat,
    /// CORS origins: a JSON list or a comma list; empty = CORS off. A TOML file may also
    /// give a list.
    pub backend_cors_origins: String,
    /// The proxies (addresses or CIDR blocks, JSON or comma list) whose `CF-Connecting-IP`,
    /// `X-Forwarded-For` and `X-Real-IP` headers are believed; empty = none, the peer address
    /// is the client's.
    pub trusted_proxies: String,
}

/// The database.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    /// `sqlite://…`, `postgres://…` or `mysql://…` (it may hold a password: never printed).
    pub database_url: Secret,
    pub db_max_connections: u32,
    /// Run migrations on start for PostgreSQL/MySQL too (SQLite always migrates).
    pub auto_migrate: bool,
}

/// Where photo files live.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoSettings {
    /// Directory served under `/photos/` (seeded demo images live here).
    pub photos_dir: PathBuf,
    /// Store uploaded photos in this S3 bucket instead of `photos_dir` (credentials from the
    /// usual `AWS_*` variables); the `server` row with id 1 must then name the bucket's URL.
    pub photos_s3_bucket: Option<String>,
    /// The bucket's region (else `AWS_REGION`).
    pub photos_s3_region: Option<String>,
    /// An S3-compatible endpoint (MinIO, R2, …); none = AWS.
    pub photos_s3_endpoint: Option<String>,
    /// The bucket's credentials, when not from the `AWS_*` variables or the instance role.
    pub photos_s3_access_key_id: Option<String>,
    pub photos_s3_secret_access_key: Option<Secret>,
}

/// The response cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// `redis://…` or `rediss://…` (TLS; it may hold a password: never printed); none =
    /// in-process cache only (one instance).
    pub redis_url: Option<Secret>,
    /// `false` turns the response cache off entirely.
    pub cache_enabled: bool,
    /// Size bound of the in-process tier, MiB.
    pub cache_local_max_mb: u64,
    /// Seconds past its TTL an entry may be served stale while it is refreshed.
    pub cache_grace_secs: u64,
    /// Bodies from this size are stored compressed (zstd) and served compressed.
    pub cache_compress_min_bytes: usize,
    /// Larger responses are not stored.
    pub cache_max_entry_bytes: usize,
    /// Smaller responses are not stored (0: every size is).
    pub cache_min_entry_bytes: usize,
    /// Either bound for one endpoint family (`trig`, `logs`, `location_search`: the first part
    /// of its cache keys), from `family=min..max` items ([`entry_bytes_by_family`]).
    pub cache_entry_bytes_by_family: BTreeMap<String, EntryBytes>,
    /// Where to POST the tags of every invalidation, to purge a CDN in front by tag; none =
    /// no purging (the `cdn` module).
    pub cdn_purge_url: Option<String>,
    /// The purge request's format: Fastly's (`Surrogate-Key` header) or Cloudflare's (JSON).
    pub cdn_purge_format: PurgeFormat,
    /// The CDN's API token (`Fastly-Key`, or Cloudflare's bearer token).
    pub cdn_purge_token: Option<Secret>,
    /// Check every in-process hit against Redis (no cross-instance staleness window).
    pub cache_strict: bool,
    /// Answer repeat requests from the in-process tier before routing (`trigapi_cache::Cache::front_door`).
    pub cache_front_door: bool,
    /// Entries each caller keeps of the responses personalised for them (`exclude_found`
    /// lists), in each tier, the least recently used going first (0: no bound).
    pub cache_per_user_max_entries: usize,
    /// One request in this many is counted in the record of hot requests (0: no record).
    pub cache_hot_sample_every: u32,
    /// Warm the hottest entries at start-up (they are warmed after a Redis restart or a full
    /// flush in any case).
    pub cache_warm_on_start: bool,
    /// How many of the hottest requests a warming replays.
    pub cache_warm_top: usize,
    /// Replays a warming runs at once.
    pub cache_warm_concurrency: usize,
    /// Replays a warming starts per second, at most.
    pub cache_warm_rate: u32,
    /// Upper bound of one Redis command, ms.
    pub cache_redis_timeout_ms: u64,
    /// Redis lease on a miss, ms (0 = no lease).
    pub cache_lease_ms: u64,
    /// Invalidate on every committed change to the database, whoever made it (the `changes` module).
    pub change_stream: Switch,
    /// How often the SQLite change stream looks for new commits, ms.
    pub change_stream_poll_ms: u64,
    /// Test only (not read from the environment): reintroduce the stale-set race so the
    /// consistency checker can prove it catches it. See `trigapi_cache::CacheConfig`.
    pub cache_unsafe_stamp_at_store: bool,
}

/// Who may call: tokens, the admin credential, the registration webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// Bearer token for the `/v1/admin/cache` endpoints; none = only `api:admin` users.
    pub admin_token: Option<Secret>,
    /// Secret for HS256 bearer tokens (self-hosting and development). Used when no JWKS URL is
    /// set; none too = no tokens accepted.
    pub jwt_hs256_secret: Option<Secret>,
    /// JWKS of the RS256 token issuer (e.g. `https://auth.example/.well-known/jwks.json`): when
    /// set, only RS256 tokens with this issuer and audience are accepted.
    pub jwt_jwks_url: Option<String>,
    /// Required `iss` of RS256 tokens.
    pub jwt_issuer: Option<String>,
    /// Required `aud` of RS256 tokens.
    pub jwt_audience: Option<String>,
    /// Least time between two JWKS fetches (an unknown key id asks for one), seconds.
    pub jwt_jwks_refetch_secs: u64,
    /// How long a fetched JWKS is used before it is refreshed in the background, seconds.
    pub jwt_jwks_ttl_secs: u64,
    /// `X-Webhook-Secret` of the registration webhook (`POST /v1/users`); none = refused.
    pub webhook_shared_secret: Option<Secret>,
}

/// An optional setting: an empty (or all-blank) value means "not set", as it does in an
/// environment file (`REDIS_URL=` turns Redis off).
fn set<T: From<String>>(text: String) -> Option<T> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty()).map(T::from)
}

/// The settings as read: flat, every value as its source gave it (figment reads numbers and
/// booleans from text only when a field of that type asks, so the sections are made after).
#[derive(Clone, Serialize, Deserialize)]
struct RawConfig {
    /// Listen address.
    bind_addr: String,
    /// `sqlite://…`, `postgres://…` or `mysql://…`.
    database_url: String,
    /// `development`, `staging`, `production` (reported by `/health`; part of every cache key).
    environment: String,
    db_max_connections: u32,
    /// Run migrations on start for PostgreSQL/MySQL too (SQLite always migrates).
    auto_migrate: bool,
    /// Directory served under `/photos/` (seeded demo images live here).
    photos_dir: PathBuf,
    /// Store uploaded photos in this S3 bucket instead of `photos_dir` (credentials from the
    /// usual `AWS_*` variables); the `server` row with id 1 must then name the bucket's URL.
    photos_s3_bucket: String,
    /// The bucket's region (else `AWS_REGION`).
    photos_s3_region: String,
    /// An S3-compatible endpoint (MinIO, R2, …); empty = AWS.
    photos_s3_endpoint: String,
    /// The bucket's credentials, when not from the `AWS_*` variables or the instance role.
    photos_s3_access_key_id: String,
    photos_s3_secret_access_key: String,
    /// Public base URL of this server; the seed writes `{public_url}/photos/` into `server`.
    public_url: String,
    /// `json` (one object per line) or `pretty`.
    log_format: LogFormat,
    /// CORS origins: a JSON list or a comma list; empty = CORS off. A TOML file may also
    /// give a list.
    #[serde(deserialize_with = "text_or_list")]
    backend_cors_origins: String,
    /// The proxies (addresses or CIDR blocks, JSON or comma list) whose `CF-Connecting-IP`,
    /// `X-Forwarded-For` and `X-Real-IP` headers are believed; empty = none, the peer address
    /// is the client's.
    #[serde(deserialize_with = "text_or_list")]
    trusted_proxies: String,
    /// `redis://…` or `rediss://…` (TLS); empty = in-process cache only (one instance).
    redis_url: String,
    /// `false` turns the response cache off entirely.
    cache_enabled: bool,
    /// Size bound of the in-process tier, MiB.
    cache_local_max_mb: u64,
    /// Seconds past its TTL an entry may be served stale while it is refreshed.
    cache_grace_secs: u64,
    /// Bodies from this size are stored compressed (zstd) and served compressed.
    cache_compress_min_bytes: usize,
    /// Larger responses are not stored.
    cache_max_entry_bytes: usize,
    /// Smaller responses are not stored (0: every size is).
    cache_min_entry_bytes: usize,
    /// `family=min..max` items, comma-separated; either bound may be left out
    /// (`trig=..65536, logs=512..`).
    cache_entry_bytes_by_family: String,
    /// Where to POST the tags of every invalidation; empty = no CDN purging.
    cdn_purge_url: String,
    /// `fastly` or `cloudflare`.
    cdn_purge_format: PurgeFormat,
    /// The CDN's API token.
    cdn_purge_token: String,
    /// Check every in-process hit against Redis (no cross-instance staleness window).
    cache_strict: bool,
    /// Answer repeat requests from the in-process tier before routing.
    cache_front_door: bool,
    cache_per_user_max_entries: usize,
    cache_hot_sample_every: u32,
    cache_warm_on_start: bool,
    cache_warm_top: usize,
    cache_warm_concurrency: usize,
    cache_warm_rate: u32,
    /// Upper bound of one Redis command, ms.
    cache_redis_timeout_ms: u64,
    /// Redis lease on a miss, ms (0 = no lease).
    cache_lease_ms: u64,
    /// `on` or `off`: invalidate on every committed change to the database.
    change_stream: Switch,
    /// How often the SQLite change stream looks for new commits, ms.
    change_stream_poll_ms: u64,
    /// Bearer token for the `/v1/admin/cache` endpoints; empty = admin endpoints refuse everyone.
    admin_token: String,
    /// Secret for HS256 bearer tokens (self-hosting and development). Used when no JWKS URL is
    /// set; empty too = no tokens accepted.
    jwt_hs256_secret: String,
    /// JWKS of the RS256 token issuer (e.g. `https://auth.example/.well-known/jwks.json`): when
    /// set, only RS256 tokens with this issuer and audience are accepted.
    jwt_jwks_url: String,
    /// Required `iss` of RS256 tokens.
    jwt_issuer: String,
    /// Required `aud` of RS256 tokens.
    jwt_audience: String,
    /// Least time between two JWKS fetches (an unknown key id asks for one), seconds.
    jwt_jwks_refetch_secs: u64,
    /// How long a fetched JWKS is used before it is refreshed in the background, seconds.
    jwt_jwks_ttl_secs: u64,
    /// `X-Webhook-Secret` of the registration webhook (`POST /v1/users`); empty = refused.
    webhook_shared_secret: String,
    /// Test only (not read from the environment): reintroduce the stale-set race so the
    /// consistency checker can prove it catches it. See `trigapi_cache::CacheConfig`.
    #[serde(default)]
    cache_unsafe_stamp_at_store: bool,
}

/// A string, or a list of strings kept as its JSON text (what [`Config::cors_origins`] reads).
fn text_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrList {
        Text(String),
        List(Vec<String>),
    }
    Ok(match TextOrList::deserialize(d)? {
        TextOrList::Text(t) => t,
        TextOrList::List(l) => serde_json::to_string(&l).unwrap_or_default(),
    })
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            bind_addr: "127.0.0.1:8000".into(),
            database_url: "sqlite://data/trigapi.db".into(),
            environment: "development".into(),
            db_max_connections: 16,
            auto_migrate: false,
            photos_dir: "data/photos".into(),
            photos_s3_bucket: String::new(),
            photos_s3_region: String::new(),
            photos_s3_endpoint: String::new(),
            photos_s3_access_key_id: String::new(),
            photos_s3_secret_access_key: String::new(),
            public_url: "http://127.0.0.1:8000".into(),
            log_format: LogFormat::Json,
            backend_cors_origins: String::new(),
            trusted_proxies: String::new(),
            redis_url: "redis://127.0.0.1:6379".into(),
            cache_enabled: true,
            cache_local_max_mb: 64,
            cache_grace_secs: 300,
            cache_compress_min_bytes: 1024,
            cache_max_entry_bytes: 16 << 20,
            cache_min_entry_bytes: 0,
            cache_entry_bytes_by_family: String::new(),
            cdn_purge_url: String::new(),
            cdn_purge_format: PurgeFormat::Fastly,
            cdn_purge_token: String::new(),
            cache_strict: false,
            cache_front_door: true,
            cache_per_user_max_entries: 50,
            cache_hot_sample_every: 16,
            cache_warm_on_start: false,
            cache_warm_top: 1000,
            cache_warm_concurrency: 2,
            cache_warm_rate: 200,
            cache_redis_timeout_ms: 50,
            cache_lease_ms: 2000,
            change_stream: Switch::Off,
            change_stream_poll_ms: 5,
            admin_token: String::new(),
            jwt_hs256_secret: String::new(),
            jwt_jwks_url: String::new(),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            jwt_jwks_refetch_secs: 30,
            jwt_jwks_ttl_secs: 3600,
            webhook_shared_secret: String::new(),
            cache_unsafe_stamp_at_store: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        RawConfig::default().into()
    }
}

impl From<RawConfig> for Config {
    fn from(r: RawConfig) -> Self {
        Self {
            server: ServerSettings {
                bind_addr: r.bind_addr,
                environment: r.environment,
                public_url: r.public_url,
                log_format: r.log_format,
                backend_cors_origins: r.backend_cors_origins,
                trusted_proxies: r.trusted_proxies,
            },
            database: DatabaseSettings {
                database_url: r.database_url.into(),
                db_max_connections: r.db_max_connections,
                auto_migrate: r.auto_migrate,
            },
            photos: PhotoSettings {
                photos_dir: r.photos_dir,
                photos_s3_bucket: set(r.photos_s3_bucket),
                photos_s3_region: set(r.photos_s3_region),
                photos_s3_endpoint: set(r.photos_s3_endpoint),
                photos_s3_access_key_id: set(r.photos_s3_access_key_id),
                photos_s3_secret_access_key: set(r.photos_s3_secret_access_key),
            },
            cache: CacheSettings {
                redis_url: set(r.redis_url),
                cache_enabled: r.cache_enabled,
                cache_local_max_mb: r.cache_local_max_mb,
                cache_grace_secs: r.cache_grace_secs,
                cache_compress_min_bytes: r.cache_compress_min_bytes,
                cache_max_entry_bytes: r.cache_max_entry_bytes,
                cache_min_entry_bytes: r.cache_min_entry_bytes,
                // `Config::load` has refused a value that does not parse.
                cache_entry_bytes_by_family: entry_bytes_by_family(&r.cache_entry_bytes_by_family).unwrap_or_default(),
                cdn_purge_url: set(r.cdn_purge_url),
                cdn_purge_format: r.cdn_purge_format,
                cdn_purge_token: set(r.cdn_purge_token),
                cache_strict: r.cache_strict,
                cache_front_door: r.cache_front_door,
                cache_per_user_max_entries: r.cache_per_user_max_entries,
                cache_hot_sample_every: r.cache_hot_sample_every,
                cache_warm_on_start: r.cache_warm_on_start,
                cache_warm_top: r.cache_warm_top,
                cache_warm_concurrency: r.cache_warm_concurrency.max(1),
                cache_warm_rate: r.cache_warm_rate.max(1),
                cache_redis_timeout_ms: r.cache_redis_timeout_ms,
                cache_lease_ms: r.cache_lease_ms,
                change_stream: r.change_stream,
                change_stream_poll_ms: r.change_stream_poll_ms,
                cache_unsafe_stamp_at_store: r.cache_unsafe_stamp_at_store,
            },
            auth: AuthSettings {
                admin_token: set(r.admin_token),
                jwt_hs256_secret: set(r.jwt_hs256_secret),
                jwt_jwks_url: set(r.jwt_jwks_url),
                jwt_issuer: set(r.jwt_issuer),
                jwt_audience: set(r.jwt_audience),
                jwt_jwks_refetch_secs: r.jwt_jwks_refetch_secs,
                jwt_jwks_ttl_secs: r.jwt_jwks_ttl_secs,
                webhook_shared_secret: set(r.webhook_shared_secret),
            },
        }
    }
}

impl Config {
    /// Defaults ← `file` (or `trigapi.toml` if present) ← environment.
    ///
    /// Environment values are taken as the text they are: `JWT_HS256_SECRET=123456` is the
    /// string `"123456"`, and `BACKEND_CORS_ORIGINS='["http://a"]'` a string holding a JSON
    /// list. Numeric and boolean settings are parsed from that text when extracted.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
        match file {
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => fig = fig.merge(Toml::file("trigapi.toml")),
        }
        // figment's `Env` provider would parse `123456` into a number and `[…]` into a list,
        // which a `String` field then refuses; give every value to it as text instead.
        let env: std::collections::BTreeMap<String, String> =
            Env::raw().only(ENV_VARS).iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v)).collect();
        let raw = fig.merge(Serialized::globals(env)).extract_lossy::<RawConfig>().map_err(Box::new)?;
        entry_bytes_by_family(&raw.cache_entry_bytes_by_family).map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(Config::from(raw))
    }

    /// `BACKEND_CORS_ORIGINS` as a list (JSON list or comma list; trailing `/` stripped).
    pub fn cors_origins(&self) -> Vec<String> {
        list(&self.server.backend_cors_origins).into_iter().map(|o| o.trim_end_matches('/').to_owned()).collect()
    }

    /// `TRUSTED_PROXIES` as networks (a bare address is a network of one); an entry that is
    /// neither is an error, found at startup.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        list(&self.server.trusted_proxies)
            .into_iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("TRUSTED_PROXIES: {entry:?} is not an address or CIDR block"))
            })
            .collect()
    }
}

/// A feature turned `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// How a purge request names its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeFormat {
    /// `POST` with the tags space-separated in a `Surrogate-Key` header, and the token as
    /// `Fastly-Key` (Fastly's batch purge, at most 256 keys a request).
    Fastly,
    /// `POST` of `{"tags": […]}`, and the token as a bearer token (Cloudflare's purge by
    /// cache tag, at most 30 tags a request).
    Cloudflare,
}

/// The sizes of one endpoint family's responses that are stored: either bound replaces
/// `CACHE_MIN_ENTRY_BYTES` / `CACHE_MAX_ENTRY_BYTES` there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryBytes {
    pub min: Option<usize>,
    pub max: Option<usize>,
}

/// `CACHE_ENTRY_BYTES_BY_FAMILY`: `family=min..max` items, comma-separated, either bound left
/// out where the global one stands (`trig=..65536, logs=512..`).
pub fn entry_bytes_by_family(raw: &str) -> Result<BTreeMap<String, EntryBytes>, String> {
    let bound = |b: &str, item: &str| -> Result<Option<usize>, String> {
        let b = b.trim();
        if b.is_empty() {
            return Ok(None);
        }
        b.parse().map(Some).map_err(|_| format!("cache_entry_bytes_by_family: {b:?} in {item:?} is not a byte count"))
    };
    let mut families = BTreeMap::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let malformed = || format!("cache_entry_bytes_by_family: {item:?} is not `family=min..max`");
        let (family, range) = item.split_once('=').ok_or_else(malformed)?;
        let (min, max) = range.split_once("..").ok_or_else(malformed)?;
        let family = family.trim();
        if family.is_empty() {
            return Err(malformed());
        }
        let sizes = EntryBytes { min: bound(min, item)?, max: bound(max, item)? };
        if let (Some(min), Some(max)) = (sizes.min, sizes.max)
            && min > max
        {
            return Err(format!("cache_entry_bytes_by_family: {item:?} has its minimum above its maximum"));
        }
        families.insert(family.to_owned(), sizes);
    }
    Ok(families)
}

/// A JSON list or a comma list, items trimmed, empty ones dropped.
fn list(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    let items: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).unwrap_or_default()
    } else {
        raw.split(',').map(str::to_owned).collect()
    };
    items.into_iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Config::load` of a file holding `toml`, inside figment's `Jail`: it serialises the
    /// tests that set environment variables, so none of theirs (`LOG_FORMAT=xml`) leaks in.
    #[expect(clippy::result_large_err, reason = "figment's Jail closures return figment::Error")]
    fn load_toml(toml: &str) -> Result<Config, String> {
        let mut loaded = Err("the jail did not run".to_owned());
        figment::Jail::expect_with(|jail| {
            let path = jail.directory().join("trigapi.toml");
            jail.create_file(&path, toml)?;
            loaded = Config::load(Some(&path)).map_err(|e| format!("{e:#}"));
            Ok(())
        });
        loaded
    }

    #[test]
    fn a_toml_file_overrides_the_defaults() {
        let c = load_toml("db_max_connections = 3\nlog_format = \"pretty\"\n").expect("valid config");
        assert_eq!((c.database.db_max_connections, c.server.log_format), (3, LogFormat::Pretty));
        assert_eq!(c.server.bind_addr, Config::default().server.bind_addr, "unset keys keep their defaults");
    }

    #[test]
    fn entry_bytes_by_family_reads_ranges_and_refuses_the_rest() {
        let families = entry_bytes_by_family(" trig=..65536, logs=512.. ,stats=10..20").expect("valid");
        assert_eq!(families["trig"], EntryBytes { min: None, max: Some(65536) });
        assert_eq!(families["logs"], EntryBytes { min: Some(512), max: None });
        assert_eq!(families["stats"], EntryBytes { min: Some(10), max: Some(20) });
        assert_eq!(entry_bytes_by_family("").expect("empty"), BTreeMap::new());
        for bad in ["trig", "trig=12", "=1..2", "trig=a..2", "trig=5..1", "trig=-1.."] {
            assert!(entry_bytes_by_family(bad).is_err(), "{bad}");
        }
        let err = load_toml("cache_entry_bytes_by_family = \"trig=9..1\"\n").expect_err("minimum above maximum");
        assert!(err.contains("cache_entry_bytes_by_family"), "{err}");
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        let err = load_toml("db_max_connections = \"many\"\n").expect_err("a string is not a pool size");
        assert!(err.contains("db_max_connections"), "{err}");
    }

    /// Through the real loader, with real environment variables (figment's `Jail` serialises
    /// the tests that set them and restores the environment after).
    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closures return figment::Error")]
    fn text_settings_take_any_text_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JWT_HS256_SECRET", "123456");
            jail.set_env("ADMIN_TOKEN", "12345");
            jail.set_env("ENVIRONMENT", "2024");
            jail.set_env("WEBHOOK_SHARED_SECRET", "true");
            jail.set_env("BACKEND_CORS_ORIGINS", r#"["http://a.example", "http://b.example/"]"#);
            jail.set_env("DB_MAX_CONNECTIONS", "7");
            jail.set_env("CACHE_STRICT", "true");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.auth.jwt_hs256_secret, Some("123456".into()));
            assert_eq!(c.auth.admin_token, Some("12345".into()));
            assert_eq!(c.server.environment, "2024");
            assert_eq!(c.auth.webhook_shared_secret, Some("true".into()));
            assert_eq!(c.cors_origins(), ["http://a.example", "http://b.example"]);
            assert_eq!((c.database.db_max_connections, c.cache.cache_strict), (7, true));
            jail.set_env("BACKEND_CORS_ORIGINS", "http://a.example, http://b.example/");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.cors_origins(), ["http://a.example", "http://b.example"]);
            jail.set_env("DB_MAX_CONNECTIONS", "many");
            let err = Config::load(None).expect_err("not a number");
            assert!(err.to_string().contains("db_max_connections"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closures return figment::Error")]
    fn a_toml_file_may_list_cors_origins() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("trigapi.toml", "backend_cors_origins = [\"http://a.example\", \"http://b.example\"]\n")?;
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.cors_origins(), ["http://a.example", "http://b.example"]);
            Ok(())
        });
    }

    /// An empty value turns an optional setting off; secrets never show in `Debug` output
    /// (what a panic message or a `tracing` field of the configuration would print).
    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closures return figment::Error")]
    fn empty_means_off_and_secrets_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REDIS_URL", "");
            jail.set_env("ADMIN_TOKEN", "  ");
            jail.set_env("JWT_HS256_SECRET", "hunter2-is-the-secret");
            jail.set_env("DATABASE_URL", "postgres://app:pa55word@db.example/trig");
            jail.set_env("LOG_FORMAT", "pretty");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!((c.cache.redis_url.as_ref(), c.auth.admin_token.as_ref()), (None, None));
            assert_eq!(c.auth.jwt_hs256_secret.as_ref().map(Secret::expose), Some("hunter2-is-the-secret"));
            assert_eq!(c.server.log_format, LogFormat::Pretty);
            let printed = format!("{c:?} {c:#?}");
            assert!(!printed.contains("hunter2") && !printed.contains("pa55word"), "{printed}");
            jail.set_env("LOG_FORMAT", "xml");
            assert!(Config::load(None).expect_err("not a format").to_string().contains("log_format"));
            Ok(())
        });
    }

    #[test]
    fn cors_origins_accept_json_and_comma_lists() {
        let mut c = Config::default();
        c.server.backend_cors_origins = r#"["http://a/", "http://b"]"#.into();
        assert_eq!(c.cors_origins(), ["http://a", "http://b"]);
        c.server.backend_cors_origins = "http://a, http://b/".into();
        assert_eq!(c.cors_origins(), ["http://a", "http://b"]);
    }
}
