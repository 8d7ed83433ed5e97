//! Queries over `trig` (+ `status`, `trigstats`, the `attr*` tables).

use chrono::NaiveDate;
use sea_query::{Condition, Expr, ExprTrait, Func, IntoIden, Order, Query, SelectStatement};

use super::{
    Attr, Attrset, AttrsetAttrval, Attrsource, Attrval, Backend, Counted, Db, DbError, Status, Tlog, Trig, Trigstats,
};
use crate::domain::condition::Condition as LogCondition;
use crate::domain::trig_query::{Centre, KM_PER_DEGREE, TrigListQuery, TrigOrder};

/// The columns every trig representation carries (`TrigMinimal`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrigRow {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub status_name: Option<String>,
    pub physical_type: String,
    pub condition: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub osgb_gridref: String,
}

/// `TrigRow` plus the `details` columns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrigFullRow {
    #[sqlx(flatten)]
    pub base: TrigRow,
    pub current_use: String,
    pub historic_use: String,
    pub wgs_height: i32,
    pub postcode6: String,
    pub county: String,
    pub town: String,
    pub fb_number: String,
    pub stn_number: String,
    pub stn_number_active: Option<String>,
    pub stn_number_passive: Option<String>,
    pub stn_number_osgb36: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrigStatsRow {
    pub logged_first: Option<NaiveDate>,
    pub logged_last: Option<NaiveDate>,
    pub logged_count: i32,
    pub found_last: Option<NaiveDate>,
    pub found_count: i32,
    pub photo_count: i32,
    pub score_mean: f64,
    pub score_baysian: f64,
}

/// One (attrset, attribute) value, in display order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttrValueRow {
    pub source_id: i32,
    pub source_name: String,
    pub source_url: Option<String>,
    pub attrset_id: i32,
    pub attr_id: i32,
    pub attr_name: String,
    pub value_string: Option<String>,
}

/// `wgs_lat` and `wgs_long` of the trig, as doubles.
fn position(b: Backend) -> [sea_query::SelectExpr; 2] {
    let column = |c: Trig, alias: &str| sea_query::SelectExpr {
        expr: b.as_double(Expr::col((Trig::Table, c))),
        alias: Some(sea_query::Alias::new(alias).into_iden()),
        window: None,
    };
    [column(Trig::WgsLat, "wgs_lat"), column(Trig::WgsLong, "wgs_long")]
}

fn minimal_select(b: Backend) -> SelectStatement {
    Query::select()
        .column((Trig::Table, Trig::Id))
        .column((Trig::Table, Trig::Waypoint))
        .column((Trig::Table, Trig::Name))
        .expr_as(Expr::col((Status::Table, Status::Name)), "status_name")
        .column((Trig::Table, Trig::PhysicalType))
        .column((Trig::Table, Trig::Condition))
        .exprs(position(b))
        .column((Trig::Table, Trig::OsgbGridref))
        .from(Trig::Table)
        .left_join(Status::Table, Expr::col((Status::Table, Status::Id)).equals((Trig::Table, Trig::StatusId)))
        .to_owned()
}

pub async fn get(db: &Db, id: i32) -> Result<Option<TrigFullRow>, DbError> {
    let stmt = minimal_select(db.backend())
        .columns([
            (Trig::Table, Trig::CurrentUse),
            (Trig::Table, Trig::HistoricUse),
            (Trig::Table, Trig::WgsHeight),
            (Trig::Table, Trig::Postcode6),
            (Trig::Table, Trig::County),
            (Trig::Table, Trig::Town),
            (Trig::Table, Trig::FbNumber),
            (Trig::Table, Trig::StnNumber),
            (Trig::Table, Trig::StnNumberActive),
            (Trig::Table, Trig::StnNumberPassive),
            (Trig::Table, Trig::StnNumberOsgb36),
        ])
        .and_where(Expr::col((Trig::Table, Trig::Id)).eq(id))
        .to_owned();
    db.fetch_optional(&stmt).await
}

pub async fn by_waypoint(db: &Db, waypoint: &str) -> Result<Option<TrigRow>, DbError> {
    let stmt = minimal_select(db.backend()).and_where(Expr::col((Trig::Table, Trig::Waypoint)).eq(waypoint)).to_owned();
    db.fetch_optional(&stmt).await
}

pub async fn stats(db: &Db, id: i32) -> Result<Option<TrigStatsRow>, DbError> {
    let b = db.backend();
    let stmt = Query::select()
        .columns([
            Trigstats::LoggedFirst,
            Trigstats::LoggedLast,
            Trigstats::LoggedCount,
            Trigstats::FoundLast,
            Trigstats::FoundCount,
            Trigstats::PhotoCount,
        ])
        .expr_as(b.as_double(Expr::col(Trigstats::ScoreMean)), "score_mean")
        .expr_as(b.as_double(Expr::col(Trigstats::ScoreBaysian)), "score_baysian")
        .from(Trigstats::Table)
        .and_where(Expr::col(Trigstats::Id).eq(id))
        .to_owned();
    db.fetch_optional(&stmt).await
}

pub async fn attrs(db: &Db, trig_id: i32) -> Result<Vec<AttrValueRow>, DbError> {
    let stmt = Query::select()
        .expr_as(Expr::col((Attrsource::Table, Attrsource::Id)), "source_id")
        .expr_as(Expr::col((Attrsource::Table, Attrsource::Name)), "source_name")
        .expr_as(Expr::col((Attrsource::Table, Attrsource::Url)), "source_url")
        .expr_as(Expr::col((Attrset::Table, Attrset::Id)), "attrset_id")
        .expr_as(Expr::col((Attr::Table, Attr::Id)), "attr_id")
        .expr_as(Expr::col((Attr::Table, Attr::Name)), "attr_name")
        .column((Attrval::Table, Attrval::ValueString))
        .from(Attrset::Table)
        .inner_join(
            Attrsource::Table,
            Expr::col((Attrsource::Table, Attrsource::Id)).equals((Attrset::Table, Attrset::AttrsourceId)),
        )
        .inner_join(
            AttrsetAttrval::Table,
            Expr::col((AttrsetAttrval::Table, AttrsetAttrval::AttrsetId)).equals((Attrset::Table, Attrset::Id)),
        )
        .inner_join(
            Attrval::Table,
            Expr::col((Attrval::Table, Attrval::Id)).equals((AttrsetAttrval::Table, AttrsetAttrval::AttrvalId)),
        )
        .inner_join(Attr::Table, Expr::col((Attr::Table, Attr::Id)).equals((Attrval::Table, Attrval::AttrId)))
        .and_where(Expr::col((Attrset::Table, Attrset::TrigId)).eq(trig_id))
        .order_by((Attrsource::Table, Attrsource::SortOrder), Order::Asc)
        .order_by((Attrset::Table, Attrset::SortOrder), Order::Asc)
        .order_by((Attrset::Table, Attrset::Id), Order::Asc)
        .order_by((Attr::Table, Attr::SortOrder), Order::Asc)
        .order_by((Attr::Table, Attr::Id), Order::Asc)
        .to_owned();
    db.fetch_all(&stmt).await
}

/// Squared planar distance (km²) from `c`, as the contract computes it, in double precision
/// (PostgreSQL's NUMERIC arithmetic is an order of magnitude slower).
fn distance_sq(b: Backend, c: Centre) -> Expr {
    let dlat = b.as_double(Expr::col((Trig::Table, Trig::WgsLat))).sub(c.lat).mul(KM_PER_DEGREE);
    let dlon = b.as_double(Expr::col((Trig::Table, Trig::WgsLong))).sub(c.lon).mul(c.km_per_degree_lon());
    dlat.clone().mul(dlat).add(dlon.clone().mul(dlon))
}

/// A bounding-box edge as a DECIMAL(9,5) literal, rounded outwards, so PostgreSQL and MySQL
/// compare it with the DECIMAL coordinate columns directly and can use their index (a float
/// parameter would convert every row instead).
fn coordinate_bound(v: f64, upper: bool) -> Expr {
    let scaled = v * 1e5;
    let rounded = if upper { scaled.ceil() } else { scaled.floor() } / 1e5;
    Expr::val(rounded).cast_as("DECIMAL(9,5)")
}

fn list_condition(b: Backend, q: &TrigListQuery, exclude_user: Option<i32>) -> Condition {
    let mut cond = Condition::all();
    if let Some(name) = q.name.as_deref().filter(|n| !n.is_empty()) {
        cond = cond.add(super::contains_ignoring_case(Expr::col((Trig::Table, Trig::Name)), name));
    }
    if let Some(county) = q.county.as_deref().filter(|c| !c.is_empty()) {
        cond = cond.add(Func::lower(Expr::col((Trig::Table, Trig::County))).eq(county.to_lowercase()));
    }
    if !q.physical_types.is_empty() {
        cond = cond.add(Expr::col((Trig::Table, Trig::PhysicalType)).is_in(q.physical_types.iter().cloned()));
    }
    if let Some((c, max_km)) = q.radius() {
        // The bounding box is a superset of the circle; it lets the (wgs_lat, wgs_long) index
        // narrow the scan before the exact planar test.
        let dlat = max_km / KM_PER_DEGREE;
        cond = cond.add(
            Expr::col((Trig::Table, Trig::WgsLat))
                .between(coordinate_bound(c.lat - dlat, false), coordinate_bound(c.lat + dlat, true)),
        );
        let kx = c.km_per_degree_lon();
        if kx > 1e-6 {
            let dlon = max_km / kx;
            cond = cond.add(
                Expr::col((Trig::Table, Trig::WgsLong))
                    .between(coordinate_bound(c.lon - dlon, false), coordinate_bound(c.lon + dlon, true)),
            );
        }
        cond = cond.add(distance_sq(b, c).lte(max_km * max_km));
    }
    if let Some(user_id) = exclude_user {
        cond = cond.add(
            Expr::col((Trig::Table, Trig::Id)).not_in_subquery(
                Query::select()
                    .column(Tlog::TrigId)
                    .from(Tlog::Table)
                    .and_where(Expr::col(Tlog::UserId).eq(user_id))
                    .to_owned(),
            ),
        );
    }
    cond
}

/// Radii (km) tried in turn for a nearest-first page without `max_km`.
const PROBE_RADII_KM: [f64; 3] = [25.0, 100.0, 400.0];
/// Past this many rows (`skip + limit`) one sorted scan of every trig is as good.
const PROBE_MAX_ROWS: u64 = 1_000;

/// One page of the filtered list, and the filtered total.
pub async fn list(db: &Db, q: &TrigListQuery, exclude_user: Option<i32>) -> Result<(Vec<TrigRow>, i64), DbError> {
    let cond = list_condition(db.backend(), q, exclude_user);
    let (limit, offset) = q.page.sql();
    let page = async {
        if let (TrigOrder::Distance, Some(_), None) = (q.order, q.centre, q.max_km)
            && let Some(rows) = nearest_by_probing(db, q, exclude_user, limit + offset).await?
        {
            return Ok(rows.into_iter().skip(offset as usize).collect());
        }
        db.fetch_all(&page_statement(db.backend(), q, cond.clone(), limit, offset)).await
    };
    Ok(tokio::try_join!(page, db.count(Counted::Trig, cond.clone()))?)
}

fn page_statement(b: Backend, q: &TrigListQuery, cond: Condition, limit: u64, offset: u64) -> SelectStatement {
    let mut stmt = minimal_select(b).cond_where(cond).to_owned();
    match (q.order, q.centre) {
        (TrigOrder::Distance, Some(c)) => {
            stmt.order_by_expr(distance_sq(b, c), Order::Asc);
        }
        (TrigOrder::Name, _) => {
            stmt.order_by((Trig::Table, Trig::Name), Order::Asc);
        }
        _ => {}
    }
    stmt.order_by((Trig::Table, Trig::Id), Order::Asc).limit(limit).offset(offset).to_owned()
}

/// The `want` nearest trigs, found inside growing circles instead of sorting all 25k rows.
/// Correct because the circle filter and the sort use the same distance expression: once a
/// circle holds `want` rows, every row outside it is farther than all of them. `None` when no
/// probe circle holds enough (far-away centres, deep pages): the caller sorts everything.
async fn nearest_by_probing(
    db: &Db,
    q: &TrigListQuery,
    exclude_user: Option<i32>,
    want: u64,
) -> Result<Option<Vec<TrigRow>>, DbError> {
    if want > PROBE_MAX_ROWS {
        return Ok(None);
    }
    for radius in PROBE_RADII_KM {
        let probe = q.within(radius);
        let cond = list_condition(db.backend(), &probe, exclude_user);
        let rows = db.fetch_all(&page_statement(db.backend(), &probe, cond, want, 0)).await?;
        if rows.len() as u64 >= want {
            return Ok(Some(rows));
        }
    }
    Ok(None)
}

/// Every trig, by id (`/trigs/export`).
pub async fn all(db: &Db, limit: u64) -> Result<Vec<TrigRow>, DbError> {
    let stmt = minimal_select(db.backend()).order_by((Trig::Table, Trig::Id), Order::Asc).limit(limit).to_owned();
    db.fetch_all(&stmt).await
}

/// Trigs of one physical type, by id (`/trigs/geojson`).
pub async fn of_physical_type(db: &Db, physical_type: &str, limit: u64) -> Result<Vec<TrigRow>, DbError> {
    let stmt = minimal_select(db.backend())
        .and_where(Expr::col((Trig::Table, Trig::PhysicalType)).eq(physical_type))
        .order_by((Trig::Table, Trig::Id), Order::Asc)
        .limit(limit)
        .to_owned();
    db.fetch_all(&stmt).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::params::QueryParams;
    use sea_query::PostgresQueryBuilder;

    #[test]
    fn distance_expression_keeps_its_parentheses() {
        let q = TrigListQuery::from_query(&mut QueryParams::parse(Some("lat=57.5&lon=-4&max_km=10")));
        let sql = Query::select()
            .column(Trig::Id)
            .from(Trig::Table)
            .cond_where(list_condition(Backend::Postgres, &q, None))
            .to_string(PostgresQueryBuilder);
        assert!(sql.contains(r#"(CAST("trig"."wgs_lat" AS DOUBLE PRECISION) - 57.5) * 111.32"#), "{sql}");
        assert!(sql.contains("CAST(57.41016 AS DECIMAL(9,5))"), "{sql}");
    }
}

/// A trig the user logged, with how many of their logs there found the mark (conditions G, S,
/// D, T) and how many did not.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoggedTrig {
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub found: i64,
    pub not_found: i64,
}

/// Where a trig is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrigPoint {
    pub wgs_lat: f64,
    pub wgs_long: f64,
}

/// Every trig `user_id` logged, with their logs there counted as found and not found.
pub async fn logged_by(db: &Db, user_id: i32) -> Result<Vec<LoggedTrig>, DbError> {
    let b = db.backend();
    let found = Expr::col((Tlog::Table, Tlog::Condition)).is_in(LogCondition::found_codes());
    let count_if = |cond: Expr| Func::sum(Expr::case(cond, 1).finally(0)).cast_as(sea_query::Alias::new(b.bigint()));
    let stmt = Query::select()
        .exprs(position(b))
        .expr_as(count_if(found.clone()), "found")
        .expr_as(count_if(found.not()), "not_found")
        .from(Tlog::Table)
        .inner_join(Trig::Table, Expr::col((Trig::Table, Trig::Id)).equals((Tlog::Table, Tlog::TrigId)))
        .and_where(Expr::col((Tlog::Table, Tlog::UserId)).eq(user_id))
        .group_by_columns([(Trig::Table, Trig::Id), (Trig::Table, Trig::WgsLat), (Trig::Table, Trig::WgsLong)])
        .to_owned();
    db.fetch_all(&stmt).await
}

/// Every trig `user_id` has not logged.
pub async fn not_logged_by(db: &Db, user_id: i32) -> Result<Vec<TrigPoint>, DbError> {
    let b = db.backend();
    let logged = Query::select()
        .column(Tlog::TrigId)
        .from(Tlog::Table)
        .and_where(Expr::col(Tlog::UserId).eq(user_id))
        .to_owned();
    let stmt = Query::select()
        .exprs(position(b))
        .from(Trig::Table)
        .and_where(Expr::col(Trig::Id).not_in_subquery(logged))
        .to_owned();
    db.fetch_all(&stmt).await
}
