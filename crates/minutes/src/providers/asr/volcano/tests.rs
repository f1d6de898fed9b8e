//! The adapter against a local server that speaks the documented submit/query protocol:
//! header auth, status headers, polling, retries, the checkpointed request id, content
//! blocking and the fallback chain. Provider time is a manual clock, so hours of polling take
//! no wall time.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::providers::asr::fallback::FallbackAsr;
use crate::providers::keys::ManualProviderClock;
use crate::providers::{AsrSegment, HotwordTable, JobCheckpoint};

mod fake;

use fake::*;

#[tokio::test]
async fn submits_then_polls_until_done_with_the_documented_request() {
    let fake = fake().await;
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("recognized");
    assert_eq!(out.provider, "volcano");
    assert_eq!(
        out.segments,
        vec![
            AsrSegment {
                start: 0.0,
                end: 1.5,
                text: "大家好。".into(),
                speaker: Some("Speaker 1".into()),
                confidence: None
            },
            AsrSegment {
                start: 1.6,
                end: 4.2,
                text: "今天讨论火山引擎。".into(),
                speaker: Some("Speaker 2".into()),
                confidence: None
            },
        ]
    );
    let body = fake.only_job_body();
    assert_eq!(
        body["audio"],
        json!({"url": format!("https://objects.example/{AUDIO_KEY}?X-Expires=21600&sig=test"),
               "format": "wav", "codec": "raw", "rate": 16000, "bits": 16, "channel": 1,
               "language": "zh-CN"})
    );
    let r = &body["request"];
    assert_eq!(r["model_name"], "bigmodel");
    assert_eq!(r["enable_speaker_info"], true);
    assert_eq!(r["show_utterances"], true);
    assert_eq!(r["enable_itn"], true);
    assert_eq!(r["enable_punc"], true);
    assert_eq!(body["user"]["uid"], "minutes");
    // No boosting table applies: the hotwords go inline as context; never a correction table.
    let context: Value =
        serde_json::from_str(r["corpus"]["context"].as_str().expect("context string"))
            .expect("json");
    assert_eq!(
        context,
        json!({"hotwords": [{"word": "火山引擎"}, {"word": "Grafana"}]})
    );
    assert!(r["corpus"].get("correct_table_name").is_none());
    assert!(r["corpus"].get("boosting_table_id").is_none());
    // Queued, processing, done: exponential backoff from 2 s by 1.5.
    assert_eq!(
        setup.clock.slept(),
        vec![
            Duration::from_millis(2000),
            Duration::from_millis(3000),
            Duration::from_millis(4500)
        ]
    );
    let saved = cp.job().expect("the job stays checkpointed");
    assert_eq!(saved["submitted"], true);
    assert_eq!(saved["logid"], "log-submit");
    assert_eq!(
        fake.with(|s| s.submit_ids.clone()),
        vec![saved["request_id"].as_str().expect("id").to_string()]
    );
}

#[tokio::test]
async fn a_wrong_access_key_is_a_permanent_auth_error() {
    let fake = fake().await;
    let mut s = settings(&fake);
    s.access_token = Some(SecretString::from("not-the-key"));
    let setup = adapter(s);
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 10.0))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("45000010"), "{err}");
    assert!(!err.to_string().contains("not-the-key"), "{err}");
    assert_eq!(fake.submits(), 0);
    // Nothing ran at the provider: the next attempt starts with a new id.
    assert_eq!(cp.job(), None);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_backoff() {
    let fake = fake().await;
    fake.with(|s| {
        s.submit_script.extend([
            Scripted::status(503, protocol::code::BUSY),
            Scripted {
                retry_after: Some("2"),
                ..Scripted::status(429, protocol::code::QUOTA_LIMIT)
            },
        ]);
        s.query_script.extend([
            Scripted {
                retry_after: Some("7"),
                ..Scripted::status(429, protocol::code::QUOTA_LIMIT)
            },
            Scripted {
                code: None,
                ..Scripted::status(502, 0)
            },
            Scripted::status(500, 55_000_001),
        ]);
    });
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("recovers");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.submits(), 1);
    let ids = fake.with(|s| s.submit_ids.clone());
    assert_eq!(ids.len(), 3, "two refused submits, then the accepted one");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every try reuses the request id"
    );
    let slept = setup.clock.slept();
    // The busy submit backs off (1 s base, jittered to ≥ 0.5 s); the 429 rests the key ≥ 2 s;
    // polling waits at least the query's Retry-After (7 s).
    assert!(slept[0] >= Duration::from_millis(500), "{slept:?}");
    assert!(
        slept.iter().any(|d| *d >= Duration::from_secs(2)),
        "{slept:?}"
    );
    assert!(
        slept.iter().any(|d| *d >= Duration::from_secs(7)),
        "{slept:?}"
    );
}

#[tokio::test]
async fn too_many_failed_queries_keep_the_job_for_the_next_attempt() {
    let fake = fake().await;
    fake.with(|s| {
        s.query_script
            .extend((0..5).map(|_| Scripted::status(503, protocol::code::BUSY)))
    });
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect_err("gives up after max_poll_errors");
    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(cp.job().is_some(), "kept so the retry resumes");
    // The job queue's retry: same adapter, same step checkpoint: no second submission.
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("resumes");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.submits(), 1);
}

#[tokio::test]
async fn a_slow_submit_times_out_and_the_retry_reuses_the_id() {
    let fake = fake().await;
    fake.with(|s| {
        s.submit_script.push_back(Scripted {
            delay: Duration::from_millis(2500),
            accept_anyway: true,
            ..Scripted::status(200, protocol::code::OK)
        })
    });
    let mut s = settings(&fake);
    s.request_timeout_secs = 1;
    let setup = adapter(s);
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect_err("client timeout");
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    let saved = cp.job().expect("the id was saved before sending");
    assert_eq!(saved["submitted"], false);
    // The provider accepted the first try; only its answer never arrived.
    assert_eq!(fake.submits(), 1);
    // The retry sends the same id; the provider says "duplicate"; a query confirms the job.
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("resumes");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.submits(), 1, "paid once");
    let ids = fake.with(|s| s.submit_ids.clone());
    assert_eq!(ids, vec![ids[0].clone(), ids[0].clone()]);
    assert_eq!(cp.job().expect("job")["submitted"], true);
}

#[tokio::test]
async fn an_id_saved_before_a_crash_is_submitted_as_is_or_dropped_if_refused() {
    let unsent = |id: &str| json!({"request_id": id, "submitted": false, "created_at_ms": 1_700_000_000_000_i64});
    // The worker died between saving the id and sending it: the id is sent now.
    let fake = fake().await;
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    cp.save("volcano", Some(&unsent("r-saved")))
        .await
        .expect("save");
    setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("submitted with the saved id");
    assert_eq!(fake.with(|s| s.submit_ids.clone()), ["r-saved"]);

    // The provider refuses the id ("invalid or duplicate") and no job of that id exists:
    // a real refusal, so the id is dropped and the error is permanent.
    let fake = self::fake().await;
    fake.with(|s| {
        s.submit_script
            .push_back(Scripted::status(400, protocol::code::INVALID_PARAMS))
    });
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    cp.save("volcano", Some(&unsent("r-bad")))
        .await
        .expect("save");
    let err = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.with(|s| s.queries), 1, "one query checked for the job");
    assert_eq!(cp.job(), None);
}

#[tokio::test]
async fn malformed_bodies_are_invalid_responses_and_the_job_is_kept() {
    let fake = fake().await;
    fake.with(|s| {
        s.finished_body = Some("{\"result\": {\"utterances\": [{\"start_time\": \"x\"".into())
    });
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect_err("malformed");
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(cp.job().is_some());
    // Once the provider answers properly, the retry picks the same job up.
    fake.with(|s| s.finished_body = None);
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("resumes");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.submits(), 1);

    // A finished answer with no body at all is malformed too.
    let fake = self::fake().await;
    fake.with(|s| s.finished_body = Some(String::new()));
    let setup = adapter(settings(&fake));
    let err = setup
        .asr
        .transcribe(&request(&Arc::new(MemCheckpoint::default()), 4.2))
        .await
        .expect_err("empty");
    assert!(err.to_string().contains("no body"), "{err}");
}

#[tokio::test]
async fn a_two_hour_meeting_polls_far_beyond_300_seconds() {
    let fake = fake().await;
    fake.with(|s| s.pending_polls = 120);
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let out = setup
        .asr
        .transcribe(&request(&cp, 7200.0))
        .await
        .expect("long jobs finish");
    assert_eq!(out.segments.len(), 2);
    let slept = setup.clock.slept();
    let waited = sum(&slept);
    assert!(waited > Duration::from_secs(3000), "{waited:?}");
    assert!(
        slept.iter().all(|d| *d <= Duration::from_secs(30)),
        "capped"
    );
    assert_eq!(slept.last(), Some(&Duration::from_secs(30)));
    // max(600 s, 3 × 7200 s).
    assert_eq!(
        settings(&fake).wait_budget(7200.0),
        Duration::from_secs(21600)
    );
    assert_eq!(settings(&fake).wait_budget(10.0), Duration::from_secs(600));
}

#[tokio::test]
async fn the_deadline_is_proportional_to_the_audio() {
    let fake = fake().await;
    fake.with(|s| s.pending_polls = u32::MAX);
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 400.0))
        .await
        .expect_err("never finishes");
    // 3 × 400 s = 1200 s, more than the 600 s floor.
    assert_eq!(
        err,
        ProviderError::Timeout {
            provider: "volcano".into(),
            after: Duration::from_secs(1200)
        }
    );
    let waited = sum(&setup.clock.slept());
    assert_eq!(
        waited,
        Duration::from_secs(1200),
        "stops exactly at the deadline"
    );
    assert_eq!(cp.job(), None, "a later attempt starts afresh");
}

#[tokio::test]
async fn a_restarted_worker_resumes_polling_with_the_saved_id() {
    let fake = fake().await;
    fake.with(|s| s.pending_polls = 50);
    let cp = Arc::new(MemCheckpoint::default());
    let first = adapter(settings(&fake));
    let req = request(&cp, 3600.0);
    // The worker dies after its third query.
    let crashed = async {
        for _ in 0..3 {
            fake.queried.notified().await;
        }
    };
    tokio::select! {
        r = first.asr.transcribe(&req) => panic!("should still be polling: {r:?}"),
        () = crashed => {}
    }
    drop(first);
    let saved = cp.job().expect("checkpointed before polling");
    assert_eq!(saved["submitted"], true);
    let waited_before = fake.with(|s| s.queries);
    assert!(waited_before >= 3);

    // Another worker (new process, new clock) takes the job over.
    let second = adapter(settings(&fake));
    second.clock.advance(Duration::from_secs(600));
    let out = second.asr.transcribe(&req).await.expect("resumed");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(fake.submits(), 1, "exactly one submission");
    assert_eq!(
        fake.with(|s| s.submit_ids.clone()),
        vec![saved["request_id"].as_str().expect("id").to_string()]
    );
    // It queried at once instead of waiting the initial delay first.
    assert_eq!(
        second.clock.slept().first(),
        Some(&Duration::from_millis(2000))
    );
}

#[tokio::test]
async fn rejected_jobs_are_permanent_and_start_afresh() {
    let fake = fake().await;
    fake.with(|s| s.finished_code = Some(protocol::code::BAD_AUDIO_FORMAT));
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let err = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect_err("bad format");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("45000151"), "{err}");
    assert_eq!(cp.job(), None);
}

#[tokio::test]
async fn silent_audio_is_submitted_once_more_then_yields_no_segments() {
    let fake = fake().await;
    fake.with(|s| s.finished_code = Some(protocol::code::SILENT));
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let out = setup
        .asr
        .transcribe(&request(&cp, 4.2))
        .await
        .expect("no speech is not an error here");
    assert!(out.segments.is_empty());
    assert_eq!(fake.submits(), 2);
    let ids = fake.with(|s| s.submit_ids.clone());
    assert_ne!(ids[0], ids[1], "a new submission gets a new id");
}

#[tokio::test]
async fn a_synced_boosting_table_is_named_in_the_corpus() {
    let fake = fake().await;
    let setup = adapter(settings(&fake));
    let cp = Arc::new(MemCheckpoint::default());
    let mut req = request(&cp, 4.2);
    req.language = "zh-CN+en-US".into();
    req.hotword_table = Some(HotwordTable {
        provider: "volcano".into(),
        id: "bt-42".into(),
        name: Some("minutes_hs_1".into()),
    });
    setup.asr.transcribe(&req).await.expect("ok");
    let body = fake.only_job_body();
    assert!(
        body["audio"].get("language").is_none(),
        "mixed zh/en is the default"
    );
    assert_eq!(
        body["request"]["corpus"],
        json!({"boosting_table_id": "bt-42", "boosting_table_name": "minutes_hs_1"})
    );

    // A configured global table applies when the task's set has none; the words still go inline.
    let fake = self::fake().await;
    let mut s = settings(&fake);
    s.boosting_table_id = Some("bt-global".into());
    let setup = adapter(s);
    let mut req = request(&Arc::new(MemCheckpoint::default()), 4.2);
    req.language = "en-US".into();
    req.hotword_table = Some(HotwordTable {
        provider: "someone-else".into(),
        id: "x".into(),
        name: None,
    });
    setup.asr.transcribe(&req).await.expect("ok");
    let body = fake.only_job_body();
    assert_eq!(body["audio"]["language"], "en-US");
    let corpus = &body["request"]["corpus"];
    assert_eq!(corpus["boosting_table_id"], "bt-global");
    assert!(corpus["context"]
        .as_str()
        .is_some_and(|c| c.contains("Grafana")));
}

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

#[tokio::test]
async fn startup_refuses_a_store_that_cannot_presign_and_missing_credentials() {
    let fake = fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = ObjectStorage::local(dir.path()).expect("store");
    let clock = Arc::new(ManualProviderClock::at(0));
    let build = |s: VolcanoAsrSettings, objects: ObjectStorage| {
        VolcanoAsr::new(
            s,
            &EgressPolicy::default(),
            objects,
            KeyPoolSettings::default(),
            clock.clone(),
        )
        .map(|_| ())
    };
    let err = build(settings(&fake), local.clone()).expect_err("local store");
    assert!(err.to_string().contains("presigned URL"), "{err}");
    let signing = local.with_signer(Arc::new(FakeSigner));
    let mut s = settings(&fake);
    s.access_token = None;
    let err = build(s, signing.clone()).expect_err("no token");
    assert!(err.to_string().contains("ACCESS_TOKEN"), "{err}");
    let mut s = settings(&fake);
    s.app_id = String::new();
    assert!(build(s, signing.clone()).is_err());
    // The token can come from a file (a mounted secret).
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("write");
    let mut s = settings(&fake);
    s.access_token = None;
    s.access_token_file = Some(file);
    build(s, signing.clone()).expect("token from file");
    // The filter may come as a JSON string (an environment variable); it must be JSON.
    let mut s = settings(&fake);
    s.sensitive_words_filter = Some(json!("{\"system_reserved_filter\": true}"));
    assert!(s.masks_with_asterisks());
    build(s, signing.clone()).expect("a JSON string filter");
    let mut s = settings(&fake);
    s.sensitive_words_filter = Some(json!("system_reserved_filter"));
    assert!(build(s, signing.clone()).is_err());
    // Plain http to a non-loopback host is refused by the egress policy.
    let mut s = settings(&fake);
    s.submit_url = "http://openspeech.example.com/api/v3/auc/bigmodel/submit".into();
    assert!(build(s, signing).is_err());
}

#[test]
fn the_app_id_may_be_a_number() {
    let s: VolcanoAsrSettings =
        serde_json::from_value(json!({"app_id": 123456789})).expect("numeric id");
    assert_eq!(s.app_id, "123456789");
    let s: VolcanoAsrSettings = serde_json::from_value(json!({"app_id": "0042"})).expect("text id");
    assert_eq!(s.app_id, "0042");
    assert_eq!(s.poll_initial_ms, 2000, "documented defaults fill the rest");
}

#[test]
fn settings_never_print_the_token() {
    let s = VolcanoAsrSettings {
        access_token: Some(SecretString::from("s3cr3t")),
        ..VolcanoAsrSettings::default()
    };
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(!format!("{s:?}").contains("s3cr3t"));
}
