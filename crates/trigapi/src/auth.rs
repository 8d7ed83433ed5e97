//! Callers: bearer tokens and the extractors handlers use.
//!
//! Tokens are JWTs signed with HS256 and the configured secret (`JWT_HS256_SECRET`), the
//! self-hosted/development mode of the contract; `trigapi token` mints them. `sub` is a numeric
//! user id; scopes are the union of the space-separated `scope` claim and the `permissions`
//! array. Production RS256/JWKS validation plugs in behind [`validate`].
//!
//! * [`MaybeAuthUser`]: optional auth (`GET /v1/trigs` with `exclude_found`): any failure is
//!   anonymous, as the contract says for optional-auth routes.
//! * [`Admin`]: the `api:admin` scope, or the configured `ADMIN_TOKEN`; the only place the admin
//!   endpoints' access is decided.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// The scope of the cache admin endpoints.
pub const ADMIN_SCOPE: &str = "api:admin";

/// An authenticated caller mapped to a database user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i32,
    pub scopes: Vec<String>,
}

impl AuthUser {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permissions: Vec<String>,
}

/// Why a bearer token was refused (all answer 401 `Could not validate credentials`).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token secret is configured")]
    NotConfigured,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the subject is not a user id")]
    Subject,
}

/// Validate a bearer token: HS256 only (so `alg: none` and RS/HS confusion are refused),
/// signature, expiry (no leeway), and a numeric `sub`.
pub fn validate(token: &str, secret: &str) -> Result<AuthUser, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::NotConfigured);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)?;
    let claims = data.claims;
    let user_id = claims.sub.parse().map_err(|_| TokenError::Subject)?;
    let mut scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_owned).collect();
    for p in claims.permissions {
        if !scopes.contains(&p) {
            scopes.push(p);
        }
    }
    Ok(AuthUser { user_id, scopes })
}

/// Mint an HS256 token for `user_id` with `scopes`, valid for `ttl` (what `trigapi token` prints).
pub fn mint(secret: &str, user_id: i32, scopes: &[String], ttl: Duration) -> Result<String, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::NotConfigured);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let claims = Claims {
        sub: user_id.to_string(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        scope: scopes.join(" "),
        permissions: vec![],
    };
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

/// `Some` for a caller with a valid bearer token, `None` for anonymous callers.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let user = bearer(parts).and_then(|t| validate(t, &app.config.jwt_hs256_secret).ok());
        Ok(MaybeAuthUser(user))
    }
}

/// A caller allowed to use the admin endpoints (scope `api:admin`, or the `ADMIN_TOKEN`).
#[derive(Debug, Clone)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized("Not authenticated"))?;
        let admin_token = app.config.admin_token.as_bytes();
        if !admin_token.is_empty() && constant_time_eq(token.as_bytes(), admin_token) {
            return Ok(Admin);
        }
        let user = validate(token, &app.config.jwt_hs256_secret)
            .map_err(|_| ApiError::Unauthorized("Could not validate credentials"))?;
        if user.has_scope(ADMIN_SCOPE) {
            Ok(Admin)
        } else {
            Err(ApiError::Forbidden("Missing required scope: api:admin"))
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Compare secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `90s`, `30m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_ttl(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = raw.find(|c: char| !c.is_ascii_digit()).map_or((raw, ""), |i| raw.split_at(i));
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_validate_and_carry_scopes() {
        let t = mint("s3cret", 5, &["api:write".into(), "api:admin".into()], Duration::from_secs(60)).expect("mint");
        let u = validate(&t, "s3cret").expect("valid");
        assert_eq!(u.user_id, 5);
        assert!(u.has_scope("api:admin") && u.has_scope("api:write"));
        assert!(validate(&t, "other").is_err(), "wrong secret");
        assert!(validate(&t, "").is_err(), "no secret configured");
    }

    #[test]
    fn unsigned_and_expired_tokens_are_refused() {
        // {"alg":"none"} . {"sub":"1","exp":9999999999} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(validate(none, "s3cret").is_err());
        let claims = Claims { sub: "1".into(), exp: 1, iat: None, scope: String::new(), permissions: vec![] };
        let expired =
            jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).expect("encode");
        assert!(validate(&expired, "s3cret").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_ttl("0s"), None);
        assert_eq!(parse_ttl("1w"), None);
        assert_eq!(parse_ttl("h"), None);
    }
}
