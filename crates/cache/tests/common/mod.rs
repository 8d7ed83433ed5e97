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
    /// Extra server arguments (TLS, cluster mode).
    extra: Vec<String>,
    tls: bool,
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
        Self::spawn(port, None, Vec::new(), false)
    }

    /// A server that speaks only TLS, with a self-signed certificate made by `openssl`.
    pub fn start_tls(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).expect("tls dir");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "openssl could not make a test certificate");
        let extra = vec![
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        Self::spawn(free_port(), None, extra, true)
    }

    /// A node of a Redis Cluster (see [`RedisCluster`]).
    fn start_cluster_node(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).expect("cluster dir");
        let port = free_port();
        let extra = vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            dir.join(format!("nodes-{port}.conf")).display().to_string(),
            "--cluster-node-timeout".into(),
            "2000".into(),
        ];
        Self::spawn(port, Some(dir.to_owned()), extra, false)
    }

    /// A server that loads `dir/dump.rdb` on start and writes it on `SAVE` (see [`Self::save`]).
    pub fn start_persistent(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).expect("redis dir");
        Self::spawn(free_port(), Some(dir.to_owned()), Vec::new(), false)
    }

    fn spawn(port: u16, dir: Option<std::path::PathBuf>, extra: Vec<String>, tls: bool) -> Self {
        // Another test may take the same free port between our probe and redis-server's bind;
        // then our server exits and the port answers for theirs. Check the answering process
        // is ours, and try another port if not.
        for attempt in 0..5 {
            let port = if attempt == 0 { port } else { free_port() };
            let mut cmd = Command::new("redis-server");
            if tls {
                cmd.args(["--port", "0", "--tls-port", &port.to_string()]);
            } else {
                cmd.args(["--port", &port.to_string()]);
            }
            cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            if let Some(d) = &dir {
                cmd.args(["--dir", &d.display().to_string(), "--dbfilename", &format!("dump-{port}.rdb")]);
            }
            cmd.args(&extra);
            let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) && answering_pid(port, tls) == Some(child.id()) {
                return Self { child: Some(child), port, dir, extra, tls };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a redis-server of our own");
    }

    /// Start again on the same port (and data directory) after [`Self::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Self::spawn(self.port, self.dir.clone(), self.extra.clone(), self.tls);
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
        if self.tls {
            // A self-signed certificate: skip verification (redis-rs' `#insecure`).
            format!("rediss://127.0.0.1:{}/#insecure", self.port)
        } else {
            format!("redis://127.0.0.1:{}/", self.port)
        }
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
fn answering_pid(port: u16, tls: bool) -> Option<u32> {
    let tls_args: &[&str] = if tls { &["--tls", "--insecure"] } else { &[] };
    let out = Command::new("redis-cli")
        .args(tls_args)
        .args(["-p", &port.to_string(), "INFO", "server"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix("process_id:")?.trim().parse().ok())
}

/// A three-node Redis Cluster (no replicas) on free ports.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    pub fn start(dir: &std::path::Path) -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_cluster_node(dir)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let ok = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "redis-cli --cluster create");
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &n.port.to_string(), "CLUSTER", "INFO"])
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not come up: {info}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Self { nodes, dir: dir.to_owned() }
    }

    /// Every node's URL, comma-separated: how `REDIS_URL` names a cluster.
    pub fn url(&self) -> String {
        self.nodes.iter().map(RedisServer::url).collect::<Vec<_>>().join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
