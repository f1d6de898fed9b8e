//! `POST /tasks/{id}/confirm`: a person accepts the minutes; the task is archived and the
//! confirmed versions carry a watermark naming them. Later edits make new revisions/versions.
use std::collections::BTreeMap;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::domain::task::TaskState;
use crate::store::Confirmation;

/// Items that must be checked before minutes can be confirmed (the original's required set).
pub const REQUIRED_ITEMS: [&str; 2] = ["key_conclusions", "responsible_persons"];

#[derive(Debug, Deserialize)]
pub struct ResponsiblePerson {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    confirmation_items: BTreeMap<String, bool>,
    responsible_person: Option<ResponsiblePerson>,
}

pub async fn confirm(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ConfirmBody>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    // Checks in the original's order: state, already confirmed, items, person.
    if !matches!(
        TaskState::parse(&task.state),
        Some(TaskState::Success | TaskState::PartialSuccess)
    ) {
        let detail = if task.is_confirmed {
            "the task is already confirmed".to_string()
        } else {
            format!("state {} cannot be confirmed", task.state)
        };
        return Err(ApiError::bad_request("invalid_state", detail));
    }
    let missing: Vec<&str> = REQUIRED_ITEMS
        .into_iter()
        .filter(|item| body.confirmation_items.get(*item) != Some(&true))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(
            "confirmation_incomplete",
            format!(
                "required confirmation items are not checked: {}",
                missing.join(", ")
            ),
        ));
    }
    let person = body.responsible_person.as_ref();
    let person_id = person
        .and_then(|p| p.id.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let person_name = person
        .and_then(|p| p.name.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (Some(person_id), Some(person_name)) = (person_id, person_name) else {
        return Err(ApiError::bad_request(
            "responsible_person_incomplete",
            "responsible_person needs both id and name",
        ));
    };
    if person_name.chars().count() > 128 || person_id.len() > 64 {
        return Err(ApiError::field(
            "responsible_person",
            "id ≤ 64 and name ≤ 128 characters",
        ));
    }
    let now = chrono::Utc::now();
    let items = json!(body.confirmation_items);
    let confirmation = Confirmation {
        confirmed_at: now,
        confirmed_by: person_id.to_string(),
        confirmed_by_name: person_name.to_string(),
        items: items.clone(),
        watermark: json!({
            "confirmed_by_id": person_id, "confirmed_by_name": person_name, "confirmed_at": ts(&now),
            "confirmation_items": items, "recorded_by": caller.user_id,
            "text": format!("Confirmed by {person_name} ({person_id}) at {}", ts(&now)),
        }),
    };
    let task = app
        .store
        .confirm_task(&caller.owner(), &id, &confirmation)
        .await?;
    caller
        .audit(
            &app,
            "task.confirm",
            "task",
            &id,
            // The responsible person is encrypted personal data; the audit log names the items.
            json!({"confirmation_items": items}),
        )
        .await;
    Ok(Json(json!({
        "success": true,
        "task_id": task.id,
        "state": task.state,
        "confirmed_by": task.confirmed_by,
        "confirmed_by_name": task.confirmed_by_name,
        "confirmed_at": task.confirmed_at.as_ref().map(ts),
        "message": "minutes confirmed and archived",
    })))
}
