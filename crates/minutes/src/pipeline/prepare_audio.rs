//! prepare_audio: fetch the parts, decode and join them into one 16 kHz mono WAV, record offsets.
use serde_json::json;

use super::{StageCtx, StageError, StageOutput};
use minutes_audio::{AudioError, Limits};

/// Where the normalized meeting audio of a task is kept for the later stages.
pub fn normalized_key(tenant_id: &str, task_id: &str) -> String {
    format!("work/{tenant_id}/{task_id}/normalized.wav")
}

pub(super) async fn run(ctx: &StageCtx<'_>) -> Result<StageOutput, StageError> {
    let task = &ctx.task;
    let files = ctx.app.store.task_files(&task.tenant_id, &task.id).await?;
    if files.is_empty() {
        return Err(StageError::permanent(
            "input_missing_file",
            "the task has no audio files",
        ));
    }
    let scratch = ctx.scratch()?;
    let mut inputs = Vec::with_capacity(files.len());
    for f in &files {
        let dest = scratch.path().join(format!("part{}", f.file_order));
        ctx.app
            .objects
            .download_to(&f.object_key, &dest)
            .await
            .map_err(|e| match e {
                crate::storage::StorageError::NotFound(_) => StageError::permanent(
                    "input_missing_file",
                    format!(
                        "uploaded file {} (`{}`) is gone",
                        f.file_order, f.original_filename
                    ),
                ),
                other => StageError::internal("fetching an upload", other),
            })?;
        inputs.push(dest);
    }
    let out = scratch.path().join("normalized.wav");
    let limits = Limits {
        max_duration_secs: ctx.app.config.audio.max_duration_secs,
    };
    let joined_out = out.clone();
    let timeline = crate::telemetry::spawn_blocking(move || {
        minutes_audio::concat_to_wav(&inputs, &joined_out, &limits)
    })
    .await
    .map_err(|e| StageError::internal("audio worker thread", e))?
    .map_err(|e| audio_error(e, &files))?;
    let key = normalized_key(&task.tenant_id, &task.id);
    ctx.app
        .objects
        .put_file(&key, &out)
        .await
        .map_err(|e| StageError::internal("storing normalized audio", e))?;
    let total = timeline.total_secs();
    let offsets = timeline
        .parts
        .iter()
        .map(|p| {
            (
                files[p.part_index].file_order,
                p.duration_secs,
                p.offset_secs,
            )
        })
        .collect();
    Ok(StageOutput {
        result: json!({
            "normalized_key": key,
            "duration": total,
            "parts": timeline.parts.iter().map(|p| json!({
                "part_index": p.part_index,
                "offset_secs": p.offset_secs,
                "duration_secs": p.duration_secs,
                "samples": p.samples,
            })).collect::<Vec<_>>(),
        }),
        audio_duration: Some(total),
        file_offsets: offsets,
        ..Default::default()
    })
}

fn audio_error(e: AudioError, files: &[crate::store::TaskFileRecord]) -> StageError {
    match e {
        AudioError::Part { index, source } => {
            let name = files
                .get(index)
                .map(|f| f.original_filename.as_str())
                .unwrap_or("?");
            let inner = audio_error(*source, files);
            StageError {
                message: format!("file {} (`{name}`): {}", index + 1, inner.message),
                ..inner
            }
        }
        AudioError::TooLong { limit_secs } => StageError::permanent(
            "input_too_large",
            format!("the recording is longer than the {:.0} s limit", limit_secs),
        ),
        AudioError::Io(e) => StageError::internal("reading audio", e),
        other => StageError::permanent("input_corrupted", other.to_string()),
    }
}
