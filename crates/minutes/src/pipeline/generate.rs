//! generate_artifact: render the task's prompt instance, call the language model, validate the
//! JSON against the artifact schema, and store a new version (never one for a failed answer).
use serde_json::{json, Map, Value};

use super::prompt::{effective_body, find_template};
use super::summarize::{invalid, summarize, Line};
use super::{job_task_record, JobError, StageCtx, StageError, StageOutput};
use crate::app::App;
use crate::domain::artifact::{validate_content, ArtifactType};
use crate::domain::cost::Usage;
use crate::domain::ids;
use crate::domain::templates::MEETING_DESCRIPTION;
use crate::domain::transcript::{join_text, Segment, Transcript};
use crate::store::{ClaimedJob, NewArtifact, NewCost, Owner, TaskRecord};

pub(super) async fn run(ctx: &StageCtx<'_>) -> Result<StageOutput, StageError> {
    let prompt_instance = ctx.task.prompt_instance.0.clone();
    // The task's template decides what its first artifact is (an action-items template gives
    // an action-items artifact, as in the original).
    let artifact_type = prompt_instance["artifact_type"]
        .as_str()
        .and_then(ArtifactType::parse)
        .unwrap_or(ArtifactType::MeetingMinutes);
    let (artifact, costs) = build_artifact(
        ctx.app,
        &ctx.task,
        artifact_type,
        &prompt_instance,
        "system",
    )
    .await?;
    let steps = ctx
        .app
        .store
        .task_steps(&ctx.task.tenant_id, &ctx.task.id)
        .await?;
    let partial = steps
        .iter()
        .any(|s| s.status == "failed" && s.step != "generate_artifact");
    Ok(StageOutput {
        result: json!({ "artifact_id": artifact.id, "artifact_type": artifact.artifact_type }),
        artifact: Some(artifact),
        costs,
        final_state: Some(if partial {
            "partial_success"
        } else {
            "success"
        }),
        ..Default::default()
    })
}

/// A (re)generation requested through the API; its failure leaves the task as it was.
pub(super) async fn regenerate(
    app: &App,
    job: &ClaimedJob,
    p: &crate::domain::job::Regenerate,
) -> Result<(), JobError> {
    let artifact_type = ArtifactType::parse(&p.artifact_type).ok_or_else(|| {
        JobError::Failed(StageError::permanent("bad_job", "unknown artifact type"))
    })?;
    let task = job_task_record(app, job, &p.task_id).await?;
    let mut artifact_payload = p.prompt_instance.clone();
    if artifact_payload.is_null() {
        artifact_payload = task.prompt_instance.0.clone();
    }
    let (mut artifact, mut costs) = build_artifact(
        app,
        &task,
        artifact_type,
        &artifact_payload,
        &p.requested_by,
    )
    .await
    .map_err(JobError::Failed)?;
    artifact.id = p.artifact_id.clone();
    artifact.display_name = p.display_name.clone();
    // A regeneration is a new call and a new bill, on the requesting job.
    costs.iter_mut().for_each(|c| c.bill_to(job));
    app.store
        .complete_job_with_artifact(&job.lease(), &artifact, &costs)
        .await?;
    super::count_costs(app, &costs);
    Ok(())
}

async fn build_artifact(
    app: &App,
    task: &TaskRecord,
    artifact_type: ArtifactType,
    prompt_instance: &Value,
    created_by: &str,
) -> Result<(NewArtifact, Vec<NewCost>), StageError> {
    let store = &app.store;
    let revision = store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| StageError::permanent("transcript_missing", "the task has no transcript"))?;
    let segments: Vec<Segment> = serde_json::from_value(revision.segments.0.clone())
        .map_err(|e| StageError::internal("segments", e))?;
    let mapping = store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let named: Vec<Segment> = segments
        .iter()
        .cloned()
        .map(|mut s| {
            if let Some(name) = mapping
                .as_ref()
                .and_then(|m| m.mapping.0[&s.speaker]["name"].as_str())
            {
                s.speaker = name.to_string();
            }
            s
        })
        .collect();
    let transcript = Transcript::new(
        named,
        revision.duration,
        revision.language.clone(),
        revision.provider.clone(),
    );
    // A free-text correction that could not be mapped onto segments replaces the body as a whole.
    let lines: Vec<Line> = if revision.full_text != join_text(&segments) {
        revision
            .full_text
            .lines()
            .map(|l| Line {
                text: l.to_string(),
                segment_id: None,
                speaker: String::new(),
                content: l.to_string(),
            })
            .collect()
    } else {
        transcript
            .segments
            .iter()
            .map(|s| Line {
                text: format!("[{}] {}: {}", s.id, s.speaker, s.text),
                segment_id: Some(s.id.clone()),
                speaker: s.speaker.clone(),
                content: s.text.clone(),
            })
            .collect()
    };

    let template_id = prompt_instance["template_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| default_template_for(app, artifact_type));
    let owner = Owner {
        tenant_id: task.tenant_id.clone(),
        user_id: task.user_id.clone(),
    };
    let template = find_template(store.as_ref(), &owner, &template_id, artifact_type)
        .await?
        .ok_or_else(|| {
            StageError::permanent(
                "template_missing",
                format!("prompt template `{template_id}` does not exist"),
            )
        })?;
    // A template written for another type still gives its instructions; the output follows
    // the requested type's schema (the original used any template for any type).
    let body = effective_body(&template, prompt_instance);
    let mut values: Map<String, Value> = prompt_instance["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(schema) = template.parameter_schema.0.as_object() {
        for (name, spec) in schema {
            if !values.contains_key(name) {
                values.insert(
                    name.clone(),
                    spec.get("default").cloned().unwrap_or(json!("")),
                );
            }
        }
    }
    values
        .entry(MEETING_DESCRIPTION)
        .or_insert_with(|| json!(""));
    let output_language = prompt_instance["language"]
        .as_str()
        .unwrap_or(&task.output_language)
        .to_string();
    values.insert("speakers".into(), json!(transcript.speakers().join(", ")));
    values.insert("output_language".into(), json!(output_language));
    values.insert("meeting_type".into(), json!(task.meeting_type));
    let output = summarize(app, &body, &values, artifact_type, &lines).await?;
    let ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
    let validated = validate_content(artifact_type, &output.content, &ids)
        .map_err(|e| invalid(e.to_string()))?;
    let costs = output
        .billed
        .iter()
        .map(|b| {
            NewCost::priced(
                &app.config.pricing,
                "generate_artifact",
                &b.provider,
                &b.model,
                Usage::Tokens {
                    input: b.usage.prompt_tokens,
                    output: b.usage.completion_tokens,
                },
                json!({"artifact_type": artifact_type.as_str(), "prompt_tokens": b.usage.prompt_tokens,
                       "completion_tokens": b.usage.completion_tokens}),
            )
        })
        .collect();
    let artifact = NewArtifact {
        id: ids::artifact_id(),
        task_id: task.id.clone(),
        tenant_id: task.tenant_id.clone(),
        artifact_type: artifact_type.as_str().to_string(),
        content: validated.content,
        prompt_instance: stored_prompt_instance(&template.id, &output_language, prompt_instance),
        metadata: json!({
            "llm_provider": output.provider,
            "llm_fallback_errors": output.fallback_errors,
            "llm_model": output.model,
            "token_count": output.usage.prompt_tokens + output.usage.completion_tokens,
            "dropped_citations": validated.dropped_citations,
            "generation": output.strategy,
            "template_version": template.version,
            "schema_version": crate::domain::artifact::SCHEMA_VERSION,
        }),
        transcript_revision: revision.revision,
        speaker_mapping_version: mapping.as_ref().map(|m| m.version),
        template_id: template.id.clone(),
        model: output.model.clone(),
        prompt_hash: output.prompt_hash,
        prompt_tokens: output.usage.prompt_tokens as i64,
        completion_tokens: output.usage.completion_tokens as i64,
        created_by: created_by.to_string(),
        display_name: None,
    };
    Ok((artifact, costs))
}

/// The prompt instance a version records: what the frontend reads back to prefill a
/// regeneration (template, language, parameters, and the edited prompt text if any).
fn stored_prompt_instance(template_id: &str, language: &str, given: &Value) -> Value {
    let mut out = json!({
        "template_id": template_id,
        "language": language,
        "parameters": given["parameters"].as_object().cloned().unwrap_or_default(),
    });
    for key in ["prompt_text", "custom_instructions"] {
        if let Some(text) = given[key].as_str().filter(|t| !t.trim().is_empty()) {
            out[key] = json!(text);
        }
    }
    out
}

/// The built-in template for a type; meeting minutes use the configured default.
fn default_template_for(app: &App, artifact_type: ArtifactType) -> String {
    match artifact_type {
        ArtifactType::MeetingMinutes => app.config.pipeline.default_template.clone(),
        other => other.as_str().to_string(),
    }
}
