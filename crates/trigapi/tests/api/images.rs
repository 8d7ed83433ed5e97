//! The PNG endpoints: golden checks on the decoded pixels (sizes, the dot at a known trig's
//! pixel, sea against land, stacking, text that scales), parameter validation, and caching.
//!
//! Positions are computed here from the map box the contract gives (longitude −14…4.5,
//! latitude 49.8…60.9, equirectangular, the full-size stretched53 image 1200×1196), not with
//! the server's own code.

use axum::http::{Method, StatusCode};
use image::{DynamicImage, Rgba, RgbaImage};
use serde_json::Value;

use crate::backend_tests;
use crate::cache::{admin, app, private_database};
use crate::helpers::{TestApp, TestResponse};

const WEST: f64 = -14.0;
const NORTH: f64 = 60.9;
const SPAN_LON: f64 = 18.5;
const SPAN_LAT: f64 = 11.1;
const LAND: Rgba<u8> = Rgba([0xdd, 0xdd, 0xdd, 255]);

fn png(r: &TestResponse) -> DynamicImage {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "image/png");
    image::load_from_memory_with_format(&r.bytes, image::ImageFormat::Png).expect("a PNG")
}

/// Pixel (x right, y down) of a point on a `w`×`h` map.
fn pixel(w: u32, h: u32, lon: f64, lat: f64) -> (f64, f64) {
    ((lon - WEST) / SPAN_LON * f64::from(w), (NORTH - lat) / SPAN_LAT * f64::from(h))
}

fn at(img: &RgbaImage, (x, y): (f64, f64)) -> Rgba<u8> {
    *img.get_pixel(x.floor() as u32, y.floor() as u32)
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// `(lon, lat)` of a trig, from its detail (decimal strings there).
async fn position(app: &TestApp, trig_id: i64) -> (f64, f64) {
    let t = app.ok(&format!("/v1/trigs/{trig_id}")).await;
    let num = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_f64()).expect("coordinate");
    (num(&t["wgs_long"]), num(&t["wgs_lat"]))
}

/// Inland points well away from the coast (Midlands, Yorkshire, Highlands), to test land.
const INLAND: [(f64, f64); 3] = [(-1.6, 52.6), (-1.5, 54.1), (-4.5, 57.2)];

async fn trig_map_draws_land_sea_and_the_dot(app: TestApp) {
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let here = position(&app, trig).await;
    let r = app.get(&format!("/v1/trigs/{trig}/map?dot_colour=%2300ff00&dot_diameter=9")).await;
    assert_eq!(r.headers["cache-control"], "public, max-age=86400");
    let img = png(&r).to_rgba8();
    assert_eq!(img.dimensions(), (110, 110));
    let dot = pixel(110, 110, here.0, here.1);
    assert_eq!(at(&img, dot), Rgba([0, 255, 0, 255]), "the dot at {dot:?}");
    // Open sea off the north-west is transparent; the land far from the dot is land-coloured.
    assert_eq!(at(&img, (3.0, 3.0))[3], 0);
    let inland = INLAND.iter().map(|(lon, lat)| pixel(110, 110, *lon, *lat)).find(|p| distance(*p, dot) > 8.0);
    assert_eq!(at(&img, inland.expect("an inland point away from the dot")), LAND);

    // The default colour is #0000ff, and the default dot (5 → radius 2) is smaller than 9's.
    let default = png(&app.get(&format!("/v1/trigs/{trig}/map")).await).to_rgba8();
    assert_eq!(at(&default, dot), Rgba([0, 0, 255, 255]));
    let coloured = |img: &RgbaImage| img.pixels().filter(|p| p[1] == 255 || p[2] == 255 && p[0] == 0).count();
    assert!(coloured(&default) < coloured(&img), "{} vs {}", coloured(&default), coloured(&img));
}

async fn trig_map_rejects_bad_input(app: TestApp) {
    let r = app.get("/v1/trigs/99999999/map").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Trigpoint not found")));
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let r = app.get(&format!("/v1/trigs/{trig}/map?style=ordnance")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["detail"], "Map style 'ordnance' not found (missing PNG)");
    for (query, kind) in [
        ("dot_colour=blue", "value_error"),
        ("dot_colour=%23ff00", "value_error"),
        ("dot_colour=none", "value_error"),
        ("dot_diameter=0", "greater_than_equal"),
        ("dot_diameter=101", "less_than_equal"),
        ("dot_diameter=big", "int_parsing"),
    ] {
        let r = app.get(&format!("/v1/trigs/{trig}/map?{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", r.text);
        assert_eq!(r.body["detail"][0]["type"], kind, "{query}");
        assert_eq!(r.body["detail"][0]["loc"][0], "query", "{query}");
    }
    let r = app.get(&format!("/v1/trigs/{trig}/map?dot_colour=red")).await;
    assert_eq!(r.body["detail"][0]["msg"], "Value error, dot_colour must be a hex colour such as #ff0000");
}

/// `(lon, lat, found)` of each log of `user`.
async fn logged(app: &TestApp, user: i64) -> Vec<(f64, f64, bool)> {
    let logs = app.ok(&format!("/v1/users/{user}/logs?limit=100")).await;
    let mut out = Vec::new();
    for log in logs["items"].as_array().expect("items") {
        let (lon, lat) = position(app, log["trig_id"].as_i64().expect("trig_id")).await;
        out.push((lon, lat, ["G", "S", "D", "T"].contains(&log["condition"].as_str().unwrap_or(""))));
    }
    out
}

async fn user_map_sizes_and_layers(app: TestApp) {
    for (query, size) in [
        ("", (110, 110)),
        ("height=500", (502, 500)),
        ("map_variant=wgs84", (183, 110)),
        ("map_variant=mercator&height=60", (100, 60)),
    ] {
        let img = png(&app.get(&format!("/v1/users/1/map?{query}")).await);
        assert_eq!((img.width(), img.height()), size, "{query}");
    }

    // At full size with opaque dots: every found log is a red dot, drawn over the not-found
    // ones; land elsewhere; sea transparent.
    let logs = logged(&app, 1).await;
    assert!(logs.iter().any(|l| l.2), "user 1 has found logs");
    let q = "height=1196&dot_alpha=255&dot_diameter=10&coastline_colour=none&notfound_colour=%2300ffff";
    let img = png(&app.get(&format!("/v1/users/1/map?{q}")).await).to_rgba8();
    assert_eq!(img.dimensions(), (1200, 1196));
    let points: Vec<((f64, f64), bool)> =
        logs.iter().map(|(lon, lat, f)| (pixel(1200, 1196, *lon, *lat), *f)).collect();
    for (p, found) in &points {
        let expected = if *found { Rgba([255, 0, 0, 255]) } else { Rgba([0, 255, 255, 255]) };
        let covered_by_found = points.iter().any(|(o, f)| *f && distance(*o, *p) < 7.0);
        if *found || !covered_by_found {
            assert_eq!(at(&img, *p), expected, "log at {p:?}");
        }
    }
    assert_eq!(at(&img, (10.0, 10.0))[3], 0, "sea");
    let inland = INLAND.iter().map(|(lon, lat)| pixel(1200, 1196, *lon, *lat));
    let clear = inland.clone().find(|p| points.iter().all(|(o, _)| distance(*o, *p) > 10.0));
    assert_eq!(at(&img, clear.expect("an inland point away from every dot")), LAND);

    // Disabled layers and land: nothing but a transparent image.
    let img = png(&app
        .get("/v1/users/1/map?found_colour=none&notfound_colour=none&land_colour=none&coastline_colour=none")
        .await)
    .to_rgba8();
    assert!(img.pixels().all(|p| p[3] == 0));
}

async fn user_map_stacks_translucent_dots(app: TestApp) {
    // Found dots 100 px across at full size, each adding alpha 40, on a transparent map: where
    // n dots cover a pixel completely, its alpha is min(255, 40·n). (Layers, by contrast, are
    // composited over each other, so the not-found layer is off here.)
    let logs = logged(&app, 1).await;
    let q = "height=1196&dot_diameter=100&land_colour=none&coastline_colour=none&notfound_colour=none";
    let img = png(&app.get(&format!("/v1/users/1/map?{q}")).await).to_rgba8();
    let points: Vec<(f64, f64)> =
        logs.iter().filter(|l| l.2).map(|(lon, lat, _)| pixel(1200, 1196, *lon, *lat)).collect();
    let mut checked = 0;
    let mut max_n = 0;
    for y in (0..1196).step_by(7) {
        for x in (0..1200).step_by(7) {
            let c = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let d: Vec<f64> = points.iter().map(|p| distance(*p, c)).collect();
            if d.iter().any(|d| (48.5..51.5).contains(d)) {
                continue; // on some dot's anti-aliased rim
            }
            let n = d.iter().filter(|d| **d < 48.5).count();
            let p = img.get_pixel(x, y);
            let expected = (40 * n).min(255) as u8;
            assert!(p[3].abs_diff(expected) <= 3, "alpha at {c:?} under {n} dots: {p:?}");
            if n > 0 {
                assert_eq!(p[0], 255, "red at {c:?}");
            }
            checked += 1;
            max_n = max_n.max(n);
        }
    }
    assert!(checked > 10_000 && max_n >= 2, "checked {checked} pixels, at most {max_n} dots deep");
}

async fn user_map_notlogged_layer(app: TestApp) {
    let logs = logged(&app, 1).await;
    let trigs = app.ok("/v1/trigs?limit=100").await;
    let logged_px: Vec<(f64, f64)> = logs.iter().map(|(lon, lat, _)| pixel(1200, 1196, *lon, *lat)).collect();
    let unlogged = trigs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| pixel(1200, 1196, t["wgs_long"].as_f64().expect("lon"), t["wgs_lat"].as_f64().expect("lat")))
        .find(|p| logged_px.iter().all(|o| distance(*o, *p) > 12.0))
        .expect("a trig away from the user's logs");
    let q =
        "height=1196&dot_alpha=255&dot_diameter=10&notlogged_colour=%2300ff00&land_colour=none&coastline_colour=none";
    let img = png(&app.get(&format!("/v1/users/1/map?{q}")).await).to_rgba8();
    assert_eq!(at(&img, unlogged), Rgba([0, 255, 0, 255]));
    let found = logs.iter().find(|l| l.2).map(|(lon, lat, _)| pixel(1200, 1196, *lon, *lat)).expect("a found log");
    assert_eq!(at(&img, found), Rgba([255, 0, 0, 255]), "found is drawn over not-logged");
}

async fn user_map_rejects_bad_input(app: TestApp) {
    let r = app.get("/v1/users/99999999/map").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("User not found")));
    for (query, name, kind) in [
        ("found_colour=red", "found_colour", "value_error"),
        ("notlogged_colour=%23zzzzzz", "notlogged_colour", "value_error"),
        ("land_colour=%23ddd", "land_colour", "value_error"),
        ("height=9", "height", "greater_than_equal"),
        ("height=4001", "height", "less_than_equal"),
        ("dot_alpha=0", "dot_alpha", "greater_than_equal"),
        ("dot_alpha=256", "dot_alpha", "less_than_equal"),
        ("dot_diameter=0", "dot_diameter", "greater_than_equal"),
    ] {
        let r = app.get(&format!("/v1/users/1/map?{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], serde_json::json!(["query", name]), "{query}");
        assert_eq!(r.body["detail"][0]["type"], kind, "{query}");
    }
    let r = app.get("/v1/users/x/map").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Dark pixels in the text area (right of the icon).
fn ink(img: &DynamicImage) -> usize {
    let rgb = img.to_rgb8();
    let x0 = rgb.width() * 3 / 10;
    rgb.enumerate_pixels()
        .filter(|(x, _, p)| *x >= x0 && u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]) < 300)
        .count()
}

async fn badge_sizes_and_scaling_text(app: TestApp) {
    let r = app.get("/v1/users/1/badge").await;
    assert_eq!(r.headers["content-disposition"], "inline; filename=user_1_badge.png");
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let one = png(&r);
    assert_eq!(one.color(), image::ColorType::Rgb8, "an RGB PNG, as the original");
    assert_eq!((one.width(), one.height()), (200, 50));
    assert_eq!(one.to_rgb8().get_pixel(199, 0).0, [255, 255, 255], "white background");
    for (scale, size) in [("0.1", (20, 5)), ("2", (400, 100)), ("2.5", (500, 125)), ("5", (1000, 250))] {
        let img = png(&app.get(&format!("/v1/users/1/badge?scale={scale}")).await);
        assert_eq!((img.width(), img.height()), size, "scale {scale}");
    }
    // The text is set at the scale: twice the scale, about four times the ink.
    let two = png(&app.get("/v1/users/1/badge?scale=2").await);
    let ratio = ink(&two) as f64 / ink(&one) as f64;
    assert!(ink(&one) > 200 && (3.0..5.0).contains(&ratio), "ink {} vs {} ({ratio})", ink(&one), ink(&two));
    // Another user, another name and counts: another image.
    let other = app.get("/v1/users/2/badge").await;
    assert_eq!(other.status, StatusCode::OK);
    assert_ne!(other.bytes, r.bytes);
}

async fn badge_rejects_bad_input(app: TestApp) {
    let r = app.get("/v1/users/99999999/badge").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("User not found")));
    for (query, kind) in
        [("scale=0.05", "greater_than_equal"), ("scale=5.5", "less_than_equal"), ("scale=big", "float_parsing")]
    {
        let r = app.get(&format!("/v1/users/1/badge?{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", r.text);
        assert_eq!(r.body["detail"][0]["type"], kind, "{query}");
    }
}

async fn images_are_cached_like_json(app: TestApp) {
    for (uri, same, key) in [
        ("/v1/trigs/1/map", "/v1/trigs/1/map?dot_diameter=5&dot_colour=%230000FF", ":trig:1:map:params_"),
        (
            "/v1/users/1/map",
            "/v1/users/1/map?height=110&found_colour=FF0000&map_variant=stretched53",
            ":user:1:map:params_",
        ),
        ("/v1/users/1/badge", "/v1/users/1/badge?scale=1.0", ":user:1:badge:params_"),
    ] {
        let first = app.get(uri).await;
        assert_eq!(first.status, StatusCode::OK, "{uri}");
        let again = app.get(same).await;
        assert_eq!(again.headers["x-cache-status"], "HIT", "{same} shares {uri}'s entry");
        assert_eq!(again.bytes, first.bytes);
        assert!(first.headers["x-cache-key"].to_str().is_ok_and(|k| k.contains(key)), "{uri}");
        let etag = first.headers["etag"].to_str().expect("etag").to_owned();
        let req = axum::http::Request::builder().uri(uri).header("if-none-match", etag).body(axum::body::Body::empty());
        let r = app.send(req.expect("request")).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{uri}");
    }
}

backend_tests!(
    trig_map_draws_land_sea_and_the_dot,
    trig_map_rejects_bad_input,
    user_map_sizes_and_layers,
    user_map_stacks_translucent_dots,
    user_map_notlogged_layer,
    user_map_rejects_bad_input,
    badge_sizes_and_scaling_text,
    badge_rejects_bad_input,
    images_are_cached_like_json,
);

/// A user's map and badge are tagged with the user: when their logs change and the user's tag
/// is invalidated, both are drawn again from the new data.
#[tokio::test]
async fn user_images_follow_invalidation_of_the_user() {
    let app = app(&private_database(), None, |_| {}).await;
    let map = "/v1/users/1/map?dot_alpha=255";
    let before = app.get(map).await;
    let other = app.get("/v1/users/2/map").await;
    let badge_before = app.get("/v1/users/1/badge").await;
    app.db.execute_raw("DELETE FROM tlog WHERE user_id = 1").await.expect("delete the logs");
    assert_eq!(app.get(map).await.headers["x-cache-status"], "HIT", "nothing told the cache yet");
    let r = admin(&app, Method::DELETE, "/v1/admin/cache?pattern=user:1:*").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let after = app.get(map).await;
    assert_eq!(after.headers["x-cache-status"], "MISS");
    assert_ne!(after.bytes, before.bytes);
    let img = png(&after).to_rgba8();
    assert!(img.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "no dots left: only grey land and coast");
    let badge_after = app.get("/v1/users/1/badge").await;
    assert_eq!(badge_after.headers["x-cache-status"], "MISS");
    assert_ne!(badge_after.bytes, badge_before.bytes);
    // Another user's map was not touched.
    let other_again = app.get("/v1/users/2/map").await;
    assert_eq!(other_again.headers["x-cache-status"], "HIT");
    assert_eq!(other_again.bytes, other.bytes);
}
