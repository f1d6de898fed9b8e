//! `minutes run <files…>`: the whole pipeline in-process on the configured engines, with a
//! progress bar per stage; prints the minutes as Markdown and writes the full result as JSON.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Config;
use crate::domain::artifact::MeetingMinutes;
use crate::domain::ids;
use crate::domain::render::minutes_markdown;
use crate::domain::stage::Stage;
use crate::domain::task::{TaskState, ASR_LANGUAGES, OUTPUT_LANGUAGES};
use crate::http::uploads::{new_upload_key, upload_row};
use crate::pipeline::stage_job;
use crate::queue::{Worker, WorkerOptions};
use crate::store::{NewTask, NewTaskFile, Owner, TaskRecord};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Audio files of one meeting, in meeting order (wav, mp3, m4a, ogg, opus, flac).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the full result as JSON (default: next to the first input).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Spoken language: zh-CN, en-US, zh-CN+en-US, ja-JP, ko-KR.
    #[arg(long, default_value = "zh-CN+en-US")]
    pub language: String,
    /// Language of the minutes.
    #[arg(long, default_value = "zh-CN")]
    pub output_language: String,
    #[arg(long, default_value = "general")]
    pub meeting_type: String,
    /// A sentence about the meeting, passed to the prompt.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Skip speaker identification.
    #[arg(long)]
    pub skip_speakers: bool,
}

pub async fn run(config: Config, args: RunArgs) -> anyhow::Result<()> {
    if !ASR_LANGUAGES.contains(&args.language.as_str()) {
        bail!("--language must be one of {}", ASR_LANGUAGES.join(", "));
    }
    if !OUTPUT_LANGUAGES.contains(&args.output_language.as_str()) {
        bail!(
            "--output-language must be one of {}",
            OUTPUT_LANGUAGES.join(", ")
        );
    }
    let app = Arc::new(App::build(&config).await?);
    let user = app.store.upsert_dev_user("local").await?;
    let owner = Owner {
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
    };
    let mut files = Vec::new();
    for (order, path) in args.files.iter().enumerate() {
        files.push(store_input(&app, &owner, order, path).await?);
    }
    let task_id = ids::task_id();
    let task = NewTask {
        id: task_id.clone(),
        tenant_id: owner.tenant_id.clone(),
        user_id: owner.user_id.clone(),
        name: args
            .files
            .first()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned()),
        meeting_type: args.meeting_type.clone(),
        asr_language: args.language.clone(),
        output_language: args.output_language.clone(),
        skip_speaker_recognition: args.skip_speakers,
        hotword_set_id: None,
        prompt_instance: json!({
            "template_id": config.pipeline.default_template,
            "language": args.output_language,
            "parameters": {"meeting_description": args.description},
        }),
        folder_id: None,
        meeting_date: None,
        meeting_time: None,
        hotwords: Vec::new(),
    };
    let job = stage_job(&app, Stage::PrepareAudio, &owner.tenant_id, &task_id);
    app.store.create_task(&task, &files, &job).await?;

    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(
            app.clone(),
            WorkerOptions::all_queues(config.queue.concurrency),
        )
        .run(stop.clone()),
    );
    let finished = watch_progress(&app, &owner, &task_id).await;
    stop.cancel();
    worker.await.context("worker task")?;
    let finished = finished?;
    let state = TaskState::parse(&finished.state);
    if !matches!(state, Some(TaskState::Success | TaskState::PartialSuccess)) {
        bail!(
            "the pipeline ended `{}` at {}: {} [{}]. Run `minutes run` again after fixing the cause; \
             see docs/CONFIG.md for provider settings",
            finished.state,
            finished.failed_stage.as_deref().unwrap_or("?"),
            finished.error_message.as_deref().unwrap_or("no detail"),
            finished.error_code.as_deref().unwrap_or("unknown"),
        );
    }
    let result = collect_result(&app, &finished).await?;
    let out = args
        .json
        .clone()
        .unwrap_or_else(|| default_json_path(&args.files[0]));
    std::fs::write(&out, serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let minutes: MeetingMinutes =
        serde_json::from_value(result["minutes"].clone()).context("reading the minutes")?;
    println!("{}", minutes_markdown(&minutes));
    eprintln!("full result written to {}", out.display());
    app.sql.close().await;
    Ok(())
}

fn default_json_path(first: &Path) -> PathBuf {
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "meeting".into());
    first.with_file_name(format!("{stem}.minutes.json"))
}

/// Copies one local file into the object store as the local user's upload, after sniffing it.
async fn store_input(
    app: &App,
    owner: &Owner,
    order: usize,
    path: &Path,
) -> anyhow::Result<NewTaskFile> {
    let mut head = vec![0u8; 64];
    let n = {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        f.read(&mut head)?
    };
    let container = minutes_audio::sniff(&head[..n]).with_context(|| {
        format!(
            "{} is not a supported audio file (wav, mp3, m4a/aac, ogg/vorbis, opus, flac)",
            path.display()
        )
    })?;
    let key = new_upload_key(&owner.user_id, container);
    let written = app
        .objects
        .put_file(&key, path)
        .await
        .with_context(|| format!("storing {}", path.display()))?;
    let original = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    app.store
        .insert_upload(&upload_row(owner, &key, &original, container, &written))
        .await?;
    Ok(NewTaskFile {
        file_order: order as i64,
        object_key: key,
        original_filename: original,
        sha256: written.sha256,
        size_bytes: written.size_bytes as i64,
    })
}

/// One bar per stage, updated from the step records until the task leaves the active states.
async fn watch_progress(app: &App, owner: &Owner, task_id: &str) -> anyhow::Result<TaskRecord> {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>18} [{bar:30}] {msg}")
        .context("progress style")?
        .progress_chars("=> ");
    let bars: Vec<(Stage, ProgressBar)> = Stage::ALL
        .into_iter()
        .map(|s| {
            let bar = multi.add(ProgressBar::new(1));
            bar.set_style(style.clone());
            bar.set_prefix(s.name());
            bar.set_message("waiting");
            (s, bar)
        })
        .collect();
    loop {
        let task = app
            .store
            .get_task(owner, task_id)
            .await?
            .context("the task disappeared")?;
        let steps = app.store.task_steps(&owner.tenant_id, task_id).await?;
        for (stage, bar) in &bars {
            if let Some(step) = steps.iter().find(|s| s.step == stage.name()) {
                let msg = match step.status.as_str() {
                    "running" if step.attempts > 1 => {
                        format!("running (attempt {})", step.attempts)
                    }
                    "failed" => format!("failed: {}", step.error.as_deref().unwrap_or("")),
                    other => other.to_string(),
                };
                bar.set_message(msg);
                if matches!(step.status.as_str(), "success" | "skipped" | "failed") {
                    bar.set_position(1);
                } else {
                    bar.tick();
                }
            }
        }
        if !TaskState::parse(&task.state).is_some_and(TaskState::is_active) {
            for (_, bar) in &bars {
                bar.abandon();
            }
            return Ok(task);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `--json` document: task, transcript, speakers, minutes.
async fn collect_result(app: &App, task: &TaskRecord) -> anyhow::Result<Value> {
    let transcript = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .context("the task has no transcript")?;
    let speakers = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let artifacts = app.store.list_artifacts(&task.tenant_id, &task.id).await?;
    let minutes = artifacts
        .iter()
        .find(|a| a.artifact_type == "meeting_minutes")
        .context("the task has no minutes")?;
    let files = app.store.task_files(&task.tenant_id, &task.id).await?;
    Ok(json!({
        "task": crate::http::task_view(task, &files),
        "transcript": {
            "segments": transcript.segments.0,
            "full_text": transcript.full_text,
            "duration": transcript.duration,
            "language": transcript.language,
            "provider": transcript.provider,
        },
        "speakers": speakers.map(|s| s.mapping.0).unwrap_or_else(|| json!({})),
        "minutes": minutes.content.0,
        "artifact": {"artifact_id": minutes.id, "version": minutes.version, "model": minutes.model},
    }))
}
