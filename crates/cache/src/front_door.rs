//! The front door: a repeat request answered from the in-process tier before any of the
//! application's code runs (routing, extractors, parameter parsing), the way a reverse proxy's
//! hash lookup comes before its backend.
//!
//! An application derives each response's [`Policy`] from its request: the key canonicalises
//! the parameters (`?b=2&a=1` and `?a=1&b=2` share one entry), so the cache cannot compute it
//! from the raw request. The front door learns it instead. A request whose [`RequestView`] was
//! made with [`RequestView::of`] teaches [`Cache::serve`] the policy its target (path and query
//! as sent) maps to; the next request with the same target is looked up under that policy by
//! [`Cache::front_door`], without the application. Only a fresh in-process hit is answered
//! there, after the same generation check, freshness, headers and counters as the serve path.
//! Anything else (no entry, an invalidated or stale one, one due for an early refresh, a
//! bypass) is `None`: the request goes the full way, which teaches the door again.
//!
//! Only `GET` requests without `Authorization` or `Cookie` go through it, so it holds no
//! entry keyed by caller. The map is bounded in bytes; the routes least worth keeping go first.
//!
//! [`Cache::serve`]: crate::Cache::serve
//! [`Cache::front_door`]: crate::Cache::front_door

use std::sync::Arc;

use http::header::{AUTHORIZATION, COOKIE, HeaderMap};
use http::{Method, Uri};

use crate::RequestView;
use crate::policy::Policy;

/// Requests as sent → the policies of their entries.
pub(crate) struct FrontDoor {
    routes: moka::sync::Cache<String, Arc<Policy>, foldhash::fast::RandomState>,
    enabled: bool,
}

impl FrontDoor {
    /// A door remembering up to `max_bytes` of routes (zero: closed).
    pub(crate) fn new(max_bytes: u64) -> Self {
        let routes = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|target: &String, policy: &Arc<Policy>| u32::try_from(weight(target, policy)).unwrap_or(u32::MAX))
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self { routes, enabled: max_bytes > 0 }
    }

    /// The policy `target` was last served under, if the door knows it.
    pub(crate) fn route(&self, target: &str) -> Option<Arc<Policy>> {
        if !self.enabled {
            return None;
        }
        self.routes.get(target)
    }

    /// Remember that `target` is served under `policy`.
    pub(crate) fn learn(&self, target: &str, policy: Policy) {
        if self.enabled && !self.routes.contains_key(target) {
            self.routes.insert(target.to_owned(), Arc::new(policy));
        }
    }

    /// Routes known.
    pub(crate) fn len(&self) -> u64 {
        self.routes.run_pending_tasks();
        self.routes.entry_count()
    }
}

/// The bytes a route holds, roughly: its target, key and tags, and their bookkeeping.
fn weight(target: &str, policy: &Policy) -> usize {
    const OVERHEAD: usize = 128;
    OVERHEAD + target.len() + policy.key.len() + policy.tags.iter().map(|t| t.len() + 24).sum::<usize>()
}

/// The target the front door knows a request by (path and query as sent), if it may use the
/// door at all: a `GET` without the headers that may make its answer the caller's own.
pub(crate) fn target<'a>(method: &Method, uri: &'a Uri, headers: &HeaderMap) -> Option<&'a str> {
    if method != Method::GET || headers.contains_key(AUTHORIZATION) || headers.contains_key(COOKIE) {
        return None;
    }
    Some(uri.path_and_query().map_or_else(|| uri.path(), |pq| pq.as_str()))
}

impl RequestView {
    /// Read a request's head, as [`RequestView::new`] does, and let [`crate::Cache::serve`]
    /// teach the front door the policy this request's target maps to.
    ///
    /// Use it only where the policy is a function of the target (path and query) alone, for a
    /// `GET` without `Authorization` or `Cookie`; where the policy depends on another header,
    /// use [`RequestView::new`], and the door never learns that route.
    pub fn of(parts: &http::request::Parts) -> Self {
        let mut view = Self::new(&parts.headers);
        if !view.bypass {
            view.target = target(&parts.method, &parts.uri, &parts.headers).map(Into::into);
        }
        view
    }
}
