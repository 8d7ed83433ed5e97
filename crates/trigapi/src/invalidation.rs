//! What each write changes: the one table from writes to the cache tags they invalidate.
//!
//! Derived from what each cached response shows, not from the original's patterns:
//!
//! | tag | entries | shows |
//! |---|---|---|
//! | `stats:site` | `/stats/site` | counts of logs, photos, users; recent logs |
//! | `trigstats:{t}` | `/trigs/{t}?include=stats` | the trig's `trigstats` row |
//! | `trig:{t}:logs`, `trig:{t}:photos` | the trig's logs and photos | logs; photos with `log_date` |
//! | `profile:{u}` | `/users/{u}` | name, profile |
//! | `userstats:{u}` | `/users/{u}?include=stats\|breakdown` | counts of the user's logs, trigs, photos |
//! | `user:{u}:logs`, `user:{u}:photos` | the user's logs and photos | |
//! | `user:{u}:map`, `user:{u}:badge` | the user's map and badge | logged trigs; name and counts |
//! | `found:{u}` | `/trigs?exclude_found=true` for user `u` | the trigs `u` has logged |
//! | `users:list`, `users:stats` | `/users` lists and the user searches, lists with `include=stats` | names; counts |
//! | `logs:list`, `photos:list` | `/logs`, `/photos` lists; `logs:list` also the log searches | logs with names; photos with `log_date` |
//! | `photos:list`, `trig:{t}:photos`, `user:{u}:photos`, `log:{l}:photos` | also `include=photos` on `/logs`, a trig's, a user's logs, `/logs/{l}` | the photos they embed |
//! | `usernames` | log and photo lists, a log, a photo, the log searches | their authors' names |
//! | `places`, `postcodes` | the place and postcode searches (`/locations/search`, `/all`, `/places`, `/postcodes`) | the `town`, `postcode6` and `postcodes` tables |
//! | `logfields:{l}` | `/logs/{l}` | the log's fields |
//! | `log:{l}`, `photo:{p}` | one log and its photo list; one photo | |
//!
//! Plain `/trigs` lists, trig details without `stats`, the trig map, the export and GeoJSON
//! carry no log data, so no log write touches them; nor any photo write, which also leaves
//! alone log lists and logs without `include=photos`, and the user's map.
//!
//! | write | tags |
//! |---|---|
//! | log created | `stats:site`, `trigstats:{t}`, `trig:{t}:logs`, `userstats:{u}`, `user:{u}:logs`, `user:{u}:map`, `logs:list`; `user:{u}:badge`, `found:{u}`, `users:stats` |
//! | log edited | the first seven; `logfields:{l}`; `trig:{t}:photos`, `user:{u}:photos`, `photos:list`, `photo:{p}` for its photos |
//! | log deleted | all ten of "created"; `log:{l}` (the log and its photo list); the photo tags of "edited" |
//! | user registered | `stats:site`, `users:list` |
//! | profile changed | `profile:{u}`; when renamed also `user:{u}:badge`, `user:{u}:logs`, `user:{u}:photos`, `users:list` and `usernames` (every log and photo list, log and photo) |
//! | photo added | `photos:list`, `trig:{t}:photos`, `user:{u}:photos`, `log:{l}:photos`; its counts: `stats:site`, `trigstats:{t}`, `userstats:{u}`, `user:{u}:badge`, `users:stats` |
//! | photo edited or rotated | the four lists of "added"; `photo:{p}` |
//! | photo deleted | all of "added"; `photo:{p}` |
//! | places or postcodes loaded (`trigapi seed`, `trigapi import`) | `places`, `postcodes` |
//!
//! The location searches of trig points and station numbers depend on no write of this API:
//! it writes no trig.

/// The content tags that reads add to their entries (beyond the key's own path prefixes), by
/// name, so reads and writes cannot disagree on a spelling.
pub mod tag {
    use crate::cache::Resource;

    /// `/trigs/{t}?include=stats`: the trig's `trigstats` row.
    pub fn trigstats(trig: i32) -> String {
        format!("trigstats:{trig}")
    }

    /// `/users/{u}`: the profile itself.
    pub fn profile(user: i32) -> String {
        format!("profile:{user}")
    }

    /// `/users/{u}?include=stats|breakdown`: aggregates of the user's logs.
    pub fn userstats(user: i32) -> String {
        format!("userstats:{user}")
    }

    /// `/trigs?exclude_found=true` for `user`: which trigs they logged.
    pub fn found(user: i32) -> String {
        format!("found:{user}")
    }

    /// `/logs/{l}`: the log's own fields (its photo list, which shows none of them, is apart).
    pub fn log_fields(log: i32) -> String {
        format!("logfields:{log}")
    }

    /// Entries that show other users' names (log and photo lists, a log, a photo): a rename
    /// bumps this one tag rather than every trig the user ever logged.
    pub const USER_NAMES: &str = "usernames";

    /// The place searches: the `town` table.
    pub const PLACES: &str = "places";

    /// The postcode searches: the `postcode6` and `postcodes` tables.
    pub const POSTCODES: &str = "postcodes";

    /// `/users?include=stats`: every listed user's counts.
    pub const USERS_STATS: &str = "users:stats";

    /// `/photos` lists, and `/logs?include=photos`: any photo.
    pub fn photos_list() -> String {
        Resource::PHOTOS_LIST.tag()
    }

    /// A trig's photo list, and its logs with `include=photos`.
    pub fn trig_photos(trig: i32) -> String {
        Resource::trig(trig.into()).sub("photos").tag()
    }

    /// A user's photo list, and their logs with `include=photos`.
    pub fn user_photos(user: i32) -> String {
        Resource::user(user.into()).sub("photos").tag()
    }

    /// A log's photo list, and the log with `include=photos`.
    pub fn log_photos(log: i32) -> String {
        Resource::log(log.into()).sub("photos").tag()
    }
}

use crate::cache::Resource;

/// Invalidate what `write` changed. Call it after the commit and before the response, so a
/// client that sees the response can never read what was there before.
pub async fn after(cache: &trigapi_cache::Cache, write: &Write<'_>) {
    let tags = tags(write);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    cache.invalidate(&tags).await;
}

/// One write, with the ids the tags need.
#[derive(Debug, Clone)]
pub enum Write<'a> {
    /// A new log of `user` on `trig`.
    LogCreated { trig: i32, user: i32 },
    /// Log `log` edited (`photos`: its live photos, which show its date).
    LogEdited { trig: i32, user: i32, log: i32, photos: &'a [i32] },
    /// Log `log` deleted, and with it `photos`.
    LogDeleted { trig: i32, user: i32, log: i32, photos: &'a [i32] },
    /// A new account.
    UserRegistered,
    /// `user` changed their profile; `renamed` when the name changed.
    ProfileChanged { user: i32, renamed: bool },
    /// A photo added to `user`'s log `log` on `trig`.
    PhotoAdded { trig: i32, user: i32, log: i32 },
    /// Photo `photo` of that log edited (caption, type, licence) or rotated (its files).
    PhotoChanged { trig: i32, user: i32, log: i32, photo: i32 },
    /// Photo `photo` of that log deleted.
    PhotoDeleted { trig: i32, user: i32, log: i32, photo: i32 },
    /// Places (`town`) or postcodes (`postcode6`, `postcodes`) loaded.
    GazetteerLoaded { places: bool, postcodes: bool },
}

/// The tags `write` invalidates.
pub fn tags(write: &Write<'_>) -> Vec<String> {
    match *write {
        Write::LogCreated { trig, user } => [log_tags(trig, user), counted_tags(user)].concat(),
        Write::LogEdited { trig, user, log, photos } => {
            [log_tags(trig, user), vec![tag::log_fields(log)], photo_tags(trig, user, photos)].concat()
        }
        Write::LogDeleted { trig, user, log, photos } => [
            log_tags(trig, user),
            counted_tags(user),
            vec![Resource::log(log.into()).tag()],
            photo_tags(trig, user, photos),
        ]
        .concat(),
        // Counted on the site's stats, listed in users lists.
        Write::UserRegistered => vec![Resource::STATS_SITE.tag(), Resource::USERS_LIST.tag()],
        // The profile; a new name also shows on the badge, in the user's own lists, in users
        // lists and in every list that names log and photo authors. Never the map.
        Write::ProfileChanged { user, renamed: false } => vec![tag::profile(user)],
        Write::ProfileChanged { user, renamed: true } => vec![
            tag::profile(user),
            Resource::user(user.into()).sub("badge").tag(),
            Resource::user(user.into()).sub("logs").tag(),
            tag::user_photos(user),
            Resource::USERS_LIST.tag(),
            tag::USER_NAMES.to_owned(),
        ],
        Write::PhotoAdded { trig, user, log } => [photo_lists(trig, user, log), photo_counts(trig, user)].concat(),
        Write::PhotoChanged { trig, user, log, photo } => {
            [photo_lists(trig, user, log), vec![Resource::photo(photo.into()).tag()]].concat()
        }
        Write::PhotoDeleted { trig, user, log, photo } => {
            [photo_lists(trig, user, log), photo_counts(trig, user), vec![Resource::photo(photo.into()).tag()]].concat()
        }
        Write::GazetteerLoaded { places, postcodes } => [(places, tag::PLACES), (postcodes, tag::POSTCODES)]
            .into_iter()
            .filter(|(loaded, _)| *loaded)
            .map(|(_, tag)| tag.to_owned())
            .collect(),
    }
}

/// What any log write changes: the site's counts (`recent_logs_7d` counts edits too), the
/// trig's stats and logs, the user's aggregates (their breakdown by condition), logs and map,
/// and every log list.
fn log_tags(trig: i32, user: i32) -> Vec<String> {
    vec![
        Resource::STATS_SITE.tag(),
        tag::trigstats(trig),
        Resource::trig(trig.into()).sub("logs").tag(),
        tag::userstats(user),
        Resource::user(user.into()).sub("logs").tag(),
        Resource::user(user.into()).sub("map").tag(),
        Resource::LOGS_LIST.tag(),
    ]
}

/// What adding or removing a log changes besides: which trigs the user has logged and their
/// counts (the badge, `exclude_found` lists, users lists with stats). An edit changes none of it.
fn counted_tags(user: i32) -> Vec<String> {
    vec![Resource::user(user.into()).sub("badge").tag(), tag::found(user), tag::USERS_STATS.to_owned()]
}

/// Photo lists and photos that show a log's date (or lose its photos).
fn photo_tags(trig: i32, user: i32, photos: &[i32]) -> Vec<String> {
    let mut tags = vec![tag::trig_photos(trig), tag::user_photos(user), tag::photos_list()];
    tags.extend(photos.iter().map(|p| Resource::photo((*p).into()).tag()));
    tags
}

/// Every list showing a log's photos: all photos, the trig's, the user's and the log's (and the
/// log lists and the log embedding them with `include=photos`).
fn photo_lists(trig: i32, user: i32, log: i32) -> Vec<String> {
    vec![tag::photos_list(), tag::trig_photos(trig), tag::user_photos(user), tag::log_photos(log)]
}

/// What adding or removing a photo changes besides: the photo counts of the site, the trig
/// (`trigstats`), the user (their stats, badge and the users lists with stats).
fn photo_counts(trig: i32, user: i32) -> Vec<String> {
    vec![
        Resource::STATS_SITE.tag(),
        tag::trigstats(trig),
        tag::userstats(user),
        Resource::user(user.into()).sub("badge").tag(),
        tag::USERS_STATS.to_owned(),
    ]
}
