//! Caller identity extractors.
//!
//! [`MaybeAuthUser`] is the optional-auth extractor used by `GET /v1/trigs` (`exclude_found`).
//! Bearer validation (RS256/JWKS and HS256) arrives with the authentication work; until then every
//! caller resolves to anonymous, which the contract allows for optional-auth routes. Handlers
//! already take the extractor, so plugging validation in changes no handler.
//!
//! [`Admin`] guards the cache admin endpoints.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller mapped to a database user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i32,
    pub scopes: Vec<String>,
}

/// `Some` for a caller with a valid bearer token, `None` for anonymous callers.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuthUser(None))
    }
}

/// A caller allowed to use the admin endpoints (scope `api:admin`).
///
/// Until bearer JWTs are validated, the admin scope is granted by one configured token
/// (`ADMIN_TOKEN`); this extractor is the only place that decides, so the JWT scope check
/// replaces its body and nothing else. No token configured: every caller is refused.
#[derive(Debug, Clone)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized("Not authenticated"))?;
        let expected = app.config.admin_token.as_bytes();
        if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected) {
            return Err(ApiError::Unauthorized("Could not validate credentials"));
        }
        Ok(Admin)
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
