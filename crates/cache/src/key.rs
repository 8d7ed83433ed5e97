//! Canonical cache keys: `{prefix}:{env}:{resource}[:{id}][:{sub}][:params_{hash}]:{version}`.
//!
//! Query parameters are hashed from a canonical form (keys sorted, values as given by the caller
//! after its own canonicalisation) with 64-bit xxh3, printed as 16 hex digits.
//!
//! ```
//! use trigapi_cache::key::KeyBuilder;
//! let key = KeyBuilder::new("shop", "production", "item")
//!     .id("123")
//!     .subresource("reviews")
//!     .param("limit", "10")
//!     .param("skip", "0")
//!     .build("v1");
//! assert!(key.starts_with("shop:production:item:123:reviews:params_"));
//! assert!(key.ends_with(":v1"));
//! ```

use std::collections::BTreeMap;

use xxhash_rust::xxh3::xxh3_64;

/// Builds one key. Parameters may be added in any order; the key does not depend on it.
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    prefix: String,
    /// Where the resource path (`resource[:id][:sub]`) starts in `prefix`.
    path_start: usize,
    params: BTreeMap<String, String>,
}

impl KeyBuilder {
    /// Start a key for `resource` under an application prefix and environment.
    pub fn new(prefix: &str, environment: &str, resource: &str) -> Self {
        Self::in_namespace(&format!("{prefix}:{environment}"), resource)
    }

    /// Start a key for `resource` in a namespace already joined (`{prefix}:{environment}`).
    pub fn in_namespace(namespace: &str, resource: &str) -> Self {
        let mut prefix = String::with_capacity(namespace.len() + resource.len() + 48);
        prefix.push_str(namespace);
        prefix.push(':');
        let path_start = prefix.len();
        prefix.push_str(resource);
        Self { prefix, path_start, params: BTreeMap::new() }
    }

    /// Append the resource id segment.
    pub fn id(mut self, id: impl std::fmt::Display) -> Self {
        use std::fmt::Write;
        let _ = write!(self.prefix, ":{id}");
        self
    }

    /// Append a sub-resource segment (`reviews`, `photos`, `list`).
    pub fn subresource(mut self, sub: &str) -> Self {
        self.prefix.push(':');
        self.prefix.push_str(sub);
        self
    }

    /// Add one canonical parameter.
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// The tags an entry under this key depends on: every prefix of its resource path, so
    /// `item:123:reviews` gives `item`, `item:123` and `item:123:reviews`. Invalidating any of them
    /// (the pattern `item:*`, `item:123:*`, …) is then one generation bump.
    pub fn tags(&self) -> Vec<String> {
        let path = &self.prefix[self.path_start..];
        let mut tags: Vec<String> =
            path.match_indices(':').map(|(i, _)| path[..i].to_owned()).filter(|t| !t.is_empty()).collect();
        tags.push(path.to_owned());
        tags
    }

    /// Finish with the response-shape version (`v1`).
    pub fn build(self, version: &str) -> String {
        if self.params.is_empty() {
            return format!("{}:{version}", self.prefix);
        }
        let mut canonical = String::new();
        for (k, v) in &self.params {
            canonical.push_str(k);
            canonical.push('\u{1f}');
            canonical.push_str(v);
            canonical.push('\u{1e}');
        }
        format!("{}:params_{:016x}:{version}", self.prefix, xxh3_64(canonical.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::KeyBuilder;

    #[test]
    fn parameter_order_does_not_change_the_key() {
        let a = KeyBuilder::new("p", "e", "items").subresource("list").param("a", "1").param("b", "2").build("v1");
        let b = KeyBuilder::new("p", "e", "items").subresource("list").param("b", "2").param("a", "1").build("v1");
        assert_eq!(a, b);
        assert_eq!(a.len(), "p:e:items:list:params_:v1".len() + 16);
    }

    #[test]
    fn tags_are_the_resource_path_prefixes() {
        let k = KeyBuilder::new("p", "e", "item").id(123).subresource("reviews").param("limit", "10");
        assert_eq!(k.tags(), ["item", "item:123", "item:123:reviews"]);
        assert_eq!(KeyBuilder::new("p", "e", "stats").subresource("site").tags(), ["stats", "stats:site"]);
    }

    #[test]
    fn different_values_give_different_keys() {
        let a = KeyBuilder::new("p", "e", "item").id(1).param("include", "stats").build("v1");
        let b = KeyBuilder::new("p", "e", "item").id(1).param("include", "details").build("v1");
        assert_ne!(a, b);
    }
}
