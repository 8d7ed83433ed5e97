//! Photo shapes. The original has two wire variants (contract §2.6):
//! * [`TPhotoResponse`] (variant A): `caption`/`license`; `/photos`, `/photos/{id}`, log detail.
//! * [`TPhotoListItem`] (variant B): `name`/`public_ind`, blank `type` → `"O"`; trig/user/log photo
//!   lists and `include=photos` on log lists. We add `caption`/`license` to it as well (additive),
//!   so web clients that read those keys everywhere show captions.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::photos::PhotoRow;

/// Whether the denormalised `user_name/trig_id/trig_name/log_date` are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denorm {
    Filled,
    Null,
}

/// `server.url` and a filename joined with exactly one `/`.
pub fn photo_url(base: Option<&str>, filename: &str) -> String {
    match base.unwrap_or("") {
        "" => filename.to_owned(),
        b => format!("{}/{}", b.trim_end_matches('/'), filename.trim_start_matches('/')),
    }
}

/// Variant A.
#[derive(Debug, Serialize, ToSchema)]
pub struct TPhotoResponse {
    pub id: i32,
    pub log_id: i32,
    pub user_id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub filesize: i32,
    pub height: i32,
    pub width: i32,
    pub icon_filesize: i32,
    pub icon_height: i32,
    pub icon_width: i32,
    pub caption: String,
    pub text_desc: String,
    pub license: String,
    pub photo_url: String,
    pub icon_url: String,
    pub user_name: Option<String>,
    pub trig_id: Option<i32>,
    pub trig_name: Option<String>,
    pub log_date: Option<NaiveDate>,
}

impl TPhotoResponse {
    /// `blank_type_as_other`: the log-detail embedding replaces a blank `type` with `"O"`; the
    /// `/photos` endpoints return the raw column.
    pub fn new(row: PhotoRow, blank_type_as_other: bool) -> Self {
        let PhotoRow {
            id,
            log_id,
            user_id,
            kind,
            filesize,
            height,
            width,
            icon_filesize,
            icon_height,
            icon_width,
            caption,
            text_desc,
            license,
            filename,
            icon_filename,
            server_id: _,
            server_url,
            user_name,
            trig_id,
            trig_name,
            log_date,
        } = row;
        Self {
            id,
            log_id,
            user_id: user_id.unwrap_or(0),
            kind: if blank_type_as_other { type_or_other(kind) } else { kind },
            filesize,
            height,
            width,
            icon_filesize,
            icon_height,
            icon_width,
            caption,
            text_desc,
            license,
            photo_url: photo_url(server_url.as_deref(), &filename),
            icon_url: photo_url(server_url.as_deref(), &icon_filename),
            user_name,
            trig_id,
            trig_name,
            log_date,
        }
    }
}

/// Variant B (plus the additive `caption`/`license`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TPhotoListItem {
    pub id: i32,
    pub log_id: i32,
    pub user_id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub filesize: i32,
    pub height: i32,
    pub width: i32,
    pub icon_filesize: i32,
    pub icon_height: i32,
    pub icon_width: i32,
    pub name: String,
    pub text_desc: String,
    pub public_ind: String,
    pub photo_url: String,
    pub icon_url: String,
    pub user_name: Option<String>,
    pub trig_id: Option<i32>,
    pub trig_name: Option<String>,
    pub log_date: Option<NaiveDate>,
    pub caption: String,
    pub license: String,
}

impl TPhotoListItem {
    pub fn new(row: PhotoRow, denorm: Denorm) -> Self {
        let a = TPhotoResponse::new(row, true);
        let filled = denorm == Denorm::Filled;
        Self {
            id: a.id,
            log_id: a.log_id,
            user_id: a.user_id,
            kind: a.kind,
            filesize: a.filesize,
            height: a.height,
            width: a.width,
            icon_filesize: a.icon_filesize,
            icon_height: a.icon_height,
            icon_width: a.icon_width,
            name: a.caption.clone(),
            text_desc: a.text_desc,
            public_ind: a.license.clone(),
            photo_url: a.photo_url,
            icon_url: a.icon_url,
            user_name: a.user_name.filter(|_| filled),
            trig_id: a.trig_id.filter(|_| filled),
            trig_name: a.trig_name.filter(|_| filled),
            log_date: a.log_date.filter(|_| filled),
            caption: a.caption,
            license: a.license,
        }
    }
}

fn type_or_other(kind: String) -> String {
    if kind.trim().is_empty() { "O".to_owned() } else { kind }
}

#[cfg(test)]
mod tests {
    use super::photo_url;

    #[test]
    fn urls_join_with_exactly_one_slash() {
        assert_eq!(photo_url(Some("http://x/photos/"), "/000/P1.jpg"), "http://x/photos/000/P1.jpg");
        assert_eq!(photo_url(Some("http://x/photos"), "000/P1.jpg"), "http://x/photos/000/P1.jpg");
        assert_eq!(photo_url(Some(""), "000/P1.jpg"), "000/P1.jpg");
        assert_eq!(photo_url(None, "000/P1.jpg"), "000/P1.jpg");
    }
}
