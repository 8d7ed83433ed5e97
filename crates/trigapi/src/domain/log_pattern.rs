//! A regular expression over log comments that cannot take the server down.
//!
//! The original ran MySQL `REGEXP` over every comment, for anyone. Here a pattern is compiled
//! with the `regex` crate, whose matching takes time linear in the text whatever the pattern
//! (no backtracking: `(a|aa)+$` is as fast as `a`), under limits on its compiled size. And it
//! must name text that every match contains: a literal of three characters or more (or one
//! of a few alternatives, `(pillar|bracket)`), which the substring index finds. Only those
//! candidates are matched, so no search reads every log.

use regex::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, HirKind};
use serde_json::json;

use crate::error::{ApiError, FieldError};

/// The shortest literal the text indexes can look up (they index trigrams).
const MIN_LITERAL: usize = 3;
/// At most this many alternatives, each looked up on its own.
const MAX_ALTERNATIVES: usize = 8;
/// The compiled program's size limit, and the lazy DFA's cache.
const SIZE_LIMIT: usize = 1 << 20;
/// How deeply groups and repetitions may nest.
const NEST_LIMIT: u32 = 32;

/// A compiled, case-insensitive pattern and the literals one of which each match contains.
#[derive(Debug, Clone)]
pub struct LogPattern {
    regex: Regex,
    literals: Vec<String>,
}

impl LogPattern {
    /// Compile `pattern` (the query parameter `name`), or say why it cannot be used: it is not
    /// a valid expression, it is too large once compiled, or it names no literal to look up.
    pub fn compile(name: &str, pattern: &str) -> Result<Self, ApiError> {
        let invalid = |msg: String| {
            ApiError::Validation(vec![FieldError::new("value_error", "query", name, msg, json!(pattern))])
        };
        let regex = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| invalid(format!("Value error, invalid regular expression: {}", first_line(&e.to_string()))))?;
        // Case-sensitive parse: under `(?i)` the literals would become classes.
        let hir =
            regex_syntax::ParserBuilder::new().nest_limit(NEST_LIMIT).build().parse(pattern).map_err(|e| {
                invalid(format!("Value error, invalid regular expression: {}", first_line(&e.to_string())))
            })?;
        let literals = required(&hir).filter(|l| l.len() <= MAX_ALTERNATIVES).ok_or_else(|| {
            invalid(format!(
                "Value error, the pattern must contain literal text of at least {MIN_LITERAL} characters \
                 that every match includes (such as `pillar` in `pillar.*bolt`)"
            ))
        })?;
        let mut literals: Vec<String> = literals.into_iter().map(|l| l.to_lowercase()).collect();
        literals.sort();
        literals.dedup();
        Ok(Self { regex, literals })
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as one string with its flags, for a `regex` crate compiled elsewhere (the
    /// database's `REGEXP`). It compiles there only after it has compiled here, under this
    /// module's tighter limits.
    pub fn source(&self) -> String {
        format!("(?i){}", self.regex.as_str())
    }

    /// Text one of which every match contains, in lower case.
    pub fn literals(&self) -> &[String] {
        &self.literals
    }
}

/// The error's first line (the rest draws a caret under the pattern).
fn first_line(message: &str) -> &str {
    message.lines().find(|l| l.trim_start().starts_with("error:")).or(message.lines().next()).unwrap_or("").trim()
}

/// Literals of at least [`MIN_LITERAL`] characters one of which every match of `hir`
/// contains, or `None` when no such set is known.
fn required(hir: &Hir) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).ok()?;
            (text.chars().count() >= MIN_LITERAL).then(|| vec![text.to_owned()])
        }
        HirKind::Capture(capture) => required(&capture.sub),
        HirKind::Repetition(rep) if rep.min >= 1 => required(&rep.sub),
        // Any one part's literals will do: take the set whose shortest literal is longest
        // (fewest candidates).
        HirKind::Concat(parts) => {
            parts.iter().filter_map(required).max_by_key(|set| set.iter().map(|l| l.chars().count()).min().unwrap_or(0))
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required(branch)?);
            }
            Some(all)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(p: &str) -> Vec<String> {
        LogPattern::compile("q", p).map(|p| p.literals().to_vec()).unwrap_or_default()
    }

    #[test]
    fn the_literals_every_match_contains() {
        assert_eq!(literals("pillar"), ["pillar"]);
        assert_eq!(literals("Trig.*Pillar"), ["pillar"]);
        assert_eq!(literals("colou?r"), ["colo"]);
        assert_eq!(literals("(pillar|bolt)s?"), ["bolt", "pillar"]);
        assert_eq!(literals("^found (it|the pillar)"), ["found "]);
        assert_eq!(literals("\\bcairn\\b"), ["cairn"]);
    }

    #[test]
    fn patterns_without_a_literal_or_invalid_are_refused() {
        for p in ["(a|aa)+$", ".*", "[a-z]+", "ab", "(pillar|ab)", "x{0,3}(ab)?"] {
            assert!(LogPattern::compile("q", p).is_err(), "{p}");
        }
        let Err(ApiError::Validation(e)) = LogPattern::compile("q", "pillar(") else { panic!("a 422") };
        assert!(e[0].msg.starts_with("Value error, invalid regular expression"), "{}", e[0].msg);
        assert!(LogPattern::compile("q", "pillar{1000}{1000}").is_err(), "too large once compiled");
    }

    #[test]
    fn matching_ignores_case() {
        let p = LogPattern::compile("q", "trig.*pillar").expect("parses");
        assert!(p.is_match("A fine TRIG Pillar"));
        assert!(!p.is_match("pillar before trig"));
    }
}
