//! Deterministic synthetic users, logs and photos over the real trig points.
//!
//! Shaped like the real site (contract §13, `shared/data/README.md`): pillars draw most visits
//! and a long tail of trigs is rarely or never logged (log-normal popularity); a few prolific
//! users log thousands while most log a handful (Zipf-like activity); conditions are mostly `G`,
//! with `N`/`Q`/`X` on destroyed or intersected marks; scores centre near 6; 0-3 photos per log
//! (mean ≈ 0.86); dates span 2000 to late 2026. The same seed always gives the same data.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::trigpoints::ArchiveRow;
use crate::db::photos::PhotoFiles;
use crate::db::seed_writer::{NewLog, NewPhoto, NewTrig, NewTrigStats, NewUser};
use crate::domain::condition::Condition;

const SEED: u64 = 0x7219_5EED;

/// First and last day a synthetic log can carry (fixed, so the data set is reproducible).
pub fn date_range() -> (NaiveDate, NaiveDate) {
    (NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(), NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default())
}

#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub users: usize,
    pub logs: usize,
}

pub struct Synthetic {
    pub users: Vec<NewUser>,
    pub logs: Vec<NewLog>,
    pub photos: Vec<NewPhoto>,
    pub trigstats: Vec<NewTrigStats>,
}

/// Cumulative weights for O(log n) weighted sampling.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut acc = 0.0;
        Self(
            weights
                .into_iter()
                .map(|w| {
                    acc += w.max(0.0);
                    acc
                })
                .collect(),
        )
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> usize {
        let total = self.0.last().copied().unwrap_or(0.0);
        let x = rng.f64() * total;
        self.0.partition_point(|c| *c <= x).min(self.0.len().saturating_sub(1))
    }
}

fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(1e-12);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn weighted_code(rng: &mut fastrand::Rng, table: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.u32(..total.max(1));
    for (code, w) in table {
        if x < *w {
            return code;
        }
        x -= w;
    }
    table.first().map(|(c, _)| *c).unwrap_or("G")
}

const FIRST: &[&str] = &[
    "Alice",
    "Ben",
    "Catherine",
    "David",
    "Eleanor",
    "Fraser",
    "Gwen",
    "Hamish",
    "Isla",
    "James",
    "Kate",
    "Liam",
    "Morag",
    "Neil",
    "Olivia",
    "Peter",
    "Rhiannon",
    "Stuart",
    "Tessa",
    "Ursula",
    "Victor",
    "Wendy",
    "Alan",
    "Bryony",
    "Colin",
    "Dafydd",
    "Emma",
    "Fiona",
    "Graham",
    "Helen",
];
const LAST: &[&str] = &[
    "Armstrong",
    "Bell",
    "Campbell",
    "Davies",
    "Evans",
    "Fletcher",
    "Graham",
    "Hughes",
    "Irving",
    "Jones",
    "Kerr",
    "Lloyd",
    "Morgan",
    "Nicholson",
    "Owen",
    "Pritchard",
    "Quinn",
    "Robertson",
    "Stewart",
    "Thomas",
    "Usher",
    "Vaughan",
    "Watson",
    "Young",
    "Baxter",
    "Cooper",
    "Dixon",
    "Ellis",
    "Foster",
    "Gibson",
];
const HANDLE_A: &[&str] = &[
    "Hill", "Fell", "Peak", "Moor", "Trig", "Pillar", "Summit", "Ridge", "Cairn", "Tor", "Dale", "Glen", "Crag", "Pike",
];
const HANDLE_B: &[&str] =
    &["Walker", "Bagger", "Hunter", "Rambler", "Seeker", "Plodder", "Explorer", "Wanderer", "Fan", "Bod"];
const WEATHER: &[&str] = &[
    "in glorious sunshine",
    "in thick clag",
    "in a howling gale",
    "on a crisp frosty morning",
    "in drizzle",
    "at sunset",
];
const COMMENTS: &[&str] = &[
    "Lovely walk up from the lane. Pillar in good order.",
    "Quick visit on the way home.",
    "Great views from the top, well worth the climb.",
    "Flush bracket intact, spider still visible.",
    "Surrounded by cows, approached with care.",
    "Second visit, nothing much has changed.",
    "Path very boggy after recent rain.",
    "Took the kids along, they found it first.",
    "Painted recently, looking smart.",
    "Hard to spot in the bracken.",
];
const CAPTIONS: &[&str] =
    &["The pillar", "View north", "View south", "Flush bracket", "Summit", "On the way up", "The team", "Looking west"];

/// Generate users, logs, photos and `trigstats`; updates each trig's `condition` to its latest
/// log's condition.
pub fn generate(archive: &[ArchiveRow], trigs: &mut [NewTrig], sizes: Sizes, pool: &[PhotoFiles]) -> Synthetic {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let (start, end) = date_range();
    let span_days = (end - start).num_days().max(1);

    let users = make_users(&mut rng, sizes.users, start, span_days);

    // Popularity: pillars most, intersected/destroyed marks rarely; log-normal tail.
    let trig_weights = Weighted::new(archive.iter().map(|r| {
        let base = match r.physical_type.as_str() {
            "Pillar" => 5.0,
            "Intersected Station" => 0.15,
            "Other" => 0.4,
            _ => 1.0,
        };
        let destroyed = if r.is_destroyed() { 0.15 } else { 1.0 };
        base * destroyed * (1.3 * normal(&mut rng)).exp()
    }));
    // Activity: Zipf-like over a shuffled rank order.
    let mut ranks: Vec<usize> = (1..=users.len()).collect();
    rng.shuffle(&mut ranks);
    let user_weights = Weighted::new(ranks.iter().map(|r| 1.0 / ((*r as f64) + 5.0).powf(1.2)));

    let mut seen: HashSet<(usize, usize)> = HashSet::with_capacity(sizes.logs);
    let mut logs: Vec<NewLog> = Vec::with_capacity(sizes.logs);
    for _ in 0..sizes.logs {
        let u = user_weights.sample(&mut rng);
        let mut t = trig_weights.sample(&mut rng);
        for _ in 0..3 {
            if seen.insert((u, t)) {
                break;
            }
            t = trig_weights.sample(&mut rng);
        }
        logs.push(make_log(&mut rng, &users[u], &trigs[t], &archive[t], end));
    }
    logs.sort_by_key(|l| (l.date, l.time));
    for (i, log) in logs.iter_mut().enumerate() {
        log.id = i as i32 + 1;
    }

    let photos = make_photos(&mut rng, &logs, pool);
    let trigstats = make_trigstats(trigs, &logs, &photos);
    Synthetic { users, logs, photos, trigstats }
}

fn make_users(rng: &mut fastrand::Rng, n: usize, start: NaiveDate, span_days: i64) -> Vec<NewUser> {
    let mut names: HashSet<String> = HashSet::with_capacity(n);
    (1..=n)
        .map(|id| {
            let first = *pick(rng, FIRST);
            let last = *pick(rng, LAST);
            let name = loop {
                let candidate = match rng.u8(..3) {
                    0 => format!("{}{}", pick(rng, HANDLE_A), pick(rng, HANDLE_B)),
                    1 => format!("{}{}", first.to_lowercase(), &last[..1]),
                    _ => format!("{first}_{last}"),
                };
                let candidate =
                    if names.contains(&candidate) { format!("{candidate}{}", rng.u32(1..10_000)) } else { candidate };
                if names.insert(candidate.clone()) {
                    break candidate;
                }
            };
            let crt_date = start + Duration::days(rng.i64(0..span_days));
            let crt_time = NaiveTime::from_num_seconds_from_midnight_opt(rng.u32(0..86_400), 0).unwrap_or_default();
            NewUser {
                id: id as i32,
                email: format!("{}@example.org", name.to_lowercase()),
                email_valid: "Y".into(),
                homepage: if rng.u8(..10) == 0 {
                    format!("https://example.org/~{}", name.to_lowercase())
                } else {
                    String::new()
                },
                about: if rng.u8(..4) == 0 {
                    format!("Trig bagging since {}.", crt_date.format("%Y"))
                } else {
                    String::new()
                },
                cryptpw: String::new(),
                auth0_user_id: (rng.u8(..10) < 8).then(|| format!("auth0|{:024x}", rng.u128(..) >> 32)),
                public_ind: if rng.bool() { "Y".into() } else { "N".into() },
                crt_date,
                crt_time,
                upd_timestamp: Some(NaiveDateTime::new(crt_date, crt_time)),
                firstname: first.into(),
                surname: last.into(),
                name,
            }
        })
        .collect()
}

fn make_log(rng: &mut fastrand::Rng, user: &NewUser, trig: &NewTrig, arch: &ArchiveRow, end: NaiveDate) -> NewLog {
    let from = user.crt_date.max(date_range().0);
    let days = (end - from).num_days().max(1);
    let date = from + Duration::days(rng.i64(0..=days));
    let time = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default() + Duration::minutes(rng.i64(0..600));
    let hard = arch.is_destroyed() || arch.physical_type == "Intersected Station";
    let condition = if hard {
        weighted_code(rng, &[("G", 25), ("N", 30), ("Q", 10), ("X", 15), ("V", 12), ("P", 8)])
    } else {
        weighted_code(rng, &[("G", 82), ("S", 7), ("D", 3), ("T", 1), ("M", 1), ("C", 1), ("N", 3), ("Q", 1), ("R", 1)])
    };
    let score = (6.0 + 2.0 * normal(rng)).round().clamp(0.0, 10.0) as i32;
    let comment = match rng.u8(..4) {
        0 => format!("Visited {} {}.", trig.name, pick(rng, WEATHER)),
        1 => String::new(),
        _ => (*pick(rng, COMMENTS)).to_owned(),
    };
    let located = rng.bool();
    NewLog {
        id: 0,
        trig_id: trig.id,
        user_id: user.id,
        date,
        time,
        osgb_eastings: located.then_some(trig.osgb_eastings),
        osgb_northings: located.then_some(trig.osgb_northings),
        osgb_gridref: located.then(|| trig.osgb_gridref.clone()),
        fb_number: if !trig.fb_number.is_empty() && rng.u8(..10) < 4 { trig.fb_number.clone() } else { String::new() },
        condition: condition.into(),
        comment,
        score,
        ip_addr: format!("192.0.2.{}", rng.u8(1..255)),
        source: if rng.u8(..20) == 0 { "A".into() } else { "W".into() },
        upd_timestamp: Some(NaiveDateTime::new(date, time)),
    }
}

fn make_photos(rng: &mut fastrand::Rng, logs: &[NewLog], pool: &[PhotoFiles]) -> Vec<NewPhoto> {
    let mut photos = Vec::with_capacity(logs.len());
    for log in logs {
        let n = match rng.f64() {
            x if x < 0.45 => 0,
            x if x < 0.80 => 1,
            x if x < 0.92 => 2,
            _ => 3,
        };
        for _ in 0..n {
            let id = photos.len() as i32 + 1;
            let img = &pool[(id as usize) % pool.len().max(1)];
            photos.push(NewPhoto {
                id,
                tlog_id: log.id,
                server_id: img.server_id,
                kind: weighted_code(rng, &[("T", 60), ("L", 20), ("F", 10), ("P", 5), ("O", 4), ("", 1)]).into(),
                filename: img.filename.clone(),
                filesize: img.filesize,
                height: img.height,
                width: img.width,
                icon_filename: img.icon_filename.clone(),
                icon_filesize: img.icon_filesize,
                icon_height: img.icon_height,
                icon_width: img.icon_width,
                name: (*pick(rng, CAPTIONS)).into(),
                text_desc: if rng.u8(..3) == 0 { "Taken from the north-east.".into() } else { String::new() },
                ip_addr: log.ip_addr.clone(),
                public_ind: weighted_code(rng, &[("Y", 30), ("C", 50), ("N", 20)]).into(),
                deleted_ind: weighted_code(rng, &[("N", 975), ("Y", 20), ("M", 5)]).into(),
                source: "W".into(),
                crt_timestamp: log.upd_timestamp,
            });
        }
    }
    photos
}

/// `trigstats` as the site computes it, and each trig's `condition` from its latest log.
fn make_trigstats(trigs: &mut [NewTrig], logs: &[NewLog], photos: &[NewPhoto]) -> Vec<NewTrigStats> {
    #[derive(Default)]
    struct Acc {
        first: Option<NaiveDate>,
        last: Option<(NaiveDate, NaiveTime, String)>,
        count: i32,
        found_last: Option<NaiveDate>,
        found: i32,
        photos: i32,
        score_sum: i64,
    }
    let mut acc: HashMap<i32, Acc> = HashMap::new();
    let mut trig_of_log: HashMap<i32, i32> = HashMap::with_capacity(logs.len());
    for l in logs {
        trig_of_log.insert(l.id, l.trig_id);
        let a = acc.entry(l.trig_id).or_default();
        a.first = Some(a.first.map_or(l.date, |d| d.min(l.date)));
        if a.last.as_ref().is_none_or(|(d, t, _)| (l.date, l.time) >= (*d, *t)) {
            a.last = Some((l.date, l.time, l.condition.clone()));
        }
        a.count += 1;
        a.score_sum += i64::from(l.score);
        if Condition::from_code(&l.condition).is_some_and(Condition::is_found) {
            a.found += 1;
            a.found_last = Some(a.found_last.map_or(l.date, |d| d.max(l.date)));
        }
    }
    for p in photos.iter().filter(|p| p.deleted_ind != "Y") {
        if let Some(a) = trig_of_log.get(&p.tlog_id).and_then(|t| acc.get_mut(t)) {
            a.photos += 1;
        }
    }
    for t in trigs.iter_mut() {
        if let Some((_, _, c)) = acc.get(&t.id).and_then(|a| a.last.as_ref()) {
            t.condition = c.clone();
        }
    }
    let mut stats: Vec<NewTrigStats> = acc
        .into_iter()
        .map(|(id, a)| {
            let (score_mean, score_baysian) = crate::db::trigstats::scores(a.score_sum, a.count.into());
            NewTrigStats {
                id,
                logged_first: a.first,
                logged_last: a.last.map(|(d, _, _)| d),
                logged_count: a.count,
                found_last: a.found_last,
                found_count: a.found,
                photo_count: a.photos,
                score_mean,
                score_baysian,
            }
        })
        .collect();
    stats.sort_by_key(|s| s.id);
    stats
}
