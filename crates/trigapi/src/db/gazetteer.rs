//! Writes of the gazetteer tables (`town`, `postcode6`, `postcodes`): batches of rows inserted
//! or, where the row is already there, updated, so that loading the same file twice changes
//! nothing the second time.

use sea_query::{DynIden, IntoIden, OnConflict, Query};

use super::seed_writer::{SeedRow, seed_row};

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

seed_row!(NewTown, Town::Table, {
    name: Town::Name, wgs_lat: Town::WgsLat, wgs_long: Town::WgsLong, osgb_eastings: Town::OsgbEastings,
    osgb_northings: Town::OsgbNorthings, osgb_gridref: Town::OsgbGridref,
});
seed_row!(NewArea, Postcode6::Table, {
    code: Postcode6::Code, code4: Postcode6::Code4, wgs_lat: Postcode6::WgsLat, wgs_long: Postcode6::WgsLong,
    osgb_eastings: Postcode6::OsgbEastings, osgb_northings: Postcode6::OsgbNorthings,
    osgb_gridref: Postcode6::OsgbGridref,
});
seed_row!(NewUnit, Postcodes::Table, { code: Postcodes::Code, lat: Postcodes::Lat, long: Postcodes::Long });

/// Insert `rows` in one statement, updating the row already there under the same `key`
/// (every column but the key's).
async fn upsert<R: SeedRow>(db: &Db, rows: &[R], key: &[DynIden]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns = R::columns();
    let update = columns.iter().filter(|c| !key.contains(c)).cloned();
    let mut stmt = Query::insert();
    stmt.into_table(R::table()).columns(columns.clone());
    for r in rows {
        stmt.values(r.values())?;
    }
    stmt.on_conflict(OnConflict::columns(key.iter().cloned()).update_columns(update).to_owned());
    db.execute(&stmt).await.map(drop)
}

/// Insert or update places, by name and grid position.
pub async fn upsert_towns(db: &Db, rows: &[NewTown]) -> Result<(), DbError> {
    let key = [Town::Name.into_iden(), Town::OsgbEastings.into_iden(), Town::OsgbNorthings.into_iden()];
    upsert(db, rows, &key).await
}

/// Insert or update postcode sectors and districts, by code.
pub async fn upsert_areas(db: &Db, rows: &[NewArea]) -> Result<(), DbError> {
    upsert(db, rows, &[Postcode6::Code.into_iden()]).await
}

/// Insert or update unit postcodes, by code.
pub async fn upsert_units(db: &Db, rows: &[NewUnit]) -> Result<(), DbError> {
    upsert(db, rows, &[Postcodes::Code.into_iden()]).await
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
