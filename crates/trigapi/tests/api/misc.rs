//! Site stats, health, OpenAPI and docs, served photo files, and the router's fallbacks.

use axum::http::StatusCode;

use crate::backend_tests;
use crate::helpers::{TestApp, assert_shape, null_field};

backend_tests!(
    site_stats_count_the_seeded_data,
    health_reports_the_database,
    openapi_documents_every_read_endpoint,
    docs_page_is_served_without_a_cdn,
    photo_files_are_served,
    unknown_paths_and_trailing_slashes,
    extreme_pages_are_empty_not_errors,
);

async fn site_stats_count_the_seeded_data(app: TestApp) {
    let v = app.ok("/v1/stats/site").await;
    assert_shape(
        &v,
        &[
            ("total_trigs", "int"),
            ("total_users", "int"),
            ("total_logs", "int"),
            ("total_photos", "int"),
            ("recent_logs_7d", "int"),
            ("recent_users_30d", "int"),
        ],
    );
    assert_eq!(v["total_trigs"], 24_563);
    assert_eq!(v["total_users"], 600);
    assert_eq!(v["total_logs"], 12_000);
    let photos = v["total_photos"].as_i64().unwrap_or(0);
    assert!((9_000..11_000).contains(&photos), "about 0.86 photos per log: {photos}");
}

async fn health_reports_the_database(app: TestApp) {
    let v = app.ok("/health").await;
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["database"], "connected");
    assert_eq!(v["environment"], "development");
    app.db.close().await;
    let r = app.get("/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["detail"]["status"], "unhealthy");
    assert_eq!(r.body["detail"]["database"], "error");
    let r = app.get("/v1/stats/site").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a database outage is a clear 503, not a 500");
    assert_eq!(r.body["detail"], "Database unavailable");
}

async fn openapi_documents_every_read_endpoint(app: TestApp) {
    let v = app.ok("/v1/openapi.json").await;
    let paths = v["paths"].as_object().expect("paths");
    for p in [
        "/health",
        "/v1/stats/site",
        "/v1/trigs",
        "/v1/trigs/{trig_id}",
        "/v1/trigs/waypoint/{waypoint}",
        "/v1/trigs/export",
        "/v1/trigs/geojson",
        "/v1/trigs/{trig_id}/logs",
        "/v1/trigs/{trig_id}/photos",
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/logs",
        "/v1/users/{user_id}/photos",
        "/v1/logs",
        "/v1/logs/{log_id}",
        "/v1/logs/{log_id}/photos",
        "/v1/photos",
        "/v1/photos/{photo_id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    let list_params: Vec<&str> = v["paths"]["/v1/trigs"]["get"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["name", "county", "lat", "lon", "max_km", "order", "physical_types", "exclude_found", "skip", "limit"]
    {
        assert!(list_params.contains(&name), "/v1/trigs parameter {name} is documented");
    }
    let schemas = v["components"]["schemas"].as_object().expect("schemas");
    for s in [
        "TrigWithIncludes",
        "TrigMinimal",
        "TLogResponse",
        "TPhotoResponse",
        "TPhotoListItem",
        "UserWithIncludes",
        "FieldError",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
}

async fn docs_page_is_served_without_a_cdn(app: TestApp) {
    let r = app.get("/docs").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/docs/").await.headers["location"], "/docs", "FastAPI's trailing-slash redirect");
    assert!(r.text.contains("swagger-ui"), "{}", &r.text[..r.text.len().min(300)]);
    assert!(!r.text.contains("cdn.jsdelivr") && !r.text.contains("unpkg.com"), "assets are embedded");
    let js = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.text.len() > 100_000);
}

async fn photo_files_are_served(app: TestApp) {
    let v = app.ok("/v1/photos?limit=1").await;
    for key in ["photo_url", "icon_url"] {
        let url = v["items"][0][key].as_str().expect("url");
        let path = &url[url.find("/photos/").expect("served under /photos/")..];
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], "image/jpeg");
    }
}

async fn unknown_paths_and_trailing_slashes(app: TestApp) {
    let r = app.get("/v1/nothing-here").await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::NOT_FOUND, serde_json::json!({"detail": "Not Found"})));
    let r = app.request(axum::http::Method::DELETE, "/v1/stats/site").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({"detail": "Method Not Allowed"}))
    );
    let r = app.get("/v1/trigs/?limit=2").await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers["location"], "/v1/trigs?limit=2");
}

async fn extreme_pages_are_empty_not_errors(app: TestApp) {
    let max = i64::MAX;
    for list in ["/v1/logs", "/v1/photos", "/v1/users", "/v1/trigs", "/v1/trigs/1/logs"] {
        let v = app.ok(&format!("{list}?skip={max}&limit=100")).await;
        assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "{list}");
        assert_eq!(v["pagination"]["has_more"], false);
        assert!(null_field(&v["links"], "next"));
    }
    let v = app.ok(&format!("/v1/trigs?lat=54&lon=-3&skip={max}")).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0));
    let r = app.get("/v1/logs?skip=99999999999999999999").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "beyond 64 bits is a clear 422");
}

#[tokio::test]
async fn cors_lets_configured_origins_read_responses() {
    use axum::body::Body;
    use axum::http::Request;
    let Some(app) = crate::helpers::TestApp::configured(crate::helpers::Backend::Sqlite, |c| {
        c.server.backend_cors_origins = r#"["https://trigpointing.uk/"]"#.into();
    })
    .await
    else {
        return;
    };
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v1/trigs")
        .header("origin", "https://trigpointing.uk")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .expect("request");
    let r = app.send(preflight).await;
    assert_eq!(r.headers["access-control-allow-origin"], "https://trigpointing.uk");
    let other = Request::builder()
        .uri("/v1/stats/site")
        .header("origin", "https://elsewhere.example")
        .body(Body::empty())
        .expect("request");
    let r = app.send(other).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("access-control-allow-origin").is_none(), "unlisted origins get no CORS grant");
}

#[tokio::test]
async fn request_ids_are_returned_and_propagated() {
    use axum::body::Body;
    use axum::http::Request;
    let Some(app) = crate::helpers::TestApp::new(crate::helpers::Backend::Sqlite).await else { return };
    let r = app.get("/health").await;
    assert_eq!(r.headers["x-request-id"].len(), 36, "a UUID is assigned");
    let req = Request::builder().uri("/health").header("x-request-id", "abc-123").body(Body::empty()).expect("request");
    assert_eq!(app.send(req).await.headers["x-request-id"], "abc-123");
}
