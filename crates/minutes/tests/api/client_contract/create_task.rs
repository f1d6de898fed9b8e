//! The create-task pages and the workbench (contract §2.4, §2.5): T2 upload, P1 for the chosen
//! template's body, T3 with the exact body the config page sends, then T4 and the T5 poll every
//! 2 s until the task is done.
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::front::Front;
use super::shape::{opt_string, string};
use super::{templates, types};

/// 26 s, two speakers, English (tests/fixtures/audio/README.md): quick on Whisper tiny.
pub const FIXTURE: &str = "en01_head.opus";
/// Its length as the browser measures it (`<audio preload=metadata>`), sent as `audio_duration`.
const FIXTURE_SECS: f64 = 26.0;
/// The longest the workbench is watched before the test gives up.
const PIPELINE_WITHIN: Duration = Duration::from_secs(300);

fn fixture() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(FIXTURE);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// T2 (`CreateTask.tsx:71-80`): `(file_path, original_filename)`.
pub async fn upload(front: &Front) -> (String, String) {
    let body = front.upload(FIXTURE, "audio/ogg", fixture()).await;
    let path = string("T2 POST /upload", &body, "file_path").to_string();
    let name = opt_string("T2 POST /upload", &body, "original_filename")
        .unwrap_or(FIXTURE)
        .to_string();
    (path, name)
}

/// The prompt text the config page sends: the chosen template's body, trimmed
/// (`CreateTaskConfig.tsx:56`), from the selector's P1.
pub async fn prompt_of(front: &Front, template_id: &str) -> String {
    templates::list(front)
        .await
        .iter()
        .find(|t| t["template_id"] == template_id)
        .and_then(|t| t["prompt_body"].as_str())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Upload, then T3 with the body of contract §2.4.4; returns the task id.
pub async fn create(front: &Front, template_id: &str, output_language: &str) -> String {
    let (file_path, original) = upload(front).await;
    let prompt_text = prompt_of(front, template_id).await;
    let call = format!("T3 POST /tasks (template {template_id})");
    let body = front
        .send(
            &call,
            reqwest::Method::POST,
            "/tasks",
            Some(json!({
                "audio_files": [file_path],
                "file_order": [0],
                "original_filenames": [original],
                "audio_duration": FIXTURE_SECS,
                "meeting_type": FIXTURE.trim_end_matches(".opus"),
                "output_language": output_language,
                // English only: the English-only Whisper model cannot decode `zh-CN+en-US`.
                "asr_language": "en-US",
                "prompt_instance": {
                    "template_id": template_id,
                    "language": output_language,
                    "prompt_text": prompt_text,
                    "parameters": {"meeting_description": "Sprint planning of the platform team"}
                }
            })),
        )
        .await
        .ok();
    string(&call, &body, "task_id").to_string()
}

/// The workbench: T4 once, then T5 every 2 s until `success`/`partial_success`; returns the
/// last status. A failed or cancelled task fails the step with its error fields.
pub async fn follow(front: &Front, task_id: &str) -> Value {
    let detail = front
        .get(
            "T4 GET /tasks/{id} (workbench)",
            &format!("/tasks/{task_id}"),
        )
        .await
        .ok();
    types::task_detail("T4 GET /tasks/{id} (workbench)", &detail);
    let started = Instant::now();
    let mut seen = Vec::<String>::new();
    loop {
        let status = front.get_status(task_id).await.ok();
        let state = types::task_status("T5 GET /tasks/{id}/status", &status);
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        match state.as_str() {
            "success" | "partial_success" => return status,
            "failed" | "cancelled" => panic!(
                "T5 GET /tasks/{{id}}/status: the task ended {state} (states seen {seen:?}): {status}"
            ),
            _ => {}
        }
        assert!(
            started.elapsed() < PIPELINE_WITHIN,
            "T5 GET /tasks/{{id}}/status: not done after {PIPELINE_WITHIN:?} (states seen \
             {seen:?}): {status}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
