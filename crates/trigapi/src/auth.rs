//! Caller identity extractors.
//!
//! [`MaybeAuthUser`] is the optional-auth extractor used by `GET /v1/trigs` (`exclude_found`).
//! Bearer validation (RS256/JWKS and HS256) arrives with the authentication work; until then every
//! caller resolves to anonymous, which the contract allows for optional-auth routes. Handlers
//! already take the extractor, so plugging validation in changes no handler.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

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
