//! Bulk inserts for `trigapi seed`: rows in, multi-row `INSERT`s out, chunked under every
//! backend's bind-parameter limit (SQLite 32766, PostgreSQL and MySQL 65535).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use sea_query::{DynIden, Expr, IntoIden, Query};

use super::{
    Attr, Attrset, AttrsetAttrval, Attrsource, Attrval, Backend, Db, DbError, Server, Status, Tlog, Tphoto, Trig,
    Trigstats, User,
};

/// Bind parameters per statement, safely under the smallest backend limit.
const MAX_PARAMS: usize = 30_000;

/// A row type that knows its table and column values.
pub trait SeedRow {
    fn table() -> DynIden;
    fn columns() -> Vec<DynIden>;
    fn values(&self) -> Vec<Expr>;
}

/// Insert `rows` in multi-row statements (each atomic); `on_chunk(done)` reports progress.
pub async fn insert<R: SeedRow>(db: &Db, rows: &[R], mut on_chunk: impl FnMut(usize)) -> Result<(), DbError> {
    let cols = R::columns();
    let per_chunk = (MAX_PARAMS / cols.len()).max(1);
    let mut done = 0;
    for chunk in rows.chunks(per_chunk) {
        let mut stmt = Query::insert();
        stmt.into_table(R::table()).columns(cols.clone());
        for r in chunk {
            stmt.values(r.values()).map_err(|e| DbError::Sqlx(sqlx::Error::Protocol(e.to_string())))?;
        }
        db.execute(&stmt).await?;
        done += chunk.len();
        on_chunk(done);
    }
    Ok(())
}

/// After explicit-id inserts, move PostgreSQL identity sequences past the highest id.
pub async fn sync_sequences(db: &Db) -> Result<(), DbError> {
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    for table in ["\"user\"", "tlog", "tphoto"] {
        db.execute_raw(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}

/// Delete every seeded row (`seed --reset`).
pub async fn clear(db: &Db) -> Result<(), DbError> {
    let tables: [DynIden; 12] = [
        AttrsetAttrval::Table.into_iden(),
        Attrval::Table.into_iden(),
        Attrset::Table.into_iden(),
        Attr::Table.into_iden(),
        Attrsource::Table.into_iden(),
        Tphoto::Table.into_iden(),
        Tlog::Table.into_iden(),
        Trigstats::Table.into_iden(),
        Trig::Table.into_iden(),
        User::Table.into_iden(),
        Server::Table.into_iden(),
        Status::Table.into_iden(),
    ];
    for t in tables {
        let stmt = Query::delete().from_table(t).to_owned();
        db.execute(&stmt).await?;
    }
    Ok(())
}

/// `impl SeedRow` for a row struct: its table, and each field's column.
macro_rules! seed_row {
    ($ty:ident, $table:path, { $($field:ident : $col:path),* $(,)? }) => {
        impl $crate::db::seed_writer::SeedRow for $ty {
            fn table() -> sea_query::DynIden { sea_query::IntoIden::into_iden($table) }
            fn columns() -> Vec<sea_query::DynIden> { vec![$(sea_query::IntoIden::into_iden($col)),*] }
            fn values(&self) -> Vec<sea_query::Expr> { vec![$(sea_query::Expr::val(self.$field.clone())),*] }
        }
    };
}
pub(crate) use seed_row;

#[derive(Debug, Clone)]
pub struct NewStatus {
    pub id: i32,
    pub name: String,
    pub descr: String,
}
seed_row!(NewStatus, Status::Table, { id: Status::Id, name: Status::Name, descr: Status::Descr });

#[derive(Debug, Clone)]
pub struct NewServer {
    pub id: i32,
    pub url: String,
    pub path: String,
    pub name: String,
}
seed_row!(NewServer, Server::Table, { id: Server::Id, url: Server::Url, path: Server::Path, name: Server::Name });

#[derive(Debug, Clone)]
pub struct NewTrig {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub status_id: i32,
    pub user_added: i32,
    pub current_use: String,
    pub historic_use: String,
    pub physical_type: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub wgs_height: i32,
    pub osgb_eastings: i32,
    pub osgb_northings: i32,
    pub osgb_gridref: String,
    pub osgb_height: i32,
    pub fb_number: String,
    pub stn_number: String,
    pub stn_number_active: Option<String>,
    pub stn_number_passive: Option<String>,
    pub stn_number_osgb36: Option<String>,
    pub permission_ind: String,
    pub condition: String,
    pub postcode6: String,
    pub county: String,
    pub town: String,
    pub crt_date: NaiveDate,
    pub crt_time: NaiveTime,
    pub upd_timestamp: Option<NaiveDateTime>,
}
seed_row!(NewTrig, Trig::Table, {
    id: Trig::Id, waypoint: Trig::Waypoint, name: Trig::Name, status_id: Trig::StatusId, user_added: Trig::UserAdded,
    current_use: Trig::CurrentUse, historic_use: Trig::HistoricUse, physical_type: Trig::PhysicalType,
    wgs_lat: Trig::WgsLat, wgs_long: Trig::WgsLong, wgs_height: Trig::WgsHeight, osgb_eastings: Trig::OsgbEastings,
    osgb_northings: Trig::OsgbNorthings, osgb_gridref: Trig::OsgbGridref, osgb_height: Trig::OsgbHeight,
    fb_number: Trig::FbNumber, stn_number: Trig::StnNumber, stn_number_active: Trig::StnNumberActive,
    stn_number_passive: Trig::StnNumberPassive, stn_number_osgb36: Trig::StnNumberOsgb36,
    permission_ind: Trig::PermissionInd, condition: Trig::Condition, postcode6: Trig::Postcode6, county: Trig::County,
    town: Trig::Town, crt_date: Trig::CrtDate, crt_time: Trig::CrtTime, upd_timestamp: Trig::UpdTimestamp,
});

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: i32,
    pub name: String,
    pub firstname: String,
    pub surname: String,
    pub email: String,
    pub email_valid: String,
    pub homepage: String,
    pub about: String,
    pub cryptpw: String,
    pub auth0_user_id: Option<String>,
    pub public_ind: String,
    pub crt_date: NaiveDate,
    pub crt_time: NaiveTime,
    pub upd_timestamp: Option<NaiveDateTime>,
}
seed_row!(NewUser, User::Table, {
    id: User::Id, name: User::Name, firstname: User::Firstname, surname: User::Surname, email: User::Email,
    email_valid: User::EmailValid, homepage: User::Homepage, about: User::About, cryptpw: User::Cryptpw,
    auth0_user_id: User::Auth0UserId, public_ind: User::PublicInd, crt_date: User::CrtDate, crt_time: User::CrtTime,
    upd_timestamp: User::UpdTimestamp,
});

#[derive(Debug, Clone)]
pub struct NewLog {
    pub id: i32,
    pub trig_id: i32,
    pub user_id: i32,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub osgb_eastings: Option<i32>,
    pub osgb_northings: Option<i32>,
    pub osgb_gridref: Option<String>,
    pub fb_number: String,
    pub condition: String,
    pub comment: String,
    pub score: i32,
    pub ip_addr: String,
    pub source: String,
    pub upd_timestamp: Option<NaiveDateTime>,
}
seed_row!(NewLog, Tlog::Table, {
    id: Tlog::Id, trig_id: Tlog::TrigId, user_id: Tlog::UserId, date: Tlog::Date, time: Tlog::Time,
    osgb_eastings: Tlog::OsgbEastings, osgb_northings: Tlog::OsgbNorthings, osgb_gridref: Tlog::OsgbGridref,
    fb_number: Tlog::FbNumber, condition: Tlog::Condition, comment: Tlog::Comment, score: Tlog::Score,
    ip_addr: Tlog::IpAddr, source: Tlog::Source, upd_timestamp: Tlog::UpdTimestamp,
});

#[derive(Debug, Clone)]
pub struct NewPhoto {
    pub id: i32,
    pub tlog_id: i32,
    pub server_id: i32,
    pub kind: String,
    pub filename: String,
    pub filesize: i32,
    pub height: i32,
    pub width: i32,
    pub icon_filename: String,
    pub icon_filesize: i32,
    pub icon_height: i32,
    pub icon_width: i32,
    pub name: String,
    pub text_desc: String,
    pub ip_addr: String,
    pub public_ind: String,
    pub deleted_ind: String,
    pub source: String,
    pub crt_timestamp: Option<NaiveDateTime>,
}
seed_row!(NewPhoto, Tphoto::Table, {
    id: Tphoto::Id, tlog_id: Tphoto::TlogId, server_id: Tphoto::ServerId, kind: Tphoto::Type, filename: Tphoto::Filename,
    filesize: Tphoto::Filesize, height: Tphoto::Height, width: Tphoto::Width, icon_filename: Tphoto::IconFilename,
    icon_filesize: Tphoto::IconFilesize, icon_height: Tphoto::IconHeight, icon_width: Tphoto::IconWidth,
    name: Tphoto::Name, text_desc: Tphoto::TextDesc, ip_addr: Tphoto::IpAddr, public_ind: Tphoto::PublicInd,
    deleted_ind: Tphoto::DeletedInd, source: Tphoto::Source, crt_timestamp: Tphoto::CrtTimestamp,
});

#[derive(Debug, Clone)]
pub struct NewTrigStats {
    pub id: i32,
    pub logged_first: Option<NaiveDate>,
    pub logged_last: Option<NaiveDate>,
    pub logged_count: i32,
    pub found_last: Option<NaiveDate>,
    pub found_count: i32,
    pub photo_count: i32,
    pub score_mean: f64,
    pub score_baysian: f64,
}
seed_row!(NewTrigStats, Trigstats::Table, {
    id: Trigstats::Id, logged_first: Trigstats::LoggedFirst, logged_last: Trigstats::LoggedLast,
    logged_count: Trigstats::LoggedCount, found_last: Trigstats::FoundLast, found_count: Trigstats::FoundCount,
    photo_count: Trigstats::PhotoCount, score_mean: Trigstats::ScoreMean, score_baysian: Trigstats::ScoreBaysian,
});

#[derive(Debug, Clone)]
pub struct NewAttrSource {
    pub id: i32,
    pub name: String,
    pub descr: String,
    pub url: Option<String>,
    pub sort_order: i32,
}
seed_row!(NewAttrSource, Attrsource::Table, {
    id: Attrsource::Id, name: Attrsource::Name, descr: Attrsource::Descr, url: Attrsource::Url, sort_order: Attrsource::SortOrder,
});

#[derive(Debug, Clone)]
pub struct NewAttr {
    pub id: i32,
    pub attrsource_id: i32,
    pub name: String,
    pub sort_order: i32,
}
seed_row!(NewAttr, Attr::Table, { id: Attr::Id, attrsource_id: Attr::AttrsourceId, name: Attr::Name, sort_order: Attr::SortOrder });

#[derive(Debug, Clone)]
pub struct NewAttrSet {
    pub id: i32,
    pub trig_id: i32,
    pub attrsource_id: i32,
    pub sort_order: i32,
}
seed_row!(NewAttrSet, Attrset::Table, {
    id: Attrset::Id, trig_id: Attrset::TrigId, attrsource_id: Attrset::AttrsourceId, sort_order: Attrset::SortOrder,
});

#[derive(Debug, Clone)]
pub struct NewAttrVal {
    pub id: i32,
    pub attr_id: i32,
    pub value_string: Option<String>,
}
seed_row!(NewAttrVal, Attrval::Table, { id: Attrval::Id, attr_id: Attrval::AttrId, value_string: Attrval::ValueString });

#[derive(Debug, Clone)]
pub struct NewAttrSetVal {
    pub attrset_id: i32,
    pub attrval_id: i32,
}
seed_row!(NewAttrSetVal, AttrsetAttrval::Table, { attrset_id: AttrsetAttrval::AttrsetId, attrval_id: AttrsetAttrval::AttrvalId });
