//! `trigapi seed`: the 24.5k real trig points of the OS archive, plus deterministic synthetic
//! users, logs and photos (with real image files), and `trigstats` computed from those logs.
//!
//! | scale | users | logs | photos (≈0.86/log) |
//! |---|---|---|---|
//! | `demo` (default) | 600 | 12,000 | ≈10,300 |
//! | `full` (the real site's size) | 15,000 | 470,000 | ≈400,000 |

mod images;
mod synth;
mod trigpoints;

use std::fmt;
use std::time::Instant;

use sea_query::{Asterisk, Expr, Func, Query};

use crate::config::Config;
use crate::db::seed_writer::{
    self, NewAttr, NewAttrSet, NewAttrSetVal, NewAttrSource, NewAttrVal, NewServer, NewStatus, SeedRow,
};
use crate::db::{Db, DbError, Trig};

pub use synth::date_range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Demo,
    Full,
}

impl Scale {
    fn sizes(self) -> synth::Sizes {
        match self {
            Scale::Demo => synth::Sizes { users: 600, logs: 12_000 },
            Scale::Full => synth::Sizes { users: 15_000, logs: 470_000 },
        }
    }
}

/// Receives progress while a table loads.
pub trait Progress {
    fn table(&mut self, table: &str, done: usize, total: usize);
}

/// Progress as `tracing` events (first-run seeding inside `serve`).
pub struct LogProgress;

impl Progress for LogProgress {
    fn table(&mut self, table: &str, done: usize, total: usize) {
        if done == total {
            tracing::info!(table, rows = total, "seeded");
        }
    }
}

/// Progress lines on stderr, about every 10% of a table (the `seed` command).
#[derive(Default)]
pub struct StderrProgress {
    last: Option<(String, usize)>,
}

impl Progress for StderrProgress {
    fn table(&mut self, table: &str, done: usize, total: usize) {
        let tenth = (done * 10) / total.max(1);
        if self.last.as_ref() != Some(&(table.to_owned(), tenth)) {
            eprintln!("  {table:<16} {done:>8}/{total:<8} {:>3}%", done * 100 / total.max(1));
            self.last = Some((table.to_owned(), tenth));
        }
    }
}

/// What a seed run wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    pub trigs: usize,
    pub users: usize,
    pub logs: usize,
    pub photos: usize,
    pub seconds: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeded {} trigs, {} users, {} logs, {} photos in {:.1} s",
            self.trigs, self.users, self.logs, self.photos, self.seconds
        )
    }
}

/// True when the `trig` table has no rows.
pub async fn is_empty(db: &Db) -> Result<bool, DbError> {
    let stmt = Query::select().expr_as(Func::count(Expr::col(Asterisk)), "n").from(Trig::Table).to_owned();
    Ok(db.fetch_count(&stmt).await? == 0)
}

pub async fn clear(db: &Db) -> Result<(), DbError> {
    seed_writer::clear(db).await
}

/// Load everything into an empty, migrated database.
pub async fn run(db: &Db, config: &Config, scale: Scale, progress: &mut dyn Progress) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let archive = trigpoints::load()?;
    let pool = images::write_pool(&config.photos.photos_dir)?;
    let mut trigs: Vec<_> = archive.iter().enumerate().map(|(i, r)| trigpoints::to_trig(i, r)).collect();
    let data = synth::generate(&archive, &mut trigs, scale.sizes(), &pool);

    write(db, "status", &statuses(), progress).await?;
    let photos_url = format!("{}/photos/", config.server.public_url.trim_end_matches('/'));
    let servers = vec![
        NewServer {
            id: 1,
            url: photos_url,
            path: config.photos.photos_dir.display().to_string(),
            name: "trigapi".into(),
        },
        NewServer {
            id: 2,
            url: "http://www.trigpointinguk.com/photos/".into(),
            path: String::new(),
            name: "old server".into(),
        },
    ];
    write(db, "server", &servers, progress).await?;
    write(db, "trig", &trigs, progress).await?;
    write_attributes(db, &archive, progress).await?;
    write(db, "user", &data.users, progress).await?;
    write(db, "tlog", &data.logs, progress).await?;
    write(db, "tphoto", &data.photos, progress).await?;
    write(db, "trigstats", &data.trigstats, progress).await?;
    seed_writer::sync_sequences(db).await?;
    if db.backend() == crate::db::Backend::Postgres {
        db.execute_raw("ANALYZE").await?;
    }
    Ok(Summary {
        trigs: trigs.len(),
        users: data.users.len(),
        logs: data.logs.len(),
        photos: data.photos.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn write<R: SeedRow>(db: &Db, table: &str, rows: &[R], progress: &mut dyn Progress) -> Result<(), DbError> {
    let total = rows.len();
    seed_writer::insert(db, rows, |done| progress.table(table, done, total)).await
}

fn statuses() -> Vec<NewStatus> {
    [
        (10, "Pillar"),
        (20, "Major mark"),
        (30, "Minor mark"),
        (40, "Intersected"),
        (50, "User Added"),
        (60, "Controversial"),
        (99, "Deleted"),
    ]
    .into_iter()
    .map(|(id, name)| NewStatus { id, name: name.into(), descr: name.into() })
    .collect()
}

/// The archive's own columns as one OS attribute set per trig (`include=attrs`).
async fn write_attributes(
    db: &Db,
    archive: &[trigpoints::ArchiveRow],
    progress: &mut dyn Progress,
) -> Result<(), DbError> {
    let source = NewAttrSource {
        id: 1,
        name: "OS".into(),
        descr: "Ordnance Survey Complete Trig Archive".into(),
        url: Some("https://www.ordnancesurvey.co.uk/".into()),
        sort_order: 1,
    };
    write(db, "attrsource", &[source], progress).await?;
    let Some(first) = archive.first() else { return Ok(()) };
    let attrs: Vec<NewAttr> = trigpoints::attributes(first)
        .iter()
        .enumerate()
        .map(|(i, (name, _))| NewAttr {
            id: i as i32 + 1,
            attrsource_id: 1,
            name: (*name).into(),
            sort_order: i as i32 + 1,
        })
        .collect();
    write(db, "attr", &attrs, progress).await?;
    let (mut sets, mut vals, mut links) = (Vec::new(), Vec::new(), Vec::new());
    for (i, row) in archive.iter().enumerate() {
        let set_id = i as i32 + 1;
        sets.push(NewAttrSet { id: set_id, trig_id: set_id, attrsource_id: 1, sort_order: 1 });
        for (a, (_, value)) in trigpoints::attributes(row).into_iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            let id = vals.len() as i32 + 1;
            vals.push(NewAttrVal { id, attr_id: a as i32 + 1, value_string: Some(value.chars().take(255).collect()) });
            links.push(NewAttrSetVal { attrset_id: set_id, attrval_id: id });
        }
    }
    write(db, "attrset", &sets, progress).await?;
    write(db, "attrval", &vals, progress).await?;
    write(db, "attrset_attrval", &links, progress).await
}
