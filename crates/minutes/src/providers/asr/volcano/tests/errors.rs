//! How provider answers are classified: auth failures, rate limits and server errors (retried
//! with backoff), malformed bodies, rejected jobs and silent audio.
use super::*;

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
