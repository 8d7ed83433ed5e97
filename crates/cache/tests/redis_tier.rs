//! The Redis tier against real `redis-server` processes that each test starts on a free port
//! and then kills, freezes (SIGSTOP) or restarts (harness in `common/`).

mod common;

use std::time::{Duration, Instant};

use common::{RedisServer, free_port, redis_available};
use trigapi_cache::RedisTierConfig;
use trigapi_cache::internals::{RedisTier, TierError};

fn config() -> RedisTierConfig {
    let mut c = RedisTierConfig::default();
    c.command_timeout = Duration::from_millis(50);
    c.max_command_timeout = Duration::from_millis(200);
    c.connect_timeout = Duration::from_millis(100);
    c.failures_to_open = 3;
    c.probe_interval = Duration::from_millis(50);
    c
}

/// [`config`], probing only once an hour (the test restarts Redis itself).
fn config_without_probe() -> RedisTierConfig {
    let mut c = config();
    c.probe_interval = Duration::from_secs(3600);
    c
}

/// Generous bound for one call: the 50 ms timeout plus scheduling slack on a loaded machine.
const ONE_CALL: Duration = Duration::from_millis(400);

async fn wait_until_available(tier: &RedisTier) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tier.is_available() {
        assert!(Instant::now() < deadline, "the probe never reconnected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let tier = RedisTier::connect(&server.url(), config()).await.expect("valid url");
    assert!(tier.is_available());
    tier.set_ex("k", b"v", 60).await.expect("set");
    assert_eq!(tier.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(tier.get("missing").await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_opens_the_circuit_and_a_restart_closes_it() {
    if !redis_available() {
        return;
    }
    let mut server = RedisServer::start();
    let port = server.port;
    let tier = RedisTier::connect(&server.url(), config_without_probe()).await.expect("valid url");
    tier.set_ex("k", b"v", 60).await.expect("set");
    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let r = tier.get("k").await;
        assert!(r.is_err(), "{r:?}");
        assert!(started.elapsed() < ONE_CALL, "a failing call took {:?}", started.elapsed());
    }
    assert!(!tier.is_available(), "three failures open the circuit");
    let started = Instant::now();
    assert!(matches!(tier.get("k").await, Err(TierError::Unavailable)));
    assert!(started.elapsed() < Duration::from_millis(50), "an open circuit does not touch the network");

    // Same port, fresh (empty) server; a tier whose probe runs quickly finds it again.
    let _restarted = RedisServer::start_on(port);
    let tier = RedisTier::connect(&format!("redis://127.0.0.1:{port}/"), config()).await.expect("valid url");
    wait_until_available(&tier).await;
    assert_eq!(tier.get("k").await.expect("get"), None, "the restarted server lost its data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reconnects_after_an_outage() {
    if !redis_available() {
        return;
    }
    let mut server = RedisServer::start();
    let port = server.port;
    let tier = RedisTier::connect(&server.url(), config()).await.expect("valid url");
    server.kill();
    while tier.is_available() {
        let _ = tier.get("k").await;
    }
    let _back = RedisServer::start_on(port);
    wait_until_available(&tier).await;
    tier.set_ex("k", b"again", 60).await.expect("set after recovery");
    assert_eq!(tier.get("k").await.expect("get"), Some(b"again".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_at_most_the_timeout() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let tier = RedisTier::connect(&server.url(), config()).await.expect("valid url");
    tier.set_ex("k", b"v", 60).await.expect("set");
    server.signal("-STOP");
    for _ in 0..3 {
        let started = Instant::now();
        assert!(matches!(tier.get("k").await, Err(TierError::Timeout)));
        assert!(started.elapsed() < ONE_CALL, "a frozen server held a call for {:?}", started.elapsed());
    }
    assert!(!tier.is_available());
    server.signal("-CONT");
    wait_until_available(&tier).await;
    assert_eq!(tier.get("k").await.expect("get"), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_up_is_not_an_error() {
    if !redis_available() {
        return;
    }
    let port = free_port();
    let tier =
        RedisTier::connect(&format!("redis://127.0.0.1:{port}/"), config()).await.expect("only the URL can fail");
    assert!(!tier.is_available());
    assert!(matches!(tier.get("k").await, Err(TierError::Unavailable)));
    let _server = RedisServer::start_on(port);
    wait_until_available(&tier).await;
    tier.set_ex("k", b"v", 60).await.expect("set");
    assert!(RedisTier::connect("not a url", config()).await.is_err());
}
