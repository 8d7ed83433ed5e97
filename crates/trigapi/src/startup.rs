//! Building and running the server: database, migrations, first-run seeding, router, listener.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowMethods, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::db::{self, Backend, Db};
use crate::front_door::FrontDoorLayer;
use crate::request_id::{FastRequestId, REQUEST_ID};
use crate::routes;
use crate::seed::{self, Scale};
use crate::state::{AppState, WritesInFlight};
use crate::warm::WarmSettings;

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: App,
    db: Db,
    cache: trigapi_cache::Cache,
    writes: WritesInFlight,
}

impl Application {
    /// Connect, migrate (SQLite always; others when `auto_migrate`), seed an empty SQLite
    /// database with the demo scale, and bind.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(config.database.database_url.expose(), config.database.db_max_connections)
            .await
            .with_context(|| format!("connecting to {}", db::redact_url(config.database.database_url.expose())))?;
        if db.backend() == Backend::Sqlite || config.database.auto_migrate {
            db::migrate::run(&db).await.context("running migrations")?;
        }
        if db.backend() == Backend::Sqlite && seed::is_empty(&db).await? {
            tracing::info!("empty database: seeding the demo data set");
            seed::run(&db, &config, Scale::Demo, &mut seed::LogProgress).await.context("seeding demo data")?;
        }
        let listener = TcpListener::bind(&config.server.bind_addr)
            .await
            .with_context(|| format!("binding {}", config.server.bind_addr))?;
        let cache = crate::cache::build(&config).await.context("configuring the response cache")?;
        if db.backend() == Backend::Sqlite && !db::search::has_places(&db).await? {
            let (places, areas) =
                crate::gazetteer::load_vendored(&db, &cache).await.context("loading places and postcodes")?;
            tracing::info!(places, postcode_areas = areas, "loaded the vendored places and postcode areas");
        }
        crate::changes::prepare(&db, &config).await.context("preparing the change stream")?;
        let state = AppState::new(db.clone(), config, cache)?;
        tracing::info!(
            mode = state.auth.mode(),
            photos = state.photos.kind(),
            "bearer token verification, photo store"
        );
        let (writes, cache) = (state.writes.clone(), state.cache.clone());
        let warming =
            (Arc::clone(&state.warm), WarmSettings::from(&state.config.cache), state.config.cache.cache_warm_on_start);
        let router = build_router(state);
        let (stats, settings, on_start) = warming;
        crate::warm::spawn(router.clone(), cache.clone(), db.clone(), settings, on_start, stats);
        Ok(Self { listener, router, db, cache, writes })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves, then drain in-flight requests, let writes whose
    /// clients left finish (commit and invalidation), and close the pool.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr()?, backend = self.db.backend().name(), "listening");
        let app = axum::ServiceExt::<Request<Body>>::into_make_service_with_connect_info::<SocketAddr>(self.router);
        axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await?;
        if !self.writes.drained(WRITES_DRAIN_LIMIT).await {
            tracing::warn!(left = self.writes.count(), "writes still running at shutdown");
        }
        // Reading the stats replays invalidations Redis missed, if it answers now.
        let pending = self.cache.local_stats().await.pending_invalidations;
        if pending > 0 {
            tracing::error!(
                pending,
                "invalidations that never reached Redis are lost with this process; \
                 other instances may serve what they cover until its TTL"
            );
        }
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The server as one service: the routes behind the full middleware stack, and the front door
/// when the cache is on ([`crate::front_door`]). Tests drive it with `oneshot`.
pub type App = BoxCloneSyncService<Request<Body>, Response, Infallible>;

/// The full middleware stack around [`routes::routes`], for the server and `oneshot` tests.
pub fn build_router(state: AppState) -> App {
    let photos = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(state.clone(), routes::photo_files::only_live))
        .service(ServeDir::new(&state.config.photos.photos_dir));
    let config = Arc::clone(&state.config);
    let writes = state.writes.clone();
    let front = (state.cache.is_enabled() && config.cache.cache_front_door).then(|| state.cache.clone());
    let router = routes::routes()
        .nest_service("/photos", photos)
        .with_state(state)
        .layer(axum::middleware::map_response(json_client_errors))
        .layer(axum::middleware::from_fn_with_state(writes, writes_run_to_completion));
    stack(router, &config, front)
}

/// Every 4xx in the contract's shape, `{"detail": "…"}`: the errors handlers return already
/// are; this catches those the framework makes itself (a path segment that is not UTF-8, a
/// missing photo file), which come as plain text or with no body at all.
async fn json_client_errors(response: Response) -> Response {
    // Every response passes here, cache hits included: the status alone settles almost all.
    let status = response.status();
    if !status.is_client_error() {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("Error"),
        text => text,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    (parts, axum::Json(serde_json::json!({ "detail": detail }))).into_response()
}

/// Run every write (any method but GET, HEAD, OPTIONS and TRACE) in a task of its own, which
/// the connection does not own: once a write has started it runs to its end, whatever the
/// client does.
///
/// hyper drops a request's future when its client hangs up. For a write, that drop can land
/// between the commit and the invalidation (the cache then serves the old data for a whole
/// TTL), or between storing an upload's files and committing its row (orphan files). Making
/// [`trigapi_cache::Cache::invalidate`] cancel-safe would cover only the first, and only once
/// it has been called; a task of its own covers every step of every write, in one place. The
/// response of a client that left is simply dropped. The tasks are counted, so that shutdown
/// waits for them too.
async fn writes_run_to_completion(
    axum::extract::State(writes): axum::extract::State<WritesInFlight>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    let running = writes.start();
    let write = async move {
        let response = next.run(request).await;
        drop(running);
        response
    };
    match tokio::spawn(write).await {
        Ok(response) => response,
        Err(_) => panicked(),
    }
}

/// The middleware every endpoint runs behind: panic catcher, request span and log line, request
/// id, CORS. Public so that benchmarks can put a trivial handler behind the same stack.
pub fn with_middleware(router: Router, config: &Config) -> App {
    stack(router, config, None)
}

/// From the outside in: Starlette's preflight answers and CORS (when origins are configured),
/// the front door (when given the cache), request id, request span, panic catcher, routes.
/// Every layer wraps the router as a whole, so all of them run before routing.
fn stack(router: Router, config: &Config, front: Option<trigapi_cache::Cache>) -> App {
    let origins: Arc<[HeaderValue]> =
        config.cors_origins().iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect::<Vec<_>>().into();
    let cors = (!origins.is_empty()).then(|| {
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&origins), preflights_as_starlette))
            .layer(cors_layer(origins))
    });
    let service = tower::ServiceBuilder::new()
        .option_layer(cors)
        .map_response(IntoResponse::into_response)
        .option_layer(front.map(FrontDoorLayer::new))
        .map_response(IntoResponse::into_response)
        .layer(SetRequestIdLayer::new(REQUEST_ID, FastRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // One INFO line per response (status, latency), inside the request span.
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
        .layer(CatchPanicLayer::custom(|_| panicked()))
        .service(router);
    BoxCloneSyncService::new(service)
}

/// What Starlette's CORS middleware answers before ours sees a request: only an `OPTIONS`
/// with an `Origin` and an `Access-Control-Request-Method` is a preflight; any other `OPTIONS`
/// goes to the routes, none of which takes it (405). A preflight from an origin that is not
/// allowed is `400 Disallowed CORS origin`, as plain text. tower-http's layer answers every
/// `OPTIONS` as a preflight, with 200 for any origin.
async fn preflights_as_starlette(
    axum::extract::State(origins): axum::extract::State<Arc<[HeaderValue]>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{StatusCode, header};
    if request.method() != Method::OPTIONS {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN);
    let asks = request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match origin {
        Some(origin) if asks && origins.contains(origin) => next.run(request).await,
        Some(_) if asks => {
            let mut response = (StatusCode::BAD_REQUEST, "Disallowed CORS origin").into_response();
            let headers = response.headers_mut();
            let methods = PREFLIGHT_METHODS.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            if let Ok(methods) = HeaderValue::from_str(&methods) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
            response
        }
        _ => routes::method_not_allowed().await,
    }
}

/// The methods a preflight allows: Starlette's list for `allow_methods=["*"]`, in its order.
const PREFLIGHT_METHODS: [Method; 7] =
    [Method::DELETE, Method::GET, Method::HEAD, Method::OPTIONS, Method::PATCH, Method::POST, Method::PUT];

/// The answer to a request whose handler panicked (contract: unhandled errors answer a
/// plain-text 500; the panic is never echoed).
fn panicked() -> Response {
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
}

/// How long shutdown waits for writes whose clients left before it closes the pool.
const WRITES_DRAIN_LIMIT: Duration = Duration::from_secs(30);

fn cors_layer(origins: Arc<[HeaderValue]>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(origins.to_vec())
        .allow_methods(AllowMethods::list(PREFLIGHT_METHODS))
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(trigapi_cache::http::EXPOSED_HEADERS)
        .max_age(Duration::from_secs(600))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shutdown waits while a write runs and returns as soon as the last one ends, however it
    /// ends (a panicking write drops its guard too).
    #[tokio::test]
    async fn shutdown_waits_for_running_writes() {
        let writes = WritesInFlight::default();
        assert!(writes.drained(Duration::ZERO).await, "nothing running");
        let first = writes.start();
        let second = writes.start();
        assert_eq!(writes.count(), 2);
        assert!(!writes.drained(Duration::from_millis(20)).await, "two writes still run");
        drop(first);
        let waiting = tokio::spawn({
            let writes = writes.clone();
            async move { writes.drained(Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one write still runs");
        let panicked = tokio::spawn(async move {
            let _held = second;
            panic!("a write that panics");
        });
        assert!(panicked.await.is_err());
        assert!(waiting.await.unwrap_or(false), "the last write ended: shutdown goes on");
    }
}
