//! `/v1/locations/search…`: one query, read as a trig name or waypoint, a station number, a
//! place, a user, a postcode, a grid reference or a latitude/longitude
//! ([`crate::domain::location`]), and the text of logs, by substring or by pattern
//! ([`crate::domain::log_pattern`]).
//!
//! Every answer is cached under the contract's TTLs, and tagged so that writes reach it
//! (unlike the original's, which only expire): log searches depend on `logs:list` (every log
//! write) and `usernames` (renames), user searches on `users:list` (registrations and
//! renames), place and postcode searches on `places` and `postcodes` (imports).

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use crate::cache::{Cached, Resource, ttl};
use crate::db::search::Window;
use crate::db::{self, Backend, Db};
use crate::domain::location::{GridRef, PostcodeKind, PostcodeQuery, WaypointQuery, parse_lat_lon};
use crate::domain::log_pattern::LogPattern;
use crate::domain::pagination::Page;
use crate::domain::params::{MAX_TEXT, QueryParams};
use crate::error::{ApiError, FieldError};
use crate::invalidation::tag;
use crate::routes::extract::CacheRequest;
use crate::state::AppState;
use crate::wire::search::{LocationSearchResult, LogSearchResult, SearchCategoryResults, UnifiedSearchResults};

/// The shortest query.
const MIN_QUERY: usize = 2;

/// A regex search matches at most this many candidate logs (those holding its literal); a
/// pattern whose literal is commoner must name a longer one.
const MAX_CANDIDATES: u64 = 100_000;

type Locations = SearchCategoryResults<LocationSearchResult>;
type Logs = SearchCategoryResults<LogSearchResult>;

/// `q`, required, 2 to 200 characters of visible text.
fn query_text(q: &mut QueryParams) -> Option<String> {
    q.require("q");
    let text = q.text("q", MAX_TEXT)?;
    if text.chars().count() < MIN_QUERY {
        q.push_error(
            FieldError::new(
                "string_too_short",
                "query",
                "q",
                format!("String should have at least {MIN_QUERY} characters"),
                json!(text),
            )
            .with_ctx(json!({ "min_length": MIN_QUERY })),
        );
        return None;
    }
    Some(text)
}

/// Location search across every source, best kinds first: a bare array of at most `limit`
/// (1..50, default 10).
#[utoipa::path(get, path = "/v1/locations/search", tag = "locations",
    params(("q" = String, Query, min_length = 2, description = "Search text"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 50, description = "Most results (default 10)")),
    responses((status = 200, body = Vec<LocationSearchResult>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn search(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let text = query_text(&mut q);
    let limit = q.int("limit", Some(1), Some(50)).unwrap_or(10);
    q.key_param("limit", limit);
    let key = q.finish()?;
    let text = text.unwrap_or_default();
    Cached::new(Resource::LOCATION_SEARCH, ttl::LOCATION_SEARCH)
        .params(key)
        .tag(tag::TRIG_DATA.to_owned())
        .tag(Resource::USERS_LIST.tag())
        .tag(tag::PLACES.to_owned())
        .tag(tag::POSTCODES.to_owned())
        .json(&app, &request, move |app| async move {
            let db = &app.db;
            let mut results = coordinates(&text);
            // The first few of each category, uncounted: this answer has no totals.
            let first = |n: i64| Window::first(n.min(limit).unsigned_abs());
            let (trigs, stations, towns, postcodes, users) = tokio::try_join!(
                trigpoints(db, &text, first(5)),
                station_numbers(db, &text, first(3)),
                places(db, &text, first(5)),
                postcodes(db, &text, first(5)),
                users(db, &text, first(5)),
            )?;
            for category in [trigs, stations, towns, postcodes, users] {
                results.extend(category.items);
            }
            results.truncate(limit.unsigned_abs().try_into().unwrap_or(usize::MAX));
            Ok(results)
        })
        .await
}

/// Every category at once, at most `limit` (1..100, default 20) of each. `log_regex` is
/// searched only when the query holds a pattern character, and is empty when it is not a
/// pattern a regex search takes.
#[utoipa::path(get, path = "/v1/locations/search/all", tag = "locations",
    params(("q" = String, Query, min_length = 2, description = "Search text"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Most results per category (default 20)")),
    responses((status = 200, body = UnifiedSearchResults), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn all(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let text = query_text(&mut q);
    let limit = q.int("limit", Some(1), Some(Page::MAX_LIMIT)).unwrap_or(20);
    q.key_param("limit", limit);
    let key = q.finish()?;
    let text = text.unwrap_or_default();
    Cached::new(Resource::UNIFIED_SEARCH, ttl::UNIFIED_SEARCH)
        .params(key)
        .tag(tag::TRIG_DATA.to_owned())
        .tag(Resource::USERS_LIST.tag())
        .tag(tag::PLACES.to_owned())
        .tag(tag::POSTCODES.to_owned())
        .tag(Resource::LOGS_LIST.tag())
        .tag(tag::USER_NAMES.to_owned())
        .json(&app, &request, move |app| async move {
            let db = &app.db;
            let page = Page { skip: 0, limit };
            let window = Window::counted(page.sql());
            let coordinates = coordinates(&text);
            let found = coordinates.len() as i64;
            let coordinates = SearchCategoryResults::new(coordinates, found, 0, &text);
            let looks_like_pattern =
                text.contains(['.', '*', '+', '?', '^', '$', '{', '}', '(', ')', '|', '[', ']', '\\']);
            let (trigpoints, station_numbers, places, users, postcodes, log_substring, log_regex) = tokio::try_join!(
                trigpoints(db, &text, window),
                station_numbers(db, &text, window),
                places(db, &text, window),
                users(db, &text, window),
                postcodes(db, &text, window),
                async { or_none(logs_containing(db, &text, page).await, &text) },
                async {
                    if !looks_like_pattern {
                        return Ok(Logs::empty(&text));
                    }
                    let pattern = LogPattern::compile("q", &text);
                    or_none(async { logs_matching(db, &pattern?, &text, page).await }.await, &text)
                },
            )?;
            Ok(UnifiedSearchResults {
                query: text.clone(),
                trigpoints,
                station_numbers,
                places,
                users,
                postcodes,
                coordinates,
                log_substring,
                log_regex,
            })
        })
        .await
}

/// One category of the search, served on its own with `skip` and `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Trigpoints,
    StationNumbers,
    Places,
    Users,
    Postcodes,
    LogSubstring,
    LogRegex,
}

/// A category's page of places or of logs.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum CategoryPage {
    Locations(Locations),
    Logs(Logs),
}

impl Category {
    fn resource(self) -> Resource {
        match self {
            Category::Trigpoints => Resource::SEARCH_TRIGPOINTS,
            Category::StationNumbers => Resource::SEARCH_STATION_NUMBERS,
            Category::Places => Resource::SEARCH_PLACES,
            Category::Users => Resource::SEARCH_USERS,
            Category::Postcodes => Resource::SEARCH_POSTCODES,
            Category::LogSubstring => Resource::SEARCH_LOGS_SUBSTRING,
            Category::LogRegex => Resource::SEARCH_LOGS_REGEX,
        }
    }

    fn ttl(self) -> std::time::Duration {
        match self {
            Category::LogSubstring | Category::LogRegex => ttl::SEARCH_LOGS,
            _ => ttl::SEARCH,
        }
    }

    /// The content tags of the category's entries (see the module docs).
    fn tags(self) -> Vec<String> {
        match self {
            Category::Trigpoints | Category::StationNumbers => vec![tag::TRIG_DATA.to_owned()],
            Category::Places => vec![tag::PLACES.to_owned()],
            Category::Postcodes => vec![tag::POSTCODES.to_owned()],
            Category::Users => vec![Resource::USERS_LIST.tag()],
            Category::LogSubstring | Category::LogRegex => {
                vec![Resource::LOGS_LIST.tag(), tag::USER_NAMES.to_owned(), tag::TRIG_DATA.to_owned()]
            }
        }
    }

    async fn search(
        self,
        db: &Db,
        text: &str,
        pattern: Option<&LogPattern>,
        page: Page,
    ) -> Result<CategoryPage, ApiError> {
        let window = Window::counted(page.sql());
        Ok(match (self, pattern) {
            (Category::Trigpoints, _) => CategoryPage::Locations(trigpoints(db, text, window).await?),
            (Category::StationNumbers, _) => CategoryPage::Locations(station_numbers(db, text, window).await?),
            (Category::Places, _) => CategoryPage::Locations(places(db, text, window).await?),
            (Category::Users, _) => CategoryPage::Locations(users(db, text, window).await?),
            (Category::Postcodes, _) => CategoryPage::Locations(postcodes(db, text, window).await?),
            (Category::LogSubstring, _) => CategoryPage::Logs(logs_containing(db, text, page).await?),
            (Category::LogRegex, Some(pattern)) => CategoryPage::Logs(logs_matching(db, pattern, text, page).await?),
            (Category::LogRegex, None) => return Err(ApiError::Internal("a regex search without its pattern")),
        })
    }
}

/// Serve one category: `q`, `skip` ≥ 0 and `limit` 1..100 (default 20). A regex search's
/// pattern is checked before the cache is asked.
async fn category(
    app: AppState,
    request: CacheRequest,
    query: Option<String>,
    kind: Category,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let text = query_text(&mut q);
    let page = Page::from_query_with_default(&mut q, 20);
    let key = q.finish()?;
    let text = text.unwrap_or_default();
    let pattern = match kind {
        Category::LogRegex => Some(LogPattern::compile("q", &text)?),
        _ => None,
    };
    let mut cached = Cached::new(kind.resource(), kind.ttl()).params(key);
    for t in kind.tags() {
        cached = cached.tag(t);
    }
    cached
        .json(&app, &request, move |app| async move { kind.search(&app.db, &text, pattern.as_ref(), page).await })
        .await
}

/// A log search of `/search/all` that its own endpoint would refuse (422: not a pattern it
/// takes, too broad) is an empty category there.
fn or_none(found: Result<Logs, ApiError>, text: &str) -> Result<Logs, ApiError> {
    match found {
        Err(ApiError::Validation(_)) => Ok(Logs::empty(text)),
        other => other,
    }
}

/// Declares the handler of one category, with its OpenAPI description.
macro_rules! category_endpoint {
    ($(#[$doc:meta])* $name:ident, $path:literal, $kind:expr, $item:ty) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "locations",
            params(("q" = String, Query, min_length = 2, description = "Search text"),
                   ("skip" = Option<i64>, Query, minimum = 0, description = "Results to skip (default 0)"),
                   ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Most results (default 20)")),
            responses((status = 200, body = SearchCategoryResults<$item>),
                      (status = 422, body = crate::error::ValidationErrorBody)))]
        pub async fn $name(
            State(app): State<AppState>,
            request: CacheRequest,
            RawQuery(query): RawQuery,
        ) -> Result<Response, ApiError> {
            category(app, request, query, $kind).await
        }
    };
}

category_endpoint!(
    /// Trig points by name or waypoint: the exact waypoint first, then exact names, names that
    /// start with the query, and names that contain it.
    search_trigpoints, "/v1/locations/search/trigpoints", Category::Trigpoints, LocationSearchResult
);
category_endpoint!(
    /// Trig points by station number (current, active, passive or OSGB36), an exact match first.
    search_station_numbers, "/v1/locations/search/station-numbers", Category::StationNumbers, LocationSearchResult
);
category_endpoint!(
    /// Places by name: exact names, then names that start with the query, then the rest.
    search_places, "/v1/locations/search/places", Category::Places, LocationSearchResult
);
category_endpoint!(
    /// Users by name: exact names, then names that start with the query, then the rest.
    search_users, "/v1/locations/search/users", Category::Users, LocationSearchResult
);
category_endpoint!(
    /// Postcodes: a unit (`SW1A 1AA`), a sector (`SW1A 1`) or a district (`SW1A`), and the
    /// sectors and units that start with it; districts and sectors first.
    search_postcodes, "/v1/locations/search/postcodes", Category::Postcodes, LocationSearchResult
);
category_endpoint!(
    /// Logs whose text contains the query (ignoring case), newest first.
    search_logs_substring, "/v1/locations/search/logs/substring", Category::LogSubstring, LogSearchResult
);
category_endpoint!(
    /// Logs whose text matches a regular expression (ignoring case), newest first. The pattern
    /// must contain literal text of three characters or more that every match includes; it is
    /// matched in linear time, and a pattern that is invalid, too large, or whose literal is in
    /// more than 100,000 logs is a 422.
    search_logs_regex, "/v1/locations/search/logs/regex", Category::LogRegex, LogSearchResult
);

/// The latitude/longitude and the grid reference the query spells, if it does.
fn coordinates(text: &str) -> Vec<LocationSearchResult> {
    let mut found = Vec::new();
    if let Some(at) = parse_lat_lon(text) {
        found.push(LocationSearchResult::latlon(at));
    }
    if let Some(grid) = GridRef::parse(text)
        && let Some(at) = grid.wgs84()
    {
        found.push(LocationSearchResult::gridref(&grid, at));
    }
    found
}

/// A category's results in `window`.
fn results(items: Vec<LocationSearchResult>, total: i64, window: Window, text: &str) -> Locations {
    SearchCategoryResults::new(items, total, i64::try_from(window.offset).unwrap_or(i64::MAX), text)
}

async fn trigpoints(db: &Db, text: &str, window: Window) -> Result<Locations, ApiError> {
    let waypoint = WaypointQuery::parse(text);
    let (rows, total) = db::search::trigs(db, text, waypoint.as_ref(), window).await?;
    Ok(results(rows.into_iter().map(LocationSearchResult::trigpoint).collect(), total, window, text))
}

async fn station_numbers(db: &Db, text: &str, window: Window) -> Result<Locations, ApiError> {
    let (rows, total) = db::search::station_numbers(db, text.trim(), window).await?;
    let items = rows.into_iter().map(|t| LocationSearchResult::station_number(t, text)).collect();
    Ok(results(items, total, window, text))
}

/// Places; `total` counts places (the original counted users here).
async fn places(db: &Db, text: &str, window: Window) -> Result<Locations, ApiError> {
    let (rows, total) = db::search::towns(db, text, window).await?;
    Ok(results(rows.into_iter().map(LocationSearchResult::town).collect(), total, window, text))
}

async fn users(db: &Db, text: &str, window: Window) -> Result<Locations, ApiError> {
    let (rows, total) = db::search::users(db, text, window).await?;
    Ok(results(rows.into_iter().map(LocationSearchResult::user).collect(), total, window, text))
}

/// Postcodes as one list: the districts and sectors that start with the query, then the
/// units. A unit that is not in the units table (none are until `trigapi import postcodes`)
/// is answered by its sector.
async fn postcodes(db: &Db, text: &str, window: Window) -> Result<Locations, ApiError> {
    let Some(query) = PostcodeQuery::parse(text) else {
        return Ok(SearchCategoryResults::empty(text));
    };
    let Window { limit, offset, .. } = window;
    let prefix = query.code.as_str();
    let (mut items, mut total) = (Vec::new(), 0);
    let unit_like = matches!(query.kind, PostcodeKind::Unit | PostcodeKind::Partial);
    if !unit_like {
        let (areas, n) = db::search::areas(db, prefix, window).await?;
        total += n;
        items.extend(areas.into_iter().map(LocationSearchResult::area));
    }
    let shown = items.len() as u64;
    let skipped_areas = u64::try_from(total).unwrap_or(0);
    let units_window = Window { limit: limit - shown, offset: offset.saturating_sub(skipped_areas), ..window };
    let (units, n) = db::search::units(db, prefix, units_window).await?;
    total += n;
    items.extend(units.into_iter().map(LocationSearchResult::unit));
    if unit_like
        && n == 0
        && let Some(sector) = query.sector()
    {
        let (areas, n) = db::search::areas(db, &sector, window).await?;
        total += n;
        items.extend(areas.into_iter().map(LocationSearchResult::area));
    }
    Ok(results(items, total, window, text))
}

/// Logs whose text contains `text`, within [`LOG_SEARCH_DEADLINE`]: text of fewer than three
/// characters has no trigram to look up, and PostgreSQL reads every comment for it (half a
/// second alone, more under load), so past the deadline the answer is a 422.
async fn logs_containing(db: &Db, text: &str, page: Page) -> Result<Logs, ApiError> {
    let (limit, offset) = page.sql();
    let search = db::search::logs_containing(db, text, limit, offset);
    let (rows, total) = match tokio::time::timeout(LOG_SEARCH_DEADLINE, search).await {
        Ok(found) => found?,
        Err(_) => return Err(too_broad(text, "the search took longer than 1 s")),
    };
    Ok(SearchCategoryResults::new(rows.into_iter().map(Into::into).collect(), total, page.skip, text))
}

/// How long a log search may take, substring or pattern.
const LOG_SEARCH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// The 422 of a log search that would read too much: `why`, and what to do about it.
fn too_broad(text: &str, why: &str) -> ApiError {
    let msg = format!("Value error, {why}: make the text longer or more particular");
    ApiError::Validation(vec![FieldError::new("value_error", "query", "q", msg, json!(text))])
}

/// Logs matching `pattern`: the candidates that hold one of its literals, from the text
/// index, matched off the async threads. A 422 when a literal is in more than
/// [`MAX_CANDIDATES`] logs, or when the search takes longer than [`LOG_SEARCH_DEADLINE`].
async fn logs_matching(db: &Db, pattern: &LogPattern, text: &str, page: Page) -> Result<Logs, ApiError> {
    let matched = match tokio::time::timeout(LOG_SEARCH_DEADLINE, matching_ids(db, pattern)).await {
        Ok(Ok(ids)) => ids,
        Ok(Err(Matching::TooMany(literal))) => {
            return Err(too_broad(text, &format!("the text {literal} is in more than {MAX_CANDIDATES} logs")));
        }
        Ok(Err(Matching::Failed(e))) => return Err(e),
        Err(_) => return Err(too_broad(text, "the search took longer than 1 s")),
    };
    let total = matched.len() as i64;
    let (limit, offset) = page.sql();
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let ids: Vec<i32> = matched.into_iter().rev().skip(skip).take(usize::try_from(limit).unwrap_or(0)).collect();
    let rows = db::search::logs_by_id(db, &ids).await?;
    Ok(SearchCategoryResults::new(rows.into_iter().map(Into::into).collect(), total, page.skip, text))
}

/// Why a regex search found no ids.
enum Matching {
    /// This literal (quoted; or these, on SQLite, together) is in more than
    /// [`MAX_CANDIDATES`] logs.
    TooMany(String),
    Failed(ApiError),
}

impl From<db::DbError> for Matching {
    fn from(e: db::DbError) -> Self {
        Matching::Failed(e.into())
    }
}

/// The ids of the logs `pattern` matches. SQLite matches inside the database (only ids come
/// back), and bounds the candidates of all the literals together; the other backends send
/// each literal's candidates to be matched here, off the async threads (their own regular
/// expressions are not linear-time), and bound each literal's.
async fn matching_ids(db: &Db, pattern: &LogPattern) -> Result<BTreeSet<i32>, Matching> {
    if db.backend() == Backend::Sqlite {
        let found = db::search::logs_matching_in_db(db, pattern.literals(), &pattern.source()).await?;
        if found.candidates > MAX_CANDIDATES as i64 {
            let texts: Vec<String> = pattern.literals().iter().map(|l| format!("{l:?}")).collect();
            return Err(Matching::TooMany(texts.join(" or ")));
        }
        return Ok(found.ids.into_iter().collect());
    }
    let mut matched = BTreeSet::new();
    for literal in pattern.literals() {
        let candidates = db::search::log_texts_containing(db, literal, MAX_CANDIDATES + 1).await?;
        if candidates.len() as u64 > MAX_CANDIDATES {
            return Err(Matching::TooMany(format!("{literal:?}")));
        }
        let pattern = pattern.clone();
        let ids = tokio::task::spawn_blocking(move || {
            candidates.into_iter().filter(|c| pattern.is_match(&c.comment)).map(|c| c.id).collect::<Vec<_>>()
        })
        .await
        .map_err(|_| Matching::Failed(ApiError::Internal("regex matching stopped")))?;
        matched.extend(ids);
    }
    Ok(matched)
}
