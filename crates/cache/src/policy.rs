//! What the application tells the cache about one response: its [`Policy`] (key, tags, TTL),
//! its [`Origin`] (how to compute it) and what the origin returns ([`Rendered`]).

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::flight::Aborted;
use crate::generations::{GLOBAL, tag_set};

/// What one response depends on and how long it keeps.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) key: String,
    pub(crate) tags: Vec<String>,
    pub(crate) ttl: Duration,
    pub(crate) cache_control: Option<HeaderValue>,
    /// `cache_control` keeps shared caches out (`private`, `no-store`).
    pub(crate) private: bool,
    pub(crate) min_entry_bytes: Option<usize>,
    pub(crate) max_entry_bytes: Option<usize>,
    /// The group its figures are counted in ([`Policy::group`]).
    pub(crate) group: Cow<'static, str>,
    /// The caller whose own entry this is ([`Policy::owner`]).
    pub(crate) owner: Option<String>,
    /// Made the first time a response of this policy is sent; a front-door route keeps its
    /// policy, so its hits reuse them.
    tag_headers: OnceLock<TagHeaders>,
}

/// The tags as a CDN reads them: `Surrogate-Key` (space-separated) and `Cache-Tag`
/// (comma-separated), without the namespace-wide tag.
#[derive(Debug, Clone)]
pub(crate) struct TagHeaders {
    pub(crate) surrogate_key: Option<HeaderValue>,
    pub(crate) cache_tag: Option<HeaderValue>,
}

impl Policy {
    /// `key` (from [`crate::key::KeyBuilder::build`]), the tags it depends on (usually
    /// [`crate::key::KeyBuilder::tags`]) and its TTL.
    pub fn new(key: String, tags: Vec<String>, ttl: Duration) -> Self {
        Self {
            key,
            tags: tag_set(tags),
            ttl,
            cache_control: None,
            private: false,
            min_entry_bytes: None,
            max_entry_bytes: None,
            group: Cow::Borrowed(crate::groups::DEFAULT_GROUP),
            owner: None,
            tag_headers: OnceLock::new(),
        }
    }

    /// Also depend on `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
            self.tag_headers = OnceLock::new();
        }
        self
    }

    /// `Cache-Control` to send to clients with every response of this policy.
    pub fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(HeaderValue::from_static(value));
        self.private = value.split(',').map(str::trim).any(|d| {
            d.eq_ignore_ascii_case("no-store") || d.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("private"))
        });
        self
    }

    /// Store this response only if its body has at least `bytes` bytes (instead of
    /// [`crate::CacheConfig::min_entry_bytes`]).
    pub fn min_entry_bytes(mut self, bytes: usize) -> Self {
        self.min_entry_bytes = Some(bytes);
        self
    }

    /// Store this response only if its body has at most `bytes` bytes (instead of
    /// [`crate::CacheConfig::max_entry_bytes`]).
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = Some(bytes);
        self
    }

    /// Count this response's figures in `group` ([`crate::Stats::groups`]): an endpoint
    /// family, say. Keep the number of groups small; each has its own counters.
    pub fn group(mut self, group: impl Into<Cow<'static, str>>) -> Self {
        self.group = group.into();
        self
    }

    /// This entry is `owner`'s own (a response personalised for one caller): each owner keeps
    /// at most [`crate::CacheConfig::per_owner_max_entries`] entries in each tier, the least
    /// recently used going first, so that one caller cannot push out other callers' entries or
    /// the shared ones.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The tags, the namespace-wide one included.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// How long the entry is fresh.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The tag headers ([`TagHeaders`]), made once.
    pub(crate) fn tag_headers(&self) -> &TagHeaders {
        self.tag_headers.get_or_init(|| {
            let tags: Vec<&str> = self.tags.iter().map(String::as_str).filter(|t| *t != GLOBAL).collect();
            TagHeaders {
                surrogate_key: HeaderValue::from_str(&tags.join(" ")).ok(),
                cache_tag: HeaderValue::from_str(&tags.join(",")).ok(),
            }
        })
    }
}

/// A response the origin computed: what gets stored and served. `200 OK` unless
/// [`Rendered::status`] says otherwise; [`Rendered::header`] adds headers that are stored with
/// the body and sent with every response made from it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub(crate) status: StatusCode,
    pub(crate) content_type: HeaderValue,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

impl Rendered {
    /// A `200 OK` body of the given content type.
    pub fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self::typed(HeaderValue::from_static(content_type), body)
    }

    /// A `200 OK` body whose content type is known only at run time.
    pub fn typed(content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        Self { status: StatusCode::OK, content_type, headers: Vec::new(), body: body.into() }
    }

    /// A `200 OK` `application/json` body.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self::new("application/json", body)
    }

    /// Answer with `status` (a `404` is cached like any other answer; only a `200` answers
    /// `If-None-Match` with `304`).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Send `name: value` with every response made from this one. The cache's own headers
    /// (`Content-Type`, `ETag`, `Vary`, `Cache-Control` and the `X-Cache-*` family) are set by
    /// the cache and cannot be replaced this way.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The computation behind a response: called on a miss, at most once per call of
/// [`crate::Cache::serve`], in a task of its own. Any
/// `FnOnce() -> impl Future<Output = Result<Rendered, E>>` that is `Send + 'static` is one.
pub trait Origin<E>: FnOnce() -> <Self as Origin<E>>::Future + Send + 'static {
    /// What the closure returns.
    type Future: Future<Output = Result<Rendered, E>> + Send + 'static;
}

impl<F, Fut, E> Origin<E> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Rendered, E>> + Send + 'static,
{
    type Future = Fut;
}

/// An origin's error type: shared (as `Arc<E>`, the way moka's `try_get_with` shares one) with
/// every request that waited on the failed computation, and built from [`Aborted`] when the
/// computation panicked.
pub trait OriginError: From<Aborted> + Send + Sync + 'static {}

impl<E: From<Aborted> + Send + Sync + 'static> OriginError for E {}
