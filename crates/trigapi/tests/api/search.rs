//! `/v1/locations/search…` (contract §5.5, issue 12): every query form, ranking and paging,
//! each endpoint's shape, hostile input, log search against an independent count, positions
//! against published ones, and the import of a postcode file reaching cached searches.

use std::io::Write as _;

use axum::http::StatusCode;
use sea_query::{ExprTrait as _, Query};
use serde_json::Value;
use trigapi::db::{Db, Tlog};
use trigapi::gazetteer::{self, Dataset};

use crate::backend_tests;
use crate::helpers::{TestApp, assert_shape};

backend_tests!(
    every_query_form_finds_what_it_names,
    names_rank_exact_then_prefix_then_contains_and_pages_do_not_overlap,
    every_endpoint_has_the_contracts_shape,
    bad_input_is_a_422_never_a_500,
    log_searches_find_exactly_the_logs_an_independent_count_finds,
    grid_references_and_postcode_areas_land_within_50_m_of_their_published_positions,
);

/// `q` as a query-string value.
fn enc(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

async fn category(app: &TestApp, which: &str, q: &str, extra: &str) -> Value {
    app.ok(&format!("/v1/locations/search/{which}?q={}{extra}", enc(q))).await
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap_or_else(|| panic!("items in {v}"))
}

fn names(v: &Value) -> Vec<String> {
    items(v).iter().map(|i| i["name"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Metres between two WGS84 positions (equirectangular: exact enough over 50 m).
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_000.0;
    let lat = ((a.0 + b.0) / 2.0).to_radians();
    let dx = (a.1 - b.1).to_radians() * lat.cos() * r;
    let dy = (a.0 - b.0).to_radians() * r;
    (dx * dx + dy * dy).sqrt()
}

fn at(item: &Value) -> (f64, f64) {
    (item["lat"].as_f64().expect("lat"), item["lon"].as_f64().expect("lon"))
}

async fn every_query_form_finds_what_it_names(app: TestApp) {
    // A waypoint, as typed: the exact one first.
    let trig = app.ok("/v1/trigs/12?include=details").await;
    let v = category(&app, "trigpoints", "tp 12", "").await;
    assert_eq!(items(&v)[0]["id"], "12", "{v}");
    assert_eq!(items(&v)[0]["name"], trig["name"]);
    assert_eq!(category(&app, "trigpoints", "TP0012", "").await["items"][0]["id"], "12");

    // A trig by its name: an exact name ranks first.
    let name = trig["name"].as_str().expect("name");
    let v = category(&app, "trigpoints", name, "&limit=100").await;
    assert_eq!(names(&v)[0].to_lowercase(), name.to_lowercase(), "{v}");
    assert!(items(&v).iter().any(|i| i["id"] == "12"), "{v}");

    // A station number.
    let stn = trig["details"]["stn_number"].as_str().or(trig["stn_number"].as_str()).expect("stn_number");
    assert!(!stn.trim().is_empty(), "trig 12 has a station number: {trig}");
    let v = category(&app, "station-numbers", stn, "&limit=100").await;
    assert_eq!(items(&v)[0]["name"].as_str().map(str::to_lowercase), Some(stn.trim().to_lowercase()), "{v}");
    assert!(items(&v).iter().any(|i| i["id"] == "12" && i["type"] == "station_number"), "{v}");

    // A place: both Buxtons, before the places that merely contain the name.
    let v = category(&app, "places", "buxton", "").await;
    assert_eq!(names(&v)[..2], ["Buxton", "Buxton"], "{v}");
    let derbyshire = items(&v).iter().any(|i| metres(at(i), (53.25741, -1.90982)) < 50.0);
    assert!(derbyshire, "Buxton, Derbyshire: {v}");

    // A user.
    let user = app.ok("/v1/users/1").await;
    let v = category(&app, "users", user["name"].as_str().expect("name"), "").await;
    assert_eq!(items(&v)[0]["id"], "1", "{v}");
    assert_eq!((items(&v)[0]["lat"].as_f64(), items(&v)[0]["lon"].as_f64()), (Some(54.0), Some(-2.0)));

    // Postcodes: a district, a sector, and a unit (none are loaded here: its sector answers).
    assert_eq!(names(&category(&app, "postcodes", "sk17", "").await)[0], "SK17");
    assert_eq!(names(&category(&app, "postcodes", "SK17 6", "").await), ["SK17 6"]);
    assert_eq!(names(&category(&app, "postcodes", "sk17 6aa", "").await), ["SK17 6"]);
    assert_eq!(names(&category(&app, "postcodes", "sk176aa", "").await), ["SK17 6"]);

    // Grid references of 2 to 10 figures, with or without spaces.
    for q in ["SK07", "SK 06 73", "SK0673", "SK 057 734", "SK 0576 7345", "SK0576773456"] {
        let v = app.ok(&format!("/v1/locations/search?q={}", enc(q))).await;
        let grid = v.as_array().expect("array").iter().find(|i| i["type"] == "gridref");
        let grid = grid.unwrap_or_else(|| panic!("{q}: {v}"));
        assert!(metres(at(grid), (53.25, -1.91)) < 10_000.0, "{q}: {grid}");
    }

    // Latitude and longitude, decimal and sexagesimal, with and without hemisphere letters.
    for q in [
        "53.38, -1.87",
        "53.38 -1.87",
        "53.38N 1.87W",
        "N53.38 W1.87",
        "53°22'48\"N 1°52'12\"W",
        "53 22 48 N, 1 52 12 W",
    ] {
        let v = app.ok(&format!("/v1/locations/search?q={}", enc(q))).await;
        let first = &v[0];
        assert_eq!(first["type"], "latlon", "{q}: {v}");
        assert_eq!(first["name"], "53.38000, -1.87000", "{q}: {v}");
    }

    // `/search` mixes the kinds, at most `limit` of them.
    let v = app.ok("/v1/locations/search?q=hill&limit=50").await;
    let kinds: std::collections::BTreeSet<&str> =
        v.as_array().expect("array").iter().filter_map(|i| i["type"].as_str()).collect();
    assert!(kinds.contains("trigpoint") && kinds.contains("town"), "{kinds:?}");
    assert_eq!(app.ok("/v1/locations/search?q=hill&limit=3").await.as_array().map(Vec::len), Some(3));
}

/// 0 for an exact name, 1 for one that starts with `q`, 2 for the rest.
fn rank(name: &str, q: &str) -> u8 {
    let (name, q) = (name.to_lowercase(), q.to_lowercase());
    if name == q {
        0
    } else if name.starts_with(&q) {
        1
    } else {
        2
    }
}

async fn names_rank_exact_then_prefix_then_contains_and_pages_do_not_overlap(app: TestApp) {
    // (The demo's user names never start with "walker": their ranks are all one class.)
    for (which, q, classes) in [("places", "ash", 3), ("trigpoints", "hill", 2), ("users", "walker", 1)] {
        let all = category(&app, which, q, "&limit=100").await;
        let ranks: Vec<u8> = names(&all).iter().map(|n| rank(n, q)).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{which} {q}: ranks {ranks:?}");
        let seen: std::collections::BTreeSet<u8> = ranks.iter().copied().collect();
        assert_eq!(seen.len(), classes, "{which} {q}: {ranks:?}");
        for item in items(&all) {
            assert!(item["name"].as_str().unwrap_or_default().to_lowercase().contains(q), "{which} {q}: {item}");
        }
        // Three pages of 7 are the page of 21, in order, with the same total.
        let whole = category(&app, which, q, "&limit=21").await;
        let mut paged = Vec::new();
        for skip in [0, 7, 14] {
            let page = category(&app, which, q, &format!("&limit=7&skip={skip}")).await;
            assert_eq!(page["total"], whole["total"]);
            assert_eq!(page["has_more"], page["total"].as_i64().expect("total") > skip + 7);
            paged.extend(items(&page).iter().cloned());
        }
        assert_eq!(&paged, items(&whole), "{which} {q}");
        let total = whole["total"].as_i64().expect("total");
        let last = category(&app, which, q, &format!("&limit=5&skip={}", total - 2)).await;
        assert_eq!((items(&last).len(), last["has_more"].as_bool()), (2, Some(false)), "{which} {q}");
    }
    // Postcodes page across districts, sectors and units as one list.
    let whole = category(&app, "postcodes", "SK1", "&limit=40").await;
    let first = category(&app, "postcodes", "SK1", "&limit=3&skip=0").await;
    let second = category(&app, "postcodes", "SK1", "&limit=3&skip=3").await;
    assert_eq!([items(&first).clone(), items(&second).clone()].concat(), items(&whole)[..6]);
}

const LOCATION: &[(&str, &str)] = &[
    ("type", "str"),
    ("name", "str"),
    ("lat", "float"),
    ("lon", "float"),
    ("description", "str|null"),
    ("id", "str|null"),
];
const LOG: &[(&str, &str)] = &[
    ("id", "int"),
    ("trig_id", "int"),
    ("trig_name", "str|null"),
    ("user_id", "int"),
    ("user_name", "str|null"),
    ("date", "str"),
    ("time", "str"),
    ("condition", "str"),
    ("comment", "str"),
    ("score", "int"),
    ("comment_excerpt", "str|null"),
];
const ENVELOPE: &[(&str, &str)] = &[("total", "int"), ("items", "array"), ("has_more", "bool"), ("query", "str")];

fn assert_category(v: &Value, item: &[(&str, &str)]) {
    assert_shape(v, ENVELOPE);
    assert!(!items(v).is_empty(), "some items: {v}");
    for i in items(v) {
        assert_shape(i, item);
    }
}

async fn every_endpoint_has_the_contracts_shape(app: TestApp) {
    let v = app.ok("/v1/locations/search?q=buxton").await;
    for i in v.as_array().expect("a bare array") {
        assert_shape(i, LOCATION);
    }
    for which in ["trigpoints", "places", "users"] {
        assert_category(&category(&app, which, "hill", "").await, LOCATION);
    }
    assert_category(&category(&app, "postcodes", "SK17", "").await, LOCATION);
    let stn = app.ok("/v1/trigs/12?include=details").await;
    let stn = stn["details"]["stn_number"].as_str().or(stn["stn_number"].as_str()).unwrap_or("x").to_owned();
    assert_category(&category(&app, "station-numbers", &stn, "").await, LOCATION);
    let logs = category(&app, "logs/substring", "howling gale", "").await;
    assert_category(&logs, LOG);
    assert_category(&category(&app, "logs/regex", "howling (gale|wind)", "").await, LOG);
    let first = &items(&logs)[0];
    let comment = first["comment"].as_str().expect("comment");
    let excerpt = first["comment_excerpt"].as_str().expect("excerpt");
    match comment.char_indices().nth(150) {
        Some((cut, _)) => assert_eq!(excerpt, format!("{}...", &comment[..cut])),
        None => assert_eq!(excerpt, comment),
    }

    let all = app.ok("/v1/locations/search/all?q=hill&limit=2").await;
    let keys =
        ["trigpoints", "station_numbers", "places", "users", "postcodes", "coordinates", "log_substring", "log_regex"];
    let mut shape: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "object")).collect();
    shape.push(("query", "str"));
    assert_shape(&all, &shape);
    for k in keys {
        assert_shape(&all[k], ENVELOPE);
        assert!(items(&all[k]).len() <= 2, "{k}: {}", all[k]);
    }
    // The original reported the number of users as the number of places.
    let places = category(&app, "places", "hill", "&limit=1").await;
    let users = category(&app, "users", "hill", "&limit=1").await;
    assert_eq!(all["places"]["total"], places["total"]);
    assert_ne!(all["places"]["total"], users["total"], "the two counts differ here, so the test can tell them apart");
    // A query with a pattern character is searched as a pattern too.
    let all = app.ok(&format!("/v1/locations/search/all?q={}", enc("howling.gale"))).await;
    assert!(all["log_regex"]["total"].as_i64() > Some(0), "{}", all["log_regex"]);
    assert_eq!(all["log_substring"]["total"], 0);
}

async fn bad_input_is_a_422_never_a_500(app: TestApp) {
    let endpoints = [
        "",
        "/all",
        "/trigpoints",
        "/station-numbers",
        "/places",
        "/users",
        "/postcodes",
        "/logs/substring",
        "/logs/regex",
    ];
    let long = "p".repeat(201);
    let hostile: [(&str, &str); 7] = [
        ("", "missing"),
        ("q=", "string_too_short"),
        ("q=a", "string_too_short"),
        ("q=%E2%82%AC", "string_too_short"),
        ("q=ab%00cd", "value_error"),
        ("q=ab%E2%80%AEcd", "value_error"),
        ("q=LONG", "string_too_long"),
    ];
    for e in endpoints {
        for (query, kind) in hostile {
            let query = query.replace("LONG", &long);
            let r = app.get(&format!("/v1/locations/search{e}?{query}")).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}?{query}: {}", r.text);
            assert_eq!(r.body["detail"][0]["type"], kind, "{e}?{query}: {}", r.text);
            assert_eq!(r.body["detail"][0]["loc"], serde_json::json!(["query", "q"]), "{e}?{query}");
        }
        for limit in ["0", "101", "x", "-1"] {
            let r = app.get(&format!("/v1/locations/search{e}?q=hill&limit={limit}")).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{e} limit={limit}: {}", r.text);
        }
        // Odd but valid text is a search, not an error.
        for q in [
            "%%",
            "__",
            "!!",
            "'; DROP TABLE tlog; --",
            "\u{201c}pillar\u{201d}",
            "\u{1f3d4}\u{fe0f}",
            "Ærø Brücke",
            "\u{13292}\u{118}\u{137}",
            "\u{128}\u{7d58f}",
        ] {
            let r = app.get(&format!("/v1/locations/search{e}?q={}", enc(q))).await;
            let fine =
                r.status == StatusCode::OK || (e == "/logs/regex" && r.status == StatusCode::UNPROCESSABLE_ENTITY);
            assert!(fine, "{e}?q={q}: {} {}", r.status, r.text);
        }
    }
    assert_eq!(app.get("/v1/locations/search?q=hill&limit=51").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/v1/locations/search/trigpoints?q=hill&skip=-1").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // `%` and `_` are text, not wildcards: no name has "%%", so none is found.
    assert_eq!(category(&app, "trigpoints", "%%", "").await["total"], 0);
    assert_eq!(category(&app, "users", "__", "").await["total"], 0);

    // Patterns: invalid, catastrophic for a backtracking engine, too large, or without text
    // to look up.
    for pattern in ["pillar(", "(a|aa)+$", "(x+x+)+y", "^(a+)+$", ".*", "[a-z]{3}", "pillar{1000}{1000}", "(?i)pillar"]
    {
        let r = app.get(&format!("/v1/locations/search/logs/regex?q={}", enc(pattern))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{pattern}: {}", r.text);
        assert_eq!(r.body["detail"][0]["type"], "value_error", "{pattern}");
        // `/search/all` leaves such a pattern out rather than failing.
        let all = app.get(&format!("/v1/locations/search/all?q={}", enc(pattern))).await;
        assert_eq!(all.status, StatusCode::OK, "all {pattern}: {}", all.text);
        assert_eq!(all.body["log_regex"]["total"], 0);
    }
    // A pattern that backtracking engines take exponential time over, on a literal that is
    // there, is matched in linear time.
    let r = app.get(&format!("/v1/locations/search/logs/regex?q={}", enc("gale(a|aa)*(a|aa)*(a|aa)*$"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Every comment, with its id, newest first.
async fn comments(db: &Db) -> Vec<(i32, String)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i32,
        comment: String,
    }
    let stmt = Query::select()
        .columns([Tlog::Id, Tlog::Comment])
        .from(Tlog::Table)
        .order_by(Tlog::Id, sea_query::Order::Desc)
        .to_owned();
    db.fetch_all::<Row>(&stmt).await.expect("comments").into_iter().map(|r| (r.id, r.comment)).collect()
}

/// Every page of a log search, following `skip`.
async fn every_page(app: &TestApp, which: &str, q: &str) -> (i64, Vec<(i32, String)>) {
    let mut found = Vec::new();
    let mut total = 0;
    for skip in (0..).step_by(100) {
        let page = category(app, which, q, &format!("&limit=100&skip={skip}")).await;
        total = page["total"].as_i64().expect("total");
        found.extend(
            items(&page)
                .iter()
                .map(|i| (i["id"].as_i64().expect("id") as i32, i["comment"].as_str().expect("comment").to_owned())),
        );
        if !page["has_more"].as_bool().expect("has_more") {
            break;
        }
    }
    (total, found)
}

async fn log_searches_find_exactly_the_logs_an_independent_count_finds(app: TestApp) {
    let all = comments(&app.db).await;
    // Substrings that start a word (MySQL/MariaDB's full-text index finds those; the other
    // backends any substring), in any case.
    for q in ["howling gale", "HOWLING", "thick clag", "Pillar in good", "sunset."] {
        let expected: Vec<(i32, String)> =
            all.iter().filter(|(_, c)| c.to_lowercase().contains(&q.to_lowercase())).cloned().collect();
        assert!(!expected.is_empty(), "the demo data has {q:?}");
        let (total, found) = every_page(&app, "logs/substring", q).await;
        assert_eq!(total as usize, expected.len(), "{q}");
        assert_eq!(found, expected, "{q}: newest first, each once");
    }
    for pattern in ["(howling|thick) (gale|clag)", "^visited .* at sunset\\.$", "Pillar in (good|poor) order"] {
        let regex = regex::RegexBuilder::new(pattern).case_insensitive(true).build().expect("pattern");
        let expected: Vec<(i32, String)> = all.iter().filter(|(_, c)| regex.is_match(c)).cloned().collect();
        assert!(!expected.is_empty(), "the demo data matches {pattern:?}");
        let (total, found) = every_page(&app, "logs/regex", pattern).await;
        assert_eq!(total as usize, expected.len(), "{pattern}");
        assert_eq!(found, expected, "{pattern}");
    }
    // No log says this.
    assert_eq!(category(&app, "logs/substring", "zebra crossing", "").await["total"], 0);
    assert_eq!(category(&app, "logs/regex", "zebra (crossing|stripes)", "").await["total"], 0);
}

async fn grid_references_and_postcode_areas_land_within_50_m_of_their_published_positions(app: TestApp) {
    // The OS archive publishes each trig's grid reference and its WGS84 position.
    for id in [1, 12, 1234, 5000, 10_000] {
        let trig = app.ok(&format!("/v1/trigs/{id}")).await;
        let gridref = trig["osgb_gridref"].as_str().expect("gridref");
        let published = (
            trig["wgs_lat"].as_str().and_then(|s| s.parse().ok()).expect("lat"),
            trig["wgs_long"].as_str().and_then(|s| s.parse().ok()).expect("lon"),
        );
        let v = app.ok(&format!("/v1/locations/search?q={}", enc(gridref))).await;
        let grid = v.as_array().expect("array").iter().find(|i| i["type"] == "gridref");
        let grid = grid.unwrap_or_else(|| panic!("{gridref}: {v}"));
        let off = metres(at(grid), published);
        assert!(off < 50.0, "trig {id}: {gridref} lands {off:.1} m from its published position");
    }
    // Code-Point Open's sector centroid (the vendored README's spot checks).
    for (sector, published) in [("SK17 6", (53.25710, -1.91866)), ("ZE2 9", (60.31230, -1.22740))] {
        let v = category(&app, "postcodes", sector, "").await;
        let off = metres(at(&items(&v)[0]), published);
        assert!(off < 50.0, "{sector}: {off:.1} m from its published position");
    }
}

/// Loading a postcode file, which needs a database of its own.
mod import {
    use super::*;

    backend_tests!(
        writes: an_import_streams_loads_twice_without_harm_and_reaches_cached_searches,
        log_text_written_outside_the_api_is_searched_at_once,
    );

    /// A gzipped CSV file of `lines`.
    fn gz_file(name: &str, lines: &[String]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("trigapi-{}-{name}", std::process::id()));
        let mut gz =
            flate2::write::GzEncoder::new(std::fs::File::create(&path).expect("file"), flate2::Compression::fast());
        for l in lines {
            writeln!(gz, "{l}").expect("write");
        }
        gz.finish().expect("gzip");
        path
    }

    async fn an_import_streams_loads_twice_without_harm_and_reaches_cached_searches(app: TestApp) {
        let cache = app.cache.clone();
        let url = "/v1/locations/search/postcodes?q=SW1A%201AA";
        app.get(url).await;
        let warm = app.get(url).await;
        assert_eq!(warm.headers["x-cache-status"], "HIT");
        assert_eq!(warm.body["total"], 0);

        // Code-Point Open rows (no header; easting and northing on the National Grid), among
        // 6,000 made-up units and rows that must be skipped.
        let mut lines = vec![
            "\"SW1A 1AA\",10,529090,179645,\"E92000001\",\"E19000003\",\"E18000007\",\"\",\"E09000033\",\"E05013806\""
                .to_owned(),
            "\"AB1 0AA\",90,0,0,\"S92000003\",\"\",\"\",\"\",\"S12000033\",\"S13002843\"".to_owned(),
        ];
        for i in 0..6_000 {
            let letters = [b'A' + (i % 26) as u8, b'A' + ((i / 26) % 26) as u8];
            let code =
                format!("ZZ{} {}{}", 1 + i / 676, (i / 26 / 26) % 10, std::str::from_utf8(&letters).expect("ascii"));
            lines.push(format!("\"{code}\",10,{},{},\"\",\"\",\"\",\"\",\"\",\"\"", 400_000 + i, 300_000 + i));
        }
        let file = gz_file("codepoint.csv.gz", &lines);
        let mut reports = Vec::new();
        let first = gazetteer::import(&app.db, &cache, Dataset::Postcodes, &file, |p| reports.push(p.fraction))
            .await
            .expect("import");
        assert_eq!((first.rows, first.skipped), (6_001, 1));
        assert!(reports.len() >= 3 && reports.windows(2).all(|w| w[0] <= w[1]), "progress: {reports:?}");
        let again = gazetteer::import(&app.db, &cache, Dataset::Postcodes, &file, |_| {}).await.expect("import again");
        assert_eq!(again.rows, 6_001);
        let count = Query::select()
            .expr_as(sea_query::Func::count(sea_query::Expr::col(sea_query::Asterisk)), "n")
            .from(trigapi::db::Postcodes::Table)
            .to_owned();
        assert_eq!(app.db.fetch_count(&count).await.expect("count"), 6_001, "loading twice adds nothing");

        // The cached search saw the import, and the unit lands within 50 m of its published
        // position (the vendored README's spot check).
        let after = app.get(url).await;
        assert_eq!(after.headers["x-cache-status"], "MISS");
        assert_eq!(names(&after.body), ["SW1A 1AA"]);
        let off = metres(at(&items(&after.body)[0]), (51.50101, -0.14159));
        assert!(off < 50.0, "SW1A 1AA lands {off:.1} m from its published position");

        // A file that is neither format is refused, naming what was expected.
        let bad = gz_file("bad.csv.gz", &["hello,world".to_owned()]);
        let e = gazetteer::import(&app.db, &cache, Dataset::Postcodes, &bad, |_| {}).await.expect_err("not postcodes");
        assert!(format!("{e:#}").contains("not a postcodes file"), "{e:#}");
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_file(bad);
    }

    /// SQL that is not this server's edits and deletes a log: the text indexes follow at once
    /// (SQLite's FTS5 table and PostgreSQL's text table through triggers, MySQL's FULLTEXT
    /// index natively). Each search asks something new, so no cached answer stands in.
    async fn log_text_written_outside_the_api_is_searched_at_once(app: TestApp) {
        let (id, _) = comments(&app.db).await.into_iter().nth(3).expect("a log");
        let edit = Query::update()
            .table(Tlog::Table)
            .value(Tlog::Comment, "Quixotic ZEBRA by the pillar")
            .and_where(sea_query::Expr::col(Tlog::Id).eq(id))
            .to_owned();
        assert_eq!(app.db.execute(&edit).await.expect("edit"), 1);
        let found = |v: &Value| items(v).iter().map(|i| i["id"].as_i64().expect("id")).collect::<Vec<_>>();
        assert_eq!(found(&category(&app, "logs/substring", "quixotic zebra", "").await), [i64::from(id)]);
        assert_eq!(found(&category(&app, "logs/regex", "quixotic (zebra|yak)", "").await), [i64::from(id)]);

        let delete =
            Query::delete().from_table(Tlog::Table).and_where(sea_query::Expr::col(Tlog::Id).eq(id)).to_owned();
        assert_eq!(app.db.execute(&delete).await.expect("delete"), 1);
        assert_eq!(category(&app, "logs/substring", "quixotic zebr", "").await["total"], 0);
        assert_eq!(category(&app, "logs/regex", "quixotic (zebra|yak)s?", "").await["total"], 0);
    }
}
