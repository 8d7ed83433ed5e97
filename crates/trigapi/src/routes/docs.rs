//! `GET /v1/openapi.json` and `GET /docs` (Swagger UI, assets embedded: works offline).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{admin, health, images, logs, metrics, photo_writes, photos, stats, trigs, users};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "TrigpointingUK API (trigapi)", description = "Wire-compatible TrigpointingUK API. Lists use the `items`/`pagination`/`links` envelope; errors are `{\"detail\": …}`."),
    paths(
        health::health, metrics::metrics,
        stats::site,
        trigs::list, trigs::get_one, trigs::by_waypoint, trigs::export, trigs::geojson, trigs::logs, trigs::photos,
        users::list, users::get_one, users::logs, users::photos, users::me, users::update_me, users::register,
        logs::list, logs::get_one, logs::photos, logs::create, logs::update, logs::delete,
        photos::list, photos::get_one, photo_writes::create, photo_writes::update, photo_writes::delete, photo_writes::rotate,
        images::trig_map, images::user_map, images::badge,
        admin::stats, admin::flush, admin::flush_export,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "trigs", description = "Trig points"), (name = "users", description = "Users"),
        (name = "logs", description = "Visit logs"), (name = "photos", description = "Photos"),
        (name = "stats", description = "Site statistics"), (name = "health", description = "Liveness"),
        (name = "admin", description = "Cache administration (api:admin)"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme the admin endpoints reference.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/v1/openapi.json", ApiDoc::openapi()))
}
