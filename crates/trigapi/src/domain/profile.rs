//! A profile change (`PATCH /users/me`), read from its JSON body, and the rules its fields and a
//! registration's share.

use super::body::JsonBody;
use super::params::is_hidden;

/// Profile fields a user changes on themselves; `None` keeps the value.
#[derive(Debug, Default, Clone)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub firstname: Option<String>,
    pub surname: Option<String>,
    pub homepage: Option<String>,
    pub about: Option<String>,
    pub status_max: Option<i32>,
    pub distance_ind: Option<String>,
    pub public_ind: Option<String>,
    pub online_map_type: Option<String>,
    pub online_map_type2: Option<String>,
}

impl ProfilePatch {
    /// Read and validate every field `body` carries (a field left out or `null` is `None`).
    pub fn read(body: &mut JsonBody) -> Self {
        Self {
            name: user_name(body, "name"),
            email: email(body, "email"),
            firstname: visible_text(body, "firstname", 0, 30),
            surname: visible_text(body, "surname", 0, 30),
            homepage: homepage(body, "homepage"),
            about: body.string("about", 0, Some(65_535)),
            status_max: body.int("status_max", Some(0), Some(1_000_000)).map(|v| v as i32),
            distance_ind: {
                let v = body.string("distance_ind", 1, Some(1));
                body.one_of("distance_ind", v, &["K", "M"])
            },
            public_ind: {
                let v = body.string("public_ind", 1, Some(1));
                body.one_of("public_ind", v, &["Y", "N"])
            },
            online_map_type: body.string("online_map_type", 0, Some(10)),
            online_map_type2: body.string("online_map_type2", 0, Some(10)),
        }
    }
}

/// A user name: 1..30 visible characters, no leading blank, no `@` or `*` (what `PATCH
/// /users/me` and the registration webhook both take).
pub(crate) fn user_name(body: &mut JsonBody, field: &str) -> Option<String> {
    let name = visible_text(body, field, 1, 30);
    body.check(field, name, |n| {
        (!n.starts_with(char::is_whitespace) && !n.contains(['@', '*']))
            .then_some(())
            .ok_or("must not start with a blank or contain @ or *")
    })
}

/// An e-mail address of at most 255 characters, in the original's pattern.
pub(crate) fn email(body: &mut JsonBody, field: &str) -> Option<String> {
    let email = body.string(field, 1, Some(255));
    body.check(field, email, |e| valid_email(e).then_some(()).ok_or("is not a valid e-mail address"))
}

/// A string of `min..=max` characters with no control or invisible formatting characters
/// (a zero-width joiner in a name makes two names that look the same).
pub(crate) fn visible_text(body: &mut JsonBody, field: &str, min: usize, max: usize) -> Option<String> {
    let text = body.string(field, min, Some(max));
    body.check(field, text, |t| {
        (!t.chars().any(is_hidden)).then_some(()).ok_or("must not contain control or invisible formatting characters")
    })
}

/// A profile's homepage: empty, or an `http://` or `https://` URL with a host (a
/// `javascript:` link shown on a profile page would run in its readers' browsers).
fn homepage(body: &mut JsonBody, field: &str) -> Option<String> {
    let url = visible_text(body, field, 0, 255);
    body.check(field, url, |u| {
        (u.is_empty() || is_web_link(u)).then_some(()).ok_or("must be an http:// or https:// URL")
    })
}

/// `http://` or `https://` (any case), a host, then anything; no blanks anywhere
/// (`wire::bodies::WEB_LINK`).
fn is_web_link(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    let Some(rest) = ["https://", "http://"].iter().find_map(|s| lower.starts_with(s).then(|| &u[s.len()..])) else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !u.contains(char::is_whitespace)
}

/// `local@domain.tld` as the original's pattern accepts it.
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    let Some((host, tld)) = domain.rsplit_once('.') else { return false };
    let local_ok = !local.is_empty() && local.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
    local_ok && host_ok && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
}
