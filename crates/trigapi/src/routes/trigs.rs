//! `/v1/trigs…`: the list with every filter, detail, waypoint lookup, export, GeoJSON, and a
//! trig's logs and photos.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{AppendHeaders, IntoResponse, Response};
use chrono::Utc;

use super::logs::scoped_log_page;
use super::photos::{PageParams, PhotoList, photo_page};
use super::scope::Scope;
use crate::cache::{Cached, Resource, ttl};
use crate::db;
use crate::domain::include::{IncludeRules, IncludeSet};
use crate::domain::pagination::Paginated;
use crate::domain::params::QueryParams;
use crate::domain::trig_query::TrigListQuery;
use crate::error::ApiError;
use crate::invalidation::tag;
use crate::routes::extract::{CacheRequest, MaybeAuthUser, TrigId};
use crate::state::AppState;
use crate::wire::log::TLogListItem;
use crate::wire::photo::TPhotoListItem;
use crate::wire::trig::{
    Centre, FeatureCollection, TrigAttrsData, TrigDetails, TrigExport, TrigGeoJson, TrigList, TrigListContext,
    TrigMinimal, TrigWithIncludes,
};

pub(super) const TRIG_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["details", "stats", "attrs"], keep_empty: false, options_label: "" };
const EXPORT_LIMIT: u64 = 50_000;
const CACHE_INFO: &str = "This export is cached for 1 year";
const ONE_YEAR: &str = "public, max-age=31536000";

/// Query parameters of `GET /v1/trigs`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query string; QueryParams does the parsing")]
pub struct TrigListParams {
    /// Name contains (case-insensitive).
    pub name: Option<String>,
    /// County equals (case-insensitive).
    pub county: Option<String>,
    /// Centre latitude (with `lon` enables distance filtering and ordering).
    pub lat: Option<f64>,
    /// Centre longitude.
    pub lon: Option<f64>,
    /// Radius in km (with `lat`+`lon`).
    #[param(minimum = 0)]
    pub max_km: Option<f64>,
    /// `id`, `name` or `distance`.
    pub order: Option<String>,
    /// Comma list of physical types (`Pillar,FBM`).
    pub physical_types: Option<String>,
    /// With a bearer token: drop trigs the caller has logged.
    pub exclude_found: Option<bool>,
}

/// Trig points, filtered, with pagination and a `context` block.
#[utoipa::path(get, path = "/v1/trigs", tag = "trigs", params(TrigListParams, PageParams),
    responses((status = 200, body = TrigList), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    MaybeAuthUser(caller): MaybeAuthUser,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let tq = TrigListQuery::from_query(&mut q);
    let mut key = q.finish()?;
    let exclude_user = caller.filter(|_| tq.exclude_found).map(|u| u.user_id);
    let mut cached = Cached::new(Resource::TRIGS_LIST, ttl::TRIGS_LIST);
    if let Some(user) = exclude_user {
        // Personalised: keyed by the caller, invalidated with the caller's entries, never
        // stored by shared caches downstream.
        key.insert("caller", user.to_string());
        cached = cached.tag(tag::found(user)).cache_control("private").owner(user);
    }
    cached.params(key).json(&app, &request, move |app| async move { trig_list(&app, tq, exclude_user).await }).await
}

async fn trig_list(app: &AppState, tq: TrigListQuery, exclude_user: Option<i32>) -> Result<TrigList, ApiError> {
    let (rows, total) = db::trigs::list(&app.db, &tq, exclude_user).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let d = tq.centre.map(|c| (c.distance_km(r.wgs_lat, r.wgs_long) * 10.0).round() / 10.0);
            TrigMinimal::new(r, d)
        })
        .collect();
    let page = Paginated::new(items, total, tq.page, "/v1/trigs", &tq.link_params());
    let order = tq.order_raw.clone().filter(|o| !o.is_empty());
    let context = match tq.centre {
        Some(c) => TrigListContext::Spatial {
            centre: Centre { lat: c.lat, lon: c.lon, srid: 4326 },
            max_km: tq.max_km,
            order: order.unwrap_or_else(|| "distance".into()),
        },
        None => TrigListContext::Plain { order: order.unwrap_or_else(|| "id".into()) },
    };
    Ok(TrigList { items: page.items, pagination: page.pagination, links: page.links, context })
}

/// One trig; `include=details,stats,attrs` adds those blocks.
#[utoipa::path(get, path = "/v1/trigs/{trig_id}", tag = "trigs",
    params(("trig_id" = i64, Path), ("include" = Option<String>, Query, description = "Comma list of `details`, `stats`, `attrs`")),
    responses((status = 200, body = TrigWithIncludes), (status = 404, body = crate::error::ErrorDetail),
              (status = 400, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn get_one(
    State(app): State<AppState>,
    trig: TrigId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = trig.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let include = IncludeSet::read(&mut q, TRIG_INCLUDES);
    let key = q.finish()?;
    let mut cached = Cached::new(Resource::trig(id.into()), ttl::TRIG).params(key);
    if include.as_ref().is_ok_and(|i| i.has("stats")) {
        cached = cached.tag(tag::trigstats(id));
    }
    cached
        .json(&app, &request, move |app| async move {
            let row = db::trigs::get(&app.db, id).await?.ok_or_else(TrigId::not_found)?;
            let include = include?;
            let (mut trig, details) = TrigDetails::split(row);
            trig.details = include.has("details").then_some(details);
            if include.has("stats") {
                trig.stats = db::trigs::stats(&app.db, id).await?.map(Into::into);
            }
            if include.has("attrs") {
                trig.attrs = TrigAttrsData::group(db::trigs::attrs(&app.db, id).await?);
            }
            Ok(trig)
        })
        .await
}

/// Exact waypoint lookup (`TP0001`). Not cached; marked beta as in the original.
#[utoipa::path(get, path = "/v1/trigs/waypoint/{waypoint}", tag = "trigs", params(("waypoint" = String, Path)),
    responses((status = 200, body = TrigWithIncludes), (status = 404, body = crate::error::ErrorDetail)))]
pub async fn by_waypoint(
    State(app): State<AppState>,
    Path(waypoint): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let row = db::trigs::by_waypoint(&app.db, &waypoint).await?.ok_or_else(TrigId::not_found)?;
    let lifecycle = (HeaderName::from_static("x-api-lifecycle"), HeaderValue::from_static("beta"));
    Ok((AppendHeaders([lifecycle]), Json(TrigWithIncludes::from(row))))
}

/// Every trig (about 25k) with string coordinates. Query parameters are ignored.
#[utoipa::path(get, path = "/v1/trigs/export", tag = "trigs", responses((status = 200, body = TrigExport)))]
pub async fn export(State(app): State<AppState>, request: CacheRequest) -> Result<Response, ApiError> {
    Cached::new(Resource::TRIGS_EXPORT, ttl::TRIGS_EXPORT)
        .cache_control(ONE_YEAR)
        .json(&app, &request, |app| async move {
            let items: Vec<_> = db::trigs::all(&app.db, EXPORT_LIMIT).await?.into_iter().map(Into::into).collect();
            Ok(TrigExport { total: items.len(), items, generated_at: generated_at(), cache_info: CACHE_INFO })
        })
        .await
}

/// Pillars and FBMs as two GeoJSON feature collections (the web map's data source).
#[utoipa::path(get, path = "/v1/trigs/geojson", tag = "trigs",
    params(("limit" = Option<i64>, Query, minimum = 0, description = "Features per type; 0 or absent = 50000")),
    responses((status = 200, body = TrigGeoJson), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn geojson(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let limit = q.int("limit", Some(0), None).filter(|l| *l > 0).map_or(EXPORT_LIMIT, |l| l as u64);
    q.key_param("limit", limit);
    let key = q.finish()?;
    let cached = Cached::new(Resource::TRIGS_GEOJSON, ttl::TRIGS_GEOJSON).params(key).cache_control(ONE_YEAR);
    cached
        .json(&app, &request, move |app| async move {
            let fbm = db::trigs::of_physical_type(&app.db, "FBM", limit).await?;
            let pillar = db::trigs::of_physical_type(&app.db, "Pillar", limit).await?;
            Ok(TrigGeoJson {
                fbm: FeatureCollection::new(fbm),
                pillar: FeatureCollection::new(pillar),
                generated_at: generated_at(),
                cache_info: CACHE_INFO,
            })
        })
        .await
}

/// A trig's logs, newest first; `include=photos` embeds photos (denormalised fields null).
#[utoipa::path(get, path = "/v1/trigs/{trig_id}/logs", tag = "trigs",
    params(("trig_id" = i64, Path), ("include" = Option<String>, Query, description = "`photos`"), PageParams),
    responses((status = 200, body = Paginated<TLogListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn logs(
    State(app): State<AppState>,
    trig: TrigId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    scoped_log_page(&app, &request, Scope::Trig(trig), query.as_deref()).await
}

/// A trig's photos, newest first (variant B with denormalised fields).
#[utoipa::path(get, path = "/v1/trigs/{trig_id}/photos", tag = "trigs", params(("trig_id" = i64, Path), PageParams),
    responses((status = 200, body = Paginated<TPhotoListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn photos(
    State(app): State<AppState>,
    trig: TrigId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    photo_page(&app, &request, PhotoList::of(Scope::Trig(trig)), query.as_deref()).await
}

/// Naive UTC ISO timestamp with microseconds, as Python's `datetime.utcnow().isoformat()`.
fn generated_at() -> String {
    Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}
