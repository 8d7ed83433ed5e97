//! `GET /v1/openapi.json`, `GET /docs` (Swagger UI) and `GET /redoc` (ReDoc), as FastAPI serves
//! them, with every asset compiled in: the pages work offline.
//!
//! The document is utoipa's, from the handlers' annotations, then refined in one place
//! ([`refine`]) with what the annotations cannot say or would repeat on every operation:
//! - the bounds and patterns of the query text the readers enforce (length, no hidden
//!   characters, the `include`, `order` and colour vocabularies), and of the body fields
//!   ([`crate::wire::bodies::FIELD_PATTERNS`]);
//! - the error statuses every operation of a kind can answer: 422 for a path id that is not a
//!   number, 401/403 where a token is needed, 413/422 for a JSON body, 429 where the CPU queues
//!   can refuse work;
//! - the links from a created resource to its operations, for stateful testing.
//!
//! CI holds it to the server with schemathesis (`scripts/schemathesis.sh`).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa_redoc::Redoc;

use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{admin, dashboard, health, images, logs, metrics, photo_writes, photos, search, stats, trigs, users};
use crate::db::logs::LogColumn;
use crate::domain::include::IncludeRules;
use crate::domain::params::MAX_TEXT;
use crate::state::AppState;
use crate::wire::bodies::{self, FIELD_PATTERNS, HIDDEN, VISIBLE};

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
        search::search, search::all, search::search_trigpoints, search::search_station_numbers, search::search_places,
        search::search_users, search::search_postcodes, search::search_logs_substring, search::search_logs_regex,
        admin::stats, admin::flush, admin::flush_export, dashboard::data,
    ),
    components(schemas(bodies::LogCreate, bodies::PhotoUpload, bodies::PhotoPatch, bodies::Rotation,
        bodies::ProfilePatch, bodies::Registration, bodies::Registered, crate::wire::admin::CacheStatsBody, crate::wire::admin::LocalTierBody,
        dashboard::DashboardBody, dashboard::GroupBody, dashboard::LocalBody, dashboard::RedisBody,
        dashboard::InvalidationBody, dashboard::HotBody, dashboard::WarmBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "trigs", description = "Trig points"), (name = "users", description = "Users"),
        (name = "logs", description = "Visit logs"), (name = "photos", description = "Photos"),
        (name = "stats", description = "Site statistics"), (name = "health", description = "Liveness"),
        (name = "locations", description = "Location search"),
        (name = "admin", description = "Cache administration (api:admin)"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme of users' tokens and the `webhook` scheme of the registration webhook.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "webhook",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Webhook-Secret"))),
        );
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/docs", get(swagger_page))
        .route("/docs/{*file}", get(swagger_file))
        .route("/redoc", get(redoc_page))
        .route("/redoc/redoc.standalone.js", get(redoc_script))
}

/// `GET /redoc`: ReDoc's page with the document inlined, as FastAPI serves it; rendered on the
/// first request, not at every router build.
async fn redoc_page() -> Html<&'static str> {
    static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        Redoc::new(document().clone()).custom_html(include_str!("../../assets/redoc.html")).to_html()
    });
    Html(PAGE.as_str())
}

/// `GET /docs`: FastAPI's Swagger UI page, answered at once (no redirect to `/docs/`), its
/// assets named by absolute paths.
async fn swagger_page() -> Html<&'static str> {
    Html(include_str!("../../assets/swagger-ui.html"))
}

/// `GET /docs/{file}`: Swagger UI's own files, embedded by `utoipa-swagger-ui`.
async fn swagger_file(Path(file): Path<String>) -> Response {
    static CONFIG: std::sync::LazyLock<std::sync::Arc<utoipa_swagger_ui::Config<'static>>> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(utoipa_swagger_ui::Config::from("/v1/openapi.json")));
    match utoipa_swagger_ui::serve(&file, std::sync::Arc::clone(&CONFIG)) {
        Ok(Some(found)) => {
            let mut response = ([(header::CONTENT_TYPE, found.content_type)], found.bytes.into_owned()).into_response();
            if found.gzpipped {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        _ => (StatusCode::NOT_FOUND, Json(json!({ "detail": "Not Found" }))).into_response(),
    }
}

/// ReDoc's standalone bundle (redoc 2.5.4 from npm, MIT; `assets/redoc/`).
async fn redoc_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript")], include_str!("../../assets/redoc/redoc.standalone.js"))
}

/// `GET /v1/openapi.json`.
async fn openapi_json() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// The document as served: utoipa's, refined (made once). It is served as JSON rather than
/// read back into utoipa's types, which would turn the "any value" schema `{}` into `object`.
pub fn document() -> &'static Value {
    static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        refine(&mut doc);
        doc
    });
    &DOCUMENT
}

/// Blanks the readers trim (Rust's `trim`) that are not control characters (those are 422s).
const BLANK: &str = r"[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// See the module documentation.
fn refine(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                op["operationId"] = json!(operation_id(method, path));
                refine_operation(path, method, op);
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for (schema, field, pattern) in FIELD_PATTERNS {
        let property = &mut schemas[*schema]["properties"][*field];
        if property.is_object() {
            property["pattern"] = json!(pattern);
        }
    }
    // A log's PATCH takes any field of a new log, each optional and nullable.
    let mut patch = schemas["LogCreate"].clone();
    if let Some(properties) = patch["properties"].as_object_mut() {
        for property in properties.values_mut() {
            if let Some(kind) = property["type"].as_str().map(str::to_owned) {
                property["type"] = json!([kind, "null"]);
            }
        }
        patch.as_object_mut().map(|p| p.remove("required"));
        schemas["LogPatch"] = patch;
        let body = &mut doc["paths"]["/v1/logs/{log_id}"]["patch"]["requestBody"]["content"]["application/json"];
        body["schema"] = json!({ "$ref": "#/components/schemas/LogPatch" });
    }
    let schemas = &mut doc["components"]["schemas"];
    // A 422 item's `input` is whatever was sent: any JSON value.
    schemas["FieldError"]["properties"]["input"] = json!({});
    // A location is field names and, for a body that is not JSON, the offset of the error.
    schemas["FieldError"]["properties"]["loc"] =
        json!({ "type": "array", "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] } });
    // `context` is spatial (with `centre`) or plain: utoipa's `oneOf` of the untagged enum
    // lets a spatial context match both variants, which `oneOf` forbids.
    let spatial = schemas["TrigListContext"]["oneOf"][0].clone();
    if spatial.is_object() {
        let description = schemas["TrigListContext"]["description"].clone();
        schemas["TrigListContext"] = json!({
            "type": "object",
            "required": ["order"],
            "properties": spatial["properties"],
            "description": description,
        });
    }
    add_links(doc);
}

fn refine_operation(path: &str, method: &str, op: &mut Value) {
    let mut statuses: Vec<(&str, &str)> = Vec::new();
    if op["parameters"].as_array().is_some_and(|p| !p.is_empty()) {
        statuses.push(("422", "ValidationErrorBody"));
    }
    for param in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
        let (name, place) = (param["name"].as_str().unwrap_or_default().to_owned(), param["in"].clone());
        if param["schema"]["type"] == "integer" {
            integer_bounds(&name, &mut param["schema"]);
            continue;
        }
        if place != "query" || param["schema"]["type"] != "string" {
            continue;
        }
        let schema = &mut param["schema"];
        let (max, pattern) = match name.as_str() {
            "include" => (MAX_TEXT, include_rules(path).map(|r| comma_list(r.allowed, "", r.keep_empty))),
            "order" if path == "/v1/logs" => {
                let columns: Vec<&str> = LogColumn::ALL.iter().map(|(n, _)| *n).collect();
                (MAX_TEXT, Some(comma_list(&columns, "-?", false)))
            }
            "physical_types" => (1_000, None),
            // `trigapi_cache::Target::parse`: `*`, `<prefix>:*`, or a key, without glob characters.
            "pattern" => (MAX_TEXT, Some(format!(r"^{BLANK}*(\*|[^*?\[\]\\{HIDDEN}]+(:\*)?)?{BLANK}*$"))),
            colour if colour.ends_with("_colour") => {
                let none = if path == "/v1/trigs/{trig_id}/map" { "" } else { "|[Nn][Oo][Nn][Ee]" };
                (MAX_TEXT, Some(format!("^{BLANK}*(#?[0-9A-Fa-f]{{6}}{none})?{BLANK}*$")))
            }
            _ => (MAX_TEXT, None),
        };
        schema["maxLength"] = json!(max);
        schema["pattern"] = json!(pattern.unwrap_or_else(|| VISIBLE.to_owned()));
        if name == "include" {
            statuses.push(("400", "ErrorDetail"));
        }
    }
    let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    if secured {
        statuses.extend([("401", "ErrorDetail"), ("403", "ErrorDetail")]);
    }
    if op["requestBody"]["content"].get("application/json").is_some() {
        // 400: a body that is not UTF-8 (FastAPI's "There was an error parsing the body").
        statuses.extend([("400", "ErrorDetail"), ("413", "ErrorDetail"), ("422", "ValidationErrorBody")]);
    }
    let on_cpu = path.ends_with("/map") || path.ends_with("/badge") || path.ends_with("/rotate");
    if on_cpu || (path == "/v1/photos" && method == "post") {
        statuses.push(("429", "ErrorDetail"));
    }
    if let Some(responses) = op["responses"].as_object_mut() {
        for (status, body) in statuses {
            responses.entry(status).or_insert_with(|| error_response(status, body));
        }
    }
}

/// Integers as the readers take them (`params::parse_int`): of any size, like Python's. One with
/// no upper bound (an id, the GeoJSON `limit`) is taken beyond 64 bits too, so it loses
/// utoipa's `int64`; `skip`, an offset, stops at the 64 bits every database's `OFFSET` takes.
fn integer_bounds(name: &str, schema: &mut Value) {
    if name == "skip" {
        schema["maximum"] = json!(i64::MAX);
    }
    if schema.get("maximum").is_none()
        && let Some(schema) = schema.as_object_mut()
    {
        schema.remove("format");
    }
}

/// The `include` vocabulary of `path`.
fn include_rules(path: &str) -> Option<IncludeRules> {
    Some(match path {
        "/v1/trigs/{trig_id}" => trigs::TRIG_INCLUDES,
        "/v1/logs" | "/v1/logs/{log_id}" | "/v1/trigs/{trig_id}/logs" | "/v1/users/{user_id}/logs" => {
            logs::LOG_INCLUDES
        }
        "/v1/users" => users::USER_LIST_INCLUDES,
        "/v1/users/{user_id}" => users::USER_INCLUDES,
        "/v1/users/me" => users::ME_INCLUDES,
        _ => return None,
    })
}

/// A comma list of `tokens` (each after `prefix`), blanks around each; empty items allowed
/// unless `no_empty`. An empty value is always allowed: it is no list at all.
fn comma_list(tokens: &[&str], prefix: &str, no_empty: bool) -> String {
    let token = format!("{prefix}({})", tokens.join("|"));
    let item = if no_empty { format!("{BLANK}*{token}{BLANK}*") } else { format!("{BLANK}*({token})?{BLANK}*") };
    format!("^({item}(,{item})*)?$")
}

/// A documented error response with the `{"detail": …}` body `schema`.
fn error_response(status: &str, schema: &str) -> Value {
    let description = match status {
        "400" => "Invalid include or order",
        "401" => "No token, or one that does not verify or names no user",
        "403" => "The token lacks a scope the operation needs",
        "413" => "Request body too large",
        "422" => "Validation error",
        "429" => "Too many requests of this kind are running; see Retry-After",
        _ => "Error",
    };
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

/// Links from the resources the writes create to the operations on them (by the unique
/// operation ids [`refine`] gives every operation: `get_v1_logs_log_id`).
fn add_links(doc: &mut Value) {
    /// A created resource's collection, its id parameter, and the operations (method, path
    /// after the id) to link.
    type Created = (&'static str, &'static str, &'static [(&'static str, &'static str)]);
    let created: [Created; 3] = [
        ("/v1/logs", "log_id", &[("get", ""), ("patch", ""), ("delete", ""), ("get", "/photos")]),
        ("/v1/photos", "photo_id", &[("get", ""), ("patch", ""), ("delete", ""), ("post", "/rotate")]),
        ("/v1/users", "user_id", &[("get", ""), ("get", "/logs"), ("get", "/photos"), ("get", "/map")]),
    ];
    for (path, parameter, targets) in created {
        let mut links = Map::new();
        for (method, tail) in targets {
            let target = format!("{path}/{{{parameter}}}{tail}");
            let id = operation_id(method, &target);
            let link = json!({ "operationId": id, "parameters": { parameter: "$response.body#/id" } });
            links.insert(id, link);
        }
        let response = &mut doc["paths"][path]["post"]["responses"]["201"];
        if response.is_object() {
            response["links"] = Value::Object(links);
        }
    }
}

/// A unique operation id: `get /v1/logs/{log_id}` → `get_v1_logs_log_id` (utoipa names an
/// operation after its handler, and four handlers are called `get_one`).
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    format!("{method}_{}", words.join("_"))
}
