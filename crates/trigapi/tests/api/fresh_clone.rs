//! The binary as a newcomer runs it: `trigapi` with no configuration in an empty directory
//! creates `data/trigapi.db`, seeds the demo data, serves `/v1/stats/site`, and stops cleanly on
//! SIGTERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A minimal HTTP/1.1 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[test]
fn default_command_serves_site_stats_from_an_empty_directory() {
    let dir = std::env::temp_dir().join(format!("trigapi-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trigapi"))
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("TRIGAPI_CONFIG")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        // As on a machine without Redis (nothing listens on port 1): the server still serves.
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trigapi");
    let deadline = Instant::now() + Duration::from_secs(120);
    let stats = loop {
        if let Ok((200, body)) = http_get(port, "/v1/stats/site") {
            break body;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        assert!(child.try_wait().ok().flatten().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(200));
    };
    let v: serde_json::Value = serde_json::from_str(&stats).expect("JSON");
    for key in ["total_trigs", "total_users", "total_logs", "total_photos"] {
        assert!(v[key].as_i64() > Some(0), "{key} is zero: {v}");
    }
    assert!(dir.join("data/trigapi.db").exists(), "the default SQLite file was created");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no graceful shutdown on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(&dir);
}
