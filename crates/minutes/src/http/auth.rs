//! The `Caller` extractor: a bearer JWT (identity provider, or dev login when enabled) or an
//! API key (`Authorization: Bearer mk_…` or `X-API-Key`) becomes the caller; identity and tenant
//! come only from the credential. Also dev login (refresh: `refresh.rs`) and the per-user rate
//! limit.
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::AppState;
use crate::auth::{api_keys, AuthError, Identity, UNKNOWN_TENANT};
use crate::ratelimit::{Decision, Rule};
use crate::store::{Owner, StoreError};

/// Query parameters that carry credentials in other APIs. Refused outright: URLs end up in
/// logs, browser history and `Referer` headers.
const CREDENTIAL_PARAMS: [&str; 3] = ["access_token", "api_key", "apikey"];

/// The authenticated caller. Extracting it fails with 401 when the credential is missing or bad.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub tenant_id: String,
    /// `admin` or `member` within the tenant.
    pub role: String,
    /// The request's `x-request-id` (set by the server when the client sent none).
    pub request_id: Option<String>,
    /// The identity provider granted the platform `operator` role.
    pub operator: bool,
    /// The API key used, when the caller is a service client.
    pub api_key_id: Option<String>,
}

impl Caller {
    pub fn owner(&self) -> Owner {
        Owner {
            tenant_id: self.tenant_id.clone(),
            user_id: self.user_id.clone(),
        }
    }

    /// A platform operator (`operator` role from the identity provider, or listed in
    /// `auth.operators`), across all tenants. Never through an API key: platform power needs
    /// an interactive login.
    pub fn is_operator(&self, app: &AppState) -> bool {
        self.api_key_id.is_none()
            && (self.operator || app.config.auth.operators.contains(&self.user_id))
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
        write_audit(
            app,
            &self.tenant_id,
            Some(&self.user_id),
            action,
            resource_type,
            resource_id,
            details,
        )
        .await;
    }
}

pub(super) async fn write_audit(
    app: &AppState,
    tenant_id: &str,
    user_id: Option<&str>,
    action: &str,
    resource_type: &str,
    resource_id: &str,
    details: Value,
) {
    let entry = crate::store::AuditEntry {
        tenant_id: tenant_id.to_string(),
        user_id: user_id.map(str::to_string),
        action: action.to_string(),
        resource_type: resource_type.to_string(),
        resource_id: resource_id.to_string(),
        details,
    };
    if let Err(e) = app.store.insert_audit(&entry).await {
        tracing::warn!(error = %e, action, resource_id, "could not write an audit entry");
    }
}

/// A failed authentication, for the audit log: the tenant when the credential revealed one.
pub(super) struct Failure {
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub credential: &'static str,
    pub reason: String,
    pub error: ApiError,
}

impl Failure {
    pub fn anonymous(credential: &'static str, reason: impl Into<String>) -> Failure {
        Failure {
            tenant_id: None,
            user_id: None,
            credential,
            reason: reason.into(),
            error: ApiError::unauthorized("invalid or expired credentials"),
        }
    }
}

enum Credential<'a> {
    Jwt(&'a str),
    ApiKey(&'a str),
}

/// Refuses a request that carries an access token or API key in its query string (the only
/// query credential is a stream ticket, which is not one of those).
pub(super) fn refuse_query_credentials(parts: &Parts) -> Result<(), ApiError> {
    let from_query = parts.uri.query().is_some_and(|q| {
        q.split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|name| CREDENTIAL_PARAMS.contains(&name.to_ascii_lowercase().as_str()))
    });
    if from_query {
        return Err(ApiError::unauthorized(
            "credentials are not accepted in the query string; send `Authorization: Bearer …`",
        ));
    }
    Ok(())
}

fn credential(parts: &Parts) -> Result<Credential<'_>, ApiError> {
    refuse_query_credentials(parts)?;
    if let Some(key) = parts.headers.get("x-api-key") {
        let key = key
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid API key"))?;
        return Ok(Credential::ApiKey(key.trim()));
    }
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?
        .trim();
    if token.starts_with(api_keys::PREFIX) {
        Ok(Credential::ApiKey(token))
    } else {
        Ok(Credential::Jwt(token))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let result = match credential(parts)? {
            Credential::Jwt(token) => from_jwt(state, token).await,
            Credential::ApiKey(key) => {
                super::api_keys::authenticate(state, key, parts, request_id.as_deref()).await
            }
        };
        let mut caller = match result {
            Ok(caller) => caller,
            Err(failure) => return Err(record_failure(state, parts, &request_id, failure).await),
        };
        caller.request_id = request_id;
        enforce_rate_limit(state, parts, &caller.tenant_id, &caller.user_id).await?;
        Ok(caller)
    }
}

async fn from_jwt(app: &AppState, token: &str) -> Result<Caller, Failure> {
    let identity = app.auth.verify_jwt(token).await.map_err(|e| match e {
        AuthError::Invalid(reason) => Failure::anonymous("jwt", reason),
        AuthError::Unavailable(reason) => Failure {
            error: ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_unavailable",
                "credentials cannot be checked right now; retry shortly",
            )
            .retryable(),
            ..Failure::anonymous("jwt", reason)
        },
    })?;
    provision(app, &identity).await?;
    Ok(Caller {
        user_id: identity.user_id,
        tenant_id: identity.tenant_id,
        role: identity.role,
        request_id: None,
        operator: identity.operator,
        api_key_id: None,
    })
}

/// Identity-provider users get their tenant and user rows on first sight (tasks and uploads
/// reference them); a disabled user, or one whose id belongs to another tenant, is refused.
async fn provision(app: &AppState, identity: &Identity) -> Result<(), Failure> {
    if !app.auth.needs_provisioning(identity) {
        return Ok(());
    }
    let known = |reason: &str| Failure {
        tenant_id: Some(identity.tenant_id.clone()),
        user_id: Some(identity.user_id.clone()),
        ..Failure::anonymous("jwt", reason)
    };
    match app
        .store
        .provision_user(&identity.tenant_id, &identity.user_id, &identity.role)
        .await
    {
        Ok(user) if user.is_active => {
            app.auth.mark_provisioned(identity);
            Ok(())
        }
        Ok(_) => Err(known("the user is disabled")),
        Err(StoreError::Conflict(reason)) => Err(known(&reason)),
        Err(e) => Err(Failure {
            error: ApiError::internal(e),
            ..known("storage error")
        }),
    }
}

/// Audits a failed authentication (failures without a tenant are capped per minute) and
/// returns the answer for the client, which never says why.
async fn record_failure(
    app: &AppState,
    parts: &Parts,
    request_id: &Option<String>,
    failure: Failure,
) -> ApiError {
    tracing::info!(reason = %failure.reason, credential = failure.credential, "authentication failed");
    let tenant = match &failure.tenant_id {
        Some(t) => Some(t.as_str()),
        None if app.auth.take_anonymous_audit() => Some(UNKNOWN_TENANT),
        None => None,
    };
    if let Some(tenant) = tenant {
        let details = json!({
            "reason": failure.reason, "credential": failure.credential,
            "method": parts.method.as_str(), "path": parts.uri.path(), "request_id": request_id,
        });
        write_audit(
            app,
            tenant,
            failure.user_id.as_deref(),
            "auth.failed",
            "credential",
            failure.credential,
            details,
        )
        .await;
    }
    failure.error
}

/// The caller's budget for this route class; over it → 429 with `Retry-After`. A limiter that
/// cannot be reached lets the request through (and logs), so Redis trouble is not an outage.
pub(super) async fn enforce_rate_limit(
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

pub(super) async fn check_limit(app: &AppState, key: &str, per_minute: u32) -> ApiResult<()> {
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

/// `POST /auth/dev/login`: find-or-create the user of `username` in its own tenant (ids from
/// `ids::user_id_for` / `tenant_id_for`; the name as typed is the user row's `username`).
pub async fn dev_login(
    State(app): State<AppState>,
    Json(body): Json<DevLogin>,
) -> ApiResult<Json<Value>> {
    let Some(dev) = app.auth.dev() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "dev_login_disabled",
            "dev login is disabled on this server",
        ));
    };
    let name = body.username.trim();
    // Any name, as the original took (`张三`, `test.user`, spaces): the ids derived from it are
    // safe identifiers either way (`ids::user_id_for`). `idp:` marks identity-provider users.
    // Checked before the rate limit, so the limiter's key stays short.
    let length = name.chars().count();
    let valid = (1..=64).contains(&length)
        && !name.chars().any(char::is_control)
        && !name.starts_with("idp:");
    if !valid {
        return Err(ApiError::field(
            "username",
            "1–64 characters after trimming, without control characters, not starting with `idp:`",
        ));
    }
    check_limit(
        &app,
        &format!("login:{name}"),
        app.config.rate_limit.login_per_minute,
    )
    .await?;
    let user = app.store.upsert_dev_user(name).await?;
    let refresh = super::refresh::start_family(&app, &user).await?;
    Ok(Json(super::refresh::session(dev, &user, refresh)?))
}
