//! The cost ledger over HTTP: `POST /tasks/estimate` (before submission, from the configured
//! engines and price tables), `GET /tasks/{id}/cost` (estimate against what was billed, per
//! stage) and `GET /admin/costs` (a tenant's ledger over a period). Amounts are exact decimal
//! strings plus integer micros; `total_cost`/`cost_breakdown` keep the original API's numbers.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{page, Json, Query};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::config::Micros;
use crate::domain::cost::{estimate, total, Plan, StageCost};
use crate::store::{CostRange, CostRecord, CostTotal};

/// Unknown fields are ignored, as the original (pydantic) did.
#[derive(Debug, Deserialize)]
pub struct EstimateBody {
    /// Seconds of audio.
    audio_duration: f64,
    /// Echoed back: every meeting type runs the same engines and prices the same.
    #[serde(default)]
    meeting_type: Option<String>,
    #[serde(default = "yes")]
    enable_speaker_recognition: bool,
}

fn yes() -> bool {
    true
}

fn money(m: Micros) -> Value {
    json!(m.to_decimal_string())
}

fn stage_json(r: &StageCost) -> Value {
    json!({
        "stage": r.stage, "api_type": r.api_type, "provider": r.provider, "model": r.model,
        "units": r.units, "unit": r.unit, "amount": money(r.amount), "amount_micros": r.amount.0,
        "priced": r.priced,
    })
}

fn plan(app: &AppState, speaker_recognition: bool) -> Plan {
    Plan {
        asr_provider: app.asr.primary_name().to_string(),
        voiceprint_provider: app
            .voiceprint
            .as_ref()
            .filter(|_| speaker_recognition)
            .map(|v| v.name().to_string()),
        calls_per_speaker: app.config.voiceprint.samples_per_label as u64,
        llm_provider: app.llm.primary_name().to_string(),
        llm_model: app.llm.model().to_string(),
        // The pipeline writes the meeting minutes; regenerations are priced separately.
        artifacts: 1,
    }
}

/// The estimate document: rows, total, the original's breakdown, and one regeneration.
fn estimate_json(app: &AppState, rows: &[StageCost], audio_seconds: f64) -> Value {
    let pricing = &app.config.pricing;
    let sum = total(rows);
    let part = |api: &str| {
        Micros(
            rows.iter()
                .filter(|r| r.api_type == api)
                .map(|r| r.amount.0)
                .sum(),
        )
        .display_units()
    };
    let regeneration = rows
        .iter()
        .find(|r| r.api_type == "llm")
        .map(|r| r.amount)
        .unwrap_or_default();
    json!({
        "currency": pricing.currency,
        "audio_duration": audio_seconds,
        "total_cost": sum.display_units(),
        "cost_breakdown": {"asr": part("asr"), "voiceprint": part("voiceprint"), "llm": part("llm")},
        "total": money(sum),
        "total_micros": sum.0,
        "stages": rows.iter().map(stage_json).collect::<Vec<_>>(),
        "per_regeneration": money(regeneration),
        "assumptions": pricing.estimate,
    })
}

pub async fn estimate_task(
    State(app): State<AppState>,
    _caller: Caller,
    Json(body): Json<EstimateBody>,
) -> ApiResult<Json<Value>> {
    let max = app.config.audio.max_duration_secs;
    if !(body.audio_duration > 0.0 && body.audio_duration <= max) {
        return Err(ApiError {
            code: "invalid_audio_duration",
            ..ApiError::field(
                "audio_duration",
                format!("seconds above 0 and at most {max}"),
            )
        });
    }
    let plan = plan(&app, body.enable_speaker_recognition);
    let rows = estimate(&app.config.pricing, &plan, body.audio_duration);
    let mut answer = estimate_json(&app, &rows, body.audio_duration);
    answer["meeting_type"] = json!(body.meeting_type);
    Ok(Json(answer))
}

fn record_json(r: &CostRecord) -> Value {
    json!({
        "id": r.id, "task_id": r.task_id, "stage": r.stage, "provider": r.provider,
        "model": r.model, "api_type": r.api_type, "units": r.units, "unit": r.unit,
        "amount": money(Micros(r.amount_micros)), "amount_micros": r.amount_micros,
        "priced": r.priced, "currency": r.currency, "job_id": r.job_id, "attempt": r.attempt,
        "created_at": ts(&r.created_at),
    })
}

pub async fn task_cost(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let records = app.store.cost_records(&task.tenant_id, &task.id).await?;
    let plan = plan(&app, !task.skip_speaker_recognition);
    let estimated_rows = task
        .audio_duration
        .map(|secs| (estimate(&app.config.pricing, &plan, secs), secs));
    let mut stages: Vec<Value> = Vec::new();
    // Stages in the order they were first billed (a retried task can bill a stage again later).
    let mut names: Vec<&str> = Vec::new();
    for r in &records {
        if !names.contains(&r.stage.as_str()) {
            names.push(&r.stage);
        }
    }
    for stage in names {
        let rows: Vec<&CostRecord> = records.iter().filter(|r| r.stage == stage).collect();
        let amount = Micros(rows.iter().map(|r| r.amount_micros).sum());
        let estimated = estimated_rows
            .as_ref()
            .and_then(|(rows, _)| rows.iter().find(|r| r.stage == stage))
            .map(|r| money(r.amount));
        stages.push(json!({
            "stage": stage, "amount": money(amount), "amount_micros": amount.0,
            "estimated": estimated, "calls": rows.len(),
            "priced": rows.iter().all(|r| r.priced),
        }));
    }
    let actual = Micros(records.iter().map(|r| r.amount_micros).sum());
    Ok(Json(json!({
        "task_id": task.id,
        "currency": app.config.pricing.currency,
        "estimate": estimated_rows
            .as_ref()
            .map(|(rows, secs)| estimate_json(&app, rows, *secs)),
        "actual": {"total": money(actual), "total_micros": actual.0, "stages": stages},
        "records": records.iter().map(record_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct CostsQuery {
    tenant: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn total_json(t: &CostTotal) -> Value {
    json!({
        "api_type": t.api_type, "provider": t.provider, "model": t.model, "unit": t.unit,
        "currency": t.currency, "units": t.units, "calls": t.calls,
        "amount": money(Micros(t.amount_micros)), "amount_micros": t.amount_micros,
    })
}

pub async fn admin_costs(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<CostsQuery>,
) -> ApiResult<Json<Value>> {
    if caller.role != "admin" && !caller.is_operator(&app) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the cost ledger is for tenant admins",
        ));
    }
    let tenant = q.tenant.unwrap_or_else(|| caller.tenant_id.clone());
    if tenant != caller.tenant_id && !caller.is_operator(&app) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only platform operators read another tenant's costs",
        ));
    }
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_range",
            "`from` must be before `to`",
        ));
    }
    let (limit, offset) = page(q.limit, q.offset);
    let history = app
        .store
        .cost_history(
            &tenant,
            &CostRange {
                from,
                to,
                limit,
                offset,
            },
        )
        .await?;
    // Rows priced in another currency (an older price table) are listed but not added in.
    let currency = &app.config.pricing.currency;
    let sum = Micros(
        history
            .totals
            .iter()
            .filter(|t| &t.currency == currency)
            .map(|t| t.amount_micros)
            .sum(),
    );
    Ok(Json(json!({
        "tenant": tenant,
        "from": ts(&from),
        "to": ts(&to),
        "currency": app.config.pricing.currency,
        "total": money(sum),
        "total_micros": sum.0,
        "totals": history.totals.iter().map(total_json).collect::<Vec<_>>(),
        "records": history.rows.iter().map(record_json).collect::<Vec<_>>(),
        "total_count": history.total_count,
        "limit": limit,
        "offset": offset,
    })))
}
