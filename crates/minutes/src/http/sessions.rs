//! Session (task) organisation: move between folders, the trash (soft delete, restore,
//! permanent delete, listing) and the batch variants. Tasks of other users or tenants answer 404
//! one at a time and are skipped silently in batches. A task in the trash is invisible to every
//! other endpoint (the store's task lookup hides it), so only restore, permanent delete and the
//! trash listing reach it here; moving or trashing it again answers 404 / skips it.
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::tasks::purge_task;
use super::views::ts;
use super::AppState;
use crate::store::{StoreError, TaskRecord};

const MAX_BATCH: usize = 500;

/// A trash entry of the original API.
fn trash_item(t: &TaskRecord) -> Value {
    json!({
        "task_id": t.id,
        "user_id": t.user_id,
        "tenant_id": t.tenant_id,
        "name": t.name,
        "meeting_type": t.meeting_type,
        "folder_id": t.folder_id,
        "duration": t.audio_duration,
        // The frontend's trash list shows the same status tag as the task list.
        "state": t.state,
        "last_content_modified_at": ts(&t.last_content_modified_at),
        "deleted_at": t.deleted_at.as_ref().map(ts),
        "created_at": ts(&t.created_at),
        "updated_at": ts(&t.updated_at),
    })
}

/// `null`, a missing field and `""` all mean the root (`""` as in `GET /tasks?folder_id=`).
fn target_folder(folder_id: &Option<String>) -> Option<&str> {
    folder_id.as_deref().filter(|f| !f.is_empty())
}

fn folder_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("folder"),
        other => other.into(),
    }
}

fn check_batch(task_ids: &[String]) -> ApiResult<()> {
    if task_ids.is_empty() || task_ids.len() > MAX_BATCH {
        return Err(ApiError::field(
            "task_ids",
            format!("between 1 and {MAX_BATCH} task ids"),
        ));
    }
    Ok(())
}

/// One audit entry per task that actually changed.
async fn audit_each(app: &AppState, caller: &Caller, action: &str, ids: &[String], details: Value) {
    for id in ids {
        caller.audit(app, action, "task", id, details.clone()).await;
    }
}

#[derive(Debug, Deserialize)]
pub struct Move {
    #[serde(default)]
    folder_id: Option<String>,
}

pub async fn move_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Move>,
) -> ApiResult<Json<Value>> {
    let folder = target_folder(&body.folder_id);
    let moved = app
        .store
        .move_tasks(&caller.owner(), std::slice::from_ref(&id), folder)
        .await
        .map_err(folder_not_found)?;
    if moved.is_empty() {
        return Err(ApiError::not_found("task"));
    }
    audit_each(
        &app,
        &caller,
        "session.move",
        &moved,
        json!({"folder_id": folder}),
    )
    .await;
    Ok(Json(json!({
        "success": true, "task_id": id, "folder_id": folder, "message": "session moved",
    })))
}

pub async fn trash_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let trashed = app
        .store
        .trash_tasks(&caller.owner(), std::slice::from_ref(&id))
        .await?;
    if trashed.is_empty() {
        return Err(ApiError::not_found("task"));
    }
    audit_each(&app, &caller, "session.delete", &trashed, json!({})).await;
    Ok(Json(json!({
        "success": true, "task_id": id, "message": "session moved to the trash",
    })))
}

pub async fn restore_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner = caller.owner();
    let restored = app
        .store
        .restore_tasks(&owner, std::slice::from_ref(&id))
        .await?;
    if restored.is_empty() {
        // Restoring a task that is not in the trash changes nothing and is not an error.
        app.store
            .get_task_including_deleted(&owner, &id)
            .await?
            .ok_or_else(|| ApiError::not_found("task"))?;
        return Ok(Json(json!({
            "success": true, "task_id": id, "message": "session was not in the trash",
        })));
    }
    audit_each(&app, &caller, "session.restore", &restored, json!({})).await;
    Ok(Json(json!({
        "success": true, "task_id": id, "message": "session restored",
    })))
}

/// `DELETE /sessions/{task_id}`: permanent, whether or not the task is in the trash.
pub async fn purge(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = app
        .store
        .get_task_including_deleted(&caller.owner(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    purge_task(&app, &caller, &task).await?;
    caller
        .audit(
            &app,
            "session.purge",
            "task",
            &id,
            json!({"state": task.state, "was_in_trash": task.is_deleted}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "task_id": id, "message": "session permanently deleted",
    })))
}

pub async fn trash(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let tasks = app.store.list_trash(&caller.owner()).await?;
    let items: Vec<Value> = tasks.iter().map(trash_item).collect();
    Ok(Json(json!({"total": items.len(), "items": items})))
}

#[derive(Debug, Deserialize)]
pub struct BatchMove {
    task_ids: Vec<String>,
    #[serde(default)]
    folder_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BatchIds {
    task_ids: Vec<String>,
}

pub async fn batch_move(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<BatchMove>,
) -> ApiResult<Json<Value>> {
    check_batch(&body.task_ids)?;
    let folder = target_folder(&body.folder_id);
    let moved = app
        .store
        .move_tasks(&caller.owner(), &body.task_ids, folder)
        .await
        .map_err(folder_not_found)?;
    audit_each(
        &app,
        &caller,
        "session.move",
        &moved,
        json!({"folder_id": folder, "batch": true}),
    )
    .await;
    Ok(Json(json!({
        "success": true, "moved_count": moved.len(),
        "message": format!("{} session(s) moved", moved.len()),
    })))
}

pub async fn batch_delete(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<BatchIds>,
) -> ApiResult<Json<Value>> {
    check_batch(&body.task_ids)?;
    let trashed = app
        .store
        .trash_tasks(&caller.owner(), &body.task_ids)
        .await?;
    audit_each(
        &app,
        &caller,
        "session.delete",
        &trashed,
        json!({"batch": true}),
    )
    .await;
    Ok(Json(json!({
        "success": true, "deleted_count": trashed.len(),
        "message": format!("{} session(s) moved to the trash", trashed.len()),
    })))
}

pub async fn batch_restore(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<BatchIds>,
) -> ApiResult<Json<Value>> {
    check_batch(&body.task_ids)?;
    let restored = app
        .store
        .restore_tasks(&caller.owner(), &body.task_ids)
        .await?;
    audit_each(
        &app,
        &caller,
        "session.restore",
        &restored,
        json!({"batch": true}),
    )
    .await;
    Ok(Json(json!({
        "success": true, "restored_count": restored.len(),
        "message": format!("{} session(s) restored", restored.len()),
    })))
}
