//! Photo files in an S3 bucket: uploads and rotations against a real S3-compatible server (moto,
//! `pip install "moto[server]"`), started by the test on a free port so it can also stop it.
//! Skipped when moto is not installed, unless `TRIGAPI_REQUIRE_S3=1` (set by CI).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use trigapi::config::Config;

use crate::helpers::{Backend, TOKEN_SECRET, TestApp, backend_configured};
use crate::redis_harness::free_port;
use crate::uploads::{FIELDS, fixture, form, upload};
use crate::writes::{send, token};

const BUCKET: &str = "trigapi-test-photos";

/// A moto S3 server of this test's own, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Option<Self> {
        let found = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(std::env::var("TRIGAPI_REQUIRE_S3").is_err(), "moto is required (TRIGAPI_REQUIRE_S3 is set)");
            eprintln!("skipped: moto is not installed (pip install \"moto[server]\")");
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wait until it answers, then make the bucket.
    async fn ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.put(format!("{}/{BUCKET}", self.url())).send().await {
                assert!(r.status().is_success(), "creating the bucket: {}", r.status());
                return;
            }
            assert!(Instant::now() < deadline, "moto did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An object of the bucket, or `None` when the bucket's listing does not show it with
    /// `size` bytes. Read with a client of the test's own (object_store, signed: moto keeps
    /// objects private).
    async fn object(&self, key: &str, size: &serde_json::Value) -> Option<Vec<u8>> {
        let list = reqwest::get(format!("{}/{BUCKET}?list-type=2", self.url())).await.expect("list the bucket");
        let list = list.text().await.expect("listing");
        let listed = format!("<Key>{key}</Key>");
        let entry = &list[list.find(&listed)?..];
        let entry = &entry[..entry.find("</Contents>")?];
        if !entry.contains(&format!("<Size>{size}</Size>")) {
            return None;
        }
        let mut config = Config::default();
        in_bucket(self.url())(&mut config);
        let store = trigapi::storage::PhotoStore::from_config(&config).expect("a client");
        Some(store.get(key).await.expect("read the object"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The store key of a photo URL (the part after the `server` row's base).
fn key_of(url: &serde_json::Value) -> String {
    let url = url.as_str().expect("a URL");
    url[url.find("/photos/").expect("a photo URL") + "/photos/".len()..].to_owned()
}

fn dimensions(jpeg: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).expect("a JPEG");
    (img.width(), img.height())
}

/// The configuration of an app accepting test tokens and storing photos in moto's bucket.
fn in_bucket(endpoint: String) -> impl FnOnce(&mut Config) {
    move |c| {
        c.auth.jwt_hs256_secret = Some(TOKEN_SECRET.into());
        c.photos.photos_s3_bucket = Some(BUCKET.into());
        c.photos.photos_s3_endpoint = Some(endpoint);
        c.photos.photos_s3_region = Some("eu-west-2".into());
        c.photos.photos_s3_access_key_id = Some("test-key".into());
        c.photos.photos_s3_secret_access_key = Some("test-secret".into());
    }
}

#[tokio::test]
async fn photos_go_to_an_s3_bucket_and_an_outage_writes_nothing() {
    let Some(mut moto) = Moto::start() else { return };
    moto.ready().await;
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        if !backend_configured(backend) {
            continue;
        }
        let app = TestApp::writable(backend, in_bucket(moto.url())).await.expect("app");
        let log = app.ok("/v1/logs?limit=1").await["items"][0].clone();
        let (log, user) = (log["id"].as_i64().expect("log"), log["user_id"].as_i64().expect("user") as i32);
        let owner = token(user, &["api:write"]);

        let r = upload(&app, log, Some(&owner), form(Some(&fixture("exif-rotated.jpg")), FIELDS)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend:?}: {}", r.text);
        let (photo, icon) = (key_of(&r.body["photo_url"]), key_of(&r.body["icon_url"]));
        let stored = moto.object(&photo, &r.body["filesize"]).await.expect("the photo is in the bucket");
        assert_eq!(dimensions(&stored), (200, 300), "{backend:?}: stored upright");
        assert!(moto.object(&icon, &r.body["icon_filesize"]).await.is_some(), "the thumbnail is in the bucket");
        assert!(!app.photos_dir.join(&photo).exists(), "nothing in the local directory");

        let id = r.body["id"].as_i64().expect("id");
        let r = send(&app, Method::POST, &format!("/v1/photos/{id}/rotate"), Some(&owner), "").await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        let rotated =
            moto.object(&key_of(&r.body["photo_url"]), &r.body["filesize"]).await.expect("rotated, in the bucket");
        assert_eq!(dimensions(&rotated), (300, 200), "read back from the bucket and turned");
        drop(app);
    }

    // The store goes away: the upload fails quickly with 503 and leaves no row.
    let app = TestApp::writable(Backend::Sqlite, in_bucket(moto.url())).await.expect("app");
    moto.stop();
    let log = app.ok("/v1/logs?limit=1").await["items"][0].clone();
    let (log, user) = (log["id"].as_i64().expect("log"), log["user_id"].as_i64().expect("user") as i32);
    let total = app.ok("/v1/stats/site").await["total_photos"].clone();
    let started = Instant::now();
    let r = upload(&app, log, Some(&token(user, &["api:write"])), form(Some(&fixture("landscape.jpg")), FIELDS)).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("Photo storage unavailable"))
    );
    assert!(started.elapsed() < Duration::from_secs(30), "gave up after {:?}", started.elapsed());
    assert_eq!(app.ok("/v1/stats/site").await["total_photos"], total, "no row");
}
