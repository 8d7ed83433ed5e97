//! Wire fidelity: the differences from the original that running both side by side found,
//! each answered as the original answers it (or, where the README's "Where we differ" says
//! why, as we answer it), on every backend.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestResponse};
use crate::writes::{send, token};

/// Over the shared seeded database.
mod reads {
    use super::*;

    backend_tests!(
        an_empty_include_is_no_include,
        integers_are_read_as_pydantic_reads_them,
        links_keep_what_was_given,
        logs_sort_by_every_column_and_deep_pages_agree,
        float_bounds_answer_as_pydantic,
    );
}

/// Over the seeded database with CORS on, as the web app's deployment runs.
mod http {
    use super::*;

    crate::backend_tests!(@app with_cors;
        http_answers_as_starlette,
        docs_and_redoc_answer_at_once
    );
}

/// Over a seeded database of their own.
mod writes {
    use super::*;

    backend_tests!(writes: body_errors_answer_as_pydantic);
}

/// The web app's origin in [`TestApp::with_cors`].
pub const WEB_ORIGIN: &str = "https://trigpointing.uk";

impl TestApp {
    /// The seeded app allowing [`WEB_ORIGIN`].
    pub async fn with_cors(backend: Backend) -> Option<Self> {
        Self::configured(backend, |c| c.server.backend_cors_origins = format!("[\"{WEB_ORIGIN}/\"]")).await
    }
}

fn detail(r: &TestResponse) -> &Value {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &r.text[..r.text.len().min(500)]);
    &r.body["detail"][0]
}

async fn first_id(app: &TestApp, list: &str) -> i64 {
    app.ok(&format!("/v1/{list}?limit=1")).await["items"][0]["id"].as_i64().expect("an id")
}

async fn an_empty_include_is_no_include(app: TestApp) {
    let (trig, user, log) =
        (first_id(&app, "trigs").await, first_id(&app, "users").await, first_id(&app, "logs").await);
    // trigapi answered 400 `Invalid include parameter(s): .` on the users endpoints.
    for path in [
        format!("/v1/users/{user}"),
        "/v1/users".to_owned(),
        format!("/v1/users/{user}/logs"),
        format!("/v1/trigs/{trig}"),
        format!("/v1/trigs/{trig}/logs"),
        "/v1/logs".to_owned(),
        format!("/v1/logs/{log}"),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let with = app.get(&format!("{path}{sep}include=")).await;
        assert_eq!(with.status, StatusCode::OK, "{path}?include=: {}", with.text);
        assert_eq!(with.body, app.ok(&path).await, "{path}?include= is {path}");
    }
    // An empty token in a list that is not empty is still the original's 400 on users.
    let r = app.get(&format!("/v1/users/{user}?include=stats,")).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invalid include parameter(s): . Valid options: breakdown, stats"))
    );
}

async fn integers_are_read_as_pydantic_reads_them(app: TestApp) {
    // Exponents are not integers (trigapi read them as floats).
    for (path, loc) in [
        ("/v1/trigs/1e0", json!(["path", "trig_id"])),
        ("/v1/logs?skip=1e3", json!(["query", "skip"])),
        ("/v1/logs?limit=1e1", json!(["query", "limit"])),
    ] {
        let e = detail(&app.get(path).await).clone();
        assert_eq!((&e["type"], &e["loc"]), (&json!("int_parsing"), &loc), "{path}");
        assert_eq!(e["msg"], "Input should be a valid integer, unable to parse string as an integer");
    }
    // Underscores between digits, as Python writes them.
    let v = app.ok("/v1/logs?limit=1_0").await;
    assert_eq!((v["pagination"]["limit"].as_i64(), v["items"].as_array().map(Vec::len)), (Some(10), Some(10)));
    // Ids beyond 64 bits are ids no row has (trigapi answered 422).
    let r = app.get("/v1/trigs/9223372036854775808").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Trigpoint not found")));
    let r = app.get("/v1/users/99999999999999999999999").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("User not found")));
    let v = app.ok("/v1/logs?trig_id=9223372036854775808").await;
    assert_eq!((v["pagination"]["total"].as_i64(), v["items"].as_array().map(Vec::len)), (Some(0), Some(0)));
    // An offset beyond 64 bits cannot be a database's: a 422 naming the bound.
    let e = detail(&app.get("/v1/logs?skip=99999999999999999999").await).clone();
    assert_eq!((e["type"].as_str(), e["ctx"]["le"].as_i64()), (Some("less_than_equal"), Some(i64::MAX)));
}

async fn links_keep_what_was_given(app: TestApp) {
    // A lone `lat` takes no effect, but the original's links keep it (trigapi dropped it).
    let v = app.ok("/v1/trigs?lat=52&limit=3").await;
    assert_eq!(v["links"]["self"], "/v1/trigs?lat=52.0&limit=3&skip=0");
    assert_eq!(v["links"]["next"], "/v1/trigs?lat=52.0&limit=3&skip=3");
    let v = app.ok("/v1/trigs?lon=-4&max_km=5&limit=3").await;
    assert_eq!(v["links"]["self"], "/v1/trigs?lon=-4.0&max_km=5.0&limit=3&skip=0");
    // A blank name is a name to Python (trigapi dropped it); it filters nothing. (Our links
    // are URL-encoded: the contract's fix.)
    let v = app.ok("/v1/users?name=%20").await;
    assert_eq!(v["links"]["self"], "/v1/users?name=+&limit=10&skip=0");
    assert_eq!(v["pagination"]["total"], app.ok("/v1/users").await["pagination"]["total"]);
}

async fn logs_sort_by_every_column_and_deep_pages_agree(app: TestApp) {
    // Real `tlog` columns the original sorts by (trigapi answered 400).
    for order in ["ip_addr", "-upd_timestamp", "upd_timestamp,-id"] {
        let r = app.get(&format!("/v1/logs?order={order}&limit=5")).await;
        assert_eq!(r.status, StatusCode::OK, "order={order}: {}", r.text);
    }
    // `order=,` names no column: the default order (documented in the README).
    assert_eq!(app.ok("/v1/logs?order=,").await["items"], app.ok("/v1/logs").await["items"]);
    // Pages cut by ids first join the same rows a plain page would: every order, any offset.
    let total = app.ok("/v1/logs?limit=1").await["pagination"]["total"].as_i64().expect("total");
    for order in ["", "&order=comment,id", "&order=-date,time", "&order=id", "&order=-score,trig_id"] {
        let wide = app.ok(&format!("/v1/logs?limit=30&skip=10{order}&include=photos")).await;
        for skip in [10, 17, 25] {
            let narrow = app.ok(&format!("/v1/logs?limit=5&skip={skip}{order}&include=photos")).await;
            let start = (skip - 10) as usize;
            let want: Vec<&Value> = wide["items"].as_array().expect("items").iter().skip(start).take(5).collect();
            let got: Vec<&Value> = narrow["items"].as_array().expect("items").iter().collect();
            assert_eq!(got, want, "order {order}, skip {skip}");
        }
        let last = app.ok(&format!("/v1/logs?limit=3&skip={}{order}", total - 2)).await;
        assert_eq!(last["items"].as_array().map(Vec::len), Some(2), "the last page, order {order}");
    }
    let photos = app.ok("/v1/photos?limit=1").await["pagination"]["total"].as_i64().expect("total");
    let wide = app.ok("/v1/photos?limit=20&skip=5").await;
    let narrow = app.ok("/v1/photos?limit=5&skip=12").await;
    assert_eq!(narrow["items"].as_array().map(|v| v[..].to_vec()), wide["items"].as_array().map(|v| v[7..12].to_vec()));
    let last = app.ok(&format!("/v1/photos?limit=5&skip={}", photos - 1)).await;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(1));
}

async fn float_bounds_answer_as_pydantic(app: TestApp) {
    // NaN fails `ge=0` in Python (trigapi answered `float_parsing`); the bound is a float.
    for max_km in ["nan", "-1", "-0.5"] {
        let e = detail(&app.get(&format!("/v1/trigs?lat=52&lon=-1&max_km={max_km}")).await).clone();
        assert_eq!(e["type"], "greater_than_equal", "max_km={max_km}");
        assert_eq!(e["msg"], "Input should be greater than or equal to 0");
        assert_eq!(e["ctx"].to_string(), r#"{"ge":0.0}"#, "max_km={max_km}");
        assert_eq!(e["input"], max_km);
    }
    // Underscores, as pydantic reads floats.
    assert_eq!(app.ok("/v1/trigs?lat=5_2.5&limit=1").await["links"]["self"], "/v1/trigs?lat=52.5&limit=1&skip=0");
    // Without a bound to fail, a non-finite value is still refused (documented).
    let e = detail(&app.get("/v1/trigs?lat=inf&lon=0").await).clone();
    assert_eq!((e["type"].as_str(), &e["loc"]), (Some("finite_number"), &json!(["query", "lat"])));
}

async fn http_answers_as_starlette(app: TestApp) {
    let call = |method: Method, uri: &str, headers: &[(&str, &str)]| {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        app.send(req.body(Body::empty()).expect("request"))
    };
    // OPTIONS that is not a preflight reaches routes that do not take it (tower-http's layer
    // answered every OPTIONS as a preflight, 200).
    for headers in [&[][..], &[("origin", WEB_ORIGIN)][..], &[("access-control-request-method", "GET")][..]] {
        let r = call(Method::OPTIONS, "/v1/trigs", headers).await;
        assert_eq!((r.status, &r.body), (StatusCode::METHOD_NOT_ALLOWED, &json!({"detail": "Method Not Allowed"})));
    }
    // A preflight from an origin not allowed is Starlette's plain-text 400 (was 200).
    let r = call(
        Method::OPTIONS,
        "/v1/trigs",
        &[("origin", "https://elsewhere.example"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::BAD_REQUEST, "Disallowed CORS origin"));
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // An allowed one gets the original's methods.
    let r = call(
        Method::OPTIONS,
        "/v1/logs/1",
        &[
            ("origin", WEB_ORIGIN),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "authorization,content-type"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["access-control-allow-origin"], WEB_ORIGIN);
    let methods = r.headers["access-control-allow-methods"].to_str().unwrap_or_default().replace(' ', "");
    assert_eq!(methods, "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT");
    assert_eq!(r.headers["access-control-allow-headers"], "authorization,content-type");
    assert_eq!(r.headers["access-control-max-age"], "600");
    // HEAD is served as GET without a body (RFC 9110 requires it; the original's 405 is
    // listed under "Where we differ").
    let r = call(Method::HEAD, "/v1/stats/site", &[]).await;
    assert_eq!((r.status, r.bytes.len()), (StatusCode::OK, 0));
    // The trailing-slash redirect is absolute, to the host the client named (was a path).
    let r = call(Method::GET, "/v1/trigs/?limit=1", &[("host", "api.trigpointing.uk")]).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers["location"], "http://api.trigpointing.uk/v1/trigs?limit=1");
    // `X-Forwarded-Proto` counts only from a trusted proxy (none here); a host that is not
    // an authority is not copied into the target.
    let r = call(Method::GET, "/v1/trigs/", &[("host", "api.example:8080"), ("x-forwarded-proto", "https")]).await;
    assert_eq!(r.headers["location"], "http://api.example:8080/v1/trigs");
    let r = call(Method::GET, "/v1/trigs/", &[("host", "evil.example/x")]).await;
    assert_eq!(r.headers["location"], "/v1/trigs");
}

async fn docs_and_redoc_answer_at_once(app: TestApp) {
    // `/docs` answered 303 to `/docs/`; `/redoc` did not exist.
    let r = app.get("/docs").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("SwaggerUIBundle") && r.text.contains("/v1/openapi.json"), "{}", r.text);
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        assert_eq!(app.get(asset).await.status, StatusCode::OK, "{asset}");
    }
    let r = app.get("/redoc").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("Redoc.init") && r.text.contains("/redoc/redoc.standalone.js"), "{}", &r.text[..300]);
    assert!(r.text.contains("\"/v1/trigs\""), "the document is inlined");
    assert!(!r.text.contains("cdn."), "no asset comes from a CDN");
    let r = app.get("/redoc/redoc.standalone.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.len() > 500_000, "the bundle is served whole");
}

async fn body_errors_answer_as_pydantic(app: TestApp) {
    let trig = first_id(&app, "trigs").await;
    let uri = format!("/v1/logs?trig_id={trig}");
    let alice = token(1, &["api:write"]);
    let post = |body: String| {
        let (uri, alice) = (uri.clone(), alice.clone());
        let app = &app;
        async move { send(app, Method::POST, &uri, Some(&alice), &body).await }
    };
    let good = json!({"date": "2026-11-20", "time": "10:15", "condition": "G"});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b.to_string()
    };
    // A string that is not a number (trigapi said `int_type`).
    let e = detail(&post(with("score", json!("abc"))).await).clone();
    assert_eq!((e["type"].as_str(), &e["loc"]), (Some("int_parsing"), &json!(["body", "score"])));
    assert_eq!(e["msg"], "Input should be a valid integer, unable to parse string as an integer");
    let e = detail(&post(with("score", json!(2.5))).await).clone();
    assert_eq!(e["type"], "int_from_float");
    // An impossible date says why, in pydantic's words (trigapi gave one message for all).
    let e = detail(&post(with("date", json!("2020-13-45"))).await).clone();
    assert_eq!(e["type"], "date_from_datetime_parsing");
    assert_eq!(e["msg"], "Input should be a valid date or datetime, month value is outside expected range of 1-12");
    assert_eq!(e["ctx"], json!({"error": "month value is outside expected range of 1-12"}));
    let e = detail(&post(with("time", json!("25:00"))).await).clone();
    assert_eq!(e["msg"], "Input should be in a valid time format, hour value is outside expected range of 0-23");
    // Text that is not JSON: where Python's decoder stopped, and what it said (trigapi gave
    // no position and serde's message).
    for (body, at, error) in [
        ("not json", 0, "Expecting value"),
        ("{not json", 1, "Expecting property name enclosed in double quotes"),
        ("{\"date\" \"x\"}", 8, "Expecting ':' delimiter"),
        ("{} x", 3, "Extra data"),
        ("{\"a\": ", 6, "Expecting value"),
    ] {
        let e = detail(&post(body.to_owned()).await).clone();
        assert_eq!(e["type"], "json_invalid", "{body}");
        assert_eq!(e["loc"], json!(["body", at]), "{body}");
        assert_eq!((e["msg"].as_str(), &e["ctx"]["error"]), (Some("JSON decode error"), &json!(error)), "{body}");
    }
    // No body is a missing body; bytes that are not UTF-8 are FastAPI's 400.
    let e = detail(&post(String::new()).await).clone();
    assert_eq!((e["type"].as_str(), &e["loc"]), (Some("missing"), &json!(["body"])));
    let req = Request::builder()
        .method(Method::POST)
        .uri(&uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {alice}"))
        .body(Body::from(vec![b'{', 0xff, b'}']))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("There was an error parsing the body"))
    );
    // Without a token a write is refused before its body is read (documented order).
    let r = send(&app, Method::POST, &uri, None, "{not json").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("Not authenticated")));
    // What pydantic accepts is accepted: a score written with an underscore, a datetime at midnight.
    let mut body = good.clone();
    body["score"] = json!("1_0");
    body["date"] = json!("2026-11-20T00:00:00");
    let r = post(body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["score"].as_i64(), r.body["date"].as_str()), (Some(10), Some("2026-11-20")));
}
