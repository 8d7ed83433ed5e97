//! Extractors: what a handler needs from a request, read and checked before it runs, each
//! refusing in the contract's format.
//!
//! * Callers: [`AuthUser`] (a valid token mapped to a database user, 401 otherwise),
//!   [`Writer`] (an [`AuthUser`] with `api:write`, 403 otherwise), [`MaybeAuthUser`] (no token
//!   is anonymous; a token that does not verify is a 401, never quietly anonymous) and
//!   [`Admin`] (`api:admin`, or the configured `ADMIN_TOKEN`).
//! * Path ids: [`TrigId`], [`UserId`], [`LogId`], [`PhotoId`]: read as pydantic reads an `int`
//!   (a 422 at `["path", "trig_id"]` otherwise); [`PathId::row`] is the row it names or the
//!   contract's 404.
//! * [`ClientIp`]: the caller's address, believing forwarding headers only from trusted proxies.
//! * [`CacheRequest`]: what the request asks of the cache.
//! * [`JsonBytes`]: the raw body of a JSON write.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::json;
use trigapi_cache::RequestView;

use crate::auth::{ADMIN_SCOPE, AuthUser, WRITE_SCOPE, bearer, constant_time_eq};
use crate::domain::body::is_json;
use crate::domain::params::{as_row_id, filter_id, path_int};
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// The caller of a request with a bearer token, its user looked up anew when `fresh`.
async fn caller(parts: &Parts, app: &AppState, fresh: bool) -> Result<AuthUser, ApiError> {
    let token = bearer(parts).ok_or(ApiError::Unauthorized("Not authenticated"))?;
    let verified = app.auth.verify(token).await.map_err(|e| {
        tracing::debug!(error = %e, "bearer token refused");
        ApiError::Unauthorized("Could not validate credentials")
    })?;
    app.auth.user(&app.db, verified, fresh).await?.ok_or(ApiError::Unauthorized("Could not validate credentials"))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        caller(parts, app, false).await
    }
}

/// A caller allowed to write: an [`AuthUser`] holding `api:write`, its user looked up in the
/// database on every write (a write that records the caller checks again in its transaction).
#[derive(Debug, Clone)]
pub struct Writer(pub AuthUser);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let user = caller(parts, app, true).await?;
        if user.has_scope(WRITE_SCOPE) {
            Ok(Writer(user))
        } else {
            Err(ApiError::Forbidden("Missing required scope: api:write"))
        }
    }
}

/// `Some` for a caller with a valid bearer token, `None` for anonymous callers.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.get(axum::http::header::AUTHORIZATION).is_none() {
            return Ok(MaybeAuthUser(None));
        }
        Ok(MaybeAuthUser(Some(AuthUser::from_request_parts(parts, app).await?)))
    }
}

/// A caller allowed to use the admin endpoints: a user whose token holds `api:admin` (a token
/// whose subject is no user is a 401, as for writes), or the configured `ADMIN_TOKEN` (the
/// service credential, for scripts).
#[derive(Debug, Clone)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized("Not authenticated"))?;
        if let Some(admin_token) = &app.config.auth.admin_token
            && constant_time_eq(token.as_bytes(), admin_token.expose().as_bytes())
        {
            return Ok(Admin);
        }
        let user = caller(parts, app, true).await?;
        if user.has_scope(ADMIN_SCOPE) {
            Ok(Admin)
        } else {
            Err(ApiError::Forbidden("Missing required scope: api:admin"))
        }
    }
}

/// The socket peer of a request (absent when the router runs without `ConnectInfo`, in tests).
pub(crate) fn peer(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The caller's address, cut to the 15 characters the legacy `ip_addr` columns hold.
///
/// The socket peer, unless the peer is one of `TRUSTED_PROXIES`: then what that proxy says,
/// as the original reads it (`CF-Connecting-IP`, else `X-Forwarded-For`, else `X-Real-IP`).
/// `X-Forwarded-For` is read from the right, skipping the trusted hops: the left end is
/// whatever the client wrote. Anyone else's forwarding headers are ignored.
pub(crate) struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let trusted = |ip: IpAddr| app.trusts(ip);
        let header =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        let forwarded = || {
            let hops = header("x-forwarded-for")?.rsplit(',').map(str::trim);
            hops.filter_map(|hop| hop.parse::<IpAddr>().ok()).find(|ip| !trusted(*ip)).map(|ip| ip.to_string())
        };
        let ip = match peer(parts) {
            Some(peer) if trusted(peer) => header("cf-connecting-ip")
                .map(str::to_owned)
                .or_else(forwarded)
                .or_else(|| header("x-real-ip").map(str::to_owned))
                .unwrap_or_else(|| peer.to_string()),
            Some(peer) => peer.to_string(),
            None => String::new(),
        };
        Ok(ClientIp(ip.chars().take(15).collect()))
    }
}

/// What a path id names: its parameter's name and the 404 of a row that is not there.
pub trait IdKind {
    /// The path parameter (`trig_id`).
    const PARAM: &'static str;
    /// The `detail` of the 404 (`Trigpoint not found`).
    const NOT_FOUND: &'static str;
}

/// An id from the path, as given (a number beyond 64 bits held at the `i64` end: it names no
/// row). Extracting it answers the contract's 422 for text that is not an integer.
pub struct PathId<R> {
    id: i64,
    resource: PhantomData<R>,
}

impl<R> Clone for PathId<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for PathId<R> {}

impl<R: IdKind> PathId<R> {
    /// The id as the request gave it (for cache keys and links).
    pub fn get(&self) -> i64 {
        self.id
    }

    /// The row it names, or the contract's 404 for an id no row can have.
    pub fn row(&self) -> Result<i32, ApiError> {
        as_row_id(self.id).ok_or_else(Self::not_found)
    }

    /// The id as a list filter: one no row can have matches nothing (an empty list).
    pub fn filter(&self) -> i32 {
        filter_id(self.id)
    }

    /// The contract's 404 for this kind of row.
    pub fn not_found() -> ApiError {
        ApiError::not_found(R::NOT_FOUND)
    }
}

impl<R: IdKind, S: Send + Sync> FromRequestParts<S> for PathId<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A segment that is not UTF-8 is the client's 400; a route without parameters is ours.
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|e| {
            if e.status().is_client_error() {
                ApiError::BadRequest(e.body_text())
            } else {
                ApiError::Internal("a path id outside a route with parameters")
            }
        })?;
        let raw = params
            .iter()
            .find_map(|(name, value)| (name == R::PARAM).then_some(value))
            .ok_or(ApiError::Internal("a path id the route does not name"))?;
        Ok(Self { id: path_int(R::PARAM, raw)?, resource: PhantomData })
    }
}

macro_rules! resources {
    ($($(#[$doc:meta])* $alias:ident = $kind:ident($param:literal, $missing:literal);)*) => {$(
        #[doc(hidden)]
        pub enum $kind {}

        impl IdKind for $kind {
            const PARAM: &'static str = $param;
            const NOT_FOUND: &'static str = $missing;
        }

        $(#[$doc])*
        pub type $alias = PathId<$kind>;
    )*};
}

resources! {
    /// `{trig_id}`.
    TrigId = Trig("trig_id", "Trigpoint not found");
    /// `{user_id}`.
    UserId = User("user_id", "User not found");
    /// `{log_id}`.
    LogId = Log("log_id", "Log not found");
    /// `{photo_id}`.
    PhotoId = Photo("photo_id", "Photo not found");
}

/// What the request asks of the cache (`Cache-Control: no-cache`, `If-None-Match`,
/// `Accept-Encoding`), read from its headers without copying them, and its target, under
/// which the front door learns the entry (every cached endpoint's key is a function of the
/// path and query, and of the caller, whose requests never use the door).
pub struct CacheRequest(RequestView);

impl<S: Send + Sync> FromRequestParts<S> for CacheRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut view = RequestView::of(parts);
        if let Some(explain) = parts.extensions.get::<crate::cache::Explain>() {
            view = view.explaining(std::sync::Arc::clone(&explain.0));
        }
        if parts.extensions.get::<crate::warm::Warming>().is_some() {
            view = view.unrecorded();
        }
        Ok(CacheRequest(view))
    }
}

/// Handlers pass `&request` where the cache wants the view.
impl std::ops::Deref for CacheRequest {
    type Target = RequestView;

    fn deref(&self) -> &RequestView {
        &self.0
    }
}

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
