//! RS256 tokens against a JWKS the test serves (the production mode), on every backend: valid
//! tokens, scopes from `scope` and `permissions`, expired, wrong audience and issuer, `alg:
//! none`, HS/RS confusion, unknown key ids and subjects, ownership, and key rotation with the
//! rate-limited refetch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestResponse};
use crate::writes::send;

const ISSUER: &str = "https://auth.test/";
const AUDIENCE: &str = "https://api.test/";
const KEY1: &str = include_str!("../fixtures/rsa1.pem");
const KEY2: &str = include_str!("../fixtures/rsa2.pem");
const PUBLIC1: &str = include_str!("../fixtures/rsa1.pub.pem");
const JWKS1: &str = include_str!("../fixtures/jwks1.json");
const JWKS2: &str = include_str!("../fixtures/jwks2.json");

/// A JWKS endpoint whose document the test can swap, counting the fetches, and that can be
/// made slow.
struct Issuer {
    url: String,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(document: &str) -> Self {
        let doc = Arc::new(Mutex::new(document.to_owned()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let (d, f, slow) = (Arc::clone(&doc), Arc::clone(&fetches), Arc::clone(&delay_ms));
        let app = Router::new().route(
            "/.well-known/jwks.json",
            get(move || async move {
                f.fetch_add(1, Ordering::SeqCst);
                let delay = slow.load(Ordering::SeqCst) as u64;
                tokio::time::sleep(Duration::from_millis(delay)).await;
                d.lock().map(|d| d.clone()).unwrap_or_default()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url: format!("http://{addr}/.well-known/jwks.json"), document: doc, fetches, delay_ms }
    }

    fn publish(&self, document: &str) {
        *self.document.lock().expect("lock") = document.to_owned();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "permissions": ["api:write"]})
}

fn rs256(kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key")).expect("sign")
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

async fn post_log(app: &TestApp, trig: i64, token: &str) -> TestResponse {
    let body = json!({"date": "2026-11-20", "time": "10:00", "condition": "G"}).to_string();
    send(app, Method::POST, &format!("/v1/logs?trig_id={trig}"), Some(token), &body).await
}

fn assert_refused(r: &TestResponse, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text);
    assert_eq!(r.body["detail"], "Could not validate credentials", "{what}");
    assert_eq!(r.headers["www-authenticate"], "Bearer", "{what}");
}

async fn rs256_tokens(backend: Backend) {
    // Its assertions count fetches within a one-second refetch interval: on two cores a burst
    // of image processing beside it stretched six requests past the second.
    let _turn = crate::helpers::timing_sensitive().await;
    let issuer = Issuer::start(JWKS1).await;
    let Some(app) = TestApp::writable(backend, |c| {
        c.auth.jwt_jwks_url = Some(issuer.url.clone());
        c.auth.jwt_issuer = Some(ISSUER.into());
        c.auth.jwt_audience = Some(AUDIENCE.into());
        c.auth.jwt_jwks_refetch_secs = 1;
        c.auth.jwt_hs256_secret = Some("also-set-but-unused-in-rs256-mode".into());
    })
    .await
    else {
        return;
    };
    let user_table = match backend {
        Backend::Postgres => "\"user\"",
        Backend::MySql => "`user`",
        Backend::Sqlite => "user",
    };
    for (id, sub) in [(1, "auth0|alice"), (2, "auth0|bob")] {
        let sql = format!("UPDATE {user_table} SET auth0_user_id = '{sub}' WHERE id = {id}");
        app.db.execute_raw(&sql).await.expect("map the subject");
    }
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let alice = claims("auth0|alice");

    let r = post_log(&app, trig, &rs256(Some("k1"), KEY1, &alice)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["user_id"], 1, "sub maps to auth0_user_id");
    let log = r.body["id"].as_i64().expect("id");
    assert_eq!(issuer.fetches(), 1);
    // `scope` (space-separated) counts as well as `permissions`.
    let scoped = with(&with(&alice, "permissions", json!([])), "scope", json!("openid api:write"));
    assert_eq!(post_log(&app, trig, &rs256(Some("k1"), KEY1, &scoped)).await.status, StatusCode::CREATED);
    let r = post_log(&app, trig, &rs256(Some("k1"), KEY1, &with(&alice, "permissions", json!(["api:read-pii"])))).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:write"))
    );

    // Refused: each is 401 with the contract's body.
    let expired = with(&alice, "exp", json!(now() - 5));
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY1, &expired)).await, "expired");
    let audience = with(&alice, "aud", json!("https://other.test/"));
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY1, &audience)).await, "wrong audience");
    let issuer_claim = with(&alice, "iss", json!("https://evil.test/"));
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY1, &issuer_claim)).await, "wrong issuer");
    assert_refused(&post_log(&app, trig, &rs256(None, KEY1, &alice)).await, "no key id");
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY2, &alice)).await, "signed by another key");
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY1, &claims("auth0|nobody"))).await, "unknown subject");
    // {"alg":"none","typ":"JWT","kid":"k1"} over alice's claims, unsigned.
    let signed = rs256(Some("k1"), KEY1, &alice);
    let payload = signed.split('.').nth(1).expect("payload");
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiazEifQ.{payload}.");
    assert_refused(&post_log(&app, trig, &none).await, "alg none");
    // HS256 signed with the RSA public key as the secret (the classic confusion), and a plain
    // HS256 token: RS256 mode accepts neither.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&hs, &alice, &EncodingKey::from_secret(PUBLIC1.as_bytes())).expect("sign");
    assert_refused(&post_log(&app, trig, &confused).await, "HS256 with the public key");
    let hs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "1", "exp": now() + 600, "scope": "api:write"}),
        &EncodingKey::from_secret(b"also-set-but-unused-in-rs256-mode"),
    )
    .expect("sign");
    assert_refused(&post_log(&app, trig, &hs_token).await, "HS256 in RS256 mode");

    // Ownership: bob may not edit alice's log, unless he holds api:admin.
    let bob = claims("auth0|bob");
    let patch = |token: String| {
        let app = &app;
        async move { send(app, Method::PATCH, &format!("/v1/logs/{log}"), Some(&token), r#"{"comment": "x"}"#).await }
    };
    let r = patch(rs256(Some("k1"), KEY1, &bob)).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:admin"))
    );
    let admin = with(&bob, "permissions", json!(["api:write", "api:admin"]));
    assert_eq!(patch(rs256(Some("k1"), KEY1, &admin)).await.status, StatusCode::OK);

    // Rotation: the issuer now publishes k2 only. A k2 token right after a fetch waits for the
    // refetch interval (one fetch, however many tokens); after it, k2 is fetched and works,
    // and k1 is gone.
    let fetched = issuer.fetches();
    issuer.publish(JWKS2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post_log(&app, trig, &rs256(Some("k2"), KEY2, &alice)).await.status, StatusCode::CREATED);
    assert_eq!(issuer.fetches(), fetched + 1, "an unknown kid fetched the JWKS once");
    for _ in 0..5 {
        assert_refused(&post_log(&app, trig, &rs256(Some("k9"), KEY2, &alice)).await, "made-up kid");
    }
    assert_refused(&post_log(&app, trig, &rs256(Some("k1"), KEY1, &alice)).await, "rotated-out key");
    assert_eq!(issuer.fetches(), fetched + 1, "unknown kids within the refetch interval fetch nothing");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused(&post_log(&app, trig, &rs256(Some("k9"), KEY2, &alice)).await, "made-up kid later");
    assert_eq!(issuer.fetches(), fetched + 2, "one more fetch once the interval passed");
}

/// Past its TTL the key set is refreshed in the background: a slow issuer never holds up a
/// request whose key the server already has (it used to wait for the whole fetch).
#[tokio::test]
async fn a_jwks_refresh_never_blocks_requests_with_known_keys() {
    let issuer = Issuer::start(JWKS1).await;
    let Some(app) = TestApp::writable(Backend::Sqlite, |c| {
        c.auth.jwt_jwks_url = Some(issuer.url.clone());
        c.auth.jwt_issuer = Some(ISSUER.into());
        c.auth.jwt_audience = Some(AUDIENCE.into());
        c.auth.jwt_jwks_refetch_secs = 1;
        c.auth.jwt_jwks_ttl_secs = 1;
    })
    .await
    else {
        return;
    };
    app.db.execute_raw("UPDATE user SET auth0_user_id = 'auth0|alice' WHERE id = 1").await.expect("map");
    let trig = app.ok("/v1/trigs?limit=1").await["items"][0]["id"].as_i64().expect("a trig");
    let token = rs256(Some("k1"), KEY1, &claims("auth0|alice"));
    assert_eq!(post_log(&app, trig, &token).await.status, StatusCode::CREATED);
    assert_eq!(issuer.fetches(), 1);
    issuer.delay_ms.store(3_000, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert_eq!(post_log(&app, trig, &token).await.status, StatusCode::CREATED);
        assert!(
            started.elapsed() < Duration::from_millis(1_000),
            "a request waited {:?} on the issuer",
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(issuer.fetches(), 2, "one refresh ran in the background");
}

#[tokio::test]
async fn rs256_tokens_sqlite() {
    rs256_tokens(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(trigapi_test_postgres), ignore = "TEST_POSTGRES_URL is not set")]
async fn rs256_tokens_postgres() {
    rs256_tokens(Backend::Postgres).await;
}

#[tokio::test]
#[cfg_attr(not(trigapi_test_mysql), ignore = "TEST_MYSQL_URL is not set")]
async fn rs256_tokens_mysql() {
    rs256_tokens(Backend::MySql).await;
}
