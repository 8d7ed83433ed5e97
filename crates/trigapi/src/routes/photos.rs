//! `GET /v1/photos`, `/v1/photos/{photo_id}`, and the photo-page helper the other photo lists share.

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::scope::{List, Scope};
use crate::cache::{Cached, Resource, ttl};
use crate::db;
use crate::db::photos::PhotoFilter;
use crate::domain::pagination::{Page, Paginated};
use crate::domain::params::{QueryParams, filter_id};
use crate::error::ApiError;
use crate::routes::extract::{CacheRequest, PhotoId};
use crate::state::AppState;
use crate::wire::photo::{Denorm, TPhotoListItem, TPhotoResponse};

/// `skip` (≥ 0, default 0) and `limit` (1..100, default 10), shared by every list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query string; QueryParams does the parsing")]
pub struct PageParams {
    /// Items to skip (≥ 0).
    #[param(minimum = 0, default = 0)]
    pub skip: Option<i64>,
    /// Page size (1..100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub limit: Option<i64>,
}

/// Query parameters of `GET /v1/photos`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query string; QueryParams does the parsing")]
pub struct PhotoListParams {
    pub trig_id: Option<i64>,
    pub log_id: Option<i64>,
    pub user_id: Option<i64>,
}

/// One photo list of one trig, user or log: its cache entry, its rows, the path its links
/// name, and how its items show their log's fields.
pub(super) struct PhotoList {
    pub(super) cached: Cached,
    pub(super) filter: PhotoFilter,
    pub(super) link: String,
    pub(super) denorm: Denorm,
}

impl PhotoList {
    /// A trig's or user's photos (variant B with denormalised fields).
    pub(super) fn of(scope: Scope) -> Self {
        let (cached, filter, link) = (scope.cached(List::Photos), scope.photo_filter(), scope.link(List::Photos));
        Self { cached, filter, link, denorm: Denorm::Filled }
    }
}

/// One page of `list`, newest first; links carry only `limit` and `skip`.
pub(super) async fn photo_page(
    app: &AppState,
    request: &CacheRequest,
    list: PhotoList,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let PhotoList { cached, filter, link, denorm } = list;
    cached
        .params(key)
        .json(app, request, move |app| async move {
            let (limit, offset) = page.sql();
            let (rows, total) = db::photos::list(&app.db, &filter, limit, offset).await?;
            let items: Vec<_> = rows.into_iter().map(|p| TPhotoListItem::new(p, denorm)).collect();
            Ok(Paginated::new(items, total, page, &link, &[("limit", page.limit.to_string())]))
        })
        .await
}

/// Photos, newest first; filters combine (a fix: `trig_id` with `user_id` works).
#[utoipa::path(get, path = "/v1/photos", tag = "photos", params(PhotoListParams, PageParams),
    responses((status = 200, body = Paginated<TPhotoResponse>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let trig_id = q.int("trig_id", None, None);
    let log_id = q.int("log_id", None, None);
    let user_id = q.int("user_id", None, None);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let id = |v: Option<i64>| v.map(filter_id);
    let filter = PhotoFilter { trig_id: id(trig_id), log_id: id(log_id), user_id: id(user_id), log_ids: None };
    Cached::new(Resource::PHOTOS_LIST, ttl::PHOTOS_LIST)
        .tag(crate::invalidation::tag::USER_NAMES.into())
        .tag(crate::invalidation::tag::TRIG_DATA.into())
        .params(key)
        .json(&app, &request, move |app| async move {
            let (limit, offset) = page.sql();
            let (rows, total) = db::photos::list(&app.db, &filter, limit, offset).await?;
            let items = rows.into_iter().map(|p| TPhotoResponse::new(p, false)).collect();
            let mut params = vec![("limit", page.limit.to_string())];
            params.extend(trig_id.map(|v| ("trig_id", v.to_string())));
            params.extend(log_id.map(|v| ("log_id", v.to_string())));
            params.extend(user_id.map(|v| ("user_id", v.to_string())));
            Ok(Paginated::new(items, total, page, "/v1/photos", &params))
        })
        .await
}

/// One photo (variant A, raw `type`); deleted photos are 404.
#[utoipa::path(get, path = "/v1/photos/{photo_id}", tag = "photos", params(("photo_id" = i64, Path)),
    responses((status = 200, body = TPhotoResponse), (status = 404, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn get_one(State(app): State<AppState>, photo: PhotoId, request: CacheRequest) -> Result<Response, ApiError> {
    let id = photo.row()?;
    Cached::new(Resource::photo(id.into()), ttl::PHOTO)
        .tag(crate::invalidation::tag::USER_NAMES.into())
        .tag(crate::invalidation::tag::TRIG_DATA.into())
        .json(&app, &request, move |app| async move {
            let row = db::photos::get(&app.db, id).await?.ok_or_else(PhotoId::not_found)?;
            Ok(TPhotoResponse::new(row, false))
        })
        .await
}
