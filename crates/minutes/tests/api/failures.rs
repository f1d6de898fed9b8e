//! Failure handling: retries with backoff, dead letters, retry from the failed stage, invalid
//! model output, cancellation.
use axum::http::StatusCode;
use serde_json::json;

use crate::engines::{ScriptedAsr, ScriptedLlm};
use crate::helpers::{TestApp, TestOptions};
use minutes::providers::ProviderError;
use minutes::queue::Clock;

fn unavailable() -> ProviderError {
    ProviderError::Unavailable {
        provider: "scripted".into(),
        detail: "503".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_asr_errors_back_off_then_dead_letter_keeps_every_error() {
    let asr = ScriptedAsr::default();
    asr.failures
        .lock()
        .unwrap()
        .extend([unavailable(), unavailable(), unavailable()]);
    let t = TestApp::with(TestOptions {
        asr,
        ..Default::default()
    })
    .await;
    let token = t.login("erin").await;
    let task_id = t.create_two_part_task(&token).await;

    // prepare_audio succeeds, transcribe fails once and is scheduled later, not run again now.
    assert_eq!(t.run_jobs_until_idle().await, 2);
    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let transcribe = jobs.iter().find(|j| j.kind == "transcribe").unwrap();
    assert_eq!(transcribe.state, "queued");
    assert_eq!(transcribe.attempts, 1);
    let delay = transcribe.run_at_ms - t.clock.now_ms();
    assert!(
        (5_000..=10_000).contains(&delay),
        "first backoff within [base/2, base]: {delay} ms"
    );
    assert_eq!(
        t.task_status(&token, &task_id).await["state"],
        "transcribing"
    );

    // Second attempt after the delay; third attempt after a longer one; then dead.
    t.clock.advance_ms(10_000);
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let job = t.app.store.get_job(&transcribe.id).await.unwrap().unwrap();
    let delay2 = job.run_at_ms - t.clock.now_ms();
    assert!(
        (10_000..=20_000).contains(&delay2),
        "second backoff doubles: {delay2} ms"
    );
    t.clock.advance_ms(20_000);
    assert_eq!(t.run_jobs_until_idle().await, 1);

    let job = t.app.store.get_job(&transcribe.id).await.unwrap().unwrap();
    assert_eq!(job.state, "dead");
    assert_eq!(job.attempts, 3);
    assert_eq!(
        job.errors.0.len(),
        3,
        "every attempt's error is kept: {:?}",
        job.errors.0
    );
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error_code"], "asr_provider_unavailable");
    assert_eq!(status["retryable"], true);
    assert_eq!(status["failed_stage"], "transcribe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_resumes_at_the_failed_stage_without_redoing_or_rebilling_finished_ones() {
    let llm = ScriptedLlm::default();
    llm.failures.lock().unwrap().push_back(ProviderError::Auth {
        provider: "scripted".into(),
        detail: "bad key".into(),
    });
    let t = TestApp::with(TestOptions {
        llm,
        ..Default::default()
    })
    .await;
    let token = t.login("frank").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error_code"], "llm_provider_auth_failed");
    assert_eq!(
        status["retryable"], false,
        "auth errors are permanent: no automatic retries"
    );
    assert_eq!(t.llm.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    assert_eq!(
        artifacts["total_count"], 0,
        "a failed generation creates no version"
    );

    let (code, retried) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/retry"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{retried}");
    assert_eq!(retried["resume_from"], "generate_artifact");
    assert_eq!(
        t.run_jobs_until_idle().await,
        1,
        "only the failed stage runs again"
    );
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
    assert_eq!(
        t.asr.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "ASR is not re-run"
    );
    let costs = t
        .app
        .store
        .cost_records("tenant_frank", &task_id)
        .await
        .unwrap();
    assert_eq!(
        costs.iter().filter(|c| c.api_type == "asr").count(),
        1,
        "ASR is not re-billed"
    );

    let (code, again) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/retry"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "a successful task cannot be retried: {again}"
    );
    assert_eq!(again["code"], "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_model_answers_create_no_version_and_fail_clearly() {
    let llm = ScriptedLlm::default();
    llm.bad_answers
        .lock()
        .unwrap()
        .extend([json!({"title": 1}), json!({"nope": true}), json!([])]);
    let t = TestApp::with(TestOptions {
        llm,
        ..Default::default()
    })
    .await;
    let token = t.login("gina").await;
    let task_id = t.create_two_part_task(&token).await;
    for _ in 0..3 {
        t.run_jobs_until_idle().await;
        t.clock.advance_ms(120_000);
    }
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["error_code"], "summary_invalid");
    assert!(status["error_message"]
        .as_str()
        .unwrap()
        .contains("no version was created"));
    assert_eq!(
        status["progress"], 70.0,
        "progress stays at the summarizing band"
    );
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    assert_eq!(artifacts["total_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_regeneration_leaves_the_task_and_versions_untouched() {
    let t = TestApp::new().await;
    let token = t.login("hank").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    t.llm
        .failures
        .lock()
        .unwrap()
        .push_back(ProviderError::Rejected {
            provider: "scripted".into(),
            detail: "400".into(),
        });
    let url = format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/regenerate?wait=0");
    let (code, _) = t.post_json(&url, &token, &json!({})).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            &token,
        )
        .await;
    assert_eq!(versions["total_count"], 1);
    // Waiting on a generation that dies reports the failure without provider details.
    t.llm
        .failures
        .lock()
        .unwrap()
        .push_back(ProviderError::Rejected {
            provider: "scripted".into(),
            detail: "secret body".into(),
        });
    let url = format!("/api/v1/tasks/{task_id}/regenerate?wait=30");
    let body = json!({"artifact_type": "meeting_minutes"});
    let waiting = t.post_json(&url, &token, &body);
    let ((code, body), _) = tokio::join!(waiting, t.run_jobs_once_enqueued());
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "generation_failed");
    assert!(!body["detail"].as_str().unwrap().contains("secret body"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_pipeline_and_fences_running_work() {
    let t = TestApp::new().await;
    let token = t.login("ivy").await;
    let task_id = t.create_two_part_task(&token).await;
    // A worker holds the first job when the user cancels.
    let claimed = t
        .app
        .store
        .claim_job(&t.worker_options().queues, "w1", 30_000, t.clock.now_ms())
        .await
        .unwrap()
        .unwrap();
    let (code, body) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/cancel"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["previous_state"], "queued");
    let result = minutes::pipeline::execute(&t.app, &claimed).await;
    assert!(
        matches!(result, Err(minutes::pipeline::JobError::Fenced)),
        "late work is fenced off"
    );
    assert_eq!(t.run_jobs_until_idle().await, 0);
    assert_eq!(t.task_status(&token, &task_id).await["state"], "cancelled");
    let (code, again) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/cancel"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{again}");
    // A cancelled task can be retried from the start.
    let (code, _) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/retry"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
}
