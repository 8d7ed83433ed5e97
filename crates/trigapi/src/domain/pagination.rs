//! `skip`/`limit` and the list envelope's `pagination` and `links` blocks.

use serde::Serialize;

use super::params::QueryParams;

/// A validated page request: `skip ≥ 0`, `1 ≤ limit ≤ 100` (defaults 0 and 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub skip: i64,
    pub limit: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 100;

    pub fn from_query(q: &mut QueryParams) -> Self {
        Self::from_query_with_default(q, 10)
    }

    pub fn from_query_with_default(q: &mut QueryParams, default_limit: i64) -> Self {
        // An offset is 64-bit in every database: a larger one is a 422 (`less_than_equal`).
        let skip = q.int("skip", Some(0), Some(i64::MAX)).unwrap_or(0);
        let limit = q.int("limit", Some(1), Some(Self::MAX_LIMIT)).unwrap_or(default_limit);
        q.key_param("skip", skip);
        q.key_param("limit", limit);
        Self { skip, limit }
    }

    /// `LIMIT`/`OFFSET` as the SQL layer wants them.
    pub fn sql(&self) -> (u64, u64) {
        (self.limit.max(0) as u64, self.skip.max(0) as u64)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub has_more: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// The list envelope shared by every collection endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub pagination: Pagination,
    pub links: Links,
}

impl<T> Paginated<T> {
    /// `params` are the endpoint's link parameters in the contract's order, `limit` included;
    /// `skip` is always appended last. Values are URL-encoded (a fix over the original).
    pub fn new(items: Vec<T>, total: i64, page: Page, base: &str, params: &[(&str, String)]) -> Self {
        // Saturating: `skip` is any non-negative i64 a client sends.
        let has_more = page.skip.saturating_add(items.len() as i64) < total;
        let link = |skip: i64| {
            let mut s = String::from(base);
            let mut sep = '?';
            for (k, v) in params.iter().map(|(k, v)| (*k, v.as_str())).chain([("skip", skip.to_string().as_str())]) {
                s.push(sep);
                s.push_str(k);
                s.push('=');
                s.extend(form_urlencoded::byte_serialize(v.as_bytes()));
                sep = '&';
            }
            s
        };
        let links = Links {
            self_: link(page.skip),
            next: has_more.then(|| link(page.skip.saturating_add(page.limit))),
            prev: (page.skip > 0).then(|| link(page.skip.saturating_sub(page.limit).max(0))),
        };
        Self { items, pagination: Pagination { total, limit: page.limit, offset: page.skip, has_more }, links }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_contract_order_and_encode_values() {
        let p: Paginated<u8> = Paginated::new(
            vec![1; 10],
            25,
            Page { skip: 10, limit: 10 },
            "/v1/users",
            &[("name", "a b&c".into()), ("limit", "10".into())],
        );
        assert_eq!(p.links.self_, "/v1/users?name=a+b%26c&limit=10&skip=10");
        assert_eq!(p.links.next.as_deref(), Some("/v1/users?name=a+b%26c&limit=10&skip=20"));
        assert_eq!(p.links.prev.as_deref(), Some("/v1/users?name=a+b%26c&limit=10&skip=0"));
        assert!(p.pagination.has_more);
    }
}
