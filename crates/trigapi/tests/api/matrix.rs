//! Read-your-writes, for every write and every cached read, generated from the invalidation
//! table (`trigapi::invalidation`).
//!
//! The writes: log create, edit and delete; photo upload, edit, rotation and delete; a rename,
//! another profile change and a registration.
//!
//! For each write: warm every read of the catalogue (second request a HIT), perform the write,
//! then read again. A read whose entry depends on a tag the write invalidates (its
//! `Surrogate-Key` header meets `invalidation::tags(write)`) must be a MISS; every other read
//! must still be a HIT. Either way the body must equal a fresh computation (`Cache-Control:
//! no-cache`), so a stale entry fails the test whether the table forgot it or not. And an
//! invalidated read whose content did not change must be one whose change depends on the
//! data ([`MAY_STAY_THE_SAME`]): the table may not invalidate what a write can never change.
//!
//! The catalogue must cover every cached endpoint: every GET path of the OpenAPI document that
//! answers with an `X-Cache-Key` must appear in it, so a new cached endpoint cannot be forgotten.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use trigapi::invalidation::{self, Change, LogRow, PhotoRow, RowChange, UserRow};

use crate::backend_tests;
use crate::helpers::{TestApp, TestResponse};
use crate::writes::{send, token};

/// The ids the reads and writes are about: a log `l` with photos `p`, by user `u` on trig `t`,
/// and another trig and user that no write here touches.
struct Ids {
    t: i64,
    u: i64,
    l: i64,
    p: i64,
    t2: i64,
    u2: i64,
}

/// Every cached read: (path template, URI, caller).
fn catalogue(ids: &Ids) -> Vec<(&'static str, String, Option<i64>)> {
    let Ids { t, u, l, p, t2, u2 } = *ids;
    vec![
        ("/v1/stats/site", "/v1/stats/site".into(), None),
        ("/v1/trigs/{trig_id}", format!("/v1/trigs/{t}"), None),
        ("/v1/trigs/{trig_id}", format!("/v1/trigs/{t}?include=stats"), None),
        ("/v1/trigs/{trig_id}", format!("/v1/trigs/{t}?include=details,attrs"), None),
        ("/v1/trigs/{trig_id}", format!("/v1/trigs/{t2}?include=stats"), None),
        ("/v1/trigs", "/v1/trigs?limit=5".into(), None),
        ("/v1/trigs", "/v1/trigs?exclude_found=true&limit=5".into(), Some(u)),
        ("/v1/trigs", "/v1/trigs?exclude_found=true&limit=5".into(), Some(u2)),
        ("/v1/trigs/export", "/v1/trigs/export".into(), None),
        ("/v1/trigs/geojson", "/v1/trigs/geojson".into(), None),
        ("/v1/trigs/{trig_id}/logs", format!("/v1/trigs/{t}/logs"), None),
        ("/v1/trigs/{trig_id}/logs", format!("/v1/trigs/{t2}/logs"), None),
        ("/v1/trigs/{trig_id}/logs", format!("/v1/trigs/{t}/logs?include=photos"), None),
        ("/v1/trigs/{trig_id}/photos", format!("/v1/trigs/{t}/photos"), None),
        ("/v1/trigs/{trig_id}/map", format!("/v1/trigs/{t}/map"), None),
        ("/v1/users", "/v1/users?limit=5".into(), None),
        ("/v1/users", "/v1/users?include=stats&limit=5".into(), None),
        ("/v1/users/{user_id}", format!("/v1/users/{u}"), None),
        ("/v1/users/{user_id}", format!("/v1/users/{u}?include=stats,breakdown"), None),
        ("/v1/users/{user_id}", format!("/v1/users/{u2}?include=stats"), None),
        ("/v1/users/{user_id}/logs", format!("/v1/users/{u}/logs"), None),
        ("/v1/users/{user_id}/logs", format!("/v1/users/{u}/logs?include=photos"), None),
        ("/v1/users/{user_id}/photos", format!("/v1/users/{u}/photos"), None),
        ("/v1/users/{user_id}/photos", format!("/v1/users/{u2}/photos"), None),
        ("/v1/users/{user_id}/map", format!("/v1/users/{u}/map"), None),
        ("/v1/users/{user_id}/map", format!("/v1/users/{u2}/map"), None),
        ("/v1/users/{user_id}/badge", format!("/v1/users/{u}/badge"), None),
        ("/v1/logs", "/v1/logs".into(), None),
        ("/v1/logs", format!("/v1/logs?trig_id={t}"), None),
        ("/v1/logs", "/v1/logs?include=photos&limit=5".into(), None),
        ("/v1/logs/{log_id}", format!("/v1/logs/{l}"), None),
        ("/v1/logs/{log_id}", format!("/v1/logs/{l}?include=photos"), None),
        ("/v1/logs/{log_id}/photos", format!("/v1/logs/{l}/photos"), None),
        ("/v1/photos", "/v1/photos".into(), None),
        ("/v1/photos/{photo_id}", format!("/v1/photos/{p}"), None),
        // Searches chosen to be changed by the writes below: the new log says "New visit",
        // the edit "Edited", the rename makes a "Renamed Walker", the registration a
        // "Newcomer"; the others must stay cached through every write.
        ("/v1/locations/search", "/v1/locations/search?q=newcomer".into(), None),
        ("/v1/locations/search/all", "/v1/locations/search/all?q=renamed".into(), None),
        ("/v1/locations/search/trigpoints", "/v1/locations/search/trigpoints?q=hill".into(), None),
        ("/v1/locations/search/station-numbers", "/v1/locations/search/station-numbers?q=tp".into(), None),
        ("/v1/locations/search/places", "/v1/locations/search/places?q=hill".into(), None),
        ("/v1/locations/search/postcodes", "/v1/locations/search/postcodes?q=SK17".into(), None),
        ("/v1/locations/search/users", "/v1/locations/search/users?q=renamed".into(), None),
        ("/v1/locations/search/users", "/v1/locations/search/users?q=newcomer".into(), None),
        ("/v1/locations/search/logs/substring", "/v1/locations/search/logs/substring?q=visit".into(), None),
        ("/v1/locations/search/logs/substring", "/v1/locations/search/logs/substring?q=edited".into(), None),
        ("/v1/locations/search/logs/regex", "/v1/locations/search/logs/regex?q=new%20visit%7Cedited".into(), None),
    ]
}

/// Reads a write invalidates that may nonetheless come out the same, depending on the data:
/// the page of an `exclude_found` list, of `/users?include=stats` or of a log or photo list may
/// not show the trig or user; a user who had logged the trig before keeps their badge; an edit may keep the trig's
/// stats, the user's map (found stays found) and the site's recent count (a log edited within
/// the last week was already counted).
const MAY_STAY_THE_SAME: &[(&str, &str)] = &[
    ("create", "exclude_found=true"),
    ("create", "/v1/users?include=stats"),
    ("create", "/badge"),
    ("edit", "/v1/stats/site"),
    ("edit", "?include=stats"),
    ("edit", "/map"),
    ("delete", "exclude_found=true"),
    ("delete", "/v1/users?include=stats"),
    // A rename bumps one tag shared by every list naming log and photo authors: a page that
    // does not show the user stays the same.
    ("rename", "/v1/logs"),
    ("rename", "/v1/photos"),
    ("rename", "/v1/users?"),
    ("rename", "/v1/trigs/"),
    // The first page of users with stats may not show the photo's owner.
    ("upload", "/v1/users?include=stats"),
    ("photo-delete", "/v1/users?include=stats"),
    // A new account has the highest id: the first page of users stays the same.
    ("register", "/v1/users?"),
    // Every log write reaches every log search, and a registration or rename every user
    // search: those whose query the log or name does not match stay the same.
    ("create", "/v1/locations/search/all"),
    ("create", "/v1/locations/search/logs/substring?q=edited"),
    ("edit", "/v1/locations/search/all"),
    ("edit", "/v1/locations/search/logs/substring?q=visit"),
    ("delete", "/v1/locations/search/all"),
    ("delete", "/v1/locations/search/logs/substring?q=visit"),
    ("rename", "/v1/locations/search"),
    ("register", "/v1/locations/search/all"),
    ("register", "/v1/locations/search/users?q=renamed"),
];

async fn get(app: &TestApp, uri: &str, caller: Option<i64>, fresh: bool) -> TestResponse {
    let mut req = Request::builder().uri(uri);
    if let Some(u) = caller {
        req = req.header("authorization", format!("Bearer {}", token(u as i32, &["api:write"])));
    }
    if fresh {
        req = req.header("cache-control", "no-cache");
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

fn header<'a>(r: &'a TestResponse, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The body to compare: bytes, except that the export's `generated_at` (the time of the
/// computation) is left out.
fn comparable(r: &TestResponse) -> Vec<u8> {
    match serde_json::from_slice::<Value>(&r.bytes) {
        Ok(Value::Object(mut o)) => {
            o.remove("generated_at");
            serde_json::to_vec(&o).unwrap_or_default()
        }
        _ => r.bytes.to_vec(),
    }
}

async fn ids(app: &TestApp) -> Ids {
    let photo = app.ok("/v1/photos?limit=1").await["items"][0].clone();
    let (p, l, u) = (photo["id"].as_i64(), photo["log_id"].as_i64(), photo["user_id"].as_i64());
    let (Some(p), Some(l), Some(u)) = (p, l, u) else { panic!("a photo: {photo}") };
    let t = app.ok(&format!("/v1/logs/{l}")).await["trig_id"].as_i64().expect("trig");
    let logs = app.ok("/v1/logs?limit=100").await;
    let other = logs["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|x| x["trig_id"].as_i64() != Some(t) && x["user_id"].as_i64() != Some(u))
        .expect("a log by someone else elsewhere");
    Ids { t, u, l, p, t2: other["trig_id"].as_i64().expect("t2"), u2: other["user_id"].as_i64().expect("u2") }
}

/// Every GET of the API that answers with a cache key is in the catalogue.
async fn catalogue_covers_every_cached_endpoint(app: &TestApp, ids: &Ids) {
    let covered: BTreeSet<&str> = catalogue(ids).iter().map(|(template, ..)| *template).collect();
    let doc = app.ok("/v1/openapi.json").await;
    let mut cached = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if item.get("get").is_none() || path.starts_with("/v1/admin") {
            continue;
        }
        let uri = path
            .replace("{trig_id}", &ids.t.to_string())
            .replace("{user_id}", &ids.u.to_string())
            .replace("{log_id}", &ids.l.to_string())
            .replace("{photo_id}", &ids.p.to_string())
            .replace("{waypoint}", "TP0001");
        // The searches need a query to answer at all.
        let uri = if path.contains("/locations/search") { format!("{uri}?q=hill") } else { uri };
        if !header(&app.get(&uri).await, "x-cache-key").is_empty() {
            cached.insert(path.clone());
        }
    }
    let missing: Vec<&String> = cached.iter().filter(|p| !covered.contains(p.as_str())).collect();
    assert!(missing.is_empty(), "cached endpoints the matrix does not read: {missing:?}");
    assert!(cached.len() >= 15, "found only {} cached endpoints: {cached:?}", cached.len());
}

/// Warm every read, run `write`, and check every read against the table.
async fn check(app: &TestApp, ids: &Ids, name: &str, write: RowChange, perform: impl AsyncFnOnce() -> TestResponse) {
    check_changes(app, ids, name, &[write], true, perform).await;
}

/// [`check`] for a write that makes `changes`; `precise`: also check that nothing was
/// invalidated that the write cannot change (the API's writes; writes made in SQL keep the
/// rows the API would recompute, such as a trig's stats, as they were).
async fn check_changes(
    app: &TestApp,
    ids: &Ids,
    name: &str,
    changes: &[RowChange],
    precise: bool,
    perform: impl AsyncFnOnce() -> TestResponse,
) {
    let reads = catalogue(ids);
    let mut before = Vec::new();
    for (_, uri, caller) in &reads {
        get(app, uri, *caller, false).await;
        let warm = get(app, uri, *caller, false).await;
        if warm.status == StatusCode::OK {
            assert_eq!(header(&warm, "x-cache-status"), "HIT", "{name}: warming {uri}");
        }
        before.push(comparable(&warm));
    }
    let streamed = stream_changes(app).await;
    let r = perform().await;
    assert!(r.status.is_success(), "{name}: {} {}", r.status, r.text);
    if let Some(before) = streamed {
        settle(app, before).await;
    }
    let touched: BTreeSet<String> = invalidation::tags(changes).into_iter().collect();
    let mut misses = 0;
    for ((_, uri, caller), before) in reads.iter().zip(&before) {
        let after = get(app, uri, *caller, false).await;
        let fresh = get(app, uri, *caller, true).await;
        let status = header(&after, "x-cache-status");
        assert_eq!(after.status, fresh.status, "{name}: {uri}");
        if fresh.status != StatusCode::OK {
            assert_ne!(status, "HIT", "{name}: {uri} answered from the cache: {}", after.text);
            continue;
        }
        assert!(comparable(&after) == comparable(&fresh), "{name}: {uri} is stale ({status})");
        let keys = header(&fresh, "surrogate-key");
        let expected = if keys.split(' ').any(|k| touched.contains(k)) { "MISS" } else { "HIT" };
        assert_eq!(status, expected, "{name}: {uri} (tags {keys}; the write touches {touched:?})");
        misses += usize::from(status == "MISS");
        if precise && status == "MISS" && *before == comparable(&fresh) {
            let data_dependent = MAY_STAY_THE_SAME.iter().any(|(w, part)| *w == name && uri.contains(part));
            assert!(data_dependent, "{name}: {uri} was invalidated but cannot change (tags {keys})");
        }
    }
    assert!(misses > 0 && misses < reads.len(), "{name}: {misses} of {} reads were invalidated", reads.len());
}

/// With the change stream on, the changes it has applied; `None` when it is off.
async fn stream_changes(app: &TestApp) -> Option<u64> {
    let stats = crate::cache::admin(app, Method::GET, "/v1/admin/cache/stats").await;
    stats.body["change_stream"]["changes"].as_u64()
}

/// Wait until the change stream has applied a write made after it had applied `before`
/// changes: its bumps for the write must not reach more than the table says either.
async fn settle(app: &TestApp, before: u64) {
    let started = std::time::Instant::now();
    loop {
        let stats = crate::cache::admin(app, Method::GET, "/v1/admin/cache/stats").await;
        let stream = &stats.body["change_stream"];
        if stream["changes"].as_u64() > Some(before) && stream["lag_changes"] == 0 {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the stream did not apply the write: {stream}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The ids of log `l`'s photos.
async fn live_photos(app: &TestApp, l: i32) -> Vec<i32> {
    app.ok(&format!("/v1/logs/{l}/photos?limit=100")).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["id"].as_i64().map(|id| id as i32))
        .collect()
}

async fn every_write_invalidates_exactly_what_it_changes(app: TestApp) {
    let ids = ids(&app).await;
    catalogue_covers_every_cached_endpoint(&app, &ids).await;
    let (t, u, l) = (ids.t as i32, ids.u as i32, ids.l as i32);
    let owner = token(u, &["api:write"]);
    let body = json!({"date": "2026-11-25", "time": "09:30", "condition": "G", "comment": "New visit", "score": 8});
    let log = |id, photos: &[i32]| LogRow { id, trig: t, user: u, photos: photos.to_vec() };
    let photo = |id| PhotoRow { id, log: l, owner: Some((t, u)) };
    let user = |name: &str| UserRow { id: u, name: name.to_owned() };
    check(&app, &ids, "create", RowChange::Log(Change::inserted(log(0, &[]))), async || {
        send(&app, Method::POST, &format!("/v1/logs?trig_id={t}"), Some(&owner), &body.to_string()).await
    })
    .await;

    let photos = live_photos(&app, l).await;
    assert!(!photos.is_empty());
    let edit = json!({"date": "2026-11-24", "condition": "D", "comment": "Edited"});
    check(&app, &ids, "edit", RowChange::Log(Change::updated(log(l, &photos), log(l, &photos))), async || {
        send(&app, Method::PATCH, &format!("/v1/logs/{l}"), Some(&owner), &edit.to_string()).await
    })
    .await;

    let p = ids.p as i32;
    let path = format!("/v1/photos/{p}");
    let jpeg = crate::uploads::fixture("landscape.jpg");
    check(&app, &ids, "upload", RowChange::Photo(Change::inserted(photo(0))), async || {
        let form = crate::uploads::form(Some(&jpeg), crate::uploads::FIELDS);
        crate::uploads::upload(&app, l.into(), Some(&owner), form).await
    })
    .await;
    check(&app, &ids, "photo-edit", RowChange::Photo(Change::updated(photo(p), photo(p))), async || {
        send(&app, Method::PATCH, &path, Some(&owner), r#"{"caption": "Edited caption"}"#).await
    })
    .await;
    check(&app, &ids, "rotate", RowChange::Photo(Change::updated(photo(p), photo(p))), async || {
        send(&app, Method::POST, &format!("{path}/rotate"), Some(&owner), "").await
    })
    .await;
    check(&app, &ids, "photo-delete", RowChange::Photo(Change::deleted(photo(p))), async || {
        send(&app, Method::DELETE, &path, Some(&owner), "").await
    })
    .await;

    let photos = live_photos(&app, l).await;
    check(&app, &ids, "delete", RowChange::Log(Change::deleted(log(l, &photos))), async || {
        send(&app, Method::DELETE, &format!("/v1/logs/{l}"), Some(&owner), "").await
    })
    .await;
    check(&app, &ids, "rename", RowChange::User(Change::updated(user("before"), user("Renamed Walker"))), async || {
        send(&app, Method::PATCH, "/v1/users/me", Some(&owner), r#"{"name": "Renamed Walker"}"#).await
    })
    .await;
    let newcomer = json!({"username": "Newcomer", "email": "newcomer@example.org", "auth0_user_id": "auth0|newcomer"});
    let registered = UserRow { id: 0, name: "Newcomer".into() };
    check(&app, &ids, "register", RowChange::User(Change::inserted(registered)), async || {
        crate::writes::webhook(&app, Some(crate::helpers::WEBHOOK_SECRET), &newcomer.to_string()).await
    })
    .await;
    check(&app, &ids, "profile", RowChange::User(Change::updated(user("same"), user("same"))), async || {
        send(&app, Method::PATCH, "/v1/users/me", Some(&owner), r#"{"about": "Pillars only."}"#).await
    })
    .await;
}

backend_tests!(writes: every_write_invalidates_exactly_what_it_changes);

/// The matrix's writes made by another program, in SQL on the file (the `sqlite3` shell), with
/// the change stream on: once the stream has applied each, every read is fresh, and exactly
/// the reads the write's row changes reach were invalidated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_made_in_sql_reaches_exactly_what_it_changes() {
    let config = crate::helpers::writable_config(trigapi::db::Backend::Sqlite, |_| {})
        .await
        .expect("SQLite is always configured");
    writes_in_sql(config, "BEGIN IMMEDIATE").await;
}

/// The same on PostgreSQL, written with `psql` and read back through logical replication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_made_in_psql_reaches_exactly_what_it_changes() {
    let Some(database) = crate::changes::logical_database().await else { return };
    writes_in_sql(crate::helpers::test_config(&database), "BEGIN").await;
}

/// The same on MariaDB, written with the `mariadb` client and read back from the binlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_made_in_mariadb_reaches_exactly_what_it_changes() {
    let Some(database) = crate::changes::binlog_database().await else { return };
    writes_in_sql(crate::helpers::test_config(&database), "BEGIN").await;
}

/// The matrix's writes in SQL on `config`'s database (`begin` opens a transaction there).
async fn writes_in_sql(mut config: trigapi::config::Config, begin: &str) {
    config.auth.jwt_hs256_secret = Some(crate::helpers::TOKEN_SECRET.into());
    config.auth.admin_token = Some(crate::cache::ADMIN.into());
    config.cache.change_stream = trigapi::config::Switch::On;
    let database = config.database.database_url.expose().to_owned();
    let app = TestApp::with_config(config).await;
    // The stream has started (on PostgreSQL, with the bump of a slot made anew).
    crate::changes::started(&app).await;
    let ids = ids(&app).await;
    let (t, u, l, p) = (ids.t as i32, ids.u as i32, ids.l as i32, ids.p as i32);
    let sql = async |statements: String| {
        crate::changes::outside(&database, &statements).await;
        app.get("/health").await
    };
    let log = |id, photos: &[i32]| LogRow { id, trig: t, user: u, photos: photos.to_vec() };
    let photo = |id| PhotoRow { id, log: l, owner: Some((t, u)) };
    let create = format!(
        "INSERT INTO tlog (trig_id, user_id, date, time, \"condition\", comment, score) \
         VALUES ({t}, {u}, '2026-11-25', '09:30:00', 'G', 'New visit', 8)"
    );
    check_changes(&app, &ids, "create", &[RowChange::Log(Change::inserted(log(0, &[])))], false, async || {
        sql(create).await
    })
    .await;
    let photos = live_photos(&app, l).await;
    let edit = format!(r#"UPDATE tlog SET date = '2026-11-24', "condition" = 'D', comment = 'Edited' WHERE id = {l}"#);
    let edited = RowChange::Log(Change::updated(log(l, &photos), log(l, &photos)));
    check_changes(&app, &ids, "edit", &[edited], false, async || sql(edit).await).await;
    let caption = format!("UPDATE tphoto SET name = 'Edited caption' WHERE id = {p}");
    let captioned = RowChange::Photo(Change::updated(photo(p), photo(p)));
    check_changes(&app, &ids, "photo-edit", &[captioned], false, async || sql(caption).await).await;
    let flag = format!("UPDATE tphoto SET deleted_ind = 'Y' WHERE id = {p}");
    let flagged = RowChange::Photo(Change::deleted(photo(p)));
    check_changes(&app, &ids, "photo-delete", &[flagged], false, async || sql(flag).await).await;
    // A log and its photos deleted as the API deletes them: photos flagged, then the log.
    let photos = live_photos(&app, l).await;
    let mut deleted: Vec<RowChange> = photos.iter().map(|p| RowChange::Photo(Change::deleted(photo(*p)))).collect();
    deleted.push(RowChange::Log(Change::deleted(log(l, &[]))));
    let delete = format!(
        "{begin}; UPDATE tphoto SET deleted_ind = 'Y' WHERE tlog_id = {l} AND deleted_ind <> 'Y'; \
         DELETE FROM tlog WHERE id = {l}; COMMIT;"
    );
    check_changes(&app, &ids, "delete", &deleted, false, async || sql(delete).await).await;
    let user = |name: &str| UserRow { id: u, name: name.to_owned() };
    let rename = format!(r#"UPDATE "user" SET name = 'Renamed Walker' WHERE id = {u}"#);
    let renamed = RowChange::User(Change::updated(user("before"), user("Renamed Walker")));
    check_changes(&app, &ids, "rename", &[renamed], false, async || sql(rename).await).await;
    let register = r#"INSERT INTO "user" (name, crt_date, crt_time, email, auth0_user_id)
        VALUES ('Newcomer', '2026-11-25', '09:30:00', 'newcomer@example.org', 'auth0|newcomer')"#;
    let registered = RowChange::User(Change::inserted(UserRow { id: 0, name: "Newcomer".into() }));
    check_changes(&app, &ids, "register", &[registered], false, async || sql(register.to_owned()).await).await;
    let about = format!(r#"UPDATE "user" SET about = 'Pillars only.' WHERE id = {u}"#);
    let profile = RowChange::User(Change::updated(user("same"), user("same")));
    check_changes(&app, &ids, "profile", &[profile], false, async || sql(about).await).await;
}

/// The same writes with the change stream on: the stream reads each write back from the
/// database's own record and bumps tags again, through the same table; it must reach exactly
/// what the write did, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_agrees_with_the_writes() {
    let app = TestApp::writable(trigapi::db::Backend::Sqlite, |c| {
        c.auth.jwt_hs256_secret = Some(crate::helpers::TOKEN_SECRET.into());
        c.auth.webhook_shared_secret = Some(crate::helpers::WEBHOOK_SECRET.into());
        c.auth.admin_token = Some(crate::cache::ADMIN.into());
        c.cache.change_stream = trigapi::config::Switch::On;
    })
    .await
    .expect("SQLite is always configured");
    every_write_invalidates_exactly_what_it_changes(app).await;
}
