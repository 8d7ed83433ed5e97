//! JSON request bodies read field by field, with FastAPI/pydantic-compatible 422 errors.
//!
//! Like [`super::params::QueryParams`], each getter records a [`FieldError`] (at
//! `["body", field]`) instead of failing, so one response lists every bad field. A field that
//! is absent or `null` reads as `None`; [`JsonBody::require`] makes absence an error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use chrono::{NaiveDate, NaiveTime};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};

/// The raw body of a JSON write, read as FastAPI reads one: a body sent with a `Content-Type`
/// that is not JSON (`application/json`, `application/*+json`) is a 422, as is a body over
/// the limit a 413 in the contract's shape. A body without a `Content-Type` is taken as JSON,
/// as FastAPI takes it.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?").to_owned());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge("Request body too large")
            } else {
                ApiError::BadRequest(format!("Failed to read the request body: {}", e.body_text()))
            }
        })?;
        if !bytes.iter().all(u8::is_ascii_whitespace) && content_type.is_some_and(|ct| !is_json(&ct)) {
            return Err(ApiError::Validation(vec![FieldError {
                kind: "model_attributes_type",
                loc: vec!["body".into()],
                msg: "Input should be a valid dictionary or object to extract fields from".into(),
                input: json!(String::from_utf8_lossy(&bytes)),
                ctx: None,
            }]));
        }
        Ok(JsonBytes(bytes))
    }
}

/// `application/json` or `application/<anything>+json`, parameters ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.strip_prefix("application/").is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

pub struct JsonBody {
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl JsonBody {
    /// Parse `bytes` as a JSON object; anything else is a 422 at once.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::Validation(vec![FieldError {
                kind: "json_invalid",
                loc: vec!["body".into()],
                msg: "JSON decode error".into(),
                input: json!({}),
                ctx: Some(json!({ "error": e.to_string() })),
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

    /// An integer (an integral float such as `5.0` too) within `min..=max`.
    pub fn int(&mut self, name: &str, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let v = self.value(name)?.clone();
        let n = v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64));
        let Some(n) = n else {
            self.error("int_type", name, "Input should be a valid integer", v);
            return None;
        };
        if let Some(m) = min.filter(|m| n < *m) {
            let msg = format!("Input should be greater than or equal to {m}");
            self.errors.push(FieldError::new("greater_than_equal", "body", name, msg, v).with_ctx(json!({ "ge": m })));
            return None;
        }
        if let Some(m) = max.filter(|m| n > *m) {
            let msg = format!("Input should be less than or equal to {m}");
            self.errors.push(FieldError::new("less_than_equal", "body", name, msg, v).with_ctx(json!({ "le": m })));
            return None;
        }
        Some(n)
    }

    /// A `YYYY-MM-DD` date of the years 1 to 9999, as pydantic reads one: `+10000-01-01` and
    /// `0000-01-01` are 422s, not rows that sort before every real date.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let v = self.value(name)?.clone();
        match v.as_str().and_then(parse_date) {
            Some(d) => Some(d),
            None => {
                self.error(
                    "date_from_datetime_parsing",
                    name,
                    "Input should be a valid date in the format YYYY-MM-DD",
                    v,
                );
                None
            }
        }
    }

    /// A time in the forms pydantic accepts: `HH:MM`, `HH:MM:SS`, `HH:MM:SS.ffffff`, each with
    /// an optional `Z` or `±HH:MM` offset. The legacy column holds whole seconds of the
    /// walker's local time, so a fraction is dropped and an offset is not applied; `23:59:60`
    /// is a 422, as in Python.
    pub fn time(&mut self, name: &str) -> Option<NaiveTime> {
        let v = self.value(name)?.clone();
        match v.as_str().and_then(parse_time) {
            Some(t) => Some(t),
            None => {
                self.error("time_parsing", name, "Input should be in a valid time format, HH:MM or HH:MM:SS", v);
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

/// `YYYY-MM-DD`, exactly four year digits, year 1 or later.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !shaped || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let year = i32::try_from(n(0..4)?).ok().filter(|y| *y >= 1)?;
    NaiveDate::from_ymd_opt(year, n(5..7)?, n(8..10)?)
}

/// `HH:MM[:SS[.f{1,6}]][Z|±HH[:]MM]`, to whole seconds.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let (clock, _offset) = split_offset(s)?;
    let (clock, fraction) = clock.split_once('.').map_or((clock, None), |(c, f)| (c, Some(f)));
    if fraction.is_some_and(|f| f.is_empty() || f.len() > 6 || !f.bytes().all(|d| d.is_ascii_digit())) {
        return None;
    }
    let mut parts = clock.split(':');
    let mut field = |max: u32| {
        parts
            .next()
            .filter(|p| p.len() == 2 && p.bytes().all(|d| d.is_ascii_digit()))?
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= max)
    };
    let (hour, minute) = (field(23)?, field(59)?);
    let second = match clock.matches(':').count() {
        1 if fraction.is_none() => 0,
        2 => field(59)?,
        _ => return None,
    };
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// Split a trailing `Z` or a valid `±HH:MM` / `±HHMM` offset off a time.
fn split_offset(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(clock) = s.strip_suffix(['Z', 'z']) {
        return Some((clock, Some("Z")));
    }
    let Some(at) = s.rfind(['+', '-']) else { return Some((s, None)) };
    let (clock, offset) = s.split_at(at);
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let valid = digits.len() == 4
        && digits.bytes().all(|d| d.is_ascii_digit())
        && digits[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && digits[2..].parse::<u32>().is_ok_and(|m| m < 60);
    valid.then_some((clock, Some(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_pydantic_reads_them() {
        assert_eq!(parse_date("2026-11-20"), NaiveDate::from_ymd_opt(2026, 11, 20));
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for bad in ["+10000-01-01", "0000-01-01", "2026-02-30", "2026-1-01", "20261101", " 2026-11-20", "-001-01-01"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_read_as_pydantic_reads_them() {
        let t = |h, m, s| NaiveTime::from_hms_opt(h, m, s);
        for (text, want) in [
            ("10:15", t(10, 15, 0)),
            ("10:15:07", t(10, 15, 7)),
            ("10:15:00Z", t(10, 15, 0)),
            ("10:15:00.5", t(10, 15, 0)),
            ("10:15:00.123456+01:00", t(10, 15, 0)),
            ("23:59:59-0530", t(23, 59, 59)),
        ] {
            assert_eq!(parse_time(text), want, "{text}");
        }
        for bad in
            ["23:59:60", "24:00", "10:60", "10:15:00.", "10:15:00.1234567", "1:15", "10:15.5", "10:15:00+25:00", ""]
        {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
