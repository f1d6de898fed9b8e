//! Tenant quotas: refused before work is queued or stored, with the numbers; usage and warnings.
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{data_file, TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_work_before_it_is_queued_and_report_usage() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.quotas.concurrent_pipelines = 1;
            c.quotas.llm_tokens_per_month = 200;
            c.quotas.audio_minutes_per_month = 1;
            c.quotas.storage_bytes = 2_000_000;
            c.quotas.warn_at = 0.5;
            c.quotas.tenants.insert(
                "tenant_quota_big".into(),
                minutes::config::QuotaOverride {
                    storage_bytes: Some(0),
                    concurrent_pipelines: Some(3),
                    ..Default::default()
                },
            );
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("quota").await;
    let first = t.create_two_part_task(&token).await;
    let key = t
        .upload(&token, &data_file("parts/zh02_incident_review.part1.wav"))
        .await;
    let (code, err) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["code"], "quota_exceeded");
    assert_eq!(err["errors"][0]["quota"], "concurrent_pipelines");
    assert_eq!(err["errors"][0]["limit"], 1);

    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &first).await["state"], "success");
    let (_, quota) = t.get("/api/v1/quota", &token).await;
    let q = |name: &str| {
        quota["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["quota"] == name)
            .unwrap()
            .clone()
    };
    let audio = q("audio_minutes_per_month");
    assert!(
        (audio["used"].as_f64().unwrap() - 38.533 / 60.0).abs() < 0.01,
        "{audio}"
    );
    assert_eq!(
        audio["warning"], true,
        "64 % of the minutes, warning from 50 %"
    );
    assert_eq!(audio["exceeded"], false);
    assert_eq!(q("llm_tokens_per_month")["used"], 150.0);
    assert_eq!(q("concurrent_pipelines")["used"], 0.0);
    assert!(q("storage_bytes")["used"].as_f64().unwrap() > 1_600_000.0);

    // One more generation's tokens exceed the LLM budget: new pipelines are refused.
    let (code, _) = t
        .post_json(
            &format!("/api/v1/tasks/{first}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    t.run_jobs_until_idle().await;
    let (code, err) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["errors"][0]["quota"], "llm_tokens_per_month");

    // Storage: the uploads so far (1.6 MB) are under 2 MB, so one more is accepted; then none.
    let (code, _) = t
        .upload_bytes(
            &token,
            "a.wav",
            std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap(),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, err) = t
        .upload_bytes(
            &token,
            "b.wav",
            std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap(),
        )
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["errors"][0]["quota"], "storage_bytes");
    // Another tenant is not affected.
    let other = t.login("quota_other").await;
    let (code, _) = t
        .upload_bytes(
            &other,
            "c.wav",
            std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap(),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);

    // A tenant with an override: unlimited storage, three pipelines, the default audio minutes.
    let big = t.login("quota_big").await;
    let (_, quota) = t.get("/api/v1/quota", &big).await;
    let limit = |name: &str| {
        quota["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["quota"] == name)
            .unwrap()["limit"]
            .clone()
    };
    assert_eq!(limit("storage_bytes"), 0, "{quota}");
    assert_eq!(limit("concurrent_pipelines"), 3, "{quota}");
    assert_eq!(limit("audio_minutes_per_month"), 1, "{quota}");
    for name in ["a.wav", "b.wav"] {
        let (code, _) = t
            .upload_bytes(
                &big,
                name,
                std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap(),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "no storage limit for {name}");
    }
}
