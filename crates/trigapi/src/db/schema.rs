//! Identifiers of the legacy tables and columns, for sea-query.

use sea_query::Iden;

#[derive(Iden, Clone, Copy)]
pub enum Trig {
    Table,
    Id,
    Waypoint,
    Name,
    StatusId,
    UserAdded,
    CurrentUse,
    HistoricUse,
    PhysicalType,
    WgsLat,
    WgsLong,
    WgsHeight,
    OsgbEastings,
    OsgbNorthings,
    OsgbGridref,
    OsgbHeight,
    FbNumber,
    StnNumber,
    StnNumberActive,
    StnNumberPassive,
    StnNumberOsgb36,
    PermissionInd,
    Condition,
    Postcode6,
    County,
    Town,
    CrtDate,
    CrtTime,
    UpdTimestamp,
}

#[derive(Iden, Clone, Copy)]
pub enum Status {
    Table,
    Id,
    Name,
    Descr,
}

#[derive(Iden, Clone, Copy)]
pub enum Server {
    Table,
    Id,
    Url,
    Path,
    Name,
}

#[derive(Iden, Clone, Copy)]
pub enum Trigstats {
    Table,
    Id,
    LoggedFirst,
    LoggedLast,
    LoggedCount,
    FoundLast,
    FoundCount,
    PhotoCount,
    ScoreMean,
    ScoreBaysian,
}

#[derive(Iden, Clone, Copy)]
pub enum Tlog {
    Table,
    Id,
    TrigId,
    UserId,
    Date,
    Time,
    OsgbEastings,
    OsgbNorthings,
    OsgbGridref,
    FbNumber,
    Condition,
    Comment,
    Score,
    IpAddr,
    Source,
    UpdTimestamp,
}

#[derive(Iden, Clone, Copy)]
pub enum Tphoto {
    Table,
    Id,
    TlogId,
    ServerId,
    Type,
    Filename,
    Filesize,
    Height,
    Width,
    IconFilename,
    IconFilesize,
    IconHeight,
    IconWidth,
    Name,
    TextDesc,
    IpAddr,
    PublicInd,
    DeletedInd,
    Source,
    CrtTimestamp,
}

#[derive(Iden, Clone, Copy)]
pub enum User {
    Table,
    Id,
    Name,
    Firstname,
    Surname,
    Email,
    EmailValid,
    Homepage,
    About,
    Cryptpw,
    Auth0UserId,
    CrtDate,
    CrtTime,
    UpdTimestamp,
    PublicInd,
    StatusMax,
    DistanceInd,
    OnlineMapType,
    #[iden = "online_map_type2"]
    OnlineMapType2,
}

#[derive(Iden, Clone, Copy)]
pub enum Attrsource {
    Table,
    Id,
    Name,
    Descr,
    Url,
    SortOrder,
}

#[derive(Iden, Clone, Copy)]
pub enum Attr {
    Table,
    Id,
    AttrsourceId,
    Name,
    SortOrder,
}

#[derive(Iden, Clone, Copy)]
pub enum Attrset {
    Table,
    Id,
    TrigId,
    AttrsourceId,
    SortOrder,
}

#[derive(Iden, Clone, Copy)]
pub enum AttrsetAttrval {
    Table,
    AttrsetId,
    AttrvalId,
}

#[derive(Iden, Clone, Copy)]
pub enum Attrval {
    Table,
    Id,
    AttrId,
    ValueString,
}

/// PostgreSQL-only counters (`migrations/postgres/0004_row_counts.sql`).
#[derive(Iden, Clone, Copy)]
#[iden = "trigapi_row_counts"]
pub enum RowCounts {
    Table,
    TableName,
    N,
}

/// Places (`migrations/*/…_location_search.sql`).
#[derive(Iden, Clone, Copy)]
pub enum Town {
    Table,
    Name,
    WgsLat,
    WgsLong,
    OsgbEastings,
    OsgbNorthings,
    OsgbGridref,
}

/// Postcode sectors (`SW1A 1`) and districts (`SW1A`, in rows whose `code` is its `code4`).
#[derive(Iden, Clone, Copy)]
pub enum Postcode6 {
    Table,
    Code,
    Code4,
    WgsLat,
    WgsLong,
    OsgbEastings,
    OsgbNorthings,
    OsgbGridref,
    PostalTown,
}

/// Unit postcodes (`SW1A 1AA`).
#[derive(Iden, Clone, Copy)]
pub enum Postcodes {
    Table,
    Code,
    Lat,
    Long,
}
