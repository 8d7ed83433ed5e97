//! The front door: a repeat `GET` answered from the in-process tier before routing, extractors,
//! parameter parsing, the request span and the request id layer
//! ([`trigapi_cache::Cache::front_door`]).
//!
//! It sits inside CORS (so a hit gets the same CORS headers as any response) and outside
//! everything else. What the layers inside it would have added to a hit, it adds itself: the
//! `X-Request-Id` (the client's own, or a new one) and, when `INFO` is on, the response's log
//! line. A request the door cannot answer goes on unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::response::Response;
use tower::{Layer, Service};
use trigapi_cache::Cache;

use crate::request_id::{REQUEST_ID, new_request_id};

/// Puts a [`FrontDoor`] in front of a service.
#[derive(Clone)]
pub struct FrontDoorLayer {
    cache: Cache,
}

impl FrontDoorLayer {
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }
}

impl<S> Layer<S> for FrontDoorLayer {
    type Service = FrontDoor<S>;

    fn layer(&self, inner: S) -> FrontDoor<S> {
        FrontDoor { cache: self.cache.clone(), inner }
    }
}

/// Answers what the cache can answer at once; passes the rest to `inner`.
#[derive(Clone)]
pub struct FrontDoor<S> {
    cache: Cache,
    inner: S,
}

impl<S> Service<Request> for FrontDoor<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cache = self.cache.clone();
        Box::pin(async move {
            let started = Instant::now();
            let (head, body) = request.into_parts();
            match cache.front_door(&head).await {
                Some(hit) => {
                    // What axum's routes add to every response they make.
                    let length = hit.body().size_hint().exact();
                    let mut response = hit.map(Body::new);
                    if let Some(length) = length {
                        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
                    }
                    Ok(answered(response, &head, started))
                }
                None => inner.call(Request::from_parts(head, body)).await,
            }
        })
    }
}

/// A front-door hit, with what the layers it skipped add to every response.
fn answered(mut response: Response, request: &Parts, started: Instant) -> Response {
    let id = match request.headers.get(&REQUEST_ID) {
        Some(id) => id.clone(),
        None => new_request_id(),
    };
    if tracing::enabled!(tracing::Level::INFO) {
        log_line(request, &id, &response, started);
    }
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The line the request span and its `on_response` write for a response that went the full
/// way (the trace layer of the full stack).
fn log_line(request: &Parts, id: &HeaderValue, response: &Response, started: Instant) {
    let id = id.to_str().unwrap_or("");
    let span = tracing::info_span!("request", method = %request.method, path = %request.uri.path(), request_id = %id);
    let _entered = span.enter();
    tracing::info!(
        latency = %format_args!("{} μs", started.elapsed().as_micros()),
        status = response.status().as_u16(),
        "finished processing request"
    );
}
