//! Query-string and path parsing with FastAPI/pydantic-compatible 422 errors.
//!
//! [`QueryParams`] reads the raw query once; each typed getter records a [`FieldError`] instead
//! of failing, so one response lists every bad parameter, as the original does. Repeated keys:
//! the last value wins (Starlette's behaviour).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{ApiError, FieldError};

#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
    key: BTreeMap<&'static str, String>,
}

/// The canonical parameters an endpoint read, sorted by name (see the module docs).
pub type KeyParams = BTreeMap<&'static str, String>;

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Self { pairs, errors: Vec::new(), key: BTreeMap::new() }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// An optional free-text value of at most [`MAX_TEXT`] characters; an empty value counts as
    /// given (FastAPI semantics).
    pub fn string(&mut self, name: &'static str) -> Option<String> {
        self.text(name, MAX_TEXT)
    }

    /// An optional free-text value of at most `max` characters. Longer values and values with
    /// control characters (a NUL cuts a C string short: SQLite's `LIKE` read `%\0zz` as `%`)
    /// are 422s.
    pub fn text(&mut self, name: &'static str, max: usize) -> Option<String> {
        let v = self.raw(name).map(str::to_owned)?;
        if let Some(e) = text_error("query", name, &v, max) {
            self.errors.push(e);
            return None;
        }
        self.key.insert(name, v.clone());
        Some(v)
    }

    /// A non-empty value as given, after the free-text checks (a 422 recorded otherwise);
    /// nothing goes into the key (the caller puts its canonical form there).
    pub(crate) fn non_empty(&mut self, name: &'static str) -> Option<String> {
        let raw = self.raw(name).filter(|v| !v.is_empty()).map(str::to_owned)?;
        if let Some(e) = text_error("query", name, &raw, MAX_TEXT) {
            self.errors.push(e);
            return None;
        }
        Some(raw)
    }

    /// Record the value an endpoint actually uses for `name` (e.g. after applying a default).
    pub fn key_param(&mut self, name: &'static str, value: impl ToString) {
        self.key.insert(name, value.to_string());
    }

    /// An optional integer with inclusive bounds, read as pydantic reads an `int` (see
    /// [`parse_int`]). A number beyond 64 bits is past any `max`; with no `max` it is an
    /// id, and stands for one that no row has (see [`saturate`]).
    pub fn int(&mut self, name: &'static str, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let raw = self.raw(name)?.to_owned();
        let Some(v) = parse_int(&raw) else {
            self.errors.push(int_parsing("query", name, &raw));
            return None;
        };
        let wide = |b: Option<i64>| b.map(i128::from);
        if let Some(e) = bound_error("query", name, v, wide(min), wide(max), json!(raw)) {
            self.errors.push(e);
            return None;
        }
        let v = saturate(v);
        self.key.insert(name, v.to_string());
        Some(v)
    }

    /// An optional float with inclusive bounds, read as pydantic reads a `float` (`1_000.5`,
    /// `nan` and `inf` parse). A NaN fails any bound, as in Python; a value with no bound to
    /// fail must still be finite (`finite_number`): the original sent NaN on to the database.
    pub fn float(&mut self, name: &'static str, min: Option<f64>, max: Option<f64>) -> Option<f64> {
        let raw = self.raw(name)?.to_owned();
        let Some(v) = parse_float(&raw) else {
            self.errors.push(FieldError::new(
                "float_parsing",
                "query",
                name,
                "Input should be a valid number, unable to parse string as a number",
                json!(raw),
            ));
            return None;
        };
        if let Some(e) = bound_error("query", name, v, min, max, json!(raw)) {
            self.errors.push(e);
            return None;
        }
        if !v.is_finite() {
            self.errors.push(FieldError::new(
                "finite_number",
                "query",
                name,
                "Input should be a finite number",
                json!(raw),
            ));
            return None;
        }
        self.key.insert(name, py_float(v));
        Some(v)
    }

    /// A boolean in pydantic's lax forms (`true/false/1/0/yes/no/on/off/t/f/y/n`).
    pub fn bool(&mut self, name: &'static str) -> Option<bool> {
        let raw = self.raw(name)?.to_owned();
        let v = match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => {
                self.errors.push(FieldError::new(
                    "bool_parsing",
                    "query",
                    name,
                    "Input should be a valid boolean, unable to interpret input",
                    json!(raw),
                ));
                None
            }
        };
        if let Some(v) = v {
            self.key.insert(name, v.to_string());
        }
        v
    }

    /// Record `missing` (422 "Field required") when `name` is not in the query at all.
    pub fn require(&mut self, name: &'static str) {
        if self.raw(name).is_none() {
            self.errors.push(FieldError::new("missing", "query", name, "Field required", Value::Null));
        }
    }

    /// Record an error found by a caller-side check.
    pub fn push_error(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    /// The canonical parameters read when every getter succeeded, else the 422 listing all
    /// failures.
    pub fn finish(self) -> Result<KeyParams, ApiError> {
        if self.errors.is_empty() { Ok(self.key) } else { Err(ApiError::Validation(self.errors)) }
    }
}

/// The longest free-text query value (a name filter, an `order`): longer ones are 422s, so a
/// 50,000-character `LIKE` pattern never reaches the database.
pub const MAX_TEXT: usize = 200;

/// The 422 item for a free-text `value` over `max` characters or holding a control character
/// (`\0`, `\n`, …) or an invisible formatting character (zero-width space and joiners, BOM,
/// bidirectional overrides), if it is.
pub fn text_error(source: &str, name: &str, value: &str, max: usize) -> Option<FieldError> {
    let len = value.chars().count();
    if len > max {
        let msg = format!("String should have at most {max} character{}", if max == 1 { "" } else { "s" });
        return Some(
            FieldError::new("string_too_long", source, name, msg, json!(value)).with_ctx(json!({ "max_length": max })),
        );
    }
    if value.chars().any(is_hidden) {
        let msg = "Value error, must not contain control or invisible formatting characters";
        return Some(FieldError::new("value_error", source, name, msg, json!(value)));
    }
    None
}

/// A character that a reader cannot see but a program acts on: C0/C1 controls, and Unicode
/// format characters (`Cf`: zero-width space/joiners, BOM, bidi overrides, soft hyphen).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Parse an integer path parameter (`/trigs/{trig_id}`); failure is a 422 at `["path", name]`.
/// A number beyond 64 bits parses (it names no row, so the answer is a 404).
pub fn path_int(name: &str, raw: &str) -> Result<i64, ApiError> {
    parse_int(raw).map(saturate).ok_or_else(|| ApiError::Validation(vec![int_parsing("path", name, raw)]))
}

/// A parsed integer as an `i64`, beyond 64 bits held at the nearest end: an id no row has
/// (ids are `MEDIUMINT`s), and past every bound a caller checks.
pub(crate) fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Ids are `MEDIUMINT`s: a number outside `i32` can match no row.
pub fn as_row_id(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

/// An id used as a list filter. One outside `i32` matches no row, so it becomes `-1` (ids are
/// positive) and the list is empty, as the original answers for an unknown id.
pub fn filter_id(v: i64) -> i32 {
    as_row_id(v).unwrap_or(-1)
}

/// A string read as pydantic reads an `int`: trimmed, an optional sign, decimal digits with
/// single underscores between them (`1_0` is 10), and an optional `.` followed only by zeros
/// (`5.0`, `5.`). Exponents (`1e3`) and fractions are not integers. Python's integers have no
/// bound; these are exact to 38 digits, and held at the `i128` ends beyond.
pub(crate) fn parse_int(raw: &str) -> Option<i128> {
    let t = raw.trim();
    let t = match t.find('.') {
        Some(dot) if t[dot + 1..].bytes().all(|b| b == b'0') => &t[..dot],
        _ => t,
    };
    let digits = without_underscores(t)?;
    let (negative, unsigned) = match digits.as_bytes().first() {
        Some(b'-') => (true, &digits[1..]),
        Some(b'+') => (false, &digits[1..]),
        _ => (false, &digits[..]),
    };
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<i128>().unwrap_or(if negative { i128::MIN } else { i128::MAX }))
}

/// A string read as pydantic reads a `float`: Rust's `f64` grammar (which, like Python's,
/// takes `nan`, `inf` and `infinity`), with pydantic's underscore rule.
pub(crate) fn parse_float(raw: &str) -> Option<f64> {
    let t = raw.trim();
    t.parse::<f64>().ok().or_else(|| without_underscores(t)?.parse::<f64>().ok())
}

/// pydantic's rule for digit separators: underscores are dropped unless one leads, trails or
/// doubles (then the text is not a number).
fn without_underscores(t: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !t.contains('_') {
        return Some(t.into());
    }
    let valid = !t.starts_with('_') && !t.ends_with('_') && !t.contains("__");
    valid.then(|| t.replace('_', "").into())
}

fn int_parsing(source: &str, name: &str, raw: &str) -> FieldError {
    FieldError::new(
        "int_parsing",
        source,
        name,
        "Input should be a valid integer, unable to parse string as an integer",
        json!(raw),
    )
}

/// The 422 item for a value outside `[min, max]` (pydantic's `ge`/`le` messages), if it is.
pub(crate) fn bound_error<T: Bound>(
    source: &str,
    name: &str,
    v: T,
    min: Option<T>,
    max: Option<T>,
    input: Value,
) -> Option<FieldError> {
    // `partial_cmp`, not `<`: a NaN is below no bound and above none, yet fails both.
    let fails = |m: &T, ok: std::cmp::Ordering| !matches!(v.partial_cmp(m), Some(o) if o == ok || o.is_eq());
    if let Some(m) = min.filter(|m| fails(m, std::cmp::Ordering::Greater)) {
        return Some(
            FieldError::new(
                "greater_than_equal",
                source,
                name,
                format!("Input should be greater than or equal to {}", m.text()),
                input.clone(),
            )
            .with_ctx(json!({ "ge": m.value() })),
        );
    }
    if let Some(m) = max.filter(|m| fails(m, std::cmp::Ordering::Less)) {
        return Some(
            FieldError::new(
                "less_than_equal",
                source,
                name,
                format!("Input should be less than or equal to {}", m.text()),
                input,
            )
            .with_ctx(json!({ "le": m.value() })),
        );
    }
    None
}

/// A bound as pydantic prints it in a message and in `ctx`.
pub(crate) trait Bound: PartialOrd + Copy {
    fn text(self) -> String;
    fn value(self) -> Value;
}

impl Bound for i128 {
    fn text(self) -> String {
        self.to_string()
    }
    fn value(self) -> Value {
        json!(self)
    }
}

impl Bound for f64 {
    fn text(self) -> String {
        fmt_num(self)
    }
    /// Always a float: pydantic keeps a float field's bounds as floats (`{"ge": 0.0}`).
    fn value(self) -> Value {
        json!(self)
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Python's `repr(float)`: `-4.0`, `57.5`, `0.1` (used in pagination links and echoes).
pub fn py_float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('e') {
        // Rust `1e-5` vs Python `1e-05`: pad the exponent to two digits.
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = e.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("+", e));
            return format!("{m}e{sign}{digits:0>2}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_float_matches_python_repr() {
        assert_eq!(py_float(-4.0), "-4.0");
        assert_eq!(py_float(57.5), "57.5");
        assert_eq!(py_float(500.0), "500.0");
        assert_eq!(py_float(1e-5), "1e-05");
    }

    #[test]
    fn bad_values_are_all_reported() {
        let mut q = QueryParams::parse(Some("limit=500&skip=-1&lat=x"));
        assert_eq!(q.int("limit", Some(1), Some(100)), None);
        assert_eq!(q.int("skip", Some(0), None), None);
        assert_eq!(q.float("lat", None, None), None);
        let Err(ApiError::Validation(items)) = q.finish() else { panic!("expected 422") };
        let kinds: Vec<_> = items.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["less_than_equal", "greater_than_equal", "float_parsing"]);
    }

    #[test]
    fn integers_are_read_as_pydantic_reads_them() {
        for (raw, want) in [
            ("10", Some(10)),
            (" +7 ", Some(7)),
            ("1_0", Some(10)),
            ("-1_000", Some(-1000)),
            ("5.0", Some(5)),
            ("5.", Some(5)),
            ("007", Some(7)),
            ("9223372036854775808", Some(9_223_372_036_854_775_808)),
            ("-99999999999999999999", Some(-99_999_999_999_999_999_999)),
            (&"9".repeat(60), Some(i128::MAX)),
            ("1e0", None),
            ("1e3", None),
            ("5.5", None),
            ("_1", None),
            ("1_", None),
            ("1__0", None),
            ("", None),
            ("-", None),
            (".0", None),
            ("0x10", None),
        ] {
            assert_eq!(parse_int(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn floats_are_read_as_pydantic_reads_them() {
        assert_eq!(parse_float("1_000.5"), Some(1000.5));
        assert!(parse_float("nan").is_some_and(f64::is_nan) && parse_float("-inf") == Some(f64::NEG_INFINITY));
        assert_eq!(parse_float("1__0"), None);
        let mut q = QueryParams::parse(Some("max_km=nan&lat=inf"));
        assert_eq!((q.float("max_km", Some(0.0), None), q.float("lat", None, None)), (None, None));
        let Err(ApiError::Validation(items)) = q.finish() else { panic!("expected 422") };
        assert_eq!((items[0].kind, &items[0].ctx), ("greater_than_equal", &Some(json!({ "ge": 0.0 }))));
        assert_eq!(items[1].kind, "finite_number");
    }
}
