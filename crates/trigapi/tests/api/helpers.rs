//! Test harness: a seeded database per backend (once per test process), the real router, and
//! typed request helpers.
//!
//! Backends: SQLite always; PostgreSQL when `TEST_POSTGRES_URL` is set (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`), MySQL/MariaDB when `TEST_MYSQL_URL` is set
//! (`mysql://root@127.0.0.1:3306`). Each process creates its own database
//! `trigapi_test_<pid>_<n>` there, and drops those left behind by processes that no longer run.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use trigapi::config::Config;
use trigapi::db::Db;
use trigapi::seed::{self, Scale};
use trigapi::startup::{App, build_router};
use trigapi::state::AppState;

pub use trigapi::db::Backend;

/// The variable naming the server a backend's tests create their database on.
fn server_env(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("TEST_POSTGRES_URL"),
        Backend::MySql => Some("TEST_MYSQL_URL"),
    }
}

/// Whether `backend`'s tests can run here (SQLite always; the others when their server is named).
pub fn backend_configured(backend: Backend) -> bool {
    server_env(backend).is_none_or(|var| std::env::var(var).is_ok_and(|v| !v.is_empty()))
}

static SQLITE: OnceLock<Result<String, String>> = OnceLock::new();
static POSTGRES: OnceLock<Result<String, String>> = OnceLock::new();
static MYSQL: OnceLock<Result<String, String>> = OnceLock::new();

/// The seeded database URL for `backend`, or `None` when that backend is not configured.
pub fn seeded_database(backend: Backend) -> Option<String> {
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
        Backend::MySql => &MYSQL,
    };
    if !backend_configured(backend) {
        eprintln!("skipped: {} is not set", server_env(backend).unwrap_or_default());
        return None;
    }
    // Seeding runs on its own thread and runtime: a pool must not outlive the runtime that
    // created it, and every #[tokio::test] has its own.
    let result = cell.get_or_init(|| {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(prepare(backend)).map_err(|e| format!("{e:#}"))
        })
        .join()
        .unwrap_or_else(|_| Err("seeding thread panicked".into()))
    });
    match result {
        Ok(url) => Some(url.clone()),
        Err(e) => panic!("preparing the {backend:?} test database failed: {e}"),
    }
}

pub fn test_config(database_url: &str) -> Config {
    let photos = std::env::temp_dir().join(format!("trigapi-test-photos-{}", std::process::id()));
    // The cache runs in process (no Redis) unless a test gives a Redis URL: every contract
    // test then also proves that responses come through the cache intact.
    let mut config = Config::default();
    config.database.database_url = database_url.into();
    config.photos.photos_dir = photos;
    config.cache.redis_url = None;
    config
}

/// Create a new, migrated, empty database and return its URL.
async fn new_database(backend: Backend) -> anyhow::Result<String> {
    let url = blank_database(backend).await?;
    let db = Db::connect(&url, 4).await?;
    trigapi::db::migrate::run(&db).await?;
    db.close().await;
    Ok(url)
}

/// Create a new database with no tables at all (not even migrations) and return its URL.
pub async fn blank_database(backend: Backend) -> anyhow::Result<String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let pid = std::process::id();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let url = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("trigapi-test-{pid}"));
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("db{n}.sqlite"));
            let _ = std::fs::remove_file(&file);
            format!("sqlite://{}", file.display())
        }
        Backend::Postgres | Backend::MySql => {
            let var = server_env(backend).unwrap_or_default();
            let server = std::env::var(var)?;
            let admin = Db::connect(&server, 2).await?;
            if n == 0 {
                drop_orphans(&admin, backend).await;
            }
            let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
            let name = format!("trigapi_test_{pid}_{millis}_{n}");
            admin.execute_raw(&format!("CREATE DATABASE {name}")).await?;
            admin.close().await;
            replace_database(&server, &name)
        }
    };
    Ok(url)
}

async fn prepare(backend: Backend) -> anyhow::Result<String> {
    let url = new_database(backend).await?;
    seed_demo(&url).await?;
    Ok(url)
}

/// Migrate the database at `url` and fill it with the demo data set, places and postcodes.
pub async fn seed_demo(url: &str) -> anyhow::Result<()> {
    let db = Db::connect(url, 4).await?;
    trigapi::db::migrate::run(&db).await?;
    seed::run(&db, &test_config(url), Scale::Demo, &mut NoProgress).await?;
    trigapi::gazetteer::load_vendored(&db, &trigapi_cache::Cache::disabled()).await?;
    db.close().await;
    Ok(())
}

struct NoProgress;
impl seed::Progress for NoProgress {
    fn table(&mut self, _: &str, _: usize, _: usize) {}
}

/// Swap the database name in a server URL (`…/postgres` → `…/name`, keeping any query).
pub fn replace_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Drop `trigapi_test_<pid>_*` databases whose process has exited (Linux: no `/proc/<pid>`).
async fn drop_orphans(admin: &Db, backend: Backend) {
    #[derive(sqlx::FromRow)]
    struct Name {
        name: String,
    }
    let list = match backend {
        Backend::Postgres => "SELECT datname AS name FROM pg_database WHERE datname LIKE 'trigapi\\_test\\_%'",
        _ => "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'trigapi\\_test\\_%'",
    };
    let names: Vec<Name> = match admin {
        Db::Postgres(p) => sqlx::query_as(list).fetch_all(p).await.unwrap_or_default(),
        Db::MySql(p) => sqlx::query_as(list).fetch_all(p).await.unwrap_or_default(),
        Db::Sqlite(_) => Vec::new(),
    };
    for Name { name } in names {
        let pid = name.split('_').nth(2).unwrap_or("");
        if !pid.is_empty()
            && std::path::Path::new("/proc").exists()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

/// The real router over a seeded database.
pub struct TestApp {
    router: App,
    pub db: Db,
    /// The app's response cache, for tests that write around the API and invalidate as a
    /// command would.
    pub cache: trigapi_cache::Cache,
    /// Where the app keeps photo files.
    pub photos_dir: std::path::PathBuf,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: bytes::Bytes,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    /// The app over the shared, seeded, read-only database of `backend`.
    pub async fn new(backend: Backend) -> Option<Self> {
        let url = seeded_database(backend)?;
        Some(Self::over(&url).await)
    }

    /// The app over a new empty database of its own, for tests that change data behind the
    /// API's back (so with the response cache off).
    pub async fn empty(backend: Backend) -> Option<Self> {
        if !backend_configured(backend) {
            return None;
        }
        let url = new_database(backend).await.expect("create a test database");
        let mut config = test_config(&url);
        config.cache.cache_enabled = false;
        Some(Self::with_config(config).await)
    }

    /// The app over a freshly seeded database of its own (for tests that write), with the
    /// response cache in process and `change` applied to the configuration.
    pub async fn writable(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<Self> {
        Some(Self::with_config(writable_config(backend, change).await?).await)
    }

    /// [`TestApp::writable`] accepting HS256 tokens signed with [`TOKEN_SECRET`] and webhook
    /// calls with [`WEBHOOK_SECRET`].
    pub async fn for_writes(backend: Backend) -> Option<Self> {
        Self::writable(backend, |c| {
            c.auth.jwt_hs256_secret = Some(TOKEN_SECRET.into());
            c.auth.webhook_shared_secret = Some(WEBHOOK_SECRET.into());
        })
        .await
    }

    /// The seeded app with a changed configuration.
    pub async fn configured(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<Self> {
        let url = seeded_database(backend)?;
        let mut config = test_config(&url);
        change(&mut config);
        Some(Self::with_config(config).await)
    }

    async fn over(url: &str) -> Self {
        Self::with_config(test_config(url)).await
    }

    pub async fn with_config(config: Config) -> Self {
        let cache = trigapi::cache::build(&config).await.expect("cache configuration");
        Self::with_cache(config, cache).await
    }

    /// The app with `cache` (which other apps may share, as one process's routers would).
    pub async fn with_cache(config: Config, cache: trigapi_cache::Cache) -> Self {
        let db = Db::connect(config.database.database_url.expose(), 4).await.expect("connect to the test database");
        let photos_dir = config.photos.photos_dir.clone();
        let router = build_router(AppState::new(db.clone(), config, cache.clone()).expect("state configuration"));
        Self { router, db, cache, photos_dir }
    }

    /// The router, for requests that need the raw response.
    pub fn router(&self) -> App {
        self.router.clone()
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri).await
    }

    pub async fn request(&self, method: Method, uri: &str) -> TestResponse {
        self.send(Request::builder().method(method).uri(uri).body(Body::empty()).expect("request")).await
    }

    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.expect("router never fails");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = json_body(&headers, &bytes, &text);
        TestResponse { status, headers, bytes, body, text }
    }

    /// GET that must answer 200 with JSON.
    pub async fn ok(&self, uri: &str) -> Value {
        let r = self.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "GET {uri}: {}", r.text);
        r.body
    }
}

/// A response's body as JSON: `null` for a body that is not JSON by its `Content-Type`, and a
/// failed test for one that says it is JSON but is not (it used to become `null` silently,
/// which assertions on `null` fields then passed).
pub fn json_body(headers: &HeaderMap, bytes: &[u8], text: &str) -> Value {
    let says_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let encoded = headers.get(axum::http::header::CONTENT_ENCODING).is_some_and(|e| e != "identity");
    if !says_json || encoded || bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("a JSON response that is not JSON ({e}): {text}"))
}

/// The configuration of an app over a freshly seeded database of its own (for tests that
/// write), with its own photo directory and `change` applied; `None` when `backend` has no
/// server here.
pub async fn writable_config(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<Config> {
    if !backend_configured(backend) {
        return None;
    }
    let url = new_database(backend).await.expect("create a test database");
    let mut config = test_config(&url);
    // Its own photo directory: apps that upload must not overwrite each other's files.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    config.photos.photos_dir.set_file_name(format!("trigapi-test-photos-{}-{n}", std::process::id()));
    let db = Db::connect(&url, 4).await.expect("connect");
    seed::run(&db, &config, Scale::Demo, &mut NoProgress).await.expect("seed");
    db.close().await;
    change(&mut config);
    Some(config)
}

/// Turns on the machine. Tests whose assertions are about time (the consistency checker's
/// cross-instance window, latency bounds under faults) run alone; CPU-heavy tests (the
/// write-safety suite: bursts, uploads, two servers) run together, but never alongside them.
/// On two cores a burst of image processing next to the checker stretched a 2 ms window to
/// half a second.
static TURNS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Hold while measuring time.
pub async fn timing_sensitive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    TURNS.write().await
}

/// Hold while loading the machine.
pub async fn cpu_heavy() -> tokio::sync::RwLockReadGuard<'static, ()> {
    TURNS.read().await
}

/// The HS256 secret of [`TestApp::for_writes`].
pub const TOKEN_SECRET: &str = "test-hs256-secret-0123456789";
/// The registration webhook's secret in [`TestApp::for_writes`].
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// Generate one `#[tokio::test]` per backend for each named `async fn(TestApp)` (those of a
/// backend whose server variable was not set at build time are ignored, and say why), over the
/// shared seeded database (`backend_tests!(a, b)`), a new empty one each
/// (`backend_tests!(empty: a, b)`), or a newly seeded one each that accepts tokens signed with
/// [`TOKEN_SECRET`] (`backend_tests!(writes: a, b)`).
#[macro_export]
macro_rules! backend_tests {
    (empty: $($name:ident),* $(,)?) => { $crate::backend_tests!(@app empty; $($name),*); };
    (writes: $($name:ident),* $(,)?) => { $crate::backend_tests!(@app for_writes; $($name),*); };
    ($($name:ident),* $(,)?) => { $crate::backend_tests!(@app new; $($name),*); };
    (@app $ctor:ident; $($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::$ctor($crate::helpers::Backend::Sqlite).await { super::$name(app).await }
            })*
        }
        mod postgres {
            $(#[tokio::test]
            #[cfg_attr(not(trigapi_test_postgres), ignore = "TEST_POSTGRES_URL is not set")]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::$ctor($crate::helpers::Backend::Postgres).await { super::$name(app).await }
            })*
        }
        mod mysql {
            $(#[tokio::test]
            #[cfg_attr(not(trigapi_test_mysql), ignore = "TEST_MYSQL_URL is not set")]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::$ctor($crate::helpers::Backend::MySql).await { super::$name(app).await }
            })*
        }
    };
}

/// Whether `v` has the key `key` and it is `null` (indexing a missing key also gives `null`,
/// so `v[key].is_null()` cannot tell a null field from a missing one).
pub fn null_field(v: &Value, key: &str) -> bool {
    v.get(key) == Some(&Value::Null)
}

/// JSON type names used by [`assert_shape`].
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Assert that `v` is an object with exactly these keys, each of one of the `|`-separated types
/// (`"float"` also accepts an integral JSON number).
pub fn assert_shape(v: &Value, fields: &[(&str, &str)]) {
    let obj = v.as_object().unwrap_or_else(|| panic!("expected an object, got {v}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected, "keys of {v}");
    for (k, types) in fields {
        let actual = json_type(&obj[*k]);
        let ok = types.split('|').any(|t| t == actual || (t == "float" && actual == "int"));
        assert!(ok, "field {k}: expected {types}, got {actual} in {v}");
    }
}

pub const TRIG_MINIMAL: &[(&str, &str)] = &[
    ("id", "int"),
    ("waypoint", "str"),
    ("name", "str"),
    ("status_name", "str|null"),
    ("physical_type", "str"),
    ("condition", "str"),
    ("wgs_lat", "float"),
    ("wgs_long", "float"),
    ("osgb_gridref", "str"),
    ("distance_km", "float|null"),
];

pub const LOG: &[(&str, &str)] = &[
    ("id", "int"),
    ("trig_id", "int"),
    ("user_id", "int"),
    ("date", "str"),
    ("time", "str"),
    ("osgb_eastings", "int|null"),
    ("osgb_northings", "int|null"),
    ("osgb_gridref", "str|null"),
    ("fb_number", "str"),
    ("condition", "str"),
    ("comment", "str"),
    ("score", "int"),
    ("source", "str"),
    ("trig_name", "str|null"),
    ("user_name", "str|null"),
];

const PHOTO_COMMON: &[(&str, &str)] = &[
    ("id", "int"),
    ("log_id", "int"),
    ("user_id", "int"),
    ("type", "str"),
    ("filesize", "int"),
    ("height", "int"),
    ("width", "int"),
    ("icon_filesize", "int"),
    ("icon_height", "int"),
    ("icon_width", "int"),
    ("text_desc", "str"),
    ("photo_url", "str"),
    ("icon_url", "str"),
    ("user_name", "str|null"),
    ("trig_id", "int|null"),
    ("trig_name", "str|null"),
    ("log_date", "str|null"),
    ("caption", "str"),
    ("license", "str"),
];

pub fn photo_a() -> Vec<(&'static str, &'static str)> {
    PHOTO_COMMON.to_vec()
}

pub fn photo_b() -> Vec<(&'static str, &'static str)> {
    let mut v = PHOTO_COMMON.to_vec();
    v.extend([("name", "str"), ("public_ind", "str")]);
    v
}

pub fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut v = base.to_vec();
    v.extend_from_slice(extra);
    v
}

/// Check the list envelope and return its items.
pub fn envelope(v: &Value) -> &Vec<Value> {
    assert_shape(&v["pagination"], &[("total", "int"), ("limit", "int"), ("offset", "int"), ("has_more", "bool")]);
    assert_shape(&v["links"], &[("self", "str"), ("next", "str|null"), ("prev", "str|null")]);
    v["items"].as_array().unwrap_or_else(|| panic!("items is not an array: {v}"))
}
