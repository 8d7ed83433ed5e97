//! Where a cached response sits: the resource paths its key and its tags are spelt from.

/// Where a cached response sits: `trig`, `trig:123`, `trig:123:logs`, `logs:list`. Its cache
/// key (through the `Cached` of the cache module) and the tag a write bumps to reach it ([`Resource::tag`]) are both
/// spelt from this one value, so a read and a write cannot disagree on the spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub(crate) name: &'static str,
    pub(crate) id: Option<i64>,
    pub(crate) sub: Option<&'static str>,
}

impl Resource {
    /// `stats:site`.
    pub const STATS_SITE: Self = Self::named("stats").sub("site");
    /// `trigs`: every trig list (`/trigs`, the export, the GeoJSON).
    pub const TRIGS: Self = Self::named("trigs");
    /// `trig`: every trig's entries.
    pub const EVERY_TRIG: Self = Self::named("trig");
    /// `user`: every user's entries.
    pub const EVERY_USER: Self = Self::named("user");
    /// `trigs:list`.
    pub const TRIGS_LIST: Self = Self::named("trigs").sub("list");
    /// `trigs:export`.
    pub const TRIGS_EXPORT: Self = Self::named("trigs").sub("export");
    /// `trigs:geojson`.
    pub const TRIGS_GEOJSON: Self = Self::named("trigs").sub("geojson");
    /// `users:list`.
    pub const USERS_LIST: Self = Self::named("users").sub("list");
    /// `logs:list`.
    pub const LOGS_LIST: Self = Self::named("logs").sub("list");
    /// `photos:list`.
    pub const PHOTOS_LIST: Self = Self::named("photos").sub("list");
    /// `/locations/search`, and each of its categories, named as the original names them.
    pub const LOCATION_SEARCH: Self = Self::named("location_search");
    pub const UNIFIED_SEARCH: Self = Self::named("unified_search");
    pub const SEARCH_TRIGPOINTS: Self = Self::named("search_trigpoints");
    pub const SEARCH_STATION_NUMBERS: Self = Self::named("search_station_numbers");
    pub const SEARCH_PLACES: Self = Self::named("search_places");
    pub const SEARCH_USERS: Self = Self::named("search_users");
    pub const SEARCH_POSTCODES: Self = Self::named("search_postcodes");
    pub const SEARCH_LOGS_SUBSTRING: Self = Self::named("search_logs_substring");
    pub const SEARCH_LOGS_REGEX: Self = Self::named("search_logs_regex");

    const fn named(name: &'static str) -> Self {
        Self { name, id: None, sub: None }
    }

    /// `trig:{id}`.
    pub const fn trig(id: i64) -> Self {
        Self { id: Some(id), ..Self::named("trig") }
    }

    /// `user:{id}`.
    pub const fn user(id: i64) -> Self {
        Self { id: Some(id), ..Self::named("user") }
    }

    /// `log:{id}`.
    pub const fn log(id: i64) -> Self {
        Self { id: Some(id), ..Self::named("log") }
    }

    /// `photo:{id}`.
    pub const fn photo(id: i64) -> Self {
        Self { id: Some(id), ..Self::named("photo") }
    }

    /// A part of this one: `trig:123` → `trig:123:logs`.
    pub const fn sub(self, sub: &'static str) -> Self {
        Self { sub: Some(sub), ..self }
    }

    /// The tag that reaches every cached response under this path (the key builder tags each
    /// entry with every prefix of its path).
    pub fn tag(&self) -> String {
        let mut tag = self.name.to_owned();
        if let Some(id) = self.id {
            tag.push_str(&format!(":{id}"));
        }
        if let Some(sub) = self.sub {
            tag.push(':');
            tag.push_str(sub);
        }
        tag
    }
}
