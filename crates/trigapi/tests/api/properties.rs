//! Property tests (SQLite): pagination invariants on every list, and the distance filter against
//! a brute-force computation over the export.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Every trig's (lat, lon), from the export.
async fn trig_points(app: &TestApp) -> Vec<(f64, f64)> {
    let export = app.ok("/v1/trigs/export").await;
    export["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["wgs_lat"].as_str()?.parse().ok()?, t["wgs_long"].as_str()?.parse().ok()?)))
        .collect()
}

/// The contract's planar distance (km) from a centre.
fn planar_km(lat: f64, lon: f64, (a, b): (f64, f64)) -> f64 {
    let kx = 111.32 * lat.to_radians().cos();
    (((a - lat) * 111.32).powi(2) + ((b - lon) * kx).powi(2)).sqrt()
}

const LISTS: &[&str] = &[
    "/v1/logs?",
    "/v1/photos?",
    "/v1/users?",
    "/v1/trigs?physical_types=Pillar&",
    "/v1/logs?trig_id=1102&",
    "/v1/users?name=hill&",
];

#[test]
fn pagination_invariants_hold_on_every_list() {
    let rt = runtime();
    let Some(app) = rt.block_on(TestApp::new(Backend::Sqlite)) else { return };
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    runner
        .run(&(0..LISTS.len(), 0i64..700, 1i64..=100), |(list, skip, limit)| {
            let base = LISTS[list];
            let page = rt.block_on(app.ok(&format!("{base}skip={skip}&limit={limit}")));
            let p = &page["pagination"];
            let total = p["total"].as_i64().unwrap_or(-1);
            let n = page["items"].as_array().map_or(0, Vec::len) as i64;
            prop_assert_eq!(n, limit.min((total - skip).max(0)), "page size");
            prop_assert_eq!(p["has_more"].as_bool(), Some(skip + n < total));
            prop_assert_eq!(p["offset"].as_i64(), Some(skip));
            prop_assert_eq!(page["links"]["next"].is_string(), skip + n < total);
            prop_assert_eq!(page["links"]["prev"].is_string(), skip > 0);
            if let Some(next) = page["links"]["next"].as_str() {
                prop_assert!(next.ends_with(&format!("skip={}", skip + limit)), "{}", next);
            }
            if let Some(prev) = page["links"]["prev"].as_str() {
                prop_assert!(prev.ends_with(&format!("skip={}", (skip - limit).max(0))), "{}", prev);
            }
            // Pages tile the list: this page equals the matching slice of a larger page.
            let wide_skip = (skip - 10).max(0);
            let wide = rt.block_on(app.ok(&format!("{base}skip={wide_skip}&limit=100")));
            let ids = |v: &Value| -> Vec<i64> {
                v["items"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_i64()).collect()
            };
            let (mine, all) = (ids(&page), ids(&wide));
            let offset = (skip - wide_skip) as usize;
            let expected: Vec<i64> = all.iter().skip(offset).take(mine.len()).copied().collect();
            if offset + mine.len() <= all.len() {
                prop_assert_eq!(mine, expected, "deterministic order, no overlap");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn distance_filter_matches_brute_force() {
    let rt = runtime();
    let Some(app) = rt.block_on(TestApp::new(Backend::Sqlite)) else { return };
    let points = rt.block_on(trig_points(&app));
    let mut runner = TestRunner::new(Config { cases: 32, ..Config::default() });
    runner
        .run(&(50.0f64..58.5, -6.0f64..1.5, 0.0f64..120.0), |(lat, lon, max_km)| {
            let v = rt.block_on(app.ok(&format!("/v1/trigs?lat={lat}&lon={lon}&max_km={max_km}&limit=100")));
            let dist = |p: (f64, f64)| planar_km(lat, lon, p);
            let inside_strict = points.iter().filter(|p| dist(**p) < max_km - 1e-6).count() as i64;
            let inside_loose = points.iter().filter(|p| dist(**p) <= max_km + 1e-6).count() as i64;
            let total = v["pagination"]["total"].as_i64().unwrap_or(-1);
            prop_assert!(
                inside_strict <= total && total <= inside_loose,
                "total {} not in [{}, {}]",
                total,
                inside_strict,
                inside_loose
            );
            let d: Vec<f64> =
                v["items"].as_array().into_iter().flatten().filter_map(|i| i["distance_km"].as_f64()).collect();
            prop_assert!(d.windows(2).all(|w| w[0] <= w[1]), "nearest first: {:?}", d);
            prop_assert!(d.iter().all(|x| *x <= max_km + 0.05), "within max_km: {:?}", d);
            let mut sorted: Vec<f64> = points.iter().map(|p| dist(*p)).filter(|x| *x <= max_km + 1e-6).collect();
            sorted.sort_by(f64::total_cmp);
            if let (Some(first), Some(expect)) = (d.first(), sorted.first()) {
                prop_assert!(
                    (first - (expect * 10.0).round() / 10.0).abs() < 0.11,
                    "nearest is {} not {}",
                    first,
                    expect
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn nearest_first_without_a_radius_matches_brute_force() {
    let rt = runtime();
    let Some(app) = rt.block_on(TestApp::new(Backend::Sqlite)) else { return };
    let points = rt.block_on(trig_points(&app));
    let mut runner = TestRunner::new(Config { cases: 32, ..Config::default() });
    // Centres across and beyond the UK (far ones exercise the full-sort fallback); pages deep
    // enough to cross probe radii.
    runner
        .run(&(45.0f64..62.0, -12.0f64..4.0, 0i64..1200, 1i64..=100), |(lat, lon, skip, limit)| {
            let v = rt.block_on(app.ok(&format!("/v1/trigs?lat={lat}&lon={lon}&skip={skip}&limit={limit}")));
            prop_assert_eq!(v["pagination"]["total"].as_i64(), Some(points.len() as i64));
            let mut all: Vec<f64> = points.iter().map(|p| planar_km(lat, lon, *p)).collect();
            all.sort_by(f64::total_cmp);
            let got: Vec<f64> =
                v["items"].as_array().into_iter().flatten().filter_map(|i| i["distance_km"].as_f64()).collect();
            let expected: Vec<f64> = all.iter().skip(skip as usize).take(limit as usize).copied().collect();
            prop_assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                prop_assert!((g - e).abs() <= 0.051, "page differs: got {:?}, expected {:?}", got, expected);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
