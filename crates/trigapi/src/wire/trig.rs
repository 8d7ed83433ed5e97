//! Trig shapes: `TrigMinimal` (list, float coordinates), export items and the detail
//! `TrigWithIncludes` (string coordinates), with `details`, `stats`, `attrs`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::decimal_string;
use crate::db::trigs::{AttrValueRow, TrigFullRow, TrigRow, TrigStatsRow};

/// A `GET /v1/trigs` list item: coordinates are JSON numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigMinimal {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub status_name: Option<String>,
    pub physical_type: String,
    pub condition: String,
    pub wgs_lat: f64,
    pub wgs_long: f64,
    pub osgb_gridref: String,
    pub distance_km: Option<f64>,
}

impl TrigMinimal {
    pub fn new(row: TrigRow, distance_km: Option<f64>) -> Self {
        let TrigRow { id, waypoint, name, status_name, physical_type, condition, wgs_lat, wgs_long, osgb_gridref } =
            row;
        Self { id, waypoint, name, status_name, physical_type, condition, wgs_lat, wgs_long, osgb_gridref, distance_km }
    }
}

/// A trig with decimal-string coordinates (`/trigs/{id}`, `/trigs/waypoint/{wp}`, export items).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigWithIncludes {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub status_name: Option<String>,
    pub physical_type: String,
    pub condition: String,
    /// DECIMAL(7,5) as a string, e.g. `"60.62023"`.
    pub wgs_lat: String,
    pub wgs_long: String,
    pub osgb_gridref: String,
    pub distance_km: Option<f64>,
    pub details: Option<TrigDetails>,
    pub stats: Option<TrigStats>,
    pub attrs: Option<Vec<TrigAttrsData>>,
}

impl From<TrigRow> for TrigWithIncludes {
    fn from(row: TrigRow) -> Self {
        let TrigRow { id, waypoint, name, status_name, physical_type, condition, wgs_lat, wgs_long, osgb_gridref } =
            row;
        Self {
            id,
            waypoint,
            name,
            status_name,
            physical_type,
            condition,
            wgs_lat: decimal_string(wgs_lat, 5),
            wgs_long: decimal_string(wgs_long, 5),
            osgb_gridref,
            distance_km: None,
            details: None,
            stats: None,
            attrs: None,
        }
    }
}

/// An export item: the detail shape without includes (`details/stats/attrs` omitted).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigExportItem {
    pub id: i32,
    pub waypoint: String,
    pub name: String,
    pub status_name: Option<String>,
    pub physical_type: String,
    pub condition: String,
    pub wgs_lat: String,
    pub wgs_long: String,
    pub osgb_gridref: String,
    pub distance_km: Option<f64>,
}

impl From<TrigRow> for TrigExportItem {
    fn from(row: TrigRow) -> Self {
        let TrigRow { id, waypoint, name, status_name, physical_type, condition, wgs_lat, wgs_long, osgb_gridref } =
            row;
        Self {
            id,
            waypoint,
            name,
            status_name,
            physical_type,
            condition,
            wgs_lat: decimal_string(wgs_lat, 5),
            wgs_long: decimal_string(wgs_long, 5),
            osgb_gridref,
            distance_km: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrigDetails {
    pub current_use: String,
    pub historic_use: String,
    pub wgs_height: i32,
    pub postcode: String,
    pub county: String,
    /// Title-cased (`LERWICK` → `Lerwick`).
    pub town: String,
    pub fb_number: String,
    pub stn_number: String,
    pub stn_number_active: Option<String>,
    pub stn_number_passive: Option<String>,
    pub stn_number_osgb36: Option<String>,
}

impl TrigDetails {
    /// Split a full row into the detail base and its `details` block.
    pub fn split(row: TrigFullRow) -> (TrigWithIncludes, TrigDetails) {
        let TrigFullRow {
            base,
            current_use,
            historic_use,
            wgs_height,
            postcode6,
            county,
            town,
            fb_number,
            stn_number,
            stn_number_active,
            stn_number_passive,
            stn_number_osgb36,
        } = row;
        let details = TrigDetails {
            current_use,
            historic_use,
            wgs_height,
            postcode: postcode6,
            county,
            town: title_case(&town),
            fb_number,
            stn_number,
            stn_number_active,
            stn_number_passive,
            stn_number_osgb36,
        };
        (base.into(), details)
    }
}

/// Python's `str.title()`: upper-case the first letter of each alphabetic run.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_alpha = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if prev_alpha {
                out.extend(c.to_lowercase())
            } else {
                out.extend(c.to_uppercase())
            }
            prev_alpha = true;
        } else {
            out.push(c);
            prev_alpha = false;
        }
    }
    out
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrigStats {
    pub logged_first: Option<NaiveDate>,
    pub logged_last: Option<NaiveDate>,
    pub logged_count: i32,
    pub found_last: Option<NaiveDate>,
    pub found_count: i32,
    pub photo_count: i32,
    /// DECIMAL(5,2) as a string, e.g. `"6.50"`.
    pub score_mean: String,
    pub score_baysian: String,
}

impl From<TrigStatsRow> for TrigStats {
    fn from(row: TrigStatsRow) -> Self {
        let TrigStatsRow {
            logged_first,
            logged_last,
            logged_count,
            found_last,
            found_count,
            photo_count,
            score_mean,
            score_baysian,
        } = row;
        Self {
            logged_first,
            logged_last,
            logged_count,
            found_last,
            found_count,
            photo_count,
            score_mean: decimal_string(score_mean, 2),
            score_baysian: decimal_string(score_baysian, 2),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttrSourceInfo {
    pub id: i32,
    pub name: String,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttrSetData {
    /// Attribute id (as a string key) → value.
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrigAttrsData {
    pub source: AttrSourceInfo,
    pub attr_names: BTreeMap<String, String>,
    pub attribute_sets: Vec<AttrSetData>,
}

impl TrigAttrsData {
    /// Group ordered value rows: one element per source (first-seen order), one attribute set per
    /// attrset. `None` when the trig has no attributes, as in the contract.
    pub fn group(rows: Vec<AttrValueRow>) -> Option<Vec<TrigAttrsData>> {
        let mut out: Vec<TrigAttrsData> = Vec::new();
        let mut last_set: Option<(i32, i32)> = None;
        for r in rows {
            let src = match out.iter().position(|s| s.source.id == r.source_id) {
                Some(i) => i,
                None => {
                    out.push(TrigAttrsData {
                        source: AttrSourceInfo {
                            id: r.source_id,
                            name: r.source_name.clone(),
                            url: r.source_url.clone(),
                        },
                        attr_names: BTreeMap::new(),
                        attribute_sets: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let entry = &mut out[src];
            entry.attr_names.insert(r.attr_id.to_string(), r.attr_name);
            if last_set != Some((r.source_id, r.attrset_id)) || entry.attribute_sets.is_empty() {
                entry.attribute_sets.push(AttrSetData { values: BTreeMap::new() });
                last_set = Some((r.source_id, r.attrset_id));
            }
            if let Some(set) = entry.attribute_sets.last_mut() {
                set.values.insert(r.attr_id.to_string(), r.value_string.unwrap_or_default());
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// `GET /v1/trigs/export`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigExport {
    pub items: Vec<TrigExportItem>,
    pub total: usize,
    pub generated_at: String,
    pub cache_info: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeoJsonPoint {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `[lon, lat]`.
    pub coordinates: [f64; 2],
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeoJsonProperties {
    pub id: i32,
    pub name: String,
    pub condition: String,
    pub osgb_gridref: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeoJsonFeature {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub geometry: GeoJsonPoint,
    pub properties: GeoJsonProperties,
}

impl From<TrigRow> for GeoJsonFeature {
    fn from(row: TrigRow) -> Self {
        let TrigRow { id, name, condition, wgs_lat, wgs_long, osgb_gridref, .. } = row;
        Self {
            kind: "Feature",
            geometry: GeoJsonPoint { kind: "Point", coordinates: [wgs_long, wgs_lat] },
            properties: GeoJsonProperties { id, name, condition, osgb_gridref },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureCollection {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub features: Vec<GeoJsonFeature>,
}

impl FeatureCollection {
    pub fn new(rows: Vec<TrigRow>) -> Self {
        Self { kind: "FeatureCollection", features: rows.into_iter().map(Into::into).collect() }
    }
}

/// `GET /v1/trigs/geojson`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigGeoJson {
    pub fbm: FeatureCollection,
    pub pillar: FeatureCollection,
    pub generated_at: String,
    pub cache_info: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Centre {
    pub lat: f64,
    pub lon: f64,
    pub srid: u32,
}

/// The `context` block of `GET /v1/trigs`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TrigListContext {
    Spatial { centre: Centre, max_km: Option<f64>, order: String },
    Plain { order: String },
}

/// `GET /v1/trigs`: the list envelope plus `context`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrigList {
    pub items: Vec<TrigMinimal>,
    pub pagination: crate::domain::pagination::Pagination,
    pub links: crate::domain::pagination::Links,
    pub context: TrigListContext,
}

#[cfg(test)]
mod tests {
    #[test]
    fn towns_are_title_cased_like_python() {
        assert_eq!(super::title_case("LERWICK"), "Lerwick");
        assert_eq!(super::title_case("ST. IVES-ON-SEA"), "St. Ives-On-Sea");
    }
}
