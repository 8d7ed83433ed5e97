//! A small axum app that serves its reads through the cache and invalidates them on writes.
//!
//! ```text
//! cargo run -p trigapi-cache --example notes                                  # one process
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p trigapi-cache --example notes # shared
//! curl -i localhost:3000/notes/1                  # 404, MISS, then HIT
//! curl -i -X PUT --data 'buy milk' localhost:3000/notes/1
//! curl -i localhost:3000/notes/1                  # 200 "buy milk", MISS: the write invalidated it
//! curl -i localhost:3000/notes                    # the list, invalidated by every write
//! ```
//!
//! The tags follow the guide in the crate's README: a note's responses depend on `note:{id}`
//! (the key builder adds `note` and `note:{id}` from the key's own path), and the list depends
//! on `notes:list`. A write names exactly what it changed.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use trigapi_cache::key::KeyBuilder;
use trigapi_cache::{Aborted, Cache, CacheBuilder, Policy, Rendered, RequestView};

/// The app's state: the cache and the notes (a database, in a real app).
#[derive(Clone)]
pub struct App {
    pub cache: Cache,
    notes: Arc<RwLock<BTreeMap<u32, String>>>,
}

impl App {
    pub fn new(cache: Cache) -> Self {
        Self { cache, notes: Arc::default() }
    }
}

/// What can go wrong: only a panicked computation, here.
#[derive(Debug)]
pub struct AppError;

impl From<Aborted> for AppError {
    fn from(_: Aborted) -> Self {
        AppError
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

pub fn router(app: App) -> Router {
    Router::new().route("/notes", get(list)).route("/notes/{id}", get(read).put(write)).with_state(app)
}

/// `GET /notes/{id}`: the note as text, or 404 (cached too: a missing note is asked about as
/// often as a present one).
async fn read(State(app): State<App>, Path(id): Path<u32>, headers: HeaderMap) -> Result<Response, AppError> {
    let key = KeyBuilder::in_namespace(&app.cache.config().namespace, "note").id(id);
    let tags = key.tags();
    let policy = Policy::new(key.build("v1"), tags, Duration::from_secs(3600));
    let notes = Arc::clone(&app.notes);
    let origin = move || async move {
        let note = notes.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        Ok::<_, AppError>(match note {
            Some(text) => Rendered::new("text/plain; charset=utf-8", text),
            None => Rendered::new("text/plain; charset=utf-8", "no such note").status(StatusCode::NOT_FOUND),
        })
    };
    let response = app.cache.serve(&RequestView::new(&headers), policy, origin).await.map_err(|_| AppError)?;
    Ok(response.map(Body::new))
}

/// `GET /notes`: every note's id, as JSON.
async fn list(State(app): State<App>, headers: HeaderMap) -> Result<Response, AppError> {
    let key = KeyBuilder::in_namespace(&app.cache.config().namespace, "notes").subresource("list");
    let tags = key.tags();
    let policy = Policy::new(key.build("v1"), tags, Duration::from_secs(600)).cache_control("no-cache");
    let notes = Arc::clone(&app.notes);
    let origin = move || async move {
        let ids: Vec<u32> = notes.read().unwrap_or_else(PoisonError::into_inner).keys().copied().collect();
        let body = serde_json::to_vec(&ids).map_err(|_| AppError)?;
        Ok::<_, AppError>(Rendered::json(body))
    };
    let response = app.cache.serve(&RequestView::new(&headers), policy, origin).await.map_err(|_| AppError)?;
    Ok(response.map(Body::new))
}

/// `PUT /notes/{id}`: store the body, then invalidate what it changed before answering.
async fn write(State(app): State<App>, Path(id): Path<u32>, text: String) -> StatusCode {
    app.notes.write().unwrap_or_else(PoisonError::into_inner).insert(id, text);
    // After the write is durable, before the answer: the writer's next read sees it.
    app.cache.invalidate(&[&format!("note:{id}"), "notes:list"]).await;
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cache = CacheBuilder::new("notes:dev");
    if let Ok(url) = std::env::var("REDIS_URL") {
        cache = cache.redis(url);
    }
    let app = App::new(cache.build().await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    axum::serve(listener, router(app)).await?;
    Ok(())
}
