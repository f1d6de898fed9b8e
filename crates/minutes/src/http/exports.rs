//! `GET /tasks/{id}/export?format=md|docx|srt|vtt|json[&artifact_id=…]`: files for people and
//! other tools, built from the current revision, names and (confirmed) watermark.
use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::artifacts::context;
use super::auth::Caller;
use super::corrections::{require_results, segments_of};
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query};
use super::tasks::owned_task;
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::render::{artifact_markdown, subtitles};
use crate::domain::speakers::names;
use crate::export::{markdown_to_docx, markdown_to_pdf, ExportFormat};

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: String,
    artifact_id: Option<String>,
}

pub async fn export(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let format = ExportFormat::parse(&q.format).ok_or_else(|| {
        ApiError::bad_request(
            "unsupported_format",
            format!("format must be one of {}", ExportFormat::NAMES),
        )
    })?;
    let task = owned_task(&app, &caller, &id).await?;
    require_results(&task, "exporting")?;
    let transcript = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let mapping = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let speaker_names: HashMap<String, String> = mapping
        .as_ref()
        .map(|m| names(&m.mapping.0).into_iter().collect())
        .unwrap_or_default();
    let artifacts = app.store.list_artifacts(&task.tenant_id, &task.id).await?;
    let ctx = context(&app, &task.tenant_id, &task.id).await?;
    let chosen = match &q.artifact_id {
        Some(aid) => Some(
            artifacts
                .iter()
                .find(|a| &a.id == aid)
                .ok_or_else(|| ApiError::not_found("artifact"))?,
        ),
        // The latest minutes, else the first artifact a task made of another type has.
        None => artifacts
            .iter()
            .find(|a| a.artifact_type == ArtifactType::MeetingMinutes.as_str())
            .or(artifacts.first()),
    };
    let markdown = || -> ApiResult<String> {
        let a = chosen.ok_or_else(|| ApiError::not_found("artifact"))?;
        let artifact_type = ArtifactType::parse(&a.artifact_type)
            .ok_or_else(|| ApiError::internal("unknown artifact type"))?;
        artifact_markdown(artifact_type, &ctx.content(a))
            .ok_or_else(|| ApiError::internal("artifact content does not match its schema"))
    };
    let body: Vec<u8> = match format {
        ExportFormat::Markdown => markdown()?.into_bytes(),
        ExportFormat::Docx => markdown_to_docx(&markdown()?).map_err(ApiError::internal)?,
        ExportFormat::Pdf => {
            let md = markdown()?;
            // Layout and compression are CPU work; keep them off the async threads.
            crate::telemetry::spawn_blocking(move || markdown_to_pdf(&md))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?
        }
        ExportFormat::Srt | ExportFormat::Vtt => subtitles(
            &segments_of(&transcript)?,
            &speaker_names,
            format == ExportFormat::Vtt,
        )
        .into_bytes(),
        ExportFormat::Json => {
            let mut latest: Vec<Value> = Vec::new();
            for a in &artifacts {
                if !latest.iter().any(|l| l["artifact_type"] == a.artifact_type) {
                    latest.push(json!({"artifact_id": a.id, "artifact_type": a.artifact_type, "version": a.version,
                                       "stale": ctx.stale(a), "content": ctx.content(a)}));
                }
            }
            serde_json::to_vec_pretty(&json!({
                "task": {"task_id": task.id, "name": task.name, "meeting_type": task.meeting_type, "state": task.state,
                         "duration": task.audio_duration, "is_confirmed": task.is_confirmed},
                "transcript": {"revision": transcript.revision, "segments": transcript.segments.0,
                               "full_text": transcript.full_text, "language": transcript.language},
                "speakers": speaker_names,
                "artifacts": latest,
            }))
            .map_err(ApiError::internal)?
        }
    };
    caller
        .audit(
            &app,
            "task.export",
            "task",
            &task.id,
            json!({"format": format.extension(), "artifact_id": chosen.map(|a| &a.id)}),
        )
        .await;
    let filename = format!("{}.{}", task.id, format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}
