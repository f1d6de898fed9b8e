//! `minutes jobs`: the operator's command line over the same dead letters, audited as `cli`.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_shows_requeues_and_discards_with_audit_as_cli() {
    let t = app_failing(1, "dl_op4").await;
    let (admin, task_id, job_id) = dead_task(&t, "dl_admin4").await;
    let system_job = dead_system_job(&t).await;
    let store = &*t.app.store;
    let now = t.clock.now_ms();
    let run = |action: JobsAction| async move {
        let mut out = Vec::new();
        let result = execute(store, action, now, &mut out).await;
        (result, String::from_utf8(out).unwrap())
    };

    let (result, table) = run(JobsAction::List {
        state: Some("dead".into()),
        queue: None,
        kind: None,
        tenant: None,
        task: None,
        limit: 50,
        cursor: None,
        json: false,
    })
    .await;
    result.unwrap();
    assert!(table.starts_with("JOB "), "{table}");
    assert!(
        table.contains(&job_id) && table.contains(&system_job),
        "{table}"
    );
    assert!(table.contains("llm_provider_auth_failed"), "{table}");
    assert!(table.contains("2 job(s)"), "{table}");

    let (result, json_list) = run(JobsAction::List {
        state: Some("dead".into()),
        queue: None,
        kind: Some("generate_artifact".into()),
        tenant: Some(tenant_id_for("dl_admin4")),
        task: None,
        limit: 50,
        cursor: None,
        json: true,
    })
    .await;
    result.unwrap();
    let listed: Value = serde_json::from_str(&json_list).unwrap();
    assert_eq!(ids(&listed), std::slice::from_ref(&job_id));

    let (result, shown) = run(JobsAction::Show {
        id: job_id.clone(),
        json: false,
    })
    .await;
    result.unwrap();
    assert!(shown.contains("errors            1"), "{shown}");
    assert!(shown.contains("#1"), "{shown}");
    assert!(shown.contains(&task_id), "{shown}");

    // By id, across tenants and for the job of no tenant; a wrong id fails the command.
    let (result, out) = run(JobsAction::Requeue {
        ids: vec![job_id.clone(), system_job.clone(), "job_missing".into()],
        all_dead: false,
        kind: None,
        queue: None,
        tenant: None,
        json: false,
    })
    .await;
    assert!(
        result.is_err(),
        "a job that was not requeued fails the command"
    );
    assert!(out.contains("(its task is queued again)"), "{out}");
    assert!(out.contains("job_missing  not found"), "{out}");
    assert!(out.contains("2 of 3 job(s) requeued"), "{out}");
    assert_eq!(t.task_status(&admin, &task_id).await["state"], "queued");
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&admin, &task_id).await["state"], "success");

    let tenant = tenant_id_for("dl_admin4");
    let mut filter = AuditFilter::latest(10);
    filter.action = Some("job.requeue".into());
    let entries = t.app.store.audit_log(&tenant, &filter).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].user_id.as_deref(), Some("cli"));
    assert_eq!(entries[0].resource_id, job_id);
    let platform = t
        .app
        .store
        .audit_log(PLATFORM_AUDIT_TENANT, &filter)
        .await
        .unwrap();
    assert!(platform.iter().any(|e| e.resource_id == system_job));

    // Discard: only dead jobs; the requeued-and-done one is left alone.
    let another = dead_system_job(&t).await;
    let (result, out) = run(JobsAction::Discard {
        ids: vec![another.clone()],
        json: true,
    })
    .await;
    result.unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["done"], 1, "{report}");
    assert_eq!(
        t.app.store.get_job(&another).await.unwrap().unwrap().state,
        "cancelled"
    );
    let (result, out) = run(JobsAction::Discard {
        ids: vec![job_id.clone()],
        json: false,
    })
    .await;
    assert!(result.is_err());
    assert!(out.contains("not dead (done)"), "{out}");
}
