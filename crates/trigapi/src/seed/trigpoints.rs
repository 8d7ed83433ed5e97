//! The vendored OS Complete Trig Archive (`assets/trigpoints.csv.gz`, OGL v3, see NOTICE) as
//! `trig` rows, plus its archive columns as `attr*` rows.

use std::io::Read;

use anyhow::Context;
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::db::seed_writer::NewTrig;

static TRIGPOINTS_CSV_GZ: &[u8] = include_bytes!("../../assets/trigpoints.csv.gz");

/// One CSV row (only the columns we use).
#[derive(Debug, Clone, Deserialize)]
pub struct ArchiveRow {
    pub station_id: String,
    pub station_name: String,
    pub name: String,
    pub type_of_mark: String,
    pub physical_type: String,
    pub status_id: i32,
    pub destroyed: i32,
    pub easting: f64,
    pub northing: f64,
    pub gridref: String,
    pub lat: f64,
    pub lon: f64,
    pub height_m: Option<f64>,
    pub height_datum: String,
    pub order: String,
    pub computing_block: String,
    pub computed_date: String,
    pub fb_number: String,
    pub comments: String,
}

impl ArchiveRow {
    pub fn is_destroyed(&self) -> bool {
        self.destroyed != 0
    }
}

pub fn load() -> anyhow::Result<Vec<ArchiveRow>> {
    let mut csv_text = String::new();
    flate2::read::GzDecoder::new(TRIGPOINTS_CSV_GZ)
        .read_to_string(&mut csv_text)
        .context("decompressing trigpoints.csv.gz")?;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    reader.deserialize().collect::<Result<Vec<ArchiveRow>, _>>().context("parsing trigpoints.csv")
}

/// The `trig` row for archive row `i` (id = i + 1). `condition` is filled in after logs exist.
pub fn to_trig(i: usize, r: &ArchiveRow) -> NewTrig {
    let id = i as i32 + 1;
    let height = r.height_m.map(|h| h.round() as i32).unwrap_or(0);
    let pillar = r.physical_type == "Pillar";
    let current_use = if r.is_destroyed() {
        "Destroyed"
    } else if pillar {
        "Passive station"
    } else if r.physical_type == "Intersected Station" {
        "none"
    } else {
        "Other"
    };
    let historic_use = match r.order.as_str() {
        "1" => "Primary",
        "2" => "Secondary",
        "3" => "3rd order",
        "4" => "4th order",
        _ => "Other",
    };
    NewTrig {
        id,
        waypoint: format!("TP{id:04}"),
        name: truncate(&r.name, 50),
        status_id: r.status_id,
        user_added: 0,
        current_use: current_use.into(),
        historic_use: historic_use.into(),
        physical_type: truncate(&r.physical_type, 25),
        wgs_lat: (r.lat * 1e5).round() / 1e5,
        wgs_long: (r.lon * 1e5).round() / 1e5,
        wgs_height: height,
        osgb_eastings: r.easting.round() as i32,
        osgb_northings: r.northing.round() as i32,
        osgb_gridref: truncate(&r.gridref, 14),
        osgb_height: height,
        fb_number: truncate(&r.fb_number, 10),
        stn_number: truncate(&r.station_id, 20),
        stn_number_active: None,
        stn_number_passive: pillar.then(|| truncate(&r.station_id, 20)),
        stn_number_osgb36: Some(truncate(&r.station_name, 20)),
        permission_ind: "Y".into(),
        condition: if r.is_destroyed() { "X".into() } else { "Z".into() },
        postcode6: String::new(),
        county: region(&r.gridref).into(),
        town: String::new(),
        crt_date: NaiveDate::from_ymd_opt(2003, 3, 1).unwrap_or_default(),
        crt_time: NaiveTime::MIN,
        upd_timestamp: None,
    }
}

/// The archive columns shown under `include=attrs`, as (attribute name, value) pairs.
pub fn attributes(r: &ArchiveRow) -> [(&'static str, String); 8] {
    [
        ("Station name", r.station_name.clone()),
        ("Type of mark", r.type_of_mark.clone()),
        ("Height", r.height_m.map(|h| format!("{h}")).unwrap_or_default()),
        ("Levelling datum", r.height_datum.clone()),
        ("Order", r.order.clone()),
        ("Computing block", r.computing_block.clone()),
        ("Computed", r.computed_date.clone()),
        ("Comments", r.comments.clone()),
    ]
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A rough region for the demo `county` column, from the 100 km grid square. The archive has no
/// county; this keeps the `county` filter meaningful on demo data.
fn region(gridref: &str) -> &'static str {
    match gridref.get(..2).unwrap_or("") {
        "HP" | "HU" | "HT" => "Shetland",
        "HY" | "HW" | "HX" => "Orkney",
        "NA" | "NB" | "NF" | "NL" => "Western Isles",
        "NC" | "ND" | "NG" | "NH" | "NM" => "Highland",
        "NJ" | "NK" => "Aberdeenshire",
        "NN" | "NO" => "Perth and Kinross",
        "NR" | "NS" => "Strathclyde",
        "NT" => "Lothian and Borders",
        "NW" | "NX" => "Dumfries & Galloway",
        "NU" | "NZ" => "Northumberland",
        "NY" => "Cumbria",
        "SC" => "Isle of Man",
        "SD" => "Lancashire",
        "SE" | "TA" => "Yorkshire",
        "SH" => "Gwynedd",
        "SJ" => "Cheshire",
        "SK" => "Derbyshire",
        "TF" => "Lincolnshire",
        "TG" => "Norfolk",
        "SM" | "SR" | "SN" => "Dyfed",
        "SO" => "Herefordshire",
        "SP" => "Oxfordshire",
        "TL" => "Cambridgeshire",
        "TM" => "Suffolk",
        "SS" | "SX" => "Devon",
        "ST" => "Somerset",
        "SU" | "SZ" => "Hampshire",
        "TQ" | "TR" => "Kent",
        "TV" => "East Sussex",
        "SV" | "SW" => "Cornwall",
        "SY" => "Dorset",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vendored_archive_loads() {
        let rows = super::load().expect("archive parses");
        assert_eq!(rows.len(), 24_563);
        assert!(rows.iter().filter(|r| r.physical_type == "Pillar").count() > 6_000);
    }
}
