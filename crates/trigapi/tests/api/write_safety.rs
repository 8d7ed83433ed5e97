//! Write safety at the edges of real traffic, through a spawned server (real TCP) with a real
//! Redis, on every backend:
//!
//! * concurrent PATCHes of different fields of one log, photo or profile: both stick;
//! * clients that hang up 0-5 ms after sending a write: once it has committed, no cached read
//!   differs from a fresh one (the write ran to its end, invalidation included);
//! * bursts of concurrent writers of every kind: no 5xx (SQLite's `database is locked`);
//! * concurrent registrations and renames to one name: exactly one wins, the rest get 409.
//!
//! Each part fails against the behaviour it guards against (see the closing note of the
//! write-safety issue for how that was checked).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, WEBHOOK_SECRET, writable_config};
use crate::redis_harness::{RedisServer, redis_available};
use crate::writes::token;

/// A server of its own over a freshly seeded database, with Redis.
struct Server {
    addr: SocketAddr,
    photos_dir: std::path::PathBuf,
    client: reqwest::Client,
    admin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _redis: RedisServer,
    _turn: tokio::sync::RwLockReadGuard<'static, ()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What one request answered.
struct Answer {
    status: u16,
    cache: String,
    body: Value,
}

impl Server {
    async fn spawn(backend: Backend) -> Option<Self> {
        if !redis_available() {
            return None;
        }
        let turn = crate::helpers::cpu_heavy().await;
        let redis = RedisServer::start();
        let config = writable_config(backend, |c| {
            c.auth.jwt_hs256_secret = Some(crate::helpers::TOKEN_SECRET.into());
            c.auth.webhook_shared_secret = Some(WEBHOOK_SECRET.into());
            c.cache.redis_url = Some(redis.url().into());
            c.auth.admin_token = Some("write-safety-admin".into());
            c.server.bind_addr = "127.0.0.1:0".into();
            c.database.db_max_connections = 8;
        })
        .await?;
        let photos_dir = config.photos.photos_dir.clone();
        let app = trigapi::startup::Application::build(config).await.expect("build the server");
        let addr = app.local_addr().expect("bound");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let server = Self {
            addr,
            photos_dir,
            client: reqwest::Client::new(),
            admin: "write-safety-admin".into(),
            stop: Some(stop),
            _redis: redis,
            _turn: turn,
        };
        // Cached reads are served from the in-process tier once the subscription is up.
        for _ in 0..200 {
            let stats = server.call("GET", "/v1/admin/cache/stats", Some(&server.admin.clone()), None).await;
            if stats.body["local_tier"]["active"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Some(server)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        self.answer(req).await
    }

    async fn answer(&self, req: reqwest::RequestBuilder) -> Answer {
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let cache = res.headers().get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = res.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, cache, body }
    }

    /// A cached read (what clients get) and a fresh one (`no-cache`: computed now).
    async fn cached_and_fresh(&self, path: &str, bearer: Option<&str>) -> (Answer, Answer) {
        let mut cached = self.client.get(self.url(path));
        let mut fresh = self.client.get(self.url(path)).header("cache-control", "no-cache");
        if let Some(t) = bearer {
            cached = cached.header("authorization", format!("Bearer {t}"));
            fresh = fresh.header("authorization", format!("Bearer {t}"));
        }
        let cached = self.answer(cached).await;
        let fresh = self.answer(fresh).await;
        (cached, fresh)
    }

    /// Wait (at most 20 s) until the server runs no write, hung-up ones included.
    async fn writes_settled(&self) {
        for _ in 0..400 {
            let stats = self.call("GET", "/v1/admin/cache/stats", Some(&self.admin.clone()), None).await;
            if stats.body["writes_in_flight"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("writes still running after 20 s");
    }

    /// Send a write over a raw connection and hang up `after` later, without reading.
    async fn hang_up(&self, method: &str, path: &str, bearer: &str, body: &Value, after: Duration) {
        self.hang_up_raw(method, path, bearer, "application/json", body.to_string().as_bytes(), after).await;
    }

    /// Send a request with `body` of `content_type` and hang up `after` later.
    async fn hang_up_raw(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        content_type: &str,
        body: &[u8],
        after: Duration,
    ) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {bearer}\r\n\
             content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send");
        stream.write_all(body).await.expect("send");
        tokio::time::sleep(after).await;
        drop(stream);
    }

    /// Uploaded photo files (`NNN/P00123.jpg`, `NNN/I00123_r1.jpg`; the seed's pool in `demo/`
    /// is apart) and the photo id each names.
    fn uploaded_files(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&self.photos_dir).into_iter().flatten().flatten() {
            if dir.file_name() == "demo" || !dir.path().is_dir() {
                continue;
            }
            for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                let digits: String = name.chars().skip(1).take_while(char::is_ascii_digit).collect();
                if let Ok(id) = digits.parse() {
                    out.push((format!("{}/{name}", dir.file_name().to_string_lossy()), id));
                }
            }
        }
        out
    }
}

/// Logs that have photos, from the seeded data: `(log, trig, user, photo)`, each log once.
async fn logs_with_photos(server: &Server, n: usize) -> Vec<(i64, i64, i64, i64)> {
    let page = server.call("GET", "/v1/photos?limit=100", None, None).await;
    let mut found: Vec<(i64, i64, i64, i64)> = Vec::new();
    for p in page.body["items"].as_array().into_iter().flatten() {
        let (Some(photo), Some(log), Some(user), Some(trig)) =
            (p["id"].as_i64(), p["log_id"].as_i64(), p["user_id"].as_i64(), p["trig_id"].as_i64())
        else {
            continue;
        };
        if found.len() < n && !found.iter().any(|f| f.0 == log || f.2 == user) {
            found.push((log, trig, user, photo));
        }
    }
    assert_eq!(found.len(), n, "the seed has logs with photos: {}", page.body);
    found
}

const ADMIN_WRITER: &[&str] = &["api:write", "api:admin"];

/// Concurrent edits of different fields of one row: neither is lost, and the read after them
/// (cached and fresh) shows both.
async fn concurrent_patches_of_different_fields_all_stick(backend: Backend) {
    let Some(server) = Server::spawn(backend).await else { return };
    let targets = logs_with_photos(&server, 1).await;
    let (log, _, user, photo) = targets[0];
    let admin = token(1, ADMIN_WRITER);
    let own = token(i32::try_from(user).expect("user id"), &["api:write"]);
    let (mut lost, mut errors) = (Vec::new(), 0);
    for trial in 0..20i64 {
        let log_path = format!("/v1/logs/{log}");
        let photo_path = format!("/v1/photos/{photo}");
        let (comment, score) = (format!("comment {trial}"), trial % 11);
        let (caption, desc) = (format!("caption {trial}"), format!("description {trial}"));
        let (first, last) = (format!("First{trial}"), format!("Last{trial}"));
        let answers = tokio::join!(
            server.call("PATCH", &log_path, Some(&admin), Some(json!({ "comment": comment }))),
            server.call("PATCH", &log_path, Some(&own), Some(json!({ "score": score }))),
            server.call("PATCH", &photo_path, Some(&admin), Some(json!({ "caption": caption }))),
            server.call("PATCH", &photo_path, Some(&own), Some(json!({ "text_desc": desc }))),
            server.call("PATCH", "/v1/users/me", Some(&own), Some(json!({ "firstname": first }))),
            server.call("PATCH", "/v1/users/me", Some(&own), Some(json!({ "surname": last }))),
        );
        let statuses = [
            answers.0.status,
            answers.1.status,
            answers.2.status,
            answers.3.status,
            answers.4.status,
            answers.5.status,
        ];
        errors += statuses.iter().filter(|s| **s != 200).count();
        for (path, bearer) in
            [(log_path.as_str(), None), (photo_path.as_str(), None), ("/v1/users/me", Some(own.as_str()))]
        {
            let (cached, fresh) = server.cached_and_fresh(path, bearer).await;
            assert_eq!(cached.body, fresh.body, "{path}: the cached read ({}) differs from a fresh one", cached.cache);
        }
        let l = server.call("GET", &log_path, None, None).await.body;
        if l["comment"] != json!(comment) || l["score"] != json!(score) {
            lost.push(format!("log: {l}"));
        }
        let p = server.call("GET", &photo_path, None, None).await.body;
        if p["caption"] != json!(caption) || p["text_desc"] != json!(desc) {
            lost.push(format!("photo: caption {} text_desc {}", p["caption"], p["text_desc"]));
        }
        let me = server.call("GET", "/v1/users/me", Some(&own), None).await.body;
        if me["firstname"] != json!(first) || me["surname"] != json!(last) {
            lost.push(format!("profile: {} {}", me["firstname"], me["surname"]));
        }
    }
    assert_eq!(errors, 0, "every PATCH answered 200");
    assert!(lost.is_empty(), "{} lost updates in 60 pairs: {lost:?}", lost.len());
}

/// One kind of write a client may hang up on, and the cached reads it must change.
struct Kind {
    name: &'static str,
    method: &'static str,
    path: String,
    bearer: String,
    body: Value,
    reads: Vec<String>,
}

/// Clients hang up 0-5 ms after sending each kind of write. Once the write has had time to
/// finish, every read it touches is the same cached as fresh: committed means invalidated.
async fn a_client_hanging_up_never_leaves_the_cache_stale(backend: Backend) {
    let Some(server) = Server::spawn(backend).await else { return };
    let targets = logs_with_photos(&server, 12).await;
    let admin = token(1, ADMIN_WRITER);
    let mut stale = Vec::new();
    for (trial, &(log, trig, user, photo)) in targets.iter().enumerate() {
        let own = token(i32::try_from(user).expect("user id"), &["api:write"]);
        let kinds = [
            Kind {
                name: "log edit",
                method: "PATCH",
                path: format!("/v1/logs/{log}"),
                bearer: admin.clone(),
                body: json!({ "comment": format!("hung up {trial}") }),
                reads: vec![format!("/v1/logs/{log}"), format!("/v1/trigs/{trig}/logs"), "/v1/logs".into()],
            },
            Kind {
                name: "log create",
                method: "POST",
                path: format!("/v1/logs?trig_id={trig}"),
                bearer: own.clone(),
                body: json!({ "date": "2026-11-30", "time": "12:00", "condition": "G", "comment": "new" }),
                reads: vec![
                    format!("/v1/trigs/{trig}/logs"),
                    format!("/v1/trigs/{trig}?include=stats"),
                    "/v1/stats/site".into(),
                ],
            },
            Kind {
                name: "photo edit",
                method: "PATCH",
                path: format!("/v1/photos/{photo}"),
                bearer: own.clone(),
                body: json!({ "caption": format!("hung up {trial}") }),
                reads: vec![format!("/v1/photos/{photo}"), format!("/v1/logs/{log}/photos")],
            },
            Kind {
                name: "profile edit",
                method: "PATCH",
                path: "/v1/users/me".into(),
                bearer: own.clone(),
                body: json!({ "about": format!("hung up {trial}") }),
                reads: vec![format!("/v1/users/{user}")],
            },
            Kind {
                name: "photo delete",
                method: "DELETE",
                path: format!("/v1/photos/{photo}"),
                bearer: own.clone(),
                body: json!({}),
                reads: vec![format!("/v1/photos/{photo}"), format!("/v1/trigs/{trig}?include=stats")],
            },
            Kind {
                name: "log delete",
                method: "DELETE",
                path: format!("/v1/logs/{log}"),
                bearer: own.clone(),
                body: json!({}),
                reads: vec![format!("/v1/logs/{log}"), format!("/v1/users/{user}/logs"), "/v1/stats/site".into()],
            },
        ];
        for kind in kinds {
            for read in &kind.reads {
                server.call("GET", read, None, None).await;
                let warm = server.call("GET", read, None, None).await;
                assert!(warm.status == 404 || warm.cache == "HIT", "{read} is cached before the write");
            }
            let after = Duration::from_micros(fastrand::u64(0..5_000));
            server.hang_up(kind.method, &kind.path, &kind.bearer, &kind.body, after).await;
            // A write takes milliseconds; give it ample time to start whatever the client did,
            // then wait for it to end (under load on two cores it may take longer than that).
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.writes_settled().await;
            for read in &kind.reads {
                let (cached, fresh) = server.cached_and_fresh(read, None).await;
                if (cached.status, &cached.body) != (fresh.status, &fresh.body) {
                    stale.push(format!("{} (hung up after {after:?}): {read} is stale ({})", kind.name, cached.cache));
                }
            }
        }
    }
    assert!(stale.is_empty(), "{} stale reads after committed writes: {stale:#?}", stale.len());
}

/// Uploads whose clients hang up at any moment, mid-body included: afterwards every file an
/// upload stored belongs to a photo row (the old code could be dropped between storing the
/// files and committing the row, which left the files behind).
async fn an_upload_cut_short_leaves_no_file_without_a_row(backend: Backend) {
    let Some(server) = Server::spawn(backend).await else { return };
    let (log, _, user, _) = logs_with_photos(&server, 1).await[0];
    let own = token(i32::try_from(user).expect("user id"), &["api:write"]);
    let jpeg =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/photos/landscape.jpg")).expect("fixture");
    let body = crate::uploads::form(Some(&jpeg), crate::uploads::FIELDS);
    let content_type = format!("multipart/form-data; boundary={}", crate::uploads::BOUNDARY);
    let path = format!("/v1/photos?log_id={log}");
    // How long a whole upload takes here, so the hang-ups can land anywhere in it, the last
    // steps (files stored, row committed) included.
    let started = std::time::Instant::now();
    let req = server.client.post(server.url(&path)).bearer_auth(&own).header("content-type", &content_type);
    assert_eq!(server.answer(req.body(body.clone())).await.status, 201);
    let whole = started.elapsed();
    for i in 0..36u32 {
        if i % 6 == 5 {
            // Cut off in the middle of the body.
            server.hang_up_raw("POST", &path, &own, &content_type, &body[..body.len() / 2], Duration::ZERO).await;
        } else {
            let after = whole.mul_f64(0.5 + 0.7 * fastrand::f64());
            server.hang_up_raw("POST", &path, &own, &content_type, &body, after).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let files = server.uploaded_files();
    assert!(!files.is_empty(), "the uploads stored files");
    let mut orphans = Vec::new();
    for (file, id) in files {
        if server.call("GET", &format!("/v1/photos/{id}"), None, None).await.status != 200 {
            orphans.push(file);
        }
    }
    assert!(orphans.is_empty(), "files without a photo row: {orphans:?}");
}

/// The upload fixture's bytes.
fn landscape() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/photos/landscape.jpg")).expect("fixture")
}

/// Bursts of concurrent writers of every kind (24 at once, each a sequence of log, photo and
/// profile writes and a registration): no 5xx, every write answered as it should be.
async fn bursts_of_concurrent_writers_get_no_5xx(backend: Backend) {
    let Some(server) = Server::spawn(backend).await else { return };
    let targets = logs_with_photos(&server, 8).await;
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (i, &(log, trig, user, photo)) in targets.iter().enumerate() {
            let server = std::sync::Arc::clone(&server);
            tasks.push(tokio::spawn(async move {
                let own = token(i32::try_from(user).expect("user id"), &["api:write"]);
                let n = round * 100 + i;
                let mut statuses = Vec::new();
                let created = server
                    .call(
                        "POST",
                        &format!("/v1/logs?trig_id={trig}"),
                        Some(&own),
                        Some(json!({ "date": "2026-11-30", "time": "12:00", "condition": "G" })),
                    )
                    .await;
                statuses.push(("log create", created.status));
                let edit = json!({ "comment": format!("burst {n}") });
                statuses.push(("log edit", server.call("PATCH", &format!("/v1/logs/{log}"), Some(&own), Some(edit)).await.status));
                let caption = json!({ "caption": format!("burst {n}") });
                statuses.push(("photo edit", server.call("PATCH", &format!("/v1/photos/{photo}"), Some(&own), Some(caption)).await.status));
                let about = json!({ "about": format!("burst {n}") });
                statuses.push(("profile edit", server.call("PATCH", "/v1/users/me", Some(&own), Some(about)).await.status));
                if let Some(id) = created.body["id"].as_i64() {
                    // A photo on the new log: uploaded, turned, deleted; then the log goes.
                    let upload = server
                        .client
                        .post(server.url(&format!("/v1/photos?log_id={id}")))
                        .bearer_auth(&own)
                        .header("content-type", format!("multipart/form-data; boundary={}", crate::uploads::BOUNDARY))
                        .body(crate::uploads::form(Some(&landscape()), crate::uploads::FIELDS));
                    let uploaded = server.answer(upload).await;
                    statuses.push(("photo upload", uploaded.status));
                    if let Some(p) = uploaded.body["id"].as_i64() {
                        let turn = json!({ "angle": 90 });
                        statuses.push(("photo rotate", server.call("POST", &format!("/v1/photos/{p}/rotate"), Some(&own), Some(turn)).await.status));
                        statuses.push(("photo delete", server.call("DELETE", &format!("/v1/photos/{p}"), Some(&own), None).await.status));
                    }
                    statuses.push(("log delete", server.call("DELETE", &format!("/v1/logs/{id}"), Some(&own), None).await.status));
                }
                let webhook = server
                    .client
                    .post(server.url("/v1/users"))
                    .header("x-webhook-secret", WEBHOOK_SECRET)
                    .header("content-type", "application/json")
                    .body(json!({ "username": format!("burst{n}"), "email": format!("burst{n}@example.org"), "auth0_user_id": format!("auth0|burst{n}") }).to_string());
                statuses.push(("registration", server.answer(webhook).await.status));
                statuses
            }));
        }
    }
    let mut failed = Vec::new();
    let mut count = 0;
    for t in tasks {
        for (what, status) in t.await.expect("writer task") {
            count += 1;
            let expected = match what {
                "log create" | "registration" | "photo upload" => 201,
                "log delete" | "photo delete" => 204,
                _ => 200,
            };
            if status != expected {
                failed.push(format!("{what}: {status}"));
            }
        }
    }
    assert!(count >= 24 * 9, "{count} writes; failed: {failed:?}");
    assert!(failed.is_empty(), "{} of {count} concurrent writes failed: {failed:?}", failed.len());
}

/// Eight registrations, then eight renames, all to one name at once: one wins, seven get 409,
/// and the name is held by exactly one user.
async fn concurrent_registrations_and_renames_keep_names_unique(backend: Backend) {
    let Some(server) = Server::spawn(backend).await else { return };
    let server = std::sync::Arc::new(server);
    let register = |n: usize, name: &'static str| {
        let server = std::sync::Arc::clone(&server);
        async move {
            let req = server
                .client
                .post(server.url("/v1/users"))
                .header("x-webhook-secret", WEBHOOK_SECRET)
                .header("content-type", "application/json")
                .body(json!({ "username": name, "email": format!("race{n}@example.org"), "auth0_user_id": format!("auth0|race{n}") }).to_string());
            server.answer(req).await.status
        }
    };
    let statuses = futures_util::future::join_all((0..8).map(|n| register(n, "RaceName"))).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "one registration wins: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "the others are told the name is taken: {statuses:?}"
    );

    let rename = |user: i32| {
        let server = std::sync::Arc::clone(&server);
        async move {
            let own = token(user, &["api:write"]);
            server.call("PATCH", "/v1/users/me", Some(&own), Some(json!({ "name": "RenameRace" }))).await.status
        }
    };
    let statuses = futures_util::future::join_all((2..10).map(rename)).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "one rename wins: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "the others get 409: {statuses:?}");

    for name in ["RaceName", "RenameRace"] {
        let list = server.call("GET", &format!("/v1/users?name={name}&limit=100"), None, None).await.body;
        let holders = list["items"].as_array().map_or(0, |items| {
            items.iter().filter(|u| u["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))).count()
        });
        assert_eq!(holders, 1, "{name} is held by exactly one user: {list}");
    }
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(trigapi_test_postgres), ignore = "TEST_POSTGRES_URL is not set")]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(trigapi_test_mysql), ignore = "TEST_MYSQL_URL is not set")]
            async fn $name() { super::$name(super::Backend::MySql).await })*
        }
    };
}

on_every_backend!(
    concurrent_patches_of_different_fields_all_stick,
    a_client_hanging_up_never_leaves_the_cache_stale,
    bursts_of_concurrent_writers_get_no_5xx,
    concurrent_registrations_and_renames_keep_names_unique,
    an_upload_cut_short_leaves_no_file_without_a_row,
);
