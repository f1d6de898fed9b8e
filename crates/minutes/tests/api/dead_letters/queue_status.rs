//! Queue status and the fleet view, as tenant admins and operators see them.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_status_counts_what_was_enqueued_and_the_fleet_lists_registered_workers() {
    let t = app_failing(0, "dl_op3").await;
    let operator = t.login("dl_op3").await;
    let admin = t.login("dl_admin3").await;
    let (code, before) = t.get(&format!("{V}/queue/status"), &operator).await;
    assert_eq!(code, StatusCode::OK, "{before}");
    let queue = |s: &Value, name: &str| {
        s["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no queue {name} in {s}"))
    };
    let names: Vec<&str> = before["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(names, minutes::domain::job::queues());
    assert_eq!(before["delivery"], "database");
    assert!(before["schedules"].is_array());
    let audio_before = queue(&before, "audio")["depth"].as_i64().unwrap();

    // Two tasks (two due prepare_audio jobs) and a job scheduled a minute out.
    t.create_two_part_task(&admin).await;
    t.create_two_part_task(&admin).await;
    let later = system_noop(t.clock.now_ms() + 60_000);
    t.app.store.enqueue(&later).await.unwrap();
    t.clock.advance_ms(5_000);

    let (_, now) = t.get(&format!("{V}/queue/status"), &operator).await;
    let audio = queue(&now, "audio");
    assert_eq!(audio["depth"].as_i64().unwrap(), audio_before + 2, "{now}");
    assert!(
        audio["oldest_age_seconds"].as_f64().unwrap() >= 5.0,
        "{audio}"
    );
    assert_eq!(
        queue(&now, "maintenance")["scheduled"].as_i64().unwrap(),
        queue(&before, "maintenance")["scheduled"].as_i64().unwrap() + 1
    );
    assert_eq!(
        now["totals"]["depth"].as_i64().unwrap(),
        before["totals"]["depth"].as_i64().unwrap() + 2
    );
    let (code, for_admin) = t.get(&format!("{V}/queue/status"), &admin).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(queue(&for_admin, "audio")["depth"], audio["depth"]);

    // The fleet: a registered worker, listed for operators only.
    let worker_id = format!("wrk_{}", uuid::Uuid::new_v4().simple());
    t.app
        .store
        .register_worker(&NewWorker {
            id: worker_id.clone(),
            host: "gpu-box-7".into(),
            pid: 4242,
            version: "9.9.9".into(),
            queues: vec!["asr".into()],
            concurrency: 2,
            delivery: "database".into(),
        })
        .await
        .unwrap();
    t.app.store.worker_heartbeat(&worker_id, 1).await.unwrap();
    let (code, fleet) = t.get(&format!("{V}/admin/workers"), &operator).await;
    assert_eq!(code, StatusCode::OK, "{fleet}");
    let w = fleet["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == worker_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the worker is listed: {fleet}"));
    assert_eq!(
        (
            &w["host"],
            &w["pid"],
            &w["version"],
            &w["queues"],
            &w["concurrency"]
        ),
        (
            &json!("gpu-box-7"),
            &json!(4242),
            &json!("9.9.9"),
            &json!(["asr"]),
            &json!(2)
        )
    );
    assert_eq!(
        (&w["state"], &w["running"], &w["delivery"]),
        (&json!("active"), &json!(1), &json!("database"))
    );
    assert!(w["started_at"].is_string() && w["last_seen_at"].is_string());
    let (_, status) = t.get(&format!("{V}/queue/status"), &operator).await;
    assert!(
        status["workers"]["active"].as_i64().unwrap() >= 1,
        "{status}"
    );
    let (code, body) = t.get(&format!("{V}/admin/workers"), &admin).await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "hosts and pids are the platform's: {body}"
    );

    t.run_jobs_until_idle().await;
}
