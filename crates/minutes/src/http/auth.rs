//! Bearer-token authentication: HS256 JWTs from dev login (when enabled). The caller's
//! identity and tenant come only from the token.
use axum::extract::{FromRequestParts, State};

use super::extract::Json;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::config::AuthConfig;
use crate::ratelimit::{Decision, Rule};
use crate::store::Owner;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    role: String,
    iss: String,
    iat: i64,
    exp: i64,
}

/// Signing and verification keys; absent when no JWT secret is configured.
#[derive(Clone)]
pub struct AuthKeys {
    keys: Option<(EncodingKey, DecodingKey)>,
    issuer: String,
    ttl_secs: u64,
    dev_login: bool,
}

impl AuthKeys {
    pub fn from_config(c: &AuthConfig) -> AuthKeys {
        let keys = c.jwt_secret.as_ref().map(|s| {
            let bytes = s.expose_secret().as_bytes();
            (
                EncodingKey::from_secret(bytes),
                DecodingKey::from_secret(bytes),
            )
        });
        AuthKeys {
            keys,
            issuer: c.issuer.clone(),
            ttl_secs: c.jwt_ttl_secs,
            dev_login: c.dev_login,
        }
    }

    pub fn issue(&self, user_id: &str, tenant_id: &str, role: &str) -> ApiResult<String> {
        let (enc, _) = self
            .keys
            .as_ref()
            .ok_or_else(|| ApiError::internal("no JWT secret configured"))?;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.into(),
            tid: tenant_id.into(),
            role: role.into(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + self.ttl_secs as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, enc).map_err(ApiError::internal)
    }

    fn verify(&self, token: &str) -> ApiResult<Claims> {
        let (_, dec) = self.keys.as_ref().ok_or_else(|| {
            ApiError::unauthorized("authentication is not configured on this server")
        })?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 30;
        decode::<Claims>(token, dec, &validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::unauthorized("invalid or expired token"))
    }
}

/// The authenticated caller. Extracting it fails with 401 when the token is missing or bad.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub tenant_id: String,
    pub role: String,
    /// The request's `x-request-id` (set by the server when the client sent none).
    pub request_id: Option<String>,
}

impl Caller {
    pub fn owner(&self) -> Owner {
        Owner {
            tenant_id: self.tenant_id.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

impl Caller {
    /// A platform operator (configured in `auth.operators`), across all tenants.
    pub fn is_operator(&self, app: &AppState) -> bool {
        app.config.auth.operators.contains(&self.user_id)
    }

    /// Appends to the audit log. The action already happened, so a failure to record it is
    /// logged rather than turned into an error for the user.
    pub async fn audit(
        &self,
        app: &AppState,
        action: &str,
        resource_type: &str,
        resource_id: &str,
        mut details: Value,
    ) {
        if let (Some(id), Some(map)) = (&self.request_id, details.as_object_mut()) {
            map.insert("request_id".into(), Value::String(id.clone()));
        }
        let entry = crate::store::AuditEntry {
            tenant_id: self.tenant_id.clone(),
            user_id: Some(self.user_id.clone()),
            action: action.to_string(),
            resource_type: resource_type.to_string(),
            resource_id: resource_id.to_string(),
            details,
        };
        if let Err(e) = app.store.insert_audit(&entry).await {
            tracing::warn!(error = %e, action, resource_id, "could not write an audit entry");
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let claims = state.auth.verify(token.trim())?;
        enforce_rate_limit(state, parts, &claims.tid, &claims.sub).await?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Caller {
            user_id: claims.sub,
            tenant_id: claims.tid,
            role: claims.role,
            request_id,
        })
    }
}

/// The caller's budget for this route class; over it → 429 with `Retry-After`. A limiter that
/// cannot be reached lets the request through (and logs), so Redis trouble is not an outage.
async fn enforce_rate_limit(
    app: &AppState,
    parts: &Parts,
    tenant_id: &str,
    user_id: &str,
) -> ApiResult<()> {
    let limits = &app.config.rate_limit;
    let upload = parts.method == axum::http::Method::POST && parts.uri.path().ends_with("/upload");
    let (class, per_minute) = if upload {
        ("upload", limits.upload_per_minute)
    } else {
        ("api", limits.per_minute)
    };
    check_limit(app, &format!("{class}:{tenant_id}:{user_id}"), per_minute).await
}

async fn check_limit(app: &AppState, key: &str, per_minute: u32) -> ApiResult<()> {
    let Some(limiter) = &app.limiter else {
        return Ok(());
    };
    match limiter.check(key, Rule::per_minute(per_minute)).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after_ms }) => {
            let secs = ((retry_after_ms + 999) / 1000).max(1) as u64;
            Err(ApiError {
                retry_after_secs: Some(secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many requests; retry in {secs} s"),
                )
                .retryable()
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; allowing the request");
            Ok(())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DevLogin {
    username: String,
}

/// `POST /auth/dev/login`: find-or-create `user_{username}` in `tenant_{username}`.
pub async fn dev_login(
    State(app): State<AppState>,
    Json(body): Json<DevLogin>,
) -> ApiResult<Json<Value>> {
    if !app.auth.dev_login {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "dev_login_disabled",
            "dev login is disabled on this server",
        ));
    }
    let name = body.username.trim();
    check_limit(
        &app,
        &format!("login:{name}"),
        app.config.rate_limit.login_per_minute,
    )
    .await?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(ApiError::field(
            "username",
            "1–64 characters of letters, digits, `_` or `-`",
        ));
    }
    let user = app.store.upsert_dev_user(name).await?;
    let token = app.auth.issue(&user.id, &user.tenant_id, &user.role)?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "user_id": user.id,
        "tenant_id": user.tenant_id,
        "expires_in": app.auth.ttl_secs,
    })))
}
