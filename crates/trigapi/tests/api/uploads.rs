//! Photo writes through the API: uploads of real JPEG, PNG and WebP files (fixtures made by
//! `scripts/make-photo-fixtures.py`), EXIF orientation, the size cap and thumbnail, every bad
//! upload refused with nothing left behind, edits, deletes and rotations.
//!
//! Every fixture is 300×200 as stored, red in its top-left corner, so a test can tell which way
//! up the server stored it.

use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use image::RgbImage;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, TestResponse, assert_shape, photo_a};
use crate::writes::{send, token};

pub const BOUNDARY: &str = "trigapi-test-boundary-Q7fK2x9Lm4";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `multipart/form-data` body with `fields` and, when given, the file.
pub fn form(file: Option<&[u8]>, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    if let Some(file) = file {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(file);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

/// The fields every upload needs.
pub const FIELDS: &[(&str, &str)] = &[("caption", "The pillar"), ("type", "T"), ("license", "Y")];

pub async fn upload(app: &TestApp, log: i64, bearer: Option<&str>, body: Vec<u8>) -> TestResponse {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/photos?log_id={log}"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"));
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body)).expect("request")).await
}

/// A log and its author.
async fn a_log(app: &TestApp) -> (i64, i32, i64) {
    let log = app.ok("/v1/logs?limit=1").await["items"][0].clone();
    let (Some(id), Some(user), Some(trig)) = (log["id"].as_i64(), log["user_id"].as_i64(), log["trig_id"].as_i64())
    else {
        panic!("a log: {log}")
    };
    (id, user as i32, trig)
}

/// The stored file behind a `photo_url` or `icon_url`, decoded, as this server serves it.
async fn served(app: &TestApp, url: &Value) -> RgbImage {
    let url = url.as_str().expect("a URL");
    let path = &url[url.find("/photos/").expect("served under /photos/")..];
    let r = app.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}");
    let img = image::load_from_memory_with_format(&r.bytes, image::ImageFormat::Jpeg).expect("a JPEG");
    img.to_rgb8()
}

fn is_red(img: &RgbImage, x: u32, y: u32) -> bool {
    let [r, g, b] = img.get_pixel(x, y).0;
    r > 180 && g < 80 && b < 80
}

/// Files under the photo directory, apart from the demo pool.
fn stored_files(app: &TestApp) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(&app.photos_dir, &mut files);
    files.retain(|f| !f.contains("/demo/"));
    files.sort();
    files
}

async fn photo_count(app: &TestApp, trig: i64) -> i64 {
    let t = app.ok(&format!("/v1/trigs/{trig}?include=stats")).await;
    t["stats"]["photo_count"].as_i64().unwrap_or(0)
}

async fn total_photos(app: &TestApp) -> i64 {
    app.ok("/v1/stats/site").await["total_photos"].as_i64().expect("total_photos")
}

async fn jpeg_png_and_webp_uploads_are_stored_upright_as_jpeg(app: TestApp) {
    let (log, user, trig) = a_log(&app).await;
    let owner = token(user, &["api:write"]);
    let (count, total) = (photo_count(&app, trig).await, total_photos(&app).await);
    // (fixture, stored width × height, where the red corner must be)
    let cases = [
        ("landscape.jpg", (300, 200), (20, 20)),
        ("exif-rotated.jpg", (200, 300), (180, 20)),
        ("transparent.png", (300, 200), (20, 20)),
        ("landscape.webp", (300, 200), (20, 20)),
    ];
    for (n, (name, (w, h), (rx, ry))) in cases.into_iter().enumerate() {
        let fields = [("caption", "Pillar from the north"), ("type", "L"), ("license", "C"), ("text_desc", "Misty")];
        let r = upload(&app, log, Some(&owner), form(Some(&fixture(name)), &fields)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.text);
        assert_shape(&r.body, &photo_a());
        let b = &r.body;
        assert_eq!(
            (b["log_id"].as_i64(), b["user_id"].as_i64(), b["trig_id"].as_i64()),
            (Some(log), Some(user.into()), Some(trig))
        );
        assert_eq!(
            (b["caption"].as_str(), b["type"].as_str(), b["license"].as_str()),
            (Some("Pillar from the north"), Some("L"), Some("C"))
        );
        assert_eq!(b["text_desc"], "Misty");
        assert_eq!((b["width"].as_i64(), b["height"].as_i64()), (Some(w), Some(h)), "{name}");
        let id = b["id"].as_i64().expect("id");
        assert!(b["photo_url"].as_str().is_some_and(|u| u.ends_with(&format!("/P{id:05}.jpg"))), "{b}");

        let photo = served(&app, &b["photo_url"]).await;
        assert_eq!(photo.dimensions(), (w as u32, h as u32), "{name}: the stored file");
        assert!(is_red(&photo, rx, ry), "{name}: red corner at ({rx}, {ry}) {:?}", photo.get_pixel(rx, ry));
        assert!(!is_red(&photo, w as u32 - 1 - rx, ry), "{name}: the other corner is not red");
        let icon = served(&app, &b["icon_url"]).await;
        assert_eq!(icon.width().max(icon.height()), 120, "{name}: thumbnail");
        assert_eq!(
            (b["icon_width"].as_i64(), b["icon_height"].as_i64()),
            (Some(icon.width().into()), Some(icon.height().into()))
        );
        if name.ends_with(".png") {
            let [r, g, bl] = photo.get_pixel(290, 190).0;
            assert!(r > 240 && g > 240 && bl > 240, "transparency laid over white: {:?}", [r, g, bl]);
        }
        // The photo reads back everywhere at once.
        assert_eq!(app.ok(&format!("/v1/photos/{id}")).await, r.body);
        let embedded = app.ok(&format!("/v1/logs/{log}?include=photos")).await;
        assert!(embedded["photos"].as_array().expect("photos").iter().any(|p| p["id"] == id));
        assert_eq!(photo_count(&app, trig).await, count + 1 + n as i64, "trigstats photo_count");
        assert_eq!(total_photos(&app).await, total + 1 + n as i64);
    }

    // The longest side is capped at 4000 px.
    let wide = RgbImage::from_fn(4500, 300, |x, _| image::Rgb([(x % 251) as u8, 120, 60]));
    let mut png = Vec::new();
    wide.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("encode");
    let r = upload(&app, log, Some(&owner), form(Some(&png), FIELDS)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["width"].as_i64(), r.body["height"].as_i64()), (Some(4000), Some(267)));
    assert_eq!((r.body["icon_width"].as_i64(), r.body["icon_height"].as_i64()), (Some(120), Some(8)));
    assert_eq!(served(&app, &r.body["photo_url"]).await.dimensions(), (4000, 267));
}

/// Assert a 400 with `detail` (or, with a trailing `…`, starting so).
fn assert_400(r: &TestResponse, detail: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let got = r.body["detail"].as_str().unwrap_or_default();
    match detail.strip_suffix('…') {
        Some(prefix) => assert!(got.starts_with(prefix), "{got:?} does not start with {prefix:?}"),
        None => assert_eq!(got, detail),
    }
}

async fn bad_uploads_are_refused_and_leave_nothing_behind(app: TestApp) {
    let (log, user, trig) = a_log(&app).await;
    let owner = token(user, &["api:write"]);
    let (count, total, files) = (photo_count(&app, trig).await, total_photos(&app).await, stored_files(&app));
    let jpeg = fixture("landscape.jpg");
    let png = fixture("transparent.png");

    let r = upload(&app, log, Some(&owner), form(Some(&fixture("not-an-image.txt")), FIELDS)).await;
    assert_400(&r, "Only JPEG, PNG and WebP images are supported");
    let r = upload(&app, log, Some(&owner), form(Some(&jpeg[..jpeg.len() / 2]), FIELDS)).await;
    assert_400(&r, "Invalid image file: …");
    let r = upload(&app, log, Some(&owner), form(Some(&png[..png.len() - 30]), FIELDS)).await;
    assert_400(&r, "Invalid image file: …");
    let r = upload(&app, log, Some(&owner), form(Some(&fixture("bomb.png")), FIELDS)).await;
    assert_400(&r, "Invalid image file: 30000x30000 pixels is more than the 100 megapixels allowed");
    let r = upload(&app, log, Some(&owner), form(Some(b""), FIELDS)).await;
    assert_400(&r, "Failed to read file: 400: Empty file");
    // Just over 20 MiB, then a body larger than the request limit.
    let mut big = jpeg.clone();
    big.resize((20 << 20) + 1, 0);
    let r = upload(&app, log, Some(&owner), form(Some(&big), FIELDS)).await;
    assert_400(&r, "File size exceeds maximum of 20MB");
    big.resize(22 << 20, 0);
    let r = upload(&app, log, Some(&owner), form(Some(&big), FIELDS)).await;
    assert_400(&r, "File size exceeds maximum of 20MB");

    // A form cut off before its closing boundary.
    let cut = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nunterminated");
    let r = upload(&app, log, Some(&owner), cut.into_bytes()).await;
    assert_400(&r, "Invalid multipart body: …");

    // Fields: every missing one listed; patterns; a JSON body is an empty form.
    let r = upload(&app, log, Some(&owner), form(None, &[])).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let missing: Vec<&str> =
        r.body["detail"].as_array().expect("detail").iter().filter_map(|e| e["loc"][1].as_str()).collect();
    assert_eq!(missing, ["file", "caption", "type", "license"]);
    let r =
        upload(&app, log, Some(&owner), form(Some(&jpeg), &[("caption", "x"), ("type", "X"), ("license", "YC")])).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let d = &r.body["detail"];
    assert_eq!(
        (d[0]["msg"].as_str(), d[0]["loc"][1].as_str()),
        (Some("String should match pattern '^[TFLPO]$'"), Some("type"))
    );
    assert_eq!((d[1]["type"].as_str(), d[1]["loc"][1].as_str()), (Some("string_pattern_mismatch"), Some("license")));
    let long = "c".repeat(81);
    let r = upload(&app, log, Some(&owner), form(Some(&jpeg), &[("caption", &long), ("type", "T"), ("license", "Y")]))
        .await;
    assert_eq!(
        (r.status, r.body["detail"][0]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("string_too_long"))
    );
    let r = send(&app, Method::POST, &format!("/v1/photos?log_id={log}"), Some(&owner), r#"{"caption": "x"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = upload(&app, 0, Some(&owner), form(Some(&jpeg), FIELDS)).await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Log not found")));
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/photos")
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .header("authorization", format!("Bearer {owner}"))
                .body(Body::from(form(Some(&jpeg), FIELDS)))
                .expect("request"),
        )
        .await;
    assert_eq!((r.status, r.body["detail"][0]["loc"][1].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("log_id")));

    // Who may upload: a token, with api:write, owning the log (or api:admin).
    let r = upload(&app, log, None, form(Some(&jpeg), FIELDS)).await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("Not authenticated")));
    let r = upload(&app, log, Some(&token(user, &[])), form(Some(&jpeg), FIELDS)).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:write"))
    );
    let stranger = token(user + 1, &["api:write"]);
    let r = upload(&app, log, Some(&stranger), form(Some(&jpeg), FIELDS)).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Missing required scope: api:admin"))
    );

    assert_eq!((photo_count(&app, trig).await, total_photos(&app).await), (count, total), "no row written");
    assert_eq!(stored_files(&app), files, "no file written");

    // The store fails (the directory the next photo's files go in cannot be made): no row, no
    // file; once it works again the same upload succeeds.
    let newest = app.ok("/v1/photos?limit=1").await["items"][0]["id"].as_i64().expect("a photo");
    let blockers: std::collections::BTreeSet<_> =
        (1..=3).map(|k| app.photos_dir.join(format!("{:03}", (newest + k) / 1000))).filter(|d| !d.exists()).collect();
    for b in &blockers {
        std::fs::write(b, "not a directory").expect("block");
    }
    if !blockers.is_empty() {
        let r = upload(&app, log, Some(&owner), form(Some(&jpeg), FIELDS)).await;
        assert_eq!(
            (r.status, r.body["detail"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("Photo storage unavailable"))
        );
        assert_eq!((photo_count(&app, trig).await, total_photos(&app).await), (count, total), "the row rolled back");
        for b in &blockers {
            std::fs::remove_file(b).expect("unblock");
        }
        assert_eq!(stored_files(&app), files, "no file left behind");
    }
    let r = upload(&app, log, Some(&stranger_admin(user)), form(Some(&jpeg), FIELDS)).await;
    assert_eq!(r.status, StatusCode::CREATED, "an admin may upload to anyone's log: {}", r.text);
    assert_eq!(r.body["user_id"], user, "the photo is the log author's");
    assert_eq!(photo_count(&app, trig).await, count + 1);
}

fn revision(photo: &Value) -> u32 {
    trigapi::storage::revision_of(photo["photo_url"].as_str().unwrap_or_default())
}

fn stranger_admin(user: i32) -> String {
    token(user + 1, &["api:write", "api:admin"])
}

async fn photos_can_be_edited_and_deleted(app: TestApp) {
    let (log, user, trig) = a_log(&app).await;
    let owner = token(user, &["api:write"]);
    let r = upload(&app, log, Some(&owner), form(Some(&fixture("landscape.jpg")), FIELDS)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().expect("id");
    let uri = format!("/v1/photos/{id}");

    // Fields present change; null and absent ones stay; the variant-B names are aliases.
    let edit = json!({"caption": "North face", "type": "F", "text_desc": null});
    let r = send(&app, Method::PATCH, &uri, Some(&owner), &edit.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_shape(&r.body, &photo_a());
    assert_eq!(
        (r.body["caption"].as_str(), r.body["type"].as_str(), r.body["license"].as_str()),
        (Some("North face"), Some("F"), Some("Y"))
    );
    let r = send(&app, Method::PATCH, &uri, Some(&owner), r#"{"name": "South face", "public_ind": "N"}"#).await;
    assert_eq!((r.body["caption"].as_str(), r.body["license"].as_str()), (Some("South face"), Some("N")));
    assert_eq!(app.ok(&uri).await["caption"], "South face", "read back at once");
    let listed = app.ok(&format!("/v1/trigs/{trig}/photos?limit=100")).await;
    let item = listed["items"].as_array().expect("items").iter().find(|p| p["id"] == id).cloned().expect("listed");
    assert_eq!((item["name"].as_str(), item["public_ind"].as_str()), (Some("South face"), Some("N")));
    // Both names of a field are checked, whichever one is used (schemathesis found a bad
    // `public_ind` accepted next to a good `license`).
    let r = send(&app, Method::PATCH, &uri, Some(&owner), r#"{"license": "C", "public_ind": ""}"#).await;
    assert_eq!(
        (r.status, &r.body["detail"][0]["loc"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!(["body", "public_ind"]))
    );
    let r =
        send(&app, Method::PATCH, &uri, Some(&owner), &json!({"caption": "Ok", "name": "x".repeat(81)}).to_string())
            .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    // An admin's edit answers with the owner's name (the original gave the caller's).
    let owner_name = app.ok(&format!("/v1/users/{user}")).await["name"].clone();
    let r = send(&app, Method::PATCH, &uri, Some(&stranger_admin(user)), r#"{"text_desc": "Moderated"}"#).await;
    assert_eq!((r.status, &r.body["user_name"]), (StatusCode::OK, &owner_name), "{}", r.text);

    // Bad input and callers.
    let r = send(&app, Method::PATCH, &uri, Some(&owner), r#"{"type": "Q", "license": 5}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let kinds: Vec<&str> =
        r.body["detail"].as_array().expect("detail").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["string_pattern_mismatch", "string_type"], "type, then license");
    let r = send(&app, Method::PATCH, &uri, Some(&owner), "[1]").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = send(&app, Method::PATCH, &uri, Some(&token(user + 1, &["api:write"])), "{}").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, Method::PATCH, "/v1/photos/99999999", Some(&owner), "{}").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Photo not found")));
    let r = send(&app, Method::PATCH, &uri, None, "{}").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Delete: soft, counted out at once, then gone.
    let (count, total) = (photo_count(&app, trig).await, total_photos(&app).await);
    let r = send(&app, Method::DELETE, &uri, Some(&token(user + 1, &["api:write"])), "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, Method::DELETE, &uri, Some(&owner), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!((photo_count(&app, trig).await, total_photos(&app).await), (count - 1, total - 1));
    let embedded = app.ok(&format!("/v1/logs/{log}?include=photos")).await;
    assert!(!embedded["photos"].as_array().expect("photos").iter().any(|p| p["id"] == id));
    let r = send(&app, Method::DELETE, &uri, Some(&owner), "").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Photo not found")));
}

async fn photos_rotate_into_new_files(app: TestApp) {
    let (log, user, _) = a_log(&app).await;
    let owner = token(user, &["api:write"]);
    let r = upload(&app, log, Some(&owner), form(Some(&fixture("landscape.jpg")), FIELDS)).await;
    let id = r.body["id"].as_i64().expect("id");
    let first_url = r.body["photo_url"].clone();
    let rotate = format!("/v1/photos/{id}/rotate");

    // An empty body turns 90° clockwise: the red top-left corner goes top-right.
    let r = send(&app, Method::POST, &rotate, Some(&owner), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_shape(&r.body, &photo_a());
    assert_eq!((r.body["width"].as_i64(), r.body["height"].as_i64()), (Some(200), Some(300)));
    assert!(r.body["photo_url"].as_str().is_some_and(|u| u.ends_with(&format!("/P{id:05}_r1.jpg"))), "{}", r.body);
    let img = served(&app, &r.body["photo_url"]).await;
    assert!(is_red(&img, 180, 20) && !is_red(&img, 20, 20), "turned clockwise");
    assert_eq!(served(&app, &r.body["icon_url"]).await.dimensions(), (80, 120));
    assert_eq!(app.ok(&format!("/v1/photos/{id}")).await["width"], 200, "read back at once");
    // The earlier file stays in the store (for moderation), but is no longer served.
    let first_path = first_url.as_str().and_then(|u| u.split_once("/photos/")).map(|(_, k)| k.to_owned());
    let first_path = first_path.expect("a photo URL");
    assert!(app.photos_dir.join(&first_path).exists(), "the earlier file stays");
    assert_eq!(app.get(&format!("/photos/{first_path}")).await.status, StatusCode::NOT_FOUND);

    let r = send(&app, Method::POST, &rotate, Some(&owner), r#"{"angle": 180}"#).await;
    assert!(r.body["photo_url"].as_str().is_some_and(|u| u.ends_with("_r2.jpg")), "{}", r.body);
    let img = served(&app, &r.body["photo_url"]).await;
    assert!(is_red(&img, 20, 280), "then half a turn");

    let r = send(&app, Method::POST, &rotate, Some(&owner), r#"{"angle": 45}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["detail"][0]["msg"], "Value error, angle must be 90, 180, or 270 degrees");
    let r = send(&app, Method::POST, &rotate, None, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the original let anyone rotate");
    let r = send(&app, Method::POST, &rotate, Some(&token(user + 1, &["api:write"])), "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, Method::POST, "/v1/photos/99999999/rotate", Some(&owner), "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Concurrent rotations of one photo never interleave: each succeeds in turn or is a 409.
    let before = revision(&app.ok(&format!("/v1/photos/{id}")).await);
    let turn = || send(&app, Method::POST, &rotate, Some(&owner), r#"{"angle": 90}"#);
    let (a, b, c, d) = tokio::join!(turn(), turn(), turn(), turn());
    let results = [a, b, c, d];
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    let statuses: Vec<_> = results.iter().map(|r| (r.status, r.text.clone())).collect();
    assert!(
        ok >= 1 && results.iter().all(|r| r.status == StatusCode::OK || r.status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let after = app.ok(&format!("/v1/photos/{id}")).await;
    assert_eq!(revision(&after), before + ok as u32, "one revision per rotation that succeeded");
    let img = served(&app, &after["photo_url"]).await;
    assert_eq!(
        (img.width() as i64, img.height() as i64),
        (after["width"].as_i64().unwrap_or(0), after["height"].as_i64().unwrap_or(0))
    );

    // A seeded photo (its file shared in the demo pool) is rotated into files of its own.
    let seeded = app.ok("/v1/photos?limit=1&skip=20").await["items"][0].clone();
    let (sid, suser) = (seeded["id"].as_i64().expect("id"), seeded["user_id"].as_i64().expect("user") as i32);
    let r =
        send(&app, Method::POST, &format!("/v1/photos/{sid}/rotate"), Some(&token(suser, &["api:write"])), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["photo_url"].as_str().is_some_and(|u| u.ends_with(&format!("/P{sid:05}_r1.jpg"))), "{}", r.body);
    let pool = served(&app, &seeded["photo_url"]).await;
    assert_eq!(
        pool.dimensions(),
        (seeded["width"].as_i64().unwrap_or(0) as u32, seeded["height"].as_i64().unwrap_or(0) as u32),
        "the pool file is untouched"
    );
}

/// A photo still on a legacy server is downloaded from its URL to be rotated, and stored here.
async fn legacy_photos_are_downloaded_to_be_rotated(app: TestApp) {
    let jpeg = fixture("landscape.jpg");
    let legacy = axum::Router::new().route("/photos/000/P00001.jpg", axum::routing::get(move || async move { jpeg }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, legacy).await });

    let photo = app.ok("/v1/photos?limit=1&skip=5").await["items"][0].clone();
    let (id, user) = (photo["id"].as_i64().expect("id"), photo["user_id"].as_i64().expect("user") as i32);
    let sql = [
        format!("INSERT INTO server (id, url, path, name) VALUES (7, 'http://{addr}/photos/', '', 'legacy')"),
        format!("UPDATE tphoto SET server_id = 7, filename = '000/P00001.jpg' WHERE id = {id}"),
    ];
    for statement in &sql {
        app.db.execute_raw(statement).await.expect("point the photo at the legacy server");
    }
    let owner = token(user, &["api:write"]);
    let r = send(&app, Method::POST, &format!("/v1/photos/{id}/rotate"), Some(&owner), r#"{"angle": 270}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.body["photo_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/P{id:05}_r1.jpg")) && !u.contains(&addr.to_string())),
        "{}",
        r.body
    );
    let img = served(&app, &r.body["photo_url"]).await;
    assert!(img.dimensions() == (200, 300) && is_red(&img, 20, 280), "turned anticlockwise, stored here");

    // A file the legacy server does not have: 502, and the photo is as it was.
    app.db
        .execute_raw(&format!("UPDATE tphoto SET server_id = 7, filename = '000/P00002.jpg' WHERE id = {id}"))
        .await
        .expect("update");
    let before = app.ok(&format!("/v1/photos/{id}")).await;
    let r = send(&app, Method::POST, &format!("/v1/photos/{id}/rotate"), Some(&owner), "").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::BAD_GATEWAY, Some("Failed to download photo")));
    assert_eq!(app.get(&format!("/v1/photos/{id}")).await.body, before);
}

backend_tests!(writes: jpeg_png_and_webp_uploads_are_stored_upright_as_jpeg, bad_uploads_are_refused_and_leave_nothing_behind,
    photos_can_be_edited_and_deleted, photos_rotate_into_new_files, legacy_photos_are_downloaded_to_be_rotated);
