//! Log writes through the API, with HS256 tokens: create, edit, delete; ownership and scopes;
//! every kind of bad input answered with the contract's 4xx and nothing written; `trigstats`
//! kept true in the same transaction.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TOKEN_SECRET, TestApp, TestResponse, WEBHOOK_SECRET, null_field};

pub fn token(user: i32, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    trigapi::auth::mint(TOKEN_SECRET, user, &scopes, Duration::from_secs(3600)).expect("mint")
}

pub async fn send(app: &TestApp, method: Method, uri: &str, bearer: Option<&str>, body: &str) -> TestResponse {
    let mut req = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body.to_owned())).expect("request")).await
}

async fn logged_count(app: &TestApp, trig: i64) -> i64 {
    let t = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await;
    t["stats"]["logged_count"].as_i64().unwrap_or(0)
}

async fn total_logs(app: &TestApp) -> i64 {
    app.ok("/v1/stats/site").await["total_logs"].as_i64().expect("total_logs")
}

async fn logs_can_be_created_edited_and_deleted(app: TestApp) {
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let (before, total_before) = (logged_count(&app, trig).await, total_logs(&app).await);
    let alice = token(1, &["api:write"]);
    let body = json!({"date": "2026-11-20", "time": "10:15", "condition": "g", "comment": "Fine day", "score": 7});
    let r = send(&app, Method::POST, &format!("/v1/logs?trig_id={trig}"), Some(&alice), &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().expect("id");
    assert_eq!(r.body["user_id"], 1);
    assert_eq!(r.body["trig_id"], trig);
    assert_eq!((r.body["condition"].as_str(), r.body["time"].as_str()), (Some("G"), Some("10:15:00")));
    assert_eq!((r.body["fb_number"].as_str(), r.body["source"].as_str()), (Some(""), Some("W")));
    assert!(null_field(&r.body, "trig_name") && null_field(&r.body, "user_name"), "names are null, as the original");
    assert_eq!(app.ok(&format!("/v1/logs/{id}")).await["comment"], "Fine day");
    assert_eq!(logged_count(&app, trig).await, before + 1, "trigstats refreshed with the write");
    assert_eq!(total_logs(&app).await, total_before + 1);

    // Edit: fields left out or null keep their values.
    let r =
        send(&app, Method::PATCH, &format!("/v1/logs/{id}"), Some(&alice), r#"{"comment": "Windy", "score": null}"#)
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["comment"].as_str(), r.body["score"].as_i64()), (Some("Windy"), Some(7)));
    assert_eq!(app.ok(&format!("/v1/logs/{id}")).await["comment"], "Windy");

    // Someone else's log: 403 unless they hold api:admin.
    let bob = token(2, &["api:write"]);
    let r = send(&app, Method::PATCH, &format!("/v1/logs/{id}"), Some(&bob), r#"{"comment": "mine now"}"#).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:admin"))
    );
    let r = send(&app, Method::DELETE, &format!("/v1/logs/{id}"), Some(&bob), "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let admin = token(2, &["api:write", "api:admin"]);
    let r = send(&app, Method::PATCH, &format!("/v1/logs/{id}"), Some(&admin), r#"{"condition": "D"}"#).await;
    assert_eq!((r.status, r.body["condition"].as_str()), (StatusCode::OK, Some("D")), "{}", r.text);

    let r = send(&app, Method::DELETE, &format!("/v1/logs/{id}"), Some(&alice), "").await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(app.get(&format!("/v1/logs/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(logged_count(&app, trig).await, before);
    assert_eq!(total_logs(&app).await, total_before);
}

async fn deleting_a_log_deletes_its_photos(app: TestApp) {
    let photo = app.ok("/v1/photos?limit=1").await["items"][0].clone();
    let (photo_id, log_id, owner) = (photo["id"].as_i64(), photo["log_id"].as_i64(), photo["user_id"].as_i64());
    let (Some(photo_id), Some(log_id), Some(owner)) = (photo_id, log_id, owner) else { panic!("a photo: {photo}") };
    let trig = app.ok(&format!("/v1/logs/{log_id}")).await["trig_id"].as_i64().expect("trig");
    let photos_before = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await["stats"]["photo_count"].as_i64();
    let r =
        send(&app, Method::DELETE, &format!("/v1/logs/{log_id}"), Some(&token(owner as i32, &["api:write"])), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.get(&format!("/v1/photos/{photo_id}")).await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Photo not found")));
    let photos_after = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await["stats"]["photo_count"].as_i64();
    assert!(photos_after < photos_before, "photo_count {photos_before:?} → {photos_after:?}");
}

async fn bad_writes_are_4xx_and_write_nothing(app: TestApp) {
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let total = total_logs(&app).await;
    let alice = token(1, &["api:write"]);
    let uri = format!("/v1/logs?trig_id={trig}");
    let good = json!({"date": "2026-11-20", "time": "10:15", "condition": "G"});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b.to_string()
    };
    for (body, field, kind) in [
        (json!({"time": "10:15", "condition": "G"}).to_string(), "date", "missing"),
        (with("date", json!("20/11/2026")), "date", "date_from_datetime_parsing"),
        (with("time", json!("25:00")), "time", "time_parsing"),
        (with("condition", json!("GG")), "condition", "string_too_long"),
        (with("condition", json!("")), "condition", "string_too_short"),
        (with("condition", json!("W")), "condition", "value_error"),
        (with("score", json!(11)), "score", "less_than_equal"),
        (with("score", json!("high")), "score", "int_parsing"),
        (with("osgb_gridref", json!("SK 12345 67890 EXTRA")), "osgb_gridref", "string_too_long"),
        (with("comment", json!(5)), "comment", "string_type"),
    ] {
        let r = send(&app, Method::POST, &uri, Some(&alice), &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(r.body["detail"][0]["type"], kind, "{body}");
    }
    let r = send(&app, Method::POST, &uri, Some(&alice), "{not json").await;
    assert_eq!(
        (r.status, r.body["detail"][0]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("json_invalid"))
    );
    let r = send(&app, Method::POST, &uri, Some(&alice), "[1, 2]").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = send(&app, Method::POST, "/v1/logs", Some(&alice), &good.to_string()).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["query", "trig_id"]), "{}", r.text);
    let r = send(&app, Method::POST, "/v1/logs?trig_id=99999999", Some(&alice), &good.to_string()).await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Trigpoint not found")));

    // Authentication and scopes.
    let r = send(&app, Method::POST, &uri, None, &good.to_string()).await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("Not authenticated")));
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = send(&app, Method::POST, &uri, Some("not.a.token"), &good.to_string()).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Could not validate credentials"))
    );
    let r = send(&app, Method::POST, &uri, Some(&token(99_999_999, &["api:write"])), &good.to_string()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a token for no user");
    let r = send(&app, Method::POST, &uri, Some(&token(1, &[])), &good.to_string()).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:write"))
    );

    for method in [Method::PATCH, Method::DELETE] {
        let r = send(&app, method.clone(), "/v1/logs/99999999", Some(&alice), "{}").await;
        assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Log not found")), "{method}");
    }
    assert_eq!(total_logs(&app).await, total, "nothing was written");
}

async fn profile_can_be_read_and_changed(app: TestApp) {
    let r = app.get("/v1/users/me").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("Not authenticated")));
    let alice = token(1, &["api:write"]);
    let me = |query: &'static str, t: String| {
        let app = &app;
        async move { send(app, Method::GET, &format!("/v1/users/me{query}"), Some(&t), "").await }
    };
    let r = me("", alice.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["id"].as_i64(), r.body["roles"].clone()), (Some(1), json!([])));
    assert!(null_field(&r.body, "prefs") && null_field(&r.body, "stats"));
    let r = me("?include=prefs,stats,breakdown", alice.clone()).await;
    assert!(r.body["prefs"]["email"].is_string() && r.body["stats"]["total_logs"].is_i64(), "{}", r.text);
    assert!(r.body["breakdown"]["by_condition"].is_object());
    let other_name = app.ok("/v1/users/2").await["name"].as_str().expect("name").to_owned();

    let r =
        send(&app, Method::PATCH, "/v1/users/me", Some(&alice), r#"{"name": "Alice Walker", "about": "Hills."}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["name"].as_str(), r.body["about"].as_str()), (Some("Alice Walker"), Some("Hills.")));
    assert!(r.body["prefs"].is_object() && null_field(&r.body, "roles"));
    assert_eq!(app.ok("/v1/users/1").await["name"], "Alice Walker");
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&alice), &json!({"name": other_name}).to_string()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["detail"], format!("Username '{other_name}' is already taken"));
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&alice), r#"{"email": "alice@example.org"}"#).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:read-pii for email updates"))
    );
    let pii = token(1, &["api:write", "api:read-pii"]);
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&pii), r#"{"email": "alice@example.org"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["prefs"]["email"].as_str(), r.body["prefs"]["email_valid"].as_str()),
        (Some("alice@example.org"), Some("N"))
    );
    let bob = token(2, &["api:write", "api:read-pii"]);
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&bob), r#"{"email": "ALICE@example.org"}"#).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::CONFLICT, Some("Email 'ALICE@example.org' is already in use"))
    );
    for (body, field) in [
        (r#"{"name": "a@b"}"#, "name"),
        (r#"{"name": " lead"}"#, "name"),
        (r#"{"name": ""}"#, "name"),
        (r#"{"email": "not-an-address"}"#, "email"),
        (r#"{"distance_ind": "X"}"#, "distance_ind"),
        (r#"{"status_max": "lots"}"#, "status_max"),
    ] {
        let r = send(&app, Method::PATCH, "/v1/users/me", Some(&pii), body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", field]), "{body}");
    }
    let r = send(&app, Method::PATCH, "/v1/users/me", Some(&alice), "{}").await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (StatusCode::OK, Some("Alice Walker")),
        "an empty body changes nothing"
    );
}

pub async fn webhook(app: &TestApp, secret: Option<&str>, body: &str) -> TestResponse {
    let mut req = Request::builder().method(Method::POST).uri("/v1/users").header("content-type", "application/json");
    if let Some(s) = secret {
        req = req.header("x-webhook-secret", s);
    }
    app.send(req.body(Body::from(body.to_owned())).expect("request")).await
}

async fn the_webhook_registers_accounts(app: TestApp) {
    let users = app.ok("/v1/stats/site").await["total_users"].as_i64().expect("total_users");
    let body = json!({"username": "NewWalker", "email": "new@example.org", "auth0_user_id": "auth0|new"}).to_string();
    let r = webhook(&app, None, &body).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Invalid webhook shared secret"))
    );
    assert_eq!(r.headers["www-authenticate"], "X-Webhook-Secret");
    assert_eq!(webhook(&app, Some("wrong"), &body).await.status, StatusCode::UNAUTHORIZED);
    let r = webhook(&app, Some(WEBHOOK_SECRET), &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().expect("id");
    assert_eq!(
        r.body,
        json!({"id": id, "name": "NewWalker", "email": "new@example.org", "auth0_user_id": "auth0|new"})
    );
    assert_eq!(app.ok(&format!("/v1/users/{id}")).await["name"], "NewWalker");
    assert_eq!(app.ok("/v1/stats/site").await["total_users"].as_i64(), Some(users + 1));
    for (body, detail) in [
        (
            json!({"username": "newwalker", "email": "x@example.org", "auth0_user_id": "auth0|x"}),
            "Username 'newwalker' already exists",
        ),
        (
            json!({"username": "Other", "email": "NEW@example.org", "auth0_user_id": "auth0|x"}),
            "Email 'NEW@example.org' already exists",
        ),
        (
            json!({"username": "Other", "email": "x@example.org", "auth0_user_id": "auth0|new"}),
            "Auth0 user ID 'auth0|new' already exists",
        ),
    ] {
        let r = webhook(&app, Some(WEBHOOK_SECRET), &body.to_string()).await;
        assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::CONFLICT, Some(detail)));
    }
    let r = webhook(&app, Some(WEBHOOK_SECRET), r#"{"username": "", "email": "y@example.org"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let kinds: Vec<&str> =
        r.body["detail"].as_array().expect("items").iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(kinds, ["missing", "string_too_short"]);
    assert_eq!(app.ok("/v1/stats/site").await["total_users"].as_i64(), Some(users + 1), "refused calls wrote nothing");
}

backend_tests!(
    writes:
    the_webhook_registers_accounts,
    profile_can_be_read_and_changed,
    logs_can_be_created_edited_and_deleted,
    deleting_a_log_deletes_its_photos,
    bad_writes_are_4xx_and_write_nothing,
);

#[tokio::test]
async fn the_webhook_is_refused_when_no_secret_is_configured() {
    let Some(app) = TestApp::new(crate::helpers::Backend::Sqlite).await else { return };
    let body = json!({"username": "Nobody", "email": "n@example.org", "auth0_user_id": "auth0|n"}).to_string();
    let r = webhook(&app, Some(""), &body).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("Webhook authentication not configured"))
    );
}
