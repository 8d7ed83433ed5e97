//! What each write changes: the one table from committed row changes to the cache tags they
//! invalidate. The API's own writes ([`after`]) and the change stream (the `changes` module) both
//! read it, so the two cannot disagree.
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
//! | `trigdata` | every entry outside `trig:{t}` and `trigs:*` that shows a trig's fields: log and photo lists, logs, photos, the user's lists and map, the searches | trig names, positions, types |
//! | `log:{l}`, `photo:{p}` | one log and its photo list; one photo | |
//!
//! Plain `/trigs` lists, trig details without `stats`, the trig map, the export and GeoJSON
//! carry no log data, so no log write touches them; nor any photo write, which also leaves
//! alone log lists and logs without `include=photos`, and the user's map.
//!
//! A row change has the row's old values (none for an insert) and new ones (none for a delete).
//! An update that moves a row to another owner (a log to another trig or user, a photo to
//! another log) is read as a delete from the old owner and an insert into the new one.
//!
//! | row change | tags |
//! |---|---|
//! | log created | `stats:site`, `trigstats:{t}`, `trig:{t}:logs`, `userstats:{u}`, `user:{u}:logs`, `user:{u}:map`, `logs:list`; `user:{u}:badge`, `found:{u}`, `users:stats` |
//! | log edited | the first seven; `logfields:{l}`; `trig:{t}:photos`, `user:{u}:photos`, `photos:list`, `photo:{p}` for its photos |
//! | log deleted | all ten of "created"; `log:{l}` (the log and its photo list); the photo tags of "edited" |
//! | user registered | `stats:site`, `users:list` |
//! | profile changed | `profile:{u}`; when renamed also `user:{u}:badge`, `user:{u}:logs`, `user:{u}:photos`, `users:list` and `usernames` (every log and photo list, log and photo) |
//! | photo added | `photos:list`, `trig:{t}:photos`, `user:{u}:photos`, `log:{l}:photos`; its counts: `stats:site`, `trigstats:{t}`, `userstats:{u}`, `user:{u}:badge`, `users:stats` |
//! | photo edited or rotated | the four lists of "added"; `photo:{p}` |
//! | photo deleted | all of "added"; `photo:{p}` |
//! | user deleted | `user:{u}` (every entry of theirs), `profile:{u}`, `found:{u}`, `userstats:{u}`, `stats:site`, `users:list`, `users:stats`, `usernames` |
//! | trig created, changed or deleted | `trig:{t}` (every entry of the trig), `trigstats:{t}`, `trigs` (the lists, the export, the GeoJSON), `trigdata`, `stats:site` |
//! | `trigstats` row changed | `trigstats:{t}` |
//! | places or postcodes changed (`town`; `postcode6`, `postcodes`) | `places`, `postcodes` |
//! | a table emptied at once (`TRUNCATE`) | everything |
//!
//! This API writes no trig; other programs sharing the database do, and the change stream
//! carries their writes here.

/// The content tags that reads add to their entries (beyond the key's own path prefixes), by
/// name, so reads and writes cannot disagree on a spelling.
pub mod tag {
    use crate::resource::Resource;

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

    /// Entries that show fields of trigs (names, positions, types) outside the trig's own
    /// entries and the trig lists: a change to a trig bumps this one tag rather than every log
    /// and photo that names it.
    pub const TRIG_DATA: &str = "trigdata";

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

use trigapi_cache::GLOBAL;

use crate::resource::Resource;

/// Invalidate what `changes` changed. Call it after the commit and before the response, so a
/// client that sees the response can never read what was there before.
pub async fn after(cache: &trigapi_cache::Cache, changes: &[RowChange]) {
    let tags = tags(changes);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    cache.invalidate(&tags).await;
}

/// One committed change to a row the cache reads: its values before (`None` for an insert) and
/// after (`None` for a delete). Only the columns the tags depend on are carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// A `tlog` row.
    Log(Change<LogRow>),
    /// A `tphoto` row.
    Photo(Change<PhotoRow>),
    /// A `user` row.
    User(Change<UserRow>),
    /// A `trig` row, by id.
    Trig(Change<i32>),
    /// A `trigstats` row, by trig id.
    TrigStats(Change<i32>),
    /// Rows of `town`.
    Places,
    /// Rows of `postcode6` or `postcodes`.
    Postcodes,
    /// Every row of a table at once, or a change that cannot be read row by row.
    Everything,
}

/// A row's values before and after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<R> {
    /// Before; `None` for an insert.
    pub old: Option<R>,
    /// After; `None` for a delete.
    pub new: Option<R>,
}

impl<R> Change<R> {
    /// A new row.
    pub fn inserted(row: R) -> Self {
        Self { old: None, new: Some(row) }
    }

    /// A row changed from `old` to `new`.
    pub fn updated(old: R, new: R) -> Self {
        Self { old: Some(old), new: Some(new) }
    }

    /// A row deleted.
    pub fn deleted(row: R) -> Self {
        Self { old: Some(row), new: None }
    }
}

/// The columns of a `tlog` row the tags depend on, and its photos at the time of the change
/// (they show the log's date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// `tlog.id`.
    pub id: i32,
    /// `tlog.trig_id`.
    pub trig: i32,
    /// `tlog.user_id`.
    pub user: i32,
    /// The ids of the log's photos.
    pub photos: Vec<i32>,
}

/// A `tphoto` row and whose it is: its log's trig and author, `None` when they could not be
/// read (the log was gone): then every trig's and user's photo lists are invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoRow {
    /// `tphoto.id`.
    pub id: i32,
    /// `tphoto.tlog_id`.
    pub log: i32,
    /// The log's `trig_id` and `user_id`.
    pub owner: Option<(i32, i32)>,
}

/// The columns of a `user` row the tags depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// `user.id`.
    pub id: i32,
    /// `user.name`: other rows' entries show it.
    pub name: String,
}

/// The tags `changes` invalidate, each once.
pub fn tags<'a>(changes: impl IntoIterator<Item = &'a RowChange>) -> Vec<String> {
    let mut tags = Vec::new();
    for change in changes {
        change_tags(change, &mut tags);
    }
    let mut seen = std::collections::HashSet::with_capacity(tags.len());
    tags.retain(|t| seen.insert(t.clone()));
    tags
}

fn change_tags(change: &RowChange, tags: &mut Vec<String>) {
    match change {
        RowChange::Log(Change { old, new }) => match (old, new) {
            (Some(old), Some(new)) if (old.trig, old.user) == (new.trig, new.user) => {
                // Edited in place: its lists, fields and photos, not what counts logs.
                tags.extend(log_tags(new.trig, new.user));
                tags.push(tag::log_fields(new.id));
                tags.extend(photo_tags(new.trig, new.user, &new.photos));
            }
            (old, new) => {
                // Created, deleted, or moved (deleted from one trig or user, created on the other).
                for (row, deleted) in [(old, true), (new, false)] {
                    let Some(row) = row else { continue };
                    tags.extend(log_tags(row.trig, row.user));
                    tags.extend(counted_tags(row.user));
                    if old.is_some() {
                        // An existing log changed: its own entries and its photos'.
                        tags.push(tag::log_fields(row.id));
                        tags.extend(photo_tags(row.trig, row.user, &row.photos));
                    }
                    if deleted && new.is_none() {
                        tags.push(Resource::log(row.id.into()).tag());
                    }
                }
            }
        },
        RowChange::Photo(Change { old, new }) => {
            let moved = matches!((old, new), (Some(o), Some(n)) if (o.log, o.owner) != (n.log, n.owner));
            for row in [old, new].into_iter().flatten() {
                tags.extend(photo_lists(row));
                // Added or removed photos are counted; so is a photo moved between logs.
                if old.is_none() || new.is_none() || moved {
                    tags.extend(photo_counts(row.owner));
                }
                if old.is_some() {
                    tags.push(Resource::photo(row.id.into()).tag());
                }
            }
        }
        RowChange::User(Change { old, new }) => match (old, new) {
            (None, Some(_)) => tags.extend([Resource::STATS_SITE.tag(), Resource::USERS_LIST.tag()]),
            (Some(old), Some(new)) if old.name == new.name => tags.push(tag::profile(new.id)),
            (Some(old), Some(new)) => {
                // Renamed: the badge, the user's own lists, users lists and every list that
                // names log and photo authors. Never the map.
                let user = Resource::user(old.id.into());
                tags.extend([
                    tag::profile(new.id),
                    user.sub("badge").tag(),
                    user.sub("logs").tag(),
                    tag::user_photos(new.id),
                    Resource::USERS_LIST.tag(),
                    tag::USER_NAMES.to_owned(),
                ]);
            }
            (Some(old), None) => tags.extend([
                Resource::user(old.id.into()).tag(),
                tag::profile(old.id),
                tag::found(old.id),
                tag::userstats(old.id),
                Resource::STATS_SITE.tag(),
                Resource::USERS_LIST.tag(),
                tag::USERS_STATS.to_owned(),
                tag::USER_NAMES.to_owned(),
            ]),
            (None, None) => {}
        },
        RowChange::Trig(Change { old, new }) => {
            for trig in [old, new].into_iter().flatten() {
                tags.extend([
                    Resource::trig((*trig).into()).tag(),
                    tag::trigstats(*trig),
                    Resource::TRIGS.tag(),
                    tag::TRIG_DATA.to_owned(),
                    Resource::STATS_SITE.tag(),
                ]);
            }
        }
        RowChange::TrigStats(Change { old, new }) => {
            tags.extend([old, new].into_iter().flatten().map(|trig| tag::trigstats(*trig)));
        }
        RowChange::Places => tags.push(tag::PLACES.to_owned()),
        RowChange::Postcodes => tags.push(tag::POSTCODES.to_owned()),
        RowChange::Everything => tags.push(GLOBAL.to_owned()),
    }
}

/// What any log write changes: the site's counts (`recent_logs_7d` counts edits too), the
/// trig's stats and logs, the user's aggregates (their breakdown by condition), logs and map,
/// and every log list.
fn log_tags(trig: i32, user: i32) -> [String; 7] {
    [
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
fn counted_tags(user: i32) -> [String; 3] {
    [Resource::user(user.into()).sub("badge").tag(), tag::found(user), tag::USERS_STATS.to_owned()]
}

/// Photo lists and photos that show a log's date (or lose its photos).
fn photo_tags(trig: i32, user: i32, photos: &[i32]) -> impl Iterator<Item = String> + '_ {
    [tag::trig_photos(trig), tag::user_photos(user), tag::photos_list()]
        .into_iter()
        .chain(photos.iter().map(|p| Resource::photo((*p).into()).tag()))
}

/// Every list showing a photo: all photos, its trig's, its user's and its log's (and the log
/// lists and the log embedding them with `include=photos`). Without its owner, every trig's
/// and every user's.
fn photo_lists(photo: &PhotoRow) -> [String; 4] {
    let (trigs, users) = match photo.owner {
        Some((trig, user)) => (tag::trig_photos(trig), tag::user_photos(user)),
        None => (Resource::EVERY_TRIG.tag(), Resource::EVERY_USER.tag()),
    };
    [tag::photos_list(), trigs, users, tag::log_photos(photo.log)]
}

/// What adding or removing a photo changes besides: the photo counts of the site, the trig
/// (`trigstats`), the user (their stats, badge and the users lists with stats).
fn photo_counts(owner: Option<(i32, i32)>) -> Vec<String> {
    let mut tags = vec![Resource::STATS_SITE.tag(), tag::USERS_STATS.to_owned()];
    // Without an owner, the `trig` and `user` tags of `photo_lists` cover these.
    if let Some((trig, user)) = owner {
        tags.extend([tag::trigstats(trig), tag::userstats(user), Resource::user(user.into()).sub("badge").tag()]);
    }
    tags
}

/// The writes that reach an entry depending on `entry_tags`, in words, most general first:
/// `log created`, `log edited on trig 12`, `user renamed (user 5)`.
///
/// Worked out by [`tags`] itself, so it cannot disagree with what writes bump: each kind of
/// row change in the table above is tried with the ids the entry's tags name and with an id
/// they do not name ("any other"), and the least specific forms that reach a tag of the entry
/// are kept.
pub fn writes_reaching(entry_tags: &[String]) -> Vec<String> {
    const ANY: i32 = -1;
    let ids = |prefixes: &[&str]| -> Vec<i32> {
        let mut found: Vec<i32> = entry_tags
            .iter()
            .filter_map(|t| {
                let mut parts = t.split(':');
                let head = parts.next()?;
                prefixes.contains(&head).then(|| parts.next()?.parse().ok()).flatten()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let (trigs, users) = (ids(&["trig", "trigstats"]), ids(&["user", "profile", "found", "userstats"]));
    let (logs, photos) = (ids(&["log", "logfields"]), ids(&["photo"]));
    let choices = |named: &[i32]| std::iter::once(ANY).chain(named.iter().copied()).collect::<Vec<_>>();
    let reaches = |change: RowChange| tags(&[change]).iter().any(|t| entry_tags.contains(t));
    let mut found = Vec::new();
    for (kind, make) in WRITE_KINDS {
        let mut forms: Vec<(usize, String)> = Vec::new();
        for &t in &choices(&trigs) {
            for &u in &choices(&users) {
                for &l in &choices(&logs) {
                    for &p in &choices(&photos) {
                        if !reaches(make(t, u, l, p)) {
                            continue;
                        }
                        let named: Vec<String> = [("trig", t), ("user", u), ("log", l), ("photo", p)]
                            .into_iter()
                            .filter(|(_, id)| *id != ANY)
                            .map(|(what, id)| format!("{what} {id}"))
                            .collect();
                        forms.push((named.len(), named.join(", ")));
                    }
                }
            }
        }
        // The least specific forms only: "log created" makes "log created (trig 1)" redundant.
        let Some(least) = forms.iter().map(|(n, _)| *n).min() else { continue };
        let mut kept: Vec<String> = forms.into_iter().filter(|(n, _)| *n == least).map(|(_, f)| f).collect();
        kept.sort();
        kept.dedup();
        for form in kept {
            found.push(if form.is_empty() { (*kind).to_owned() } else { format!("{kind} ({form})") });
        }
    }
    found
}

type MakeChange = fn(i32, i32, i32, i32) -> RowChange;

/// Each kind of row change of the table above, made from (trig, user, log, photo) ids.
const WRITE_KINDS: &[(&str, MakeChange)] = &[
    ("log created", |t, u, l, _| RowChange::Log(Change::inserted(LogRow { id: l, trig: t, user: u, photos: vec![] }))),
    ("log edited", |t, u, l, p| {
        let row = LogRow { id: l, trig: t, user: u, photos: vec![p] };
        RowChange::Log(Change::updated(row.clone(), row))
    }),
    ("log deleted", |t, u, l, p| RowChange::Log(Change::deleted(LogRow { id: l, trig: t, user: u, photos: vec![p] }))),
    ("user registered", |_, u, _, _| RowChange::User(Change::inserted(UserRow { id: u, name: "a".into() }))),
    ("profile changed", |_, u, _, _| {
        RowChange::User(Change::updated(UserRow { id: u, name: "a".into() }, UserRow { id: u, name: "a".into() }))
    }),
    ("user renamed", |_, u, _, _| {
        RowChange::User(Change::updated(UserRow { id: u, name: "a".into() }, UserRow { id: u, name: "b".into() }))
    }),
    ("user deleted", |_, u, _, _| RowChange::User(Change::deleted(UserRow { id: u, name: "a".into() }))),
    ("photo added", |t, u, l, p| RowChange::Photo(Change::inserted(PhotoRow { id: p, log: l, owner: Some((t, u)) }))),
    ("photo edited or rotated", |t, u, l, p| {
        let row = PhotoRow { id: p, log: l, owner: Some((t, u)) };
        RowChange::Photo(Change::updated(row, row))
    }),
    ("photo deleted", |t, u, l, p| RowChange::Photo(Change::deleted(PhotoRow { id: p, log: l, owner: Some((t, u)) }))),
    ("trig created, changed or deleted", |t, _, _, _| RowChange::Trig(Change::updated(t, t))),
    ("trigstats row changed", |t, _, _, _| RowChange::TrigStats(Change::updated(t, t))),
    ("places changed (town)", |_, _, _, _| RowChange::Places),
    ("postcodes changed (postcode6, postcodes)", |_, _, _, _| RowChange::Postcodes),
    ("a table emptied at once (TRUNCATE), or a flush of everything", |_, _, _, _| RowChange::Everything),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writes_reaching_an_entry_come_from_the_tags_writes_bump() {
        let owned = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let trig_logs = writes_reaching(&owned(&[GLOBAL, "trig", "trig:12", "trig:12:logs", "trigdata"]));
        assert!(trig_logs.contains(&"log created (trig 12)".to_owned()), "{trig_logs:?}");
        assert!(
            trig_logs.contains(&"trig created, changed or deleted".to_owned()),
            "any trig, through trigdata: {trig_logs:?}"
        );
        assert!(!trig_logs.iter().any(|w| w.starts_with("places")), "{trig_logs:?}");
        let places = writes_reaching(&owned(&[GLOBAL, "search_places", "places"]));
        assert_eq!(places, ["places changed (town)", "a table emptied at once (TRUNCATE), or a flush of everything"]);
    }

    fn log(trig: i32, user: i32) -> LogRow {
        LogRow { id: 5, trig, user, photos: vec![9] }
    }

    fn has(tags: &[String], tag: &str) -> bool {
        tags.iter().any(|t| t == tag)
    }

    #[test]
    fn a_log_moved_to_another_trig_and_user_invalidates_both_sides() {
        let tags = tags(&[RowChange::Log(Change::updated(log(1, 2), log(3, 4)))]);
        for tag in ["trig:1:logs", "trig:3:logs", "trigstats:1", "trigstats:3", "found:2", "found:4", "photo:9"] {
            assert!(has(&tags, tag), "{tag} in {tags:?}");
        }
        assert!(!has(&tags, "log:5"), "the log itself still exists: {tags:?}");
    }

    #[test]
    fn an_edit_in_place_does_not_touch_what_counts_logs() {
        let tags = tags(&[RowChange::Log(Change::updated(log(1, 2), log(1, 2)))]);
        assert!(has(&tags, "logfields:5") && has(&tags, "photo:9") && has(&tags, "trig:1:logs"));
        assert!(!has(&tags, "found:2") && !has(&tags, "user:2:badge"), "{tags:?}");
    }

    #[test]
    fn a_photo_whose_owner_is_unknown_reaches_every_trig_and_user() {
        let photo = PhotoRow { id: 9, log: 5, owner: None };
        let tags = tags(&[RowChange::Photo(Change::deleted(photo))]);
        for tag in ["trig", "user", "photos:list", "log:5:photos", "photo:9", "stats:site"] {
            assert!(has(&tags, tag), "{tag} in {tags:?}");
        }
    }

    #[test]
    fn only_a_rename_reaches_other_users_lists() {
        let user = |name: &str| UserRow { id: 2, name: name.into() };
        let same = tags(&[RowChange::User(Change::updated(user("a"), user("a")))]);
        assert_eq!(same, vec!["profile:2".to_owned()]);
        let renamed = tags(&[RowChange::User(Change::updated(user("a"), user("b")))]);
        assert!(has(&renamed, tag::USER_NAMES) && has(&renamed, "users:list"), "{renamed:?}");
    }

    #[test]
    fn a_trig_reaches_its_entries_the_lists_and_what_names_it_and_each_tag_comes_once() {
        let tags = tags(&[RowChange::Trig(Change::updated(7, 7)), RowChange::Everything]);
        for tag in ["trig:7", "trigstats:7", "trigs", tag::TRIG_DATA, GLOBAL] {
            assert!(has(&tags, tag), "{tag} in {tags:?}");
        }
        let unique: std::collections::HashSet<&String> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len());
    }
}
