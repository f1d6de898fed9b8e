//! `PATCH /tasks/{id}/speakers`: rename speaker labels. A new mapping version; every artifact view
//! re-renders with the new names at once, with no model call unless regeneration is asked for.
use std::collections::BTreeMap;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::corrections::{regeneration_jobs, require_results};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::tasks::owned_task;
use super::AppState;
use crate::store::{NewJob, NewSpeakerMapping};

#[derive(Debug, Deserialize)]
pub struct RenameSpeakers {
    /// label → display name
    speaker_mapping: BTreeMap<String, String>,
    #[serde(default)]
    regenerate_artifacts: bool,
}

pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RenameSpeakers>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    require_results(&task, "renaming speakers")?;
    let current = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| ApiError::not_found("speaker mapping"))?;
    if body.speaker_mapping.is_empty() {
        return Err(ApiError::field(
            "speaker_mapping",
            "give at least one label → name",
        ));
    }
    let mut mapping = current.mapping.0.clone();
    let unknown: Vec<&String> = body
        .speaker_mapping
        .keys()
        .filter(|l| mapping.get(l.as_str()).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::field(
            "speaker_mapping",
            format!("unknown speaker labels: {unknown:?}"),
        ));
    }
    for (label, name) in &body.speaker_mapping {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(ApiError::field(
                "speaker_mapping",
                format!("the name for `{label}` must be 1–128 characters"),
            ));
        }
        mapping[label.as_str()]["name"] = json!(name);
        mapping[label.as_str()]["source"] = json!("manual");
    }
    let jobs = if body.regenerate_artifacts {
        regeneration_jobs(&app, &task, &caller).await?
    } else {
        Vec::new()
    };
    let job_rows: Vec<NewJob> = jobs.iter().map(|(j, _)| j.clone()).collect();
    let version = app
        .store
        .add_speaker_mapping(
            &task.tenant_id,
            &task.id,
            &NewSpeakerMapping {
                mapping,
                author: caller.user_id.clone(),
                reason: "rename".into(),
            },
            &job_rows,
        )
        .await?;
    caller
        .audit(
            &app,
            "speakers.rename",
            "task",
            &task.id,
            // Labels only: the names are encrypted personal data, the audit log is not.
            json!({"version": version, "labels": body.speaker_mapping.keys().collect::<Vec<_>>()}),
        )
        .await;
    Ok(Json(json!({
        "success": true,
        "message": format!("speaker mapping version {version} saved"),
        "speaker_mapping_version": version,
        "regenerated_artifacts": jobs.iter().map(|(_, a)| a).collect::<Vec<_>>(),
        "jobs": jobs.iter().map(|(j, _)| &j.id).collect::<Vec<_>>(),
    })))
}
