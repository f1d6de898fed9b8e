//! Per-tenant quotas: checked before work is accepted; `GET /quota` shows usage and warnings.
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::views::ts;
use super::AppState;
use crate::store::TenantUsage;

/// What a request is about to consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Pipeline,
    Storage,
}

fn month_start() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// (name, used, limit) of every quota; a limit of 0 means unlimited.
fn lines(app: &AppState, tenant_id: &str, u: &TenantUsage) -> Vec<(&'static str, f64, u64)> {
    let q = app.config.quotas.limits_for(tenant_id);
    vec![
        (
            "audio_minutes_per_month",
            u.audio_seconds / 60.0,
            q.audio_minutes_per_month,
        ),
        (
            "concurrent_pipelines",
            u.active_pipelines as f64,
            q.concurrent_pipelines,
        ),
        ("llm_tokens_per_month", u.llm_tokens, q.llm_tokens_per_month),
        ("storage_bytes", u.storage_bytes as f64, q.storage_bytes),
    ]
}

/// Refuses with 429 `quota_exceeded` (with the numbers) when a quota this request needs is used up.
pub async fn check(app: &AppState, caller: &Caller, need: Need) -> ApiResult<()> {
    let usage = app
        .store
        .tenant_usage(&caller.tenant_id, month_start())
        .await?;
    let relevant: &[&str] = match need {
        Need::Pipeline => &[
            "audio_minutes_per_month",
            "concurrent_pipelines",
            "llm_tokens_per_month",
        ],
        Need::Storage => &["storage_bytes"],
    };
    for (name, used, limit) in lines(app, &caller.tenant_id, &usage) {
        if limit > 0 && relevant.contains(&name) && used >= limit as f64 {
            return Err(ApiError {
                errors: Some(json!([{"quota": name, "used": used, "limit": limit}])),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    format!("the tenant's {name} quota is used up ({used:.0} of {limit})"),
                )
            });
        }
    }
    Ok(())
}

pub async fn get(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let start = month_start();
    let usage = app.store.tenant_usage(&caller.tenant_id, start).await?;
    let warn_at = app.config.quotas.warn_at;
    let quotas: Vec<Value> = lines(&app, &caller.tenant_id, &usage)
        .into_iter()
        .map(|(name, used, limit)| {
            let share = if limit > 0 { used / limit as f64 } else { 0.0 };
            json!({"quota": name, "used": used, "limit": limit, "share": share,
                   "warning": limit > 0 && share >= warn_at, "exceeded": limit > 0 && share >= 1.0})
        })
        .collect();
    Ok(Json(
        json!({"tenant_id": caller.tenant_id, "period_start": ts(&start), "quotas": quotas}),
    ))
}
