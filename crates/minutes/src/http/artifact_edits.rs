//! Changes people make to artifact versions: hand edits (a new version authored by the person;
//! the edited version and every confirmed one stay as they were), display names, and soft
//! deletes.
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::artifacts::{context, owned_artifact, task_artifact};
use super::auth::Caller;
use super::corrections::{require_results, segments_of};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::tasks::owned_task;
use super::views::{artifact_detail, ts};
use super::AppState;
use crate::domain::artifact::{validate_content, ArtifactType};
use crate::domain::ids;
use crate::store::{ArtifactRecord, NewArtifact};

const MAX_MARKDOWN_CHARS: usize = 200_000;
/// Saves of the same version by the same person within this window continue one edit (the
/// original frontend autosaves on every keystroke); a later save starts a new version.
const EDIT_SESSION_SECS: i64 = 30 * 60;

#[derive(Debug, Deserialize)]
pub struct EditBody {
    /// Markdown (the original frontend's editor) or structured content of the artifact's type.
    content: Value,
}

fn confirmed(a: &ArtifactRecord) -> bool {
    a.metadata.0.get("confirmed").and_then(Value::as_bool) == Some(true)
}

/// The newest version that continues `base`'s edit by `user`: an unconfirmed hand edit of it
/// (or `base` itself when it is one) that is still the latest of its type and recent.
fn open_edit<'a>(
    versions: &'a [ArtifactRecord],
    base: &ArtifactRecord,
    user: &str,
) -> Option<&'a ArtifactRecord> {
    let latest = versions
        .iter()
        .find(|a| a.artifact_type == base.artifact_type)?;
    let continues =
        latest.id == base.id || latest.metadata.0["edited_from"].as_str() == Some(base.id.as_str());
    let fresh = (Utc::now() - latest.created_at).num_seconds() < EDIT_SESSION_SECS;
    (continues
        && fresh
        && latest.created_by == user
        && latest.metadata.0["manually_edited"] == json!(true)
        && !confirmed(latest))
    .then_some(latest)
}

/// `PUT /artifacts/{artifact_id}` `{content}`: a hand edit.
pub async fn edit(
    State(app): State<AppState>,
    caller: Caller,
    Path(artifact_id): Path<String>,
    Json(body): Json<EditBody>,
) -> ApiResult<Json<Value>> {
    let base = owned_artifact(&app, &caller, &artifact_id).await?;
    let task = owned_task(&app, &caller, &base.task_id).await?;
    require_results(&task, "editing an artifact")?;
    let artifact_type = ArtifactType::parse(&base.artifact_type)
        .ok_or_else(|| ApiError::internal("unknown artifact type"))?;
    let content = match &body.content {
        Value::String(md) if md.trim().is_empty() => {
            return Err(ApiError::field("content", "must not be empty"))
        }
        Value::String(md) if md.chars().count() > MAX_MARKDOWN_CHARS => {
            return Err(ApiError::field(
                "content",
                format!("at most {MAX_MARKDOWN_CHARS} characters"),
            ))
        }
        Value::String(md) => json!({ "markdown": md }),
        Value::Object(_) => {
            let transcript = app
                .store
                .latest_transcript(&task.tenant_id, &task.id)
                .await?
                .ok_or_else(|| ApiError::not_found("transcript"))?;
            let ids: Vec<String> = segments_of(&transcript)?
                .into_iter()
                .map(|s| s.id)
                .collect();
            validate_content(artifact_type, &body.content, &ids)
                .map_err(|e| ApiError::field("content", e.to_string()))?
                .content
        }
        _ => {
            return Err(ApiError::field(
                "content",
                "Markdown text or an object of the artifact's type",
            ))
        }
    };
    let ctx = context(&app, &task.tenant_id, &task.id).await?;
    if content == base.content.0 {
        return Ok(Json(answer(&base, &ctx, &base.id, "nothing changed")));
    }
    let versions = app.store.list_artifacts(&task.tenant_id, &task.id).await?;
    let now = ts(&Utc::now());
    let mapping_version = ctx.mappings.last().map(|m| m.version);
    let saved = match open_edit(&versions, &base, &caller.user_id) {
        Some(open) => {
            let mut metadata = open.metadata.0.clone();
            metadata["last_edited_at"] = json!(now);
            let mut next = NewArtifact::from_record(open, &task.tenant_id);
            next.content = content;
            next.metadata = metadata;
            next.speaker_mapping_version = mapping_version;
            app.store.replace_artifact_content(&next).await?;
            open.id.clone()
        }
        None => {
            let mut next = NewArtifact::from_record(&base, &task.tenant_id);
            next.id = ids::artifact_id();
            next.content = content;
            next.metadata = json!({
                "manually_edited": true, "edited_from": base.id, "edited_from_version": base.version,
                "last_edited_at": now, "last_edited_by": caller.user_id,
            });
            // The text was written with the names shown now.
            next.speaker_mapping_version = mapping_version;
            next.model = "manual".into();
            next.prompt_hash = String::new();
            next.prompt_tokens = 0;
            next.completion_tokens = 0;
            next.created_by = caller.user_id.clone();
            app.store.insert_artifact(&next).await?.id
        }
    };
    caller
        .audit(
            &app,
            "artifact.edit",
            "artifact",
            &saved,
            json!({"task_id": task.id, "edited_from": base.id}),
        )
        .await;
    let version = app
        .store
        .get_artifact(&task.tenant_id, &saved)
        .await?
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    let ctx = context(&app, &task.tenant_id, &task.id).await?;
    Ok(Json(answer(
        &version,
        &ctx,
        &base.id,
        "saved as a new version",
    )))
}

fn answer(
    version: &ArtifactRecord,
    ctx: &super::views::ArtifactContext,
    edited_from: &str,
    message: &str,
) -> Value {
    json!({
        "success": true, "artifact_id": version.id, "version": version.version,
        "edited_from": edited_from, "message": message,
        "artifact": artifact_detail(version, ctx),
    })
}

#[derive(Debug, Deserialize)]
pub struct RenameBody {
    display_name: String,
}

/// `PATCH /artifacts/{artifact_id}` `{display_name}`: a label, so confirmed versions may be
/// renamed too.
pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(artifact_id): Path<String>,
    Json(body): Json<RenameBody>,
) -> ApiResult<Json<Value>> {
    let artifact = owned_artifact(&app, &caller, &artifact_id).await?;
    let name = body.display_name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(ApiError::field("display_name", "1–256 characters"));
    }
    if !app
        .store
        .rename_artifact(&caller.tenant_id, &artifact.id, name)
        .await?
    {
        return Err(ApiError::not_found("artifact"));
    }
    caller
        .audit(
            &app,
            "artifact.rename",
            "artifact",
            &artifact.id,
            json!({"task_id": artifact.task_id}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "artifact_id": artifact.id, "display_name": name,
        "message": "artifact renamed",
    })))
}

/// `DELETE /tasks/{id}/artifacts/{artifact_id}`: hides the version (soft delete); a confirmed
/// version is the record of what was agreed and cannot be deleted.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, artifact_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (task, artifact) = task_artifact(&app, &caller, &id, &artifact_id).await?;
    if confirmed(&artifact) {
        return Err(ApiError::bad_request(
            "artifact_confirmed",
            "a confirmed version cannot be deleted",
        ));
    }
    if !app
        .store
        .delete_artifact(&task.tenant_id, &artifact.id, &caller.user_id)
        .await?
    {
        return Err(ApiError::not_found("artifact"));
    }
    caller
        .audit(
            &app,
            "artifact.delete",
            "artifact",
            &artifact.id,
            json!({"task_id": task.id, "version": artifact.version}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "artifact_id": artifact.id,
        "message": format!("artifact {} deleted", artifact.id),
    })))
}
