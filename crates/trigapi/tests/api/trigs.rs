//! `/v1/trigs…` against the contract (§2.1-2.4, §4.2-4.9).

use axum::http::StatusCode;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{LOG, TRIG_MINIMAL, TestApp, assert_shape, envelope, null_field, photo_b, with};

backend_tests!(
    trig_detail_has_string_coordinates_and_every_include,
    trig_detail_errors_follow_the_contract,
    trig_list_envelope_links_and_context,
    trig_list_spatial_filter_orders_by_distance,
    trig_list_filters_by_name_county_and_type,
    trig_list_rejects_bad_query_values,
    waypoint_lookup_is_marked_beta,
    export_lists_every_trig_with_string_coordinates,
    geojson_splits_pillars_and_fbms,
    trig_logs_and_photos_use_their_photo_variants,
);

/// A trig that has at least one live photo (so also logs and stats).
pub async fn trig_with_photos(app: &TestApp) -> i64 {
    let v = app.ok("/v1/photos?limit=1").await;
    v["items"][0]["trig_id"].as_i64().expect("a photo with a trig")
}

fn assert_decimal_string(v: &Value, scale: usize) {
    let s = v.as_str().unwrap_or_else(|| panic!("expected a decimal string, got {v}"));
    let (_, frac) = s.split_once('.').unwrap_or_else(|| panic!("no decimal point in {s}"));
    assert_eq!(frac.len(), scale, "scale of {s}");
    assert!(s.parse::<f64>().is_ok(), "{s} is not a number");
}

async fn trig_detail_has_string_coordinates_and_every_include(app: TestApp) {
    let id = trig_with_photos(&app).await;
    let v = app.ok(&format!("/v1/trigs/{id}?include=details,stats,attrs")).await;
    let fields = with(
        &TRIG_MINIMAL.iter().filter(|(k, _)| !k.starts_with("wgs_")).copied().collect::<Vec<_>>(),
        &[("wgs_lat", "str"), ("wgs_long", "str"), ("details", "object"), ("stats", "object"), ("attrs", "array")],
    );
    assert_shape(&v, &fields);
    assert_eq!(v["id"], id);
    assert_eq!(v["waypoint"], format!("TP{id:04}"));
    assert_decimal_string(&v["wgs_lat"], 5);
    assert_decimal_string(&v["wgs_long"], 5);
    assert_shape(
        &v["details"],
        &[
            ("current_use", "str"),
            ("historic_use", "str"),
            ("wgs_height", "int"),
            ("postcode", "str"),
            ("county", "str"),
            ("town", "str"),
            ("fb_number", "str"),
            ("stn_number", "str"),
            ("stn_number_active", "str|null"),
            ("stn_number_passive", "str|null"),
            ("stn_number_osgb36", "str|null"),
        ],
    );
    let stats = &v["stats"];
    assert_shape(
        stats,
        &[
            ("logged_first", "str|null"),
            ("logged_last", "str|null"),
            ("logged_count", "int"),
            ("found_last", "str|null"),
            ("found_count", "int"),
            ("photo_count", "int"),
            ("score_mean", "str"),
            ("score_baysian", "str"),
        ],
    );
    assert_decimal_string(&stats["score_mean"], 2);
    assert!(stats["logged_count"].as_i64() >= Some(1) && stats["photo_count"].as_i64() >= Some(1), "{stats}");
    let logs = app.ok(&format!("/v1/trigs/{id}/logs?limit=1")).await;
    assert_eq!(stats["logged_count"], logs["pagination"]["total"], "trigstats agrees with the logs");
    let attrs = &v["attrs"][0];
    assert_shape(attrs, &[("source", "object"), ("attr_names", "object"), ("attribute_sets", "array")]);
    assert_shape(&attrs["source"], &[("id", "int"), ("name", "str"), ("url", "str|null")]);
    let names = attrs["attr_names"].as_object().expect("attr_names");
    assert!(names.keys().all(|k| k.parse::<i64>().is_ok()), "integer-keyed maps use string keys");
    let values = attrs["attribute_sets"][0]["values"].as_object().expect("values");
    assert!(values.keys().all(|k| names.contains_key(k)));

    let plain = app.ok(&format!("/v1/trigs/{id}")).await;
    assert!(null_field(&plain, "details") && null_field(&plain, "stats") && null_field(&plain, "attrs"));
    let same = app.ok(&format!("/v1/trigs/{id}?include=attrs,%20stats,details,")).await;
    assert_eq!(same, v, "include order, spaces and empty tokens do not matter");
}

async fn trig_detail_errors_follow_the_contract(app: TestApp) {
    let r = app.get("/v1/trigs/99999999").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::NOT_FOUND, serde_json::json!({"detail": "Trigpoint not found"}))
    );
    let r = app.get("/v1/trigs/99999999?include=bogus").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "404 is checked before include");
    let r = app.get("/v1/trigs/1?include=bogus,zzz,stats").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Invalid include parameter(s): bogus, zzz. Valid options: attrs, details, stats");
    let r = app.get("/v1/trigs/abc").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        serde_json::json!({"detail": [{"type": "int_parsing", "loc": ["path", "trig_id"],
            "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]})
    );
}

async fn trig_list_envelope_links_and_context(app: TestApp) {
    let v = app.ok("/v1/trigs?limit=3&skip=3").await;
    let items = envelope(&v);
    assert_eq!(items.len(), 3);
    for item in items {
        assert_shape(item, TRIG_MINIMAL);
        assert!(null_field(item, "distance_km"));
    }
    let ids: Vec<i64> = items.iter().filter_map(|i| i["id"].as_i64()).collect();
    assert_eq!(ids, [4, 5, 6], "ordered by id");
    assert_eq!(v["pagination"]["total"], 24_563);
    assert_eq!(v["links"]["self"], "/v1/trigs?limit=3&skip=3");
    assert_eq!(v["links"]["next"], "/v1/trigs?limit=3&skip=6");
    assert_eq!(v["links"]["prev"], "/v1/trigs?limit=3&skip=0");
    assert_eq!(v["context"], serde_json::json!({"order": "id"}));
    let v = app.ok("/v1/trigs?order=bogus&limit=2").await;
    assert_eq!(v["context"]["order"], "bogus");
    assert_eq!(v["items"][0]["id"], 1, "an unknown order still paginates by id");
}

async fn trig_list_spatial_filter_orders_by_distance(app: TestApp) {
    let v = app.ok("/v1/trigs?lat=57.5&lon=-4&max_km=50&limit=100").await;
    let items = envelope(&v);
    assert!(!items.is_empty());
    let d: Vec<f64> = items.iter().map(|i| i["distance_km"].as_f64().expect("distance_km is a number")).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "sorted by distance: {d:?}");
    assert!(d.iter().all(|x| *x <= 50.05));
    assert_eq!(v["links"]["self"], "/v1/trigs?lat=57.5&lon=-4.0&max_km=50.0&limit=100&skip=0");
    assert_eq!(
        v["context"],
        serde_json::json!({"centre": {"lat": 57.5, "lon": -4.0, "srid": 4326}, "max_km": 50.0, "order": "distance"})
    );
    let no_radius = app.ok("/v1/trigs?lat=57.5&lon=-4&limit=1").await;
    assert_eq!(no_radius["pagination"]["total"], 24_563, "without max_km nothing is filtered");
    assert_eq!(no_radius["context"]["max_km"], Value::Null);
    assert_eq!(no_radius["items"][0]["id"], items[0]["id"], "nearest first");
}

async fn trig_list_filters_by_name_county_and_type(app: TestApp) {
    let v = app.ok("/v1/trigs?name=HILL&limit=100").await;
    for i in envelope(&v) {
        assert!(i["name"].as_str().unwrap_or("").to_lowercase().contains("hill"), "{i}");
    }
    assert!(v["pagination"]["total"].as_i64() > Some(100));
    let v = app.ok("/v1/trigs?county=devon&physical_types=Pillar,Bolt&limit=100").await;
    let items = envelope(&v);
    assert!(!items.is_empty());
    for i in items {
        assert!(matches!(i["physical_type"].as_str(), Some("Pillar" | "Bolt")), "{i}");
        let d = app.ok(&format!("/v1/trigs/{}?include=details", i["id"])).await;
        assert_eq!(d["details"]["county"], "Devon");
    }
    assert_eq!(v["links"]["self"], "/v1/trigs?county=devon&physical_types=Pillar%2CBolt&limit=100&skip=0");
    let v = app.ok("/v1/trigs?order=name&limit=50&physical_types=Pillar").await;
    let names: Vec<String> = envelope(&v).iter().map(|i| i["name"].as_str().unwrap_or("").to_lowercase()).collect();
    let letters: Vec<char> = names.iter().filter_map(|n| n.chars().next()).filter(char::is_ascii_alphabetic).collect();
    assert!(letters.windows(2).all(|w| w[0] <= w[1]), "order=name sorts by name: {names:?}");
}

async fn trig_list_rejects_bad_query_values(app: TestApp) {
    let r = app.get("/v1/trigs?limit=0&skip=-1&lat=north&max_km=-5&exclude_found=maybe").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let items = r.body["detail"].as_array().expect("detail list");
    let got: Vec<(String, String)> = items
        .iter()
        .map(|i| (i["loc"][1].as_str().unwrap_or("").to_owned(), i["type"].as_str().unwrap_or("").to_owned()))
        .collect();
    for expected in [
        ("lat", "float_parsing"),
        ("max_km", "greater_than_equal"),
        ("exclude_found", "bool_parsing"),
        ("skip", "greater_than_equal"),
        ("limit", "greater_than_equal"),
    ] {
        assert!(got.contains(&(expected.0.into(), expected.1.into())), "{expected:?} missing from {got:?}");
    }
    let r = app.get("/v1/trigs?limit=101").await;
    assert_eq!(r.body["detail"][0]["ctx"], serde_json::json!({"le": 100}));
    assert_eq!(r.body["detail"][0]["msg"], "Input should be less than or equal to 100");
}

async fn waypoint_lookup_is_marked_beta(app: TestApp) {
    let r = app.get("/v1/trigs/waypoint/TP0002").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-api-lifecycle"], "beta");
    assert_eq!(r.body["id"], 2);
    assert!(r.body["wgs_lat"].is_string() && null_field(&r.body, "details"));
    assert_eq!(r.body, app.ok("/v1/trigs/2").await);
    let r = app.get("/v1/trigs/waypoint/TP9999999").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Trigpoint not found")));
}

async fn export_lists_every_trig_with_string_coordinates(app: TestApp) {
    let r = app.get("/v1/trigs/export?ignored=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "public, max-age=31536000");
    let v = &r.body;
    assert_shape(v, &[("items", "array"), ("total", "int"), ("generated_at", "str"), ("cache_info", "str")]);
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 24_563);
    assert_eq!(v["total"], 24_563);
    let fields = with(
        &TRIG_MINIMAL.iter().filter(|(k, _)| !k.starts_with("wgs_")).copied().collect::<Vec<_>>(),
        &[("wgs_lat", "str"), ("wgs_long", "str")],
    );
    assert_shape(&items[0], &fields);
    assert!(items.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));
}

async fn geojson_splits_pillars_and_fbms(app: TestApp) {
    let v = app.ok("/v1/trigs/geojson").await;
    assert_shape(&v, &[("fbm", "object"), ("pillar", "object"), ("generated_at", "str"), ("cache_info", "str")]);
    let pillars = v["pillar"]["features"].as_array().expect("features");
    assert_eq!(v["pillar"]["type"], "FeatureCollection");
    let count = app.ok("/v1/trigs?physical_types=Pillar&limit=1").await["pagination"]["total"].as_u64();
    assert_eq!(Some(pillars.len() as u64), count);
    let f = &pillars[0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert!(f["geometry"]["coordinates"][0].is_f64() && f["geometry"]["coordinates"][1].is_f64());
    assert_shape(&f["properties"], &[("id", "int"), ("name", "str"), ("condition", "str"), ("osgb_gridref", "str")]);
    let limited = app.ok("/v1/trigs/geojson?limit=3").await;
    assert_eq!(limited["pillar"]["features"].as_array().map(Vec::len), Some(3));
}

async fn trig_logs_and_photos_use_their_photo_variants(app: TestApp) {
    let id = trig_with_photos(&app).await;
    let v = app.ok(&format!("/v1/trigs/{id}/logs?include=photos&limit=100")).await;
    let logs = envelope(&v);
    assert!(logs.iter().all(|l| l["trig_id"] == id));
    let mut photos_seen = 0;
    for l in logs {
        assert_shape(l, &with(LOG, &[("photos", "array")]));
        for p in l["photos"].as_array().into_iter().flatten() {
            assert_shape(p, &photo_b());
            assert!(
                null_field(p, "user_name") && null_field(p, "trig_id") && null_field(p, "log_date"),
                "denormalised fields are null here"
            );
            assert_eq!(p["name"], p["caption"]);
            assert_eq!(p["public_ind"], p["license"]);
            photos_seen += 1;
        }
    }
    assert!(photos_seen > 0);
    assert_eq!(v["links"]["self"], format!("/v1/trigs/{id}/logs?limit=100&skip=0"));
    let plain = app.ok(&format!("/v1/trigs/{id}/logs")).await;
    assert!(plain["items"][0].get("photos").is_none(), "no photos key without include");
    let v = app.ok(&format!("/v1/trigs/{id}/photos?limit=100")).await;
    let photos = envelope(&v);
    assert_eq!(photos.len(), photos_seen, "same live photos both ways");
    for p in photos {
        assert_shape(p, &photo_b());
        assert_eq!(p["trig_id"], id);
        assert!(p["user_name"].is_string() && p["log_date"].is_string());
        assert_ne!(p["type"], "", "blank type becomes O in variant B");
    }
    let empty = app.ok("/v1/trigs/99999999/logs").await;
    assert_eq!(empty["pagination"]["total"], 0, "no 404 for an unknown trig");
}
