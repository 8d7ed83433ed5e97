//! `include=` token sets (`details,stats,attrs`, `photos`, `stats,breakdown`).

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
    pub fn parse(raw: Option<&str>, rules: IncludeRules) -> Result<Self, ApiError> {
        let Some(raw) = raw else { return Ok(Self::default()) };
        let mut tokens: Vec<String> =
            raw.split(',').map(|t| t.trim().to_owned()).filter(|t| rules.keep_empty || !t.is_empty()).collect();
        let mut invalid: Vec<&str> = tokens.iter().map(String::as_str).filter(|t| !rules.allowed.contains(t)).collect();
        if !invalid.is_empty() {
            invalid.sort_unstable();
            invalid.dedup();
            let mut valid = rules.allowed.to_vec();
            valid.sort_unstable();
            return Err(ApiError::BadRequest(format!(
                "Invalid include parameter(s): {}. Valid options{}: {}",
                invalid.join(", "),
                rules.options_label,
                valid.join(", ")
            )));
        }
        tokens.sort_unstable();
        tokens.dedup();
        Ok(Self(tokens))
    }

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
    fn canonical_form_is_order_free() {
        let a = IncludeSet::parse(Some("stats, details,stats"), TRIG).unwrap_or_default();
        let b = IncludeSet::parse(Some("details,stats"), TRIG).unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(a.canonical(), "details,stats");
    }
}
