//! Dead letters an operator can act on: `/admin/jobs` (list, inspect every attempt, requeue one
//! or many, discard), `/queue/status`, `/admin/workers` and `minutes jobs …`, with tenant admins
//! confined to their tenant, members refused, and every action audited.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::engines::RemoteVoiceprint;
use crate::engines::ScriptedLlm;
use crate::helpers::{TestApp, TestOptions, JWT_SECRET};
use minutes::cli::jobs::{execute, JobsAction, PLATFORM_AUDIT_TENANT};
use minutes::domain::ids::tenant_id_for;
use minutes::providers::ProviderError;
use minutes::queue::Clock;
use minutes::store::{AuditFilter, NewJob, NewWorker};

mod cli;
mod queue_status;

const V: &str = "/api/v1";

fn auth_failure() -> ProviderError {
    ProviderError::Auth {
        provider: "scripted".into(),
        detail: "bad key".into(),
    }
}

/// An app whose language model fails `failures` times permanently (each kills one
/// generate_artifact job at its first attempt), with `user_<operator>` a platform operator.
async fn app_failing(failures: usize, operator: &str) -> TestApp {
    let llm = ScriptedLlm::default();
    llm.failures
        .lock()
        .unwrap()
        .extend((0..failures).map(|_| auth_failure()));
    let operator = format!("user_{operator}");
    TestApp::with(TestOptions {
        llm,
        configure: Box::new(move |c| c.auth.operators = vec![operator]),
        ..Default::default()
    })
    .await
}

/// A member (not an admin) of `tenant`.
fn member_token(tenant: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": format!("user_member_of_{tenant}"), "tid": tenant, "role": "member",
                        "iss": "minutes", "iat": now, "exp": now + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// A task of a new user (a tenant admin, as dev login makes them) that dies at
/// generate_artifact: (token, task id, the dead job's id).
async fn dead_task(t: &TestApp, user: &str) -> (String, String, String) {
    let token = t.login(user).await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "failed");
    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let dead = jobs.iter().find(|j| j.state == "dead").expect("a dead job");
    assert_eq!(dead.kind, "generate_artifact");
    (token, task_id, dead.id.clone())
}

/// A one-attempt maintenance job of no tenant, due at `run_at_ms`.
fn system_noop(run_at_ms: i64) -> NewJob {
    NewJob {
        id: minutes::domain::ids::job_id(),
        queue: "maintenance".into(),
        kind: "noop".into(),
        task_id: None,
        tenant_id: None,
        payload: json!({"v": 1}),
        priority: 0,
        max_attempts: 1,
        run_at_ms,
    }
}

/// A dead job of no tenant (like a retention run), made through the store.
async fn dead_system_job(t: &TestApp) -> String {
    let job = system_noop(t.clock.now_ms());
    let id = job.id.clone();
    t.app.store.enqueue(&job).await.unwrap();
    let queues = vec!["maintenance".to_string()];
    let claimed = t
        .app
        .store
        .claim_job_by_id(&id, &queues, "test-worker", 30_000, t.clock.now_ms())
        .await
        .unwrap()
        .expect("the job is claimable");
    t.app
        .store
        .fail_job(&claimed.lease(), "disk_full: no space left", None)
        .await
        .unwrap();
    id
}

async fn post(t: &TestApp, uri: &str, token: &str) -> (StatusCode, Value) {
    t.post_json(uri, token, &json!({})).await
}

fn ids(list: &Value) -> Vec<String> {
    list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_inspects_and_requeues_a_dead_stage_and_the_pipeline_succeeds() {
    let t = app_failing(1, "dl_op1").await;
    let (admin, task_id, job_id) = dead_task(&t, "dl_admin1").await;
    let tenant = tenant_id_for("dl_admin1");

    let (code, list) = t.get(&format!("{V}/admin/jobs?state=dead"), &admin).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), std::slice::from_ref(&job_id));
    let listed = &list["jobs"][0];
    assert_eq!(listed["kind"], "generate_artifact");
    assert_eq!(listed["queue"], "llm");
    assert_eq!(listed["task_id"], task_id.as_str());
    assert_eq!(listed["tenant_id"], tenant.as_str());
    assert_eq!(listed["last_error"]["code"], "llm_provider_auth_failed");
    assert!(list["next_cursor"].is_null());

    // Inspection: every attempt with its number, time, worker and error.
    let (code, detail) = t.get(&format!("{V}/admin/jobs/{job_id}"), &admin).await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    let job = &detail["job"];
    assert_eq!(job["state"], "dead");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["payload"]["task_id"], task_id.as_str());
    let errors = job["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{job}");
    assert_eq!(errors[0]["attempt"], 1);
    assert_eq!(errors[0]["code"], "llm_provider_auth_failed");
    assert!(errors[0]["detail"].as_str().unwrap().contains("bad key"));
    assert!(errors[0]["at"].is_string() && errors[0]["worker"].is_string());

    // Another tenant's admin sees nothing and touches nothing; a member is refused.
    let stranger = t.login("dl_stranger1").await;
    let (code, theirs) = t
        .get(&format!("{V}/admin/jobs?state=dead"), &stranger)
        .await;
    assert_eq!((code, theirs["jobs"].clone()), (StatusCode::OK, json!([])));
    for (method, uri) in [
        ("get", format!("{V}/admin/jobs/{job_id}")),
        ("post", format!("{V}/admin/jobs/{job_id}/requeue")),
        ("post", format!("{V}/admin/jobs/{job_id}/discard")),
    ] {
        let (code, body) = if method == "get" {
            t.get(&uri, &stranger).await
        } else {
            post(&t, &uri, &stranger).await
        };
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
        assert!(!body.to_string().contains(&task_id), "{body}");
    }
    let (code, body) = t
        .get(&format!("{V}/admin/jobs?tenant={tenant}"), &stranger)
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    let member = member_token(&tenant);
    for uri in [
        format!("{V}/admin/jobs"),
        format!("{V}/admin/jobs/{job_id}"),
        format!("{V}/queue/status"),
        format!("{V}/admin/workers"),
    ] {
        let (code, body) = t.get(&uri, &member).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
    let (code, _) = post(&t, &format!("{V}/admin/jobs/{job_id}/requeue"), &member).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        t.app.store.get_job(&job_id).await.unwrap().unwrap().state,
        "dead",
        "nothing moved the job"
    );

    // The requeue: due now with its full budget, the task back to queued, errors kept.
    let (code, requeued) = post(&t, &format!("{V}/admin/jobs/{job_id}/requeue"), &admin).await;
    assert_eq!(code, StatusCode::OK, "{requeued}");
    assert_eq!(requeued["task_reopened"], true);
    assert_eq!(requeued["job"]["state"], "queued");
    assert_eq!(requeued["job"]["attempts"], 0);
    let status = t.task_status(&admin, &task_id).await;
    assert_eq!(status["state"], "queued", "{status}");
    assert!(status["error_code"].is_null(), "{status}");
    let (code, again) = post(&t, &format!("{V}/admin/jobs/{job_id}/requeue"), &admin).await;
    assert_eq!(
        (code, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("job_not_dead"))
    );

    assert_eq!(t.run_jobs_until_idle().await, 1, "only the dead stage runs");
    assert_eq!(t.task_status(&admin, &task_id).await["state"], "success");
    let job = t.app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("done", 1));
    assert_eq!(job.errors.0.len(), 1, "the dead attempt's error is kept");
    let (_, history) = t.get(&format!("{V}/tasks/{task_id}/history"), &admin).await;
    assert!(
        history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from_state"] == "failed" && e["state"] == "queued"),
        "the requeue is in the task's history: {history}"
    );

    let (_, log) = t
        .get(&format!("{V}/admin/audit?action=job.requeue"), &admin)
        .await;
    assert_eq!(log["total"], 1, "{log}");
    let entry = &log["entries"][0];
    assert_eq!(entry["resource_id"], job_id.as_str());
    assert_eq!(entry["user_id"], "user_dl_admin1");
    assert_eq!(entry["details"]["task_reopened"], true);
    assert_eq!(entry["details"]["kind"], "generate_artifact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_requeue_and_discard_stay_within_the_callers_reach() {
    let t = app_failing(2, "dl_op2").await;
    let (admin_a, task_a, job_a) = dead_task(&t, "dl_admin2a").await;
    let (admin_b, task_b, job_b) = dead_task(&t, "dl_admin2b").await;
    let system_job = dead_system_job(&t).await;
    let operator = t.login("dl_op2").await;

    // The operator sees every dead job, newest first, a page at a time; ?tenant narrows.
    let (code, page1) = t
        .get(&format!("{V}/admin/jobs?state=dead&limit=2"), &operator)
        .await;
    assert_eq!(code, StatusCode::OK, "{page1}");
    let cursor = page1["next_cursor"].as_str().expect("a second page");
    let (_, page2) = t
        .get(
            &format!("{V}/admin/jobs?state=dead&limit=2&cursor={cursor}"),
            &operator,
        )
        .await;
    assert!(page2["next_cursor"].is_null(), "{page2}");
    let mut seen = ids(&page1);
    seen.extend(ids(&page2));
    assert_eq!(seen, [system_job.clone(), job_b.clone(), job_a.clone()]);
    let (_, only_b) = t
        .get(
            &format!(
                "{V}/admin/jobs?tenant={}&kind=generate_artifact",
                tenant_id_for("dl_admin2b")
            ),
            &operator,
        )
        .await;
    assert_eq!(ids(&only_b), std::slice::from_ref(&job_b));
    let (_, by_task) = t
        .get(&format!("{V}/admin/jobs?task_id={task_a}"), &operator)
        .await;
    assert_eq!(
        by_task["jobs"].as_array().unwrap().len(),
        5,
        "every stage of the task"
    );

    // A job of no tenant is the operators' alone.
    let (code, _) = t
        .get(&format!("{V}/admin/jobs/{system_job}"), &admin_a)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Every query parameter is checked.
    for bad in [
        "state=zombie",
        "queue=gpu",
        "kind=mine_bitcoin",
        "limit=0",
        "limit=501",
        "cursor=not-a-cursor",
        "task_id=",
    ] {
        let (code, body) = t.get(&format!("{V}/admin/jobs?{bad}"), &operator).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["code"], "validation_error", "{bad}: {body}");
    }
    for bad in [
        json!({}),
        json!({"state": "done"}),
        json!({"job_ids": []}),
        json!({"job_ids": [job_a], "state": "dead"}),
        json!({"state": "dead", "kind": "nope"}),
        json!({"state": "dead", "surprise": 1}),
    ] {
        let (code, body) = t
            .post_json(&format!("{V}/admin/jobs/requeue"), &admin_a, &bad)
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    // Tenant A's "requeue every dead job" takes A's job only; B's id named by A is not found.
    let (code, bulk) = t
        .post_json(
            &format!("{V}/admin/jobs/requeue"),
            &admin_a,
            &json!({"state": "dead", "queue": "llm"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{bulk}");
    assert_eq!(
        (bulk["requeued"].clone(), bulk["capped"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(bulk["results"][0]["job_id"], job_a.as_str());
    let (_, named) = t
        .post_json(
            &format!("{V}/admin/jobs/requeue"),
            &admin_a,
            &json!({"job_ids": [job_b, system_job]}),
        )
        .await;
    assert_eq!(named["requeued"], 0, "{named}");
    assert_eq!(named["results"][0]["outcome"], "not_found");
    assert_eq!(named["results"][1]["outcome"], "not_found");
    assert_eq!(
        t.app.store.get_job(&job_b).await.unwrap().unwrap().state,
        "dead"
    );

    // Queue status: the shared numbers for everyone, dead counts per caller's reach.
    let (_, platform) = t.get(&format!("{V}/queue/status"), &operator).await;
    let llm = |s: &Value| {
        s["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == "llm")
            .cloned()
            .unwrap()
    };
    assert_eq!(platform["scope"], "platform");
    assert_eq!(
        (
            llm(&platform)["depth"].clone(),
            llm(&platform)["dead"].clone()
        ),
        (json!(1), json!(1))
    );
    let (_, for_a) = t.get(&format!("{V}/queue/status"), &admin_a).await;
    assert_eq!(for_a["scope"], "tenant");
    assert_eq!(
        (llm(&for_a)["depth"].clone(), llm(&for_a)["dead"].clone()),
        (json!(1), json!(0))
    );
    let (_, for_b) = t.get(&format!("{V}/queue/status"), &admin_b).await;
    assert_eq!(llm(&for_b)["dead"], 1);
    assert_eq!(for_b["totals"]["dead"], 1, "the system job is not B's");

    // B gives its job up: cancelled, never runs, the task stays failed; no second discard.
    let (code, discarded) = post(&t, &format!("{V}/admin/jobs/{job_b}/discard"), &admin_b).await;
    assert_eq!(code, StatusCode::OK, "{discarded}");
    assert_eq!(discarded["job"]["state"], "cancelled");
    assert!(discarded["job"]["finished_at"].is_string());
    let (code, again) = post(&t, &format!("{V}/admin/jobs/{job_b}/requeue"), &admin_b).await;
    assert_eq!(
        (code, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("job_not_dead"))
    );
    let (_, log_b) = t
        .get(&format!("{V}/admin/audit?action=job.discard"), &admin_b)
        .await;
    assert_eq!(log_b["entries"][0]["resource_id"], job_b.as_str());

    // The operator requeues the system job; its audit entry lands in the operator's tenant.
    let (code, body) = post(
        &t,
        &format!("{V}/admin/jobs/{system_job}/requeue"),
        &operator,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["task_reopened"], false);
    let (_, log_op) = t
        .get(&format!("{V}/admin/audit?action=job.requeue"), &operator)
        .await;
    assert_eq!(log_op["entries"][0]["resource_id"], system_job.as_str());
    assert_eq!(log_op["entries"][0]["details"]["operator"], true);

    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&admin_a, &task_a).await["state"], "success");
    assert_eq!(t.task_status(&admin_b, &task_b).await["state"], "failed");
    assert_eq!(
        t.app
            .store
            .get_job(&system_job)
            .await
            .unwrap()
            .unwrap()
            .state,
        "done"
    );
    let (_, after) = t.get(&format!("{V}/queue/status"), &operator).await;
    assert_eq!(after["totals"]["dead"], 0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_voiceprint_erasure_is_requeued_and_the_speaker_ends_erased() {
    let remote = Arc::new(RemoteVoiceprint::default());
    remote.failing_deletes.store(1, Ordering::SeqCst);
    let t = TestApp::with(TestOptions {
        voiceprint: Some(remote.clone()),
        ..Default::default()
    })
    .await;
    let admin = t.login("dl_admin5").await;
    let tenant = tenant_id_for("dl_admin5");
    // An enrolled speaker whose feature the provider holds (written through the store).
    let now = chrono::Utc::now();
    let speaker = minutes::store::SpeakerRecord {
        id: minutes::domain::ids::new_id("spk"),
        tenant_id: tenant.clone(),
        name: Some("Dana Reyes".into()),
        provider: "remote-test".into(),
        provider_feature_id: Some("feat_dana".into()),
        state: "active".into(),
        error: None,
        sample_seconds: Some(10.0),
        consent_subject: Some("Dana Reyes".into()),
        consent_text: Some("I agree.".into()),
        consent_reference: None,
        consent_method: "electronic".into(),
        consent_version: "1".into(),
        consented_at: now,
        created_by: "user_dl_admin5".into(),
        created_at: now,
        updated_at: now,
        erased_at: None,
        erased_by: None,
    };
    let enroll = minutes::pipeline::voiceprints::enroll_job(&t.app, &tenant, &speaker.id);
    t.app.store.create_speaker(&speaker, &enroll).await.unwrap();
    // The enrollment job finds the speaker already active and only tidies up.
    t.run_jobs_until_idle().await;

    let (code, body) = t
        .request(
            axum::http::Method::DELETE,
            &format!("{V}/speakers/{}", speaker.id),
            Some(&admin),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    t.run_jobs_until_idle().await;
    let erasing = t.stored_speaker(&tenant, &speaker.id).await;
    assert_eq!(
        erasing.state, "erasing",
        "the provider still holds the feature"
    );

    let (_, list) = t
        .get(
            &format!("{V}/admin/jobs?state=dead&kind=erase_voiceprint"),
            &admin,
        )
        .await;
    let dead = ids(&list);
    assert_eq!(dead.len(), 1, "{list}");
    assert_eq!(list["jobs"][0]["queue"], "voiceprint");
    assert!(list["jobs"][0]["task_id"].is_null());
    let (code, body) = post(&t, &format!("{V}/admin/jobs/{}/requeue", dead[0]), &admin).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["task_reopened"], false);
    t.run_jobs_until_idle().await;
    let erased = t.stored_speaker(&tenant, &speaker.id).await;
    assert_eq!(
        (erased.state.as_str(), erased.provider_feature_id),
        ("erased", None)
    );
    assert_eq!(
        *remote.deleted.lock().unwrap(),
        [(tenant.clone(), "feat_dana".to_string())]
    );
}
