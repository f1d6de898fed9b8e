//! `PATCH /tasks/{id}/speakers`: rename speakers. Keys are labels or the names shown now (the
//! original frontend sends the displayed name). A new mapping version; transcript and artifact
//! views show the new names at once, and the artifacts are regenerated unless asked not to.
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
use crate::domain::speakers::{label_for, names};
use crate::store::{NewJob, NewSpeakerMapping};

#[derive(Debug, Deserialize)]
pub struct RenameSpeakers {
    /// label or current name → new name
    speaker_mapping: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    regenerate_artifacts: bool,
}

fn default_true() -> bool {
    true
}

/// Where a chain of renames ends (`{A: B, B: C}` takes A to C), stopping at a cycle.
fn final_name<'a>(renames: &'a BTreeMap<String, String>, start: &'a str) -> &'a str {
    let mut name = start;
    for _ in 0..renames.len() {
        match renames.get(name) {
            Some(next) if next.trim() != name => name = next.trim(),
            _ => break,
        }
    }
    name
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
    let mut changed: Vec<String> = Vec::new();
    let mut unresolved: Vec<&String> = Vec::new();
    for key in body.speaker_mapping.keys() {
        let name = final_name(&body.speaker_mapping, key);
        if name.is_empty() || name.chars().count() > 128 {
            return Err(ApiError::field(
                "speaker_mapping",
                format!("the name for `{key}` must be 1–128 characters"),
            ));
        }
        // A key may name several labels (two shown under one name): all of them are renamed.
        let labels: Vec<String> = if mapping.get(key.as_str()).is_some() {
            vec![key.clone()]
        } else {
            names(&mapping)
                .into_iter()
                .filter(|(_, shown)| shown == key.trim())
                .map(|(label, _)| label)
                .collect()
        };
        if labels.is_empty() {
            unresolved.push(key);
        }
        for label in labels {
            if mapping[label.as_str()]["name"].as_str() != Some(name) {
                mapping[label.as_str()]["name"] = json!(name);
                mapping[label.as_str()]["source"] = json!("manual");
                changed.push(label);
            }
        }
    }
    // A key no speaker has now was applied before (the frontend resends its accumulated renames
    // with every save, after the transcript save that applied them) when its chain reaches a
    // name shown now; otherwise it names nobody.
    let unknown: Vec<&String> = unresolved
        .into_iter()
        .filter(|key| {
            let mut name = key.as_str();
            for _ in 0..=body.speaker_mapping.len() {
                if label_for(&mapping, name).is_some() {
                    return false;
                }
                match body.speaker_mapping.get(name) {
                    Some(next) if next.trim() != name => name = next.trim(),
                    _ => break,
                }
            }
            true
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::field(
            "speaker_mapping",
            format!("unknown speakers (neither a label nor a name shown now): {unknown:?}"),
        ));
    }
    if changed.is_empty() {
        return Ok(Json(json!({
            "success": true, "message": "the speaker names are unchanged",
            "speaker_mapping_version": current.version, "regenerated_artifacts": [], "jobs": [],
        })));
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
            json!({"version": version, "labels": changed}),
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
