//! The adapter against a local server that speaks the documented fast transcription protocol:
//! the key header, the definition, Azure's error statuses and bodies, retries on the provider
//! clock. `fake.rs` holds the server and shared helpers; `chunks.rs` long audio (cuts, offsets,
//! the checkpoint); `speakers.rs` speaker matching across chunks on real voices.
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};

use super::*;

/// Also used by the Volcano tests: blocked content there falls back to this adapter.
pub(crate) mod fake;

use fake::*;

mod chunks;
mod speakers;

fn short_wav() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meeting.wav");
    write_wav(&path, &tone(3.0));
    (dir, path)
}

fn two_speakers() -> Value {
    json!({
        "durationMilliseconds": 3000,
        "combinedPhrases": [{"text": "Good afternoon. Thank you, f***."}],
        "phrases": [
            {"speaker": 1, "offsetMilliseconds": 500, "durationMilliseconds": 700,
             "text": "Good afternoon.", "locale": "en-US", "confidence": 0.93,
             "words": [{"text": "Good", "offsetMilliseconds": 500, "durationMilliseconds": 300}]},
            {"speaker": 0, "offsetMilliseconds": 1500, "durationMilliseconds": 900,
             "text": "Thank you, f***.", "locale": "en-US", "confidence": 0.81, "words": []}
        ]
    })
}

#[tokio::test]
async fn sends_the_key_the_definition_and_the_audio_as_documented() {
    let fake = fake(|_, _| ok(two_speakers())).await;
    let (_dir, wav) = short_wav();
    let (asr, _) = adapter(settings(&fake.base), None);
    let out = asr
        .transcribe(&request(
            &wav,
            "zh-CN+en-US",
            &["Kubernetes", " kubernetes", "张伟"],
        ))
        .await
        .expect("transcript");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/speechtotext/transcriptions:transcribe");
    assert_eq!(seen[0].api_version.as_deref(), Some("2025-10-15"));
    assert_eq!(seen[0].key.as_deref(), Some(KEY));
    assert_eq!(
        seen[0].definition,
        json!({
            "locales": ["zh-CN", "en-US"],
            "diarization": {"enabled": true, "maxSpeakers": 10},
            "phraseList": {"phrases": ["Kubernetes", "张伟"]},
            "profanityFilterMode": "None"
        })
    );
    // Audio within the limit goes up as it is, byte for byte.
    assert_eq!(seen[0].audio, std::fs::read(&wav).expect("read"));

    assert_eq!(out.provider, "azure");
    assert_eq!(
        out.language, None,
        "explicit locales: the task's language stands"
    );
    let got: Vec<(f64, f64, &str, Option<&str>)> = out
        .segments
        .iter()
        .map(|s| (s.start, s.end, s.text.as_str(), s.speaker.as_deref()))
        .collect();
    // Speakers are numbered by first appearance, whatever Azure called them.
    assert_eq!(
        got,
        vec![
            (0.5, 1.2, "Good afternoon.", Some("Speaker 1")),
            // Masked profanity is kept as a transcript: Azure never blocks, so no fallback.
            (1.5, 2.4, "Thank you, f***.", Some("Speaker 2")),
        ]
    );
    assert_eq!(out.segments[1].confidence, Some(0.81));
}

#[tokio::test]
async fn auto_sends_no_locale_and_reports_what_was_heard() {
    let fake = fake(|_, _| ok(two_speakers())).await;
    let (_dir, wav) = short_wav();
    let mut s = settings(&fake.base);
    s.max_speakers = 4;
    s.profanity_filter_mode = ProfanityFilterMode::Masked;
    s.custom_models.insert(
        "en-US".into(),
        "https://westus.api.cognitive.microsoft.com/speechtotext/models/m1".into(),
    );
    let (asr, _) = adapter(s.clone(), None);
    let out = asr
        .transcribe(&request(&wav, "auto", &[]))
        .await
        .expect("ok");
    assert_eq!(out.language.as_deref(), Some("en-US"));
    assert_eq!(
        fake.seen()[0].definition,
        json!({"diarization": {"enabled": true, "maxSpeakers": 4}, "profanityFilterMode": "Masked"}),
        "no locales, no phrase list, and no custom model for a locale not asked for"
    );
    adapter(s, None)
        .0
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("ok");
    assert_eq!(
        fake.seen()[1].definition["models"],
        json!({"en-US": "https://westus.api.cognitive.microsoft.com/speechtotext/models/m1"})
    );
}

/// What the gateway answers a wrong key.
fn refuse_wrong_key(seen: &Seen, good: &str) -> Option<axum::response::Response> {
    (seen.key.as_deref() != Some(good)).then(|| {
        status(
            401,
            &[],
            r#"{"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}"#,
        )
    })
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_the_next_key_answers() {
    let fake =
        fake(|_, seen| refuse_wrong_key(seen, "good-key").unwrap_or_else(|| ok(two_speakers())))
            .await;
    let (_dir, wav) = short_wav();
    let mut s = settings(&fake.base);
    s.api_key = Some(SecretString::from("wrong-key"));
    s.api_keys = Some(SecretString::from("good-key"));
    let (asr, clock) = adapter(s, None);
    let out = asr
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("second key answers");
    assert_eq!(out.segments.len(), 2);
    let keys: Vec<Option<String>> = fake.seen().into_iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        vec![Some("wrong-key".into()), Some("good-key".into())]
    );
    assert!(clock.slept().is_empty(), "a refused key hands over at once");

    let mut s = settings(&fake.base);
    s.api_key = Some(SecretString::from("wrong-key"));
    let err = adapter(s, None)
        .0
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect_err("no good key");
    let ProviderError::Auth { detail, .. } = &err else {
        panic!("expected Auth, got {err:?}");
    };
    assert!(
        detail.starts_with("HTTP 401: 401: Access denied"),
        "{detail}"
    );
    assert!(!detail.contains("wrong-key"), "{detail}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_rate_limit_waits_for_retry_after_then_succeeds() {
    let fake = fake(|n, _| match n {
        0 => status(
            429,
            &[("Retry-After", "3")],
            r#"{"code": "TooManyRequests", "message": "Too many requests."}"#,
        ),
        _ => ok(two_speakers()),
    })
    .await;
    let (_dir, wav) = short_wav();
    let (asr, clock) = adapter(settings(&fake.base), None);
    let out = asr
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("ok after the wait");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.seen().len(), 2);
    assert_eq!(clock.slept(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let fake = fake(|n, _| match n {
        0 => status(
            503,
            &[],
            r#"{"code": "ServiceUnavailable", "message": "Busy."}"#,
        ),
        1 => status(500, &[], "upstream connect error"),
        _ => ok(two_speakers()),
    })
    .await;
    let (_dir, wav) = short_wav();
    let (asr, clock) = adapter(settings(&fake.base), None);
    asr.transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("third try answers");
    assert_eq!(fake.seen().len(), 3);
    let slept = clock.slept();
    assert_eq!(slept.len(), 2, "{slept:?}");
    // 1 s then 2 s base backoff, jittered to 50–100 %.
    assert!((500..=1000).contains(&slept[0].as_millis()), "{slept:?}");
    assert!((1000..=2000).contains(&slept[1].as_millis()), "{slept:?}");

    // Persistent 5xx: out of attempts, a retryable error for the job queue.
    let fake = fake_always(503).await;
    let err = adapter(settings(&fake.base), None)
        .0
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, ProviderError::Unavailable { detail, .. } if detail == "HTTP 503: ServiceUnavailable: Busy."),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 3);
}

async fn fake_always(code: u16) -> Fake {
    fake(move |_, _| {
        status(
            code,
            &[],
            r#"{"code": "ServiceUnavailable", "message": "Busy."}"#,
        )
    })
    .await
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_invalid_response() {
    let (_dir, wav) = short_wav();
    for body in [
        "<html>proxy error</html>",
        r#"{"phrases": [{"text": "no times"}]}"#,
    ] {
        let fake = fake(move |_, _| status(200, &[], body)).await;
        let err = adapter(settings(&fake.base), None)
            .0
            .transcribe(&request(&wav, "en-US", &[]))
            .await
            .expect_err("must fail");
        let ProviderError::InvalidResponse { detail, .. } = &err else {
            panic!("expected InvalidResponse, got {err:?}");
        };
        assert!(
            detail.starts_with("not a fast transcription result ("),
            "{detail}"
        );
        assert!(detail.contains(&body[..10]), "{detail}");
        assert_eq!(
            fake.seen().len(),
            1,
            "an unusable answer is not retried in the call"
        );
    }
}

#[tokio::test]
async fn a_bad_request_is_permanent() {
    let fake = fake(|_, _| {
        status(
            400,
            &[],
            r#"{"code": "InvalidArgument", "message": "Unsupported locale.", "innerError": {"code": "InvalidLocale", "message": "x"}}"#,
        )
    })
    .await;
    let (_dir, wav) = short_wav();
    let err = adapter(settings(&fake.base), None)
        .0
        .transcribe(&request(&wav, "xx-XX", &[]))
        .await
        .expect_err("must fail");
    assert_eq!(
        err,
        ProviderError::Rejected {
            provider: "azure".into(),
            detail: "HTTP 400: InvalidArgument: Unsupported locale. (inner: InvalidLocale)".into()
        }
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.seen().len(), 1);

    // A language that is no locale at all is refused before anything is sent.
    let err = adapter(settings(&fake.base), None)
        .0
        .transcribe(&request(&wav, "klingon!", &[]))
        .await
        .expect_err("must fail");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.seen().len(), 1);
}

#[test]
fn settings_defaults_checks_and_redaction() {
    let s: AzureAsrSettings =
        serde_json::from_str(r#"{"region": "eastus", "api_key": "k-secret"}"#).expect("parse");
    assert_eq!(s.max_chunk_secs, 6000);
    assert_eq!(s.max_speakers, 10);
    assert_eq!(s.profanity_filter_mode, ProfanityFilterMode::None);
    assert_eq!(s.speaker_model, "campplus-zh-en");
    assert_eq!(
        s.base_url().as_deref(),
        Ok("https://eastus.api.cognitive.microsoft.com")
    );
    assert_eq!(s.problem(), None);
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(
        !json.contains("k-secret") && json.contains("[redacted]"),
        "{json}"
    );
    assert!(!format!("{s:?}").contains("k-secret"));
    assert!(serde_json::from_str::<AzureAsrSettings>(r#"{"regoin": "eastus"}"#).is_err());

    let bad = |f: fn(&mut AzureAsrSettings)| {
        let mut s = AzureAsrSettings::default();
        f(&mut s);
        s
    };
    assert!(bad(|s| s.max_chunk_secs = 7200).problem().is_some());
    assert!(bad(|s| s.max_chunk_secs = 5).problem().is_some());
    assert!(bad(|s| s.max_speakers = 36).problem().is_some());
    assert!(bad(|s| s.reconcile_threshold = Some(1.5))
        .problem()
        .is_some());
    assert!(bad(|s| {
        s.custom_models.insert("en-US".into(), "m1".into());
    })
    .problem()
    .is_some());
    assert!(bad(|s| s.region = Some("east us".into()))
        .base_url()
        .is_err());
    assert!(AzureAsrSettings::default().base_url().is_err());
    let endpoint = bad(|s| s.endpoint = Some("https://my.cognitiveservices.azure.com/".into()));
    assert_eq!(
        endpoint.base_url().as_deref(),
        Ok("https://my.cognitiveservices.azure.com")
    );
}

#[test]
fn startup_refuses_missing_keys_and_plain_http_endpoints() {
    let clock = Arc::new(crate::providers::keys::ManualProviderClock::at(0));
    let build = |s: AzureAsrSettings| {
        AzureAsr::new(
            s,
            &EgressPolicy::default(),
            KeyPoolSettings::default(),
            clock.clone(),
            None,
        )
    };
    let mut s = settings("https://westus.api.cognitive.microsoft.com");
    s.api_key = None;
    let err = build(s).expect_err("no key");
    assert!(
        err.to_string().contains("MINUTES__ASR__AZURE__API_KEY"),
        "{err}"
    );
    let err = build(settings("http://speech.example.com")).expect_err("plain http");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
}
