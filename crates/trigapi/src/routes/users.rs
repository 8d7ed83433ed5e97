//! `/v1/users…`: the list, one user (with `stats`, `breakdown`), and a user's logs and photos.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::logs::scoped_log_page;
use super::photos::{PageParams, PhotoList, photo_page};
use super::scope::Scope;
use crate::auth::{AuthUser, READ_PII_SCOPE};
use crate::cache::{Cached, Resource, ttl};
use crate::db;
use crate::db::users::{AccountConflict, MeRow, ProfileConflict};
use crate::domain::body::JsonBody;
use crate::domain::include::{IncludeRules, IncludeSet};
use crate::domain::pagination::{Page, Paginated};
use crate::domain::params::QueryParams;
use crate::domain::profile::{ProfilePatch, email, user_name, visible_text};
use crate::error::ApiError;
use crate::invalidation::{self, Change, RowChange, UserRow, tag};
use crate::routes::extract::{CacheRequest, JsonBytes, UserId, Writer};
use crate::state::AppState;
use crate::wire::log::TLogListItem;
use crate::wire::photo::TPhotoListItem;
use crate::wire::user::UserWithIncludes;

pub(super) const USER_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["stats", "breakdown"], keep_empty: true, options_label: "" };
pub(super) const USER_LIST_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["stats"], keep_empty: true, options_label: " for user list" };

/// Users by id; `name` filters by substring (case-insensitive), `include=stats` adds counts.
#[utoipa::path(get, path = "/v1/users", tag = "users",
    params(("name" = Option<String>, Query, description = "Name contains"), ("include" = Option<String>, Query, description = "`stats`"), PageParams),
    responses((status = 200, body = Paginated<UserWithIncludes>), (status = 400, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let name = q.string("name");
    let include = IncludeSet::read(&mut q, USER_LIST_INCLUDES);
    let page = Page::from_query(&mut q);
    let key = q.finish()?;
    let include = include?;
    let mut cached = Cached::new(Resource::USERS_LIST, ttl::USERS_LIST).params(key);
    if include.has("stats") {
        cached = cached.tag(tag::USERS_STATS.to_owned());
    }
    cached
        .json(&app, &request, move |app| async move {
            let (limit, offset) = page.sql();
            let (rows, total) = db::users::list(&app.db, name.as_deref(), limit, offset).await?;
            let mut stats = if include.has("stats") {
                db::users::stats_for(&app.db, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?
            } else {
                Default::default()
            };
            let items = rows
                .into_iter()
                .map(|r| {
                    let s = stats.remove(&r.id);
                    UserWithIncludes { stats: s.map(Into::into), ..r.into() }
                })
                .collect();
            // `name` when Python finds it true: any non-empty text, blanks included.
            let mut params: Vec<(&str, String)> =
                name.filter(|n| !n.is_empty()).map(|n| ("name", n)).into_iter().collect();
            params.push(("limit", page.limit.to_string()));
            Ok(Paginated::new(items, total, page, "/v1/users", &params))
        })
        .await
}

/// One user; `include=stats,breakdown`.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path), ("include" = Option<String>, Query, description = "Comma list of `stats`, `breakdown`")),
    responses((status = 200, body = UserWithIncludes), (status = 404, body = crate::error::ErrorDetail),
              (status = 400, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn get_one(
    State(app): State<AppState>,
    user: UserId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = user.row()?;
    let mut q = QueryParams::parse(query.as_deref());
    let include = IncludeSet::read(&mut q, USER_INCLUDES);
    let key = q.finish()?;
    let mut cached = Cached::new(Resource::user(id.into()), ttl::USER).params(key).tag(tag::profile(id));
    if include.as_ref().is_ok_and(|i| i.has("stats") || i.has("breakdown")) {
        cached = cached.tag(tag::userstats(id));
    }
    cached
        .json(&app, &request, move |app| async move {
            let row = db::users::get(&app.db, id).await?.ok_or_else(UserId::not_found)?;
            let include = include?;
            let mut user = UserWithIncludes::from(row);
            if include.has("stats") {
                user.stats = db::users::stats_for(&app.db, &[id]).await?.remove(&id).map(Into::into);
            }
            if include.has("breakdown") {
                user.breakdown = Some(db::users::breakdown(&app.db, id).await?.into());
            }
            Ok(user)
        })
        .await
}

/// A user's logs, newest first; `include=photos` embeds photos (denormalised fields null).
#[utoipa::path(get, path = "/v1/users/{user_id}/logs", tag = "users",
    params(("user_id" = i64, Path), ("include" = Option<String>, Query, description = "`photos`"), PageParams),
    responses((status = 200, body = Paginated<TLogListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn logs(
    State(app): State<AppState>,
    user: UserId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    scoped_log_page(&app, &request, Scope::User(user), query.as_deref()).await
}

/// A user's photos, newest first (variant B with denormalised fields).
#[utoipa::path(get, path = "/v1/users/{user_id}/photos", tag = "users", params(("user_id" = i64, Path), PageParams),
    responses((status = 200, body = Paginated<TPhotoListItem>), (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn photos(
    State(app): State<AppState>,
    user: UserId,
    request: CacheRequest,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    photo_page(&app, &request, PhotoList::of(Scope::User(user)), query.as_deref()).await
}

pub(super) const ME_INCLUDES: IncludeRules =
    IncludeRules { allowed: &["stats", "breakdown", "prefs"], keep_empty: false, options_label: "" };

/// The caller's own profile with `auth0_user_id`, `roles` from the token and, with
/// `include=prefs`, their preferences and e-mail. Never cached.
#[utoipa::path(get, path = "/v1/users/me", tag = "users", security(("bearer" = [])),
    params(("include" = Option<String>, Query, description = "Comma list of `stats`, `breakdown`, `prefs`")),
    responses((status = 200, body = UserWithIncludes), (status = 401, body = crate::error::ErrorDetail),
              (status = 400, body = crate::error::ErrorDetail)))]
pub async fn me(
    State(app): State<AppState>,
    caller: AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<UserWithIncludes>, ApiError> {
    let mut q = QueryParams::parse(query.as_deref());
    let include = IncludeSet::read(&mut q, ME_INCLUDES);
    q.finish()?;
    let include = include?;
    let id = caller.user_id;
    let row = db::users::me(&app.db, id).await?.ok_or(ApiError::Unauthorized("Could not validate credentials"))?;
    let mut user = own_profile(row, include.has("prefs"));
    if include.has("stats") {
        user.stats = db::users::stats_for(&app.db, &[id]).await?.remove(&id).map(Into::into);
    }
    if include.has("breakdown") {
        user.breakdown = Some(db::users::breakdown(&app.db, id).await?.into());
    }
    // The roles claim: its strings, `[]` when absent, `null` when it is not a list.
    user.roles = match caller.roles {
        None => Some(Vec::new()),
        Some(serde_json::Value::Array(items)) => {
            Some(items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        }
        Some(_) => None,
    };
    Ok(Json(user))
}

/// Change the caller's profile: fields present are applied (`null` is ignored); changing the
/// e-mail needs `api:read-pii`. Answers the profile with `prefs`.
#[utoipa::path(patch, path = "/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body(content = crate::wire::bodies::ProfilePatch),
    responses((status = 200, body = UserWithIncludes), (status = 401, body = crate::error::ErrorDetail),
              (status = 403, body = crate::error::ErrorDetail), (status = 409, body = crate::error::ErrorDetail),
              (status = 422, body = crate::error::ValidationErrorBody)))]
pub async fn update_me(
    State(app): State<AppState>,
    Writer(caller): Writer,
    JsonBytes(body): JsonBytes,
) -> Result<Json<UserWithIncludes>, ApiError> {
    let mut body = JsonBody::parse(&body)?;
    let changes = ProfilePatch::read(&mut body);
    body.finish()?;
    if changes.email.is_some() && !caller.has_scope(READ_PII_SCOPE) {
        return Err(ApiError::Forbidden("Missing required scope: api:read-pii for email updates"));
    }
    let id = caller.user_id;
    let changed = match db::users::update_profile(&app.db, id, &changes).await? {
        Ok(Some(changed)) => changed,
        Ok(None) => return Err(ApiError::Unauthorized("Could not validate credentials")),
        Err(ProfileConflict::Name) => {
            return Err(ApiError::Conflict(format!(
                "Username '{}' is already taken",
                changes.name.unwrap_or_default()
            )));
        }
        Err(ProfileConflict::Email) => {
            return Err(ApiError::Conflict(format!("Email '{}' is already in use", changes.email.unwrap_or_default())));
        }
    };
    let (before, after) = (&changed.before.user.name, &changed.after.user.name);
    let change = Change::updated(UserRow { id, name: before.clone() }, UserRow { id, name: after.clone() });
    invalidation::after(&app.cache, &[RowChange::User(change)]).await;
    Ok(Json(own_profile(changed.after, true)))
}

/// The caller's row as `UserWithIncludes`: `auth0_user_id` shown, `prefs` when asked.
fn own_profile(row: MeRow, prefs: bool) -> UserWithIncludes {
    let prefs = prefs.then(|| {
        serde_json::json!({
            "status_max": row.status_max, "distance_ind": row.distance_ind, "public_ind": row.public_ind,
            "online_map_type": row.online_map_type, "online_map_type2": row.online_map_type2,
            "email": row.email, "email_valid": row.email_valid,
        })
    });
    UserWithIncludes { auth0_user_id: row.auth0_user_id, prefs, ..row.user.into() }
}

/// The identity provider's post-registration webhook: creates the account for a new user.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("webhook" = [])),
    request_body(content = crate::wire::bodies::Registration),
    responses((status = 201, body = crate::wire::bodies::Registered), (status = 401, body = crate::error::ErrorDetail),
              (status = 409, body = crate::error::ErrorDetail), (status = 422, body = crate::error::ValidationErrorBody),
              (status = 503, body = crate::error::ErrorDetail)))]
pub async fn register(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    let Some(secret) = &app.config.auth.webhook_shared_secret else {
        return Err(ApiError::Unavailable("Webhook authentication not configured"));
    };
    let secret = secret.expose().as_bytes();
    let given = headers.get("x-webhook-secret").map(|v| v.as_bytes()).unwrap_or_default();
    if !crate::auth::constant_time_eq(given, secret) {
        return Err(ApiError::WebhookSecret("Invalid webhook shared secret"));
    }
    let mut body = JsonBody::parse(&body)?;
    body.require(&["username", "email", "auth0_user_id"]);
    let username = user_name(&mut body, "username");
    let email = email(&mut body, "email");
    let auth0 = visible_text(&mut body, "auth0_user_id", 1, 50);
    body.finish()?;
    let (Some(username), Some(email), Some(auth0)) = (username, email, auth0) else {
        return Err(ApiError::Internal("a validated registration lacked a field"));
    };
    let id = match db::users::register(&app.db, &username, &email, &auth0).await? {
        Ok(id) => id,
        Err(AccountConflict::Name) => return Err(ApiError::Conflict(format!("Username '{username}' already exists"))),
        Err(AccountConflict::Email) => return Err(ApiError::Conflict(format!("Email '{email}' already exists"))),
        Err(AccountConflict::Auth0UserId) => {
            return Err(ApiError::Conflict(format!("Auth0 user ID '{auth0}' already exists")));
        }
    };
    let row = UserRow { id, name: username.clone() };
    invalidation::after(&app.cache, &[RowChange::User(Change::inserted(row))]).await;
    let created = serde_json::json!({ "id": id, "name": username, "email": email, "auth0_user_id": auth0 });
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}
