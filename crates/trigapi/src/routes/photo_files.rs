//! `/photos/{key}`: the files of the local photo store, served only while a live photo names
//! them. The files of a deleted photo, and those a rotation replaced, stay in the store for
//! moderation, but are a 404 here. (A bucket store serves its files itself.)

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::photo_id_of;

/// Pass a request for a file on to the file server when a live photo names the file.
///
/// A file that is not on disk is left to the file server's 404 without asking the database,
/// so requests for made-up names cost no query.
pub async fn only_live(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let key = request.uri().path().trim_start_matches('/').to_owned();
    let on_disk = !key.split('/').any(|part| part == ".." || part.is_empty())
        && tokio::fs::try_exists(app.config.photos.photos_dir.join(&key)).await.unwrap_or(false);
    if !on_disk {
        return next.run(request).await;
    }
    match db::photos::serves_file(&app.db, &key, photo_id_of(&key)).await {
        Ok(true) => next.run(request).await,
        Ok(false) => ApiError::not_found("Not Found").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
