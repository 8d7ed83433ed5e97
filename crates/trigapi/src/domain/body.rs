//! JSON request bodies read field by field, with FastAPI/pydantic-compatible 422 errors.
//!
//! Like [`super::params::QueryParams`], each getter records a [`FieldError`] (at
//! `["body", field]`) instead of failing, so one response lists every bad field. A field that
//! is absent or `null` reads as `None`; [`JsonBody::require`] makes absence an error.

use chrono::{NaiveDate, NaiveTime};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};

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

    /// A `YYYY-MM-DD` date.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let v = self.value(name)?.clone();
        match v.as_str().and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()) {
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

    /// An `HH:MM` or `HH:MM:SS` time.
    pub fn time(&mut self, name: &str) -> Option<NaiveTime> {
        let v = self.value(name)?.clone();
        let parsed = v.as_str().and_then(|s| {
            let s = s.trim();
            NaiveTime::parse_from_str(s, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(s, "%H:%M")).ok()
        });
        match parsed {
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
