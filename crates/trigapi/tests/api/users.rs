//! `/v1/users…` against the contract (§2.7, §4.14-4.17).

use axum::http::StatusCode;

use crate::backend_tests;
use crate::helpers::{LOG, TestApp, assert_shape, envelope, null_field, photo_b, with};

backend_tests!(
    user_detail_with_stats_and_breakdown,
    user_errors_and_include_quirk,
    user_list_filters_paginates_by_id_and_links_name_first,
    user_logs_and_photos_belong_to_the_user,
);

const USER: &[(&str, &str)] = &[
    ("id", "int"),
    ("name", "str"),
    ("firstname", "str"),
    ("surname", "str"),
    ("homepage", "str|null"),
    ("about", "str"),
    ("member_since", "str|null"),
    ("auth0_user_id", "null"),
    ("stats", "object|null"),
    ("breakdown", "object|null"),
    ("prefs", "null"),
    ("roles", "null"),
];

/// A user with at least one live photo.
async fn active_user(app: &TestApp) -> i64 {
    app.ok("/v1/photos?limit=1").await["items"][0]["user_id"].as_i64().expect("user_id")
}

async fn user_detail_with_stats_and_breakdown(app: TestApp) {
    let id = active_user(&app).await;
    let v = app.ok(&format!("/v1/users/{id}?include=stats,breakdown")).await;
    assert_shape(&v, USER);
    assert_shape(&v["stats"], &[("total_logs", "int"), ("total_trigs_logged", "int"), ("total_photos", "int")]);
    let b = &v["breakdown"];
    assert_shape(
        b,
        &[
            ("by_current_use", "object"),
            ("by_historic_use", "object"),
            ("by_physical_type", "object"),
            ("by_condition", "object"),
        ],
    );
    let logs = app.ok(&format!("/v1/users/{id}/logs?limit=1")).await;
    assert_eq!(v["stats"]["total_logs"], logs["pagination"]["total"]);
    let photos = app.ok(&format!("/v1/users/{id}/photos?limit=1")).await;
    assert_eq!(v["stats"]["total_photos"], photos["pagination"]["total"]);
    let by_condition: i64 = b["by_condition"].as_object().into_iter().flatten().filter_map(|(_, n)| n.as_i64()).sum();
    assert_eq!(Some(by_condition), v["stats"]["total_logs"].as_i64(), "by_condition counts every log");
    let by_type: i64 = b["by_physical_type"].as_object().into_iter().flatten().filter_map(|(_, n)| n.as_i64()).sum();
    assert_eq!(Some(by_type), v["stats"]["total_trigs_logged"].as_i64(), "by_physical_type counts distinct trigs");
    assert!(b["by_condition"].as_object().into_iter().flatten().all(|(k, _)| k.len() > 1), "codes are described");
    let plain = app.ok(&format!("/v1/users/{id}")).await;
    assert!(null_field(&plain, "stats") && null_field(&plain, "breakdown"));
}

async fn user_errors_and_include_quirk(app: TestApp) {
    let r = app.get("/v1/users/99999999").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("User not found")));
    let r = app.get("/v1/users/1?include=stats,").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Invalid include parameter(s): . Valid options: breakdown, stats");
    let r = app.get("/v1/users?include=breakdown").await;
    assert_eq!(r.body["detail"], "Invalid include parameter(s): breakdown. Valid options for user list: stats");
    let r = app.get("/v1/users/x1").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["loc"], serde_json::json!(["path", "user_id"]));
}

async fn user_list_filters_paginates_by_id_and_links_name_first(app: TestApp) {
    let v = app.ok("/v1/users?limit=5&include=stats").await;
    let items = envelope(&v);
    let ids: Vec<i64> = items.iter().filter_map(|u| u["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    for u in items {
        assert_shape(u, USER);
        assert!(u["stats"].is_object());
    }
    assert_eq!(v["pagination"]["total"], 600);
    let v = app.ok("/v1/users?name=HILL&limit=2").await;
    for u in envelope(&v) {
        assert!(u["name"].as_str().unwrap_or("").to_lowercase().contains("hill"));
        assert!(null_field(u, "stats"));
    }
    assert_eq!(v["links"]["self"], "/v1/users?name=HILL&limit=2&skip=0");
    let blank = app.ok("/v1/users?name=%20&limit=1").await;
    assert_eq!(blank["pagination"]["total"], 600, "a blank name lists everyone");
}

async fn user_logs_and_photos_belong_to_the_user(app: TestApp) {
    let id = active_user(&app).await;
    let v = app.ok(&format!("/v1/users/{id}/logs?include=photos&limit=100")).await;
    for l in envelope(&v) {
        assert_shape(l, &with(LOG, &[("photos", "array")]));
        assert_eq!(l["user_id"], id);
        for p in l["photos"].as_array().into_iter().flatten() {
            assert!(null_field(p, "user_name"), "denormalised fields are null in user log photos");
        }
    }
    let v = app.ok(&format!("/v1/users/{id}/photos")).await;
    let photos = envelope(&v);
    assert!(!photos.is_empty());
    for p in photos {
        assert_shape(p, &photo_b());
        assert_eq!(p["user_id"], id);
        assert!(p["user_name"].is_string());
    }
    assert_eq!(v["links"]["self"], format!("/v1/users/{id}/photos?limit=10&skip=0"));
}
