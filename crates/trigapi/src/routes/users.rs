//! `/v1/users…`: the list, one user (with `stats`, `breakdown`), and a user's logs and photos.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::logs::scoped_log_page;
use super::photos::{PageParams, photo_page};
use crate::cache::{CacheRequest, Cached, ttl};
use crate::db;
use crate::db::logs::LogFilter;
use crate::db::photos::PhotoFilter;
use crate::domain::include::{IncludeRules, IncludeSet};
use crate::domain::pagination::{Page, Paginated};
use crate::domain::params::{QueryParams, as_row_id, filter_id, path_int};
use crate::error::ApiError;
use crate::invalidation::{includes, tag};
use crate::state::AppState;
use crate::wire::log::TLogListItem;
use crate::wire::photo::{Denorm, TPhotoListItem};
use crate::wire::user::UserWithIncludes;

const USER_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["stats", "breakdown"], keep_empty: true, options_label: "" };
const USER_LIST_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["stats"], keep_empty: true, options_label: " for user list" };

/// Users by id; `name` filters by substring (case-insensitive), `include=stats` adds counts.
#[utoipa::path(get, path = "/v1/users", tag = "users",
    params(("name" = Option<String>, Query, description = "Name contains"), ("include" = Option<String>, Query, description = "`stats`"), PageParams),
    responses((status = 200, body = Paginated<UserWithIncludes>), (status = 400, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let name = q.string("name");
    let include_raw = q.include("include", USER_LIST_INCLUDES.keep_empty);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let include = IncludeSet::parse(include_raw.as_deref(), USER_LIST_INCLUDES)?;
    let mut cached = Cached::new("users", ttl::USERS_LIST).subresource("list").params(key);
    if include.has("stats") {
        cached = cached.tag(tag::USERS_STATS.to_owned());
    }
    cached
        .json(&app, &request, move |app| async move {
            let (limit, offset) = page.sql();
            let (rows, total) = db::users::list(&app.db, name.as_deref(), limit, offset).await?;
            let mut stats = if include.has("stats") {
                db::users::stats_for(&app.db, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?
            } else {
                Default::default()
            };
            let items = rows
                .into_iter()
                .map(|r| {
                    let s = stats.remove(&r.id);
                    UserWithIncludes { stats: s.map(Into::into), ..r.into() }
                })
                .collect();
            let mut params: Vec<(&str, String)> =
                name.filter(|n| !n.trim().is_empty()).map(|n| ("name", n)).into_iter().collect();
            params.push(("limit", page.limit.to_string()));
            Ok(Paginated::new(items, total, page, "/v1/users", &params))
        })
        .await
}

/// One user; `include=stats,breakdown`.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path), ("include" = Option<String>, Query, description = "Comma list of `stats`, `breakdown`")),
    responses((status = 200, body = UserWithIncludes), (status = 404, body = crate::error::ErrorDetail),
              (status = 400, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn get_one(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = as_row_id(path_int("user_id", &raw_id)?).ok_or(ApiError::not_found("User not found"))?;
    let mut q = QueryParams::parse(query.as_deref());
    let include_raw = q.include("include", USER_INCLUDES.keep_empty);
    let key = q.finish()?;
    let mut cached = Cached::new("user", ttl::USER).id(id.into()).params(key);
    if includes(include_raw.as_deref(), "stats") || includes(include_raw.as_deref(), "breakdown") {
        cached = cached.tag(tag::userstats(id));
    }
    cached
        .json(&app, &request, move |app| async move {
            let row = db::users::get(&app.db, id).await?.ok_or(ApiError::not_found("User not found"))?;
            let include = IncludeSet::parse(include_raw.as_deref(), USER_INCLUDES)?;
            let mut user = UserWithIncludes::from(row);
            if include.has("stats") {
                user.stats = db::users::stats_for(&app.db, &[id]).await?.remove(&id).map(Into::into);
            }
            if include.has("breakdown") {
                user.breakdown = Some(db::users::breakdown(&app.db, id).await?.into());
            }
            Ok(user)
        })
        .await
}

/// A user's logs, newest first; `include=photos` embeds photos (denormalised fields null).
#[utoipa::path(get, path = "/v1/users/{user_id}/logs", tag = "users",
    params(("user_id" = i64, Path), ("include" = Option<String>, Query, description = "`photos`"), PageParams),
    responses((status = 200, body = Paginated<TLogListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn logs(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_int("user_id", &raw_id)?;
    let filter = LogFilter { user_id: Some(filter_id(id)), trig_id: None };
    let cached = Cached::new("user", ttl::USER_LOGS).id(id).subresource("logs");
    scoped_log_page(&app, &request, cached, query.as_deref(), filter, format!("/v1/users/{id}/logs")).await
}

/// A user's photos, newest first (variant B with denormalised fields).
#[utoipa::path(get, path = "/v1/users/{user_id}/photos", tag = "users", params(("user_id" = i64, Path), PageParams),
    responses((status = 200, body = Paginated<TPhotoListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn photos(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_int("user_id", &raw_id)?;
    let filter = PhotoFilter { user_id: Some(filter_id(id)), ..Default::default() };
    let cached = Cached::new("user", ttl::USER_PHOTOS).id(id).subresource("photos");
    let base = format!("/v1/users/{id}/photos");
    photo_page(&app, &request, cached, query.as_deref(), filter, base, |p| TPhotoListItem::new(p, Denorm::Filled)).await
}
