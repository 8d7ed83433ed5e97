//! What drawing the image endpoints costs, without HTTP or the response cache.
//!
//! Reads `DATABASE_URL` (the recorded numbers use the full-scale SQLite database that
//! `scripts/bench.sh images` seeds) and `BENCH_USER` (default: the user with the most logs,
//! which the script passes), then times:
//! * the default trig map (110 px) for trigs spread over the country;
//! * the user's map at the default 110 px and at 500 px, with and without the not-logged layer;
//! * the badge at scale 1 and 3;
//! * the database reads behind the user map, for comparison.
//!
//! Run: `DATABASE_URL=sqlite:///var/tmp/trigapi-bench/full.db BENCH_USER=123 cargo bench -p trigapi --bench render`

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{report, time};

use trigapi::db::{self, Db};
use trigapi::render::Colour;
use trigapi::render::badge::{self, BadgeText};
use trigapi::render::frame::Projection;
use trigapi::render::map::{self, UserMapColours, UserMapStyle};

async fn time_async<T, Fut: Future<Output = T>>(rounds: usize, mut f: impl FnMut() -> Fut) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(f().await);
        samples.push(start.elapsed());
    }
    samples
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://data/trigapi.db".into());
    let user: i32 = std::env::var("BENCH_USER").ok().and_then(|u| u.parse().ok()).unwrap_or(1);
    let db = Db::connect(&url, 2).await?;
    let logged = db::trigs::logged_by(&db, user).await?;
    let unlogged = db::trigs::not_logged_by(&db, user).await?;
    let trigs = db::trigs::all(&db, 30_000).await?;
    let name = db::users::get(&db, user).await?.map(|u| u.name).unwrap_or_default();
    let stats = db::users::stats_for(&db, &[user]).await?.remove(&user).unwrap_or_default();
    let logs: i64 = logged.iter().map(|t| t.found + t.not_found).sum();
    println!("user {user}: {logs} logs on {} trigs, {} trigs not logged", logged.len(), unlogged.len());
    println!();
    println!("| image | runs | p50 | p99 | max | PNG bytes |");
    println!("|---|---|---|---|---|---|");

    let style = map::trig_map_style("stretched53_default").ok_or_else(|| anyhow::anyhow!("no default style"))?;
    let step = (trigs.len() / 500).max(1);
    let (samples, bytes) = time(500, |i| {
        let t = &trigs[(i * step) % trigs.len()];
        map::trig_map(style, t.wgs_long, t.wgs_lat, Colour::rgb(0, 0, 255), 5).unwrap_or_default()
    });
    report("trig map, default (110 px)", samples, bytes);

    let colours = UserMapColours {
        found: Some(Colour::rgb(255, 0, 0)),
        not_found: Some(Colour::rgb(0, 0, 255)),
        not_logged: None,
    };
    let with_unlogged = UserMapColours { not_logged: Some(Colour::rgb(0, 160, 0)), ..colours };
    let land_only = UserMapColours { found: None, not_found: None, not_logged: None };
    for (label, colours, height, rounds) in [
        ("user map, 500 px, land only (no dots)", land_only, 500, 50),
        ("user map, default (110 px)", colours, 110, 100),
        ("user map, 500 px", colours, 500, 50),
        ("user map, 500 px + not-logged layer", with_unlogged, 500, 20),
        ("user map, 1196 px (full size)", colours, 1196, 10),
    ] {
        let style = UserMapStyle {
            projection: Projection::Stretched53,
            height,
            land: Some(map::LAND),
            coast: Some(map::COAST),
            dot_diameter: 50,
            dot_alpha: 40,
        };
        let (samples, bytes) = time(rounds, |_| {
            let layers = colours.layers(
                logged.iter().map(|t| (t.wgs_long, t.wgs_lat, t.found, t.not_found)),
                unlogged.iter().map(|t| (t.wgs_long, t.wgs_lat)),
            );
            map::user_map(&style, &layers).unwrap_or_default()
        });
        report(label, samples, bytes);
    }

    let text = BadgeText { name, trigs_logged: stats.total_trigs_logged, photos: stats.total_photos };
    for (label, scale) in [("badge, scale 1", 1.0), ("badge, scale 3", 3.0)] {
        let (samples, bytes) = time(200, |_| badge::badge(&text, scale).unwrap_or_default());
        report(label, samples, bytes);
    }

    println!();
    println!("| database read | runs | p50 | p99 | max | rows |");
    println!("|---|---|---|---|---|---|");
    let samples = time_async(50, || db::trigs::logged_by(&db, user)).await;
    report("trigs the user logged, with found / not found counts", samples, logged.len());
    let samples = time_async(10, || db::trigs::not_logged_by(&db, user)).await;
    report("trigs the user has not logged", samples, unlogged.len());
    Ok(())
}
