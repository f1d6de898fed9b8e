//! Masked (`*`) transcripts under a sensitive-words filter: blocked content falls back to the
//! next provider in the chain, and asterisks alone never block.
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::providers::asr::fallback::FallbackAsr;
use crate::providers::AsrSegment;

fn masking(fake: &Fake, fallback: bool) -> VolcanoAsrSettings {
    fake.with(|s| {
        s.result = json!({"result": {"text": "", "utterances": [
            {"start_time": 0, "end_time": 900, "text": "他提到了**。",
             "words": [{"text": "他"}, {"text": "**"}], "additions": {"speaker": "1"}}
        ]}})
    });
    VolcanoAsrSettings {
        sensitive_words_filter: Some(json!({"system_reserved_filter": true})),
        fallback_on_masked: fallback,
        ..settings(fake)
    }
}

/// A second provider for the chain: answers `result` and counts its calls.
struct Second {
    result: Result<AsrOutput, ProviderError>,
    calls: AtomicUsize,
}

#[async_trait]
impl SpeechToText for Second {
    fn name(&self) -> &str {
        "openai-asr"
    }

    async fn transcribe(&self, _req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.result.clone()
    }
}

#[tokio::test]
async fn masked_content_falls_back_and_both_errors_are_kept_when_both_fail() {
    let fake = fake().await;
    let setup = adapter(masking(&fake, true));
    let volcano: Arc<dyn SpeechToText> = Arc::new(setup.asr);
    let second = Arc::new(Second {
        result: Ok(AsrOutput {
            segments: vec![AsrSegment {
                start: 0.0,
                end: 1.0,
                text: "他提到了某公司。".into(),
                speaker: None,
                confidence: None,
            }],
            language: Some("zh".into()),
            provider: "openai-asr".into(),
            fallback_errors: vec![],
        }),
        calls: AtomicUsize::new(0),
    });
    let cp = Arc::new(MemCheckpoint::default());
    let out = FallbackAsr::new(vec![volcano.clone(), second.clone()])
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("the fallback transcribes");
    assert_eq!(out.provider, "openai-asr");
    assert_eq!(second.calls.load(Ordering::SeqCst), 1);
    assert_eq!(out.fallback_errors.len(), 1);
    assert!(
        out.fallback_errors[0].contains("blocked"),
        "{:?}",
        out.fallback_errors
    );
    // The filter went to the provider as the documented JSON string.
    let body = fake.only_job_body();
    let filter: Value = serde_json::from_str(
        body["request"]["sensitive_words_filter"]
            .as_str()
            .expect("a string"),
    )
    .expect("json");
    assert_eq!(filter, json!({"system_reserved_filter": true}));
    assert_eq!(cp.job(), None, "blocked jobs are not resumed");

    let failing = Arc::new(Second {
        result: Err(ProviderError::Unavailable {
            provider: "openai-asr".into(),
            detail: "HTTP 503".into(),
        }),
        calls: AtomicUsize::new(0),
    });
    let err = FallbackAsr::new(vec![volcano, failing])
        .transcribe(&request(&Arc::new(MemCheckpoint::default()), 4.2))
        .await
        .expect_err("both fail");
    let ProviderError::AllFailed(errors) = &err else {
        panic!("expected AllFailed, got {err:?}");
    };
    assert_eq!(errors.len(), 2);
    assert!(
        matches!(errors[0], ProviderError::ContentBlocked { .. }),
        "{errors:?}"
    );
    assert!(
        matches!(errors[1], ProviderError::Unavailable { .. }),
        "{errors:?}"
    );
    // Retryable overall (the second provider may recover); the code is the last error's.
    assert!(err.is_retryable());
}

#[tokio::test]
async fn asterisks_alone_never_block() {
    // Masking on, fallback off: the transcript is kept.
    let fake = fake().await;
    let setup = adapter(masking(&fake, false));
    let out = setup
        .asr
        .transcribe(&request(&Arc::new(MemCheckpoint::default()), 4.2))
        .await
        .expect("kept");
    assert_eq!(out.segments[0].text, "他提到了**。");

    // No filter configured: the provider masks nothing, so `*` in text is just text.
    let fake = self::fake().await;
    masking(&fake, true);
    let mut s = settings(&fake);
    s.fallback_on_masked = true;
    let setup = adapter(s);
    let out = setup
        .asr
        .transcribe(&request(&Arc::new(MemCheckpoint::default()), 4.2))
        .await
        .expect("kept");
    assert_eq!(out.segments.len(), 1);
}

/// The documented fallback of the issue: Volcano's filter blocks the content, Azure (its own
/// fake server speaking the fast transcription protocol) transcribes it, and the chain keeps
/// Volcano's error beside Azure's answer.
#[tokio::test]
async fn blocked_content_is_transcribed_by_azure() {
    use crate::providers::asr::azure::tests::fake as azure;
    let fake = fake().await;
    let volcano: Arc<dyn SpeechToText> = Arc::new(adapter(masking(&fake, true)).asr);
    let azure_fake =
        azure::fake(|_, _| azure::ok(azure::phrase_body(0, 900, "他提到了某公司。", Some(1))))
            .await;
    let (azure_asr, _clock) = azure::adapter(azure::settings(&azure_fake.base), None);
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("meeting.wav");
    azure::write_wav(&wav, &azure::tone(1.0));
    let mut req = request(&Arc::new(MemCheckpoint::default()), 1.0);
    req.audio_wav = wav;
    let out = FallbackAsr::new(vec![volcano, Arc::new(azure_asr)])
        .transcribe(&req)
        .await
        .expect("Azure transcribes what Volcano blocked");
    assert_eq!(out.provider, "azure");
    assert_eq!(out.segments[0].text, "他提到了某公司。");
    assert_eq!(out.fallback_errors.len(), 1);
    assert!(
        out.fallback_errors[0].contains("blocked"),
        "{:?}",
        out.fallback_errors
    );
    let seen = azure_fake.seen();
    assert_eq!(seen.len(), 1, "one Azure request");
    assert_eq!(seen[0].definition["locales"], json!(["zh-CN"]));
    assert_eq!(
        seen[0].definition["phraseList"]["phrases"],
        json!(["火山引擎", "Grafana"]),
        "the hotwords follow the audio to the fallback"
    );
}
