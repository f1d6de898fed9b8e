//! `POST /auth/refresh`: a dev-login refresh token buys a new access token and the next refresh
//! token of its family; a token presented a second time revokes the family (someone copied it).
//! Identity-provider sessions are refreshed at the provider, never here.
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{check_limit, write_audit};
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::AppState;
use crate::auth::{refresh, DevTokens};
use crate::domain::ids;
use crate::store::{RefreshTokenRow, Rotation, User};

/// A refresh token handed to the client, with its lifetime in seconds.
pub(super) struct IssuedRefresh {
    token: String,
    ttl_secs: u64,
}

fn now(app: &AppState) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(app.clock.now_ms()).unwrap_or_else(Utc::now)
}

/// A new token and the row that stores its hash, expiring `auth.dev_refresh_ttl_secs` from now.
fn new_token(app: &AppState, now: DateTime<Utc>) -> (IssuedRefresh, RefreshTokenRow) {
    let ttl_secs = app.config.auth.dev_refresh_ttl_secs;
    let fresh = refresh::generate();
    let row = RefreshTokenRow {
        id: ids::new_id("rt"),
        token_hash: fresh.hash,
        expires_at: now + chrono::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX)),
    };
    let issued = IssuedRefresh {
        token: fresh.token,
        ttl_secs,
    };
    (issued, row)
}

/// The first refresh token of a dev login (a new family).
pub(super) async fn start_family(app: &AppState, user: &User) -> ApiResult<IssuedRefresh> {
    let now = now(app);
    let (issued, row) = new_token(app, now);
    app.store
        .insert_refresh_token(&user.tenant_id, &user.id, &row, now)
        .await?;
    Ok(issued)
}

/// The answer of dev login and refresh: an access token for `user` and the refresh token.
pub(super) fn session(dev: &DevTokens, user: &User, refresh: IssuedRefresh) -> ApiResult<Value> {
    let token = dev
        .issue(&user.id, &user.tenant_id, &user.role)
        .map_err(ApiError::internal)?;
    Ok(json!({
        "access_token": token,
        "token_type": "bearer",
        "user_id": user.id,
        "tenant_id": user.tenant_id,
        "expires_in": dev.ttl_secs(),
        "refresh_token": refresh.token,
        "refresh_expires_in": refresh.ttl_secs,
    }))
}

#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Every refusal looks the same to the client; the reason goes to the log.
fn refused(reason: &str) -> ApiError {
    tracing::info!(reason, "refresh refused");
    ApiError::unauthorized("invalid or expired refresh token; log in again")
}

pub async fn refresh(
    State(app): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<Value>> {
    let Some(dev) = app.auth.dev() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "refresh tokens come from dev login, which is disabled on this server; \
             refresh identity-provider tokens at the provider",
        ));
    };
    let hash = refresh::hash_of(body.refresh_token.trim()).ok_or_else(|| refused("malformed"))?;
    let (tenant_id, user_id) = app
        .store
        .refresh_token_subject(&hash)
        .await?
        .ok_or_else(|| refused("unknown refresh token"))?;
    // Before the rotation: a refusal after it would leave the client holding a used token.
    check_limit(
        &app,
        &format!("refresh:{tenant_id}:{user_id}"),
        app.config.rate_limit.login_per_minute,
    )
    .await?;
    let now = now(&app);
    let (issued, next) = new_token(&app, now);
    match app.store.rotate_refresh_token(&hash, &next, now).await? {
        Rotation::Rotated { user, family_id } => {
            let details = json!({"family_id": family_id, "refresh_token_id": next.id});
            write_audit(
                &app,
                &user.tenant_id,
                Some(&user.id),
                "auth.refresh",
                "refresh_token",
                &family_id,
                details,
            )
            .await;
            Ok(Json(session(dev, &user, issued)?))
        }
        Rotation::Reused {
            tenant_id,
            user_id,
            family_id,
        } => {
            tracing::warn!(%user_id, %family_id, "a used refresh token was presented again; its family is revoked");
            write_audit(
                &app,
                &tenant_id,
                Some(&user_id),
                "auth.refresh_reuse",
                "refresh_token",
                &family_id,
                json!({"family_id": family_id, "revoked": "family"}),
            )
            .await;
            Err(refused("reused refresh token"))
        }
        Rotation::Refused { reason } => Err(refused(reason)),
    }
}
