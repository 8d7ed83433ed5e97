//! The `migrate` and `seed` commands as an operator runs them.

use std::process::{Command, Output};

fn trigapi(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trigapi"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", format!("sqlite://{}/cli.db", dir.display()))
        .env("PHOTOS_DIR", dir.join("photos"))
        .env_remove("TRIGAPI_CONFIG")
        .output()
        .expect("run trigapi")
}

#[test]
fn seed_refuses_a_database_with_data_and_migrate_is_idempotent() {
    let dir = std::env::temp_dir().join(format!("trigapi-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    for _ in 0..2 {
        let out = trigapi(&dir, &["migrate"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = trigapi(&dir, &["seed"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("tlog") && err.contains("100%"), "progress is shown: {err}");
    assert!(err.contains("seeded 24563 trigs, 600 users, 12000 logs"), "{err}");
    assert!(dir.join("photos/demo/P00.jpg").exists(), "photo files are written");

    let out = trigapi(&dir, &["seed"]);
    assert!(!out.status.success(), "a second seed must not mix data sets");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --reset"));

    let out = trigapi(&dir, &["seed", "--reset"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = trigapi(&dir, &["seed", "--scale", "huge"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'huge'"));
    let _ = std::fs::remove_dir_all(&dir);
}
