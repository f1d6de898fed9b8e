//! The checkpointed request id: a job survives failed queries, client timeouts, crashes and
//! worker restarts without being submitted (and paid for) twice.
use super::*;
use crate::providers::JobCheckpoint;

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
