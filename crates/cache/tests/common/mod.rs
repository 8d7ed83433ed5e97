//! A real `redis-server` per test, on a free port, that the test can kill, freeze (SIGSTOP)
//! and restart. Needs `redis-server` on PATH; without it tests skip, unless
//! `TRIGAPI_REQUIRE_REDIS=1` (set by CI) makes that a failure.

#![allow(dead_code, reason = "each test binary uses its own subset of the harness")]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// Where snapshots go, for servers that keep their data across restarts.
    dir: Option<std::path::PathBuf>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub fn redis_available() -> bool {
    let found = Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_ok();
    if !found {
        assert!(
            std::env::var("TRIGAPI_REQUIRE_REDIS").is_err(),
            "redis-server is required (TRIGAPI_REQUIRE_REDIS is set)"
        );
        eprintln!("skipped: redis-server not found");
    }
    found
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, None)
    }

    /// A server that loads `dir/dump.rdb` on start and writes it on `SAVE` (see [`Self::save`]).
    pub fn start_persistent(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).expect("redis dir");
        Self::spawn(free_port(), Some(dir.to_owned()))
    }

    fn spawn(port: u16, dir: Option<std::path::PathBuf>) -> Self {
        // Another test may take the same free port between our probe and redis-server's bind;
        // then our server exits and the port answers for theirs. Check the answering process
        // is ours, and try another port if not.
        for attempt in 0..5 {
            let port = if attempt == 0 { port } else { free_port() };
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            if let Some(d) = &dir {
                cmd.args(["--dir", &d.display().to_string(), "--dbfilename", "dump.rdb"]);
            }
            let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) && answering_pid(port) == Some(child.id()) {
                return Self { child: Some(child), port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a redis-server of our own");
    }

    /// Start again on the same port (and data directory) after [`Self::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Self::spawn(self.port, self.dir.clone());
        assert_eq!(fresh.port, self.port, "restarted on another port");
        self.child = fresh.child_take();
    }

    fn child_take(mut self) -> Option<Child> {
        self.child.take()
    }

    /// Snapshot the data set to disk now (`SAVE`), through `redis-cli`.
    pub fn save(&self) {
        let ok = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "SAVE"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "redis-cli SAVE");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(|c| c.id().to_string()).unwrap_or_default();
        let ok = Command::new("kill").args([sig, &pid]).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "kill {sig} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-CONT");
        }
        self.kill();
    }
}

/// The pid of the redis-server answering on `port`.
fn answering_pid(port: u16) -> Option<u32> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "server"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix("process_id:")?.trim().parse().ok())
}
