//! The request bodies of the writes, as the OpenAPI document describes them.
//!
//! The handlers read bodies field by field ([`crate::domain::body::JsonBody`]), to answer every
//! bad field in one pydantic-shaped 422; these types only describe what they accept, so that a
//! generated request that the document calls valid is accepted and one it calls invalid is
//! refused (schemathesis checks both in CI). The patterns here are the rules of the readers,
//! written as regular expressions: change one, change the other.

#![allow(dead_code, reason = "types of the OpenAPI document only, never built")]

use utoipa::ToSchema;

/// The characters no visible text may hold, as a regular-expression class body: control
/// characters (`\0`, `\n`, …) and invisible formatting characters (zero-width space and
/// joiners, BOM, bidirectional overrides); see [`crate::domain::params::is_hidden`].
macro_rules! hidden {
    () => {
        r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    };
}

/// [`hidden!`], for patterns made at run time.
pub const HIDDEN: &str = hidden!();
/// Text a person can see.
pub const VISIBLE: &str = concat!("^[^", hidden!(), "]*$");
/// A user name: visible, not starting with a blank, without `@` or `*`.
pub const USER_NAME: &str = concat!(r"^[^\s@*", hidden!(), "][^@*", hidden!(), "]*$");
/// An e-mail address, as the original's pattern accepts it.
pub const EMAIL: &str = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$";
/// A profile homepage: empty, or an `http(s)://` link with a host and no blanks.
pub const WEB_LINK: &str =
    concat!(r"^(|[hH][tT][tT][pP]([sS])?://[^\s/?#", hidden!(), r"]+([/?#][^\s", hidden!(), "]*)?)$");
/// `HH:MM[:SS[.ffffff]]`, with an optional `Z` or `±HH[:]MM` offset.
pub const TIME: &str =
    r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$";
/// A date of the years 1 to 9999 (days 29 to 31 only in the months that have them; 29
/// February, which only some years have, is left out).
pub const DATE: &str = r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)$";
/// A log's condition letter (either case).
pub const CONDITION: &str = "^[GSDTMCRQNXVPZUgsdtmcrqnxvpzu]$";

/// The `pattern` of each body field that has one: `(schema, field, pattern)`, added to the
/// document by the API document's refinement (utoipa takes only literal patterns).
pub const FIELD_PATTERNS: &[(&str, &str, &str)] = &[
    ("LogCreate", "date", DATE),
    ("LogCreate", "time", TIME),
    ("LogCreate", "condition", CONDITION),
    ("PhotoUpload", "type", "^[TFLPO]$"),
    ("PhotoUpload", "license", "^[YCN]$"),
    ("PhotoPatch", "type", "^[TFLPO]$"),
    ("PhotoPatch", "license", "^[YCN]$"),
    ("PhotoPatch", "public_ind", "^[YCN]$"),
    ("ProfilePatch", "name", USER_NAME),
    ("ProfilePatch", "email", EMAIL),
    ("ProfilePatch", "firstname", VISIBLE),
    ("ProfilePatch", "surname", VISIBLE),
    ("ProfilePatch", "homepage", WEB_LINK),
    ("ProfilePatch", "distance_ind", "^[KM]$"),
    ("ProfilePatch", "public_ind", "^[YN]$"),
    ("Registration", "username", USER_NAME),
    ("Registration", "email", EMAIL),
    ("Registration", "auth0_user_id", VISIBLE),
];

/// `POST /v1/logs`.
#[derive(ToSchema)]
pub struct LogCreate {
    /// The visit's date.
    #[schema(format = Date)]
    pub date: String,
    pub time: String,
    /// `G`ood, `S`lightly damaged, `D`amaged, `T`oppled, `M`oved, `C`onverted, `R`emains,
    /// `Q` possibly missing, `N`ot found, `X` destroyed, `V`isible, `P`ossibly, `Z` not
    /// logged, `U`nknown.
    pub condition: String,
    #[schema(minimum = 0, maximum = 1_300_000)]
    pub osgb_eastings: Option<i64>,
    #[schema(minimum = 0, maximum = 1_300_000)]
    pub osgb_northings: Option<i64>,
    #[schema(max_length = 14)]
    pub osgb_gridref: Option<String>,
    #[schema(max_length = 10)]
    pub fb_number: Option<String>,
    #[schema(max_length = 65535)]
    pub comment: Option<String>,
    #[schema(minimum = 0, maximum = 10)]
    pub score: Option<i64>,
    #[schema(min_length = 1, max_length = 1)]
    pub source: Option<String>,
}

/// `POST /v1/photos?log_id=`: a `multipart/form-data` form.
#[derive(ToSchema)]
pub struct PhotoUpload {
    /// JPEG, PNG or WebP, at most 20 MB and 100 megapixels.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    #[schema(max_length = 80)]
    pub caption: String,
    /// `T`rig, `F`lush bracket, `L`andscape, `P`eople, `O`ther.
    pub r#type: String,
    /// `Y` (public domain), `C` (copyright, licensed), `N` (private).
    pub license: String,
    #[schema(max_length = 65535)]
    pub text_desc: Option<String>,
}

/// `PATCH /v1/photos/{photo_id}`; `name` and `public_ind` are the original's other names of
/// `caption` and `license`.
#[derive(ToSchema)]
pub struct PhotoPatch {
    #[schema(max_length = 80)]
    pub caption: Option<String>,
    #[schema(max_length = 80)]
    pub name: Option<String>,
    #[schema(max_length = 65535)]
    pub text_desc: Option<String>,
    pub r#type: Option<String>,
    pub license: Option<String>,
    pub public_ind: Option<String>,
}

/// `POST /v1/photos/{photo_id}/rotate`; the body may be empty (a quarter turn).
#[derive(ToSchema)]
pub struct Rotation {
    /// Degrees clockwise: 90 (the default), 180 or 270.
    #[schema(value_type = Option<i64>, minimum = 90, maximum = 270, multiple_of = 90)]
    pub angle: Option<i64>,
}

/// `PATCH /v1/users/me`: fields present are applied, `null` is ignored.
#[derive(ToSchema)]
pub struct ProfilePatch {
    #[schema(min_length = 1, max_length = 30)]
    pub name: Option<String>,
    /// Needs the `api:read-pii` scope.
    #[schema(max_length = 255)]
    pub email: Option<String>,
    #[schema(max_length = 30)]
    pub firstname: Option<String>,
    #[schema(max_length = 30)]
    pub surname: Option<String>,
    /// Empty, or an `http://` or `https://` link.
    #[schema(max_length = 255)]
    pub homepage: Option<String>,
    #[schema(max_length = 65535)]
    pub about: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub status_max: Option<i64>,
    pub distance_ind: Option<String>,
    pub public_ind: Option<String>,
    #[schema(max_length = 10)]
    pub online_map_type: Option<String>,
    #[schema(max_length = 10)]
    pub online_map_type2: Option<String>,
}

/// `POST /v1/users`: the identity provider's registration webhook.
#[derive(ToSchema)]
pub struct Registration {
    /// As `name` of `PATCH /v1/users/me`.
    #[schema(min_length = 1, max_length = 30)]
    pub username: String,
    #[schema(max_length = 255)]
    pub email: String,
    #[schema(min_length = 1, max_length = 50)]
    pub auth0_user_id: String,
}

/// The account `POST /v1/users` created.
#[derive(ToSchema)]
pub struct Registered {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub auth0_user_id: String,
}
