//! Folder endpoints: list, create, rename, delete. Folders are flat and belong to the token's
//! user in the token's tenant; anybody else's folder answers 404.
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::views::ts;
use super::AppState;
use crate::domain::ids;
use crate::store::{FolderRecord, StoreError};

const MAX_NAME_CHARS: usize = 256;

/// `FolderInfo` of the original API.
fn folder_info(f: &FolderRecord) -> Value {
    json!({
        "folder_id": f.id,
        "name": f.name,
        "parent_id": f.parent_id,
        "owner_user_id": f.owner_user_id,
        "owner_tenant_id": f.tenant_id,
        "created_at": ts(&f.created_at),
        "updated_at": ts(&f.updated_at),
    })
}

#[derive(Debug, Deserialize)]
pub struct FolderName {
    name: String,
}

impl FolderName {
    /// The trimmed name, 1–256 characters.
    fn validated(&self) -> ApiResult<&str> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::field(
                "name",
                format!("1–{MAX_NAME_CHARS} characters"),
            ));
        }
        Ok(name)
    }
}

fn folder_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("folder"),
        StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, "duplicate_name", msg),
        other => other.into(),
    }
}

pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let folders = app.store.list_folders(&caller.owner()).await?;
    let items: Vec<Value> = folders.iter().map(folder_info).collect();
    Ok(Json(json!({"total": items.len(), "items": items})))
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<FolderName>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = body.validated()?;
    let folder = app
        .store
        .create_folder(&caller.owner(), &ids::new_id("folder"), name)
        .await
        .map_err(folder_error)?;
    caller
        .audit(
            &app,
            "folder.create",
            "folder",
            &folder.id,
            json!({"name": folder.name}),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "folder_id": folder.id, "message": "folder created"})),
    ))
}

pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<FolderName>,
) -> ApiResult<Json<Value>> {
    let name = body.validated()?;
    let folder = app
        .store
        .rename_folder(&caller.owner(), &id, name)
        .await
        .map_err(folder_error)?;
    caller
        .audit(
            &app,
            "folder.rename",
            "folder",
            &folder.id,
            json!({"name": folder.name}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "folder_id": folder.id, "name": folder.name, "message": "folder renamed",
    })))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let moved = app
        .store
        .delete_folder(&caller.owner(), &id)
        .await
        .map_err(folder_error)?;
    caller
        .audit(
            &app,
            "folder.delete",
            "folder",
            &id,
            json!({"moved_count": moved}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "moved_count": moved,
        "message": format!("folder deleted; {moved} session(s) moved to the root"),
    })))
}
