//! What a hostile client tried, each answered as the contract says: huge and odd filters,
//! tokens that outlive their user or are not yet valid, redirects off this host, impossible
//! dates, one ETag for three representations, the files of deleted photos, error bodies that
//! are not JSON, forged client addresses and stored values that become an attack.
//!
//! Each test failed before its fix (see docs/RELIABILITY.md, "Hostile input").

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};
use trigapi::db::{Tlog, User};

use crate::backend_tests;
use crate::helpers::{TOKEN_SECRET, TestApp, TestResponse, WEBHOOK_SECRET};
use crate::uploads::{FIELDS, fixture, form, upload};
use crate::writes::{send, token, webhook};

/// Over the shared seeded database.
mod reads {
    use super::*;

    backend_tests!(
        long_and_odd_name_filters_are_422s_or_literal,
        trailing_slash_redirects_stay_on_this_host,
        each_encoding_has_its_own_etag,
        framework_errors_are_json,
        large_maps_are_bounded_and_a_burst_of_them_is_told_to_wait,
    );
}

/// Over a seeded database of their own.
mod writes {
    use super::*;

    backend_tests!(writes:
        a_deleted_users_token_writes_nothing_and_ids_are_not_reused,
        tokens_not_yet_valid_and_admin_tokens_without_a_user_are_refused,
        impossible_dates_and_times_are_422s,
        json_bodies_must_be_json_and_fit,
        deleted_and_replaced_photo_files_are_not_served,
        missing_and_damaged_photo_files_are_not_retryable_errors,
        forwarding_headers_count_only_from_trusted_proxies,
        profile_links_and_names_that_become_attacks_are_refused,
        an_upload_too_large_to_decode_in_memory_is_refused,
    );
}

/// The first 422 item of a response that must be a 422.
fn first_error(r: &TestResponse) -> &Value {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &r.text[..r.text.len().min(500)]);
    &r.body["detail"][0]
}

async fn long_and_odd_name_filters_are_422s_or_literal(app: TestApp) {
    let long = "a".repeat(50_000);
    for list in ["trigs", "users"] {
        // SQLite answered 500 "LIKE or GLOB pattern too complex".
        let r = app.get(&format!("/v1/{list}?name={long}")).await;
        let e = first_error(&r);
        assert_eq!((e["type"].as_str(), &e["loc"]), (Some("string_too_long"), &json!(["query", "name"])));
        assert_eq!(e["ctx"]["max_length"], 200);
        // `%` and `_` are letters here, not wildcards: only names holding them match.
        let all = app.ok(&format!("/v1/{list}?limit=1")).await["pagination"]["total"].clone();
        for (query, literal) in [("%25", "%"), ("_", "_"), ("a%25z", "a%z")] {
            let v = app.ok(&format!("/v1/{list}?name={query}&limit=100")).await;
            assert_ne!(v["pagination"]["total"], all, "/v1/{list}?name={query} matched everything");
            for item in v["items"].as_array().into_iter().flatten() {
                let name = item["name"].as_str().unwrap_or_default().to_lowercase();
                assert!(name.contains(literal), "/v1/{list}?name={query} matched {name:?}");
            }
        }
    }
    // A NUL cut SQLite's pattern short: `%\0zzzz` matched all 24,563 trigs.
    let e = first_error(&app.get("/v1/trigs?name=%00zzzz").await).clone();
    assert_eq!(e["loc"], json!(["query", "name"]));
    let e = first_error(&app.get("/v1/users?name=ab%00").await).clone();
    assert_eq!(e["loc"], json!(["query", "name"]));
    // Ordinary filters still work, and 200 characters is still a filter, not an error.
    let v = app.ok("/v1/trigs?name=hill&limit=1").await;
    assert!(v["pagination"]["total"].as_i64().unwrap_or(0) > 0, "{v}");
    assert_eq!(app.ok(&format!("/v1/trigs?name={}", "b".repeat(200))).await["pagination"]["total"], 0);
}

async fn trailing_slash_redirects_stay_on_this_host(app: TestApp) {
    for (path, want) in [
        ("//evil.example/", "/evil.example"),
        ("///evil.example//", "/evil.example"),
        ("/%5Cevil.example/", "/%5Cevil.example"),
        ("/v1/trigs/?limit=1", "/v1/trigs?limit=1"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{path}");
        assert_eq!(r.headers["location"], want, "{path}");
    }
    // A raw backslash, if the HTTP layer lets one through.
    if let Ok(req) = Request::builder().uri("/\\evil.example/").body(Body::empty()) {
        let r = app.send(req).await;
        let location = r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("/");
        assert!(location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\"), "{location}");
    }
}

async fn each_encoding_has_its_own_etag(app: TestApp) {
    let get = |encoding: &'static str, tag: Option<String>| {
        let mut req = Request::builder().uri("/v1/trigs?limit=50").header("accept-encoding", encoding);
        if let Some(tag) = tag {
            req = req.header("if-none-match", tag);
        }
        app.send(req.body(Body::empty()).expect("request"))
    };
    let mut tags = Vec::new();
    for encoding in ["identity", "gzip", "zstd"] {
        let r = get(encoding, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let sent = r.headers.get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("identity");
        assert_eq!(sent, encoding, "a 50-trig page is compressed");
        let tag = r.headers["etag"].to_str().expect("etag").to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "a strong tag: {tag}");
        tags.push(tag);
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 3, "one strong ETag per representation (RFC 9110 8.8.3): {tags:?}");
    // Any representation's tag validates the others: they are one resource.
    for tag in &tags {
        for encoding in ["identity", "gzip", "zstd"] {
            let r = get(encoding, Some(tag.clone())).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{encoding} with {tag}");
            assert!(r.bytes.is_empty());
        }
        let r = get("gzip", Some(format!("W/{tag}"))).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "weak comparison");
    }
    assert_eq!(get("zstd", Some("\"other\"".into())).await.status, StatusCode::OK);
}

async fn framework_errors_are_json(app: TestApp) {
    // A path segment that is not UTF-8, and a photo file that does not exist: axum and the file
    // server answered these in plain text, or with no body.
    for path in ["/v1/logs/%FF", "/photos/000/P99999.jpg", "/photos/../Cargo.toml"] {
        let r = app.get(path).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert!(r.body["detail"].is_string(), "{path}: {} {:?}", r.text, r.headers.get("content-type"));
    }
}

fn delete_user(id: i64) -> sea_query::DeleteStatement {
    Query::delete().from_table(User::Table).and_where(Expr::col(User::Id).eq(id)).to_owned()
}

async fn register(app: &TestApp, name: &str) -> i64 {
    let body =
        json!({"username": name, "email": format!("{name}@example.org"), "auth0_user_id": format!("auth0|{name}")});
    let r = webhook(app, Some(WEBHOOK_SECRET), &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().expect("id")
}

async fn a_deleted_users_token_writes_nothing_and_ids_are_not_reused(app: TestApp) {
    let walker = register(&app, "Leaver").await;
    let bearer = token(i32::try_from(walker).expect("id"), &["api:write"]);
    let log = json!({"date": "2026-11-20", "time": "10:15", "condition": "G"}).to_string();
    let r = send(&app, Method::POST, "/v1/logs?trig_id=1", Some(&bearer), &log).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Read with the token too, so that the subject is remembered for reads.
    assert_eq!(send(&app, Method::GET, "/v1/users/me", Some(&bearer), "").await.status, StatusCode::OK);

    // The account is removed on the database side (the legacy site, an administrator).
    assert_eq!(app.db.execute(&delete_user(walker)).await.expect("delete"), 1);
    let r = send(&app, Method::POST, "/v1/logs?trig_id=1", Some(&bearer), &log).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a token outliving its user writes nothing: {}", r.text);
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&bearer), r#"{"about": "still here"}"#).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let orphans = Query::select()
        .expr_as(Expr::col(Tlog::Id).count(), "n")
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::UserId).eq(walker))
        .to_owned();
    assert_eq!(app.db.fetch_count(&orphans).await.expect("count"), 1, "only the log written while the user existed");

    // The next account gets a new id: the old one's log must not become its log.
    let next = register(&app, "Newcomer").await;
    assert!(next > walker, "id {walker} was given again ({next})");
    let v = app.ok(&format!("/v1/logs?user_id={next}")).await;
    assert_eq!(v["pagination"]["total"], 0, "the newcomer inherited nothing");
}

/// An HS256 token with `claims` added to a valid subject and expiry.
fn token_with(user: i32, scope: &str, claims: Value) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let mut all = json!({"sub": user.to_string(), "exp": now + 3600, "iat": now, "scope": scope});
    if let (Some(all), Some(more)) = (all.as_object_mut(), claims.as_object()) {
        all.extend(more.clone());
    }
    let key = jsonwebtoken::EncodingKey::from_secret(TOKEN_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &all, &key).expect("encode")
}

async fn tokens_not_yet_valid_and_admin_tokens_without_a_user_are_refused(app: TestApp) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let later = token_with(1, "api:write", json!({"nbf": now + 3600}));
    let r = send(&app, Method::GET, "/v1/users/me", Some(&later), "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "nbf in an hour: {}", r.text);
    let valid = token_with(1, "api:write", json!({"nbf": now - 60}));
    assert_eq!(send(&app, Method::GET, "/v1/users/me", Some(&valid), "").await.status, StatusCode::OK);

    let admin_of_nobody = token(999_999, &["api:admin", "api:write"]);
    let r = send(&app, Method::GET, "/v1/admin/cache/stats", Some(&admin_of_nobody), "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "an admin token must name a user: {}", r.text);
    let r = send(&app, Method::DELETE, "/v1/admin/cache", Some(&admin_of_nobody), "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let admin = token(1, &["api:admin"]);
    assert_eq!(send(&app, Method::GET, "/v1/admin/cache/stats", Some(&admin), "").await.status, StatusCode::OK);
    let plain = token(1, &["api:write"]);
    assert_eq!(send(&app, Method::GET, "/v1/admin/cache/stats", Some(&plain), "").await.status, StatusCode::FORBIDDEN);
}

async fn impossible_dates_and_times_are_422s(app: TestApp) {
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let before = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await["stats"].clone();
    let owner = token(1, &["api:write"]);
    let post = |date: &str, time: &str| {
        let body = json!({"date": date, "time": time, "condition": "G"}).to_string();
        let (app, owner) = (&app, owner.clone());
        async move { send(app, Method::POST, &format!("/v1/logs?trig_id={trig}"), Some(&owner), &body).await }
    };
    for (date, time, field) in [
        ("+10000-01-01", "10:00", "date"),
        ("0000-01-01", "10:00", "date"),
        ("2026-02-30", "10:00", "date"),
        ("2026-11-20", "23:59:60", "time"),
        ("2026-11-20", "24:00", "time"),
        ("2026-11-20T10:15", "10:00", "date"),
    ] {
        let r = post(date, time).await;
        let e = first_error(&r);
        assert_eq!(e["loc"], json!(["body", field]), "{date} {time}: {}", r.text);
    }
    let after = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await["stats"].clone();
    assert_eq!(before, after, "nothing was stored, trigstats unchanged");

    // The forms pydantic accepts are stored to the second.
    // (pydantic cuts a fraction past six digits rather than refusing it.)
    for (time, stored) in [
        ("10:15:00Z", "10:15:00"),
        ("10:15:00.5", "10:15:00"),
        ("10:15:07+01:00", "10:15:07"),
        ("10:15:00.1234567", "10:15:00"),
    ] {
        let r = post("2026-11-20", time).await;
        assert_eq!(r.status, StatusCode::CREATED, "{time}: {}", r.text);
        assert_eq!(r.body["time"], stored, "{time}");
    }
    let id = post("2026-11-20", "09:00").await.body["id"].as_i64().expect("id");
    let r = send(&app, Method::PATCH, &format!("/v1/logs/{id}"), Some(&owner), r#"{"date": "0000-12-31"}"#).await;
    assert_eq!(first_error(&r)["loc"], json!(["body", "date"]));
    let stats = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await["stats"].clone();
    assert!(stats["logged_first"].as_str() <= stats["logged_last"].as_str(), "{stats}");
}

async fn json_bodies_must_be_json_and_fit(app: TestApp) {
    let owner = token(1, &["api:write"]);
    let body = json!({"date": "2026-11-20", "time": "10:15", "condition": "G"}).to_string();
    let with_type = |content_type: Option<&str>, body: String| {
        let mut req = Request::builder().method(Method::POST).uri("/v1/logs?trig_id=1");
        req = req.header("authorization", format!("Bearer {owner}"));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        app.send(req.body(Body::from(body)).expect("request"))
    };
    // A JSON body sent as text is not a JSON body (FastAPI: 422 at ["body"]).
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let r = with_type(Some(ct), body.clone()).await;
        let e = first_error(&r);
        assert_eq!((e["type"].as_str(), &e["loc"]), (Some("model_attributes_type"), &json!(["body"])), "{ct}");
    }
    for ct in [Some("application/json; charset=utf-8"), Some("application/merge-patch+json"), None] {
        assert_eq!(with_type(ct, body.clone()).await.status, StatusCode::CREATED, "{ct:?}");
    }
    // Over the limit: 413 in the contract's shape, not text/plain.
    let huge = json!({"date": "2026-11-20", "time": "10:15", "condition": "G", "comment": "x".repeat(3 << 20)});
    let r = with_type(Some("application/json"), huge.to_string()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body["detail"].is_string(), "{:?}: {}", r.headers.get("content-type"), &r.text[..r.text.len().min(200)]);
}

/// Upload a photo to log `log` as `owner`; its JSON.
async fn uploaded(app: &TestApp, log: i64, owner: &str) -> Value {
    let r = upload(app, log, Some(owner), form(Some(&fixture("landscape.jpg")), FIELDS)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

/// The path under which this server serves a photo URL.
fn served_path(url: &Value) -> String {
    let url = url.as_str().expect("a URL");
    url[url.find("/photos/").expect("served under /photos/")..].to_owned()
}

/// A log of user 1 and a token of theirs.
async fn own_log(app: &TestApp) -> (i64, String) {
    let v = app.ok("/v1/logs?user_id=1&limit=1").await;
    (v["items"][0]["id"].as_i64().expect("a log of user 1"), token(1, &["api:write"]))
}

async fn deleted_and_replaced_photo_files_are_not_served(app: TestApp) {
    let (log, owner) = own_log(&app).await;
    let photo = uploaded(&app, log, &owner).await;
    let id = photo["id"].as_i64().expect("id");
    let (first, first_icon) = (served_path(&photo["photo_url"]), served_path(&photo["icon_url"]));
    assert_eq!(app.get(&first).await.status, StatusCode::OK);

    // A rotation writes new files; the old ones stay in the store but are not served.
    let r = send(&app, Method::POST, &format!("/v1/photos/{id}/rotate"), Some(&owner), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (second, second_icon) = (served_path(&r.body["photo_url"]), served_path(&r.body["icon_url"]));
    assert_ne!(first, second);
    for old in [&first, &first_icon] {
        let r = app.get(old).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{old} was replaced");
        assert_eq!(r.body["detail"], "Not Found");
    }
    assert_eq!(app.get(&second).await.status, StatusCode::OK);

    // A deleted photo's files stay for moderation, unserved.
    let r = send(&app, Method::DELETE, &format!("/v1/photos/{id}"), Some(&owner), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for path in [&second, &second_icon] {
        assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND, "{path} belongs to a deleted photo");
        let key = path.trim_start_matches("/photos/");
        assert!(app.photos_dir.join(key).exists(), "{key} kept for moderation");
    }
    assert!(app.photos_dir.join(first.trim_start_matches("/photos/")).exists());
    // The demo pool's files, shared by live photos, are still served.
    let live = app.ok("/v1/photos?limit=1").await;
    assert_eq!(app.get(&served_path(&live["items"][0]["photo_url"])).await.status, StatusCode::OK);
}

async fn missing_and_damaged_photo_files_are_not_retryable_errors(app: TestApp) {
    let (log, owner) = own_log(&app).await;
    let photo = uploaded(&app, log, &owner).await;
    let (id, key) = (photo["id"].as_i64().expect("id"), served_path(&photo["photo_url"]));
    let file = app.photos_dir.join(key.trim_start_matches("/photos/"));
    let uri = format!("/v1/photos/{id}/rotate");
    let rotate = || send(&app, Method::POST, &uri, Some(&owner), r#"{"angle": 90}"#);

    std::fs::write(&file, b"not a JPEG at all").expect("damage the file");
    let r = rotate().await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a damaged file is not a server bug: {}", r.text);
    assert!(r.body["detail"].is_string());

    std::fs::remove_file(&file).expect("remove the file");
    let r = rotate().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a missing file is not 'storage unavailable': {}", r.text);
    assert_eq!(r.body["detail"], "Photo file not found");
    let r = app.get(&format!("/v1/photos/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "the row is untouched");
}

/// The `ip_addr` stored with log `id`.
async fn stored_ip(app: &TestApp, id: i64, ip: &str) -> bool {
    let q = Query::select()
        .expr_as(Expr::col(Tlog::Id).count(), "n")
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::Id).eq(id))
        .and_where(Expr::col(Tlog::IpAddr).eq(ip))
        .to_owned();
    app.db.fetch_count(&q).await.expect("count") == 1
}

async fn forwarding_headers_count_only_from_trusted_proxies(app: TestApp) {
    let owner = token(1, &["api:write"]);
    let body = json!({"date": "2026-11-20", "time": "10:15", "condition": "G"}).to_string();
    let post = |app: &TestApp, peer: &str, headers: &[(&'static str, &'static str)]| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/v1/logs?trig_id=1")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {owner}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from(body.clone())).expect("request");
        req.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().expect("peer")));
        let app = app.router();
        async move {
            let r = tower::ServiceExt::oneshot(app, req).await.expect("router");
            assert_eq!(r.status(), StatusCode::CREATED);
            let bytes = http_body_util::BodyExt::collect(r.into_body()).await.expect("body").to_bytes();
            serde_json::from_slice::<Value>(&bytes).expect("json")["id"].as_i64().expect("id")
        }
    };
    let forged =
        [("x-forwarded-for", "203.0.113.9"), ("cf-connecting-ip", "203.0.113.9"), ("x-real-ip", "203.0.113.9")];
    // No proxy is trusted by default: the peer is the client, whatever it claims.
    let id = post(&app, "198.51.100.7:4000", &forged).await;
    assert!(stored_ip(&app, id, "198.51.100.7").await, "forged headers were believed");

    let config = crate::helpers::writable_config(app.db.backend(), |c| {
        c.auth.jwt_hs256_secret = Some(TOKEN_SECRET.into());
        c.server.trusted_proxies = "10.0.0.0/8, 192.0.2.1".into();
    })
    .await
    .expect("config");
    let behind = TestApp::with_config(config).await;
    let id = post(&behind, "10.1.2.3:4000", &[("cf-connecting-ip", "203.0.113.9")]).await;
    assert!(stored_ip(&behind, id, "203.0.113.9").await, "a trusted proxy names the client");
    // X-Forwarded-For is read from the right: the client may have written its left end.
    let id = post(&behind, "10.1.2.3:4000", &[("x-forwarded-for", "6.6.6.6, 203.0.113.10, 10.9.9.9")]).await;
    assert!(stored_ip(&behind, id, "203.0.113.10").await, "the hop the trusted proxies saw");
    let id = post(&behind, "198.51.100.8:4000", &[("cf-connecting-ip", "203.0.113.9")]).await;
    assert!(stored_ip(&behind, id, "198.51.100.8").await, "an untrusted peer's headers are ignored");
}

async fn profile_links_and_names_that_become_attacks_are_refused(app: TestApp) {
    let me = token(1, &["api:write"]);
    let patch = |body: Value| {
        let (app, me) = (&app, me.clone());
        async move { send(app, Method::PATCH, "/v1/users/me", Some(&me), &body.to_string()).await }
    };
    for (field, value) in [
        ("homepage", "javascript:alert(document.cookie)"),
        ("homepage", "data:text/html,<script>alert(1)</script>"),
        ("homepage", "//evil.example"),
        ("homepage", "https://exa mple.org"),
        ("name", "Walker\u{200B}"),
        ("name", "Wal\u{202E}ker"),
        ("name", "Walker\u{0}"),
        ("firstname", "Ann\u{7}"),
        ("surname", "Smith\u{FEFF}"),
    ] {
        let r = patch(json!({ field: value })).await;
        assert_eq!(first_error(&r)["loc"], json!(["body", field]), "{field}={value:?}: {}", r.text);
    }
    let r = patch(json!({"homepage": "https://walker.example/trigs?x=1"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(patch(json!({"homepage": ""})).await.status, StatusCode::OK, "an empty homepage clears it");

    // The webhook takes names and addresses as PATCH /users/me does.
    for (field, value) in
        [("username", "a@b"), ("username", " Lead"), ("username", "Zero\u{200D}Width"), ("email", "not-an-address")]
    {
        let mut body = json!({"username": "Fine", "email": "fine@example.org", "auth0_user_id": "auth0|fine"});
        body[field] = json!(value);
        let r = webhook(&app, Some(WEBHOOK_SECRET), &body.to_string()).await;
        assert_eq!(first_error(&r)["loc"], json!(["body", field]), "{field}={value:?}: {}", r.text);
    }
}

/// A GET from the client at `peer`.
async fn get_from(app: &TestApp, peer: &str, uri: &str) -> TestResponse {
    let mut req = Request::builder().uri(uri).body(Body::empty()).expect("request");
    req.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().expect("peer")));
    app.send(req).await
}

/// A PNG's width and height, from its header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "a PNG");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

/// The byte budget of a user map's PNG (`routes::images::MAX_MAP_PNG_BYTES`).
const MAP_PNG_BUDGET: usize = 1200 * 1196 * 4 + (64 << 10);

async fn large_maps_are_bounded_and_a_burst_of_them_is_told_to_wait(app: TestApp) {
    let user = app.ok("/v1/users?limit=1").await["items"][0]["id"].as_i64().expect("a user");
    let every_layer = "notlogged_colour=%23000000&dot_diameter=100";
    // A 4000 px map with every layer took 19.5 s: a map is drawn no taller than its base map.
    let mut keys = Vec::new();
    for (variant, height, drawn) in [("stretched53", 4000, 1196), ("stretched53", 2000, 1196), ("wgs84", 4000, 600)] {
        let uri = format!("/v1/users/{user}/map?{every_layer}&map_variant={variant}&height={height}");
        let r = get_from(&app, "198.51.100.1:1", &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        assert_eq!(png_size(&r.bytes).1, drawn, "{uri}");
        assert!(r.bytes.len() <= MAP_PNG_BUDGET, "{uri}: {} bytes", r.bytes.len());
        keys.push(r.headers["x-cache-key"].clone());
    }
    assert_eq!(keys[0], keys[1], "every height above full size is one cache entry");

    // A burst of distinct maps from one client: it gets its share of the queue, and a 429 with
    // Retry-After for the rest, while another client's badge is drawn.
    let app = &app;
    let burst = (1..=8).map(|alpha| {
        let uri = format!("/v1/users/{user}/map?{every_layer}&height=1196&dot_alpha={alpha}");
        async move { get_from(app, "198.51.100.2:1", &uri).await }
    });
    let badge = async { get_from(app, "198.51.100.3:1", &format!("/v1/users/{user}/badge?scale=2.5")).await };
    let (burst, badge) = tokio::join!(futures_util::future::join_all(burst), badge);
    assert_eq!(badge.status, StatusCode::OK, "another client's badge: {}", badge.text);
    let statuses: Vec<StatusCode> = burst.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count() >= 2,
        "the client's share is drawn: {statuses:?}"
    );
    let refused = burst.iter().find(|r| r.status == StatusCode::TOO_MANY_REQUESTS).expect("a 429 in the burst");
    assert!(refused.headers["retry-after"].to_str().is_ok_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)));
    assert!(refused.body["detail"].is_string(), "{}", refused.text);
    // Once the burst is over, the same request is drawn.
    let r =
        get_from(app, "198.51.100.2:1", &format!("/v1/users/{user}/map?{every_layer}&height=1196&dot_alpha=8")).await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn an_upload_too_large_to_decode_in_memory_is_refused(app: TestApp) {
    let (log, owner) = own_log(&app).await;
    // 8200 x 8200 RGBA: 67 megapixels (under the pixel limit) but 256 MB of pixels.
    let r = upload(&app, log, Some(&owner), form(Some(&fixture("rgba-bomb.png")), FIELDS)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("8200x8200 pixels would take 256 MB to process"), "{detail}");
}
