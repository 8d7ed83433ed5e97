//! The HTTP side: what a request asks of the cache (bypass, conditional, encodings) and the
//! response built from a stored entry, with the cache headers.
//!
//! Headers on every cached response: `X-Cache-Status` (`HIT`, `MISS`, `BYPASS`, `STALE`),
//! `X-Cache-Key`, `X-Cache-TTL` (remaining seconds on a hit, the configured TTL otherwise),
//! `X-Cache-Age` (on hits), the RFC 9211 `Cache-Status`, a strong `ETag` and
//! `Vary: Accept-Encoding`. A matching `If-None-Match` gets `304 Not Modified` with the same
//! headers and no body.
//!
//! For a CDN in front: the response's tags as `Surrogate-Key` (space-separated) and `Cache-Tag`
//! (comma-separated), to purge by, and `Surrogate-Control` / `CDN-Cache-Control` with the
//! remaining TTL (`no-store` when the response is `private`).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::policy::TagHeaders;
use crate::stored::{Stored, names_body};

/// `X-Cache-Status`.
pub const X_CACHE_STATUS: HeaderName = HeaderName::from_static("x-cache-status");
/// `X-Cache-Key`.
pub const X_CACHE_KEY: HeaderName = HeaderName::from_static("x-cache-key");
/// `X-Cache-TTL`.
pub const X_CACHE_TTL: HeaderName = HeaderName::from_static("x-cache-ttl");
/// `X-Cache-Age`.
pub const X_CACHE_AGE: HeaderName = HeaderName::from_static("x-cache-age");
/// `Cache-Status` (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
/// `Surrogate-Key`: the tags the response depends on, space-separated (the CDN convention for
/// purging by tag; the namespace-wide tag is left out).
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
/// `Cache-Tag`: the same tags, comma-separated (Cloudflare's name for them).
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");
/// `Surrogate-Control`: how long a CDN in front may keep the response (Fastly, Akamai).
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
/// `CDN-Cache-Control` (RFC 9213): the same, for any CDN that reads it (Cloudflare).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// The headers a browser needs exposed (CORS `Access-Control-Expose-Headers`) to read them.
pub const EXPOSED_HEADERS: [HeaderName; 6] =
    [X_CACHE_STATUS, X_CACHE_KEY, X_CACHE_TTL, X_CACHE_AGE, CACHE_STATUS, header::ETAG];

/// What a request asks of the cache: read once from its headers (`Cache-Control`, `Pragma`,
/// `If-None-Match`, `Accept-Encoding`), without copying them.
#[derive(Debug, Default, Clone)]
pub struct RequestView {
    /// `Cache-Control: no-cache` / `max-age=0` (or `Pragma: no-cache`): skip the read.
    pub(crate) bypass: bool,
    if_none_match: Option<String>,
    zstd: bool,
    gzip: bool,
    /// The target the front door learns this request's policy under ([`RequestView::of`]).
    pub(crate) target: Option<Box<str>>,
    /// Where [`crate::Cache::serve`] leaves the policy instead of serving
    /// ([`RequestView::explaining`]).
    pub(crate) explain: Option<std::sync::Arc<std::sync::OnceLock<crate::Policy>>>,
    /// Left out of the record of hot requests ([`RequestView::unrecorded`]).
    pub(crate) unrecorded: bool,
}

impl RequestView {
    /// Read what matters to the cache from a request's headers.
    pub fn new(headers: &HeaderMap) -> Self {
        // Every item of every value of `name`, trimmed (no allocation: this runs on every hit).
        let items = |name| {
            headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
        };
        let bypass = items(header::CACHE_CONTROL)
            .any(|d| d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("max-age=0"))
            || items(header::PRAGMA).any(|d| d.eq_ignore_ascii_case("no-cache"));
        let accepts = |coding: &str| {
            items(header::ACCEPT_ENCODING).any(|item| {
                let mut parts = item.split(';').map(str::trim);
                parts.next().is_some_and(|c| c.eq_ignore_ascii_case(coding))
                    && parts.all(|p| p.strip_prefix("q=").is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0)))
            })
        };
        let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self {
            bypass,
            if_none_match,
            zstd: accepts("zstd"),
            gzip: accepts("gzip"),
            target: None,
            explain: None,
            unrecorded: false,
        }
    }

    /// Ask [`crate::Cache::serve`] not to serve this request but to leave the policy it would
    /// serve it under in `slot` (and answer `204 No Content`, running neither a lookup nor the
    /// origin): how a tool learns which entry a request maps to, through the application's own
    /// code, to [`crate::Cache::inspect`] it.
    pub fn explaining(mut self, slot: std::sync::Arc<std::sync::OnceLock<crate::Policy>>) -> Self {
        self.explain = Some(slot);
        self
    }

    /// Leave this request out of the record of hot requests ([`crate::Cache::hottest`]): a
    /// warmer's replay, which would otherwise count itself.
    pub fn unrecorded(mut self) -> Self {
        self.unrecorded = true;
        self
    }

    /// `If-None-Match` matches `etag`, the identity tag (weak comparison, as RFC 9110 asks for
    /// this header; the tag of any encoding of the same body matches too).
    fn not_modified(&self, etag: &str) -> bool {
        self.if_none_match.as_deref().is_some_and(|list| {
            list.split(',').map(str::trim).any(|t| t == "*" || names_body(t.trim_start_matches("W/"), etag))
        })
    }
}

/// How the response was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from a tier while fresh.
    Hit {
        /// Seconds of TTL left.
        remaining_secs: u64,
        /// Seconds since it was stored.
        age_secs: u64,
    },
    /// Served past its TTL inside the grace window while a refresh runs.
    Stale {
        /// Seconds since it was stored.
        age_secs: u64,
        /// Seconds past the TTL.
        over_secs: u64,
    },
    /// Computed by the origin.
    Miss {
        /// Stored for the next request.
        stored: bool,
        /// Joined a computation another request started.
        coalesced: bool,
        /// An entry existed but was invalidated or expired.
        replaced: bool,
    },
    /// The request asked to skip the cache; computed, then stored.
    Bypass {
        /// Stored for the next request.
        stored: bool,
    },
}

impl Outcome {
    /// The `X-Cache-Status` value.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Hit { .. } => "HIT",
            Outcome::Stale { .. } => "STALE",
            Outcome::Miss { .. } => "MISS",
            Outcome::Bypass { .. } => "BYPASS",
        }
    }

    /// The RFC 9211 `Cache-Status` value for a cache named `name`.
    pub fn cache_status(&self, name: &str) -> String {
        match *self {
            Outcome::Hit { remaining_secs, .. } => format!("{name}; hit; ttl={remaining_secs}"),
            Outcome::Stale { over_secs, .. } => format!("{name}; fwd=stale; ttl=-{over_secs}"),
            Outcome::Miss { stored, coalesced, replaced } => format!(
                "{name}; fwd={}{}{}",
                if replaced { "miss" } else { "uri-miss" },
                if coalesced { "; collapsed" } else { "" },
                if stored { "; stored" } else { "" }
            ),
            Outcome::Bypass { stored } => format!("{name}; fwd=bypass{}", if stored { "; stored" } else { "" }),
        }
    }
}

/// Everything [`render`] needs besides the entry.
pub(crate) struct Render<'a> {
    pub(crate) name: &'a str,
    pub(crate) key: &'a str,
    pub(crate) tag_headers: &'a TagHeaders,
    pub(crate) ttl_secs: u64,
    pub(crate) cache_control: Option<&'a HeaderValue>,
    pub(crate) private: bool,
}

impl<'a> Render<'a> {
    pub(crate) fn of(name: &'a str, policy: &'a crate::Policy) -> Self {
        Self {
            name,
            key: &policy.key,
            tag_headers: policy.tag_headers(),
            ttl_secs: policy.ttl.as_secs(),
            cache_control: policy.cache_control.as_ref(),
            private: policy.private,
        }
    }
}

pub(crate) fn render(
    stored: &Stored,
    outcome: Outcome,
    request: &RequestView,
    r: &Render<'_>,
) -> Response<Full<Bytes>> {
    let entry = &stored.entry;
    let status = StatusCode::from_u16(entry.meta().status).unwrap_or(StatusCode::OK);
    // Only a 200 names a representation a client may hold: another status is always sent.
    let not_modified = status == StatusCode::OK && request.not_modified(entry.etag());
    // The representation the client gets (a body worth compressing is stored as zstd, and
    // has a gzip form made on the first request for it). A 304 names it by its ETag without
    // making its body.
    let compressed = stored.zstd().is_some();
    let preferred = if compressed && request.zstd {
        Some("zstd")
    } else if compressed && request.gzip {
        Some("gzip")
    } else {
        None
    };
    let (body, coding) = match preferred {
        _ if not_modified => (Bytes::new(), preferred),
        Some("zstd") => (stored.zstd().cloned().unwrap_or_default(), preferred),
        Some("gzip") => match stored.gzip() {
            Some(g) => (g.clone(), preferred),
            None => (stored.identity.clone(), None),
        },
        _ => (stored.identity.clone(), None),
    };
    let etag = stored.etag_for(coding);
    let encoding = coding.filter(|_| !not_modified);
    let mut response = Response::new(Full::new(body));
    // Room for every header below, so the map never grows on the hit path.
    *response.headers_mut() = HeaderMap::with_capacity(24);
    *response.status_mut() = if not_modified { StatusCode::NOT_MODIFIED } else { status };
    let h = response.headers_mut();
    // The origin's own first, so that the cache's headers below win over any of the same name.
    for (name, value) in &stored.headers {
        h.append(name.clone(), value.clone());
    }
    if !not_modified && let Some(v) = &stored.content_type {
        h.insert(header::CONTENT_TYPE, v.clone());
    }
    if let Some(coding) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(v) = etag {
        h.insert(header::ETAG, v.clone());
    }
    if let Some(cc) = r.cache_control {
        h.insert(header::CACHE_CONTROL, cc.clone());
    }
    h.insert(X_CACHE_STATUS, HeaderValue::from_static(outcome.status()));
    if let Some(v) = stored.key.clone().or_else(|| HeaderValue::from_str(r.key).ok()) {
        h.insert(X_CACHE_KEY, v);
    }
    let (ttl, age) = match outcome {
        Outcome::Hit { remaining_secs, age_secs } => (remaining_secs, Some(age_secs)),
        Outcome::Stale { age_secs, .. } => (0, Some(age_secs)),
        Outcome::Miss { .. } | Outcome::Bypass { .. } => (r.ttl_secs, None),
    };
    h.insert(X_CACHE_TTL, HeaderValue::from(ttl));
    if let Some(age) = age {
        h.insert(X_CACHE_AGE, HeaderValue::from(age));
    }
    if let Ok(v) = HeaderValue::from_str(&outcome.cache_status(r.name)) {
        h.insert(CACHE_STATUS, v);
    }
    if let Some(v) = &r.tag_headers.surrogate_key {
        h.insert(SURROGATE_KEY, v.clone());
    }
    if let Some(v) = &r.tag_headers.cache_tag {
        h.insert(CACHE_TAG, v.clone());
    }
    // A CDN keeps what this cache keeps, for as long as it is fresh here; never an answer
    // the origin marked private (one caller's).
    let surrogate = if r.private {
        Some(HeaderValue::from_static("no-store"))
    } else {
        HeaderValue::from_str(&format!("max-age={ttl}")).ok()
    };
    if let Some(v) = surrogate {
        h.insert(SURROGATE_CONTROL, v.clone());
        h.insert(CDN_CACHE_CONTROL, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pairs: &[(&'static str, &'static str)]) -> RequestView {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        RequestView::new(&h)
    }

    #[test]
    fn bypass_directives() {
        assert!(view(&[("cache-control", "no-cache")]).bypass);
        assert!(view(&[("cache-control", "Max-Age=0, private")]).bypass);
        assert!(view(&[("pragma", "no-cache")]).bypass);
        assert!(!view(&[("cache-control", "max-age=60")]).bypass);
        assert!(!view(&[]).bypass);
    }

    #[test]
    fn accept_encoding_honours_q_zero() {
        let v = view(&[("accept-encoding", "gzip;q=0, zstd")]);
        assert!(v.zstd && !v.gzip);
        let v = view(&[("accept-encoding", "br, gzip;q=0.5")]);
        assert!(!v.zstd && v.gzip);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let v = view(&[("if-none-match", "\"a\", W/\"b\"")]);
        assert!(v.not_modified("\"a\"") && v.not_modified("\"b\"") && !v.not_modified("\"c\""));
        assert!(view(&[("if-none-match", "*")]).not_modified("\"x\""));
        let v = view(&[("if-none-match", "\"a-zstd\"")]);
        assert!(v.not_modified("\"a\"") && !v.not_modified("\"ab\""), "any encoding's tag names the body");
        assert!(view(&[("if-none-match", "W/\"a-gzip\"")]).not_modified("\"a\""));
        assert!(!view(&[("if-none-match", "\"a-br\"")]).not_modified("\"a\""), "only the codings we make");
    }

    #[test]
    fn cache_status_values() {
        assert_eq!(Outcome::Hit { remaining_secs: 86355, age_secs: 45 }.cache_status("t"), "t; hit; ttl=86355");
        assert_eq!(
            Outcome::Miss { stored: true, coalesced: false, replaced: false }.cache_status("t"),
            "t; fwd=uri-miss; stored"
        );
        assert_eq!(
            Outcome::Miss { stored: true, coalesced: true, replaced: true }.cache_status("t"),
            "t; fwd=miss; collapsed; stored"
        );
        assert_eq!(Outcome::Bypass { stored: true }.cache_status("t"), "t; fwd=bypass; stored");
        assert_eq!(Outcome::Stale { age_secs: 70, over_secs: 10 }.cache_status("t"), "t; fwd=stale; ttl=-10");
    }
}
