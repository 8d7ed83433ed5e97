//! The generated PNGs: `/v1/trigs/{id}/map`, `/v1/users/{id}/map` and `/v1/users/{id}/badge`.
//!
//! Each is cached like JSON (bytes, content type, ETag, 304), keyed by its canonical
//! parameters and tagged with its trig or user, so a write that changes a user's logs redraws
//! that user's map and badge. Drawing runs on a blocking thread, in the queue of its kind
//! ([`super::cpu`]): user maps in one, badges and trig maps in another.
//!
//! A user map is drawn at most as high as its projection's full-size base map (1196 px for
//! `stretched53`, 600 for `wgs84`): a taller one only enlarged the same pixels, at up to 19.5 s
//! and 130 MB for 4000 px with every layer. Taller requests get the full-size map (and share
//! its cache entry), so a map's PNG stays within [`MAX_MAP_PNG_BYTES`].

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;

use crate::cache::{Cached, Resource, ttl};
use crate::cpu::Work;
use crate::db;
use crate::domain::params::{QueryParams, py_float};
use crate::error::{ApiError, FieldError};
use crate::render::badge::{self, BadgeText};
use crate::render::frame::Projection;
use crate::render::map::{self, UserMapColours, UserMapStyle};
use crate::render::{Colour, RenderError};
use crate::routes::extract::{CacheRequest, ClientIp, TrigId, UserId};
use crate::state::AppState;

const DEFAULT_STYLE: &str = "stretched53_default";
/// Trig positions do not change through the API: browsers and CDNs may keep a map for a day.
const TRIG_MAP_CACHE_CONTROL: &str = "public, max-age=86400";
/// A user map changes with every log: shared caches may store it but must revalidate (a 304
/// from the response cache when nothing changed).
const USER_MAP_CACHE_CONTROL: &str = "public, no-cache";
/// The original's badge header.
const BADGE_CACHE_CONTROL: &str = "public, max-age=300";

/// The byte budget of a user map's PNG: the RGBA pixels of the largest full-size map (1200 ×
/// 1196), stored uncompressed, plus the format's overhead; a real map compresses to a small
/// part of it.
pub const MAX_MAP_PNG_BYTES: usize = 1200 * 1196 * 4 + (64 << 10);

const FOUND: Colour = Colour::rgb(0xff, 0, 0);
const NOT_FOUND: Colour = Colour::rgb(0, 0, 0xff);

/// The trig on a small map of Britain.
#[utoipa::path(get, path = "/v1/trigs/{trig_id}/map", tag = "trigs",
    params(("trig_id" = i64, Path),
        ("style" = Option<String>, Query, description = "`stretched53_default` (110×110)"),
        ("dot_colour" = Option<String>, Query, description = "`#RRGGBB`, default `#0000ff`"),
        ("dot_diameter" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1..100 pixels, default 5")),
    responses((status = 200, description = "PNG image (RGBA)", content_type = "image/png"),
              (status = 404, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn trig_map(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    trig: TrigId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = trig.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let style_name = q.string("style").unwrap_or_else(|| DEFAULT_STYLE.to_owned());
    q.key_param("style", &style_name);
    let colour = colour_param(&mut q, "dot_colour", Some(NOT_FOUND), false);
    let diameter = q.int("dot_diameter", Some(1), Some(100)).unwrap_or(5);
    q.key_param("dot_diameter", diameter);
    let key = q.finish()?;
    let colour = colour.unwrap_or(NOT_FOUND);
    Cached::new(Resource::trig(id.into()).sub("map"), ttl::TRIG_MAP)
        .params(key)
        .cache_control(TRIG_MAP_CACHE_CONTROL)
        .png(&app, &request, move |app| async move {
            let trig = db::trigs::get(&app.db, id).await?.ok_or_else(TrigId::not_found)?;
            let style = map::trig_map_style(&style_name)
                .ok_or_else(|| ApiError::not_found(format!("Map style '{style_name}' not found (missing PNG)")))?;
            let (lon, lat) = (trig.base.wgs_long, trig.base.wgs_lat);
            draw(&app, Work::Image, &client, move || map::trig_map(style, lon, lat, colour, diameter as u32)).await
        })
        .await
}

/// Every trig the user logged, as translucent dots that darken where they stack.
#[utoipa::path(get, path = "/v1/users/{user_id}/map", tag = "users",
    params(("user_id" = i64, Path),
        ("found_colour" = Option<String>, Query, description = "`#RRGGBB` (default `#ff0000`) or `none`"),
        ("notfound_colour" = Option<String>, Query, description = "`#RRGGBB` (default `#0000ff`) or `none`"),
        ("notlogged_colour" = Option<String>, Query, description = "`#RRGGBB` or `none` (default: not drawn)"),
        ("map_variant" = Option<String>, Query, description = "`stretched53` (default); anything else is `wgs84`"),
        ("dot_diameter" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1..100, in full-size pixels (1196 high), default 50"),
        ("dot_alpha" = Option<i64>, Query, minimum = 1, maximum = 255, description = "1..255, opacity each dot adds, default 40"),
        ("land_colour" = Option<String>, Query, description = "`#RRGGBB` (default `#dddddd`) or `none`"),
        ("coastline_colour" = Option<String>, Query, description = "`#RRGGBB` (default `#666666`) or `none`"),
        ("height" = Option<i64>, Query, minimum = 10, maximum = 4000, description = "10..4000 pixels, default 110; drawn at most as high as the full-size map (1196 for stretched53, 600 for wgs84)")),
    responses((status = 200, description = "PNG image (RGBA)", content_type = "image/png"),
              (status = 404, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn user_map(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    user: UserId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = user.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let found = colour_param(&mut q, "found_colour", Some(FOUND), true);
    let not_found = colour_param(&mut q, "notfound_colour", Some(NOT_FOUND), true);
    let not_logged = colour_param(&mut q, "notlogged_colour", None, true);
    let projection = match q.string("map_variant").as_deref().map(str::trim) {
        None | Some("" | "stretched53") => Projection::Stretched53,
        Some(_) => Projection::Wgs84,
    };
    q.key_param("map_variant", projection.name());
    let dot_diameter = q.int("dot_diameter", Some(1), Some(100)).unwrap_or(50);
    let dot_alpha = q.int("dot_alpha", Some(1), Some(255)).unwrap_or(40);
    let land = colour_param(&mut q, "land_colour", Some(map::LAND), true);
    let coast = colour_param(&mut q, "coastline_colour", Some(map::COAST), true);
    let full_height = i64::from(projection.full_size().1);
    let height = q.int("height", Some(10), Some(4000)).unwrap_or(110).min(full_height);
    q.key_param("dot_diameter", dot_diameter);
    q.key_param("dot_alpha", dot_alpha);
    q.key_param("height", height);
    let key = q.finish()?;
    let colours = UserMapColours { found, not_found, not_logged };
    let style = UserMapStyle {
        projection,
        height: height as u32,
        land,
        coast,
        dot_diameter: dot_diameter as u32,
        dot_alpha: dot_alpha as u8,
    };
    Cached::new(Resource::user(id.into()).sub("map"), ttl::USER_MAP)
        .params(key)
        .tag(crate::invalidation::tag::TRIG_DATA.to_owned())
        .cache_control(USER_MAP_CACHE_CONTROL)
        .png(&app, &request, move |app| async move {
            db::users::get(&app.db, id).await?.ok_or_else(UserId::not_found)?;
            let logged = db::trigs::logged_by(&app.db, id).await?;
            let unlogged = match colours.not_logged {
                Some(_) => db::trigs::not_logged_by(&app.db, id).await?,
                None => Vec::new(),
            };
            let layers = colours.layers(
                logged.iter().map(|t| (t.wgs_long, t.wgs_lat, t.found, t.not_found)),
                unlogged.iter().map(|t| (t.wgs_long, t.wgs_lat)),
            );
            let png = draw(&app, Work::Map, &client, move || map::user_map(&style, &layers)).await?;
            if png.len() > MAX_MAP_PNG_BYTES {
                tracing::error!(bytes = png.len(), "a user map's PNG is over its byte budget");
                return Err(ApiError::Internal("a user map's PNG is over its byte budget"));
            }
            Ok(png)
        })
        .await
}

/// A 200×50 badge (times `scale`): name, trigs logged, photos.
#[utoipa::path(get, path = "/v1/users/{user_id}/badge", tag = "users",
    params(("user_id" = i64, Path), ("scale" = Option<f64>, Query, minimum = 0.1, maximum = 5.0, description = "0.1..5.0, default 1.0")),
    responses((status = 200, description = "PNG image (RGB), `int(200·scale)`×`int(50·scale)`", content_type = "image/png"),
              (status = 404, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn badge(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    user: UserId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = user.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let scale = q.float("scale", Some(0.1), Some(5.0)).unwrap_or(1.0);
    q.key_param("scale", py_float(scale));
    let key = q.finish()?;
    let mut cached = Cached::new(Resource::user(id.into()).sub("badge"), ttl::USER_BADGE)
        .params(key)
        .cache_control(BADGE_CACHE_CONTROL);
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=user_{id}_badge.png")) {
        cached = cached.header(header::CONTENT_DISPOSITION, v);
    }
    cached
        .png(&app, &request, move |app| async move {
            let user = db::users::get(&app.db, id).await?.ok_or_else(UserId::not_found)?;
            let stats = db::users::stats_for(&app.db, &[id]).await?.remove(&id).unwrap_or_default();
            let text =
                BadgeText { name: user.name, trigs_logged: stats.total_trigs_logged, photos: stats.total_photos };
            draw(&app, Work::Image, &client, move || badge::badge(&text, scale)).await
        })
        .await
}

/// A colour parameter: absent or blank gives `default`, `none` gives no colour (when the
/// parameter may be disabled), `#RRGGBB` a colour; anything else is a 422 naming the forms.
fn colour_param(q: &mut QueryParams, name: &'static str, default: Option<Colour>, may_disable: bool) -> Option<Colour> {
    let raw = q.string(name).unwrap_or_default();
    let value = raw.trim();
    let parsed = if value.is_empty() {
        Ok(default)
    } else if may_disable && value.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        Colour::parse_hex(value).map(Some).ok_or(())
    };
    match parsed {
        Ok(colour) => {
            q.key_param(name, colour.map_or_else(|| "none".to_owned(), |c| c.to_string()));
            colour
        }
        Err(()) => {
            let forms =
                if may_disable { "a hex colour such as #ff0000, or none" } else { "a hex colour such as #ff0000" };
            q.push_error(FieldError::new(
                "value_error",
                "query",
                name,
                format!("Value error, {name} must be {forms}"),
                json!(raw),
            ));
            default
        }
    }
}

/// Draw on a blocking thread, in the queue of its kind (see [`super::cpu`]).
async fn draw<F>(app: &AppState, kind: Work, client: &str, render: F) -> Result<Vec<u8>, ApiError>
where
    F: FnOnce() -> Result<Vec<u8>, RenderError> + Send + 'static,
{
    app.cpu.run(kind, client, render).await?.map_err(|e| {
        tracing::error!(error = %e, "drawing an image failed");
        ApiError::Internal("drawing an image failed")
    })
}
