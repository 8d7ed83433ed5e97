//! Purging a CDN in front by tag (`CDN_PURGE_URL`).
//!
//! Every response names its tags (`Surrogate-Key`, `Cache-Tag`), so what a CDN stored under a
//! tag is what a purge of that tag removes. The tags of every invalidation this instance makes
//! ([`Cache::subscribe_invalidations`]) are POSTed to the CDN's purge API, in Fastly's or
//! Cloudflare's format ([`PurgeFormat`]):
//! - in batches: the tags of the invalidations that arrive while a purge is under way go
//!   together in the next, deduplicated, up to the format's limit per request;
//! - with retries: a CDN that fails (5xx, 429) or cannot be reached is tried again up to four
//!   times, backing off from 200 ms; a 4xx is a configuration error, logged at once;
//! - everything at once (Fastly's `…/purge_all`, Cloudflare's `purge_everything`) after a
//!   flush of everything, and when the purger fell so far behind the cache's announcements
//!   that it missed some: never a missed purge in silence.
//!
//! Only the instance that made a write purges: invalidations heard from other instances
//! through Redis are not repeated, so a fleet sends each purge once. The purge follows the
//! cache's own invalidation and never delays the write's answer. CLI commands (`trigapi
//! import`) do not purge: their process ends before a purge could be sent.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use trigapi_cache::Cache;

use crate::config::{CacheSettings, PurgeFormat};

/// Tries of one purge request.
const ATTEMPTS: u32 = 4;
/// The wait before the first retry; it doubles before each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Bound on one purge request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the purger has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct PurgeStats {
    /// Purge requests the CDN accepted.
    pub requests: AtomicU64,
    /// Tags purged by them.
    pub tags: AtomicU64,
    /// Attempts that failed and were tried again.
    pub retries: AtomicU64,
    /// Purge requests given up on.
    pub failures: AtomicU64,
    /// Purges of everything, after invalidations were missed.
    pub purged_all: AtomicU64,
}

impl PurgeStats {
    /// `(name, value)` of each counter, named for `/metrics`.
    pub fn pairs(&self) -> [(&'static str, u64); 5] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("requests", get(&self.requests)),
            ("tags", get(&self.tags)),
            ("retries", get(&self.retries)),
            ("failures", get(&self.failures)),
            ("purged_all", get(&self.purged_all)),
        ]
    }
}

impl PurgeFormat {
    /// The most tags one request may name.
    fn batch(self) -> usize {
        match self {
            PurgeFormat::Fastly => 256,
            PurgeFormat::Cloudflare => 30,
        }
    }
}

/// What one purge request removes.
enum Purge<'a> {
    Tags(&'a [String]),
    Everything,
}

struct Purger {
    client: reqwest::Client,
    url: String,
    format: PurgeFormat,
    token: Option<String>,
    stats: Arc<PurgeStats>,
}

/// Start purging the CDN that `settings` name, if any, with what `cache` invalidates; the
/// purger's counters.
pub fn spawn(cache: &Cache, settings: &CacheSettings) -> anyhow::Result<Option<Arc<PurgeStats>>> {
    let Some(url) = settings.cdn_purge_url.clone() else {
        return Ok(None);
    };
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
    let stats = Arc::new(PurgeStats::default());
    let purger = Purger {
        client,
        url,
        format: settings.cdn_purge_format,
        token: settings.cdn_purge_token.as_ref().map(|t| t.expose().to_owned()),
        stats: Arc::clone(&stats),
    };
    tokio::spawn(purger.run(cache.subscribe_invalidations()));
    Ok(Some(stats))
}

impl Purger {
    /// Purge what is announced until the cache is gone.
    async fn run(self, mut announced: Receiver<Arc<[String]>>) {
        loop {
            let mut tags = BTreeSet::new();
            let mut missed = false;
            match announced.recv().await {
                Ok(t) => tags.extend(t.iter().cloned()),
                Err(RecvError::Lagged(_)) => missed = true,
                Err(RecvError::Closed) => return,
            }
            // What else has arrived meanwhile goes in the same round.
            loop {
                match announced.try_recv() {
                    Ok(t) => tags.extend(t.iter().cloned()),
                    Err(TryRecvError::Lagged(_)) => missed = true,
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            if missed || tags.contains(trigapi_cache::GLOBAL) {
                if missed {
                    tracing::warn!(event = "cdn_purge_missed", "invalidations were missed: purging everything");
                }
                if self.send(Purge::Everything).await {
                    self.stats.purged_all.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            let tags: Vec<String> = tags.into_iter().collect();
            for batch in tags.chunks(self.format.batch()) {
                if self.send(Purge::Tags(batch)).await {
                    self.stats.tags.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// The request for `purge` in the configured format.
    fn request(&self, purge: &Purge<'_>) -> reqwest::RequestBuilder {
        match self.format {
            PurgeFormat::Fastly => {
                let req = match purge {
                    Purge::Tags(tags) => self.client.post(&self.url).header("surrogate-key", tags.join(" ")),
                    // Fastly purges a service's everything at `/service/{id}/purge_all`.
                    Purge::Everything => self.client.post(format!("{}_all", self.url.trim_end_matches('/'))),
                };
                match &self.token {
                    Some(token) => req.header("fastly-key", token),
                    None => req,
                }
            }
            PurgeFormat::Cloudflare => {
                let body = match purge {
                    Purge::Tags(tags) => serde_json::json!({ "tags": tags }),
                    Purge::Everything => serde_json::json!({ "purge_everything": true }),
                };
                let req = self
                    .client
                    .post(&self.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
                match &self.token {
                    Some(token) => req.bearer_auth(token),
                    None => req,
                }
            }
        }
    }

    /// Send `purge`, retrying what may pass later; whether the CDN accepted it.
    async fn send(&self, purge: Purge<'_>) -> bool {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let (retry, error) = match self.request(&purge).send().await {
                Ok(r) if r.status().is_success() => {
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Ok(r) => {
                    let status = r.status();
                    (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS, format!("status {status}"))
                }
                Err(e) => (true, e.without_url().to_string()),
            };
            if !retry || attempt == ATTEMPTS {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = "cdn_purge_failed", attempts = attempt, error = %error, "the CDN was not purged");
                return false;
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        false
    }
}
