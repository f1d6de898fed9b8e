//! The documented submit/query exchange: the request body, the corpus (inline hotwords or a
//! boosting table), the polling backoff and the deadline that scales with the audio.
use super::*;
use crate::providers::{AsrSegment, HotwordTable};

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
