//! `GET /v1/openapi.json` and `GET /docs` (Swagger UI, assets embedded: works offline).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{health, logs, photos, stats, trigs, users};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "TrigpointingUK API (trigapi)", description = "Wire-compatible TrigpointingUK API. Lists use the `items`/`pagination`/`links` envelope; errors are `{\"detail\": …}`."),
    paths(
        health::health,
        stats::site,
        trigs::list, trigs::get_one, trigs::by_waypoint, trigs::export, trigs::geojson, trigs::logs, trigs::photos,
        users::list, users::get_one, users::logs, users::photos,
        logs::list, logs::get_one, logs::photos,
        photos::list, photos::get_one,
    ),
    tags(
        (name = "trigs", description = "Trig points"), (name = "users", description = "Users"),
        (name = "logs", description = "Visit logs"), (name = "photos", description = "Photos"),
        (name = "stats", description = "Site statistics"), (name = "health", description = "Liveness"),
    )
)]
pub struct ApiDoc;

pub(super) fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/v1/openapi.json", ApiDoc::openapi()))
}
