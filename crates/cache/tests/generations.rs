//! Tag generations against a real `redis-server`: bumps are seen at once, and an entry computed
//! before a write can be stored after it but is never served as current.

mod common;

use common::{RedisServer, redis_available};
use trigapi_cache::RedisTierConfig;
use trigapi_cache::internals::{Entry, EntryMeta, Generations, Lookup, RedisTier};

async fn setup() -> Option<(RedisServer, RedisTier, Generations)> {
    if !redis_available() {
        return None;
    }
    let server = RedisServer::start();
    let tier = RedisTier::connect(&server.url(), RedisTierConfig::default()).await.expect("valid url");
    let gens = Generations::new(tier.clone(), "test:env");
    Some((server, tier, gens))
}

fn entry(body: &[u8], generations: Vec<u64>) -> Vec<u8> {
    let meta = EntryMeta {
        status: 200,
        content_type: "application/json".into(),
        headers: vec![],
        ttl_secs: 60,
        grace_secs: 0,
        compute_micros: 100,
        generations,
    };
    Entry::new(meta, body, 0, 1024).encode()
}

#[tokio::test]
async fn a_bump_is_seen_by_the_next_read() {
    let Some((_server, _tier, gens)) = setup().await else { return };
    let tags = Generations::tag_set(["item:1", "item:1", "items:list"]);
    assert_eq!(tags, ["*", "item:1", "items:list"], "global first, no duplicates");
    assert_eq!(gens.read(&tags).await.expect("read"), [0, 0, 0]);
    gens.bump(&["item:1"]).await.expect("bump");
    assert_eq!(gens.read(&tags).await.expect("read"), [0, 1, 0]);
    gens.bump(&["*"]).await.expect("flush all");
    assert_eq!(gens.read(&tags).await.expect("read"), [1, 1, 0]);
    assert_eq!(gens.key("item:1"), "{test:env}:gen:item:1", "one hash slot per namespace");
}

#[tokio::test]
async fn a_value_computed_before_a_write_is_dead_on_arrival() {
    let Some((_server, tier, gens)) = setup().await else { return };
    let tags = Generations::tag_set(["item:1"]);
    // A miss reads the generations, then queries the database...
    let before = gens.read(&tags).await.expect("read");
    // ...meanwhile a write commits and bumps its tags...
    gens.bump(&["item:1"]).await.expect("bump");
    // ...and the miss stores its (old) result afterwards.
    tier.set_ex("k", &entry(b"old", before), 60).await.expect("store");
    assert!(matches!(gens.lookup("k", &tags).await.expect("lookup").0, Lookup::Invalidated), "never served as current");
    // The next miss computes under the new generations, and that entry is current.
    let now = gens.read(&tags).await.expect("read");
    tier.set_ex("k", &entry(b"new", now), 60).await.expect("store");
    match gens.lookup("k", &tags).await.expect("lookup").0 {
        Lookup::Current(e) => assert_eq!(e.identity_body().expect("body").as_ref(), b"new"),
        other => panic!("expected the new entry, got {other:?}"),
    }
}

#[tokio::test]
async fn other_tags_do_not_invalidate_and_flush_all_does() {
    let Some((_server, tier, gens)) = setup().await else { return };
    let tags = Generations::tag_set(["item:1"]);
    tier.set_ex("k", &entry(b"v", gens.read(&tags).await.expect("read")), 60).await.expect("store");
    gens.bump(&["item:12", "items:list"]).await.expect("bump others");
    assert!(matches!(gens.lookup("k", &tags).await.expect("lookup").0, Lookup::Current(_)));
    gens.bump(&["*"]).await.expect("flush");
    assert!(matches!(gens.lookup("k", &tags).await.expect("lookup").0, Lookup::Invalidated));
}

#[tokio::test]
async fn missing_and_corrupt_entries_are_reported_not_raised() {
    let Some((_server, tier, gens)) = setup().await else { return };
    let tags = Generations::tag_set(["item:1"]);
    assert!(matches!(gens.lookup("absent", &tags).await.expect("lookup").0, Lookup::Missing));
    tier.set_ex("junk", br#"{"value": {"id": 1}, "ttl": 60}"#, 60).await.expect("store foreign bytes");
    assert!(matches!(gens.lookup("junk", &tags).await.expect("lookup").0, Lookup::Corrupt(_)));
}

#[tokio::test]
async fn a_restart_from_an_old_snapshot_is_detected_by_its_run_id() {
    if !redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trigapi-gen-snapshot-{}", std::process::id()));
    let mut server = RedisServer::start_persistent(&dir);
    let tier = RedisTier::connect(&server.url(), RedisTierConfig::default()).await.expect("valid url");
    let gens = Generations::new(tier, "test:env");
    let tags = Generations::tag_set(["item:1"]);
    assert!(gens.check_restart().await.expect("check"), "a first start counts: nothing is known");
    assert!(!gens.check_restart().await.expect("check"), "same server, same run id");
    let stored = gens.read(&tags).await.expect("read");
    server.save();
    gens.bump(&["item:1"]).await.expect("a bump after the snapshot");
    server.restart();
    // A fresh client: what a newly started instance would see.
    let tier = RedisTier::connect(&server.url(), RedisTierConfig::default()).await.expect("valid url");
    let fresh = Generations::new(tier, "test:env");
    assert_eq!(fresh.read(&tags).await.expect("read"), stored, "the snapshot lost the bump...");
    assert!(fresh.check_restart().await.expect("check"), "...and the restart is detected");
    let now = fresh.read(&tags).await.expect("read");
    assert_ne!(now[0], stored[0], "the global generation moved: every old entry is invalid");
    let _ = std::fs::remove_dir_all(&dir);
}
