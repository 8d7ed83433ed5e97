//! Callers: bearer tokens, verified and mapped to database users.
//!
//! Two modes, chosen by configuration (contract, "Decisions / Authentication"):
//! * **RS256** when `JWT_JWKS_URL` is set: the original's Auth0 setup. Keys come from the JWKS,
//!   kept for an hour (`JWT_JWKS_TTL_SECS`) and then refreshed in the background while the keys
//!   held go on verifying, so no request waits on the issuer for a key it has; a token signed with a key id the cache does not know triggers one
//!   refetch, at most every `JWT_JWKS_REFETCH_SECS` (30 s by default, so a flood of made-up ids
//!   cannot hammer the issuer). `iss` and
//!   `aud` must match `JWT_ISSUER` and `JWT_AUDIENCE`. `sub` is a `user.auth0_user_id`.
//! * **HS256** otherwise, with `JWT_HS256_SECRET` (self-hosting and development; `trigapi token`
//!   mints them). `sub` is a numeric user id, or an `auth0_user_id`.
//!
//! Only the configured mode's algorithm is accepted, so `alg: none` and RS/HS confusion are
//! refused; `exp` is required and `nbf`, when present, honoured, with no leeway. Scopes are the union of the space-separated
//! `scope` claim and the `permissions` array.
//!
//! The extractors that read a caller from a request (in `routes::extract`) are built on
//! [`Authenticator`] and [`AuthUser`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{AuthSettings, Config};
use crate::db;
use crate::error::ApiError;

/// Cache admin, and editing other users' logs and photos.
pub const ADMIN_SCOPE: &str = "api:admin";
/// Every write.
pub const WRITE_SCOPE: &str = "api:write";
/// Changing an e-mail address.
pub const READ_PII_SCOPE: &str = "api:read-pii";
/// The claim holding the caller's roles (shown on `/users/me`).
pub const ROLES_CLAIM: &str = "https://trigpointing.uk/roles";

/// How long a subject's user id is remembered for reads (a subject with no user is asked again
/// every time). Writes never use this memory: a user deleted on the database side must not go
/// on writing rows that name it (see the `Writer` extractor).
const SUBJECT_TTL: Duration = Duration::from_secs(600);
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

/// A caller whose token verified and who is a database user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i32,
    pub scopes: Vec<String>,
    /// The roles claim as sent (`None` when absent).
    pub roles: Option<Value>,
}

impl AuthUser {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Who the caller is, for per-client limits (`user:42`): many users may share an address.
    pub fn client(&self) -> String {
        format!("user:{}", self.user_id)
    }

    /// The caller may change a row owned by `owner`: they own it, or they hold `api:admin`.
    pub fn may_edit(&self, owner: i32) -> Result<(), ApiError> {
        if self.user_id == owner || self.has_scope(ADMIN_SCOPE) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Missing required scope: api:admin"))
        }
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
    #[serde(default, rename = "https://trigpointing.uk/roles", skip_serializing_if = "Option::is_none")]
    roles: Option<Value>,
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub subject: String,
    pub scopes: Vec<String>,
    pub roles: Option<Value>,
}

/// Why a bearer token was refused (all answer 401 `Could not validate credentials`).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token validation is configured")]
    NotConfigured,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token is not signed with the configured algorithm")]
    Algorithm,
    #[error("the token names no key id")]
    NoKeyId,
    #[error("the token's key id is not in the JWKS")]
    UnknownKey,
    #[error("the JWKS could not be fetched: {0}")]
    Jwks(String),
}

/// Configuration that cannot work (found at startup, not on the first request).
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("JWT_JWKS_URL is set, so JWT_ISSUER and JWT_AUDIENCE must be set too")]
    MissingIssuerOrAudience,
    #[error("building the JWKS HTTP client: {0}")]
    Client(String),
}

/// Verifies bearer tokens in the configured mode.
pub struct Authenticator {
    mode: Mode,
    /// Subjects already mapped to a user: a token's user is looked up once, not on every
    /// request (a cache hit for a personal list would otherwise wait on the database).
    subjects: moka::sync::Cache<String, i32>,
}

enum Mode {
    Off,
    Hs256(DecodingKey),
    Rs256(Arc<Jwks>),
}

impl Authenticator {
    pub fn from_config(config: &Config) -> Result<Self, AuthConfigError> {
        let auth = &config.auth;
        let mode = match (&auth.jwt_jwks_url, &auth.jwt_issuer, &auth.jwt_audience, &auth.jwt_hs256_secret) {
            (Some(url), Some(issuer), Some(audience), _) => {
                Mode::Rs256(Arc::new(Jwks::new(url, issuer, audience, auth)?))
            }
            (Some(_), _, _, _) => return Err(AuthConfigError::MissingIssuerOrAudience),
            (None, _, _, Some(secret)) => Mode::Hs256(DecodingKey::from_secret(secret.expose().as_bytes())),
            (None, _, _, None) => Mode::Off,
        };
        let subjects = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(SUBJECT_TTL).build();
        Ok(Self { mode, subjects })
    }

    /// `"rs256"`, `"hs256"` or `"off"`, for the startup log.
    pub fn mode(&self) -> &'static str {
        match self.mode {
            Mode::Off => "off",
            Mode::Hs256(_) => "hs256",
            Mode::Rs256(_) => "rs256",
        }
    }

    /// Check a token's algorithm, signature, expiry (and issuer and audience in RS256 mode).
    pub async fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let claims = match &self.mode {
            Mode::Off => return Err(TokenError::NotConfigured),
            Mode::Hs256(key) => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.leeway = 0;
                validation.validate_aud = false;
                validation.validate_nbf = true;
                validation.set_required_spec_claims(&["exp", "sub"]);
                jsonwebtoken::decode::<Claims>(token, key, &validation)?.claims
            }
            Mode::Rs256(jwks) => {
                let header = jsonwebtoken::decode_header(token)?;
                if header.alg != Algorithm::RS256 {
                    return Err(TokenError::Algorithm);
                }
                let kid = header.kid.ok_or(TokenError::NoKeyId)?;
                let key = Jwks::key(jwks, &kid).await?;
                jsonwebtoken::decode::<Claims>(token, &key, &jwks.validation)?.claims
            }
        };
        let mut scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_owned).collect();
        for p in claims.permissions {
            if !scopes.contains(&p) {
                scopes.push(p);
            }
        }
        Ok(Verified { subject: claims.sub, scopes, roles: claims.roles })
    }

    /// The database user a verified token stands for: `sub` as an `auth0_user_id`, or (HS256
    /// mode) as a numeric user id.
    /// `fresh` asks the database even when the subject was mapped before (writes and admin
    /// calls); a subject whose user is gone is forgotten.
    pub(crate) async fn user(
        &self,
        db: &db::Db,
        verified: Verified,
        fresh: bool,
    ) -> Result<Option<AuthUser>, ApiError> {
        let remembered = if fresh { None } else { self.subjects.get(&verified.subject) };
        let user_id = match remembered {
            Some(id) => Some(id),
            None => {
                let numeric =
                    matches!(self.mode, Mode::Hs256(_)).then(|| verified.subject.parse::<i32>().ok()).flatten();
                let found = match numeric {
                    Some(id) => db::users::get(db, id).await?.map(|u| u.id),
                    None => db::users::id_by_auth0(db, &verified.subject).await?,
                };
                match found {
                    Some(id) => self.subjects.insert(verified.subject.clone(), id),
                    None => self.subjects.invalidate(&verified.subject),
                }
                found
            }
        };
        Ok(user_id.map(|user_id| AuthUser { user_id, scopes: verified.scopes, roles: verified.roles }))
    }
}

/// The RS256 keys, fetched from the JWKS URL and kept by key id.
struct Jwks {
    url: String,
    validation: Validation,
    client: reqwest::Client,
    min_refetch: Duration,
    /// How long a fetched set is used before it is refreshed (in the background).
    ttl: Duration,
    /// A background refresh is under way (one at a time).
    refreshing: std::sync::atomic::AtomicBool,
    keys: RwLock<Arc<KeySet>>,
    /// When a fetch was last tried; held while fetching, so one task fetches at a time.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    /// Whether the set is older than `ttl` (or was never fetched).
    fn is_old(&self, ttl: Duration) -> bool {
        self.fetched_at.is_none_or(|t| t.elapsed() >= ttl)
    }
}

impl Jwks {
    fn new(url: &str, issuer: &str, audience: &str, config: &AuthSettings) -> Result<Self, AuthConfigError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let client = reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            .build()
            .map_err(|e| AuthConfigError::Client(e.to_string()))?;
        Ok(Self {
            url: url.to_owned(),
            validation,
            client,
            min_refetch: Duration::from_secs(config.jwt_jwks_refetch_secs),
            ttl: Duration::from_secs(config.jwt_jwks_ttl_secs.max(1)),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            keys: RwLock::new(Arc::default()),
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    /// The key `kid`. A key the set holds is used at once, however old the set: when the set
    /// is past its TTL (`JWT_JWKS_TTL_SECS`) a refresh runs in the background, so no request waits on the
    /// issuer while it has a key. An unknown key id (a rotation) waits for one fetch, tried at
    /// most once per `min_refetch` (a failed or useless fetch keeps the keys we had).
    async fn key(this: &Arc<Self>, kid: &str) -> Result<DecodingKey, TokenError> {
        let keys = this.snapshot();
        if let Some(key) = keys.keys.get(kid).cloned() {
            if keys.is_old(this.ttl) && !this.refreshing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                let jwks = Arc::clone(this);
                tokio::spawn(async move {
                    jwks.refetch().await;
                    jwks.refreshing.store(false, std::sync::atomic::Ordering::Release);
                });
            }
            return Ok(key);
        }
        this.refetch().await;
        this.snapshot().keys.get(kid).cloned().ok_or(TokenError::UnknownKey)
    }

    /// Fetch the set unless another task is fetching (then wait for it) or the last attempt
    /// was less than `min_refetch` ago.
    async fn refetch(&self) {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_none_or(|t| t.elapsed() >= self.min_refetch) {
            *last_attempt = Some(Instant::now());
            if let Err(e) = self.fetch().await {
                tracing::warn!(error = %e, "fetching the JWKS failed; keeping the keys we had");
            }
        }
    }

    async fn fetch(&self) -> Result<(), TokenError> {
        let failed = |e: reqwest::Error| TokenError::Jwks(e.without_url().to_string());
        let response = self.client.get(&self.url).send().await.map_err(failed)?.error_for_status().map_err(failed)?;
        let bytes = response.bytes().await.map_err(failed)?;
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| TokenError::Jwks(e.to_string()))?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        tracing::info!(keys = keys.len(), "fetched the JWKS");
        if let Ok(mut guard) = self.keys.write() {
            *guard = Arc::new(KeySet { keys, fetched_at: Some(Instant::now()) });
        }
        Ok(())
    }
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
        roles: None,
    };
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Compare secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

    fn hs256(secret: &str) -> Authenticator {
        let mut config = Config::default();
        config.auth.jwt_hs256_secret = Some(secret.into()).filter(|s: &crate::config::Secret| !s.expose().is_empty());
        Authenticator::from_config(&config).expect("config")
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_carry_scopes() {
        let t = mint("s3cret", 5, &["api:write".into(), "api:admin".into()], Duration::from_secs(60)).expect("mint");
        let v = hs256("s3cret").verify(&t).await.expect("valid");
        assert_eq!(v.subject, "5");
        assert_eq!(v.scopes, ["api:write", "api:admin"]);
        assert!(hs256("other").verify(&t).await.is_err(), "wrong secret");
        assert!(hs256("").verify(&t).await.is_err(), "no secret configured");
    }

    #[tokio::test]
    async fn unsigned_and_expired_tokens_are_refused() {
        // {"alg":"none"} . {"sub":"1","exp":9999999999} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(hs256("s3cret").verify(none).await.is_err());
        let claims =
            Claims { sub: "1".into(), exp: 1, iat: None, scope: String::new(), permissions: vec![], roles: None };
        let expired =
            jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).expect("encode");
        assert!(hs256("s3cret").verify(&expired).await.is_err());
    }

    #[test]
    fn a_jwks_url_needs_issuer_and_audience() {
        let mut c = Config::default();
        c.auth.jwt_jwks_url = Some("http://127.0.0.1:1/jwks.json".into());
        assert!(matches!(Authenticator::from_config(&c), Err(AuthConfigError::MissingIssuerOrAudience)));
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
