//! `/api-keys`: API keys for service clients (shown once, stored hashed, scoped, expiring,
//! revocable), and their authentication for the `Caller` extractor.
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Caller, Failure};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::views::ts;
use super::AppState;
use crate::auth::api_keys;
use crate::store::{ApiKeyRecord, StoreError};

/// Active keys one user may hold; keys are cheap to make, rows should not be.
const MAX_ACTIVE_KEYS_PER_USER: usize = 50;

/// Key use is recorded (last used, audit entry) at most this often per key.
const USE_RECORD_INTERVAL_SECS: i64 = 60;

fn now(app: &AppState) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(app.clock.now_ms()).unwrap_or_else(Utc::now)
}

/// Checks an API key and makes its user the caller, with the key's role capped by the user's
/// current role; a `read` key may only use safe methods (403 otherwise).
pub(super) async fn authenticate(
    app: &AppState,
    key: &str,
    parts: &Parts,
    request_id: Option<&str>,
) -> Result<Caller, Failure> {
    let id = api_keys::key_id(key).ok_or_else(|| Failure::anonymous("api_key", "malformed key"))?;
    let row = app
        .store
        .api_key_for_auth(&id)
        .await
        .map_err(|e| Failure {
            error: ApiError::internal(e),
            ..Failure::anonymous("api_key", "storage error")
        })?
        .ok_or_else(|| Failure::anonymous("api_key", format!("unknown key {id}")))?;
    let k = &row.key;
    let refuse = |reason: &str| Failure {
        tenant_id: Some(k.tenant_id.clone()),
        user_id: Some(k.user_id.clone()),
        ..Failure::anonymous("api_key", format!("{reason} ({id})"))
    };
    let at = now(app);
    if !api_keys::matches(key, &k.secret_hash) {
        return Err(refuse("wrong secret"));
    }
    if k.revoked_at.is_some() {
        return Err(refuse("revoked key"));
    }
    if k.expires_at <= at {
        return Err(refuse("expired key"));
    }
    if !row.user_active {
        return Err(refuse("the key's user is disabled"));
    }
    let scopes: Vec<String> = k.scopes.split_whitespace().map(str::to_string).collect();
    if !api_keys::allows(&scopes, &parts.method) {
        return Err(Failure {
            error: ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this API key's scopes ({}) do not allow {}",
                    k.scopes, parts.method
                ),
            ),
            ..refuse("insufficient scope")
        });
    }
    let caller = Caller {
        user_id: k.user_id.clone(),
        tenant_id: k.tenant_id.clone(),
        role: if k.role == "admin" && row.user_role == "admin" {
            "admin".into()
        } else {
            "member".into()
        },
        request_id: request_id.map(str::to_string),
        operator: false,
        api_key_id: Some(id.clone()),
    };
    let due = k
        .last_used_at
        .is_none_or(|last| (at - last).num_seconds() >= USE_RECORD_INTERVAL_SECS);
    if due {
        if let Err(e) = app.store.touch_api_key(&k.tenant_id, &id, at).await {
            tracing::warn!(error = %e, key_id = %id, "could not record API key use");
        }
        let details = json!({"method": parts.method.as_str(), "path": parts.uri.path()});
        caller
            .audit(app, "api_key.use", "api_key", &id, details)
            .await;
    }
    Ok(caller)
}

fn key_view(k: &ApiKeyRecord, at: DateTime<Utc>) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": api_keys::display_prefix(&k.id),
        "scopes": k.scopes.split_whitespace().collect::<Vec<_>>(),
        "role": k.role,
        "user_id": k.user_id,
        "created_at": ts(&k.created_at),
        "expires_at": ts(&k.expires_at),
        "revoked_at": k.revoked_at.as_ref().map(ts),
        "last_used_at": k.last_used_at.as_ref().map(ts),
        "active": k.revoked_at.is_none() && k.expires_at > at,
    })
}

/// Keys are managed with an interactive login only, so a leaked key cannot mint more keys.
fn require_interactive(caller: &Caller) -> ApiResult<()> {
    match caller.api_key_id {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "interactive_login_required",
            "API keys are managed with a user login, not with an API key",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    name: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api-keys`: a key for the caller; the secret is in this answer and nowhere else.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<NewApiKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_interactive(&caller)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "1–100 characters"));
    }
    let mut scopes = body.scopes.unwrap_or_else(|| vec!["read".into()]);
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty()
        || scopes
            .iter()
            .any(|s| !api_keys::SCOPES.contains(&s.as_str()))
    {
        return Err(ApiError::field("scopes", "one or more of `read`, `write`"));
    }
    let limits = &app.config.auth.api_keys;
    let days = body.expires_in_days.unwrap_or(limits.default_ttl_days);
    if !(1..=limits.max_ttl_days).contains(&days) {
        return Err(ApiError::field(
            "expires_in_days",
            format!(
                "between 1 and {} (auth.api_keys.max_ttl_days)",
                limits.max_ttl_days
            ),
        ));
    }
    let at = now(&app);
    let active = app
        .store
        .list_api_keys(&caller.tenant_id, Some(&caller.user_id))
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.expires_at > at)
        .count();
    if active >= MAX_ACTIVE_KEYS_PER_USER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_keys",
            format!("at most {MAX_ACTIVE_KEYS_PER_USER} active keys per user; revoke one first"),
        ));
    }
    let new = api_keys::generate();
    let record = ApiKeyRecord {
        id: new.id.clone(),
        tenant_id: caller.tenant_id.clone(),
        user_id: caller.user_id.clone(),
        name: name.to_string(),
        secret_hash: new.hash,
        scopes: scopes.join(" "),
        role: caller.role.clone(),
        created_at: at,
        expires_at: at + Duration::days(i64::from(days)),
        revoked_at: None,
        last_used_at: None,
    };
    app.store.insert_api_key(&record).await?;
    caller
        .audit(
            &app,
            "api_key.create",
            "api_key",
            &record.id,
            json!({"name": name, "scopes": scopes}),
        )
        .await;
    let mut view = key_view(&record, at);
    view["key"] = Value::String(new.token);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api-keys`: the caller's keys (a tenant admin sees the tenant's), never the secrets.
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let user = (caller.role != "admin").then_some(caller.user_id.as_str());
    let keys = app.store.list_api_keys(&caller.tenant_id, user).await?;
    let at = now(&app);
    let items: Vec<Value> = keys.iter().map(|k| key_view(k, at)).collect();
    Ok(Json(json!({"items": items, "total": items.len()})))
}

/// `DELETE /api-keys/{id}`: revokes a key of the caller (a tenant admin: any of the tenant's).
pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_interactive(&caller)?;
    let user = (caller.role != "admin").then_some(caller.user_id.as_str());
    match app
        .store
        .revoke_api_key(&caller.tenant_id, user, &id, now(&app))
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(ApiError::not_found("API key")),
        Err(e) => return Err(e.into()),
    }
    caller
        .audit(&app, "api_key.revoke", "api_key", &id, json!({}))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
