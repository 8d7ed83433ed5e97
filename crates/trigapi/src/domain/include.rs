//! `include=` token sets (`details,stats,attrs`, `photos`, `stats,breakdown`).

use crate::domain::params::QueryParams;
use crate::error::ApiError;

/// A validated, de-duplicated set of include tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncludeSet(Vec<String>);

/// How an endpoint validates `include`.
#[derive(Debug, Clone, Copy)]
pub struct IncludeRules {
    pub allowed: &'static [&'static str],
    /// `/users` and `/users/{id}` keep empty tokens and reject them (`include=stats,` → 400) [QUIRK].
    pub keep_empty: bool,
    /// Text after "Valid options" (`""` or `" for user list"`).
    pub options_label: &'static str,
}

impl IncludeSet {
    /// Read `include` from `query`, the one place it is parsed. Its canonical form (tokens
    /// trimmed, sorted and de-duplicated; empty ones kept where the rules keep them) goes into
    /// the cache key whatever the tokens are. The set, or the contract's 400 for a token the
    /// endpoint does not know, is returned rather than raised: an endpoint whose 404 comes
    /// first answers it when its row is found. An empty value is no list at all: the original
    /// tests the string's truth before it splits it, so `include=` is the same request as no
    /// `include`.
    pub fn read(query: &mut QueryParams, rules: IncludeRules) -> Result<Self, ApiError> {
        let Some(raw) = query.non_empty("include") else { return Ok(Self::default()) };
        let tokens = Self::tokens(&raw, rules);
        query.key_param("include", tokens.join(","));
        Self::validate(tokens, rules)
    }

    /// The tokens of `raw`, trimmed, sorted and de-duplicated (empty ones kept where the rules
    /// keep them, since they make the request invalid).
    fn tokens(raw: &str, rules: IncludeRules) -> Vec<&str> {
        let mut tokens: Vec<&str> =
            raw.split(',').map(str::trim).filter(|t| rules.keep_empty || !t.is_empty()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        tokens
    }

    /// The set of `tokens`, or the contract's 400 naming those the rules do not allow.
    fn validate(tokens: Vec<&str>, rules: IncludeRules) -> Result<Self, ApiError> {
        let invalid: Vec<&str> = tokens.iter().copied().filter(|t| !rules.allowed.contains(t)).collect();
        if !invalid.is_empty() {
            let mut valid = rules.allowed.to_vec();
            valid.sort_unstable();
            return Err(ApiError::BadRequest(format!(
                "Invalid include parameter(s): {}. Valid options{}: {}",
                invalid.join(", "),
                rules.options_label,
                valid.join(", ")
            )));
        }
        Ok(Self(tokens.into_iter().map(str::to_owned).collect()))
    }

    #[cfg(test)]
    fn parse(raw: Option<&str>, rules: IncludeRules) -> Result<Self, ApiError> {
        raw.map_or(Ok(Self::default()), |raw| Self::validate(Self::tokens(raw, rules), rules))
    }

    /// Whether `token` was asked for.
    pub fn has(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Canonical form: sorted, de-duplicated, comma-joined (for cache keys).
    pub fn canonical(&self) -> String {
        self.0.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIG: IncludeRules =
        IncludeRules { allowed: &["details", "stats", "attrs"], keep_empty: false, options_label: "" };

    #[test]
    fn invalid_tokens_are_sorted_in_the_message() {
        let Err(ApiError::BadRequest(msg)) = IncludeSet::parse(Some("zz,bogus,stats"), TRIG) else { panic!() };
        assert_eq!(msg, "Invalid include parameter(s): bogus, zz. Valid options: attrs, details, stats");
    }

    #[test]
    fn the_key_holds_the_canonical_form_and_an_empty_value_is_no_list() {
        let mut q = QueryParams::parse(Some("include=stats, details,stats"));
        assert!(IncludeSet::read(&mut q, TRIG).is_ok_and(|i| i.has("details") && !i.has("attrs")));
        assert_eq!(q.finish().ok().and_then(|k| k.get("include").cloned()).as_deref(), Some("details,stats"));
        let mut q = QueryParams::parse(Some("include="));
        assert_eq!(IncludeSet::read(&mut q, TRIG).ok(), Some(IncludeSet::default()));
        assert!(q.finish().is_ok_and(|k| k.is_empty()));
        let mut q = QueryParams::parse(Some("include=bogus"));
        assert!(IncludeSet::read(&mut q, TRIG).is_err(), "a 400, returned for the endpoint to answer");
        assert!(q.finish().is_ok_and(|k| k.get("include").map(String::as_str) == Some("bogus")));
    }

    #[test]
    fn canonical_form_is_order_free() {
        let a = IncludeSet::parse(Some("stats, details,stats"), TRIG).unwrap_or_default();
        let b = IncludeSet::parse(Some("details,stats"), TRIG).unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(a.canonical(), "details,stats");
    }
}
