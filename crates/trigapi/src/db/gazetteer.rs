//! Writes of the gazetteer tables (`town`, `postcode6`, `postcodes`): batches of rows inserted
//! or, where the row is already there, updated, so that loading the same file twice changes
//! nothing the second time.

use sea_query::{Expr, OnConflict, Query};

use super::{Backend, Db, DbError, Postcode6, Postcodes, Town};

/// Rows per statement: well under every backend's limit on bound values.
pub const BATCH: usize = 2_000;

/// A place.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTown {
    pub name: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub osgb_eastings: i32,
    pub osgb_northings: i32,
    pub osgb_gridref: String,
}

/// A postcode sector or district.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArea {
    pub code: String,
    pub code4: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub osgb_eastings: i32,
    pub osgb_northings: i32,
    pub osgb_gridref: String,
}

/// A unit postcode.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUnit {
    pub code: String,
    pub lat: f64,
    pub long: f64,
}

/// Insert or update `rows` (one statement).
pub async fn upsert_towns(db: &Db, rows: &[NewTown]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert();
    stmt.into_table(Town::Table).columns([
        Town::Name,
        Town::WgsLat,
        Town::WgsLong,
        Town::OsgbEastings,
        Town::OsgbNorthings,
        Town::OsgbGridref,
    ]);
    for r in rows {
        stmt.values([
            Expr::val(r.name.clone()),
            Expr::val(r.wgs_lat),
            Expr::val(r.wgs_long),
            Expr::val(r.osgb_eastings),
            Expr::val(r.osgb_northings),
            Expr::val(r.osgb_gridref.clone()),
        ])?;
    }
    stmt.on_conflict(
        OnConflict::columns([Town::Name, Town::OsgbEastings, Town::OsgbNorthings])
            .update_columns([Town::WgsLat, Town::WgsLong, Town::OsgbGridref])
            .to_owned(),
    );
    db.execute(&stmt).await.map(drop)
}

/// Insert or update `rows` (one statement).
pub async fn upsert_areas(db: &Db, rows: &[NewArea]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert();
    stmt.into_table(Postcode6::Table).columns([
        Postcode6::Code,
        Postcode6::Code4,
        Postcode6::WgsLat,
        Postcode6::WgsLong,
        Postcode6::OsgbEastings,
        Postcode6::OsgbNorthings,
        Postcode6::OsgbGridref,
    ]);
    for r in rows {
        stmt.values([
            Expr::val(r.code.clone()),
            Expr::val(r.code4.clone()),
            Expr::val(r.wgs_lat),
            Expr::val(r.wgs_long),
            Expr::val(r.osgb_eastings),
            Expr::val(r.osgb_northings),
            Expr::val(r.osgb_gridref.clone()),
        ])?;
    }
    stmt.on_conflict(
        OnConflict::column(Postcode6::Code)
            .update_columns([
                Postcode6::Code4,
                Postcode6::WgsLat,
                Postcode6::WgsLong,
                Postcode6::OsgbEastings,
                Postcode6::OsgbNorthings,
                Postcode6::OsgbGridref,
            ])
            .to_owned(),
    );
    db.execute(&stmt).await.map(drop)
}

/// Insert or update `rows` (one statement).
pub async fn upsert_units(db: &Db, rows: &[NewUnit]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert();
    stmt.into_table(Postcodes::Table).columns([Postcodes::Code, Postcodes::Lat, Postcodes::Long]);
    for r in rows {
        stmt.values([Expr::val(r.code.clone()), Expr::val(r.lat), Expr::val(r.long)])?;
    }
    stmt.on_conflict(OnConflict::column(Postcodes::Code).update_columns([Postcodes::Lat, Postcodes::Long]).to_owned());
    db.execute(&stmt).await.map(drop)
}

/// Refresh the planner's statistics of `postcodes` or `town` after a load: PostgreSQL planned
/// prefix searches over 1.7M freshly loaded postcodes as scans of an empty table (190 ms
/// instead of under 1 ms) until autovacuum came round. SQLite plans without them.
pub async fn analyze(db: &Db, places: bool) -> Result<(), DbError> {
    let table = if places { "town" } else { "postcodes" };
    match db.backend() {
        Backend::Sqlite => Ok(()),
        Backend::Postgres => db.execute_raw(&format!("ANALYZE {table}")).await,
        Backend::MySql => db.execute_raw(&format!("ANALYZE TABLE {table}")).await,
    }
}
