//! A log as its author writes it (`POST /logs`, `PATCH /logs/{id}`), read from its JSON body.

use chrono::{NaiveDate, NaiveTime};

use super::body::JsonBody;
use super::condition::Condition;

/// A new log's fields (`date`, `time` and `condition` are required, the rest default).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLog {
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub osgb_eastings: Option<i32>,
    pub osgb_northings: Option<i32>,
    pub osgb_gridref: Option<String>,
    pub fb_number: String,
    pub condition: Condition,
    pub comment: String,
    pub score: i32,
    pub source: String,
}

/// The fields a PATCH names (`None`: left as it is; `null` is ignored, as the original does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPatch {
    pub date: Option<NaiveDate>,
    pub time: Option<NaiveTime>,
    pub osgb_eastings: Option<i32>,
    pub osgb_northings: Option<i32>,
    pub osgb_gridref: Option<String>,
    pub fb_number: Option<String>,
    pub condition: Option<Condition>,
    pub comment: Option<String>,
    pub score: Option<i32>,
    pub source: Option<String>,
}

impl LogPatch {
    /// Read and validate every log field `body` carries.
    pub fn read(body: &mut JsonBody) -> Self {
        let coordinate = |body: &mut JsonBody, name| body.int(name, Some(0), Some(1_300_000)).map(|v| v as i32);
        let condition = body.string("condition", 1, Some(1)).map(|c| c.to_ascii_uppercase());
        let condition = body.one_of("condition", condition, &Condition::codes());
        Self {
            date: body.date("date"),
            time: body.time("time"),
            osgb_eastings: coordinate(body, "osgb_eastings"),
            osgb_northings: coordinate(body, "osgb_northings"),
            osgb_gridref: body.string("osgb_gridref", 0, Some(14)),
            fb_number: body.string("fb_number", 0, Some(10)),
            condition: condition.as_deref().and_then(Condition::from_code),
            comment: body.string("comment", 0, Some(65_535)),
            score: body.int("score", Some(0), Some(10)).map(|v| v as i32),
            source: body.string("source", 1, Some(1)),
        }
    }
}

impl NewLog {
    /// The new log a validated body describes; `None` when a required field is missing (the
    /// body's validation names it first).
    pub fn from_patch(p: LogPatch) -> Option<Self> {
        Some(Self {
            date: p.date?,
            time: p.time?,
            osgb_eastings: p.osgb_eastings,
            osgb_northings: p.osgb_northings,
            osgb_gridref: p.osgb_gridref,
            fb_number: p.fb_number.unwrap_or_default(),
            condition: p.condition?,
            comment: p.comment.unwrap_or_default(),
            score: p.score.unwrap_or(0),
            source: p.source.unwrap_or_else(|| "W".into()),
        })
    }
}
