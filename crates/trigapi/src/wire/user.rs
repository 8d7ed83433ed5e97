//! User shapes: `UserWithIncludes` with optional `stats` and `breakdown`.
//!
//! `auth0_user_id` is always `null` on public endpoints (the original leaked it; only
//! `/users/me` will carry it).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::{BreakdownRows, UserRow, UserStatsRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStats {
    pub total_logs: i64,
    pub total_trigs_logged: i64,
    pub total_photos: i64,
}

impl From<UserStatsRow> for UserStats {
    fn from(s: UserStatsRow) -> Self {
        let UserStatsRow { total_logs, total_trigs_logged, total_photos } = s;
        Self { total_logs, total_trigs_logged, total_photos }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBreakdown {
    pub by_current_use: BTreeMap<String, i64>,
    pub by_historic_use: BTreeMap<String, i64>,
    pub by_physical_type: BTreeMap<String, i64>,
    pub by_condition: BTreeMap<String, i64>,
}

impl From<BreakdownRows> for UserBreakdown {
    fn from(b: BreakdownRows) -> Self {
        let BreakdownRows { by_current_use, by_historic_use, by_physical_type, by_condition } = b;
        let mut conditions = BTreeMap::new();
        for (code, n) in by_condition {
            *conditions.entry(crate::domain::condition::description_of(&code).to_owned()).or_insert(0) += n;
        }
        Self {
            by_current_use: by_current_use.into_iter().collect(),
            by_historic_use: by_historic_use.into_iter().collect(),
            by_physical_type: by_physical_type.into_iter().collect(),
            by_condition: conditions,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserWithIncludes {
    pub id: i32,
    pub name: String,
    pub firstname: String,
    pub surname: String,
    pub homepage: Option<String>,
    pub about: String,
    pub member_since: Option<NaiveDate>,
    pub auth0_user_id: Option<String>,
    pub stats: Option<UserStats>,
    pub breakdown: Option<UserBreakdown>,
    #[schema(value_type = Option<Object>)]
    pub prefs: Option<serde_json::Value>,
    pub roles: Option<Vec<String>>,
}

impl From<UserRow> for UserWithIncludes {
    fn from(row: UserRow) -> Self {
        let UserRow { id, name, firstname, surname, homepage, about, member_since } = row;
        Self {
            id,
            name,
            firstname,
            surname,
            homepage,
            about,
            member_since,
            auth0_user_id: None,
            stats: None,
            breakdown: None,
            prefs: None,
            roles: None,
        }
    }
}
