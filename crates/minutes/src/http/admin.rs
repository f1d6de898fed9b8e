//! `/admin/audit`: the tenant's audit log for its admins, as JSON, CSV or JSON Lines.
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use super::views::ts;
use super::AppState;
use crate::store::{AuditFilter, AuditRecord};

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    user_id: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    offset: Option<i64>,
    format: Option<String>,
}

fn row(a: &AuditRecord) -> serde_json::Value {
    json!({
        "created_at": ts(&a.created_at), "user_id": a.user_id, "action": a.action,
        "resource_type": a.resource_type, "resource_id": a.resource_id,
        "request_id": a.details.0.get("request_id"), "details": a.details.0,
    })
}

/// RFC 4180 field: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub async fn audit(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    if caller.role != "admin" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the audit log is for tenant admins",
        ));
    }
    let filter = AuditFilter {
        action: q.action,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        user_id: q.user_id,
        from: q.from,
        to: q.to,
        limit: q.limit.unwrap_or(1000).clamp(1, 10_000),
        offset: q.offset.unwrap_or(0).max(0),
    };
    let entries = app.store.audit_log(&caller.tenant_id, &filter).await?;
    let (content_type, body) = match q.format.as_deref().unwrap_or("json") {
        "json" => ("application/json", serde_json::to_vec(&json!({"entries": entries.iter().map(row).collect::<Vec<_>>(), "total": entries.len()})).map_err(ApiError::internal)?),
        "jsonl" => ("application/x-ndjson", entries.iter().map(|a| format!("{}\n", row(a))).collect::<String>().into_bytes()),
        "csv" => {
            let mut out = String::from("created_at,user_id,action,resource_type,resource_id,request_id,details\r\n");
            for a in &entries {
                let fields = [
                    ts(&a.created_at),
                    a.user_id.clone().unwrap_or_default(),
                    a.action.clone(),
                    a.resource_type.clone(),
                    a.resource_id.clone(),
                    a.details.0.get("request_id").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                    a.details.0.to_string(),
                ];
                out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
                out.push_str("\r\n");
            }
            ("text/csv; charset=utf-8", out.into_bytes())
        }
        other => return Err(ApiError::bad_request("unsupported_format", format!("format `{other}`: use json, csv or jsonl"))),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
