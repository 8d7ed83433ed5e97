//! The response cache as this API uses it: building it from the configuration, the TTL table,
//! the key shape, and [`Cached`], the one way a handler serves a cacheable response (JSON or PNG).
//!
//! Keys follow the contract: `trigapi:{environment}:{resource}[:{id}][:{sub}][:params_{hash}]:v1`,
//! with the parameters the handler actually parsed, in canonical form
//! ([`crate::domain::params::QueryParams::finish`]). Each entry depends on the prefixes of its
//! resource path as tags (`trig`, `trig:123`, `trig:123:logs`), so `invalidate(&["trig:123"])`
//! or the admin pattern `trig:123:*` is one generation bump.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use serde::Serialize;
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Cache, CacheBuilder, Policy, RedisTierConfig, Rendered, RequestView};

use crate::config::Config;
use crate::domain::params::KeyParams;
use crate::error::ApiError;
use crate::state::AppState;

/// First segment of every key.
pub const PREFIX: &str = "trigapi";
/// Set on a request (as an extension, which no client can send) to learn the policy its
/// handler serves under instead of serving it (`trigapi cache explain`).
#[derive(Clone, Default)]
pub struct Explain(pub Arc<std::sync::OnceLock<Policy>>);

/// Response-shape version: change it when a cached body's shape changes.
pub const VERSION: &str = "v1";

/// TTLs from the contract's TTL table (section 6.8).
pub mod ttl {
    use std::time::Duration;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }
    pub const STATS_SITE: Duration = s(3600);
    pub const TRIGS_EXPORT: Duration = s(31_536_000);
    pub const TRIGS_GEOJSON: Duration = s(31_536_000);
    pub const TRIG: Duration = s(86_400);
    pub const TRIGS_LIST: Duration = s(43_200);
    pub const TRIG_LOGS: Duration = s(7200);
    pub const TRIG_PHOTOS: Duration = s(7200);
    pub const TRIG_MAP: Duration = s(14_400);
    pub const USER: Duration = s(21_600);
    pub const USERS_LIST: Duration = s(43_200);
    pub const USER_LOGS: Duration = s(7200);
    pub const USER_PHOTOS: Duration = s(7200);
    pub const USER_MAP: Duration = s(14_400);
    pub const USER_BADGE: Duration = s(300);
    pub const LOGS_LIST: Duration = s(3600);
    pub const LOG: Duration = s(21_600);
    pub const PHOTOS_LIST: Duration = s(3600);
    pub const PHOTO: Duration = s(43_200);
    pub const LOCATION_SEARCH: Duration = s(86_400);
    pub const UNIFIED_SEARCH: Duration = s(3600);
    /// Each `/locations/search/{category}` but the log searches.
    pub const SEARCH: Duration = s(3600);
    pub const SEARCH_LOGS: Duration = s(1800);
}

/// `{prefix}:{environment}`: the namespace every key and generation of this deployment is in.
pub fn namespace(config: &Config) -> String {
    format!("{PREFIX}:{}", config.server.environment.to_lowercase())
}

/// Room for the front door's routes (each takes a few hundred bytes: some 30,000 distinct
/// requests as sent).
const FRONT_DOOR_BYTES: u64 = 8 << 20;

/// The cache the configuration asks for (disabled, in-process only, or two tiers).
pub async fn build(config: &Config) -> anyhow::Result<Cache> {
    if !config.cache.cache_enabled {
        return Ok(Cache::disabled());
    }
    let mut timeouts = RedisTierConfig::default();
    timeouts.command_timeout = Duration::from_millis(config.cache.cache_redis_timeout_ms.max(1));
    let mut cache = CacheBuilder::new(namespace(config))
        .name(PREFIX)
        .redis_timeouts(timeouts)
        .local_max_bytes(config.cache.cache_local_max_mb << 20)
        .grace(Duration::from_secs(config.cache.cache_grace_secs))
        .compress_at(config.cache.cache_compress_min_bytes)
        .max_entry_bytes(config.cache.cache_max_entry_bytes)
        .min_entry_bytes(config.cache.cache_min_entry_bytes)
        .strict(config.cache.cache_strict)
        .front_door_max_bytes(if config.cache.cache_front_door { FRONT_DOOR_BYTES } else { 0 })
        .per_owner_max_entries(config.cache.cache_per_user_max_entries)
        .hot_sample_every(config.cache.cache_hot_sample_every)
        .lease_ttl(Duration::from_millis(config.cache.cache_lease_ms))
        .unsafe_stamp_at_store(config.cache.cache_unsafe_stamp_at_store);
    if let Some(url) = &config.cache.redis_url {
        cache = cache.redis(url.expose());
    }
    Ok(cache.build().await?)
}

pub use crate::resource::Resource;

/// One cacheable response: its key parts, TTL and extra tags.
#[must_use]
pub struct Cached {
    resource: Resource,
    params: KeyParams,
    ttl: Duration,
    tags: Vec<String>,
    cache_control: Option<&'static str>,
    headers: Vec<(HeaderName, HeaderValue)>,
    owner: Option<i32>,
}

impl Cached {
    pub fn new(resource: Resource, ttl: Duration) -> Self {
        Self {
            resource,
            params: KeyParams::new(),
            ttl,
            tags: Vec::new(),
            cache_control: None,
            headers: Vec::new(),
            owner: None,
        }
    }

    pub fn params(mut self, params: KeyParams) -> Self {
        self.params = params;
        self
    }

    /// Also depend on `tag` (beyond the resource path's own tags).
    pub fn tag(mut self, tag: String) -> Self {
        self.tags.push(tag);
        self
    }

    /// The response is personalised for `user`: it counts against their
    /// `CACHE_PER_USER_MAX_ENTRIES`, not against everyone's room.
    pub fn owner(mut self, user: i32) -> Self {
        self.owner = Some(user);
        self
    }

    /// `Cache-Control` sent to clients.
    pub fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(value);
        self
    }

    /// Another header, stored with the body and sent with every response made from it. A
    /// handler never adds one to the response it gets back: a repeat request is answered at
    /// the front door, without the handler.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The cache policy: key, tags, TTL, `Cache-Control`, and the family's stored sizes
    /// where `settings` bounds them.
    fn policy(self, namespace: &str, settings: &crate::config::CacheSettings) -> Policy {
        let Resource { name, id, sub } = self.resource;
        let mut key = KeyBuilder::in_namespace(namespace, name);
        if let Some(id) = id {
            key = key.id(id);
        }
        if let Some(sub) = sub {
            key = key.subresource(sub);
        }
        for (name, value) in self.params {
            key = key.param(name, value);
        }
        let mut tags = key.tags();
        tags.extend(self.tags);
        let mut policy = Policy::new(key.build(VERSION), tags, self.ttl).group(name);
        if let Some(user) = self.owner {
            policy = policy.owner(format!("user:{user}"));
        }
        if let Some(cc) = self.cache_control {
            policy = policy.cache_control(cc);
        }
        let sizes = settings.cache_entry_bytes_by_family.get(name).copied().unwrap_or_default();
        if let Some(min) = sizes.min {
            policy = policy.min_entry_bytes(min);
        }
        if let Some(max) = sizes.max {
            policy = policy.max_entry_bytes(max);
        }
        policy
    }

    /// Serve `compute`'s value as JSON through the cache. `compute` runs only on a miss (shared
    /// by concurrent requests for the same key), in its own task, with a clone of the state.
    pub async fn json<T, F, Fut>(self, app: &AppState, request: &RequestView, compute: F) -> Result<Response, ApiError>
    where
        T: Serialize,
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        self.serve(app, request, move |app| async move {
            let value = compute(app).await?;
            let body = serde_json::to_vec(&value).map_err(|_| ApiError::Internal("response did not serialise"))?;
            Ok(Rendered::json(body))
        })
        .await
    }

    /// Serve the PNG image `compute` draws, exactly as [`Cached::json`] serves JSON.
    pub async fn png<F, Fut>(self, app: &AppState, request: &RequestView, compute: F) -> Result<Response, ApiError>
    where
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, ApiError>> + Send + 'static,
    {
        self.serve(app, request, move |app| async move { Ok(Rendered::new("image/png", compute(app).await?)) }).await
    }

    async fn serve<F, Fut>(mut self, app: &AppState, request: &RequestView, compute: F) -> Result<Response, ApiError>
    where
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rendered, ApiError>> + Send + 'static,
    {
        let headers = std::mem::take(&mut self.headers);
        let policy = self.policy(&app.cache.config().namespace, &app.config.cache);
        let state = app.clone();
        let origin = move || async move {
            let rendered = compute(state).await?;
            Ok::<_, ApiError>(headers.into_iter().fold(rendered, |r, (name, value)| r.header(name, value)))
        };
        let response = app.cache.serve(request, policy, origin).await.map_err(Arc::unwrap_or_clone)?;
        Ok(response.map(Body::new))
    }
}
