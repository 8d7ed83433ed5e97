//! Queries of the location search: trigs by name or waypoint, station numbers, places, users,
//! postcodes and the text of logs.
//!
//! Each search returns one page of rows, best first, and the number of all matches. Names
//! rank an exact match first, then a name that starts with the query, then any other that
//! contains it. Log text is found through each backend's own index (see
//! `migrations/*/…_location_search.sql`):
//!
//! | backend | index | a substring search is |
//! |---|---|---|
//! | SQLite | FTS5 trigram over `tlog.comment` | a phrase query on the index (`"text"`) |
//! | PostgreSQL | `pg_trgm` GIN over a lower-cased copy of the comments (`tlog_comment_text`) | `comment LIKE '%text%'` there |
//! | MySQL/MariaDB | `FULLTEXT (comment)` | its words (`+pillar*`), then `LIKE` on those rows |
//!
//! On MySQL/MariaDB a search therefore finds text that starts at the start of a word
//! (`pill` finds "pillar", `illar` does not); the other two find any substring.

use sea_query::{Condition, Expr, ExprTrait, Func, Order, Query, SelectStatement};

use super::logs::{self, LogRow};
use super::{Backend, Count, Db, DbError, Postcode6, Postcodes, Tlog, Town, Trig, User};
use crate::domain::location::WaypointQuery;

/// A trig point found by name, waypoint or station number.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrigHit {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub physical_type: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub stn_number: String,
    pub stn_number_active: Option<String>,
    pub stn_number_passive: Option<String>,
    pub stn_number_osgb36: Option<String>,
}

/// A place of the `town` table, on the National Grid and in WGS84 (the legacy table's WGS84
/// columns are `DECIMAL(6,5)`, too narrow for a British latitude: its grid columns are right).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TownHit {
    pub name: String,
    pub osgb_eastings: i32,
    pub osgb_northings: i32,
    pub wgs_lat: f64,
    pub wgs_long: f64,
}

/// A user found by name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserHit {
    pub id: i32,
    pub name: String,
}

/// A postcode sector or district of `postcode6`, on the National Grid.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AreaHit {
    pub code: String,
    pub osgb_eastings: i32,
    pub osgb_northings: i32,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub postal_town: String,
}

/// A unit postcode.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnitHit {
    pub code: String,
    pub lat: f64,
    pub long: f64,
}

/// A log's id and text, to be matched by a pattern.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogText {
    pub id: i32,
    pub comment: String,
}

/// `lower(col) = text`, `LIKE 'text%'`, anything else: 0, 1, 2.
fn name_rank(col: (impl sea_query::IntoIden + Copy, impl sea_query::IntoIden + Copy), text: &str) -> Expr {
    let lower = text.to_lowercase();
    Expr::case(Func::lower(Expr::col(col)).eq(lower), 0)
        .case(super::starts_with_ignoring_case(Expr::col(col), text), 1)
        .finally(2)
        .into()
}

/// Which matches of a search to read: `limit` of them after `offset`, and whether to count
/// them all. Uncounted, a search's total is the number of matches up to those read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub offset: u64,
    pub counted: bool,
}

impl Window {
    /// One page, `(limit, offset)`, and the number of all matches.
    pub fn counted((limit, offset): (u64, u64)) -> Self {
        Self { limit, offset, counted: true }
    }

    /// The first `limit` matches, uncounted.
    pub fn first(limit: u64) -> Self {
        Self { limit, offset: 0, counted: false }
    }
}

/// The rows of `stmt` (already filtered and ordered) in `window`, and the number of rows `cond`
/// matches when the window is counted.
async fn page_and_total<T: super::AnyRow>(
    db: &Db,
    mut stmt: SelectStatement,
    table: impl sea_query::IntoTableRef,
    cond: Condition,
    window: Window,
) -> Result<(Vec<T>, i64), DbError> {
    stmt.limit(window.limit).offset(window.offset);
    if !window.counted {
        let rows: Vec<T> = db.fetch_all(&stmt).await?;
        let read = window.offset.saturating_add(rows.len() as u64);
        return Ok((rows, i64::try_from(read).unwrap_or(i64::MAX)));
    }
    let count = super::count_where(table, cond);
    Ok(tokio::try_join!(db.fetch_all(&stmt), db.fetch_count(&count))?)
}

fn trig_select(db: &Db) -> SelectStatement {
    let b = db.backend();
    Query::select()
        .columns([
            (Trig::Table, Trig::Id),
            (Trig::Table, Trig::Waypoint),
            (Trig::Table, Trig::Name),
            (Trig::Table, Trig::PhysicalType),
            (Trig::Table, Trig::StnNumber),
            (Trig::Table, Trig::StnNumberActive),
            (Trig::Table, Trig::StnNumberPassive),
            (Trig::Table, Trig::StnNumberOsgb36),
        ])
        .expr_as(b.as_double(Expr::col((Trig::Table, Trig::WgsLat))), "wgs_lat")
        .expr_as(b.as_double(Expr::col((Trig::Table, Trig::WgsLong))), "wgs_long")
        .from(Trig::Table)
        .to_owned()
}

/// Trigs whose name contains `text`, or whose waypoint starts with `waypoint`'s prefix; the
/// exact waypoint first, then by [`name_rank`], name and id.
pub async fn trigs(
    db: &Db,
    text: &str,
    waypoint: Option<&WaypointQuery>,
    window: Window,
) -> Result<(Vec<TrigHit>, i64), DbError> {
    let name = (Trig::Table, Trig::Name);
    let mut cond = Condition::any().add(super::contains_ignoring_case(Expr::col(name), text));
    let mut stmt = trig_select(db);
    if let Some(w) = waypoint {
        let wp = Expr::col((Trig::Table, Trig::Waypoint));
        cond = cond
            .add(wp.clone().eq(w.exact.clone()))
            .add(wp.clone().like(format!("{}%", super::like_literal(&w.prefix).to_uppercase())));
        stmt.order_by_expr(Expr::case(wp.eq(w.exact.clone()), 0).finally(1).into(), Order::Asc);
    }
    stmt.cond_where(cond.clone())
        .order_by_expr(name_rank(name, text), Order::Asc)
        .order_by(name, Order::Asc)
        .order_by((Trig::Table, Trig::Id), Order::Asc);
    page_and_total(db, stmt, Trig::Table, cond, window).await
}

/// Trigs with a station number (any of the four columns) starting with `text`, an exact
/// match first.
pub async fn station_numbers(db: &Db, text: &str, window: Window) -> Result<(Vec<TrigHit>, i64), DbError> {
    let columns = [Trig::StnNumber, Trig::StnNumberActive, Trig::StnNumberPassive, Trig::StnNumberOsgb36];
    let mut cond = Condition::any();
    let mut exact = Condition::any();
    for c in columns {
        cond = cond.add(super::starts_with_ignoring_case(Expr::col((Trig::Table, c)), text));
        exact = exact.add(Func::lower(Expr::col((Trig::Table, c))).eq(text.to_lowercase()));
    }
    let stmt = trig_select(db)
        .cond_where(cond.clone())
        .order_by_expr(Expr::case(exact, 0).finally(1).into(), Order::Asc)
        .order_by((Trig::Table, Trig::StnNumber), Order::Asc)
        .order_by((Trig::Table, Trig::Id), Order::Asc)
        .to_owned();
    page_and_total(db, stmt, Trig::Table, cond, window).await
}

/// Places whose name contains `text`, by [`name_rank`], then name, then south to north.
pub async fn towns(db: &Db, text: &str, window: Window) -> Result<(Vec<TownHit>, i64), DbError> {
    let b = db.backend();
    let name = (Town::Table, Town::Name);
    let cond = Condition::all().add(super::contains_ignoring_case(Expr::col(name), text));
    let stmt = Query::select()
        .columns([name, (Town::Table, Town::OsgbEastings), (Town::Table, Town::OsgbNorthings)])
        .expr_as(b.as_double(Expr::col((Town::Table, Town::WgsLat))), "wgs_lat")
        .expr_as(b.as_double(Expr::col((Town::Table, Town::WgsLong))), "wgs_long")
        .from(Town::Table)
        .cond_where(cond.clone())
        .order_by_expr(name_rank(name, text), Order::Asc)
        .order_by(name, Order::Asc)
        .order_by((Town::Table, Town::OsgbNorthings), Order::Asc)
        .to_owned();
    page_and_total(db, stmt, Town::Table, cond, window).await
}

/// Users whose name contains `text`, by [`name_rank`], then name and id.
pub async fn users(db: &Db, text: &str, window: Window) -> Result<(Vec<UserHit>, i64), DbError> {
    let name = (User::Table, User::Name);
    let cond = Condition::all().add(super::contains_ignoring_case(Expr::col(name), text));
    let stmt = Query::select()
        .columns([(User::Table, User::Id), (User::Table, User::Name)])
        .from(User::Table)
        .cond_where(cond.clone())
        .order_by_expr(name_rank(name, text), Order::Asc)
        .order_by(name, Order::Asc)
        .order_by((User::Table, User::Id), Order::Asc)
        .to_owned();
    page_and_total(db, stmt, User::Table, cond, window).await
}

/// `column` starts with `prefix` (upper-case letters, digits and spaces), in a form each
/// backend answers from the column's index: a binary range on SQLite (whose `LIKE` ignores
/// case, which its indexes do not), `LIKE 'prefix%'` elsewhere.
fn code_starts_with(db: &Db, column: Expr, prefix: &str) -> Expr {
    match db.backend() {
        Backend::Sqlite => column.clone().gte(prefix).and(column.lt(format!("{prefix}\u{7f}"))),
        _ => column.like(format!("{}%", super::like_literal(prefix).to_uppercase())),
    }
}

/// Sectors and districts whose code starts with `prefix` (districts first, then sectors, by
/// code), up to `limit`, and their number.
pub async fn areas(db: &Db, prefix: &str, window: Window) -> Result<(Vec<AreaHit>, i64), DbError> {
    let b = db.backend();
    let code = Expr::col((Postcode6::Table, Postcode6::Code));
    let cond = Condition::all().add(code_starts_with(db, code.clone(), prefix));
    let stmt = Query::select()
        .columns([
            (Postcode6::Table, Postcode6::Code),
            (Postcode6::Table, Postcode6::OsgbEastings),
            (Postcode6::Table, Postcode6::OsgbNorthings),
            (Postcode6::Table, Postcode6::PostalTown),
        ])
        .expr_as(b.as_double(Expr::col((Postcode6::Table, Postcode6::WgsLat))), "wgs_lat")
        .expr_as(b.as_double(Expr::col((Postcode6::Table, Postcode6::WgsLong))), "wgs_long")
        .from(Postcode6::Table)
        .cond_where(cond.clone())
        .order_by_expr(Func::char_length(code.clone()).into(), Order::Asc)
        .order_by_expr(code, Order::Asc)
        .to_owned();
    page_and_total(db, stmt, Postcode6::Table, cond, window).await
}

/// Unit postcodes starting with `prefix`, by code.
pub async fn units(db: &Db, prefix: &str, window: Window) -> Result<(Vec<UnitHit>, i64), DbError> {
    let b = db.backend();
    let code = Expr::col((Postcodes::Table, Postcodes::Code));
    let cond = Condition::all().add(code_starts_with(db, code.clone(), prefix));
    let stmt = Query::select()
        .column((Postcodes::Table, Postcodes::Code))
        .expr_as(b.as_double(Expr::col((Postcodes::Table, Postcodes::Lat))), "lat")
        .expr_as(b.as_double(Expr::col((Postcodes::Table, Postcodes::Long))), "long")
        .from(Postcodes::Table)
        .cond_where(cond.clone())
        .order_by_expr(code, Order::Asc)
        .to_owned();
    page_and_total(db, stmt, Postcodes::Table, cond, window).await
}

/// Words InnoDB leaves out of its full-text index by default: a `+word` term of one of them
/// would match nothing.
const INNODB_STOPWORDS: &[&str] = &[
    "about", "are", "com", "for", "from", "how", "that", "the", "this", "was", "what", "when", "where", "who", "will",
    "with", "und", "www",
];

/// `+word*` for each word of `text` that InnoDB indexes (three characters or more, not a
/// stopword), as one boolean-mode query; `None` when there is none.
fn fulltext_terms(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !INNODB_STOPWORDS.contains(&w.as_str()))
        .map(|w| format!("+{w}*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The FTS5 table of log comments (SQLite).
#[derive(sea_query::Iden, Clone, Copy)]
#[iden = "tlog_comment_fts"]
struct CommentFts;

/// The rows of [`CommentFts`] whose comment contains `text`, ignoring case.
///
/// Three characters or more are searched as an FTS5 phrase (`"howling gale"`, its own double
/// quotes doubled): with the trigram tokenizer a phrase matches wherever the text occurs, from
/// the index's positions alone. `LIKE '%…%'` on the same index finds the same rows but reads
/// each one's text to check it: over 20k matches 6-9 times slower. Shorter text has no
/// trigram, so it is matched with `LIKE`, reading the table (with `ESCAPE` when it holds a
/// wildcard; the index answers `LIKE` only without one).
fn fts_matching(text: &str) -> Expr {
    if text.chars().count() >= 3 {
        return Expr::cust_with_values("tlog_comment_fts MATCH ?", [fts_phrase(text)]);
    }
    if text.contains(['%', '_', '!']) {
        let pattern = format!("%{}%", super::like_literal(text));
        return Expr::cust_with_values("tlog_comment_fts.comment LIKE ? ESCAPE '!'", [pattern]);
    }
    Expr::cust_with_values("tlog_comment_fts.comment LIKE ?", [format!("%{text}%")])
}

/// `text` as an FTS5 phrase: in double quotes, its own doubled.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `SELECT rowid FROM tlog_comment_fts WHERE …` for `text`.
fn fts_rowids(text: &str) -> SelectStatement {
    Query::select().expr(Expr::cust("rowid")).from(CommentFts).and_where(fts_matching(text)).to_owned()
}

/// The lower-cased log comments with their trigram index (PostgreSQL), kept by triggers on
/// `tlog` (`migrations/postgres/0007_log_text_table.sql`).
#[derive(sea_query::Iden, Clone, Copy)]
enum TlogCommentText {
    Table,
    Id,
    Comment,
}

/// The rows of [`TlogCommentText`] whose text contains `text`, ignoring case.
fn comment_text_contains(text: &str) -> Expr {
    Expr::col((TlogCommentText::Table, TlogCommentText::Comment))
        .like(sea_query::LikeExpr::new(format!("%{}%", super::like_literal(text))).escape('!'))
}

/// MySQL/MariaDB: logs whose comment contains `text` (ignoring case), narrowed by the
/// `FULLTEXT` index to the rows holding its words, then checked with `LIKE`. (SQLite reads
/// its FTS5 table, [`fts_rowids`], and PostgreSQL its text table, [`comment_text_contains`].)
fn fulltext_contains(text: &str) -> Condition {
    let mut cond = Condition::all();
    if let Some(terms) = fulltext_terms(text) {
        cond = cond.add(Expr::cust_with_values("MATCH (`tlog`.`comment`) AGAINST (? IN BOOLEAN MODE)", [terms]));
    }
    cond.add(super::contains_ignoring_case(Expr::col((Tlog::Table, Tlog::Comment)), text))
}

/// A log's id and the number of all the rows its query found.
#[derive(Debug, sqlx::FromRow)]
struct IdOfTotal {
    id: i32,
    total: i64,
}

/// One page of the logs whose comment contains `text`, newest first, and their number.
///
/// - SQLite: the page's ids come from the index in rowid order, which stops at the page; the
///   count reads the index alone.
/// - PostgreSQL: one scan of the narrow text table gives the page's ids and, with
///   `COUNT(*) OVER ()`, the number of matches (past the last page, a count of its own).
pub async fn logs_containing(db: &Db, text: &str, limit: u64, offset: u64) -> Result<(Vec<LogRow>, i64), DbError> {
    match db.backend() {
        Backend::Sqlite => {
            let ids =
                fts_rowids(text).order_by_expr(Expr::cust("rowid"), Order::Desc).limit(limit).offset(offset).to_owned();
            let page = logs::select()
                .and_where(Expr::col((Tlog::Table, Tlog::Id)).in_subquery(ids))
                .order_by((Tlog::Table, Tlog::Id), Order::Desc)
                .to_owned();
            let count = super::count_where(CommentFts, Condition::all().add(fts_matching(text)));
            Ok(tokio::try_join!(db.fetch_all(&page), db.fetch_count(&count))?)
        }
        Backend::Postgres => {
            // `OFFSET 0` keeps the planner from folding the matches into the ordered query,
            // where it walks the primary key backwards reading every row (160 ms at full
            // scale) instead of taking the trigram index and sorting the matches (45 ms).
            let matches = Query::select()
                .column(TlogCommentText::Id)
                .from(TlogCommentText::Table)
                .and_where(comment_text_contains(text))
                .offset(0)
                .to_owned();
            let page = Query::select()
                .column(TlogCommentText::Id)
                .expr_as(Expr::cust("COUNT(*) OVER ()"), "total")
                .from_subquery(matches, sea_query::Alias::new("matches"))
                .order_by(TlogCommentText::Id, Order::Desc)
                .limit(limit)
                .offset(offset)
                .to_owned();
            let found: Vec<IdOfTotal> = db.fetch_all(&page).await?;
            let total = match found.first() {
                Some(first) => first.total,
                None if offset == 0 => 0,
                None => {
                    let all = Condition::all().add(comment_text_contains(text));
                    db.fetch_count(&super::count_where(TlogCommentText::Table, all)).await?
                }
            };
            let ids: Vec<i32> = found.iter().map(|f| f.id).collect();
            Ok((logs_by_id(db, &ids).await?, total))
        }
        Backend::MySql => {
            let cond = fulltext_contains(text);
            let stmt =
                logs::select().cond_where(cond.clone()).order_by((Tlog::Table, Tlog::Id), Order::Desc).to_owned();
            page_and_total(db, stmt, Tlog::Table, cond, Window::counted((limit, offset))).await
        }
    }
}

/// Up to `cap` logs whose comment contains `text`, with their text, in no order (an order
/// led PostgreSQL to walk the primary key backwards, reading every row, rather than take the
/// trigram index). On PostgreSQL the text is the lower-cased copy of the narrow text table:
/// patterns are matched ignoring case.
pub async fn log_texts_containing(db: &Db, text: &str, cap: u64) -> Result<Vec<LogText>, DbError> {
    let stmt = match db.backend() {
        Backend::Postgres => Query::select()
            .columns([TlogCommentText::Id, TlogCommentText::Comment])
            .from(TlogCommentText::Table)
            .and_where(comment_text_contains(text))
            .limit(cap)
            .to_owned(),
        backend => {
            let cond = match backend {
                Backend::Sqlite => {
                    Condition::all().add(Expr::col((Tlog::Table, Tlog::Id)).in_subquery(fts_rowids(text)))
                }
                _ => fulltext_contains(text),
            };
            Query::select()
                .columns([(Tlog::Table, Tlog::Id), (Tlog::Table, Tlog::Comment)])
                .from(Tlog::Table)
                .cond_where(cond)
                .limit(cap)
                .to_owned()
        }
    };
    db.fetch_all(&stmt).await
}

/// The logs that hold one of `literals` (the candidates) and, of them, those whose comment
/// matches `regex`: matched inside the database (SQLite: sqlx registers the regex crate as
/// `REGEXP`, compiled once per statement), in one pass over the candidates of one FTS5 query
/// (`"a" OR "b"`). What comes back is one row: the number of candidates, and the matching ids
/// as a JSON array.
pub async fn logs_matching_in_db(db: &Db, literals: &[String], regex: &str) -> Result<Matched, DbError> {
    let any = literals.iter().map(|l| fts_phrase(l)).collect::<Vec<_>>().join(" OR ");
    let stmt = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "candidates")
        .expr_as(
            Expr::cust_with_values(
                r#"json_group_array("tlog"."id") FILTER (WHERE "tlog"."comment" REGEXP ?)"#,
                [regex],
            ),
            "ids",
        )
        .from(CommentFts)
        .inner_join(
            Tlog::Table,
            Expr::col((Tlog::Table, Tlog::Id)).equals((CommentFts, sea_query::Alias::new("rowid"))),
        )
        .and_where(Expr::cust_with_values("tlog_comment_fts MATCH ?", [any]))
        .to_owned();
    // An aggregate answers one row, with `[]` when nothing matched.
    let Some(found) = db.fetch_optional::<MatchedRow>(&stmt).await? else {
        return Ok(Matched { candidates: 0, ids: Vec::new() });
    };
    let ids = match found.ids {
        Some(ids) => serde_json::from_str(&ids).map_err(|e| DbError::Sqlx(sqlx::Error::Decode(Box::new(e))))?,
        None => Vec::new(),
    };
    Ok(Matched { candidates: found.candidates, ids })
}

#[derive(sqlx::FromRow)]
struct MatchedRow {
    candidates: i64,
    ids: Option<String>,
}

/// What [`logs_matching_in_db`] found.
#[derive(Debug)]
pub struct Matched {
    /// The logs holding one of the literals.
    pub candidates: i64,
    /// Of them, those the pattern matches.
    pub ids: Vec<i32>,
}

/// The logs `ids`, newest first.
pub async fn logs_by_id(db: &Db, ids: &[i32]) -> Result<Vec<LogRow>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = logs::select()
        .and_where(Expr::col((Tlog::Table, Tlog::Id)).is_in(ids.iter().copied()))
        .order_by((Tlog::Table, Tlog::Id), Order::Desc)
        .to_owned();
    db.fetch_all(&stmt).await
}

/// Whether the gazetteer tables hold any place (the first start seeds them when not).
pub async fn has_places(db: &Db) -> Result<bool, DbError> {
    let stmt = Query::select().expr_as(Expr::val(1i64), "n").from(Town::Table).limit(1).to_owned();
    Ok(db.fetch_optional::<Count>(&stmt).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fulltext_terms_skip_short_words_and_stopwords() {
        assert_eq!(fulltext_terms("The trig pillar, at last"), Some("+trig* +pillar* +last*".to_owned()));
        assert_eq!(fulltext_terms("at it"), None);
    }
}
