//! Log shapes: `TLogResponse`, list items (optional `photos`), and the detail `TLogWithIncludes`.

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use utoipa::ToSchema;

use super::photo::{TPhotoListItem, TPhotoResponse};
use crate::db::logs::{LogFields, LogRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct TLogResponse {
    pub id: i32,
    pub trig_id: i32,
    pub user_id: i32,
    pub date: NaiveDate,
    #[schema(value_type = String, example = "12:00:00")]
    pub time: NaiveTime,
    pub osgb_eastings: Option<i32>,
    pub osgb_northings: Option<i32>,
    pub osgb_gridref: Option<String>,
    pub fb_number: String,
    pub condition: String,
    pub comment: String,
    pub score: i32,
    pub source: String,
    pub trig_name: Option<String>,
    pub user_name: Option<String>,
}

impl From<LogRow> for TLogResponse {
    fn from(row: LogRow) -> Self {
        let LogRow {
            id,
            trig_id,
            user_id,
            fields:
                LogFields {
                    date,
                    time,
                    osgb_eastings,
                    osgb_northings,
                    osgb_gridref,
                    fb_number,
                    condition,
                    comment,
                    score,
                    source,
                },
            trig_name,
            user_name,
        } = row;
        Self {
            id,
            trig_id,
            user_id,
            date,
            time,
            osgb_eastings,
            osgb_northings,
            osgb_gridref,
            fb_number,
            condition,
            comment,
            score,
            source,
            trig_name,
            user_name,
        }
    }
}

/// A list item: `photos` is present only with `include=photos`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TLogListItem {
    #[serde(flatten)]
    pub log: TLogResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photos: Option<Vec<TPhotoListItem>>,
}

/// `GET /v1/logs/{id}`: `photos` is always present (`null` unless included).
#[derive(Debug, Serialize, ToSchema)]
pub struct TLogWithIncludes {
    #[serde(flatten)]
    pub log: TLogResponse,
    pub photos: Option<Vec<TPhotoResponse>>,
}
