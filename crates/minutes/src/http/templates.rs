//! `/prompt-templates`: global templates (read-only here) and private ones owned by the token's
//! user. A `user_id` query parameter is accepted for compatibility and ignored.
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::types::Json as JsonColumn;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::views::ts;
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::ids;
use crate::domain::task::OUTPUT_LANGUAGES;
use crate::domain::templates::{check_template, field_error};
use crate::store::{StoreError, TemplateRecord};

fn view(t: &TemplateRecord) -> Value {
    json!({
        "template_id": t.id,
        "title": t.title,
        "description": t.description,
        "prompt_body": t.prompt_body,
        "artifact_type": t.artifact_type,
        "supported_languages": t.supported_languages.0,
        "parameter_schema": t.parameter_schema.0,
        "is_system": t.is_system,
        "scope": t.scope,
        "scope_id": t.owner_user_id,
        "version": t.version,
        // Stored rows always have both (NOT NULL columns); only they are shown.
        "created_at": t.created_at.as_ref().map(ts),
        "updated_at": t.updated_at.as_ref().map(ts),
    })
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    scope: Option<String>,
    artifact_type: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if q.scope
        .as_deref()
        .is_some_and(|s| s != "global" && s != "private")
    {
        return Err(ApiError::bad_request(
            "invalid_scope",
            "scope must be global or private",
        ));
    }
    let templates = app
        .store
        .list_templates(
            &caller.owner(),
            q.scope.as_deref(),
            q.artifact_type.as_deref(),
        )
        .await?;
    Ok(Json(
        json!({"templates": templates.iter().map(view).collect::<Vec<_>>(), "total": templates.len()}),
    ))
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let t = app
        .store
        .get_template(&caller.owner(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    Ok(Json(json!({"template": view(&t)})))
}

#[derive(Debug, Deserialize)]
pub struct TemplateBody {
    title: Option<String>,
    description: Option<String>,
    prompt_body: Option<String>,
    artifact_type: Option<String>,
    supported_languages: Option<Vec<String>>,
    parameter_schema: Option<Value>,
}

/// Applies `body` over `base` and validates the result as a whole.
fn merged(base: TemplateRecord, body: TemplateBody) -> ApiResult<TemplateRecord> {
    let t = TemplateRecord {
        title: body
            .title
            .map(|s| s.trim().to_string())
            .unwrap_or(base.title),
        description: body.description.unwrap_or(base.description),
        prompt_body: body.prompt_body.unwrap_or(base.prompt_body),
        artifact_type: body.artifact_type.unwrap_or(base.artifact_type),
        supported_languages: body
            .supported_languages
            .map(JsonColumn)
            .unwrap_or(base.supported_languages),
        parameter_schema: body
            .parameter_schema
            .map(JsonColumn)
            .unwrap_or(base.parameter_schema),
        ..base
    };
    let mut errors = check_template(&t.prompt_body, &t.parameter_schema.0);
    if t.title.is_empty() || t.title.chars().count() > 256 {
        errors.push(field_error(&["body", "title"], "1–256 characters"));
    }
    if t.prompt_body.chars().count() > 20_000 {
        errors.push(field_error(
            &["body", "prompt_body"],
            "at most 20,000 characters",
        ));
    }
    if ArtifactType::parse(&t.artifact_type).is_none() {
        errors.push(field_error(
            &["body", "artifact_type"],
            "meeting_minutes, action_items or summary_notes",
        ));
    }
    if t.supported_languages.0.is_empty()
        || t.supported_languages
            .0
            .iter()
            .any(|l| !OUTPUT_LANGUAGES.contains(&l.as_str()))
    {
        errors.push(field_error(
            &["body", "supported_languages"],
            format!("a non-empty list of {}", OUTPUT_LANGUAGES.join(", ")),
        ));
    }
    if errors.is_empty() {
        Ok(t)
    } else {
        Err(ApiError::validation(errors))
    }
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<TemplateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let base = TemplateRecord {
        id: ids::new_id("tpl")[..16].to_string(),
        title: String::new(),
        description: String::new(),
        prompt_body: String::new(),
        artifact_type: String::new(),
        supported_languages: JsonColumn(vec!["zh-CN".into()]),
        parameter_schema: JsonColumn(json!({})),
        is_system: false,
        scope: "private".into(),
        version: 1,
        owner_user_id: Some(caller.user_id.clone()),
        created_at: None,
        updated_at: None,
    };
    let t = merged(base, body)?;
    app.store.create_template(&caller.owner(), &t).await?;
    caller
        .audit(
            &app,
            "template.create",
            "template",
            &t.id,
            json!({"title": t.title}),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "template_id": t.id, "message": "template created"})),
    ))
}

/// The template if the caller may change it: global ones are read-only (400: the original
/// frontend logs the user out on any 403), others' are 404.
async fn own_private(app: &AppState, caller: &Caller, id: &str) -> ApiResult<TemplateRecord> {
    let t = app
        .store
        .get_template(&caller.owner(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    if t.scope != "private" {
        return Err(ApiError::bad_request(
            "template_read_only",
            "global templates cannot be changed; save a copy as a private template",
        ));
    }
    Ok(t)
}

pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Json<Value>> {
    let t = merged(own_private(&app, &caller, &id).await?, body)?;
    app.store.update_template(&caller.owner(), &t).await?;
    caller
        .audit(&app, "template.update", "template", &id, json!({}))
        .await;
    Ok(Json(
        json!({"success": true, "template_id": id, "message": "template updated"}),
    ))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    own_private(&app, &caller, &id).await?;
    app.store
        .delete_template(&caller.owner(), &id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(msg) => {
                ApiError::new(StatusCode::CONFLICT, "template_in_use", msg)
            }
            other => other.into(),
        })?;
    caller
        .audit(&app, "template.delete", "template", &id, json!({}))
        .await;
    Ok(Json(
        json!({"success": true, "message": "template deleted"}),
    ))
}
