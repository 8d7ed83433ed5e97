//! `GET /v1/logs`, `/v1/logs/{log_id}`, `/v1/logs/{log_id}/photos`, and the log-page helper the
//! trig and user log lists share.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::photos::{PageParams, PhotoList, photo_page};
use super::scope::{List, Scope};
use crate::cache::{Cached, Resource, ttl};
use crate::db::logs::{LogColumn, LogFilter, LogOrder, LogRow, default_order};
use crate::db::{self, Db};
use crate::domain::body::JsonBody;
use crate::domain::include::{IncludeRules, IncludeSet};
use crate::domain::log::{LogPatch, NewLog};
use crate::domain::pagination::{Page, Paginated};
use crate::domain::params::{QueryParams, as_row_id, filter_id};
use crate::error::ApiError;
use crate::invalidation::{self, Change, RowChange};
use crate::routes::extract::{CacheRequest, ClientIp, JsonBytes, LogId, TrigId, Writer};
use crate::state::AppState;
use crate::wire::log::{TLogListItem, TLogResponse, TLogWithIncludes};
use crate::wire::photo::{Denorm, TPhotoListItem, TPhotoResponse};

pub(super) const LOG_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["photos"], keep_empty: false, options_label: "" };

/// Query parameters of `GET /v1/logs` (for the OpenAPI document).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query string; QueryParams does the parsing")]
pub struct LogListParams {
    /// Only logs of this trig.
    pub trig_id: Option<i64>,
    /// Only logs by this user.
    pub user_id: Option<i64>,
    /// Comma list of columns, `-` prefix for descending (default `-date,-time,-id`).
    pub order: Option<String>,
    /// `photos` embeds each log's photos.
    pub include: Option<String>,
}

/// One page of logs as list items, with photos embedded when asked.
pub(super) async fn log_page(
    db: &Db,
    filter: &LogFilter,
    order: &LogOrder,
    page: Page,
    include: &IncludeSet,
    photo_denorm: Denorm,
) -> Result<(Vec<TLogListItem>, i64), ApiError> {
    let (limit, offset) = page.sql();
    let (rows, total) = db::logs::list(db, filter, order, limit, offset).await?;
    Ok((with_photos(db, rows, include.has("photos"), photo_denorm).await?, total))
}

/// A trig's or user's logs (`/trigs/{id}/logs`, `/users/{id}/logs`): `include`, `skip`,
/// `limit`, newest first, photo denormalised fields null, links with `limit` and `skip` only.
/// With `include=photos` the entry also depends on the trig's or user's photos.
pub(super) async fn scoped_log_page(
    app: &AppState,
    request: &CacheRequest,
    scope: Scope,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let (mut cached, filter, base) = (scope.cached(List::Logs), scope.log_filter(), scope.link(List::Logs));
    let mut q = QueryParams::parse(query);
    let include = IncludeSet::read(&mut q, LOG_INCLUDES);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let include = include?;
    if include.has("photos") {
        cached = cached.tag(scope.photos_tag());
    }
    cached
        .params(key)
        .json(app, request, move |app| async move {
            let (items, total) = log_page(&app.db, &filter, &default_order(), page, &include, Denorm::Null).await?;
            Ok(Paginated::new(items, total, page, &base, &[("limit", page.limit.to_string())]))
        })
        .await
}

async fn with_photos(db: &Db, rows: Vec<LogRow>, include: bool, denorm: Denorm) -> Result<Vec<TLogListItem>, ApiError> {
    let mut by_log: HashMap<i32, Vec<TPhotoListItem>> = HashMap::new();
    if include {
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        for p in db::photos::for_logs(db, &ids).await? {
            by_log.entry(p.log_id).or_default().push(TPhotoListItem::new(p, denorm));
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let photos = include.then(|| by_log.remove(&row.id).unwrap_or_default());
            TLogListItem { log: row.into(), photos }
        })
        .collect())
}

/// Parse `order=-date,id`: only real columns are accepted (a fix over the original).
fn parse_order(raw: Option<&str>) -> Result<LogOrder, ApiError> {
    let raw = raw.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(default_order());
    }
    let mut order = Vec::new();
    let mut invalid = Vec::new();
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, desc) = token.strip_prefix('-').map(|n| (n, true)).unwrap_or((token, false));
        match LogColumn::parse(name) {
            Some(col) => order.push((col, desc)),
            None => invalid.push(name.to_owned()),
        }
    }
    if !invalid.is_empty() {
        invalid.sort_unstable();
        let mut valid: Vec<&str> = LogColumn::ALL.iter().map(|(n, _)| *n).collect();
        valid.sort_unstable();
        return Err(ApiError::BadRequest(format!(
            "Invalid order field(s): {}. Valid options: {}",
            invalid.join(", "),
            valid.join(", ")
        )));
    }
    Ok(if order.is_empty() { default_order() } else { order })
}

/// Recent logs, newest first.
#[utoipa::path(get, path = "/v1/logs", tag = "logs", params(LogListParams, PageParams),
    responses((status = 200, body = Paginated<TLogListItem>), (status = 400, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let trig_id = q.int("trig_id", None, None);
    let user_id = q.int("user_id", None, None);
    let order_raw = q.string("order");
    let include = IncludeSet::read(&mut q, LOG_INCLUDES);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let include = include?;
    let order = parse_order(order_raw.as_deref())?;
    let filter = LogFilter { trig_id: trig_id.map(filter_id), user_id: user_id.map(filter_id) };
    let mut cached = Cached::new(Resource::LOGS_LIST, ttl::LOGS_LIST)
        .tag(invalidation::tag::USER_NAMES.into())
        .tag(invalidation::tag::TRIG_DATA.into());
    if include.has("photos") {
        cached = cached.tag(invalidation::tag::photos_list());
    }
    cached
        .params(key)
        .json(&app, &request, move |app| async move {
            let (items, total) = log_page(&app.db, &filter, &order, page, &include, Denorm::Filled).await?;
            let mut params = vec![("limit", page.limit.to_string())];
            params.extend(trig_id.map(|v| ("trig_id", v.to_string())));
            params.extend(user_id.map(|v| ("user_id", v.to_string())));
            params.extend(order_raw.filter(|o| !o.is_empty()).map(|o| ("order", o)));
            Ok(Paginated::new(items, total, page, "/v1/logs", &params))
        })
        .await
}

/// One log; `include=photos` embeds its photos (variant A).
#[utoipa::path(get, path = "/v1/logs/{log_id}", tag = "logs",
    params(("log_id" = i64, Path), ("include" = Option<String>, Query, description = "`photos`")),
    responses((status = 200, body = TLogWithIncludes), (status = 404, body = crate::error::ErrorDetail),
              (status = 400, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn get_one(
    State(app): State<AppState>,
    log: LogId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = log.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let include = IncludeSet::read(&mut q, LOG_INCLUDES);
    let key = q.finish()?;
    let mut cached = Cached::new(Resource::log(id.into()), ttl::LOG);
    if include.as_ref().is_ok_and(|i| i.has("photos")) {
        cached = cached.tag(invalidation::tag::log_photos(id));
    }
    cached
        .params(key)
        .tag(invalidation::tag::log_fields(id))
        .tag(invalidation::tag::USER_NAMES.into())
        .tag(invalidation::tag::TRIG_DATA.into())
        .json(&app, &request, move |app| async move {
            let row = db::logs::get(&app.db, id).await?.ok_or_else(LogId::not_found)?;
            let include = include?;
            let photos = if include.has("photos") {
                let rows = db::photos::for_logs(&app.db, &[id]).await?;
                Some(rows.into_iter().map(|p| TPhotoResponse::new(p, true)).collect())
            } else {
                None
            };
            Ok(TLogWithIncludes { log: TLogResponse::from(row), photos })
        })
        .await
}

/// Photos of one log (variant B, denormalised fields null). No 404 for an unknown log.
#[utoipa::path(get, path = "/v1/logs/{log_id}/photos", tag = "logs", params(("log_id" = i64, Path), PageParams),
    responses((status = 200, body = Paginated<TPhotoListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn photos(
    State(app): State<AppState>,
    log: LogId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let list = PhotoList {
        cached: Cached::new(Resource::log(log.get()).sub("photos"), ttl::LOG),
        filter: db::photos::PhotoFilter { log_id: Some(log.filter()), ..Default::default() },
        link: format!("/v1/logs/{}/photos", log.get()),
        denorm: Denorm::Null,
    };
    photo_page(&app, &request, list, query.as_deref()).await
}

/// A log as the write endpoints answer it: names `null`, as the original.
fn written(row: LogRow) -> TLogResponse {
    TLogResponse { trig_name: None, user_name: None, ..row.into() }
}

/// Log a visit to `trig_id` as the caller.
#[utoipa::path(post, path = "/v1/logs", tag = "logs", security(("bearer" = [])),
    params(("trig_id" = i64, Query)),
    request_body(content = crate::wire::bodies::LogCreate),
    responses((status = 201, body = TLogResponse), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    Writer(caller): Writer,
    ClientIp(ip): ClientIp,
    RawQuery(query): RawQuery,
    JsonBytes(body): JsonBytes,
) -> Result<(StatusCode, Json<TLogResponse>), ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let trig_id = q.int("trig_id", None, None);
    q.require("trig_id");
    let mut body = JsonBody::parse(&body)?;
    body.require(&["date", "time", "condition"]);
    let input = LogPatch::read(&mut body);
    ApiError::all_valid([q.finish().map(drop), body.finish()])?;
    let fields = NewLog::from_patch(input).ok_or(ApiError::Internal("a validated log lacked a required field"))?;
    let trig_id = trig_id.and_then(as_row_id).ok_or_else(TrigId::not_found)?;
    db::trigs::get(&app.db, trig_id).await?.ok_or_else(TrigId::not_found)?;
    let id = db::logs::create(&app.db, trig_id, caller.user_id, &ip, &fields)
        .await?
        .ok_or(ApiError::Unauthorized("Could not validate credentials"))?;
    let log = invalidation::LogRow { id, trig: trig_id, user: caller.user_id, photos: Vec::new() };
    invalidation::after(&app.cache, &[RowChange::Log(Change::inserted(log))]).await;
    let row = db::logs::get(&app.db, id).await?.ok_or_else(LogId::not_found)?;
    Ok((StatusCode::CREATED, Json(written(row))))
}

/// Edit a log (its author, or `api:admin`); fields left out or `null` keep their values.
#[utoipa::path(patch, path = "/v1/logs/{log_id}", tag = "logs", security(("bearer" = [])),
    params(("log_id" = i64, Path)),
    request_body(content = crate::wire::bodies::LogCreate, description = "Any field of a new log; left out or `null` keeps its value (the document names this `LogPatch`)"),
    responses((status = 200, body = TLogResponse), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    Writer(caller): Writer,
    log: LogId,
    JsonBytes(body): JsonBytes,
) -> Result<Json<TLogResponse>, ApiError> {
    let mut body = JsonBody::parse(&body)?;
    let patch = LogPatch::read(&mut body);
    body.finish()?;
    let id = log.row()?;
    let changed = db::logs::update(&app.db, id, &patch, |row| caller.may_edit(row.user_id))
        .await?
        .ok_or_else(LogId::not_found)?;
    let before = changed_log(&changed.before, &changed.photos);
    let after = changed.after.as_ref().map_or_else(|| before.clone(), |row| changed_log(row, &changed.photos));
    invalidation::after(&app.cache, &[RowChange::Log(Change::updated(before, after))]).await;
    Ok(Json(written(changed.after.ok_or_else(LogId::not_found)?)))
}

/// Delete a log (its author, or `api:admin`) and its photos.
#[utoipa::path(delete, path = "/v1/logs/{log_id}", tag = "logs", security(("bearer" = [])),
    params(("log_id" = i64, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 404, body = crate::error::ErrorDetail)))]
pub async fn delete(State(app): State<AppState>, Writer(caller): Writer, log: LogId) -> Result<StatusCode, ApiError> {
    let id = log.row()?;
    let changed =
        db::logs::delete(&app.db, id, |row| caller.may_edit(row.user_id)).await?.ok_or_else(LogId::not_found)?;
    let before = changed_log(&changed.before, &changed.photos);
    invalidation::after(&app.cache, &[RowChange::Log(Change::deleted(before))]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A log row as the invalidation table reads it.
fn changed_log(row: &LogRow, photos: &[i32]) -> invalidation::LogRow {
    invalidation::LogRow { id: row.id, trig: row.trig_id, user: row.user_id, photos: photos.to_vec() }
}
