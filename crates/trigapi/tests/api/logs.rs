//! `/v1/logs…` against the contract (§2.5, §4.19, §4.20, §4.24).

use axum::http::StatusCode;

use crate::backend_tests;
use crate::helpers::{LOG, TestApp, assert_shape, envelope, null_field, photo_a, photo_b, with};

backend_tests!(
    log_list_is_newest_first_with_filled_photo_fields,
    log_list_filters_and_validates_order,
    log_detail_embeds_variant_a_photos,
    log_photos_list_has_null_denormalised_fields,
);

async fn log_list_is_newest_first_with_filled_photo_fields(app: TestApp) {
    let v = app.ok("/v1/logs?limit=50&include=photos").await;
    let items = envelope(&v);
    assert_eq!(items.len(), 50);
    let keys: Vec<(String, String, i64)> = items
        .iter()
        .map(|l| {
            (
                l["date"].as_str().unwrap_or("").into(),
                l["time"].as_str().unwrap_or("").into(),
                l["id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "date, time, id descending");
    let mut seen = 0;
    for l in items {
        assert_shape(l, &with(LOG, &[("photos", "array")]));
        assert!(l["trig_name"].is_string() && l["user_name"].is_string());
        assert!(l["time"].as_str().is_some_and(|t| t.len() == 8), "HH:MM:SS");
        for p in l["photos"].as_array().into_iter().flatten() {
            assert_shape(p, &photo_b());
            assert_eq!(p["log_id"], l["id"]);
            assert_eq!(p["trig_id"], l["trig_id"], "denormalised fields are filled on /logs");
            assert_eq!(p["log_date"], l["date"]);
            seen += 1;
        }
    }
    assert!(seen > 0);
    assert_eq!(v["pagination"]["total"], 12_000);
    assert_eq!(v["links"]["next"], "/v1/logs?limit=50&skip=50", "include is never propagated into links");
}

async fn log_list_filters_and_validates_order(app: TestApp) {
    let first = app.ok("/v1/logs?limit=1").await;
    let trig = first["items"][0]["trig_id"].as_i64().expect("trig_id");
    let user = first["items"][0]["user_id"].as_i64().expect("user_id");
    let v = app.ok(&format!("/v1/logs?trig_id={trig}&user_id={user}&order=score,-id&limit=100")).await;
    let items = envelope(&v);
    assert!(!items.is_empty());
    assert!(items.iter().all(|l| l["trig_id"] == trig && l["user_id"] == user));
    assert_eq!(
        v["links"]["self"],
        format!("/v1/logs?limit=100&trig_id={trig}&user_id={user}&order=score%2C-id&skip=0")
    );
    let v = app.ok("/v1/logs?order=-score,id&limit=30").await;
    let scores: Vec<i64> = envelope(&v).iter().filter_map(|l| l["score"].as_i64()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let r = app.get("/v1/logs?order=ip_address").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "only real columns sort");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("Invalid order field(s): ip_address. Valid options: comment,"))
    );
    let r = app.get("/v1/logs?include=bogus").await;
    assert_eq!(r.body["detail"], "Invalid include parameter(s): bogus. Valid options: photos");
    let r = app.get("/v1/logs?trig_id=x").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn log_detail_embeds_variant_a_photos(app: TestApp) {
    let photo = app.ok("/v1/photos?limit=1").await;
    let log_id = photo["items"][0]["log_id"].as_i64().expect("log_id");
    let v = app.ok(&format!("/v1/logs/{log_id}?include=photos")).await;
    assert_shape(&v, &with(LOG, &[("photos", "array")]));
    for p in v["photos"].as_array().into_iter().flatten() {
        assert_shape(p, &photo_a());
        assert!(p["user_name"].is_string() && p["trig_id"].is_i64() && p["log_date"].is_string());
        assert_ne!(p["type"], "");
        assert!(p["photo_url"].as_str().is_some_and(|u| u.ends_with(".jpg") && u.contains("/photos/")));
    }
    let plain = app.ok(&format!("/v1/logs/{log_id}")).await;
    assert!(null_field(&plain, "photos"), "the detail always has a photos key");
    let r = app.get("/v1/logs/99999999?include=photos").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Log not found")));
}

async fn log_photos_list_has_null_denormalised_fields(app: TestApp) {
    let photo = app.ok("/v1/photos?limit=1").await;
    let log_id = photo["items"][0]["log_id"].as_i64().expect("log_id");
    let v = app.ok(&format!("/v1/logs/{log_id}/photos")).await;
    let items = envelope(&v);
    assert!(!items.is_empty());
    for p in items {
        assert_shape(p, &photo_b());
        assert!(null_field(p, "user_name") && null_field(p, "trig_name"));
    }
    assert_eq!(app.ok("/v1/logs/99999999/photos").await["pagination"]["total"], 0);
}
