//! JSON request bodies read field by field, with FastAPI/pydantic-compatible 422 errors.
//!
//! Like [`super::params::QueryParams`], each getter records a [`FieldError`] (at
//! `["body", field]`) instead of failing, so one response lists every bad field. A field that
//! is absent or `null` reads as `None`; [`JsonBody::require`] makes absence an error.

use chrono::{Datelike, NaiveDate, NaiveTime};
use serde_json::{Map, Value, json};

use super::params::{bound_error, parse_int, saturate};
use crate::error::{ApiError, FieldError};

/// `application/json` or `application/<anything>+json`, parameters ignored.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.strip_prefix("application/").is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

pub struct JsonBody {
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl JsonBody {
    /// Parse `bytes` as a JSON object; anything else is a 422 at once, as FastAPI answers it:
    /// no body is a missing body, text that is not UTF-8 a 400, and text that is not JSON a
    /// `json_invalid` at `["body", offset]` with Python's message for what went wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.is_empty() {
            return Err(ApiError::Validation(vec![FieldError {
                kind: "missing",
                loc: vec!["body".into()],
                msg: "Field required".into(),
                input: Value::Null,
                ctx: None,
            }]));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ApiError::BadRequest("There was an error parsing the body".into()))?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let (offset, error) = python_json_error(text, &e);
            ApiError::Validation(vec![FieldError {
                kind: "json_invalid",
                loc: vec!["body".into(), offset.into()],
                msg: "JSON decode error".into(),
                input: json!({}),
                ctx: Some(json!({ "error": error })),
            }])
        })?;
        match value {
            Value::Object(fields) => Ok(Self { fields, errors: Vec::new() }),
            other => Err(ApiError::Validation(vec![FieldError {
                kind: "model_attributes_type",
                loc: vec!["body".into()],
                msg: "Input should be a valid dictionary or object to extract fields from".into(),
                input: other,
                ctx: None,
            }])),
        }
    }

    /// Fields read from elsewhere than JSON (a multipart form's text fields, as strings).
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        Self { fields, errors: Vec::new() }
    }

    /// Record `missing` for a field kept apart from the others (a form's file).
    pub fn missing(&mut self, name: &str) {
        let input = Value::Object(self.fields.clone());
        self.error("missing", name, "Field required", input);
    }

    fn value(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    fn error(&mut self, kind: &'static str, name: &str, msg: impl Into<String>, input: Value) {
        self.errors.push(FieldError::new(kind, "body", name, msg, input));
    }

    /// Record `missing` for each of `names` the body lacks (or sends as `null`).
    pub fn require(&mut self, names: &[&str]) {
        for name in names {
            if self.value(name).is_none() {
                self.missing(name);
            }
        }
    }

    /// A string of `min..=max` characters.
    pub fn string(&mut self, name: &str, min: usize, max: Option<usize>) -> Option<String> {
        let v = self.value(name)?.clone();
        let Some(s) = v.as_str() else {
            self.error("string_type", name, "Input should be a valid string", v);
            return None;
        };
        let len = s.chars().count();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if len < min {
            let msg = format!("String should have at least {min} character{}", plural(min));
            self.errors.push(
                FieldError::new("string_too_short", "body", name, msg, v.clone())
                    .with_ctx(json!({ "min_length": min })),
            );
            return None;
        }
        if let Some(max) = max.filter(|m| len > *m) {
            let msg = format!("String should have at most {max} character{}", plural(max));
            self.errors.push(
                FieldError::new("string_too_long", "body", name, msg, v.clone()).with_ctx(json!({ "max_length": max })),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// A one-character string out of `set` (pydantic's pattern `^[{set}]$`).
    pub fn letter(&mut self, name: &str, set: &str) -> Option<String> {
        let v = self.value(name)?.clone();
        let Some(s) = v.as_str() else {
            self.error("string_type", name, "Input should be a valid string", v);
            return None;
        };
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if set.contains(c) => Some(s.to_owned()),
            _ => {
                let pattern = format!("^[{set}]$");
                let msg = format!("String should match pattern '{pattern}'");
                self.errors.push(
                    FieldError::new("string_pattern_mismatch", "body", name, msg, v)
                        .with_ctx(json!({ "pattern": pattern })),
                );
                None
            }
        }
    }

    /// An integer within `min..=max`, read as pydantic reads one in lax mode: a JSON integer,
    /// an integral float (`5.0`), or a string that [`parse_int`] reads. A boolean is not one
    /// here (pydantic's lax mode takes `true` as 1; the documented type is an integer).
    pub fn int(&mut self, name: &str, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let v = self.value(name)?.clone();
        let n = match &v {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(i),
                // `as` saturates: a float beyond 64 bits is past any bound.
                (None, Some(f)) if f.fract() == 0.0 => Ok(f as i64),
                _ => Err(("int_from_float", "Input should be a valid integer, got a number with a fractional part")),
            },
            Value::String(s) => parse_int(s)
                .map(saturate)
                .ok_or(("int_parsing", "Input should be a valid integer, unable to parse string as an integer")),
            _ => Err(("int_type", "Input should be a valid integer")),
        };
        match n {
            Ok(n) => match bound_error("body", name, i128::from(n), min.map(i128::from), max.map(i128::from), v) {
                Some(e) => {
                    self.errors.push(e);
                    None
                }
                None => Some(n),
            },
            Err((kind, msg)) => {
                self.error(kind, name, msg, v);
                None
            }
        }
    }

    /// A date, read as pydantic reads one: `YYYY-MM-DD` (years 1 to 9999), or a datetime at
    /// exactly midnight. What fails says why in speedate's words, pydantic's parser
    /// (`month value is outside expected range of 1-12`), in `msg` and `ctx.error`.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let v = self.value(name)?.clone();
        let Some(text) = v.as_str() else {
            self.error("date_type", name, "Input should be a valid date", v);
            return None;
        };
        match read_date(text) {
            Ok(d) => Some(d),
            Err(DateError::Inexact) => {
                let msg = "Datetimes provided to dates should have zero time - e.g. be exact dates";
                self.error("date_from_datetime_inexact", name, msg, v);
                None
            }
            Err(DateError::Parsing(error)) => {
                let msg = format!("Input should be a valid date or datetime, {error}");
                self.errors.push(
                    FieldError::new("date_from_datetime_parsing", "body", name, msg, v)
                        .with_ctx(json!({ "error": error })),
                );
                None
            }
        }
    }

    /// A time, read as pydantic reads one: `HH:MM[:SS[.ffffff]]` with an optional `Z` or
    /// `±HH:MM`. The legacy column holds whole seconds of the walker's local time, so a
    /// fraction is dropped and an offset is not applied; `23:59:60` is a 422, as in Python.
    pub fn time(&mut self, name: &str) -> Option<NaiveTime> {
        let v = self.value(name)?.clone();
        let Some(text) = v.as_str() else {
            self.error("time_type", name, "Input should be a valid time", v);
            return None;
        };
        match read_time(text) {
            Ok(t) => Some(t),
            Err(error) => {
                let msg = format!("Input should be in a valid time format, {error}");
                self.errors
                    .push(FieldError::new("time_parsing", "body", name, msg, v).with_ctx(json!({ "error": error })));
                None
            }
        }
    }

    /// One of `allowed` (exact), else a `value_error` naming them.
    pub fn one_of(&mut self, name: &str, value: Option<String>, allowed: &[&str]) -> Option<String> {
        let value = value?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            let msg = format!("Value error, {name} must be one of {}", allowed.join(", "));
            self.error("value_error", name, msg, json!(value));
            None
        }
    }

    /// `value` when `rule` accepts it, else a `value_error` "{name} {reason}".
    pub fn check<T>(&mut self, name: &str, value: Option<T>, rule: impl FnOnce(&T) -> Result<(), &str>) -> Option<T>
    where
        T: serde::Serialize,
    {
        let value = value?;
        match rule(&value) {
            Ok(()) => Some(value),
            Err(reason) => {
                let msg = format!("Value error, {name} {reason}");
                self.error("value_error", name, msg, json!(value));
                None
            }
        }
    }

    /// The fields read when every getter succeeded, else the 422 listing all failures.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

/// Where Python's `json` module stops on `text` (a character offset) and what it says, from
/// serde_json's account of the same error.
fn python_json_error(text: &str, e: &serde_json::Error) -> (usize, &'static str) {
    use serde_json::error::Category;
    let chars = text.chars().count();
    if e.classify() == Category::Eof {
        let before = text.trim_end().chars().last();
        let error = match e.to_string() {
            m if m.starts_with("EOF while parsing a string") => "Unterminated string starting at",
            m if m.starts_with("EOF while parsing an object") && !matches!(before, Some('{' | ',')) => {
                "Expecting ',' delimiter"
            }
            m if m.starts_with("EOF while parsing an object") => "Expecting property name enclosed in double quotes",
            m if m.starts_with("EOF while parsing a list") && !matches!(before, Some('[' | ',')) => {
                "Expecting ',' delimiter"
            }
            _ => "Expecting value",
        };
        return (chars, error);
    }
    // serde_json counts lines from 1 and bytes within a line from 1, at the offending byte.
    let line_start: usize = text.split_inclusive('\n').take(e.line().saturating_sub(1)).map(str::len).sum();
    let mut at = (line_start + e.column().saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let message = e.to_string();
    if message.starts_with("expected ident") {
        // serde_json stops inside a word it took for `null`, `true` or `false`; Python, at
        // the word's start.
        at -= text[..at].bytes().rev().take_while(u8::is_ascii_alphabetic).count();
    }
    let error = [
        ("trailing characters", "Extra data"),
        ("key must be a string", "Expecting property name enclosed in double quotes"),
        ("trailing comma", "Expecting value"),
        ("expected `:`", "Expecting ':' delimiter"),
        ("expected `,`", "Expecting ',' delimiter"),
        ("control character", "Invalid control character at"),
        ("invalid escape", "Invalid \\escape"),
    ]
    .into_iter()
    .find_map(|(serde, python)| message.starts_with(serde).then_some(python))
    .unwrap_or("Expecting value");
    (text[..at].chars().count(), error)
}

/// Why a text is not a date.
#[derive(Debug, PartialEq)]
enum DateError {
    /// A datetime, but not at midnight.
    Inexact,
    /// Neither a date nor a datetime, in speedate's words.
    Parsing(&'static str),
}

/// pydantic's configuration: fractions of a second beyond six digits are cut, not refused.
fn time_config() -> speedate::TimeConfig {
    speedate::TimeConfig::builder()
        .microseconds_precision_overflow_behavior(speedate::MicrosecondsPrecisionOverflowBehavior::Truncate)
        .build()
}

/// A date as pydantic-core reads text for one: as a date, else as a datetime at midnight; a
/// text neither reads as is reported with the datetime parser's error.
fn read_date(text: &str) -> Result<NaiveDate, DateError> {
    let date = match speedate::Date::parse_str(text) {
        Ok(date) => date,
        Err(_) => {
            let config = speedate::DateTimeConfig::builder().time_config(time_config()).build();
            let at =
                speedate::DateTime::parse_str_with_config(text, &config).map_err(|e| DateError::Parsing(words(&e)))?;
            let t = &at.time;
            if (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0) {
                return Err(DateError::Inexact);
            }
            at.date
        }
    };
    // Python has no year 0 (speedate reads one).
    NaiveDate::from_ymd_opt(i32::from(date.year), u32::from(date.month), u32::from(date.day))
        .filter(|d| d.year() >= 1)
        .ok_or(DateError::Parsing("year 0 is out of range"))
}

/// A time to the second, as pydantic-core reads text for one.
fn read_time(text: &str) -> Result<NaiveTime, &'static str> {
    let t = speedate::Time::parse_bytes_with_config(text.as_bytes(), &time_config()).map_err(|e| words(&e))?;
    NaiveTime::from_hms_opt(u32::from(t.hour), u32::from(t.minute), u32::from(t.second))
        .ok_or("second value is outside expected range of 0-59")
}

/// speedate's documented sentence for an error, which pydantic puts in its messages.
fn words(e: &speedate::ParseError) -> &'static str {
    use strum::EnumMessage;
    e.get_documentation().unwrap_or("invalid input")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_pydantic_reads_them() {
        let day = |y, m, d| Ok(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default());
        assert_eq!(read_date("2026-11-20"), day(2026, 11, 20));
        assert_eq!(read_date("0001-01-01"), day(1, 1, 1));
        assert_eq!(read_date("2026-11-20T00:00:00Z"), day(2026, 11, 20));
        assert_eq!(read_date("2026-11-20T10:00"), Err(DateError::Inexact));
        for (bad, why) in [
            ("2020-13-45", "month value is outside expected range of 1-12"),
            ("2026-02-30", "day value is outside expected range"),
            ("+10000-01-01", "invalid character in year"),
            ("0000-01-01", "year 0 is out of range"),
            ("2026-1-01", "input is too short"),
            ("2026-1x-01", "invalid character in month"),
            ("2026-11-20x", "invalid datetime separator, expected `T`, `t`, `_` or space"),
            ("nope", "input is too short"),
        ] {
            assert_eq!(read_date(bad), Err(DateError::Parsing(why)), "{bad}");
        }
    }

    #[test]
    fn times_are_read_as_pydantic_reads_them() {
        let t = |h, m, s| Ok(NaiveTime::from_hms_opt(h, m, s).unwrap_or_default());
        for (text, want) in [
            ("10:15", t(10, 15, 0)),
            ("10:15:07", t(10, 15, 7)),
            ("10:15:00Z", t(10, 15, 0)),
            ("10:15:00.5", t(10, 15, 0)),
            ("10:15:00.1234567", t(10, 15, 0)),
            ("10:15:00.123456+01:00", t(10, 15, 0)),
        ] {
            assert_eq!(read_time(text), want, "{text}");
        }
        for bad in ["23:59:60", "24:00", "10:60", "10:15:00.", "1:15", "10:15:00+25:00", ""] {
            assert!(read_time(bad).is_err(), "{bad}");
        }
        assert_eq!(read_time("23:59:60"), Err("second value is outside expected range of 0-59"));
    }
}
