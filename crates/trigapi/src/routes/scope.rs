//! Whose logs or photos a page lists: one trig's or one user's. The two share their list
//! endpoints' shape, and differ only in what [`Scope`] answers here.

use crate::cache::{Cached, Resource, ttl};
use crate::db::logs::LogFilter;
use crate::db::photos::PhotoFilter;
use crate::invalidation::tag;
use crate::routes::extract::{TrigId, UserId};

/// Which of its lists.
#[derive(Clone, Copy)]
pub(super) enum List {
    Logs,
    Photos,
}

impl List {
    fn segment(self) -> &'static str {
        match self {
            List::Logs => "logs",
            List::Photos => "photos",
        }
    }
}

/// One trig or one user, as the path named it.
#[derive(Clone, Copy)]
pub(super) enum Scope {
    Trig(TrigId),
    User(UserId),
}

impl Scope {
    /// The cache entry of `list`, with the tags it depends on.
    pub(super) fn cached(&self, list: List) -> Cached {
        let (resource, ttl) = match (self, list) {
            (Scope::Trig(t), List::Logs) => (Resource::trig(t.get()), ttl::TRIG_LOGS),
            (Scope::Trig(t), List::Photos) => (Resource::trig(t.get()), ttl::TRIG_PHOTOS),
            (Scope::User(u), List::Logs) => (Resource::user(u.get()), ttl::USER_LOGS),
            (Scope::User(u), List::Photos) => (Resource::user(u.get()), ttl::USER_PHOTOS),
        };
        let cached = Cached::new(resource.sub(list.segment()), ttl);
        match self {
            // A trig's lists show their authors' names (and the trig's own fields, which its
            // tags cover); a user's show the trigs logged (and only the user's own name).
            Scope::Trig(_) => cached.tag(tag::USER_NAMES.into()),
            Scope::User(_) => cached.tag(tag::TRIG_DATA.into()),
        }
    }

    /// The path of `list`, for the page links.
    pub(super) fn link(&self, list: List) -> String {
        let sub = list.segment();
        match self {
            Scope::Trig(t) => format!("/v1/trigs/{}/{sub}", t.get()),
            Scope::User(u) => format!("/v1/users/{}/{sub}", u.get()),
        }
    }

    pub(super) fn log_filter(&self) -> LogFilter {
        match self {
            Scope::Trig(t) => LogFilter { trig_id: Some(t.filter()), user_id: None },
            Scope::User(u) => LogFilter { trig_id: None, user_id: Some(u.filter()) },
        }
    }

    pub(super) fn photo_filter(&self) -> PhotoFilter {
        match self {
            Scope::Trig(t) => PhotoFilter { trig_id: Some(t.filter()), ..Default::default() },
            Scope::User(u) => PhotoFilter { user_id: Some(u.filter()), ..Default::default() },
        }
    }

    /// What its logs with `include=photos` also depend on: its photos.
    pub(super) fn photos_tag(&self) -> String {
        match self {
            Scope::Trig(t) => tag::trig_photos(t.filter()),
            Scope::User(u) => tag::user_photos(u.filter()),
        }
    }
}
