//! `POST /v1/photos?log_id=` (upload), `PATCH`/`DELETE /v1/photos/{photo_id}` and
//! `POST /v1/photos/{photo_id}/rotate`: the owner of the log, or `api:admin`, with `api:write`.
//!
//! A photo's files are written before its row is committed, and removed again if the row is
//! not: a failed upload leaves neither a row nor a file. Every write invalidates its entries
//! ([`crate::invalidation`]) after the commit and before the response.

use std::time::Duration;

use axum::Json;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::cpu::Work;
use crate::db;
use crate::db::photos::{PhotoFiles, PhotoRow, PhotoText};
use crate::db::trigstats::{self, Recount};
use crate::domain::body::JsonBody;
use crate::domain::params::{QueryParams, as_row_id};
use crate::domain::photo::PhotoPatch;
use crate::error::ApiError;
use crate::imaging::{self, ImagingError, MAX_UPLOAD_BYTES, Processed, Turn};
use crate::invalidation::{self, Change, RowChange};
use crate::routes::extract::{ClientIp, JsonBytes, LogId, PhotoId, Writer};
use crate::state::AppState;
use crate::storage::{self, PHOTOS_SERVER_ID};
use crate::wire::photo::{TPhotoResponse, photo_url};

/// Largest request body of an upload: the file and room for the text fields.
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + (256 << 10);

/// A new photo's text: the fields given, the rest empty.
fn new_photo(p: PhotoPatch) -> PhotoText {
    PhotoText {
        caption: p.caption.unwrap_or_default(),
        text_desc: p.text_desc.unwrap_or_default(),
        kind: p.kind.unwrap_or_default(),
        license: p.license.unwrap_or_default(),
    }
}

/// An upload form: its text fields as strings, and the file.
struct UploadForm {
    fields: Map<String, Value>,
    file: Option<Vec<u8>>,
}

impl UploadForm {
    /// Read the form. A body that is not `multipart/form-data` reads as an empty form, so it
    /// gets the 422 listing every required field, as FastAPI answers it.
    async fn read(multipart: Result<Multipart, MultipartRejection>) -> Result<Self, ApiError> {
        let mut form = Self { fields: Map::new(), file: None };
        let Ok(mut multipart) = multipart else { return Ok(form) };
        while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                let mut file = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if file.len() + chunk.len() > MAX_UPLOAD_BYTES {
                        return Err(upload_error(ImagingError::TooLarge));
                    }
                    file.extend_from_slice(&chunk);
                }
                form.file = Some(file);
            } else if ["caption", "text_desc", "type", "license"].contains(&name.as_str()) {
                let text = field.text().await.map_err(multipart_error)?;
                form.fields.insert(name, Value::String(text));
            }
        }
        Ok(form)
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        upload_error(ImagingError::TooLarge)
    } else {
        ApiError::BadRequest(format!("Invalid multipart body: {}", e.body_text()))
    }
}

/// The 400 for an upload that cannot be stored, in the original's words where it has them.
fn upload_error(e: ImagingError) -> ApiError {
    ApiError::BadRequest(match e {
        ImagingError::Empty => "Failed to read file: 400: Empty file".into(),
        ImagingError::TooLarge => "File size exceeds maximum of 20MB".into(),
        ImagingError::Unsupported => "Only JPEG, PNG and WebP images are supported".into(),
        other => format!("Invalid image file: {other}"),
    })
}

/// The live photo the path names and the owner of its log, or 404.
async fn photo_and_owner(app: &AppState, photo: &PhotoId) -> Result<(PhotoRow, Owner), ApiError> {
    let row = db::photos::get(&app.db, photo.row()?).await?.ok_or_else(PhotoId::not_found)?;
    let owner = Owner::of(&row)?;
    Ok((row, owner))
}

/// Whose a photo is: its log's author and trig.
#[derive(Debug, Clone, Copy)]
struct Owner {
    trig: i32,
    user: i32,
    log: i32,
}

impl Owner {
    /// The owner of `photo`'s log, or 404 when the log is gone.
    fn of(photo: &PhotoRow) -> Result<Self, ApiError> {
        match (photo.user_id, photo.trig_id) {
            (Some(user), Some(trig)) => Ok(Owner { trig, user, log: photo.log_id }),
            _ => Err(ApiError::not_found("TLog not found for photo")),
        }
    }

    /// 404 without an owner, 403 unless `caller` may change the photo.
    fn authorize(photo: &PhotoRow, caller: &crate::auth::AuthUser) -> Result<(), ApiError> {
        caller.may_edit(Owner::of(photo)?.user)
    }

    /// Invalidate what a change (`deleted` or not) of photo `photo` changed.
    async fn invalidate(self, app: &AppState, photo: i32, deleted: bool) {
        let row = self.row(photo);
        let change = if deleted { Change::deleted(row) } else { Change::updated(row, row) };
        invalidation::after(&app.cache, &[RowChange::Photo(change)]).await;
    }

    /// Photo `photo` of this owner's log, as the invalidation table reads it.
    fn row(self, photo: i32) -> invalidation::PhotoRow {
        invalidation::PhotoRow { id: photo, log: self.log, owner: Some((self.trig, self.user)) }
    }
}

/// A photo as the write endpoints answer it (variant A, raw `type`, the owner's name).
async fn written(app: &AppState, id: i32) -> Result<TPhotoResponse, ApiError> {
    let row = db::photos::get(&app.db, id).await?.ok_or_else(PhotoId::not_found)?;
    Ok(TPhotoResponse::new(row, false))
}

/// The columns of `processed` stored under `keys`.
fn files_of(processed: &Processed, (photo, icon): (String, String)) -> PhotoFiles {
    let len = |b: &[u8]| i32::try_from(b.len()).unwrap_or(i32::MAX);
    let side = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    PhotoFiles {
        server_id: PHOTOS_SERVER_ID,
        filename: photo,
        filesize: len(&processed.photo.bytes),
        width: side(processed.photo.width),
        height: side(processed.photo.height),
        icon_filename: icon,
        icon_filesize: len(&processed.icon.bytes),
        icon_width: side(processed.icon.width),
        icon_height: side(processed.icon.height),
    }
}

/// Write `processed` as `files`, point photo `id` at them and commit `tx`; on any failure the
/// files are removed (and the transaction, dropped, rolls back).
async fn put_and_commit(
    app: &AppState,
    mut tx: db::Tx,
    id: i32,
    trig: i32,
    processed: Processed,
    files: &PhotoFiles,
    source: Option<&str>,
) -> Result<(), ApiError> {
    let keys = [files.filename.clone(), files.icon_filename.clone()];
    let result = async {
        app.photos.put(&files.filename, processed.photo.bytes).await?;
        app.photos.put(&files.icon_filename, processed.icon.bytes).await?;
        db::photos::set_files(&mut tx, id, files, source).await?;
        trigstats::refresh(&mut tx, trig, Recount::LogsAndPhotos).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if result.is_err() {
        app.photos.remove(&keys).await;
    }
    result
}

/// Upload a photo to log `log_id`: JPEG, PNG or WebP, stored as JPEG with a thumbnail.
#[utoipa::path(post, path = "/v1/photos", tag = "photos", security(("bearer" = [])),
    params(("log_id" = i64, Query)),
    request_body(content = crate::wire::bodies::PhotoUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = TPhotoResponse), (status = 400, body = crate::error::ErrorDetail),
              (status = 401, body = crate::error::ErrorDetail), (status = 403, body = crate::error::ErrorDetail),
              (status = 404, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    Writer(caller): Writer,
    ClientIp(ip): ClientIp,
    RawQuery(query): RawQuery,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<TPhotoResponse>), ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let log_id = q.int("log_id", None, None);
    q.require("log_id");
    let form = UploadForm::read(multipart).await?;
    let mut body = JsonBody::from_fields(form.fields);
    if form.file.is_none() {
        body.missing("file");
    }
    body.require(&["caption", "type", "license"]);
    let input = PhotoPatch::read(&mut body, false);
    ApiError::all_valid([q.finish().map(drop), body.finish()])?;
    let log_id = log_id.and_then(as_row_id).ok_or_else(LogId::not_found)?;
    let log = db::logs::get(&app.db, log_id).await?.ok_or_else(LogId::not_found)?;
    caller.may_edit(log.user_id)?;
    let file = form.file.unwrap_or_default();
    let processed = app
        .cpu
        .run(Work::Photo, &caller.client(), move || imaging::process(&file, Turn::None))
        .await?
        .map_err(upload_error)?;

    let text = new_photo(input);
    let mut tx = app.db.begin().await?;
    let id = db::photos::insert(&mut tx, log_id, &text, &files_of(&processed, Default::default()), &ip).await?;
    let files = files_of(&processed, storage::photo_keys(id, 0));
    put_and_commit(&app, tx, id, log.trig_id, processed, &files, None).await?;
    let owner = Owner { trig: log.trig_id, user: log.user_id, log: log_id };
    invalidation::after(&app.cache, &[RowChange::Photo(Change::inserted(owner.row(id)))]).await;
    Ok((StatusCode::CREATED, Json(written(&app, id).await?)))
}

/// Edit a photo's caption, description, type or licence; fields left out or `null` keep
/// their values.
#[utoipa::path(patch, path = "/v1/photos/{photo_id}", tag = "photos", security(("bearer" = [])),
    params(("photo_id" = i64, Path)),
    request_body(content = crate::wire::bodies::PhotoPatch),
    responses((status = 200, body = TPhotoResponse), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    Writer(caller): Writer,
    photo: PhotoId,
    JsonBytes(body): JsonBytes,
) -> Result<Json<TPhotoResponse>, ApiError> {
    let mut body = JsonBody::parse(&body)?;
    let patch = PhotoPatch::read(&mut body, true);
    body.finish()?;
    let id = photo.row()?;
    let row = db::photos::update_text(&app.db, id, &patch, |p| Owner::authorize(p, &caller))
        .await?
        .ok_or_else(PhotoId::not_found)?;
    Owner::of(&row)?.invalidate(&app, row.id, false).await;
    Ok(Json(TPhotoResponse::new(row, false)))
}

/// Delete a photo (soft: its row is marked deleted, its files stay for moderation).
#[utoipa::path(delete, path = "/v1/photos/{photo_id}", tag = "photos", security(("bearer" = [])),
    params(("photo_id" = i64, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    Writer(caller): Writer,
    photo: PhotoId,
) -> Result<StatusCode, ApiError> {
    let id = photo.row()?;
    let row =
        db::photos::soft_delete(&app.db, id, |p| Owner::authorize(p, &caller)).await?.ok_or_else(PhotoId::not_found)?;
    Owner::of(&row)?.invalidate(&app, row.id, true).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Turn a photo clockwise by `angle` (90, 180 or 270; default 90). Its files are written
/// anew under the next revision's names (`P00500_r1.jpg`), so no client keeps a stale copy.
#[utoipa::path(post, path = "/v1/photos/{photo_id}/rotate", tag = "photos", security(("bearer" = [])),
    params(("photo_id" = i64, Path)),
    request_body(content = Option<crate::wire::bodies::Rotation>, description = "`angle`: 90, 180 or 270 (default 90); the body may be empty"),
    responses((status = 200, body = TPhotoResponse), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail),
              (status = 409, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody),
              (status = 502, body = crate::error::ErrorDetail)))]
pub async fn rotate(
    State(app): State<AppState>,
    Writer(caller): Writer,
    photo: PhotoId,
    JsonBytes(body): JsonBytes,
) -> Result<Json<TPhotoResponse>, ApiError> {
    // No body, or `null`, is the default quarter turn.
    let turn = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        Turn::Quarter
    } else {
        let mut body = JsonBody::parse(&body)?;
        let angle = body.int("angle", None, None);
        let turn = body.check("angle", angle, |a| match Turn::from_degrees(*a) {
            Some(Turn::None) | None => Err("must be 90, 180, or 270 degrees"),
            Some(_) => Ok(()),
        });
        body.finish()?;
        turn.and_then(Turn::from_degrees).unwrap_or(Turn::Quarter)
    };
    let (row, owner) = photo_and_owner(&app, &photo).await?;
    caller.may_edit(owner.user)?;
    let original = read_original(&app, &row).await?;
    let processed =
        app.cpu.run(Work::Photo, &caller.client(), move || imaging::process(&original, turn)).await?.map_err(|e| {
            tracing::warn!(photo = row.id, error = %e, "a stored photo could not be rotated");
            ApiError::Conflict("The stored photo file is damaged and cannot be rotated".into())
        })?;

    let mut tx = app.db.begin().await?;
    if !db::photos::claim(&mut tx, row.id, &row.filename).await? {
        return Err(ApiError::Conflict("The photo was changed by another request; try again".into()));
    }
    let files = files_of(&processed, storage::photo_keys(row.id, storage::revision_of(&row.filename) + 1));
    put_and_commit(&app, tx, row.id, owner.trig, processed, &files, Some("R")).await?;
    owner.invalidate(&app, row.id, false).await;
    Ok(Json(written(&app, row.id).await?))
}

/// The bytes of a photo's current file: from the store when it is ours, else downloaded from
/// its URL (photos still on the legacy servers).
async fn read_original(app: &AppState, row: &PhotoRow) -> Result<Vec<u8>, ApiError> {
    if row.server_id == PHOTOS_SERVER_ID {
        return Ok(app.photos.get(&row.filename).await?);
    }
    let url = photo_url(row.server_url.as_deref(), &row.filename);
    let failed = |e: &dyn std::fmt::Display| {
        tracing::warn!(photo = row.id, url = %url, error = %e, "downloading a photo failed");
        ApiError::Upstream("Failed to download photo")
    };
    // One client for every download, made on the first: most servers never need it.
    static CLIENT: tokio::sync::OnceCell<reqwest::Client> = tokio::sync::OnceCell::const_new();
    let client =
        CLIENT.get_or_try_init(|| async { reqwest::Client::builder().build() }).await.map_err(|e| failed(&e))?;
    let response = client.get(&url).timeout(Duration::from_secs(30)).send().await.map_err(|e| failed(&e))?;
    let mut response = response.error_for_status().map_err(|e| failed(&e))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
        if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
            return Err(failed(&"larger than an upload may be"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
