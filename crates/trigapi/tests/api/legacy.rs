//! Serving an existing legacy database changes nothing in it: no migrations, no indexes, no
//! bookkeeping table, unless the operator opts in (`trigapi migrate`, `--migrate`).

use std::time::Duration;

use trigapi::config::Config;
use trigapi::db::Db;
use trigapi::startup::Application;

use crate::helpers::{Backend, backend_configured, blank_database};

/// Every table and index name in the database, sorted.
async fn schema_objects(db: &Db) -> Vec<String> {
    #[derive(sqlx::FromRow)]
    struct Name {
        name: String,
    }
    let rows: Vec<Name> = match db {
        Db::Postgres(p) => sqlx::query_as(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'
             UNION ALL SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal",
        )
        .fetch_all(p)
        .await
        .expect("list schema"),
        Db::MySql(p) => sqlx::query_as(
            "SELECT CAST(TABLE_NAME AS CHAR) AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
             UNION ALL SELECT CAST(CONCAT(TABLE_NAME, '.', INDEX_NAME) AS CHAR) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
             UNION ALL SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        )
        .fetch_all(p)
        .await
        .expect("list schema"),
        Db::Sqlite(_) => Vec::new(),
    };
    let mut names: Vec<String> = rows.into_iter().map(|r| r.name).collect();
    names.sort();
    names.dedup();
    names
}

async fn serving_leaves_a_legacy_database_untouched(backend: Backend) {
    if !backend_configured(backend) {
        return;
    }
    let url = blank_database(backend).await.expect("database");
    let db = Db::connect(&url, 2).await.expect("connect");
    // The legacy tables as the site has them, created by hand (no migration bookkeeping).
    let ddl = match backend {
        Backend::Postgres => include_str!("../../migrations/postgres/0001_legacy_schema.sql"),
        _ => include_str!("../../migrations/mysql/0001_legacy_schema.sql"),
    };
    db.execute_raw(ddl).await.expect("legacy DDL");
    let before = schema_objects(&db).await;
    assert!(!before.iter().any(|n| n.contains("sqlx_migrations")));

    let mut config = Config::default();
    config.database.database_url = url.as_str().into();
    config.server.bind_addr = "127.0.0.1:0".into();
    config.cache.redis_url = None;
    let app = Application::build(config).await.expect("serve a legacy database");
    let addr = app.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let body = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        write!(s, "GET /v1/stats/site HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        raw
    })
    .await
    .expect("request");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"total_trigs\":0"), "{body}");
    let _ = stop.send(());
    server.await.expect("server task").expect("clean stop");

    assert_eq!(schema_objects(&db).await, before, "serving changed the schema");
    db.close().await;
}

#[tokio::test]
#[cfg_attr(not(trigapi_test_postgres), ignore = "TEST_POSTGRES_URL is not set")]
async fn postgres_legacy_database_is_not_altered_by_serving() {
    serving_leaves_a_legacy_database_untouched(Backend::Postgres).await;
}

#[tokio::test]
#[cfg_attr(not(trigapi_test_mysql), ignore = "TEST_MYSQL_URL is not set")]
async fn mysql_legacy_database_is_not_altered_by_serving() {
    serving_leaves_a_legacy_database_untouched(Backend::MySql).await;
}
