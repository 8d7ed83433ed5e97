//! Location search shapes: `LocationSearchResult`, `LogSearchResult`, the per-category
//! envelope and `/search/all`'s `UnifiedSearchResults`.

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::logs::LogRow;
use crate::db::search::{AreaHit, TownHit, TrigHit, UnitHit, UserHit};
use crate::domain::location::{GridRef, LatLon, grid_to_wgs84};

/// One place, trig, user or position a query names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LocationSearchResult {
    /// `trigpoint`, `station_number`, `town`, `postcode`, `gridref`, `latlon` or `user`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub description: Option<String>,
    pub id: Option<String>,
}

impl LocationSearchResult {
    /// A trig found by name or waypoint: `TP0001 - Pillar`.
    pub fn trigpoint(t: TrigHit) -> Self {
        let description = [t.waypoint.trim(), t.physical_type.trim()].into_iter().filter(|s| !s.is_empty());
        let description = description.collect::<Vec<_>>().join(" - ");
        Self {
            kind: "trigpoint",
            name: non_empty(t.name.trim(), "Unnamed Trig"),
            lat: t.wgs_lat,
            lon: t.wgs_long,
            description: Some(if description.is_empty() { "Trigpoint".to_owned() } else { description }),
            id: Some(t.id.to_string()),
        }
    }

    /// A trig found by station number: the number it matched, `TP0001 - Name`.
    pub fn station_number(t: TrigHit, query: &str) -> Self {
        let numbers = [
            Some(&t.stn_number),
            t.stn_number_active.as_ref(),
            t.stn_number_passive.as_ref(),
            t.stn_number_osgb36.as_ref(),
        ];
        let query = query.trim().to_lowercase();
        let matched =
            numbers.into_iter().flatten().find(|n| n.to_lowercase().starts_with(&query)).unwrap_or(&t.stn_number);
        Self {
            kind: "station_number",
            name: matched.trim().to_owned(),
            lat: t.wgs_lat,
            lon: t.wgs_long,
            description: Some(format!("{} - {}", t.waypoint.trim(), t.name.trim())),
            id: Some(t.id.to_string()),
        }
    }

    /// A place, placed from its grid position (see [`TownHit`]), or from its WGS84 columns
    /// off the grid (Northern Ireland's west); a legacy upper-case name is title-cased as the
    /// original shows it.
    pub fn town(t: TownHit) -> Self {
        let at = on_grid(t.osgb_eastings, t.osgb_northings).unwrap_or(LatLon { lat: t.wgs_lat, lon: t.wgs_long });
        let name = t.name.trim();
        let name = if name.chars().any(char::is_lowercase) { name.to_owned() } else { title_case(name) };
        Self {
            kind: "town",
            name: non_empty(&name, "Unknown Town"),
            lat: at.lat,
            lon: at.lon,
            description: Some("UK Town".to_owned()),
            id: None,
        }
    }

    /// A postcode sector or district, placed from its grid position (the legacy table's
    /// WGS84 columns are corrupt in places), or from those columns off the grid.
    pub fn area(a: AreaHit) -> Self {
        let at = on_grid(a.osgb_eastings, a.osgb_northings).unwrap_or(LatLon { lat: a.wgs_lat, lon: a.wgs_long });
        let town = a.postal_town.trim();
        Self {
            kind: "postcode",
            name: a.code.trim().to_owned(),
            lat: at.lat,
            lon: at.lon,
            description: Some(if town.is_empty() { "Postcode".to_owned() } else { town.to_owned() }),
            id: None,
        }
    }

    /// A unit postcode.
    pub fn unit(u: UnitHit) -> Self {
        Self {
            kind: "postcode",
            name: u.code.trim().to_owned(),
            lat: u.lat,
            lon: u.long,
            description: Some("UK Postcode".to_owned()),
            id: None,
        }
    }

    /// A user: users have no position, so the middle of the UK stands for one.
    pub fn user(u: UserHit) -> Self {
        Self {
            kind: "user",
            name: u.name.trim().to_owned(),
            lat: 54.0,
            lon: -2.0,
            description: Some("User".to_owned()),
            id: Some(u.id.to_string()),
        }
    }

    /// A grid reference the query spelt.
    pub fn gridref(g: &GridRef, at: LatLon) -> Self {
        Self {
            kind: "gridref",
            name: g.name(),
            lat: at.lat,
            lon: at.lon,
            description: Some("OSGB Grid Reference".to_owned()),
            id: None,
        }
    }

    /// A latitude and longitude the query spelt.
    pub fn latlon(at: LatLon) -> Self {
        Self {
            kind: "latlon",
            name: format!("{:.5}, {:.5}", at.lat, at.lon),
            lat: at.lat,
            lon: at.lon,
            description: Some("Coordinates (WGS84)".to_owned()),
            id: None,
        }
    }
}

/// The WGS84 position of a row's grid columns, unless they are unset (0, 0) or off the grid.
fn on_grid(easting: i32, northing: i32) -> Option<LatLon> {
    if easting == 0 && northing == 0 {
        return None;
    }
    grid_to_wgs84(easting.into(), northing.into())
}

fn non_empty(s: &str, otherwise: &str) -> String {
    if s.is_empty() { otherwise.to_owned() } else { s.to_owned() }
}

/// Python's `str.title()`: each run of letters starts upper case, the rest lower.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// A log whose text matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogSearchResult {
    pub id: i32,
    pub trig_id: i32,
    pub trig_name: Option<String>,
    pub user_id: i32,
    pub user_name: Option<String>,
    pub date: NaiveDate,
    #[schema(value_type = String, example = "12:00:00")]
    pub time: NaiveTime,
    pub condition: String,
    pub comment: String,
    pub score: i32,
    /// The first 150 characters, and `...` when there are more.
    pub comment_excerpt: Option<String>,
}

/// How many characters of a comment its excerpt shows.
const EXCERPT_CHARS: usize = 150;

impl From<LogRow> for LogSearchResult {
    fn from(row: LogRow) -> Self {
        let comment = row.fields.comment;
        let comment_excerpt = match comment.char_indices().nth(EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}...", &comment[..cut]),
            None => comment.clone(),
        };
        Self {
            id: row.id,
            trig_id: row.trig_id,
            trig_name: row.trig_name,
            user_id: row.user_id,
            user_name: row.user_name,
            date: row.fields.date,
            time: row.fields.time,
            condition: row.fields.condition,
            comment,
            score: row.fields.score,
            comment_excerpt: Some(comment_excerpt),
        }
    }
}

/// One category's page: `total` matches, `has_more` when some lie beyond this page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchCategoryResults<T> {
    pub total: i64,
    pub items: Vec<T>,
    pub has_more: bool,
    pub query: String,
}

impl<T> SearchCategoryResults<T> {
    /// `items`, the page of `total` matches that starts at `skip`.
    pub fn new(items: Vec<T>, total: i64, skip: i64, query: &str) -> Self {
        let shown = i64::try_from(items.len()).unwrap_or(i64::MAX);
        Self { total, has_more: total > skip.saturating_add(shown), items, query: query.to_owned() }
    }

    /// Nothing found.
    pub fn empty(query: &str) -> Self {
        Self::new(Vec::new(), 0, 0, query)
    }
}

/// `/search/all`: every category at once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnifiedSearchResults {
    pub query: String,
    pub trigpoints: SearchCategoryResults<LocationSearchResult>,
    pub station_numbers: SearchCategoryResults<LocationSearchResult>,
    pub places: SearchCategoryResults<LocationSearchResult>,
    pub users: SearchCategoryResults<LocationSearchResult>,
    pub postcodes: SearchCategoryResults<LocationSearchResult>,
    pub coordinates: SearchCategoryResults<LocationSearchResult>,
    pub log_substring: SearchCategoryResults<LogSearchResult>,
    pub log_regex: SearchCategoryResults<LogSearchResult>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn legacy_names_are_title_cased_as_python_does() {
        assert_eq!(super::title_case("NEWCASTLE UPON TYNE"), "Newcastle Upon Tyne");
        assert_eq!(super::title_case("ST. IVES"), "St. Ives");
    }
}
