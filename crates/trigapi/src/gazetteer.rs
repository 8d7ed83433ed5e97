//! The places and postcodes the location search reads: the open data vendored in
//! `assets/gazetteer/` (`trigapi seed`, and the first start on an empty database), and the
//! full datasets an operator downloads (`trigapi import places|postcodes FILE`).
//!
//! | file | format | loads |
//! |---|---|---|
//! | `assets/gazetteer/places.csv.gz` | `name,lat,lon,…` (GeoNames, CC BY 4.0) | `town` |
//! | `assets/gazetteer/postcode_{sectors,districts}.csv.gz` | `sector,lat,lon,units` (OS Code-Point Open, OGL) | `postcode6` |
//! | OS Open Names (`Data/*.csv`, no header) | `ID,NAMES_URI,NAME1,…,TYPE,LOCAL_TYPE,GEOMETRY_X,GEOMETRY_Y,…` | `town`: its populated places |
//! | ONS NSPL (`NSPL_*.csv`, with a header) | `pcd,pcd2,pcds,…,doterm,…,lat,long,…` | `postcodes`: live ones with a position |
//! | OS Code-Point Open (`Data/CSV/*.csv`, no header) | `PC,PQ,EA,NO,…` | `postcodes`: those with a position |
//! | this project's `postcode,lat,lon` (`postcodes.csv.gz`) | | `postcodes` |
//!
//! A `FILE` may be gzipped (`.gz`) or a directory, whose `.csv` and `.csv.gz` files load in
//! name order. Files stream through in batches (memory stays flat), progress is reported by
//! the share of bytes read, and every row is inserted or updated in place, so a load can be
//! run again, or resumed after it was stopped, without harm.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use flate2::read::GzDecoder;

use crate::db::Db;
use crate::db::gazetteer::{self, BATCH, NewArea, NewTown, NewUnit};
use crate::domain::location::{GridRef, LatLon, PostcodeKind, PostcodeQuery, grid_to_wgs84, wgs84_to_grid};
use crate::invalidation::{self, RowChange};

static PLACES_CSV_GZ: &[u8] = include_bytes!("../assets/gazetteer/places.csv.gz");
static SECTORS_CSV_GZ: &[u8] = include_bytes!("../assets/gazetteer/postcode_sectors.csv.gz");
static DISTRICTS_CSV_GZ: &[u8] = include_bytes!("../assets/gazetteer/postcode_districts.csv.gz");

/// Which table a load fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Places,
    Postcodes,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Places => "places",
            Dataset::Postcodes => "postcodes",
        }
    }
}

/// How far a load has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Rows written so far.
    pub rows: u64,
    /// Rows read but not loaded (no position, terminated, not a populated place, unreadable).
    pub skipped: u64,
    /// Share of the input's bytes read, 0 to 1.
    pub fraction: f64,
    /// Seconds since the load began.
    pub seconds: f64,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = self.rows as f64 / self.seconds.max(1e-3);
        write!(
            f,
            "{:>5.1}%  {} rows loaded, {} skipped, {:.0} rows/s, {:.1} s",
            self.fraction * 100.0,
            self.rows,
            self.skipped,
            rate,
            self.seconds
        )
    }
}

/// Load the vendored places, postcode sectors and districts (the seed), then invalidate the
/// place and postcode searches in `cache`. Returns the rows loaded into `town` and
/// `postcode6`.
pub async fn load_vendored(db: &Db, cache: &trigapi_cache::Cache) -> anyhow::Result<(u64, u64)> {
    let places = load(db, Dataset::Places, Input::bytes(PLACES_CSV_GZ), |_| {}).await?;
    let sectors = load_areas(db, SECTORS_CSV_GZ).await?;
    let districts = load_areas(db, DISTRICTS_CSV_GZ).await?;
    invalidation::after(cache, &[RowChange::Places, RowChange::Postcodes]).await;
    Ok((places.rows, sectors + districts))
}

/// Load `path` (a file or a directory of them) into `dataset`'s table, calling `progress`
/// after each batch; then invalidate the searches of that table in `cache` (and, through its
/// shared tier, in every server's).
pub async fn import(
    db: &Db,
    cache: &trigapi_cache::Cache,
    dataset: Dataset,
    path: &Path,
    progress: impl FnMut(&Progress),
) -> anyhow::Result<Progress> {
    let input = Input::files(path)?;
    let done = load(db, dataset, input, progress).await?;
    let places = dataset == Dataset::Places;
    gazetteer::analyze(db, places).await.context("refreshing the table's statistics")?;
    let change = if places { RowChange::Places } else { RowChange::Postcodes };
    invalidation::after(cache, &[change]).await;
    Ok(done)
}

/// Where rows come from: in-memory gzip (the vendored files) or files on disk.
struct Input {
    sources: Vec<Source>,
    total_bytes: u64,
}

enum Source {
    Bytes(&'static [u8]),
    File(PathBuf),
}

impl Input {
    fn bytes(gz: &'static [u8]) -> Self {
        Self { sources: vec![Source::Bytes(gz)], total_bytes: gz.len() as u64 }
    }

    fn files(path: &Path) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
                let p = entry?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
                if name.ends_with(".csv") || name.ends_with(".csv.gz") {
                    files.push(p);
                }
            }
            files.sort();
            if files.is_empty() {
                bail!("{} holds no .csv or .csv.gz file", path.display());
            }
        } else {
            files.push(path.to_owned());
        }
        let mut total_bytes = 0;
        for f in &files {
            total_bytes += std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?.len();
        }
        Ok(Self { sources: files.into_iter().map(Source::File).collect(), total_bytes })
    }
}

/// A reader that counts the (compressed) bytes taken from it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decoded text of one source, gunzipped when it is gzip.
fn open(source: &Source, read: Arc<AtomicU64>) -> anyhow::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match source {
        Source::Bytes(b) => Box::new(*b),
        Source::File(p) => Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
    };
    let mut counted = BufReader::with_capacity(1 << 16, Counting { inner: raw, read });
    // Gzip or not, told by the first bytes, read once into the buffer the parser reads next.
    let gz = counted.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz { Box::new(GzDecoder::new(counted)) } else { Box::new(counted) })
}

/// Rows parsed from the input, in batches.
enum Batch {
    Towns(Vec<NewTown>),
    Units(Vec<NewUnit>),
}

/// Stream `input` into `dataset`'s table: a reader thread parses batches, this task writes
/// them, at most a few batches apart.
async fn load(
    db: &Db,
    dataset: Dataset,
    input: Input,
    mut progress: impl FnMut(&Progress),
) -> anyhow::Result<Progress> {
    let started = Instant::now();
    let read = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Batch>>(4);
    let total_bytes = input.total_bytes.max(1);
    let reader = {
        let (read, skipped) = (read.clone(), skipped.clone());
        std::thread::spawn(move || {
            for source in &input.sources {
                let parsed = open(source, read.clone()).and_then(|r| parse(dataset, r, &tx, &skipped));
                if let Err(e) = parsed {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        })
    };
    let mut state = Progress { rows: 0, skipped: 0, fraction: 0.0, seconds: 0.0 };
    while let Some(batch) = rx.recv().await {
        let written = match batch? {
            Batch::Towns(rows) => {
                gazetteer::upsert_towns(db, &rows).await.context("writing places")?;
                rows.len()
            }
            Batch::Units(rows) => {
                gazetteer::upsert_units(db, &rows).await.context("writing postcodes")?;
                rows.len()
            }
        };
        state.rows += written as u64;
        state.skipped = skipped.load(Ordering::Relaxed);
        state.fraction = (read.load(Ordering::Relaxed) as f64 / total_bytes as f64).min(1.0);
        state.seconds = started.elapsed().as_secs_f64();
        progress(&state);
    }
    if reader.join().is_err() {
        bail!("the {} reader stopped", dataset.name());
    }
    state.skipped = skipped.load(Ordering::Relaxed);
    state.fraction = 1.0;
    state.seconds = started.elapsed().as_secs_f64();
    Ok(state)
}

/// The columns of each format, found from the first record.
#[derive(Debug, Clone, Copy)]
enum Format {
    /// `name,lat,lon,…` with a header.
    Places { name: usize, lat: usize, lon: usize },
    /// OS Open Names: no header; `NAME1` 2, `TYPE` 6, `GEOMETRY_X` 8, `GEOMETRY_Y` 9.
    OpenNames,
    /// NSPL (header `pcds`, `lat`, `long`, maybe `doterm`) or `postcode,lat,lon`.
    PostcodesLatLon { code: usize, lat: usize, lon: usize, doterm: Option<usize> },
    /// Code-Point Open: no header; `PC` 0, `PQ` 1, `EA` 2, `NO` 3.
    CodePoint,
}

fn format_of(dataset: Dataset, first: &csv::StringRecord) -> anyhow::Result<Format> {
    let header: Vec<String> =
        first.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    // The first of `names` that is a column (NSPL has `pcd`, `pcd2` and `pcds`: `pcds` is the
    // one with a single space).
    let col = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h == n));
    match dataset {
        Dataset::Places => {
            if let (Some(name), Some(lat), Some(lon)) = (col(&["name"]), col(&["lat"]), col(&["lon", "long"])) {
                return Ok(Format::Places { name, lat, lon });
            }
            if first.get(1).is_some_and(|uri| uri.starts_with("http://data.ordnancesurvey.co.uk/id/")) {
                return Ok(Format::OpenNames);
            }
            bail!("not a places file: expected a `name,lat,lon` header or OS Open Names rows")
        }
        Dataset::Postcodes => {
            if let (Some(code), Some(lat), Some(lon)) =
                (col(&["pcds", "postcode", "pcd"]), col(&["lat"]), col(&["long", "lon"]))
            {
                return Ok(Format::PostcodesLatLon { code, lat, lon, doterm: col(&["doterm"]) });
            }
            if first.len() >= 4 && PostcodeQuery::parse(first.get(0).unwrap_or_default()).is_some() {
                return Ok(Format::CodePoint);
            }
            bail!("not a postcodes file: expected an NSPL or `postcode,lat,lon` header, or Code-Point Open rows")
        }
    }
}

/// Parse one source into batches sent to `tx`.
fn parse(
    dataset: Dataset,
    reader: Box<dyn Read + Send>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Batch>>,
    skipped: &AtomicU64,
) -> anyhow::Result<()> {
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut record = csv::StringRecord::new();
    if !csv.read_record(&mut record)? {
        return Ok(());
    }
    let format = format_of(dataset, &record)?;
    let has_header = matches!(format, Format::Places { .. } | Format::PostcodesLatLon { .. });
    let (mut towns, mut units) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    let mut first = !has_header;
    loop {
        if !first && !csv.read_record(&mut record)? {
            break;
        }
        first = false;
        match row(format, &record) {
            Some(Row::Town(t)) => towns.push(t),
            Some(Row::Unit(u)) => units.push(u),
            None => {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if towns.len() >= BATCH {
            send(tx, Batch::Towns(std::mem::take(&mut towns)))?;
        }
        if units.len() >= BATCH {
            send(tx, Batch::Units(std::mem::take(&mut units)))?;
        }
    }
    if !towns.is_empty() {
        send(tx, Batch::Towns(towns))?;
    }
    if !units.is_empty() {
        send(tx, Batch::Units(units))?;
    }
    Ok(())
}

fn send(tx: &tokio::sync::mpsc::Sender<anyhow::Result<Batch>>, batch: Batch) -> anyhow::Result<()> {
    tx.blocking_send(Ok(batch)).map_err(|_| anyhow::anyhow!("the writer stopped"))
}

enum Row {
    Town(NewTown),
    Unit(NewUnit),
}

fn number(record: &csv::StringRecord, i: usize) -> Option<f64> {
    record.get(i)?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// One record as a row, or `None` to skip it.
fn row(format: Format, r: &csv::StringRecord) -> Option<Row> {
    match format {
        Format::Places { name, lat, lon } => {
            let at = LatLon { lat: number(r, lat)?, lon: number(r, lon)? };
            town(r.get(name)?, at, wgs84_to_grid(at))
        }
        Format::OpenNames => {
            if r.get(6)? != "populatedPlace" {
                return None;
            }
            let (e, n) = (number(r, 8)?, number(r, 9)?);
            town(r.get(2)?, grid_to_wgs84(e, n)?, Some((e, n)))
        }
        Format::PostcodesLatLon { code, lat, lon, doterm } => {
            if doterm.and_then(|i| r.get(i)).is_some_and(|t| !t.trim().is_empty()) {
                return None;
            }
            let at = LatLon { lat: number(r, lat)?, lon: number(r, lon)? };
            // NSPL writes 99.999999, 0.000000 for a postcode without a position.
            if at.lat.abs() > 90.0 || at.lon.abs() > 180.0 || (at.lat == 0.0 && at.lon == 0.0) {
                return None;
            }
            unit(r.get(code)?, at)
        }
        Format::CodePoint => {
            if r.get(1)?.trim() == "90" {
                return None;
            }
            let (e, n) = (number(r, 2)?, number(r, 3)?);
            if e == 0.0 && n == 0.0 {
                return None;
            }
            unit(r.get(0)?, grid_to_wgs84(e, n)?)
        }
    }
}

fn town(name: &str, at: LatLon, grid: Option<(f64, f64)>) -> Option<Row> {
    let name: String = name.trim().chars().take(50).collect();
    if name.is_empty() || !(-90.0..=90.0).contains(&at.lat) || !(-180.0..=180.0).contains(&at.lon) {
        return None;
    }
    // Off the grid (Northern Ireland's far west, the Isle of Man's edge): no grid position.
    let (e, n) = grid.unwrap_or((0.0, 0.0));
    Some(Row::Town(NewTown {
        name,
        wgs_lat: round6(at.lat),
        wgs_long: round6(at.lon),
        osgb_eastings: e.round() as i32,
        osgb_northings: n.round() as i32,
        osgb_gridref: grid.and_then(|(e, n)| GridRef::of(e, n)).unwrap_or_default(),
    }))
}

fn unit(code: &str, at: LatLon) -> Option<Row> {
    let parsed = PostcodeQuery::parse(code).filter(|p| p.kind == PostcodeKind::Unit)?;
    Some(Row::Unit(NewUnit { code: parsed.code, lat: round7(at.lat), long: round7(at.lon) }))
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// Load one vendored `code,lat,lon,units` file of sectors or districts into `postcode6`.
async fn load_areas(db: &Db, gz: &'static [u8]) -> anyhow::Result<u64> {
    let mut csv = csv::Reader::from_reader(GzDecoder::new(gz));
    let mut rows = Vec::new();
    for record in csv.records() {
        let r = record?;
        let (Some(code), Some(lat), Some(lon)) = (r.get(0), number(&r, 1), number(&r, 2)) else { continue };
        let at = LatLon { lat, lon };
        let Some((e, n)) = wgs84_to_grid(at) else { continue };
        let code = code.trim().to_owned();
        let code4 = code.split(' ').next().unwrap_or_default().to_owned();
        rows.push(NewArea {
            code,
            code4,
            wgs_lat: round6(lat),
            wgs_long: round6(lon),
            osgb_eastings: e.round() as i32,
            osgb_northings: n.round() as i32,
            osgb_gridref: GridRef::of(e, n).unwrap_or_default(),
        });
    }
    for chunk in rows.chunks(BATCH) {
        gazetteer::upsert_areas(db, chunk).await.context("writing postcode sectors and districts")?;
    }
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn formats_are_told_apart_by_their_first_record() {
        let places = format_of(Dataset::Places, &record(&["name", "lat", "lon", "kind"])).expect("parses");
        assert!(matches!(places, Format::Places { name: 0, lat: 1, lon: 2 }));
        let nspl = record(&["pcd", "pcd2", "pcds", "dointr", "doterm", "lat", "long"]);
        assert!(matches!(
            format_of(Dataset::Postcodes, &nspl).expect("parses"),
            Format::PostcodesLatLon { code: 2, lat: 5, lon: 6, doterm: Some(4) }
        ));
        let codepoint = record(&["SW1A 1AA", "10", "529090", "179645", "E92000001"]);
        assert!(matches!(format_of(Dataset::Postcodes, &codepoint).expect("parses"), Format::CodePoint));
        assert!(format_of(Dataset::Postcodes, &record(&["a", "b"])).is_err());
    }

    #[test]
    fn open_names_populated_places_are_placed_from_the_grid() {
        let mut fields = vec![
            "osgb4000000074560734",
            "http://data.ordnancesurvey.co.uk/id/4000000074560734",
            "Buxton",
            "",
            "",
            "",
            "populatedPlace",
            "Town",
            "405767",
            "373456",
        ];
        fields.resize(34, "");
        let first = record(&fields);
        let format = format_of(Dataset::Places, &first).expect("Open Names");
        assert!(matches!(format, Format::OpenNames));
        let Some(Row::Town(town)) = row(format, &first) else { panic!("a town") };
        assert_eq!((town.name.as_str(), town.osgb_eastings, town.osgb_northings), ("Buxton", 405_767, 373_456));
        assert_eq!(town.osgb_gridref, "SK 05767 73456");
        assert!((town.wgs_lat - 53.2581).abs() < 0.002 && (town.wgs_long + 1.9150).abs() < 0.002, "{town:?}");
        fields[6] = "landform";
        assert!(row(format, &record(&fields)).is_none(), "only populated places");
    }

    #[test]
    fn terminated_and_unplaced_postcodes_are_skipped() {
        let nspl = Format::PostcodesLatLon { code: 0, lat: 2, lon: 3, doterm: Some(1) };
        assert!(row(nspl, &record(&["SW1A1AA", "", "51.501009", "-0.141588"])).is_some());
        assert!(row(nspl, &record(&["SW1A1AB", "202001", "51.5", "-0.14"])).is_none());
        assert!(row(nspl, &record(&["BT1 1AA", "", "99.999999", "0.000000"])).is_none());
        assert!(row(Format::CodePoint, &record(&["AB1 0AA", "90", "0", "0"])).is_none());
    }
}
